"""The federation directory: signed by the root, pinned, versioned, and the keys it publishes."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from contracts.canonical import b64url_decode
from contracts.directory import (
    BadDirectorySignature,
    ConflictingDirectory,
    Directory,
    DirectoryError,
    InvalidDirectory,
    KeyExpired,
    KeyNotYetValid,
    StaleDirectory,
    UnknownKey,
    UnknownMember,
    WrongKeyUse,
    accept_directory,
    is_newer,
    sign_directory,
    verify_directory,
)
from contracts.envelope import (
    EnvelopeHeader,
    format_timestamp,
    new_message_id,
    open_categories,
    seal_and_sign,
    sign_json,
    verify,
)
from contracts.keys import KeyKind, NoUsableKey, PrivateKey, generate_key

ISSUED = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
YEAR = timedelta(days=365)


@cache
def root() -> PrivateKey:
    return generate_key(KeyKind.ED25519, nbf=ISSUED - YEAR, exp=ISSUED + 5 * YEAR)


@cache
def agency_keys(agency: str) -> tuple[PrivateKey, ...]:
    # Signing and both encryption kinds, plus an encryption key rotated in next month.
    return (
        generate_key(KeyKind.ED25519, nbf=ISSUED - YEAR, exp=ISSUED + YEAR),
        generate_key(KeyKind.X25519, nbf=ISSUED - YEAR, exp=ISSUED + YEAR),
        generate_key(KeyKind.MLKEM768_X25519, nbf=ISSUED - YEAR, exp=ISSUED + YEAR),
        generate_key(KeyKind.X25519, nbf=ISSUED + timedelta(days=30), exp=ISSUED + 2 * YEAR),
    )


MEMBERS = [
    ("unhcr", "UNHCR", "un_agency", "https://accord.unhcr.example"),
    ("iom", "IOM", "un_agency", "https://accord.iom.example"),
    ("ilo", "ILO", "un_agency", "https://accord.iom.example"),  # hosted on IOM's node
    ("gov-xk", "Ministry of Internal Affairs", "government", "https://accord.gov-xk.example"),
]


def unsigned(version: int = 3, **overrides: Any) -> dict[str, Any]:
    return {
        "federation": "accord-demo",
        "version": version,
        "issued_at": format_timestamp(ISSUED),
        "members": [
            {
                "agency": agency,
                "name": name,
                "kind": kind,
                **({"country": "XKX"} if kind == "government" else {}),
                "node_url": url,
                "jwks": {"keys": [key.public.to_jwk() for key in agency_keys(agency)]},
            }
            for agency, name, kind, url in MEMBERS
        ],
    } | overrides


def signed(version: int = 3, **overrides: Any) -> dict[str, Any]:
    return sign_directory(unsigned(version, **overrides), root())


def pinned() -> dict[str, Any]:
    return root().public.to_jwk()


# --- signing and verifying ------------------------------------------------------------------


def test_signed_directory_verifies_against_the_pinned_root() -> None:
    document = signed()

    directory = verify_directory(json.loads(json.dumps(document)), pinned())

    assert directory.version == 3
    assert [member.agency for member in directory.members] == ["unhcr", "iom", "ilo", "gov-xk"]


def test_verified_directory_serialises_back_to_the_document_as_signed() -> None:
    # GET /v1/directory serves the document as it is.
    document = signed()

    assert verify_directory(document, pinned()).model_dump(mode="json") == document


def test_signature_covers_the_rfc8785_form_without_the_signature_member() -> None:
    document = signed()
    verifier = Ed25519PublicKey.from_public_bytes(b64url_decode(pinned()["x"]))
    content = {name: value for name, value in document.items() if name != "signature"}

    verifier.verify(b64url_decode(document["signature"]["value"]), rfc8785.dumps(content))
    assert document["signature"]["kid"] == root().kid
    assert document["signature"]["alg"] == "EdDSA"


# --- governments and their states (DESIGN §4, §9) ---------------------------------------------


def test_a_government_member_names_the_state_it_acts_for() -> None:
    directory = verify_directory(signed(), pinned())
    assert directory.member("gov-xk").country == "XKX"
    assert directory.member("unhcr").country is None


def test_a_government_without_a_country_is_not_signed() -> None:
    document = unsigned()
    del document["members"][3]["country"]
    with pytest.raises(InvalidDirectory, match=r"gov-xk.*country"):
        sign_directory(document, root())


@pytest.mark.parametrize("country", ["XK", "xkx", "KOSOVO"])
def test_a_country_is_iso_3166_alpha_3(country: str) -> None:
    document = unsigned()
    document["members"][3]["country"] = country
    with pytest.raises(InvalidDirectory):
        sign_directory(document, root())


def test_a_directory_signed_before_governments_had_countries_still_verifies() -> None:
    # A node that upgrades keeps running on the directory it holds; the policy then treats
    # such a government as of unknown country and fails closed where the country matters.
    document = unsigned()
    del document["members"][3]["country"]
    old = document | {"signature": sign_json(document, root()).model_dump(mode="json")}

    directory = verify_directory(old, pinned())

    assert directory.member("gov-xk").country is None
    assert directory.model_dump(mode="json") == old, "served as signed, no country added"


def _copy_of_first(document: dict[str, Any]) -> dict[str, Any]:
    member: dict[str, Any] = copy.deepcopy(document["members"][0])
    return member


def _first_keys(document: dict[str, Any]) -> list[dict[str, Any]]:
    keys: list[dict[str, Any]] = document["members"][0]["jwks"]["keys"]
    return keys


TAMPERINGS = [
    ("renamed member", lambda d: d["members"][1].update(name="I0M")),
    ("moved node", lambda d: d["members"][0].update(node_url="https://evil.example")),
    ("changed kind", lambda d: d["members"][3].update(kind="ngo")),
    ("swapped key", lambda d: d["members"][1]["jwks"]["keys"].__setitem__(
        1, agency_keys("unhcr")[1].public.to_jwk())),
    ("extended key", lambda d: d["members"][1]["jwks"]["keys"][0].update(exp=4102444800)),
    ("dropped member", lambda d: d["members"].pop()),
    ("added member", lambda d: d["members"].append(_copy_of_first(d) | {"agency": "ngo-x"})),
    ("bumped version", lambda d: d.update(version=4)),
    ("new issued_at", lambda d: d.update(issued_at="2026-05-01T12:00:01Z")),
]  # fmt: skip


@pytest.mark.parametrize(("what", "tamper"), TAMPERINGS, ids=[t[0] for t in TAMPERINGS])
def test_tampered_directory_is_refused(what: str, tamper: Any) -> None:
    document = signed()
    tamper(document)

    with pytest.raises(BadDirectorySignature):
        verify_directory(document, pinned())


def test_directory_signed_by_another_root_is_refused() -> None:
    impostor = generate_key(KeyKind.ED25519, nbf=ISSUED - YEAR, exp=ISSUED + YEAR)
    document = sign_directory(unsigned(), impostor)

    with pytest.raises(BadDirectorySignature, match="pinned root"):
        verify_directory(document, pinned())


def test_directory_signed_by_another_key_claiming_the_root_kid_is_refused() -> None:
    impostor = generate_key(KeyKind.ED25519, nbf=ISSUED - YEAR, exp=ISSUED + YEAR)
    document = sign_directory(unsigned(), impostor)
    document["signature"]["kid"] = root().kid

    with pytest.raises(BadDirectorySignature, match="does not verify"):
        verify_directory(document, pinned())


def test_unsigned_directory_is_refused() -> None:
    with pytest.raises(BadDirectorySignature, match="not signed"):
        verify_directory(unsigned(), pinned())


def test_directory_with_a_malformed_signature_is_refused() -> None:
    document = signed()
    document["signature"]["alg"] = "none"

    with pytest.raises(BadDirectorySignature):
        verify_directory(document, pinned())


def test_pinned_root_must_be_a_signing_key() -> None:
    encryption = generate_key(KeyKind.X25519, nbf=ISSUED - YEAR, exp=ISSUED + YEAR)

    with pytest.raises(WrongKeyUse):
        verify_directory(signed(), encryption.public.to_jwk())


def test_directory_issued_outside_the_root_keys_validity_is_refused() -> None:
    later = format_timestamp(ISSUED + 10 * YEAR)
    document = unsigned(issued_at=later)
    lenient_root = PrivateKey(
        kind=root().kind,
        kid=root().kid,
        nbf=root().nbf,
        exp=ISSUED + 20 * YEAR,
        secret=root().secret,
    )
    document = sign_directory(document, lenient_root)

    with pytest.raises(BadDirectorySignature, match="not valid"):
        verify_directory(document, pinned())


def test_sign_directory_refuses_a_root_key_not_valid_at_issued_at() -> None:
    with pytest.raises(KeyExpired):
        sign_directory(unsigned(issued_at=format_timestamp(ISSUED + 10 * YEAR)), root())


def test_sign_directory_refuses_a_signed_document() -> None:
    with pytest.raises(InvalidDirectory, match="already signed"):
        sign_directory(signed(), root())


INVALID = [
    ("duplicate agency", lambda d: d["members"].append(copy.deepcopy(d["members"][0]))),
    ("unknown kind", lambda d: d["members"][0].update(kind="company")),
    ("relative node url", lambda d: d["members"][0].update(node_url="/accord")),
    ("node url with credentials", lambda d: d["members"][0].update(node_url="https://u:p@x.example")),
    ("bad slug", lambda d: d["members"][0].update(agency="UNHCR")),
    ("private key published", lambda d: d["members"][0]["jwks"]["keys"][0].update(d="AAAA")),
    ("key without nbf", lambda d: d["members"][0]["jwks"]["keys"][0].pop("nbf")),
    ("duplicate kid", lambda d: _first_keys(d).append(_first_keys(d)[0])),
    ("version zero", lambda d: d.update(version=0)),
    ("unknown member", lambda d: d.update(motd="hello")),
    ("loose timestamp", lambda d: d.update(issued_at="2026-05-01 12:00:00")),
]  # fmt: skip


@pytest.mark.parametrize(("what", "spoil"), INVALID, ids=[i[0] for i in INVALID])
def test_malformed_directory_is_refused_even_when_signed(what: str, spoil: Any) -> None:
    document = unsigned()
    spoil(document)
    with pytest.raises(InvalidDirectory):
        sign_directory(document, root())
    # A root that signed it anyway does not make it acceptable.
    document["signature"] = sign_json(document, root()).model_dump(mode="json")

    with pytest.raises(InvalidDirectory):
        verify_directory(document, pinned())


# --- versions -------------------------------------------------------------------------------


def test_newer_version_replaces_the_held_directory() -> None:
    held = verify_directory(signed(3), pinned())

    accepted = accept_directory(signed(4), pinned(), held)

    assert accepted.version == 4
    assert is_newer(accepted, held)


def test_older_version_is_refused() -> None:
    held = verify_directory(signed(4), pinned())

    with pytest.raises(StaleDirectory):
        accept_directory(signed(3), pinned(), held)


def test_the_same_directory_again_is_accepted_and_changes_nothing() -> None:
    document = signed(3)
    held = verify_directory(document, pinned())

    assert accept_directory(copy.deepcopy(document), pinned(), held) is held


def test_a_different_directory_with_the_held_version_is_refused() -> None:
    held = verify_directory(signed(3), pinned())
    rival = signed(3, issued_at=format_timestamp(ISSUED + timedelta(hours=1)))

    with pytest.raises(ConflictingDirectory):
        accept_directory(rival, pinned(), held)


def test_first_directory_is_accepted_when_none_is_held() -> None:
    assert accept_directory(signed(1), pinned(), None).version == 1


def test_directory_of_another_federation_is_refused() -> None:
    held = verify_directory(signed(3), pinned())

    with pytest.raises(InvalidDirectory, match="federation"):
        accept_directory(signed(9, federation="other-fed"), pinned(), held)


def test_every_refusal_is_a_directory_error() -> None:
    for error in (BadDirectorySignature, InvalidDirectory, StaleDirectory, ConflictingDirectory):
        assert issubclass(error, DirectoryError)


# --- members and their keys -----------------------------------------------------------------


@cache
def directory() -> Directory:
    return verify_directory(signed(), pinned())


def test_member_lookup_finds_the_agency_and_its_node() -> None:
    assert directory().member("iom").name == "IOM"
    assert directory().node_url("ilo") == "https://accord.iom.example"
    assert directory().agencies_at("https://accord.iom.example") == ["iom", "ilo"]
    with pytest.raises(UnknownMember):
        directory().member("who")


def test_member_key_is_found_by_kid_and_use_when_valid() -> None:
    signing = agency_keys("unhcr")[0]

    found = directory().member_key("unhcr", signing.kid, at=ISSUED, use="sig")

    assert found == signing.public


def test_member_key_refusals_say_which_rule_failed() -> None:
    signing, encryption, _, rotated = agency_keys("unhcr")

    with pytest.raises(UnknownKey):
        directory().member_key("unhcr", agency_keys("iom")[0].kid, at=ISSUED)
    with pytest.raises(WrongKeyUse):
        directory().member_key("unhcr", encryption.kid, at=ISSUED, use="sig")
    with pytest.raises(KeyExpired):
        directory().member_key("unhcr", signing.kid, at=ISSUED + YEAR)
    with pytest.raises(KeyNotYetValid):
        directory().member_key("unhcr", rotated.kid, at=ISSUED)
    with pytest.raises(UnknownMember):
        directory().member_key("who", signing.kid, at=ISSUED)


def test_current_encryption_key_follows_rotation() -> None:
    _, encryption, hybrid, rotated = agency_keys("iom")

    assert directory().current_key("iom", KeyKind.X25519, at=ISSUED) == encryption.public
    later = ISSUED + timedelta(days=31)
    assert directory().current_key("iom", KeyKind.X25519, at=later) == rotated.public
    assert directory().current_key("iom", KeyKind.MLKEM768_X25519, at=later) == hybrid.public
    with pytest.raises(NoUsableKey):
        directory().current_key("iom", KeyKind.MLKEM768_X25519, at=ISSUED + YEAR)


def test_directory_keys_carry_a_message_from_one_member_to_another() -> None:
    # The sender seals to the recipient's published keys; the recipient verifies with the
    # sender's published signing key: the directory is all they share.
    sender_signing = agency_keys("unhcr")[0]
    recipient = directory().member("iom")
    categories = {"identity": {"given_name": "Amina"}, "protection": {"risk": "high"}}
    header = EnvelopeHeader.model_validate(
        {
            "id": new_message_id(),
            "type": "referral.sent",
            "from": "unhcr",
            "to": "iom",
            "sent_at": ISSUED,
            "expires_at": ISSUED + timedelta(days=1),
            "kids": {
                "sig": sender_signing.kid,
                "enc": {
                    "identity": recipient.current_key(KeyKind.X25519, at=ISSUED).kid,
                    "protection": recipient.current_key(KeyKind.MLKEM768_X25519, at=ISSUED).kid,
                },
            },
        }
    )
    env = seal_and_sign(header, {}, categories, recipient.keys, sender_signing)

    sender_key = directory().member_key(
        env.header.from_, env.header.kids.sig, at=env.header.sent_at, use="sig"
    )
    verify(env, sender_key)
    private = {key.kid: key for key in agency_keys("iom")}
    assert open_categories(env, private) == categories
