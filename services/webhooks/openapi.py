"""The OpenAPI document's ``webhooks`` (OpenAPI 3.1 §4.8.1): one operation per event type,
with the body a subscriber receives and the Standard Webhooks headers that sign it.

No ``from __future__ import annotations`` here: FastAPI reads the receivers' signatures,
whose body types are made in a loop, so they must be real objects, not strings.
"""

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Header, Response
from pydantic import BaseModel, ConfigDict, Field, create_model

from services.events.types import DATA_MODELS, EVENT_TYPES, kind_of

_ACK: dict[int | str, dict[str, Any]] = {
    200: {"description": "Any 2xx acknowledges the delivery."},
    # Declared so that FastAPI adds no 422 of its own: the subscriber answers, not this node.
    "4XX": {"description": "Any other answer, or none in time, is retried with backoff."},
}


def _payload(event_type: str) -> type[BaseModel]:
    name = "".join(part.capitalize() for part in event_type.replace("_", ".").split("."))
    return create_model(
        f"{name}Webhook",
        __config__=ConfigDict(extra="forbid"),
        __doc__=f"A `{event_type}` delivery: exactly the event, as `GET /v1/events` serves it.",
        type=(Literal[event_type], Field(description="The event type.")),  # type: ignore[arg-type]
        timestamp=(datetime, Field(description="When the event happened (UTC).")),
        data=(DATA_MODELS[kind_of(event_type)], ...),
    )


def _receiver(event_type: str) -> Any:
    model = _payload(event_type)

    async def receive(
        body: model,  # type: ignore[valid-type]
        webhook_id: Annotated[
            str, Header(alias="webhook-id", description="The delivery's id, same on retries.")
        ],
        webhook_timestamp: Annotated[
            int, Header(alias="webhook-timestamp", description="Unix seconds of the attempt.")
        ],
        webhook_signature: Annotated[
            str,
            Header(
                alias="webhook-signature",
                description="`v1,<base64 HMAC-SHA256 of id.timestamp.body>`, space-separated "
                "when a rotated secret still signs too.",
            ),
        ],
    ) -> Response:
        raise NotImplementedError  # documentation only: the receiver is the subscriber

    return receive


def document_webhooks(app: FastAPI) -> None:
    """Describe every event type as a webhook of ``app``'s OpenAPI document."""
    for event_type in EVENT_TYPES:
        app.webhooks.add_api_route(
            event_type,
            _receiver(event_type),
            methods=["POST"],
            tags=["webhooks"],
            summary=f"`{event_type}`",
            operation_id=f"webhook_{event_type.replace('.', '_')}",
            responses=_ACK,
            response_class=Response,
        )


__all__ = ["document_webhooks"]
