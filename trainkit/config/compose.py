"""Composing configs without the command line (the Python API, `trainkit datasets register`,
`trainkit migrate --check`): Hydra's compose API on trainkit's config tree with a project's own
configs overlaid, exactly as `python -m trainkit` composes it. Hydra stays in this package."""
from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Callable, Iterator

from ..errors import ConfigError


@contextlib.contextmanager
def in_project(project: str | Path | None, importable: bool = True) -> Iterator[Path]:
    """`project` (a directory with conf/, or any directory) as the project for the duration: its
    configs overlay trainkit's and (with `importable`) its modules import (what $TRAINKIT_PROJECT or
    the working directory decides on the command line)."""
    from ..launch.project import PROJECT_ENV, project_root

    before = os.environ.get(PROJECT_ENV)
    root = Path(project).expanduser().resolve() if project is not None else project_root()
    if project is not None:
        if not root.is_dir():
            raise ConfigError([f"project: expected a directory, got {str(project)!r}"])
        os.environ[PROJECT_ENV] = str(root)
    added = importable and str(root) not in sys.path
    if added:
        sys.path.insert(0, str(root))
    try:
        yield root
    finally:
        if added and str(root) in sys.path:
            sys.path.remove(str(root))
        if project is not None:
            if before is None:
                os.environ.pop(PROJECT_ENV, None)
            else:
                os.environ[PROJECT_ENV] = before


def option_lister(overrides: list[str] = (), config_dir: str | None = None,
                  config_name: str = "config") -> Callable[[str], list[str] | None]:
    """A function giving the options of a config group as Hydra's own config repository finds them:
    trainkit's configs, the project's, SearchPathPlugin entries, `hydra.searchpath` (in `overrides`
    or the primary config) and `--config-dir`; None when no source has that group."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra._internal.utils import create_config_search_path
    from hydra.core.config_search_path import SearchPathQuery
    from hydra.core.object_type import ObjectType

    from ..launch.project import BUILTIN_CONF
    from .store import register_configs

    register_configs()                         # trainkit's own plugins, also where Hydra's scan misses them
    search_path = create_config_search_path(BUILTIN_CONF)
    if config_dir is not None:                 # where and how Hydra's main adds --config-dir
        search_path.prepend("command-line", f"file://{os.path.abspath(config_dir)}", SearchPathQuery(provider="schema"))
    loader = ConfigLoaderImpl(config_search_path=search_path)

    def options(group: str) -> list[str] | None:
        found = loader.get_group_options(group, ObjectType.CONFIG, config_name, list(overrides))
        return sorted({o for o in found if not o.startswith(("_", "base_"))}) or None

    return options


def _command_line(args: list[str]):
    """Hydra's own reading of the command line (its flags and the overrides), or None when Hydra will
    refuse it (it says why itself)."""
    import io

    from hydra._internal.utils import get_args_parser

    try:
        with contextlib.redirect_stderr(io.StringIO()):
            return get_args_parser().parse_args(args)
    except SystemExit:
        return None


def check_choices(args: list[str]) -> None:
    """A group override naming an option that does not exist (`distribution=nope`), as a ConfigError
    listing the options, before Hydra composes anything. Anything else is left to Hydra, and so is a
    command line with --config-path (another primary config) or an additional config directory
    that does not exist."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    line = _command_line(args)
    if line is None or line.config_path is not None or (line.config_dir and not os.path.isdir(line.config_dir)):
        return
    parser, problems, options_of = OverridesParser.create(), [], None
    for arg in line.overrides:
        try:
            [o] = parser.parse_overrides([arg])
        except HydraException:
            continue                                   # Hydra reports its own syntax errors
        group = o.key_or_group
        if group.split(".")[0] == "hydra" or o.is_delete():
            continue
        if "." in group and not o.is_add() and not o.is_force_add():
            problems += unknown_key(group)
            continue
        if "." in group or "/" in group:
            continue
        try:
            options_of = options_of or option_lister(line.overrides, line.config_dir, line.config_name or "config")
            options = options_of(group)
        except HydraException:
            return                                     # e.g. a bad hydra.searchpath: Hydra says so
        if options is None:
            continue
        values = list(o.sweep_string_iterator()) if o.is_sweep_override() else [o.get_value_element_as_str()]
        problems += [f"{group}={v}: expected an option of config group '{group}' ({', '.join(options)}), got {v!r}"
                     + did_you_mean(v, options, f"{group}=") for v in values if v not in options]
    if problems:
        raise ConfigError(problems)


def did_you_mean(word: str, known, prefix: str = "") -> str:
    """' (did you mean PREFIXclosest?)', or '' when nothing is close."""
    import difflib

    close = difflib.get_close_matches(str(word), list(known), n=1)
    return f" (did you mean {prefix}{close[0]}?)" if close else ""


def unknown_key(key: str) -> list[str]:
    """`trainer.epochz=3`: a problem naming the closest key when `key` is not in the schema of a
    group whose schema is fixed (trainer, dataset, environment, entry, run, registry, export,
    workspace; compute and distribution depend on the option chosen and are left to Hydra)."""
    import dataclasses
    import typing

    from .schema import GROUP_SCHEMAS, ExportConfig, RegistryConfig, RunConfig, ScriptEntryConfig, WorkspaceConfig

    schemas = {**GROUP_SCHEMAS, "entry": ScriptEntryConfig, "run": RunConfig, "registry": RegistryConfig,
               "export": ExportConfig, "workspace": WorkspaceConfig}
    head, *path = key.split(".")
    node, where = schemas.get(head), head
    for part in path:
        if node is None or not dataclasses.is_dataclass(node):
            return []
        hints = typing.get_type_hints(node)
        if part not in hints:
            return [f"{where}.{part}: expected a key of {where} ({', '.join(hints)}), got {part!r}"
                    + did_you_mean(part, hints, f"{where}.")]
        tp = hints[part]
        node = tp if dataclasses.is_dataclass(tp) else next((a for a in typing.get_args(tp)
                                                             if dataclasses.is_dataclass(a)), None)
        if typing.get_origin(tp) is list:
            return []
        where = f"{where}.{part}"
    return []


def overrides_of(overrides) -> list[str]:
    """Command-line overrides from strings (`"trainer.epochs=3"`) and/or dicts (`{"trainer.epochs": 3}`)."""
    out: list[str] = []
    for item in overrides:
        if isinstance(item, dict):
            out += [f"{k}={_value(v)}" for k, v in item.items()]
        elif isinstance(item, str):
            out.append(item)
        else:
            raise ConfigError([f"overrides: expected strings like 'trainer.epochs=3' or a dict, got {item!r}"])
    return out


def _value(v) -> str:
    """A Python value as an override value (lists and dicts in Hydra's grammar)."""
    import json

    if isinstance(v, bool):
        return str(v).lower()
    if v is None:
        return "null"
    if isinstance(v, (list, tuple, dict)):
        return json.dumps(v)
    return str(v)


def compose_job(overrides: list[str]) -> dict:
    """One run's config as `python -m trainkit OVERRIDES` would compose and validate it: a plain
    dict, or ConfigError naming every problem (a bad override included) before anything is written."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from .store import register_configs
    from .validate import validate

    check_choices(list(overrides))
    register_configs()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_module("trainkit.conf", version_base="1.3"):
            cfg = compose("config", overrides=list(overrides))
    except (HydraException, OmegaConfBaseException) as e:
        raise ConfigError([f"overrides {list(overrides)}: {_first_lines(str(e))}"]) from None
    finally:
        GlobalHydra.instance().clear()
    return validate(cfg, list(overrides))


def compose_unresolved(overrides: list[str]) -> dict:
    """The composed config as a plain dict, interpolations as written and nothing validated (the
    config reference shows each group option's defaults from it)."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    from .store import register_configs

    register_configs()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_module("trainkit.conf", version_base="1.3"):
            return OmegaConf.to_container(compose("config", overrides=list(overrides)), resolve=False)
    finally:
        GlobalHydra.instance().clear()


def _first_lines(message: str) -> str:
    """Hydra's error without its details: the first line, and the next when the first only
    introduces it ("ConfigKeyError raised while composing config:" / "Key 'nodes' not in 'SshConfig'")."""
    lines = message.splitlines() or [""]
    return " ".join(lines[:2]) if lines[0].endswith(":") and len(lines) > 1 else lines[0]


def compose_dataset(name: str, overrides: list[str] = ()) -> dict:
    """The dataset group's option `name` (the project's or trainkit's), with `KEY=VALUE` overrides
    of its own keys, validated as part of a whole config."""
    job = compose_job([f"dataset={name}", *(o if o.startswith("dataset.") else f"dataset.{o}" for o in overrides)])
    return job["dataset"]


def compose_group(group: str, option: str) -> dict:
    """One option of a config group (the project's or trainkit's) as a plain dict, without composing
    and validating a whole job (`trainkit models serve --environment NAME`); ConfigError listing the
    options when there is no such option."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from .store import register_configs

    check_choices([f"{group}={option}"])
    register_configs()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_module("trainkit.conf", version_base="1.3"):
            cfg = compose("config", overrides=[f"{group}={option}"])
        return OmegaConf.to_container(cfg[group], resolve=True)
    except (HydraException, OmegaConfBaseException) as e:
        raise ConfigError([f"{group}={option}: {_first_lines(str(e))}"]) from None
    finally:
        GlobalHydra.instance().clear()
