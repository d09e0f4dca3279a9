"""MLflow entities from the plain records of `records.py`, and back (imported by the store only)."""
from __future__ import annotations

from mlflow.entities import Dataset, DatasetInput, InputTag, LoggedModel, LoggedModelStatus, Metric
from mlflow.entities.logged_model_input import LoggedModelInput
from mlflow.entities.logged_model_output import LoggedModelOutput

DATASET_KEYS = ("name", "digest", "source_type", "source", "schema", "profile")


def metric_entity(row: dict) -> Metric:
    return Metric(row["key"], float(row["value"]), int(row["timestamp"]), int(row["step"]))


def inputs_record(had: dict, datasets: list, models: list) -> dict:
    """The inputs.json of a run with `datasets` (DatasetInput) and `models` (LoggedModelInput) added once each."""
    out = {"datasets": list(had.get("datasets", [])), "models": list(had.get("models", []))}
    seen = {(d["dataset"]["name"], d["dataset"]["digest"]) for d in out["datasets"]}
    for given in datasets:
        ds = given.dataset
        if (ds.name, ds.digest) not in seen:
            seen.add((ds.name, ds.digest))
            out["datasets"].append({"dataset": {k: getattr(ds, k) for k in DATASET_KEYS},
                                    "tags": {t.key: t.value for t in given.tags}})
    out["models"] += [m.model_id for m in models if m.model_id not in out["models"]]
    return out


def dataset_inputs(record: dict) -> tuple[list, list]:
    """(dataset inputs, model inputs) for RunInputs."""
    datasets = [DatasetInput(Dataset(**d["dataset"]), [InputTag(k, v) for k, v in d["tags"].items()])
                for d in record.get("datasets", [])]
    return datasets, [LoggedModelInput(m) for m in record.get("models", [])]


def model_outputs(record: list) -> list:
    return [LoggedModelOutput(o["model_id"], o["step"]) for o in record]


def model_record(model: LoggedModel, stage: str = "active") -> dict:
    return {"experiment_id": model.experiment_id, "model_id": model.model_id, "name": model.name,
            "artifact_location": model.artifact_location, "creation_timestamp": model.creation_timestamp,
            "last_updated_timestamp": model.last_updated_timestamp, "model_type": model.model_type,
            "source_run_id": model.source_run_id, "status": model.status.to_int(),
            "status_message": model.status_message, "tags": dict(model.tags), "params": dict(model.params),
            "lifecycle_stage": stage}


def model_entity(record: dict) -> LoggedModel:
    kept = {k: v for k, v in record.items() if k != "lifecycle_stage"}
    return LoggedModel(**{**kept, "status": LoggedModelStatus.from_int(record["status"])})
