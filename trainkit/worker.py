"""One worker process: `python -m trainkit.worker RUN_DIR/job_spec.json`.

It reads only the JobSpec (never Hydra), detects its rank, builds the strategy, trains, and (chief
only) writes metrics, checkpoints, outputs, the plot and the final status.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import time
import traceback
from importlib import import_module
from pathlib import Path

from .errors import TrainkitError
from .fsutil import atomic_write_json, atomic_write_text, read_json
from .runs import write_status
from .spec import JobSpec
from .topology import WorkerEnv
from .workspace import RunPaths


def import_object(path: str):
    module, _, name = path.partition(":")
    return getattr(import_module(module), name)


def load_arrays(spec: JobSpec):
    """Read the registered dataset's IDX files strictly and split train/validation/test."""
    import numpy as np

    from .data.idx import load_split
    from .train.loop import Arrays

    ds_cfg, files = spec.config["dataset"], spec.dataset["files"]
    shape = tuple(spec.config["model"]["input_shape"])
    x_tr, y_tr = load_split(files["train_images"]["path"], files["train_labels"]["path"],
                            ds_cfg["num_classes"], shape)
    x_te, y_te = load_split(files["test_images"]["path"], files["test_labels"]["path"],
                            ds_cfg["num_classes"], shape)
    if ds_cfg.get("limit_train"):
        x_tr, y_tr = x_tr[: ds_cfg["limit_train"]], y_tr[: ds_cfg["limit_train"]]
    if ds_cfg.get("limit_test"):
        x_te, y_te = x_te[: ds_cfg["limit_test"]], y_te[: ds_cfg["limit_test"]]
    n_val = int(ds_cfg["validation_size"])
    cut = len(x_tr) - n_val
    f32 = lambda a: a.astype(np.float32)  # noqa: E731  raw pixels; the model rescales
    i32 = lambda a: a.astype(np.int32)  # noqa: E731
    return Arrays(f32(x_tr[:cut]), i32(y_tr[:cut]), f32(x_tr[cut:]), i32(y_tr[cut:]), f32(x_te), i32(y_te))


def build_model(spec: JobSpec):
    m = dict(spec.config["model"])
    builder = import_object(m.pop("builder"))
    m.pop("name", None)
    return builder(**m, seed=int(spec.config["trainer"]["seed"]))


def make_callbacks(spec: JobSpec, paths: RunPaths, is_chief: bool) -> list:
    cbs = [import_object(c["cls"])(**c.get("kwargs", {})) for c in spec.config["trainer"]["callbacks"]]
    if is_chief:
        import keras

        cbs.append(keras.callbacks.TensorBoard(log_dir=str(paths.tensorboard), write_graph=False,
                                               profile_batch=0))
    return cbs


def share_cores(env: WorkerEnv) -> None:
    """Processes of one job on one host split its cores instead of each using them all."""
    if env.local_size > 1:
        import tensorflow as tf

        threads = max(1, (os.cpu_count() or 1) // env.local_size)
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)


def plain_copy(spec: JobSpec, model):
    """The trained weights in a model built outside any strategy scope, for saving and export."""
    plain = build_model(spec)
    plain.set_weights(model.get_weights())
    return plain


def save_outputs(model, paths: RunPaths) -> None:
    """The trained model as .keras and as a SavedModel, written to temp names then renamed."""
    import shutil

    paths.model_dir.mkdir(parents=True, exist_ok=True)
    tmp_keras = paths.model_dir / ".model.keras.tmp.keras"
    model.save(tmp_keras)
    os.replace(tmp_keras, paths.model_dir / "model.keras")
    tmp_sm, final_sm = paths.model_dir / ".saved_model.tmp", paths.model_dir / "saved_model"
    shutil.rmtree(tmp_sm, ignore_errors=True)
    model.export(str(tmp_sm), format="tf_saved_model", verbose=False)
    shutil.rmtree(final_sm, ignore_errors=True)
    os.replace(tmp_sm, final_sm)


def run_worker(spec: JobSpec, env: WorkerEnv) -> dict:
    """Train per the spec; returns the final metrics (chief) and writes the run record."""
    paths = RunPaths(Path(spec.run_dir))
    if spec.project_root not in sys.path:
        sys.path.insert(0, spec.project_root)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import warnings

    warnings.filterwarnings("ignore", message="To make it possible to preserve tf.data options")
    import keras

    from .envinfo import describe_environment, version_mismatches
    from .strategies import get_strategy
    from .train.checkpoint import Checkpointer
    from .train.loop import Trainer

    cfg = spec.config
    strategy = get_strategy(cfg["distribution"], env)
    if strategy.coordinated and not env.is_chief:
        strategy.serve_forever()   # parameter-server workers and ps: serve until the launcher stops them
        return {}
    share_cores(env)
    tf_strategy = strategy.tf_strategy()   # before anything else touches the TF runtime
    info = describe_environment(cfg["environment"])
    mismatches = version_mismatches(cfg["environment"], info)
    for m in mismatches:
        print(f"warning: {m}", flush=True)
    if mismatches and cfg["environment"].get("strict"):
        raise TrainkitError("environment mismatch: " + "; ".join(mismatches))
    if env.is_chief:   # secrets: only whether each arrived, never a value
        info["secret_env"] = {k: ("set" if os.environ.get(k) else "missing")
                              for k in cfg["environment"].get("secret_env", [])}
        if os.environ.get("TF_CONFIG"):
            info["tf_config_cluster"] = json.loads(os.environ["TF_CONFIG"]).get("cluster")
        atomic_write_json(paths.environment, info)

    keras.utils.set_random_seed(int(cfg["trainer"]["seed"]))
    data = load_arrays(spec)
    print(f"data: {spec.dataset['name']} v{spec.dataset['version']} train={len(data.x_train)} "
          f"val={len(data.x_val)} test={len(data.x_test)}", flush=True)
    with tf_strategy.scope():
        model = build_model(spec)
    ckpt = Checkpointer(paths.checkpoints, keep=int(cfg["trainer"]["checkpoint"]["keep"]))
    state = ckpt.latest()
    if env.is_chief:  # metrics.jsonl holds exactly the checkpointed epochs, then grows
        history = state["history"] if state else []
        atomic_write_text(paths.metrics, "".join(json.dumps(h) + "\n" for h in history))

    report = trial_reporter(cfg["run"].get("trial")) if env.is_chief else None

    def on_epoch(logs: dict) -> None:
        if env.is_chief:
            with open(paths.metrics, "a") as f:
                f.write(json.dumps(logs) + "\n")
            write_status(paths, "running", epoch=logs["epoch"], last_metrics=logs)
            if report is not None:
                report(logs)

    trainer = Trainer(model, tf_strategy, cfg["trainer"], world_size=env.world_size,
                      is_chief=env.is_chief, checkpointer=ckpt,
                      callbacks=make_callbacks(spec, paths, env.is_chief),
                      grad_transform=strategy.grad_transform, sync_initial_state=strategy.sync_initial_state,
                      reduce_sums=strategy.reduce_sums, shard=strategy.shard, jit_ok=strategy.jit_ok,
                      coordinated=strategy.coordinated)
    t0 = time.time()
    result = trainer.fit(data, on_epoch=on_epoch)
    final = {"test_loss": result.test["loss"], "test_accuracy": result.test["accuracy"],
             "test_count": result.test["count"], "epochs_completed": len(result.history),
             "train_time_s": time.time() - t0, "resumed_at_epoch": result.start_epoch}
    if result.history:
        final.update({k: v for k, v in result.history[-1].items() if k not in ("epoch", "epoch_time_s")})
    print("test: loss={test_loss:.4f} accuracy={test_accuracy:.4f} ({test_count} images)".format(**final),
          flush=True)
    if env.is_chief:
        from .plots import plot_curves

        model = plain_copy(spec, model)     # distributed variables -> an ordinary Keras model
        save_outputs(model, paths)
        plot_curves(result.history, paths.plot, title=f"{spec.experiment} / {spec.run_id}")
        atomic_write_json(paths.outputs / "metrics.json", final)
        if cfg["registry"]["enabled"]:
            register(spec, model, paths, data, final)
    return final


def register(spec: JobSpec, model, paths: RunPaths, data, final: dict) -> None:
    """Export ONNX, register the model, record it in the run; a failed export fails the run after."""
    from .registry.publish import register_run_model
    from .registry.store import raise_if_failed

    entry = register_run_model(spec, model, paths.model_dir, data.x_test, data.y_test, final)
    ref = {"name": entry["name"], "version": entry["version"], "path": entry["path"], "onnx": entry["onnx"]}
    atomic_write_json(paths.outputs / "registered_model.json", ref)
    write_status(paths, "running", registered_model=f"{entry['name']}:{entry['version']}")
    onnx = entry["onnx"]
    if onnx["status"] == "ok":
        print(f"registered {entry['name']}:{entry['version']}; ONNX opset {onnx['opset']}: "
              f"max_abs_diff={onnx['max_abs_diff']:.2g} argmax_agreement={onnx['argmax_agreement']:.2%} "
              f"on {onnx['samples']} images", flush=True)
    else:
        print(f"registered {entry['name']}:{entry['version']}; ONNX: {onnx['status']}", flush=True)
    raise_if_failed(entry)


class Pruned(Exception):
    """The Optuna pruner stopped this trial's run early (a normal outcome, not a failure)."""


def trial_reporter(trial: dict | None):
    """For a run that is an Optuna trial: report the per-epoch metric, stop when pruned."""
    if not trial or not trial.get("study"):
        return None
    from .hpo import live_trial

    live = live_trial(trial)
    metric = trial["metric"]

    def report(logs: dict) -> None:
        if logs.get(metric) is None:
            raise TrainkitError(f"hydra.sweeper.metric: expected a per-epoch metric "
                                f"({', '.join(k for k in logs if k != 'epoch')}), got {metric!r}")
        live.report(float(logs[metric]), step=int(logs["epoch"]))
        if live.should_prune():
            raise Pruned(f"pruned by optuna (trial {trial['number']}) after epoch {logs['epoch']}: "
                         f"{metric}={logs[metric]:.4f}")

    return report


def launcher_owns_state() -> bool:
    """Under a cluster driver/supervisor, which writes the job's final state itself (followers of a
    detached job must not see the chief's error as the end while the others are still stopping)."""
    return os.environ.get("TRAINKIT_LAUNCHER_OWNS_STATE") == "1"   # launch.jobs.CLUSTER_WORKER_ENV


def record_error(paths: RunPaths, message: str, **fields) -> None:
    if launcher_owns_state():
        write_status(paths, "running", chief_error=message, **fields)
    else:
        write_status(paths, "failed", exit_reason=message, **fields)


def _on_sigterm(signum, frame):
    raise KeyboardInterrupt(f"terminated by signal {signal.Signals(signum).name}")


def register_only(spec: JobSpec) -> int:
    """After a remote run came back (compute=ssh): export ONNX and register it from this machine."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    paths = RunPaths(Path(spec.run_dir))
    if spec.project_root not in sys.path:
        sys.path.insert(0, spec.project_root)
    model = keras.saving.load_model(paths.model_dir / "model.keras")
    final = read_json(paths.outputs / "metrics.json", {}) or {}
    try:
        register(spec, model, paths, load_arrays(spec), final)
    except TrainkitError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        return e.exit_code
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[0] == "--register":
        return register_only(JobSpec.read(argv[1]))
    spec = JobSpec.read(argv[0])
    env = WorkerEnv.detect()
    paths = RunPaths(Path(spec.run_dir))
    signal.signal(signal.SIGTERM, _on_sigterm)
    if env.is_chief:
        write_status(paths, "running", worker_pid=os.getpid())
    try:
        final = run_worker(spec, env)
    except Pruned as e:
        if env.is_chief:
            write_status(paths, "pruned", exit_reason=str(e))
        print(str(e), flush=True)
        return 0
    except KeyboardInterrupt as e:
        if env.is_chief and not launcher_owns_state():
            write_status(paths, "cancelled", exit_reason=str(e) or "interrupted")
        print(f"worker rank {env.rank}: {e or 'interrupted'}", file=sys.stderr, flush=True)
        return 130
    except TrainkitError as e:
        if env.is_chief:
            record_error(paths, str(e), final_metrics=read_json(paths.outputs / "metrics.json"))
        print(f"error: {e}", file=sys.stderr, flush=True)
        return e.exit_code
    except Exception as e:  # noqa: BLE001 - record any crash in status.json, then fail
        traceback.print_exc()
        if env.is_chief:
            record_error(paths, f"{type(e).__name__}: {e}")
        return 1
    if env.is_chief:
        write_status(paths, "completed", exit_reason="completed", final_metrics=final)
    return 0


if __name__ == "__main__":
    sys.exit(main())
