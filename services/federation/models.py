"""Federation state: the directory held, the outbox, the inbox, and refused messages."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kit.db.base import Base, new_id, utcnow


class DirectoryDocument(Base):
    """Every directory version this node accepted; the newest is the one in force."""

    __tablename__ = "directory_documents"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    federation: Mapped[str] = mapped_column(String(200))
    digest: Mapped[str] = mapped_column(String(64))
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    accepted_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboxChannel(Base):
    """One sender→recipient queue. Delivery is in order per channel, so the channel, not the
    message, is what a worker claims (with a lease) and what backs off after a failure."""

    __tablename__ = "outbox_channels"

    sender: Mapped[str] = mapped_column(String(32), primary_key=True)
    recipient: Mapped[str] = mapped_column(String(32), primary_key=True)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    leased_until: Mapped[datetime | None]


class OutboxMessage(Base):
    __tablename__ = "outbox_messages"
    __table_args__ = (UniqueConstraint("message_id"),)

    #: Insertion order, which is delivery order within a channel.
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(36))
    sender: Mapped[str] = mapped_column(String(32))
    recipient: Mapped[str] = mapped_column(String(32))
    type: Mapped[str] = mapped_column(String(64))
    #: The referral the message is about, if any: erasure stops what is still pending for it.
    referral_id: Mapped[str | None] = mapped_column(String(36), index=True)
    #: The signed envelope; its ``sealed`` part only while the message is pending. Once its
    #: fate is settled (receipt, refusal, cancellation) only the evidence stays (DESIGN §4).
    envelope: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: ``pending``; ``delivered`` (accepted, with the recipient's receipt); ``refused`` (the
    #: recipient verified it and refused its content, with a signed refusal receipt);
    #: ``rejected`` (refused unverified, for good); ``cancelled`` (stopped before delivery).
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    receipt: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]


class InboxMessage(Base):
    """A message stored once. Its id makes a retry a no-op that gets the same receipt."""

    __tablename__ = "inbox_messages"
    __table_args__ = (UniqueConstraint("message_id"),)

    #: Order of arrival, for "in order per sender" checks and for admins reading the inbox.
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(36))
    recipient: Mapped[str] = mapped_column(String(32), index=True)
    sender: Mapped[str] = mapped_column(String(32))
    type: Mapped[str] = mapped_column(String(64))
    digest: Mapped[str] = mapped_column(String(64))
    #: The envelope's evidence (header, body, digests, signature), never its sealed content.
    envelope: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: The signed receipt this node answered with, given again to a repeat.
    receipt: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: False when the content was refused (the receipt is a refusal with its reasons).
    accepted: Mapped[bool] = mapped_column(Boolean, default=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class FederationIncident(Base):
    """A message this node refused, or could not deliver for good: recorded for the admins,
    never silently dropped. Holds ids and reasons only, no content."""

    __tablename__ = "federation_incidents"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    #: The agency concerned on this node (recipient when receiving, sender when sending).
    agency: Mapped[str | None] = mapped_column(String(32), index=True)
    direction: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(64))
    peer: Mapped[str | None] = mapped_column(String(64))
    message_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
