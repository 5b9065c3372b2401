/*
 * LineWatch browser side: the tick's delta (points after this browser's cursor) is fanned
 * out to the chart (extendData), the alert table (rowTransaction) and the KPI cards.
 * The browser holds the current window, so a threshold change re-highlights it here,
 * without a server call.  Pure functions take the window state explicitly (tests/js).
 */
(function (root) {
  "use strict";

  const MAX_ALERT_ROWS = 200;
  const RECENT_S = 300;
  const STALE_PERIODS = 3;

  function newWindowState() {
    return {at: null, cursor: null, window: 0, seq: [], ts: [], x: [], value: [], prob: [],
            rate: 0, source: "starting", message: "", rejected: 0, error: "", store: "ok",
            lastTickAt: null, lastNewAt: null, chartCursor: null, alertCursor: null, alertSeqs: []};
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

  function isAnomaly(value, prob, thresholds) {
    return prob > thresholds.prob && value > thresholds.value;
  }

  function thresholdsOf(probThreshold, valuePercent) {
    return {prob: Number(probThreshold), value: Number(valuePercent) / 100};
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
    if (tick.error) {
      return;
    }
    state.rate = tick.rate;
    state.source = tick.source || "running";
    state.message = tick.message || "";
    state.rejected = tick.rejected || 0;
    const seq = tick.ts.map(function (_, i) { return tick.first + i; });  // ids are contiguous
    let first = 0;
    if (tick.reset) {
      state.window = tick.window;
      for (const key of ["seq", "ts", "x", "value", "prob"]) {
        state[key] = [];
      }
      state.chartCursor = null;
      state.alertCursor = null;
    } else {
      while (first < seq.length && state.cursor !== null && seq[first] <= state.cursor) {
        first += 1;
      }
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
      for (const key of ["seq", "ts", "x", "value", "prob"]) {
        state[key] = state[key].slice(excess);
      }
    }
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

  /* extendData for the points the chart has not drawn yet, or null. */
  function chartExtension(state, thresholds) {
    const from = indicesAfter(state, state.chartCursor);
    if (from >= state.seq.length) {
      return null;
    }
    const x = state.x.slice(from);
    const value = state.value.slice(from);
    const prob = state.prob.slice(from);
    state.chartCursor = state.cursor;
    return [
      {x: [x, x.slice(), x.slice()], y: [value, prob, anomalyY(state, thresholds, from)],
       "marker.color": [prob.slice(), prob.slice(), prob.slice()]},
      [0, 1, 2],
      state.window,
    ];
  }

  const THEME_FONT = {light: "#2b2f33", dark: "#d5d9de"};

  /* The whole figure from the window state: on a reset, a threshold or a theme change. */
  function rebuildFigure(figure, state, thresholds, dark, labels) {
    const data = figure.data.map(function (trace) { return Object.assign({}, trace); });
    const prob = state.prob.slice();
    data[0].x = state.x.slice();
    data[0].y = state.value.slice();
    data[1].x = state.x.slice();
    data[1].y = prob.slice();
    data[2].x = state.x.slice();
    data[2].y = anomalyY(state, thresholds, 0);
    for (const trace of data) {
      trace.marker = Object.assign({}, trace.marker, {color: prob.slice()});
    }
    const layout = Object.assign({}, figure.layout);
    layout.font = Object.assign({}, layout.font, {color: dark ? THEME_FONT.dark : THEME_FONT.light});
    layout.shapes = layout.shapes.map(function (shape, i) {
      const y = i === 0 ? thresholds.value : thresholds.prob;
      return Object.assign({}, shape, {y0: y, y1: y});
    });
    layout.annotations = layout.annotations.map(function (note, i) {
      const y = i === 0 ? thresholds.value : thresholds.prob;
      const label = i === 0 ? labels.line_value_threshold : labels.line_prob_threshold;
      return Object.assign({}, note, {y: y, text: label + " " + y.toFixed(2)});
    });
    state.chartCursor = state.cursor;
    return {data: data, layout: layout};
  }

  function alertRow(state, i, thresholds) {
    return {seq: state.seq[i], ts: state.ts[i], time: state.x[i], value: state.value[i],
            prob: state.prob[i], limit: thresholds.prob};
  }

  /* Rows for every anomaly in the window, newest first (at most MAX_ALERT_ROWS). */
  function alertRows(state, thresholds) {
    const rows = [];
    for (let i = state.seq.length - 1; i >= 0 && rows.length < MAX_ALERT_ROWS; i--) {
      if (isAnomaly(state.value[i], state.prob[i], thresholds)) {
        rows.push(alertRow(state, i, thresholds));
      }
    }
    state.alertSeqs = rows.map(function (row) { return row.seq; }).reverse();
    state.alertCursor = state.cursor;
    return rows;
  }

  /* A rowTransaction adding new anomalies and removing rows past the cap or the window, or null. */
  function alertTransaction(state, thresholds) {
    const from = indicesAfter(state, state.alertCursor);
    state.alertCursor = state.cursor;
    const add = [];
    for (let i = state.seq.length - 1; i >= from; i--) {
      if (isAnomaly(state.value[i], state.prob[i], thresholds)) {
        add.push(alertRow(state, i, thresholds));
      }
    }
    state.alertSeqs = state.alertSeqs.concat(add.map(function (row) { return row.seq; }).reverse());
    const oldest = state.seq.length ? state.seq[0] : Infinity;
    let drop = 0;
    while (drop < state.alertSeqs.length &&
           (state.alertSeqs.length - drop > MAX_ALERT_ROWS || state.alertSeqs[drop] < oldest)) {
      drop += 1;
    }
    const remove = state.alertSeqs.slice(0, drop).map(function (seq) { return {seq: seq}; });
    state.alertSeqs = state.alertSeqs.slice(drop);
    if (!add.length && !remove.length) {
      return null;
    }
    return {add: add, remove: remove, addIndex: 0, async: false};
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
    kpis.value = last.toFixed(3);
    if (n > 1) {
      const delta = last - state.value[n - 2];
      kpis.delta = (delta > 0 ? "▲ +" : delta < 0 ? "▼ " : "") + delta.toFixed(3) + " " + labels.delta;
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

  /* The history export links, for the time range the window covers. */
  function historyHref(state, href) {
    const base = href.split("?")[0];
    if (!state.seq.length) {
      return base;
    }
    return base + "?from=" + state.ts[0] + "&to=" + state.ts[state.ts.length - 1];
  }

  function errorText(state, labels, clientError) {
    if (!clientError && state.store === "unavailable") {
      return labels.error_prefix + ": " + labels.status_unavailable + " — " + state.error;
    }
    const message = clientError || state.error || (state.source === "error" ? state.message : "");
    return message ? labels.error_prefix + ": " + message : "";
  }

  const api = {
    MAX_ALERT_ROWS: MAX_ALERT_ROWS, newWindowState: newWindowState, localStamp: localStamp,
    ingest: ingest, chartExtension: chartExtension, rebuildFigure: rebuildFigure, alertRows: alertRows,
    alertTransaction: alertTransaction, computeKpis: computeKpis, streamStatus: streamStatus,
    thresholdsOf: thresholdsOf, errorText: errorText, historyHref: historyHref,
  };
  if (typeof module !== "undefined" && module.exports) {
    module.exports = api;
    return;
  }

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
      chart: guarded(3, function (tick, probThreshold, valuePercent, dark, figure, labels) {
        ingest(view, tick, Date.now());
        const thresholds = thresholdsOf(probThreshold, valuePercent);
        const waitingHidden = view.seq.length > 0;
        const rebuild = firstCall() || view.chartCursor === null || triggered("prob-threshold") ||
          triggered("value-threshold") || triggered("theme-switch");
        if (rebuild) {
          return [rebuildFigure(figure, view, thresholds, dark, labels), noUpdate(), waitingHidden];
        }
        const extension = chartExtension(view, thresholds);
        return [noUpdate(), extension || noUpdate(), waitingHidden];
      }),
      alerts: guarded(2, function (tick, probThreshold, valuePercent) {
        ingest(view, tick, Date.now());
        const thresholds = thresholdsOf(probThreshold, valuePercent);
        if (view.alertCursor === null || triggered("prob-threshold") || triggered("value-threshold")) {
          return [alertRows(view, thresholds), noUpdate()];
        }
        const transaction = alertTransaction(view, thresholds);
        return [noUpdate(), transaction || noUpdate()];
      }),
      kpis: function (tick, _n, probThreshold, valuePercent, paused, periodMs, labels) {
        try {
          ingest(view, tick, Date.now());
          const k = computeKpis(view, thresholdsOf(probThreshold, valuePercent), paused, periodMs, Date.now(), labels);
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
    LineWatchFixed: function (value, digits) {
      return typeof value === "number" ? value.toFixed(digits) : "";
    },
  });
})(typeof window !== "undefined" ? window : globalThis);
