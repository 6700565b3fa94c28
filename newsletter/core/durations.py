"""How long things take and when they ended, in the words the staff pages and the CLI use."""

from __future__ import annotations

from datetime import datetime


def duration(seconds: int | None) -> str:
    """`seconds` as "2 h 05 min", "3 min 07 s" or "12 s"; "–" when unknown."""
    if seconds is None:
        return "–"
    minutes, rest = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {rest:02d} s"
    return f"{rest} s"


def finish_time(finished: datetime | None) -> str:
    """When something finished, in UTC to the minute; "" when it has not."""
    return "" if finished is None else f"{finished:%Y-%m-%d %H:%M} UTC"


def took(started: datetime, finished: datetime | None) -> str:
    """How long from start to finish (a pause in between counts too); "" while it has
    not finished."""
    if finished is None:
        return ""
    return duration(max(0, round((finished - started).total_seconds())))
