import os

import pytest
import torch

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than ~30 s on 2 CPU cores (run with -m slow)")
    config.addinivalue_line("markers", "e2e: drives a browser against the running app")


@pytest.fixture
def tiny_options():
    """Options of a small, fast detector for CPU tests."""
    return dict(min_size=128, max_size=192, rpn_pre_nms_top_n_test=200, rpn_post_nms_top_n_test=100,
                rpn_post_nms_top_n_train=200, rpn_pre_nms_top_n_train=200, box_batch_size_per_image=64)
