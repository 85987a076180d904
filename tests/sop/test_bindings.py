"""Who acts for a role (DESIGN §7): an agency, an ordered list (the first acts, the others are
alternates), or, for the roles that act for a state, the authority of the person's
nationality."""

from __future__ import annotations

import pytest

from sop.bindings import (
    STATE_ROLES,
    Acting,
    NationalityUnknown,
    NoAuthorityForNationality,
    agencies_of,
    binding_faults,
    resolve,
)

ORIGIN = {"SRB": "gov-rs", "XKX": ["gov-xk", "iom"]}


def test_a_slug_acts_for_everyone() -> None:
    assert resolve("iom", "SRB", role="return_agency") == Acting("iom", ())
    assert resolve("iom", None, role="return_agency") == Acting("iom", ())


def test_the_first_of_a_list_acts_and_the_others_are_alternates() -> None:
    assert resolve(["iom", "unhcr"], None, role="return_agency") == Acting("iom", ("unhcr",))


def test_a_serbian_national_gets_serbias_authority() -> None:
    assert resolve(ORIGIN, "SRB", role="origin_authority") == Acting("gov-rs", ())


def test_a_kosovar_gets_kosovos_authority_with_its_alternates() -> None:
    assert resolve(ORIGIN, "XKX", role="origin_authority") == Acting("gov-xk", ("iom",))


def test_an_unknown_nationality_cannot_pick_an_authority() -> None:
    with pytest.raises(NationalityUnknown) as raised:
        resolve(ORIGIN, None, role="origin_authority")
    assert raised.value.role == "origin_authority"
    assert "nationality" in str(raised.value)


def test_a_nationality_the_programme_does_not_bind_cannot_pick_an_authority() -> None:
    with pytest.raises(NoAuthorityForNationality) as raised:
        resolve(ORIGIN, "NGA", role="origin_authority")
    # The message names the role, not the person's nationality (personal data).
    assert "NGA" not in str(raised.value)
    assert raised.value.role == "origin_authority"


def test_every_agency_a_binding_names() -> None:
    assert agencies_of("iom") == ("iom",)
    assert agencies_of(["iom", "unhcr"]) == ("iom", "unhcr")
    assert agencies_of(ORIGIN) == ("gov-rs", "gov-xk", "iom")


def test_the_state_roles_are_origin_authority_and_reception_agency() -> None:
    assert frozenset({"origin_authority", "reception_agency"}) == STATE_ROLES


def test_well_formed_bindings_have_no_faults() -> None:
    assert (
        binding_faults(
            {
                "return_agency": "iom",
                "protection": ["unhcr", "unicef"],
                "origin_authority": ORIGIN,
                "reception_agency": {"SRB": "gov-rs", "XKX": "iom"},
            }
        )
        == []
    )


def test_every_shape_fault_is_listed_at_once() -> None:
    faults = binding_faults(
        {
            "return_agency": {"SRB": "iom"},
            "labour": [],
            "protection": ["unhcr", "unhcr"],
            "host_authority": "Gov DE",
            "origin_authority": {"srb": "gov-rs", "RS": "gov-rs", "XKX": []},
            "monitor": 7,
        }
    )
    assert {(f.role, f.code) for f in faults} == {
        ("return_agency", "binding_not_per_nationality"),
        ("labour", "binding_empty"),
        ("protection", "binding_duplicate"),
        ("host_authority", "agency_slug_invalid"),
        ("origin_authority", "country_code_invalid"),
        ("origin_authority", "binding_empty"),
        ("monitor", "binding_invalid"),
    }
    invalid_keys = [f for f in faults if f.code == "country_code_invalid"]
    assert [f.path for f in invalid_keys] == [
        ("origin_authority", "srb"),
        ("origin_authority", "RS"),
    ]
    assert all(f.message for f in faults)
