"""Hydra's side of the schema (Hydra stays at the edge: the entry point and this package): the
dataclasses stored so YAML files can inherit them with `defaults: [base_<group>]`, and trainkit's
Hydra plugins registered."""
from __future__ import annotations


def register_configs() -> None:
    """Store every schema (a compute backend's and a distribution's own too) and register trainkit's
    Hydra plugins (also where an editable install hides them from Hydra's scan)."""
    from hydra.core.config_store import ConfigStore
    from hydra.core.plugins import Plugins

    from hydra_plugins.trainkit_launcher.launcher import TrainkitLauncher
    from hydra_plugins.trainkit_launcher.launcher import register as register_launcher
    from hydra_plugins.trainkit_optuna_sweeper.optuna_sweeper import OptunaSweeper
    from hydra_plugins.trainkit_optuna_sweeper.optuna_sweeper import register as register_sweeper
    from hydra_plugins.trainkit_project.search_path import TrainkitProjectSearchPath

    from ..compute import BACKENDS, backend_class
    from ..compute.base import ComputeConfig
    from ..distributions import DISTRIBUTIONS, DistributionConfig
    from .schema import GROUP_SCHEMAS, ScriptEntryConfig, TrainkitConfig

    plugins = Plugins.instance()
    register_launcher()
    for plugin in (OptunaSweeper, TrainkitProjectSearchPath, TrainkitLauncher):
        if f"{plugin.__module__}.{plugin.__name__}" not in plugins.class_name_to_class:   # not found by Hydra's scan
            plugins.register(plugin)
    register_sweeper()
    cs = ConfigStore.instance()
    cs.store(name="base_config", node=TrainkitConfig)
    for group, schema in GROUP_SCHEMAS.items():
        cs.store(group=group, name=f"base_{group}", node=schema)
    cs.store(group="entry", name="base_script", node=ScriptEntryConfig)
    cs.store(group="distribution", name="base_distribution", node=DistributionConfig)
    for d in DISTRIBUTIONS.values():
        cs.store(group="distribution", name=f"base_{d.name}", node=d.schema)
    cs.store(group="compute", name="base_compute", node=ComputeConfig)
    for name in BACKENDS:
        cs.store(group="compute", name=f"base_{name}", node=backend_class(name).schema)
