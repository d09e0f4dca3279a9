"""`trainkit ui`: the read-only web dashboard (app.py: routes and JSON API; data.py: what it shows;
pages.py: server-rendered HTML; static/: app.js, styles and the vendored uPlot chart library)."""

__all__: list[str] = []   # internal: the dashboard is used through `trainkit ui` and its JSON API
