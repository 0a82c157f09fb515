"""ntkbook.data: the Dataset container, the registry, the synthetic and scikit-learn sets, argument checks.

The loaders that read files (Boston Housing, CIFAR-10) and the download and checksum machinery
are specified in ``test_data_files.py``.
"""

import ast
from pathlib import Path

import numpy as np
import pytest
import torch

from ntkbook import data as D
from ntkbook._validation import InvalidParameterError
from ntkbook.data import DataError, load_dataset

# ----------------------------------------------------------------------------- synthetic & sklearn


def test_sinusoids_components_and_frequency_errors():
    ds = load_dataset("sinusoids", n_train=64, n_test=200, frequencies=(1, 8),
                      amplitudes=(1.0, 0.3), noise=0.0, dtype=torch.float64)
    assert ds.x_train.shape == (64, 1) and ds.y_train.shape == (64, 1)
    comp = ds.extras["components_train"]
    assert torch.allclose(comp.sum(1, keepdim=True), ds.y_train)
    x = ds.x_test[:, 0]
    assert torch.allclose(ds.extras["components_test"][:, 1], 0.3 * torch.sin(2 * torch.pi * 8 * x))
    assert torch.allclose(ds.x_test[:, 0], torch.linspace(0, 1, 200, dtype=torch.float64))
    # a perfect prediction has no error; the low mode alone misses the high mode entirely
    err = D.frequency_errors(ds, ds.y_test)
    assert err["relative_error"].max() < 1e-8
    low_only = D.frequency_errors(ds, ds.extras["components_test"][:, :1])
    assert low_only["relative_error"].tolist() == pytest.approx([0.0, 1.0], abs=1e-8)
    hi = load_dataset("sinusoids", dim=5, n_train=10, n_test=7, noise=0.1)
    assert hi.x_train.shape == (10, 5) and hi.x_test.shape == (7, 5)
    assert "noise std 0.1" in hi.source and "dim 5" in hi.source


def test_seeded_and_deterministic():
    a = load_dataset("gaussian_mixture", n_train=50, n_test=20, seed=4)
    b = load_dataset("gaussian_mixture", n_train=50, n_test=20, seed=4)
    c = load_dataset("gaussian_mixture", n_train=50, n_test=20, seed=5)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_train, b.y_train)
    assert not torch.equal(a.x_train, c.x_train)
    assert a.n_classes == 5 and torch.bincount(a.y_train).tolist() == [10] * 5


@pytest.mark.parametrize("name,n,d,k", [("iris", 150, 4, 3), ("wine", 178, 13, 3)])
def test_sklearn_sets(name, n, d, k):
    ds = load_dataset(name, seed=1, dtype=torch.float64)
    assert ds.x_train.shape[1] == d and ds.n_classes == k
    assert len(ds.x_train) + len(ds.x_test) == n
    assert "scikit-learn" in ds.source
    assert torch.allclose(ds.x_train.mean(0), torch.zeros(d, dtype=torch.float64), atol=1e-10)
    # stratified, disjoint
    assert not set(ds.extras["train_index"]) & set(ds.extras["test_index"])
    small = load_dataset(name, n_train=30, n_test=30, seed=1)
    assert len(small.x_train) == 30 and len(small.x_test) == 30
    full = np.bincount(np.concatenate([ds.y_train.numpy(), ds.y_test.numpy()]))
    # stratified: class counts follow the class proportions to within one example
    assert np.abs(torch.bincount(small.y_train).numpy() - 30 * full / full.sum()).max() <= 1
    with pytest.raises(DataError, match=f"larger than the {n} examples"):
        load_dataset(name, n_train=n + 1)


def test_device_and_dtype():
    ds = load_dataset("iris", device="cpu", dtype=torch.float64)
    assert ds.x_train.dtype == torch.float64 and ds.y_train.dtype == torch.int64
    assert ds.x_train.device.type == "cpu"
    with pytest.raises(InvalidParameterError, match="'dtype' parameter of load_dataset\\('iris'\\) must be a floating"):
        load_dataset("iris", dtype=torch.int32)


def test_bad_input_errors():
    with pytest.raises(InvalidParameterError, match="'name' parameter of load_dataset must be a str among .*'iris'.* Got 'mnist'"):
        load_dataset("mnist")
    with pytest.raises(InvalidParameterError, match="load_dataset\\('iris'\\) has no parameter 'frequencies'; its own "
                       "parameters are \\['test_fraction', 'standardize'\\]"):
        load_dataset("iris", frequencies=(1, 2))
    with pytest.raises(DataError, match="labels do not match inputs"):
        D.make_dataset(np.zeros((5, 2)), np.zeros(4), np.zeros((2, 2)), np.zeros(2),
                       task="regression")
    with pytest.raises(DataError, match=r"must lie in \[0, 3\)"):
        D.make_dataset(np.zeros((3, 2)), [0, 1, 3], np.zeros((1, 2)), [0], task="classification",
                       n_classes=3)
    with pytest.raises(DataError, match="1 frequencies but 2 amplitudes"):
        load_dataset("sinusoids", frequencies=(1,), amplitudes=(1, 2))
    ok = D.make_dataset(np.zeros((3, 2)), [0, 1, 2], np.zeros((1, 2)), [0], task="classification")
    assert ok.n_classes == 3 and ok.y_train.dtype == torch.int64


@pytest.mark.parametrize("name, kwargs, argument, got", [
    ("sinusoids", dict(n_train=2.5), "n_train", "2.5"),
    ("sinusoids", dict(n_train=True), "n_train", "True"),
    ("sinusoids", dict(n_train="10"), "n_train", "'10'"),
    ("sinusoids", dict(n_test=-1), "n_test", "-1"),
    ("sinusoids", dict(seed=-1), "seed", "-1"),
    ("sinusoids", dict(seed="a"), "seed", "'a'"),
    ("sinusoids", dict(noise=float("nan")), "noise", "nan"),
    ("sinusoids", dict(noise=-1), "noise", "-1"),
    ("sinusoids", dict(frequencies=[1.0, float("inf")]), "frequencies", "[1.0, inf]"),
    ("sinusoids", dict(amplitudes="big"), "amplitudes", "'big'"),
    ("sinusoids", dict(dim=0), "dim", "0"),
    ("sinusoids", dict(test_grid="yes"), "test_grid", "'yes'"),
    ("gaussian_mixture", dict(n_classes=0), "n_classes", "0"),
    ("gaussian_mixture", dict(n_classes=1), "n_classes", "1"),
    ("gaussian_mixture", dict(spread=float("nan")), "spread", "nan"),
    ("gaussian_mixture", dict(separation=float("inf")), "separation", "inf"),
    ("gaussian_mixture", dict(n_train=0), "n_train", "0"),
    ("iris", dict(n_train=2.5), "n_train", "2.5"),
    ("iris", dict(n_train="10"), "n_train", "'10'"),
    ("iris", dict(seed=-1), "seed", "-1"),
    ("wine", dict(test_fraction=1.0), "test_fraction", "1.0"),
    ("wine", dict(standardize=1), "standardize", "1"),
    ("boston", dict(drop_b="no"), "drop_b", "'no'"),
    ("cifar10", dict(n_train=0), "n_train", "0"),
    ("cifar10", dict(flatten=None), "flatten", "None"),
])
def test_bad_arguments_name_themselves_and_their_dataset(name, kwargs, argument, got):
    with pytest.raises(InvalidParameterError) as err:
        load_dataset(name, **kwargs)
    msg = str(err.value)
    assert msg.startswith(f"The '{argument}' parameter of load_dataset('{name}') must be ")
    assert msg.endswith(f"Got {got} instead.")


def test_mixture_means_must_be_finite():
    with pytest.raises(InvalidParameterError, match="'means' parameter of load_dataset\\('gaussian_mixture'\\)"):
        load_dataset("gaussian_mixture", n_classes=2, dim=1, means=[[0.0], [float("nan")]])


def test_make_dataset_checks_task_and_n_classes():
    x = np.zeros((3, 2))
    with pytest.raises(InvalidParameterError, match="'task' parameter of make_dataset must be a str among"):
        D.make_dataset(x, [0, 1, 2], x, [0, 1, 2], task="ranking")
    with pytest.raises(InvalidParameterError, match="'n_classes' parameter of make_dataset .*Got 0 instead"):
        D.make_dataset(x, [0, 1, 2], x, [0, 1, 2], task="classification", n_classes=0)
    with pytest.raises(InvalidParameterError, match="'split' parameter of frequency_errors"):
        D.frequency_errors(load_dataset("sinusoids", n_train=4, n_test=4), torch.zeros(4), split="val")


# ----------------------------------------------------------------------------- the package


MODULES = ("dataset", "splits", "files", "restricted_pickle", "synthetic", "tabular", "boston",
           "cifar", "registry")  # the order of the package docstring: imports flow down it
# Loaders the package does not re-export: imported by their own name (ntkbook.data.cifar_archive,
# the official 50,000-image archive), below every module of the package.
OPTIONAL = ("cifar_archive",)


def test_the_package_lists_each_of_its_modules_once():
    on_disk = sorted(p.stem for p in Path(D.__file__).parent.glob("*.py") if p.stem != "__init__")
    assert on_disk == sorted(MODULES + OPTIONAL)


def test_an_optional_loader_is_not_re_exported_by_the_package():
    import importlib

    for module in OPTIONAL:
        mod = importlib.import_module(f"ntkbook.data.{module}")
        assert not set(mod.__all__) & set(D.__all__), f"ntkbook.data re-exports names of {module}"


@pytest.mark.parametrize("module", MODULES + OPTIONAL)
def test_each_data_module_imports_only_the_modules_above_it(module):
    tree = ast.parse((Path(D.__file__).parent / f"{module}.py").read_text(encoding="utf-8"))
    imported = [node.module.split(".")[2] for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
                and node.module.startswith("ntkbook.data.")]
    imported += [a.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                 for a in node.names if a.name.startswith("ntkbook.data")]
    order = MODULES + OPTIONAL
    above = order[:order.index(module)]
    assert all(m in above for m in imported), (
        f"ntkbook.data.{module} imports {imported}; it may import only {list(above)}")


def test_the_package_exports_exactly_the_public_names_of_its_modules():
    import importlib

    public = []
    for module in MODULES:
        mod = importlib.import_module(f"ntkbook.data.{module}")
        for name in mod.__all__:
            assert getattr(D, name) is getattr(mod, name), f"ntkbook.data.{name} is not {module}.{name}"
        public += mod.__all__
    assert sorted(D.__all__) == sorted(public)


def test_a_patched_load_dataset_reaches_code_that_imports_it_at_call_time(monkeypatch):
    monkeypatch.setattr("ntkbook.data.load_dataset", lambda name, **kw: f"patched {name}")

    def caller():
        from ntkbook.data import load_dataset

        return load_dataset("iris")

    assert caller() == "patched iris"
