"""Admins' agreements: the list, one agreement in full with its signatures verified, a draft
form that reports every fault next to its field, and propose, sign and suspend (DESIGN §5)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from contracts.agreements import (
    AgreementFault,
    AgreementInvalid,
    AgreementStatus,
    Encryption,
    LegalBasis,
    validate_terms,
)
from contracts.categories import CATEGORY_NAMES, SENSITIVE_CATEGORIES, Category
from contracts.data_roles import DATA_ROLE_DESCRIPTIONS, SUGGESTED_DATA_ROLES, FieldDataRole
from contracts.faults import Fault
from kit.db.repository import MAX_LIMIT
from kit.db.session import Session
from kit.i18n import N_, gettext
from services.agreements import endpoints as api
from services.agreements import service
from services.federation.runtime import federation_of

from .access import ConsoleRequires, Viewer
from .failures import Failure, attempt
from .names import for_viewer, names_for
from .render import console_router, page, see_other

router = console_router()

Reader = Annotated[
    Viewer,
    ConsoleRequires(
        scope="agreements:read", role=("admin", "focal_point", "caseworker", "auditor")
    ),
]
Writer = Annotated[Viewer, ConsoleRequires(scope="agreements:write", role="admin")]

DONE = {
    "draft": N_("Drafted. Review the text, then propose it to every party."),
    "propose": N_("Proposed. Every party's node now holds this text for signature."),
    "sign": N_("Signed with your agency's key."),
    "suspend": N_("Suspended at every party. No disclosure under it is allowed until it resumes."),
}


@router.get("/console/agreements")
async def agreements(
    request: Request, viewer: Reader, session: Session, status: str = "", cursor: str = ""
) -> HTMLResponse:
    chosen = AgreementStatus(status) if status in {s.value for s in AgreementStatus} else None
    found = await api.list_agreements(
        principal=viewer.principal,
        session=session,
        party=None,
        status=chosen,
        purpose=None,
        cursor=cursor or None,
        limit=MAX_LIMIT,
    )
    return page(
        request,
        viewer,
        "agreements.html",
        title=gettext("Agreements"),
        items=found.items,
        next_cursor=found.next_cursor,
        status=chosen.value if chosen else "",
        statuses=[s.value for s in AgreementStatus],
    )


# --- the draft form -------------------------------------------------------------------------
# Issue 17: an agreement is drafted by ticking, not by typing JSON. The form builds the same
# terms dict ``POST /v1/agreements`` takes and validates it with the contract
# (``contracts.agreements.validate_terms``), so the console refuses exactly what the API
# refuses; each fault's location names the field it is shown at, in words a focal point reads.

#: Fields outside the categories, as the contract locates their faults.
TOP_FIELDS = (
    "title",
    "parties",
    "purposes",
    "legal_basis",
    "retention_days",
    "valid_from",
    "valid_until",
    "encryption",
    "onward_sharing",
)
LABELS = {
    "title": N_("Title"),
    "parties": N_("Parties"),
    "purposes": N_("Purposes"),
    "legal_basis": N_("Legal basis"),
    "retention_days": N_("Retention"),
    "valid_from": N_("Valid from"),
    "valid_until": N_("Valid until"),
    "encryption": N_("Encryption"),
    "onward_sharing": N_("Onward sharing"),
    "categories": N_("Categories"),
    "form": N_("The draft"),
}
PARTS = ("senders", "recipients", "data_roles")
PART_LABELS = {
    "senders": N_("senders"),
    "recipients": N_("recipients"),
    "data_roles": N_("data roles"),
}
ROLES = tuple(r.value for r in FieldDataRole)
ENCRYPTION_LABELS = {
    Encryption.HPKE_X25519: N_("HPKE with X25519"),
    Encryption.HPKE_MLKEM768_X25519: N_("HPKE with ML-KEM-768 and X25519 (post-quantum hybrid)"),
}
#: The contract's own codes whose message already reads as words (contracts.agreements).
WORDED = frozenset(
    {
        AgreementFault.PARTY_DUPLICATE,
        AgreementFault.PARTY_UNKNOWN,
        AgreementFault.CATEGORY_UNKNOWN,
        AgreementFault.CATEGORY_NO_FLOW,
        AgreementFault.DATA_ROLES_MISSING,
        AgreementFault.BREAK_GLASS_BASIS,
    }
)


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _category_label(category: str) -> str:
    """A category as the reader's language names it (``services.console.vocabulary``)."""
    return gettext(category.replace("_", " "))


@dataclass
class CategoryChoice:
    """What the form holds for one category, as ticked."""

    senders: list[str] = field(default_factory=list)
    recipients: list[str] = field(default_factory=list)
    data_roles: list[str] = field(default_factory=list)
    other_roles: str = ""

    @property
    def ticked(self) -> bool:
        return bool(self.senders or self.recipients or self.data_roles or self.other_roles.strip())

    def roles(self) -> list[str]:
        """Ticked roles in the vocabulary's order, then the others typed: the order a fault's
        index into ``data_roles`` counts in."""
        ticked = [r for r in ROLES if r in self.data_roles]
        unknown = [r for r in self.data_roles if r not in ROLES]
        return _unique([*ticked, *unknown, *_split(self.other_roles)])


@dataclass
class DraftForm:
    """The draft form's values as entered, kept to show again when the draft is refused."""

    agency: str
    title: str = ""
    parties: list[str] = field(default_factory=list)
    purposes: str = ""
    legal_basis: str = LegalBasis.CONSENT.value
    retention_days: str = "365"
    valid_from: str = ""
    valid_until: str = ""
    encryption: str = Encryption.HPKE_X25519.value
    onward_sharing: bool = False
    categories: dict[str, CategoryChoice] = field(default_factory=dict)

    @classmethod
    def blank(cls, agency: str) -> DraftForm:
        today = date.today()
        return cls(
            agency=agency,
            parties=[agency],
            valid_from=today.isoformat(),
            valid_until=(today + timedelta(days=365)).isoformat(),
            categories={c.value: CategoryChoice() for c in Category},
        )

    @classmethod
    def posted(cls, agency: str, form: FormData) -> DraftForm:
        def text(name: str) -> str:
            value = form.get(name)
            return value if isinstance(value, str) else ""

        def ticked(name: str) -> list[str]:
            return _unique([v for v in form.getlist(name) if isinstance(v, str) and v])

        return cls(
            agency=agency,
            title=text("title"),
            # The drafting agency is always a party (contracts.agreements.new_draft): its box
            # is fixed on the page, and a post without it is read as if it were ticked.
            parties=_unique([agency, *ticked("parties")]),
            purposes=text("purposes"),
            legal_basis=text("legal_basis"),
            retention_days=text("retention_days"),
            valid_from=text("valid_from"),
            valid_until=text("valid_until"),
            encryption=text("encryption"),
            onward_sharing=text("onward_sharing") == "yes",
            categories={
                c.value: CategoryChoice(
                    senders=ticked(f"{c.value}.senders"),
                    recipients=ticked(f"{c.value}.recipients"),
                    data_roles=ticked(f"{c.value}.data_roles"),
                    other_roles=text(f"{c.value}.other_roles"),
                )
                for c in Category
            },
        )

    def terms(self) -> dict[str, Any]:
        """The terms as ``POST /v1/agreements`` takes them; a category with nothing ticked is
        not in the agreement."""
        retention = self.retention_days.strip()

        def moment(day: str) -> str:
            return f"{day.strip()}T00:00:00Z" if day.strip() else ""

        return {
            "title": self.title.strip(),
            "parties": self.parties,
            "purposes": _split(self.purposes),
            "legal_basis": self.legal_basis,
            "retention_days": int(retention) if retention.isdigit() else retention,
            "valid_from": moment(self.valid_from),
            "valid_until": moment(self.valid_until),
            "encryption": self.encryption,
            "onward_sharing": self.onward_sharing,
            "categories": {
                name: {
                    "senders": choice.senders,
                    "recipients": choice.recipients,
                    "data_roles": choice.roles(),
                }
                for name, choice in self.categories.items()
                if choice.ticked
            },
        }


@dataclass(frozen=True)
class Member:
    slug: str
    name: str


@dataclass(frozen=True)
class SummaryEntry:
    anchor: str
    label: str
    message: str


@dataclass
class Faults:
    """Faults by the place they are shown (``title``, ``parties``, ``categories-health``,
    ``categories-health-data_roles``, ``form``), and the summary at the top, in order."""

    at: dict[str, list[str]] = field(default_factory=dict)
    _listed: list[tuple[int, SummaryEntry]] = field(default_factory=list)

    def add(self, place: str, anchor: str, label: str, message: str) -> None:
        # The contract's messages start in lower case, to follow a location in the API.
        message = message[:1].upper() + message[1:]
        self.at.setdefault(place, []).append(message)
        self._listed.append((_position(place), SummaryEntry(anchor, label, message)))

    @property
    def summary(self) -> list[SummaryEntry]:
        """In the order of the fields on the page, whatever order the checks found them in."""
        return [entry for _, entry in sorted(self._listed, key=lambda listed: listed[0])]


#: Where each place is on the page, for the summary's order.
_PLACES = (
    "form",
    *TOP_FIELDS,
    "categories",
    *(f"categories-{c.value}{part}" for c in Category for part in ("", *(f"-{p}" for p in PARTS))),
)


def _position(place: str) -> int:
    return _PLACES.index(place) if place in _PLACES else 0


def _parts(loc: tuple[str | int, ...] | str) -> tuple[list[str], int | None]:
    """The names along a location and its last list index, from a contract ``loc`` or from a
    problem document's ``location`` (``categories.health.data_roles[0]``)."""
    if isinstance(loc, str):
        tokens: list[str | int] = [
            int(t) if t.isdigit() else t for t in re.split(r"[.\[\]]+", loc) if t
        ]
    else:
        tokens = list(loc)
    names = [t for t in tokens if isinstance(t, str) and t != "body"]
    indexes = [t for t in tokens if isinstance(t, int)]
    return names, indexes[-1] if indexes else None


def _place(names: list[str]) -> str:
    if names[:1] == ["categories"] and len(names) >= 2 and names[1] in CATEGORY_NAMES:
        if len(names) >= 3 and names[2] in PARTS:
            return f"categories-{names[1]}-{names[2]}"
        return f"categories-{names[1]}"
    if names and names[0] in (*TOP_FIELDS, "categories"):
        return names[0]
    return "form"


class _Worder:
    """Puts each fault at its field, in words, with the input the summary links to."""

    def __init__(self, draft: DraftForm, members: list[Member]) -> None:
        self.draft = draft
        self.members = members
        self.names = {m.slug: m.name for m in members}
        self.faults = Faults()

    def name(self, slug: str) -> str:
        return self.names.get(slug, slug)

    def _first_member(self, *, other: bool = False) -> str:
        slugs = [m.slug for m in self.members if not (other and m.slug == self.draft.agency)]
        return slugs[0] if slugs else self.draft.agency

    def add(self, loc: tuple[str | int, ...] | str, message: str, code: str) -> None:
        names, index = _parts(loc)
        place = _place(names)
        if place.startswith("categories-"):
            category = names[1]
            self._category(place, category, index, message, code)
            return
        anchor, words = self._top(place, index, message, code)
        self.faults.add(place, anchor, gettext(LABELS.get(place, LABELS["form"])), words)

    def _top(self, place: str, index: int | None, message: str, code: str) -> tuple[str, str]:
        draft = self.draft
        if place == "parties":
            if code == AgreementFault.PARTIES_TOO_FEW:
                words = gettext(
                    "Tick at least one other agency: an agreement needs at least two "
                    "different parties."
                )
            else:
                words = message
            party = draft.parties[index] if index is not None and index < len(draft.parties) else ""
            anchor = f"parties-{party}" if party in self.names else ""
            return anchor or f"parties-{self._first_member(other=True)}", words
        if code in WORDED:
            words = message
        elif place == "title":
            words = (
                gettext("Shorten the title to 200 characters at most.")
                if code == "string_too_long"
                else gettext("Give the agreement a title.")
            )
        elif place == "purposes":
            purposes = _split(draft.purposes)
            if index is not None and index < len(purposes):
                words = gettext(
                    "“%(purpose)s” is not a purpose identifier: lower-case words joined "
                    "by hyphens, at most 64 characters, for example avrr-counselling."
                ) % {"purpose": purposes[index]}
            else:
                words = gettext("Name at least one purpose, for example avrr-counselling.")
        elif place == "retention_days":
            words = gettext(
                "Enter the number of days the data is kept after the referral is completed: "
                "a whole number from 1 to 3650."
            )
        elif place in {"valid_from", "valid_until"} and code == AgreementFault.VALIDITY_ORDER:
            words = gettext("The agreement must end after it starts (%(start)s).") % {
                "start": draft.valid_from
            }
        elif place == "valid_from":
            words = gettext("Enter the date the agreement starts.")
        elif place == "valid_until":
            words = gettext("Enter the date the agreement ends.")
        elif place == "legal_basis":
            words = gettext("Choose one of the legal bases listed.")
        elif place == "encryption":
            words = gettext("Choose one of the encryption suites listed.")
        elif place == "categories" and code == AgreementFault.CATEGORIES_EMPTY:
            words = gettext(
                "Choose at least one category: open it and tick who may send it, who may "
                "receive it and the data roles that may read it."
            )
        else:
            words = message
        anchor = place if place in TOP_FIELDS else ("categories" if place == "categories" else "")
        return anchor or "title", words

    def _category(
        self, place: str, category: str, index: int | None, message: str, code: str
    ) -> None:
        choice = self.draft.categories.get(category, CategoryChoice())
        shown = _category_label(category)
        part = place.removeprefix(f"categories-{category}").lstrip("-")
        label = shown.capitalize() + (f", {gettext(PART_LABELS[part])}" if part else "")
        prefix = f"categories-{category}"
        if part in {"senders", "recipients"}:
            ticked: list[str] = getattr(choice, part)
            slug = ticked[index] if index is not None and index < len(ticked) else ""
            anchor = f"{prefix}-{part}-{slug}" if slug in self.names else ""
            anchor = anchor or f"{prefix}-{part}-{self._first_member()}"
            if code in {AgreementFault.SENDER_NOT_PARTY, AgreementFault.RECIPIENT_NOT_PARTY}:
                words = gettext(
                    "%(agency)s is not a party to this agreement: tick it under "
                    "Parties too, or untick it here."
                ) % {"agency": self.name(slug)}
            elif index is None:
                words = (
                    gettext("Tick at least one agency that may send %(category)s.")
                    if part == "senders"
                    else gettext("Tick at least one agency that may receive %(category)s.")
                ) % {"category": shown}
            else:
                words = message
        elif part == "data_roles":
            roles = choice.roles()
            role = roles[index] if index is not None and index < len(roles) else ""
            if role and role in ROLES:
                anchor = f"{prefix}-data_roles-{role}"
            elif role:
                anchor = f"{prefix}-other_roles"
            else:
                anchor = f"{prefix}-data_roles-{ROLES[0]}"
            if code in WORDED or not role:
                words = message
            else:
                words = gettext(
                    "“%(role)s” is not a data role name: lower-case letters, digits and "
                    "underscores, starting with a letter, for example protection_officer."
                ) % {"role": role}
        else:
            anchor = f"{prefix}-senders-{self._first_member()}"
            words = message
        self.faults.add(place, anchor, label, words)


def _not_parties(draft: DraftForm) -> list[Fault]:
    """Senders and recipients ticked who are not ticked as parties. The page lists every
    directory member under each category (no script narrows them to the parties ticked), and
    the contract skips this rule for a category with another fault; checked here, every such
    box is named at once."""
    faults: list[Fault] = []
    codes = {
        "senders": AgreementFault.SENDER_NOT_PARTY,
        "recipients": AgreementFault.RECIPIENT_NOT_PARTY,
    }
    for name, choice in draft.categories.items():
        for part, code in codes.items():
            for i, agency in enumerate(getattr(choice, part)):
                if agency not in draft.parties:
                    message = f"{agency} is not a party to this agreement"
                    faults.append(Fault(("categories", name, part, i), message, code))
    return faults


def _without_echoes(faults: tuple[Fault, ...]) -> list[Fault]:
    """Faults less the echoes: a list whose only item is malformed is also "too short" once
    the item is dropped, and "name at least one" would mislead someone who named one."""
    return [
        f
        for f in faults
        if not (
            f.code == "too_short"
            and any(o.loc[: len(f.loc)] == f.loc and len(o.loc) > len(f.loc) for o in faults)
        )
    ]


async def _members(request: Request, session: AsyncSession, agency: str) -> list[Member]:
    """Who may be a party: the directory's members and the agencies hosted here (the ones
    ``services.agreements.service.known_agencies`` accepts), the drafting agency first."""
    directory = federation_of(request).directory.current()
    names = (await names_for(session, directory=directory, agency=agency)).agencies
    known = await service.known_agencies(session, federation=federation_of(request))
    others = sorted((s for s in known if s != agency), key=lambda s: (names.get(s, s), s))
    return [Member(slug, names.get(slug, slug)) for slug in [agency, *others]]


def _draft_page(
    request: Request,
    viewer: Viewer,
    draft: DraftForm,
    members: list[Member],
    *,
    status: int = 200,
    faults: Faults | None = None,
    failure: Failure | None = None,
) -> HTMLResponse:
    faults = faults or Faults()
    return page(
        request,
        viewer,
        "agreement_new.html",
        status_code=status,
        title=gettext("Draft an agreement"),
        draft=draft,
        members=members,
        faults=faults,
        failure=failure,
        legal_bases=[b.value for b in LegalBasis],
        encryptions={value: gettext(label) for value, label in ENCRYPTION_LABELS.items()},
        categories=[
            {
                "name": c.value,
                "label": _category_label(c.value),
                "sensitive": c in SENSITIVE_CATEGORIES,
                "usual": [r.value for r in SUGGESTED_DATA_ROLES.get(c, ())],
            }
            for c in Category
        ],
        roles=[(r.value, DATA_ROLE_DESCRIPTIONS[r]) for r in FieldDataRole],
    )


@router.get("/console/agreements/new")
async def new_agreement(request: Request, viewer: Writer, session: Session) -> HTMLResponse:
    members = await _members(request, session, viewer.agency)
    return _draft_page(request, viewer, DraftForm.blank(viewer.agency), members)


@router.post("/console/agreements/new")
async def draft(request: Request, viewer: Writer, session: Session) -> Response:
    members = await _members(request, session, viewer.agency)
    entered = DraftForm.posted(viewer.agency, await request.form())
    terms = entered.terms()
    worder = _Worder(entered, members)
    faults = _not_parties(entered)
    try:
        # The same check the service makes, here for its codes: they say which words to use.
        validate_terms(
            terms,
            known_agencies=await service.known_agencies(session, federation=federation_of(request)),
        )
    except AgreementInvalid as refused:
        seen = {(f.loc, f.code) for f in faults}
        faults += [f for f in _without_echoes(refused.faults) if (f.loc, f.code) not in seen]
    if faults:
        for fault in faults:
            worder.add(fault.loc, fault.message, fault.code)
        return _draft_page(request, viewer, entered, members, status=422, faults=worder.faults)
    state = await attempt(
        session,
        lambda: service.draft(
            session, federation=federation_of(request), principal=viewer.principal, data=terms
        ),
    )
    if isinstance(state, Failure):
        for location, message in state.fields:
            worder.add(location, message, "")
        return _draft_page(
            request,
            viewer,
            entered,
            members,
            status=state.status,
            faults=worder.faults,
            failure=None if state.fields else state,
        )
    return see_other(f"/console/agreements/{state.id}?done=draft")


async def _detail(
    request: Request,
    viewer: Viewer,
    session: Session,
    agreement_id: str,
    *,
    status: int = 200,
    notice: str | None = None,
    failure: Failure | None = None,
) -> HTMLResponse:
    state = await service.load(session, principal=viewer.principal, agreement_id=agreement_id)
    agreement = api.describe(state, federation_of(request))
    admin = viewer.has_role("admin")
    mine_unsigned = viewer.agency in agreement.unsigned_parties
    can = {
        "propose": admin and agreement.stored_status == AgreementStatus.DRAFT,
        "sign": admin and agreement.stored_status == AgreementStatus.PROPOSED and mine_unsigned,
        "suspend": admin and agreement.status == AgreementStatus.ACTIVE,
    }
    return page(
        request,
        viewer,
        "agreement.html",
        status_code=status,
        title=agreement.title,
        agreement=agreement,
        canonical=json.dumps(state.canonical(), indent=2, ensure_ascii=False),
        names=await for_viewer(request, session, viewer),
        can=can,
        notice=notice,
        failure=failure,
    )


@router.get("/console/agreements/{agreement_id}")
async def agreement(
    request: Request, agreement_id: str, viewer: Reader, session: Session, done: str = ""
) -> HTMLResponse:
    return await _detail(
        request, viewer, session, agreement_id, notice=gettext(DONE[done]) if done in DONE else None
    )


async def _change(
    request: Request, viewer: Viewer, session: Session, agreement_id: str, action: str, run: Any
) -> Response:
    failure = await attempt(session, run)
    if isinstance(failure, Failure):
        return await _detail(
            request, viewer, session, agreement_id, status=failure.status, failure=failure
        )
    return see_other(f"/console/agreements/{agreement_id}?done={action}")


@router.post("/console/agreements/{agreement_id}/propose")
async def propose(
    request: Request, agreement_id: str, viewer: Writer, session: Session
) -> Response:
    async def run() -> None:
        await service.propose(
            session,
            federation=federation_of(request),
            principal=viewer.principal,
            agreement_id=agreement_id,
        )

    return await _change(request, viewer, session, agreement_id, "propose", run)


@router.post("/console/agreements/{agreement_id}/sign")
async def sign(
    request: Request,
    agreement_id: str,
    viewer: Writer,
    session: Session,
    digest: Annotated[str, Form()] = "",
) -> Response:
    """Signs the digest of the text the admin was shown: if it changed since, the signature is
    refused (stale digest) and the page shows the current text."""

    async def run() -> None:
        await service.sign(
            session,
            federation=federation_of(request),
            principal=viewer.principal,
            agreement_id=agreement_id,
            digest=digest,
        )

    return await _change(request, viewer, session, agreement_id, "sign", run)


@router.post("/console/agreements/{agreement_id}/suspend")
async def suspend(
    request: Request,
    agreement_id: str,
    viewer: Writer,
    session: Session,
    confirmed: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    if confirmed != "yes" or not reason.strip():
        failure = (
            Failure(
                422,
                N_("A reason is needed"),
                gettext("Say why the agreement is suspended."),
                [],
                [("reason", gettext("is required"))],
            )
            if confirmed == "yes"
            else None
        )
        return page(
            request,
            viewer,
            "confirm.html",
            status_code=failure.status if failure else 200,
            title=gettext("Suspend this agreement?"),
            question=gettext("Suspend this agreement at every party?"),
            button=gettext("Suspend"),
            action_name="suspend",
            action=f"/console/agreements/{agreement_id}/suspend",
            back=f"/console/agreements/{agreement_id}",
            needs_reason=True,
            reason=reason,
            categories=[],
            failure=failure,
        )

    async def run() -> None:
        await service.change(
            session,
            federation=federation_of(request),
            principal=viewer.principal,
            agreement_id=agreement_id,
            action="suspend",
            reason=reason.strip(),
        )

    return await _change(request, viewer, session, agreement_id, "suspend", run)
