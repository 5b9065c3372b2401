"""The time range a line page's address names: Live, the last hour/day/week/30 days, or calendar
days.  ``?range=1h|1d|7d|30d`` (up to when the page loads it), ``?from=2026-11-23&to=2026-11-29``
(the viewer's local days, both included; one of them alone is that one day), neither for Live,
so a range is bookmarkable and embeddable.  Other keys of the address (``lang``, ``embed``) stay."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, timedelta
from urllib.parse import parse_qs

LIVE = "live"
CALENDAR = "calendar"
PRESETS = ("1h", "1d", "7d", "30d")  # the last hour, day, week, 30 days
CALENDAR_DAYS = 7  # the days the calendar offers until the address or the operator names others


@dataclass(frozen=True)
class RangeChoice:
    """Live, a preset, or the calendar's first and last day (ISO dates); ``problem`` says in words
    why the address's range was not taken (the page then shows Live)."""

    mode: str = LIVE
    start: str | None = None
    end: str | None = None
    problem: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def range_choice(search: str | None, labels: dict[str, str]) -> RangeChoice:
    """The range the query string ``search`` (``?range=7d``, ``?from=...&to=...``) names."""
    query = {key: values[-1] for key, values in parse_qs((search or "").lstrip("?")).items()}
    if "range" in query:
        preset = query["range"]
        if preset == LIVE or preset in PRESETS:
            return RangeChoice(preset)
        return RangeChoice(problem=labels["range_bad_preset"].format(value=preset, presets=", ".join(PRESETS)))
    if "from" not in query and "to" not in query:
        return RangeChoice()
    days = []
    for key in ("from", "to"):
        text = query.get(key, query.get("from" if key == "to" else "to"))
        day = _day(text)
        if day is None:
            return RangeChoice(problem=labels["range_bad_date"].format(value=text))
        days.append(day)
    if days[0] > days[1]:
        return RangeChoice(problem=labels["range_reversed"])
    return RangeChoice(CALENDAR, days[0].isoformat(), days[1].isoformat())


def calendar_days(choice: RangeChoice, today: date) -> tuple[str, str]:
    """The calendar's first and last day: the address's, else the last CALENDAR_DAYS up to ``today``."""
    if choice.mode == CALENDAR:
        return choice.start, choice.end
    return (today - timedelta(days=CALENDAR_DAYS - 1)).isoformat(), today.isoformat()
