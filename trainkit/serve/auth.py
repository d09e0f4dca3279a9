"""`--auth-key-file FILE`: key authentication, as Azure ML's services with `auth_enabled=True` do it.

The file holds one key a line (a primary and, optionally, a secondary key; `#` comments); it is
created with two random keys, mode 0600, when it does not exist. Then every request except the
health endpoints (/v2/health/live, /v2/health/ready) needs `Authorization: Bearer KEY` with one
of the keys, else 401; keys are compared in constant time. The check is an ASGI wrapper installed
only with the flag: without it, requests pay nothing.
"""
from __future__ import annotations

import hmac
import json
import logging
import os
import secrets
import stat
from pathlib import Path
from typing import Callable

from ..errors import UsageError

log = logging.getLogger("trainkit.serve")
OPEN_PATHS = frozenset({"/v2/health/live", "/v2/health/ready"})
MIN_KEY_CHARS = 16


def new_key() -> str:
    return secrets.token_urlsafe(32)


def create_key_file(path: Path, keys: tuple[str, ...] = ()) -> bool:
    """Write `keys` (default: two new random ones) to a new file, mode 0600; False if it exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as f:
        f.write("".join(f"{k}\n" for k in (keys or (new_key(), new_key()))))
    return True


def read_keys(path: Path) -> list[str]:
    """The keys of a key file, checked: 1 or 2 keys of at least MIN_KEY_CHARS printable characters."""
    lines = [ln.strip() for ln in path.read_text().splitlines()]
    keys = [ln for ln in lines if ln and not ln.startswith("#")]
    bad = [k for k in keys if len(k) < MIN_KEY_CHARS or not k.isprintable() or " " in k]
    if not 1 <= len(keys) <= 2 or bad:
        raise UsageError(f"--auth-key-file {path}: expected one or two keys (a primary, a secondary), one a line, "
                         f"each at least {MIN_KEY_CHARS} printable characters without spaces; got {len(keys)} "
                         f"key(s){f', {len(bad)} of them unusable' if bad else ''}")
    return keys


def load_key_file(path: str | Path) -> list[str]:
    """The keys of `path`, after creating it with random keys if it does not exist."""
    path = Path(path).expanduser()
    if create_key_file(path):
        log.info("created %s with a new random primary and secondary key (mode 0600)", path)
    elif stat.S_IMODE(path.stat().st_mode) & 0o077:
        log.warning("%s can be read by other users (mode %o); `chmod 600 %s`", path, stat.S_IMODE(path.stat().st_mode),
                    path)
    return read_keys(path)


def authorized(header: bytes, keys: list[bytes]) -> bool:
    """Whether an Authorization header carries one of the keys (every key compared, in constant time)."""
    scheme, _, token = header.strip().partition(b" ")
    match = False
    for key in keys:
        match |= hmac.compare_digest(token.strip(), key)
    return scheme.lower() == b"bearer" and match


class BearerAuth:
    """An ASGI app that answers 401 unless the request carries a key; `refused` counts each 401."""

    def __init__(self, app, keys: list[str], refused: Callable[[], None] = lambda: None):
        self.app, self.keys, self.refused = app, [k.encode() for k in keys], refused

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            return await self.app(scope, receive, send)
        header = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
        if authorized(header, self.keys):
            return await self.app(scope, receive, send)
        self.refused()
        message = ("missing Authorization header: expected `Authorization: Bearer KEY` (the service's key)" if not header
                   else "Authorization: expected `Bearer KEY` with one of the service's keys, got a wrong key or scheme")
        body = json.dumps({"error": message}).encode()
        await send({"type": "http.response.start", "status": 401,   # the body, if any, is not read: close after
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"www-authenticate", b'Bearer realm="trainkit"'), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


def protect(app, settings, metrics) -> object:
    """`app` behind BearerAuth when --auth-key-file is given, else `app` itself."""
    if not settings.auth_key_file:
        return app
    keys = load_key_file(settings.auth_key_file)

    def refused() -> None:
        metrics.requests.labels("", "401").inc()
        metrics.errors.labels("", "unauthorized").inc()

    return BearerAuth(app, keys, refused)
