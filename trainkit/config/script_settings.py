"""entry=script: trainer keys that would be silently ignored.

A user's script reads its own command-line arguments, never `trainer.*` (trainkit's training loop
does not run). A trainer key set for such a run means nothing unless something outside `trainer`
passes it on (`--epochs=${trainer.epochs}` in entry.arguments, or a param interpolating it). So:
- set on the command line, by the experiment or by a trainer option: a problem (exit 2) saying
  what to set instead (the `params.NAME` the script's argument is mapped to, or entry.arguments);
- set by a preset that also serves other runs (`+debug=smoke`, `+hparams_search=...`): a warning,
  since the preset's other settings still apply (its dataset limits shorten trainkit's check of the
  saved model) and refusing would break combining them with scripts.
No Hydra, no I/O beyond reading a preset's YAML: the composed config comes in unresolved (for its
interpolations) and resolved, with the command line's overrides."""
from __future__ import annotations

import re
from dataclasses import asdict
from typing import Any

PRESET_GROUPS = ("debug", "hparams_search")   # config groups whose options set trainer keys for every kind of run
ALIASES = {   # a trainer key -> the names a script's own argument for it usually has
    "epochs": ("epochs", "num_epochs", "n_epochs", "max_epochs", "epoch", "total_epochs"),
    "batch_size": ("batch_size", "batchsize", "batch", "bs", "mini_batch_size"),
    "learning_rate": ("learning_rate", "lr", "learningrate"),
    "seed": ("seed", "random_seed"),
}
REFERENCE = re.compile(r"\$\{([^{}]*)\}")
TRAINER_KEY = re.compile(r"(?<![\w.])trainer\.([\w.]+)")


def flat(node: Any, prefix: str) -> dict[str, Any]:
    """A nested dict as dotted keys (lists and other values are leaves)."""
    if not isinstance(node, dict) or not node:
        return {prefix: node}
    out: dict[str, Any] = {}
    for k, v in node.items():
        out.update(flat(v, f"{prefix}.{k}"))
    return out


def trainer_defaults() -> dict[str, Any]:
    from .schema import TrainerConfig

    return flat(asdict(TrainerConfig()), "trainer")


def referenced(unresolved: dict) -> set[str]:
    """The trainer keys that something outside `trainer` interpolates (they reach the script)."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
        elif isinstance(node, str):
            for inner in REFERENCE.findall(node):
                found.update(f"trainer.{k}" for k in TRAINER_KEY.findall(inner))

    walk({k: v for k, v in unresolved.items() if k not in ("trainer", "hydra")})
    return found


def _override_key(item: str) -> tuple[str, str]:
    key, _, value = item.lstrip("+~").partition("=")
    return key.strip(), value.strip()


def command_line_keys(overrides: list[str]) -> set[str]:
    """Trainer keys the command line sets (`trainer.epochs=5`, `+trainer.loss_args.delta=2`)."""
    return {k for k, _ in map(_override_key, overrides) if k.startswith("trainer.")}


def preset_keys(overrides: list[str] | None, data: dict) -> dict[str, set[str]]:
    """{'+debug=smoke': the trainer keys its YAML sets, ...} for the presets chosen; without the
    overrides (a config composed elsewhere), the smoke preset is known by its run tag."""
    if overrides is None:
        chosen = [("debug", "smoke")] if (data.get("run", {}).get("tags") or {}).get("debug") == "smoke" else []
    else:
        chosen = [(k, v) for k, v in map(_override_key, overrides) if k in PRESET_GROUPS and v]
    return {f"+{group}={option}": set(flat(_preset_trainer(group, option), "trainer")) - {"trainer"}
            for group, option in chosen}


def _preset_trainer(group: str, option: str) -> dict:
    """The `trainer:` section of a global-package preset option (trainkit's or the project's)."""
    import yaml

    from ..launch.project import builtin_conf_dir, overlay_dir

    for d in (overlay_dir(), builtin_conf_dir()):
        path = d / group / f"{option}.yaml" if d is not None else None
        if path is not None and path.is_file():
            text = path.read_text()
            body = yaml.safe_load(text) or {}
            return body.get("trainer") or {} if "@package _global_" in text else {}
    return {}


def script_params(unresolved_args: list) -> dict[str, str | None]:
    """The params entry.arguments pass to the script: params.NAME -> its flag ('--epochs' for
    `--epochs ${params.epochs}` or `--epochs=${params.epochs}`; None when passed some other way)."""
    out: dict[str, str | None] = {}
    args = [str(a) for a in unresolved_args]
    for i, a in enumerate(args):
        for name in re.findall(r"\$\{params\.(\w+)\}", a):
            if a.startswith("-") and "=" in a:
                out[name] = a.split("=", 1)[0]
            elif i > 0 and args[i - 1].startswith("-") and "=" not in args[i - 1]:
                out[name] = args[i - 1]
            else:
                out.setdefault(name, None)
    return out


def _norm(name: str) -> str:
    return name.lstrip("-").replace("-", "_").lower()


def instead(key: str, value: Any, mapped: dict[str, str | None], args: list) -> str:
    """What to set instead of trainer key `key` on a script run (`mapped`: script_params)."""
    leaf = key.split(".")[-1]
    shown = value if not isinstance(value, str) else repr(value)
    if leaf not in ALIASES:
        return ("your script gets only entry.arguments: pass what it should get there (a value to change per "
                "run as ${params.NAME}, then set params.NAME on the command line)")
    names = ALIASES[leaf]
    param = next((p for p in mapped if _norm(p) in names), None)
    if param is not None:
        via = f" (entry.arguments pass it as {mapped[param]} ${{params.{param}}})" if mapped[param] else ""
        return f"set params.{param}={shown} instead{via}"
    literal = next((str(a) for a in args if str(a).startswith("-") and _norm(str(a).split("=")[0]) in names), None)
    flag = literal.split("=")[0] if literal else "--" + leaf.replace("_", "-")
    where = f"change {flag} in entry.arguments, or " if literal else "pass it to your script: "
    return f"{where}add {flag} ${{params.{leaf}}} to entry.arguments and set params.{leaf}={shown}"


def params_note(params: dict) -> str:
    return f"this config's params: {', '.join(sorted(params))}" if params else "this config has no params"


def check_script_settings(unresolved: dict, data: dict, overrides: list[str] | None) -> tuple[list[str], list[str]]:
    """(problems, warnings) for the trainer keys of an entry=script config that its script would
    never see; ([], []) for entry=trainer."""
    if data["entry"]["name"] != "script":
        return [], []
    values, defaults = flat(data["trainer"], "trainer"), trainer_defaults()
    explicit = command_line_keys(overrides or [])
    changed = {k for k, v in values.items() if k not in defaults or defaults[k] != v}
    used = referenced(unresolved)
    ignored = sorted(k for k in changed | {k for k in values if _named(k, explicit)} if not _reaches(k, used))
    presets = preset_keys(overrides, data)
    mapped = script_params((unresolved.get("entry") or {}).get("arguments") or [])
    args, note = data["entry"]["arguments"], params_note(data.get("params") or {})
    problems, warned = [], {}
    for key in ignored:
        label = next((p for p, keys in reversed(presets.items()) if key in keys and not _named(key, explicit)), None)
        if label is not None:
            warned.setdefault(label, []).append(key)
            continue
        origin = "on the command line" if _named(key, explicit) else _origin(overrides)
        problems.append(f"{key}: expected no trainer setting with entry=script (your script reads only its own "
                        f"arguments; trainkit's training loop does not run), got {values[key]!r} {origin}; "
                        f"{instead(key, values[key], mapped, args)}; {note}")
    warnings = [f"{label} sets {', '.join(f'{k}={values[k]}' for k in keys)} for trainkit's own training loop; "
                f"with entry=script they do not reach your script. For {keys[0]}: "
                f"{instead(keys[0], values[keys[0]], mapped, args)}; {note}" for label, keys in warned.items()]
    return problems, warnings


def _reaches(key: str, used: set[str]) -> bool:
    """Whether an interpolation outside `trainer` passes `key` on (itself, a parent or a child of it)."""
    return any(key == u or key.startswith(u + ".") or u.startswith(key + ".") for u in used)


def _named(key: str, explicit: set[str]) -> bool:
    """Whether the command line set `key` (or a dict holding it)."""
    return key in explicit or any(key.startswith(e + ".") for e in explicit)


def _origin(overrides: list[str] | None) -> str:
    experiment = next((v for k, v in map(_override_key, overrides or []) if k == "experiment"), None)
    return f"from +experiment={experiment}" if experiment else "from the config"
