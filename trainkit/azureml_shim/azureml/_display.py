"""How runs look as a notebook cell's last line: Azure's table (experiment, id, type, status, a link
to the run's page, here trainkit's dashboard). Every value is HTML-escaped."""
from __future__ import annotations

from html import escape


def table(cells: dict) -> str:
    head = "".join(f"<th>{escape(str(k))}</th>" for k in cells)
    row = "".join(f"<td>{v if str(k).endswith('Page') else escape(str(v))}</td>" for k, v in cells.items())
    return f"<table style=\"width:100%\"><tr>{head}</tr><tr>{row}</tr></table>"


def run_table(run) -> str:
    url = escape(run.get_portal_url(), quote=True)
    return table({"Experiment": run.experiment.name, "Id": run.id, "Type": run.type, "Status": run.get_status(),
                  "Details Page": f'<a href="{url}" target="_blank" rel="noopener">Link to trainkit dashboard</a>'})
