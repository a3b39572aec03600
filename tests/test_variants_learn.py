"""Every variant of Tables 1-3 can learn: each fits four toy training images (red squares, blue discs, 32-64 px on
128 px images) to a clear box-AP and proposal-AR bar in 150 iterations on one CPU thread, so a head or a pyramid
that cannot learn fails CI (slow: about 20-60 s per variant). The Sec. 6 mask proposer has its own overfit test in
test_mask_proposals.py; `--task rpn` (Table 1's protocol) is checked here for the proposal bar alone."""
from __future__ import annotations

import pytest
import torch
from tiny_training import tiny_config  # one tiny model for every variant (one protocol)
from toy_coco import make_toy_coco

import fpn
from fpn.training import train

AP_BAR, AR_BAR = 30.0, 30.0  # percent on the training images; an untrained detector scores about 0 on both


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return make_toy_coco(str(tmp_path_factory.mktemp("toy")), num_images=4, size=128)


def _fit(toy: str, out, variant: str, task: str = "detection") -> dict:
    config = tiny_config(toy, out, task=task, variant=variant, log_every=50, iters=150, steps=[0.8],
                         final_eval=True, seed=0)
    return train(config)["metrics"]


@pytest.mark.slow
@pytest.mark.parametrize("variant", fpn.VARIANTS)
def test_every_variant_fits_a_few_images(toy, tmp_path, variant):
    metrics = _fit(toy, tmp_path, variant)
    print(variant, metrics["bbox"], metrics["proposals"])
    assert metrics["bbox"]["AP"] > AP_BAR, (variant, metrics["bbox"])
    assert metrics["proposals"]["AR@100"] > AR_BAR, (variant, metrics["proposals"])
