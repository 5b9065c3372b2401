"""Alarm message wording: one English template per kind of event, keyed like the page's labels.

An event's ``message`` (and the API's) is its template filled with the event's figures, already
formatted as text. :func:`parse` reads the key and the figures back from such a message, so a page
can word the same figures with its own language's template (app/i18n.py, same keys).
"""

from __future__ import annotations

import re

TEMPLATES = {
    "alarm_score": "value {value} is anomalous (score {score})",
    "alarm_threshold": "defect probability above {prob_threshold}",
    "alarm_threshold_value": "defect probability above {prob_threshold} with value {value} above {value_threshold}",
    "alarm_usl": "value {value} above usl {limit}",
    "alarm_lsl": "value {value} below lsl {limit}",
    "alarm_stuck": "value {value} unchanged for {readings} readings",
    "alarm_spc": "value {value} breaks {rule} (centre {centre}, sigma {sigma})",
}


def render(key: str, **figures: str) -> str:
    """The English message of kind ``key`` with its figures."""
    return TEMPLATES[key].format(**figures)


def _pattern(template: str) -> re.Pattern:
    """The template as a regular expression: each ``{name}`` is one figure, a run of non-spaces."""
    parts = re.split(r"\{(\w+)\}", template)  # text, name, text, name, ..., text
    return re.compile("".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>\\S+)"
                              for i, part in enumerate(parts)))


PATTERNS = {key: _pattern(template) for key, template in TEMPLATES.items()}


def parse(message: str) -> tuple[str, dict[str, str]] | None:
    """The key and figures of a message :func:`render` wrote, or None for any other text."""
    for key, pattern in PATTERNS.items():
        found = pattern.fullmatch(message)
        if found:
            return key, found.groupdict()
    return None


def template_fields(message: str) -> dict:
    """``{"key": ..., "figures": {...}}`` of a message :func:`render` wrote (so a page words it in its own
    language), ``{}`` for any other text."""
    parts = parse(message)
    return {"key": parts[0], "figures": parts[1]} if parts else {}
