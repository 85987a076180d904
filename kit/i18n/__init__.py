"""The languages people read Accord in: English, French, Spanish and Arabic (issue 17).

One gettext domain, ``messages``, holds every string a person reads: the console's templates,
the sign-in page, problem titles and the common problem details, and the stage titles of the
SOPs Accord ships. The catalogues are the ``.po`` files under ``locale/``; they are compiled in
memory the first time a language is asked for (``babel.messages.mofile.write_mo``), so there is
no build step and no ``.mo`` file to keep in step, and no request ever reads a file.

The language of the work at hand is a context variable: :class:`LanguageMiddleware`
(``kit.http.language``) sets it from ``Accept-Language`` for every request, and the console
sets it again from the signed-in person's choice. Code that says something calls
:func:`gettext` (``_``) or :func:`ngettext` at the moment it says it; a string that must be
defined before anyone asks (a class attribute, a menu entry) is marked with :func:`N_` and
translated where it is shown. A string the catalogue does not hold (a user-defined SOP's stage
title, say) reads as written.

Problem ``type`` URIs, reason codes and every other member a program matches on never change
with the language: only ``title`` and ``detail``, which are for people.
"""

from __future__ import annotations

import gettext as _gettext
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from babel import Locale
from babel.core import negotiate_locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LANGUAGES: tuple[str, ...] = ("en", "fr", "es", "ar")
DEFAULT_LANGUAGE = "en"
#: Written right to left: the page gets ``dir="rtl"`` and its layout mirrors.
RIGHT_TO_LEFT = frozenset({"ar"})
#: Each language by its own name, as a person looking for theirs reads it.
LANGUAGE_NAMES: dict[str, str] = {
    "en": "English",
    "fr": "Français",
    "es": "Español",
    "ar": "العربية",
}
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"

_language: ContextVar[str] = ContextVar("accord_language", default=DEFAULT_LANGUAGE)

# RFC 9110 §12.5.4: language-range [ ";" "q=" qvalue ]
_RANGE = re.compile(r"^\s*([A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*|\*)\s*(?:;\s*q\s*=\s*([0-9.]+))?")


def _quality(raw: str | None) -> float:
    if raw is None:
        return 1.0
    try:
        value = float(raw)
    except ValueError:
        return 0.0
    return value if 0.0 <= value <= 1.0 else 0.0


def preferences(accept_language: str | None) -> list[str]:
    """The language ranges of an ``Accept-Language`` header, most wanted first (RFC 9110
    §12.5.4): ranges of equal quality keep the order they were sent in; ``q=0`` means "not
    this one" and is dropped, as is anything unparseable."""
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate((accept_language or "").split(",")[:32]):
        match = _RANGE.match(item)
        if match is None:
            continue
        quality = _quality(match.group(2))
        if quality > 0 and match.group(1) != "*":
            ranked.append((-quality, position, match.group(1)))
    return [tag for _, _, tag in sorted(ranked)]


def negotiate(accept_language: str | None) -> str:
    """The language of :data:`LANGUAGES` an ``Accept-Language`` header asks for first
    ("fr-CA" is French), else English."""
    wanted = preferences(accept_language)
    found = negotiate_locale(wanted, LANGUAGES, sep="-") if wanted else None
    if found is None:
        # Babel matches "fr-CA" to "fr" only when "fr-CA" is listed; match the primary subtag.
        primary = [tag.split("-", 1)[0].lower() for tag in wanted]
        found = next((tag for tag in primary if tag in LANGUAGES), None)
    return found or DEFAULT_LANGUAGE


def supported(language: str | None) -> str | None:
    """``language`` if Accord speaks it, else None."""
    return language if language in LANGUAGES else None


@cache
def translations(language: str) -> _gettext.NullTranslations:
    """The compiled catalogue of ``language``: read and compiled once per process."""
    if language == DEFAULT_LANGUAGE or language not in LANGUAGES:
        return _gettext.NullTranslations()
    with (LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as po:
        catalog = read_po(po, locale=language, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return _gettext.GNUTranslations(compiled)


@cache
def locale(language: str) -> Locale:
    return Locale.parse(language)


def load_catalogues() -> None:
    """Compile every catalogue and load every locale's data now (a node's start-up)."""
    for language in LANGUAGES:
        translations(language)
        locale(language)


def current_language() -> str:
    return _language.get()


def set_language(language: str) -> None:
    """Speak ``language`` for the rest of the work at hand (the request, for a request)."""
    _language.set(language if language in LANGUAGES else DEFAULT_LANGUAGE)


@contextmanager
def speaking(language: str) -> Iterator[None]:
    """Speak ``language`` inside the block only."""
    token = _language.set(language if language in LANGUAGES else DEFAULT_LANGUAGE)
    try:
        yield
    finally:
        _language.reset(token)


def gettext(message: str) -> str:
    """``message`` in the current language; as written where the catalogue has no entry."""
    if not message:
        return message
    return translations(_language.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form of a counted message for ``n`` in the current language (Arabic has six)."""
    return translations(_language.get()).ngettext(singular, plural, n)


_ = gettext


def N_(message: str) -> str:
    """Marks ``message`` for the catalogue without translating it: it is translated where shown."""
    return message


def language_headers() -> dict[str, str]:
    """For a response written in the current language: which one (RFC 9110 §8.5), and that
    a cache must not serve it to a request asking for another (§12.5.5)."""
    return {"Content-Language": current_language(), "Vary": "Accept-Language"}


def is_right_to_left(language: str) -> bool:
    return language in RIGHT_TO_LEFT


@cache
def time_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def valid_time_zone(name: str | None) -> str | None:
    """``name`` if it is an IANA time zone this machine knows, else None."""
    if not name or name not in time_zones():
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name
