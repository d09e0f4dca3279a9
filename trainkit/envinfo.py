"""environment.json: what ran where (Python, platform, host, TF/Keras, devices, packages)."""
from __future__ import annotations

import platform
import socket
import sys
from importlib import metadata


def _version(*names: str) -> str | None:
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return None


def describe_environment(env_cfg: dict, with_tensorflow: bool = True) -> dict:
    """with_tensorflow=False (script runs): versions from package metadata, devices not listed,
    so recording it imports no TensorFlow."""
    if with_tensorflow:
        import keras
        import tensorflow as tf

        devices = [{"name": d.name, "type": d.device_type} for d in tf.config.list_logical_devices()]
        versions = {"tensorflow": tf.__version__, "keras": keras.__version__}
    else:
        devices = "not inspected (the script imports TensorFlow itself)"
        versions = {"tensorflow": _version("tensorflow", "tensorflow-cpu"), "keras": _version("keras")}
    if str(env_cfg.get("keras") or "").split(".")[0] == "2":   # the script's Keras 2 (trainkit's own stays Keras 3)
        versions["tf_keras"] = _version("tf-keras", "tf_keras")
    packages = sorted(f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions()
                      if d.metadata["Name"])
    return {
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "platform": platform.platform(),
        "hostname": socket.gethostname(),
        **versions,
        "devices": devices,
        "preset": env_cfg,
        "packages": packages,
    }


def version_mismatches(env_cfg: dict, info: dict, where: str | None = None) -> list[str]:
    """Differences between the environment preset's pins and what is installed (here, or in the
    interpreter `where` names: a cluster node's or a host's)."""
    problems = []
    for key in ("tensorflow", "keras"):
        want, have = env_cfg.get(key), info.get(key)
        if key == "keras" and str(want).split(".")[0] == "2":   # tf_keras; a base interpreter's probe has none
            if "tf_keras" not in info:                           # (the environment that installs it is built later)
                continue
            have = info["tf_keras"]
        if want and not (have and (have == want or have.startswith(str(want) + "."))):
            found = f"installed is {have}" if where is None else f"{where} has {have or 'none installed'}"
            problems.append(f"environment.{key}: preset {env_cfg['name']!r} expects {want}, {found}")
    return problems
