"""Shared test set-up: tests run on CPU, in float64 unless they say otherwise."""

import pytest


@pytest.fixture
def cpu():
    import torch

    return torch.device("cpu")


@pytest.fixture(scope="module")
def one_torch_thread():
    """Run a module's tests on one torch thread, restored afterwards.

    The chapters' models are tiny: on a shared 2-core machine two threads were 20-40 times
    slower than one. Chapter test modules opt in with
    ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``; module-scoped data
    fixtures that train request it directly so they are built single-threaded too.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
