"""Deployment: `InferenceConfig(entry_script='score.py')` + `Model.deploy(ws, name, [model], ...)` to
`AciWebservice` / `LocalWebservice` becomes the `trainkit models serve` command of the registered
model with that `score.py` (kept in the project: Azure's init()/run() contract, served on POST
/score); the service's methods are the server's endpoints."""
from __future__ import annotations

import os

from ..values import kind
from ..values import Sdk
from . import Command, Migration, slug

SERVICE_CALLS = {
    "wait_for_deployment": "`trainkit models serve` returns to the prompt only when it stops: ready when it logs "
                           "its address (GET /v2/health/ready)",
    "run": "POST the same JSON to http://127.0.0.1:PORT/score",
    "get_logs": "the server's own output",
    "get_keys": "the key given to --auth-key-file (sent as `Authorization: Bearer KEY`)",
    "delete": "stop the server (Ctrl-C or SIGTERM: it drains first)",
    "update": "restart the server with the new model version or score.py",
}


MODEL_CALLS = {
    "delete": "`trainkit models delete NAME:VERSION` (the number is never reused)",
    "download": "`trainkit models download NAME:VERSION --to DIR` / tk.Workspace().model(REF).download(DIR)",
    "add_tags": "`trainkit models register ... --tag` at registration; tags live with the version",
    "get_model_path": "under `trainkit models serve --score`, AZUREML_MODEL_DIR holds the version's files",
}


def emit(m: Migration) -> None:
    for sdk in m.of("Model.register"):
        name = sdk.arg("model_name", 2)
        path = sdk.arg("model_path", 1)
        m.mark(sdk, f"`trainkit models register {slug(name) if isinstance(name, str) else 'NAME'} "
                    f"{path if isinstance(path, str) else 'PATH'}` (a run registers its own model: registry.model_name)")
    m.each(m.of("Model.deploy", "Webservice.deploy_from_model", "Model.package"), deploy)
    for sdk in m.of(*MODEL_CALLS):
        if sdk.owner() is not None and (kind(sdk.owner()) == "Model" or sdk.owner().method == "register_model"):
            m.mark(sdk, MODEL_CALLS[sdk.method])
    for sdk in m.of(*SERVICE_CALLS):
        if sdk.owner() is not None and sdk.owner().name.endswith(("deploy", "Webservice", "AciWebservice",
                                                                   "LocalWebservice")):
            m.mark(sdk, SERVICE_CALLS[sdk.method])


def model_name(value) -> str | None:
    """The registered model's name of a model object (Model(ws, name), Model.register, register_model)."""
    if isinstance(value, list):
        return model_name(value[0]) if value else None
    if not isinstance(value, Sdk):
        return None
    for key, pos in (("model_name", 0 if value.method == "register_model" else 2), ("name", 1)):
        found = value.arg(key, pos)
        if isinstance(found, str):
            return slug(found)
    return None


def deploy(m: Migration, sdk: Sdk) -> None:
    service = sdk.arg("name", 1)
    service = slug(service if isinstance(service, str) else sdk.var or "service")
    model = model_name(sdk.arg("models", 2)) or "MODEL"
    inference, config = sdk.arg("inference_config", 3), sdk.arg("deployment_config", 4)
    flags = score_flags(m, inference, service)
    if isinstance(config, Sdk):
        flags += config_flags(m, config)
    command = " ".join([f"trainkit models serve {model}", *flags])
    m.mark(sdk, f"`{command}`")
    m.project.commands.append(Command("serve", command, f"Azure's service {service!r}"))


def score_flags(m: Migration, inference, service: str) -> list[str]:
    """The score.py of an InferenceConfig, copied into the project: the server's --score."""
    if not isinstance(inference, Sdk):
        return []
    script = inference.arg("entry_script", 0)
    folder = inference.arg("source_directory", 2)
    if not isinstance(script, str):
        m.unmapped(inference, "InferenceConfig: entry_script is not a literal: serve with --score PATH yourself")
        return []
    base = m.files.absolute(folder if isinstance(folder, str) else ".", inference.home)
    path = m.files.absolute(script, base)
    text = m.files.read_text(path, inference.where)
    rel = f"serving/{service}/{os.path.basename(script)}"
    if text is None:
        m.unmapped(inference, f"InferenceConfig: {script} was not found (nor written by the notebook): put it at {rel}")
    else:
        m.project.files[rel] = text
    m.mark(inference, f"{rel}: Azure's init()/run() contract, served on POST /score (`--score {rel}`)")
    env = inference.arg("environment", 3)
    if isinstance(env, Sdk):
        from .environments import environment_of

        option = environment_of(m, env)
        if option:
            return ["--score", rel, "--environment", option]
    return ["--score", rel]


def config_flags(m: Migration, config: Sdk) -> list[str]:
    flags = []
    if config.arg("auth_enabled") is True:
        flags += ["--auth-key-file", "serving.key"]
    port = config.arg("port", 0) if config.name.startswith("LocalWebservice") else None
    if isinstance(port, int):
        flags += ["--port", str(port)]
    m.mark(config, "`trainkit models serve` flags" + (f" ({' '.join(flags)})" if flags else "")
           + "; cpu_cores/memory_gb are the serving host's (registry.resource_configuration records them)")
    return flags
