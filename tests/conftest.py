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


def _write_fake_cifar(path, n_per_batch=20, n_test=20, seed=0):
    """A tar.gz in the official CIFAR-10 layout: cifar-10-batches-py/{data_batch_1..5,
    test_batch, batches.meta}, each a pickled dict with bytes keys (protocol 2, like the
    release); labels cycle through the 10 classes. Returns the members (name -> dict)."""
    import io
    import pickle
    import tarfile

    import numpy as np

    from ntkbook.data import cifar

    rng = np.random.default_rng(seed)

    def batch(n, name):
        labels = [int(i % 10) for i in range(n)]
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        return {b"batch_label": name.encode(), b"labels": labels, b"data": data,
                b"filenames": [f"img{i}.png".encode() for i in range(n)]}

    members = {f"data_batch_{i}": batch(n_per_batch, f"training batch {i} of 5") for i in range(1, 6)}
    members["test_batch"] = batch(n_test, "testing batch 1 of 1")
    members["batches.meta"] = {b"label_names": [c.encode() for c in cifar.CIFAR_CLASSES],
                               b"num_cases_per_batch": n_per_batch, b"num_vis": 3072}
    with tarfile.open(path, "w:gz") as tar:
        for name, obj in members.items():
            payload = pickle.dumps(obj, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return members


@pytest.fixture
def write_fake_cifar():
    """The writer of a fake official CIFAR-10 archive: ``write_fake_cifar(path, n_per_batch=20,
    n_test=20, seed=0)`` returns its members."""
    return _write_fake_cifar
