"""Sweep summaries and search-space checks, without training."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from hydra_plugins.trainkit_optuna_sweeper.optuna_sweeper import (check_params, distribution, grid_sampler, grid_space, suggest,
                                                                  trial_settings)
from trainkit.api.sweeps import sort_rows
from trainkit.records.workspace import WorkspacePaths

from ..conftest import compose


def test_search_space_problems_are_reported_with_their_keys():
    problems = check_params({
        "trainer.learning_rate": {"type": "log_interval", "low": 0, "high": 0.1},
        "model.dropout": {"type": "interval", "low": 0.5, "high": 0.1},
        "model.hidden": {"type": "choice", "choices": []},
        "trainer.batch_size": {"type": "range"},
        "trainer.epochs": {"type": "int", "low": 1, "high": 5},
    })
    assert problems == [
        "hydra.sweeper.params.trainer.learning_rate.low: expected > 0 for log_interval, got 0",
        "hydra.sweeper.params.model.dropout: expected numbers low < high, got low=0.5 high=0.1",
        "hydra.sweeper.params.model.hidden.choices: expected a non-empty list, got []",
        "hydra.sweeper.params.trainer.batch_size.type: expected one of ['interval', 'log_interval', 'int', "
        "'choice'], got 'range'",
    ]


def test_suggestions_become_overrides():
    import optuna

    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
    out = suggest(trial, {"trainer.learning_rate": {"type": "log_interval", "low": 1e-4, "high": 1e-2},
                          "model.hidden": {"type": "choice", "choices": ["[300,100]", "[512]"]},
                          "trainer.epochs": {"type": "int", "low": 2, "high": 4}})
    keys = [o.split("=", 1)[0] for o in out]
    assert keys == ["trainer.learning_rate", "model.hidden", "trainer.epochs"]
    assert 1e-4 <= float(out[0].split("=")[1]) <= 1e-2 and out[1].split("=", 1)[1] in ("[300,100]", "[512]")


def test_a_grid_runs_every_combination_of_choices_once():
    """Azure's GridParameterSampling: 3 x 2 choices are six trials, each combination once."""
    import itertools

    import optuna

    params = {"params.units": {"type": "choice", "choices": [100, 300, 500]},
              "params.batch_size": {"type": "choice", "choices": [32, 64]}}
    space, problems = grid_space(params)
    assert problems == []
    study = optuna.create_study(sampler=grid_sampler(space, 0))
    seen = []
    for _ in range(6):
        trial = study.ask()
        seen.append(tuple(suggest(trial, params)))
        study.tell(trial, 0.5)
    assert sorted(seen) == sorted((f"params.units={u}", f"params.batch_size={b}")
                                  for u, b in itertools.product([100, 300, 500], [32, 64]))
    assert grid_space({"x": {"type": "interval", "low": 0, "high": 1}})[1] == [
        "hydra.sweeper.params.x.type: expected 'choice' with sampler=grid (a grid enumerates choices), got 'interval'"]


def test_a_stepped_range_samples_only_its_steps():
    """quniform(64, 512, 64) and quniform(0.1, 0.5, 0.1): only multiples of the step."""
    import optuna

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    params = {"params.units": {"type": "int", "low": 64, "high": 512, "step": 64},
              "params.rate": {"type": "interval", "low": 0.1, "high": 0.5, "step": 0.1}}
    for _ in range(20):
        units, rate = (float(o.split("=")[1]) for o in suggest(study.ask(), params))
        assert units % 64 == 0 and 64 <= units <= 512
        assert abs(rate * 10 - round(rate * 10)) < 1e-9
    assert check_params({"a": {"type": "log_interval", "low": 1e-3, "high": 1, "step": 0.1},
                         "b": {"type": "int", "low": 1, "high": 9, "step": 1.5}}) == [
        "hydra.sweeper.params.a.step: expected a number > 0 (a whole number for int; no step on a log_interval), got 0.1",
        "hydra.sweeper.params.b.step: expected a number > 0 (a whole number for int; no step on a log_interval), got 1.5"]


def test_rows_sort_best_first_and_unfinished_last():
    rows = [{"job": 0, "test_accuracy": 0.7}, {"job": 1, "test_accuracy": None},
            {"job": 2, "test_accuracy": 0.9}, {"job": 3, "test_accuracy": 0.8}]
    assert [r["job"] for r in sort_rows(rows, "test_accuracy")] == [2, 3, 0, 1]
    assert [r["job"] for r in sort_rows(rows, "test_accuracy", "min")] == [0, 3, 2, 1]


def test_hparams_search_presets_compose_with_valid_pruners():
    from hydra import compose as hydra_compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    from hydra_plugins.trainkit_optuna_sweeper.optuna_sweeper import PrunerConf
    from trainkit.hpo import pruner_problems

    presets = sorted(p.stem for p in (Path(__file__).parents[2] / "conf" / "hparams_search").glob("*.yaml"))
    assert {"mnist_dnn_optuna", "smoke_optuna", "mnist_dnn_bandit"} <= set(presets)
    for preset in presets:
        cfg = compose([f"+hparams_search={preset}"])
        assert cfg.run.trial.study == ""                  # only the sweeper fills it in
        assert cfg.registry.enabled is True               # trials do not register; the search registers its best once
        GlobalHydra.instance().clear()
        with initialize_config_module("trainkit.conf", version_base="1.3"):
            pruner = OmegaConf.to_container(hydra_compose("config", [f"+hparams_search={preset}"],
                                                          return_hydra_config=True).hydra.sweeper.pruner)
        assert pruner_problems(pruner, dataclasses.asdict(PrunerConf())) == [], preset
        if preset == "mnist_dnn_bandit":
            assert (pruner["name"], pruner["slack_factor"], pruner["delay_evaluation"]) == ("bandit", 0.1, 2)


def test_a_bad_search_setting_exits_2_with_every_problem_and_creates_nothing(workspace):
    from ..conftest import run_trainkit

    proc = run_trainkit(["-m", "+debug=smoke", "+hparams_search=smoke_optuna", "hydra.sweeper.sampler=bogus",
                         "hydra.sweeper.pruner.name=x"])
    assert proc.returncode == 2, proc.stderr
    assert "hydra.sweeper.sampler: expected 'tpe', 'random' or 'grid', got 'bogus'" in proc.stderr
    assert ("hydra.sweeper.pruner.name: expected one of median, successive_halving, none, bandit, median_stopping, "
            "truncation_selection, got 'x'") in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not workspace.exists()


@pytest.mark.parametrize("overrides, message", [
    (["hydra.sweeper.pruner.name=bandit", "hydra.sweeper.pruner.slack_factor=0.1",
      "hydra.sweeper.pruner.slack_amount=0.05"],
     "hydra.sweeper.pruner.slack_factor, slack_amount: expected exactly one of them (a ratio or an absolute "
     "amount), got both (slack_factor=0.1, slack_amount=0.05)"),
    (["hydra.sweeper.warm_start=[no_such_search]"],
     "hydra.sweeper.warm_start[0]: expected the sweep id of an earlier Optuna search (`trainkit sweeps list`) "
     "or the run id of one of its trials (`trainkit runs list`), got 'no_such_search'"),
], ids=["both-slacks", "unknown-warm-start"])
def test_a_bad_azure_policy_setting_or_warm_start_exits_2_and_creates_nothing(workspace, overrides, message):
    from ..conftest import run_trainkit

    proc = run_trainkit(["-m", "+debug=smoke", "+hparams_search=smoke_optuna", *overrides])
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not workspace.exists()


# ------------------------------------------------------------------ the run side of a pruner
def test_a_run_rebuilds_the_sweepers_azure_policy_from_its_run_trial_override(tmp_path):
    import optuna

    from trainkit.hpo import live_trial
    from trainkit.policies import BanditPolicy

    url = f"sqlite:///{tmp_path / 'study.db'}"
    trial = optuna.create_study(study_name="s", storage=url).ask()
    pruner = {"name": "bandit", "n_startup_trials": 2, "n_warmup_steps": 0, "slack_factor": None,
              "slack_amount": 0.015625, "evaluation_interval": 2, "delay_evaluation": 3, "truncation_percentage": None}
    override = (f"run.trial={{study:s,storage:'{url}',trial_id:{trial._trial_id},number:{trial.number},"
                f"{trial_settings('val_loss', pruner)}}}")
    ref = compose([override]).run.trial                        # the real schema and Hydra's override grammar
    assert dict(ref.pruner_args) == {"slack_amount": 0.015625, "evaluation_interval": 2, "delay_evaluation": 3}
    from omegaconf import OmegaConf

    live = live_trial(OmegaConf.to_container(ref))
    assert type(live.study.pruner) is BanditPolicy
    assert vars(live.study.pruner) == {"slack_factor": None, "slack_amount": 0.015625, "evaluation_interval": 2,
                                       "delay_evaluation": 3}


# ------------------------------------------------------------------ warm start
SPACE = {"trainer.learning_rate": {"type": "choice", "choices": [0.003, 0.00001]},
         "model.dropout": {"type": "interval", "low": 0.0, "high": 0.2}}
WIDER = {**SPACE, "model.dropout": {"type": "interval", "low": 0.0, "high": 0.5}}
TRIALS = [   # state, params, per-interval values
    ("COMPLETE", {"trainer.learning_rate": "0.003", "model.dropout": 0.125}, [0.5, 0.75]),
    ("PRUNED", {"trainer.learning_rate": "1e-05", "model.dropout": 0.0625}, [0.125]),
    ("FAIL", {"trainer.learning_rate": "0.003", "model.dropout": 0.0}, []),
    ("COMPLETE", {"trainer.learning_rate": "0.003", "model.dropout": 0.375}, [0.5, 0.625]),
    ("RUNNING", {"trainer.learning_rate": "0.003", "model.dropout": 0.1875}, [0.25]),
]


def space_of(params: dict) -> dict:
    return {k: distribution(v) for k, v in params.items()}


def earlier_search(ws: Path, name: str, direction: str = "maximize", metric: str = "val_accuracy"):
    """An earlier search's sweep directory and study, as the sweeper leaves them (over the WIDER space)."""
    import optuna
    from optuna.trial import TrialState, create_trial

    (ws / "sweeps" / name).mkdir(parents=True)
    study = optuna.create_study(study_name=name, storage=f"sqlite:///{ws / 'sweeps' / name / 'study.db'}",
                                direction=direction)
    study.set_user_attr("metric", metric)
    for state, params, values in TRIALS:
        study.add_trial(create_trial(
            state=TrialState[state], value=values[-1] if state == "COMPLETE" else None, params=params,
            distributions={k: space_of(WIDER)[k] for k in params},
            intermediate_values={n: v for n, v in enumerate(values, 1)}))
    return study


def trial_run(ws: Path, run_id: str, trial: dict, sweep: str = "hpo_a") -> None:
    """A run record that was (or, with an empty trial, was not) one of a search's trials."""
    import yaml

    d = ws / "experiments" / "hpo" / "runs" / run_id
    d.mkdir(parents=True)
    (d / "status.json").write_text(json.dumps({"state": "completed"}))
    (d / "config.yaml").write_text(yaml.safe_dump({"run": {"sweep": sweep, "trial": trial}}))


def new_study(ws: Path, name: str = "hpo_new"):
    import optuna

    (ws / "sweeps" / name).mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{ws / 'sweeps' / name / 'study.db'}"
    return url, optuna.create_study(study_name=name, storage=url, direction="maximize")


def test_warm_start_adds_finished_trials_marked_skips_misfits_by_name_and_adds_nothing_twice(tmp_path):
    from trainkit.warm_start import prepare, seed

    ws = WorkspacePaths(tmp_path)
    earlier_search(tmp_path, "hpo_a")
    url, study = new_study(tmp_path)
    sources, problems = prepare(["hpo_a"], ws, url, "hpo_new", "maximize", "val_accuracy")
    assert problems == [] and [t.number for t in sources[0].trials] == [0, 1, 3]    # COMPLETE and PRUNED only
    assert seed(study, sources, space_of(SPACE)) == [
        "warm start: skipped trial 3 of hpo_a: model.dropout=0.375 is outside [0.0, 0.2]",
        "warm start: 2 trial(s) added from hpo_a (study 'hpo_a', 3 finished)"]
    added = study.get_trials()
    assert [(t.state.name, t.params, t.intermediate_values, t.value) for t in added] == [
        ("COMPLETE", TRIALS[0][1], {1: 0.5, 2: 0.75}, 0.75), ("PRUNED", TRIALS[1][1], {1: 0.125}, None)]
    assert [(t.user_attrs["warm_start"]["sweep"], t.user_attrs["warm_start"]["number"]) for t in added] == \
        [("hpo_a", 0), ("hpo_a", 1)]
    assert seed(study, sources, space_of(SPACE))[-1] == "warm start: 0 trial(s) added from hpo_a (study 'hpo_a', " \
        "3 finished)"                                                          # a resumed search adds nothing twice
    assert len(study.get_trials()) == 2


def test_a_trials_run_id_warm_starts_with_that_trial_alone(tmp_path):
    from trainkit.warm_start import prepare, seed

    earlier_search(tmp_path, "hpo_a")
    url_a = f"sqlite:///{tmp_path / 'sweeps' / 'hpo_a' / 'study.db'}"
    trial_run(tmp_path, "20261207-101500-ab12cd", {"study": "hpo_a", "storage": url_a, "number": 1})
    url, study = new_study(tmp_path)
    sources, problems = prepare(["20261207-1015"], WorkspacePaths(tmp_path), url, "hpo_new", "maximize",
                                "val_accuracy")
    assert problems == [] and [t.number for t in sources[0].trials] == [1]
    seed(study, sources, space_of(SPACE))
    assert [(t.state.name, t.params["model.dropout"]) for t in study.get_trials()] == [("PRUNED", 0.0625)]


def test_a_chain_of_warm_starts_adds_each_original_trial_once(tmp_path):
    from trainkit.warm_start import prepare, seed

    ws = WorkspacePaths(tmp_path)
    earlier_search(tmp_path, "hpo_a")
    url_b, b = new_study(tmp_path, "hpo_b")
    seed(b, prepare(["hpo_a"], ws, url_b, "hpo_b", "maximize", "val_accuracy")[0], space_of(SPACE))
    url_c, c = new_study(tmp_path, "hpo_c")
    sources, problems = prepare(["hpo_b", "hpo_a"], ws, url_c, "hpo_c", "maximize", "val_accuracy")
    assert problems == []
    seed(c, sources, space_of(SPACE))
    assert len(c.get_trials()) == 2                           # hpo_b's two came from hpo_a: not added again
    assert {t.user_attrs["warm_start"]["origin"] for t in c.get_trials()} == \
        {t.user_attrs["warm_start"]["origin"] for t in b.get_trials()}


def test_bad_warm_start_references_are_all_reported_with_their_index(tmp_path):
    from trainkit.warm_start import prepare

    ws = WorkspacePaths(tmp_path)
    earlier_search(tmp_path, "hpo_a")
    earlier_search(tmp_path, "hpo_min", direction="minimize", metric="val_loss")
    (tmp_path / "sweeps" / "20261207-090000-grid" / "jobs").mkdir(parents=True)
    url_a = f"sqlite:///{tmp_path / 'sweeps' / 'hpo_a' / 'study.db'}"
    trial_run(tmp_path, "20261207-110000-000001", {"study": ""})
    earlier_search(tmp_path, "hpo_b")
    url_b = f"sqlite:///{tmp_path / 'sweeps' / 'hpo_b' / 'study.db'}"
    trial_run(tmp_path, "20261207-110000-000002", {"study": "hpo_b", "storage": url_b, "number": 2}, "hpo_b")
    refs = ["nope", "20261207-090000-grid", "20261207-110000-000001", "hpo_a", "hpo_min", "20261207-110000-000002"]
    sources, problems = prepare(refs, ws, url_a, "hpo_a", "maximize", "val_accuracy")
    db = tmp_path / "sweeps" / "20261207-090000-grid" / "study.db"
    assert problems == [
        "hydra.sweeper.warm_start[0]: expected the sweep id of an earlier Optuna search (`trainkit sweeps list`) or "
        f"the run id of one of its trials (`trainkit runs list`), got 'nope': neither is in {tmp_path}",
        f"hydra.sweeper.warm_start[1]: sweep 20261207-090000-grid has no Optuna study ({db} is missing): only an "
        "Optuna search's trials can seed another, got '20261207-090000-grid'",
        "hydra.sweeper.warm_start[2]: run 20261207-110000-000001 was not a trial of an Optuna search (its run.trial "
        "is empty), got '20261207-110000-000001'",
        "hydra.sweeper.warm_start[3]: 'hpo_a' is this search itself (study 'hpo_a'); to resume it, rerun the same "
        "command without warm_start",
        "hydra.sweeper.warm_start[4]: hpo_min was a minimize search; this one is to maximize",
        "hydra.sweeper.warm_start[4]: hpo_min optimised 'val_loss'; this search optimises 'val_accuracy'",
        "hydra.sweeper.warm_start[5]: run 20261207-110000-000002: its trial 2 of hpo_b is FAIL; expected a finished "
        "(COMPLETE or PRUNED) trial",
    ]
    assert not db.exists()                                   # reading references writes nothing


@pytest.mark.parametrize("spec, value, fits", [
    ({"type": "choice", "choices": [32, 64]}, "64", True), ({"type": "choice", "choices": [32, 64]}, "128", False),
    ({"type": "int", "low": 1, "high": 5}, 5, True), ({"type": "int", "low": 1, "high": 5}, 2.5, False),
    ({"type": "log_interval", "low": 1e-4, "high": 1e-2}, 1e-2, True),
    ({"type": "interval", "low": 0.0, "high": 0.2}, 0.25, False),
    ({"type": "interval", "low": 0.0, "high": 0.2}, "x", False),
])
def test_a_value_fits_the_new_search_space_only_inside_it(spec, value, fits):
    from trainkit.warm_start import contains

    assert contains(distribution(spec), value) is fits


# ------------------------------------------------------------------ one objective per sweep
def test_a_sweeps_objective_is_what_it_started_with_else_its_summarys_else_val_accuracy_max(tmp_path):
    from trainkit.api.sweeps import direction, objective

    sweep = tmp_path / "20261207-120000-x"
    (sweep / "jobs" / "0").mkdir(parents=True)
    assert objective(sweep) == ("val_accuracy", "max")                      # never a test metric by default
    (sweep / "jobs" / "0" / "job.json").write_text(json.dumps(
        {"job": 0, "overrides": ["run.trial={study: s, number: 0, metric: val_loss, pruner: none}"]}))
    assert objective(sweep)[0] == "val_loss"                                # an Optuna trial's metric
    (sweep / "summary.json").write_text(json.dumps({"metric": "val_auc", "mode": "max"}))
    assert objective(sweep) == ("val_auc", "max")
    (sweep / "objective.json").write_text(json.dumps({"metric": "val_loss", "mode": "min"}))
    assert objective(sweep) == ("val_loss", "min")
    assert [direction(m) for m in ("val_loss", "val_mae", "val_accuracy", "auc")] == ["min", "min", "max", "max"]


def test_a_sweeps_trial_does_not_register_but_a_run_does():
    from trainkit.records.spec import JobSpec

    def spec(sweep, enabled=True):
        return JobSpec(run_id="r", experiment="e", run_dir="/x", workspace="/w", overrides=[], config_hash="h",
                       dataset={}, project_root="/p",
                       config={"registry": {"enabled": enabled}, "run": {"sweep": sweep}})

    assert spec(None).registers and not spec("20261207-120000-e").registers and not spec(None, False).registers


def test_the_sweep_summary_callback_refuses_a_mode_that_is_not_max_or_min():
    from trainkit.cli.callbacks import SweepSummary
    from trainkit.errors import ConfigError

    with pytest.raises(ConfigError, match="hydra.callbacks.sweep_summary.mode: expected max or min, got 'best'"):
        SweepSummary(mode="best")


def test_a_sweep_process_that_never_makes_its_directory_is_stopped_and_its_log_named(tmp_path):
    """trainkit.sweep waits for Hydra's sweep directory a bounded time, never forever."""
    import subprocess
    import sys

    from trainkit.api.submit import _sweep_dir
    from trainkit.errors import ConfigError

    (tmp_path / ".20261207-101010-abcdef.log").write_text("composing...\n")
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    with pytest.raises(ConfigError) as e:
        _sweep_dir(tmp_path, "20261207-101010-abcdef", proc, limit_s=0.5)
    assert proc.poll() is not None                                       # stopped, not left behind
    assert "within 0.5 s" in str(e.value) and ".20261207-101010-abcdef.log" in str(e.value) and "composing" in str(e.value)
    (tmp_path / "20261207-101010-abcdef-mnist").mkdir()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert _sweep_dir(tmp_path, "20261207-101010-abcdef", alive, limit_s=0.5).name.endswith("-mnist")
    finally:
        alive.kill()
        alive.wait()
