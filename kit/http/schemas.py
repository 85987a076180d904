"""Base classes for request and response bodies, the problem document, and the page of a list."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from kit.db.repository import MAX_LIMIT

T = TypeVar("T")


class RequestModel(BaseModel):
    """Every request body: an unknown field is an error that names the field, never ignored.

    Silently dropping a misspelt field (``categores``) would let a client believe it restricted
    a disclosure when it did not.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ResponseModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Page(ResponseModel, Generic[T]):
    """One page of a list, newest first (keyset pagination).

    Every list operation answers with a subclass naming its item type (``class CasePage(
    Page[CaseSummary])``), so the OpenAPI document shows a readable name. ``next_cursor`` is
    null on the last page; pass it back as ``cursor`` for the next one.
    """

    items: list[T]
    next_cursor: str | None = Field(
        description="Pass back as `cursor` to read the next page; null on the last page."
    )
    limit: int = Field(
        ge=1, le=MAX_LIMIT, description="The most items a page holds (the `limit` asked for)."
    )


def _absent(value: object) -> bool:
    return value is None


# --- JSON Web Keys (RFC 7517), as this node publishes them ----------------------------------


class PublicJwk(BaseModel):
    """A public key: Ed25519 or X25519 as an RFC 8037 OKP key (``crv``, ``x``), or the hybrid
    ML-KEM-768+X25519 encryption key as an ``AKP`` key (``pub``). ``nbf``/``exp`` bound when
    it may be used (NumericDate). Members a key does not have are absent, never null."""

    model_config = ConfigDict(extra="allow")

    kty: str = Field(description="`OKP` or `AKP`.")
    kid: str
    use: str | None = Field(None, exclude_if=_absent, description="`sig` or `enc`.")
    alg: str | None = Field(None, exclude_if=_absent)
    crv: str | None = Field(None, exclude_if=_absent, description="`Ed25519` or `X25519`.")
    x: str | None = Field(None, exclude_if=_absent, description="OKP public key, base64url.")
    pub: str | None = Field(None, exclude_if=_absent, description="AKP public key, base64url.")
    nbf: int | None = Field(None, exclude_if=_absent)
    exp: int | None = Field(None, exclude_if=_absent)


class JwkSet(BaseModel):
    """RFC 7517 §5 JWK Set."""

    keys: list[PublicJwk]


# --- RFC 9457 problem documents -------------------------------------------------------------
# Documentation models: errors are rendered by kit.http.problems from AccordError, and every
# 4xx/5xx response in the OpenAPI document points at Problem (kit.http.openapi).


class Violation(BaseModel):
    """One reason a disclosure or a programme was refused, in words a focal point acts on."""

    model_config = ConfigDict(extra="allow")

    code: str = Field(description="A stable code to match on (e.g. `consent_recipient`).")
    message: str
    category: str | None = Field(None, description="The data category concerned, if one.")


class FieldError(BaseModel):
    """One bad field of a request, located as FastAPI locates it (``body.categories.0``)."""

    model_config = ConfigDict(extra="allow")

    location: str = Field(description="Where in the request: `body.parties.1`, `query.limit`.")
    message: str = Field(description="What the field needs; never echoes the value sent.")
    type: str = Field(description="A stable code for the kind of fault.")
    code: str | None = Field(None, description="The domain rule's code, where one applies.")


class Problem(BaseModel):
    """An RFC 9457 problem document: every error this node answers with.

    ``type`` dereferences under ``/problems/<slug>`` to what the problem means and what to do.
    Members beyond RFC 9457's own are extensions (RFC 9457 §3.2): ``violations`` for policy
    refusals, ``errors`` for invalid fields, ``request_id`` to quote in a report, and a few
    per problem type (``current_status``, ``required_scope``, ``receipt``, ...).
    """

    model_config = ConfigDict(extra="allow", title="Problem")

    type: str = Field(description="URI reference of the problem type, e.g. `/problems/not-found`.")
    title: str = Field(description="Short summary of the problem type.")
    status: int = Field(ge=400, le=599, description="The HTTP status code.")
    detail: str = Field(description="What went wrong with this request, in words.")
    instance: str | None = Field(None, description="URI reference of this occurrence.")
    violations: list[Violation] | None = Field(
        None, description="Every reason a disclosure (or programme) was refused."
    )
    errors: list[FieldError] | None = Field(None, description="Every invalid field.")
    request_id: str | None = Field(None, description="Quote it when reporting a problem.")
