/*
 * Looking back on a line's page (callbacks/time_range.py): the picker writes the range into the
 * address; a range pauses live streaming in the chart (assets/linewatch.js showLive) and draws
 * the range from GET api/v1/points at the resolution the server picks (raw, per minute, per
 * hour; at most about two points per pixel, spikes kept), with the range's alarms from
 * GET api/v1/alarms as markers and shaded spans.  Zooming or panning past what is loaded, or in
 * far enough for a finer resolution, loads the shown span.  Live draws the window again.
 * Pure functions are tested in tests/js.
 */
(function (root) {
  "use strict";

  const lw = typeof module !== "undefined" && module.exports ? require("./linewatch.js") : root.LineWatch;

  const LIVE = "live";
  const CALENDAR = "calendar";
  const PRESET_S = {"1h": 3600, "1d": 86400, "7d": 7 * 86400, "30d": 30 * 86400};
  const POINTS_PER_PX = 2;
  const MARGIN = 0.25;  // a zoom loads this share of the shown span beyond each side, for panning
  const MAX_POINTS = 10000;
  const MAX_ALARMS = 1000;
  const ALARM_TRACE = 3;  // trace order: layouts/chart.py

  /* Epoch seconds of local midnight starting ISO day `iso` ("YYYY-MM-DD"), plus `days` days. */
  function localDay(iso, days) {
    const [y, m, d] = iso.slice(0, 10).split("-").map(Number);
    return new Date(y, m - 1, d + (days || 0)).getTime() / 1000;
  }

  /* [from, to] in epoch seconds: a preset up to `nowMs`, calendar days from the first's local
   * midnight to the end of the last. */
  function rangeBounds(range, nowMs) {
    if (range.mode === CALENDAR) {
      return [localDay(range.start), localDay(range.end, 1)];
    }
    const now = nowMs / 1000;
    return [now - PRESET_S[range.mode], now];
  }

  /* The range the picker names, or null while the calendar lacks a day. */
  function pickedRange(mode, start, end) {
    if (mode !== CALENDAR) {
      return {mode: mode, start: null, end: null, problem: ""};
    }
    if (!start || !end) {
      return null;
    }
    const days = [start.slice(0, 10), end.slice(0, 10)].sort();
    return {mode: mode, start: days[0], end: days[1], problem: ""};
  }

  function sameRange(a, b) {
    return Boolean(a && b) && a.mode === b.mode && a.start === b.start && a.end === b.end;
  }

  /* The address's query string with `range` in it (callbacks/time_range.py reads it), other keys kept. */
  function rangeSearch(search, range) {
    const query = new URLSearchParams(search || "");
    for (const key of ["range", "from", "to"]) {
      query.delete(key);
    }
    if (range.mode === CALENDAR) {
      query.set("from", range.start);
      query.set("to", range.end);
    } else if (range.mode !== LIVE) {
      query.set("range", range.mode);
    }
    const text = query.toString();
    return text ? "?" + text : "";
  }

  /* Chart x (linewatch.js localMs) back to epoch seconds. */
  function epochOf(x) {
    return x / 1000;
  }

  /* True when the shown span [a, b] (epoch s) reaches past the loaded one, or is at most half of
   * it while that was answered coarser than raw (a finer resolution is there to load). */
  function needsFetch(loaded, shown) {
    if (shown[0] < loaded.from || shown[1] > loaded.to) {
      return true;
    }
    const coarse = loaded.downsampled || loaded.source !== "raw";
    return coarse && 2 * (shown[1] - shown[0]) <= loaded.to - loaded.from;
  }

  /* The span to load for the shown span: MARGIN of it beyond each side. */
  function spanToLoad(shown) {
    const margin = (shown[1] - shown[0]) * MARGIN;
    return [shown[0] - margin, shown[1] + margin];
  }

  /* About POINTS_PER_PX points per pixel column over the span to load. */
  function maxPoints(columns, loadSpan, shownSpan) {
    const wanted = Math.round(POINTS_PER_PX * columns * loadSpan / shownSpan);
    return Math.max(100, Math.min(MAX_POINTS, wanted));
  }

  function apiUrl(prefix, path, params) {
    return prefix + path + "?" + new URLSearchParams(params).toString();
  }

  /* An export link (its line kept) for [from, to]. */
  function exportHref(href, bounds) {
    const parts = href.split("?");
    const query = new URLSearchParams(parts[1] || "");
    query.set("from", bounds[0].toFixed(3));
    query.set("to", bounds[1].toFixed(3));
    return parts[0] + "?" + query.toString();
  }

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (whole, name) {
      return Object.prototype.hasOwnProperty.call(values, name) ? values[name] : whole;
    });
  }

  function resolutionText(source, labels) {
    return labels["resolution_" + source] || source;
  }

  function rangeName(range, labels) {
    return range.mode === CALENDAR ? range.start + " – " + range.end : labels["range_" + range.mode];
  }

  /* "YYYY-MM-DD HH:MM" local, the day left out of `to` when it is `from`'s. */
  function spanText(from, to) {
    const a = lw.localStamp(from).slice(0, 16);
    const b = lw.localStamp(to).slice(0, 16);
    return a + " – " + (a.slice(0, 10) === b.slice(0, 10) ? b.slice(11) : b);
  }

  /* What the chart shows, in words: the range, the loaded span (for calendar days only once a
   * zoom loaded another than `bounds`), readings in it, resolution, points drawn when
   * downsampled, the range's alarms; and that the chart is paused on it. */
  function rangeStatus(range, bounds, loaded, alarmCount, labels, lang) {
    const locale = lang === "zh" ? "zh-CN" : "en-US";
    const days = range.mode === CALENDAR && loaded.from === bounds[0] && loaded.to === bounds[1];
    const head = days ? "" : rangeName(range, labels) + " · ";
    const span = days ? rangeName(range, labels) : spanText(loaded.from, loaded.to);
    let text;
    if (!loaded.readings) {
      text = head + span + ": " + labels.range_empty;
    } else {
      text = fill(labels.range_shown, {head: head, span: span, count: loaded.readings.toLocaleString(locale),
                                       resolution: resolutionText(loaded.source, labels)});
      if (loaded.downsampled) {
        text += fill(labels.range_drawn, {points: loaded.points.ts.length.toLocaleString(locale)});
      }
    }
    return text + " · " + fill(labels.range_alarms, {n: alarmCount}) + " — " + labels.range_paused;
  }

  /* The loaded points as linewatch.js window state, for its chartFigure. */
  function rangeState(points) {
    const n = points.ts.length;
    const state = {seq: new Float64Array(n), ts: Float64Array.from(points.ts), x: new Float64Array(n),
                   value: Float64Array.from(points.value), prob: Float64Array.from(points.prob), alarms: [], spc: null};
    for (let i = 0; i < n; i++) {
      state.seq[i] = i;
      state.x[i] = lw.localMs(points.ts[i]);
    }
    return state;
  }

  function alarmColor(alarm) {
    return lw.SEVERITY_COLOR[alarm.severity === "critical" ? "critical" : "warning"];
  }

  function alarmHover(alarm, labels) {
    return labels.priority_short.replace("{n}", alarm.priority) + " · " + alarm.rule + " · " +
      lw.severityText(alarm.severity, labels) + ": " + lw.alarmText(alarm, labels);
  }

  /* Markers at the readings that raised the alarms (API records) raised within [x0, x1] (chart x). */
  function alarmMarkers(alarms, labels, x0, x1) {
    const markers = {x: [], y: [], text: [], color: []};
    for (const alarm of alarms) {
      const x = lw.localMs(alarm.raised_ts);
      if (x >= x0 && x <= x1) {
        markers.x.push(x);
        markers.y.push(alarm.value);
        markers.text.push(alarmHover(alarm, labels));
        markers.color.push(alarmColor(alarm));
      }
    }
    return markers;
  }

  /* A faint band over each alarm's active time, from its raise to its return (`untilS` while active). */
  function alarmSpans(alarms, untilS) {
    return alarms.map(function (alarm) {
      return {type: "rect", name: "alarm-span", xref: "x", yref: "paper", y0: 0, y1: 1, layer: "below",
              x0: lw.localMs(alarm.raised_ts), x1: lw.localMs(alarm.returned_ts || untilS),
              fillcolor: alarmColor(alarm), opacity: 0.12, line: {width: 0}};
    });
  }

  /* The figure of a loaded range: linewatch.js's chart of the loaded points (at most a few per
   * pixel column of the shown span, thresholds, theme), the range's alarms, and the x axis on
   * `view.shown` ([x0, x1] chart x) under `view.revision` (a new pick forgets the operator's zoom). */
  function rangeFigure(template, loaded, alarms, inputs, view) {
    const state = rangeState(loaded.points);
    const loadedSpan = lw.localMs(loaded.to) - lw.localMs(loaded.from);
    const columns = view.columns * Math.max(1, loadedSpan / (view.shown[1] - view.shown[0]));
    const figure = lw.chartFigure(template, state, inputs.thresholds, inputs.dark, inputs.labels, inputs.unit,
                                  {range: null, columns: columns});
    const markers = alarmMarkers(alarms, inputs.labels, view.shown[0], view.shown[1]);
    figure.data[0] = Object.assign({}, figure.data[0], {name: inputs.labels.axis_value});  // not the live stream
    const trace = figure.data[ALARM_TRACE];
    figure.data[ALARM_TRACE] = Object.assign({}, trace, {x: markers.x, y: markers.y, text: markers.text,
                                                         marker: Object.assign({}, trace.marker, {color: markers.color})});
    figure.layout = Object.assign({}, figure.layout, {
      uirevision: view.revision,
      xaxis: Object.assign({}, figure.layout.xaxis, {range: view.shown, autorange: false}),
      shapes: figure.layout.shapes.concat(alarmSpans(alarms, loaded.to)),
    });
    return figure;
  }

  const api = {
    rangeBounds: rangeBounds, pickedRange: pickedRange, sameRange: sameRange, rangeSearch: rangeSearch,
    epochOf: epochOf, needsFetch: needsFetch, spanToLoad: spanToLoad, maxPoints: maxPoints, exportHref: exportHref,
    resolutionText: resolutionText, rangeStatus: rangeStatus, alarmMarkers: alarmMarkers, rangeFigure: rangeFigure,
  };
  if (typeof module !== "undefined" && module.exports) {
    module.exports = api;
    return;
  }

  /* ---- Dash wiring (browser only) ---- */
  /* The shown range: its key (line and pick), bounds (epoch s), the loaded answer, the span asked
   * for while it is on its way, its alarms, the latest request's number, the chart's uirevision. */
  const session = {key: null, bounds: null, loaded: null, pending: null, alarms: [], request: 0, revision: 0};

  function noUpdate() {
    return root.dash_clientside.no_update;
  }

  function chartPlot() {
    return document.querySelector("#chart .js-plotly-plot");
  }

  /* Until dcc.Graph has drawn once (plotly loads after the page); null after 10 s. */
  async function plotReady() {
    for (let waited = 0; waited < 10000; waited += 50) {
      const plot = chartPlot();
      if (plot && plot.data && root.Plotly) {
        return plot;
      }
      await new Promise(function (resolve) { setTimeout(resolve, 50); });
    }
    return null;
  }

  async function getJson(url) {
    const response = await fetch(url, {credentials: "same-origin", headers: {Accept: "application/json"}});
    let body = null;
    try {
      body = await response.json();
    } catch (notJson) {
      body = null;
    }
    if (!response.ok || !body) {
      throw new Error(body && body.error ? body.error : response.status + " " + response.statusText);
    }
    return body;
  }

  /* The x span the chart shows (epoch s): the operator's zoom, else the picked range. */
  function shownSpan(plot) {
    const zoomed = plot && lw.zoomedRange(plot.layout.xaxis);
    return zoomed ? zoomed.map(epochOf) : session.bounds;
  }

  function draw(plot, inputs) {
    const shown = shownSpan(plot);
    const figure = rangeFigure(inputs.template, session.loaded, session.alarms, inputs,
                               {shown: shown.map(lw.localMs), columns: lw.plotColumns(plot), revision: "range-" + session.revision});
    root.Plotly.react(plot, figure.data, figure.layout);
  }

  function triggeredBy(prop) {
    const context = root.dash_clientside.callback_context;
    return Boolean(context && context.triggered && context.triggered.some(function (t) { return t.prop_id === prop; }));
  }

  /* True when a relayout moved the x axis (a zoom, pan or autorange; not a resize). */
  function movesX(relayout) {
    return Boolean(relayout) && Object.keys(relayout).some(function (key) { return key.startsWith("xaxis."); });
  }

  /* Live: the window's chart again.  A range: load it (new pick) or the span a zoom or pan needs,
   * draw it, and say what the chart shows; the export links take the picked range. */
  async function show(range, relayout, probThreshold, valueThreshold, dark, template, labels, line, lineId, prefix,
                      lang, csvHref, parquetHref) {
    const unchanged = Array(5).fill(noUpdate());
    if (!range || range.mode === LIVE) {
      const plot = chartPlot();
      if (session.key !== null && plot && root.Plotly) {  // the live window, on its own axes again
        await root.Plotly.relayout(plot, {"xaxis.autorange": true, "yaxis.autorange": true});
      }
      session.key = null;
      lw.showLive(true);
      if (triggeredBy("chart.relayoutData")) {
        return unchanged;  // the live chart redraws itself on zoom
      }
      return [range && range.problem || labels.range_live_note,
              "lw-range-status" + (range && range.problem ? " lw-range-error" : ""),
              noUpdate(), noUpdate(), labels.history];
    }
    lw.showLive(false);
    const inputs = {template: template, thresholds: lw.thresholdsOf(probThreshold, valueThreshold), dark: dark,
                    labels: labels, unit: line.unit};
    const key = JSON.stringify([lineId, range.mode, range.start, range.end]);
    let alarmsToo = false;
    let want = null;
    if (key !== session.key) {  // a new pick: the whole range and its alarms, the zoom forgotten
      Object.assign(session, {key: key, bounds: rangeBounds(range, Date.now()), loaded: null,
                              pending: null, alarms: [], revision: session.revision + 1});
      want = session.bounds;
      alarmsToo = true;
    } else if (triggeredBy("chart.relayoutData") && movesX(relayout)) {
      const shown = shownSpan(chartPlot());
      if (needsFetch(session.loaded || session.pending, shown)) {
        want = spanToLoad(shown);
      }
    }
    const plot = await plotReady();
    if (!plot) {
      return unchanged;
    }
    if (!want) {  // thresholds, theme or a zoom within what is loaded: draw again
      if (session.loaded) {
        draw(plot, inputs);
      }
      return unchanged;
    }
    const request = ++session.request;
    session.pending = {from: want[0], to: want[1], source: "raw", downsampled: true};  // until it answers
    const shown = shownSpan(plot);
    const common = {line: lineId, from: want[0].toFixed(3), to: want[1].toFixed(3)};
    let points;
    try {
      [points] = await Promise.all([
        getJson(apiUrl(prefix, "api/v1/points", Object.assign({
          max_points: maxPoints(lw.plotColumns(plot), want[1] - want[0], shown[1] - shown[0])}, common))),
        alarmsToo ? getJson(apiUrl(prefix, "api/v1/alarms", {line: lineId, from: session.bounds[0].toFixed(3),
                                                              to: session.bounds[1].toFixed(3), limit: MAX_ALARMS}))
          .then(function (answer) {
            if (session.key === key) {  // the range's alarms, whichever span loads meanwhile
              session.alarms = answer.alarms;
            }
          })
          : null,
      ]);
    } catch (err) {
      if (request !== session.request) {
        return unchanged;
      }
      if (!session.loaded) {  // the range's axis, empty, rather than the live window under its name
        session.loaded = {from: want[0], to: want[1], source: "raw", downsampled: false, readings: 0,
                          points: {ts: [], value: [], prob: []}};
        draw(plot, inputs);
      }
      return [fill(labels.range_error, {error: err.message}), "lw-range-status lw-range-error",
              noUpdate(), noUpdate(), labels.history_range];
    }
    if (request !== session.request) {
      return unchanged;  // a later pick or zoom supersedes this answer
    }
    session.loaded = Object.assign({}, points, {from: want[0], to: want[1]});
    draw(plot, inputs);
    return [rangeStatus(range, session.bounds, session.loaded, session.alarms.length, labels, lang), "lw-range-status",
            exportHref(csvHref, session.bounds), exportHref(parquetHref, session.bounds), labels.history_range];
  }

  root.dash_clientside = Object.assign({}, root.dash_clientside, {
    linewatchRange: {
      pick: function (mode, start, end, search, current) {
        const hidden = mode !== CALENDAR;
        const range = pickedRange(mode, start, end);
        if (!range || sameRange(range, current) || (mode === LIVE && current && current.mode === LIVE)) {
          return [noUpdate(), noUpdate(), hidden];  // (Live keeps the address's problem, if it had one)
        }
        const next = rangeSearch(search, range);
        return [next === (search || "") ? noUpdate() : next, range, hidden];
      },
      show: function () {
        return show.apply(null, arguments).catch(function (err) {
          console.warn("LineWatch range failed:", err);
          return [String(err && err.message || err), "lw-range-status lw-range-error"].concat(Array(3).fill(noUpdate()));
        });
      },
    },
  });
})(typeof window !== "undefined" ? window : globalThis);
