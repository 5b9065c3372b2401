/*
 * Pages (callbacks/pages.py, callbacks/overview.py): the line picker's lines and address, and the
 * overview's tiles.  The tiles are drawn into their container in place, keyed by line: a tick
 * rewrites only what changed in each tile and moves tiles only when the order changed (as Dash
 * components, 100 tiles kept the tab's main thread 100 % busy; bench/plant.py).  Pure functions
 * are tested in tests/js.
 */
(function (root) {
  "use strict";

  const PRIORITIES = ["1", "2", "3", "4"];
  const SVG = "http://www.w3.org/2000/svg";

  /* A tile's status in words: colour is only for abnormal states (the tile's class). */
  function statusText(tile, labels) {
    if (tile.status === "alarm") {
      return labels.overview_alarm;
    }
    if (tile.status === "stale") {
      return labels.status_stale.replace("{s}", tile.quiet_s);
    }
    return tile.status === "live" ? labels.status_live : labels.status_waiting;
  }

  /* The sparkline's bars (heights 0..100, a zero bar still visible) as one SVG path in a 0 0 n 100 box:
   * one attribute to write per tile and tick, not a style per bar. */
  function sparkPath(heights) {
    return heights.map(function (h, i) { return "M" + i + " 100V" + (100 - Math.max(4, h)) + "h0.8V100z"; }).join("");
  }

  /* What tile `t` (one of the tick's tiles) shows: texts, class, sparkline and alarm badges. */
  function tileView(t, labels, priorities, prefix) {
    return {
      href: prefix + "line/" + encodeURIComponent(t.id),
      className: "lw-tile lw-tile-" + t.status,
      name: t.name,
      value: t.value === undefined ? "—" : String(t.value),
      unit: t.unit || "",
      bars: (t.spark || []).length,
      spark: sparkPath(t.spark || []),
      status: statusText(t, labels),
      alarms: PRIORITIES.filter(function (p) { return t.open[p]; }).map(function (p) {
        return {className: "lw-prio lw-prio-" + p + " lw-prio-on", text: priorities[p] + " " + t.open[p]};
      }),
    };
  }

  /* The container's message: the error, "waiting" while no line is known, else none. */
  function message(tick, labels) {
    if (tick.error) {
      return labels.error_prefix + ": " + tick.error;
    }
    return tick.tiles.length ? "" : labels.status_waiting;
  }

  function child(parent, tag, className) {
    const node = document.createElement(tag);
    node.className = className;
    parent.appendChild(node);
    return node;
  }

  function setText(node, text) {
    if (node.textContent !== text) {
      node.textContent = text;
    }
  }

  /* A tile's elements: a plain link that loads the line's page.  (Moving the address in the page
   * instead, as dcc.Link did, left the line page's tick stuck after two requests in Dash 4.4.) */
  function newTile(view) {
    const link = document.createElement("a");
    link.href = view.href;
    const parts = {link: link, name: child(link, "div", "lw-tile-name")};
    const value = child(link, "div", "lw-tile-value");
    parts.value = value.appendChild(document.createTextNode(""));
    parts.unit = child(value, "span", "lw-tile-unit");
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("class", "lw-spark");
    svg.setAttribute("preserveAspectRatio", "none");
    svg.setAttribute("aria-hidden", "true");
    parts.spark = svg.appendChild(document.createElementNS(SVG, "path"));
    link.appendChild(svg);
    parts.status = child(link, "div", "lw-tile-status");
    parts.alarms = child(link, "div", "lw-tile-alarms");
    return parts;
  }

  /* Write `view` into a tile's elements, touching only what differs from what they show. */
  function drawTile(parts, view) {
    if (parts.link.className !== view.className) {
      parts.link.className = view.className;
    }
    setText(parts.name, view.name);
    if (parts.value.data !== view.value) {
      parts.value.data = view.value;
    }
    setText(parts.unit, view.unit);
    if (parts.shownSpark !== view.spark) {
      parts.shownSpark = view.spark;
      parts.spark.setAttribute("d", view.spark);
      parts.spark.ownerSVGElement.setAttribute("viewBox", "0 0 " + Math.max(1, view.bars) + " 100");
    }
    setText(parts.status, view.status);
    const badges = JSON.stringify(view.alarms);
    if (parts.shownAlarms !== badges) {
      parts.shownAlarms = badges;
      parts.alarms.replaceChildren.apply(parts.alarms, view.alarms.map(function (a) {
        const badge = document.createElement("span");
        badge.className = a.className;
        badge.textContent = a.text;
        return badge;
      }));
    }
  }

  /* Draw the tick's tiles into `container` (its tiles kept on it, by line id), in the tick's order. */
  function drawTiles(container, tiles, labels, priorities, prefix) {
    const shown = container.lwTiles || (container.lwTiles = new Map());
    const wanted = new Set(tiles.map(function (t) { return t.id; }));
    shown.forEach(function (parts, id) {
      if (!wanted.has(id)) {
        parts.link.remove();
        shown.delete(id);
      }
    });
    let previous = null;
    tiles.forEach(function (t) {
      const view = tileView(t, labels, priorities, prefix);
      let parts = shown.get(t.id);
      if (!parts) {
        parts = newTile(view);
        shown.set(t.id, parts);
      }
      drawTile(parts, view);
      const expected = previous ? previous.nextSibling : container.firstChild;
      if (expected !== parts.link) {  // new, or the order changed
        container.insertBefore(parts.link, expected);
      }
      previous = parts.link;
    });
  }

  const api = {statusText: statusText, tileView: tileView, message: message};
  if (typeof module !== "undefined" && module.exports) {
    module.exports = api;
    return;
  }

  root.dash_clientside = Object.assign({}, root.dash_clientside, {
    linewatchPages: {
      pickerLines: function (tick) {  // the tick's lines only when they changed
        if (!tick || !tick.lines) {
          return [root.dash_clientside.no_update, root.dash_clientside.no_update];
        }
        return [tick.lines.options, tick.lines.version];
      },
      lineAddress: function (picked, shown, prefix) {  // picking the shown line does nothing
        if (picked === shown) {
          return root.dash_clientside.no_update;
        }
        return prefix + "line/" + encodeURIComponent(picked);
      },
      tiles: function (tick, labels, priorities, prefix, shownMessage) {
        if (!tick) {
          return root.dash_clientside.no_update;
        }
        if (!tick.error) {  // an error keeps the last tiles, under the message
          drawTiles(document.getElementById("overview-tiles"), tick.tiles, labels, priorities, prefix);
        }
        const text = message(tick, labels);
        return text === (shownMessage || "") ? root.dash_clientside.no_update : text;
      },
    },
  });
})(typeof window !== "undefined" ? window : globalThis);
