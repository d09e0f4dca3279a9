"""Azure ML SDK v1's `Run`, both sides of it:

- in a training script, `Run.get_context()` is trainkit's run (`trainkit.run`): values go to the
  run's record (metrics.jsonl, TensorBoard, `trainkit runs show`, sweeps and Optuna); outside a run
  it is an offline run as Azure's is (id `OfflineRun_...`, logging to ./.trainkit/runs/<id>/);
- in a notebook, `exp.submit(...)` returns one for the submitted trainkit run (`trainkit.Run`):
  status, waiting, metrics, files, tags, model registration, logging onto it after it ended.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from .._records import append_row, file_names, metric_rows, metrics_of, resolve, run_definition
from .._tk import DASHBOARD, Surface, azure_status
from ..exceptions import ActivityFailedException, UserErrorException


class _Metrics:
    """Run's metric logging (v1's log, log_row, log_table, log_image, get_metrics): numbers go to
    the trainkit run's metrics (charted, swept, reported to an Optuna trial), text to its record."""

    def log(self, name: str, value, description: str = "", step: int | None = None) -> None:
        """A metric value; in an Optuna trial whose metric it is, also reported to the trial (pruning)."""
        if not _number(value):
            append_row(self._dir, {"step": self._next(name), name: value})
            return
        ctx = self._context
        ctx.log(name, value, step)
        trial = ctx.trial
        if trial.get("study") and name == trial.get("metric"):
            self._reports = getattr(self, "_reports", 0) + 1
            ctx.report(float(value), step=self._reports)

    def log_list(self, name: str, value, description: str = "") -> None:
        for v in value:
            self.log(name, v)

    def log_row(self, name: str, description: str | None = None, **kwargs) -> None:
        """One row of the table `name`: each column a metric `name/column` at the row's index."""
        step = self._rows.get(name, 0)
        self._rows[name] = step + 1
        values = {f"{name}/{k}": v for k, v in kwargs.items()}
        if all(_number(v) for v in values.values()):
            self._context.log_dict(values, step=step)
        else:   # text columns (a run id): kept in the record, not charted
            append_row(self._dir, {"step": step, **values})

    def log_table(self, name: str, value: dict, description: str = "") -> None:
        """A table of equal-length columns: one log_row per row."""
        columns = list(value)
        for i in range(len(value[columns[0]]) if columns else 0):
            self.log_row(name, **{c: value[c][i] for c in columns})

    def log_image(self, name: str, path=None, plot=None, description: str = "") -> None:
        """A PNG file (`path`) or a matplotlib figure or pyplot (`plot`) kept with the run."""
        if path is None and plot is None:
            raise ValueError(f"run.log_image({name!r}): expected path= or plot=, got neither")
        if plot is None:
            self._context.log_image(name, path)
            return
        with tempfile.TemporaryDirectory() as tmp:
            png = Path(tmp) / "image.png"
            plot.savefig(png)
            self._context.log_image(name, png)

    def get_metrics(self, name: str | None = None, recursive: bool = False, run_type=None,
                    populate: bool = False) -> dict:
        """What this run logged: {name: value, or the list of values when logged more than once}."""
        out = metrics_of(metric_rows(self._dir))
        if name is None:
            return out
        return {name: out[name]} if name in out else {}

    def _next(self, name: str) -> int:
        self._rows[f"value:{name}"] = self._rows.get(f"value:{name}", -1) + 1
        return self._rows[f"value:{name}"]


class _Files:
    """Run's files (v1's get_file_names, download_file(s), upload_file(s)): the run's outputs/,
    logs/, uploaded files and driver logs."""

    def get_file_names(self) -> list[str]:
        """The run's files: outputs/, logs/, uploaded files and the driver logs (azureml-logs/...)."""
        return file_names(self._dir, self._world_size())

    def download_file(self, name: str, output_file_path: str | None = None, _validate_checksum: bool = False) -> None:
        """Copy one of the run's files (get_file_names) to `output_file_path` (a file or a folder)."""
        src = resolve(self._dir, name, self._world_size())
        if src is None:
            raise UserErrorException(f"run {self.id}: no file {name!r} (its files: run.get_file_names())")
        target = Path(output_file_path or Path(name).name)
        target = target / Path(name).name if target.is_dir() else target
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)

    def download_files(self, prefix: str | None = None, output_directory: str | None = None, output_paths=None,
                       batch_size: int = 100, append_prefix: bool = True, timeout_seconds=None) -> None:
        """Copy the files under `prefix` into `output_directory` (with the prefix's folders unless
        append_prefix=False)."""
        names = [n for n in self.get_file_names() if not prefix or n == prefix.strip("/")
                 or n.startswith(prefix.strip("/") + "/")]
        if not names:
            raise UserErrorException(f"run {self.id}: no files under prefix {prefix!r}")
        strip = prefix.strip("/") if prefix and not append_prefix else ""
        for n in names:
            rel = n[len(strip):].lstrip("/") if strip and n != strip else (Path(n).name if strip else n)
            self.download_file(n, str(Path(output_directory or ".") / rel))

    def upload_file(self, name: str, path_or_stream) -> None:
        """Keep a file with the run under `name` (a path inside the run, like outputs/report.txt)."""
        parts = Path(name).parts
        if Path(name).is_absolute() or ".." in parts or not parts:
            raise ValueError(f"run.upload_file: expected a name inside the run like 'outputs/report.txt', got {name!r}")
        target = self._dir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if hasattr(path_or_stream, "read"):
            data = path_or_stream.read()
            target.write_bytes(data if isinstance(data, bytes) else str(data).encode())
        else:
            shutil.copyfile(path_or_stream, target)

    def upload_files(self, names: list[str], paths: list[str], **kwargs) -> None:
        for n, p in zip(names, paths):
            self.upload_file(n, p)


class Run(Surface, _Metrics, _Files):
    """A run, as `Run.get_context()` (scripts) or `Experiment.submit` (notebooks) returns it."""

    _type = "azureml.scriptrun"
    _unsupported = {
        "restore_snapshot": "the run's code snapshot is <run>/code (trainkit runs show RUN)",
        "take_snapshot": "a script run's snapshot is taken at submission (entry.source_dir -> <run>/code)",
        "child_run": "a sweep's trials are runs of their own (tk.sweep, HyperDriveConfig)",
        "create_children": "a sweep's trials are runs of their own (tk.sweep, HyperDriveConfig)",
        "submit_child": "a sweep's trials are runs of their own (tk.sweep, HyperDriveConfig)",
        "log_accuracy_table": "run.log_table(name, {column: [values]}) or run.log_image",
        "log_confusion_matrix": "run.log_image(name, plot=figure)",
        "log_predictions": "run.log_table(name, {column: [values]})",
        "log_residuals": "run.log_image(name, plot=figure)",
        "upload_folder": "write the files under ./outputs in the script (they are the run's)",
        "register_model_from_dataset": "run.register_model(model_name, model_path)",
        "get_secret": "environment.secret_env (variables passed to the run, never written down)",
        "get_secrets": "environment.secret_env (variables passed to the run, never written down)",
        "get_snapshot_id": "the run's code.json (the code snapshot's file hashes)",
        "clean": "trainkit runs delete RUN",
    }

    def __init__(self, experiment, run_id: str, outputs=None, **kwargs):
        """The run `run_id` of `experiment` (Azure's constructor, for a notebook)."""
        self._experiment, self._ctx = experiment, None
        try:
            self._api = experiment.workspace._tk.get_run(run_id)
        except Exception as e:   # noqa: BLE001 - trainkit's NotFound, as Azure's error type
            raise UserErrorException(f"Run {run_id!r} of experiment {experiment.name!r}: {e}") from None
        self._rows: dict[str, int] = {}

    @classmethod
    def _of(cls, api=None, ctx=None, experiment=None) -> "Run":
        run = cls.__new__(cls)
        run._api, run._ctx, run._experiment, run._rows = api, ctx, experiment, {}
        return run

    @classmethod
    def get_context(cls, allow_offline: bool = True, **kwargs) -> "Run":
        """The run this script belongs to (an offline run outside trainkit)."""
        from trainkit import run as tkrun

        inner = tkrun.get_context()
        if inner.offline and not allow_offline:
            raise RuntimeError("Run.get_context(allow_offline=False): not inside a trainkit run")
        return cls._of(ctx=inner)

    # ------------------------------------------------------------------ identity
    @property
    def _dir(self) -> Path:
        return self._api.path if self._api is not None else self._ctx.dir

    @property
    def _context(self):
        """trainkit's in-run API on this run's record (a notebook logging onto a run)."""
        if self._ctx is None:
            from trainkit.run import Run as RunContext

            self._ctx = RunContext(self._api.path, self._api.id)
        return self._ctx

    @property
    def id(self) -> str:
        if self._api is not None:
            return self._api.id
        return f"OfflineRun_{self._ctx.id}" if self._ctx.offline else self._ctx.id

    @property
    def experiment(self):
        if self._experiment is None:
            from .experiment import Experiment
            from .workspace import Workspace

            offline = self._api is None and self._ctx.offline
            name = "offline" if offline else self._dir.parent.parent.name
            self._experiment = Experiment(Workspace._at(None if offline else self._dir.parents[3]), name)
        return self._experiment

    @property
    def number(self) -> int:
        """The run's position in its experiment (1 = the first)."""
        runs = sorted(p.name for p in self._dir.parent.iterdir() if (p / "status.json").exists())
        return runs.index(self._dir.name) + 1 if self._dir.name in runs else 0

    @property
    def display_name(self) -> str:
        """The trainkit run's name (run.name; default <experiment>-<n>)."""
        from trainkit.fsutil import read_json

        return (read_json(self._dir / "status.json", {}) or {}).get("name") or self.id

    @property
    def type(self) -> str:
        return self._type

    @property
    def parent(self):
        return None

    @property
    def status(self) -> str:
        return self.get_status()

    @property
    def input_datasets(self) -> dict:
        """{dataset name: its folder on this node} (Azure ML's as_named_input(...).as_mount())."""
        path, name = os.environ.get("TRAINKIT_DATASET_PATH"), os.environ.get("TRAINKIT_DATASET_NAME")
        named = os.environ.get("TRAINKIT_DATASET_INPUT")   # as_named_input(NAME) of a notebook's submission
        return {n: path for n in dict.fromkeys(filter(None, (named, name)))} if path and name else {}

    # ------------------------------------------------------------------ state
    def get_status(self) -> str:
        """"Queued", "Running", "Completed", "Failed" or "Canceled" (an early-terminated trial too)."""
        if self._api is None:
            return "Running"
        return azure_status(self._api.status)

    def wait_for_completion(self, show_output: bool = False, wait_post_processing: bool = False,
                            raise_on_error: bool = True) -> dict:
        """Block until the run ended (`show_output` streams its console); its details."""
        from trainkit.errors import RunFailed

        if show_output:
            streaming(self, "azureml-logs/70_driver_log.txt")
        try:
            self._api.wait(show_output=show_output)
        except RunFailed as e:
            if raise_on_error:
                raise ActivityFailedException(f"run {self.id} {self.get_status()}: {e}") from None
        finally:
            if show_output:
                summary(self)
        return self.get_details()

    def cancel(self) -> None:
        self._api.cancel()

    def complete(self, _set_status: bool = True) -> None:
        """A script's run ends when the script does; an interactive run (start_logging) ends here."""
        if self._api is not None and self._api.record.get("interactive"):
            from .experiment import end_interactive

            end_interactive(self._api.path, "completed")

    def fail(self, error_details=None, error_code=None, _set_status: bool = True) -> None:
        if self._api is not None and self._api.record.get("interactive"):
            from .experiment import end_interactive

            end_interactive(self._api.path, "failed", str(error_details or "failed"))
            return
        raise RuntimeError(f"run {self.id} failed: {error_details}")

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, kind, value, tb) -> None:
        self.complete() if kind is None else self.fail(value)

    def get_details(self) -> dict:
        """Azure's run details: ids, status, times, the run definition (script, arguments, target)."""
        import time as _time

        if self._api is None:
            return {"runId": self.id, "status": "Running", "target": "local"}
        st, azure = self._api.record, self._azure()
        iso = (lambda t: _time.strftime("%Y-%m-%dT%H:%M:%S.000Z", _time.gmtime(t)) if t else None)  # noqa: E731
        ds = st.get("dataset") if isinstance(st.get("dataset"), dict) else None
        return {"runId": self.id, "target": (self._api.config.get("compute") or {}).get("name"),
                "status": self.get_status(), "startTimeUtc": iso(st.get("started")), "endTimeUtc": iso(st.get("ended")),
                "error": {"message": self._api.reason} if self.get_status() == "Failed" else None,
                "properties": {"trainkit.run_dir": str(self._dir), **({"fixes": "; ".join(azure["fixes"])}
                                                                     if azure.get("fixes") else {})},
                "inputDatasets": [{"dataset": {"name": ds["name"], "version": ds["version"]}}] if ds else [],
                "runDefinition": run_definition(self._api.config, azure),
                "logFiles": {n: str(resolve(self._dir, n, self._world_size())) for n in self.get_file_names()
                             if n.startswith("azureml-logs/")}}

    def get_portal_url(self) -> str:
        """The run's page in trainkit's dashboard (`trainkit ui`)."""
        return f"{DASHBOARD}/runs/{self.id}"

    def get_environment(self):
        from .environment import Environment

        env = Environment((self._api.config.get("environment") or {}).get("name", "environment"))
        return env

    def get_properties(self) -> dict:
        return dict(self.get_details()["properties"])

    def add_properties(self, properties: dict) -> None:
        self.set_tags({f"property.{k}": v for k, v in properties.items()})

    def _azure(self) -> dict:
        """What the notebook submitted (azureml.json: arguments as given, fixes, environment notes)."""
        try:
            return json.loads((self._dir / "azureml.json").read_text())
        except (OSError, ValueError):
            return {}

    def _world_size(self) -> int:
        spec = self._dir / "job_spec.json"
        try:
            return int(json.loads(spec.read_text()).get("world_size") or 1)
        except (OSError, ValueError):
            return 1

    # ------------------------------------------------------------------ tags
    def tag(self, key: str, value=None) -> None:
        self._context.tag(key, "" if value is None else value)

    def set_tags(self, tags: dict) -> None:
        for k, v in tags.items():
            self._context.tag(k, v)

    def get_tags(self) -> dict:
        return self._api.tags if self._api is not None else self._ctx.tags

    @property
    def tags(self) -> dict:
        return self.get_tags()

    def get_children(self, recursive: bool = False, tags=None, properties=None, type=None, status=None,
                     **kwargs) -> list:
        """A script run has no child runs (a HyperDrive run's are its trials)."""
        return []

    # ------------------------------------------------------------------ models
    def register_model(self, model_name: str, model_path: str | None = None, tags: dict | None = None,
                       properties: dict | None = None, model_framework=None, model_framework_version=None,
                       description: str | None = None, datasets=None, sample_input_dataset=None,
                       sample_output_dataset=None, resource_configuration=None, **kwargs):
        """Register the model at `model_path` inside the run (e.g. outputs/model). In a script: when the
        script has ended well; from a notebook: now (exported to ONNX with the run's lineage)."""
        if self._api is None:
            from trainkit.fsutil import atomic_write_json

            atomic_write_json(self._ctx.paths.register_request,
                              {"name": model_name, "path": model_path, "tags": dict(tags or {})})
            return None
        from .._models import register

        return register(self, model_name, model_path, tags, properties, model_framework, model_framework_version,
                        description, resource_configuration)

    # ------------------------------------------------------------------ display
    def __repr__(self) -> str:
        status = self.get_status() if self._api is not None else "Running"
        return f"Run(Experiment: {self.experiment.name},\nId: {self.id},\nType: {self.type},\nStatus: {status})"

    def _repr_html_(self) -> str:
        from .._display import run_table

        return run_table(self)

    def __eq__(self, other) -> bool:
        return isinstance(other, Run) and other._dir == self._dir

    def __hash__(self) -> int:
        return hash(str(self._dir))


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) or type(value).__module__ == "numpy" \
        and hasattr(value, "item") and isinstance(value.item(), (int, float)) and not isinstance(value.item(), bool)


def streaming(run, log: str) -> None:
    """What Azure printed before a run's streamed log."""
    print(f"RunId: {run.id}\nWeb View: {run.get_portal_url()}\n\nStreaming {log}\n{'=' * (10 + len(log))}\n",
          flush=True)


def summary(run) -> None:
    """What Azure printed when the run ended."""
    print(f"\nExecution Summary\n=================\nRunId: {run.id}\nWeb View: {run.get_portal_url()}\n", flush=True)
