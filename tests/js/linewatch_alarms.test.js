// Pure functions of assets/linewatch_alarms.js (the alarm bar), run by tests/test_js.py with `node --test`.
const test = require("node:test");
const assert = require("node:assert/strict");
const lw = require("../../assets/linewatch.js");
const alarms = require("../../assets/linewatch_alarms.js");

const LABELS = {priority_short: "P{n}", alarm_none: "No unacknowledged alarms"};
const NONE = {unacknowledged: {1: 0, 2: 0, 3: 0, 4: 0}, newest: null, version: "a"};

function summary(id, announced, counts) {
  return {unacknowledged: counts || {1: 0, 2: 1, 3: 0, 4: 0}, version: id + announced,
          newest: {id: id, line: "line-1", rule: "threshold", priority: 2, ts: 1_700_000_000.25,
                   announced: announced, message: "defect probability above 0.5"}};
}

test("the bar counts by priority and colours only the priorities that count alarms", () => {
  const view = alarms.barView(summary("line-1/7/threshold", 1), LABELS, "1999-01-01");
  assert.deepEqual(view.counts, ["0", "1", "0", "0"]);
  assert.deepEqual(view.classes, ["lw-prio lw-prio-1", "lw-prio lw-prio-2 lw-prio-on", "lw-prio lw-prio-3",
                                  "lw-prio lw-prio-4"]);
  const stamp = lw.localStamp(1_700_000_000.25).slice(0, 19);
  assert.equal(view.newest, "P2 · line-1 · threshold · " + stamp + " · defect probability above 0.5");
  assert.equal(view.ackDisabled, false);
  const today = alarms.barView(summary("line-1/7/threshold", 1), LABELS, stamp.slice(0, 10));
  assert.ok(today.newest.includes(" · " + stamp.slice(11) + " · ") && !today.newest.includes(stamp.slice(0, 10)));
  const quiet = alarms.barView(NONE, LABELS, "1999-01-01");
  assert.equal(quiet.newest, "No unacknowledged alarms");
  assert.equal(quiet.ackDisabled, true);
  assert.ok(quiet.classes.every((c) => !c.includes("lw-prio-on")));
});

test("a tone is due only for an alarm announced after the page's first summary", () => {
  const first = summary("a", 1);
  assert.equal(alarms.announces(null, first), false);  // opening the page is not an alarm
  assert.equal(alarms.announces(first, first), false);
  assert.equal(alarms.announces(first, summary("b", 2)), true);  // a new alarm
  assert.equal(alarms.announces(first, summary("a", 5)), true);  // the same alarm raised or re-alarmed again
  assert.equal(alarms.announces(NONE, first), true);
  assert.equal(alarms.announces(first, NONE), false);  // acknowledged: silence
});
