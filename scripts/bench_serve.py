"""Benchmark: `trainkit models serve` under load against its runtime called in process, in one run.

Starts the server as a subprocess (default --max-batch 64), then for each concurrency C (default
1, 16, 64) runs C asyncio clients on keep-alive HTTP/1.1 connections (raw asyncio streams, so the
client costs as little CPU as a Python client can) for --seconds, each request carrying --rows
images as binary tensor data (tritonclient's default; --json for JSON tensors), and measures
throughput (images/s) and p50/p99 latency. Then it times the same runtime in process (onnxruntime
on model.onnx, or with --runtime tensorflow the SavedModel with TensorFlow) with the same thread
count on batches of C * rows images. It prints both and their same-run ratios; the mean rows per
runtime call come from the server's /metrics.

    .venv/bin/python scripts/bench_serve.py --model fashion_mnist_dnn@production [--seconds 5] [--runtime tensorflow]

Client, server and the in-process runs share the machine's cores (the clients run while the server
works; the in-process runs while the server idles).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


# ------------------------------------------------------------------ the server
def start_server(args, log: Path) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, "-m", "trainkit.cli", "models"] + (["--registry", args.registry] if args.registry else [])
    cmd += ["serve", args.model, "--port", "0", "--runtime", args.runtime, "--max-batch", str(args.max_batch),
            "--max-delay-ms", str(args.max_delay_ms)] + (["--threads", str(args.threads)] if args.threads else [])
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(log, "w"), cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    deadline = time.time() + 60
    while time.time() < deadline:
        if (m := re.search(r"on http://([\d.]+):(\d+)", log.read_text())):
            url = f"http://{m.group(1)}:{m.group(2)}"
            if _get(url + "/v2/health/ready") is not None:
                return proc, url
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode}:\n{log.read_text()}")
        time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"the server did not become ready in 60 s:\n{log.read_text()}")


def _get(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.read()
    except OSError:
        return None


def batch_counters(url: str, model: str) -> tuple[float, float]:
    """(rows, runtime calls) so far, from /metrics."""
    text = _get(url + "/metrics").decode()

    def value(key: str) -> float:
        m = re.search(rf'^{key}{{model="{model}"}} (\S+)$', text, re.M)
        return float(m.group(1)) if m else 0.0   # no series before the first batch

    return value("trainkit_serve_batch_rows_sum"), value("trainkit_serve_batch_rows_count")


# ------------------------------------------------------------------ the clients
def request_bytes(host: str, model: str, x, as_json: bool) -> bytes:
    tensor = {"name": "image", "shape": list(x.shape), "datatype": "FP32"}
    if as_json:
        header = json.dumps({"inputs": [{**tensor, "data": x.ravel().tolist()}]}).encode()
        body, extra = header, ""
    else:
        header = json.dumps({"inputs": [{**tensor, "parameters": {"binary_data_size": x.nbytes}}],
                             "outputs": [{"name": "probabilities", "parameters": {"binary_data": True}}]}).encode()
        body, extra = header + x.tobytes(), f"Inference-Header-Content-Length: {len(header)}\r\n"
    head = (f"POST /v2/models/{model}/infer HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{extra}\r\n")
    return head.encode() + body


async def client(host: str, port: int, request: bytes, start: float, stop: float, latencies: list, errors: list):
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while (t0 := time.perf_counter()) < stop:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"(?im)^content-length: (\d+)", head).group(1))
            await reader.readexactly(length)
            if not head.startswith(b"HTTP/1.1 200"):
                errors.append(head.split(b"\r\n", 1)[0])
            elif t0 >= start:
                latencies.append(time.perf_counter() - t0)
    finally:
        writer.close()


async def load(url: str, request: bytes, concurrency: int, seconds: float, warmup: float) -> tuple[list, list]:
    host, port = url.removeprefix("http://").split(":")
    latencies, errors = [], []
    start = time.perf_counter() + warmup
    stop = start + seconds
    await asyncio.gather(*(client(host, int(port), request, start, stop, latencies, errors)
                           for _ in range(concurrency)))
    return latencies, errors


def served(args, url: str, model: str, x, concurrency: int) -> dict:
    request = request_bytes("127.0.0.1", model, x[:args.rows], args.json)
    rows0, calls0 = batch_counters(url, model)
    latencies, errors = asyncio.run(load(url, request, concurrency, args.seconds, args.warmup))
    rows1, calls1 = batch_counters(url, model)
    return {"images_per_s": len(latencies) * args.rows / args.seconds, **percentiles(latencies),
            "errors": len(errors), "mean_batch_rows": (rows1 - rows0) / max(1.0, calls1 - calls0)}


# ------------------------------------------------------------------ the same runtime, in process
def in_process(session, x, batch: int, seconds: float) -> dict:
    xb = x[:batch]
    for _ in range(20):
        session.run(None, {"image": xb})
    latencies, stop = [], time.perf_counter() + seconds
    while (t0 := time.perf_counter()) < stop:
        session.run(None, {"image": xb})
        latencies.append(time.perf_counter() - t0)
    return {"images_per_s": len(latencies) * batch / seconds, **percentiles(latencies)}


def percentiles(samples: list[float]) -> dict:
    if not samples:
        return {"p50_ms": float("nan"), "p99_ms": float("nan")}
    q = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50_ms": q[49] * 1000, "p99_ms": q[98] * 1000}


# ------------------------------------------------------------------ main
def images(n: int):
    import numpy as np

    from trainkit.data.idx import read_idx

    x = read_idx("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz", "images")
    return np.ascontiguousarray(np.resize(x, (n, 28, 28)), dtype=np.float32)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help="a registered model reference, e.g. fashion_mnist_dnn@production")
    p.add_argument("--registry", help="registry root (default: $TRAINKIT_REGISTRY or <workspace>/models)")
    p.add_argument("--concurrency", default="1,16,64", help="client counts (default 1,16,64)")
    p.add_argument("--rows", type=int, default=1, help="images per request (default 1)")
    p.add_argument("--seconds", type=float, default=5.0, help="measured seconds per level (default 5)")
    p.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds before each level (default 1)")
    p.add_argument("--json", action="store_true", help="JSON tensors instead of binary tensor data")
    p.add_argument("--max-batch", type=int, default=64)
    p.add_argument("--max-delay-ms", type=float, default=2.0)
    p.add_argument("--threads", type=int, help="runtime threads for both sides (default: the server's default)")
    p.add_argument("--runtime", choices=("onnx", "tensorflow"), default="onnx",
                   help="what serves and what runs in process: model.onnx with onnxruntime (default) or the "
                        "SavedModel with TensorFlow (serve/runtimes.py)")
    args = p.parse_args()

    from trainkit.cli.main import Context
    from trainkit.cli.models import cache_dir
    from trainkit.serve.models import default_threads, fetch
    from trainkit.serve.runtimes import open_session

    levels = [int(c) for c in args.concurrency.split(",")]
    x = images(max(levels) * args.rows)
    ctx = Context(argparse.Namespace(registry=args.registry, workspace=None, cache_dir=None))
    reg = ctx.registry
    name, version = reg.resolve(args.model)
    entry, runtime, artifact = fetch(reg, name, version, Path(cache_dir(ctx, ctx.args)), args.runtime)
    threads = args.threads or default_threads(entry)
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_server(args, Path(tmp) / "server.log")
        try:
            server = {c: served(args, url, name, x, c) for c in levels}
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
    session = open_session(runtime, artifact, threads, [t["name"] for t in entry["signature"]["outputs"]])
    local = {c: in_process(session, x, c * args.rows, args.seconds) for c in levels}
    report(args, f"{name}:{version} ({runtime.name})", threads, server, local, proc.returncode)
    return 0


def report(args, label: str, threads: int, server: dict, local: dict, exit_code: int) -> None:
    enc = "JSON" if args.json else "binary"
    print(f"model {label}; {args.rows} image(s) per request, {enc} tensors; server --max-batch {args.max_batch} "
          f"--max-delay-ms {args.max_delay_ms:g}, {threads} runtime thread(s) on both sides; {os.cpu_count()} CPUs; "
          f"{args.seconds:g} s per level")
    print(f"{'clients':>7} | {'served img/s':>12} {'p50 ms':>7} {'p99 ms':>7} {'rows/call':>9} {'errors':>6} | "
          f"{'in-process batch':>16} {'img/s':>9} {'p50 ms':>7} {'p99 ms':>7} | {'throughput ratio':>16}")
    for c, s in server.items():
        lo = local[c]
        print(f"{c:>7} | {s['images_per_s']:>12.0f} {s['p50_ms']:>7.2f} {s['p99_ms']:>7.2f} "
              f"{s['mean_batch_rows']:>9.1f} {s['errors']:>6} | {c * args.rows:>16} {lo['images_per_s']:>9.0f} "
              f"{lo['p50_ms']:>7.3f} {lo['p99_ms']:>7.3f} | {s['images_per_s'] / lo['images_per_s']:>16.3f}")
    print(f"server exit code after SIGTERM: {exit_code}")


if __name__ == "__main__":
    sys.exit(main())
