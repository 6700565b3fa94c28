from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from newsletter.core.durations import duration, finish_time, took

START = datetime(2026, 12, 4, 19, 58, 30)


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(None, "–"), (0, "0 s"), (59, "59 s"), (61, "1 min 01 s"), (3600 + 5 * 60 + 9, "1 h 05 min")],
)
def test_duration(seconds: int | None, words: str) -> None:
    assert duration(seconds) == words


def test_finish_time_and_took() -> None:
    assert finish_time(None) == ""
    assert finish_time(START) == "2026-12-04 19:58 UTC"
    assert took(START, None) == ""
    assert took(START, START + timedelta(minutes=3, seconds=7.6)) == "3 min 08 s"
    # A clock that went back never makes a negative time.
    assert took(START, START - timedelta(seconds=2)) == "0 s"
