"""Runs and sweeps in notebooks: `_repr_html_` pages (status, duration, metrics, an inline SVG of
the curves) and `RunDetails(run).show()`, which keeps one output updated in place while the run
goes on, as Azure ML's RunDetails widget did (IPython display handles; no widget library). Every
value from a record goes through `e()` (HTML-escaped, quotes too): records are not trusted text."""
from __future__ import annotations

import html
import threading
import time

COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")
STATE_COLORS = {"completed": "#2ca02c", "failed": "#d62728", "cancelled": "#7f7f7f", "pruned": "#9467bd",
                "running": "#1f77b4", "queued": "#bcbd22"}


def e(value) -> str:
    """Any value as HTML text or attribute value ('' for None)."""
    return html.escape("" if value is None else str(value), quote=True)


def _fmt(v) -> str:
    from ..numfmt import number

    return e(number(v))


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s" if m else f"{s}s"


def svg_curves(series: dict[str, list[tuple[float, float]]], width: int = 420, height: int = 180,
               title: str = "") -> str:
    """Line charts of named (x, y) series in one inline SVG (no script, no library)."""
    points = [p for pts in series.values() for p in pts]
    if not points:
        return ""
    x0, x1 = min(p[0] for p in points), max(p[0] for p in points)
    y0, y1 = min(p[1] for p in points), max(p[1] for p in points)
    x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + 1e-9)
    left, right, top, bottom = 44, 8, 18, 22
    sx = lambda x: left + (x - x0) / (x1 - x0) * (width - left - right)  # noqa: E731
    sy = lambda y: top + (1 - (y - y0) / (y1 - y0)) * (height - top - bottom)  # noqa: E731
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="trainkit-curves" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" style="font:10px sans-serif">',
             f'<rect x="{left}" y="{top}" width="{width - left - right}" height="{height - top - bottom}" '
             'fill="none" stroke="#ccc"/>',
             f'<text x="{left}" y="12">{e(title)}</text>',
             f'<text x="2" y="{top + 8}">{_fmt(y1)}</text><text x="2" y="{height - bottom}">{_fmt(y0)}</text>',
             f'<text x="{left}" y="{height - 6}">{_fmt(x0)}</text>'
             f'<text x="{width - right - 30}" y="{height - 6}">{_fmt(x1)}</text>']
    for i, (name, pts) in enumerate(series.items()):
        color = COLORS[i % len(COLORS)]
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{path}">'
                     f'<title>{e(name)}</title></polyline>')
        parts.append(f'<text x="{width - right - 110}" y="{top + 12 + 11 * i}" fill="{color}">{e(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def history_series(history: list[dict], keys: list[str] | None = None) -> dict[str, list[tuple[float, float]]]:
    """{metric: [(epoch or step, value)]} of a run's history; loss-like and accuracy-like metrics."""
    if not history:
        return {}
    xkey = "epoch" if "epoch" in history[0] else "step"
    names = keys or [k for k in dict.fromkeys(k for h in history for k in h)
                     if k not in ("epoch", "step", "epoch_time_s", "time", "learning_rate", "image", "path")]
    return {k: [(h[xkey], h[k]) for h in history if _number(h.get(k)) and _number(h.get(xkey))]
            for k in names if any(_number(h.get(k)) and _number(h.get(xkey)) for h in history)}


def run_html(run) -> str:
    """A run as HTML: id, experiment, status (coloured), duration, metrics table, curves."""
    status, st = run.status, run.record
    series = history_series(run.history())
    loss = {k: v for k, v in series.items() if "loss" in k}
    other = {k: v for k, v in series.items() if "loss" not in k}
    rows = "".join(f"<tr><td>{e(k)}</td><td>{_fmt(v)}</td></tr>" for k, v in run.metrics().items() if _number(v))
    reason = f"<div>{e(run.reason)}</div>" if status in ("failed", "cancelled", "pruned") else ""
    ds = st.get("dataset") if isinstance(st.get("dataset"), dict) else {}
    return (f'<div class="trainkit-run" data-run-id="{e(run.id)}">'
            f'<b>run {e(run.id)}</b> · experiment {e(run.experiment)} · '
            f'<span class="trainkit-status" style="color:{STATE_COLORS.get(status, "#000")}">{e(status)}</span> · '
            f'{duration(run.duration_s)}'
            + (f' · dataset {e(ds.get("name"))} v{e(ds.get("version"))}' if ds else "")
            + (f" · epoch {e(st.get('epoch'))}" if status == "running" and st.get("epoch") else "")
            + reason
            + (f'<table class="trainkit-metrics"><tr><th>metric</th><th>value</th></tr>{rows}</table>' if rows else "")
            + svg_curves(loss, title="loss") + svg_curves(other, title="metrics") + "</div>")


def sweep_html(sweep) -> str:
    """A sweep as HTML: its trials (state, swept overrides, metric), the best marked."""
    summary = sweep.summary()
    metric = summary["metric"]
    best = summary["rows"][0]["run_id"] if summary["rows"] and summary["rows"][0].get(metric) is not None else None
    bold = ' style="font-weight:bold"'
    rows = "".join(
        f'<tr{bold if r["run_id"] == best and best else ""}><td>{e(r["job"])}</td>'
        f'<td>{e(r["swept"])}</td><td style="color:{STATE_COLORS.get(r["status"], "#000")}">{e(r["status"])}'
        f'</td><td>{_fmt(r.get(metric)) if r.get(metric) is not None else ""}</td><td>{e(r["run_id"])}</td></tr>'
        for r in summary["rows"])
    histories = {r["swept"] or r["run_id"]: sweep_history(sweep, r) for r in summary["rows"] if r["run_id"]}
    curve = curve_metric(metric, [h for rows in histories.values() for h in rows])
    curves = {name: [(h.get("epoch", h.get("step")), h[curve]) for h in rows
                     if _number(h.get(curve)) and _number(h.get("epoch", h.get("step")))]
              for name, rows in histories.items()}
    from ..numfmt import counts_text

    counts = e(counts_text(summary["counts"]))
    return (f'<div class="trainkit-sweep"><b>sweep {e(summary["sweep"])}</b> · {counts} · best first by '
            f'{e(metric)} ({e(summary["mode"])})'
            f'<table><tr><th>job</th><th>swept</th><th>status</th><th>{e(metric)}</th><th>run</th></tr>{rows}</table>'
            + svg_curves({k: v for k, v in curves.items() if v}, title=curve) + "</div>")


def curve_metric(metric: str, history: list[dict]) -> str:
    """The per-epoch metric to draw for a sweep ranked by `metric`: itself when the trials logged
    it over time, else its validation counterpart (test_accuracy is measured once, at the end)."""
    if any(metric in h for h in history) or not metric.startswith("test_"):
        return metric
    return "val_" + metric[len("test_"):]


def sweep_history(sweep, row: dict) -> list[dict]:
    from ..records.runs import read_history

    run = sweep.workspace.find_run(row["run_id"])
    return read_history(run.path) if run else []


class RunDetails:
    """A run's or a sweep's page in a notebook, updated in place while it goes on (Azure ML's
    RunDetails): a run's status, metrics and curves; a sweep's trials, best first, and their curves."""

    def __init__(self, run, every_s: float = 2.0):
        """`run`: a trainkit Run or Sweep."""
        self.run, self.every_s = run, every_s
        self.thread: threading.Thread | None = None

    def _is_sweep(self) -> bool:
        return callable(getattr(self.run, "summary", None))

    def html(self) -> str:
        return sweep_html(self.run) if self._is_sweep() else run_html(self.run)

    def ended(self) -> bool:
        return self.run.done() if self._is_sweep() else self.run.job.state().done

    def show(self, block: bool = False) -> None:
        """Display it now and refresh the same output every `every_s` seconds until it ended;
        `block`: return only then (otherwise a background thread keeps it current). Returns None,
        as Azure's widget did, so the cell prints nothing after it."""
        from IPython.display import HTML, display

        handle = display(HTML(self.html()), display_id=True)

        def follow() -> None:
            while not self.ended():
                time.sleep(self.every_s)
                handle.update(HTML(self.html()))
            handle.update(HTML(self.html()))

        if block:
            follow()
        else:
            self.thread = threading.Thread(target=follow, daemon=True)
            self.thread.start()
