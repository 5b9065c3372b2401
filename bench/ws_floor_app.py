"""Reference "floor" for the WebSocket transport: Dash on its FastAPI backend with
``websocket_callbacks=True``, one dcc.Interval and one server callback that extends a graph by
one point, served by ``gunicorn -k uvicorn.workers.UvicornWorker bench.ws_floor_app:server``.

Env: FLOOR_PERIOD (seconds, default 1), FLOOR_WINDOW (maxPoints, default 1000).
"""
import os
import random
import time

from dash import Dash, Input, Output, dcc, html

PERIOD_S = float(os.environ.get("FLOOR_PERIOD", "1"))
WINDOW = int(os.environ.get("FLOOR_WINDOW", "1000"))

app = Dash(__name__, backend="fastapi", websocket_callbacks=True)
app.layout = html.Div([
    dcc.Graph(id="graph", figure={"data": [{"x": [], "y": [], "type": "scatter", "mode": "lines"}]}),
    dcc.Interval(id="interval", interval=PERIOD_S * 1000),
])


@app.callback(Output("graph", "extendData"), Input("interval", "n_intervals"),
              prevent_initial_call=True)
def tick(_n):
    """Add one point to the single trace."""
    return {"x": [[time.time()]], "y": [[random.random()]]}, [0], WINDOW


server = app.server  # the FastAPI (ASGI) app
