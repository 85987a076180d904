"""Post-return monitoring's two indicators become the facts the SOP reads (DESIGN §1)."""

from __future__ import annotations

from sop.results import facts_from_results


def test_willingness_to_remain_is_read_as_it_was_recorded() -> None:
    assert facts_from_results({"monitoring": {"willing_to_remain": False}}) == {
        "willing_to_remain": False
    }


def test_participation_needs_both_social_life_and_meaningful_employment() -> None:
    both = {"social_participation": True, "meaningful_employment": True}
    assert facts_from_results({"monitoring": both}) == {"social_and_economic_participation": True}
    only_social = {"social_participation": True}
    assert facts_from_results({"monitoring": only_social}) == {
        "social_and_economic_participation": False
    }


def test_results_without_monitoring_establish_no_fact() -> None:
    assert facts_from_results({"reintegration": {"plan_agreed_on": "2026-11-20"}}) == {}


def test_a_trafficking_victim_identified_by_the_acting_agency_becomes_a_fact() -> None:
    facts = facts_from_results({"specific_needs": {"trafficking_victim": True, "pregnant": True}})
    assert facts == {"trafficking_victim": True}


def test_an_origin_authority_that_cannot_determine_the_nationality_puts_it_in_doubt() -> None:
    undetermined = {"identity": {"nationality_status": "undetermined"}}
    assert facts_from_results(undetermined) == {"nationality_in_doubt": True}
    confirmed = {"identity": {"nationality_status": "confirmed"}}
    assert facts_from_results(confirmed) == {"nationality_in_doubt": False}
    assert facts_from_results({"identity": {"nationality_status": "claimed"}}) == {}


def test_a_person_found_stateless_in_the_identity_sent_back_becomes_a_fact() -> None:
    assert facts_from_results({"identity": {"nationality_status": "stateless"}}) == {
        "stateless": True
    }
