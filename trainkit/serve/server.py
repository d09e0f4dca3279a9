"""`trainkit models serve`: load every REF, bind the socket, run uvicorn (one process, or a
supervisor and `--workers` processes), and on SIGTERM or SIGINT drain and exit 0.

The drain (one process): stop accepting connections and report not ready; for up to
KEEPALIVE_GRACE_S keep answering requests that arrive on open keep-alive connections, each response
with `Connection: close` (so a request a client sent just as the signal came is answered, not cut);
then uvicorn's own drain: close idle connections and let in-flight requests finish (up to
--drain-timeout-s). With `--workers` each process runs uvicorn's own drain.
"""
from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

import uvicorn

from ..errors import UsageError
from ..registry.store import Registry
from .app import create_app, load_serving
from .connections import Limits, LimitedProtocol, raise_file_limit
from .models import fetch
from .settings import ENV, ServeSettings, configure_logging

log = logging.getLogger("trainkit.serve")
KEEPALIVE_GRACE_S = 1.0  # after SIGTERM, how long open connections may still send one last request


class DrainingServer(uvicorn.Server):
    """uvicorn's Server with the drain described above, and without raising the stopping signal
    again afterwards (uvicorn does that, which makes a clean SIGTERM exit with 143)."""

    def __init__(self, config: uvicorn.Config, on_drain: Callable[[], None] = lambda: None):
        super().__init__(config)
        self.on_drain = on_drain

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        import asyncio

        for server in self.servers:
            server.close()                      # no new connections
        for sock in sockets or []:
            sock.close()
        self.on_drain()
        state = self.server_state
        state.default_headers = [*state.default_headers, (b"connection", b"close")]
        for connection in list(state.connections):
            cycle = getattr(connection, "cycle", None)   # a request being answered now
            if cycle is not None and not cycle.response_complete:
                cycle.keep_alive = False
        deadline = time.monotonic() + KEEPALIVE_GRACE_S
        while state.connections and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        log.info("draining: %d connection(s) still open", len(state.connections))
        await super().shutdown()

    @contextlib.contextmanager
    def capture_signals(self):
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def bind(host: str, port: int) -> socket.socket:
    """The listening socket. TCP_NODELAY is inherited by accepted connections: a response written
    in two parts (headers, body) must not wait for the client's delayed ACK (~40 ms)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        sock = socket.create_server((host, port), family=family, backlog=2048)
    except OSError as e:
        raise UsageError(f"--host/--port: expected an address to listen on, got {host}:{port} ({e.strerror})") from None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def uvicorn_config(app, settings: ServeSettings, **kw) -> uvicorn.Config:
    config = uvicorn.Config(app, lifespan="on", access_log=settings.access_log, log_level="info",
                            timeout_graceful_shutdown=settings.drain_timeout_s, server_header=False,
                            http=LimitedProtocol, **kw)
    config.trainkit_limits = Limits(raise_file_limit(settings.max_connections), settings.header_timeout_s)
    return config


def warn_if_exposed(host: str, authenticated: bool = False) -> None:
    """Without --auth-key-file the API has no authentication: say so when it listens beyond this machine."""
    if host not in ("127.0.0.1", "localhost", "::1") and not authenticated:
        log.warning("listening on %s: the inference API has no authentication; anyone who can reach this "
                    "port can use the model. Put an authenticating proxy in front, or bind 127.0.0.1", host)


def announce(sock: socket.socket, models: list[str], settings: ServeSettings) -> None:
    host, port = sock.getsockname()[:2]
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
    if settings.score:
        log.info("serving %s on %s (score.py on POST %s/score, health under /v2/health, metrics at /metrics%s)",
                 ", ".join(models), url, url, "; key required" if settings.auth_key_file else "")
        return
    log.info("serving %s on %s (v2 API under /v2, metrics at /metrics; workers %d, max batch %d rows, "
             "max delay %g ms)", ", ".join(models), url, settings.workers, settings.max_batch, settings.max_delay_ms)


def serve(registry: Registry, settings: ServeSettings) -> int:
    """Serve until SIGTERM or SIGINT; 0 after a clean drain."""
    configure_logging()
    warn_if_exposed(settings.host, bool(settings.auth_key_file))
    if settings.auth_key_file:   # created (or refused) before anything starts
        from .auth import load_key_file

        load_key_file(settings.auth_key_file)
    if settings.workers > 1:
        return serve_workers(registry, settings)
    if settings.score:
        from .score import load_score_serving

        serving = load_score_serving(settings, registry)
        described = [f"{serving.models.describe()} [score.py {settings.score}]"]
    else:
        serving = load_serving(settings, registry)
        described = [f"{h.describe()} [{h.current.runtime.name}, {h.current.threads} thread(s)]"
                     for h in serving.holders.values()]
    sock = bind(settings.host, settings.port)
    announce(sock, described, settings)
    server = DrainingServer(uvicorn_config(create_app(serving), settings),
                            on_drain=lambda: serving.begin_drain(KEEPALIVE_GRACE_S))
    server.run(sockets=[sock])
    return 0 if server.started else 1


def serve_workers(registry: Registry, settings: ServeSettings) -> int:
    """`--workers N`: uvicorn's supervisor and N processes sharing the socket. Each process loads
    the models itself (from the verified cache filled here) and batches its own requests."""
    from uvicorn.supervisors import Multiprocess

    for text in settings.refs:
        fetch(registry, *registry.resolve(text), Path(settings.cache_dir), settings.runtime, settings.trust_model)
    sock = bind(settings.host, settings.port)
    announce(sock, list(settings.refs), settings)
    metrics_dir = tempfile.mkdtemp(prefix="trainkit-serve-metrics-")
    os.environ.update({ENV: settings.to_env(), "PROMETHEUS_MULTIPROC_DIR": metrics_dir})
    try:
        config = uvicorn_config("trainkit.serve.app:app_from_env", settings, factory=True, workers=settings.workers)
        Multiprocess(config, sockets=[sock]).run()
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0
