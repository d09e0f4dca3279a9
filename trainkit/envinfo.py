"""environment.json: what ran where (Python, platform, host, TF/Keras, devices, packages)."""
from __future__ import annotations

import platform
import socket
import sys
from importlib import metadata


def describe_environment(env_cfg: dict) -> dict:
    import keras
    import tensorflow as tf

    devices = [{"name": d.name, "type": d.device_type} for d in tf.config.list_logical_devices()]
    packages = sorted(f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions()
                      if d.metadata["Name"])
    return {
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "platform": platform.platform(),
        "hostname": socket.gethostname(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "devices": devices,
        "preset": env_cfg,
        "packages": packages,
    }


def version_mismatches(env_cfg: dict, info: dict) -> list[str]:
    """Differences between the environment preset's pins and what is installed."""
    problems = []
    for key in ("tensorflow", "keras"):
        want = env_cfg.get(key)
        have = info[key]
        if want and not (have == want or have.startswith(str(want) + ".")):
            problems.append(f"environment.{key}: preset {env_cfg['name']!r} expects {want}, "
                            f"installed is {have}")
    return problems
