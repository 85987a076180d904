"""ISO 8601 deadlines: readmission time frames in days and hours, calendar months clamped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sop.durations import parse_duration

START = datetime(2024, 1, 31, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "after"),
    [
        ("P14D", START + timedelta(days=14)),
        ("PT72H", START + timedelta(hours=72)),
        ("P2W", START + timedelta(days=14)),
        ("PT1H30M", START + timedelta(minutes=90)),
        ("P1M", datetime(2024, 2, 29, 12, 0, tzinfo=UTC)),
        ("P1Y1M1DT1S", datetime(2025, 3, 1, 12, 0, 1, tzinfo=UTC)),
    ],
)
def test_duration_is_added_to_the_entry_time(text: str, after: datetime) -> None:
    assert parse_duration(text).after(START) == after


@pytest.mark.parametrize("text", ["", "P", "PT", "P1DT", "14D", "P1.5D", "p14d", "P14 D", "PT-1H"])
def test_malformed_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_duration(text)
