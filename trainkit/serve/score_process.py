"""The server's handle on its score worker (serve/score_worker.py): start it and wait for init(),
forward one request at a time over the socket pair, and turn whatever goes wrong in the user's
code into a ScoreFailure with an HTTP status and a message, never into a server crash:

    init() raised / timed out / the worker died during it   503 (at start: the server does not start)
    run() raised, or returned something not JSON-serialisable or too large     500
    the worker died while running run()                     500, restarted (init again) for the next request
    run() did not answer within --score-timeout-s           503, the worker (and what it started) killed, restarted

All calls block: the server makes them from a thread (asyncio.to_thread), one at a time.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import frames

log = logging.getLogger("trainkit.serve")
RETRY_S = 5.0        # after a failed restart, requests get 503 at once for this long, then it is tried again
STOP_GRACE_S = 5.0   # at shutdown, how long the worker may take to exit once its pipe is closed


class ScoreFailure(Exception):
    """What a request gets when score.py fails: an HTTP status, a message for the client, and the
    details (a traceback) for the log."""

    def __init__(self, status: int, message: str, details: str = ""):
        super().__init__(message)
        self.status, self.details = status, details


@dataclass(frozen=True)
class WorkerSpec:
    """How to start the worker: interpreter, score.py, environment variables, limits."""

    python: str
    score: Path
    env: dict = field(repr=False)
    cwd: str | None
    init_timeout_s: float
    run_timeout_s: float
    max_request: int
    max_answer: int

    def command(self, fd: int) -> list[str]:
        return [self.python, "-m", "trainkit.serve.score_worker", str(self.score), "--fd", str(fd),
                "--max-request", str(self.max_request), "--max-answer", str(self.max_answer)]


def exit_status(code: int | None) -> str:
    """A process's end as words: 'exit code 3', 'killed by SIGKILL'."""
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def reported(payload: bytes) -> ScoreFailure:
    """A FAILED frame from the worker as the ScoreFailure a request (or the start) gets."""
    try:
        doc = json.loads(payload)
    except ValueError:
        doc = {"where": "run", "message": payload[:200].decode(errors="replace")}
    where, kind, message = doc.get("where", "run"), doc.get("type", ""), doc.get("message", "")
    what = {"import": "importing score.py failed", "init": "init() raised", "run": "run() raised"}.get(where)
    text = f"{what}: {kind + ': ' if kind else ''}{message}" if what else message
    return ScoreFailure(503 if where in ("import", "init") else 500, text, doc.get("traceback", ""))


class ScoreWorker:
    """One worker process at a time; see the module docstring."""

    def __init__(self, spec: WorkerSpec):
        self.spec = spec
        self.proc: subprocess.Popen | None = None
        self.sock: socket.socket | None = None
        self.starts = 0                  # processes started so far (1 after a clean start)
        self.broken: tuple[float, ScoreFailure] | None = None   # the last failed (re)start

    @property
    def ready(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        """Start a worker and wait for its init(); ScoreFailure (503) when that fails."""
        parent, child = socket.socketpair()
        env = {**self.spec.env, "PYTHONUNBUFFERED": "1"}
        try:
            self.proc = subprocess.Popen(self.spec.command(child.fileno()), env=env, cwd=self.spec.cwd,
                                         pass_fds=[child.fileno()], stdin=subprocess.DEVNULL, start_new_session=True)
        finally:
            child.close()
        self.sock, self.starts = parent, self.starts + 1
        log.info("score worker %d started (%s, %s)", self.proc.pid, self.spec.score, self.spec.python)
        self._await_init()

    def _await_init(self) -> None:
        self.sock.settimeout(self.spec.init_timeout_s)
        try:
            kind, payload = frames.receive(self.sock, 1 << 24)
        except (TimeoutError, socket.timeout):
            self.kill()
            raise ScoreFailure(503, f"init() did not return within {self.spec.init_timeout_s:g} s "
                                    f"(--score-init-timeout-s); the score worker was stopped") from None
        except (frames.ChannelClosed, frames.FrameTooLarge, OSError):
            raise ScoreFailure(503, f"the score worker ended ({exit_status(self.reap())}) before init() "
                                    "returned; see the log above") from None
        if kind != frames.READY:
            failure = reported(payload)
            self.reap()
            raise failure
        self.broken = None

    def ensure(self) -> None:
        """A live, initialised worker: restart one that ended (or was stopped) since the last request."""
        if self.ready:
            return
        if self.proc is not None:
            log.warning("score worker %d ended while idle (%s); restarting it", self.proc.pid,
                        exit_status(self.reap()))
        if self.broken and time.monotonic() - self.broken[0] < RETRY_S:
            raise ScoreFailure(503, f"score worker unavailable: {self.broken[1]} (restart retried every {RETRY_S:g} s)")
        try:
            self.start()
        except ScoreFailure as e:
            self.broken = (time.monotonic(), e)
            raise ScoreFailure(503, f"score worker restart failed: {e}", e.details) from None

    def call(self, body: bytes) -> bytes:
        """run(body) in the worker: its JSON answer, or ScoreFailure."""
        self.ensure()
        self.sock.settimeout(self.spec.run_timeout_s)
        try:
            frames.send(self.sock, frames.REQUEST, body)
            kind, payload = frames.receive(self.sock, self.spec.max_answer + (1 << 16))
        except (TimeoutError, socket.timeout):
            self.kill()
            raise ScoreFailure(503, f"run() did not answer within {self.spec.run_timeout_s:g} s (--score-timeout-s); "
                                    "the score worker was stopped and restarts for the next request") from None
        except (frames.ChannelClosed, frames.FrameTooLarge, OSError) as e:
            code = self.reap() if not isinstance(e, frames.FrameTooLarge) else self.kill()
            raise ScoreFailure(500, f"the score worker ended while running run() ({exit_status(code)}); "
                                    "it restarts for the next request") from None
        if kind == frames.ANSWER:
            return payload
        raise reported(payload)

    def kill(self) -> int | None:
        """SIGKILL the worker and every process it started (its own session); returns its exit status."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return self.reap()

    def reap(self) -> int | None:
        """Wait for the ended worker, close the pipe; its exit status."""
        code = None
        if self.proc is not None:
            try:
                code = self.proc.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                code = self.proc.wait()
        if self.sock is not None:
            self.sock.close()
        self.proc, self.sock = None, None
        return code

    def stop(self) -> None:
        """Close the pipe (the worker's loop ends) and wait for it; killed after STOP_GRACE_S."""
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self.proc is not None:
            pid = self.proc.pid
            log.info("score worker %d stopped (%s)", pid, exit_status(self.reap()))
