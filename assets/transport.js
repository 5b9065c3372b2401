/*
 * LineWatch transport switch (LINEWATCH_TRANSPORT=websocket only; the polling page does not load it).
 *
 * Dash 4's renderer sends every server callback over its SharedWorker's WebSocket when
 * websocket callbacks are enabled, and does not fall back by itself: where a proxy refuses
 * the Upgrade, each callback waits for a connection that never comes (the worker retries
 * with backoff) and the page stays empty.  So:
 *
 *  1. Before the renderer starts (this file runs first), the page starts on HTTP: the config
 *     Dash embeds gets `websocket.enabled = false`; the renderer still starts its worker.
 *  2. A probe WebSocket to the same URL decides: when it opens, callbacks move to the
 *     socket (the renderer reads the flag on every callback); when it fails or hangs, they
 *     stay on HTTP (`<prefix>_dash-update-component`, served as with polling).
 *  3. A watchdog (the renderer's request hooks, see app/websocket.py RENDERER) moves back to
 *     HTTP for good if a callback over the socket gets no answer for STALL_MS.
 *
 * `window.linewatchTransport.mode()` says "websocket", "http" or "probing".
 */
(function () {
  "use strict";

  const PROBE_TIMEOUT_MS = 10000;
  const STALL_MS = 8000;

  const node = document.getElementById("_dash-config");
  let embedded = null;
  try {
    embedded = node ? JSON.parse(node.textContent) : null;
  } catch (err) {
    embedded = null;
  }
  const settings = embedded && embedded.websocket;
  if (!settings || !settings.enabled || !settings.url || typeof WebSocket === "undefined") {
    return;  // HTTP polling deployment, or no WebSocket here: nothing to switch
  }

  let mode = "probing";
  let waitingSince = null;  // first socket callback still unanswered

  /* Tell the renderer which transport to use: its embedded config (until it reads it) and its store. */
  function useSocket(enabled) {
    settings.enabled = enabled;
    node.textContent = JSON.stringify(embedded);
    const store = window.store && window.store.getState ? window.store.getState() : null;
    if (store && store.config && store.config.websocket) {
      // Dash reads config.websocket.enabled for each callback; nothing else in it changes.
      store.config.websocket.enabled = enabled;
    }
  }

  function fallBack() {
    mode = "http";
    waitingSince = null;
    useSocket(false);
  }

  useSocket(false);

  const url = (window.location.protocol === "https:" ? "wss:" : "ws:") + "//" + window.location.host + settings.url;
  let probe = null;
  try {
    probe = new WebSocket(url);
  } catch (err) {
    fallBack();
  }
  if (probe) {
    const timer = setTimeout(function () {
      if (mode === "probing") {
        fallBack();
        probe.close();
      }
    }, PROBE_TIMEOUT_MS);
    probe.onopen = function () {
      clearTimeout(timer);
      probe.close(1000);
      if (mode === "probing") {
        mode = "websocket";
        useSocket(true);
      }
    };
    probe.onerror = function () {
      clearTimeout(timer);
      if (mode === "probing") {
        fallBack();
      }
    };
  }

  setInterval(function () {
    if (mode === "websocket" && waitingSince !== null && Date.now() - waitingSince > STALL_MS) {
      fallBack();  // the socket stopped answering: poll over HTTP for the rest of this page's life
    }
  }, 1000);

  window.linewatchTransport = {
    mode: function () { return mode; },
    hooks: {
      request_pre: function () {
        if (mode === "websocket" && waitingSince === null) {
          waitingSince = Date.now();
        }
      },
      request_post: function () {
        waitingSince = null;
      },
    },
  };
})();
