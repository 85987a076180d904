from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from contracts.agencies import AgencySlug
from kit.http.schemas import RequestModel, ResponseModel


class PingRequest(RequestModel):
    to: AgencySlug
    count: int = Field(1, ge=1, le=1000)
    probe: bool = Field(
        False, description="Seal fixed, non-personal probe content the recipient must open."
    )


class PingResponse(ResponseModel):
    message_ids: list[str]


class OutboxItem(ResponseModel):
    message_id: str
    sender: str
    recipient: str
    type: str
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    receipt: dict[str, Any] | None


class InboxItem(ResponseModel):
    message_id: str
    sender: str
    recipient: str
    type: str
    received_at: datetime
    position: int


class IncidentItem(ResponseModel):
    id: str
    direction: str
    kind: str
    peer: str | None
    message_id: str | None
    detail: str
    at: datetime


class DirectoryStatus(ResponseModel):
    configured: bool
    version: int | None
    federation: str | None
    last_error: str | None
    changed: bool = False
