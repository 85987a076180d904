"""A typed Python client for Accord agency systems (DESIGN §3, §10).

    async with AccordClient("https://accord.example.org", ClientSecret(id, secret)) as accord:
        case = await accord.create_case({"external_ref": "F-1"})

It imports nothing of the node: an agency system installs it without the server.
"""

from .auth import ClientSecret, Credentials, PrivateKeyJwt, TokenSource
from .client import OPERATIONS, AccordClient, Operation, pages
from .errors import (
    AccordError,
    AccordProblem,
    BadRequest,
    Conflict,
    Forbidden,
    IdempotencyInProgress,
    IdempotencyKeyReused,
    NotFound,
    PolicyRefused,
    RateLimited,
    ServerProblem,
    Unauthenticated,
    ValidationProblem,
)
from .webhooks import WebhookVerificationError, sign_webhook, verify_webhook

__all__ = [
    "OPERATIONS",
    "AccordClient",
    "AccordError",
    "AccordProblem",
    "BadRequest",
    "ClientSecret",
    "Conflict",
    "Credentials",
    "Forbidden",
    "IdempotencyInProgress",
    "IdempotencyKeyReused",
    "NotFound",
    "Operation",
    "PolicyRefused",
    "PrivateKeyJwt",
    "RateLimited",
    "ServerProblem",
    "TokenSource",
    "Unauthenticated",
    "ValidationProblem",
    "WebhookVerificationError",
    "pages",
    "sign_webhook",
    "verify_webhook",
]
