"""The score worker: the process that runs a user's score.py for `trainkit models serve --score`.

It imports score.py, calls `init()` once (AZUREML_MODEL_DIR is set by the server) and then, for
each request the server forwards over the socket pair (serve/frames.py), `run(raw_data)` with the
body as text; it sends back the result as JSON, or what failed (import, init, run, a result that
is not JSON-serialisable or too large) with its traceback. It never answers HTTP itself: a crash
or hang here costs one request, and the server restarts it. What score.py prints goes to the
server's log (stdout is joined to stderr). Started as `python -m trainkit.serve.score_worker`, in
the interpreter of `--environment` when one is given; it imports nothing but the standard library
and frames.py, so score.py alone decides what else is loaded (TensorFlow, tf_keras, ...).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import socket
import sys
import threading
import time
import traceback
from pathlib import Path

from trainkit.serve import frames

PARENT_CHECK_S = 1.0   # how often the worker checks that the server still lives (else it exits)
EXIT_INIT_FAILED = 3


class ScoreError(Exception):
    """score.py cannot be used: where it failed (import, init, run, result) and why."""

    def __init__(self, where: str, message: str):
        super().__init__(message)
        self.where = where


def failure(where: str, error: BaseException | None = None, message: str | None = None) -> bytes:
    """A FAILED frame's payload: where, the exception's type and message, and its traceback."""
    doc = {"where": where, "type": type(error).__name__ if error is not None else "",
           "message": message or (str(error) if error is not None else ""),
           "traceback": "".join(traceback.format_exception(error)) if error is not None else ""}
    return json.dumps(doc).encode()


def load(score: Path):
    """score.py as a module (named after the file), its directory first on sys.path."""
    sys.path.insert(0, str(score.parent))
    name = score.stem if score.stem.isidentifier() else "score"
    spec = importlib.util.spec_from_file_location(name, score)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def entry(module, name: str, what: str):
    fn = getattr(module, name, None)
    if not callable(fn):
        raise ScoreError("import", f"{module.__file__}: expected a function {name}() ({what}), got "
                                   f"{'none' if fn is None else type(fn).__name__}")
    return fn


def start(score: Path):
    """(run, None) once init() has returned, or (None, the FAILED payload)."""
    try:
        module = load(score)
        init = entry(module, "init", "called once at start")
        run = entry(module, "run", "called with each request's body")
    except ScoreError as e:
        return None, failure(e.where, None, str(e))
    except BaseException as e:  # noqa: BLE001 - whatever score.py raises is reported, not fatal here
        return None, failure("import", e)
    try:
        init()
    except BaseException as e:  # noqa: BLE001
        return None, failure("init", e)
    return run, None


def answer(run, body: bytes, limit: int) -> tuple[bytes, bytes]:
    """(kind, payload) for one request: run()'s result as JSON, or what failed."""
    try:
        result = run(body.decode("utf-8"))
    except BaseException as e:  # noqa: BLE001 - sys.exit() in run() too: this request fails, the worker stays
        return frames.FAILED, failure("run", e)
    try:
        data = json.dumps(result).encode()
    except (TypeError, ValueError) as e:
        return frames.FAILED, failure("result", None, f"run() returned a {type(result).__name__} that is not "
                                                      f"JSON-serialisable ({e}); return lists, dicts, numbers "
                                                      "or strings (numpy: .tolist())")
    if len(data) > limit:
        return frames.FAILED, failure("result", None, f"run() returned {len(data)} bytes of JSON, expected at "
                                                      f"most {limit} (--score-max-response-mb)")
    return frames.ANSWER, data


def add_shim() -> None:
    """`from azureml.core.model import Model` for score.py: trainkit's stand-in, last on sys.path and
    only when the interpreter has no azureml package of its own (a real one is never shadowed)."""
    if importlib.util.find_spec("azureml") is None:
        sys.path.append(str(Path(frames.__file__).resolve().parents[1] / "azureml_shim"))


def watch_parent(parent: int) -> None:
    """Exit when the server is gone (a worker stuck in run() would otherwise outlive it)."""
    def check() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_S)
        os._exit(70)

    threading.Thread(target=check, name="parent-watch", daemon=True).start()


def serve(sock: socket.socket, run, max_request: int, max_answer: int) -> int:
    while True:
        try:
            _, body = frames.receive(sock, max_request)
        except frames.ChannelClosed:
            return 0                      # the server closed the pipe: a clean stop
        frames.send(sock, *answer(run, body, max_answer))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m trainkit.serve.score_worker")
    p.add_argument("score", type=Path)
    p.add_argument("--fd", type=int, required=True, help="this end of the server's socket pair")
    p.add_argument("--max-request", type=int, required=True)
    p.add_argument("--max-answer", type=int, required=True)
    args = p.parse_args(argv)
    sock = socket.socket(fileno=args.fd)
    os.set_inheritable(args.fd, False)    # processes score.py starts do not get the pipe
    os.dup2(2, 1)                         # print() in score.py goes to the log
    sys.stdout.reconfigure(line_buffering=True)
    add_shim()
    watch_parent(os.getppid())
    run, failed = start(args.score.resolve())
    if failed is not None:
        frames.send(sock, frames.FAILED, failed)
        return EXIT_INIT_FAILED
    frames.send(sock, frames.READY)
    return serve(sock, run, args.max_request, args.max_answer)


if __name__ == "__main__":
    sys.exit(main())
