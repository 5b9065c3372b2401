/*
 * LineWatch browser side: the tick's delta (points after this browser's cursor, with the alarms
 * they raised) is fanned out to the chart (one Plotly.react a tick, at most a few points per pixel
 * column), the alarm table (rowTransaction), the value slider's range and the KPI cards.  The
 * browser holds the current window, so a threshold change re-highlights it here, without a server
 * call.  Pure functions take the window state explicitly (tests/js).
 */
(function (root) {
  "use strict";

  const MAX_ALARM_ROWS = 200;
  const RECENT_S = 300;
  const STALE_PERIODS = 3;
  const WINDOW_KEYS = ["seq", "ts", "x", "value", "prob"];

  /* Chart trace order, a contract with layouts/chart.py: value, defect probability, anomaly
   * markers, alarm markers.  The marker traces hold only the marked readings. */
  const VALUE = 0;
  const PROB = 1;
  const ANOMALIES = 2;
  const ALARMS = 3;
  const SEVERITY_COLOR = {warning: "#9a6200", critical: "#b3261e"};

  /* The window's columns (WINDOW_KEYS) in typed arrays twice the window long: a tick writes its
   * new readings after the last ones, and when the arrays are full the window slides back to
   * their start (one copy per window of readings): a tick copies only its own readings.
   * `state.seq`, `state.value`, ... are views (subarray) of the readings in the window. */
  function newColumns(window) {
    const columns = {start: 0, end: 0};
    for (const key of WINDOW_KEYS) {
      columns[key] = new Float64Array(2 * window);
    }
    return columns;
  }

  function exposeColumns(state) {
    const columns = state.columns;
    for (const key of WINDOW_KEYS) {
      state[key] = columns[key].subarray(columns.start, columns.end);
    }
  }

  /* Epoch seconds -> the chart's x: epoch milliseconds, which plotly's date axes read as the
   * viewer's local time (axis and hover show local time; no shift of ours, or it counts twice). */
  function localMs(ts) {
    return ts * 1000;
  }

  /* Append readings `from`.. of the tick to the window's columns, keeping the last `state.window`. */
  function appendReadings(state, tick, from) {
    const columns = state.columns;
    const window = state.window;
    from = Math.max(from, tick.ts.length - window);
    const count = tick.ts.length - from;
    if (columns.end + count > columns.seq.length) {
      const kept = Math.min(columns.end - columns.start, window - count);
      for (const key of WINDOW_KEYS) {
        columns[key].copyWithin(0, columns.end - kept, columns.end);
      }
      columns.start = 0;
      columns.end = kept;
    }
    for (let i = from, at = columns.end; i < tick.ts.length; i++, at++) {
      columns.seq[at] = tick.first + i;  // ids are contiguous
      columns.ts[at] = tick.ts[i];
      columns.x[at] = localMs(tick.ts[i]);
      columns.value[at] = tick.value[i];
      columns.prob[at] = tick.prob[i];
    }
    columns.end += count;
    columns.start = Math.max(columns.start, columns.end - window);
  }

  function newWindowState() {
    const state = {at: null, cursor: null, window: 0, columns: newColumns(0),
                   alarms: [], spc: null, rate: 0, source: "starting", message: "", rejected: 0, error: "",
                   store: "ok", history: "", lastTickAt: null, lastNewAt: null,
                   tableCursor: null, tableIds: [], rangeCursor: null};
    exposeColumns(state);
    return state;
  }

  function pad(n, width) {
    return String(n).padStart(width || 2, "0");
  }

  /* Epoch seconds -> local "YYYY-MM-DD HH:MM:SS.mmm" (plotly reads it as a date; it sorts as text). */
  function localStamp(ts) {
    const d = new Date(ts * 1000);
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()) + "." +
      pad(d.getMilliseconds(), 3);
  }

  /* A reading in the line's unit, with three significant decimals for small numbers and fewer for large. */
  function formatValue(value) {
    const size = Math.abs(value);
    return value.toFixed(size >= 1000 ? 0 : size >= 100 ? 1 : size >= 10 ? 2 : 3);
  }

  function withUnit(text, unit) {
    return unit ? text + " " + unit : text;
  }

  function isAnomaly(value, prob, thresholds) {
    return prob > thresholds.prob && value > thresholds.value;
  }

  /* The slider values as the anomaly rule uses them: both in their own scale (value in the line's unit). */
  function thresholdsOf(probThreshold, valueThreshold) {
    return {prob: Number(probThreshold), value: Number(valueThreshold)};
  }

  /* Take one tick into the window state; idempotent, so every view may call it first. */
  function ingest(state, tick, nowMs) {
    if (!tick || tick.at === state.at) {
      return;
    }
    state.at = tick.at;
    state.lastTickAt = nowMs;
    state.error = tick.error || "";
    state.store = tick.store || "ok";
    state.history = tick.history || "";  // why the history cannot be written; "" while it can
    if (tick.error) {
      return;
    }
    state.rate = tick.rate;
    state.source = tick.source || "running";
    state.message = tick.message || "";
    state.rejected = tick.rejected || 0;
    let first = 0;
    let alarms = tick.alarms || [];
    if (tick.reset) {
      state.window = tick.window;
      state.columns = newColumns(tick.window);
      state.alarms = [];
      state.spc = null;
      state.tableCursor = null;
      state.rangeCursor = null;
    } else {
      const cursor = state.cursor;
      while (first < tick.ts.length && cursor !== null && tick.first + first <= cursor) {
        first += 1;
      }
      alarms = alarms.filter(function (alarm) { return cursor === null || alarm.seq > cursor; });
    }
    if (tick.spc) {
      state.spc = tick.spc;
    }
    if (first < tick.ts.length) {
      appendReadings(state, tick, first);
      state.lastNewAt = nowMs;
    }
    exposeColumns(state);
    const oldest = state.seq.length ? state.seq[0] : Infinity;
    state.alarms = state.alarms.concat(alarms)
      .filter(function (alarm) { return alarm.seq >= oldest; })
      .slice(-MAX_ALARM_ROWS);
    if (state.lastNewAt === null && state.seq.length) {
      state.lastNewAt = nowMs;
    }
    state.cursor = tick.cursor;
  }

  /* Indices of the window's points after sequence id `after` (all of them for null). */
  function indicesAfter(state, after) {
    let i = state.seq.length;
    while (i > 0 && (after === null || state.seq[i - 1] > after)) {
      i -= 1;
    }
    return i;
  }

  /* First index in column[lo, hi) holding a number >= `target` (hi when none): columns are sorted. */
  function lowerBound(column, target, lo, hi) {
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (column[mid] < target) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return lo;
  }

  /* The pixel column (0..columns-1) of each x in [x0, x0 + span], for `columns` columns. */
  function columnOf(x, x0, span, columns) {
    return Math.min(columns - 1, Math.floor((x - x0) / span * columns));
  }

  /* Indices of the readings [from, to) to draw in `columns` pixel columns: all of them when there
   * are at most two per column, else the first, the last and, per column, those holding the lowest
   * and highest value and the lowest and highest probability (so the lines keep every peak and
   * span the range, and the two traces share their readings for the hover). */
  function drawnIndices(state, from, to, columns) {
    const out = [];
    if (to - from <= 2 * columns) {
      for (let i = from; i < to; i++) {
        out.push(i);
      }
      return out;
    }
    const x = state.x;
    const value = state.value;
    const prob = state.prob;
    const x0 = x[from];
    const span = x[to - 1] - x0 || 1;
    let column = -1;
    let picks = [from];
    const flush = function () {
      picks.sort(function (p, q) { return p - q; });
      for (const i of picks) {
        if (i !== out[out.length - 1]) {
          out.push(i);
        }
      }
    };
    for (let i = from; i < to; i++) {
      const c = columnOf(x[i], x0, span, columns);
      if (c !== column) {
        flush();
        column = c;
        picks = [i, i, i, i];  // lowest value, highest value, lowest prob, highest prob
        continue;
      }
      if (value[i] < value[picks[0]]) { picks[0] = i; }
      if (value[i] > value[picks[1]]) { picks[1] = i; }
      if (prob[i] < prob[picks[2]]) { picks[2] = i; }
      if (prob[i] > prob[picks[3]]) { picks[3] = i; }
    }
    picks.push(to - 1);
    flush();
    return out;
  }

  /* Indices of the anomalies among the readings [from, to); when there are more than `columns`,
   * the most probable one per pixel column (more would overlap). */
  function anomalyIndices(state, thresholds, from, to, columns) {
    const found = [];
    for (let i = from; i < to; i++) {
      if (isAnomaly(state.value[i], state.prob[i], thresholds)) {
        found.push(i);
      }
    }
    if (found.length <= columns) {
      return found;
    }
    const x0 = state.x[from];
    const span = state.x[to - 1] - x0 || 1;
    const out = [];
    let column = -1;
    for (const i of found) {
      const c = columnOf(state.x[i], x0, span, columns);
      if (c !== column) {
        out.push(i);
        column = c;
      } else if (state.prob[i] > state.prob[out[out.length - 1]]) {
        out[out.length - 1] = i;
      }
    }
    return out;
  }

  /* The alarm markers of the readings [from, to): at each reading that raised alarms, its value,
   * hover text (rule and message of each) and colour (the highest severity). */
  function alarmMarkers(state, from, to, labels) {
    const bySeq = new Map();
    for (const alarm of state.alarms) {
      bySeq.set(alarm.seq, (bySeq.get(alarm.seq) || []).concat([alarm]));
    }
    const markers = {x: [], y: [], text: [], color: []};
    for (const [seq, here] of bySeq) {
      const i = lowerBound(state.seq, seq, from, to);
      if (i === to || state.seq[i] !== seq) {
        continue;
      }
      const critical = here.some(function (alarm) { return alarm.severity === "critical"; });
      markers.x.push(state.x[i]);
      markers.y.push(state.value[i]);
      markers.text.push(here.map(function (alarm) {
        return alarm.rule + " · " + severityText(alarm.severity, labels) + ": " + alarmText(alarm, labels);
      }).join("<br>"));
      markers.color.push(SEVERITY_COLOR[critical ? "critical" : "warning"]);
    }
    return markers;
  }

  function pick(column, indices) {
    return indices.map(function (i) { return column[i]; });
  }

  /* The pixel columns of a drawn plotly graph's plot area (inside its margins, colour bar and
   * legend), which the readings are decimated to; the graph's width until plotly has laid it out. */
  function plotColumns(plot) {
    const size = plot._fullLayout && plot._fullLayout._size;
    return size && size.w > 0 ? size.w : plot.clientWidth;
  }

  const AXIS_DATE = /^(\d{4})-(\d\d)-(\d\d)(?:[ T](\d\d):(\d\d)(?::(\d\d)(?:\.(\d+))?)?)?$/;

  /* A date-axis range end as the chart's x (epoch ms): plotly gives numbers or local-time
   * "YYYY-MM-DD HH:MM:SS.ffff" strings; NaN when unreadable. */
  function axisMs(end) {
    if (typeof end === "number") {
      return end;
    }
    const m = AXIS_DATE.exec(String(end).trim());
    if (!m) {
      return NaN;
    }
    const part = function (i) { return Number(m[i] || 0); };
    const ms = m[7] ? Number(m[7].slice(0, 3).padEnd(3, "0")) : 0;
    return new Date(part(1), part(2) - 1, part(3), part(4), part(5), part(6), ms).getTime();
  }

  /* The x range the operator zoomed to (epoch ms), or null while the axis autoranges. */
  function zoomedRange(xaxis) {
    if (!xaxis || xaxis.autorange !== false || !Array.isArray(xaxis.range)) {
      return null;
    }
    const range = xaxis.range.map(axisMs);
    return range.every(isFinite) && range[0] < range[1] ? range : null;
  }

  const THEME_FONT = {light: "#2b2f33", dark: "#d5d9de"};
  const SPC_LINE = {color: "#6c757d", width: 1, dash: "dashdot"};

  /* Centre line and control limits (shapes named "spc-*"), from the tick's [centre, lcl, ucl]. */
  function spcShapes(spc) {
    if (!spc) {
      return [];
    }
    return ["spc-centre", "spc-lcl", "spc-ucl"].map(function (name, i) {
      return {type: "line", name: name, xref: "paper", x0: 0, x1: 1, yref: "y", y0: spc[i], y1: spc[i],
              line: Object.assign({}, SPC_LINE, i ? {} : {dash: "dot"}), layer: "below"};
    });
  }

  function spcAnnotations(spc, labels) {
    if (!spc) {
      return [];
    }
    return [labels.line_spc_centre, labels.line_spc_lcl, labels.line_spc_ucl].map(function (label, i) {
      return {name: "spc-" + i, xref: "paper", x: 0.995, xanchor: "right", yanchor: i === 1 ? "top" : "bottom", yref: "y", y: spc[i],
              showarrow: false, text: label + " " + formatValue(spc[i]), font: {color: SPC_LINE.color, size: 11}};
    });
  }

  /* The figure to draw from the window state, on every tick and zoom: the `template` figure's
   * traces (layouts/chart.py) filled with the readings of the window, or of `view.range` when the
   * operator zoomed, at most a few per pixel column of `view.columns`; markers only where marked,
   * anomaly markers at most one per marker width.
   * Shapes and annotations named "value-threshold" and "prob-threshold" follow the sliders, those
   * named "spc-*" are the tick's control lines, the others (specification limits) stay. */
  function chartFigure(template, state, thresholds, dark, labels, unit, view) {
    const n = state.seq.length;
    const columns = Math.max(1, Math.round(view.columns));
    let from = 0;
    let to = n;
    if (view.range) {  // one reading beyond each end, so the lines run to the plot's edges
      from = Math.max(0, lowerBound(state.x, view.range[0], 0, n) - 1);
      const after = lowerBound(state.x, view.range[1], 0, n);
      to = Math.min(n, after + (state.x[after] === view.range[1] ? 2 : 1));
    }
    const drawn = drawnIndices(state, from, to, columns);
    // anomaly markers no closer than their size: closer ones overlap, and plotly styles each one
    // on every redraw (a 10,000-point window had ~570, the tab's costliest part of a tick)
    const markerSlots = Math.max(1, Math.floor(columns / template.data[ANOMALIES].marker.size));
    const anomalies = anomalyIndices(state, thresholds, from, to, markerSlots);
    const alarms = alarmMarkers(state, from, to, labels);
    const columnsOf = {};
    columnsOf[VALUE] = {x: pick(state.x, drawn), y: pick(state.value, drawn), color: [], text: []};
    columnsOf[PROB] = {x: columnsOf[VALUE].x, y: pick(state.prob, drawn), color: [], text: []};
    columnsOf[ANOMALIES] = {x: pick(state.x, anomalies), y: pick(state.value, anomalies),
                            color: pick(state.prob, anomalies), text: []};
    columnsOf[ALARMS] = {x: alarms.x, y: alarms.y, color: alarms.color, text: alarms.text};
    const data = template.data.map(function (trace, i) {
      const filled = columnsOf[i];
      return Object.assign({}, trace, {x: filled.x, y: filled.y, text: filled.text,
                                        marker: Object.assign({}, trace.marker, {color: filled.color})});
    });
    const layout = Object.assign({}, template.layout);
    layout.font = Object.assign({}, layout.font, {color: dark ? THEME_FONT.dark : THEME_FONT.light});
    const kept = function (item) { return !String(item.name || "").startsWith("spc-"); };
    layout.shapes = layout.shapes.filter(kept).map(function (shape) {
      const y = shape.name === "value-threshold" ? thresholds.value : shape.name === "prob-threshold" ? thresholds.prob : null;
      return y === null ? shape : Object.assign({}, shape, {y0: y, y1: y});
    }).concat(spcShapes(state.spc));
    layout.annotations = layout.annotations.filter(kept).map(function (note) {
      if (note.name === "value-threshold") {
        return Object.assign({}, note, {y: thresholds.value,
          text: labels.line_value_threshold + " " + withUnit(formatValue(thresholds.value), unit)});
      }
      if (note.name === "prob-threshold") {
        return Object.assign({}, note, {y: thresholds.prob, text: labels.line_prob_threshold + " " + thresholds.prob.toFixed(2)});
      }
      return note;
    }).concat(spcAnnotations(state.spc, labels));
    return {data: data, layout: layout};
  }

  function severityText(severity, labels) {
    return labels["severity_" + severity] || severity;
  }

  /* The alarm's message in the page's language: its template (labels[key]) filled with its figures,
   * else the message as the server wrote it (English). */
  function alarmText(alarm, labels) {
    const template = alarm.key && labels[alarm.key];
    if (!template) {
      return alarm.message;
    }
    return template.replace(/\{(\w+)\}/g, function (whole, name) {
      return Object.prototype.hasOwnProperty.call(alarm.figures, name) ? alarm.figures[name] : whole;
    });
  }

  function alarmRow(alarm, labels) {
    return {id: alarm.id, seq: alarm.seq, time: localStamp(alarm.ts), rule: alarm.rule,
            ruleText: labels["rule_" + alarm.rule.split("-")[0]] || alarm.rule,
            severity: severityText(alarm.severity, labels), level: alarm.severity, value: alarm.value,
            message: alarmText(alarm, labels)};
  }

  /* Rows for the alarms of the window, newest first; the table shows these from now on. */
  function alarmRows(state, labels) {
    const rows = state.alarms.map(function (alarm) { return alarmRow(alarm, labels); }).reverse();
    state.tableIds = state.alarms.map(function (alarm) { return alarm.id; });
    state.tableCursor = state.cursor;
    return rows;
  }

  /* A rowTransaction bringing the table to the window's alarms (new ones added, those that left
   * the window or the cap removed), or null when it already shows them. */
  function alarmTransaction(state, labels) {
    const current = new Set(state.alarms.map(function (alarm) { return alarm.id; }));
    const shown = new Set(state.tableIds);
    const add = state.alarms.filter(function (alarm) { return !shown.has(alarm.id); })
      .map(function (alarm) { return alarmRow(alarm, labels); }).reverse();
    const remove = state.tableIds.filter(function (id) { return !current.has(id); })
      .map(function (id) { return {id: id}; });
    state.tableIds = Array.from(current);
    state.tableCursor = state.cursor;
    if (!add.length && !remove.length) {
      return null;
    }
    return {add: add, remove: remove, addIndex: 0, async: false};
  }

  /* Smallest 1, 2 or 5 times a power of ten at least `x`. */
  function niceStep(x) {
    const power = Math.pow(10, Math.floor(Math.log10(x)));
    for (const m of [1, 2, 5, 10]) {
      if (m * power >= x * (1 - 1e-9)) {
        return m * power;
      }
    }
    return 10 * power;
  }

  function roundTo(value, step) {
    const decimals = Math.max(0, -Math.floor(Math.log10(step)) + 1);
    return Number(value.toFixed(decimals));
  }

  /* Slider bounds for values lo..hi: padded by a tenth, rounded to a nice unit; a step of about
   * a hundredth of the range; marks at round numbers.  Mirrors layouts/sidebar.py slider_range. */
  function sliderRange(lo, hi) {
    let span = hi - lo;
    if (!(span > 0)) {
      span = Math.max(Math.abs(hi), 1) * 0.2;
      lo -= span / 2;
      hi += span / 2;
    }
    const padded = span * 1.2;
    const unit = niceStep(padded / 10);
    const min = roundTo(Math.floor((lo - span * 0.1) / unit + 1e-9) * unit, unit);
    const max = roundTo(Math.ceil((hi + span * 0.1) / unit - 1e-9) * unit, unit);
    const step = niceStep((max - min) / 100);
    const major = niceStep((max - min) / 5);
    const marks = {};
    for (let k = Math.ceil(min / major); k * major <= max + 1e-9 * major; k++) {
      const mark = roundTo(k * major, major);
      marks[String(mark)] = String(mark);
    }
    return {min: min, max: max, step: roundTo(step, step), marks: marks};
  }

  function extent(values) {
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of values) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    return {lo: lo, hi: hi};
  }

  /* New value-slider settings when the data left its range (or after a reset), else null: the
   * window's values, the current threshold and any one specification limit, padded and rounded.
   * A line with both specification limits keeps the range its layout gave it. */
  function valueRange(state, line, range) {
    if (typeof line.lsl === "number" && typeof line.usl === "number") {
      return null;
    }
    const reset = state.rangeCursor === null;
    if (!state.seq.length) {
      return null;  // no data yet: fitted when it comes
    }
    const from = indicesAfter(state, state.rangeCursor);
    state.rangeCursor = state.cursor;
    if (!reset && from >= state.seq.length) {
      return null;
    }
    const fresh = extent(state.value.slice(from));
    if (!reset && fresh.lo >= range.min && fresh.hi <= range.max) {
      return null;
    }
    const known = extent([line.lsl, line.usl, range.value].filter(function (v) { return typeof v === "number"; }));
    const values = extent(state.value);
    return sliderRange(Math.min(values.lo, known.lo), Math.max(values.hi, known.hi));
  }

  function streamStatus(state, paused, periodMs, nowMs) {
    const limit = STALE_PERIODS * periodMs;
    if (paused) {
      return "paused";
    }
    if (state.lastTickAt !== null && nowMs - state.lastTickAt > limit + periodMs) {
      return "offline";
    }
    if (state.store === "unavailable") {
      return "unavailable";
    }
    if (state.history) {
      return "history";
    }
    if (state.source === "error" || state.source === "reconnecting") {
      return state.source;
    }
    if (!state.seq.length) {
      return "waiting";
    }
    if (nowMs - state.lastNewAt > limit) {
      return "stale";
    }
    return "live";
  }

  /* Text of every KPI card from the window state (numbers formatted, units in the layout). */
  function computeKpis(state, thresholds, paused, periodMs, nowMs, labels) {
    const n = state.seq.length;
    const status = streamStatus(state, paused, periodMs, nowMs);
    const kpis = {value: "—", delta: labels.delta, anomalies: "—", defectRate: "—",
                  defectRateNote: labels.of_window.replace("{n}", n), throughput: state.rate.toFixed(1),
                  status: status, statusText: labels["status_" + status], source: sourceText(state, labels)};
    if (status === "stale") {
      kpis.statusText = labels.status_stale.replace("{s}", Math.round((nowMs - state.lastNewAt) / 1000));
    }
    if (!n) {
      return kpis;
    }
    const last = state.value[n - 1];
    kpis.value = formatValue(last);
    if (n > 1) {
      const delta = last - state.value[n - 2];
      kpis.delta = (delta > 0 ? "▲ +" : delta < 0 ? "▼ " : "") + formatValue(delta) + " " + labels.delta;
    }
    let recent = 0;
    let total = 0;
    const since = state.ts[n - 1] - RECENT_S;
    for (let i = 0; i < n; i++) {
      if (isAnomaly(state.value[i], state.prob[i], thresholds)) {
        total += 1;
        if (state.ts[i] >= since) {
          recent += 1;
        }
      }
    }
    kpis.anomalies = String(recent);
    kpis.defectRate = (100 * total / n).toFixed(1);
    return kpis;
  }

  function sourceText(state, labels) {
    const text = labels["source_" + state.source] || state.source;
    return state.rejected ? text + " · " + labels.rejected.replace("{n}", state.rejected) : text;
  }

  /* The history export links (their line kept), for the time range the window covers. */
  function historyHref(state, href) {
    const parts = href.split("?");
    const query = new URLSearchParams(parts[1] || "");
    query.delete("from");
    query.delete("to");
    if (state.seq.length) {
      query.set("from", state.ts[0]);
      query.set("to", state.ts[state.ts.length - 1]);
    }
    const text = query.toString();
    return text ? parts[0] + "?" + text : parts[0];
  }

  function errorText(state, labels, clientError) {
    if (!clientError && state.store === "unavailable") {
      return labels.error_prefix + ": " + labels.status_unavailable + " — " + state.error;
    }
    if (!clientError && state.history) {
      return labels.error_prefix + ": " + labels.status_history + " — " + state.history;
    }
    const message = clientError || state.error || (state.source === "error" ? state.message : "");
    return message ? labels.error_prefix + ": " + message : "";
  }

  /* The outputs to send: each value, or `noUpdate` where the page shows it already (`shown`): Dash
   * re-renders every output it is given, and a changed text also recomputes its component paths. */
  function changedOnly(values, shown, noUpdate) {
    return values.map(function (value, i) { return value === shown[i] ? noUpdate : value; });
  }

  /* Dash's renderer records every input change in an undo history (window.store's history.past;
   * one entry per Interval tick) that nothing reads while show_undo_redo is off: empty it each
   * tick, so a page left open does not grow by one entry a tick for as long as it stays open. */
  function forgetUndoHistory(store) {
    const history = store && store.getState().history;
    if (history && history.past.length) {
      history.past.length = 0;
    }
  }

  const api = {
    MAX_ALARM_ROWS: MAX_ALARM_ROWS, newWindowState: newWindowState, localStamp: localStamp, formatValue: formatValue,
    localMs: localMs, SEVERITY_COLOR: SEVERITY_COLOR, severityText: severityText,
    ingest: ingest, chartFigure: chartFigure, zoomedRange: zoomedRange, plotColumns: plotColumns,
    alarmText: alarmText, alarmRows: alarmRows, alarmTransaction: alarmTransaction, sliderRange: sliderRange,
    valueRange: valueRange,
    computeKpis: computeKpis, streamStatus: streamStatus, thresholdsOf: thresholdsOf, errorText: errorText,
    historyHref: historyHref, forgetUndoHistory: forgetUndoHistory, changedOnly: changedOnly,
  };
  if (typeof module !== "undefined" && module.exports) {
    module.exports = api;
    return;
  }
  root.LineWatch = api;  // for assets/linewatch_alarms.js, which Dash loads after this file

  /* ---- Dash wiring (browser only) ---- */
  const view = newWindowState();
  let clientError = "";

  function noUpdate() {
    return root.dash_clientside.no_update;
  }

  /* Draw the chart from the window state with one Plotly.react: on every tick, slider or theme
   * change, and when the operator zooms or pans (the readings to draw depend on the x range).
   * Until dcc.Graph has drawn its figure once (plotly loads after the page), the next tick draws. */
  let chartInputs = null;
  let liveShown = true;  // false while the chart shows a range of the history (assets/linewatch_range.js)

  function drawChart() {
    const plot = document.querySelector("#chart .js-plotly-plot");
    if (!liveShown || !chartInputs || !plot || !plot.data || !root.Plotly) {
      return;
    }
    const c = chartInputs;
    const figure = chartFigure(c.template, view, c.thresholds, c.dark, c.labels, c.unit,
                               {range: zoomedRange(plot.layout.xaxis), columns: plotColumns(plot)});
    root.Plotly.react(plot, figure.data, figure.layout);
    if (!plot.lwRedrawsOnZoom) {
      plot.lwRedrawsOnZoom = true;
      plot.on("plotly_relayout", function (change) {
        if (Object.keys(change).some(function (key) { return key.startsWith("xaxis."); })) {
          guarded(0, drawChart)();
        }
      });
    }
  }

  /* Live streaming in the chart on or off; the window keeps taking ticks meanwhile, so it comes
   * back as it would have been. */
  api.showLive = function (on) {
    if (on !== liveShown) {
      liveShown = on;
      guarded(0, drawChart)();
    }
  };

  /* Run a view; on an exception, show it in the banner and leave the outputs as they are. */
  function guarded(outputs, fn) {
    return function () {
      try {
        return fn.apply(null, arguments);
      } catch (err) {
        clientError = String(err && err.message || err);
        console.warn("LineWatch view failed:", err);
        return Array(outputs).fill(noUpdate());
      }
    };
  }

  root.dash_clientside = Object.assign({}, root.dash_clientside, {
    linewatch: {
      cursor: function (tick) {
        return tick && !tick.error ? tick.cursor : noUpdate();
      },
      chart: guarded(1, function (tick, probThreshold, valueThreshold, dark, figure, labels, line, overlayHidden) {
        ingest(view, tick, Date.now());
        chartInputs = {template: figure, thresholds: thresholdsOf(probThreshold, valueThreshold), dark: dark,
                       labels: labels, unit: line.unit};
        drawChart();
        // the "waiting for data" overlay hides
        return changedOnly([view.seq.length > 0 || !liveShown], [overlayHidden], noUpdate());
      }),
      alarms: guarded(2, function (tick, labels) {
        ingest(view, tick, Date.now());
        if (view.tableCursor === null) {
          return [alarmRows(view, labels), noUpdate()];
        }
        return [noUpdate(), alarmTransaction(view, labels) || noUpdate()];
      }),
      valueRange: guarded(4, function (tick, min, max, value, line) {
        ingest(view, tick, Date.now());
        const next = valueRange(view, line, {min: min, max: max, value: value});
        return next ? [next.min, next.max, next.step, next.marks] : Array(4).fill(noUpdate());
      }),
      kpis: function (tick, _n, probThreshold, valueThreshold, paused, periodMs, labels, ...shown) {
        try {
          forgetUndoHistory(root.store);
          ingest(view, tick, Date.now());
          const k = computeKpis(view, thresholdsOf(probThreshold, valueThreshold), paused, periodMs, Date.now(), labels);
          const error = errorText(view, labels, clientError);
          return changedOnly([k.value, k.delta, k.anomalies, k.defectRate, k.defectRateNote, k.throughput, k.statusText,
                              "lw-kpi lw-status-" + k.status, k.source, error, Boolean(error)], shown, noUpdate());
        } catch (err) {
          console.warn("LineWatch KPIs failed:", err);
          return Array(9).fill(noUpdate()).concat([labels.error_prefix + ": " + err.message, true]);
        }
      },
      historyLinks: guarded(2, function (tick, csvHref, parquetHref) {
        ingest(view, tick, Date.now());
        if (!liveShown) {
          return [noUpdate(), noUpdate()];  // they export the range the chart shows
        }
        return [historyHref(view, csvHref), historyHref(view, parquetHref)];
      }),
      pause: function (clicks, labels) {
        const paused = clicks % 2 === 1;
        return [paused, paused, paused ? labels.resume : labels.pause];
      },
      theme: function (dark) {
        const mode = dark ? "dark" : "light";
        document.documentElement.setAttribute("data-bs-theme", mode);
        document.documentElement.setAttribute("data-ag-theme-mode", mode);
        return mode;
      },
    },
  });
  root.dashAgGridFunctions = Object.assign({}, root.dashAgGridFunctions, {
    LineWatchValue: function (value, unit) {
      return typeof value === "number" ? withUnit(formatValue(value), unit) : "";
    },
    LineWatchTime: function (ts) {
      return typeof ts === "number" ? localStamp(ts) : "";
    },
  });
})(typeof window !== "undefined" ? window : globalThis);
