"""`trainkit models ...`: list, show, register (a path, or a finished run's model with its lineage),
download, alias, delete, verify, export, serve and predict.

Only `register` and `export` import TensorFlow, and `serve` and `predict` for a version served by
its SavedModel (`--runtime tensorflow`, or `auto` without ONNX); otherwise they import onnxruntime
(and the HTTP stack); everything else answers in well under a second.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from ..errors import IntegrityError, UsageError
from ..registry.store import ModelRef, raise_if_failed
from .fmt import num, table, ts
from .main import Output


def _summary(entry: dict) -> dict:
    return {"name": entry["name"], "version": entry["version"], "aliases": entry["aliases"],
            "path": entry["path"], "created": entry["created"],
            "test_accuracy": (entry.get("metrics") or {}).get("test_accuracy"),
            "onnx": (entry.get("onnx") or {}).get("status"), "run_id": entry.get("run_id")}


def cmd_list(ctx, args) -> Output:
    reg = ctx.registry
    names = [args.name] if args.name else reg.names()
    if args.name:
        reg.resolve(ModelRef.parse(args.name))   # an unknown name: not found (exit 4)
    rows = [_summary(reg.entry(ModelRef(n, v))) for n in names for v in reg.versions(n)]
    return Output(rows, lambda: table(
        ["name", "version", "aliases", "test_accuracy", "onnx", "run", "created"],
        [[r["name"], r["version"], ",".join(r["aliases"]), num(r["test_accuracy"]), r["onnx"], r["run_id"],
          ts(r["created"])] for r in rows], title=f"models in {reg.url}"))


def cmd_show(ctx, args) -> Output:
    e = ctx.registry.entry(args.ref)
    return Output(e, lambda: show_entry(e))


def show_entry(e: dict) -> None:
    print(f"model {e['name']}:{e['version']}  aliases: {', '.join(e['aliases']) or '(none)'}")
    print(f"path        {e['path']}")
    if e.get("files"):
        print(f"files       files/{e['files']['name']} as registered ({e['files'].get('format') or 'not a Keras model'})")
    print(f"created     {ts(e['created'])}")
    print(f"framework   {e['framework']} {e['framework_version']} (keras {e.get('keras_version')})")
    print(f"resources   {e['resource_configuration']}")
    if e.get("run_id"):
        print(f"run         {e['run_id']} ({e['experiment']})  config {e['config_hash']}")
    if e.get("dataset"):
        d = e["dataset"]
        print(f"dataset     {d['name']} v{d['version']} ({d['digest'][:12]})")
    for io in ("inputs", "outputs"):
        print(f"{io:<11} " + ", ".join(f"{t['name']} {t['shape']} {t['dtype']}" for t in e["signature"][io]))
    for k, v in sorted((e.get("metrics") or {}).items()):
        print(f"  {k:<22} {v:.4f}" if isinstance(v, float) else f"  {k:<22} {v}")
    o = e.get("onnx") or {}
    if o.get("status") in ("ok", "failed") and "max_abs_diff" in o:
        print(f"onnx        {o['status']}: opset {o['opset']}, max_abs_diff {o['max_abs_diff']:.3g}, "
              f"argmax_agreement {o['argmax_agreement']:.4%} on {o['parity_data']}")
    else:
        print(f"onnx        {o.get('status')} {o.get('reason') or ''}")
    print(f"artifacts   {len(e['manifest'])} files, {sum(m['size'] for m in e['manifest'].values())} bytes")


def cmd_register(ctx, args) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from ..registry.publish import onnx_settings, register_files, register_path

    tags = dict(_kv(t, "--tag") for t in args.tag)
    path = args.path_flag or args.path
    if args.path_flag and args.path:
        raise UsageError(f"models register: expected PATH or --path, got both ({args.path!r}, {args.path_flag!r})")
    if args.run:
        entry = register_from_run(ctx, args.run, args.name, path, tags=tags, aliases=args.alias,
                                  description=args.description)
    else:
        if not path:
            raise UsageError("models register: expected PATH (a .keras file or a directory with model.keras, or "
                             "any model file or folder, kept as it is) or --run RUN_ID, got neither")
        register = register_path if keras_path(Path(path)) else register_files   # else: the files as they are
        entry = register(ctx.registry, args.name, Path(path), framework_version=args.framework_version,
                         description=args.description, tags=tags, aliases=args.alias,
                         resources={"cpu": args.cpu, "memory_gb": args.memory_gb, "gpu": args.gpu},
                         onnx_cfg=onnx_settings(enabled=not args.no_onnx, opset=args.opset), samples=args.samples)
    files = f"files: {entry['files']['name']}, " if entry.get("files") else ""
    print(f"registered {entry['name']}:{entry['version']} -> {entry['path']} ({files}onnx: {entry['onnx']['status']})")
    raise_if_failed(entry)
    return 0


def keras_path(path: Path) -> bool:
    """A .keras file, or a directory with model.keras: registered as trainkit's own artifacts."""
    return path.suffix == ".keras" or (path.is_dir() and (path / "model.keras").is_file())


def register_from_run(ctx, run_id: str, name: str, path: str | None, tags: dict, aliases: list[str],
                      description: str = "") -> dict:
    """A finished run's model with its lineage (run id, dataset version, config hash), ONNX
    checked on the run's own test split: `run.register_model(...)` of the seeds."""
    from ..records.runs import get_run
    from ..registry.publish import register_from_run as register

    run = get_run(ctx.ws, run_id)
    return register(ctx.registry, run.path, name, path, tags=tags, aliases=aliases, description=description)


def cmd_download(ctx, args) -> int:
    reg = ctx.registry
    name, version = reg.resolve(args.ref)
    dest = Path(args.to or f"{name}-v{version}")
    if dest.exists() and any(dest.iterdir()) and not args.overwrite:
        raise UsageError(f"{dest}: directory exists and is not empty; pass --overwrite or another --to")
    files = reg.download(name, version, dest, args.artifact)
    print(f"downloaded {len(files)} file(s) of {name}:{version} to {dest} (sha256 verified)")
    return 0


def cmd_alias(ctx, args) -> int:
    reg = ctx.registry
    ref = ModelRef.parse(args.ref)
    if args.remove:
        reg.remove_alias(ref.name, args.alias)
        print(f"removed alias {ref.name}@{args.alias}")
        return 0
    name, version = reg.resolve(ref)
    reg.set_alias(name, args.alias, version)
    print(f"{name}@{args.alias} -> version {version}")
    return 0


def cmd_delete(ctx, args) -> int:
    reg = ctx.registry
    ref = ModelRef.parse(args.ref)
    if ref.version is None and ref.alias is None:
        raise UsageError(f"model reference {args.ref!r}: delete needs an explicit NAME:VERSION or "
                           f"NAME@ALIAS, got a bare name")
    name, version = reg.resolve(ref)
    reg.delete(name, version)
    print(f"deleted {name}:{version} (version {version} will not be reused)")
    return 0


def cmd_verify(ctx, args) -> int:
    reg = ctx.registry
    ref = ModelRef.parse(args.ref)
    targets = [reg.resolve(ref)] if (ref.version or ref.alias) else [(ref.name, v) for v in reg.versions(ref.name)]
    if not targets:
        reg.resolve(ref)  # raises the not-found error
    failed = []
    for name, version in targets:
        problems = reg.verify(name, version)
        print(f"{name}:{version}: " + ("ok" if not problems else "FAILED"))
        for p in problems:
            print(f"  - {p}")
        failed += [f"{name}:{version}"] if problems else []
    if failed:
        raise IntegrityError(f"{', '.join(failed)} failed verification (see above)")
    return 0


def cmd_export(ctx, args) -> int:
    reg = ctx.registry
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from ..registry.publish import reexport

    started = time.time()
    entry = reexport(reg, args.ref, args.opset, args.samples, str(ctx.ws.root))
    o = entry["onnx"]
    if "max_abs_diff" in o:
        print(f"exported {entry['name']}:{entry['version']} to ONNX opset {o['opset']} in "
              f"{time.time() - started:.1f}s: max_abs_diff={o['max_abs_diff']:.3g} "
              f"argmax_agreement={o['argmax_agreement']:.4%} on {o['parity_data']}")
    raise_if_failed(entry)
    return 0


def cache_dir(ctx, args) -> str:
    """--cache-dir, else <workspace>/serving-cache: verified model.onnx copies by name and version."""
    return args.cache_dir or str(ctx.ws.root / "serving-cache")


def cmd_serve(ctx, args) -> int:
    reg = ctx.registry
    from ..serve.server import serve
    from ..serve.settings import ServeSettings

    settings = ServeSettings(
        refs=tuple(args.refs), registry=reg.url, cache_dir=cache_dir(ctx, args), host=args.host, port=args.port,
        max_batch=args.max_batch, max_delay_ms=args.max_delay_ms, threads=args.threads, workers=args.workers,
        max_body_mb=args.max_body_mb, max_json_values=args.max_json_values, json_parsers=args.json_parsers,
        max_buffered_mb=args.max_buffered_mb, max_connections=args.max_connections,
        header_timeout_s=args.header_timeout_s, body_timeout_s=args.body_timeout_s,
        poll_s=args.poll_s, allow_nonfinite=args.allow_nonfinite,
        drain_timeout_s=args.drain_timeout_s, access_log=args.access_log, runtime=args.runtime,
        trust_model=args.trust_model, auth_key_file=args.auth_key_file, score=args.score, environment=args.environment,
        pip=tuple(args.pip), workspace=str(ctx.ws.root), score_timeout_s=args.score_timeout_s,
        score_init_timeout_s=args.score_init_timeout_s, score_max_response_mb=args.score_max_response_mb)
    return serve(reg, settings)


def cmd_predict(ctx, args) -> int:
    reg = ctx.registry
    from ..serve.predict import predict

    return predict(reg, args.ref, Path(args.input), Path(args.output) if args.output else None,
                   batch=args.batch, cache_dir=Path(cache_dir(ctx, args)), allow_nonfinite=args.allow_nonfinite,
                   runtime=args.runtime, trust_model=args.trust_model)


def _kv(text: str, flag: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise UsageError(f"{flag}: expected KEY=VALUE, got {text!r}")
    return key, value


def add_parser(sub) -> None:
    models = sub.add_parser("models", help="the model registry: versions, aliases, ONNX")
    models.add_argument("--registry", default=None,
                        help="registry root, any fsspec URL (default: $TRAINKIT_REGISTRY or <workspace>/models)")
    m = models.add_subparsers(dest="cmd", required=True)
    ref_help = "NAME (latest), NAME:VERSION or NAME@ALIAS"

    def add(name: str, func, help: str, json: bool = False) -> argparse.ArgumentParser:
        p = m.add_parser(name, help=help)
        p.set_defaults(func=func)
        if json:
            p.add_argument("--json", action="store_true")
        return p

    add("list", cmd_list, "every version of every model (or of NAME)", json=True).add_argument("name", nargs="?")
    add("show", cmd_show, "one version's entry", json=True).add_argument("ref", help=ref_help)
    add_register(add("register", cmd_register, "register a Keras model: a .keras file or a dir with model.keras; any "
                     "other model file or folder (a SavedModel, a JSON + .h5 pair) kept as it is under files/, with "
                     "ONNX beside it when Keras 3 loads it; or a finished run's model (--run) with its lineage"))
    p = add("download", cmd_download, "copy a version's artifacts, verified against the manifest")
    p.add_argument("ref", help=ref_help)
    p.add_argument("--to", help="target directory (default ./NAME-vVERSION)")
    p.add_argument("--artifact", help="only this artifact: model.keras, saved_model or model.onnx")
    p.add_argument("--overwrite", action="store_true")
    p = add("alias", cmd_alias, "point ALIAS at the version REF names (or --remove it)")
    p.add_argument("ref", help=ref_help)
    p.add_argument("alias")
    p.add_argument("--remove", action="store_true")
    add("delete", cmd_delete, "delete one version (its number is never reused)").add_argument(
        "ref", help="NAME:VERSION or NAME@ALIAS")
    add("verify", cmd_verify, "re-hash artifacts against the manifest (a bare NAME checks every version)"
        ).add_argument("ref", help=ref_help)
    p = add("export", cmd_export, "(re)export a version to ONNX and re-run the parity check")
    p.add_argument("ref", help=ref_help)
    p.add_argument("--opset", type=int)
    p.add_argument("--samples", type=int, help="parity images (default: the whole test set, else 1000 random)")
    add_serve(add("serve", cmd_serve, "serve registered versions over HTTP (KServe v2 / Open Inference "
                  "Protocol) with dynamic batching: model.onnx with onnxruntime, or the SavedModel with "
                  "TensorFlow when a version has no ONNX; NAME@ALIAS follows the alias"))
    p = add("predict", cmd_predict, "batch scoring (onnxruntime, or TensorFlow for a version without ONNX): "
            "a .npy file, a folder of images or a CSV")
    p.add_argument("ref", help=ref_help)
    p.add_argument("--input", required=True, help=".npy file, folder of PNG/JPEG images, or .csv with a header row")
    p.add_argument("--output", help=".csv (id, predicted class, per-class probabilities) or .npy (raw outputs); "
                   "default: CSV on stdout")
    p.add_argument("--batch", type=int, default=256, help="rows per runtime call (default 256)")
    add_runtime_flag(p)
    p.add_argument("--cache-dir", help="where verified artifact copies go (default <workspace>/serving-cache)")
    p.add_argument("--allow-nonfinite", action="store_true", help="score NaN/Inf inputs instead of refusing them")
    add_registry_flag(p)


def add_register(p: argparse.ArgumentParser) -> None:
    from ..config.schema import OnnxExportConfig, ResourceConfiguration

    res = ResourceConfiguration()
    p.add_argument("name")
    p.add_argument("path", nargs="?", help="the model file; with --run, a path inside the run "
                   "(default: outputs/model/model.keras, else the script's entry.model_path)")
    p.add_argument("--path", dest="path_flag", metavar="PATH", help="the same as PATH")
    p.add_argument("--run", metavar="RUN_ID", help="register this finished run's model (run id, dataset version and "
                   "config hash kept; ONNX parity on the run's test split)")
    p.add_argument("--framework-version", help="recorded framework version (default: installed TensorFlow)")
    p.add_argument("--description", default="")
    p.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--alias", action="append", default=[])
    p.add_argument("--cpu", type=float, default=res.cpu, help="cores a serving replica needs (default %(default)s)")
    p.add_argument("--memory-gb", type=float, default=res.memory_gb, help="memory a serving replica needs (default %(default)s)")
    p.add_argument("--gpu", type=int, default=res.gpu, help="GPUs a serving replica needs (default %(default)s)")
    p.add_argument("--no-onnx", action="store_true", help="skip the ONNX export")
    p.add_argument("--opset", type=int, default=OnnxExportConfig.opset, help="ONNX opset (default %(default)s)")
    p.add_argument("--samples", type=int, default=1000, help="random images for the parity check")


def add_runtime_flag(p: argparse.ArgumentParser) -> None:
    from ..serve.runtimes import CHOICES

    p.add_argument("--runtime", choices=CHOICES, default="auto",
                   help="onnx: model.onnx with onnxruntime; tensorflow: the SavedModel with TensorFlow; "
                        "auto (default): onnx when the version's export is ok, else tensorflow")
    p.add_argument("--trust-model", action="store_true",
                   help="with --runtime tensorflow: load the SavedModel without checking its graph's ops first "
                        "(a SavedModel is code: only for registries whose writers you trust)")


def add_registry_flag(p: argparse.ArgumentParser) -> None:
    """`--registry` after the subcommand too (`trainkit models serve REF --registry URL`); absent, the
    value given before it (or the default) stands."""
    p.add_argument("--registry", default=argparse.SUPPRESS, help="registry root, any fsspec URL")


def add_serve(p: argparse.ArgumentParser) -> None:
    """The flags of `trainkit models serve`; their defaults are ServeSettings' (settings.py gives the reasons)."""
    from dataclasses import fields

    from ..serve.settings import ServeSettings

    d = {f.name: f.default for f in fields(ServeSettings)}
    p.add_argument("refs", nargs="+", metavar="REF", help="NAME, NAME:VERSION or NAME@ALIAS (followed); one per model name")
    p.add_argument("--host", default=d["host"], help="address to listen on (default %(default)s; without "
                   "--auth-key-file the API has no auth)")
    p.add_argument("--auth-key-file", metavar="FILE", help="every request but /v2/health/* needs `Authorization: "
                   "Bearer KEY`, a key of FILE (one a line; created with two random keys, mode 0600, if missing)")
    add_score_flags(p, d)
    p.add_argument("--port", type=int, default=d["port"], help="port (default %(default)s; 0: any free port, logged at start)")
    p.add_argument("--max-batch", type=int, default=d["max_batch"], help="rows per runtime call (default %(default)s)")
    add_runtime_flag(p)
    p.add_argument("--max-delay-ms", type=float, default=d["max_delay_ms"],
                   help="extra wait for more rows under concurrent load (default %(default)s; a lone request never waits)")
    p.add_argument("--threads", type=int, default=d["threads"],
                   help="runtime intra-op threads (default: the version's resource_configuration.cpu)")
    p.add_argument("--workers", type=int, default=d["workers"],
                   help="server processes (default %(default)s: one batching queue per model)")
    p.add_argument("--max-body-mb", type=float, default=d["max_body_mb"],
                   help="larger request bodies get 413 (default %(default)s)")
    p.add_argument("--max-json-values", type=int, default=d["max_json_values"],
                   help="values one JSON request may carry, 413 beyond (default %(default)s; binary tensor data "
                        "has no such cap)")
    p.add_argument("--json-parsers", type=int, default=d["json_parsers"],
                   help="processes that parse large JSON bodies off the event loop (default %(default)s)")
    p.add_argument("--max-buffered-mb", type=float, default=d["max_buffered_mb"],
                   help="request bytes held at once over all connections, 503 beyond (default %(default)s)")
    p.add_argument("--max-connections", type=int, default=d["max_connections"],
                   help="open connections; more are closed at once (default %(default)s)")
    p.add_argument("--header-timeout-s", type=float, default=d["header_timeout_s"],
                   help="a connection that sends no complete request head in this time is closed (default %(default)s)")
    p.add_argument("--body-timeout-s", type=float, default=d["body_timeout_s"],
                   help="longest pause while a request body arrives, 408 after it (default %(default)s)")
    p.add_argument("--poll-s", type=float, default=d["poll_s"], help="how often a followed alias is re-read (default %(default)s)")
    p.add_argument("--allow-nonfinite", action="store_true", help="pass NaN/Inf inputs to the model (default: refuse, 400)")
    p.add_argument("--drain-timeout-s", type=float, default=d["drain_timeout_s"],
                   help="on SIGTERM, how long in-flight requests may still take (default %(default)s)")
    p.add_argument("--access-log", action="store_true", help="one log line per request")
    p.add_argument("--cache-dir", help="where verified artifact copies go (default <workspace>/serving-cache)")
    add_registry_flag(p)


def add_score_flags(p: argparse.ArgumentParser, d: dict) -> None:
    """--score and its options: Azure ML's init()/run() contract (serve/score.py)."""
    p.add_argument("--score", metavar="PATH", help="a score.py (Azure ML's contract: init() once with "
                   "AZUREML_MODEL_DIR set, run(raw_data) per request) served on POST /score, in a worker process; "
                   "the v2 inference routes are not served then")
    p.add_argument("--environment", metavar="ENV", help="with --score: run the worker in this trainkit environment "
                   "(conf/environment/ENV.yaml; built with uv like a run's when it has pip/keras 2 requirements)")
    p.add_argument("--pip", action="append", default=[], metavar="REQ", help="with --environment: a requirement "
                   "line added to the environment's (repeatable)")
    p.add_argument("--score-timeout-s", type=float, default=d["score_timeout_s"],
                   help="run() taking longer gets 503 and its worker is restarted (default %(default)s)")
    p.add_argument("--score-init-timeout-s", type=float, default=d["score_init_timeout_s"],
                   help="how long init() may take (default %(default)s)")
    p.add_argument("--score-max-response-mb", type=float, default=d["score_max_response_mb"],
                   help="run()'s JSON answer may be this large, 500 beyond (default %(default)s)")
