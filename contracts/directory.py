"""The federation directory: who the members are, where their nodes are, which keys are theirs.

DESIGN §4. A JSON document::

    {"federation": "accord-demo", "version": 7, "issued_at": "2026-05-01T12:00:00Z",
     "members": [{"agency": "unhcr", "name": "UNHCR", "kind": "un_agency",
                  "node_url": "https://accord.unhcr.example", "jwks": {"keys": [...]}},
                 {"agency": "gov-xk", "name": "...", "kind": "government", "country": "XKX",
                  ...}, ...],
     "signature": {"kid": <root kid>, "alg": "EdDSA", "value": <base64url>}}

signed by the federation's root key (Ed25519) over the RFC 8785 form of the document without
``signature``. Nodes pin the root public key and refuse a directory that does not verify with
it, is older than the one they hold, or claims the version they hold with different content
(the root signing two documents as one version is an equivocation, never an update).

Every member's keys are parsed when the directory is, so one malformed key refuses the whole
document: a node never runs on half a directory.

A government names the state it acts for (``country``, ISO 3166-1 alpha-3, ``XKX`` for Kosovo):
the policy needs it to send the state roles' requests only to the person's state of nationality
and never to send asylum history or protection details to the person's own state (DESIGN §9).
A directory is *issued* (:func:`sign_directory`) only with a country for every government. A
document signed before countries existed still verifies, so an upgraded node keeps running on
the directory it holds; such a government is of unknown country, and the policy fails closed
wherever the country matters until the operator issues a directory that names it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import cached_property
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    model_serializer,
    model_validator,
)

from contracts.agencies import AgencySlug
from contracts.canonical import canonical_digest
from contracts.categories import CountryCode
from contracts.envelope import (
    BadSignature,
    SignatureBlock,
    SignerMismatch,
    Timestamp,
    sign_json,
    verify_json,
)
from contracts.keys import (
    InvalidKey,
    KeyExpired,
    KeyKind,
    KeyNotYetValid,
    KeyProblem,
    PrivateKey,
    PublicKey,
    UnknownKey,
    WrongKeyUse,
    current_key,
    parse_public_jwk,
    usable_key,
)

__all__ = [
    "BadDirectorySignature",
    "ConflictingDirectory",
    "Directory",
    "DirectoryError",
    "InvalidDirectory",
    "KeyExpired",
    "KeyNotYetValid",
    "Member",
    "StaleDirectory",
    "UnknownKey",
    "UnknownMember",
    "WrongKeyUse",
    "accept_directory",
    "is_newer",
    "sign_directory",
    "verify_directory",
]

MemberKind = Literal["un_agency", "government", "ngo"]
GOVERNMENT: MemberKind = "government"
#: Validation context of a directory being issued: the rules for new documents apply.
_ISSUING = "issuing"


class DirectoryError(Exception):
    """Base of every refusal of a directory document."""


class InvalidDirectory(DirectoryError, ValueError):
    """The document is not a well-formed directory (or belongs to another federation)."""


class BadDirectorySignature(DirectoryError):
    """Unsigned, signed by another key than the pinned root, or altered after signing."""


class StaleDirectory(DirectoryError):
    """Older than the directory already held: a rollback is never accepted."""


class ConflictingDirectory(DirectoryError):
    """Same version as the one held, different content: the root has equivocated."""


class UnknownMember(DirectoryError, LookupError):
    """No member for that agency."""


def _check_node_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        raise ValueError("node_url must be an absolute http(s) URL")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError("node_url must not carry credentials, a query or a fragment")
    return value


class JWKSet(BaseModel):
    """RFC 7517 §5 JWK Set; the keys are kept as published so the document re-serialises."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    keys: list[dict[str, Any]]


class Member(BaseModel):
    """One agency of the federation and the node that hosts it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    agency: AgencySlug
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    kind: MemberKind
    #: The state a government acts for (DESIGN §4); optional for other kinds.
    country: CountryCode | None = None
    node_url: Annotated[str, AfterValidator(_check_node_url)]
    jwks: JWKSet

    @model_validator(mode="after")
    def _government_names_its_state(self, info: ValidationInfo) -> Member:
        issuing = bool(info.context and info.context.get(_ISSUING))
        if issuing and self.kind == GOVERNMENT and self.country is None:
            raise ValueError(
                f"member {self.agency}: a government names the state it acts for in country "
                "(ISO 3166-1 alpha-3, XKX for Kosovo)"
            )
        return self

    @model_serializer(mode="wrap")
    def _without_absent_country(self, handler: SerializerFunctionWrapHandler) -> Any:
        # A member without a country is dumped without the key, so a document signed before
        # countries existed re-serialises to the bytes that were signed.
        data = handler(self)
        if isinstance(data, dict) and data.get("country") is None:
            data.pop("country", None)
        return data

    @property
    def is_government(self) -> bool:
        return self.kind == GOVERNMENT

    @model_validator(mode="after")
    def _keys_parse(self) -> Member:
        try:
            kids = [parse_public_jwk(jwk).kid for jwk in self.jwks.keys]
        except InvalidKey as exc:
            raise ValueError(f"member {self.agency}: {exc}") from exc
        if len(set(kids)) != len(kids):
            raise ValueError(f"member {self.agency}: kids must be unique")
        return self

    @cached_property
    def keys(self) -> tuple[PublicKey, ...]:
        """The member's published keys, parsed."""
        return tuple(parse_public_jwk(jwk) for jwk in self.jwks.keys)

    def key(
        self, kid: str, *, at: datetime, use: str | None = None, kind: KeyKind | None = None
    ) -> PublicKey:
        """The key ``kid``, of ``use``/``kind`` if given, valid at ``at``.

        Raises ``UnknownKey``, ``WrongKeyUse``, ``KeyExpired`` or ``KeyNotYetValid``.
        """
        try:
            return usable_key(self.keys, kid, at=at, use=use, kind=kind)
        except UnknownKey as exc:
            raise type(exc)(f"{self.agency}: {exc}") from exc

    def current_key(self, kind: KeyKind | str, *, at: datetime) -> PublicKey:
        """The key of ``kind`` the member wants used at ``at`` (see ``keys.current_key``)."""
        return current_key(self.keys, kind, at=at)


class Directory(BaseModel):
    """A parsed directory document (signed, or about to be)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    federation: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]
    version: int = Field(ge=1)
    issued_at: Timestamp
    members: list[Member]
    signature: SignatureBlock | None = None

    @model_validator(mode="after")
    def _one_entry_per_agency(self) -> Directory:
        agencies = [member.agency for member in self.members]
        if len(set(agencies)) != len(agencies):
            raise ValueError("each agency may appear only once")
        return self

    def content(self) -> dict[str, Any]:
        """The JSON document without ``signature``: what the root signs."""
        return self.model_dump(mode="json", exclude={"signature"})

    def digest(self) -> str:
        """Hex SHA-256 of the RFC 8785 form of :meth:`content`."""
        return canonical_digest(self.content())

    def member(self, agency: str) -> Member:
        """The member entry for ``agency``, which names the node hosting it."""
        for member in self.members:
            if member.agency == agency:
                return member
        raise UnknownMember(f"{agency} is not a member of federation {self.federation}")

    def node_url(self, agency: str) -> str:
        """Where messages for ``agency`` are delivered."""
        return self.member(agency).node_url

    def agencies_at(self, node_url: str) -> list[str]:
        """The agencies a node hosts (one node may host several, DESIGN §2)."""
        return [member.agency for member in self.members if member.node_url == node_url]

    def member_key(
        self,
        agency: str,
        kid: str,
        *,
        at: datetime,
        use: str | None = None,
        kind: KeyKind | None = None,
    ) -> PublicKey:
        """``agency``'s key ``kid`` if valid at ``at``: to verify its signatures or seal to it.

        Raises :class:`UnknownMember`, ``UnknownKey``, ``WrongKeyUse``, ``KeyExpired`` or
        ``KeyNotYetValid``.
        """
        return self.member(agency).key(kid, at=at, use=use, kind=kind)

    def current_key(self, agency: str, kind: KeyKind | str, *, at: datetime) -> PublicKey:
        """``agency``'s current key of ``kind`` (raises ``NoUsableKey`` if none)."""
        return self.member(agency).current_key(kind, at=at)


def _parse(document: Mapping[str, Any], *, issuing: bool = False) -> Directory:
    try:
        return Directory.model_validate(document, context={_ISSUING: issuing})
    except ValidationError as exc:
        raise InvalidDirectory(f"not a valid directory: {exc}") from exc


def check_unsigned(unsigned_doc: Mapping[str, Any]) -> Directory:
    """Check a directory document as :func:`sign_directory` will, before anyone signs it."""
    if "signature" in unsigned_doc:
        raise InvalidDirectory("the document is already signed")
    return _parse(unsigned_doc, issuing=True)


def sign_directory(unsigned_doc: Mapping[str, Any], root_private_key: PrivateKey) -> dict[str, Any]:
    """Validate a directory document and sign it with the federation root key.

    The signature's kid is the root key's kid. Refuses an already signed document, a malformed
    one (a government without its ``country`` included), and a root key not valid at
    ``issued_at``.
    """
    if "signature" in unsigned_doc:
        raise InvalidDirectory("the document is already signed")
    directory = _parse(unsigned_doc, issuing=True)
    root_private_key.check_usable_at(directory.issued_at)
    content = directory.content()
    signature = sign_json(content, root_private_key)
    return content | {"signature": signature.model_dump(mode="json")}


def _root_key(pinned_root: PublicKey | Mapping[str, Any]) -> PublicKey:
    root = pinned_root if isinstance(pinned_root, PublicKey) else parse_public_jwk(pinned_root)
    if root.kind is not KeyKind.ED25519:
        raise WrongKeyUse(f"the pinned root key {root.kid} is not an Ed25519 signing key")
    return root


def verify_directory(
    doc: Mapping[str, Any], pinned_root_public_jwk: PublicKey | Mapping[str, Any]
) -> Directory:
    """Verify the root's signature over ``doc`` and parse it.

    The signature is checked over the RFC 8785 form of ``doc`` exactly as received, minus
    ``signature``, so the bytes a node serves (``GET /v1/directory``) are the bytes that were
    signed. Raises :class:`BadDirectorySignature` or :class:`InvalidDirectory`.
    """
    root = _root_key(pinned_root_public_jwk)
    if "signature" not in doc:
        raise BadDirectorySignature("the directory is not signed")
    try:
        signature = SignatureBlock.model_validate(doc["signature"])
    except ValidationError as exc:
        raise BadDirectorySignature(f"malformed directory signature: {exc}") from exc
    content = {name: value for name, value in doc.items() if name != "signature"}
    try:
        verify_json(content, signature, root)
    except SignerMismatch as exc:
        raise BadDirectorySignature(
            f"the directory is signed by {signature.kid}, not the pinned root {root.kid}"
        ) from exc
    except BadSignature as exc:
        raise BadDirectorySignature("the directory signature does not verify") from exc
    except ValueError as exc:
        # Values RFC 8785 cannot serialise (NaN, integers beyond 2^53) cannot have been signed.
        raise InvalidDirectory(f"not a JSON document: {exc}") from exc
    directory = _parse(doc)
    try:
        root.check_usable_at(directory.issued_at)
    except KeyProblem as exc:
        raise BadDirectorySignature(f"root key not valid at issued_at: {exc}") from exc
    return directory


def is_newer(candidate: Directory, held: Directory | None) -> bool:
    """True when ``candidate`` supersedes ``held``: same federation, strictly higher version."""
    if held is None:
        return True
    if candidate.federation != held.federation:
        raise InvalidDirectory(
            f"directory of federation {candidate.federation}, not {held.federation}"
        )
    return candidate.version > held.version


def accept_directory(
    doc: Mapping[str, Any],
    pinned_root_public_jwk: PublicKey | Mapping[str, Any],
    held: Directory | None,
) -> Directory:
    """The directory a node should hold after receiving ``doc``.

    Verifies ``doc``; returns it when newer than ``held``, returns ``held`` when ``doc`` is the
    same document again, and raises :class:`StaleDirectory` for an older version or
    :class:`ConflictingDirectory` for the same version with different content.
    """
    candidate = verify_directory(doc, pinned_root_public_jwk)
    if held is None or is_newer(candidate, held):
        return candidate
    if candidate.version < held.version:
        raise StaleDirectory(
            f"directory version {candidate.version} is older than the held {held.version}"
        )
    if candidate.digest() != held.digest():
        raise ConflictingDirectory(
            f"two different directories claim version {held.version} of {held.federation}"
        )
    return held
