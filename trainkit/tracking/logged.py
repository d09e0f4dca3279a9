"""Logged models (MLflow 3's `LoggedModel`) in a trainkit run: their files go to
`outputs/mlflow-models/<name>/`, and the last Keras model logged is registered after the run
(unless the script saved its own at `entry.model_path`)."""
from __future__ import annotations

import time
import uuid
from pathlib import Path

from mlflow.entities import LoggedModelStatus
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST
from mlflow.store.entities.paged_list import PagedList

from ..fsutil import atomic_write_json
from .entities import model_entity, model_record

MODELS_DIR = "mlflow-models"                                   # under outputs/
MODEL_FILES = ("data/model.keras", "data/model", "data/model.h5")   # where MLflow's keras/tensorflow flavors save
KERAS_FLAVORS = ("keras", "tensorflow")


class LoggedModels:
    """The logged-model half of TrainkitStore (it provides side, outputs, paths, spec, _lock, note)."""

    def _model(self, model_id: str, allow_deleted: bool = False) -> dict:
        record = self.side.model(model_id)
        if record is None or (record["lifecycle_stage"] != "active" and not allow_deleted):
            raise MlflowException(f"Logged model with ID '{model_id}' not found in trainkit run {self.trainkit_id}",
                                  RESOURCE_DOES_NOT_EXIST)
        return record

    def _model_dir(self, name: str) -> Path:
        taken = {Path(m["artifact_location"]).name for m in self.side.models()}
        base, n, chosen = self.outputs / MODELS_DIR, 1, name
        while chosen in taken or (base / chosen).exists():
            n += 1
            chosen = f"{name}-{n}"
        return base / chosen

    def create_logged_model(self, experiment_id=None, name=None, source_run_id=None, tags=None, params=None,
                            model_type=None):
        from mlflow.entities import LoggedModel

        from ..run import _safe_name

        with self._lock:
            model_id = f"m-{uuid.uuid4().hex}"
            name = name or "model"
            folder = self._model_dir(name if _safe_name(name) and "/" not in name else model_id)
            now = int(time.time() * 1000)
            model = LoggedModel(self.experiment_id, model_id, name, folder.as_uri(), now, now, model_type,
                                source_run_id, LoggedModelStatus.PENDING, tags={t.key: t.value for t in tags or []},
                                params={p.key: p.value for p in params or []})
            self.side.write_model(model_record(model))
            return model_entity(self.side.model(model_id))

    def _update(self, model_id: str, **changes) -> None:
        with self._lock:
            record = self._model(model_id)
            self.side.write_model({**record, **changes, "last_updated_timestamp": int(time.time() * 1000)})

    def get_logged_model(self, model_id, allow_deleted=False):
        return model_entity(self._model(model_id, allow_deleted))

    def finalize_logged_model(self, model_id, status):
        self._update(model_id, status=status.to_int())
        return self.get_logged_model(model_id)

    def set_logged_model_tags(self, model_id, tags):
        self._update(model_id, tags={**self._model(model_id)["tags"], **{t.key: t.value for t in tags}})

    def delete_logged_model_tag(self, model_id, key):
        tags = dict(self._model(model_id)["tags"])
        if tags.pop(key, None) is None:
            raise MlflowException(f"No tag with key {key!r} found for model with ID {model_id!r}.",
                                  RESOURCE_DOES_NOT_EXIST)
        self._update(model_id, tags=tags)

    def log_logged_model_params(self, model_id, params):
        self._update(model_id, params={**self._model(model_id)["params"], **{p.key: p.value for p in params}})

    def delete_logged_model(self, model_id):
        self._update(model_id, lifecycle_stage="deleted")

    def search_logged_models(self, experiment_ids, filter_string=None, datasets=None, max_results=None,
                             order_by=None, page_token=None):
        if filter_string or datasets:
            self.note("search_logged_models: filters are not applied here; every model of the run is returned")
        found = [model_entity(m) for m in self.side.models()
                 if m["lifecycle_stage"] == "active" and m["experiment_id"] in [str(e) for e in experiment_ids]]
        return PagedList(found[:max_results] if max_results else found, None)

    # ------------------------------------------------------------------ registration after the run
    def last_keras_model(self) -> Path | None:
        """The model file (or SavedModel) of the last Keras/TensorFlow model logged and ready."""
        ready = [m for m in self.side.models() if m["lifecycle_stage"] == "active"
                 and m["status"] == LoggedModelStatus.READY.to_int()]
        for record in reversed(ready):
            found = keras_model_in(uri_path(record["artifact_location"]))
            if found is not None:
                return found
        return None

    def register_logged_model(self) -> None:
        """At the script's exit (chief): ask the worker to register the Keras model MLflow logged
        last (as `run.register_model` asks), unless the script saved a model at entry.model_path,
        entry.model_path is null, or the script asked for another registration already."""
        try:
            model_path = (self.spec.get("config", {}).get("entry") or {}).get("model_path")
            found = self.last_keras_model()
            if not model_path or found is None or (self.paths.root / model_path).exists():
                return
            if self.paths.register_request.exists():
                return
            rel = str(found.relative_to(self.paths.root))
            atomic_write_json(self.paths.register_request, {"path": rel, "from": "mlflow"})
            self.note(f"nothing at entry.model_path={model_path}: the model MLflow logged ({rel}) is registered")
        except Exception as e:   # noqa: BLE001 - at exit: say it, never turn a finished script into a failure
            self.note(f"the logged model could not be put up for registration: {type(e).__name__}: {e}")


def keras_model_in(folder: Path) -> Path | None:
    """The saved Keras model inside an MLflow model directory of the keras/tensorflow flavor."""
    import yaml

    mlmodel = folder / "MLmodel"
    flavors = (yaml.safe_load(mlmodel.read_text()) or {}).get("flavors", {}) if mlmodel.is_file() else {}
    if not any(f in flavors for f in KERAS_FLAVORS):
        return None
    for rel in MODEL_FILES:
        path = folder / rel
        if path.is_file() or (path / "saved_model.pb").is_file():
            return path
    return None


def uri_path(uri: str) -> Path:
    """The local path of a file:// URI."""
    from urllib.parse import urlparse
    from urllib.request import url2pathname

    return Path(url2pathname(urlparse(uri).path))
