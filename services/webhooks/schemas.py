"""Request and response bodies of ``/v1/webhooks``."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from kit.http.schemas import Page, RequestModel, ResponseModel

DeliveryStatus = Literal["pending", "delivered", "failed", "cancelled"]


class WebhookCreate(RequestModel):
    url: Annotated[str, Field(min_length=8, max_length=2000)] = Field(
        description="Where to POST deliveries: https (plain http only on a dev node)."
    )
    event_types: Annotated[list[str], Field(min_length=1, max_length=100)] = Field(
        description="Event types to receive; the OpenAPI document's `webhooks` lists them all."
    )


class WebhookOut(ResponseModel):
    id: uuid.UUID
    agency: str
    url: str
    event_types: list[str]
    created_at: datetime
    previous_secret_until: datetime | None = Field(
        None,
        description="After a rotation: until then deliveries also carry a signature with the "
        "secret before it.",
    )


class WebhookWithSecret(WebhookOut):
    secret: str = Field(
        description="The signing secret (`whsec_<base64>`), shown only in this response: keep "
        "it now. Verify deliveries with any Standard Webhooks library."
    )


class WebhookPage(Page[WebhookOut]):
    pass


class DeliveryOut(ResponseModel):
    id: uuid.UUID = Field(description="Also the `webhook-id` header of every attempt.")
    webhook_id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    retry_until: datetime
    last_status: int | None = Field(description="The receiver's HTTP status, last attempt.")
    last_error: str | None = Field(
        description="A code: `http_<status>`, `timeout`, `connect_error`, `refused_address`, "
        "`unresolvable`, `not_https`, `event_pruned`, `unsubscribed`."
    )
    last_attempt_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime


class DeliveryPage(Page[DeliveryOut]):
    pass
