"""authlib's request types over a plain snapshot of a Starlette request.

authlib ships no FastAPI integration (DESIGN §3). Its server is synchronous, so the endpoint
reads the body in the event loop, freezes it here, and hands the snapshot to a worker thread.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from authlib.oauth2.rfc6749 import OAuth2Payload, OAuth2Request
from starlette.datastructures import Headers


@dataclass(frozen=True)
class HttpSnapshot:
    method: str
    #: The URL as the client addressed it (public URL + path + query), for authlib's checks.
    uri: str
    headers: Headers
    args: dict[str, str] = field(default_factory=dict)
    form: dict[str, str] = field(default_factory=dict)
    form_lists: dict[str, list[str]] = field(default_factory=dict)
    address: str | None = None


class SnapshotPayload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, snapshot: HttpSnapshot) -> None:
        self._data = {**snapshot.args, **snapshot.form}
        lists: defaultdict[str, list[str]] = defaultdict(list)
        for key, value in snapshot.args.items():
            lists[key].append(value)
        for key, values in snapshot.form_lists.items():
            lists[key].extend(values)
        self._datalist = lists

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class SnapshotRequest(OAuth2Request):  # type: ignore[misc]
    def __init__(self, snapshot: HttpSnapshot) -> None:
        super().__init__(method=snapshot.method, uri=snapshot.uri, headers=snapshot.headers)
        self.snapshot = snapshot
        self.payload = SnapshotPayload(snapshot)

    @property
    def args(self) -> dict[str, str]:
        return self.snapshot.args

    @property
    def form(self) -> dict[str, str]:
        return self.snapshot.form

    @property
    def address(self) -> Any:
        return self.snapshot.address
