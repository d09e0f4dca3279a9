"""Benchmark: the dashboard's runs table on a workspace of N synthetic runs (default 5,000): time to
first byte and the full page load in headless Chromium, cold (the first request builds the run
index) and warm, against a plain baseline in the same run: the same page's HTML served as a static
file by the same Starlette/uvicorn stack.

    python scripts/bench_ui.py [--runs 5000] [--repeats 5]

Prints medians and the ratio to the baseline (goal: the runs page opens in under 1 s)."""
from __future__ import annotations

import argparse
import json
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def make_workspace(root: Path, n: int) -> None:
    """n finished runs of 10 experiments: status, job spec, 10 epochs of metrics each."""
    rng = random.Random(0)
    for i in range(n):
        run_id = f"20261201-{i // 3600:02d}{i // 60 % 60:02d}{i % 60:02d}-{i:06x}"
        run = root / "experiments" / f"exp{i % 10}" / "runs" / run_id
        (run / "logs").mkdir(parents=True)
        acc = round(rng.uniform(0.7, 0.95), 4)
        status = {"state": "completed", "started": 1_800_000_000 + i, "ended": 1_800_000_060 + i,
                  "dataset": {"name": "fashion_mnist", "version": 1, "digest": "0" * 64},
                  "distribution": "single", "tags": {"team": rng.choice("xyz")}, "job": {"backend": "local"},
                  "final_metrics": {"test_accuracy": acc, "test_loss": round(1 - acc, 4), "val_accuracy": acc}}
        (run / "status.json").write_text(json.dumps(status))
        (run / "job_spec.json").write_text(json.dumps({"config": {"trainer": {"learning_rate": 0.001}}}))
        (run / "metrics.jsonl").write_text("".join(json.dumps({"epoch": e, "loss": 1 / e}) + "\n" for e in range(1, 11)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd: list[str], url: str) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(1200):   # 2 minutes: a large workspace's first index build can take a while
        try:
            urllib.request.urlopen(url, timeout=1)
            return proc
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"no answer from {url}")


def ttfb(url: str) -> float:
    t0 = time.perf_counter()
    with urllib.request.urlopen(url) as r:
        r.read(1)
        first = time.perf_counter() - t0
        r.read()
    return first


def page_load(driver, url: str) -> float:
    driver.get(url)
    return driver.execute_script("const t = performance.timing; return (t.loadEventEnd - t.navigationStart) / 1000;")


def browser():
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        return None
    from selenium import webdriver

    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--no-first-run"):
        opts.add_argument(arg)
    return webdriver.Chrome(options=opts, service=webdriver.ChromeService(shutil.which("chromedriver")))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp) / "ws"
        t0 = time.perf_counter()
        make_workspace(ws, args.runs)
        print(f"{args.runs} runs written in {time.perf_counter() - t0:.1f} s", flush=True)
        port, base_port = free_port(), free_port()
        ui = start([sys.executable, "-m", "trainkit.cli", "--workspace", str(ws), "ui", "--port", str(port)],
                   f"http://127.0.0.1:{port}/static/app.css")
        url = f"http://127.0.0.1:{port}/runs"
        try:
            cold = ttfb(url)
            static = Path(tmp) / "static"
            static.mkdir()
            (static / "runs.html").write_text(urllib.request.urlopen(url).read().decode())
            server = ("import sys, uvicorn; from starlette.staticfiles import StaticFiles; "
                      "uvicorn.run(StaticFiles(directory=sys.argv[2]), host='127.0.0.1', port=int(sys.argv[1]), "
                      "log_level='warning')")
            plain = start([sys.executable, "-c", server, str(base_port), str(static)], f"http://127.0.0.1:{base_port}/runs.html")
            base_url = f"http://127.0.0.1:{base_port}/runs.html"
            try:
                rows = {"TTFB /runs (warm)": [], "TTFB static copy": [],
                        "TTFB /api/runs?filter=...": []}
                filt = url.replace("/runs", "/api/runs") + "?filter=metrics.test_accuracy%20%3E%200.9&order_by=metrics.test_accuracy%20desc"
                for _ in range(args.repeats):
                    rows["TTFB /runs (warm)"].append(ttfb(url))
                    rows["TTFB static copy"].append(ttfb(base_url))
                    rows["TTFB /api/runs?filter=..."].append(ttfb(filt))
                driver = browser()
                if driver is not None:
                    rows["page load /runs (Chromium)"], rows["page load static copy (Chromium)"] = [], []
                    try:
                        for _ in range(args.repeats):
                            rows["page load /runs (Chromium)"].append(page_load(driver, url))
                            rows["page load static copy (Chromium)"].append(page_load(driver, base_url))
                    finally:
                        driver.quit()
            finally:
                plain.terminate()
        finally:
            ui.terminate()
    print(f"\n{args.runs} runs; medians of {args.repeats}; cold = the first request (builds the run index)")
    print(f"{'measure':<36} {'seconds':>9}  ratio to the static copy")
    print(f"{'TTFB /runs (cold)':<36} {cold:>9.3f}")
    med = {k: statistics.median(v) for k, v in rows.items()}
    for k, v in med.items():
        ref = med["page load static copy (Chromium)"] if k.startswith("page load") and k in med else med["TTFB static copy"]
        print(f"{k:<36} {v:>9.3f}  {v / ref:.1f}x" if "static" not in k else f"{k:<36} {v:>9.3f}")


if __name__ == "__main__":
    main()
