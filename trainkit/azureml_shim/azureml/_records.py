"""A trainkit run record read and written the way Azure ML SDK v1 shows a run: metrics as
`get_metrics()` returns them, file names as `get_file_names()` lists them (the driver logs under
their Azure names), the run definition of `get_details()`. Pure functions of a run directory;
no TensorFlow."""
from __future__ import annotations

import json
import time
from pathlib import Path

BOOKKEEPING = ("step", "time", "rank", "epoch", "epoch_time_s", "image", "path")
RECORD = {"job_spec.json", "status.json", "config.yaml", "overrides.yaml", "metrics.jsonl", "environment.json",
          "curves.png", "tags.json", "pruned.json", "register_model.json", "code", "code.json", "dataset", ".env",
          ".pids", "checkpoints", "source", "azureml.json"}      # trainkit's own record, not the script's files
DRIVER_LOG = "azureml-logs/70_driver_log{suffix}.txt"
DATASET_PLACEHOLDER = "<dataset.path>"


def metric_rows(run_dir: Path) -> list[dict]:
    from trainkit.records.runs import metric_rows as rows

    return [r for r in rows(Path(run_dir) / "metrics.jsonl") if "rank" not in r]


def metrics_of(rows: list[dict]) -> dict:
    """{name: value} for a metric logged once, {name: [values]} for one logged several times (a
    table's column is `table/column`), {image name: its file in the run}."""
    values: dict[str, list] = {}
    for row in rows:
        if "image" in row:
            values.setdefault(row["image"], []).append(row.get("path"))
            continue
        for k, v in row.items():
            if k not in BOOKKEEPING:
                values.setdefault(k, []).append(v)
    return {k: v[0] if len(v) == 1 else v for k, v in values.items()}


def append_row(run_dir: Path, row: dict) -> None:
    """One metrics.jsonl line (values that are not numbers, which trainkit.run refuses)."""
    path = Path(run_dir) / "metrics.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps({**row, "time": time.time()}, default=str) + "\n")


def driver_logs(run_dir: Path, world_size: int) -> dict[str, Path]:
    """Azure's names of the driver logs -> the run's log files (one per process)."""
    logs = Path(run_dir) / "logs"
    if world_size <= 1:
        return {DRIVER_LOG.format(suffix=""): logs / "console.log"}
    out = {DRIVER_LOG.format(suffix="_0"): logs / "stdout.log"}
    out.update({DRIVER_LOG.format(suffix=f"_{r}"): logs / f"rank-{r}.log" for r in range(1, world_size)})
    return out


def file_names(run_dir: Path, world_size: int) -> list[str]:
    """The run's files as Azure lists them: outputs/, logs/, what the script uploaded, and the
    driver logs (trainkit's own record and the code snapshot left out)."""
    from trainkit.records.runs import run_files

    root = Path(run_dir)
    names = [p.relative_to(root).as_posix() for p in run_files(root)]
    mine = [n for n in names if n.split("/")[0] not in RECORD]
    aliases = [name for name, path in driver_logs(root, world_size).items() if path.is_file()]
    return sorted(aliases) + sorted(mine)


def resolve(run_dir: Path, name: str, world_size: int) -> Path | None:
    """The run's file for an Azure file name (None when there is none; never outside the run)."""
    root = Path(run_dir)
    alias = driver_logs(root, world_size).get(name)
    if alias is not None:
        return alias if alias.is_file() else None
    parts = Path(name).parts
    if not parts or Path(name).is_absolute() or ".." in parts or parts[0] in RECORD:
        return None
    path = root / name
    return path if path.is_file() and not path.is_symlink() else None


def arguments_of(config: dict, input_name: str | None = None) -> list[str]:
    """The script's arguments as Azure's runDefinition shows them (a dataset as its consumption config)."""
    given = ((config.get("environment") or {}).get("env_vars") or {}).get("TRAINKIT_DATASET_INPUT")   # as_named_input
    name = input_name or given or (config.get("dataset") or {}).get("name", "input")
    return [f"DatasetConsumptionConfig:{name}" if str(a) == DATASET_PLACEHOLDER else str(a)
            for a in (config.get("entry") or {}).get("arguments") or []]


def run_definition(config: dict, azure: dict) -> dict:
    """Azure's `runDefinition` of a run from its resolved config and what the notebook submitted."""
    dist = (config.get("distribution") or {})
    compute = (config.get("compute") or {})
    return {"script": azure.get("script") or (config.get("entry") or {}).get("script"),
            "arguments": azure.get("arguments") or arguments_of(config, azure.get("input_name")),
            "sourceDirectory": azure.get("source_directory"), "target": azure.get("target") or compute.get("name"),
            "framework": "Python", "communicator": {"horovod": "Mpi", "parameter_server": "ParameterServer",
                                                     "multi_worker_mirrored": "ParameterServer"}.get(dist.get("name"), "None"),
            "nodeCount": compute.get("nodes") or 1, "environment": azure.get("environment") or
            {"name": (config.get("environment") or {}).get("name")},
            "trainkit": {"distribution": dist, "compute": compute.get("name")}}
