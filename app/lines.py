"""Per-line settings: display name, engineering unit, limits and detection, from a small TOML file.

``LINEWATCH_LINES_FILE`` (optional) describes the lines a plant knows; a line that is not in it
still works, with its id as name, no unit and the default detection::

    [lines.oven-3]
    name = "Oven 3 temperature"
    unit = "°C"
    lsl = 70          # specification limits and target, in the line's unit (each optional)
    usl = 100
    target = 85
    value_threshold = 95  # with a defect probability: a reading is anomalous above it (unit)

    [lines.oven-3.spc]  # SPC rules beside the self-calibrating score (none by default)
    rules = ["we-1", "we-2", "ewma", "cusum"]
    baseline = 200      # readings that set the centre line and sigma

    [lines.oven-3.detection]  # overrides, never needed: score alarm threshold (or false), re-raise
    score_threshold = 0.6
    clear_after = 300

A replay file whose columns have other names maps them in a ``[replay.columns]`` table
(LineWatch's name = the file's)::

    [replay.columns]
    time = "Zeitstempel"
    value = "Temperatur"

A mistake stops start-up with one line naming the file, the table and the key.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from app.detectors import RULES, DetectorConfig, SpcConfig
from app.readings import LINE_ID

LINE_KEYS = ("name", "unit", "lsl", "usl", "target", "value_threshold", "spc", "detection")
DETECTION_KEYS = ("score_threshold", "clear_after")
REPLAY_COLUMN_KEYS = ("time", "value", "defect_prob", "line")
SPC_KEYS = ("rules", "baseline", "ewma_lambda", "ewma_l", "cusum_k", "cusum_h")
SPC_RULE_NAMES = (*RULES, "cusum")


class LinesFileError(ValueError):
    """The lines file cannot be used; the message names the table and key at fault."""


@dataclass(frozen=True)
class LineSpec:
    """What LineWatch knows of one line besides its readings."""

    id: str
    name: str = ""
    unit: str = ""
    lsl: float | None = None
    usl: float | None = None
    target: float | None = None
    value_threshold: float | None = None
    spc: SpcConfig = field(default_factory=SpcConfig)
    detection: tuple[tuple[str, object], ...] = ()  # overrides of DetectorConfig's defaults (never needed)

    @property
    def title(self) -> str:
        return self.name or self.id

    def detector_config(self, prob_threshold: float, value_threshold: float) -> DetectorConfig:
        """The line's detection; the thresholds are the deployment's unless the line has its own value threshold."""
        own = self.value_threshold
        return DetectorConfig(spc=self.spc, prob_threshold=prob_threshold,
                              value_threshold=value_threshold if own is None else own, **dict(self.detection))

    def to_dict(self) -> dict:
        """The line as ``GET /api/v1/lines`` shows it."""
        return {"id": self.id, "name": self.title, "unit": self.unit, "lsl": self.lsl, "usl": self.usl,
                "target": self.target, "value_threshold": self.value_threshold, "spc_rules": list(self.spc.active())}


class LinesFile(NamedTuple):
    lines: tuple[LineSpec, ...]  # in file order
    replay_columns: tuple[tuple[str, str], ...]  # (LineWatch's column, the replay file's)


def load_lines(path: Path) -> LinesFile:
    """The lines of a TOML lines file, and the replay column names it maps."""
    try:
        document = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise LinesFileError(f"cannot be read: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise LinesFileError(f"is not valid TOML: {exc}") from None
    unknown = sorted(set(document) - {"lines", "replay"})
    if unknown:
        raise LinesFileError(f"unknown table [{unknown[0]}] (lines are described under [lines.<id>])")
    lines = document.get("lines", {})
    if not isinstance(lines, dict) or not (lines or document.get("replay")):
        raise LinesFileError("describes no line: add a table [lines.<id>]")
    return LinesFile(tuple(_line(line_id, table) for line_id, table in lines.items()),
                     _replay_columns(document.get("replay", {})))


def _replay_columns(table) -> tuple[tuple[str, str], ...]:
    if not isinstance(table, dict) or set(table) - {"columns"} or not isinstance(table.get("columns", {}), dict):
        raise LinesFileError("[replay] holds one table, [replay.columns]")
    columns = table.get("columns", {})
    _no_unknown_keys("[replay.columns]", columns, REPLAY_COLUMN_KEYS)
    for key, name in columns.items():
        if not isinstance(name, str) or not name.strip():
            raise LinesFileError(f"[replay.columns]: {key} must be the name of a column of the replay file")
    return tuple(columns.items())


def _line(line_id: str, table) -> LineSpec:
    where = f"[lines.{line_id}]"
    if not LINE_ID.fullmatch(line_id):  # named as TOML quotes it, so a newline in it stays on the one line
        raise LinesFileError(f"[lines.{json.dumps(line_id, ensure_ascii=False)}]: a line id is 1-64 letters, "
                             "digits or _.:- (starting with a letter or digit)")
    if not isinstance(table, dict):
        raise LinesFileError(f"{where} must be a table")
    _no_unknown_keys(where, table, LINE_KEYS)
    text = {key: _text(where, key, table.get(key, "")) for key in ("name", "unit")}
    limits = {key: _number(where, key, table.get(key)) for key in ("lsl", "usl", "target", "value_threshold")}
    lsl, usl, target = limits["lsl"], limits["usl"], limits["target"]
    if lsl is not None and usl is not None and not lsl < usl:
        raise LinesFileError(f"{where}: lsl ({lsl:g}) must be below usl ({usl:g})")
    if target is not None and not (lsl if lsl is not None else -math.inf) <= target <= (usl if usl is not None
                                                                                          else math.inf):
        raise LinesFileError(f"{where}: target ({target:g}) must lie between lsl and usl")
    return LineSpec(line_id, **text, **limits, spc=_spc(f"[lines.{line_id}.spc]", table.get("spc", {})),
                    detection=_detection(f"[lines.{line_id}.detection]", table.get("detection", {})))


def _detection(where: str, table) -> tuple[tuple[str, object], ...]:
    """Overrides of the default detection: ``score_threshold`` (0-1, or false for no score alarms)
    and ``clear_after`` (quiet readings before a rule raises again)."""
    if not isinstance(table, dict):
        raise LinesFileError(f"{where} must be a table")
    _no_unknown_keys(where, table, DETECTION_KEYS)
    overrides = {}
    if "score_threshold" in table:
        threshold = table["score_threshold"]
        if threshold is False:
            overrides["score_threshold"] = None
        else:
            threshold = _number(where, "score_threshold", threshold)
            if not 0 < threshold < 1:
                raise LinesFileError(f"{where}: score_threshold must be between 0 and 1 (or false)")
            overrides["score_threshold"] = threshold
    if "clear_after" in table:
        clear_after = table["clear_after"]
        if isinstance(clear_after, bool) or not isinstance(clear_after, int) or not 1 <= clear_after <= 1_000_000:
            raise LinesFileError(f"{where}: clear_after must be a whole number of readings from 1 to 1000000")
        overrides["clear_after"] = clear_after
    return tuple(overrides.items())


def _spc(where: str, table) -> SpcConfig:
    if not isinstance(table, dict):
        raise LinesFileError(f"{where} must be a table")
    _no_unknown_keys(where, table, SPC_KEYS)
    rules = table.get("rules", [])
    if not isinstance(rules, list) or not all(isinstance(rule, str) for rule in rules):
        raise LinesFileError(f"{where}: rules must be a list of rule names, e.g. [\"we-1\", \"ewma\"]")
    unknown = [rule for rule in rules if rule not in SPC_RULE_NAMES]
    if unknown:
        raise LinesFileError(f"{where}: rules: unknown rule {unknown[0]!r} (known: {', '.join(SPC_RULE_NAMES)})")
    defaults = SpcConfig()
    settings = {"rules": frozenset(rules)}
    baseline = table.get("baseline", defaults.baseline)
    if isinstance(baseline, bool) or not isinstance(baseline, int) or not 10 <= baseline <= 100_000:
        raise LinesFileError(f"{where}: baseline must be a whole number of readings from 10 to 100000")
    settings["baseline"] = baseline
    for key in ("ewma_lambda", "ewma_l", "cusum_k", "cusum_h"):
        value = _number(where, key, table.get(key, getattr(defaults, key)))
        if not value > 0 or (key == "ewma_lambda" and value > 1):
            raise LinesFileError(f"{where}: {key} must be above 0" + (" and at most 1" if key == "ewma_lambda" else ""))
        settings[key] = value
    return SpcConfig(**settings)


def _no_unknown_keys(where: str, table: dict, known: tuple[str, ...]) -> None:
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise LinesFileError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(known)})")


def _text(where: str, key: str, value) -> str:
    if not isinstance(value, str) or len(value) > 100:
        raise LinesFileError(f"{where}: {key} must be text of at most 100 characters")
    return value.strip()


def _number(where: str, key: str, value) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise LinesFileError(f"{where}: {key} must be a finite number")
    return float(value)
