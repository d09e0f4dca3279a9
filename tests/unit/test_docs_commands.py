"""Every trainkit command the README and the docs show is checked against the code, so the docs
cannot drift: `trainkit SUBCOMMAND ...` must parse with the real argparse parser, and the overrides
of `trainkit train` / `python -m trainkit` must compose with Hydra (config groups and options that
exist, keys the schema has, valid syntax; a sweep's first value stands for it) in the project the
page is about: trainkit's own configs, an example from examples/, a `trainkit init` project, or the
project `trainkit migrate` writes from the Azure ML fixture."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"```(?:bash|sh|shell|console)?(?:[ \t]+title=\S+)?\n(.*?)```", re.S)   # text blocks: transcripts
COMMAND = re.compile(r"^(?:\.venv/bin/)?(?:trainkit|python -m trainkit)(?:\s|$)")


def normalise(line: str) -> str:
    line = re.sub(r"(?<=[\w\]])\[[^\]\s]*\]", "", line)        # NAME[:1|@alias]: the optional suffix
    line = re.sub(r"\[(-[^\]]*)\]", r"\1", line)                 # [--json], [-r FILE]: include the option
    line = re.sub(r"<[^>]+>", "PLACEHOLDER", line)               # <run-id>
    return line.replace(" ... ", " ").removesuffix(" ...")


def commands() -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        for block in FENCE.findall(page.read_text()):
            for line in block.replace("\\\n", " ").splitlines():
                line = re.sub(r"\s#.*$", "", line).strip().removeprefix("$ ").rstrip("&").strip()
                for part in re.split(r"\s*(?:&&|;|\|\|)\s*", line):
                    part = re.sub(r"\s*&$", "", part.strip())
                    if COMMAND.match(part):
                        found.append((str(page.relative_to(ROOT)), normalise(part)))
    return found


COMMANDS = commands()


def test_the_docs_show_commands_to_check():
    assert len(COMMANDS) >= 60 and {p for p, _ in COMMANDS} >= {"README.md", "docs/guides/clusters.md"}


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


def compose(overrides: list[str], project: Path) -> None:
    from hydra import compose as hydra_compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from trainkit.config.compose import in_project
    from trainkit.config.store import register_configs

    single = []
    for o in OverridesParser.create().parse_overrides(overrides):   # a syntax error raises here
        if o.is_sweep_override():
            first = next(iter(o.sweep_string_iterator()))
            single.append(f"{o.get_key_element()}={first}")
        else:
            single.append(o.input_line)
    register_configs()
    GlobalHydra.instance().clear()
    try:
        with in_project(project), initialize_config_module("trainkit.conf", version_base="1.3"):
            hydra_compose("config", overrides=single, return_hydra_config=True)
    finally:
        GlobalHydra.instance().clear()


@pytest.mark.parametrize("page, command", COMMANDS, ids=[f"{p}:{c[:60]}" for p, c in COMMANDS])
def test_a_documented_command_matches_the_code(page, command, projects):
    from trainkit.cli.main import build_parser

    argv = shlex.split(command)
    argv = ["train", *argv[3:]] if argv[0].endswith("python") else argv[1:]    # python -m trainkit OVERRIDES
    if argv[0] != "train":
        try:
            build_parser().parse_args(argv)
        except SystemExit as e:
            pytest.fail(f"{page}: `{command}` does not parse (exit {e.code})")
        return
    overrides = [a for a in argv[1:] if a not in ("-m", "--multirun")]
    experiment = next((o.split("=", 1)[1] for o in overrides if o.startswith("+experiment=")), None)
    assert experiment is None or experiment in projects, f"{page}: `{command}`: no project has experiment {experiment!r}"
    try:
        compose(overrides, projects.get(experiment, ROOT))
    except Exception as e:   # noqa: BLE001 - Hydra's and OmegaConf's errors, shown with the command
        pytest.fail(f"{page}: `{command}`: {type(e).__name__}: {str(e).splitlines()[0]}")
