/*
 * LineWatch browser side: the tick's delta (points after this browser's cursor, with the alarms
 * they raised) is fanned out to the chart (extendData), the alarm table (rowTransaction), the
 * value slider's range and the KPI cards.  The browser holds the current window, so a threshold
 * change re-highlights it here, without a server call.  Pure functions take the window state
 * explicitly (tests/js).
 */
(function (root) {
  "use strict";

  const MAX_ALARM_ROWS = 200;
  const RECENT_S = 300;
  const STALE_PERIODS = 3;
  const WINDOW_KEYS = ["seq", "ts", "x", "value", "prob"];

  /* Chart trace order, a contract with layouts/chart.py: value, defect probability, anomaly
   * markers, alarm markers.  The marker traces are dense (null where nothing is marked), so
   * extendData's maxPoints trims all four alike. */
  const TRACES = [0, 1, 2, 3];
  const SEVERITY_COLOR = {warning: "#9a6200", critical: "#b3261e"};

  function newWindowState() {
    return {at: null, cursor: null, window: 0, seq: [], ts: [], x: [], value: [], prob: [],
            alarms: [], spc: null, rate: 0, source: "starting", message: "", rejected: 0, error: "",
            store: "ok", history: "", lastTickAt: null, lastNewAt: null, chartCursor: null, chartSpc: null,
            tableCursor: null, tableIds: [], rangeCursor: null};
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
    const seq = tick.ts.map(function (_, i) { return tick.first + i; });  // ids are contiguous
    let first = 0;
    let alarms = tick.alarms || [];
    if (tick.reset) {
      state.window = tick.window;
      for (const key of WINDOW_KEYS) {
        state[key] = [];
      }
      state.alarms = [];
      state.spc = null;
      state.chartCursor = null;
      state.tableCursor = null;
      state.rangeCursor = null;
    } else {
      const cursor = state.cursor;
      while (first < seq.length && cursor !== null && seq[first] <= cursor) {
        first += 1;
      }
      alarms = alarms.filter(function (alarm) { return cursor === null || alarm.seq > cursor; });
    }
    if (tick.spc) {
      state.spc = tick.spc;
    }
    if (first < seq.length) {
      const ts = tick.ts.slice(first);
      state.seq = state.seq.concat(seq.slice(first));
      state.ts = state.ts.concat(ts);
      state.x = state.x.concat(ts.map(localStamp));
      state.value = state.value.concat(tick.value.slice(first));
      state.prob = state.prob.concat(tick.prob.slice(first));
      state.lastNewAt = nowMs;
    }
    const excess = state.seq.length - state.window;
    if (excess > 0) {
      for (const key of WINDOW_KEYS) {
        state[key] = state[key].slice(excess);
      }
    }
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

  function anomalyY(state, thresholds, from) {
    const y = [];
    for (let i = from; i < state.seq.length; i++) {
      y.push(isAnomaly(state.value[i], state.prob[i], thresholds) ? state.value[i] : null);
    }
    return y;
  }

  /* The alarm marker trace's columns for the window's points from index `from`: the reading's
   * value, hover text (rule and message) and colour (severity) where an alarm was raised, null elsewhere. */
  function alarmMarkers(state, from, labels) {
    const bySeq = new Map();
    for (const alarm of state.alarms) {
      bySeq.set(alarm.seq, (bySeq.get(alarm.seq) || []).concat([alarm]));
    }
    const y = [];
    const text = [];
    const color = [];
    for (let i = from; i < state.seq.length; i++) {
      const here = bySeq.get(state.seq[i]);
      if (!here) {
        y.push(null);
        text.push("");
        color.push(null);
        continue;
      }
      const critical = here.some(function (alarm) { return alarm.severity === "critical"; });
      y.push(state.value[i]);
      text.push(here.map(function (alarm) {
        return alarm.rule + " · " + severityText(alarm.severity, labels) + ": " + alarmText(alarm, labels);
      }).join("<br>"));
      color.push(SEVERITY_COLOR[critical ? "critical" : "warning"]);
    }
    return {y: y, text: text, color: color};
  }

  /* extendData for the points the chart has not drawn yet, or null. */
  function chartExtension(state, thresholds, labels) {
    const from = indicesAfter(state, state.chartCursor);
    if (from >= state.seq.length) {
      return null;
    }
    const x = state.x.slice(from);
    const value = state.value.slice(from);
    const prob = state.prob.slice(from);
    const alarms = alarmMarkers(state, from, labels);
    state.chartCursor = state.cursor;
    return [
      {x: [x, x.slice(), x.slice(), x.slice()], y: [value, prob, anomalyY(state, thresholds, from), alarms.y],
       "marker.color": [prob.slice(), prob.slice(), prob.slice(), alarms.color], text: [[], [], [], alarms.text]},
      TRACES,
      state.window,
    ];
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

  /* The whole figure from the window state: on a reset, a threshold, theme or SPC change.
   * Shapes and annotations named "value-threshold" and "prob-threshold" follow the sliders,
   * those named "spc-*" are the tick's control lines, the others (specification limits) stay. */
  function rebuildFigure(figure, state, thresholds, dark, labels, unit) {
    const data = figure.data.map(function (trace) { return Object.assign({}, trace); });
    const prob = state.prob.slice();
    const alarms = alarmMarkers(state, 0, labels);
    const ys = [state.value.slice(), prob, anomalyY(state, thresholds, 0), alarms.y];
    const colors = [prob.slice(), prob.slice(), prob.slice(), alarms.color];
    for (const i of TRACES) {
      data[i].x = state.x.slice();
      data[i].y = ys[i];
      data[i].marker = Object.assign({}, data[i].marker, {color: colors[i]});
      data[i].text = i === 3 ? alarms.text : [];
    }
    const layout = Object.assign({}, figure.layout);
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
    state.chartCursor = state.cursor;
    state.chartSpc = state.spc;
    return {data: data, layout: layout};
  }

  /* True when the SPC lines of the tick differ from those drawn (the figure must be rebuilt). */
  function spcChanged(state) {
    return JSON.stringify(state.spc) !== JSON.stringify(state.chartSpc);
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
    const known = [line.lsl, line.usl, range.value].filter(function (v) { return typeof v === "number"; });
    const all = extent(state.value.concat(known));
    return sliderRange(all.lo, all.hi);
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
    ingest: ingest, chartExtension: chartExtension, rebuildFigure: rebuildFigure, spcChanged: spcChanged,
    alarmText: alarmText, alarmRows: alarmRows, alarmTransaction: alarmTransaction, sliderRange: sliderRange,
    valueRange: valueRange,
    computeKpis: computeKpis, streamStatus: streamStatus, thresholdsOf: thresholdsOf, errorText: errorText,
    historyHref: historyHref, forgetUndoHistory: forgetUndoHistory,
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

  function triggered(id) {
    const context = root.dash_clientside.callback_context;
    return (context.triggered || []).some(function (t) { return t.prop_id.split(".")[0] === id; });
  }

  function firstCall() {
    const context = root.dash_clientside.callback_context;
    return !(context.triggered || []).length || context.triggered[0].prop_id === ".";
  }

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
      chart: guarded(3, function (tick, probThreshold, valueThreshold, dark, figure, labels, line) {
        ingest(view, tick, Date.now());
        const thresholds = thresholdsOf(probThreshold, valueThreshold);
        const waitingHidden = view.seq.length > 0;
        const rebuild = firstCall() || view.chartCursor === null || spcChanged(view) ||
          triggered("prob-threshold") || triggered("value-threshold") || triggered("theme-switch");
        if (rebuild) {
          return [rebuildFigure(figure, view, thresholds, dark, labels, line.unit), noUpdate(), waitingHidden];
        }
        const extension = chartExtension(view, thresholds, labels);
        return [noUpdate(), extension || noUpdate(), waitingHidden];
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
      kpis: function (tick, _n, probThreshold, valueThreshold, paused, periodMs, labels) {
        try {
          forgetUndoHistory(root.store);
          ingest(view, tick, Date.now());
          const k = computeKpis(view, thresholdsOf(probThreshold, valueThreshold), paused, periodMs, Date.now(), labels);
          const error = errorText(view, labels, clientError);
          return [k.value, k.delta, k.anomalies, k.defectRate, k.defectRateNote, k.throughput, k.statusText,
                  "lw-kpi lw-status-" + k.status, k.source, error, Boolean(error)];
        } catch (err) {
          console.warn("LineWatch KPIs failed:", err);
          return Array(9).fill(noUpdate()).concat([labels.error_prefix + ": " + err.message, true]);
        }
      },
      historyLinks: guarded(2, function (tick, csvHref, parquetHref) {
        ingest(view, tick, Date.now());
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
