"""MIGRATION.md: how to run the migrated project (a local smoke run first, then the cluster, the
sweeps, the best trial, serving), what breaks on today's stack, every SDK call with its place and
what it became, what could not be mapped or understood, the notes and the files."""
from __future__ import annotations

import re

from .emit import one_line

SECTIONS = (("data", "Once: fetch, verify and version the data"), ("smoke", "1. On this machine first (a short run)"),
            ("cluster", "2. On the cluster"), ("sweep", "3. The hyperparameter searches"),
            ("best", "4. The best trial (and its model)"), ("serve", "5. Serving"))


def cell(text) -> str:
    return one_line(text, 400).replace("|", "\\|")


def order(where: str) -> tuple:
    m = re.match(r"^(.*?)(?: cell (\d+))?, line (\d+)$", where)
    return (m.group(1), int(m.group(2) or -1), int(m.group(3))) if m else (where, 0, 0)


def how_to_run(result) -> list[str]:
    lines = ["## How to run it\n", f"From `{result.dest}`:\n"]
    for kind, title in SECTIONS:
        commands = [c for c in result.commands if c.kind == kind]
        if commands:
            lines.append(f"**{title}**\n")
            lines += [f"- `{c.text}`" + (f": {one_line(c.why)}" if c.why else "") for c in dict.fromkeys(commands)]
            lines.append("")
    if not result.commands:
        lines.append("(no experiment was found)\n")
    lines.append("`trainkit migrate ... --check` composes and validates every experiment without running anything.\n")
    return lines


def unique_findings(result) -> list:
    return list({(f.path, f.line, f.what): f for f in result.findings}.values())


def compatibility(result) -> list[str]:
    findings = unique_findings(result)
    lines = ["## What breaks on today's stack (TensorFlow 2.21, Keras 3, numpy 2)\n"]
    if result.fixed:
        lines += [f"`--fix` rewrote the project's copies (never your files): {len(result.fixed)} change(s).\n",
                  "| where | was | now |", "|---|---|---|",
                  *(f"| {cell(f'{f.path}:{f.line}')} | {cell(f.what)} | {cell(f.fix)} |" for f in result.fixed), ""]
    if not findings:
        return lines + ["(nothing found)\n"]
    lines += ["| where | kind | what | fix |", "|---|---|---|---|"]
    lines += [f"| {cell(f'{f.path}:{f.line}')} | {cell(f.kind)} | {cell(f.what)} | {cell(f.fix)}"
              + (" (mechanical: `--fix`)" if getattr(f, "mechanical", False) else "") + " |"
              for f in sorted(findings, key=lambda f: (f.path, f.line))]
    return lines + [""]


def calls_table(result) -> list[str]:
    rows = [f"| {cell(c.where)} | `{cell(c.text)}` | {cell(c.became or '**not mapped**: ' + c.unmapped)} |"
            for c in sorted(result.calls, key=lambda c: order(c.where))]
    return ["## Every SDK call\n", "| where | call | became |", "|---|---|---|", *rows, ""]


def listing(title: str, items: list[str], empty: str = "(none)") -> list[str]:
    return [f"## {title}\n", *(f"- {one_line(i, 800)}" for i in items), "" if items else f"{empty}\n"]


def report(result) -> str:
    unmapped = [c for c in result.calls if c.unmapped and not c.became]
    head = ["# Migration from Azure ML SDK v1\n",
            f"`trainkit migrate {' '.join(str(s) for s in result.sources)} --to {result.dest}` read {result.units} "
            f"cell(s) and file(s) and found {len(result.calls)} SDK call(s): {len(result.experiments)} experiment(s), "
            f"{sum(1 for c in result.commands if c.kind == 'sweep')} sweep(s); {len(unmapped)} call(s) not mapped, "
            f"{len(result.not_understood)} construct(s) not understood, {len(unique_findings(result))} compatibility "
            f"finding(s). Nothing was run: the code was parsed, never imported.\n"]
    lines = head + how_to_run(result) + compatibility(result) + calls_table(result)
    lines += listing("Not mapped", [f"{c.where}: `{c.text}`: {c.unmapped}" for c in sorted(unmapped, key=lambda c: order(c.where))])
    lines += listing("Not understood (the rest still migrated)", result.not_understood)
    lines += listing("Notes", result.notes)
    if result.problems:
        lines += listing("Problems", result.problems)
    lines += listing("Files written", [str(p) for p in result.written])
    if result.kept:
        lines += listing("Files kept as they were (already in the project)", [str(p) for p in result.kept])
    if result.refused:
        lines += listing("Refused (outside the folders given, or through a link: never read, copied or written)",
                         result.refused)
    return "\n".join(lines) + "\n"
