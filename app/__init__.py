"""LineWatch: a real-time defect-monitoring dashboard.

Kept empty on purpose: importing a core module (``app.points``, ``app.store``...) must not
load Dash. The factory is :func:`app.web.create_app`.
"""
