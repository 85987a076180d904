"""Base classes for request and response bodies."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class RequestModel(BaseModel):
    """Every request body: an unknown field is an error that names the field, never ignored.

    Silently dropping a misspelt field (``categores``) would let a client believe it restricted
    a disclosure when it did not.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ResponseModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)
