"""`trainkit ui`: a read-only dashboard of one workspace on Starlette (the stack `models serve`
uses). Pages are server-rendered HTML (tables read without JavaScript; app.js adds charts and live
logs); everything a page shows is also JSON under /api/ (the pages' scripts use it):

    GET /api/experiments                      experiments with run counts and states
    GET /api/runs?experiment=&filter=&order_by=&page=&per_page=&metrics=a,b
                                              one page of runs (filter language of Workspace.runs)
    GET /api/runs/{id}                        a run: config, environment, source, lineage, files
    GET /api/runs/{id}/history                its metrics per epoch/step (and elapsed seconds)
    GET /api/runs/{id}/logs?rank=&offset=     its console (or one rank) from a byte offset
    GET /api/runs/{id}/logs/stream?rank=      the same as server-sent events until the run ends
    GET /api/runs/{id}/files/{path}           one file of the run record (no '..', no links)
    GET /api/compare?ids=a,b                  differing config, final metrics, histories
    GET /api/sweeps, /api/sweeps/{id}         sweeps; one sweep's trials and parameters
    GET /api/models                           registered models, versions, ONNX parity, lineage
    GET /api/jobs                             jobs and their queue state (compute backends' Job)

No route writes into the workspace; errors are JSON {"error": ...} with 400 (bad input) or 404."""
from __future__ import annotations

import asyncio
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..errors import NotFoundError, TrainkitError, UsageError
from ..records.workspace import WorkspacePaths
from . import data, pages

STATIC = Path(__file__).resolve().parent / "static"


def create_app(ws: WorkspacePaths, registry) -> Starlette:
    index = data.RunIndex(ws)

    def api(fn):
        async def endpoint(request: Request) -> Response:
            try:
                result = await asyncio.to_thread(fn, request)
            except (UsageError, ValueError) as e:
                return JSONResponse({"error": str(e)}, status_code=400)
            except NotFoundError as e:
                return JSONResponse({"error": str(e)}, status_code=404)
            return result if isinstance(result, Response) else JSONResponse(result)
        return endpoint

    def html(fn, render):
        async def endpoint(request: Request) -> Response:
            try:
                d = await asyncio.to_thread(fn, request)
            except (UsageError, ValueError) as e:
                return HTMLResponse(pages.error_page(400, str(e)), status_code=400)
            except NotFoundError as e:
                return HTMLResponse(pages.error_page(404, str(e)), status_code=404)
            return HTMLResponse(render(d))
        return endpoint

    q = lambda request, key, default=None: request.query_params.get(key) or default  # noqa: E731
    rid = lambda request: request.path_params["run_id"]  # noqa: E731

    def runs(request: Request) -> dict:
        metrics = [m for m in (q(request, "metrics") or "").split(",") if m] or None
        try:
            page, per = int(q(request, "page", 1)), min(500, int(q(request, "per_page", data.PAGE)))
        except ValueError:
            raise UsageError("page, per_page: expected integers") from None
        return data.runs_page(index, q(request, "experiment"), q(request, "filter"), q(request, "order_by"),
                              page, per, metrics)

    def rank_of(request: Request) -> int | None:
        r = q(request, "rank")
        if r is not None and not r.isdigit():
            raise UsageError(f"rank: expected a rank number, got {r!r}")
        return int(r) if r is not None else None

    def logs(request: Request) -> dict:
        offset = q(request, "offset", "0")
        if not str(offset).isdigit():
            raise UsageError(f"offset: expected a byte offset, got {offset!r}")
        return data.logs(ws, rid(request), rank_of(request), int(offset))

    def ids(request: Request) -> list[str]:
        return [i for i in (q(request, "ids") or "").split(",") if i]

    async def stream(request: Request) -> Response:
        """Server-sent events: `data:` chunks of the log as it grows, then `event: end` when the run ended."""
        try:
            rank = rank_of(request)
            await asyncio.to_thread(data.run_dir, ws, rid(request))
        except UsageError as e:
            return JSONResponse({"error": str(e)}, status_code=400)
        except NotFoundError as e:
            return JSONResponse({"error": str(e)}, status_code=404)

        async def events():
            offset = 0
            while True:
                d = await asyncio.to_thread(data.logs, ws, rid(request), rank, offset)
                offset = d["offset"]
                if d["text"]:
                    yield "".join(f"data: {line}\n" for line in d["text"].rstrip("\n").split("\n")) + "\n"
                if d["done"]:
                    yield f"event: end\ndata: {d['status']}\n\n"
                    return
                if await request.is_disconnected():
                    return
                await asyncio.sleep(0.5)

        return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    def file(request: Request) -> Response:
        path = data.file_path(ws, rid(request), request.path_params["path"])
        return FileResponse(path, filename=path.name)

    routes = [
        Route("/", html(lambda r: data.experiments(index), pages.experiments_page)),
        Route("/runs", html(runs, pages.runs_page)),
        Route("/runs/{run_id}", html(lambda r: data.run_detail(ws, registry, rid(r)), pages.run_page)),
        Route("/compare", html(lambda r: data.compare(ws, ids(r)), pages.compare_page)),
        Route("/sweeps", html(lambda r: data.sweeps(ws), pages.sweeps_page)),
        Route("/sweeps/{sweep_id}", html(lambda r: data.sweep(ws, r.path_params["sweep_id"], q(r, "metric"),
                                                              q(r, "mode")), pages.sweep_page)),
        Route("/models", html(lambda r: data.models(registry), pages.models_page)),
        Route("/jobs", html(lambda r: data.jobs(index), pages.jobs_page)),
        Route("/api/experiments", api(lambda r: data.experiments(index))),
        Route("/api/runs", api(runs)),
        Route("/api/runs/{run_id}", api(lambda r: data.run_detail(ws, registry, rid(r)))),
        Route("/api/runs/{run_id}/history", api(lambda r: data.history(ws, rid(r)))),
        Route("/api/runs/{run_id}/logs", api(logs)),
        Route("/api/runs/{run_id}/logs/stream", stream),
        Route("/api/runs/{run_id}/files/{path:path}", api(file)),
        Route("/api/compare", api(lambda r: data.compare(ws, ids(r)))),
        Route("/api/sweeps", api(lambda r: data.sweeps(ws))),
        Route("/api/sweeps/{sweep_id}", api(lambda r: data.sweep(ws, r.path_params["sweep_id"], q(r, "metric"),
                                                                 q(r, "mode")))),
        Route("/api/models", api(lambda r: data.models(registry))),
        Route("/api/jobs", api(lambda r: data.jobs(index))),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]

    async def not_found(request: Request, exc) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": f"no such endpoint: {request.url.path}"}, status_code=404)
        return HTMLResponse(pages.error_page(404, f"no such page: {request.url.path}"), status_code=404)

    async def failed(request: Request, exc: Exception) -> Response:
        status = 400 if isinstance(exc, TrainkitError) else 500
        return JSONResponse({"error": f"{type(exc).__name__}: {exc}"}, status_code=status)

    return Starlette(routes=routes, exception_handlers={404: not_found, Exception: failed})


def serve(ws: WorkspacePaths, registry, host: str = "127.0.0.1", port: int = 8265) -> int:
    """Serve the dashboard until interrupted (Ctrl-C / SIGTERM)."""
    import uvicorn

    app = create_app(ws, registry)
    print(f"trainkit ui: http://{host}:{port}/  (workspace {ws.root}; read-only, no authentication)", flush=True)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    server.run()
    return 0
