"""`trainkit datasets list/show/register/download`: registered, versioned datasets (Azure ML's
FileDataset register / get_by_name / download)."""
from __future__ import annotations

from .fmt import table, ts
from .main import Output


def _records(records: dict | None) -> str:
    return " ".join(f"{role}={n}" for role, n in (records or {}).items())


def row(v) -> dict:
    return {"name": v.name, "version": v.version, "format": v.format, "digest": v.digest,
            "records": (v.info or {}).get("records"), "description": v.description,
            "sources": v.sources, "created": v.created}


def cmd_list(ctx, args) -> Output:
    from ..data.datasets import DatasetStore

    store = DatasetStore(ctx.ws)
    rows = [row(v) for name in store.names() for v in store.versions(name)]
    return Output(rows, lambda: table(
        ["name", "version", "format", "records", "digest", "created", "description"],
        [[r["name"], r["version"], r["format"], _records(r["records"]), r["digest"][:12], ts(r["created"]),
          r["description"][:50]] for r in rows], title=f"datasets in {ctx.ws.root}"))


def cmd_show(ctx, args) -> Output:
    from ..data.datasets import DatasetStore

    from ..api.datasets import parse_ref

    dv = DatasetStore(ctx.ws).get(*parse_ref(args.name))

    def show() -> None:
        print(f"dataset {dv.name} v{dv.version}   format {dv.format}   digest {dv.digest}")
        print(f"created {ts(dv.created)}")
        print(f"{dv.description}")
        info = dv.info or {}
        print(f"records {_records(info.get('records'))}   input shape {info.get('input_shape')}"
              + (f"   classes {info['classes']}" if info.get("classes") else ""))
        print("sources (in order):")
        for s in dv.sources:
            print(f"  {s}")
        rows = []
        for e in dv.entries:
            units = [u for u in dv.files[e["role"]] if u.get("entry") == e["name"]]
            rows.append([e["role"], e["name"], e["sha256"][:16], sum((u.get("info") or {}).get("records") or 0 for u in units),
                         sum(u.get("size") or 0 for u in units), units[0].get("source") if units else ""])
        table(["role", "entry", "sha256", "records", "bytes", "fetched from"], rows)

    return Output(dv.to_json(), show)


def cmd_register(ctx, args) -> Output:
    """Fetch, verify and version a configured dataset (conf/dataset/NAME.yaml, yours or trainkit's),
    without a run."""
    from ..api.datasets import register

    dv = register(ctx.ws, args.name, args.overrides)
    return Output(row(dv), lambda: print(f"registered dataset {dv.name} v{dv.version} ({dv.format}, "
                                         f"{_records((dv.info or {}).get('records'))}) digest {dv.digest[:12]}"))


def cmd_download(ctx, args) -> int:
    from pathlib import Path

    from ..api.datasets import download, parse_ref
    from ..data.datasets import DatasetStore

    dv = DatasetStore(ctx.ws).get(*parse_ref(args.ref))
    written = download(dv, Path(args.to), args.overwrite, hint="pass --overwrite or another --to")
    print(f"downloaded {len(written)} file(s) of dataset {dv.name} v{dv.version} to {args.to} (sha256 verified)")
    return 0


def add_parser(sub) -> None:
    ds = sub.add_parser("datasets", help="registered dataset versions").add_subparsers(dest="cmd", required=True)
    d = ds.add_parser("list")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=cmd_list)
    d = ds.add_parser("show")
    d.add_argument("name", help="NAME or NAME:VERSION")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=cmd_show)
    d = ds.add_parser("register", help="fetch, verify and version a configured dataset (no run)")
    d.add_argument("name", help="a dataset config: conf/dataset/NAME.yaml of your project or trainkit's")
    d.add_argument("overrides", nargs="*", help="dataset keys to override, e.g. sources=[file:///data/x/]")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=cmd_register)
    d = ds.add_parser("download", help="copy a registered version's files (verified) into a folder")
    d.add_argument("ref", help="NAME (latest) or NAME:VERSION")
    d.add_argument("--to", default=".", help="target directory (default .)")
    d.add_argument("--overwrite", action="store_true")
    d.set_defaults(func=cmd_download)
