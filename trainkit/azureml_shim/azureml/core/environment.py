"""Azure ML SDK v1's `Environment` as a trainkit environment: a curated name
(`Environment.get(ws, "AzureML-TensorFlow-2.3-GPU")`) becomes trainkit's preset of the same device
and Keras (Keras 2 for TensorFlow before 2.16), a conda or pip specification the base environment
plus the packages it does not have; pins that cannot exist here (tensorflow==2.2.0, keras<=2.3.1,
python=3.7, azureml-defaults ...) are mapped exactly as `trainkit migrate` maps them, each change a
note. Docker settings are recorded, not used."""
from __future__ import annotations

import copy
import json
from pathlib import Path

from .._tk import Surface
from ..exceptions import UserErrorException
from .conda_dependencies import CondaDependencies

DEFAULT_CPU_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04"
DEFAULT_GPU_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-cuda11.1-cudnn8-ubuntu20.04"
CURATED_PREFIX = "azureml-"
IMAGE_INSTEAD = "environment.pip / environment.requirements_file (trainkit builds a virtual environment with uv; " \
                "environment.image is reserved)"


class PythonSection:
    def __init__(self):
        self.user_managed_dependencies, self.interpreter_path = False, "python"
        self.conda_dependencies_file = None
        self.conda_dependencies = CondaDependencies.create()


class DockerSection:
    """Recorded with the run, not used: trainkit runs in the host's (or a built) Python environment."""

    def __init__(self):
        self.enabled, self.base_image, self.base_dockerfile = False, DEFAULT_CPU_IMAGE, None
        self.shm_size, self.gpu_support, self.arguments, self.base_image_registry = "2g", False, [], None


class Environment(Surface):
    """An environment: `python.conda_dependencies`, `environment_variables`, `docker.*`."""

    _unsupported = {"build": IMAGE_INSTEAD, "build_local": IMAGE_INSTEAD, "get_image_details": IMAGE_INSTEAD,
                    "from_dockerfile": IMAGE_INSTEAD, "from_docker_image": IMAGE_INSTEAD,
                    "from_existing_conda_environment": IMAGE_INSTEAD, "add_private_pip_wheel":
                    "environment.find_links (local wheel folders)", "get_build_log": IMAGE_INSTEAD}

    def __init__(self, name: str, _skip_validation: bool = False):
        self.name, self.version, self._curated, self._implicit = name, None, None, False
        self.python, self.docker = PythonSection(), DockerSection()
        self.environment_variables: dict = {}
        self.inferencing_stack_version = None

    # ------------------------------------------------------------------ making one
    @staticmethod
    def get(workspace, name: str, version: str | None = None, label: str | None = None) -> "Environment":
        """A curated environment (AzureML-...), or one registered in this workspace."""
        if name.lower().startswith(CURATED_PREFIX):
            env = Environment(name)
            env._curated = name
            env.python.conda_dependencies = CondaDependencies.create(pin_sdk_version=False)
            return env
        found = registered_environments(workspace).get(name)
        if found is None:
            raise UserErrorException(f"Environment {name!r} is neither curated (AzureML-...) nor registered in this "
                                     "workspace (env.register(workspace))")
        return found

    @staticmethod
    def from_conda_specification(name: str, file_path: str) -> "Environment":
        env = Environment(name)
        env.python.conda_dependencies = CondaDependencies(conda_dependencies_file_path=file_path)
        env.python.conda_dependencies_file = file_path
        return env

    @staticmethod
    def from_pip_requirements(name: str, file_path: str, pip_version: str | None = None) -> "Environment":
        lines = [ln.strip() for ln in Path(file_path).read_text().splitlines()
                 if ln.strip() and not ln.strip().startswith(("#", "-"))]
        env = Environment(name)
        env.python.conda_dependencies = CondaDependencies.create(pip_packages=lines, pin_sdk_version=False)
        return env

    @staticmethod
    def list(workspace) -> dict:
        return registered_environments(workspace)

    def clone(self, new_name: str) -> "Environment":
        other = copy.deepcopy(self)
        other.name, other.version = new_name, None
        return other

    def register(self, workspace) -> "Environment":
        """Keep it in the workspace (a new version when it changed); `Environment.get(ws, name)` finds it."""
        folder = _folder(workspace)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.name}.json"
        old = json.loads(path.read_text()) if path.is_file() else None
        data = self._to_json()
        self.version = old["version"] if old and old["spec"] == data else str(int(old["version"]) + 1 if old else 1)
        path.write_text(json.dumps({"version": self.version, "spec": data}, indent=2))
        return self

    def save_to_directory(self, path: str, overwrite: bool = False) -> None:
        target = Path(path)
        if target.exists() and any(target.iterdir()) and not overwrite:
            raise UserErrorException(f"{path}: the directory is not empty (overwrite=True replaces its files)")
        target.mkdir(parents=True, exist_ok=True)
        self.python.conda_dependencies.save_to_file(str(target), "conda_dependencies.yml")
        (target / "azureml_environment.json").write_text(json.dumps(self._to_json(), indent=2))

    @staticmethod
    def load_from_directory(path: str) -> "Environment":
        data = json.loads((Path(path) / "azureml_environment.json").read_text())
        return Environment._from_json(data, Path(path) / "conda_dependencies.yml")

    # ------------------------------------------------------------------ trainkit's view
    def _untouched(self) -> bool:
        """A RunConfiguration's own default environment nobody changed: trainkit's base as it is."""
        return self._implicit and self._to_json() == Environment(self.name)._to_json()

    def _choice(self):
        """(migrate's EnvChoice for this environment, its environment variables)."""
        from trainkit.migrate.envmap import EnvChoice, curated, map_conda, map_pip

        deps = self.python.conda_dependencies
        if self._curated:
            choice = curated(self._curated)
            map_pip(deps.pip_packages, choice, f"environment {self.name}")
        elif self.python.user_managed_dependencies:
            choice = EnvChoice()
            choice.notes.append(f"environment {self.name}: user-managed dependencies: trainkit's base environment")
        else:
            choice = EnvChoice()
            map_conda([p for p in deps.conda_packages], choice, f"environment {self.name}")
            map_pip(deps.pip_packages, choice, f"environment {self.name}")
        image = f"{self.docker.base_image or ''} {self.docker.base_dockerfile or ''}".lower()
        if self.docker.gpu_support or "cuda" in image or "gpu" in image:
            choice.device = "gpu"
        if self.docker.enabled or self.docker.base_image != DEFAULT_CPU_IMAGE:
            choice.notes.append(f"environment {self.name}: Docker image {self.docker.base_image}: recorded, not used "
                                "(trainkit runs in a Python environment on the host)")
        return choice, {str(k): str(v) for k, v in (self.environment_variables or {}).items()}

    def _to_json(self) -> dict:
        return {"name": self.name, "curated": self._curated, "conda": self.python.conda_dependencies.as_dict(),
                "user_managed": self.python.user_managed_dependencies, "env_vars": dict(self.environment_variables),
                "docker": {"enabled": self.docker.enabled, "base_image": self.docker.base_image}}

    @staticmethod
    def _from_json(data: dict, conda_file: Path | None = None) -> "Environment":
        env = Environment(data["name"])
        env._curated = data.get("curated")
        env.python.conda_dependencies = CondaDependencies(_underlying_structure=data["conda"])
        env.python.user_managed_dependencies = data.get("user_managed", False)
        env.environment_variables = dict(data.get("env_vars") or {})
        env.docker.enabled, env.docker.base_image = data["docker"]["enabled"], data["docker"]["base_image"]
        return env

    def __repr__(self) -> str:
        return json.dumps({"name": self.name, "version": self.version, **self._to_json()}, indent=4)


def _folder(workspace) -> Path:
    return workspace._tk.root / "azureml" / "environments"


def registered_environments(workspace) -> dict:
    """ws.environments: {name: the registered Environment (latest version)}."""
    out = {}
    for path in sorted(_folder(workspace).glob("*.json")) if _folder(workspace).is_dir() else []:
        data = json.loads(path.read_text())
        env = Environment._from_json(data["spec"])
        env.version = data["version"]
        out[env.name] = env
    return out


__all__ = ["Environment", "CondaDependencies", "DEFAULT_CPU_IMAGE", "DEFAULT_GPU_IMAGE"]
