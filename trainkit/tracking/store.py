"""The MLflow tracking store of the `trainkit` scheme: a script's MLflow calls write into its run.

MLflow builds it from `MLFLOW_TRACKING_URI=trainkit:///<run dir>` (entry point
`mlflow.tracking_store`). What maps to what:
- the experiment: the run's trainkit experiment, whatever name the script sets (one per run);
- the run MLFLOW_RUN_ID names, and any other top-level run the script starts: the trainkit run.
  Metrics go to its history (metrics.jsonl, one row per step), parameters to params.json, tags to
  tags.json (MLflow's own `mlflow.*` tags stay on the MLflow side, `<run>/mlflow/`);
- a nested run: its own MLflow run, its metrics and parameters also in the trainkit run as
  `<nested run name>/<key>`; its artifacts under `outputs/<nested run name>/`;
- artifacts of the run: `outputs/` (a local artifact repository); logged models:
  `outputs/mlflow-models/<name>/`; the model MLflow logged last is registered after the run
  (`logged.register_request`) unless the script saved one at `entry.model_path`.
Only the chief (rank 0) writes into the trainkit run; another rank's MLflow data stay in
`<run>/logs/mlflow-rank-N/`, as `trainkit.run` keeps only the chief's values."""
from __future__ import annotations

import atexit
import getpass
import os
import sys
import threading
import time
import uuid
from pathlib import Path

from mlflow.entities import (Experiment, LifecycleStage, Param, Run, RunData, RunInfo, RunInputs,
                             RunOutputs, RunStatus, RunTag, ViewType)
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST
from mlflow.store.entities.paged_list import PagedList
from mlflow.store.tracking.abstract_store import AbstractStore
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME
from mlflow.utils.search_utils import SearchUtils

from ..fsutil import read_json
from ..records.workspace import RunPaths
from . import experiment_id, mlflow_run_id, run_dir_of
from .entities import dataset_inputs, inputs_record, metric_entity, model_outputs
from .logged import LoggedModels
from .records import NestedRun, RootRun, SideRecords, SideRun, TrainkitRecord

NOTE_PREFIX = "trainkit (MLflow):"


def user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):   # no passwd entry (a container's uid)
        return str(os.getuid())


def not_found(what: str) -> MlflowException:
    return MlflowException(what, RESOURCE_DOES_NOT_EXIST)


class TrainkitStore(LoggedModels, AbstractStore):
    """The MLflow runs of one trainkit run (see the module docstring)."""

    def __init__(self, store_uri: str | None = None, artifact_uri: str | None = None):
        from ..topology import WorkerEnv

        super().__init__()
        self.paths = RunPaths(run_dir_of(store_uri or os.environ.get("MLFLOW_TRACKING_URI", "")))
        spec = read_json(self.paths.spec)
        if not spec:
            raise MlflowException(f"{store_uri}: no trainkit run there (expected {self.paths.spec})",
                                  INVALID_PARAMETER_VALUE)
        env = WorkerEnv.detect()
        self.chief, self.spec = env.is_chief, spec
        self.trainkit_id, self.experiment = spec["run_id"], spec["experiment"]
        self.root_id, self.experiment_id = mlflow_run_id(self.trainkit_id), experiment_id(self.experiment)
        self.side = SideRecords(self.paths.root / "mlflow" if self.chief else self.paths.logs / f"mlflow-rank-{env.rank}")
        self.record = TrainkitRecord(self.paths.root, self.trainkit_id) if self.chief else None
        self.outputs = self.paths.outputs if self.chief else self.side.root / "artifacts"
        self._lock = threading.RLock()
        self._noted: set[str] = set()
        if self.chief:
            atexit.register(self.register_logged_model)

    def note(self, text: str) -> None:
        """Say something once per process on stderr."""
        if text not in self._noted:
            self._noted.add(text)
            print(f"{NOTE_PREFIX} {text}", file=sys.stderr, flush=True)

    # ------------------------------------------------------------------ the experiment
    def _experiment(self) -> Experiment:
        created = int(float(read_json(self.paths.status, {}).get("started") or time.time()) * 1000)
        return Experiment(self.experiment_id, self.experiment, self.outputs.as_uri(), LifecycleStage.ACTIVE,
                          creation_time=created, last_update_time=created)

    def _same_experiment(self, name: str, how: str) -> Experiment:
        if name != self.experiment:
            self.note(f"{how}({name!r}): this run belongs to trainkit experiment {self.experiment!r} "
                      "(run.experiment); MLflow logs there")
        return self._experiment()

    def search_experiments(self, view_type=ViewType.ACTIVE_ONLY, max_results=None, filter_string=None,
                           order_by=None, page_token=None):
        return PagedList([self._experiment()] if view_type != ViewType.DELETED_ONLY else [], None)

    def create_experiment(self, name, artifact_location=None, tags=None):
        return self._same_experiment(name, "mlflow.create_experiment").experiment_id

    def get_experiment(self, experiment_id):
        if str(experiment_id) != self.experiment_id:
            raise not_found(f"No experiment with id {experiment_id} in trainkit run {self.trainkit_id} "
                            f"(its experiment is {self.experiment_id}, {self.experiment!r})")
        return self._experiment()

    def get_experiment_by_name(self, experiment_name):
        return self._same_experiment(experiment_name, "mlflow.set_experiment")

    def _fixed(self, *args, **kwargs):
        raise MlflowException(f"the experiment of a trainkit run is its run.experiment ({self.experiment!r}): "
                              "it cannot be deleted, restored or renamed from the run", INVALID_PARAMETER_VALUE)

    delete_experiment = restore_experiment = rename_experiment = _fixed

    # ------------------------------------------------------------------ runs
    def _info(self, run_id: str) -> dict:
        info = self.side.read(run_id, "info.json")
        if info is None and run_id == self.root_id:
            info = self._new_info(run_id, self.trainkit_id, None, self.outputs)
        if info is None:
            raise not_found(f"Run '{run_id}' not found in trainkit run {self.trainkit_id}")
        return info

    def _new_info(self, run_id: str, name: str, parent: str | None, artifacts: Path) -> dict:
        info = {"run_id": run_id, "run_name": name, "experiment_id": self.experiment_id, "user_id": user(),
                "status": "RUNNING", "start_time": int(time.time() * 1000), "end_time": None,
                "lifecycle_stage": LifecycleStage.ACTIVE, "artifact_uri": artifacts.as_uri(), "parent": parent}
        self.side.write(run_id, "info.json", info)
        return info

    def _data(self, run_id: str, info: dict) -> SideRun:
        if self.record is None:
            return SideRun(self.side, run_id)
        if run_id == self.root_id:
            return RootRun(self.side, run_id, self.record)
        return NestedRun(self.side, run_id, self.record, info["run_name"])

    def _run(self, run_id: str) -> Run:
        info = self._info(run_id)
        data = self._data(run_id, info)
        latest: dict[str, dict] = {}
        for row in data.metric_rows():
            if row["key"] not in latest or (row["step"], row["timestamp"]) >= (latest[row["key"]]["step"],
                                                                             latest[row["key"]]["timestamp"]):
                latest[row["key"]] = row
        run_data = RunData([metric_entity(r) for r in latest.values()],
                           [Param(k, str(v)) for k, v in data.params().items()],
                           [RunTag(k, str(v)) for k, v in data.tags().items()])
        return Run(self._run_info(info), run_data, RunInputs(*dataset_inputs(self.side.read(run_id, "inputs.json", {}))),
                   RunOutputs(model_outputs(self.side.read(run_id, "outputs.json", []))))

    @staticmethod
    def _run_info(info: dict) -> RunInfo:
        return RunInfo(info["run_id"], info["experiment_id"], info["user_id"], info["status"], info["start_time"],
                       info["end_time"], info["lifecycle_stage"], info["artifact_uri"], info["run_name"])

    def get_run(self, run_id):
        with self._lock:
            return self._run(run_id)

    def create_run(self, experiment_id, user_id, start_time, tags, run_name):
        """A top-level run is the trainkit run (resumed); a nested one is a new MLflow run."""
        tags = {t.key: t.value for t in tags or []}
        parent = tags.get(MLFLOW_PARENT_RUN_ID)
        with self._lock:
            if parent is None:
                info = self._info(self.root_id)
                self._save_info({**info, "status": "RUNNING", "end_time": None, "run_name": run_name or info["run_name"]})
                self._data(self.root_id, info).set_tags({k: v for k, v in tags.items() if k != MLFLOW_RUN_NAME})
                return self._run(self.root_id)
            self._info(parent)
            name = self._nested_name(run_name or tags.get(MLFLOW_RUN_NAME))
            run_id = uuid.uuid4().hex
            info = self._new_info(run_id, name, parent, self.outputs / name)
            self._data(run_id, info).set_tags({**tags, MLFLOW_RUN_NAME: name})
            return self._run(run_id)

    def _nested_name(self, wanted: str | None) -> str:
        """A nested run's name: what the script asked for when it is a safe path component not
        taken by another nested run, else `nested-<n>`."""
        from ..run import _safe_name

        taken = {self.side.read(i, "info.json", {}).get("run_name") for i in self.side.run_ids()}
        if wanted and _safe_name(wanted) and "/" not in wanted and wanted not in taken:
            return wanted
        n = len(taken) + 1
        while f"nested-{n}" in taken:
            n += 1
        if wanted:
            self.note(f"nested run {wanted!r} is named 'nested-{n}' in this run (a name is one path component, "
                      "not used by another nested run)")
        return f"nested-{n}"

    def _save_info(self, info: dict) -> None:
        self.side.write(info["run_id"], "info.json", info)

    def update_run_info(self, run_id, run_status, end_time, run_name):
        with self._lock:
            info = self._info(run_id)
            info.update(status=RunStatus.to_string(run_status) if isinstance(run_status, int) else run_status,
                        end_time=end_time, run_name=run_name or info["run_name"])
            self._save_info(info)
            return self._run_info(info)

    def _lifecycle(self, run_id: str, stage: str) -> None:
        with self._lock:
            self._save_info({**self._info(run_id), "lifecycle_stage": stage})

    def delete_run(self, run_id):
        self._lifecycle(run_id, LifecycleStage.DELETED)

    def restore_run(self, run_id):
        self._lifecycle(run_id, LifecycleStage.ACTIVE)

    def _all_run_ids(self) -> list[str]:
        return [self.root_id, *(i for i in self.side.run_ids() if i != self.root_id)]

    def _search_runs(self, experiment_ids, filter_string, run_view_type, max_results, order_by, page_token):
        if self.experiment_id not in [str(e) for e in experiment_ids]:
            return [], None
        with self._lock:
            runs = [self._run(i) for i in self._all_run_ids()]
        runs = [r for r in runs if LifecycleStage.matches_view_type(run_view_type, r.info.lifecycle_stage)]
        runs = SearchUtils.sort(SearchUtils.filter(runs, filter_string), order_by)
        return SearchUtils.paginate(runs, page_token, max_results)

    # ------------------------------------------------------------------ metrics, parameters, tags
    def get_metric_history(self, run_id, metric_key, max_results=None, page_token=None):
        with self._lock:
            rows = [r for r in self._data(run_id, self._info(run_id)).metric_rows() if r["key"] == metric_key]
        return PagedList([metric_entity(r) for r in rows][:max_results], None)

    def log_batch(self, run_id, metrics, params, tags):
        with self._lock:
            data = self._data(run_id, self._info(run_id))
            given = {p.key: str(p.value) for p in params}
            had = data.params()
            for key, value in given.items():
                if key in had and str(had[key]) != value:
                    raise MlflowException(f"Changing param values is not allowed. Param with key='{key}' was already "
                                          f"logged with value='{had[key]}' for run ID='{run_id}'. Attempted logging "
                                          f"new value '{value}'.", INVALID_PARAMETER_VALUE)
            data.log_params(given)
            data.log_metrics([{"key": m.key, "value": float(m.value), "timestamp": int(m.timestamp),
                               "step": int(m.step or 0), "model_id": m.model_id} for m in metrics])
            data.set_tags({t.key: str(t.value) for t in tags})
            name = next((t.value for t in tags if t.key == MLFLOW_RUN_NAME), None)
            if name is not None:
                self._save_info({**self._info(run_id), "run_name": name})

    def delete_tag(self, run_id, key):
        with self._lock:
            if not self._data(run_id, self._info(run_id)).delete_tag(key):
                raise not_found(f"No tag with name: {key} in run with id {run_id}")

    def record_logged_model(self, run_id, mlflow_model):
        import json

        from mlflow.utils.mlflow_tags import MLFLOW_LOGGED_MODELS

        with self._lock:
            data = self._data(run_id, self._info(run_id))
            history = json.loads(data.tags().get(MLFLOW_LOGGED_MODELS) or "[]")
            data.set_tags({MLFLOW_LOGGED_MODELS: json.dumps(history + [mlflow_model.get_tags_dict()])})

    # ------------------------------------------------------------------ inputs and outputs
    def log_inputs(self, run_id, datasets=None, models=None):
        with self._lock:
            self._info(run_id)
            had = self.side.read(run_id, "inputs.json", {})
            self.side.write(run_id, "inputs.json", inputs_record(had, datasets or [], models or []))

    def log_outputs(self, run_id, models):
        with self._lock:
            self._info(run_id)
            had = self.side.read(run_id, "outputs.json", [])
            new = [{"model_id": m.model_id, "step": m.step} for m in models or [] if m.model_id not in
                   {o["model_id"] for o in had}]
            self.side.write(run_id, "outputs.json", had + new)

    def link_traces_to_run(self, trace_ids, run_id):
        raise MlflowException("MLflow tracing is not kept by trainkit's tracking store (runs, metrics, parameters, "
                              "tags, artifacts and models are)", INVALID_PARAMETER_VALUE)
