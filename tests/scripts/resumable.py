"""A script that follows the resume contract: it keeps its state in run.checkpoint_dir, which a
rerun of the same (interrupted) command gets back. No TensorFlow: an 'epoch' is a short sleep."""
import argparse
import json
import time

from trainkit.run import get_context

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=6)
parser.add_argument("--seconds", type=float, default=1.0)
args = parser.parse_args()

run = get_context()
state_file = run.checkpoint_dir / "state.json"
start = json.loads(state_file.read_text())["epoch"] if state_file.exists() else 0
print(f"starting at epoch {start + 1}", flush=True)
for epoch in range(start + 1, args.epochs + 1):
    time.sleep(args.seconds)
    run.log("score", epoch * 10, step=epoch)
    state_file.write_text(json.dumps({"epoch": epoch}))
    print(f"epoch {epoch} done", flush=True)
    if run.should_stop():
        print("asked to stop: state saved", flush=True)
        break
