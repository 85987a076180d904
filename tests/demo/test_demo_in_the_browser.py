"""``make demo``, then the console in a real browser: the federation walks every person to
their expected stage, and people finish the work it leaves waiting, as the README tells them.

A focal point approves a referral and sees it sent; another accepts one; an admin signs an
agreement; an auditor sees the chain valid; a form posted without its CSRF token is refused.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from tests.demo.conftest import shoot


def _node(demo: dict[str, Any], agency: str) -> str:
    return next(n["url"] for n in demo["nodes"] if agency in n["agencies"])


def _login(demo: dict[str, Any], agency: str, role: str) -> dict[str, str]:
    return next(x for x in demo["logins"] if x["agency"] == agency and x["role"] == role)


def _sign_in(page: Any, demo: dict[str, Any], agency: str, role: str) -> str:
    url, login = _node(demo, agency), _login(demo, agency, role)
    page.goto(f"{url}/console/login")
    page.get_by_label("Email").fill(login["email"])
    page.get_by_label("Password").fill(login["password"])
    shoot(page, "login")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    return url


def _status_becomes(page: Any, wanted: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while page.locator("#referral-status").inner_text() != wanted:
        assert time.monotonic() < deadline, f"the referral never became {wanted}"
        time.sleep(0.5)
        page.reload()


def test_the_demo_walks_every_person_to_their_expected_stage(demo: dict[str, Any]) -> None:
    assert demo["ok"] is True, demo["output"].read_text()[-4000:]
    hosted = sorted(a for node in demo["nodes"] for a in node["agencies"])
    assert hosted == [
        "caritas",
        "gov-de",
        "gov-rs",
        "gov-xk",
        "hardship-be",
        "ilo",
        "iom",
        "unhcr",
    ]
    assert len(demo["nodes"]) == 5, "UNHCR; IOM, ILO, Caritas; three governments"
    assert len(demo["people"]) >= 10, "every pathway the seed names"
    for person in demo["people"]:
        assert set(person) >= {
            "name",
            "pathway",
            "end_stage",
            "expected_end_stage",
            "referrals",
            "erasures",
            "stages",
        }
        assert person["end_stage"] == person["expected_end_stage"], person
        assert person["stages"][-1] == person["end_stage"]
    ends = {p["end_stage"] for p in demo["people"]}
    assert {"removal_completed", "hardship_residence", "legal_channel_admission"} <= ends
    diverted = [p for p in demo["people"] if p["stages"][:3] == ["profiling", "counselling", "bid"]]
    assert diverted, "a child identified late went to the best-interests determination"
    withdrawn = [p for p in demo["people"] if p["end_stage"] == "withdrawn"]
    assert withdrawn
    assert withdrawn[0]["erasures"] == withdrawn[0]["referrals"] > 0
    assert {(login["agency"], login["role"]) for login in demo["logins"]} >= {
        ("unhcr", "focal_point"),
        ("iom", "focal_point"),
        ("unhcr", "admin"),
        ("unhcr", "auditor"),
    }
    assert all(set(c) == {"agency", "client_id", "client_secret"} for c in demo["clients"])
    assert demo["console"].endswith("/console")
    assert demo["waiting"]["to_approve_at_unhcr"]
    assert demo["waiting"]["to_accept_at_iom"]


AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
#: WCAG 2.0, 2.1 and 2.2, levels A and AA: what issue 17 promises, and nothing best-practice only.
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]
LAPTOP, PHONE = {"width": 1366, "height": 768}, {"width": 360, "height": 740}


def _with_axe(context: Any) -> Any:
    """A browser context (bypassing CSP) where every page loads axe-core as it opens: handed
    over once, rather than half a megabyte of script for each page audited."""
    context.add_init_script(path=str(AXE))
    return context


def _audit_page(page: Any, state: str, problems: list[str]) -> None:
    """axe-core on the page as it stands, then the same page at 360 px for sideways scrolling.

    Only violations are gathered in full (``resultTypes``): axe still runs every rule on every
    element, but lists one example each of what passed or did not apply, which nobody reads.
    """
    if not page.evaluate("typeof axe !== 'undefined'"):
        page.add_script_tag(content=AXE.read_text())
    found = page.evaluate(
        """async (tags) => (await axe.run(document, {
               runOnly: {type: "tag", values: tags}, resultTypes: ["violations"],
             }))
             .violations.map(v => v.id + " at " + v.nodes.map(n => n.target).join(", "))""",
        WCAG_AA,
    )
    problems += [f"{state}: {violation}" for violation in found]
    page.set_viewport_size(PHONE)
    wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    if wide > 0:
        problems.append(f"{state}: scrolls {wide} px sideways at 360 px")
    page.set_viewport_size(LAPTOP)


def _error_summary_has_focus(page: Any, state: str, problems: list[str]) -> None:
    """WCAG 3.3.1: a refused form says so at the top, where the focus lands, without script."""
    from playwright.sync_api import TimeoutError as NotInTime

    # The page may still be loading when the click returns (autofocus acts once it has).
    try:
        page.wait_for_function(
            "document.activeElement && document.activeElement.id === 'error-summary'",
            timeout=5_000,
        )
    except NotInTime:
        focused = page.evaluate("document.activeElement && document.activeElement.id")
        problems.append(f"{state}: the focus is on {focused!r}, not on the error summary")


def _every_section(page: Any, url: str, who: str, problems: list[str]) -> None:
    nav = page.get_by_role("navigation")
    for href in [
        nav.get_by_role("link").nth(i).get_attribute("href")
        for i in range(nav.get_by_role("link").count())
    ]:
        page.goto(f"{url}{href}")
        _audit_page(page, f"{who} {href}", problems)


def _first(page: Any, url: str, css: str) -> str:
    return f"{url}{page.locator(css).first.get_attribute('href')}"


def test_axe_core_finds_no_wcag_violation_on_any_console_page(
    demo: dict[str, Any], browser: Any
) -> None:
    """Every console page, in every state a person reaches it in, passes axe-core's WCAG 2.2
    A and AA rules, and none scrolls sideways at 360 px (WCAG 1.4.10).

    The console's CSP allows no script, so this context alone bypasses CSP to inject axe-core
    (tests/demo/vendor/axe-core); the product's pages and their CSP are as served. Runs before
    the tests that approve and accept the waiting referrals, to see their confirmation steps.
    """
    problems: list[str] = []
    context = _with_axe(browser.new_context(viewport=LAPTOP, bypass_csp=True))
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        unhcr = _node(demo, "unhcr")
        page.goto(f"{unhcr}/console/login")
        _audit_page(page, "signed out /console/login", problems)
        page.get_by_label("Email").fill("nobody@unhcr.test")
        page.get_by_label("Password").fill("wrong password")
        page.get_by_role("button", name="Sign in").click()
        _audit_page(page, "sign-in refused", problems)

        url = _sign_in(page, demo, "unhcr", "focal_point")
        _every_section(page, url, "unhcr focal point", problems)
        page.goto(f"{url}/console/referrals/{demo['waiting']['to_approve_at_unhcr']}")
        _audit_page(page, "outgoing referral", problems)
        page.get_by_role("button", name="Approve").click()
        page.get_by_role(
            "heading", name="Approve and send this referral?"
        ).wait_for()  # visible, or fails after 15 s
        _audit_page(page, "approve confirmation", problems)
        page.goto(f"{url}/console/agreements")
        page.goto(_first(page, url, 'table a[href^="/console/agreements/"]'))
        _audit_page(page, "an agreement", problems)
        page.goto(f"{url}/console/programmes")
        page.goto(_first(page, url, 'table a[href^="/console/programmes/"]'))
        _audit_page(page, "a programme", problems)
        page.goto(_first(page, url, 'a[href^="/console/journeys/"]'))
        _audit_page(page, "a journey", problems)
        page.goto(f"{url}/console/referrals/00000000-0000-7000-8000-000000000000")
        _audit_page(page, "a referral not found", problems)
        context.clear_cookies()

        url = _sign_in(page, demo, "unhcr", "caseworker")
        _every_section(page, url, "unhcr caseworker", problems)
        page.goto(f"{url}/console/referrals")
        page.goto(_first(page, url, 'table a[href^="/console/referrals/"]'))
        _audit_page(page, "a referral read by a caseworker", problems)
        context.clear_cookies()

        url = _sign_in(page, demo, "unhcr", "admin")
        _every_section(page, url, "unhcr admin", problems)
        page.goto(f"{url}/console/users")
        page.get_by_label("Email").fill("someone@nowhere")
        page.get_by_label("Display name").fill("Someone")
        page.get_by_role("button", name="Add user").click()
        _error_summary_has_focus(page, "users form with errors", problems)
        _audit_page(page, "users form with errors", problems)
        page.goto(f"{url}/console/agreements")
        page.get_by_role("link", name="Draft an agreement").click()
        _audit_page(page, "agreement drafting form", problems)
        page.get_by_label("Title").fill("Nothing chosen")
        page.get_by_role("button", name="Save draft").click()
        _error_summary_has_focus(page, "agreement form with errors", problems)
        _audit_page(page, "agreement form with errors", problems)
        context.clear_cookies()

        url = _sign_in(page, demo, "unhcr", "auditor")
        _every_section(page, url, "unhcr auditor", problems)
        page.goto(f"{url}/console/audit?since=yesterday")
        _audit_page(page, "audit filters with an error", problems)
        context.clear_cookies()

        url = _sign_in(page, demo, "iom", "focal_point")
        _every_section(page, url, "iom focal point", problems)
        incoming = f"{url}/console/referrals/{demo['waiting']['to_accept_at_iom']}"
        page.goto(incoming)
        _audit_page(page, "incoming referral", problems)
        page.get_by_role("button", name="Accept").click()
        _audit_page(page, "accept confirmation", problems)
        page.goto(incoming)
        page.get_by_role("button", name="Decline").click()
        _audit_page(page, "decline confirmation", problems)
        page.get_by_label("Reason").fill("   ")
        page.get_by_role("button", name="Decline").click()
        _error_summary_has_focus(page, "decline without a reason", problems)
        _audit_page(page, "decline without a reason", problems)
    finally:
        context.close()
    assert not problems, "\n".join(problems)


def test_a_focal_point_approves_a_referral_and_sees_it_sent(
    demo: dict[str, Any], page: Any
) -> None:
    referral = demo["waiting"]["to_approve_at_unhcr"]
    _sign_in(page, demo, "unhcr", "focal_point")
    assert page.get_by_role("heading", name="Waiting for me").is_visible()
    assert int(page.locator("#count-approve").inner_text()) >= 1
    shoot(page, "waiting-for-me")
    page.locator(f'a[href="/console/referrals/{referral}"]').first.click()
    assert page.locator("#referral-status").inner_text() == "pending approval"
    shoot(page, "referral-outgoing")
    page.get_by_role("button", name="Approve").click()
    page.get_by_role(
        "heading", name="Approve and send this referral?"
    ).wait_for()  # visible, or fails after 15 s
    shoot(page, "referral-confirm")
    page.get_by_role("button", name="Approve").click()
    assert "Approved." in page.get_by_role("status").inner_text()
    _status_becomes(page, "sent")
    assert "sent by node" in page.locator("ol.timeline").inner_text()


def test_a_focal_point_at_iom_accepts_the_incoming_referral(
    demo: dict[str, Any], page: Any
) -> None:
    referral = demo["waiting"]["to_accept_at_iom"]
    _sign_in(page, demo, "iom", "focal_point")
    assert int(page.locator("#count-accept").inner_text()) >= 1
    page.locator(f'a[href="/console/referrals/{referral}"]').first.click()
    page.get_by_role("heading", name="What you may read").wait_for()  # visible, or fails after 15 s
    shoot(page, "referral-incoming")
    page.get_by_role("button", name="Accept").click()
    page.get_by_role("button", name="Accept").click()
    assert page.locator("#referral-status").inner_text() == "accepted"


def test_an_admin_drafts_proposes_and_signs_an_agreement(demo: dict[str, Any], page: Any) -> None:
    _sign_in(page, demo, "unhcr", "admin")
    page.get_by_role("link", name="Agreements").click()
    page.get_by_role("link", name="Draft an agreement").click()
    page.get_by_label("Title").fill("Hardship review referrals")
    germany = "Germany, Federal Office for Migration"
    page.get_by_role("group", name="Parties", exact=True).get_by_label(germany).check()
    page.get_by_label("Purposes").fill("hardship-review")
    # Categories open on demand; nothing in them is typed, only ticked.
    page.locator("summary", has_text="Identity").click()
    page.get_by_role("group", name="Senders of identity").get_by_label("UNHCR", exact=True).check()
    page.get_by_role("group", name="Recipients of identity").get_by_label(germany).check()
    page.get_by_role("group", name="Data roles that may read identity").get_by_label(
        "counsellor", exact=True
    ).check()
    shoot(page, "agreement-draft-form")
    page.get_by_role("button", name="Save draft").click()
    page.get_by_role("button", name="Propose to every party").click()
    assert page.locator("#agreement-status").inner_text() == "proposed"
    page.get_by_role("button", name="Sign agreement").click()
    assert "Signed with your agency" in page.get_by_role("status").inner_text()
    signatures = page.get_by_role("table").first.inner_text()
    # Parties by their directory names (issue 17), the slug only on hover.
    assert re.search(r"UNHCR\s+signed .*verified against the directory", signatures)
    assert re.search(re.escape(germany) + r"\s+not signed yet", signatures)
    shoot(page, "agreement-signed")


def test_an_auditor_signs_in_with_the_keyboard_and_sees_the_chain_valid(
    demo: dict[str, Any], page: Any
) -> None:
    url, login = _node(demo, "unhcr"), _login(demo, "unhcr", "auditor")
    page.goto(f"{url}/console/login")
    page.get_by_label("Email").focus()
    page.keyboard.type(login["email"])
    page.keyboard.press("Tab")
    page.keyboard.type(login["password"])
    page.keyboard.press("Enter")
    page.wait_for_url("**/console/referrals")
    page.get_by_role("navigation").get_by_role("link", name="Audit").click()
    page.get_by_role("heading", name="Audit").wait_for()  # visible, or fails after 15 s
    assert page.locator("#chain-status").inner_text().startswith("Chain valid")
    shoot(page, "audit")
    page.get_by_label("Action").fill("referral.approved")
    page.get_by_role("button", name="Filter").click()
    assert "referral.approved" in page.get_by_role("table").inner_text()


def test_a_form_posted_without_its_csrf_token_is_refused(demo: dict[str, Any], page: Any) -> None:
    url = _sign_in(page, demo, "iom", "focal_point")
    referral = demo["waiting"]["to_accept_at_iom"]
    forged = page.request.post(
        f"{url}/console/referrals/{referral}/decline",
        form={"confirmed": "yes", "reason": "forged"},
        max_redirects=0,
    )
    assert forged.status == 403
    assert "did not come from this console" in forged.text()


def test_every_admin_page_renders_in_the_browser(demo: dict[str, Any], page: Any) -> None:
    _sign_in(page, demo, "unhcr", "admin")
    nav = page.get_by_role("navigation")
    for link, heading, name in (
        ("Agreements", "Agreements", "agreements"),
        ("Programmes", "Programmes", "programmes"),
        ("Users", "Users at UNHCR", "users"),
        ("API clients", "API clients of UNHCR", "clients"),
        ("Webhooks", "Webhooks of UNHCR", "webhooks"),
        ("Keys and directory", "Keys and directory", "keys-and-directory"),
        ("Erasures", "Erasures", "erasures"),
    ):
        nav.get_by_role("link", name=link).click()
        page.get_by_role("heading", name=heading, exact=True).wait_for()  # or fails in 15 s
        shoot(page, name)
    nav.get_by_role("link", name="Programmes").click()
    page.get_by_role("table").get_by_role("link").first.click()
    assert page.locator("#programme-check").inner_text().startswith("Runnable")
    shoot(page, "programme")


def test_a_journey_shows_where_the_person_is_on_the_sop(demo: dict[str, Any], page: Any) -> None:
    _sign_in(page, demo, "unhcr", "focal_point")
    page.get_by_role("navigation").get_by_role("link", name="Programmes").click()
    page.get_by_role("table").get_by_role("link").first.click()
    page.locator('a[href^="/console/journeys/"]').first.click()
    current = page.locator('ol.sop > li[aria-current="step"]')
    assert current.count() == 1
    assert "here now" in current.inner_text()
    shoot(page, "journey")


def test_no_console_page_scrolls_sideways_on_a_360_px_phone(
    demo: dict[str, Any], browser: Any
) -> None:
    """WCAG 1.4.10: a focal point on a phone reads every page without scrolling sideways."""
    context = browser.new_context(viewport={"width": 360, "height": 740})
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        url = _sign_in(page, demo, "unhcr", "focal_point")
        pages = ["/console", "/console/referrals", "/console/agreements", "/console/programmes"]
        page.goto(f"{url}/console/referrals")
        first = page.locator('a[href^="/console/referrals/"]').first.get_attribute("href")
        pages.append(str(first))
        for path in pages:
            page.goto(f"{url}{path}")
            wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert wide <= 0, f"{path} scrolls {wide} px sideways at 360 px"
        shoot(page, "home-360px")
    finally:
        context.close()


def test_the_focus_ring_stands_out_at_three_to_one(demo: dict[str, Any], page: Any) -> None:
    """WCAG 2.4.13 / 1.4.11: the keyboard focus is seen on white as on the blue header."""
    _sign_in(page, demo, "unhcr", "focal_point")
    page.keyboard.press("Tab")
    ring = page.evaluate(
        "() => { const s = getComputedStyle(document.activeElement);"
        " return [s.outlineColor, s.outlineWidth, s.boxShadow]; }"
    )
    assert ring[0] == "rgb(17, 24, 39)", ring
    assert ring[1] == "3px", ring
    assert "rgb(253, 224, 71)" in ring[2], ring


def _settings(page: Any, url: str, language: str) -> None:
    page.goto(f"{url}/console/settings")
    page.locator("#language").select_option(language)
    page.locator("form.settings-form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/console/settings\?done=saved"))


def test_a_focal_point_who_chose_arabic_reads_the_console_right_to_left(
    demo: dict[str, Any], browser: Any
) -> None:
    """Issue 17: a person's own language, Arabic, beats their browser's English; the page runs
    right to left, passes axe-core and does not scroll sideways at 360 px. The home page in
    each language is kept for the README (tests/artifacts/pages/home-<language>.png)."""
    context = _with_axe(browser.new_context(viewport=LAPTOP, bypass_csp=True, locale="en-GB"))
    context.set_default_timeout(15_000)
    page = context.new_page()
    url = _sign_in(page, demo, "iom", "focal_point")
    try:
        _settings(page, url, "ar")
        page.goto(f"{url}/console")
        assert page.locator("html[dir=rtl][lang=ar]").count() == 1
        assert page.get_by_role("heading", level=1).inner_text() == "بانتظاري"
        assert page.get_by_role("link", name="الإحالات").count() == 1
        shoot(page, "home-ar")
        problems: list[str] = []
        _audit_page(page, "arabic /console", problems)
        for path in ("/console/referrals", "/console/settings"):
            page.goto(f"{url}{path}")
            _audit_page(page, f"arabic {path}", problems)
        assert problems == []
        # A referral's timeline in IOM's time zone (accord demo names it), UTC on hover.
        page.goto(f"{url}/console/referrals")
        page.goto(_first(page, url, 'a[href^="/console/referrals/"]'))
        moment = page.locator("ol.timeline time[title$=' UTC']").first
        assert "(Europe/Berlin)" in moment.inner_text()
    finally:
        _settings(page, url, "")
        context.close()
    for language in ("en", "fr", "es"):
        context = browser.new_context(viewport=LAPTOP, locale=language)
        page = context.new_page()
        try:
            login = _login(demo, "iom", "focal_point")
            page.goto(f"{url}/console/login")
            assert page.locator(f"html[lang={language}]").count() == 1, "the browser's language"
            page.locator("#email").fill(login["email"])
            page.locator("#password").fill(login["password"])
            page.locator("button[type=submit]").click()
            page.wait_for_url(re.compile(r"/console$"))
            assert page.locator(f"html[dir=ltr][lang={language}]").count() == 1
            shoot(page, f"home-{language}")
        finally:
            context.close()
