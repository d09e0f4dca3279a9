"""The memory bound on one input pipeline element (a group of steps_per_call batches): big batches get
fewer steps per call, small ones keep trainer.steps_per_call. No TensorFlow."""
from __future__ import annotations

import pytest

from trainkit.train.loop import GROUP_BUDGET_BYTES, steps_per_call_for

IMAGE = 28 * 28 * 4 + 4     # one Fashion-MNIST example as the step sees it: float32 pixels, an int32 label


@pytest.mark.parametrize("batch,asked,expected", [
    (64, 50, 50),             # 12.6 MB a group: as asked
    (256, 50, 50),            # 50 x 0.80 MB = 40 MB: still as asked
    (512, 50, 41),            # 50 x 1.6 MB = 80 MB: 41 x 1.6 MB = 63 MB
    (1024, 50, 20),           # 50 x 3.2 MB = 154 MB (the 1.5 GB run): 20 x 3.2 MB = 62 MB
    (1024, 10, 10),           # asked for fewer than the bound allows
    (32768, 50, 1),           # one batch is over the bound by itself: one step per call, never 0
])
def test_a_group_of_batches_stays_within_the_budget(batch, asked, expected):
    k = steps_per_call_for(asked, batch * IMAGE)
    assert k == expected
    assert k == 1 or k * batch * IMAGE <= GROUP_BUDGET_BYTES
    assert k == asked or (k + 1) * batch * IMAGE > GROUP_BUDGET_BYTES    # the most that fits


def test_the_budget_is_64_mib_and_can_be_given():
    assert GROUP_BUDGET_BYTES == 64 * 2**20
    assert steps_per_call_for(50, 10 * 2**20, budget=35 * 2**20) == 3
    assert steps_per_call_for(7, 0) == 7
