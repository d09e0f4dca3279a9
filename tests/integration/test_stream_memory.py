"""A big batch does not blow up streaming memory: one input pipeline element holds a group of
steps_per_call batches, so at batch 1024 x 50 steps (154 MB an element, several prefetched) a
streamed run peaked 350-460 MB above the same run at one step per call. The group is now bounded
(64 MB: 20 steps per call at this batch), said once in the output and recorded with the run."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import FASHION, ROOT, run_cli, run_trainkit

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not FASHION.exists(), reason="needs apt-get install dataset-fashion-mnist")]

COMMON = ["dataset=fashion_tfrecord", "dataset.in_memory=false", "trainer.batch_size=1024", "model.hidden=[64]",
          "trainer.epochs=2", "registry.enabled=false", "dataset.validation_fraction=0.01"]


@pytest.fixture(scope="module")
def tfrecords(tmp_path_factory) -> Path:
    """Fashion-MNIST's 60k training images as 4 TFRecord shards (scripts/make_datasets.py)."""
    out = tmp_path_factory.mktemp("tfrecord")
    res = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_datasets.py"), "--out", str(out),
                          "--formats", "tfrecord", "--shards", "4"], capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-2000:]
    return out


def train(steps_per_call: int, data: Path) -> tuple[str, dict]:
    proc = run_trainkit([*COMMON, f"trainer.steps_per_call={steps_per_call}", f"run.experiment=spc{steps_per_call}"],
                        env={"TRAINKIT_DATA": str(data)})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    run_id = re.search(r"run (\S+) completed", proc.stdout).group(1)
    return proc.stdout, json.loads(run_cli(["runs", "show", run_id, "--json"]).stdout)


def test_a_batch_of_1024_streams_50_steps_per_call_in_bounded_memory(workspace, tfrecords):
    out, bounded = train(50, tfrecords)
    _, single = train(1, tfrecords)
    assert "(streamed from files)" in out
    growth = bounded["metrics"]["peak_rss_mb"] - single["metrics"]["peak_rss_mb"]
    assert growth < 260, (bounded["metrics"]["peak_rss_mb"], single["metrics"]["peak_rss_mb"])
    assert out.count("steps per call: 20 instead of trainer.steps_per_call=50: a group of 50 batches of 1024 "
                     "examples would hold 153 MB, over the 64 MB") == 1
    assert bounded["metrics"]["steps_per_call"] == 20 and single["metrics"]["steps_per_call"] == 1
    assert bounded["metrics"]["test_accuracy"] > 0.75
