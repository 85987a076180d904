"""contracts.policy, data only to the right state (DESIGN §9 "States"): the state roles go to the
person's state of nationality only, and asylum history, protection and biometrics never go to
the person's own state, whatever the agreement says."""

from __future__ import annotations

from dataclasses import replace

import pytest

from contracts.policy import (
    COUNTRY_OF_ORIGIN_PROTECTED_CATEGORIES,
    STATE_ROLE_PURPOSES,
    DirectoryEntry,
    PersonStates,
    ReasonCode,
    decide_received,
    decide_results,
)
from tests.contracts.test_policy import NOW, TO_KOSOVO, consent

R = ReasonCode
SERBIAN = PersonStates(nationalities=frozenset({"SRB"}))
KOSOVAR = PersonStates(nationalities=frozenset({"XKX"}))
UNKNOWN = PersonStates()
KOSOVO = DirectoryEntry(kind="government", country="XKX")
#: The person agreed to Kosovo's ministry receiving their asylum history too.
BROAD = consent(
    purposes=["travel-documents", "avrr-counselling"],
    recipients=["gov-xk"],
    categories=["identity", "documents", "asylum_history"],
)


def test_the_state_role_purposes_are_travel_documents_readmission_and_reception() -> None:
    assert frozenset({"travel-documents", "readmission", "avrr-reception"}) == STATE_ROLE_PURPOSES


def test_the_protected_categories_include_biometrics_by_name() -> None:
    assert {"asylum_history", "protection", "biometrics"} == COUNTRY_OF_ORIGIN_PROTECTED_CATEGORIES


def test_a_kosovar_travel_document_request_goes_to_kosovo() -> None:
    assert TO_KOSOVO.decide().allowed


def test_a_serbian_travel_document_request_is_refused_to_kosovo() -> None:
    decision = replace(TO_KOSOVO, person=SERBIAN).decide()
    assert decision.codes == {R.NOT_STATE_OF_NATIONALITY}
    assert decision.categories_allowed == ()
    (reason,) = decision.reasons
    assert "gov-xk" in reason.message
    assert "SRB" not in reason.message, "reasons name no personal data"


def test_a_dual_national_may_ask_either_state() -> None:
    dual = PersonStates(nationalities=frozenset({"SRB", "XKX"}))
    assert replace(TO_KOSOVO, person=dual).decide().allowed


def test_an_unknown_nationality_fails_closed_for_a_state_role() -> None:
    decision = replace(TO_KOSOVO, person=UNKNOWN).decide()
    assert decision.codes == {R.NOT_STATE_OF_NATIONALITY}
    assert "nationality" in decision.reasons[0].message


def test_a_government_whose_directory_entry_names_no_country_fails_closed() -> None:
    legacy = replace(TO_KOSOVO, recipient_entry=DirectoryEntry(kind="government", country=None))
    assert legacy.decide().codes == {R.NOT_STATE_OF_NATIONALITY}
    protected = replace(
        legacy, purpose="avrr-counselling", consent=BROAD, categories=("asylum_history",)
    )
    assert protected.decide().codes == {R.COUNTRY_OF_ORIGIN_PROTECTED}


@pytest.mark.parametrize("purpose", ["avrr-counselling", "travel-documents"])
def test_asylum_history_never_goes_to_the_state_of_nationality(purpose: str) -> None:
    disclosure = replace(
        TO_KOSOVO,
        purpose=purpose,
        consent=BROAD,
        categories=("identity", "documents", "asylum_history"),
    )
    decision = disclosure.decide()
    assert decision.codes == {R.COUNTRY_OF_ORIGIN_PROTECTED}
    assert decision.categories_allowed == ("identity", "documents")
    assert [r.category for r in decision.reasons] == ["asylum_history"]


def test_asylum_history_never_goes_to_the_country_of_origin_either() -> None:
    fled_kosovo = PersonStates(nationalities=frozenset(), countries_of_origin=frozenset({"XKX"}))
    disclosure = replace(
        TO_KOSOVO,
        purpose="avrr-counselling",
        consent=BROAD,
        categories=("asylum_history",),
        person=fled_kosovo,
    )
    assert disclosure.decide().codes == {R.COUNTRY_OF_ORIGIN_PROTECTED}


def test_asylum_history_may_go_to_another_government_the_agreement_allows() -> None:
    disclosure = replace(
        TO_KOSOVO,
        purpose="avrr-counselling",
        consent=BROAD,
        categories=("asylum_history",),
        person=SERBIAN,
    )
    assert disclosure.decide().allowed


def test_a_person_of_undetermined_nationality_may_still_be_profiled_by_the_host_state() -> None:
    # The state-role requests fail closed (above); the host state's own authority still needs
    # the asylum history of a person whose nationality is not established.
    disclosure = replace(
        TO_KOSOVO,
        purpose="avrr-counselling",
        consent=BROAD,
        categories=("asylum_history",),
        person=UNKNOWN,
    )
    assert disclosure.decide().allowed


def test_both_state_rules_are_reported_together() -> None:
    disclosure = replace(
        TO_KOSOVO,
        consent=BROAD,
        categories=("identity", "asylum_history"),
        person=PersonStates(
            nationalities=frozenset({"SRB"}), countries_of_origin=frozenset({"XKX"})
        ),
    )
    assert disclosure.decide().codes == {
        R.NOT_STATE_OF_NATIONALITY,
        R.COUNTRY_OF_ORIGIN_PROTECTED,
    }


def test_the_rules_concern_governments_only() -> None:
    mission = replace(TO_KOSOVO, recipient_entry=DirectoryEntry(kind="un_agency", country="XKX"))
    assert replace(mission, person=SERBIAN).decide().allowed
    assert replace(TO_KOSOVO, recipient_entry=None, person=SERBIAN).decide().allowed


def test_the_recipient_refuses_as_the_sender_would() -> None:
    scope = TO_KOSOVO.consent.scope() if TO_KOSOVO.consent else None
    values = {
        "agreement": TO_KOSOVO.agreement,
        "cited_consent": scope.id if scope else None,
        "consent": scope,
        "sender": "unhcr",
        "recipient": "gov-xk",
        "purpose": "travel-documents",
        "categories": ("identity", "documents"),
        "seal_faults": {},
        "now": NOW,
        "recipient_entry": KOSOVO,
    }
    assert decide_received(**values, person=KOSOVAR).allowed
    refused = decide_received(**values, person=SERBIAN)
    assert refused.codes == {R.NOT_STATE_OF_NATIONALITY}


def test_results_never_go_back_to_the_persons_own_state() -> None:
    # A government running its own case (enforcement) never gets the person's protection
    # details back from the agency it referred to, if it is the person's own state.
    values = {
        "agreement": TO_KOSOVO.agreement,
        "consent": TO_KOSOVO.consent,
        "sender": "unhcr",
        "recipient": "gov-xk",
        "purpose": "travel-documents",
        "categories": ("asylum_history",),
        "now": NOW,
        "recipient_entry": KOSOVO,
    }
    assert decide_results(**values, person=KOSOVAR).codes >= {R.COUNTRY_OF_ORIGIN_PROTECTED}
    # Results are not a state-role request: the purpose rule does not apply to them.
    assert R.NOT_STATE_OF_NATIONALITY not in decide_results(**values, person=SERBIAN).codes
