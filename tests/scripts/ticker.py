"""A script that keeps a run alive and its console moving: a line and a metric every 0.3 s for
--seconds, then exit 0 (--fail: exit 3 instead); --delay: seconds of silence first (a run opened before
its first metric). No TensorFlow: it costs no CPU to speak of."""
import argparse
import sys
import time

from trainkit import run as tk

parser = argparse.ArgumentParser()
parser.add_argument("--seconds", type=float, default=30)
parser.add_argument("--fail", action="store_true")
parser.add_argument("--delay", type=float, default=0)
args = parser.parse_args()
run = tk.get_context()
time.sleep(args.delay)
i = 0
end = time.time() + args.seconds
while time.time() < end and not run.should_stop():
    print(f"tick {i}", flush=True)
    run.log("tick", i, step=i)
    i += 1
    time.sleep(0.3)
if args.fail:
    print("ticker: failing on purpose", file=sys.stderr, flush=True)
    sys.exit(3)
