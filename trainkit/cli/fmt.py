"""Terminal output shared by the CLI commands and the sweep callback: JSON, tables, timestamps.
A leaf module (rich is imported only when a table is printed), so nothing imports in a circle."""
from __future__ import annotations

import json
import sys
import time


def print_json(obj) -> None:
    print(json.dumps(obj, indent=2, sort_keys=True, default=str))


def table(columns: list[str], rows: list[list], title: str | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(*columns, title=title)
    for row in rows:
        t.add_row(*("" if v is None else str(v) for v in row))
    Console(width=None if sys.stdout.isatty() else 160).print(t)   # logs and pipes: no truncation


def ts(t: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) if t else ""


def num(v) -> str:
    """A metric value for a table cell (trainkit.numfmt: the dashboard's and notebooks' too)."""
    from ..numfmt import number

    return number(v)


def counts_text(counts) -> str:
    from ..numfmt import counts_text

    return counts_text(counts)


def print_sweep_summary(summary: dict) -> None:
    metric = summary["metric"]
    others = [m for m in summary.get("metrics", []) if m != metric][:2]
    table(["job", "swept overrides", "status", metric, *others, "time_s", "run"],
          [[r["job"], r["swept"], r["status"], num(r.get(metric)), *(num(r.get(o)) for o in others),
            r["time_s"], r["run_id"]] for r in summary["rows"]],
          title=f"sweep {summary['sweep']}: {counts_text(summary['counts'])} (best first by {metric}, "
                f"{summary.get('mode', 'max')})")

    print(f"summary: {summary['path']}/summary.csv, summary.json, curves.png\n"
          f"  trainkit sweeps show {summary['sweep']}")
