import os

import pytest
import torch

# Two threads in one test process; with pytest-xdist (`make test` runs `-n 2`) each worker gets its share of the cores,
# so the workers do not spin-wait for each other's cores.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
torch.set_num_threads(max(1, min(2, (os.cpu_count() or 1) // _WORKERS)))


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than ~30 s on 2 CPU cores (run with -m slow)")
    config.addinivalue_line("markers", "e2e: drives a browser against the running app")


@pytest.fixture
def one_thread():
    """One intra-op thread for the test: small models run fastest single-threaded on a shared 2-core machine, and
    do not spin-wait for cores that other test processes hold."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def tiny_options():
    """Options of a small, fast detector for CPU tests."""
    return dict(min_size=128, max_size=192, rpn_pre_nms_top_n_test=200, rpn_post_nms_top_n_test=100,
                rpn_post_nms_top_n_train=200, rpn_pre_nms_top_n_train=200, box_batch_size_per_image=64)


# The browser tests' app and page (tests/e2e_support.py): one app and one Chromium page per test module; a module
# that needs another set-up (e.g. test_app_e2e_input.py's empty weights cache) defines its own.
@pytest.fixture(scope="module")
def url(tmp_path_factory):
    import e2e_support

    yield from e2e_support.serve(tmp_path_factory)


@pytest.fixture(scope="module")
def page(url):
    import e2e_support

    yield from e2e_support.browse(url)

