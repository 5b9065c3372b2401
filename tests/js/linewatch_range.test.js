// Pure functions of assets/linewatch_range.js (looking back on a line's page), run by tests/test_js.py.
process.env.TZ = "Asia/Shanghai";  // a viewer away from UTC (node --test runs each file in its own process)
const test = require("node:test");
const assert = require("node:assert/strict");
const lw = require("../../assets/linewatch.js");
const range = require("../../assets/linewatch_range.js");

const LABELS = {
  range_7d: "Last week", range_shown: "{head}{span}: {count} readings, {resolution}", axis_value: "Value", range_drawn: ", {points} points drawn",
  range_alarms: "alarms: {n}", range_paused: "Chart paused.", range_empty: "no readings in this range",
  resolution_raw: "raw", resolution_minute: "per minute", resolution_hour: "per hour",
  priority_short: "P{n}", severity_critical: "Critical", severity_warning: "Warning",
};
const TEMPLATE = {
  data: [0, 1, 2, 3].map(() => ({x: [], y: [], text: [], marker: {color: []}})),
  layout: {xaxis: {type: "date"}, shapes: [], annotations: [], font: {}},
};

test("presets end now; calendar days run from the first's local midnight to the end of the last", () => {
  const now = Date.UTC(2026, 10, 30, 12);
  assert.deepEqual(range.rangeBounds({mode: "7d"}, now), [now / 1000 - 7 * 86400, now / 1000]);
  assert.deepEqual(range.rangeBounds({mode: "1h"}, now), [now / 1000 - 3600, now / 1000]);
  const [from, to] = range.rangeBounds({mode: "calendar", start: "2026-11-23", end: "2026-11-24"}, now);
  assert.equal(from, new Date(2026, 10, 23).getTime() / 1000);
  assert.equal(to, new Date(2026, 10, 25).getTime() / 1000);
});

test("the address keeps its other keys; Live drops the range", () => {
  assert.equal(range.rangeSearch("?lang=zh&embed=1", {mode: "7d"}), "?lang=zh&embed=1&range=7d");
  assert.equal(range.rangeSearch("?range=7d&lang=zh", {mode: "calendar", start: "2026-11-23", end: "2026-11-29"}),
               "?lang=zh&from=2026-11-23&to=2026-11-29");
  assert.equal(range.rangeSearch("?from=2026-11-23&to=2026-11-29", {mode: "live"}), "");
  assert.equal(range.rangeSearch("", {mode: "30d"}), "?range=30d");
});

test("the calendar names a range once it has both days, in order", () => {
  assert.equal(range.pickedRange("calendar", "2026-11-23", null), null);
  assert.deepEqual(range.pickedRange("calendar", "2026-11-29", "2026-11-23T00:00:00"),
                   {mode: "calendar", start: "2026-11-23", end: "2026-11-29", problem: ""});
  assert.deepEqual(range.pickedRange("1d", "2026-11-29", "2026-11-23"), {mode: "1d", start: null, end: null, problem: ""});
  assert.ok(range.sameRange(range.pickedRange("1d"), {mode: "1d", start: null, end: null, problem: "x"}));
  assert.ok(!range.sameRange(range.pickedRange("1d"), null));
});

test("a zoom loads again past what is loaded, or in far enough for a finer resolution", () => {
  const raw = {from: 1000, to: 2000, source: "raw", downsampled: false};
  assert.equal(range.needsFetch(raw, [1200, 1300]), false);  // raw already: nothing finer
  assert.equal(range.needsFetch(raw, [900, 1300]), true);  // panned past the start
  assert.equal(range.needsFetch(raw, [500, 2500]), true);  // zoomed out
  const hourly = {from: 0, to: 30 * 86400, source: "hour", downsampled: false};
  assert.equal(range.needsFetch(hourly, [0, 20 * 86400]), false);
  assert.equal(range.needsFetch(hourly, [0, 15 * 86400]), true);
  assert.equal(range.needsFetch({...raw, downsampled: true}, [1000, 1500]), true);
  assert.deepEqual(range.spanToLoad([1000, 2000]), [750, 2250]);
  assert.equal(range.maxPoints(1000, 1500, 1000), 3000);  // two per pixel of the shown span
  assert.equal(range.maxPoints(100000, 1, 1), 10000);
});

test("the chart's x and plotly's local-time range strings are the same instants, away from UTC", () => {
  assert.equal(new Date(0).getTimezoneOffset(), -480);
  const ts = Date.UTC(2026, 10, 29, 3, 9, 45) / 1000;  // 11:09:45 in Shanghai
  assert.equal(range.epochOf(lw.localMs(ts)), ts);
  assert.deepEqual(lw.zoomedRange({autorange: false, range: ["2026-11-29 11:09:45", "2026-11-29 12:09:45"]}),
                   [ts * 1000, ts * 1000 + 3600000]);
  assert.equal(lw.localStamp(ts), "2026-11-29 11:09:45.000");
});

test("the status says range, span, readings, resolution, points drawn and alarms", () => {
  const from = 1_764_000_000;
  const loaded = {from: from, to: from + 7 * 86400, source: "minute", downsampled: true, readings: 6048000,
                  points: {ts: new Array(2400).fill(from), value: [], prob: []}};
  const text = range.rangeStatus({mode: "7d"}, [loaded.from, loaded.to], loaded, 3, LABELS, "en");
  const span = lw.localStamp(from).slice(0, 16) + " – " + lw.localStamp(from + 7 * 86400).slice(0, 16);
  assert.equal(text, "Last week · " + span + ": 6,048,000 readings, per minute, 2,400 points drawn · alarms: 3 — Chart paused.");
  const days = {mode: "calendar", start: "2026-11-23", end: "2026-11-23"};
  const empty = {...loaded, readings: 0, downsampled: false};
  assert.equal(range.rangeStatus(days, [loaded.from, loaded.to], empty, 0, LABELS, "en"),
               "2026-11-23 – 2026-11-23: no readings in this range · alarms: 0 — Chart paused.");
  const zoomed = range.rangeStatus(days, [loaded.from - 1, loaded.to], {...loaded, downsampled: false}, 0, LABELS, "en");
  assert.ok(zoomed.startsWith("2026-11-23 – 2026-11-23 · " + span + ": 6,048,000 readings, per minute · "), zoomed);
  assert.equal(range.resolutionText("hour", LABELS), "per hour");
});

test("export links keep their line and take the range", () => {
  assert.equal(range.exportHref("/p/api/v1/points.csv?line=l-1&from=1&to=2", [10, 20.5]),
               "/p/api/v1/points.csv?line=l-1&from=10.000&to=20.500");
});

test("the range figure draws the loaded points with a spike, the alarms inside the shown span, on that span", () => {
  const ts = Array.from({length: 5000}, (_, i) => 1_764_000_000 + i);
  const value = ts.map((_, i) => (i === 3210 ? 9 : 1));
  const loaded = {from: ts[0], to: ts[4999], points: {ts: ts, value: value, prob: value.map(() => 0.1)}};
  const alarms = [
    {raised_ts: ts[3210], returned_ts: ts[3215], value: 9, rule: "threshold", severity: "critical", priority: 1,
     message: "value above"},
    {raised_ts: ts[0] - 10000, returned_ts: null, value: 2, rule: "we-1", severity: "warning", priority: 3, message: "old"},
  ];
  const inputs = {thresholds: {prob: 0.5, value: 5}, dark: false, labels: LABELS, unit: "mm"};
  const shown = [lw.localMs(ts[0]), lw.localMs(ts[4999])];
  const figure = range.rangeFigure(TEMPLATE, loaded, alarms, inputs, {shown: shown, columns: 500, revision: "r1"});
  assert.ok(figure.data[0].x.length <= 4 * 500 + 2);  // a few per pixel column
  assert.equal(Math.max(...figure.data[0].y), 9);  // the one-reading spike survives
  assert.deepEqual(figure.data[3].y, [9]);
  assert.equal(figure.data[0].name, "Value");
  assert.equal(figure.data[3].text[0], "P1 · threshold · Critical: value above");
  assert.deepEqual(figure.layout.xaxis.range, shown);
  assert.equal(figure.layout.xaxis.autorange, false);
  assert.equal(figure.layout.uirevision, "r1");
  assert.equal(figure.layout.shapes.filter((s) => s.name === "alarm-span").length, 2);
});
