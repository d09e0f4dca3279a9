"""The Starlette app: Open Inference Protocol (v2) routes, errors as {"error": ...} with a 4xx that
names the problem, GET /metrics, and a lifespan that starts the batchers and alias followers and
retires them after uvicorn has drained the connections.

    GET  /v2                                        server metadata
    GET  /v2/health/live, /v2/health/ready          200 (ready: 503 once draining after SIGTERM)
    GET  /v2/models/{name}[/versions/{v}]           model metadata (from the registered signature)
    GET  /v2/models/{name}[/versions/{v}]/ready
    POST /v2/models/{name}[/versions/{v}]/infer     JSON tensors or the binary tensor data extension
    GET  /metrics                                   Prometheus
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from pathlib import Path

from .. import __version__
from ..errors import UsageError
from ..registry.store import ModelRef, Registry
from .metrics import Metrics
from .models import Lifecycle, ModelHolder, ServedVersion, follow_alias, load_version
from .protocol import HEADER_LENGTH, ProtocolError, encode_response, error_body, model_metadata, parse_infer
from .settings import ServeSettings

log = logging.getLogger("trainkit.serve")


class Serving:
    """Everything the routes need: the served models by name, the settings and the metrics."""

    def __init__(self, settings: ServeSettings, registry: Registry, holders: dict[str, ModelHolder]):
        self.settings, self.registry, self.holders = settings, registry, holders
        self.metrics = Metrics()
        self.answered = 0     # inference responses with status 200
        self.refused = 0      # inference responses with another status
        self.draining = False  # set at SIGTERM: /v2/health/ready answers 503 from then on
        self._followers: list[asyncio.Task] = []

    def holder(self, name: str) -> ModelHolder:
        if name not in self.holders:
            raise ProtocolError(404, f"model {name!r}: not served (serving: {', '.join(self.holders)})")
        return self.holders[name]

    def load(self, name: str, version: int) -> ServedVersion:
        """Load one version (blocking)."""
        return load_version(self.registry, name, version, Path(self.settings.cache_dir), self.settings.threads)

    def start_version(self, served: ServedVersion) -> None:
        served.start(self.settings.max_batch, self.settings.max_delay_ms,
                     lambda rows, n: self.metrics.batch(served.name, rows, n))
        self.metrics.version.labels(served.name).set(served.version)

    async def start(self) -> None:
        life = Lifecycle(self.load, self.start_version,
                         lambda name, ok: self.metrics.reloads.labels(name, "ok" if ok else "failed").inc())
        for holder in self.holders.values():
            self.start_version(holder.current)
            if holder.ref.alias:
                task = follow_alias(holder, self.registry, self.settings.poll_s, life)
                self._followers.append(asyncio.get_running_loop().create_task(task))

    def begin_drain(self) -> None:
        self.draining = True
        log.info("stopping: no new connections; answering in-flight requests")

    async def stop(self) -> None:
        for task in self._followers:
            task.cancel()
        await asyncio.gather(*self._followers, return_exceptions=True)
        for holder in self.holders.values():
            await holder.current.close()
        log.info("drained: answered %d inference request(s), refused %d; stopped", self.answered, self.refused)


def load_serving(settings: ServeSettings, registry: Registry) -> Serving:
    """Resolve and load every REF (blocking), one reference per model name."""
    holders: dict[str, ModelHolder] = {}
    for text in settings.refs:
        ref = ModelRef.parse(text)
        if ref.name in holders:
            raise UsageError(f"REF {text!r}: expected one reference per model name, got a second one for "
                             f"{ref.name!r} (already serving {holders[ref.name].ref})")
        name, version = registry.resolve(ref)
        holders[name] = ModelHolder(ref, load_version(registry, name, version, Path(settings.cache_dir),
                                                      settings.threads))
    return Serving(settings, registry, holders)


# ------------------------------------------------------------------ responses
def json_response(doc: dict, status: int = 200):
    from starlette.responses import Response

    return Response(json.dumps(doc).encode(), status, media_type="application/json")


def error_response(status: int, message: str):
    """A v2 error; after a body over the limit the connection closes (its rest is never read)."""
    from starlette.responses import Response

    return Response(error_body(message), status, media_type="application/json",
                    headers={"connection": "close"} if status == 413 else None)


def tensor_response(body: bytes, header_length: int | None):
    from starlette.responses import Response

    if header_length is None:
        return Response(body, media_type="application/json")
    return Response(body, media_type="application/octet-stream", headers={HEADER_LENGTH: str(header_length)})


DISCARD_FACTOR = 4  # a body up to 4x the limit is read and dropped, so that the client sees the 413


async def read_body(request, limit: int) -> bytes:
    """The request body; 413 once it is known to exceed `limit` bytes. An oversized body is read
    and dropped first (up to DISCARD_FACTOR x the limit; beyond that the connection is cut), since
    most clients read no response before they have sent their whole body."""
    encoding = request.headers.get("content-encoding", "identity").lower()
    if encoding != "identity":
        raise ProtocolError(415, f"Content-Encoding: expected identity (an uncompressed body), got {encoding!r}")
    declared = request.headers.get("content-length", "")
    too_large = f"request body: expected at most {limit} bytes (--max-body-mb), got "
    if declared.isdigit() and int(declared) > limit:
        if int(declared) <= DISCARD_FACTOR * limit:
            await _discard(request.stream(), DISCARD_FACTOR * limit)
        raise ProtocolError(413, too_large + declared)
    chunks, size = [], 0
    stream = request.stream()
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            await _discard(stream, DISCARD_FACTOR * limit - size)
            raise ProtocolError(413, too_large + "more")
        chunks.append(chunk)
    return b"".join(chunks)


async def _discard(stream, budget: int) -> None:
    async for chunk in stream:
        budget -= len(chunk)
        if budget < 0:
            return


# ------------------------------------------------------------------ routes
class Routes:
    """The endpoints, bound to one Serving."""

    def __init__(self, serving: Serving):
        self.serving = serving

    async def server_metadata(self, request):
        return json_response({"name": "trainkit", "version": __version__, "extensions": ["binary_tensor_data"]})

    async def live(self, request):
        return json_response({"live": True})

    async def ready(self, request):
        """503 once draining, so that a load balancer stops sending."""
        draining = self.serving.draining
        return json_response({"ready": not draining}, 503 if draining else 200)

    async def model_metadata(self, request):
        served = self._served(request)
        return json_response(model_metadata(served.name, served.version, served.signature))

    async def model_ready(self, request):
        served = self._served(request)
        return json_response({"name": served.name, "version": str(served.version), "ready": True})

    async def metrics(self, request):
        from starlette.responses import Response

        body, content_type = self.serving.metrics.render()
        return Response(body, headers={"content-type": content_type})

    async def infer(self, request):
        """POST .../infer: never raises; every outcome is counted and timed."""
        started = time.perf_counter()
        name = request.path_params["name"]
        metrics = self.serving.metrics
        metrics.inflight.inc()
        try:
            response = await self._infer(request, name)
        finally:
            metrics.inflight.dec()
        if response.status_code == 200:
            self.serving.answered += 1
        else:
            self.serving.refused += 1
        metrics.request(name if name in self.serving.holders else "", response.status_code,
                        time.perf_counter() - started)
        return response

    async def _infer(self, request, name: str):
        settings = self.serving.settings
        try:
            holder = self.serving.holder(name)
            body = await read_body(request, settings.max_body_bytes)
            served = holder.serving(request.path_params.get("version"))
            # From here to submit() nothing awaits: an alias switch cannot come in between.
            parsed = parse_infer(body, request.headers.get(HEADER_LENGTH), served.signature, settings.allow_nonfinite)
            results = await served.batcher.submit(parsed.inputs, parsed.rows)
            return tensor_response(*encode_response(name, served.version, parsed, results))
        except ProtocolError as e:
            return error_response(e.status, str(e))
        except Exception as e:  # noqa: BLE001 - the server answers and keeps serving
            log.exception("inference on %r failed", name)
            return error_response(500, f"inference failed: {type(e).__name__}: {e}")

    def _served(self, request) -> ServedVersion:
        return self.serving.holder(request.path_params["name"]).serving(request.path_params.get("version"))


async def on_protocol_error(request, exc: ProtocolError):
    return error_response(exc.status, str(exc))


async def on_http_error(request, exc):
    """Starlette's own 404 (no route) and 405 (wrong method), in the v2 error format."""
    messages = {404: f"no such endpoint: {request.method} {request.url.path} (the v2 endpoints are under /v2)",
                405: f"method {request.method} is not allowed on {request.url.path}"}
    return error_response(exc.status_code, messages.get(exc.status_code, str(exc.detail)))


def create_app(serving: Serving):
    """The ASGI app for one Serving."""
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.routing import Route

    r = Routes(serving)
    model = "/v2/models/{name}"
    version = "/v2/models/{name}/versions/{version}"
    routes = [Route("/v2", r.server_metadata), Route("/v2/health/live", r.live), Route("/v2/health/ready", r.ready),
              Route(model, r.model_metadata), Route(version, r.model_metadata),
              Route(f"{model}/ready", r.model_ready), Route(f"{version}/ready", r.model_ready),
              Route(f"{model}/infer", r.infer, methods=["POST"]), Route(f"{version}/infer", r.infer, methods=["POST"]),
              Route("/metrics", r.metrics)]

    @contextlib.asynccontextmanager
    async def lifespan(app):
        await serving.start()
        try:
            yield
        finally:
            await serving.stop()

    return Starlette(routes=routes, lifespan=lifespan,
                     exception_handlers={ProtocolError: on_protocol_error, HTTPException: on_http_error})


def app_from_env():
    """The app of one worker process (`--workers N`): settings from $TRAINKIT_SERVE_SETTINGS."""
    from .settings import configure_logging

    configure_logging()
    settings = ServeSettings.from_env()
    return create_app(load_serving(settings, Registry(settings.registry)))
