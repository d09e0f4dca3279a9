"""A run's console for the dashboard: read from a byte offset in bounded pieces, and followed live
as server-sent events. The run is looked up once per stream, then only its own status and log are
read; every line break a terminal knows (CRLF, CR, LF) ends a `data:` line, so no text in a log
can start an event of its own; a line longer than a piece is sent in parts instead of being read
again and again; the number of live streams is capped."""
from __future__ import annotations

import asyncio
import re
from typing import AsyncIterator

from ..compute.base import Job

CHUNK = 4 << 20        # bytes read at a time
POLL_S = 0.5           # how often a live stream looks for new output
MAX_STREAMS = 32       # live log streams at once (each holds a connection and polls its file)
BREAK = re.compile(r"\r\n|\r|\n")


def utf8_cut(data: bytes) -> int:
    """The length of the longest prefix of `data` that does not end inside a UTF-8 character."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte < 0x80:
            return len(data)
        if byte >= 0xC0:       # a lead byte: whole if its character fits in what follows it
            need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return len(data) if back >= need else len(data) - back
    return len(data)


def whole_lines(data: bytes, full: bool) -> int:
    """How much of `data` to hand out while the log grows: up to its last line break; a `full`
    piece without one is a long line, handed out in part (never inside a character)."""
    cut = data.rfind(b"\n") + 1
    if not cut:
        cut = data.rfind(b"\r", 0, len(data) - 1) + 1    # a CR at the very end may be half of a CRLF
    return cut or (utf8_cut(data) if full else 0)


def read_log(job: Job, rank: int | None = None, offset: int = 0) -> dict:
    """The console (all ranks) or one rank's output from byte `offset`, and whether the run ended.
    The state is read first, so a run found ended has all its output in what is read after."""
    state = job.state()
    log = job.log_path(rank)
    data = b""
    if log.exists():
        with open(log, "rb") as f:
            f.seek(offset)
            data = f.read(CHUNK)
    at_end = len(data) < CHUNK
    cut = (len(data) if at_end else utf8_cut(data)) if state.done else whole_lines(data, not at_end)
    return {"text": data[:cut].decode(errors="replace"), "offset": offset + cut, "done": state.done and at_end,
            "status": state.name}


def sse(text: str) -> str:
    """One server-sent event carrying `text` (its lines, however they end, each a `data:` line)."""
    lines = BREAK.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return "".join(f"data: {line}\n" for line in lines) + "\n"


async def events(job: Job, rank: int | None, gone) -> AsyncIterator[str]:
    """The log as events while it grows, then `event: end` with the final state; stops when `gone()`."""
    offset = 0
    while True:
        d = await asyncio.to_thread(read_log, job, rank, offset)
        if d["text"]:
            yield sse(d["text"])
        if d["done"]:
            yield f"event: end\ndata: {d['status']}\n\n"
            return
        if await gone():
            return
        if d["offset"] == offset or not d["text"]:
            await asyncio.sleep(POLL_S)
        offset = d["offset"]


class Streams:
    """A count of the live streams, capped."""

    def __init__(self, limit: int = MAX_STREAMS):
        self.limit, self.open = limit, 0

    def take(self) -> bool:
        if self.open >= self.limit:
            return False
        self.open += 1
        return True

    def give_back(self) -> None:
        self.open -= 1
