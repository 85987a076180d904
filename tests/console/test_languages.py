"""The console in English, French, Spanish and Arabic (issue 17): every word a person reads comes
from the message catalogue, each catalogue translates every message with its placeholders, a
person's own language beats their browser's, Arabic pages run right to left, times are shown
in the reader's time zone, and problem documents speak the caller's language while their
``type`` stays the same."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po
from fastapi import FastAPI
from jinja2 import nodes

from auth.scopes import Role
from contracts.agreements import AgreementStatus, LegalBasis
from contracts.categories import Category
from contracts.referrals import ReferralStatus
from kit import i18n
from kit.i18n.extract import extract_catalog
from services.console import vocabulary
from services.console.render import TEMPLATES
from tests.support.console import signed_in, submit
from tests.support.identity import seed_user
from tests.support.markers import sqlite_only
from tests.support.referrals import Exchange, exchange

ROOT = Path(__file__).resolve().parents[2]
TRANSLATED = ("fr", "es", "ar")
TEMPLATE_DIRS = (ROOT / "services/console/templates", ROOT / "auth/templates")
#: Attributes a person reads (or hears, from a screen reader).
READ_ATTRIBUTES = ("aria-label", "title", "placeholder", "alt", "data-label")
#: Text that is the same in every language: the product's name.
NOT_WORDS = {"Accord"}
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def _catalog(language: str) -> Catalog:
    path = i18n.LOCALE_DIR / language / "LC_MESSAGES" / f"{i18n.DOMAIN}.po"
    with path.open("rb") as po:
        return read_po(po, locale=language)


def _templates() -> Iterator[tuple[str, str]]:
    for folder in TEMPLATE_DIRS:
        for path in sorted(folder.glob("*.html")):
            yield path.name, path.read_text(encoding="utf-8")


def _raw_text(source: str) -> str:
    """The template's own text outside ``{% trans %}`` blocks, as Jinja's lexer reads it; each
    tag, expression and comment stands as one NUL, so that markup split by them still parses."""
    text: list[str] = []
    tokens = [t for t in TEMPLATES.lex(source) if t[1] != "whitespace"]
    in_trans = False
    for index, (_, kind, value) in enumerate(tokens):
        if kind == "name" and index and tokens[index - 1][1] == "block_begin":
            in_trans = {"trans": True, "endtrans": False}.get(value, in_trans)
        if kind == "data" and not in_trans:
            text.append(value)
        elif kind in ("block_begin", "variable_begin", "comment_begin"):
            text.append("\0")
    return "".join(text)


def _words(text: str) -> list[str]:
    """What a person reads in a template's own text: the text between tags and the read
    attributes, less entities and the product's name."""
    found: list[str] = []
    for attribute in READ_ATTRIBUTES:
        found += re.findall(rf'{attribute}="([^"]*)"', text)
    between = re.sub(r"<[^>]*>", "\0", text)
    found += re.sub(r"&\w+;", " ", between).split("\0")
    words = []
    for piece in found:
        # Attributes a macro writes into a tag (aria-invalid="true", checked) and codes
        # (an audit action such as referral.approved) are not words.
        piece = re.sub(r'[\w-]+="[^"]*"?|\b(checked|selected|disabled|required|open)\b', " ", piece)
        piece = re.sub(r"\b[a-z_]+(\.[a-z_]+)+\b", " ", piece)
        for word in NOT_WORDS:
            piece = piece.replace(word, " ")
        if re.search(r"[^\W\d_]", piece):
            words.append(piece.strip())
    return words


def _shown_constants(node: nodes.Node) -> Iterator[str]:
    """String constants a template prints as they are: ``{{ "To" }}``, either branch of
    ``{{ "a" if x else "b" }}``, a ``default("...")``; never one passed to ``_()``."""
    if isinstance(node, nodes.Const) and isinstance(node.value, str):
        yield node.value
    elif isinstance(node, nodes.CondExpr):
        yield from _shown_constants(node.expr1)
        if node.expr2 is not None:
            yield from _shown_constants(node.expr2)
    elif isinstance(node, nodes.Filter):
        if node.node is not None:
            yield from _shown_constants(node.node)
        if node.name == "default":
            for arg in node.args:
                yield from _shown_constants(arg)


def test_every_word_a_template_shows_goes_through_the_catalogue() -> None:
    untranslated: list[str] = []
    for name, source in _templates():
        untranslated += [f"{name}: {w!r}" for w in _words(_raw_text(source))]
        for output in TEMPLATES.parse(source).find_all(nodes.Output):
            for child in output.nodes:
                if isinstance(child, nodes.TemplateData):
                    continue
                untranslated += [
                    f"{name}: {{{{ {c!r} }}}}"
                    for c in _shown_constants(child)
                    if re.search(r"[^\W\d_]", c)
                ]
    assert untranslated == [], "wrap these in {% trans %} or _()"


def test_the_catalogues_hold_exactly_the_messages_of_the_code() -> None:
    """Fails when a template or a marked string changed and ``make catalogues`` was not run."""
    extracted = {m.id if isinstance(m.id, str) else m.id[0] for m in extract_catalog(ROOT) if m.id}
    for language in TRANSLATED:
        held = {m.id if isinstance(m.id, str) else m.id[0] for m in _catalog(language) if m.id}
        assert extracted - held == set(), f"{language}: run `make catalogues` and translate these"
        assert held - extracted == set(), f"{language}: run `make catalogues`; these are gone"


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_message_is_translated_with_its_placeholders(language: str) -> None:
    catalog = _catalog(language)
    assert catalog.num_plurals == {"fr": 3, "es": 3, "ar": 6}[language]
    for message in catalog:
        if not message.id:
            continue
        assert not message.fuzzy, message.id
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        forms = [message.string] if isinstance(message.string, str) else list(message.string)
        assert all(forms), f"{language}: {ids[0]!r} is not translated"
        expected = set(PLACEHOLDER.findall(ids[-1]))
        for form in forms:
            found = set(PLACEHOLDER.findall(form))
            if len(ids) == 1:
                assert found == expected, f"{language}: {ids[0]!r} -> {form!r}"
            else:
                # A plural form may say the number in words ("يومان", two days).
                assert found <= expected, f"{language}: {ids[0]!r} -> {form!r}"


def test_arabic_counts_take_their_six_forms() -> None:
    with i18n.speaking("ar"):
        said = [i18n.ngettext("%(num)d day", "%(num)d days", n) % {"num": n} for n in (1, 2, 5, 11)]
    assert said == ["يوم واحد", "يومان", "5 أيام", "11 يومًا"]


def test_the_vocabulary_names_every_status_role_and_category() -> None:
    def spoken(values: object) -> set[str]:
        return {str(v).replace("_", " ") for v in values}  # type: ignore[attr-defined]

    assert spoken(ReferralStatus) <= set(vocabulary.REFERRAL_STATUSES)
    assert spoken(AgreementStatus) <= set(vocabulary.AGREEMENT_STATUSES)
    assert spoken(Category) <= set(vocabulary.CATEGORIES)
    assert spoken(LegalBasis) <= set(vocabulary.LEGAL_BASES)
    assert spoken(Role) <= set(vocabulary.ROLES)


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("fr-CA,fr;q=0.9,en;q=0.8", "fr"),
        ("en;q=0.5, ar", "ar"),
        ("de, es;q=0.1", "es"),
        ("es;q=0, fr;q=0.2", "fr"),
        ("*", "en"),
        ("de-DE", "en"),
        ("", "en"),
        ("ar-EG", "ar"),
    ],
)
def test_accept_language_is_negotiated_by_quality(header: str, language: str) -> None:
    assert i18n.negotiate(header) == language


def test_stage_titles_of_the_shipped_sops_are_translated_and_others_read_as_written() -> None:
    with i18n.speaking("fr"):
        shown = i18n.gettext("Best-interests determination")
        assert shown == "Détermination de l'intérêt supérieur"
        assert i18n.gettext("Our own stage") == "Our own stage"


# In-process pages -------------------------------------------------------------------------


@pytest.fixture
async def ex(app: FastAPI, client: httpx.AsyncClient, tmp_path: Path) -> Exchange:
    return await exchange(app, client, tmp_path)


def _browser(app: FastAPI, language: str | None = None) -> httpx.AsyncClient:
    headers = {"Accept-Language": language} if language else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver", headers=headers
    )


HOME_HEADING = {
    "en": "<h1>Waiting for me</h1>",
    "fr": "<h1>En attente de moi</h1>",
    "es": "<h1>Pendiente de mí</h1>",
    "ar": "<h1>بانتظاري</h1>",
}
REFERRAL_ACTION = {"en": ">Approve</button>", "fr": ">Approuver</button>"}
REFERRAL_ACTION |= {"es": ">Aprobar</button>", "ar": ">اعتماد</button>"}


@sqlite_only
async def test_home_and_referral_pages_speak_the_browsers_language(
    app: FastAPI, client: httpx.AsyncClient, ex: Exchange
) -> None:
    draft = await ex.draft()
    focal = await seed_user(app, "unhcr", "fp@unhcr.test", roles=["focal_point"])
    for language in ("en", *TRANSLATED):
        async with _browser(app, f"{language};q=0.9, de;q=0.5") as browser:
            login = await browser.get("/console/login")
            assert f'<html lang="{language}"' in login.text
            await signed_in(browser, focal)
            home = await browser.get("/console")
            assert home.headers["content-language"] == language
            assert HOME_HEADING[language] in home.text
            direction = "rtl" if language == "ar" else "ltr"
            assert f'<html lang="{language}" dir="{direction}">' in home.text
            detail = await browser.get(f"/console/referrals/{draft['id']}")
            assert REFERRAL_ACTION[language] in detail.text


@sqlite_only
async def test_a_persons_own_language_and_time_zone_beat_their_browsers(
    app: FastAPI, client: httpx.AsyncClient, ex: Exchange
) -> None:
    draft = await ex.draft()
    focal = await seed_user(app, "unhcr", "fp@unhcr.test", roles=["focal_point"])
    async with _browser(app, "fr") as browser:
        csrf = await signed_in(browser, focal)
        refused = await submit(
            browser, "/console/settings", csrf, language="ar", time_zone="Mars/Olympus"
        )
        assert refused.status_code == 422
        assert 'aria-invalid="true"' in refused.text
        assert "nom IANA" in refused.text, "the refusal is in the browser's French"

        saved = await submit(
            browser, "/console/settings", csrf, language="ar", time_zone="Africa/Tripoli"
        )
        assert saved.status_code == 303
        home = await browser.get("/console")
        assert '<html lang="ar" dir="rtl">' in home.text
        assert HOME_HEADING["ar"] in home.text

        detail = await browser.get(f"/console/referrals/{draft['id']}")
        moment = re.search(r'<time datetime="([^"]+)" title="([^"]+)">([^<]+)</time>', detail.text)
        assert moment, detail.text
        at = datetime.fromisoformat(moment.group(1).replace("Z", "+00:00"))
        assert at.tzinfo == UTC
        assert moment.group(2) == at.strftime("%Y-%m-%d %H:%M UTC")
        assert "(Africa/Tripoli)" in moment.group(3), "shown in the person's own time zone"

        back = await submit(browser, "/console/settings", csrf, language="", time_zone="")
        assert back.status_code == 303
        home = await browser.get("/console")
        assert HOME_HEADING["fr"] in home.text, "empty again: the browser's language decides"


@sqlite_only
async def test_problem_titles_follow_accept_language_and_their_type_does_not(
    client: httpx.AsyncClient,
) -> None:
    english = await client.get("/v1/referrals")
    french = await client.get("/v1/referrals", headers={"Accept-Language": "fr-FR, en;q=0.5"})
    assert english.status_code == french.status_code == 401
    assert french.json()["type"] == english.json()["type"]
    assert english.json()["title"] == "Authentication required"
    assert french.json()["title"] == "Authentification requise"
    assert french.headers["content-language"] == "fr"
    assert "Accept-Language" in french.headers["vary"], "caches keep each language apart"
    assert french.json()["detail"].startswith("Cette opération nécessite un jeton")

    missing = await client.get("/v1/nothing-here", headers={"Accept-Language": "ar"})
    assert missing.status_code == 404
    assert missing.json()["title"] == "غير موجود"
    assert missing.json()["type"].endswith("/not-found")
    assert missing.headers["content-language"] == "ar"


@sqlite_only
async def test_the_problem_catalogue_names_each_type_in_the_callers_language(
    client: httpx.AsyncClient,
) -> None:
    english = await client.get("/problems/not-found")
    spanish = await client.get("/problems/not-found", headers={"Accept-Language": "es"})
    assert english.json()["type"] == spanish.json()["type"]
    assert (english.json()["title"], spanish.json()["title"]) == ("Not found", "No encontrado")
    assert spanish.headers["content-language"] == "es"
