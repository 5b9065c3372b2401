/*
 * LineWatch push transport (LINEWATCH_TRANSPORT=push only; other pages do not load it).
 *
 * The server streams each page's tick as Server-Sent Events (app/stream.py).  One EventSource per
 * page feeds the very store the page's Interval fills when polling (dash_clientside.set_props), so
 * the chart, KPI cards and alarm table take the same ticks either way.  The Interval stays in the
 * page and polls whenever the stream does not deliver: until its first event, while the browser
 * reconnects it (with Last-Event-ID), after it was refused, and when it went quiet (QUIET_MS).  Each
 * event turns the Interval off again.  A refused or quiet stream is opened again after RETRY_MS,
 * twice as long after each failure up to RETRY_MAX_MS, so a tab comes back to push by itself (a
 * server restart, a proxy that answered 502 meanwhile).  The header says which transport the page uses.
 *
 * Over HTTP/1.1 a browser opens at most 6 connections to a host, and each stream holds one: so the
 * tabs of one browser share STREAM_SLOTS streams (Web Locks, where the browser has them: https or
 * localhost); a tab that finds none free polls and asks again at its next retry.
 *
 * Timers are late when the page is busy (a slow machine loading plotly): a check that comes late
 * judges nothing, since the events it would wait for may be queued behind it.
 *
 * `window.linewatchPush.mode()` says "push" or "polling".
 */
(function () {
  "use strict";

  const QUIET_MS = 12000;  // ticks come every period (at most 5 s)
  const RETRY_MS = 5000;
  const RETRY_MAX_MS = 60000;
  const WATCH_MS = 250;  // how often the address, the page's components and the stream are looked at
  const LATE_MS = 4 * WATCH_MS;  // a look this late after the previous one judges no silence
  // Component ids (layouts/ids.py): each page's tick store and Interval; the header's note.
  const PAGES = {
    line: {tick: "tick", interval: "tick-interval"},
    overview: {tick: "overview-tick", interval: "overview-interval"},
  };
  const NOTE = "transport";
  const STREAM_SLOTS = 3;

  let stream = null;  // the page's: {key, page, query, source, release, mode, since, retryAt, backoff}
  let lastWatch = 0;

  /* Call start(release) holding one of STREAM_SLOTS locks (release() frees it), or start(null) when
   * every slot is taken by other tabs.  Without Web Locks: start with a release that does nothing. */
  function withSlot(start) {
    if (!navigator.locks) {
      start(function () {});
      return;
    }
    let slot = 0;
    (function next() {
      if (slot >= STREAM_SLOTS) {
        start(null);
        return;
      }
      navigator.locks.request("linewatch-stream-" + slot++, {ifAvailable: true}, function (lock) {
        if (!lock) {
          next();
          return null;
        }
        return new Promise(function (resolve) { start(resolve); });  // held until released
      });
    })();
  }

  function prefix() {
    const node = document.getElementById("_dash-config");
    try {
      return JSON.parse(node.textContent).requests_pathname_prefix || "/";
    } catch (err) {
      return "/";
    }
  }

  /* The channel the address names: {key, page, query}, or null for a page without a stream. */
  function channelOf(pathname, base) {
    if (pathname === base || pathname + "/" === base) {
      return {key: "overview", page: PAGES.overview, query: "overview"};
    }
    if (pathname.startsWith(base + "line/")) {
      const line = decodeURIComponent(pathname.slice(base.length + "line/".length).split("/")[0]);
      return line ? {key: "line:" + line, page: PAGES.line, query: "line=" + encodeURIComponent(line), line} : null;
    }
    return null;
  }

  /* The component `id` as Dash's renderer holds it, or undefined while it is not in the layout. */
  function layoutOf(id) {
    const api = window.dash_component_api;
    try {
      return api && api.getLayout ? api.getLayout(id) : undefined;
    } catch (err) {
      return undefined;  // the renderer's lookup fails for an id it has no path for
    }
  }

  /* Whether the page the channel needs is in the layout (the address changes before the page does). */
  function pageReady(channel) {
    if (!layoutOf(channel.page.tick)) {
      return false;
    }
    const line = layoutOf("line-id");
    return channel.line === undefined || (line && line.props && line.props.data === channel.line);
  }

  function setProps(id, props) {
    if (layoutOf(id) && window.dash_clientside && window.dash_clientside.set_props) {
      window.dash_clientside.set_props(id, props);
    }
  }

  /* Take ticks from the stream ("push") or from the Interval ("polling"), and say so in the header. */
  function use(mine, mode) {
    if (mine.mode === mode) {
      return;
    }
    mine.mode = mode;
    setProps(mine.page.interval, {disabled: mode === "push"});
    const note = document.getElementById(NOTE);
    if (note) {
      setProps(NOTE, {children: mode === "push" ? note.dataset.push : note.dataset.polling});
    }
  }

  /* Close the stream (if any) and free its slot. */
  function end(ending) {
    if (ending.source) {
      ending.source.close();
      ending.source = null;
    }
    if (ending.release) {
      ending.release();
      ending.release = null;
    }
  }

  /* The stream failed (refused, quiet, or no slot free): poll, and open it again after the backoff. */
  function retryLater(mine) {
    end(mine);
    use(mine, "polling");
    mine.retryAt = Date.now() + mine.backoff;
    mine.backoff = Math.min(2 * mine.backoff, RETRY_MAX_MS);
  }

  function connect(mine) {
    mine.retryAt = Infinity;  // until the slot is settled
    withSlot(function (release) {
      if (stream !== mine) {
        if (release) {
          release();  // the page changed meanwhile
        }
      } else if (release === null) {
        retryLater(mine);  // other tabs of this browser hold every stream
      } else {
        mine.release = release;
        listen(mine, new EventSource(prefix() + "api/v1/stream?" + mine.query));
      }
    });
  }

  function listen(mine, source) {
    mine.source = source;
    mine.since = Date.now();
    source.onmessage = function (event) {
      if (mine.source !== source) {
        return;
      }
      mine.since = Date.now();
      mine.backoff = RETRY_MS;
      use(mine, "push");
      setProps(mine.page.tick, {data: JSON.parse(event.data)});
    };
    source.onerror = function () {
      if (mine.source !== source) {
        return;
      }
      if (source.readyState === EventSource.CLOSED) {
        retryLater(mine);  // refused (an error status, not an event stream): the browser gave up
      } else {
        use(mine, "polling");  // the browser reconnects by itself; the Interval fills in meanwhile
      }
    };
  }

  function open(channel) {
    stream = {key: channel.key, page: channel.page, query: channel.query, source: null, release: null,
              mode: "polling", since: null, retryAt: 0, backoff: RETRY_MS};
  }

  function close() {
    if (stream) {
      end(stream);
    }
    stream = null;
  }

  function watch() {
    const now = Date.now();
    const late = now - lastWatch > LATE_MS;
    lastWatch = now;
    const channel = channelOf(window.location.pathname, prefix());
    if (stream && (!channel || channel.key !== stream.key)) {
      close();  // another page: its own stream (or none)
    }
    if (!stream && channel && pageReady(channel) && typeof EventSource !== "undefined") {
      open(channel);
    }
    if (!stream) {
      return;
    }
    if (stream.source && !late && now - stream.since > QUIET_MS) {
      retryLater(stream);  // no event (not even the first) for too long
    } else if (!stream.source && now >= stream.retryAt) {
      connect(stream);
    }
  }

  setInterval(watch, WATCH_MS);
  window.linewatchPush = {
    mode: function () { return stream ? stream.mode : "polling"; },
  };
})();
