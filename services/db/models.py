"""Every ORM model, imported so that Alembic's autogenerate and the drift test see them all."""

from auth.models import (
    ApiClient,
    AuthorizationCode,
    AuthThrottle,
    ConsoleSession,
    NodeKey,
    RefreshToken,
    RevokedToken,
    UsedAssertion,
    User,
)
from services.agencies.models import Agency
from services.db.base import Base

target_metadata = Base.metadata

__all__ = [
    "Agency",
    "ApiClient",
    "AuthThrottle",
    "AuthorizationCode",
    "ConsoleSession",
    "NodeKey",
    "RefreshToken",
    "RevokedToken",
    "UsedAssertion",
    "User",
    "target_metadata",
]
