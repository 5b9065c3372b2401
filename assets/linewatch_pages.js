// Pages (callbacks/pages.py, callbacks/overview.py): the line picker's lines and address, the overview's tiles.
window.dash_clientside = Object.assign({}, window.dash_clientside, {
  linewatchPages: (function () {
    function el(type, props, namespace) {
      return {type: type, namespace: namespace || "dash_html_components", props: props};
    }

    function statusText(tile, labels) {
      if (tile.status === "alarm") {
        return labels.overview_alarm;
      }
      if (tile.status === "stale") {
        return labels.status_stale.replace("{s}", tile.quiet_s);
      }
      return tile.status === "live" ? labels.status_live : labels.status_waiting;
    }

    function spark(values) {
      return el("Div", {className: "lw-spark", children: values.map(function (h) {
        return el("Span", {style: {height: Math.max(4, h) + "%"}});
      })});
    }

    function tile(t, labels, priorities, prefix) {
      const alarms = ["1", "2", "3", "4"].filter(function (p) { return t.open[p]; }).map(function (p) {
        return el("Span", {className: "lw-prio lw-prio-" + p + " lw-prio-on", children: priorities[p] + " " + t.open[p]});
      });
      const value = t.value === undefined ? "—" : String(t.value);
      return el("Link", {href: prefix + "line/" + encodeURIComponent(t.id), className: "lw-tile lw-tile-" + t.status,
                         children: [
        el("Div", {className: "lw-tile-name", children: t.name}),
        el("Div", {className: "lw-tile-value", children: [value, el("Span", {className: "lw-tile-unit", children: t.unit})]}),
        spark(t.spark || []),
        el("Div", {className: "lw-tile-status", children: statusText(t, labels)}),
        el("Div", {className: "lw-tile-alarms", children: alarms}),
      ]}, "dash_core_components");
    }

    return {
      pickerLines: function (tick) {  // the tick's lines only when they changed
        if (!tick || !tick.lines) {
          return [window.dash_clientside.no_update, window.dash_clientside.no_update];
        }
        return [tick.lines.options, tick.lines.version];
      },
      lineAddress: function (picked, shown, prefix) {  // picking the shown line does nothing
        if (picked === shown) {
          return window.dash_clientside.no_update;
        }
        return prefix + "line/" + encodeURIComponent(picked);
      },
      tiles: function (tick, labels, priorities, prefix) {
        if (!tick || tick.error) {
          return el("P", {className: "lw-error", children: tick ? labels.error_prefix + ": " + tick.error : ""});
        }
        if (!tick.tiles.length) {
          return el("P", {children: labels.status_waiting});
        }
        return tick.tiles.map(function (t) { return tile(t, labels, priorities, prefix); });
      },
    };
  })(),
});
