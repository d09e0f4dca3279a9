"""Worker output, wherever the workers run: each rank's lines into its log files, the console (a
terminal or the job's console.log) prefixed with the rank, and the last lines kept for failure
reports. One reader thread per stream; a stream carrying several ranks (horovodrun, srun) names the
rank in a prefix."""
from __future__ import annotations

import json
import re
import sys
import threading
from typing import IO, Callable

from ..records.workspace import RunPaths
from ..tfquiet import NOISE

PROGRESS = "@@progress "
EPOCH_LINE = re.compile(r"^epoch (\d+)/\d+ ")
# What a rank prints when another process of the job went away (gloo, MPI, gRPC): it failed because
# of that process, not on its own.
PEER_LOST = re.compile(r"Connection (?:reset|closed) by peer|Broken pipe|Socket closed|"
                       r"failed to connect to all addresses|HorovodInternalError", re.I)


def root_cause(ended: list[int], tails: dict[int, list[str]], chief_error: str | None = None,
               chief: int = 0) -> int | None:
    """Which of the failed ranks (in the order they ended) caused the failure: the first whose own
    output (its last lines; the chief's with the error it recorded) does not say it lost a peer. A
    rank killed outright can end a moment after the peer whose collective it broke, so the first to
    end is not always the cause. None if `ended` is empty."""
    def said(rank: int) -> str:
        return "\n".join(tails.get(rank, []) + ([chief_error] if rank == chief and chief_error else []))

    return next((r for r in ended if not PEER_LOST.search(said(r))), ended[0] if ended else None)


def note_epoch(paths: RunPaths, line: str) -> None:
    """A remote chief's `epoch N/M ...` line: the local run's status follows (ssh hosts, Ray nodes)."""
    from ..records.runs import write_status

    m = EPOCH_LINE.match(line)
    if m:
        write_status(paths, "running", epoch=int(m.group(1)))


class RankSink:
    """One rank's output: its log file(s), the last lines (for failure reports), the console."""

    def __init__(self, rank: int, paths: RunPaths, world_size: int, on_progress: Callable | None,
                 prefix: str | None = None, consoles: tuple[IO[str], IO[str]] | None = None, verbose: bool = False):
        """`consoles`: where the rank's stdout and stderr lines are shown (default: this process's)."""
        self.rank, self.on_progress, self.tail, self.consoles = rank, on_progress, [], consoles
        self.launcher: list[str] = []   # the launcher's own lines (horovodrun's "Process 1 exit ...")
        self.quiet = not verbose   # TensorFlow's start-up lines (of launchers such as horovodrun) stay in the logs only
        self.prefix = prefix if prefix is not None else "" if world_size == 1 else f"[rank {rank}] "
        if rank == 0:
            self.out, self.err = open(paths.stdout_log, "a"), open(paths.stderr_log, "a")
        else:
            self.out = self.err = open(paths.rank_log(rank), "a")
        self.lock = threading.Lock()

    def write(self, line: str, is_err: bool) -> None:
        if line.startswith(PROGRESS):
            if self.on_progress:
                try:
                    self.on_progress(json.loads(line[len(PROGRESS):]))
                except ValueError:
                    pass
            return
        with self.lock:
            log = self.err if is_err else self.out
            log.write(line)
            log.flush()
            if self.quiet and NOISE.match(line):
                return
            self.tail.append(line.rstrip("\n"))
            del self.tail[:-20]
            out, err = self.consoles or (sys.stdout, sys.stderr)
            echo = err if is_err else out
            echo.write(self.prefix + line)
            echo.flush()

    def close(self) -> None:
        self.out.close()
        if self.err is not self.out:
            self.err.close()


HOROVOD_LINE = re.compile(r"\[(\d+)\]<(stdout|stderr)>:(.*)", re.S)   # fullmatch: the rest is the line
SRUN_LABEL = re.compile(r"\s*(\d+): (.*)", re.S)


def horovod_demux(line: str, is_err: bool) -> tuple[int, bool, str] | None:
    """horovodrun prefixes every rank's line with `[rank]<stdout|stderr>:`."""
    m = HOROVOD_LINE.fullmatch(line)
    return (int(m.group(1)), m.group(2) == "stderr", m.group(3)) if m else None


def srun_demux(line: str, is_err: bool) -> tuple[int, bool, str] | None:
    """`srun --label` prefixes every task's line with `<task id>: `."""
    m = SRUN_LABEL.fullmatch(line)
    return (int(m.group(1)), is_err, m.group(2)) if m else None


class OutputPump:
    """Reads one process's stream line by line and hands each line to the rank it belongs to. A
    stream that carries several ranks (horovodrun, srun) names the rank in a prefix: `demux`."""

    def __init__(self, stream: IO[bytes], ranks: list[int], sinks: dict[int, RankSink], is_err: bool,
                 demux: Callable | None = None):
        self.thread = threading.Thread(target=self._run, args=(stream, ranks, sinks, is_err, demux),
                                       daemon=True)
        self.thread.start()

    @staticmethod
    def _run(stream, ranks, sinks, is_err, demux) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode(errors="replace")
            rank, err = ranks[0], is_err
            if demux is not None:
                parsed = demux(line, is_err)
                if parsed:
                    rank, err, line = parsed
                else:
                    launcher = sinks[ranks[0]].launcher
                    launcher.append(line.rstrip("\n"))
                    del launcher[:-200]
            sinks.get(rank, sinks[ranks[0]]).write(line, err)


class Tee:
    """Writes to several streams at once (the terminal and console.log)."""

    def __init__(self, *streams):
        self.streams = streams

    def write(self, text: str) -> None:
        for s in self.streams:
            s.write(text)

    def flush(self) -> None:
        for s in self.streams:
            s.flush()


class ProgressBar:
    """A rich progress bar for the chief's step progress, only when stdout is a terminal."""

    def __init__(self):
        self.bar = self.task = None
        if sys.stdout.isatty():
            from rich.progress import Progress

            self.bar = Progress(transient=True)
            self.bar.start()

    def update(self, event: dict) -> None:
        if self.bar is None:
            return
        desc = f"epoch {event['epoch']}/{event['epochs']}"
        if self.task is None:
            self.task = self.bar.add_task(desc, total=event["steps"])
        self.bar.update(self.task, description=desc, completed=event["step"], total=event["steps"])

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()
