"""The Starlette app: Open Inference Protocol (v2) routes, errors as {"error": ...} with a 4xx that
names the problem, GET /metrics, and a lifespan that starts the batchers and alias followers and
retires them after uvicorn has drained the connections.

    GET  /v2                                        server metadata
    GET  /v2/health/live, /v2/health/ready          200 (ready: 503 once draining after SIGTERM)
    GET  /v2/models/{name}[/versions/{v}]           model metadata (from the registered signature)
    GET  /v2/models/{name}[/versions/{v}]/ready
    POST /v2/models/{name}[/versions/{v}]/infer     JSON tensors or the binary tensor data extension
    GET  /metrics                                   Prometheus

Hostile clients: a body must keep arriving (408 after --body-timeout-s without a byte, 503 once a
SIGTERM drain's grace has ended), all bodies held at once share --max-buffered-mb (503 beyond), and a
JSON part over JSON_INLINE_BYTES is parsed in a separate process (--json-parsers of them), because
json.loads holds the GIL: the event loop keeps answering other clients meanwhile. Connection limits
and head deadlines are the protocol's (connections.py).
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
from .protocol import (HEADER_LENGTH, ProtocolError, encode_response, error_body, json_part, model_metadata,
                       parse_infer)
from .settings import ServeSettings

log = logging.getLogger("trainkit.serve")
JSON_INLINE_BYTES = 256 * 1024  # JSON parts up to this parse on the event loop (< ~5 ms)


class ClientGone(Exception):
    """The client closed its connection before its request was read: nothing to answer or count."""


class BodyBudget:
    """The request bytes held at once across all connections (--max-buffered-mb)."""

    def __init__(self, limit: int):
        self.limit, self.held = limit, 0

    def take(self, n: int) -> None:
        if self.held + n > self.limit:
            raise ProtocolError(503, f"server busy: {self.held} bytes of request bodies are being received or "
                                     f"parsed (--max-buffered-mb {self.limit / 2**20:g}); retry shortly")
        self.held += n

    def give(self, n: int) -> None:
        self.held -= n


class JsonParsers:
    """Processes that parse large JSON bodies (json.loads holds the GIL for its whole run), at most
    one request each at a time; started with the server so that the first large request waits for none."""

    def __init__(self, n: int):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.pool = ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn"))
        self.turns = asyncio.Semaphore(n)
        for _ in range(n):
            self.pool.submit(int)

    async def parse(self, *args):
        async with self.turns:
            return await asyncio.get_running_loop().run_in_executor(self.pool, parse_infer, *args)

    def close(self) -> None:
        """Waits for the parsers to exit: with wait=False the pool's manager thread closed its wake-up
        pipe while Python's own exit hook still wrote to it (an OSError traceback in the log at exit)."""
        self.pool.shutdown(wait=True, cancel_futures=True)


class Serving:
    """Everything the routes need: the served models by name, the settings and the metrics."""

    def __init__(self, settings: ServeSettings, registry: Registry, holders: dict[str, ModelHolder]):
        self.settings, self.registry, self.holders = settings, registry, holders
        self.metrics = Metrics()
        self.answered = 0     # inference responses with status 200
        self.refused = 0      # inference responses with another status
        self.budget = BodyBudget(settings.max_buffered_bytes)
        self.parsers: JsonParsers | None = None
        self.drain = asyncio.Event()   # set at SIGTERM: /v2/health/ready answers 503
        self.cut = asyncio.Event()     # set when the drain's grace ends: body reads stop waiting (503)
        self._followers: list[asyncio.Task] = []

    def holder(self, name: str) -> ModelHolder:
        if name not in self.holders:
            raise ProtocolError(404, f"model {name!r}: not served (serving: {', '.join(self.holders)})")
        return self.holders[name]

    def load(self, name: str, version: int) -> ServedVersion:
        """Load one version (blocking)."""
        return load_version(self.registry, name, version, Path(self.settings.cache_dir), self.settings.threads,
                            self.settings.runtime, self.settings.trust_model)

    def start_version(self, served: ServedVersion) -> None:
        served.start(self.settings.max_batch, self.settings.max_delay_ms,
                     lambda rows, n: self.metrics.batch(served.name, rows, n))
        self.metrics.version.labels(served.name).set(served.version)

    async def start(self) -> None:
        self.parsers = JsonParsers(self.settings.json_parsers)
        life = Lifecycle(self.load, self.start_version,
                         lambda name, ok: self.metrics.reloads.labels(name, "ok" if ok else "failed").inc())
        for holder in self.holders.values():
            self.start_version(holder.current)
            if holder.ref.alias:
                task = follow_alias(holder, self.registry, self.settings.poll_s, life)
                self._followers.append(asyncio.get_running_loop().create_task(task))

    def is_ready(self) -> bool:
        """What GET /v2/health/ready answers: not once draining."""
        return not self.drain.is_set()

    def extra_routes(self) -> list:
        """Routes besides the v2 ones (--score adds POST /score)."""
        return []

    def begin_drain(self, grace_s: float) -> None:
        """Report not ready now; a request body still arriving is read for `grace_s` more (a
        request a client sent just as the signal came is answered), then cut with a 503."""
        self.drain.set()
        asyncio.get_running_loop().call_later(grace_s, self.cut.set)
        log.info("stopping: no new connections; answering in-flight requests")

    async def parse(self, body: bytes, header_length: str | None, served: ServedVersion):
        """A request parsed and validated: small JSON parts here, large ones in a parser process."""
        args = (body, header_length, served.signature, self.settings.allow_nonfinite, self.settings.max_json_values)
        if json_part(body, header_length) <= JSON_INLINE_BYTES or self.parsers is None:
            return parse_infer(*args)
        return await self.parsers.parse(*args)

    async def stop(self) -> None:
        for task in self._followers:
            task.cancel()
        await asyncio.gather(*self._followers, return_exceptions=True)
        for holder in self.holders.values():
            await holder.current.close()
        if self.parsers is not None:
            self.parsers.close()
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
                                                      settings.threads, settings.runtime, settings.trust_model))
    return Serving(settings, registry, holders)


# ------------------------------------------------------------------ responses
def json_response(doc: dict, status: int = 200):
    from starlette.responses import Response

    return Response(json.dumps(doc).encode(), status, media_type="application/json")


def error_response(status: int, message: str):
    """A v2 error; after a body over the limit the connection closes (its rest is never read)."""
    from starlette.responses import Response

    return Response(error_body(message), status, media_type="application/json",
                    headers={"connection": "close"} if status in CLOSE_AFTER else None)


def tensor_response(body: bytes, header_length: int | None):
    from starlette.responses import Response

    if header_length is None:
        return Response(body, media_type="application/json")
    return Response(body, media_type="application/octet-stream", headers={HEADER_LENGTH: str(header_length)})


DISCARD_FACTOR = 4  # a body up to 4x the limit is read and dropped, so that the client sees the 413
CLOSE_AFTER = {408, 413, 503}  # statuses after which the rest of the body is not read: the connection closes


class BodyReader:
    """One request body, chunk by chunk: each chunk within `timeout` s (408), none once the drain's
    grace has ended (503), the bytes held counted against the server's BodyBudget (released by `release`)."""

    def __init__(self, request, serving: "Serving"):
        self.stream = request.stream().__aiter__()
        self.serving = serving
        self.timeout = serving.settings.body_timeout_s
        self.held = 0

    async def next(self) -> bytes | None:
        from starlette.requests import ClientDisconnect

        cut = self.serving.cut
        chunk_task = asyncio.ensure_future(self.stream.__anext__())
        waits = {chunk_task, asyncio.ensure_future(cut.wait())}
        done, pending = await asyncio.wait(waits, timeout=self.timeout, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        if chunk_task not in done:
            if cut.is_set():
                raise ProtocolError(503, "request body: the server is stopping; send the request again")
            raise ProtocolError(408, f"request body: expected more bytes within {self.timeout:g} s "
                                     f"(--body-timeout-s), got none after {self.held} byte(s)")
        try:
            return chunk_task.result()
        except StopAsyncIteration:
            return None
        except ClientDisconnect:
            raise ClientGone() from None

    async def read(self, limit: int, declared: str) -> bytes:
        """The whole body; 413 once it is known to exceed `limit` bytes. An oversized body is read
        and dropped first (up to DISCARD_FACTOR x the limit; beyond that the connection is cut), since
        most clients read no response before they have sent their whole body."""
        too_large = f"request body: expected at most {limit} bytes (--max-body-mb), got "
        if declared.isdigit() and int(declared) > limit:
            if int(declared) <= DISCARD_FACTOR * limit:
                await self.discard(DISCARD_FACTOR * limit)
            raise ProtocolError(413, too_large + declared)
        chunks = []
        while (chunk := await self.next()) is not None:
            if self.held + len(chunk) > limit:
                await self.discard(DISCARD_FACTOR * limit - self.held)
                raise ProtocolError(413, too_large + "more")
            self.serving.budget.take(len(chunk))
            self.held += len(chunk)
            chunks.append(chunk)
        return b"".join(chunks)

    async def discard(self, budget: int) -> None:
        while budget >= 0 and (chunk := await self.next()) is not None:
            budget -= len(chunk)

    def release(self) -> None:
        self.serving.budget.give(self.held)
        self.held = 0


async def read_body(request, serving: "Serving") -> tuple[bytes, BodyReader]:
    """The request body and its reader (release() it once the body is parsed)."""
    encoding = request.headers.get("content-encoding", "identity").lower()
    if encoding != "identity":
        raise ProtocolError(415, f"Content-Encoding: expected identity (an uncompressed body), got {encoding!r}")
    reader = BodyReader(request, serving)
    try:
        return await reader.read(serving.settings.max_body_bytes, request.headers.get("content-length", "")), reader
    except BaseException:
        reader.release()
        raise


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
        """503 once draining (or while nothing can answer), so that a load balancer stops sending."""
        ready = self.serving.is_ready()
        return json_response({"ready": ready}, 200 if ready else 503)

    async def model_metadata(self, request):
        served = self._served(request)
        return json_response(model_metadata(served.name, served.version, served.signature, served.runtime.platform))

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
        except ClientGone:   # nobody to answer: a quiet close, counted nowhere
            log.debug("inference on %r: the client closed the connection while sending its request", name)
            return error_response(400, "the client closed the connection")
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
        try:
            holder = self.serving.holder(name)
            body, reader = await read_body(request, self.serving)
            try:
                served = holder.serving(request.path_params.get("version"))
                parsed = await self.serving.parse(body, request.headers.get(HEADER_LENGTH), served)
            finally:
                del body
                reader.release()
            # From here to submit() nothing awaits. The parse may have: if an alias switch came in
            # between, the request goes to the new version when it was validated against the same signature.
            current = holder.serving(request.path_params.get("version"))
            if current is not served:
                if current.signature != served.signature:
                    raise ProtocolError(409, f"model {name!r}: version {current.version} took over from "
                                             f"{served.version} while the request was parsed; send it again")
                served = current
            results = await served.batcher.submit(parsed.inputs, parsed.rows)
            return tensor_response(*encode_response(name, served.version, parsed, results))
        except ClientGone:
            raise
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
              Route("/metrics", r.metrics), *serving.extra_routes()]

    @contextlib.asynccontextmanager
    async def lifespan(app):
        await serving.start()
        try:
            yield
        finally:
            await serving.stop()

    from .auth import protect

    return protect(Starlette(routes=routes, lifespan=lifespan,
                             exception_handlers={ProtocolError: on_protocol_error, HTTPException: on_http_error}),
                   serving.settings, serving.metrics)


def app_from_env():
    """The app of one worker process (`--workers N`): settings from $TRAINKIT_SERVE_SETTINGS."""
    from .settings import configure_logging

    configure_logging()
    settings = ServeSettings.from_env()
    return create_app(load_serving(settings, Registry(settings.registry)))
