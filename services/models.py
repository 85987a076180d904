"""Every ORM model, imported so that Alembic's autogenerate and the drift test see them all."""

from auth.models import (
    ApiClient,
    AuthAttempt,
    AuthorizationCode,
    ConsoleSession,
    NodeKey,
    RefreshToken,
    RevokedToken,
    UsedAssertion,
    User,
)
from kit.db.base import Base
from kit.http.idempotency import IdempotencyKey, IdempotencySubject
from services.agencies.models import Agency
from services.agreements.models import AgreementParty, AgreementRow
from services.audit.models import AuditCheckpoint, AuditEvent, AuditHead
from services.cases.models import Case, CaseData
from services.consents.models import Consent
from services.events.models import Event
from services.federation.models import (
    DirectoryDocument,
    FederationIncident,
    InboxMessage,
    OutboxChannel,
    OutboxMessage,
)
from services.households.models import Household, HouseholdMember
from services.journeys.models import Journey
from services.keys.models import AgencyKey
from services.programmes.models import Programme
from services.referrals.models import BreakGlassGrant, Referral, ReferralData
from services.sops.models import SopDefinition
from services.webhooks.models import Webhook, WebhookDelivery

target_metadata = Base.metadata

__all__ = [
    "Agency",
    "AgencyKey",
    "AgreementParty",
    "AgreementRow",
    "ApiClient",
    "AuditCheckpoint",
    "AuditEvent",
    "AuditHead",
    "AuthAttempt",
    "AuthorizationCode",
    "BreakGlassGrant",
    "Case",
    "CaseData",
    "Consent",
    "ConsoleSession",
    "DirectoryDocument",
    "Event",
    "FederationIncident",
    "Household",
    "HouseholdMember",
    "IdempotencyKey",
    "IdempotencySubject",
    "InboxMessage",
    "Journey",
    "NodeKey",
    "OutboxChannel",
    "OutboxMessage",
    "Programme",
    "Referral",
    "ReferralData",
    "RefreshToken",
    "RevokedToken",
    "SopDefinition",
    "UsedAssertion",
    "User",
    "Webhook",
    "WebhookDelivery",
    "target_metadata",
]
