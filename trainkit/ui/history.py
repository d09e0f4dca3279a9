"""A run's metric history for the charts, read as a stream: metrics.jsonl is read from a byte
offset in 1 MB pieces (a 300 MB file is never held in memory), each series is thinned to a bounded
number of points (the bytes read are cut into buckets; each bucket keeps its first, last, lowest
and highest value, so a spike survives), and a live page asks only for what was appended since the
offset of its last answer. Torn or partly written lines are skipped (the last one is read again
once it is complete)."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Iterator

POINTS = 1000        # at most this many points per series in one answer: 250 buckets x (first, last, min, max)
CHUNK = 1 << 20      # bytes read at a time
LINE_MAX = 1 << 20   # a longer line is no metrics row: skipped, never held whole
SERIES_MAX = 100     # metric names in one answer (a file with more keeps the first ones)
NOT_SERIES = ("epoch", "step", "time")


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


class Series:
    """One metric's points, thinned bucket by bucket to first, last, min and max."""

    def __init__(self):
        self.bucket, self.first, self.lo, self.hi, self.last = -1, None, None, None, None
        self.steps, self.time, self.values = [], [], []

    def add(self, bucket: int, point: tuple) -> None:
        """`point`: (row number, x, seconds, value)."""
        if bucket != self.bucket:
            self.flush()
            self.bucket, self.first, self.lo, self.hi = bucket, point, point, point
        elif point[3] < self.lo[3]:
            self.lo = point
        elif point[3] > self.hi[3]:
            self.hi = point
        self.last = point

    def flush(self) -> None:
        if self.first is None:
            return
        for _, x, t, y in sorted({self.first, self.lo, self.hi, self.last}):
            self.steps.append(x)
            self.time.append(t)
            self.values.append(y)
        self.first = None

    def as_dict(self) -> dict:
        self.flush()
        return {"steps": self.steps, "time": self.time, "values": self.values}


def lines(path: Path, start: int, stop: int, end: list[int]) -> Iterator[tuple[int, bytes]]:
    """(offset, line) of each complete line between two byte offsets; `end[0]` becomes the offset
    after the last complete one (a line still being written is left for the next read)."""
    end[0] = start
    with open(path, "rb") as f:
        f.seek(start)
        pos, rest, skipping = start, b"", False
        while pos < stop:
            chunk = f.read(min(CHUNK, stop - pos))
            if not chunk:
                break
            pos += len(chunk)
            parts = (rest + chunk).split(b"\n")
            rest = parts.pop()
            line_at = pos - len(rest) - sum(len(p) + 1 for p in parts)
            for part in parts:
                if not skipping:
                    yield line_at, part
                skipping = False
                line_at += len(part) + 1
            end[0] = line_at
            if len(rest) > LINE_MAX:      # no metrics row is this long: drop it up to its newline
                rest, skipping = b"", True


def first_row(path: Path) -> dict:
    """The file's first row (which says whether rows are epochs or steps, and when logging began)."""
    with open(path, "rb") as f:
        line = f.readline(LINE_MAX)
    try:
        row = json.loads(line)
    except ValueError:
        return {}
    return row if isinstance(row, dict) else {}


def at_line_start(path: Path, offset: int, size: int) -> bool:
    """Whether `offset` can be where a previous answer stopped (the file was not rewritten shorter)."""
    if offset == 0:
        return True
    if offset > size:
        return False
    with open(path, "rb") as f:
        f.seek(offset - 1)
        return f.read(1) == b"\n"


def read(path: Path, since: int = 0, elapsed: float = 0.0, points: int = POINTS) -> dict:
    """The history logged after byte `since`, thinned to at most `points` per series. `elapsed`:
    the training seconds up to `since`, as the previous answer said. An offset the file no longer
    fits (rewritten by a resumed run) answers the whole history, with `reset`."""
    size = path.stat().st_size if path.exists() else 0
    reset = since > 0 and not at_line_start(path, since, size)
    if reset or since == 0:
        since, elapsed = 0, 0.0
    head = first_row(path) if size else {}
    clock = Clock(head, elapsed)
    series: dict[str, Series] = {}
    buckets, span, end = max(1, points // 4), max(1, size - since), [since]
    for n, (at, line) in enumerate(lines(path, since, size, end) if size else ()):
        row = _row(line)
        if row is None or (clock.x == "step" and ("rank" in row or "image" in row)):
            continue
        x, t = clock.point(row)
        if x is None:
            continue
        bucket = (at - since) * buckets // span
        for key, value in row.items():
            if key not in NOT_SERIES and _number(value) and (key in series or len(series) < SERIES_MAX):
                series.setdefault(key, Series()).add(bucket, (n, x, t, value))
    return {"x": clock.x, "offset": end[0], "elapsed": round(clock.elapsed, 3), "reset": reset,
            "series": {k: s.as_dict() for k, s in series.items()}}


def _row(line: bytes) -> dict | None:
    try:
        row = json.loads(line)
    except ValueError:
        return None
    return row if isinstance(row, dict) else None


class Clock:
    """x (epoch or step) and seconds since the start of each row: epoch rows add up their
    `epoch_time_s`; script rows carry the wall time they were logged at."""

    def __init__(self, head: dict, elapsed: float):
        self.x = "epoch" if "epoch" in head else "step"
        self.t0 = head.get("time") if _number(head.get("time")) else None
        self.elapsed = elapsed

    def point(self, row: dict) -> tuple:
        x = row.get(self.x)
        if not _number(x):
            return None, None
        if _number(row.get("epoch_time_s")):
            self.elapsed += row["epoch_time_s"]
        elif _number(row.get("time")) and self.t0 is not None:
            self.elapsed = row["time"] - self.t0
        return x, round(self.elapsed, 3)
