// Pure browser-side functions of assets/linewatch.js, run by tests/test_js.py with `node --test`.
const test = require("node:test");
const assert = require("node:assert/strict");
const lw = require("../../assets/linewatch.js");

const LABELS = {delta: "Δ", of_window: "of {n} points", status_live: "Live", status_paused: "Paused",
  status_waiting: "Waiting", status_stale: "Stale {s} s", status_error: "Source error",
  status_offline: "Offline", error_prefix: "Error", line_value_threshold: "value", line_prob_threshold: "prob"};
const TH = lw.thresholdsOf(0.5, 50);

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
  assert.deepEqual(state.seq, [1, 2, 3]);
  lw.ingest(state, tick([3, 4, 5, 6], [0.3, 0.4, 0.5, 0.6], [0, 0, 0, 0]), 1);
  assert.deepEqual(state.seq, [2, 3, 4, 5, 6]);
  assert.deepEqual(state.value, [0.2, 0.3, 0.4, 0.5, 0.6]);
  assert.equal(state.x.length, 5);
  assert.equal(state.cursor, 6);
  lw.ingest(state, tick([100], [0.9], [0.9], {reset: true}), 2);
  assert.deepEqual(state.seq, [100]);
});

test("an error tick keeps the data and reports the error", () => {
  const state = lw.newWindowState();
  lw.ingest(state, tick([1], [0.1], [0], {reset: true}), 0);
  lw.ingest(state, {at: 99, cursor: 1, seq: [], error: "OSError: disk"}, 1);
  assert.deepEqual(state.seq, [1]);
  assert.equal(lw.errorText(state, LABELS, ""), "Error: OSError: disk");
});

test("localStamp gives a local time string plotly reads as a date", () => {
  assert.match(lw.localStamp(1764117600.25), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.250$/);
});

test("chart extension covers only undrawn points, anomalies marked, others null", () => {
  const state = lw.newWindowState();
  lw.ingest(state, tick([1, 2], [0.6, 0.4], [0.9, 0.9], {reset: true}), 0);
  const figure = lw.rebuildFigure({data: [{}, {}, {}], layout: {shapes: [{}, {}], annotations: [{}, {}], font: {}}},
    state, TH, false, LABELS);
  assert.deepEqual(figure.data[2].y, [0.6, null]);
  assert.deepEqual(figure.layout.shapes.map((s) => s.y0), [0.5, 0.5]);
  assert.equal(figure.layout.annotations[1].text, "prob 0.50");
  assert.equal(lw.chartExtension(state, TH), null);
  lw.ingest(state, tick([3, 4], [0.7, 0.8], [0.2, 0.8]), 1);
  const [update, traces, maxPoints] = lw.chartExtension(state, TH);
  assert.deepEqual(traces, [0, 1, 2]);
  assert.equal(maxPoints, 5);
  assert.deepEqual(update.y, [[0.7, 0.8], [0.2, 0.8], [null, 0.8]]);
  assert.deepEqual(update["marker.color"][2], [0.2, 0.8]);
  update.y[0].push(42);  // plotly mutates what it extends: the window state must not change
  assert.deepEqual(state.value, [0.6, 0.4, 0.7, 0.8]);
});

test("alert rows newest first; transactions add new anomalies and drop those leaving the window", () => {
  const state = lw.newWindowState();
  lw.ingest(state, tick([1, 2, 3], [0.6, 0.4, 0.7], [0.9, 0.9, 0.8], {reset: true}), 0);
  assert.deepEqual(lw.alertRows(state, TH).map((r) => r.seq), [3, 1]);
  lw.ingest(state, tick([4, 5, 6], [0.9, 0.1, 0.1], [0.9, 0.1, 0.1]), 1);
  const transaction = lw.alertTransaction(state, TH);
  assert.deepEqual(transaction.add.map((r) => r.seq), [4]);
  assert.deepEqual(transaction.remove, [{seq: 1}]);  // seq 1 left the 5-point window
  assert.equal(transaction.async, false);
  assert.equal(lw.alertTransaction(state, TH), null);
  assert.deepEqual(lw.alertRows(state, lw.thresholdsOf(0.85, 50)).map((r) => r.seq), [4]);
});

test("KPIs: current value and delta, recent anomalies, defect rate, throughput", () => {
  const state = lw.newWindowState();
  lw.ingest(state, tick([1, 2, 3, 4], [0.6, 0.7, 0.3, 0.55], [0.9, 0.9, 0.1, 0.2], {reset: true}), 0);
  const kpis = lw.computeKpis(state, TH, false, 1000, 500, LABELS);
  assert.equal(kpis.value, "0.550");
  assert.equal(kpis.delta, "▲ +0.250 Δ");
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
