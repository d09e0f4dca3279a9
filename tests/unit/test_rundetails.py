"""RunDetails keeps one notebook output current while a run goes on (Azure ML's RunDetails widget):
a real run record on disk moves from running (epoch by epoch) to completed, and the one display
handle is updated in place, then left alone. The seam: IPython's `display`, which returns the handle."""
from __future__ import annotations

import json
import os
import socket

import pytest

from trainkit.api.run import Run
from trainkit.records.runs import write_status
from trainkit.records.workspace import RunPaths

from ..conftest import wait_until


class Handle:
    """IPython's DisplayHandle, recording what was shown: the first HTML, then every update."""

    def __init__(self, obj):
        self.shown = [obj.data]

    def update(self, obj) -> None:
        self.shown.append(obj.data)


@pytest.fixture
def handles(monkeypatch) -> list[Handle]:
    import IPython.display

    made: list[Handle] = []

    def display(obj, display_id=None):
        assert display_id is True, "RunDetails updates one output in place: it needs a display id"
        made.append(Handle(obj))
        return made[-1]

    monkeypatch.setattr(IPython.display, "display", display)
    return made


def epoch(paths: RunPaths, n: int, loss: float) -> None:
    with open(paths.metrics, "a") as f:
        f.write(json.dumps({"epoch": n, "loss": loss, "accuracy": 0.5 + n / 10, "epoch_time_s": 0.8}) + "\n")
    write_status(paths, "running", epoch=n)


def test_run_details_follows_a_run_from_running_to_completed_in_one_output(tmp_path, handles):
    import trainkit as tk

    paths = RunPaths(tmp_path / "experiments" / "nb" / "runs" / "20261207-101500-ab12cd")
    paths.root.mkdir(parents=True)
    write_status(paths, "running", pid=os.getpid(), host=socket.gethostname(), job={"backend": "local"})
    epoch(paths, 1, 0.6123)
    details = tk.RunDetails(Run(None, paths.root), every_s=0.02)
    assert details.show() is None                          # as Azure's widget: the cell prints nothing after it
    [handle] = handles
    first = handle.shown[0]
    assert 'data-run-id="20261207-101500-ab12cd"' in first and ">running<" in first and "epoch 1" in first
    assert "0.6123" in first and "<svg" in first

    epoch(paths, 2, 0.4567)                                             # the run goes on: the same output follows
    wait_until(lambda: "0.4567" in handle.shown[-1], 10, "epoch 2 in the updated output")
    assert "epoch 2" in handle.shown[-1] and ">running<" in handle.shown[-1] and details.thread.is_alive()

    write_status(paths, "completed", final_metrics={"test_accuracy": 0.8765, "test_loss": 0.3456})
    details.thread.join(timeout=10)
    assert not details.thread.is_alive(), "RunDetails stops following once the run ended"
    last = handle.shown[-1]
    assert ">completed<" in last and "test_accuracy" in last and "0.8765" in last and ">running<" not in last
    assert len(handles) == 1, "one output, updated in place (not a new one per refresh)"
    count = len(handle.shown)
    epoch(paths, 3, 0.1111)                                             # nothing follows an ended run
    assert len(handle.shown) == count


def test_run_details_of_an_ended_run_shows_it_once_blocking(tmp_path, handles):
    import trainkit as tk

    paths = RunPaths(tmp_path / "experiments" / "nb" / "runs" / "20261207-101501-cd34ef")
    paths.root.mkdir(parents=True)
    epoch(paths, 1, 0.5)
    write_status(paths, "failed", exit_reason="rank 1 exited with 137", job={"backend": "local"})
    tk.RunDetails(Run(None, paths.root), every_s=0.02).show(block=True)
    [handle] = handles
    assert ">failed<" in handle.shown[-1] and "rank 1 exited with 137" in handle.shown[-1]


def make_sweep(root) -> str:
    """A finished two-trial sweep in workspace `root` (records as trainkit writes them); its id."""
    ids = ["20261207-101502-aa0001", "20261207-101503-aa0002"]
    for i, run_id in enumerate(ids):
        paths = RunPaths(root / "experiments" / "nb" / "runs" / run_id)
        paths.root.mkdir(parents=True)
        for n in (1, 2):
            with open(paths.metrics, "a") as f:
                f.write(json.dumps({"epoch": n, "val_accuracy": 0.5 + i / 10 + n / 100}) + "\n")
        write_status(paths, "completed", final_metrics={"val_accuracy": 0.52 + i / 10}, job={"backend": "local"})
        job = root / "sweeps" / "20261207-101500-sweep0" / "jobs" / str(i)
        job.mkdir(parents=True)
        (job / "job.json").write_text(json.dumps({"job": i, "run_id": run_id, "state": "completed",
                                                  "overrides": [f"trainer.learning_rate={i / 100}"]}))
    return "20261207-101500-sweep0"


def test_run_details_of_a_sweep_shows_its_trials_with_curves_and_counts(tmp_path, handles):
    """RunDetails(sweep).show() raised AttributeError ('Sweep' object has no attribute 'status')."""
    import trainkit as tk

    sweep = tk.Workspace(tmp_path).get_sweep(make_sweep(tmp_path))
    assert tk.RunDetails(sweep, every_s=0.01).show(block=True) is None
    [handle] = handles
    last = handle.shown[-1]
    assert 'class="trainkit-sweep"' in last and "2 completed" in last and "{" not in last.split("<table")[0]
    assert "trainer.learning_rate=0.01" in last and last.count("<polyline") == 2     # one curve per trial
