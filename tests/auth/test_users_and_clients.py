"""Admins manage their own agency's people and systems; secrets are shown once."""

from __future__ import annotations

import uuid

import httpx
import pytest
from joserfc.jwk import ECKey

from auth.introspect import standing
from auth.models import ApiClient, User
from auth.principal import Principal
from auth.tokens import AccessClaims
from auth.users import service as users
from auth.users.schemas import UserPatch
from kit.errors import Conflict
from tests.support.identity import bearer, client_token, seed_user


@pytest.fixture
async def admin(client: httpx.AsyncClient, unhcr_system) -> dict[str, str]:
    return bearer(await client_token(client, unhcr_system))


async def test_created_user_gets_a_password_shown_once(client, admin) -> None:
    created = await client.post(
        "/v1/users",
        headers=admin,
        json={
            "email": "Amina@UNHCR.example",
            "display_name": "Amina",
            "roles": ["focal_point"],
            "data_roles": ["protection_officer"],
        },
    )
    assert created.status_code == 201
    body = created.json()
    assert body["email"] == "amina@unhcr.example"
    assert len(body["password"]) >= 20
    fetched = await client.get(f"/v1/users/{body['id']}", headers=admin)
    assert "password" not in fetched.json()
    assert "password_hash" not in fetched.text


async def test_given_password_is_not_echoed(client, admin) -> None:
    created = await client.post(
        "/v1/users",
        headers=admin,
        json={
            "email": "x@unhcr.example",
            "display_name": "X",
            "roles": ["caseworker"],
            "password": "a long enough passphrase",
        },
    )
    assert created.json()["password"] is None


async def test_duplicate_email_is_409(client, admin) -> None:
    body = {"email": "dup@unhcr.example", "display_name": "D", "roles": ["caseworker"]}
    assert (await client.post("/v1/users", headers=admin, json=body)).status_code == 201
    again = await client.post("/v1/users", headers=admin, json=body)
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"


async def test_bad_user_fields_are_each_named(client, admin) -> None:
    response = await client.post(
        "/v1/users",
        headers=admin,
        json={
            "email": "not-an-email",
            "display_name": "",
            "roles": ["superuser"],
            "data_roles": ["Bad Role"],
            "password": "short",
            "unknown": 1,
        },
    )
    assert response.status_code == 422
    locations = {e["location"] for e in response.json()["errors"]}
    assert {
        "body.email",
        "body.display_name",
        "body.roles.0",
        "body.data_roles.0",
        "body.password",
        "body.unknown",
    } <= locations


async def test_reset_password_returns_a_new_one_once(client, admin) -> None:
    created = (
        await client.post(
            "/v1/users",
            headers=admin,
            json={"email": "r@unhcr.example", "display_name": "R", "roles": ["caseworker"]},
        )
    ).json()
    reset = await client.patch(
        f"/v1/users/{created['id']}", headers=admin, json={"reset_password": True}
    )
    assert reset.json()["password"] not in (None, created["password"])


async def test_admin_cannot_lock_themselves_out(app, agencies) -> None:
    person = await seed_user(app, "unhcr", "boss@unhcr.example", roles=["admin"])
    me = Principal(
        agency="unhcr",
        kind="user",
        subject=person.id,
        client_id="c",
        roles=frozenset({"admin"}),
        data_roles=frozenset(),
        scopes=frozenset(),
        token_id="t",
    )
    async with app.state.db.sessions() as session:
        with pytest.raises(Conflict):
            await users.update(
                session,
                principal=me,
                user_id=uuid.UUID(person.id),
                patch=UserPatch(disabled=True),
                passwords=app.state.passwords,
            )
        with pytest.raises(Conflict):
            await users.update(
                session,
                principal=me,
                user_id=uuid.UUID(person.id),
                patch=UserPatch(roles=["caseworker"]),
                passwords=app.state.passwords,
            )


async def test_client_secret_rotation_retires_the_old_secret(client, admin) -> None:
    created = (
        await client.post(
            "/v1/clients",
            headers=admin,
            json={"name": "Case system", "scopes": ["cases:read"], "roles": ["caseworker"]},
        )
    ).json()
    assert created["client_secret"]
    listed = (await client.get(f"/v1/clients/{created['id']}", headers=admin)).json()
    assert "client_secret" not in listed
    rotated = (
        await client.patch(
            f"/v1/clients/{created['id']}", headers=admin, json={"rotate_secret": True}
        )
    ).json()
    assert rotated["client_secret"] not in (None, created["client_secret"])
    old = await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(created["client_id"], created["client_secret"]),
    )
    assert old.status_code == 401
    new = await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(created["client_id"], rotated["client_secret"]),
    )
    assert new.status_code == 200


@pytest.mark.parametrize(
    ("body", "fault"),
    [
        ({"token_endpoint_auth_method": "private_key_jwt"}, "needs `jwks`"),
        (
            {
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": {"keys": [ECKey.generate_key("P-256").as_dict(private=True)]},
            },
            "public keys only",
        ),
        ({"grant_types": ["authorization_code"]}, "redirect URI"),
        (
            {"grant_types": ["authorization_code"], "redirect_uris": ["http://example.org/cb"]},
            "https",
        ),
        ({"token_endpoint_auth_method": "none"}, "public client"),
    ],
)
async def test_incoherent_client_registration_is_refused(client, admin, body, fault) -> None:
    response = await client.post(
        "/v1/clients",
        headers=admin,
        json={"name": "S", "scopes": ["cases:read"], "roles": ["caseworker"], **body},
    )
    assert response.status_code == 422
    assert fault in response.text


def _claims(kind: str) -> AccessClaims:
    return AccessClaims(
        issuer="i",
        subject="s",
        audience="i",
        expires_at=0,
        issued_at=0,
        token_id="t",
        client_id="c",
        scopes=frozenset(),
        agency="unhcr",
        roles=frozenset({"admin", "focal_point"}),
        data_roles=frozenset({"medical"}),
        kind=kind,
        family=None,
    )


def test_a_disabled_person_stands_no_more_even_through_an_active_client() -> None:
    client = ApiClient(agency="unhcr", disabled=False, roles=["admin"], data_roles=[])
    person = User(agency="unhcr", disabled=True, roles=["admin"], data_roles=[])
    assert not standing(_claims("user"), client, person, revoked=False).active


def test_standing_keeps_only_roles_the_account_still_holds() -> None:
    client = ApiClient(agency="unhcr", disabled=False, roles=["admin"], data_roles=[])
    person = User(agency="unhcr", disabled=False, roles=["focal_point"], data_roles=["medical"])
    now = standing(_claims("user"), client, person, revoked=False)
    assert now.roles == {"focal_point"}
    assert now.data_roles == {"medical"}
    assert not standing(_claims("client"), client, None, revoked=True).active
