"""Agency identifiers: short lowercase slugs (``unhcr``, ``iom``, ``gov-de``)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import StringConstraints

AGENCY_SLUG_PATTERN = r"^[a-z][a-z0-9-]{1,31}$"

AgencySlug = Annotated[str, StringConstraints(pattern=AGENCY_SLUG_PATTERN)]


def is_agency_slug(value: str) -> bool:
    """True when ``value`` can name an agency: 2-32 characters, lowercase, digits and dashes."""
    return re.fullmatch(AGENCY_SLUG_PATTERN, value) is not None
