"""`trainkit runs export RUN --to mlflow --tracking-uri URI` (`trainkit.Run.export_mlflow(uri)`):
a trainkit run as an MLflow run on any tracking server, read back with MlflowClient.

What goes: parameters (params.json, what the script logged), every metric's history with its
steps and timestamps (metrics.jsonl; the final test_* metrics at the last step), tags (the run's,
MLflow's own `mlflow.source.*`/`mlflow.user` from its script, and `trainkit.*` facts), the files
under outputs/, the status and times, and the registered model (its files as the run's artifact
`registered-model/`) as a version of the MLflow registered model of the same name.

Idempotent: the MLflow run carries the tag `trainkit.run_id`; exporting again finds it and adds
only what is missing (metric points not there yet, parameters not logged yet), sets tags and
files again, and creates the model version only when none of that run exists."""
from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from ..errors import TrainkitError

RUN_TAG = "trainkit.run_id"
BATCH = 1000   # MLflow's limit of metrics in one log_batch
KEPT_SYSTEM_TAGS = ("mlflow.source.name", "mlflow.source.type", "mlflow.user", "mlflow.source.git.commit",
                    "mlflow.note.content")
STATES = {"completed": "FINISHED", "failed": "FAILED", "cancelled": "KILLED", "pruned": "KILLED"}


class ExportError(TrainkitError):
    """The tracking server could not be reached or refused what was sent."""


def export_run(run, tracking_uri: str) -> dict:
    """Export one run (a trainkit.Run) to the tracking server at `tracking_uri`; returns
    {run_id, mlflow_run_id, experiment_id, url, created, metrics, params, model_version}."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri=tracking_uri)
    try:
        with contextlib.redirect_stdout(sys.stderr), few_retries():   # MLflow prints links when a run ends: stdout stays the command's
            return _export(client, run, tracking_uri)
    except MlflowException as e:
        raise ExportError(f"export of run {run.id} to {tracking_uri}: {e.message}") from None
    except OSError as e:   # requests' ConnectionError is one
        raise ExportError(f"export of run {run.id} to {tracking_uri}: cannot reach the tracking server ({e})") from None


@contextlib.contextmanager
def few_retries():
    """MLflow retries a refused request 7 times with growing pauses (4 minutes for a wrong URI);
    an export retries twice unless MLFLOW_HTTP_REQUEST_MAX_RETRIES / _BACKOFF_FACTOR say otherwise."""
    import os

    wanted = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1"}
    added = {k: v for k, v in wanted.items() if k not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)


def _export(client, run, tracking_uri: str) -> dict:
    from ..records.workspace import RunPaths

    paths = RunPaths(run.path)
    experiment_id = _experiment(client, run.experiment)
    mlflow_run, created = _run(client, experiment_id, run)
    rid = mlflow_run.info.run_id
    params = _params(client, mlflow_run, paths)
    points = _metrics(client, rid, run, paths)
    client.log_batch(rid, tags=_tags(run, paths))
    if paths.outputs.is_dir():
        client.log_artifacts(rid, str(paths.outputs))
    version = _model_version(client, rid, run)
    _finish(client, rid, run)
    return {"run_id": run.id, "mlflow_run_id": rid, "experiment_id": experiment_id, "created": created,
            "params": params, "metrics": points, "model_version": version,
            "url": f"{tracking_uri.rstrip('/')}/#/experiments/{experiment_id}/runs/{rid}"}


def _experiment(client, name: str) -> str:
    found = client.get_experiment_by_name(name)
    return found.experiment_id if found is not None else client.create_experiment(name)


def _run(client, experiment_id: str, run):
    """The MLflow run this trainkit run was exported to before (its tag), else a new one."""
    found = client.search_runs([experiment_id], filter_string=f"tags.`{RUN_TAG}` = '{run.id}'", max_results=2)
    if found:
        return found[0], False
    started = run.record.get("started")
    return client.create_run(experiment_id, start_time=int(started * 1000) if started else None,
                             tags={RUN_TAG: run.id}, run_name=run.id), True


def _params(client, mlflow_run, paths) -> int:
    """Parameters not logged yet (an MLflow parameter never changes); returns how many are there."""
    from mlflow.entities import Param

    from ..fsutil import read_json

    have = mlflow_run.data.params
    params = {k: str(v) for k, v in (read_json(paths.params, {}) or {}).items()}
    new = [Param(k, v) for k, v in params.items() if k not in have]
    for i in range(0, len(new), 100):
        client.log_batch(mlflow_run.info.run_id, params=new[i:i + 100])
    return len(params)


def _metrics(client, rid: str, run, paths) -> int:
    """Every metric point of the run's history (and the final metrics), each sent once."""
    from mlflow.entities import Metric

    from .records import history_rows

    rows = history_rows(paths)
    last_step = max((r["step"] for r in rows), default=0)
    ended = int((run.record.get("ended") or run.record.get("updated") or 0) * 1000)
    logged = {r["key"] for r in rows}
    for key, value in (run.record.get("final_metrics") or {}).items():
        if key not in logged and isinstance(value, (int, float)) and not isinstance(value, bool):
            rows.append({"key": key, "value": float(value), "timestamp": ended, "step": last_step})
    sent = {}
    for key in {r["key"] for r in rows}:
        sent[key] = {(m.step, m.timestamp, m.value) for m in client.get_metric_history(rid, key)}
    new = [Metric(r["key"], r["value"], r["timestamp"], r["step"]) for r in rows
           if (r["step"], r["timestamp"], r["value"]) not in sent[r["key"]]]
    for i in range(0, len(new), BATCH):
        client.log_batch(rid, metrics=new[i:i + BATCH])
    return len(rows)


def _tags(run, paths) -> list:
    from mlflow.entities import RunTag

    from ..fsutil import read_json
    from . import mlflow_run_id

    system = read_json(paths.root / "mlflow" / "runs" / mlflow_run_id(run.id) / "tags.json", {}) or {}
    record = run.record
    facts = {RUN_TAG: run.id, "trainkit.experiment": run.experiment, "trainkit.status": run.status,
             "trainkit.config_hash": record.get("config_hash"), "trainkit.registered_model": record.get("registered_model"),
             "trainkit.dataset": "{name}:{version}".format(**record["dataset"]) if record.get("dataset") else None}
    tags = {**{k: v for k, v in system.items() if k in KEPT_SYSTEM_TAGS}, **run.tags, **facts}
    return [RunTag(k, str(v)) for k, v in tags.items() if v is not None]


def _model_version(client, rid: str, run) -> dict | None:
    """The run's registered trainkit model as a version of the MLflow registered model of its name
    (created once per run; its files are the run's artifact `registered-model/`)."""
    import tempfile

    ref = run.record.get("registered_model")
    if not ref:
        return None
    name, _, version = ref.rpartition(":")
    existing = client.search_model_versions(f"name = '{name}' and run_id = '{rid}'")
    if existing:
        mv = existing[0]
    else:
        with tempfile.TemporaryDirectory() as tmp:
            run.workspace.registry.download(name, int(version), Path(tmp))
            client.log_artifacts(rid, tmp, "registered-model")
        if not client.search_registered_models(f"name = '{name}'"):
            client.create_registered_model(name, tags={"trainkit.registry": "trainkit"})
        artifact_uri = client.get_run(rid).info.artifact_uri
        mv = client.create_model_version(name, f"{artifact_uri}/registered-model", run_id=rid,
                                         tags={"trainkit.model": ref},
                                         description=f"trainkit model {ref}, from run {run.id}")
    return {"name": mv.name, "version": mv.version, "trainkit": ref}


def _finish(client, rid: str, run) -> None:
    status = STATES.get(run.status)
    if status is not None:
        ended = run.record.get("ended")
        client.set_terminated(rid, status, end_time=int(ended * 1000) if ended else None)
