"""System metrics over time, as MLflow's system metrics: the chief worker samples its own CPU use
and resident memory (and each GPU's utilisation and memory when `nvidia-smi` is there) every few
seconds into `<run>/system.jsonl`, one JSON row per sample: {"step", "time", "cpu_percent",
"rss_mb", "gpu0_util_percent", "gpu0_memory_mb", ...}. CPU % is the process's CPU time over wall
time (all its threads: 200 on two busy cores). `TRAINKIT_SYSTEM_METRICS_S` sets the interval
(default 2; 0 turns sampling off). A daemon thread: it never keeps the worker alive."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

EVERY_S = 2.0


def rss_mb() -> float:
    """This process's resident memory now (not its peak)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def gpus() -> dict:
    """{"gpu<i>_util_percent": .., "gpu<i>_memory_mb": ..} from nvidia-smi; {} without a GPU."""
    if not shutil.which("nvidia-smi"):
        return {}
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu,memory.used", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    row = {}
    for i, line in enumerate(out.strip().splitlines()):
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 2 and all(p.replace(".", "", 1).isdigit() for p in parts):
            row[f"gpu{i}_util_percent"], row[f"gpu{i}_memory_mb"] = float(parts[0]), float(parts[1])
    return row


def sample(step: int, last: tuple[float, float]) -> tuple[dict, tuple[float, float]]:
    """One row, and the (wall, cpu) clock it was measured against for the next one."""
    wall, cpu = time.monotonic(), time.process_time()
    busy = (cpu - last[1]) / (wall - last[0]) * 100 if wall > last[0] else 0.0
    return {"step": step, "time": round(time.time(), 3), "cpu_percent": round(busy, 1),
            "rss_mb": round(rss_mb(), 1), **gpus()}, (wall, cpu)


def start(path: Path, every_s: float | None = None) -> threading.Thread | None:
    """Sample into `path` (appending) every `every_s` seconds until the process ends."""
    every_s = float(os.environ.get("TRAINKIT_SYSTEM_METRICS_S", EVERY_S)) if every_s is None else every_s
    if every_s <= 0:
        return None

    def loop() -> None:
        last, step = (time.monotonic(), time.process_time()), 0
        with open(path, "a") as f:
            while True:
                time.sleep(every_s)
                row, last = sample(step, last)
                f.write(json.dumps(row) + "\n")
                f.flush()
                step += 1

    thread = threading.Thread(target=loop, name="trainkit-system-metrics", daemon=True)
    thread.start()
    return thread
