"""Issue 15, item 11: a Slurm option value with a newline added lines to the batch script, and sbatch
stops reading #SBATCH lines at the first command, silently dropping `--requeue` (and the rest).
Refused when the config is composed, and again when the script is generated."""
from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from trainkit.config.validate import check_config
from trainkit.errors import TrainkitError
from trainkit.compute.slurm import sbatch_script
from trainkit.records.spec import JobSpec

from ..conftest import compose

KEYS = ["partition", "account", "qos", "constraint", "exclude", "job_name"]
BAD = ["gpu\nhostname", "gpu\n#SBATCH --wrap=id", "gpu\n", "gpu\r", "gpu normal", "gpu\tx", "gpu\x1b[2J", "gpu\x00"]


def resolved(overrides: list[str]) -> dict:
    cfg = OmegaConf.to_container(compose(["compute=slurm", *overrides]), resolve=True)
    cfg.pop("hydra", None)
    return cfg


def spec(cfg: dict) -> JobSpec:
    return JobSpec(run_id="20261122-101500-ab12cd", experiment="e", run_dir="/ws/runs/r", workspace="/ws",
                   config=cfg, overrides=[], config_hash="0" * 16, dataset={}, project_root="/opt/tk", world_size=1)


def directives(script: str) -> list[str]:
    """What sbatch reads: #SBATCH lines up to the first line that is neither blank nor a comment."""
    out = []
    for line in script.splitlines()[1:]:
        if line.strip() and not line.lstrip().startswith("#"):
            break
        if line.startswith("#SBATCH"):
            out.append(line)
    return out


@pytest.mark.parametrize("key", KEYS + ["additional_parameters.gres"])
def test_a_newline_in_a_slurm_value_is_a_config_error_naming_the_key(key):
    override = f"+compute.{key}" if "." in key else f"compute.{key}"
    p = check_config(resolved([f"{override}='gpu\nhostname'"]))
    assert any(x.startswith(f"compute.{key}: expected") and "got 'gpu\\nhostname'" in x for x in p), p


@pytest.mark.parametrize("value", BAD)
def test_whitespace_and_control_characters_are_refused_at_compose_time(value):
    cfg = resolved([])
    cfg["compute"]["partition"] = value
    p = check_config(cfg)
    assert [x for x in p if x.startswith("compute.partition:")] == [
        f"compute.partition: expected a Slurm value without whitespace or control characters, got {value!r}"]


@pytest.mark.parametrize("key", KEYS + ["additional_parameters"])
def test_the_script_generator_refuses_them_too_so_requeue_is_never_dropped(key):
    cfg = resolved([])
    if key == "additional_parameters":
        cfg["compute"]["additional_parameters"] = {"gres": "gpu:1\necho hi"}
    else:
        cfg["compute"][key] = "x\necho hi"
    with pytest.raises(TrainkitError, match=rf"compute\.{key}.*expected a Slurm value without whitespace"):
        sbatch_script(spec(cfg), "/usr/bin/python3")


def test_a_clean_script_keeps_every_directive():
    cfg = resolved(["compute.partition=gpu", "compute.account=ml", "+compute.additional_parameters.gres=gpu:a100:2"])
    assert check_config(cfg) == []
    read = directives(sbatch_script(spec(cfg), "/usr/bin/python3"))
    assert read[-1] == "#SBATCH --requeue" and "#SBATCH --partition=gpu" in read and "#SBATCH --gres=gpu:a100:2" in read
