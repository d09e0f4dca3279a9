"""entry=script: a worker runs the user's training script, unchanged, for its rank.

The launcher already gave this process its place (TRAINKIT_RANK..., TF_CONFIG, or horovodrun's
HOROVOD_* and Gloo rendezvous); the script inherits all of it, so `MultiWorkerMirroredStrategy()`
and `hvd.init()` just work. It runs in `<run>/code` (a snapshot of `entry.source_dir`), where
`outputs` and `logs` are the run's own; `${dataset.path}` in its arguments becomes `<run>/dataset`,
a folder of links to the verified, cached files (Azure ML's `as_mount()`). `trainkit.run` in the
script finds the run through TRAINKIT_RUN_DIR. After a successful run the chief registers the model
the script saved (`entry.model_path`) and exports it to ONNX, as for trainkit's own loop."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from ..errors import DataError, TrainkitError
from ..fsutil import read_json
from ..hpo import PRUNED_EXIT, Pruned
from ..keras2_shim import is_keras2
from ..keras2_shim import script_env as keras2_env
from ..keras_datasets import ENV as KERAS_DATASETS_ENV
from ..keras_datasets import PATH as KERAS_DATASETS_PATH
from ..run import RUN_DIR_ENV, RUN_ID_ENV, TRIAL_ENV
from ..records.workspace import RunPaths
from ..tracking import script_env as tracking_env

DATASET_TOKEN = "<dataset.path>"   # dataset.path's default: replaced on each worker


class ScriptFailed(TrainkitError):
    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


def dataset_mount(dataset: dict, run_dir: Path) -> Path:
    """<run>/dataset: a link per verified file (or directory) under its own name, made once per
    host (atomically: several ranks may race)."""
    final = RunPaths(run_dir).dataset_mount
    if final.is_dir():
        return final
    tmp = final.with_name(f".{final.name}-{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    for units in dataset["files"].values():
        for unit in units:
            link = tmp / Path(unit["path"]).name
            if link.is_symlink():
                raise DataError(f"dataset.path: two files are named {link.name!r}; expected distinct names")
            link.symlink_to(unit["path"])
    try:
        os.rename(tmp, final)
    except OSError:   # another rank made it first
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return final


def script_env(spec, paths: RunPaths, code: Path, mount: Path | None = None, keras_datasets: dict | None = None) -> dict:
    """The script's variables: the run's (TRAINKIT_*), MLflow's (logging into the run: trainkit.tracking),
    entry.keras_datasets' files (`keras_datasets`: what keras_datasets.prepare gave), PYTHONPATH."""
    env = dict(os.environ)
    shim = [str(azureml_shim(spec))] if spec.cfg.entry.azureml_compat else []
    env.update({RUN_DIR_ENV: str(paths.root), RUN_ID_ENV: spec.run_id, "PYTHONUNBUFFERED": "1",
                "PYTHONPATH": os.pathsep.join(filter(None, [*shim, str(code), spec.project_root, env.get("PYTHONPATH")]))})
    if mount is not None:   # Azure ML's run.input_datasets
        env.update(TRAINKIT_DATASET_PATH=str(mount), TRAINKIT_DATASET_NAME=spec.dataset["name"])
    trial = spec.config["run"].get("trial") or {}
    if trial.get("study"):
        env[TRIAL_ENV] = json.dumps(trial)
    env.pop("TRAINKIT_LAUNCHER_OWNS_STATE", None)
    env.update(tracking_env(spec.run_id, spec.experiment, paths.root, spec.config["environment"].get("env_vars")))
    env[KERAS_DATASETS_ENV] = json.dumps(keras_datasets or {})
    env["PYTHONPATH"] = os.pathsep.join([str(KERAS_DATASETS_PATH), env["PYTHONPATH"]])
    if is_keras2(spec.config["environment"]):   # the script gets Keras 2; this worker keeps Keras 3
        env = keras2_env(env)
    return env


def azureml_shim(spec) -> Path:
    """entry.azureml_compat: the folder whose `azureml` package gives a script trainkit's Run; a
    real azureml installed in the script's interpreter is never shadowed (ConfigError, exit 2)."""
    from ..azureml_shim import PATH, foreign
    from ..errors import ConfigError

    python = spec.cfg.entry.python or sys.executable
    probe = subprocess.run([python, "-c", "import importlib.util as u; s = u.find_spec('azureml'); "
                            "print('\\n'.join(s.submodule_search_locations or [s.origin]) if s else '')"],
                           capture_output=True, text=True)
    if foreign(probe.stdout.split("\n")):   # the shim itself (TRAINKIT_AZUREML=1 in this process's environment) is not one
        raise ConfigError([f"entry.azureml_compat: expected no azureml package in {python}, got one at "
                           f"{probe.stdout.strip()} (a real Azure ML SDK is installed: trainkit does not shadow it; "
                           "set entry.azureml_compat=false, or run the script in an environment without it)"])
    return PATH


def prepare_keras_datasets(spec, paths: RunPaths) -> dict:
    """entry.keras_datasets' files on this host; the chief records which dataset answers each loader."""
    if not spec.cfg.entry.keras_datasets:
        return {}
    from ..keras_datasets import prepare
    from ..records.runs import write_status
    from ..topology import WorkerEnv

    env, record = prepare(spec)
    if WorkerEnv.detect().is_chief:
        write_status(paths, "running", keras_datasets=record)
    return env


def _pump(stream, out, tail: list[str]) -> None:
    from .tfquiet import NOISE

    for raw in iter(stream.readline, b""):
        line = raw.decode(errors="replace")
        out.write(line)
        out.flush()
        if not NOISE.match(line):
            tail.append(line.rstrip("\n")[:300])
            del tail[:-20]


def run_script(spec, paths: RunPaths) -> None:
    """Run the script to the end (SIGTERM/SIGINT are passed on); raise ScriptFailed on a non-zero exit
    and KeyboardInterrupt when a signal asked the script to stop (it did not complete)."""
    entry = spec.cfg.entry
    code = paths.code
    mount = dataset_mount(spec.dataset, paths.root)
    keras_datasets = prepare_keras_datasets(spec, paths)
    args = [str(a).replace(DATASET_TOKEN, str(mount)) for a in entry.arguments]
    cmd = [entry.python or sys.executable, entry.script, *args]
    print(f"script: {' '.join(cmd[1:])} (in {code})", flush=True)
    from ..records.runs import die_with_parent

    proc = subprocess.Popen(cmd, cwd=code, env=script_env(spec, paths, code, mount, keras_datasets), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, preexec_fn=die_with_parent)
    tail: list[str] = []
    pumps = [threading.Thread(target=_pump, args=(proc.stdout, sys.stdout, tail), daemon=True),
             threading.Thread(target=_pump, args=(proc.stderr, sys.stderr, tail), daemon=True)]
    for t in pumps:
        t.start()
    asked: list[int] = []

    def forward(signum, frame):
        asked.append(signum)
        proc.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        rc = proc.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        for t in pumps:
            t.join(timeout=5)
    if rc == PRUNED_EXIT and paths.pruned.exists():
        raise Pruned(read_json(paths.pruned, {}).get("reason", "pruned"))
    if asked and rc in (0, -asked[0], 128 + asked[0]):
        # Asked to stop (a cancel, a preemption, a failed peer): a script that saved its state and
        # exited 0 stopped early, it did not complete; the run stays resumable.
        raise KeyboardInterrupt(f"terminated by signal {signal.Signals(asked[0]).name} "
                                f"(the script stopped and exited with {rc})")
    if rc != 0:
        how = f"signal {signal.Signals(-rc).name}" if rc < 0 else f"code {rc}"
        lines = " | ".join(tail[-5:])
        raise ScriptFailed(f"script {entry.script} exited with {how}; last lines: {lines}", rc)


def script_metrics(paths: RunPaths) -> dict:
    """The chief's last value of every metric the script logged (trainkit.run), by name (a torn
    metrics.jsonl line is skipped)."""
    from ..records.runs import metric_rows

    final: dict = {}
    for row in metric_rows(paths.metrics):
        if "rank" not in row and "image" not in row:
            final.update({k: v for k, v in row.items() if k not in ("step", "time")})
    return final


PARITY_FILE = "outputs/parity_inputs.npy"   # representative inputs a script may save (.npy of x, or .npz of x, y)


def parity_inputs(spec, paths: RunPaths, model, data):
    """Inputs for the ONNX parity check of a script's model: what the script saved at PARITY_FILE
    (.npy, or .npz with x and y), else the run's test split reshaped to the model's input and, when
    it holds raw 0..255 pixels and the model has no rescaling or normalization layer of its own
    (the script scaled them before feeding), divided by 255."""
    import numpy as np

    n = spec.cfg.export.onnx.parity_samples
    for path in (paths.root / PARITY_FILE, (paths.root / PARITY_FILE).with_suffix(".npz")):
        if path.exists():
            saved = np.load(path)
            x, y = (saved["x"], saved["y"] if "y" in saved else None) if path.suffix == ".npz" else (saved, None)
            return x[:n], (None if y is None else y[:n])
    x, y = data.test.arrays(n)
    want = list(model.inputs[0].shape[1:])
    if None not in want and list(x.shape[1:]) != want and x[0].size == int(np.prod(want)):
        x = x.reshape(len(x), *want)
    own = {"Rescaling", "Normalization"} & {type(layer).__name__ for layer in model._flatten_layers()}
    if not own and x.size and 1.5 < float(x.max()) <= 255 and float(x.min()) >= 0:
        x = x / np.float32(255)
    return x, y


def load_saved_model(run_dir: Path, model_path: str):
    """The model the script saved: a .keras file, or a TF SavedModel directory wrapped as a Keras
    model; None when there is none."""
    import keras

    path = run_dir / model_path
    if path.is_file() and path.suffix == ".keras":
        return keras.saving.load_model(path, compile=False)
    if path.is_dir() and (path / "saved_model.pb").exists():
        return wrap_saved_model(path)
    return None


def wrap_saved_model(path: Path):
    """A TF SavedModel directory (its serving_default signature, one input) as a Keras 3 model."""
    import keras
    import tensorflow as tf

    fn = tf.saved_model.load(str(path)).signatures["serving_default"]
    [spec] = fn.structured_input_signature[1].values()
    inputs = keras.Input(shape=spec.shape[1:], dtype=spec.dtype, name=spec.name)
    layer = keras.layers.TFSMLayer(str(path), call_endpoint="serving_default")
    out = layer(inputs)
    out = next(iter(out.values())) if isinstance(out, dict) else out
    return keras.Model(inputs, out)


def load_script_model(spec, base: Path, model_path: str):
    """(model, what was saved) for the model a script saved at `model_path` under `base` (the run):
    what `keras2_shim.formats.locate` finds, loaded by trainkit's Keras 3 (a .keras file, a SavedModel,
    in a Keras 3 environment a whole-model .h5), or first converted to a SavedModel with tf_keras in
    a child process (environment.keras "2": .h5, JSON + weights, a tf_keras .keras file);
    (None, None) when nothing is there."""
    from ..keras2_shim.formats import locate, relative

    saved = locate(base / model_path)
    if saved is None:
        return None, None
    keras2 = is_keras2(spec.config["environment"])
    record = {"path": model_path, **relative(saved, base), "keras": "2" if keras2 else "3"}
    if saved["format"] == "saved_model":
        return wrap_saved_model(saved["model"]), record
    if not keras2:
        return load_keras3(saved), record
    out, converted = convert_keras2(spec, saved)
    record.update(converted, converted_to=str(out.relative_to(base)) if out.is_relative_to(base) else str(out))
    return wrap_saved_model(out), record


def load_keras3(saved: dict):
    """A .keras or whole-model .h5 file with Keras 3; JSON + weights needs tf_keras (ConfigError)."""
    import keras

    from ..errors import ConfigError

    if saved["format"] == "json+weights":
        raise ConfigError([f"entry.model_path: {saved['model']} is a model's JSON with weights "
                           f"({saved['weights']}), Keras 2's way of saving; expected environment.keras=2 to "
                           "register it (tf_keras loads it), or a .keras file or SavedModel"])
    return keras.saving.load_model(saved["model"], compile=False)


def convert_keras2(spec, saved: dict) -> tuple[Path, dict]:
    """What a Keras 2 script saved as a SavedModel next to it (`<name>_saved_model/`), converted
    by keras2_shim/convert.py in the script's interpreter under TF_USE_LEGACY_KERAS=1; returns its
    path and the converter's record (tf_keras version, model class, input shapes)."""
    from ..keras2_shim import convert

    src = Path(saved["model"])
    out = src.with_name(f"{src.name.split('.')[0]}_saved_model")
    python = spec.cfg.entry.python or (spec.built_env or {}).get("python") or sys.executable
    cmd = [python, convert.__file__, str(src), str(out)] + (["--weights", str(saved["weights"])] if saved.get("weights") else [])
    env = keras2_env({**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [env["PYTHONPATH"], str(Path(spec.run_dir) / "code")]))
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    if res.returncode != 0:
        tail = " | ".join(res.stderr.strip().splitlines()[-3:])
        raise TrainkitError(f"entry.model_path: {src} ({saved['format']}): tf_keras could not load it and save it "
                            f"as a SavedModel ({python}): {tail}")
    return out, json.loads(res.stdout.strip().splitlines()[-1])
