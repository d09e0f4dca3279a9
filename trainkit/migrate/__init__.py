"""`trainkit migrate SRC... --to DIR [--check] [--fix]`: an Azure ML SDK v1 project (notebooks,
scripts) as a trainkit project. Static analysis only: source.py reads, analyze.py follows the code
(with expressions.py and effects.py; never importing or running it), emit/ writes configs and
commands, compat/fix review the scripts, write.py creates files inside DIR only, report.py writes
MIGRATION.md (every SDK call with what it became or why not, and how to run the result: a local
smoke run first)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UsageError

__all__ = ["Result", "migrate", "check_project"]


@dataclass
class Result:
    """What a migration found, wrote and checked."""

    sources: list = field(default_factory=list)
    dest: Path = Path(".")
    units: int = 0
    calls: list = field(default_factory=list)
    not_understood: list[str] = field(default_factory=list)
    experiments: list[str] = field(default_factory=list)
    commands: list = field(default_factory=list)
    findings: list = field(default_factory=list)
    fixed: list = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)     # unreadable files, missing scripts, --check failures
    written: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    report: Path | None = None

    @property
    def check_failed(self) -> bool:
        return any(p.startswith("conf/experiment/") and ": check: " in p for p in self.problems)


IGNORE = "# kept out of the run's source snapshot\n.ipynb_checkpoints/\n__pycache__/\n*.pyc\nmodel/\ndata/\noutputs/\nlogs/\n"


def migrate(sources: list[Path], dest: Path, compute: str | None = None, mirrors: dict[str, str] | None = None,
            check: bool = False, fix: bool = False) -> Result:
    """Read `sources`, write the trainkit project into `dest` (never over an existing file, never
    outside it) and its MIGRATION.md; with `check`, compose and validate every generated experiment
    in a child process that imports nothing from the project; with `fix`, apply the mechanical
    rewrites to the project's copies of the scripts."""
    from ..compute import DEFAULT_CLUSTER
    from .analyze import analyze
    from .emit import Migration, Options
    from .report import report
    from .source import read
    from .write import replace_report, write

    dest = Path(dest).expanduser().absolute()
    src = read([Path(s) for s in sources])
    analysis = analyze(src)
    if not analysis.read:
        raise UsageError("trainkit migrate: nothing could be read: "
                         + ("; ".join(src.unreadable + analysis.problems) or "no .ipynb or .py files"))
    project = Migration(analysis, Options(compute or DEFAULT_CLUSTER, dict(mirrors or {}), fix)).run()
    if not (dest / ".trainkitignore").exists():
        project.files.setdefault(".trainkitignore", IGNORE)
    out = write(project, dest)
    result = Result(sources=list(sources), dest=dest, units=analysis.read, calls=analysis.calls,
                    not_understood=analysis.not_understood, experiments=project.experiments,
                    commands=project.commands, findings=project.findings, fixed=project.fixed, notes=project.notes,
                    problems=src.unreadable + analysis.problems + project.problems, written=out.written,
                    kept=out.kept, refused=analysis.files.refused + out.refused)
    if check:
        result.problems += check_project(dest, project.experiments)
    name = "MIGRATION.md" if not (dest / "MIGRATION.md").exists() or (dest / "MIGRATION.md") in out.written \
        else "MIGRATION.new.md"
    result.report = replace_report(dest, name, report(result))
    return result


def check_project(dest: Path, experiments: list[str]) -> list[str]:
    """Compose and validate each generated experiment as `trainkit train` would (no data fetched,
    nothing run), in a child process: isolated (-I), the project not on its path, targets read from
    source only. Every problem is named by experiment file and key."""
    import json
    import os
    import subprocess
    import sys

    if not experiments:
        return []
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSTARTUP")}
    env["TRAINKIT_TARGETS_SOURCE_ONLY"] = "1"
    proc = subprocess.run([sys.executable, "-I", "-m", "trainkit.migrate.check", str(dest), *experiments],
                          capture_output=True, text=True, env=env, cwd=str(dest.parent), timeout=600)
    try:
        found = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return [f"--check: the check process failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}"]
    return [f"conf/experiment/{name}.yaml: check: {p}" for name, problems in found.items() for p in problems]
