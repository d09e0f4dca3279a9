"""What a request must be before the dashboard answers it, and what every answer carries.

- Its Host names this server: 127.0.0.1, localhost, [::1], the address it was started on, or a name
  given with --allowed-host. A page of another site that points its own name at 127.0.0.1 (DNS
  rebinding) sends its own name, and gets 400.
- Nothing from another site reaches the JSON API, and no method but GET and HEAD comes from one
  (403): browsers say where a request comes from in `Sec-Fetch-Site` and `Origin`. Another site may
  still link to a page (a top-level navigation), which only shows it.
- Every answer has a content security policy that runs and loads only the dashboard's own files
  (no inline script, style or event handler), may not be framed, and is not sniffed."""
from __future__ import annotations

import json
from typing import Iterable

LOOPBACK = ("127.0.0.1", "localhost", "::1")
POLICY = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
HEADERS = [(b"content-security-policy", POLICY.encode()), (b"x-content-type-options", b"nosniff"),
           (b"x-frame-options", b"DENY"), (b"referrer-policy", b"same-origin")]
SAFE_SITES = ("same-origin", "none")       # Sec-Fetch-Site of our own pages' requests, and of a typed address


def host_name(host: str) -> str:
    """The name in a Host header (or an address given on the command line), without port or
    brackets, lower case: '[::1]:8265' -> '::1'."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else ""
    if host.count(":") > 1:            # a bare IPv6 address (from --host)
        return host
    return host.partition(":")[0]


class Guard:
    """ASGI middleware: the Host and cross-site checks, and the security headers on every answer."""

    def __init__(self, app, allowed_hosts: Iterable[str] = ()):
        self.app = app
        self.allowed = {host_name(h) for h in (*LOOPBACK, *allowed_hosts) if host_name(h)}

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        refusal = self.refusal(scope, headers)

        async def send_secured(message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *HEADERS]}
            await send(message)

        if refusal:
            return await _answer(scope, send_secured, *refusal)
        await self.app(scope, receive, send_secured)

    def refusal(self, scope, headers: dict) -> tuple[int, str] | None:
        host = host_name(headers.get("host", ""))
        if host not in self.allowed:
            return 400, (f"Host {headers.get('host', '')!r}: this dashboard answers only to "
                         f"{', '.join(sorted(self.allowed))}; to reach it by another name, start it with "
                         f"`trainkit ui --allowed-host NAME`")
        if from_elsewhere(scope, headers) and not (page_visit(scope, headers)):
            return 403, (f"a cross-site request ({headers.get('origin') or headers.get('sec-fetch-site')}) to "
                         f"{scope['path']}: the dashboard answers its own pages only")
        return None


def from_elsewhere(scope, headers: dict) -> bool:
    """Whether a browser says this request comes from another site (or another origin)."""
    if headers.get("sec-fetch-site", "same-origin") not in SAFE_SITES:
        return True
    origin = headers.get("origin")
    return origin is not None and origin != f"{scope.get('scheme', 'http')}://{headers.get('host', '')}"


def page_visit(scope, headers: dict) -> bool:
    """A top-level GET of a page (following a link), which shows the page and nothing more."""
    return (scope["method"] in ("GET", "HEAD") and not scope["path"].startswith("/api/")
            and headers.get("sec-fetch-mode") == "navigate" and headers.get("sec-fetch-dest", "document") == "document")


async def _answer(scope, send, status: int, message: str) -> None:
    if scope["path"].startswith("/api/"):
        body, kind = json.dumps({"error": message}).encode(), b"application/json"
    else:
        body, kind = message.encode(), b"text/plain; charset=utf-8"
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", kind), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
