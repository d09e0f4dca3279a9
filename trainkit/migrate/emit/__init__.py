"""From the SDK calls found to a trainkit project: each object the code built becomes a config file
(dataset, environment, compute, experiment, hparams_search), each call is marked with what it
became (or why it could not be mapped), files the runs need are copied beside the configs, and the
commands to run it are collected for the report.

One module per construct family (datasets, environments, computes, experiments, sweeps, deploy,
calls); each has an `emit(m)` step run in that order over the shared `Migration` context."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any

from ..analyze import Analysis, Call
from ..files import Made
from ..values import Sdk

FAMILIES = ("datasets", "environments", "computes", "experiments", "sweeps", "deploy", "calls")


class Interp(str):
    """A value written on purpose as an OmegaConf interpolation (`${dataset.path}`); every other
    string from the user's code is escaped so that `${...}` in it stays text."""


def slug(text: Any, default: str = "migrated") -> str:
    """A config option name: letters, digits, '.', '_' and '-'."""
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", str(text)).strip("-._")
    return s[:80] or default


def one_line(text: Any, limit: int = 300) -> str:
    """Text safe for a one-line YAML comment or a Markdown table cell: no line breaks or control
    characters of any kind (a newline in a notebook string must never become live YAML)."""
    s = "".join(" " if unicodedata.category(c)[0] in "CZ" and c != " " else c for c in str(text))
    s = re.sub(r"\s+", " ", s).strip()
    return s if len(s) <= limit else s[:limit - 3] + "..."


def escaped(value: Any) -> Any:
    """Data with `${` in the user's strings escaped (OmegaConf would resolve it)."""
    if isinstance(value, Interp):
        return str(value)
    if isinstance(value, str):
        return value.replace("${", "\\${")
    if isinstance(value, dict):
        return {escaped(k): escaped(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [escaped(v) for v in value]
    return value


@dataclass(frozen=True)
class Command:
    """A command for "How to run it": `kind` is smoke | cluster | sweep | best | serve | data."""

    kind: str
    text: str
    why: str = ""


@dataclass
class Project:
    """The configs and files a migration writes (path relative to DIR -> text, or a file to copy)."""

    files: dict[str, str] = field(default_factory=dict)
    copies: dict[str, Made] = field(default_factory=dict)
    experiments: list[str] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    findings: list = field(default_factory=list)           # compatibility findings of the project's scripts
    fixed: list = field(default_factory=list)              # ... and the --fix rewrites applied to its copies

    def yaml(self, rel: str, header: list[str], data: dict, package_global: bool = False) -> None:
        import yaml

        lines = (["@package _global_"] if package_global else []) + [one_line(h) for h in header]
        self.files[rel] = "".join(f"# {h}\n" for h in lines) + yaml.safe_dump(
            escaped(data), sort_keys=False, width=110, allow_unicode=True)

    def note(self, text: str) -> None:
        self.notes.append(one_line(text, 600))


@dataclass
class Options:
    compute: str = ""                                       # what AmlCompute clusters become ("": compute.DEFAULT_CLUSTER)
    mirrors: dict[str, str] = field(default_factory=dict)   # URL prefix -> mirror, tried first
    fix: bool = False                                       # apply the mechanical rewrites to the project's copies


class Migration:
    """The shared context of the emit steps: the calls, what each object became, the project."""

    def __init__(self, analysis: Analysis, options: Options):
        self.analysis, self.opts = analysis, options
        self.calls: list[Call] = analysis.calls
        self.files = analysis.files
        self.project = Project()
        self.by_sdk = {id(c.sdk): c for c in self.calls}
        self.names: dict[str, dict[str, str]] = {}     # kind -> {option name -> signature} (collisions)
        self.made: dict[str, dict[int, Any]] = {}       # kind -> {id(sdk) -> what it became}

    def run(self) -> Project:
        for family in FAMILIES:
            import_module(f"{__name__}.{family}").emit(self)
        import_module(f"{__name__}.experiments").write_all(self)
        return self.project

    def each(self, sdks: list[Sdk], step) -> None:
        """`step(self, sdk)` for each; whatever goes wrong with one is a "not understood" row, never a crash."""
        for sdk in sdks:
            try:
                step(self, sdk)
            except Exception as e:   # noqa: BLE001 - one construct never stops the migration
                self.analysis.not_understood.append(one_line(f"{sdk.where}: {sdk.name}: not migrated: "
                                                             f"{type(e).__name__}: {e}", 400))

    # ------------------------------------------------------------------ bookkeeping
    def mark(self, sdk: Sdk | None, became: str) -> None:
        call = self.by_sdk.get(id(sdk)) if sdk is not None else None
        if call is not None and not call.became:
            call.became = one_line(became, 400)

    def unmapped(self, sdk: Sdk | None, why: str) -> None:
        call = self.by_sdk.get(id(sdk)) if sdk is not None else None
        if call is not None:
            call.unmapped = one_line(why, 400)

    def of(self, *names: str) -> list[Sdk]:
        """The SDK calls with one of these names (or ending in `.NAME`), in the order found."""
        return [c.sdk for c in self.calls if c.sdk.name in names or any(c.sdk.name.endswith("." + n) for n in names)]

    def remember(self, kind: str, sdk: Sdk, value: Any) -> Any:
        self.made.setdefault(kind, {})[id(sdk)] = value
        return value

    def recall(self, kind: str, sdk: Any) -> Any:
        return self.made.get(kind, {}).get(id(sdk)) if isinstance(sdk, Sdk) else None

    def unique(self, kind: str, name: str, signature: str, where: str) -> str:
        """`name` for a new `kind` option, or `name-2`, ... when another one of that name differs
        (two notebooks naming different things the same: both kept, and reported)."""
        taken = self.names.setdefault(kind, {})
        base, n = slug(name), 1
        candidate = base
        while candidate in taken and taken[candidate] != signature:
            n += 1
            candidate = f"{base}-{n}"
        if candidate != base and base in taken:
            self.project.note(f"{where}: another {kind} is also named {base!r} with a different definition: "
                              f"this one is {candidate!r}")
        taken[candidate] = signature
        return candidate

__all__ = ['Analysis', 'Call', 'Command', 'FAMILIES', 'Interp', 'Made', 'Migration', 'Options', 'Project', 'Sdk', 'escaped', 'one_line', 'slug']
