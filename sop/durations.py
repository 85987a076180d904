"""ISO 8601 durations for stage deadlines (``P14D``, ``PT72H``, ``P1M``).

Readmission agreements fix time frames for replies and document issue (DESIGN §1); a stage
carries its frame as a duration. Parsed here rather than with a dependency because only the
``PnYnMnWnDTnHnMnS`` form is needed. Years and months are calendar units (``P1M`` from
31 January is 28 or 29 February), days and below are exact.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

_DURATION = re.compile(
    r"^P(?!$)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)


@dataclass(frozen=True, slots=True)
class Duration:
    """A parsed duration: calendar months (years folded in) plus an exact ``timedelta``."""

    months: int
    exact: timedelta

    def after(self, start: datetime) -> datetime:
        """The instant this duration after ``start``; month ends are clamped, never rolled over."""
        if self.months:
            index = start.month - 1 + self.months
            year, month = start.year + index // 12, index % 12 + 1
            day = min(start.day, calendar.monthrange(year, month)[1])
            start = start.replace(year=year, month=month, day=day)
        return start + self.exact


@lru_cache(maxsize=1024)
def parse_duration(text: str) -> Duration:
    """Parse ``text`` or raise ``ValueError`` naming the accepted form."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not an ISO 8601 duration such as P14D, PT72H or P1M2DT12H")
    parts = {name: int(value) for name, value in match.groupdict().items() if value is not None}
    return Duration(
        months=parts.get("years", 0) * 12 + parts.get("months", 0),
        exact=timedelta(
            weeks=parts.get("weeks", 0),
            days=parts.get("days", 0),
            hours=parts.get("hours", 0),
            minutes=parts.get("minutes", 0),
            seconds=parts.get("seconds", 0),
        ),
    )
