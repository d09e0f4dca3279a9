"""One way to print a number, for the CLI's tables, the notebook HTML and the dashboard alike:
up to 4 significant digits (0.9066, 0.00075, 8.94e-07), whole numbers past 10,000 without a
fraction, integers as they are. A leaf: it imports nothing of trainkit's."""
from __future__ import annotations

import math


def number(v) -> str:
    """`v` as a table cell: '' for None, str() for what is not a number."""
    if v is None:
        return ""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, int):
        return str(v)
    if not math.isfinite(v):
        return str(v)
    if v == 0:
        return "0"
    if abs(v) >= 1e4:
        return f"{v:.0f}"
    return f"{v:.4g}"


def counts_text(counts) -> str:
    """A sweep's states as words: {'completed': 3, 'pruned': 1} -> '3 completed, 1 pruned'."""
    return ", ".join(f"{n} {state}" for state, n in counts.items()) if isinstance(counts, dict) else ""
