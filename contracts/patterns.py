"""What each ``pattern`` constraint of our documents expects, in words.

A validation problem says "Expected an ISO 3166-1 alpha-3 country code in capitals (DEU, XKX)"
instead of quoting a regular expression. ``tests/contracts/test_patterns.py`` fails on a
pattern of the API that has no words here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PATTERN_WORDS: dict[str, str] = {
    r"^[a-z][a-z0-9-]{1,31}$": (
        "an agency slug: 2 to 32 lower-case letters, digits or hyphens, starting with a letter "
        "(unhcr, gov-de)"
    ),
    r"^[a-z][a-z0-9-]{1,62}/(user|client|node):[A-Za-z0-9._:-]{1,128}$": (
        "an actor: agency slug, '/', then user:, client: or node: and an id"
    ),
    r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$": (
        "a message type: lower-case words joined by dots (referral.created)"
    ),
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$": (
        "a UTC time to the second, as 2026-05-01T12:00:00Z"
    ),
    r"^[A-Za-z0-9][A-Za-z0-9._:-]*$": (
        "an identifier: letters, digits, '.', '_', ':' or '-', starting with a letter or digit"
    ),
    r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$": (
        "an identifier of at most 128 letters, digits, '.', '_', ':' or '-', starting with a "
        "letter or digit"
    ),
    r"^[a-z0-9][a-z0-9._-]{0,63}$": (
        "a name of at most 64 lower-case letters, digits, '.', '_' or '-', starting with a "
        "letter or digit"
    ),
    r"^[a-z][a-z0-9_-]{0,63}$": (
        "a code: at most 64 lower-case letters, digits, '_' or '-', starting with a letter "
        "(accepted, not_state_of_nationality)"
    ),
    r"^[0-9a-f]{64}$": "a SHA-256 digest: 64 lower-case hexadecimal digits",
    r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$": (
        "a purpose slug: lower-case words of letters and digits joined by single hyphens "
        "(avrr-counselling)"
    ),
    r"^[A-Z]{3}$": (
        "a three-letter code in capitals: ISO 3166-1 alpha-3 for a country (DEU, XKX for "
        "Kosovo), ISO 4217 for a currency (EUR)"
    ),
    r"^\+[1-9][0-9]{6,14}$": (
        "an E.164 phone number without spaces: '+', the country code, then the number "
        "(+381641234567)"
    ),
    r"^[a-z][a-z0-9_]{1,63}$": (
        "a data role: 2 to 64 lower-case letters, digits or '_', starting with a letter "
        "(counsellor)"
    ),
    r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$": (
        "a BCP 47 language tag starting with a lower-case ISO 639 code (sq, sr-Latn)"
    ),
    r"^[a-z][a-z0-9_]{1,39}$": (
        "a data role: 2 to 40 lower-case letters, digits or '_', starting with a letter"
    ),
    r"^[a-z][a-z0-9_]{0,63}$": (
        "a code: lower-case letters, digits or '_', starting with a letter (decided_to_return)"
    ),
    r"^[A-Za-z0-9][A-Za-z0-9._/:-]{0,119}$": (
        "a decision reference of at most 120 letters, digits, '.', '_', '/', ':' or '-' "
        "(BID-2026-014)"
    ),
    r"^[^@\s]+@[^@\s]+\.[^@\s]+$": "an e-mail address (name@example.org)",
    r"^[a-z][a-z0-9_]{0,31}$": (
        "a data category name: lower-case letters, digits or '_' (identity, return_plan)"
    ),
    r"^[A-Z][0-9]{2}(\.[0-9A-Z]{1,4})?$": "an ICD-10 code (F43.1)",
    r"^[a-z0-9-]+@\d+\.\d+\.\d+$": "an SOP reference: name@major.minor.patch (avrr-joint@2.1.0)",
    r"^[0-9]{1,4}$": "an ISCO-08 occupation code: 1 to 4 digits (7212)",
    r"^[A-Za-z0-9_-]+$": "base64url text without padding",
    # The Idempotency-Key header (kit/http/idempotency.py).
    r"^[ -~]+$": "printable ASCII characters only (a UUID makes a good Idempotency-Key)",
}


def pattern_message(error: Mapping[str, Any]) -> str | None:
    """Words for a pydantic ``string_pattern_mismatch`` error; ``None`` for any other error.

    A pattern without words still gets a sentence, never the regular expression."""
    if error.get("type") != "string_pattern_mismatch":
        return None
    pattern = (error.get("ctx") or {}).get("pattern")
    words = PATTERN_WORDS.get(str(pattern))
    return f"Expected {words}." if words else "Not in the expected form."
