"""`trainkit models serve REF... --score score.py`: Azure ML's scoring contract on POST /score.

score.py runs in a worker process (serve/score_worker.py, started by serve/score_process.py) that
calls its `init()` once, with AZUREML_MODEL_DIR set as Azure sets it (one model: the version's
folder, `<cache>/azureml-models/NAME/VERSION`; several: a folder holding NAME/VERSION of each),
the files there as they were registered (registry/files.py), and its `run(raw_data)` for each
request, with the body as text; the answer is run()'s result as JSON. The request goes through the
same server as the Open Inference Protocol's (body limits and deadlines, connection limits,
SIGTERM drain, --auth-key-file, Prometheus metrics labelled with the model names); the v2 inference
routes are not served with --score. Requests reach run() one at a time, in arrival order. A REF
with an alias is resolved once, at start.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..errors import TrainkitError, UsageError
from ..registry.store import ModelRef, Registry
from .app import ClientGone, Serving, error_response, read_body
from .protocol import ProtocolError
from .score_process import ScoreFailure, ScoreWorker, WorkerSpec
from .settings import ENV, ServeSettings

log = logging.getLogger("trainkit.serve")
HIDDEN = (ENV, "PROMETHEUS_MULTIPROC_DIR")   # the server's own variables, not the worker's


class ModelDir:
    """AZUREML_MODEL_DIR for the served versions; `close` removes what was made for this server only."""

    def __init__(self, registry: Registry, refs: tuple[str, ...], cache_dir: Path):
        self.versions: dict[str, int] = {}
        for text in refs:
            name, version = registry.resolve(ModelRef.parse(text))
            if name in self.versions:
                raise UsageError(f"REF {text!r}: expected one reference per model name, got a second one for {name!r}")
            self.versions[name] = version
        from ..registry.files import materialize

        copies = {n: materialize(registry, n, v, cache_dir / "azureml-models" / n / str(v))
                  for n, v in self.versions.items()}
        self.own: Path | None = None
        if len(copies) == 1:
            self.path = next(iter(copies.values()))
        else:   # only the served versions, as NAME/VERSION (links to the verified copies)
            self.path = self.own = Path(tempfile.mkdtemp(prefix="trainkit-azureml-models-"))
            for name, copy in copies.items():
                (self.own / name).mkdir()
                (self.own / name / str(self.versions[name])).symlink_to(copy, target_is_directory=True)

    def describe(self) -> str:
        return ", ".join(f"{n}:{v}" for n, v in self.versions.items())

    def close(self) -> None:
        if self.own is not None:
            shutil.rmtree(self.own, ignore_errors=True)


def worker_spec(settings: ServeSettings, models: ModelDir) -> WorkerSpec:
    from . import score_env

    score = Path(settings.score).expanduser().resolve()
    if not score.is_file():
        raise UsageError(f"--score: expected a Python file defining init() and run(raw_data), got {settings.score!r} "
                         f"({'a directory' if score.is_dir() else 'no such file'})")
    environment = score_env.resolve(settings.environment, settings.workspace, settings.pip)
    env = {k: v for k, v in os.environ.items() if k not in HIDDEN}
    env.update(AZUREML_MODEL_DIR=str(models.path), AZUREML_ENTRY_SCRIPT=score.name,
               TRAINKIT_SCORE_MODELS=json.dumps(models.versions))
    return WorkerSpec(environment.python, score, environment.apply(env), None, settings.score_init_timeout_s,
                      settings.score_timeout_s, settings.max_body_bytes, int(settings.score_max_response_mb * 2**20))


class ScoreServing(Serving):
    """A Serving without v2 models whose POST /score goes to the score worker."""

    def __init__(self, settings: ServeSettings, registry: Registry, models: ModelDir, worker: ScoreWorker):
        super().__init__(settings, registry, {})
        self.models, self.worker = models, worker
        self.label = ",".join(models.versions)       # the metrics' model label
        self.turns = ThreadPoolExecutor(1, thread_name_prefix="score")   # one run() at a time, in order

    async def start(self) -> None:
        self.metrics.version.labels(self.label).set(max(self.models.versions.values()))

    async def stop(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self.turns, self.worker.stop)
        self.turns.shutdown()
        self.models.close()
        log.info("drained: answered %d score request(s), refused %d; stopped", self.answered, self.refused)

    def is_ready(self) -> bool:
        return super().is_ready() and self.worker.broken is None

    def extra_routes(self) -> list:
        from starlette.routing import Route

        return [Route("/score", self.score, methods=["POST"])]

    async def score(self, request):
        """POST /score: never raises; every outcome is counted and timed."""
        started = time.perf_counter()
        self.metrics.inflight.inc()
        try:
            response = await self._score(request)
        except ClientGone:
            log.debug("score: the client closed the connection while sending its request")
            return error_response(400, "the client closed the connection")
        finally:
            self.metrics.inflight.dec()
        if response.status_code == 200:
            self.answered += 1
        else:
            self.refused += 1
        self.metrics.request(self.label, response.status_code, time.perf_counter() - started)
        return response

    async def _score(self, request):
        from starlette.responses import Response

        try:
            body, reader = await read_body(request, self)
            try:
                check_text(body)
                answer = await asyncio.get_running_loop().run_in_executor(self.turns, self.worker.call, body)
            finally:
                reader.release()
            return Response(answer, media_type="application/json")
        except ClientGone:
            raise
        except ProtocolError as e:
            return error_response(e.status, str(e))
        except ScoreFailure as e:
            log.error("score: %s%s", e, f"\n{e.details.rstrip()}" if e.details else "")
            return error_response(e.status, str(e))
        except Exception as e:  # noqa: BLE001 - the server answers and keeps serving
            log.exception("score failed")
            return error_response(500, f"score failed: {type(e).__name__}: {e}")


def check_text(body: bytes) -> None:
    """run() gets the body as text: it must be UTF-8."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ProtocolError(400, f"request body: expected UTF-8 text (run() receives a str), got byte "
                                 f"{body[e.start]:#04x} at position {e.start}") from None


def load_score_serving(settings: ServeSettings, registry: Registry) -> ScoreServing:
    """Copy the versions' files, resolve --environment and start the worker (init() has returned
    when this does); a TrainkitError naming what failed otherwise."""
    models = ModelDir(registry, settings.refs, Path(settings.cache_dir))
    try:
        worker = ScoreWorker(worker_spec(settings, models))
        worker.start()
    except ScoreFailure as e:
        models.close()
        log.error("score: %s%s", e, f"\n{e.details.rstrip()}" if e.details else "")
        raise TrainkitError(f"--score {settings.score}: {e}") from None
    except BaseException:
        models.close()
        raise
    log.info("score worker ready: %s (AZUREML_MODEL_DIR=%s)", models.describe(), models.path)
    return ScoreServing(settings, registry, models, worker)
