"""trainkit's Hydra launcher for `-m` sweeps (`hydra/launcher=trainkit`, the default): every job in
its own process through Hydra's joblib launcher, except when every job targets one compute backend
that launches many runs at once (it overrides `Backend.launch_many`; Slurm submits one job array,
`sbatch --array=0-N%P`): then each job's run is created here and the backend gets them all.

(No `from __future__ import annotations` here: Hydra's plugin scan executes this module outside
sys.modules, where dataclasses cannot resolve string annotations.)"""

from dataclasses import dataclass
from typing import Any, List, Sequence

from hydra.core.config_store import ConfigStore
from hydra.plugins.launcher import Launcher
from hydra_plugins.hydra_joblib_launcher.config import JobLibLauncherConf


@dataclass
class TrainkitLauncherConf(JobLibLauncherConf):
    _target_: str = "hydra_plugins.trainkit_launcher.launcher.TrainkitLauncher"


def register() -> None:
    ConfigStore.instance().store(group="hydra/launcher", name="trainkit", node=TrainkitLauncherConf,
                                 provider="trainkit")


class TrainkitLauncher(Launcher):
    def __init__(self, **joblib: Any) -> None:
        from hydra_plugins.hydra_joblib_launcher.joblib_launcher import JoblibLauncher

        self.joblib = JoblibLauncher(**joblib)

    def setup(self, *, hydra_context, task_function, config) -> None:
        self.hydra_context, self.task_function, self.config = hydra_context, task_function, config
        self.joblib.setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> List[Any]:
        from trainkit.compute import backend_class
        from trainkit.compute.base import Backend

        loader = self.hydra_context.config_loader
        names = {str(loader.load_sweep_config(self.config, list(o)).compute.name) for o in job_overrides}
        kind = backend_class(names.pop()) if len(names) == 1 else None
        if kind is None or kind.launch_many is Backend.launch_many:
            return self.joblib.launch(job_overrides, initial_job_idx)
        return self._together(job_overrides, initial_job_idx)

    def _together(self, job_overrides, initial_job_idx: int) -> List[Any]:
        """Create every job's run here (Hydra's per-job context: overrides, sweep dir, job number)
        with the entry's `prepare` (trainkit.session), then hand them all to their backend's
        `launch_many`."""
        from pathlib import Path

        from hydra.core.utils import run_job, setup_globals
        from omegaconf import open_dict

        from trainkit.compute import get_backend
        from trainkit.session import SESSION, job_value

        setup_globals()
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        specs: list = []

        def prepare(cfg) -> dict:
            spec, result = SESSION.prepare(cfg, preflight=not specs)   # one preflight per sweep
            if spec is not None:
                specs.append(spec)
            return result

        returns = []
        for i, overrides in enumerate(job_overrides):
            cfg = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
            with open_dict(cfg):
                cfg.hydra.job.id = cfg.hydra.job.num = initial_job_idx + i
            returns.append(run_job(hydra_context=self.hydra_context, task_function=prepare, config=cfg,
                                   job_dir_key="hydra.sweep.dir", job_subdir_key="hydra.sweep.subdir"))
        if specs:
            jobs = {job.id: job for job in get_backend(specs[0].config["compute"]).launch_many(specs, sweep_dir)}
            for ret in returns:   # the final states, when the sweep waited for its jobs
                value = job_value(ret)
                job = jobs.get(value.get("run_id")) if value else None
                if job is not None and (state := job.state()).done:
                    value.update(state=state.name, exit_code=state.exit_code,
                                 metrics=job.status().get("final_metrics") or {})
        return returns
