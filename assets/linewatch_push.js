/*
 * LineWatch push transport (LINEWATCH_TRANSPORT=push only; other pages do not load it).
 *
 * The server streams each page's tick as Server-Sent Events (app/stream.py).  One EventSource per
 * page feeds the very store the page's Interval fills when polling (dash_clientside.set_props), so
 * the chart, KPI cards and alarm table take the same ticks either way.  The Interval stays in the
 * page: disabled while the stream delivers, enabled again when the stream cannot connect
 * (CONNECT_MS without a tick, or refused) or goes quiet (QUIET_MS): then the page polls until it
 * is left.  The browser reconnects a dropped stream by itself, with Last-Event-ID.  The header
 * says which transport the page uses.
 *
 * Over HTTP/1.1 a browser opens at most 6 connections to a host, and each stream holds one: so the
 * tabs of one browser share STREAM_SLOTS streams (Web Locks, where the browser has them: https or
 * localhost); a tab that finds none free polls, and the others keep connections for everything else.
 *
 * `window.linewatchPush.mode()` says "push", "polling" or "connecting".
 */
(function () {
  "use strict";

  const CONNECT_MS = 5000;
  const QUIET_MS = 12000;  // ticks come every period (at most 5 s)
  const WATCH_MS = 250;  // how often the address and the page's components are looked at
  // Component ids (layouts/ids.py): each page's tick store and Interval; the header's note.
  const PAGES = {
    line: {tick: "tick", interval: "tick-interval"},
    overview: {tick: "overview-tick", interval: "overview-interval"},
  };
  const NOTE = "transport";
  const STREAM_SLOTS = 3;

  let stream = null;  // {key, page, source, release, mode, opened, last}

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

  function say(mode) {
    stream.mode = mode;
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

  function poll() {
    end(stream);
    setProps(stream.page.interval, {disabled: false});
    say("polling");
  }

  function open(channel) {
    const mine = {key: channel.key, page: channel.page, source: null, release: null, mode: "connecting",
                  opened: null, last: null};
    stream = mine;
    withSlot(function (release) {
      if (stream !== mine) {
        if (release) {
          release();  // the page changed meanwhile
        }
      } else if (release === null) {
        poll();  // other tabs of this browser hold every stream
      } else {
        mine.release = release;
        listen(mine, new EventSource(prefix() + "api/v1/stream?" + channel.query));
      }
    });
  }

  function listen(mine, source) {
    mine.source = source;
    mine.opened = Date.now();
    source.onmessage = function (event) {
      if (stream !== mine) {
        return;
      }
      mine.last = Date.now();
      if (mine.mode !== "push") {
        setProps(mine.page.interval, {disabled: true});
        say("push");
      }
      setProps(mine.page.tick, {data: JSON.parse(event.data)});
    };
    source.onerror = function () {
      if (stream === mine && source.readyState === EventSource.CLOSED) {
        poll();  // refused (not an event stream, or an error status): the browser will not retry
      }
    };
  }

  function close() {
    if (stream) {
      end(stream);
    }
    stream = null;
  }

  function watch() {
    const channel = channelOf(window.location.pathname, prefix());
    if (stream && (!channel || channel.key !== stream.key)) {
      close();  // another page: its own stream (or none)
    }
    if (!stream && channel && pageReady(channel) && typeof EventSource !== "undefined") {
      open(channel);
    }
    if (stream && stream.mode !== "polling" && stream.opened !== null) {
      const quiet = stream.last === null ? Date.now() - stream.opened > CONNECT_MS : Date.now() - stream.last > QUIET_MS;
      if (quiet) {
        poll();
      }
    }
  }

  setInterval(watch, WATCH_MS);
  window.linewatchPush = {
    mode: function () { return stream ? stream.mode : "polling"; },
  };
})();
