"""A run's metric history for the charts, read as a stream: metrics.jsonl is read from a byte
offset in 256 KB pieces (a 300 MB file is never held in memory: a few MB are), each series is
thinned to a bounded number of points (the bytes read are cut into buckets; each bucket keeps its
first, last, lowest and highest value, so a spike survives), and a live page asks only for what
was appended since the offset of its last answer. Torn or partly written lines are skipped (the
last one is read again once it is complete)."""
from __future__ import annotations

import functools
import json
from itertools import accumulate
from pathlib import Path
from typing import Iterator

POINTS = 1000        # at most this many points per series in one answer: 250 buckets x (first, last, min, max)
CHUNK = 1 << 18      # bytes read (and lines parsed) at a time
LINE_MAX = 1 << 20   # a longer line is no metrics row: skipped, never held whole
SERIES_MAX = 50      # metric names in one answer (a file with more keeps the first ones)
NOT_SERIES = ("epoch", "step", "time")
NUMBER = (int, float)   # `type(v) in NUMBER`: bool is neither
INF = float("inf")


def _number(v) -> bool:
    return type(v) in NUMBER and -INF < v < INF          # NaN fails the comparison


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


def batches(path: Path, start: int, stop: int, end: list[int]) -> Iterator[tuple[list[int], list]]:
    """(offsets, rows) of the complete lines between two byte offsets, a piece at a time (a piece's
    lines are parsed in one go; a piece holding a torn line is parsed line by line, skipping it).
    `end[0]` becomes the offset after the last complete line (a line still being written is left
    for the next read)."""
    end[0] = start
    with open(path, "rb") as f:
        f.seek(start)
        pos, rest, skipping = start, b"", False
        while pos < stop:
            chunk = f.read(min(CHUNK, stop - pos))
            if not chunk:
                break
            parts = (rest + chunk).split(b"\n")
            at = pos - len(rest)
            pos += len(chunk)
            rest = parts.pop()
            offsets = list(accumulate((len(p) + 1 for p in parts), initial=at))
            end[0] = offsets.pop()
            if skipping and parts:                 # the end of a line too long to be a row
                parts, offsets, skipping = parts[1:], offsets[1:], False
            keep = [i for i, p in enumerate(parts) if p.strip()]
            yield [offsets[i] for i in keep], parse([parts[i] for i in keep])
            if len(rest) > LINE_MAX:
                rest, skipping = b"", True


def parse(lines: list[bytes]) -> list:
    """Each line's JSON value (None for a torn one), in one parse when none is torn."""
    try:
        rows = json.loads(b"[" + b",".join(lines) + b"]")
        if len(rows) == len(lines):
            return rows
    except ValueError:
        pass
    return [_row(line) for line in lines]


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
    fits (rewritten by a resumed run) answers the whole history, with `reset`. The last few answers
    are kept while their file is unchanged (a finished run's page opened again is not read again)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return _read(path, 0, since, elapsed, points)
    return _cached(path, (st.st_ino, st.st_size, st.st_mtime_ns), st.st_size, since, elapsed, points)


@functools.lru_cache(maxsize=8)
def _cached(path: Path, version: tuple, size: int, since: int, elapsed: float, points: int) -> dict:
    return _read(path, size, since, elapsed, points)


def _read(path: Path, size: int, since: int, elapsed: float, points: int) -> dict:
    reset = since > 0 and not at_line_start(path, since, size)
    if reset or since == 0:
        since, elapsed = 0, 0.0
    clock = Clock(first_row(path) if size else {}, elapsed)
    series: dict[str, Series] = {}
    buckets, span, end, n = max(1, points // 4), max(1, size - since), [since], 0
    for offsets, rows in batches(path, since, size, end) if size else ():
        for at, row in zip(offsets, rows):
            n += 1
            x, t = clock.point(row)
            if x is None:
                continue
            bucket = (at - since) * buckets // span
            for key, value in row.items():
                if type(value) in NUMBER and -INF < value < INF and key not in NOT_SERIES:
                    s = series.get(key)
                    if s is None:
                        if len(series) >= SERIES_MAX:
                            continue
                        s = series[key] = Series()
                    s.add(bucket, (n, x, t, value))
    return {"x": clock.x, "offset": end[0], "elapsed": round(clock.elapsed, 3), "reset": reset,
            "series": {k: s.as_dict() for k, s in series.items()}}


def _row(line: bytes) -> dict | None:
    try:
        return json.loads(line)
    except ValueError:
        return None


class Clock:
    """x (epoch or step) and seconds since the start of each row: epoch rows add up their
    `epoch_time_s`; script rows carry the wall time they were logged at (and a script's rows of
    one rank only, without images, are charted)."""

    def __init__(self, head: dict, elapsed: float):
        self.x = "epoch" if "epoch" in head else "step"
        self.t0 = head.get("time") if _number(head.get("time")) else None
        self.elapsed = elapsed

    def point(self, row) -> tuple:
        """(x, seconds) of a row, or (None, None) for one that is not charted."""
        if type(row) is not dict or (self.x == "step" and ("rank" in row or "image" in row)):
            return None, None
        x = row.get(self.x)
        if not _number(x):
            return None, None
        spent, at = row.get("epoch_time_s"), row.get("time")
        if _number(spent):
            self.elapsed += spent
        elif self.t0 is not None and _number(at):
            self.elapsed = at - self.t0
        return x, round(self.elapsed, 3)
