"""The reference pages of the docs site, generated from the code so they cannot drift: every config
group and key with its default and the comment beside it in the schema, every command and flag of
the `trainkit` parser, the exit codes, the dashboard's JSON API. `mkdocs build` writes them
(docs/hooks.py); `python -m trainkit.docsgen DIR` writes them anywhere."""
from __future__ import annotations

import dataclasses
import inspect
import re
import sys
from pathlib import Path


def _comments(cls) -> dict[str, str]:
    """field name -> the comment on its line in the source of the class (or the base that says it)."""
    out: dict[str, str] = {}
    for klass in reversed([k for k in cls.__mro__ if dataclasses.is_dataclass(k)]):
        try:
            lines = inspect.getsource(klass).splitlines()
        except (OSError, TypeError):
            continue
        for line in lines:
            m = re.match(r"\s+(\w+):[^#]*#\s?(.*)$", line)
            if m:
                out[m.group(1)] = m.group(2).strip()
    return out


def _default(f: dataclasses.Field):
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:   # type: ignore[misc]
        value = f.default_factory()   # type: ignore[misc]
        return {k: v for k, v in dataclasses.asdict(value).items()} if dataclasses.is_dataclass(value) else value
    return "???"


def _show(value) -> str:
    if value == "???":
        return "*required*"
    if value is None:
        return "`null`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if dataclasses.is_dataclass(value):
        value = dataclasses.asdict(value)
    if isinstance(value, list) and value and dataclasses.is_dataclass(value[0]):
        value = [dataclasses.asdict(v) for v in value]
    return f"`{value!r}`" if not isinstance(value, str) or not value else f"`{value}`"


def schema_rows(cls, prefix: str) -> list[tuple[str, str, str]]:
    """(key, default, meaning) of every field of a schema dataclass, nested dataclasses flattened."""
    import typing

    rows, notes = [], _comments(cls)
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints.get(f.name)
        key = f"{prefix}.{f.name}" if prefix else f.name
        if dataclasses.is_dataclass(tp):
            rows += schema_rows(tp, key)
            continue
        rows.append((key, _show(_default(f)), notes.get(f.name, "")))
    return rows


def config_groups() -> list[tuple[str, str, type]]:
    """(title, key prefix, schema) of every config group option trainkit ships, in reading order."""
    from .compute import BACKENDS, backend_class
    from .config import schema
    from .distributions import DISTRIBUTIONS

    groups = [("dataset", "dataset", schema.DatasetConfig), ("trainer", "trainer", schema.TrainerConfig),
              ("entry=trainer", "entry", schema.EntryConfig), ("entry=script", "entry", schema.ScriptEntryConfig),
              ("environment", "environment", schema.EnvironmentConfig)]
    groups += [(f"compute={name}", "compute", backend_class(name).schema) for name in BACKENDS]
    groups += [(f"distribution={d.name}", "distribution", d.schema) for d in DISTRIBUTIONS.values()]
    groups += [("workspace", "workspace", schema.WorkspaceConfig), ("run", "run", schema.RunConfig),
               ("registry", "registry", schema.RegistryConfig), ("export", "export", schema.ExportConfig)]
    return groups


ALTERNATIVES = ("dataset", "environment")   # groups whose options are different things, not defaults


def _section_overrides(title: str) -> list[str]:
    """What a page section shows: the option it names (`compute=slurm`), the schema every option of a
    group of alternatives inherits (`dataset`), or the default config (`trainer`, `run`)."""
    prefix = title.split("=")[0]
    return [title] if "=" in title else [f"{prefix}=base_{prefix}"] if prefix in ALTERNATIVES else []


def composed_groups(titles: list[str]) -> dict[str, dict]:
    """section title -> its group as Hydra composes the YAML files, interpolations as written; one
    composition takes one section of every group at once (as many as the largest group has options)."""
    from itertools import zip_longest

    from .config.compose import compose_unresolved

    by_group: dict[str, list[str]] = {}
    for title in titles:
        by_group.setdefault(title.split("=")[0], []).append(title)
    out: dict[str, dict] = {}
    for batch in zip_longest(*by_group.values()):
        cfg = compose_unresolved([o for title in batch if title for o in _section_overrides(title)])
        out.update({title: cfg[title.split("=")[0]] for title in batch if title})
    return out


def _at(group: dict, key: str):
    for part in key.split(".")[1:]:
        group = group[part]
    return group


def config_reference() -> str:
    out = ["# Config reference\n",
           "Every key of every config group, with its default and what it is for, read from the typed "
           "schema (`trainkit/config/schema.py`, each compute backend's `trainkit/compute/<name>.py`, "
           "`trainkit/distributions.py`) and the option's YAML file in `conf/` as Hydra composes them: a "
           "default changed in either changes this page. Override any key on the "
           "command line (`trainer.epochs=5`), in an experiment preset or in your project's `conf/`. "
           "`model` has no schema: `_target_` names the builder and its other keys are the builder's arguments "
           "(checked against its signature). `params` holds free values of your own (`${params.NAME}`).\n"]
    groups = config_groups()
    composed = composed_groups([title for title, _, _ in groups])
    for title, prefix, cls in groups:
        doc = (inspect.getdoc(cls) or "").splitlines()
        out.append(f"## `{title}`\n")
        if doc and not doc[0].startswith(cls.__name__ + "("):
            out.append(doc[0] + "\n")
        out.append("| key | default | meaning |\n|---|---|---|")
        group = composed[title]
        out += [f"| `{k}` | {_show(_at(group, k))} | {m.replace('|', '/')} |" for k, _, m in schema_rows(cls, prefix)]
        out.append("")
    return "\n".join(out) + "\n"


def cli_reference() -> str:
    from .cli.main import build_parser

    out = ["# Command reference\n",
           "Every `trainkit` command and flag, read from its argument parser. `trainkit train OVERRIDES...` "
           "(or `python -m trainkit OVERRIDES...`) starts runs; its overrides are the config keys "
           "([config reference](config.md)).\n"]

    def walk(parser, words: list[str]) -> None:
        subs = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
        opts = [a for a in parser._actions if a.__class__.__name__ not in ("_SubParsersAction", "_HelpAction")]
        if words and (opts or not subs):
            out.append(f"## `trainkit {' '.join(words)}`\n")
            if parser.description:
                out.append(parser.description + "\n")
            rows = []
            for a in opts:
                name = ", ".join(a.option_strings) or a.metavar or a.dest
                default = "" if a.default in (None, False, [], "==SUPPRESS==") or a.option_strings == [] else f"`{a.default}`"
                rows.append(f"| `{name}` | {default} | {(a.help or '').replace('|', '/').replace('%(default)s', str(a.default))} |")
            if rows:
                out.append("| argument | default | meaning |\n|---|---|---|")
                out.extend(rows)
            out.append("")
        for sub in subs:
            for choice, child in sub.choices.items():
                helps = {c.dest: c.help for c in sub._choices_actions}
                if helps.get(choice) and not child.description:
                    child.description = helps[choice]
                walk(child, [*words, choice])

    walk(build_parser(), [])
    return "\n".join(out) + "\n"


def exit_codes() -> str:
    from . import errors

    doc = inspect.getdoc(errors).split("\n\n", 1)[1] if "\n\n" in inspect.getdoc(errors) else ""
    rows = [f"| {code} | `{cls.__name__}` | {(inspect.getdoc(cls) or '').splitlines()[0]} |"
            for cls, code in sorted(errors.EXIT_CODES.items(), key=lambda kv: kv[1])]
    return ("# Exit codes\n\nEvery `trainkit` command and `python -m trainkit` exit with one code per kind of "
            f"outcome, from one table (`trainkit.errors.EXIT_CODES`):\n\n```\n{doc.strip()}\n```\n\n"
            "| code | error | when |\n|---|---|---|\n" + "\n".join(rows) + "\n\n"
            "`130`: a cancelled run or job (Ctrl-C, `trainkit jobs cancel`). argparse's own usage errors exit 2.\n")


def http_api() -> str:
    from .ui import app

    doc = inspect.getdoc(app)
    head, _, rest = doc.partition("\n\n")
    return ("# Dashboard JSON API\n\n`trainkit ui` serves everything its pages show as JSON under `/api/` "
            "(the pages' own scripts use it). Read from `trainkit/ui/app.py`:\n\n" + head + "\n\n```\n"
            + rest.split("\n\nNo route")[0] + "\n```\n\n" + "No route" + rest.split("\n\nNo route")[1] + "\n")


def migrate_rules() -> str:
    from .migrate.compat import rules_markdown

    return ("# Compatibility rules of `trainkit migrate`\n\nWhat `trainkit migrate` reports in a project's scripts "
            "because it breaks on today's stack (TensorFlow 2.21, Keras 3 or the Keras 2 environment, numpy 2), with "
            "the fix; `--fix` applies the mechanical ones to the project's copies (never to your files). Read from "
            "`trainkit/migrate/compat_rules.py`:\n\n" + rules_markdown() + "\n")


PAGES = {"config.md": config_reference, "cli.md": cli_reference, "exit-codes.md": exit_codes,
         "http-api.md": http_api, "migrate-rules.md": migrate_rules}


def write(dest: Path) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for name, make in PAGES.items():
        path = dest / name
        text = make()
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        written.append(path)
    return written


if __name__ == "__main__":
    for p in write(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/reference")):
        print(p)
