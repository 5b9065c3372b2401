"""The live chart: the initial figure (traces empty, thresholds and limits drawn) and its container."""

from __future__ import annotations

from dash import dcc, html

from app.i18n import CHART_LOCALES
from app.lines import LineSpec
from app.points import Thresholds
from layouts import ids

VALUE_COLOR = "#5b7186"
PROB_COLOR = "#9a8bb0"
THRESHOLD_COLOR = "#b26b00"
LIMIT_COLOR = "#7d858d"  # specification limits: thin and neutral, they are not an abnormal state
ALARM_OUTLINE = "#2b2f33"
ANOMALY_COLORSCALE = [[0.0, "#f4b183"], [0.5, "#e0542e"], [1.0, "#8b0000"]]
# The time axis's labels slide on every tick, and plotly caches each label's measured box keyed by
# its text *and position* (up to 10,000 boxes, then it starts over).  An axis title (which moves
# clear of the labels), automargin and the check for labels overflowing the page each measured every
# label on every redraw: the tab's heap grew by ~10 boxes a tick.  So the axis has none of them: its
# title is an annotation below the labels and a fixed bottom margin holds both (the labels cannot
# overflow the page inside the plot's margins).  The labels are then measured only when they might overlap.
X_TICK_LABELS = {"automargin": False, "ticklabeloverflow": "allow"}


def build_figure(labels: dict[str, str], thresholds: Thresholds, line: LineSpec | None = None) -> dict:
    """A figure with the four streaming traces empty, the threshold lines and the line's
    specification limits drawn, the value axis titled with the line's unit.

    The figure is the template assets/linewatch.js draws from (``chartFigure``): it fills the
    traces with the window's readings, at most a few per pixel column.  Trace order is a
    contract with it: 0 value, 1 defect probability, 2 anomaly markers, 3 alarm markers (2 and 3
    hold only the marked readings).  Shapes and annotations carry a ``name`` the browser finds
    them by (threshold lines follow the sliders; "spc-*" lines come with the tick).
    """
    line = line or LineSpec("")
    streaming = {"x": [], "y": [], "text": [], "marker": {"color": []}}
    return {
        "data": [
            {**streaming, "type": "scatter", "mode": "lines", "name": labels["trace_value"],
             "line": {"color": VALUE_COLOR, "width": 1.5}, "hovertemplate": "%{y:.4g}<extra></extra>"},
            {**streaming, "type": "scatter", "mode": "lines", "name": labels["trace_prob"], "yaxis": "y2",
             "line": {"color": PROB_COLOR, "width": 1, "dash": "dot"}, "opacity": 0.8,
             "hovertemplate": "%{y:.2f}<extra></extra>"},
            {**streaming, "type": "scatter", "mode": "markers", "name": labels["trace_anomaly"],
             "marker": {"color": [], "colorscale": ANOMALY_COLORSCALE, "cmin": 0, "cmax": 1, "size": 9,
                        "symbol": "diamond", "line": {"width": 1, "color": "#3b0000"},
                        "colorbar": {"thickness": 10, "x": 1.09, "len": 0.75, "tickvals": [0, 0.5, 1]}},
             "hovertemplate": "%{y:.4g} · p=%{marker.color:.2f}<extra></extra>"},
            {**streaming, "type": "scatter", "mode": "markers", "name": labels["trace_alarm"],
             "marker": {"color": [], "size": 15, "symbol": "triangle-down-open", "line": {"width": 2.5}},
             "cliponaxis": False, "hovertemplate": "%{text}<extra></extra>"},  # a peak's marker is not cut off
        ],
        "layout": {
            "uirevision": "stream",  # keep the operator's zoom while points stream in
            "margin": {"l": 56, "r": 96, "t": 28, "b": 64},
            "paper_bgcolor": "rgba(0,0,0,0)",
            "plot_bgcolor": "rgba(0,0,0,0)",
            "font": {"family": "system-ui, 'Noto Sans CJK SC', 'Noto Sans SC', sans-serif", "size": 13},
            "legend": {"orientation": "h", "y": 1.08, "x": 0},
            "hovermode": "x unified",
            "xaxis": {"type": "date", "gridcolor": "rgba(128,128,128,0.2)", **X_TICK_LABELS},
            "yaxis": {"title": {"text": value_axis_title(labels, line.unit)}, "gridcolor": "rgba(128,128,128,0.2)"},
            "yaxis2": {"title": {"text": labels["axis_prob"]}, "overlaying": "y", "side": "right",
                       "range": [0, 1.05], "tickmode": "array", "tickvals": [0, 0.25, 0.5, 0.75, 1],
                       "showgrid": False},
            "shapes": threshold_shapes(thresholds) + limit_shapes(line),
            "annotations": threshold_annotations(labels, thresholds, line.unit) + limit_annotations(labels, line)
            + [time_axis_title(labels)],
        },
    }


def value_axis_title(labels: dict[str, str], unit: str) -> str:
    return f"{labels['axis_value']} ({unit})" if unit else labels["axis_value"]


def time_axis_title(labels: dict[str, str]) -> dict:
    """The time axis's title, below its two-line labels (an annotation: see X_TICK_LABELS)."""
    return {"name": "time-axis-title", "text": labels["axis_time"], "xref": "paper", "x": 0.5, "xanchor": "center",
            "yref": "paper", "y": 0, "yshift": -36, "yanchor": "top", "showarrow": False, "font": {"size": 16}}


def _value_text(value: float, unit: str) -> str:
    """As assets/linewatch.js formatValue: three decimals for small numbers, fewer for large."""
    size = abs(value)
    digits = 0 if size >= 1000 else 1 if size >= 100 else 2 if size >= 10 else 3
    return f"{value:.{digits}f} {unit}".rstrip()


def _hline(name: str, yref: str, y: float, line: dict) -> dict:
    return {"type": "line", "name": name, "xref": "paper", "x0": 0, "x1": 1, "yref": yref, "y0": y, "y1": y,
            "line": line}


def threshold_shapes(thresholds: Thresholds) -> list[dict]:
    """Dashed lines: the value threshold on the value axis, the probability threshold on y2."""
    line = {"color": THRESHOLD_COLOR, "width": 1.5, "dash": "dash"}
    return [_hline("value-threshold", "y", thresholds.value, line),
            _hline("prob-threshold", "y2", thresholds.prob, {**line, "dash": "dot"})]


def threshold_annotations(labels: dict[str, str], thresholds: Thresholds, unit: str = "") -> list[dict]:
    common = {"xref": "paper", "x": 0.005, "xanchor": "left", "yanchor": "bottom", "showarrow": False,
              "font": {"color": THRESHOLD_COLOR, "size": 11}}
    return [
        {**common, "name": "value-threshold", "yref": "y", "y": thresholds.value,
         "text": f"{labels['line_value_threshold']} {_value_text(thresholds.value, unit)}"},
        {**common, "name": "prob-threshold", "x": 0.995, "xanchor": "right", "yref": "y2", "y": thresholds.prob,
         "text": f"{labels['line_prob_threshold']} {thresholds.prob:.2f}"},
    ]


def _limits(line: LineSpec) -> list[tuple[str, float]]:
    return [(key, value) for key, value in (("lsl", line.lsl), ("usl", line.usl), ("target", line.target))
            if value is not None]


def limit_shapes(line: LineSpec) -> list[dict]:
    """Thin neutral lines at the line's specification limits (solid) and target (dotted), when configured."""
    return [_hline(key, "y", value, {"color": LIMIT_COLOR, "width": 1, "dash": "dot" if key == "target" else "solid"})
            for key, value in _limits(line)]


def limit_annotations(labels: dict[str, str], line: LineSpec) -> list[dict]:
    return [{"name": key, "xref": "paper", "x": 0.5, "xanchor": "center", "yanchor": "bottom", "yref": "y",
             "y": value, "showarrow": False, "font": {"color": LIMIT_COLOR, "size": 11},
             "text": f"{labels['line_' + key]} {_value_text(value, line.unit)}"} for key, value in _limits(line)]


def chart_panel(labels: dict[str, str], thresholds: Thresholds, line: LineSpec | None = None) -> html.Div:
    return html.Div(className="lw-panel lw-chart-panel", children=[
        html.Div(labels["waiting"], id=ids.WAITING_OVERLAY, className="lw-waiting", role="status"),
        dcc.Graph(id=ids.CHART, figure=build_figure(labels, thresholds, line), className="lw-chart",
                  config=graph_config(labels)),
    ])


def graph_config(labels: dict[str, str]) -> dict:
    """The chart's plotly config: no logo, fits its box, mode bar and date axis in the page's language,
    and no "Share chart..." button (it would post the plant's readings to a plotly cloud server)."""
    return {"displaylogo": False, "showSendToCloud": False, "responsive": True,
            "locale": labels["chart_locale"], "locales": CHART_LOCALES}
