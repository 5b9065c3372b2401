// Pure functions of assets/linewatch_pages.js (the overview's tiles), run by tests/test_js.py with `node --test`.
const test = require("node:test");
const assert = require("node:assert/strict");
const pages = require("../../assets/linewatch_pages.js");

const LABELS = {overview_alarm: "Alarm", status_live: "Live", status_waiting: "Waiting for data…",
                status_stale: "Stale: no data for {s} s", error_prefix: "Error"};
const PRIORITIES = {1: "◆ P1", 2: "▲ P2", 3: "■ P3", 4: "● P4"};
const NONE_OPEN = {1: 0, 2: 0, 3: 0, 4: 0};

test("a tile shows name, value with unit, bars, status in words and only the priorities with open alarms", () => {
  const view = pages.tileView({id: "oven 5", name: "Oven 5", unit: "°C", value: 71.5, spark: [0, 50, 100],
                               status: "alarm", open: {1: 1, 2: 0, 3: 2, 4: 0}}, LABELS, PRIORITIES, "/lw/");
  assert.equal(view.href, "/lw/line/oven%205");
  assert.equal(view.className, "lw-tile lw-tile-alarm");
  assert.deepEqual([view.name, view.value, view.unit, view.status], ["Oven 5", "71.5", "°C", "Alarm"]);
  assert.equal(view.spark, "M0 100V96h0.8V100zM1 100V50h0.8V100zM2 100V0h0.8V100z");  // a zero bar stays visible
  assert.equal(view.bars, 3);
  assert.deepEqual(view.alarms.map((a) => a.text), ["◆ P1 1", "■ P3 2"]);
  assert.ok(view.alarms.every((a) => a.className.endsWith("lw-prio-on")));
});

test("a line without readings shows a dash and waits; a stale one says for how long", () => {
  const waiting = pages.tileView({id: "press-9", name: "Press 9", unit: "kN", status: "waiting", open: NONE_OPEN},
                                 LABELS, PRIORITIES, "/");
  assert.deepEqual([waiting.value, waiting.status, waiting.spark, waiting.alarms], ["—", "Waiting for data…", "", []]);
  const stale = pages.tileView({id: "l", name: "l", value: 1, status: "stale", quiet_s: 42, open: NONE_OPEN},
                               LABELS, PRIORITIES, "/");
  assert.equal(stale.status, "Stale: no data for 42 s");
});

test("the overview's message: the tick's error, waiting while no line is known, else none", () => {
  assert.equal(pages.message({error: "store down"}, LABELS), "Error: store down");
  assert.equal(pages.message({tiles: []}, LABELS), "Waiting for data…");
  assert.equal(pages.message({tiles: [{id: "a"}]}, LABELS), "");
});
