"""`trainkit.Workspace`: where runs, datasets and models live (Azure ML's Workspace)."""
from __future__ import annotations

from pathlib import Path

from ..errors import NotFoundError
from ..records.workspace import WorkspacePaths


class Workspace:
    """A workspace: `$TRAINKIT_WORKSPACE`, else `~/.trainkit`, or `Workspace(root=...)`.

    It answers for runs (`runs`, `get_run`), sweeps (`sweeps`, `get_sweep`), registered models
    (`model`, `models`) and datasets (`datasets`, `dataset`)."""

    def __init__(self, root: str | Path | None = None, registry: str | None = None):
        self.paths = WorkspacePaths.at(str(root) if root is not None else None)
        self._registry_url = registry

    @property
    def root(self) -> Path:
        return self.paths.root

    @property
    def registry(self):
        """The model registry (registry.root: $TRAINKIT_REGISTRY, else <workspace>/models)."""
        import os

        from ..registry.store import Registry

        return Registry(self._registry_url or os.environ.get("TRAINKIT_REGISTRY") or str(self.root / "models"))

    # ------------------------------------------------------------------ runs
    def runs(self, experiment: str | None = None, status: str | list[str] | None = None, tags: dict | None = None,
             filter: str | None = None, order_by: str | list[str] | None = None, limit: int | None = None) -> list:
        """Runs, oldest first unless `order_by` says otherwise (like MLflow's search_runs):
        `status` one state or several, `tags` all of them equal, `filter` in the filter language
        (trainkit/api/query.py: `metrics.test_accuracy > 0.85 and tags.team = "x"`), `order_by`
        such as `"metrics.test_accuracy desc"`, `limit` the first N after ordering."""
        from ..records.runs import list_runs
        from .query import parse_filter, parse_order, sort_by
        from .run import Run

        keep = parse_filter(filter)
        order = parse_order(order_by)
        wanted = {status} if isinstance(status, str) else set(status or ())
        out = []
        for info in list_runs(self.paths, experiment):
            run = Run(self, info.path)
            if wanted and run.status not in wanted:
                continue
            if tags and any(str(run.tags.get(k)) != str(v) for k, v in tags.items()):
                continue
            if keep(run.get):
                out.append(run)
        out = sort_by(out, order, lambda r, k: r.get(k)) if order else out
        return out[:limit] if limit is not None else out

    def get_run(self, run_id: str):
        """The run whose id is (or uniquely starts with) `run_id`; NotFound otherwise."""
        from ..records.runs import get_run
        from .run import Run

        return Run(self, get_run(self.paths, run_id).path)

    def find_run(self, run_id: str | None):
        """The run with exactly this id, or None."""
        if not run_id:
            return None
        try:
            run = self.get_run(run_id)
        except NotFoundError:
            return None
        return run if run.id == run_id else None

    # ------------------------------------------------------------------ sweeps
    def sweeps(self) -> list:
        """Every -m sweep and Optuna search of the workspace, oldest first."""
        from .sweeps import Sweep, list_sweeps

        return [Sweep(self, Path(s["path"])) for s in list_sweeps(self.paths)]

    def get_sweep(self, sweep_id: str):
        from .sweeps import Sweep, find_sweep

        return Sweep(self, find_sweep(self.paths, sweep_id))

    # ------------------------------------------------------------------ models
    def model(self, ref: str):
        """A registered model version: "name" (latest), "name:3" or "name@staging"; NotFound otherwise."""
        from ..registry.store import ModelRef
        from .models import ModelVersion

        name, version = self.registry.resolve(ModelRef.parse(ref))
        return ModelVersion(self, name, version)

    def models(self, name: str | None = None) -> list:
        """Every registered version (of `name`), oldest first."""
        from .models import ModelVersion

        reg = self.registry
        names = [name] if name else reg.names()
        return [ModelVersion(self, n, v) for n in names for v in reg.versions(n)]

    # ------------------------------------------------------------------ datasets
    @property
    def datasets(self):
        """Registered dataset versions: `register(name)`, `get(name, version)`, `list()`."""
        from .datasets import Datasets

        return Datasets(self)

    def dataset(self, ref: str):
        """A registered dataset version: "name" (latest) or "name:2" (Azure ML's Dataset.get_by_name)."""
        return self.datasets.get(ref)

    def __repr__(self) -> str:
        return f"Workspace(root={str(self.root)!r})"
