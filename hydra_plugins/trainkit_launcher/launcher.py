"""trainkit's Hydra launcher for `-m` sweeps (`hydra/launcher=trainkit`, the default): every job in
its own process through Hydra's joblib launcher, except when every job targets compute=slurm: then
each job's run is created here and the whole sweep is submitted as ONE Slurm job array
(`sbatch --array=0-N%P`, `compute.array_parallelism`), each array task one run.

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
        loader = self.hydra_context.config_loader
        computes = {str(loader.load_sweep_config(self.config, list(o)).compute.name) for o in job_overrides}
        if computes != {"slurm"}:
            return self.joblib.launch(job_overrides, initial_job_idx)
        return self._slurm_array(job_overrides, initial_job_idx)

    def _slurm_array(self, job_overrides, initial_job_idx: int) -> List[Any]:
        """Create every job's run here (Hydra's per-job context: overrides, sweep dir, job number),
        then submit them all as one job array."""
        from pathlib import Path

        from hydra.core.utils import run_job, setup_globals
        from omegaconf import open_dict

        from trainkit import submit as submitter
        from trainkit.launch.slurm import submit_array

        setup_globals()
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        submitter.ARRAY = []
        try:
            returns = []
            for i, overrides in enumerate(job_overrides):
                cfg = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
                with open_dict(cfg):
                    cfg.hydra.job.id = cfg.hydra.job.num = initial_job_idx + i
                returns.append(run_job(hydra_context=self.hydra_context, task_function=self.task_function,
                                       config=cfg, job_dir_key="hydra.sweep.dir", job_subdir_key="hydra.sweep.subdir"))
            specs = list(submitter.ARRAY)
        finally:
            submitter.ARRAY = None
        if specs:
            outcomes = submit_array(specs, sweep_dir)
            for ret in returns:   # the final states, when the sweep waited for its tasks
                value = ret._return_value if isinstance(ret._return_value, dict) else None
                if value and value.get("run_id") in outcomes:
                    value.update(outcomes[value["run_id"]])
        return returns
