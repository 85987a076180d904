"""Reference tables of the README, generated from the code so they cannot drift from it.

``python -m services.reference`` rewrites each generated section of README.md (between
``<!-- generated:NAME -->`` and ``<!-- /generated:NAME -->``); ``tests/services/
test_reference.py`` fails when a section differs from what the code says today:

- ``access``: who may call each operation, from the routes' ``Requires(scope=..., role=...)``
  as the OpenAPI document states them (``security`` and ``x-roles``);
- ``settings``: every setting of ``kit.settings.Settings``, with its environment variable,
  default and description;
- ``referral-states``: the referral lifecycle on each side, drawn from
  ``contracts.referrals.TRANSITIONS``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from contracts.referrals import TRANSITIONS, Side
from kit.settings import Settings

README = Path(__file__).resolve().parent.parent / "README.md"
METHODS = ("get", "post", "put", "patch", "delete")


def access_table(document: dict[str, Any]) -> str:
    """One row per operation that needs a token: its scope and the roles that may call it."""
    rows = ["| Operation | Scope | Roles |", "| --- | --- | --- |"]
    for path in sorted(document["paths"]):
        item = document["paths"][path]
        for method in METHODS:
            operation = item.get(method)
            if operation is None or "x-roles" not in operation:
                continue
            scopes = sorted(
                {s for entry in operation.get("security", []) for s in entry.get("OAuth2", [])}
            )
            roles = operation["x-roles"]
            rows.append(
                f"| `{method.upper()} {path}` | {', '.join(f'`{s}`' for s in scopes) or '-'} "
                f"| {', '.join(roles) if roles else 'none'} |"
            )
    return "\n".join(rows)


def _default(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, SecretStr):
        return "(secret)"
    if isinstance(value, tuple):
        return ", ".join(str(v) for v in value) or "(empty)"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def settings_table() -> str:
    """Every setting: its environment variable, default and what it does."""
    prefix = str(Settings.model_config.get("env_prefix", ""))
    rows = ["| Variable | Default | What it sets |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        description = (field.description or "").replace("|", "\\|").replace("\n", " ")
        rows.append(f"| `{prefix}{name.upper()}` | `{_default(field.default)}` | {description} |")
    return "\n".join(rows)


#: How each side's first status comes about (no action of the state machine makes it).
ENTRY: dict[Side, tuple[str, str]] = {
    "outgoing": ("pending_approval", "POST /v1/referrals (or a journey drafts it)"),
    "incoming": ("received", "the sender's signed message arrives"),
}
#: What each action is, in the API or in the federation, where its name does not say.
ACTION_WORDS = {
    "approve": "approve (a focal point, not the drafter)",
    "delivered": "delivered, signed receipt",
    "interrupt": "interrupt (a safeguard diverts the journey)",
    "revoke": "revoke (consent withdrawn)",
    "expire": "expire (respond_by passed)",
    "reject": "reject (never reached the recipient)",
    "refuse": "refuse (recipient's signed refusal receipt)",
}


def referral_states() -> str:
    """A mermaid state diagram per side, one arrow per (status, action) the code allows."""
    blocks = []
    sides: tuple[tuple[Side, str], ...] = (
        ("outgoing", "Sender side"),
        ("incoming", "Recipient side"),
    )
    for side, title in sides:
        first, how = ENTRY[side]
        lines = [f"{title}:", "", "```mermaid", "stateDiagram-v2", f"    [*] --> {first} : {how}"]
        for action, (sources, target) in TRANSITIONS[side].items():
            words = ACTION_WORDS.get(action.value, action.value)
            for source in sorted(sources):
                lines.append(f"    {source.value} --> {target.value} : {words}")
        lines.append("```")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _document() -> dict[str, Any]:
    from services.app import create_app

    # The document is built from the routes alone; the app is never started.
    app = create_app(Settings(env="dev", database_url="sqlite:///:memory:"))
    return app.openapi()


def sections(document: dict[str, Any] | None = None) -> dict[str, str]:
    return {
        "access": access_table(document or _document()),
        "settings": settings_table(),
        "referral-states": referral_states(),
    }


def section_pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"(<!-- generated:{name} -->\n)(.*?)(<!-- /generated:{name} -->)", re.DOTALL)


def _replacement(body: str) -> Callable[[re.Match[str]], str]:
    return lambda match: match.group(1) + body + "\n" + match.group(3)


def rewrite(text: str, generated: dict[str, str]) -> str:
    for name, body in generated.items():
        pattern = section_pattern(name)
        if not pattern.search(text):
            raise ValueError(f"README has no generated:{name} section")
        text = pattern.sub(_replacement(body), text)
    return text


def main() -> None:
    README.write_text(rewrite(README.read_text(), sections()))
    sys.stdout.write(f"rewrote the generated sections of {README}\n")


if __name__ == "__main__":
    main()
