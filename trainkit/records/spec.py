"""JobSpec: everything a worker needs, frozen and written as JSON. Workers never see Hydra."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path

from ..fsutil import atomic_write_json


def config_hash(config: dict) -> str:
    """Hash of the resolved config minus what does not change the result (resume policy, tags, name,
    whether the submit waited): a run submitted detached resumes when rerun blocking."""
    cfg = json.loads(json.dumps(config, default=str))
    cfg.get("run", {}).pop("resume", None)
    cfg.get("run", {}).pop("tags", None)
    cfg.get("run", {}).pop("name", None)
    cfg.get("compute", {}).pop("wait", None)
    return hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class JobSpec:
    run_id: str                      # e.g. 20261122-101500-ab12cd
    experiment: str                  # run.experiment
    run_dir: str                     # absolute path of the run record
    workspace: str                   # absolute workspace root
    config: dict                     # the fully resolved config (plain JSON)
    overrides: list[str]             # command-line overrides as typed
    config_hash: str                 # see config_hash()
    dataset: dict                    # the registered DatasetVersion, with local file paths
    project_root: str                # the user's project: cwd and first on sys.path of every worker
    world_size: int = 1              # worker processes
    created: float = 0.0
    built_env: dict = field(default_factory=dict)   # the built environment (trainkit.compute.envs.record) workers run in

    @cached_property
    def cfg(self):
        """`config` as the schema's dataclasses (trainkit.config.schema.TrainkitConfig)."""
        from ..config.schema import load

        return load(self.config)

    @property
    def registers(self) -> bool:
        """Whether this run registers its model when it completes: registry.enabled, and not a
        sweep's trial (the sweep registers its best trial once, when it ends)."""
        return bool(self.config["registry"]["enabled"]) and not self.config["run"].get("sweep")

    def write(self, path: str | Path) -> None:
        atomic_write_json(path, asdict(self))

    @classmethod
    def read(cls, path: str | Path) -> "JobSpec":
        return cls(**json.loads(Path(path).read_text()))
