"""Records as the dashboard reads them, checked one at a time. A record that is not what trainkit
writes (a hand-edited status.json, a foreign or tampered registry entry, a stray directory) is
skipped with a warning naming the file, the key, what was expected and what was found; the page
shows it and the log has it once, so one bad file never breaks a page for every run. Values that
only look different (a number written as a string) are coerced."""
from __future__ import annotations

import logging
import math
from typing import Any, Callable

log = logging.getLogger("trainkit.ui")
_LOGGED: dict[str, None] = {}          # messages already logged (bounded: the oldest are forgotten)
LOGGED_MAX = 1000


class Warnings(list):
    """What one request skipped, as messages ('WHERE: KEY: expected X, got Y; skipped')."""

    def skip(self, where: str, problems: list[str]) -> None:
        message = f"{where}: {'; '.join(problems)}; skipped"
        self.append(message)
        log_once(message)


def log_once(message: str) -> None:
    if message in _LOGGED:
        return
    _LOGGED[message] = None
    if len(_LOGGED) > LOGGED_MAX:
        del _LOGGED[next(iter(_LOGGED))]
    log.warning("%s", message)


# ----------------------------------------------------------------------------- coercions
def number(v: Any) -> float | int:
    """A finite number (a numeric string is read as one); ValueError otherwise."""
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise ValueError
    n = float(v) if isinstance(v, str) else v
    if not math.isfinite(n):
        raise ValueError
    return n


def integer(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, str)):
        raise ValueError
    if isinstance(v, str) and not v.isdigit():
        raise ValueError
    return int(v)


def text(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError
    return v


def mapping(v: Any) -> dict:
    if not isinstance(v, dict):
        raise ValueError
    return v


def texts(v: Any) -> list[str]:
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise ValueError
    return v


Check = tuple[Callable[[Any], Any], str]
STATUS: dict[str, Check] = {   # status.json key -> (coercion, what trainkit writes there); None is always allowed
    "state": (text, "a state name"), "started": (number, "a time in seconds since 1970"),
    "ended": (number, "a time in seconds since 1970"), "epoch": (integer, "an epoch number"),
    "name": (text, "a name"), "tags": (mapping, "a mapping of tag names to values"), "final_metrics": (mapping, "a mapping of metric names to values"),
    "last_metrics": (mapping, "a mapping of metric names to values"), "dataset": (mapping, "{name, version, digest}"),
    "dataset.name": (text, "a dataset name"), "dataset.version": (integer, "a version number"),
    "dataset.digest": (text, "a digest"), "job": (mapping, "{backend, ...}"), "job.backend": (text, "a compute target name"),
    "distribution": (text, "a distribution name"), "exit_reason": (text, "a message"), "sweep": (text, "a sweep id"),
    "registered_model": (text, "a model reference"),
}
ENTRY: dict[str, Check] = {    # a registry entry.json
    "name": (text, "a model name"), "version": (integer, "an integer"), "run_id": (text, "a run id"),
    "experiment": (text, "an experiment name"), "aliases": (texts, "a list of alias names"),
    "tags": (mapping, "a mapping of tag names to values"), "metrics": (mapping, "a mapping of metric names to values"),
    "onnx": (mapping, "the ONNX export's record"), "created": (number, "a time in seconds since 1970"),
}
JOB: dict[str, Check] = {      # a sweep's jobs/N/job.json
    "job": (integer, "an integer"), "run_id": (text, "a run id"), "state": (text, "a state name"),
    "overrides": (texts, "a list of overrides"), "error": (text, "a message"),
}


def checked(record: Any, checks: dict[str, Check]) -> tuple[dict, list[str]]:
    """The record with its values coerced, and every problem found ('KEY: expected X, got Y')."""
    if not isinstance(record, dict):
        return {}, [f"expected a JSON object, got {_short(record)}"]
    out = {**record, **{k: dict(v) for k, v in record.items() if isinstance(v, dict)}}
    problems = []
    for key, (coerce, expected) in checks.items():
        head, _, sub = key.partition(".")
        node = out.get(head) if sub else out
        name = sub or head
        if not isinstance(node, dict) or node.get(name) is None:
            continue
        try:
            node[name] = coerce(node[name])
        except (TypeError, ValueError):
            problems.append(f"{key}: expected {expected}, got {_short(node[name])}")
    return out, problems


def _short(value: Any, limit: int = 80) -> str:
    text_ = repr(value)
    return text_ if len(text_) <= limit else text_[:limit] + "..."
