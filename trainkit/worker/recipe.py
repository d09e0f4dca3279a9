"""One worker process: `python -m trainkit.worker RUN_DIR/job_spec.json`.

It reads only the JobSpec (never Hydra), detects its rank, and follows one recipe: strategy,
environment check, data, model, train, publish. Only the chief writes metrics, checkpoints,
outputs, the plot, the registry entry and the final status.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import time
import traceback
from pathlib import Path

from ..errors import ConfigError, DataError, TrainkitError
from ..hpo import Pruned
from .script import ScriptFailed
from ..fsutil import atomic_write_json, atomic_write_text, read_json
from ..records.runs import write_status
from ..records.spec import JobSpec
from ..topology import WorkerEnv
from ..records.workspace import RunPaths


def run_worker(spec: JobSpec, env: WorkerEnv) -> dict:
    """Train per the spec; returns the final metrics (chief) and writes the run record."""
    from .strategies import get_strategy
    from ..train.checkpoint import Checkpointer
    from ..train.loop import Trainer
    from ..train.task import Task

    cfg, paths = spec.cfg, RunPaths(Path(spec.run_dir))
    strategy = get_strategy(cfg.distribution, env)
    if strategy.serves():
        strategy.serve_forever()   # parameter-server workers and ps: serve until the launcher stops them
        return {}
    share_cores(env)
    strategy.tf                    # the tf.distribute strategy, before anything else touches the TF runtime
    check_environment(spec, env, paths)
    data = load_data(spec, env)
    steps = data.train.count // cfg.trainer.batch_size
    task = Task(cfg.trainer, steps_per_epoch=steps, world_size=env.world_size)
    with strategy.tf.scope():
        model = build_model(spec, data, task.policy)
        adapt_preprocessing(model, data)
    trainer = Trainer(model, strategy, cfg.trainer, task, steps_per_epoch=steps, is_chief=env.is_chief,
                      sample=data.train.arrays(2),
                      checkpointer=Checkpointer(paths.checkpoints, keep=cfg.trainer.checkpoint.keep),
                      callbacks=make_callbacks(spec, paths, env.is_chief))
    started = time.time()
    result = fit_reporting_data_errors(trainer, data, EpochRecorder(spec, paths, env.is_chief))
    final = final_metrics(result, time.time() - started)
    print("test: " + " ".join(f"{k[5:]}={v:.4f}" for k, v in final.items()
                              if k.startswith("test_") and k != "test_count" and isinstance(v, float))
          + f" ({final['test_count']} examples); peak RSS {peak_rss_mb():.0f} MB", flush=True)
    if env.is_chief:
        publish(spec, paths, plain_copy(spec, data, model), data, result.history, final, task.kind)
    return final


# ----------------------------------------------------------------------------- the recipe's steps
def run_script_worker(spec: JobSpec, env: WorkerEnv) -> dict:
    """entry=script: the user's script for this rank, then (chief) its metrics and its model."""
    from .script import run_script, script_metrics

    paths = RunPaths(Path(spec.run_dir))
    check_environment(spec, env, paths, with_tensorflow=False)
    run_script(spec, paths)
    if not env.is_chief:
        return {}
    final = script_metrics(paths)
    publish_script(spec, paths, final)
    return final


def publish_script(spec: JobSpec, paths: RunPaths, final: dict) -> None:
    """The model the script saved (entry.model_path) becomes the run's outputs/model (.keras and
    SavedModel) and, with registry.enabled, a registered version with its ONNX export, checked
    on the run's own test split (reshaped to the model's input when only the shape differs)."""
    from ..registry.script_models import load_script_model

    atomic_write_json(paths.final_metrics, final)
    request = read_json(paths.register_request) or {}   # an Azure-style script's run.register_model(...)
    model_path = request.get("path") or spec.cfg.entry.model_path
    if not model_path:
        return
    if Path(model_path).is_absolute() or ".." in Path(model_path).parts:
        raise TrainkitError(f"run.register_model(model_path={model_path!r}): expected a path inside the run "
                            "(like outputs/model)")
    from ..tfquiet import import_tensorflow

    import_tensorflow(spec.cfg.run.verbose)
    model, saved = load_script_model(spec, paths.root, model_path)
    if model is None:
        print(f"no model at {model_path}: nothing to register (save one there, or set entry.model_path)", flush=True)
        return
    save_outputs(model, paths)
    if spec.registers:
        from ..registry.script_models import parity_inputs

        x, y = parity_inputs(spec, paths, model, load_data(spec))
        units = model.outputs[0].shape[-1]
        register(spec, model, paths, (x, y), final, "classification" if units and units > 1 else "regression",
                 name=request.get("name"), tags=request.get("tags"), saved=saved)
    else:
        trial_note(spec)


def trial_note(spec: JobSpec) -> None:
    """A sweep's trial keeps its model in outputs/model and registers nothing: one line says so."""
    if spec.config["registry"]["enabled"]:
        print(f"sweep {spec.config['run']['sweep']}: this trial's model stays in outputs/model; the sweep "
              "registers its best trial when it ends", flush=True)


def pin_cores(spec: JobSpec, env: WorkerEnv) -> None:
    """compute.pin_cores: this process (and the threads it starts later, TensorFlow's pools among
    them) runs only on its local rank's share of the cores it was allowed."""
    if spec.config.get("compute", {}).get("pin_cores"):
        from ..topology import core_share

        cores = core_share(os.sched_getaffinity(0), env.local_rank, env.local_size)
        os.sched_setaffinity(0, cores)
        print(f"worker rank {env.rank}: pinned to cores {','.join(map(str, cores))}", flush=True)


def share_cores(env: WorkerEnv) -> None:
    """Processes of one job on one host split its cores instead of each using them all (pinned:
    each uses the cores it was given)."""
    allowed = len(os.sched_getaffinity(0))
    if env.local_size > 1 or allowed < (os.cpu_count() or 1):
        import tensorflow as tf

        threads = allowed if allowed < (os.cpu_count() or 1) else max(1, allowed // env.local_size)
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)


def check_environment(spec: JobSpec, env: WorkerEnv, paths: RunPaths, with_tensorflow: bool = True) -> None:
    """Warn about (or, with environment.strict, refuse) other TF/Keras versions; the chief writes
    environment.json (secrets: only whether each arrived, never a value)."""
    from ..envinfo import describe_environment, version_mismatches

    env_cfg = spec.config["environment"]
    info = describe_environment(env_cfg, with_tensorflow)
    mismatches = version_mismatches(env_cfg, info)
    for m in mismatches:
        print(f"warning: {m}", flush=True)
    if mismatches and spec.cfg.environment.strict:
        raise TrainkitError("environment mismatch: " + "; ".join(mismatches))
    if env.is_chief:
        info["secret_env"] = {k: ("set" if os.environ.get(k) else "missing") for k in spec.cfg.environment.secret_env}
        if os.environ.get("TF_CONFIG"):
            info["tf_config_cluster"] = json.loads(os.environ["TF_CONFIG"]).get("cluster")
        if spec.built_env:   # the spec, its hash and the resolved lock of the environment it ran in
            info["built_environment"] = {k: v for k, v in spec.built_env.items() if k != "hosts"}
        atomic_write_json(paths.environment, info)


def load_data(spec: JobSpec, env: WorkerEnv | None = None):
    """The registered dataset version as train / validation / test splits (trainkit.data.load)."""
    from ..data.load import load_data as load

    data = load(spec.cfg.dataset, spec.dataset, env.local_size if env else 1)
    print(data.describe(), flush=True)
    return data


def fit_reporting_data_errors(trainer, data, on_epoch):
    """Train; a record that cannot be read or parsed while streaming is a DataError (exit 3)."""
    import tensorflow as tf

    try:
        return trainer.fit(data, on_epoch=on_epoch)
    except (tf.errors.InvalidArgumentError, tf.errors.DataLossError, tf.errors.NotFoundError) as e:
        if not data.streaming:
            raise
        raise DataError(f"dataset {data.name} v{data.version}: reading the files failed: "
                        f"{e.message.splitlines()[0]}") from None


def build_model(spec: JobSpec, data, policy: str = "float32"):
    """The model config's `_target_` called with its other keys, plus what trainkit knows and the
    builder takes: input_shape (from the data), num_classes (dataset) and seed (trainer)."""
    import keras

    from ..targets import params_of
    from ..targets import import_object

    kwargs = {k: v for k, v in spec.cfg.model.items() if not str(k).startswith("_") and k != "name"}
    target = spec.cfg.model["_target_"]
    provided = {"input_shape": list(data.input_shape), "num_classes": data.num_classes, "seed": spec.cfg.trainer.seed}
    params = params_of(target)
    for key, value in provided.items():
        if key not in kwargs and (key in params.names or params.var_keyword):
            kwargs[key] = value
    keras.utils.set_random_seed(spec.cfg.trainer.seed)
    keras.config.set_dtype_policy(policy)
    builder = import_object(target)
    try:
        return builder(**kwargs)
    except (ValueError, TypeError) as e:   # the builder (or Keras under it) refused its arguments
        given = {k: v for k, v in spec.cfg.model.items() if not str(k).startswith("_") and k != "name"}
        raise ConfigError([f"{_culprit(e, given)}: {target} refused it: {type(e).__name__}: "
                           f"{str(e).strip().splitlines()[0] if str(e).strip() else e!r}"]) from None
    finally:
        keras.config.set_dtype_policy("float32")


def _culprit(error: Exception, given: dict) -> str:
    """The model key(s) a builder's error is about: the one whose value the message quotes (Keras
    says 'Received: units=0'), else every key that was set."""
    import re

    quoted = set(re.findall(r"Received:?\s*\w+=([^\s,.;)]+)", str(error)))
    def mentions(v) -> bool:
        values = v if isinstance(v, (list, tuple)) else [v]
        return any(str(x) in quoted for x in values)
    keys = [k for k, v in given.items() if mentions(v)] or list(given)
    return ", ".join(f"model.{k}={given[k]!r}" for k in keys) or "model"


ADAPT_SAMPLES = 100_000


def adapt_preprocessing(model, data) -> None:
    """Keras preprocessing layers right after the model's input that learn from data
    (Normalization, Discretization, ...) are adapted on the first training examples; they are
    model weights, so exports and checkpoints carry them."""
    inputs = {id(t) for t in model.inputs}
    layers = [layer for layer in model.layers if hasattr(layer, "adapt") and
              any(id(t) in inputs for node in layer._inbound_nodes for t in node.input_tensors)]
    if layers:
        x, _ = data.train.arrays(min(data.train.count, ADAPT_SAMPLES))
        for layer in layers:
            layer.adapt(x)
        print(f"adapted {', '.join(layer.name for layer in layers)} on {len(x)} training examples", flush=True)


def plain_copy(spec: JobSpec, data, model):
    """The trained weights in a float32 model built outside any strategy scope, for saving and export."""
    plain = build_model(spec, data)
    plain.set_weights(model.get_weights())
    return plain


def make_callbacks(spec: JobSpec, paths: RunPaths, is_chief: bool) -> list:
    from ..targets import import_object

    cbs = [import_object(c.cls)(**c.kwargs) for c in spec.cfg.trainer.callbacks]
    if is_chief:
        import keras

        cbs.append(keras.callbacks.TensorBoard(log_dir=str(paths.tensorboard), write_graph=False,
                                               profile_batch=0))
    return cbs


class EpochRecorder:
    """After each epoch (chief): metrics.jsonl, status.json and, for an Optuna trial, the report
    that may prune it. metrics.jsonl first holds exactly the checkpointed epochs. Values callbacks
    log with `trainkit.run.get_context().log(...)` join the epoch's metrics."""

    def __init__(self, spec: JobSpec, paths: RunPaths, is_chief: bool):
        from ..run import attach_loop

        self.paths, self.is_chief = paths, is_chief
        trial = spec.config["run"].get("trial") or {}
        self.run = attach_loop(paths.root, spec.run_id, trial)
        self.metric = trial.get("metric") if trial.get("study") else None   # an Optuna trial: reported each epoch
        if is_chief:
            from ..train.checkpoint import Checkpointer

            state = Checkpointer(paths.checkpoints).latest()
            history = state["history"] if state else []
            atomic_write_text(paths.metrics, "".join(json.dumps(h) + "\n" for h in history))

    def __call__(self, logs: dict) -> None:
        logs.update(self.run._pending)
        self.run._pending.clear()
        if not self.is_chief:
            return
        with open(self.paths.metrics, "a") as f:
            f.write(json.dumps(logs) + "\n")
        write_status(self.paths, "running", epoch=logs["epoch"], last_metrics=logs)
        if self.metric:
            if logs.get(self.metric) is None:
                raise TrainkitError(f"hydra.sweeper.metric: expected a per-epoch metric "
                                    f"({', '.join(k for k in logs if k != 'epoch')}), got {self.metric!r}")
            self.run.report(logs[self.metric], step=logs["epoch"])   # raises Pruned when the pruner stops the trial


def peak_rss_mb() -> float:
    """This process's peak resident memory so far."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # KiB on Linux


def final_metrics(result, train_time_s: float) -> dict:
    """test_<metric>, the last epoch's metrics and how the training went."""
    final = {f"test_{k}": v for k, v in result.test.items()}
    final.update(epochs_completed=len(result.history), train_time_s=train_time_s,
                 resumed_at_epoch=result.start_epoch, peak_rss_mb=peak_rss_mb(),
                 steps_per_call=result.steps_per_call)
    if result.history:
        final.update({k: v for k, v in result.history[-1].items() if k not in ("epoch", "epoch_time_s")})
    return final


def publish(spec: JobSpec, paths: RunPaths, model, data, history: list[dict], final: dict, kind: str) -> None:
    """The chief's last step: outputs/model, curves.png, outputs/metrics.json, then the registry."""
    from ..plots import plot_curves

    save_outputs(model, paths)
    plot_curves(history, paths.plot, title=f"{spec.experiment} / {spec.run_id}")
    atomic_write_json(paths.final_metrics, final)
    if spec.registers:
        register(spec, model, paths, data, final, kind)
    else:
        trial_note(spec)


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


def register(spec: JobSpec, model, paths: RunPaths, data, final: dict, kind: str, name: str | None = None,
             tags: dict | None = None, saved: dict | None = None) -> None:
    """Export ONNX, register the model, record it in the run; a failed export fails the run after.
    `data`: the run's Data (its test split checks the export), or the test (x, y) itself; `name`,
    `tags`: what a script asked for with run.register_model (else registry.model_name); `saved`:
    what a script saved and in what format (registry/script_models.load_script_model)."""
    from ..registry.publish import register_run_model
    from ..registry.store import raise_if_failed

    x_test, y_test = data if isinstance(data, tuple) else data.test.arrays(spec.cfg.export.onnx.parity_samples)
    entry = register_run_model(spec, model, paths.model_dir, x_test, y_test, final, kind, name=name, tags=tags,
                               saved=saved)
    ref = {"name": entry["name"], "version": entry["version"], "path": entry["path"], "onnx": entry["onnx"]}
    atomic_write_json(paths.registered_model, ref)
    write_status(paths, "running", registered_model=f"{entry['name']}:{entry['version']}")
    onnx = entry["onnx"]
    if onnx["status"] == "ok":
        agree = "" if onnx.get("argmax_agreement") is None else f" argmax_agreement={onnx['argmax_agreement']:.2%}"
        print(f"registered {entry['name']}:{entry['version']}; ONNX opset {onnx['opset']}: "
              f"max_abs_diff={onnx['max_abs_diff']:.2g}{agree} on {onnx['samples']} test examples", flush=True)
    else:
        print(f"registered {entry['name']}:{entry['version']}; ONNX: {onnx['status']}", flush=True)
    raise_if_failed(entry)


def launcher_owns_state() -> bool:
    """Under a cluster driver/supervisor, which writes the job's final state itself (followers of a
    detached job must not see the chief's error as the end while the others are still stopping)."""
    return os.environ.get("TRAINKIT_LAUNCHER_OWNS_STATE") == "1"   # compute.base.CLUSTER_WORKER_ENV


def record_error(paths: RunPaths, message: str, **fields) -> None:
    if launcher_owns_state():
        write_status(paths, "running", chief_error=message, **fields)
    else:
        write_status(paths, "failed", exit_reason=message, **fields)


def _on_sigterm(signum, frame):
    raise KeyboardInterrupt(f"terminated by signal {signal.Signals(signum).name}")


def _start(spec: JobSpec) -> None:
    """Every worker: the project first on sys.path, TensorFlow imported quietly (not for scripts:
    they import it themselves)."""
    if spec.project_root not in sys.path:
        sys.path.insert(0, spec.project_root)
    if spec.cfg.entry.name == "script":
        return
    from ..tfquiet import import_tensorflow

    import_tensorflow(verbose=spec.cfg.run.verbose)
    import warnings

    warnings.filterwarnings("ignore", message="To make it possible to preserve tf.data options")


def register_only(spec: JobSpec) -> int:
    """After a remote run came back (compute=ssh): export ONNX and register it from this machine."""
    if not spec.registers:
        return 0
    import keras

    from ..train.task import task_kind
    from ..config.keras_api import canonical_loss

    paths = RunPaths(Path(spec.run_dir))
    final = read_json(paths.final_metrics, {}) or {}
    if spec.cfg.entry.name == "script":
        try:
            publish_script(spec, paths, final)
        except TrainkitError as e:
            print(f"error: {e}", file=sys.stderr, flush=True)
            return e.exit_code
        return 0
    model = keras.saving.load_model(paths.model_dir / "model.keras")
    try:
        register(spec, model, paths, load_data(spec), final, task_kind(canonical_loss(spec.cfg.trainer.loss)))
    except TrainkitError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        return e.exit_code
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[0] == "--register":
        spec = JobSpec.read(argv[1])
        _start(spec)
        return register_only(spec)
    spec = JobSpec.read(argv[0])
    env = WorkerEnv.detect()
    paths = RunPaths(Path(spec.run_dir))
    signal.signal(signal.SIGTERM, _on_sigterm)
    pin_cores(spec, env)
    if env.is_chief:
        write_status(paths, "running", worker_pid=os.getpid())
        from .system import start as sample_system

        sample_system(paths.system)
    try:
        _start(spec)
        final = (run_script_worker if spec.cfg.entry.name == "script" else run_worker)(spec, env)
    except ScriptFailed as e:
        if env.is_chief:
            record_error(paths, str(e), script_exit_code=e.code, final_metrics=read_json(paths.final_metrics))
        print(f"error: {e}", file=sys.stderr, flush=True)
        return 1
    except Pruned as e:
        if env.is_chief:
            write_status(paths, "pruned", exit_reason=e.message)
        print(e.message, flush=True)
        return 0
    except KeyboardInterrupt as e:
        if env.is_chief and not launcher_owns_state():
            write_status(paths, "cancelled", exit_reason=str(e) or "interrupted")
        print(f"worker rank {env.rank}: {e or 'interrupted'}", file=sys.stderr, flush=True)
        return 130
    except TrainkitError as e:
        if env.is_chief:
            record_error(paths, str(e), final_metrics=read_json(paths.final_metrics))
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


def leave(code: int) -> None:
    """End the worker process without Python's interpreter teardown, which with TensorFlow's ~3,300
    modules loaded costs ~1.1 s of CPU and wall time per process on the 2-core machine. What a normal
    exit does that matters still happens, in its order: other non-daemon threads are joined, atexit
    handlers run (Horovod's shutdown, logging's), and every open file object is flushed (a user's
    callback may rely on that), then stdout and stderr."""
    import atexit
    import gc
    import io
    import threading

    for t in threading.enumerate():
        if t is not threading.current_thread() and not t.daemon:
            t.join()
    atexit._run_exitfuncs()
    kinds = (io.TextIOWrapper, io.BufferedWriter, io.BufferedRandom)   # exact types: isinstance on the ABC is 4x slower
    for obj in gc.get_objects():
        if type(obj) in kinds and not obj.closed:
            try:
                obj.flush()
            except (OSError, ValueError):
                pass
    for stream in (sys.stdout, sys.stderr):   # also when they were replaced by something else
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    os._exit(code if isinstance(code, int) else 1)


if __name__ == "__main__":
    leave(main())
