/*
 * The alarm bar, fed by the tick: unacknowledged alarms by priority, the newest one, and a tone
 * when a new alarm is announced, only once the operator has turned sound on.  The tick carries
 * the alarm book's summary only when it changed (callbacks/tick.py alarm_bar).  Also the gate
 * that lets the alarm panel read its list again only while it is open.  Pure functions are
 * tested in tests/js.
 */
(function (root) {
  "use strict";

  const PRIORITIES = [1, 2, 3, 4];
  const lw = typeof module !== "undefined" && module.exports ? require("./linewatch.js") : root.LineWatch;

  /* Local "HH:MM:SS" of epoch seconds `ts`, with the date unless it is `today` ("YYYY-MM-DD"). */
  function shortStamp(ts, today) {
    const stamp = lw.localStamp(ts).slice(0, 19);
    return stamp.startsWith(today) ? stamp.slice(11) : stamp;
  }

  /* What the bar shows for `summary` (the tick's alarm_bar) on local date `today`: counts, badge
   * classes (coloured only while they count alarms), the newest alarm in words, whether Acknowledge applies. */
  function barView(summary, labels, today) {
    const counts = PRIORITIES.map(function (p) { return summary.unacknowledged[String(p)] || 0; });
    const newest = summary.newest;
    const text = newest ? [labels.priority_short.replace("{n}", newest.priority), newest.line, newest.rule,
      shortStamp(newest.ts, today), lw.alarmText(newest, labels)].join(" · ") : labels.alarm_none;
    return {
      counts: counts.map(String),
      classes: PRIORITIES.map(function (p, i) { return "lw-prio lw-prio-" + p + (counts[i] ? " lw-prio-on" : ""); }),
      newest: text,
      ackDisabled: !newest,
    };
  }

  /* True when `next` announces an alarm `previous` did not (a new newest, or the same one raised
   * or re-alarmed again); never for the first summary a page gets. */
  function announces(previous, next) {
    const now = next && next.newest;
    if (!previous || !now) {
      return false;
    }
    const before = previous.newest;
    return !before || before.id !== now.id || before.announced !== now.announced;
  }

  let audio = null;

  /* A short tone; the AudioContext is made on first use, after the operator turned sound on. */
  function tone() {
    const Context = root.AudioContext || root.webkitAudioContext;
    if (!Context) {
      return;
    }
    audio = audio || new Context();
    const oscillator = audio.createOscillator();
    const gain = audio.createGain();
    oscillator.frequency.value = 880;
    gain.gain.setValueAtTime(0.2, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.4);
    oscillator.connect(gain).connect(audio.destination);
    oscillator.start();
    oscillator.stop(audio.currentTime + 0.4);
  }

  const api = {barView: barView, announces: announces};
  if (typeof module !== "undefined" && module.exports) {
    module.exports = api;
    return;
  }

  /* ---- Dash wiring (browser only) ---- */
  let shown = null;

  root.dash_clientside = Object.assign({}, root.dash_clientside, {
    linewatchAlarms: {
      bar: function (tick, sound, labels) {
        const summary = tick && tick.alarm_bar;
        const noUpdate = root.dash_clientside.no_update;
        if (!summary) {
          return Array(13).fill(noUpdate);
        }
        const fresh = announces(shown, summary);
        if (sound && fresh) {
          tone();
        }
        shown = summary;
        const view = barView(summary, labels, lw.localStamp(Date.now() / 1000).slice(0, 10));
        return [summary.version, summary].concat(view.counts, view.classes,
          [view.newest, view.ackDisabled, fresh ? "" : noUpdate]);  // a new alarm: the last action's word is old
      },
      refresh: function (open) {
        return open ? Date.now() : root.dash_clientside.no_update;
      },
    },
  });
})(typeof window !== "undefined" ? window : globalThis);
