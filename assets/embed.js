/*
 * Embedding support; runs before Dash's renderer (assets load ahead of it).
 *
 * 1. `?embed=1` on the page URL: compact mode for a portal tile, the header chrome hidden and
 *    the controls kept (assets/linewatch.css, `html.lw-embed`).  Done here, not in the layout:
 *    Dash fetches the layout in a separate request without the page's query string.
 * 2. In an iframe of another site, a browser that blocks third-party storage (Chrome incognito,
 *    Safari, Firefox strict) throws on any read of `window.localStorage`; Dash's persistence
 *    (the theme switch) reads it while rendering and the page would stay blank.  Then both
 *    storages become in-memory ones for this page: settings last until the frame reloads.
 */
(function () {
  "use strict";
  if (new URLSearchParams(window.location.search).get("embed") === "1") {
    document.documentElement.classList.add("lw-embed");
  }

  function memoryStorage() {
    const items = new Map();
    return {
      get length() { return items.size; },
      key: function (i) { return Array.from(items.keys())[i] ?? null; },
      getItem: function (k) { return items.has(String(k)) ? items.get(String(k)) : null; },
      setItem: function (k, v) { items.set(String(k), String(v)); },
      removeItem: function (k) { items.delete(String(k)); },
      clear: function () { items.clear(); },
    };
  }

  for (const name of ["localStorage", "sessionStorage"]) {
    try {
      void window[name].length;
    } catch (denied) {
      Object.defineProperty(window, name, {value: memoryStorage(), configurable: true});
    }
  }
})();
