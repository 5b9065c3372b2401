"""Per-line settings: display name, engineering unit, limits, detection and alarm design, from a small TOML file.

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
    stuck = false       # no "stuck" alarms (a value held for good is normal on this line)
    clear_after = 300   # the default off-delay of every rule (readings)

    [lines.oven-3.alarms]   # alarm design (each key optional)
    mode = "normal"     # or "suppressed" (by design) / "out-of-service": every rule of the line

    [lines.oven-3.alarms.usl]  # one rule: score, threshold, usl, lsl, stuck or an SPC rule the line has
    priority = 1        # 1 (most urgent) to 4; default from the severity (critical 2, warning 3)
    on_delay = 3        # the condition must hold this long before it raises: readings, or "30 s"
    off_delay = "60 s"  # ... and be clear this long before it returns (default clear_after readings)
    deadband = 0.5      # threshold, usl, lsl: a raised alarm holds until the value is back past
                        # its limit by this much (the line's unit; usl: at or below 99.5)
    realarm_minutes = 30  # announced again while active and unacknowledged this long
    mode = "out-of-service"  # this rule only (overrides the line's mode)

Delays count consecutive readings (1 to 1000000), or seconds of reading time from the run's
first reading when written as text ("30 s", at most 86400). A line with ``usl`` / ``lsl`` has the
alarm rules "usl" (a value above it) and "lsl" (below it), critical, beside the score; a
``deadband`` keeps them from chattering at the limit.

A replay file whose columns have other names maps them in a ``[replay.columns]`` table
(LineWatch's name = the file's)::

    [replay.columns]
    time = "Zeitstempel"
    value = "Temperatur"

A mistake stops start-up with one line naming the file, the table and the key.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from app.alarm_lifecycle import PRIORITIES, AlarmDesign, State
from app.detectors import RULES, UNIT_RULES, Delay, DetectorConfig, Hysteresis, SpcConfig
from app.readings import LINE_ID

LINE_KEYS = ("name", "unit", "lsl", "usl", "target", "value_threshold", "spc", "detection", "alarms")
ALARM_KEYS = ("priority", "on_delay", "off_delay", "deadband", "realarm_minutes", "mode")
ALARM_MODES = ("normal", State.SUPPRESSED.value, State.OUT_OF_SERVICE.value)
SECONDS = re.compile(r"\s*(\d+(?:\.\d*)?)\s*s\s*")  # a delay in seconds: "30 s"
MAX_DELAY_READINGS, MAX_DELAY_S, MAX_REALARM_MINUTES = 1_000_000, 86_400, 7 * 24 * 60
DETECTION_KEYS = ("score_threshold", "stuck", "clear_after")
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
    alarm_mode: str = "normal"  # every rule's, unless its own design says otherwise
    alarm_designs: tuple[tuple[str, AlarmDesign], ...] = ()  # per rule: priority, re-alarm, mode
    hysteresis: tuple[tuple[str, Hysteresis], ...] = ()  # per rule: on-delay, off-delay, deadband (the detector's)

    @property
    def title(self) -> str:
        return self.name or self.id

    def detector_config(self, prob_threshold: float, value_threshold: float) -> DetectorConfig:
        """The line's detection; the thresholds are the deployment's unless the line has its own value threshold."""
        own = self.value_threshold
        return DetectorConfig(spc=self.spc, prob_threshold=prob_threshold,
                              value_threshold=value_threshold if own is None else own, usl=self.usl, lsl=self.lsl,
                              alarms=self.hysteresis, **dict(self.detection))

    def alarm_design(self, rule: str) -> AlarmDesign:
        """How the rule's alarms behave on this line: its ``[alarms.<rule>]`` table, else the line's mode."""
        return dict(self.alarm_designs).get(rule, AlarmDesign(mode=self.alarm_mode))

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
    spec = LineSpec(line_id, **text, **limits, spc=_spc(f"[lines.{line_id}.spc]", table.get("spc", {})),
                    detection=_detection(f"[lines.{line_id}.detection]", table.get("detection", {})))
    judged = spec.detector_config(0.5, 0.5).rules()  # whatever the thresholds
    return dataclasses.replace(spec, **_alarms(f"lines.{line_id}.alarms", table.get("alarms", {}), judged))


def _alarms(where: str, table, judged: tuple[str, ...]) -> dict:
    """The line's alarm mode and each rule's design (``judged``: the rules that judge the line)."""
    if not isinstance(table, dict):
        raise LinesFileError(f"[{where}] must be a table")
    unknown = sorted(set(table) - {"mode", *judged})
    if unknown:
        raise LinesFileError(f"[{where}]: unknown key {unknown[0]!r} (known: mode, or a rule that judges this "
                             f"line: {', '.join(judged)})")
    line_mode = _mode(f"[{where}]", table.get("mode", "normal"))
    designs, hysteresis = [], []
    for rule in (key for key in table if key != "mode"):
        design, timing = _rule_alarm(f"[{where}.{rule}]", rule, table[rule], line_mode)
        designs.append((rule, design))
        if timing != Hysteresis():
            hysteresis.append((rule, timing))
    return {"alarm_mode": line_mode, "alarm_designs": tuple(designs), "hysteresis": tuple(hysteresis)}


def _rule_alarm(where: str, rule: str, table, line_mode: str) -> tuple[AlarmDesign, Hysteresis]:
    if not isinstance(table, dict):
        raise LinesFileError(f"{where} must be a table")
    _no_unknown_keys(where, table, ALARM_KEYS)
    priority = table.get("priority")
    if priority is not None and (isinstance(priority, (bool, float)) or priority not in PRIORITIES):
        raise LinesFileError(f"{where}: priority must be 1 (most urgent), 2, 3 or 4")
    realarm = _number(where, "realarm_minutes", table.get("realarm_minutes"))
    if realarm is not None and not 0 < realarm <= MAX_REALARM_MINUTES:
        raise LinesFileError(f"{where}: realarm_minutes must be above 0 and at most {MAX_REALARM_MINUTES}")
    deadband = _number(where, "deadband", table.get("deadband", 0.0))
    if deadband < 0 or (deadband and rule not in UNIT_RULES):
        raise LinesFileError(f"{where}: deadband must be 0 or more, in the line's unit, and only "
                             f"{', '.join(UNIT_RULES)} have one")
    timing = Hysteresis(on_delay=_delay(where, "on_delay", table.get("on_delay", 1)),
                        off_delay=_delay(where, "off_delay", table["off_delay"]) if "off_delay" in table else None,
                        deadband=deadband)
    mode = _mode(where, table.get("mode", line_mode))
    return AlarmDesign(priority=priority, realarm_minutes=realarm, mode=mode), timing


def _delay(where: str, key: str, value) -> Delay:
    """A whole number of readings, or seconds as text: "30 s"."""
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_DELAY_READINGS:
        return Delay(value)
    seconds = SECONDS.fullmatch(value) if isinstance(value, str) else None
    if seconds and float(seconds[1]) <= MAX_DELAY_S:
        return Delay(float(seconds[1]), seconds=True)
    raise LinesFileError(f"{where}: {key} must be a whole number of readings from 1 to {MAX_DELAY_READINGS}, "
                         f"or seconds written as \"30 s\" (at most {MAX_DELAY_S} s)")


def _mode(where: str, value) -> str:
    if value not in ALARM_MODES:
        raise LinesFileError(f"{where}: mode must be one of {', '.join(ALARM_MODES)}")
    return value


def _detection(where: str, table) -> tuple[tuple[str, object], ...]:
    """Overrides of the default detection: ``score_threshold`` (0-1, or false for no score alarms),
    ``stuck`` (false: no stuck alarms, for a signal that may hold a value for good) and
    ``clear_after`` (quiet readings before a rule raises again)."""
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
    if "stuck" in table:
        if table["stuck"] is not False:
            raise LinesFileError(f"{where}: stuck can only be false (no stuck alarms); it is on by default")
        overrides["stuck_ratio"] = None
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
