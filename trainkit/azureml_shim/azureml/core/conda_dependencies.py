"""Azure ML SDK v1's `CondaDependencies`: a conda environment specification (channels, conda
packages, pip packages) as the notebook builds it; trainkit maps it through `trainkit migrate`'s
envmap when a run uses it (core/environment.py)."""
from __future__ import annotations

import re
from pathlib import Path

SDK_PACKAGE = "azureml-defaults"        # what Azure added to every created environment
DEFAULT_PYTHON = "3.8.13"               # Azure's default for new environments (recorded; trainkit runs 3.11)


def _name(spec: str) -> str:
    return re.split(r"[=<>!~ \[;]", str(spec).split("::")[-1].strip(), maxsplit=1)[0].lower()


class CondaDependencies:
    """`CondaDependencies.create(pip_packages=[...], conda_packages=[...])`, or read from a conda YAML."""

    def __init__(self, conda_dependencies_file_path: str | None = None, _underlying_structure: dict | None = None):
        if conda_dependencies_file_path is not None:
            import yaml

            _underlying_structure = yaml.safe_load(Path(conda_dependencies_file_path).read_text()) or {}
        spec = dict(_underlying_structure or {"name": "project_environment",
                                               "dependencies": [f"python={DEFAULT_PYTHON}", {"pip": []}],
                                               "channels": ["anaconda", "conda-forge"]})
        deps = list(spec.get("dependencies") or [])
        self._channels = list(spec.get("channels") or [])
        self._conda = [str(d) for d in deps if not isinstance(d, dict)]
        self._pip = [str(p) for d in deps if isinstance(d, dict) for p in d.get("pip") or []]
        self._name = spec.get("name", "project_environment")

    @staticmethod
    def create(pip_indexurl: str | None = None, pip_packages=None, conda_packages=None,
               python_version: str | None = DEFAULT_PYTHON, pin_sdk_version: bool = True) -> "CondaDependencies":
        cd = CondaDependencies()
        cd.set_python_version(python_version or DEFAULT_PYTHON)
        for p in [*([SDK_PACKAGE] if pin_sdk_version else []), *(pip_packages or [])]:
            cd.add_pip_package(p)
        for p in conda_packages or []:
            cd.add_conda_package(p)
        if pip_indexurl:
            cd.set_pip_option(f"--index-url {pip_indexurl}")
        return cd

    # ------------------------------------------------------------------ editing
    def add_pip_package(self, pip_package: str) -> None:
        self._pip = [p for p in self._pip if p.startswith("-") or _name(p) != _name(pip_package)] + [str(pip_package)]

    def remove_pip_package(self, pip_package: str) -> None:
        self._pip = [p for p in self._pip if p.startswith("-") or _name(p) != _name(pip_package)]

    def add_conda_package(self, conda_package: str) -> None:
        self._conda = [p for p in self._conda if _name(p) != _name(conda_package)] + [str(conda_package)]

    def remove_conda_package(self, conda_package: str) -> None:
        self._conda = [p for p in self._conda if _name(p) != _name(conda_package)]

    def add_channel(self, channel: str) -> None:
        if channel not in self._channels:
            self._channels.append(channel)

    def remove_channel(self, channel: str) -> None:
        self._channels = [c for c in self._channels if c != channel]

    def set_pip_option(self, pip_option: str) -> None:
        self._pip = [pip_option, *(p for p in self._pip if p != pip_option)]

    def set_python_version(self, version: str) -> None:
        self.add_conda_package(f"python={version}")

    def add_tensorflow_conda_package(self, core_type: str = "cpu", version: str | None = None) -> None:
        name = "tensorflow-gpu" if str(core_type).lower() == "gpu" else "tensorflow"
        self.add_conda_package(name + (f"={version}" if version else ""))

    def add_tensorflow_pip_package(self, core_type: str = "cpu", version: str | None = None) -> None:
        name = "tensorflow-gpu" if str(core_type).lower() == "gpu" else "tensorflow"
        self.add_pip_package(name + (f"=={version}" if version else ""))

    # ------------------------------------------------------------------ reading
    @property
    def pip_packages(self) -> list[str]:
        return [p for p in self._pip if not p.startswith("-")]

    @property
    def conda_packages(self) -> list[str]:
        return list(self._conda)

    @property
    def conda_channels(self) -> list[str]:
        return list(self._channels)

    @property
    def pip_options(self) -> list[str]:
        return [p for p in self._pip if p.startswith("-")]

    def get_python_version(self) -> str | None:
        found = [p.split("=", 1)[1].lstrip("=") for p in self._conda if _name(p) == "python" and "=" in p]
        return found[0] if found else None

    def as_dict(self) -> dict:
        deps: list = list(self._conda)
        if self._pip:
            deps.append({"pip": list(self._pip)})
        return {"name": self._name, "dependencies": deps, "channels": list(self._channels)}

    def serialize_to_string(self) -> str:
        import yaml

        return "# Conda environment specification.\n" + yaml.safe_dump(self.as_dict(), sort_keys=False)

    def save_to_file(self, base_directory: str, conda_file_path: str | None = None) -> str:
        path = Path(base_directory) / (conda_file_path or "conda_dependencies.yml")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.serialize_to_string())
        return str(path)

    def save(self, path: str | None = None) -> str:
        target = Path(path or "conda_dependencies.yml")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(self.serialize_to_string())
        return str(target)

    def __repr__(self) -> str:
        return self.serialize_to_string()
