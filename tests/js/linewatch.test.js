// Pure browser-side functions of assets/linewatch.js, run by tests/test_js.py with `node --test`.
const test = require("node:test");
const assert = require("node:assert/strict");
const lw = require("../../assets/linewatch.js");

const LABELS = {delta: "Δ", of_window: "of {n} points", status_live: "Live", status_paused: "Paused",
  status_waiting: "Waiting", status_stale: "Stale {s} s", status_error: "Source error",
  status_offline: "Offline", error_prefix: "Error", line_value_threshold: "value", line_prob_threshold: "prob",
  severity_warning: "Warning", severity_critical: "Critical", rule_score: "Anomaly score", rule_we: "Western Electric",
  line_spc_centre: "CL", line_spc_lcl: "LCL", line_spc_ucl: "UCL"};
const TH = lw.thresholdsOf(0.5, 0.5);
const FIGURE = {data: [{}, {}, {marker: {size: 4}}, {}], layout: {font: {},
  shapes: [{name: "value-threshold"}, {name: "prob-threshold"}, {name: "lsl", y0: 70, y1: 70}],
  annotations: [{name: "value-threshold"}, {name: "prob-threshold"}, {name: "lsl", text: "LSL 70"}]}};

function alarm(seq, rule, severity, extra) {
  return Object.assign({id: "line-1/" + seq + "/" + rule, seq: seq, ts: 1000 + seq, rule: rule,
    severity: severity || "warning", value: 0.9, message: rule + " fired"}, extra);
}

let at = 0;
function tick(seq, values, probs, extra) {
  at += 1;
  return Object.assign({at: at, cursor: seq.length ? seq[seq.length - 1] : -1, window: 5, first: seq[0],
    ts: seq.map((s) => 1000 + s), value: values, prob: probs, rate: 2}, extra);
}

test("ingest appends only points after the cursor, trims to the window and is idempotent", () => {
  const state = lw.newWindowState();
  const first = tick([1, 2, 3], [0.1, 0.2, 0.3], [0, 0, 0], {reset: true});
  lw.ingest(state, first, 0);
  lw.ingest(state, first, 0);
  assert.deepEqual(Array.from(state.seq), [1, 2, 3]);
  lw.ingest(state, tick([3, 4, 5, 6], [0.3, 0.4, 0.5, 0.6], [0, 0, 0, 0]), 1);
  assert.deepEqual(Array.from(state.seq), [2, 3, 4, 5, 6]);
  assert.deepEqual(Array.from(state.value), [0.2, 0.3, 0.4, 0.5, 0.6]);
  assert.equal(state.x.length, 5);
  assert.equal(state.cursor, 6);
  lw.ingest(state, tick([100], [0.9], [0.9], {reset: true}), 2);
  assert.deepEqual(Array.from(state.seq), [100]);
});

test("an error tick keeps the data and reports the error", () => {
  const state = lw.newWindowState();
  lw.ingest(state, tick([1], [0.1], [0], {reset: true}), 0);
  lw.ingest(state, {at: 99, cursor: 1, seq: [], error: "OSError: disk"}, 1);
  assert.deepEqual(Array.from(state.seq), [1]);
  assert.equal(lw.errorText(state, LABELS, ""), "Error: OSError: disk");
});

test("localStamp gives a local time string plotly reads as a date", () => {
  assert.match(lw.localStamp(1764117600.25), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.250$/);
});

test("thresholds are in the slider's own scale: the value one in the line's unit, not a percent", () => {
  assert.deepEqual(lw.thresholdsOf("0.7", 85.5), {prob: 0.7, value: 85.5});
  const state = lw.newWindowState();
  lw.ingest(state, tick([1, 2, 3], [84, 86, 90], [0.9, 0.9, 0.2], {reset: true}), 0);
  assert.equal(lw.computeKpis(state, lw.thresholdsOf(0.5, 85), false, 1000, 0, LABELS).anomalies, "1");
  assert.equal(lw.computeKpis(state, lw.thresholdsOf(0.5, 85), false, 1000, 0, LABELS).value, "90.00");
});

test("the window slides in place: ticks write into the same arrays, the oldest readings leave", () => {
  const state = lw.newWindowState();
  lw.ingest(state, tick([1, 2, 3, 4, 5], [1, 2, 3, 4, 5], [0, 0, 0, 0, 0], {reset: true}), 0);
  const buffer = state.value.buffer;
  for (let s = 6; s <= 23; s += 2) {  // past the arrays' end (twice the window) more than once
    lw.ingest(state, tick([s, s + 1], [s, s + 1], [0, 0]), s);
    assert.deepEqual(Array.from(state.seq), [s - 3, s - 2, s - 1, s, s + 1]);
    assert.deepEqual(Array.from(state.value), [s - 3, s - 2, s - 1, s, s + 1]);
    assert.equal(state.value.buffer, buffer);  // no new arrays
  }
  assert.deepEqual(Array.from(state.ts), [1019, 1020, 1021, 1022, 1023]);
  assert.equal(state.x[4] - state.x[3], 1000);  // milliseconds
});

const VIEW = {range: null, columns: 100};

test("the figure draws every reading of a small window, anomaly and alarm markers only where marked", () => {
  const state = lw.newWindowState();
  lw.ingest(state, tick([1, 2, 3], [0.6, 0.4, 0.7], [0.9, 0.9, 0.2], {reset: true, alarms: [alarm(1, "score", "critical")]}), 0);
  const figure = lw.chartFigure(FIGURE, state, TH, false, LABELS, "mm", VIEW);
  assert.deepEqual(figure.data[0].y, [0.6, 0.4, 0.7]);
  assert.deepEqual(figure.data[1].y, [0.9, 0.9, 0.2]);
  assert.deepEqual(figure.data[0].x, Array.from(state.x));
  assert.deepEqual(figure.data[2].y, [0.6]);  // the only reading above both thresholds
  assert.deepEqual(figure.data[2].marker.color, [0.9]);
  assert.deepEqual(figure.data[2].x, [state.x[0]]);
  assert.deepEqual(figure.data[3].y, [0.6]);
  assert.deepEqual(figure.data[3].text, ["score · Critical: score fired"]);
  assert.deepEqual(figure.data[3].marker.color, ["#b3261e"]);
  assert.deepEqual(figure.data[1].text, []);
  assert.deepEqual(figure.layout.shapes.map((s) => s.y0), [0.5, 0.5, 70]);
  assert.equal(figure.layout.annotations[0].text, "value 0.500 mm");
  assert.equal(figure.layout.annotations[1].text, "prob 0.50");
  assert.equal(figure.layout.annotations[2].text, "LSL 70");  // specification limits stay as the layout drew them
  assert.deepEqual(FIGURE.data[0], {});  // the template is not changed
  // alarms on one reading share a marker; its colour is the highest severity
  lw.ingest(state, tick([4], [0.8], [0.8], {alarms: [alarm(4, "we-1", "warning"), alarm(4, "score", "critical")]}), 1);
  const next = lw.chartFigure(FIGURE, state, TH, true, LABELS, "mm", VIEW);
  assert.deepEqual(next.data[3].text, ["score · Critical: score fired", "we-1 · Warning: we-1 fired<br>score · Critical: score fired"]);
  assert.deepEqual(next.data[3].marker.color, ["#b3261e", "#b3261e"]);
  assert.equal(next.layout.font.color, "#d5d9de");
});

function bigWindow(n) {
  const state = lw.newWindowState();
  const seq = Array.from({length: n}, (_, i) => i);
  const values = seq.map((i) => Math.sin(i / 50) + (i === 4321 ? 5 : 0) - (i === 777 ? 5 : 0));
  const probs = seq.map((i) => (i % 1000 === 500 ? 0.99 : i % 100 === 7 ? 0.7 : 0.1));
  lw.ingest(state, Object.assign(tick(seq, values, probs, {reset: true}), {window: n}), 0);
  return state;
}

test("a big window draws at most a few readings per pixel column and keeps every peak", () => {
  const state = bigWindow(100000);
  const th = lw.thresholdsOf(0.5, 0.5);
  const figure = lw.chartFigure(FIGURE, state, th, false, LABELS, "", {range: null, columns: 200});
  const [value, prob, anomalies] = figure.data;
  assert.ok(value.x.length <= 4 * 200 + 2 && value.x.length >= 200, value.x.length);
  assert.deepEqual(prob.x, value.x);  // the same readings: the hover shows value and probability together
  assert.equal(Math.max(...value.y), Math.max(...state.value));  // the spike up and the dip are drawn
  assert.equal(Math.min(...value.y), Math.min(...state.value));
  assert.equal(Math.max(...prob.y), 0.99);
  assert.equal(value.x[0], state.x[0]);
  assert.equal(value.x[value.x.length - 1], state.x[state.x.length - 1]);
  assert.ok(value.x.every((x, i) => i === 0 || x > value.x[i - 1]));  // in time order, no reading twice
  // anomalies (value and probability above) more than fit: the most probable one per marker width (4 px)
  const all = Array.from(state.value).filter((v, i) => v > 0.5 && state.prob[i] > 0.5).length;
  assert.ok(all > 50 && anomalies.x.length <= 200 / 4, [all, anomalies.x.length]);
  assert.ok(anomalies.marker.color.filter((p) => p === 0.99).length >= 20);
});

test("anomaly markers are at most one per marker width, the most probable of each, however few the columns hold", () => {
  // 500 anomalies in a 10,000-point window: fewer than the 1,000 pixel columns, yet most would overlap
  const n = 10000;
  const seq = Array.from({length: n}, (_, i) => i);
  const probs = seq.map((i) => (i % 20 === 0 ? 0.6 + (i % 7) / 20 : 0.1));
  const state = lw.newWindowState();
  lw.ingest(state, Object.assign(tick(seq, seq.map(() => 1), probs, {reset: true}), {window: n}), 0);
  const template = Object.assign({}, FIGURE, {data: [{}, {}, {marker: {size: 9}}, {}]});
  const anomalies = lw.chartFigure(template, state, TH, false, LABELS, "", {range: null, columns: 1000}).data[2];
  assert.ok(anomalies.x.length > 100 && anomalies.x.length <= Math.floor(1000 / 9), anomalies.x.length);
  const width = (state.x[n - 1] - state.x[0]) / Math.floor(1000 / 9);  // one marker's span of time
  for (let k = 0; k < anomalies.x.length; k++) {
    const slot = Math.min(Math.floor(1000 / 9) - 1, Math.floor((anomalies.x[k] - state.x[0]) / width));
    const inSlot = seq.filter((i) => probs[i] > 0.5 &&
      Math.min(Math.floor(1000 / 9) - 1, Math.floor((state.x[i] - state.x[0]) / width)) === slot);
    assert.equal(anomalies.marker.color[k], Math.max(...inSlot.map((i) => probs[i])));
  }
  assert.ok(anomalies.x.every((x, i) => i === 0 || x > anomalies.x[i - 1]));  // one per slot, in time order
});

test("zoomed in, the figure draws every reading of the range, one beyond each end", () => {
  const state = bigWindow(100000);
  const range = [state.x[50000], state.x[50100]];
  const figure = lw.chartFigure(FIGURE, state, TH, false, LABELS, "", {range: range, columns: 500});
  assert.deepEqual(figure.data[0].x, Array.from(state.x.subarray(49999, 50102)));
});

test("the zoomed range is read from plotly's axis, null while it autoranges", () => {
  assert.equal(lw.zoomedRange({autorange: true, range: ["2026-11-30 10:00:00", "2026-11-30 11:00:00"]}), null);
  assert.equal(lw.zoomedRange(undefined), null);
  assert.deepEqual(lw.zoomedRange({autorange: false, range: ["2026-11-30 10:00:00.1234", "2026-11-30 11:00"]}),
    [new Date(2026, 10, 30, 10, 0, 0, 123).getTime(), new Date(2026, 10, 30, 11).getTime()]);
  assert.deepEqual(lw.zoomedRange({autorange: false, range: [5, 9]}), [5, 9]);
  assert.equal(lw.zoomedRange({autorange: false, range: ["garbage", "2026-11-30"]}), null);
  // the chart's x is epoch ms, which plotly shows in local time (tests/js/linewatch_range.test.js: not in UTC)
  const state = lw.newWindowState();
  const ts = Date.UTC(2026, 5, 1, 12) / 1000;
  lw.ingest(state, Object.assign(tick([1], [1], [0], {reset: true}), {ts: [ts]}), 0);
  assert.equal(state.x[0], ts * 1000);
});

test("readings are decimated to the plot area's pixel columns, the graph's width until plotly laid it out", () => {
  assert.equal(lw.plotColumns({clientWidth: 1186, _fullLayout: {_size: {w: 978}}}), 978);
  assert.equal(lw.plotColumns({clientWidth: 1186, _fullLayout: {}}), 1186);
  assert.equal(lw.plotColumns({clientWidth: 640}), 640);
});

test("SPC control lines from the tick are drawn once they come, and kept by ticks without them", () => {
  const state = lw.newWindowState();
  lw.ingest(state, tick([1, 2], [10, 11], [0, 0], {reset: true}), 0);
  let figure = lw.chartFigure(FIGURE, state, TH, false, LABELS, "", VIEW);
  assert.equal(figure.layout.shapes.length, 3);
  lw.ingest(state, tick([3], [12], [0], {spc: [10, 7, 13]}), 1);
  figure = lw.chartFigure(figure, state, TH, false, LABELS, "", VIEW);
  assert.deepEqual(figure.layout.shapes.filter((s) => s.name.startsWith("spc-")).map((s) => s.y0), [10, 7, 13]);
  assert.deepEqual(figure.layout.annotations.slice(-3).map((a) => a.text), ["CL 10.00", "LCL 7.000", "UCL 13.00"]);
  lw.ingest(state, tick([4], [12], [0]), 2);
  figure = lw.chartFigure(figure, state, TH, false, LABELS, "", VIEW);
  assert.equal(figure.layout.shapes.length, 6);  // rebuilt from state, not appended twice
  lw.ingest(state, tick([9], [12], [0], {reset: true}), 3);
  assert.equal(state.spc, null);
});

test("alarm rows newest first, one per alarm; transactions add new alarms and drop those leaving the window", () => {
  const state = lw.newWindowState();
  lw.ingest(state, tick([1, 2, 3], [0.6, 0.4, 0.7], [0.9, 0.9, 0.8],
    {reset: true, alarms: [alarm(1, "score", "critical"), alarm(3, "we-1")]}), 0);
  const rows = lw.alarmRows(state, LABELS);
  assert.deepEqual(rows.map((r) => r.id), ["line-1/3/we-1", "line-1/1/score"]);
  assert.equal(typeof rows[0].id, "string");
  assert.deepEqual([rows[1].rule, rows[1].ruleText, rows[1].severity, rows[1].level, rows[1].value],
    ["score", "Anomaly score", "Critical", "critical", 0.9]);
  assert.equal(rows[0].ruleText, "Western Electric");
  assert.match(rows[0].time, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.000$/);
  assert.equal(lw.alarmTransaction(state, LABELS), null);
  // a tick repeating readings already seen (and their alarm) adds nothing twice
  lw.ingest(state, tick([3, 4, 5, 6], [0.7, 0.9, 0.1, 0.1], [0.8, 0.9, 0.1, 0.1],
    {alarms: [alarm(3, "we-1"), alarm(4, "score"), alarm(4, "we-2")]}), 1);
  const transaction = lw.alarmTransaction(state, LABELS);
  assert.deepEqual(transaction.add.map((r) => r.id), ["line-1/4/we-2", "line-1/4/score"]);
  assert.deepEqual(transaction.remove, [{id: "line-1/1/score"}]);  // seq 1 left the 5-point window
  assert.equal(transaction.async, false);
  assert.equal(transaction.addIndex, 0);
  assert.equal(lw.alarmTransaction(state, LABELS), null);
  lw.ingest(state, tick([7], [0.1], [0.1]), 2);  // seqs 3..7 in the window: 3, 4 still there
  assert.equal(lw.alarmTransaction(state, LABELS), null);
  lw.ingest(state, tick([20], [0.1], [0.1], {reset: true, window: 5, alarms: [alarm(20, "ewma")]}), 3);
  assert.equal(state.tableCursor, null);  // a reset rebuilds the table
  assert.deepEqual(lw.alarmRows(state, LABELS).map((r) => r.id), ["line-1/20/ewma"]);
});

test("an alarm's message is worded with the page's template for its key, else shown as the server wrote it", () => {
  const zh = Object.assign({}, LABELS, {alarm_score: "数值 {value} 异常（评分 {score}）"});
  const scored = alarm(7, "score", "critical", {message: "value 130 is anomalous (score 0.91)",
    key: "alarm_score", figures: {value: "130", score: "0.91"}});
  assert.equal(lw.alarmText(scored, zh), "数值 130 异常（评分 0.91）");
  assert.equal(lw.alarmText(scored, LABELS), "value 130 is anomalous (score 0.91)");  // no template: as sent
  assert.equal(lw.alarmText(alarm(8, "we-1"), zh), "we-1 fired");  // no key: as sent
  const state = lw.newWindowState();
  lw.ingest(state, tick([7], [130], [0], {reset: true, alarms: [scored]}), 0);
  assert.equal(lw.alarmRows(state, zh)[0].message, "数值 130 异常（评分 0.91）");
  assert.equal(lw.chartFigure(FIGURE, state, TH, false, zh, "", VIEW).data[3].text[0],
    "score · Critical: 数值 130 异常（评分 0.91）");
});

test("the alarm table keeps at most MAX_ALARM_ROWS, the newest", () => {
  const n = lw.MAX_ALARM_ROWS + 5;
  const seq = Array.from({length: n}, (_, i) => i);
  const state = lw.newWindowState();
  lw.ingest(state, tick(seq, seq.map(() => 1), seq.map(() => 0), {reset: true, window: 1000,
    alarms: seq.map((s) => alarm(s, "score"))}), 0);
  const rows = lw.alarmRows(state, LABELS);
  assert.equal(rows.length, lw.MAX_ALARM_ROWS);
  assert.equal(rows[0].seq, n - 1);
  lw.ingest(state, tick([n], [1], [0], {alarms: [alarm(n, "score")]}), 1);
  const transaction = lw.alarmTransaction(state, LABELS);
  assert.deepEqual(transaction.add.map((r) => r.seq), [n]);
  assert.deepEqual(transaction.remove, [{id: "line-1/5/score"}]);
});

test("slider range: padded, nicely rounded bounds, a step of about a hundredth, marks at round numbers", () => {
  assert.deepEqual(lw.sliderRange(70, 100),
    {min: 65, max: 105, step: 0.5, marks: {70: "70", 80: "80", 90: "90", 100: "100"}});
  const small = lw.sliderRange(0.35, 0.85);
  assert.deepEqual([small.min, small.max, small.step], [0.3, 0.9, 0.01]);
  const flat = lw.sliderRange(85, 85);
  assert.ok(flat.min < 85 && flat.max > 85);
  const wide = lw.sliderRange(1200, 5300);
  assert.deepEqual([wide.min, wide.max, wide.step], [500, 6000, 100]);
});

test("the value slider follows the data without limits: fitted on a reset, widened when data leaves it", () => {
  const line = {unit: "", lsl: null, usl: null};
  const state = lw.newWindowState();
  assert.equal(lw.valueRange(state, line, {min: 0.35, max: 0.65, value: 0.5}), null);  // no data yet
  lw.ingest(state, tick([1, 2], [0.35, 0.85], [0, 0], {reset: true}), 0);
  const fitted = lw.valueRange(state, line, {min: 0.35, max: 0.65, value: 0.5});
  assert.deepEqual([fitted.min, fitted.max, fitted.step], [0.3, 0.9, 0.01]);
  assert.equal(lw.valueRange(state, line, fitted), null);  // nothing new
  lw.ingest(state, tick([3], [0.6], [0]), 1);
  assert.equal(lw.valueRange(state, line, Object.assign({value: 0.5}, fitted)), null);  // still inside
  lw.ingest(state, tick([4], [40], [0]), 2);
  const widened = lw.valueRange(state, line, Object.assign({value: 0.5}, fitted));
  assert.ok(widened.min <= 0.35 && widened.max >= 40 && widened.step >= 0.4, JSON.stringify(widened));
  // the operator's threshold stays inside the range: a narrow first window does not squeeze it out
  lw.ingest(state, tick([9, 10], [0.36, 0.38], [0, 0], {reset: true}), 3);
  const narrow = lw.valueRange(state, line, {min: 0.35, max: 0.65, value: 0.5});
  assert.ok(narrow.min <= 0.36 && narrow.max >= 0.5, JSON.stringify(narrow));
  // one limit counts as data; both limits fix the range the layout gave
  lw.ingest(state, tick([11], [85], [0], {reset: true}), 4);
  assert.ok(lw.valueRange(state, {unit: "°C", lsl: 20, usl: null}, {min: 0, max: 1, value: 50}).min <= 20);
  lw.ingest(state, tick([12], [500], [0], {reset: true}), 5);
  assert.equal(lw.valueRange(state, {unit: "°C", lsl: 70, usl: 100}, {min: 65, max: 105, value: 85}), null);
});

test("KPIs: current value and delta, recent anomalies, defect rate, throughput", () => {
  const state = lw.newWindowState();
  lw.ingest(state, tick([1, 2, 3, 4], [0.6, 0.7, 0.3, 0.55], [0.9, 0.9, 0.1, 0.2], {reset: true}), 0);
  const kpis = lw.computeKpis(state, TH, false, 1000, 500, LABELS);
  assert.equal(kpis.value, "0.550");
  assert.equal(kpis.delta, "▲ +0.250 Δ");
  assert.equal(lw.formatValue(130), "130.0");
  assert.equal(kpis.anomalies, "2");
  assert.equal(kpis.defectRate, "50.0");
  assert.equal(kpis.defectRateNote, "of 4 points");
  assert.equal(kpis.throughput, "2.0");
  assert.equal(kpis.statusText, "Live");
  assert.equal(lw.computeKpis(state, lw.thresholdsOf(0.95, 0), false, 1000, 500, LABELS).anomalies, "0");
});

test("anomalies older than five minutes before the newest point are not recent", () => {
  const state = lw.newWindowState();
  const t = tick([1, 2], [0.9, 0.9], [0.9, 0.9], {reset: true, window: 10});
  t.ts = [1000, 1400];
  lw.ingest(state, t, 0);
  const kpis = lw.computeKpis(state, TH, false, 1000, 0, LABELS);
  assert.equal(kpis.anomalies, "1");
  assert.equal(kpis.defectRate, "100.0");
});

test("stream status: waiting, live, stale after three periods, paused, source error, offline", () => {
  const state = lw.newWindowState();
  assert.equal(lw.streamStatus(state, false, 1000, 0), "waiting");
  lw.ingest(state, tick([], [], [], {reset: true}), 0);
  assert.equal(lw.streamStatus(state, false, 1000, 100), "waiting");
  lw.ingest(state, tick([1], [0.4], [0.1]), 1000);
  assert.equal(lw.streamStatus(state, false, 1000, 1500), "live");
  lw.ingest(state, tick([], [], [], {cursor: 1}), 4000);
  assert.equal(lw.streamStatus(state, false, 1000, 4100), "stale");
  assert.equal(lw.computeKpis(state, TH, false, 1000, 4100, LABELS).statusText, "Stale 3 s");
  assert.equal(lw.streamStatus(state, true, 1000, 4100), "paused");
  assert.equal(lw.streamStatus(state, false, 1000, 9000), "offline");
  lw.ingest(state, tick([], [], [], {cursor: 1, source: "reconnecting", message: "connection lost"}), 8800);
  assert.equal(lw.streamStatus(state, false, 1000, 8900), "reconnecting");
  assert.equal(lw.errorText(state, LABELS, ""), "");  // a reconnect is shown in the status, not as an error
  lw.ingest(state, tick([], [], [], {cursor: 1, source: "error", message: "broker gone"}), 9000);
  assert.equal(lw.streamStatus(state, false, 1000, 9100), "error");
  assert.equal(lw.errorText(state, LABELS, ""), "Error: broker gone");
});

test("source state in words, with the rejected count; history links cover the window", () => {
  const labels = Object.assign({source_running: "running", rejected: "{n} rejected"}, LABELS);
  const state = lw.newWindowState();
  lw.ingest(state, tick([1, 2], [0.4, 0.5], [0.1, 0.1], {reset: true, rejected: 3}), 0);
  assert.equal(lw.computeKpis(state, TH, false, 1000, 0, labels).source, "running · 3 rejected");
  assert.equal(lw.historyHref(state, "api/v1/points.csv?from=1&to=2"), "api/v1/points.csv?from=1001&to=1002");
  assert.equal(lw.historyHref(lw.newWindowState(), "api/v1/points.csv"), "api/v1/points.csv");
  assert.equal(lw.historyHref(state, "/lw/api/v1/points.csv?line=oven-3&from=1"),  // the line page's links keep their line
               "/lw/api/v1/points.csv?line=oven-3&from=1001&to=1002");
});

test("store unavailable: status and banner while the store is away, the window kept, then live again", () => {
  const labels = Object.assign({status_unavailable: "Store unavailable"}, LABELS);
  const state = lw.newWindowState();
  lw.ingest(state, tick([1, 2, 3], [0.1, 0.2, 0.3], [0, 0, 0], {reset: true}), 0);
  lw.ingest(state, {at: 99, cursor: 3, seq: [], error: "Redis at h:1/0 is not answering", store: "unavailable"}, 500);
  assert.equal(lw.streamStatus(state, false, 1000, 900), "unavailable");
  assert.equal(lw.errorText(state, labels, ""), "Error: Store unavailable — Redis at h:1/0 is not answering");
  assert.equal(state.seq.length, 3);
  lw.ingest(state, tick([4], [0.4], [0]), 1000);
  assert.equal(lw.streamStatus(state, false, 1000, 1100), "live");
  assert.equal(lw.errorText(state, labels, ""), "");
});

test("history not writable: status and banner with the reason while the data dir refuses writes, then live", () => {
  const labels = Object.assign({status_history: "History not writable"}, LABELS);
  const state = lw.newWindowState();
  lw.ingest(state, tick([1, 2, 3], [0.1, 0.2, 0.3], [0, 0, 0], {reset: true}), 0);
  lw.ingest(state, tick([4], [0.4], [0], {history: "database or disk is full"}), 500);
  assert.equal(lw.streamStatus(state, false, 1000, 900), "history");
  const kpis = lw.computeKpis(state, TH, false, 1000, 900, labels);
  assert.equal(kpis.status, "history");
  assert.equal(kpis.statusText, "History not writable");
  assert.equal(lw.errorText(state, labels, ""), "Error: History not writable — database or disk is full");
  lw.ingest(state, tick([5], [0.5], [0]), 1000);
  assert.equal(lw.streamStatus(state, false, 1000, 1100), "live");
  assert.equal(lw.errorText(state, labels, ""), "");
});

test("forgetUndoHistory empties Dash's undo history, which grows by one entry a tick", () => {
  const state = {history: {past: [{id: "tick-interval", props: {n_intervals: 1}}, {id: "tick-interval",
    props: {n_intervals: 2}}], present: {id: "tick-interval", props: {n_intervals: 3}}, future: []}};
  lw.forgetUndoHistory({getState: () => state});
  assert.deepEqual(state.history.past, []);
  assert.deepEqual(state.history.present, {id: "tick-interval", props: {n_intervals: 3}});
  lw.forgetUndoHistory(undefined);  // a renderer that does not expose its store: nothing to do
});

test("changedOnly sends only the outputs whose value the page does not show yet", () => {
  const NO = {no: "update"};
  assert.deepEqual(lw.changedOnly(["1.250", "Live", true], ["1.250", "Waiting", true], NO), [NO, "Live", NO]);
  assert.deepEqual(lw.changedOnly(["", false], [null, false], NO), ["", NO]);  // an empty banner replaces none once
});
