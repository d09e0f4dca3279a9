"""`trainkit migrate SRC... --to DIR [--check]`: an Azure ML SDK v1 project (notebooks, scripts)
as a trainkit project. Static analysis only (source.py reads, analyze.py follows the code,
emit.py writes configs); MIGRATION.md lists every SDK call with what it became or why not."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UsageError


@dataclass
class Result:
    """What a migration found, wrote and checked."""

    calls: list = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)
    experiments: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)      # unreadable files, --check failures
    notes: list[str] = field(default_factory=list)
    report: Path | None = None


def migrate(sources: list[Path], dest: Path, compute: str | None = None, mirrors: dict[str, str] | None = None,
            check: bool = False) -> Result:
    """Read `sources`, write the trainkit project into `dest` (never over an existing file) and its
    MIGRATION.md; with `check`, compose and validate every generated experiment."""
    from ..compute import DEFAULT_CLUSTER
    from .analyze import analyze
    from .emit import Migration, write
    from .source import read

    src = read(sources)
    readable = [u for u in src.units if u.tree is not None]
    problems = list(src.unreadable) + [f"{u.where(0).rsplit(', line', 1)[0]}: {u.error}" for u in src.units if u.error]
    if not readable:
        raise UsageError("trainkit migrate: nothing could be read: " + ("; ".join(problems) or "no .ipynb or .py files"))
    calls = analyze(src)
    project = Migration(calls, src.scripts, compute or DEFAULT_CLUSTER, mirrors).run()
    if not (dest / "conf").exists() or not (dest / ".trainkitignore").exists():
        project.files.setdefault(".trainkitignore", "# kept out of the run's source snapshot\n.ipynb_checkpoints/\n"
                                                    "__pycache__/\n*.pyc\nmodel/\ndata/\noutputs/\nlogs/\n")
    result = Result(calls=calls, experiments=project.experiments, problems=problems, notes=project.notes)
    result.written, result.kept = write(project, dest)
    if check:
        result.problems += check_project(dest, project.experiments)
    result.report = dest / "MIGRATION.md"
    report_text = report(result, sources, dest)
    if result.report.exists():
        result.report = dest / "MIGRATION.new.md"
    result.report.write_text(report_text)
    return result


def check_project(dest: Path, experiments: list[str]) -> list[str]:
    """Compose and validate each generated experiment as `trainkit train` would (no data fetched,
    nothing run); every problem named by experiment file and key."""
    import os

    from ..config.compose import compose_job, in_project
    from ..errors import ConfigError

    problems = []
    before = Path.cwd()
    os.chdir(dest)   # relative entry.source_dir resolves from the project, as when you run it there
    try:
        for name in experiments:
            try:
                with in_project(dest):
                    compose_job([f"+experiment={name}"])
            except ConfigError as e:
                problems += [f"conf/experiment/{name}.yaml: {p}" for p in e.problems]
    finally:
        os.chdir(before)
    return problems


def report(result: Result, sources: list[Path], dest: Path) -> str:
    """MIGRATION.md: every SDK call with its place and what it became, what could not be mapped, the
    notes, and how to run the result."""
    rows = "\n".join(f"| {c.where} | `{c.text.replace('|', chr(92) + '|')}` | "
                     f"{(c.became or ('**not mapped**: ' + c.unmapped)).replace('|', chr(92) + '|')} |"
                     for c in result.calls)
    unmapped = [c for c in result.calls if c.unmapped and not c.became]
    lines = ["# Migration from Azure ML SDK v1\n",
             f"`trainkit migrate {' '.join(str(s) for s in sources)} --to {dest}` found {len(result.calls)} SDK "
             f"call(s); {len(unmapped)} could not be mapped. Nothing else was read from the code: it was parsed, "
             "never run.\n",
             "## How to run it\n",
             *(f"- `trainkit train +experiment={e}` (from this directory)" for e in result.experiments),
             "- `trainkit migrate ... --check` composes and validates every experiment without running it.\n",
             "## Every SDK call\n", "| where | call | became |", "|---|---|---|", rows, "",
             "## Not mapped\n", *(f"- {c.where}: `{c.text}`: {c.unmapped}" for c in unmapped), "" if unmapped else "(none)\n",
             "## Notes\n", *(f"- {n}" for n in result.notes), "" if result.notes else "(none)\n"]
    if result.problems:
        lines += ["## Problems\n", *(f"- {p}" for p in result.problems), ""]
    if result.kept:
        lines += ["## Files kept as they were (already in the project)\n", *(f"- {p}" for p in result.kept), ""]
    return "\n".join(lines) + "\n"
