"""A script with a bug the rerun-after-fix test fixes (it sets FIXED = True in its copy): broken, it
exits 1 after its first epoch; fixed, it runs every epoch. Each attempt appends its version and the
epochs it ran to outputs/attempts.txt (kept across a resume), reads the IDX labels it was given and
logs a metric. No TensorFlow: a run costs seconds."""
import argparse
import gzip
import sys
from pathlib import Path

from trainkit import run as tk

FIXED = False
VERSION = "fixed" if FIXED else "broken"

parser = argparse.ArgumentParser()
parser.add_argument("--data-folder", required=True)
parser.add_argument("--epochs", type=int, default=3)
args = parser.parse_args()
run = tk.get_context()
with gzip.open(Path(args.data_folder) / "train-labels-idx1-ubyte.gz") as f:
    labels = f.read()[8:]                                  # the IDX header is 8 bytes
print(f"fix_me {VERSION}: {len(labels)} labels, {args.epochs} epoch(s)", flush=True)
done = []
for epoch in range(1, args.epochs + 1):
    run.log("mean_label", sum(labels) / len(labels), step=epoch)
    done.append(epoch)
    if not FIXED:
        break
with open(Path("outputs") / "attempts.txt", "a") as f:
    f.write(f"{VERSION} {done}\n")
if not FIXED:
    print("fix_me: the bug, exiting 1", file=sys.stderr, flush=True)
    sys.exit(1)
