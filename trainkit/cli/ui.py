"""`trainkit ui`: the read-only web dashboard of a workspace."""
from __future__ import annotations

import argparse
import ipaddress


def loopback(host: str) -> bool:
    """Whether an address to listen on is reachable from this machine only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False       # a host name: whatever it resolves to, assume others can reach it


def cmd_ui(ctx, args) -> int:
    from ..ui.app import serve

    if not loopback(args.host):
        print(f"warning: --host {args.host}: the dashboard has no authentication; anyone who reaches "
              f"{args.host}:{args.port} reads every run, log and file of {ctx.ws.root} (put it behind a proxy "
              "that authenticates: see the dashboard guide). It answers only to the host names 127.0.0.1, "
              f"localhost, [::1], {args.host}{''.join(', ' + h for h in args.allowed_host)} (--allowed-host adds one)",
              flush=True)
    return serve(ctx.ws, ctx.registry, args.host, args.port, args.allowed_host)


def add_parser(sub) -> None:
    p = sub.add_parser("ui", help="the web dashboard: experiments, runs, sweeps, models, jobs (read-only)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s: this machine only)")
    p.add_argument("--port", type=int, default=8265, help="port (default %(default)s)")
    p.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                   help="a host name the dashboard also answers to, as browsers send it in the Host header "
                        "(repeatable; 127.0.0.1, localhost, [::1] and --host always): the name of this machine "
                        "or of a proxy in front of it. Requests naming any other host are refused "
                        "(a page of another site that points its name at this machine gets nothing)")
    p.add_argument("--workspace", default=argparse.SUPPRESS, help="workspace root (also before `ui`)")
    p.add_argument("--registry", default=None, help="model registry (default: $TRAINKIT_REGISTRY or <workspace>/models)")
    p.set_defaults(func=cmd_ui)
