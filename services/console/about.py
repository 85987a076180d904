"""Whom a referral is about and what it sends, as far as the reader's data roles allow
(issue 17: "who, what, to whom, by when").

The person's name comes from the ``identity`` category and nowhere else, read under the same
rule as any other read of it: at the sender, the owner's own rule on its case
(:mod:`contracts.case_access`, through :func:`services.cases.service.read`); at the recipient,
the agreement's (:func:`services.referrals.service.read`). Each such read is audited there.
A reader who may not read identity is told why, never shown a name. Names go into the page
only: never into a URL, a log line or an audit detail.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from auth.principal import Principal
from contracts.case_access import WithheldCode
from contracts.categories import Category
from contracts.policy import ReasonCode
from kit.i18n import N_, gettext
from services.cases import service as cases
from services.federation.runtime import Federation
from services.referrals import service as referrals
from services.referrals.models import Referral

IDENTITY = Category.IDENTITY.value
NOT_YOURS = N_("your data roles do not include one that may read identity for this case")


@dataclass(frozen=True)
class Person:
    """The person a referral is about, as this reader may see them."""

    name: str | None = None
    reference: str | None = None
    #: Why the case reference is not shown although the name is (a recipient's view).
    reference_note: str | None = None
    #: Why the name is not shown: said to the reader instead of the name.
    why_not: str | None = None
    #: The name is withheld from this reader (rather than missing or erased).
    not_yours: bool = False


@dataclass(frozen=True)
class Sent:
    """One category a referral sends: its content for a reader who may read it, else why not."""

    category: str
    fields: Any = None
    why_not: str | None = None


def full_name(identity: Any) -> str | None:
    """ "Given names Family name" from an ``identity`` record, or the name in the person's own
    script where that is all that was recorded."""
    names = identity.get("names") if isinstance(identity, dict) else None
    if not isinstance(names, dict):
        return None
    parts = [names.get("given_names"), names.get("family_name")]
    written = " ".join(str(p) for p in parts if p)
    return written or names.get("in_original_script") or None


def _named(identity: Any, **more: Any) -> Person:
    name = full_name(identity)
    if name is None:
        return Person(why_not=gettext("the identity recorded for this case gives no name"))
    return Person(name=name, **more)


def _why_not_own(code: WithheldCode, reason: str) -> str:
    if code == WithheldCode.DATA_ROLE_MISSING:
        return f"{gettext(NOT_YOURS)} ({reason})"
    return reason


def _why_not_received(code: str, reason: str) -> str:
    if code == ReasonCode.DATA_ROLE_MISSING.value:
        return f"{gettext(NOT_YOURS)} ({reason})"
    return reason


async def outgoing(
    session: AsyncSession,
    *,
    principal: Principal,
    master_key: bytes,
    row: Referral,
    categories: Sequence[str] = (),
) -> tuple[Person, list[Sent]]:
    """Whom an outgoing referral is about, from the agency's own case, and each of
    ``categories`` it sends as the reader may read it (one audited read of the case)."""
    if row.case_id is None:
        gone = gettext("the case is no longer held at your agency")
        return Person(why_not=gone), [Sent(c, why_not=gone) for c in categories]
    view = await cases.read(
        session,
        principal=principal,
        case_id=row.case_id,
        master_key=master_key,
        only={IDENTITY, *categories},
    )
    data = {c.value: v for c, v in view.data.items()}
    withheld = {w.category.value: w for w in view.withheld}
    if IDENTITY in data:
        person = _named(data[IDENTITY], reference=view.case.external_ref)
    elif IDENTITY in withheld:
        w = withheld[IDENTITY]
        person = Person(why_not=_why_not_own(w.code, w.reason), not_yours=True)
    else:
        person = Person(why_not=gettext("no identity is recorded for this case"))
    sent = [
        Sent(c, fields=data[c])
        if c in data
        else Sent(
            c, why_not=withheld[c].reason if c in withheld else gettext("not recorded in the case")
        )
        for c in categories
    ]
    return person, sent


def incoming(view: referrals.ReferralView, sender: str) -> tuple[Person, list[Sent]]:
    """Whom an incoming referral is about and what it carries, from a read already made
    (:func:`services.referrals.service.read`); ``sender`` names the sending agency."""
    withheld = {w["category"]: w for w in view.withheld if w["category"]}
    if IDENTITY in view.data:
        person = _named(
            view.data[IDENTITY],
            reference_note=gettext("the case reference stays with %(sender)s; ask them for it")
            % {"sender": sender},
        )
    elif IDENTITY in withheld:
        w = withheld[IDENTITY]
        person = Person(why_not=_why_not_received(w["code"], w["reason"]), not_yours=True)
    elif view.row.erased_at is not None:
        person = Person(why_not=gettext("the content of this referral was erased"))
    else:
        person = Person(why_not=gettext("this referral does not carry the identity category"))
    sent = [
        Sent(c, fields=view.data[c])
        if c in view.data
        else Sent(c, why_not=withheld[c]["reason"] if c in withheld else gettext("not held here"))
        for c in view.row.categories
    ]
    return person, sent


async def people_of(
    session: AsyncSession,
    *,
    federation: Federation,
    principal: Principal,
    rows: Iterable[Referral],
) -> dict[str, Person]:
    """Whom each referral of a list is about, by referral id: one audited read of
    ``identity`` per case (outgoing) or per referral (incoming), nothing else unsealed."""
    found: dict[str, Person] = {}
    by_case: dict[uuid.UUID, Person] = {}
    for row in rows:
        if row.direction == "outgoing":
            if row.case_id is not None and row.case_id in by_case:
                found[row.referral_id] = by_case[row.case_id]
                continue
            person, _ = await outgoing(
                session, principal=principal, master_key=federation.master_key, row=row
            )
            if row.case_id is not None:
                by_case[row.case_id] = person
        elif row.erased_at is not None:
            person = Person(why_not=gettext("the content of this referral was erased"))
        else:
            view = await referrals.read(
                session,
                federation=federation,
                principal=principal,
                referral_id=row.referral_id,
                only={IDENTITY},
            )
            person, _ = incoming(view, row.counterpart)
        found[row.referral_id] = person
    return found
