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
    from ..shimpath import PATH, foreign
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
    from ..tfquiet import NOISE

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
