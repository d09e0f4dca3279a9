"""`--environment NAME` of `trainkit models serve --score`: the interpreter and variables of the
score worker, from a trainkit environment option (conf/environment/NAME.yaml, or the project's).

An environment that asks for a build (`pip`, `requirements_file`, `keras: "2"`) is built with uv
into `<workspace>/environments/<hash>/` exactly as a run's is (compute/envs.py; reused when built
before), and the worker runs its Python. With `keras: "2"` the worker also gets what a Keras 2 script
gets (TF_USE_LEGACY_KERAS=1, `import keras` is tf_keras). `env_vars` are set. An environment that
asks for no build (tensorflow-2.21-cpu) runs the worker in the server's own interpreter. `--pip REQ`
adds requirement lines to the option's (an Azure Environment's packages that the base lacks). Without
--environment: the server's interpreter and variables.
"""
from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field

log = logging.getLogger("trainkit.serve")


@dataclass(frozen=True)
class WorkerEnvironment:
    python: str                                  # the worker's interpreter
    variables: dict = field(default_factory=dict)   # set for the worker (over the server's own)
    keras2: bool = False                         # environment.keras "2": the Keras 2 variables on top
    name: str | None = None

    def apply(self, env: dict) -> dict:
        """The worker's environment variables from the server's `env`."""
        out = {**env, **self.variables}
        if self.keras2:
            from ..keras2_shim import script_env

            out = script_env(out)
        return out


def resolve(option: str | None, workspace: str | None, pip: tuple[str, ...] = ()) -> WorkerEnvironment:
    """The worker's environment for `--environment option` (built now if it needs a build), with the
    requirement lines `pip` added to the option's own."""
    if not option:
        return WorkerEnvironment(sys.executable)
    from ..config.compose import compose_group
    from ..keras2_shim import is_keras2
    from ..compute.envs import build_here, wanted
    from ..records.workspace import WorkspacePaths

    cfg = compose_group("environment", option)
    cfg["pip"] = [*(cfg.get("pip") or []), *pip]
    python = sys.executable
    if wanted(cfg):
        root = WorkspacePaths.at(workspace).root / "environments"
        log.info("environment %s: building it (or reusing an earlier build) in %s", option, root)
        python = build_here(root, cfg, echo=lambda line: log.info("environment %s: %s", option, line))["python"]
    variables = {str(k): str(v) for k, v in (cfg.get("env_vars") or {}).items()}
    return WorkerEnvironment(python, variables, is_keras2(cfg), option)
