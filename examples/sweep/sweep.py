"""A grid sweep from Python (HyperDrive's grid sampling, run by Hydra's -m), then its best run
registered with its lineage, and the leaderboard printed. The same from the command line:

    trainkit train -m +experiment=fashion_mnist_dnn trainer.learning_rate=0.003,0.001 trainer.batch_size=64,128
    trainkit sweeps best SWEEP --metric val_accuracy --register fashion_best

    python sweep.py            # 4 trials of 30 epochs (about 4 minutes on 2 cores)
    python sweep.py --smoke    # 2 tiny trials: the whole path in seconds
"""
import argparse

import trainkit as tk

parser = argparse.ArgumentParser()
parser.add_argument("--smoke", action="store_true", help="two one-epoch trials on a subset")
parser.add_argument("--register", default="fashion_best", help="the registered model's name")
args = parser.parse_args()

grid = ["trainer.learning_rate=0.003,0.0003"] if args.smoke else ["trainer.learning_rate=0.003,0.001",
                                                                  "trainer.batch_size=64,128"]
smoke = ["+debug=smoke"] if args.smoke else []
sweep = tk.sweep("+experiment=fashion_mnist_dnn", *smoke, *grid, "registry.enabled=false",
                 "run.experiment=fashion_sweep", show_output=True)

print(f"sweep {sweep.id}:")
for run in sweep.runs():
    cfg = run.config["trainer"]
    print(f"  {run.id}  {run.status:9}  lr={cfg['learning_rate']:<7} batch={cfg['batch_size']:<4} "
          f"val_accuracy={run.metrics().get('val_accuracy', float('nan')):.4f}")
best = sweep.best_run("val_accuracy")
model = best.register_model(args.register, tags={"sweep": sweep.id})
print(f"best: run {best.id} (lr={best.get('config.trainer.learning_rate')}) "
      f"registered as {model.name}:{model.version}, ONNX {model.metadata['onnx']['status']}")
