"""Benchmark: distribution strategies as real local processes on loopback, in one invocation, every
process pinned to its own core (so 2 processes on 2 cores are never compared with 1 process using both).

Prints same-run ratios (the issue's goals in brackets):
  overhead at N=1   = steady epoch time of <strategy> with one worker / that of distribution=single,
                      both under `taskset -c 0`                                              [<= 1.15]
  weak scaling, N=2 = images/s with 2 processes (global batch 2x, compute.pin_cores=true: one core
                      each) / (2 x images/s of that strategy with 1 process on 1 core)       [>= 0.80]
  collective        = per-step time at N=2 minus per-step time at N=1 (what distribution adds to a step)
                      / the raw collective alone: the same gradient bytes summed over 2 pinned processes
                      with no model (scripts/baselines/raw_collective.py), through Horovod's Gloo and
                      through TF's collective ops                                            [<= 2]

Each configuration is a real `python -m trainkit` run on a Fashion-MNIST subset; epoch times are
read from the run's metrics.jsonl (median of the epochs after the first, which includes tracing).

    .venv/bin/python scripts/bench_strategies.py [--images 20000] [--epochs 4] [--repeats 5]
        [--strategies multi_worker_mirrored] [--no-scaling] [--extra trainer.jit_compile=false]
        [--model cnn] [--compression none,fp16,bf16] [--link 1gbit] [--stat min]

--compression runs each N=2 strategy once per value of distribution.compression (gradients cast to
fp16/bf16 for the all-reduce) and prints each one's weak scaling and last-epoch test accuracy.
--link runs every process in a network namespace whose loopback is a token bucket of that rate,
so the collective crosses a link of a real network's bandwidth rather than memory.

Every configuration runs --repeats times, interleaved (single, mirrored, ..., then again), and each
ratio is taken within one repeat, so a slow minute of the machine hits both sides of it; the
ratios print as median [min-max].
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOROVODRUN = Path(sys.executable).with_name("horovodrun")
HAVE_HOROVOD = HOROVODRUN.exists()
RAW = ROOT / "scripts" / "baselines" / "raw_collective.py"
HIDDEN = [300, 100]      # the smoke preset's mnist_dnn: 266,610 float32 gradients (1.07 MB) per step


MODELS = {   # --model: the DNN (few FLOPs per gradient byte), or the CNN preset's model (many)
    "dnn": [f"model.hidden=[{','.join(map(str, HIDDEN))}]"],
    "cnn": ["model=cnn", "model.filters=[32,64]", "model.dense=128", "model.dropout=0"],
}


def cpu_ticks() -> tuple[int, int]:
    """(steal, all) jiffies of this machine so far (/proc/stat): the share the hypervisor took."""
    fields = [int(v) for v in open("/proc/stat").readline().split()[1:]]
    return fields[7], sum(fields)


def steal_since(before: tuple[int, int]) -> str:
    steal, total = (a - b for a, b in zip(cpu_ticks(), before))
    return f"steal {100 * steal / max(total, 1):.0f}%"


def epoch_time(ws: str, name: str, overrides: list[str], images: int, epochs: int, prefix: list[str],
               model: str = "dnn", stat=statistics.median) -> tuple[float, float]:
    """(`stat` of the epoch times after the first, in s; the last epoch's test accuracy) of one run."""
    args = ["+debug=smoke", f"run.experiment={name}", f"dataset.limit_train={images + 500}", "dataset.limit_test=1000",
            f"trainer.epochs={epochs}", "registry.enabled=false", "run.snapshot_source=false",
            *MODELS[model], "trainer.steps_per_call=50", *overrides]
    proc = subprocess.run([*prefix, sys.executable, "-m", "trainkit", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "TRAINKIT_WORKSPACE": ws})
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    [run] = list((Path(ws) / "experiments" / name / "runs").iterdir())
    history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return stat([h["epoch_time_s"] for h in history[1:]]), history[-1]["val_accuracy"]


NETNS = "trainkit-bench"


def limited_link(rate: str) -> list[str]:
    """A network namespace whose loopback is a `rate` token bucket (root and iproute2's tc): the
    command prefix that runs a process in it. Processes on one host then talk as over a real link."""
    subprocess.run(["ip", "netns", "del", NETNS], capture_output=True)
    for cmd in (["ip", "netns", "add", NETNS], ["ip", "link", "set", "lo", "up"],
                ["tc", "qdisc", "add", "dev", "lo", "root", "tbf", "rate", rate, "burst", "256kb", "latency", "10ms"]):
        subprocess.run(cmd if cmd[1] == "netns" else ["ip", "netns", "exec", NETNS, *cmd], check=True)
    return ["ip", "netns", "exec", NETNS]


def raw_collective(backend: str, prefix: list[str]) -> float:
    """Median ms of one all-reduce of a step's gradients over 2 processes pinned to one core each."""
    env = {**os.environ, "PIN_CORE_OF_RANK": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    cmd = [sys.executable, str(RAW), backend, "--hidden", *map(str, HIDDEN)]
    if backend == "horovod":
        procs = [subprocess.Popen([*prefix, str(HOROVODRUN), "-np", "2", "-H", "localhost:2", "--gloo", *cmd],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)]
    else:
        ports = []
        for _ in range(2):
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                ports.append(s.getsockname()[1])
        cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
        procs = [subprocess.Popen([*prefix, *cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env={**env, "RAW_RANK": str(r), "TF_CONFIG": json.dumps(
                                      {"cluster": cluster, "task": {"type": "worker", "index": r}})})
                 for r in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    if any(p.returncode for p in procs):
        raise SystemExit(f"raw collective ({backend}) failed:\n" + "\n".join(o[0][-1500:] + o[1][-1500:] for o in outs))
    line = next(ln for o in outs for ln in reversed(o[0].splitlines()) if '"median_ms"' in ln)
    return json.loads(line[line.index("{"):])["median_ms"]


def spread(values: list[float], digits: int = 2) -> str:
    return f"{statistics.median(values):.{digits}f} [{min(values):.{digits}f}-{max(values):.{digits}f}]"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--images", type=int, default=20000, help="training images per epoch")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--repeats", type=int, default=5, help="interleaved repeats of every configuration")
    p.add_argument("--strategies", default="", help="comma-separated subset (default: all; single is always run)")
    p.add_argument("--no-scaling", action="store_true", help="only the one-process overheads")
    p.add_argument("--extra", nargs="*", default=[], help="overrides added to every run (e.g. trainer.jit_compile=false)")
    p.add_argument("--model", choices=sorted(MODELS), default="dnn")
    p.add_argument("--hidden", help="the DNN's hidden widths (default 300,100), e.g. 4096,4096: more "
                   "gradient bytes per step (the raw collective is measured for the default only)")
    p.add_argument("--stat", choices=("median", "min"), default="median",
                   help="each run's epoch time: the median or the fastest of its epochs after the first "
                        "(min: this machine's CPU steal slows whole epochs 2x at random)")
    p.add_argument("--link", metavar="RATE", help="run every process in a network namespace whose loopback "
                   "is limited to RATE (tc tbf, e.g. 1gbit; needs root): a real link's bandwidth")
    p.add_argument("--compression", default="none",
                   help="comma-separated distribution.compression values run at N=2 (none,fp16,bf16)")
    args = p.parse_args()
    if args.hidden:
        MODELS["dnn"] = [f"model.hidden=[{args.hidden}]"]
    stat = {"median": statistics.median, "min": min}[args.stat]
    netns = limited_link(args.link) if args.link else []
    try:
        return measure(args, stat, netns)
    finally:
        if netns:
            subprocess.run(["ip", "netns", "del", NETNS], capture_output=True)


def measure(args, stat, netns: list[str]) -> int:
    core0 = [*netns, "taskset", "-c", str(min(os.sched_getaffinity(0)))]
    one = {
        "single": ["distribution=single"],
        "mirrored": ["distribution=mirrored", "distribution.logical_cpus=1"],
        "multi_worker_mirrored": ["distribution=multi_worker_mirrored", "distribution.workers=1"],
        "parameter_server": ["distribution=parameter_server", "distribution.workers=1", "distribution.ps=1"],
    }
    two = {} if args.no_scaling else {"multi_worker_mirrored": ["distribution=multi_worker_mirrored",
                                                                "distribution.workers=2"]}
    compressions = args.compression.split(",")
    # the raw collective sums the DNN's gradients: measured for that model only
    raw = {} if args.no_scaling or args.model != "dnn" or args.hidden else {"multi_worker_mirrored": "tf"}
    if HAVE_HOROVOD:
        one["horovod"] = ["distribution=horovod", "distribution.processes=1"]
        if not args.no_scaling:
            two["horovod"] = ["distribution=horovod", "distribution.processes=2"]
        if raw:
            raw["horovod"] = "horovod"
    if args.strategies:
        keep = {"single", *args.strategies.split(",")}
        one = {k: v for k, v in one.items() if k in keep}
        two = {k: v for k, v in two.items() if k in keep}
        raw = {k: v for k, v in raw.items() if k in keep}
    # each N=2 strategy once per compression: "horovod", "horovod.fp16", ...
    two = {name + ("" if c == "none" else f".{c}"): [*ov, f"distribution.compression={c}"]
           for name, ov in two.items() for c in compressions
           if not (name == "horovod" and c == "bf16")}     # Horovod's allreduce has no bfloat16
    accuracy = {name: [] for name in two}
    times1 = {name: [] for name in one}
    times2 = {name: [] for name in two}
    raw_ms = {}
    for r in range(args.repeats):      # interleaved: a slow minute of the machine hits every configuration
        with tempfile.TemporaryDirectory() as ws:
            for name, ov in one.items():
                # parameter_server's chief, worker and ps all on one core never finish the first step
                # (the scheduled function never runs; see README, Troubleshooting): it runs unpinned
                pinned = name != "parameter_server"
                ticks = cpu_ticks()
                t, _ = epoch_time(ws, f"n1-{name}", ov + ["trainer.batch_size=64", *args.extra], args.images,
                               args.epochs, core0 if pinned else netns, args.model, stat)
                times1[name].append(t)
                print(f"[{r + 1}/{args.repeats}] N=1 {name:<22} epoch {t:.3f} s "
                      f"({'taskset -c 0' if pinned else 'unpinned, 2 cores'}; {steal_since(ticks)})", flush=True)
            for name, ov in two.items():   # weak scaling: 64 images per process per step, one core each
                ticks = cpu_ticks()
                t, acc = epoch_time(ws, f"n2-{name}", ov + ["trainer.batch_size=128", "compute.pin_cores=true", *args.extra],
                               args.images, args.epochs, netns, args.model, stat)
                times2[name].append(t)
                accuracy[name].append(acc)
                print(f"[{r + 1}/{args.repeats}] N=2 {name:<22} epoch {t:.3f} s (compute.pin_cores=true; "
                      f"{steal_since(ticks)})", flush=True)
    for name, backend in raw.items():
        raw_ms[name] = raw_collective(backend, netns)
        print(f"raw all-reduce, 2 pinned processes, {backend:<8} {raw_ms[name]:.2f} ms per step's gradients", flush=True)
    steps1, steps2 = args.images // 64, args.images // 128
    print(f"\n{os.cpu_count()} CPU(s), {f'loopback limited to {args.link}, ' if args.link else ''}{args.images} images/epoch, {args.stat} epoch after the first, model "
          f"{' '.join(MODELS[args.model])}; ratios are per repeat (same minute), median [min-max] of "
          f"{args.repeats}")
    print(f"single epoch {spread(times1['single'])} s")
    for name in one:
        if name != "single":
            ratios = [t / s for t, s in zip(times1[name], times1["single"])]
            print(f"RATIO overhead N=1 {name:<22} {spread(ratios)}   (goal <= 1.15)")
    for name in two:
        # same images per epoch, 64 per process per step: ideally 2 processes take half the time
        base = name.split(".")[0]
        eff = [t1 / (2 * t2) for t1, t2 in zip(times1[base], times2[name])]
        print(f"RATIO weak scaling N=2 {name:<23} {spread(eff)}   (goal >= 0.80; "
              f"test accuracy {spread(accuracy[name], 4)})")
    for name in [n for n in raw if n in times2]:     # the uncompressed all-reduce against the raw one
        added = [1000 * (t2 / steps2 - t1 / steps1) for t1, t2 in zip(times1[name], times2[name])]
        print(f"RATIO collective N=2 {name:<20} {spread([a / raw_ms[name] for a in added])}   "
              f"({statistics.median(added):.2f} ms added per step, raw all-reduce {raw_ms[name]:.2f} ms; goal <= 2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
