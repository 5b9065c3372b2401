"""The live chart: the initial figure (traces empty, thresholds drawn) and its container."""

from __future__ import annotations

from dash import dcc, html

from app.points import Thresholds
from layouts import ids

VALUE_COLOR = "#5b7186"
PROB_COLOR = "#9a8bb0"
THRESHOLD_COLOR = "#b26b00"
ANOMALY_COLORSCALE = [[0.0, "#f4b183"], [0.5, "#e0542e"], [1.0, "#8b0000"]]


def build_figure(labels: dict[str, str], thresholds: Thresholds) -> dict:
    """A figure with the three streaming traces empty and the threshold lines drawn.

    Trace order is a contract with assets/linewatch.js: 0 value, 1 defect probability,
    2 anomaly markers (one entry per point, ``null`` where no anomaly, so one
    ``maxPoints`` window trims all three alike).  Every trace starts with an empty
    ``marker.color`` array so a single extendData call can extend them all.
    """
    streaming = {"x": [], "y": [], "marker": {"color": []}}
    return {
        "data": [
            {**streaming, "type": "scatter", "mode": "lines", "name": labels["trace_value"],
             "line": {"color": VALUE_COLOR, "width": 1.5}, "hovertemplate": "%{y:.3f}<extra></extra>"},
            {**streaming, "type": "scatter", "mode": "lines", "name": labels["trace_prob"], "yaxis": "y2",
             "line": {"color": PROB_COLOR, "width": 1, "dash": "dot"}, "opacity": 0.8,
             "hovertemplate": "%{y:.2f}<extra></extra>"},
            {"x": [], "y": [], "type": "scatter", "mode": "markers", "name": labels["trace_anomaly"],
             "marker": {"color": [], "colorscale": ANOMALY_COLORSCALE, "cmin": 0, "cmax": 1, "size": 9,
                        "symbol": "diamond", "line": {"width": 1, "color": "#3b0000"},
                        "colorbar": {"thickness": 10, "x": 1.09, "len": 0.75, "tickvals": [0, 0.5, 1]}},
             "hovertemplate": "%{y:.3f} · p=%{marker.color:.2f}<extra></extra>"},
        ],
        "layout": {
            "uirevision": "stream",  # keep the operator's zoom while points stream in
            "margin": {"l": 56, "r": 96, "t": 28, "b": 40},
            "paper_bgcolor": "rgba(0,0,0,0)",
            "plot_bgcolor": "rgba(0,0,0,0)",
            "font": {"family": "system-ui, 'Noto Sans CJK SC', 'Noto Sans SC', sans-serif", "size": 13},
            "legend": {"orientation": "h", "y": 1.08, "x": 0},
            "hovermode": "x unified",
            "xaxis": {"type": "date", "title": {"text": labels["axis_time"]}, "gridcolor": "rgba(128,128,128,0.2)"},
            "yaxis": {"title": {"text": labels["axis_value"]}, "gridcolor": "rgba(128,128,128,0.2)"},
            "yaxis2": {"title": {"text": labels["axis_prob"]}, "overlaying": "y", "side": "right",
                       "range": [0, 1.05], "tickmode": "array", "tickvals": [0, 0.25, 0.5, 0.75, 1],
                       "showgrid": False},
            "shapes": threshold_shapes(thresholds),
            "annotations": threshold_annotations(labels, thresholds),
        },
    }


def threshold_shapes(thresholds: Thresholds) -> list[dict]:
    """Dashed lines: the value threshold on the value axis, the probability threshold on y2."""
    line = {"color": THRESHOLD_COLOR, "width": 1.5, "dash": "dash"}
    return [
        {"type": "line", "xref": "paper", "x0": 0, "x1": 1, "yref": "y", "y0": thresholds.value,
         "y1": thresholds.value, "line": line},
        {"type": "line", "xref": "paper", "x0": 0, "x1": 1, "yref": "y2", "y0": thresholds.prob,
         "y1": thresholds.prob, "line": {**line, "dash": "dot"}},
    ]


def threshold_annotations(labels: dict[str, str], thresholds: Thresholds) -> list[dict]:
    common = {"xref": "paper", "x": 0.005, "xanchor": "left", "yanchor": "bottom", "showarrow": False,
              "font": {"color": THRESHOLD_COLOR, "size": 11}}
    return [
        {**common, "yref": "y", "y": thresholds.value, "text": f"{labels['line_value_threshold']} {thresholds.value:.2f}"},
        {**common, "x": 0.995, "xanchor": "right", "yref": "y2", "y": thresholds.prob,
         "text": f"{labels['line_prob_threshold']} {thresholds.prob:.2f}"},
    ]


def chart_panel(labels: dict[str, str], thresholds: Thresholds) -> html.Div:
    return html.Div(className="lw-panel lw-chart-panel", children=[
        html.Div(labels["waiting"], id=ids.WAITING_OVERLAY, className="lw-waiting", role="status"),
        dcc.Graph(id=ids.CHART, figure=build_figure(labels, thresholds), className="lw-chart",
                  config={"displaylogo": False, "responsive": True}),
    ])
