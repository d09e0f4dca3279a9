"""`trainkit ui`: the read-only web dashboard of a workspace."""
from __future__ import annotations

import argparse


def cmd_ui(ctx, args) -> int:
    from ..ui.app import serve

    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: --host {args.host}: the dashboard has no authentication; anyone who reaches "
              f"{args.host}:{args.port} reads every run, log and file of {ctx.ws.root} (put it behind a proxy "
              "that authenticates: see the dashboard guide)")
    return serve(ctx.ws, ctx.registry, args.host, args.port)


def add_parser(sub) -> None:
    p = sub.add_parser("ui", help="the web dashboard: experiments, runs, sweeps, models, jobs (read-only)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s: this machine only)")
    p.add_argument("--port", type=int, default=8265, help="port (default %(default)s)")
    p.add_argument("--workspace", default=argparse.SUPPRESS, help="workspace root (also before `ui`)")
    p.add_argument("--registry", default=None, help="model registry (default: $TRAINKIT_REGISTRY or <workspace>/models)")
    p.set_defaults(func=cmd_ui)
