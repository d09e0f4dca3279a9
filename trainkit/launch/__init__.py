"""Launchers by compute target name. Heavy backends are imported only when chosen."""
from __future__ import annotations

from importlib import import_module

from ..errors import ConfigError
from .base import Launcher

LAUNCHERS = {"local": "trainkit.launch.local:LocalLauncher",
             "slurm": "trainkit.launch.slurm:SlurmLauncher",
             "ssh": "trainkit.launch.ssh:SshLauncher"}


def get_launcher(compute_cfg: dict) -> Launcher:
    target = LAUNCHERS.get(compute_cfg["name"])
    if target is None:
        raise ConfigError([f"compute.name: expected one of {sorted(LAUNCHERS)}, got {compute_cfg['name']!r}"])
    module, _, cls = target.partition(":")
    return getattr(import_module(module), cls)(compute_cfg)
