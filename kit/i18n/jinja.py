"""Jinja templates that speak the current language: ``{% trans %}``, ``_()`` and ``ngettext``.

The callables read the language at the moment a string is rendered (``kit.i18n``), so one
environment serves every language and nothing is installed per request. Trimmed: a
``{% trans %}`` block's line breaks and indentation are not part of its message.
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment

from kit import i18n


def _gettext(message: Any) -> str:
    return i18n.gettext(message) if isinstance(message, str) else str(message or "")


def install(environment: Environment) -> Environment:
    environment.add_extension("jinja2.ext.i18n")
    environment.policies["ext.i18n.trimmed"] = True
    environment.install_gettext_callables(  # type: ignore[attr-defined]
        _gettext, i18n.ngettext, newstyle=True
    )
    return environment


def page_language() -> dict[str, Any]:
    """What the ``<html>`` element says: ``lang`` and ``dir``."""
    language = i18n.current_language()
    return {"lang": language, "dir": "rtl" if i18n.is_right_to_left(language) else "ltr"}
