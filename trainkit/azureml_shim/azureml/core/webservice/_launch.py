"""`Model.deploy`: start `trainkit models serve MODEL:VERSION... --score score.py` as a background
process on 127.0.0.1 and record it (webservice.py). Azure built an image from the source directory
at deploy time; here the source directory (or the entry script alone) is copied to
`<workspace>/webservices/<name>/source/` and served from that copy, so later edits of the notebook's
files do not reach a running service. With auth_enabled the keys go to `<workspace>/webservices/
<name>.key` (mode 0600) and the server gets `--auth-key-file`."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from ..._tk import note, unsupported
from ...exceptions import WebserviceException
from .webservice import NAME, Webservice, alive, read_record, records_dir, write_record

SKIPPED = shutil.ignore_patterns(".git", "__pycache__", ".ipynb_checkpoints", "azureml-models", ".trainkit")


def deploy(workspace, name: str, models, inference_config, deployment_config, deployment_target,
           overwrite: bool, show_output: bool) -> Webservice:
    from .aci import AciWebservice

    if deployment_target is not None:
        unsupported("Model.deploy(deployment_target=...) (AKS and attached clusters)",
                    "a service on this machine (AciWebservice or LocalWebservice deployment_config), or "
                    "`trainkit models serve NAME --score score.py` on the host that should serve")
    if inference_config is None:
        unsupported("Model.deploy without an inference_config (no-code deployment)",
                    "InferenceConfig(entry_script='score.py', ...), or `trainkit models serve NAME` (v2 protocol)")
    check_name(name)
    replace_existing(workspace, name, overwrite)
    config = deployment_config or AciWebservice.deploy_configuration()
    refs = [model_ref(m) for m in (models if isinstance(models, (list, tuple)) else [models])]
    if not refs:
        raise WebserviceException("Model.deploy: expected at least one model in models, got none")
    record = start(workspace, name, refs, inference_config, config)
    write_record(workspace, record)
    if show_output:
        print(f"Deploying {name}: trainkit models serve {' '.join(refs)} --score {record['score']} (pid {record['pid']})")
    return Webservice(workspace, name)


def check_name(name: str) -> None:
    if not isinstance(name, str) or not NAME.fullmatch(name) or "--" in name:
        raise WebserviceException(f"Model.deploy: service name: expected 3-32 lowercase letters, digits or dashes, "
                                  f"starting with a letter and not ending with a dash, got {name!r}")


def replace_existing(workspace, name: str, overwrite: bool) -> None:
    record = read_record(workspace, name)
    if record is None:
        return
    if alive(record.get("pid"), record.get("pid_id")) and not overwrite:
        raise WebserviceException(f"Model.deploy: a service named {name!r} is running (pid {record['pid']}); "
                                  "pass overwrite=True to replace it, or service.delete() first")
    Webservice(workspace, name).delete()


def model_ref(model) -> str:
    """NAME:VERSION of a Model (or of a 'name:version' string)."""
    if isinstance(model, str):
        return model
    if hasattr(model, "name") and hasattr(model, "version"):
        return f"{model.name}:{model.version}"
    raise WebserviceException(f"Model.deploy: models: expected Model objects, got {type(model).__name__}")


def skipping(*inside: Path):
    """copytree's `ignore`: SKIPPED's names, and the folders `inside` (a workspace inside the source directory)."""
    keep_out = {p.resolve() for p in inside}

    def ignore(folder: str, names: list[str]) -> set[str]:
        return set(SKIPPED(folder, names)) | {n for n in names if (Path(folder) / n).resolve() in keep_out}

    return ignore


def snapshot(folder: Path, inference_config, workspace_root: Path) -> Path:
    """Copy the source directory (or the entry script alone) into `folder`; the copied score.py."""
    score = inference_config.score_path()
    source = folder / "source"
    if source.exists():
        shutil.rmtree(source)
    if inference_config.source_directory:
        shutil.copytree(inference_config.source_directory, source, symlinks=True,
                        ignore=skipping(workspace_root, folder.parent))
        return source / inference_config.entry_script
    source.mkdir(parents=True)
    shutil.copy2(score, source / score.name)
    return source / score.name


def worker_environment(environment) -> tuple[str | None, list[str], dict]:
    """(trainkit environment name, extra requirements, variables) of an InferenceConfig's environment:
    a name as it is; an Environment as trainkit maps it for runs (its preset, the packages the base
    environment lacks, its environment_variables); None: the server's own environment."""
    if environment is None or isinstance(environment, str):
        return environment, [], {}
    if hasattr(environment, "_choice"):
        choice, variables = environment._choice()
        for text in choice.notes:
            note(text)
        return choice.preset(), list(choice.pip), variables
    raise WebserviceException(f"InferenceConfig(environment=...): expected an Environment or a trainkit environment "
                              f"name, got {type(environment).__name__}")


def command(workspace, name: str, refs: list[str], score: Path, config, environment: tuple) -> list[str]:
    tk = workspace._tk if workspace is not None else None
    root = str(tk.root) if tk else None
    cmd = [sys.executable, "-m", "trainkit.cli", *(["--workspace", root] if root else []), "models",
           *(["--registry", tk.registry.url] if tk else []), "serve", *refs, "--score", str(score),
           "--host", "127.0.0.1", "--port", str(config.port or 0)]
    option, pip, _ = environment
    if option:
        cmd += ["--environment", option, *[f"--pip={req}" for req in pip]]
    if config.auth_enabled:
        cmd += ["--auth-key-file", str(records_dir(workspace) / f"{name}.key")]
    return cmd


def start(workspace, name: str, refs: list[str], inference_config, config) -> dict:
    """Start the server process (its own session: it outlives this kernel) and describe it."""
    from trainkit.records.runs import process_identity
    from trainkit.serve.auth import create_key_file

    folder = records_dir(workspace) / name
    folder.mkdir(parents=True, exist_ok=True)
    score = snapshot(folder, inference_config, records_dir(workspace).parent)
    key_file = records_dir(workspace) / f"{name}.key"
    key_file.unlink(missing_ok=True)
    if config.auth_enabled:
        create_key_file(key_file, tuple(k for k in (config.primary_key, config.secondary_key) if k))
    log = records_dir(workspace) / f"{name}.log"
    environment = worker_environment(inference_config.environment)
    cmd = command(workspace, name, refs, score, config, environment)
    env = {**os.environ, **environment[2], **config.thread_env(), "PYTHONUNBUFFERED": "1"}
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
                                cwd=folder / "source", start_new_session=True)
    return {"name": name, "compute_type": config.compute_type, "pid": proc.pid, "pid_id": process_identity(proc.pid),
            "port": None, "models": refs, "score": str(score), "log": str(log), "created": time.time(),
            "key_file": str(key_file) if config.auth_enabled else None, "command": cmd,
            **config.record()}
