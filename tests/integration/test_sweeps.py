"""Real -m sweeps on the debug subset: a grid with a failing job, an Optuna search that prunes and
resumes after being killed, and run comparison."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ..conftest import FASHION, ROOT, run_cli, run_trainkit

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not FASHION.exists(), reason="needs apt-get install dataset-fashion-mnist")]


def test_grid_sweep_with_a_failing_job_summarises_all_jobs_and_compares_runs(workspace, tmp_path):
    # 5000 > the 2500 training images of the debug subset: that job's run fails in the worker
    proc = run_trainkit(["-m", "+debug=smoke", "run.experiment=grid", "trainer.batch_size=32,64,128,5000"])
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "1 sweep job(s) failed" in proc.stderr
    [sweep] = json.loads(run_cli(["sweeps", "list", "--json"]).stdout)
    assert sweep["jobs"] == 4 and sweep["counts"] == {"completed": 3, "failed": 1} and sweep["finished"]
    summary = json.loads(run_cli(["sweeps", "show", sweep["sweep"], "--json"]).stdout)
    rows = summary["rows"]
    assert [r["status"] for r in rows] == ["completed"] * 3 + ["failed"]          # sorted, failures last
    assert summary["metric"] == "val_accuracy" and summary["mode"] == "max"          # the sweep's objective
    accs = [r["val_accuracy"] for r in rows[:3]]
    assert accs == sorted(accs, reverse=True)
    # trials register nothing; the sweep registers its best trial once, when it ends
    [model] = json.loads(run_cli(["models", "list", "--json"]).stdout)
    assert (model["name"], model["version"], model["run_id"]) == ("grid", 1, rows[0]["run_id"]), model
    assert f"registered grid:1 from the best trial {rows[0]['run_id']}" in proc.stdout
    assert proc.stdout.count("this trial's model stays in outputs/model") == 3
    assert json.loads(run_cli(["models", "show", "grid:1", "--json"]).stdout)["tags"]["sweep"] == sweep["sweep"]
    assert rows[-1]["swept"] == "trainer.batch_size=5000" and "at most the 2500 training examples" in rows[-1]["error"]
    assert len({r["run_id"] for r in rows}) == 4                                    # one run per job
    sweep_dir = Path(summary["path"])
    with open(sweep_dir / "summary.csv") as f:
        assert len(list(csv.DictReader(f))) == 4
    assert (sweep_dir / "curves.png").read_bytes()[:4] == b"\x89PNG"
    pids = {json.loads((Path(r["path"]) / "status.json").read_text()).get("worker_pid")
            for r in json.loads(run_cli(["runs", "list", "--json"]).stdout)}
    assert len(pids) == 4 and None not in pids, "each job trains in its own process"

    a, b = rows[0]["run_id"], rows[1]["run_id"]
    cmp = run_cli(["runs", "compare", a, b, "--json", "--plot", str(tmp_path / "cmp.png")])
    assert cmp.returncode == 0, cmp.stderr
    d = json.loads(cmp.stdout)
    assert [r["differing_overrides"] for r in d["runs"]] == [[f"trainer.batch_size={rows[0]['swept'].split('=')[1]}"],
                                                             [f"trainer.batch_size={rows[1]['swept'].split('=')[1]}"]]
    assert list(d["differing_config"]) == ["trainer.batch_size"]
    assert (tmp_path / "cmp.png").exists()
    text = run_cli(["runs", "compare", a, b, "--plot", str(tmp_path / "cmp2.png")]).stdout
    assert "differing overrides" in text and "trainer.batch_size" in text


def study_trials(db: Path, name: str) -> list:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if not db.exists():
        return []
    try:
        return optuna.load_study(study_name=name, storage=f"sqlite:///{db}").trials
    except KeyError:
        return []


def test_optuna_search_prunes_and_resumes_the_same_study_after_a_kill(workspace):
    args = ["-m", "+debug=smoke", "+hparams_search=smoke_optuna", "run.experiment=hpo"]
    db, name = workspace / "sweeps" / "hpo_smoke_search" / "study.db", "hpo_smoke_search"
    first = subprocess.Popen([sys.executable, "-m", "trainkit", *args], cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline:
        finished = [t for t in study_trials(db, name) if t.state.is_finished()]
        if len(finished) >= 3:
            break
        time.sleep(1)
    os.killpg(first.pid, signal.SIGKILL)          # the whole search dies mid-trial
    first.wait(timeout=30)
    before = {t.number: (t.state.name, t.value) for t in study_trials(db, name) if t.state.is_finished()}
    assert 3 <= len(before) < 6, before

    again = run_trainkit(args)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert f"{len(before)} finished trial(s) so far, target 6" in again.stdout
    trials = study_trials(db, name)
    for number, (state, value) in before.items():                    # the old trials are kept
        assert (trials[number].state.name, trials[number].value) == (state, value)
    states = [t.state.name for t in trials]
    assert states.count("COMPLETE") + states.count("PRUNED") == 6
    assert states.count("PRUNED") >= 1
    assert max(t.number for t in trials) > max(before)               # new trials were added (the kill may
    # land between trials, with none in flight: then the numbers go on from len(before), not from 6)
    pruned_run = [r for r in json.loads(run_cli(["runs", "list", "--json"]).stdout) if r["status"] == "pruned"]
    assert pruned_run, "a pruned trial's run should be recorded as pruned"
    [sweep] = json.loads(run_cli(["sweeps", "list", "--json"]).stdout)
    assert sweep["study"] and sweep["sweep"] == "hpo_smoke_search"


def test_a_bandit_search_then_a_search_warm_started_from_its_trials(workspace):
    """One trial at a time, so each trial is compared with exactly the ones before it. The random
    sampler draws the learning rates 0.003, 1e-05 (seed 6): the second is far behind the first at
    epoch 1 and bandit stops it there. The second search (seed 0) draws 1e-05 for its only trial,
    which is stopped at epoch 1 by the first search's trials alone: nothing else has reported."""
    args = ["-m", "+debug=smoke", "+hparams_search=smoke_optuna", "trainer.epochs=2", "hydra.sweeper.n_jobs=1",
            "hydra.sweeper.pruner.name=bandit", "hydra.sweeper.pruner.slack_factor=0.1"]
    first = run_trainkit([*args, "run.experiment=hpo_a", "hydra.sweeper.n_trials=2", "hydra.sweeper.seed=6"])
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    a = study_trials(workspace / "sweeps" / "hpo_a_smoke_search" / "study.db", "hpo_a_smoke_search")
    assert [(t.state.name, t.params["trainer.learning_rate"], len(t.intermediate_values)) for t in a] == \
        [("COMPLETE", "0.003", 2), ("PRUNED", "1e-05", 1)]                     # stopped at interval 1
    assert a[1].intermediate_values[1] * 1.1 < a[0].intermediate_values[1]    # the bandit rule

    second = run_trainkit([*args, "run.experiment=hpo_b", "hydra.sweeper.n_trials=1", "hydra.sweeper.seed=0",
                           "hydra.sweeper.warm_start=[hpo_a_smoke_search]"])
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "warm start: 2 trial(s) added from hpo_a_smoke_search (study 'hpo_a_smoke_search', 2 finished)" \
        in second.stdout
    assert "0 finished trial(s) so far, target 1" in second.stdout
    b = study_trials(workspace / "sweeps" / "hpo_b_smoke_search" / "study.db", "hpo_b_smoke_search")
    warm, new = b[:2], b[2:]
    assert [(t.user_attrs["warm_start"]["sweep"], t.user_attrs["warm_start"]["number"]) for t in warm] == \
        [("hpo_a_smoke_search", 0), ("hpo_a_smoke_search", 1)]
    assert [(t.state, t.params, t.value, t.intermediate_values) for t in warm] == \
        [(t.state, t.params, t.value, t.intermediate_values) for t in a]
    assert len(new) == 1 and "warm_start" not in new[0].user_attrs            # n_trials new trials ran
    assert (new[0].params["trainer.learning_rate"], new[0].state.name, len(new[0].intermediate_values)) == \
        ("1e-05", "PRUNED", 1)                                                 # by the warm-started trials
    runs = json.loads(run_cli(["runs", "list", "--json"]).stdout)
    assert sorted((r["experiment"], r["status"]) for r in runs) == \
        [("hpo_a", "completed"), ("hpo_a", "pruned"), ("hpo_b", "pruned")]
