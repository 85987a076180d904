from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field, SecretStr

from auth.schemas import DataRoles, DisplayName, Email, Roles
from kit.http.schemas import Page, RequestModel, ResponseModel


class UserCreate(RequestModel):
    email: Email
    display_name: DisplayName
    roles: Roles = Field(min_length=1)
    data_roles: DataRoles = []
    password: SecretStr | None = Field(
        None, min_length=12, description="Omit to have a password generated and shown once."
    )


class UserPatch(RequestModel):
    display_name: DisplayName | None = None
    roles: Roles | None = Field(None, min_length=1)
    data_roles: DataRoles | None = None
    disabled: bool | None = None
    reset_password: bool = Field(False, description="Generate a new password, shown once.")


class UserOut(ResponseModel):
    id: uuid.UUID
    agency: str
    email: str
    display_name: str
    roles: list[str]
    data_roles: list[str]
    disabled: bool
    created_at: datetime
    updated_at: datetime


class UserWithPassword(UserOut):
    password: str | None = Field(
        None, description="Shown only in this response, when the node generated it."
    )


class UserPage(Page[UserOut]):
    pass
