"""Where the MLflow runs of one trainkit run keep their data, as plain JSON (no MLflow import).

`SideRecords`: MLflow's own facts (run infos, system tags, nested runs, logged models) under one
directory: `<run>/mlflow/` for the chief, `<run>/logs/mlflow-rank-N/` for another rank.
`TrainkitRecord`: the trainkit run itself, where the root MLflow run's metrics (metrics.jsonl, per
step), parameters (params.json) and tags (tags.json) land on the chief: what `runs show`, the
dashboard and the Python API read. `SideRun` and `RootRun` give one MLflow run's data over them."""
from __future__ import annotations

import json
import re
from pathlib import Path

from ..fsutil import atomic_write_json, read_json
from ..records.workspace import RunPaths

ID = re.compile(r"[A-Za-z0-9][\w\-]{0,255}")   # run and model ids: one path component
SYSTEM = "mlflow."                              # MLflow's own tags: kept on the MLflow side
BOOKKEEPING = ("step", "epoch", "time", "epoch_time_s")   # metrics.jsonl keys that are no metric


def checked_id(value: str) -> str:
    if not isinstance(value, str) or not ID.fullmatch(value):
        raise ValueError(f"expected an MLflow id (letters, digits, '_' or '-'), got {value!r}")
    return value


def history_rows(paths: RunPaths) -> list[dict]:
    """{key, value, timestamp (ms), step} of every value the chief recorded in metrics.jsonl: a
    script's rows (by step) and trainkit's own loop's (by epoch)."""
    from ..records.runs import metric_rows

    out, clock = [], float((read_json(paths.status, {}) or {}).get("started") or 0)
    for row in metric_rows(paths.metrics):
        step = row.get("step", row.get("epoch"))
        if "rank" in row or "image" in row or not isinstance(step, int):
            continue
        clock += float(row.get("epoch_time_s") or 0)        # trainkit's loop: no time per row, epochs since start
        when = int(float(row.get("time", clock)) * 1000)
        out += [{"key": k, "value": float(v), "timestamp": when, "step": step} for k, v in row.items()
                if k not in BOOKKEEPING and isinstance(v, (int, float)) and not isinstance(v, bool)]
    return out


class SideRecords:
    """JSON files of MLflow runs and logged models under `root`."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def _file(self, run_id: str, name: str) -> Path:
        return self.root / "runs" / checked_id(run_id) / name

    def read(self, run_id: str, name: str, default=None):
        return read_json(self._file(run_id, name), default)

    def write(self, run_id: str, name: str, obj) -> None:
        path = self._file(run_id, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, obj)

    def run_ids(self) -> list[str]:
        runs = self.root / "runs"
        return sorted(p.name for p in runs.iterdir() if (p / "info.json").is_file()) if runs.is_dir() else []

    def append_metrics(self, run_id: str, rows: list[dict]) -> None:
        path = self._file(run_id, "metrics.jsonl")
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as f:
            f.write("".join(json.dumps(r) + "\n" for r in rows))

    def metrics(self, run_id: str) -> list[dict]:
        from ..records.runs import metric_rows

        return metric_rows(self._file(run_id, "metrics.jsonl"))

    def model(self, model_id: str) -> dict | None:
        return read_json(self.root / "models" / f"{checked_id(model_id)}.json")

    def write_model(self, model: dict) -> None:
        path = self.root / "models" / f"{checked_id(model['model_id'])}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, model)

    def models(self) -> list[dict]:
        folder = self.root / "models"
        found = [read_json(p) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []
        return sorted((m for m in found if m), key=lambda m: m["creation_timestamp"])


class SideRun:
    """An MLflow run kept whole on the MLflow side (a nested run, or any run of a non-chief rank)."""

    def __init__(self, side: SideRecords, run_id: str):
        self.side, self.id = side, run_id

    def params(self) -> dict:
        return self.side.read(self.id, "params.json", {})

    def log_params(self, params: dict) -> None:
        if params:
            self.side.write(self.id, "params.json", {**self.params(), **params})

    def tags(self) -> dict:
        return self.side.read(self.id, "tags.json", {})

    def set_tags(self, tags: dict) -> None:
        if tags:
            self.side.write(self.id, "tags.json", {**self.tags(), **tags})

    def delete_tag(self, key: str) -> bool:
        tags = self.tags()
        found = tags.pop(key, None) is not None
        self.side.write(self.id, "tags.json", tags)
        return found

    def metric_rows(self) -> list[dict]:
        return self.side.metrics(self.id)

    def log_metrics(self, rows: list[dict]) -> None:
        if rows:
            self.side.append_metrics(self.id, rows)


class TrainkitRecord:
    """The trainkit run's own record, written as `trainkit.run` writes it (chief only)."""

    def __init__(self, run_dir: Path, run_id: str):
        from ..run import Run

        self.paths = RunPaths(Path(run_dir))
        self.run = Run(Path(run_dir), run_id)   # not get_context(): that would take over the script's SIGTERM
        self._written: set[tuple] = set()       # (key, step, value) written by this process

    def params(self) -> dict:
        return read_json(self.paths.params, {}) or {}

    def log_params(self, params: dict) -> None:
        if params:
            atomic_write_json(self.paths.params, {**self.params(), **params})

    def tags(self) -> dict:
        return self.run.tags

    def set_tags(self, tags: dict) -> None:
        for key, value in tags.items():
            self.run.tag(key, value)

    def delete_tag(self, key: str) -> bool:
        tags = read_json(self.paths.tags, {}) or {}
        found = tags.pop(key, None) is not None
        atomic_write_json(self.paths.tags, tags)
        return found

    def metric_rows(self) -> list[dict]:
        return history_rows(self.paths)

    def log_metrics(self, rows: list[dict]) -> None:
        """One metrics.jsonl row per step (and TensorBoard), as `run.log_dict(values, step)`; a value
        MLflow sends again only to link it to a logged model (`model_id`) is not a second point."""
        by_step: dict[int, dict] = {}
        for r in rows:
            point = (r["key"], r["step"], r["value"])
            if r.get("model_id") and point in self._written:   # log_model links the step's metrics to the model: no new value
                continue
            self._written.add(point)
            by_step.setdefault(int(r["step"]), {})[r["key"]] = r["value"]
        for step, values in sorted(by_step.items()):
            self.run.log_dict(values, step=step)


class RootRun(SideRun):
    """The run MLFLOW_RUN_ID names, on the chief: its metrics, parameters and user tags are the
    trainkit run's; MLflow's own `mlflow.*` tags stay on the MLflow side."""

    def __init__(self, side: SideRecords, run_id: str, record: TrainkitRecord):
        super().__init__(side, run_id)
        self.record = record

    def params(self) -> dict:
        return self.record.params()

    def log_params(self, params: dict) -> None:
        self.record.log_params(params)

    def tags(self) -> dict:
        return {**self.record.tags(), **super().tags()}

    def set_tags(self, tags: dict) -> None:
        super().set_tags({k: v for k, v in tags.items() if k.startswith(SYSTEM)})
        self.record.set_tags({k: v for k, v in tags.items() if not k.startswith(SYSTEM)})

    def delete_tag(self, key: str) -> bool:
        return super().delete_tag(key) if key.startswith(SYSTEM) else self.record.delete_tag(key)

    def metric_rows(self) -> list[dict]:
        return self.record.metric_rows()

    def log_metrics(self, rows: list[dict]) -> None:
        self.record.log_metrics(rows)


class NestedRun(SideRun):
    """A nested MLflow run on the chief: kept on the MLflow side, and its metrics and parameters
    also in the trainkit run, named `<nested run name>/<key>`."""

    def __init__(self, side: SideRecords, run_id: str, record: TrainkitRecord, prefix: str):
        super().__init__(side, run_id)
        self.record, self.prefix = record, prefix

    def log_params(self, params: dict) -> None:
        super().log_params(params)
        self.record.log_params({f"{self.prefix}/{k}": v for k, v in params.items()})

    def log_metrics(self, rows: list[dict]) -> None:
        super().log_metrics(rows)
        self.record.log_metrics([{**r, "key": f"{self.prefix}/{r['key']}"} for r in rows])
