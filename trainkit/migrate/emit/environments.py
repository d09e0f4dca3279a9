"""Environments: `Environment(name)` with its `python.conda_dependencies` (`CondaDependencies.create`,
`add_pip_package`, `add_conda_package`, ...), `Environment.from_conda_specification` (also of a
`%%writefile`'d YAML), `from_pip_requirements` and curated `Environment.get(ws, name)` become
`conf/environment/NAME.yaml` (or a trainkit preset), mapped by `envmap` with every change noted."""
from __future__ import annotations

from ..envmap import EnvChoice, curated, map_conda, map_pip
from ..values import Sdk, literal_text
from . import Migration

DEFINERS = ("Environment", "Environment.from_conda_specification", "Environment.from_pip_requirements",
            "Environment.from_existing_conda_environment", "Environment.from_dockerfile", "Environment.get",
            "Environment.clone")
CONDA_CALLS = ("add_pip_package", "add_conda_package", "add_tensorflow_conda_package", "add_tensorflow_pip_package",
               "add_channel", "remove_pip_package", "remove_conda_package", "set_python_version", "save_to_file",
               "save", "serialize_to_string", "set_pip_option")


def emit(m: Migration) -> None:
    m.each([s for s in m.of(*DEFINERS) if s.name in DEFINERS], environment)
    for sdk in m.of("Environment.register", "Environment.build", "Environment.build_local"):
        m.mark(sdk, "environments are configs (conf/environment/); built with uv when a run needs one "
                    "(`trainkit environments build`)")


def environment(m: Migration, sdk: Sdk) -> str:
    """The environment option (a written config or a preset) of an Environment object."""
    known = m.recall("environment", sdk)
    if known:
        return known
    method = sdk.name.split(".")[1] if "." in sdk.name else "Environment"
    name = sdk.arg("name", 1 if method == "get" else 0)
    name = name if isinstance(name, str) else sdk.var or "environment"
    if method == "get":
        choice = curated(name)
        for n in choice.notes:
            m.project.note(f"{sdk.where}: {n}")
        m.made.setdefault("keras_pinned", {})[choice.preset()] = choice.tensorflow is not None
        m.made.setdefault("tf1", {})[id(sdk)] = choice.tf1
        m.mark(sdk, f"environment={choice.preset()} (curated {name}: "
                    + ("TensorFlow 1.x, scripts need a port" if choice.tf1 else
                       f"Keras {choice.keras}, {choice.device}") + ")")
        return m.remember("environment", sdk, choice.preset())
    choice = EnvChoice()
    sources = requirements(m, sdk, method, choice)
    docker = sdk.attrs.get("docker.base_image")
    if isinstance(docker, str) and ("gpu" in docker.lower() or "cuda" in docker.lower()):
        choice.device = "gpu"
    option = m.unique("environment", name, repr((choice.pip, choice.keras, choice.device)), sdk.where)
    m.made.setdefault("keras_pinned", {})[option] = choice.tensorflow is not None
    m.made.setdefault("tf1", {})[id(sdk)] = choice.tf1
    write(m, sdk, option, choice, sources, docker)
    return m.remember("environment", sdk, option)


def requirements(m: Migration, sdk: Sdk, method: str, choice: EnvChoice) -> list[str]:
    """Fill `choice` from the environment's file, its conda dependencies and every add_* call on
    them (in that order); returns where they came from."""
    sources = from_file(m, sdk, method, choice)
    deps = sdk.attrs.get("python.conda_dependencies")
    if isinstance(deps, Sdk):
        conda_dependencies(m, deps, choice, sdk)
        return sources + [f"CondaDependencies at {deps.where}"]
    if [c for c in m.of(*CONDA_CALLS) if c.owner() is sdk]:
        conda_dependencies(m, None, choice, sdk)
        return sources + ["python.conda_dependencies"]
    return sources


def from_file(m: Migration, sdk: Sdk, method: str, choice: EnvChoice) -> list[str]:
    if method in ("from_conda_specification", "from_pip_requirements"):
        path = sdk.arg("file_path", 1)
        if not isinstance(path, str):
            m.unmapped(sdk, f"{sdk.name}: its file_path is not a literal string: list the packages in pip yourself")
            return []
        text = m.files.read_text(m.files.absolute(path, sdk.home), sdk.where)
        if text is None:
            m.project.note(f"{sdk.where}: {path}: not found (or outside the folders given): list its packages in pip")
            return [path]
        if method == "from_pip_requirements":
            map_pip([ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith(("#", "-"))],
                    choice, path)
        else:
            conda_file(text, choice, path)
        return [path]
    return []


def conda_file(text: str, choice: EnvChoice, source: str) -> None:
    import yaml

    try:
        spec = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        choice.notes.append(f"{source}: not a readable conda YAML ({str(e).splitlines()[0]}): list its packages in pip")
        return
    deps = spec.get("dependencies") if isinstance(spec, dict) else None
    for dep in deps if isinstance(deps, list) else []:
        if isinstance(dep, dict):
            map_pip([str(p) for p in dep.get("pip") or [] if not str(p).startswith("-")], choice, source)
        else:
            map_conda([str(dep)], choice, source)


def conda_dependencies(m: Migration, deps: Sdk | None, choice: EnvChoice, env: Sdk) -> None:
    """CondaDependencies.create(...) and every add_* call on it (or on the environment's own)."""
    if deps is not None:
        path = deps.arg("conda_dependencies_file_path", 0)
        if isinstance(path, str):
            text = m.files.read_text(m.files.absolute(path, deps.home), deps.where)
            if text is not None:
                conda_file(text, choice, path)
        map_pip(strings(deps.arg("pip_packages")), choice, f"CondaDependencies at {deps.where}")
        map_conda(strings(deps.arg("conda_packages")), choice, f"CondaDependencies at {deps.where}")
        m.mark(deps, f"environment.pip of conf/environment/ ({env.var or 'the environment'})")
    for call in [c for c in m.of(*CONDA_CALLS) if c.owner() is env or (deps is not None and c.owner() is deps)]:
        add(m, call, choice)


def add(m: Migration, call: Sdk, choice: EnvChoice) -> None:
    value = call.arg("pip_package", 0) if call.method.startswith("add_pip") else call.arg("conda_package", 0)
    if call.method in ("add_pip_package", "add_conda_package") and isinstance(value, str):
        before, notes = list(choice.pip), len(choice.notes)
        (map_pip if call.method == "add_pip_package" else map_conda)([value], choice, f"{call.method} at {call.where}")
        added = [p for p in choice.pip if p not in before]
        m.mark(call, f"environment.pip: {', '.join(added)}" if added else
               (choice.notes[-1].split(": ", 2)[-1] if len(choice.notes) > notes else "already in the environment"))
    elif call.method.startswith("add_tensorflow"):
        gpu = str(call.arg("core_type", 0, "cpu")).lower() == "gpu"
        version = call.arg("version", 1)
        map_pip([f"tensorflow{'-gpu' if gpu else ''}" + (f"=={version}" if isinstance(version, str) else "")],
                choice, f"{call.method} at {call.where}")
        m.mark(call, "trainkit's base environment (TensorFlow 2.21)")
    elif call.method in ("save_to_file", "save", "serialize_to_string"):
        m.mark(call, "the environment is the config file conf/environment/NAME.yaml")
    elif call.method in ("add_channel", "set_pip_option", "set_python_version"):
        m.mark(call, "not needed: packages come from PyPI through uv; Python is 3.11")
    else:
        m.unmapped(call, f"{call.method}: the argument is not a literal string")


def write(m: Migration, sdk: Sdk, option: str, choice: EnvChoice, sources: list[str], docker) -> None:
    rel = f"conf/environment/{option}.yaml"
    data = {"defaults": ["base_environment", "_self_"], "name": option, "python": "3.11", "tensorflow": "2.21",
            "keras": choice.keras, "device": choice.device, "pip": choice.pip}
    env_vars = sdk.attrs.get("environment_variables")
    if isinstance(env_vars, dict):
        data["env_vars"] = {str(k): literal_text(v) for k, v in env_vars.items() if literal_text(v) is not None}
    header = [f"Migrated from {sdk.where} ({sdk.name})" + (f" and {', '.join(sources)}" if sources else "") + "."]
    if isinstance(docker, str):
        header.append(f"Docker base image {docker}: not used (trainkit builds a virtual environment with uv)")
        m.project.note(f"{rel}: Docker base image {docker} not used (environment.image is reserved in trainkit)")
    m.project.yaml(rel, header + choice.notes, data)
    for n in choice.notes:
        m.project.note(f"{rel}: {n}")
    m.mark(sdk, f"{rel}: pip {choice.pip or '[]'}, Keras {choice.keras}, {choice.device}"
                + (f" ({len(choice.notes)} change(s) noted)" if choice.notes else ""))


def strings(value) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def environment_of(m: Migration, value) -> str | None:
    """The environment option of a value passed as `environment=` (an Environment object, or what
    its `.register(ws)` returned)."""
    if isinstance(value, Sdk) and value.method == "register":
        value = value.root()
    if isinstance(value, Sdk) and value.name in DEFINERS:
        return environment(m, value)
    return None
