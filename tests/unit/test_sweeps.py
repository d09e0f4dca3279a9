"""Sweep summaries and search-space checks, without training."""
from __future__ import annotations

from hydra_plugins.trainkit_optuna_sweeper.optuna_sweeper import check_params, suggest
from trainkit.api.sweeps import sort_rows

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


def test_rows_sort_best_first_and_unfinished_last():
    rows = [{"job": 0, "test_accuracy": 0.7}, {"job": 1, "test_accuracy": None},
            {"job": 2, "test_accuracy": 0.9}, {"job": 3, "test_accuracy": 0.8}]
    assert [r["job"] for r in sort_rows(rows, "test_accuracy")] == [2, 3, 0, 1]
    assert [r["job"] for r in sort_rows(rows, "test_accuracy", "min")] == [0, 3, 2, 1]


def test_hparams_search_presets_compose():
    for preset in ("mnist_dnn_optuna", "smoke_optuna"):
        cfg = compose([f"+hparams_search={preset}"])
        assert cfg.run.trial.study == ""                  # only the sweeper fills it in
        assert cfg.registry.enabled is False


def test_a_bad_search_setting_exits_2_with_every_problem_and_creates_nothing(workspace):
    from ..conftest import run_trainkit

    proc = run_trainkit(["-m", "+debug=smoke", "+hparams_search=smoke_optuna", "hydra.sweeper.sampler=bogus",
                         "hydra.sweeper.pruner.name=x"])
    assert proc.returncode == 2, proc.stderr
    assert "hydra.sweeper.sampler: expected 'tpe' or 'random', got 'bogus'" in proc.stderr
    assert "hydra.sweeper.pruner.name: expected median, successive_halving or none, got 'x'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not workspace.exists()
