"""Connection limits for `trainkit models serve`, at the HTTP protocol (uvicorn's httptools
protocol, one instance per connection):

- at most `max_connections` open connections: one more is closed as soon as it is accepted;
- a connection must send a complete request head within `header_timeout_s` of opening, and of
  each response: silent connections and heads sent a byte at a time are closed (uvicorn itself
  only times out idle keep-alive connections, and not once a byte has arrived);
- the process's open-file limit is raised to fit the connections (`raise_file_limit`).

Stalled bodies are the app's (app.BodyReader: 408). The limits ride on uvicorn's Config as
`trainkit_limits`, so that `--workers` processes get them too.
"""
from __future__ import annotations

import logging
import resource
import time
from dataclasses import dataclass

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("trainkit.serve")
SPARE_FILES = 128  # descriptors besides connections: models, logs, the parser processes' pipes


@dataclass(frozen=True)
class Limits:
    max_connections: int
    header_timeout_s: float


class LimitedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits above."""

    _refused_logged = 0.0  # class-wide: one warning per 10 s while connections are refused

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        limits: Limits = self.config.trainkit_limits
        self._head_timer = None
        if len(self.connections) > limits.max_connections:
            now = time.monotonic()
            if now - LimitedProtocol._refused_logged > 10:
                LimitedProtocol._refused_logged = now
                log.warning("refusing connections: %d open (--max-connections %d)",
                            len(self.connections) - 1, limits.max_connections)
            transport.close()
            return
        self._arm()

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(self.config.trainkit_limits.header_timeout_s, self._head_overdue)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_overdue(self) -> None:
        self._head_timer = None
        if (self.cycle is None or self.cycle.response_complete) and not self.transport.is_closing():
            self.transport.close()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc) -> None:
        self._disarm()
        super().connection_lost(exc)


def raise_file_limit(max_connections: int) -> int:
    """Raise the soft open-file limit to fit `max_connections` (up to the hard limit); returns the
    number of connections that fit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max_connections + SPARE_FILES
    if soft != resource.RLIM_INFINITY and soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        soft = new
    fits = max_connections if soft == resource.RLIM_INFINITY else min(max_connections, soft - SPARE_FILES)
    if fits < max_connections:
        log.warning("--max-connections %d: the open-file limit (hard %s) fits only %d; serving at most %d "
                    "connections (raise it with `ulimit -n` or systemd's LimitNOFILE=)",
                    max_connections, hard, max(fits, 1), max(fits, 1))
    return max(fits, 1)
