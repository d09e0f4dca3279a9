"""`trainkit ui`: a read-only dashboard of one workspace on Starlette (the stack `models serve`
uses). Pages are server-rendered HTML (tables read without JavaScript; app.js adds charts and live
logs); everything a page shows is also JSON under /api/ (the pages' scripts use it):

    GET /api/experiments                      experiments with run counts and states
    GET /api/runs?experiment=&filter=&order_by=&page=&per_page=&metrics=a,b&params=c,d
                                              one page of runs (filter language of Workspace.runs)
    GET /api/runs/{id}                        a run: config, environment, source, lineage, files
    GET /api/runs/{id}/system                 its system metrics (CPU %, memory, GPU) over elapsed seconds
    GET /api/runs/{id}/history?since=&t=      its metrics per epoch/step and elapsed seconds, at most
                                              1000 points per series; from byte `since` of its
                                              metrics.jsonl (`offset` and `elapsed` of the last answer)
    GET /api/runs/{id}/logs?rank=&offset=     its console (or one rank) from a byte offset
    GET /api/runs/{id}/logs/stream?rank=      the same as server-sent events until the run ends
    GET /api/runs/{id}/files/{path}           one file of the run record (no '..', no links)
    GET /api/compare?ids=a,b                  differing config, final metrics, histories
    GET /api/sweeps, /api/sweeps/{id}         sweeps; one sweep's trials and parameters
    GET /api/models                           registered models, versions, ONNX parity, lineage
    GET /api/jobs                             jobs and their queue state (compute backends' Job)

No route writes into the workspace; errors are JSON {"error": ...} with 400 (bad input), 404, or
503 (too many live log streams). Records that are not what trainkit writes are left out, and
named in the header `X-Trainkit-Warnings` (a JSON list). Requests must name this server in their
Host and may not come from another site (guard.py)."""
from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from typing import Iterable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..errors import NotFoundError, TrainkitError, UsageError
from ..records.workspace import WorkspacePaths
from . import data, files, logs, pages
from .guard import Guard
from .records import Warnings

STATIC = Path(__file__).resolve().parent / "static"
ICON = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" '
        'fill="#1f2d3d"/><polyline points="2,12 6,8 9,10 14,3" fill="none" stroke="#cfe3ff" stroke-width="2"/></svg>')
WARNINGS_HEADER = "x-trainkit-warnings"


def api(fn):
    """A JSON endpoint of fn(request, warnings), run in a thread."""
    async def endpoint(request: Request) -> Response:
        warn = Warnings()
        try:
            result = await asyncio.to_thread(fn, request, warn)
        except (UsageError, ValueError) as e:
            return JSONResponse({"error": str(e)}, status_code=400)
        except NotFoundError as e:
            return JSONResponse({"error": str(e)}, status_code=404)
        response = result if isinstance(result, Response) else JSONResponse(result)
        if warn:
            response.headers[WARNINGS_HEADER] = json.dumps([w[:300] for w in warn[:20]])
        return response
    return endpoint


def html(fn, render):
    """A page of fn(request, warnings) drawn by render(data, warnings), run in a thread."""
    async def endpoint(request: Request) -> Response:
        warn = Warnings()
        try:
            d = await asyncio.to_thread(fn, request, warn)
        except (UsageError, ValueError) as e:
            return HTMLResponse(pages.error_page(400, str(e)), status_code=400)
        except NotFoundError as e:
            return HTMLResponse(pages.error_page(404, str(e)), status_code=404)
        return HTMLResponse(render(d, warn))
    return endpoint


def q(request: Request, key: str, default=None):
    return request.query_params.get(key) or default


def run_id(request: Request) -> str:
    return request.path_params["run_id"]


def rank_of(request: Request) -> int | None:
    r = q(request, "rank")
    if r is not None and not r.isdigit():
        raise UsageError(f"rank: expected a rank number, got {r!r}")
    return int(r) if r is not None else None


def offset_of(request: Request, key: str) -> int:
    value = q(request, key, "0")
    if not str(value).isdigit():
        raise UsageError(f"{key}: expected a byte offset, got {value!r}")
    return int(value)


def seconds_of(request: Request, key: str) -> float:
    try:
        value = float(q(request, key, "0"))
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise UsageError(f"{key}: expected seconds (a number), got {q(request, key)!r}")
    return value


class LiveStream(StreamingResponse):
    """Server-sent events that give their place back however the stream ends (also unstarted)."""

    def __init__(self, events, release):
        super().__init__(events, media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
        self.release = release

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.release()


class Views:
    """What each route shows, from one workspace and registry."""

    def __init__(self, ws: WorkspacePaths, registry, max_streams: int):
        self.ws, self.registry = ws, registry
        self.index = data.RunIndex(ws)
        self.streams = logs.Streams(max_streams)

    def experiments(self, request: Request, warn: Warnings) -> list[dict]:
        return data.experiments(self.index, warn)

    def runs(self, request: Request, warn: Warnings) -> dict:
        metrics = [m for m in (q(request, "metrics") or "").split(",") if m] or None
        params = q(request, "params")
        params = None if params is None else [p for p in params.split(",") if p]
        if q(request, "columns") is not None:   # the column chooser's form: exactly what was ticked
            metrics = [m for m in request.query_params.getlist("metric") if m] or None
            params = [p for p in request.query_params.getlist("param") if p]
        try:
            page, per = int(q(request, "page", 1)), min(500, int(q(request, "per_page", data.PAGE)))
        except ValueError:
            raise UsageError("page, per_page: expected integers") from None
        return data.runs_page(self.index, q(request, "experiment"), q(request, "filter"), q(request, "order_by"),
                              page, per, metrics, warn, params)

    def run(self, request: Request, warn: Warnings) -> dict:
        return data.run_detail(self.ws, self.registry, run_id(request), warn)

    def system(self, request: Request, warn: Warnings) -> dict:
        return data.system(self.ws, run_id(request))

    def history(self, request: Request, warn: Warnings) -> dict:
        return data.history(self.ws, run_id(request), offset_of(request, "since"), seconds_of(request, "t"))

    def log_text(self, request: Request, warn: Warnings) -> dict:
        from ..compute import job_for

        offset, rank = offset_of(request, "offset"), rank_of(request)
        return logs.read_log(job_for(data.run_dir(self.ws, run_id(request)), write=False), rank, offset)

    def file(self, request: Request, warn: Warnings) -> Response:
        rel = request.path_params["path"]
        fd, st = files.open_in(data.run_dir(self.ws, run_id(request)), rel, run_id(request))
        return StreamingResponse(files.pieces(fd, st.st_size), headers=files.headers(rel.rsplit("/", 1)[-1], st.st_size))

    def compare(self, request: Request, warn: Warnings) -> dict:
        return data.compare(self.ws, [i for i in (q(request, "ids") or "").split(",") if i])

    def sweeps(self, request: Request, warn: Warnings) -> list[dict]:
        return data.sweeps(self.ws)

    def sweep(self, request: Request, warn: Warnings) -> dict:
        return data.sweep(self.ws, request.path_params["sweep_id"], q(request, "metric"), q(request, "mode"), warn)

    def models(self, request: Request, warn: Warnings) -> list[dict]:
        return data.models(self.registry, warn)

    def jobs(self, request: Request, warn: Warnings) -> list[dict]:
        return data.jobs(self.index, warn=warn)

    async def stream(self, request: Request) -> Response:
        """The console as server-sent events (logs.py); the run is looked up once."""
        from ..compute import job_for

        try:
            rank = rank_of(request)
            path = await asyncio.to_thread(data.run_dir, self.ws, run_id(request))
        except UsageError as e:
            return JSONResponse({"error": str(e)}, status_code=400)
        except NotFoundError as e:
            return JSONResponse({"error": str(e)}, status_code=404)
        if not self.streams.take():
            return JSONResponse({"error": f"{self.streams.limit} live log streams are open already, the most this "
                                          "dashboard serves at once; close a run page and reload"}, status_code=503)
        return LiveStream(logs.events(job_for(path, write=False), rank, request.is_disconnected), self.streams.give_back)


def routes(v: Views) -> list:
    shown = [("/", "/api/experiments", v.experiments, pages.experiments_page),
             ("/runs", "/api/runs", v.runs, pages.runs_page),
             ("/runs/{run_id}", "/api/runs/{run_id}", v.run, pages.run_page),
             ("/compare", "/api/compare", v.compare, pages.compare_page),
             ("/sweeps", "/api/sweeps", v.sweeps, pages.sweeps_page),
             ("/sweeps/{sweep_id}", "/api/sweeps/{sweep_id}", v.sweep, pages.sweep_page),
             ("/models", "/api/models", v.models, pages.models_page),
             ("/jobs", "/api/jobs", v.jobs, pages.jobs_page)]
    return [*(Route(path, html(fn, render)) for path, _, fn, render in shown),
            *(Route(path, api(fn)) for _, path, fn, _ in shown),
            Route("/api/runs/{run_id}/history", api(v.history)),
            Route("/api/runs/{run_id}/system", api(v.system)),
            Route("/api/runs/{run_id}/logs", api(v.log_text)),
            Route("/api/runs/{run_id}/logs/stream", v.stream),
            Route("/api/runs/{run_id}/files/{path:path}", api(v.file)),
            Route("/favicon.svg", lambda r: Response(ICON, media_type="image/svg+xml")),
            Mount("/static", StaticFiles(directory=STATIC), name="static")]


async def not_found(request: Request, exc) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": f"no such endpoint: {request.url.path}"}, status_code=404)
    return HTMLResponse(pages.error_page(404, f"no such page: {request.url.path}"), status_code=404)


async def failed(request: Request, exc: Exception) -> Response:
    status = 400 if isinstance(exc, TrainkitError) else 500
    return JSONResponse({"error": f"{type(exc).__name__}: {exc}"}, status_code=status)


def create_app(ws: WorkspacePaths, registry, allowed_hosts: Iterable[str] = (),
               max_streams: int = logs.MAX_STREAMS) -> Guard:
    """The dashboard's ASGI app: answering to 127.0.0.1, localhost, [::1] and `allowed_hosts`."""
    app = Starlette(routes=routes(Views(ws, registry, max_streams)),
                    exception_handlers={404: not_found, Exception: failed})
    return Guard(app, allowed_hosts)


def serve(ws: WorkspacePaths, registry, host: str = "127.0.0.1", port: int = 8265,
          allowed_hosts: Iterable[str] = ()) -> int:
    """Serve the dashboard until interrupted (Ctrl-C / SIGTERM); it answers to `host` too."""
    import uvicorn

    app = create_app(ws, registry, [host, *allowed_hosts])
    url_host = f"[{host}]" if ":" in host else host
    print(f"trainkit ui: http://{url_host}:{port}/  (workspace {ws.root}; answers to Host "
          f"{', '.join(sorted(app.allowed))}; read-only, no authentication)", flush=True)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                            timeout_graceful_shutdown=2)    # an open live console does not hold Ctrl-C
    uvicorn.Server(config).run()
    return 0

