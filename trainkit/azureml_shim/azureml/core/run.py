"""Azure ML SDK v1's `Run` over trainkit's run (`trainkit.run`): the calls training scripts make.

Inside a trainkit run, values go to the run's record (metrics.jsonl, TensorBoard, `trainkit runs
show`, sweeps and Optuna); outside one, `Run.get_context()` is an offline run as Azure's is: its
id starts with OfflineRun_, and what it logs goes to ./.trainkit/runs/<id>/ (nothing is sent
anywhere)."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


class _Experiment:
    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"Experiment(name={self.name!r})"


class Run:
    """A script's run, as `azureml.core.Run.get_context()` returns it."""

    def __init__(self, tk_run):
        self._run = tk_run
        self._rows: dict[str, int] = {}

    @classmethod
    def get_context(cls, allow_offline: bool = True) -> "Run":
        from trainkit import run as tkrun

        inner = tkrun.get_context()
        if inner.offline and not allow_offline:
            raise RuntimeError("Run.get_context(allow_offline=False): not inside a trainkit run")
        return cls(inner)

    # ------------------------------------------------------------------ identity
    @property
    def id(self) -> str:
        return f"OfflineRun_{self._run.id}" if self._run.offline else self._run.id

    @property
    def experiment(self) -> _Experiment:
        name = self._run.dir.parent.parent.name if not self._run.offline else "offline"
        return _Experiment(name)

    @property
    def input_datasets(self) -> dict:
        """{dataset name: its folder on this node} (Azure ML's as_named_input(...).as_mount())."""
        path, name = os.environ.get("TRAINKIT_DATASET_PATH"), os.environ.get("TRAINKIT_DATASET_NAME")
        return {name: path} if path and name else {}

    # ------------------------------------------------------------------ metrics
    def log(self, name: str, value, description: str = "") -> None:
        """A metric value; in an Optuna trial whose metric it is, also reported to the trial (pruning)."""
        self._run.log(name, value)
        trial = self._run.trial
        if trial.get("study") and name == trial.get("metric"):
            self._reports = getattr(self, "_reports", 0) + 1
            self._run.report(float(value), step=self._reports)

    def log_list(self, name: str, value, description: str = "") -> None:
        for v in value:
            self._run.log(name, v)

    def log_row(self, name: str, description: str | None = None, **kwargs) -> None:
        """One row of the table `name`: each column a metric `name/column` at the row's index."""
        step = self._rows.get(name, 0)
        self._rows[name] = step + 1
        self._run.log_dict({f"{name}/{k}": v for k, v in kwargs.items()}, step=step)

    def log_table(self, name: str, value: dict, description: str = "") -> None:
        """A table of equal-length columns: one log_row per row."""
        columns = list(value)
        for i in range(len(value[columns[0]]) if columns else 0):
            self.log_row(name, **{c: value[c][i] for c in columns})

    def log_image(self, name: str, path=None, plot=None, description: str = "") -> None:
        """A PNG file (`path`) or a matplotlib figure or pyplot (`plot`) kept with the run."""
        if path is None and plot is None:
            raise ValueError(f"run.log_image({name!r}): expected path= or plot=, got neither")
        if plot is not None:
            with tempfile.TemporaryDirectory() as tmp:
                png = Path(tmp) / "image.png"
                plot.savefig(png)
                self._run.log_image(name, png)
            return
        self._run.log_image(name, path)

    def get_metrics(self, name: str | None = None) -> dict:
        """What this run logged: {name: value, or the list of values when logged more than once}."""
        import json

        out: dict = {}
        path = self._run.paths.metrics
        rows = [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()] if path.exists() else []
        for row in rows:
            for k, v in row.items():
                if k in ("step", "time", "rank", "epoch", "image", "path"):
                    continue
                out.setdefault(k, []).append(v)
        out = {k: v[0] if len(v) == 1 else v for k, v in out.items()}
        return {name: out[name]} if name is not None and name in out else ({} if name is not None else out)

    # ------------------------------------------------------------------ tags and files
    def tag(self, key: str, value=None) -> None:
        self._run.tag(key, "" if value is None else value)

    def set_tags(self, tags: dict) -> None:
        for k, v in tags.items():
            self._run.tag(k, v)

    def get_tags(self) -> dict:
        return self._run.tags

    def upload_file(self, name: str, path_or_stream) -> None:
        """Keep a file with the run under `name` (a path inside the run, like outputs/report.txt)."""
        parts = Path(name).parts
        if Path(name).is_absolute() or ".." in parts or not parts:
            raise ValueError(f"run.upload_file: expected a name inside the run like 'outputs/report.txt', got {name!r}")
        target = self._run.dir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if hasattr(path_or_stream, "read"):
            data = path_or_stream.read()
            target.write_bytes(data if isinstance(data, bytes) else str(data).encode())
        else:
            shutil.copyfile(path_or_stream, target)

    def register_model(self, model_name: str, model_path: str, tags: dict | None = None, **kwargs) -> None:
        """Register `model_path` (inside the run) as `model_name` when the script has ended well:
        trainkit exports it to ONNX and registers it with the run's lineage (entry.model_path and
        registry.model_name for this run)."""
        from trainkit.fsutil import atomic_write_json

        atomic_write_json(self._run.paths.register_request,
                          {"name": model_name, "path": model_path, "tags": dict(tags or {})})

    def complete(self) -> None:
        """The run ends when the script does."""

    def __repr__(self) -> str:
        return f"Run(id={self.id!r}, experiment={self.experiment.name!r})"
