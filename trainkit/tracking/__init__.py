"""MLflow and trainkit: a script's MLflow logging lands in its trainkit run, and runs export to an
MLflow tracking server.

Inside a run, every script process gets `MLFLOW_TRACKING_URI=trainkit:///<run dir>`; MLflow finds
the store for the `trainkit` scheme through the `mlflow.tracking_store` entry point (pyproject),
`trainkit.tracking.store:TrainkitStore`. `MLFLOW_RUN_ID` is a stable id derived from the trainkit
run id (the script's `mlflow.start_run()` resumes it) and `MLFLOW_EXPERIMENT_ID` one derived from
the experiment's name. Outside trainkit none of this is set and MLflow behaves as usual.

Nothing here imports MLflow: the store (`store.py`) is imported by MLflow in the script's process,
the export (`export.py`) where a run is exported."""
from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from urllib.parse import quote, unquote, urlparse

SCHEME = "trainkit"
TRACKING_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID")
_NAMESPACE = uuid.UUID("6f1d5c7e-2b8a-4e59-9d0c-5a1e3f7b9c24")   # fixed: the same trainkit run, the same MLflow id


def mlflow_run_id(trainkit_run_id: str) -> str:
    """The MLflow run id of a trainkit run: 32 hex digits, the same every time."""
    return uuid.uuid5(_NAMESPACE, trainkit_run_id).hex


def experiment_id(experiment: str) -> str:
    """The MLflow experiment id of a trainkit experiment (a number, as MLflow's own stores give)."""
    return str(int(hashlib.sha256(experiment.encode()).hexdigest()[:12], 16))


def tracking_uri(run_dir: str | Path) -> str:
    """trainkit:///abs/path/of/the/run"""
    return f"{SCHEME}://{quote(str(Path(run_dir).resolve()))}"


def run_dir_of(uri: str) -> Path:
    """The run directory a trainkit:// URI names (ValueError for any other URI)."""
    parsed = urlparse(uri)
    if parsed.scheme != SCHEME or not parsed.path.startswith("/") or parsed.netloc:
        raise ValueError(f"MLFLOW_TRACKING_URI: expected {SCHEME}:///ABSOLUTE/RUN/DIR, got {uri!r}")
    return Path(unquote(parsed.path))


def script_env(run_id: str, experiment: str, run_dir: str | Path, configured: dict | None = None) -> dict:
    """The MLflow variables of a run's script processes; an `MLFLOW_TRACKING_URI` the run's own
    environment config sets (`environment.env_vars`) is kept: the script then logs there."""
    if (configured or {}).get("MLFLOW_TRACKING_URI"):
        return {}
    return {"MLFLOW_TRACKING_URI": tracking_uri(run_dir), "MLFLOW_RUN_ID": mlflow_run_id(run_id),
            "MLFLOW_EXPERIMENT_ID": experiment_id(experiment)}

__all__ = ['SCHEME', 'TRACKING_ENV', 'experiment_id', 'mlflow_run_id', 'run_dir_of', 'script_env', 'tracking_uri']
