"""The dashboard's pages as server-rendered HTML: every table reads without JavaScript; app.js adds
the charts, live logs and compare selection. Every value is escaped. No page holds a script, a
style or an event handler of its own (the content security policy forbids them): app.js finds its
work in `<body data-page=...>` and the page's JSON in `#page-data`. Records a page skipped are
listed at its top."""
from __future__ import annotations

import html
import json
import time
from urllib.parse import quote, urlencode

NAV = (("/", "Experiments"), ("/runs", "Runs"), ("/sweeps", "Sweeps"), ("/models", "Models"), ("/jobs", "Jobs"))
STATE_CLASS = ("queued", "running", "completed", "failed", "cancelled", "pruned")


def e(value) -> str:
    return html.escape("" if value is None else str(value))


def num(v) -> str:
    from ..numfmt import number

    return e(number(v))


def ts(t) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) if t else ""


def dur(seconds) -> str:
    if seconds is None:
        return ""
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s"


def state(name: str, title: str | None = None) -> str:
    cls = name if name in STATE_CLASS else "unknown"
    return f'<span class="state state-{cls}" title="{e(title)}">{e(name)}</span>'


def run_link(run_id) -> str:
    return f'<a href="/runs/{quote(str(run_id))}">{e(run_id)}</a>' if run_id else ""


def page(title: str, body: str, script: str | None = None, data: dict | None = None, warnings=()) -> str:
    nav = "".join(f'<a href="{href}">{name}</a>' for href, name in NAV)
    safe = json.dumps(data, default=str).replace("<", "\\u003c") if data is not None else ""   # no </script> inside
    blob = f'<script type="application/json" id="page-data">{safe}</script>' if data is not None else ""
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{e(title)} · trainkit</title>'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<link rel="icon" href="/favicon.svg"><link rel="stylesheet" href="/static/app.css">'
            '<link rel="stylesheet" href="/static/vendor/uplot/uPlot.min.css"></head>'
            f'<body data-page="{e(script or "")}"><header><b>trainkit</b><nav>{nav}</nav></header>'
            f'<main><h1>{e(title)}</h1>{warnings_block(warnings)}{body}</main>{blob}'
            '<script src="/static/vendor/uplot/uPlot.iife.min.js"></script><script src="/static/app.js"></script>'
            "</body></html>")


def warnings_block(warnings, shown: int = 50) -> str:
    """The records this page left out, and why."""
    if not warnings:
        return ""
    more = f"<li>... and {len(warnings) - shown} more (see the dashboard's log)</li>" if len(warnings) > shown else ""
    return (f'<div class="warnings"><p>{len(warnings)} record(s) skipped: not what trainkit writes</p><ul>'
            + "".join(f"<li>{e(w)}</li>" for w in warnings[:shown]) + more + "</ul></div>")


def table(head: list[str], rows: list[list[str]], cls: str = "") -> str:
    th = "".join(f"<th>{h}</th>" for h in head)
    trs = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table>'


# ----------------------------------------------------------------------------- pages
def pager(d: dict, qs: dict) -> str:
    """« newest · ‹ newer · page X of Y · older › · oldest »; nothing for a single page."""
    page, pages = d["page"], d["pages"]
    if pages <= 1:
        return ""

    def link(p: int, text: str) -> str:
        return (f'<a href="/runs?{urlencode({**qs, "page": p})}">{text}</a>' if 1 <= p <= pages and p != page
                else f'<span class="off">{text}</span>')
    return (f'<p class="pager">{link(1, "« first")} {link(page - 1, "‹ previous")} · page {page} of {pages} · '
            f'{link(page + 1, "next ›")} {link(pages, "last »")}</p>')


def columns_chooser(d: dict, qs: dict) -> str:
    """A form of checkboxes for the table's parameter and metric columns; what it picks is kept in
    the URL (columns=1&param=...&metric=...)."""
    hidden = "".join(f'<input type="hidden" name="{e(k)}" value="{e(v)}">' for k, v in qs.items())
    boxes = "".join(f'<label><input type="checkbox" name="param" value="{e(p)}"{" checked" if p in d["params"] else ""}> '
                    f'{e(p)}</label> ' for p in dict.fromkeys([*d["params"], *d.get("all_params", [])]))
    boxes += "".join(f'<label><input type="checkbox" name="metric" value="{e(m)}"{" checked" if m in d["metrics"] else ""}> '
                     f'{e(m)}</label> ' for m in dict.fromkeys([*d["metrics"], *d.get("all_metrics", [])]))
    return (f'<details class="columns"><summary>columns</summary><form method="get" action="/runs">{hidden}'
            f'<input type="hidden" name="columns" value="1">{boxes}<button>Show</button></form></details>')


def experiments_page(exps: list[dict], warnings=()) -> str:
    rows = [[f'<a href="/runs?{urlencode({"experiment": x["name"]})}">{e(x["name"])}</a>', e(x["runs"]),
             " ".join(f"{state(s)} {n}" for s, n in sorted(x["states"].items())), ts(x["last"])] for x in exps]
    body = table(["experiment", "runs", "states", "last run"], rows, "experiments") if rows else \
        "<p>No runs yet: <code>trainkit train +experiment=fashion_mnist_dnn</code></p>"
    return page("Experiments", body, warnings=warnings)


def runs_page(d: dict, warnings=()) -> str:
    metrics = d["metrics"]
    qs = {k: d[k] for k in ("experiment", "filter", "order_by") if d.get(k)}
    form = ('<form class="filter" method="get" action="/runs">'
            + (f'<input type="hidden" name="experiment" value="{e(d["experiment"])}">' if d.get("experiment") else "")
            + f'<input name="filter" size="60" placeholder=\'metrics.test_accuracy &gt; 0.85 and tags.team = "x"\' '
              f'value="{e(d["filter"])}"><input name="order_by" size="28" placeholder="metrics.test_accuracy desc" '
              f'value="{e(d["order_by"])}"><button>Search</button></form>')
    params = d.get("params", [])
    keep = {**qs, **({"metrics": ",".join(metrics)} if d.get("chosen", {}).get("metrics") else {}),
            **({"params": ",".join(params)} if d.get("chosen", {}).get("params") else {})}
    head = ["", "run", "name", "status", "started", "duration", "compute", "distribution", "dataset", "tags",
            *(f'<span class="param">{e(p)}</span>' for p in params),
            *(f'<a href="/runs?{urlencode({**keep, "order_by": f"metrics.{m} desc"})}">{e(m)}</a>' for m in metrics)]
    rows = [[f'<input type="checkbox" class="pick" value="{e(r["id"])}">', run_link(r["id"]), e(r.get("name", "")),
             state(r["status"], r["reason"]), ts(r["started"]), dur(r["duration"]), e(r["compute"]),
             e(r["distribution"]), e(f'{r["dataset"]} v{r["dataset_version"]}' if r["dataset"] else ""),
             e(" ".join(f"{k}={v}" for k, v in r["tags"].items())),
             *(e(r.get("params", {}).get(p, "")) for p in params), *(num(r["metrics"].get(m)) for m in metrics)]
            for r in d["rows"]]
    body = (form + columns_chooser(d, qs) + f'<p class="count">{d["total"]} run(s)'
            f'{" in " + e(d["experiment"]) if d.get("experiment") else ""} · newest first unless sorted · '
            f'<button id="compare" disabled>Compare selected</button></p>'
            + f'<div id="runs-table">{table(head, rows, "runs")}</div>' + pager(d, keep))
    return page("Runs", body, "runsPage", {"live": any(r["status"] in ("queued", "running") for r in d["rows"])},
                warnings)


def run_page(d: dict, warnings=()) -> str:
    lin = d["lineage"]
    ds = lin["dataset"]
    models = " ".join(f'<a href="/models#{e(m["name"])}">{e(m["name"])}:{e(m["version"])}</a>' for m in lin["models"])
    lineage = (f'<p class="lineage">dataset {e(ds["name"]) + " v" + e(ds["version"]) + " (" + e((ds["digest"] or "")[:12]) + ")" if ds else "none"}'
               f' → run {e(d["id"])} → {models or "no registered model"}</p>')
    finals = {k: v for k, v in d["final_metrics"].items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    from ..api.sweeps import BOOKKEEPING   # what a run records about itself, not about its model

    model = {k: v for k, v in finals.items() if k not in BOOKKEEPING and k not in ("learning_rate", "epoch")}
    facts = {k: v for k, v in finals.items() if k not in model}
    metrics = (table(["metric", "value"], [[e(k), num(v)] for k, v in model.items()], "metrics")
               + (f'<p class="facts">{" · ".join(f"{e(k)} {num(v)}" for k, v in facts.items())}</p>' if facts else ""))
    files = "".join(f'<li><a href="/api/runs/{quote(d["id"])}/files/{quote(f)}">{e(f)}</a> <span class="size">'
                    f'{size(d.get("sizes", {}).get(f))}</span>{preview(d["id"], f)}</li>' for f in d["files"])
    src = d["source"]
    source = ('<details><summary>' + f'{e(src.get("kind"))} snapshot of {e(src.get("project_root"))}: {e(src.get("files"))} files'
              + (f', commit <code>{e(src.get("commit"))}</code>{" (uncommitted changes)" if src.get("dirty") else ""}'
                 if src.get("commit") else "") + "</summary>"
              + "<ul class='files'>" + "".join(f"<li>{e(f)}</li>" for f in src.get("files_list", [])) + "</ul></details>") \
        if src and src.get("kind") != "none" else f'<p>no source snapshot{": " + e(src["reason"]) if src.get("reason") else ""}</p>'
    env = environment_table(d["environment"])
    ranks = "".join(f'<option value="{r}">rank {r}</option>' for r in d["ranks"])
    head = (f'<p>{state(d["status"], d["reason"])} experiment <a href="/runs?{urlencode({"experiment": d["experiment"]})}">'
            f'{e(d["experiment"])}</a> · started {ts(d["started"])} · {dur(d["duration"])} · compute {e(d["compute"])}'
            f' · distribution {e(d["distribution"])}</p>'
            + (f'<p class="reason">{e(d["exit_reason"])}</p>' if d["status"] in ("failed", "cancelled", "pruned") else "")
            + lineage)
    # run-head, run-metrics, run-env and run-files are refreshed in place while the run goes on (app.js)
    body = (f'<div id="run-head" data-status="{e(d["status"])}">{head}</div>'
            + '<h2>Charts</h2><div class="chart-controls">x: <select id="xaxis"><option value="step">epoch / step'
              '</option><option value="time">time (s)</option></select> <label><input type="checkbox" id="logy"> log y'
              '</label> <label>smoothing <input type="range" id="smooth" min="0" max="0.95" step="0.05" value="0">'
              '</label> <span id="series"></span></div><div id="charts" class="charts grid"></div>'
              '<h2>System</h2><div id="system" class="charts grid"></div>'
            + f'<h2>Metrics</h2><div id="run-metrics">{metrics}</div>'
            + f'<h2>Console</h2><p><select id="rank"><option value="">all ranks</option>{ranks}</select> '
              f'<span id="live">{"live" if d["status"] in ("queued", "running") else ""}</span></p>'
              f'<pre id="console" class="console"></pre>'
            + f"<h2>Files</h2><div id=\"run-files\"><ul class='files'>{files}</ul></div>"
            + f"<h2>Config</h2><details><summary>resolved config; overrides: <code>{e(' '.join(d['overrides']))}</code>"
              f"</summary><pre>{e(d['config_yaml'])}</pre></details>"
            + f"<h2>Environment</h2><div id=\"run-env\">{env}</div>"
            + f"<h2>Source</h2>{source}")
    return page(f"Run {d['id']}", body, "runPage", {"id": d["id"], "status": d["status"]}, warnings)


IMAGES = (".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp")
TEXTS = (".txt", ".log", ".json", ".yaml", ".yml", ".csv", ".md", ".py")


def size(n) -> str:
    if n is None:
        return ""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


def preview(run_id: str, f: str) -> str:
    """An image shown small under its name; a text file opens in a collapsed preview (app.js loads it)."""
    url = f"/api/runs/{quote(run_id)}/files/{quote(f)}"
    if f.lower().endswith(IMAGES):
        return f'<br><img class="preview" src="{url}" alt="{e(f)}" loading="lazy">'
    if f.lower().endswith(TEXTS):
        return f'<details class="text-preview" data-src="{url}"><summary>preview</summary><pre></pre></details>'
    return ""


def environment_table(env: dict) -> str:
    """Python, TensorFlow, Keras, host and devices as a table; the packages in a collapsed table."""
    if not env:
        return "<p>no environment recorded yet</p>"
    facts = [[e(k), e(env[k])] for k in ("python", "tensorflow", "keras", "hostname", "platform", "executable") if env.get(k)]
    devices = ", ".join(str(d.get("name")) for d in env.get("devices") or [] if isinstance(d, dict))
    if devices:
        facts.append(["devices", e(devices)])
    packages = [p.split("==", 1) if "==" in p else [p, ""] for p in env.get("packages") or [] if isinstance(p, str)]
    return (table(["", ""], facts, "environment")
            + (f'<details><summary>{len(packages)} packages</summary>'
               + table(["package", "version"], [[e(n), e(v)] for n, v in packages], "packages") + "</details>"
               if packages else ""))


def compare_page(d: dict, warnings=()) -> str:
    runs = d["runs"]
    head = ["", *(run_link(r["id"]) for r in runs)]
    rows = [["status", *(state(r["status"]) for r in runs)],
            ["differing overrides", *(e(" ".join(r["differing_overrides"]) or "(none)") for r in runs)]]
    rows += [[e(k), *(e(json.dumps(v)) for v in vals)] for k, vals in d["differing_config"].items()]
    metrics = list(runs[0]["metrics"]) if runs else []
    differ = [m for m in metrics if len({json.dumps(r["metrics"].get(m)) for r in runs}) > 1]
    rows += [[e(m), *(num(r["metrics"].get(m)) for r in runs)] for m in differ + [m for m in metrics if m not in differ]]
    # what differs first (config, then metrics), the curves after it, then a metric against each numeric parameter
    body = (table(head, rows, "compare") + '<h2>Curves</h2><div id="charts" class="charts"></div>'
            + '<h2>Metric against parameter</h2><div id="scatter" class="charts"></div>')
    return page("Compare runs", body, "comparePage", {"ids": [r["id"] for r in runs]}, warnings)


def sweeps_page(rows: list[dict], warnings=()) -> str:
    body = table(["sweep", "jobs", "states", "finished", "optuna"],
                 [[f'<a href="/sweeps/{quote(r["sweep"])}">{e(r["sweep"])}</a>', e(r["jobs"]),
                   " ".join(f"{state(s)} {e(n)}" for s, n in _counts(r["counts"])), "yes" if r["finished"] else "no",
                   "yes" if r["study"] else ""] for r in rows], "sweeps") if rows else "<p>No sweeps yet.</p>"
    return page("Sweeps", body, warnings=warnings)


def _counts(counts) -> list:
    """A summary's {state: count} (summary.json is read as found: anything else shows nothing)."""
    return list(counts.items()) if isinstance(counts, dict) else []


def axis_scale(values: list) -> tuple:
    """(position of a value in 0..1, ticks [(position, label)]) for one parallel-coordinates axis:
    numbers linear, or logarithmic when positive and spanning more than 20x (learning rates);
    anything else as evenly spaced categories."""
    import math

    present = [v for v in values if v is not None]
    nums = [float(v) for v in present if _isnum(v)]
    if nums and len(nums) == len(present):
        lo, hi = min(nums), max(nums)
        log = lo > 0 and hi / lo > 20
        f = (lambda x: math.log10(x)) if log else (lambda x: x)
        a, b = f(lo), f(hi)

        def pos(v):
            return None if v is None else (0.5 if b == a else (f(float(v)) - a) / (b - a))
        marks = sorted({lo, hi, (10 ** ((a + b) / 2)) if log else (lo + hi) / 2}) if hi != lo else [lo]
        return pos, [(pos(m), num(m)) for m in marks]
    cats = sorted({str(v) for v in present})

    def cat(v):
        return None if v is None else (cats.index(str(v)) + 0.5) / len(cats)
    return cat, [((i + 0.5) / len(cats), c) for i, c in enumerate(cats)]


def parallel_coordinates(s: dict) -> str:
    """Each trial a line across its parameters' axes to the objective (server-drawn SVG): ticks
    with values, completed trials coloured by the objective (darker is better), pruned ones dashed,
    failed ones red, the best one thick. app.js adds brushing: drag along an axis to keep the
    trials that pass through that range."""
    axes = [*s["params"], s["metric"]]
    rows = [r for r in s["rows"] if r["run_id"]]
    if not s["params"] or not rows:
        return ""
    w, h, top, bottom, side = max(420, 170 * len(axes)), 280, 34, 26, 70
    xs = [side + i * (w - 2 * side) / max(1, len(axes) - 1) for i in range(len(axes))]

    def value(r, axis):
        return r["params"].get(axis) if axis in s["params"] else r.get(axis)
    scales = {a: axis_scale([value(r, a) for r in rows]) for a in axes}
    y = lambda p: top + (1 - p) * (h - top - bottom)   # noqa: E731 - higher is more
    objective = [r.get(s["metric"]) for r in rows if r["status"] == "completed" and _isnum(r.get(s["metric"]))]
    lo, hi = (min(objective), max(objective)) if objective else (0, 1)
    parts = [f'<svg class="parallel" width="{w}" height="{h}" viewBox="0 0 {w} {h}" xmlns="http://www.w3.org/2000/svg">']
    for k, (x, axis) in enumerate(zip(xs, axes)):
        anchor = "start" if k == 0 and len(axes) > 1 else "end" if k == len(axes) - 1 and len(axes) > 1 else "middle"
        lx = x - 6 if anchor == "start" else x + 6 if anchor == "end" else x
        parts.append(f'<g class="axis" data-axis="{k}"><line x1="{x}" y1="{top}" x2="{x}" y2="{h - bottom}" stroke="#888"/>'
                     f'<text class="label" x="{lx}" y="{top - 14}" text-anchor="{anchor}">{e(axis)}</text>')
        for p, label in scales[axis][1]:
            parts.append(f'<line x1="{x - 4}" y1="{y(p):.1f}" x2="{x}" y2="{y(p):.1f}" stroke="#888"/>'
                         f'<text class="tick" x="{x - 7}" y="{y(p) + 4:.1f}" text-anchor="end">{e(label)}</text>')
        parts.append("</g>")
    for r in rows:
        ps = [scales[a][0](value(r, a)) for a in axes]
        pts = [(x, y(p)) for x, p in zip(xs, ps) if p is not None]
        v = r.get(s["metric"])
        if r["status"] == "completed" and _isnum(v):
            t = (float(v) - lo) / ((hi - lo) or 1)
            t = t if s.get("mode", "max") == "max" else 1 - t
            color = f"rgb({int(190 - 160 * t)},{int(210 - 120 * t)},{int(240 - 60 * t)})"
        else:
            color = {"pruned": "#9467bd", "failed": "#d62728"}.get(r["status"], "#999")
        width = 3.5 if r["run_id"] == s.get("best") else 1.6
        dash = ' stroke-dasharray="5,4"' if r["status"] == "pruned" else ""
        ys = ",".join("" if p is None else f"{p:.4f}" for p in ps)
        parts.append(f'<polyline class="trial trial-{e(r["status"])}" fill="none" stroke="{color}" stroke-width="{width}"{dash} '
                     f'data-y="{ys}" points="{" ".join(f"{x:.1f},{yy:.1f}" for x, yy in pts)}"><title>{e(r["run_id"])} '
                     f'{e(r["swept"])} {e(r["status"])} {e(s["metric"])}={e(num(v))}</title></polyline>')
    span = h - top - bottom   # the brushes reach 8 px past each end, so a range can start beyond the last value
    parts += [f'<g class="brushes" data-axis="{k}" data-top="{top}" data-height="{span}"><rect class="brush" x="{x - 9}" '
              f'y="{top - 8}" width="18" height="{span + 16}"/></g>' for k, x in enumerate(xs)]   # on top: they catch drags
    parts.append("</svg>")
    return ('<div class="parallel-wrap">' + "".join(parts)
            + '<p class="hint">drag along an axis to keep the trials passing through that range; click it to clear; '
              'dashed: pruned; darker: better objective</p></div>')


def _isnum(v) -> bool:
    try:
        float(v)
        return not isinstance(v, bool)
    except (TypeError, ValueError):
        return False


def sweep_page(s: dict, warnings=()) -> str:
    metric = s["metric"]
    rows = [[e(r["job"]), run_link(r["run_id"]), state(r["status"], r.get("error")) + (" ✂" if r["status"] == "pruned" else ""),
             e(r["swept"]), num(r.get(metric)), "best" if r["run_id"] and r["run_id"] == s["best"] else ""]
            for r in s["rows"]]
    best = (f'<p class="best">best trial: {run_link(s["best"])} by {e(metric)} ({e(s["mode"])}), the sweep\'s objective</p>'
            if s["best"] else f"<p>no completed trial reported {e(metric)} yet (the sweep's objective)</p>")
    body = (f"<p>{' '.join(f'{state(k)} {e(n)}' for k, n in s['counts'].items())}</p>{best}"
            + parallel_coordinates(s) + '<div id="charts" class="charts"></div>'
            + table(["job", "run", "status", "swept", e(metric), ""], rows, "trials"))
    trials = [r["run_id"] for r in s["rows"] if r["run_id"]]
    return page(f"Sweep {s['sweep']}", body, "sweepPage",
                {"trials": trials, "metric": metric, "labels": {r["run_id"]: r["swept"] or r["run_id"] for r in s["rows"]
                                                                if r["run_id"]}}, warnings)


def models_page(models: list[dict], warnings=()) -> str:
    parts = []
    for m in models:
        rows = [[e(v["version"]), e(", ".join(v["aliases"])), e(v["onnx"]["status"]),
                 num(v["onnx"]["max_abs_diff"]), num(v["onnx"]["argmax_agreement"]),
                 e(" ".join(f"{k}={val}" for k, val in v["tags"].items())), run_link(v["run_id"]),
                 num(v["metrics"].get("test_accuracy")), f"<code>{e(v['serve'])}</code>"] for v in m["versions"]]
        parts.append(f'<h2 id="{e(m["name"])}">{e(m["name"])}</h2>'
                     + table(["version", "aliases", "onnx", "max_abs_diff", "argmax_agreement", "tags", "run",
                              "test_accuracy", "serve"], rows, "models"))
    return page("Models", "".join(parts) or "<p>No registered models yet.</p>", warnings=warnings)


def jobs_page(jobs: list[dict], warnings=()) -> str:
    rows = [[run_link(j["id"]), e(j["experiment"]), e(j["backend"]), e(j["backend_id"] or ",".join(j["hosts"] or [])),
             state(j["state"], j["reason"]), e(_queue(j.get("queue"))), e(j["epoch"]), ts(j["submitted"]),
             num(j["test_accuracy"])] for j in jobs]
    body = table(["job", "experiment", "backend", "where", "state", "queue", "epoch", "submitted", "test_accuracy"],
                 rows, "jobs")
    return page("Jobs", f'<div id="jobs-table">{body}</div>', "jobsPage",
                {"live": any(j["state"] in ("queued", "running") for j in jobs)}, warnings)


def _queue(q) -> str:
    if not q:
        return ""
    return q.get("state", "") + (f" ({q['reason']})" if q.get("reason") else "")


def error_page(status: int, message: str) -> str:
    return page(f"{status}", f'<p class="error">{e(message)}</p>')
