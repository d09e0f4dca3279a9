"""Every trainkit command the README and the docs show is checked against the code, so the docs
cannot drift: the fenced blocks' commands and the inline ones (`trainkit ...`, `python -m trainkit ...`
in the prose). `trainkit SUBCOMMAND ...` must parse with the real argparse parser (a bare command
name must be one), and the overrides of `trainkit train` / `python -m trainkit` must compose and pass
trainkit's own validation (`compose_job`: groups, options and keys that exist, values of the right
type and range; a sweep's first value stands for it) in the project the page is about: trainkit's
own configs, an example from examples/, a `trainkit init` project, or the project `trainkit migrate`
writes from the Azure ML fixture. The few that cannot be checked are listed by the rules in
UNCHECKED, and a test names them."""
from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest

from trainkit.docsgen import PAGES as DOCS_PAGES

ROOT = Path(__file__).resolve().parents[2]
GENERATED = {f"docs/reference/{name}" for name in DOCS_PAGES}   # written from the code by `mkdocs build`
PAGES = [p for p in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
         if str(p.relative_to(ROOT)) not in GENERATED]
FENCE = re.compile(r"```(?:bash|sh|shell|console)?(?:[ \t]+title=\S+)?\n(.*?)```", re.S)   # text blocks: transcripts
ANY_FENCE = re.compile(r"^```.*?^```", re.S | re.M)
INLINE = re.compile(r"(?<![`\w])`((?:\.venv/bin/)?(?:trainkit|python -m trainkit)(?: [^`]*)?)`(?!`)")
COMMAND = re.compile(r"^(?:\.venv/bin/)?(?:trainkit|python -m trainkit)(?:\s|$)")
PLACEHOLDER_VALUE = re.compile(r"^\+?[\w.]+=(?:\.\.\.|PLACEHOLDER|[A-Z][A-Z_]*)$")   # +hparams_search=..., compute=<target>
METAVAR = re.compile(r"^[A-Z][A-Z_]*(?:\.\.\.)?$")          # OVERRIDES...: any overrides
PAGE_FILE = re.compile(r"```\w*\n# ([\w/-]+\.(?:py|yaml))\n(.*?)```", re.S)   # "# conf/model/wide.yaml": the reader writes it
READER_PATHS = {"entry.source_dir": "dir", "environment.requirements_file": "file"}   # the reader's own files (and entry.script)
HYDRA_FLAGS = {"--cfg", "-c", "--package", "-p", "--info", "-i"}   # Hydra's own flags (and their value) are not overrides

# What goes unchecked, each with why (test_only_these_documented_commands_go_unchecked lists them):
UNCHECKED = [
    (re.compile(r"^(?:trainkit|python -m trainkit)$"), "the program's name alone, in prose"),
    (re.compile(r"^trainkit \("), "a line trainkit prints, quoted in prose (`trainkit (environment.keras=2): ...`)"),
    (re.compile(r"\S\|\S"), "alternatives in one span (`jobs status|logs -f|cancel JOB`): each is shown elsewhere"),
]


def normalise(line: str) -> str:
    line = re.sub(r"(?<=[\w\]])\[[^\]\s]*\]", "", line)        # NAME[:1|@alias]: the optional suffix
    line = re.sub(r"\[(-[^\]]*)\]", r"\1", line)                 # [--json], [-r FILE]: include the option
    line = re.sub(r"<[^>]+>", "PLACEHOLDER", line)               # <run-id>
    line = re.sub(r"(?<= )N(?= |$)", "1", line)                  # --rank N: a number
    return line.replace(" ... ", " ")        # a trailing " ..." stays: the reader's own keys follow


def fenced(text: str) -> list[str]:
    found = []
    for block in FENCE.findall(text):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s#.*$", "", line).strip().removeprefix("$ ").rstrip("&").strip()
            for part in re.split(r"\s*(?:&&|;|\|\|)\s*", line):
                part = re.sub(r"\s*&$", "", part.strip())
                if COMMAND.match(part):
                    found.append(part)
    return found


def inline(text: str) -> list[str]:
    """`trainkit ...` spans in the prose (and tables), outside fenced blocks."""
    return [" ".join(m.split()) for m in INLINE.findall(ANY_FENCE.sub("", text))]


def incomplete_run(command: str) -> bool:
    """`python -m trainkit ... compute=ssh ...`: the reader's own keys (the hosts) follow, so the run
    is composed (groups, options, keys, types) but not validated."""
    return command.endswith(" ...") and bool(re.match(r"(?:trainkit train|python -m trainkit)\b", command))


def unchecked(command: str) -> str | None:
    return next((why for rule, why in UNCHECKED if rule.search(command)), None)


def commands() -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        text = page.read_text()
        for command in dict.fromkeys([*fenced(text), *inline(text)]):
            found.append((str(page.relative_to(ROOT)), normalise(command.removeprefix(".venv/bin/"))))
    return found


ALL = commands()
COMMANDS = [(p, c) for p, c in ALL if unchecked(c) is None]


def test_the_docs_show_commands_to_check():
    assert len(COMMANDS) >= 130 and {p for p, _ in COMMANDS} >= {"README.md", "docs/guides/clusters.md"}
    inline_only = {c for p, c in COMMANDS} - {normalise(c) for page in PAGES for c in fenced(page.read_text())}
    assert len(inline_only) >= 40 and "trainkit runs download RUN_ID --prefix outputs/model --to DIR --strip-prefix " \
        "--overwrite" in inline_only


def test_only_these_documented_commands_go_unchecked():
    left = sorted({(unchecked(c), c) for _, c in ALL if unchecked(c)})
    print("\n".join(f"unchecked: `{c}`: {why}" for why, c in left))
    assert len(left) <= 5, left
    partly = sorted({c for _, c in COMMANDS if incomplete_run(c)})
    print("\n".join(f"composed, not validated (the reader's own keys follow): `{c}`" for c in partly))
    assert len(partly) <= 2, partly


@pytest.fixture(scope="module")
def projects(tmp_path_factory) -> dict[str, Path]:
    """Experiment name -> the project that has it."""
    from trainkit.launch.scaffold import init_project
    from trainkit.migrate import migrate

    found = {p.stem: ROOT for p in (ROOT / "conf" / "experiment").glob("*.yaml")}
    for conf in (ROOT / "examples").glob("*/conf/experiment/*.yaml"):
        found[conf.stem] = conf.parents[2]
    init = tmp_path_factory.mktemp("init") / "myproject"
    init_project(init)
    found["example"] = init
    migrated = tmp_path_factory.mktemp("migrated") / "project"
    migrate([ROOT / "tests" / "fixtures" / "azureml"], migrated)
    for conf in (migrated / "conf" / "experiment").glob("*.yaml"):
        found[conf.stem] = migrated
    return found


def readers_project(page: str, overrides: list[str], base: Path | None, where: Path) -> Path:
    """The project a page's command runs in, as its reader has it: a copy of the page's project (an
    empty one for trainkit's own configs) with the files the page has the reader write and the
    reader's own files the command names (its script, source directory, requirements file)."""
    if base is None or base == ROOT:
        where.mkdir()
    else:
        shutil.copytree(base, where, symlinks=True)
    for rel, body in PAGE_FILE.findall((ROOT / page).read_text()):
        (where / rel).parent.mkdir(parents=True, exist_ok=True)
        (where / rel).write_text(body)
    values = dict(o.lstrip("+").split("=", 1) for o in overrides if "=" in o)
    for key, kind in READER_PATHS.items():
        if key in values:
            (where / values[key]).mkdir(parents=True, exist_ok=True) if kind == "dir" else (where / values[key]).touch()
    if "entry.script" in values:
        script = where / values.get("entry.source_dir", "") / values["entry.script"]
        script.parent.mkdir(parents=True, exist_ok=True)
        script.touch()
    return where


def compose(overrides: list[str], project: Path, validate: bool = True) -> dict:
    """The run's config as `python -m trainkit` composes and validates it (ConfigError otherwise);
    without `validate`, only composed (config groups, options, keys, types, syntax)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from trainkit.config.compose import compose_job, compose_unresolved, in_project

    single = []
    for o in OverridesParser.create().parse_overrides(overrides):   # a syntax error raises here
        if o.is_sweep_override():
            first = next(iter(o.sweep_string_iterator()))
            single.append(f"{o.get_key_element()}={first}")
        else:
            single.append(o.input_line)
    with in_project(project):
        return compose_job(single) if validate else compose_unresolved(single)


def train_overrides(argv: list[str]) -> list[str]:
    """The overrides of a `train` command line, without what stands for any value (OVERRIDES...,
    `KEY=...`, `KEY=<target>`), Hydra's own flags and -m."""
    out, args = [], iter(argv)
    for a in args:
        if a in HYDRA_FLAGS:
            next(args, None)
        elif a not in ("-m", "--multirun") and not METAVAR.match(a) and not PLACEHOLDER_VALUE.match(a):
            out.append(a)
    return out


def named_in_prose(parser, argv: list[str]) -> bool:
    """`trainkit jobs`, `trainkit models serve`, `trainkit migrate --fix` named in prose: a command
    (group) the parser has, and only flags that command has (without their values)."""
    words = [a for a in argv if not a.startswith("-")]
    flags = argv[len(words):]
    if argv[:len(words)] != words or not all(w.isalpha() for w in words):
        return False
    for word in words:
        subs = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
        if not subs or word not in subs[0].choices:
            return False
        parser = subs[0].choices[word]
    return all(f in parser._option_string_actions for f in flags)


@pytest.mark.parametrize("page, command", COMMANDS, ids=[f"{p}:{c[:60]}" for p, c in COMMANDS])
def test_a_documented_command_matches_the_code(page, command, projects, tmp_path, monkeypatch):
    from trainkit.cli.main import build_parser

    argv = shlex.split(command.removesuffix(" ..."))
    argv = ["train", *argv[3:]] if argv[0].endswith("python") else argv[1:]    # python -m trainkit OVERRIDES
    if argv[0] != "train":
        try:
            build_parser().parse_args(argv)
        except SystemExit as e:
            if not named_in_prose(build_parser(), argv):
                pytest.fail(f"{page}: `{command}` does not parse (exit {e.code})")
        return
    overrides = train_overrides(argv[1:])
    experiment = next((o.split("=", 1)[1] for o in overrides if o.startswith("+experiment=")), None)
    assert experiment is None or experiment in projects, f"{page}: `{command}`: no project has experiment {experiment!r}"
    project = readers_project(page, overrides, projects.get(experiment), tmp_path / "project")
    monkeypatch.chdir(project)                  # the reader runs it in the project
    try:
        compose(overrides, project, validate=not incomplete_run(command))
    except Exception as e:   # noqa: BLE001 - ConfigError and Hydra's own, shown with the command
        pytest.fail(f"{page}: `{command}`: {type(e).__name__}: {e}")
