"""Shared test set-up: tests run on CPU, in float64 unless they say otherwise."""

import pytest


@pytest.fixture
def cpu():
    import torch

    return torch.device("cpu")
