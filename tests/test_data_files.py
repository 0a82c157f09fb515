"""ntkbook.data's files: downloads, checksums, caches, the restricted unpickler, Boston and CIFAR-10.

Every file these tests read is made here (a fake CIFAR-10 archive in the official layout, a
small Boston CSV); nothing touches the network: downloads use file:// URLs. A published URL or
digest is replaced where it is defined (``ntkbook.data.cifar``, ``ntkbook.data.boston``), since
that is where the loaders read it.
"""

import hashlib
import io
import os
import pickle
import tarfile

import numpy as np
import pytest
import torch

from ntkbook import data as D
from ntkbook._io import SymlinkError
from ntkbook.data import (ChecksumError, CorruptFileError, DataError, DataNotFoundError, boston,
                          cifar, load_dataset)


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    d = tmp_path / "data"
    d.mkdir()
    monkeypatch.setenv("NTKBOOK_DATA_DIR", str(d))
    return d


def _listing(path):
    return sorted(p.name for p in path.iterdir())


# ----------------------------------------------------------------------------- fake CIFAR


def _md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def fake_cifar_url(tmp_path, monkeypatch, write_fake_cifar):
    src = tmp_path / "server" / "cifar-10-python.tar.gz"
    src.parent.mkdir()
    members = write_fake_cifar(src)
    monkeypatch.setattr(cifar, "CIFAR_URL", src.as_uri())
    monkeypatch.setattr(cifar, "CIFAR_MD5", _md5(src))
    return src, members


def test_cifar_download_verify_parse_and_cache(data_dir, fake_cifar_url):
    src, members = fake_cifar_url
    ds = load_dataset("cifar10", n_train=50, n_test=10, seed=3)
    assert _listing(data_dir) == [cifar.CIFAR_ARCHIVE, cifar.CIFAR_SUBSET_FILE, cifar.CIFAR_SUBSET_FILE + ".sha256"]
    assert ds.task == "classification" and ds.n_classes == 10
    assert ds.x_train.shape == (50, 3072) and ds.x_test.shape == (10, 3072)
    assert ds.y_train.dtype == torch.int64 and ds.x_train.dtype == torch.float32
    # stratified: 5 of each class in the training subset
    assert torch.bincount(ds.y_train, minlength=10).tolist() == [5] * 10
    assert "official CIFAR-10 python release" in ds.source
    assert ds.extras["class_names"] == cifar.CIFAR_CLASSES
    # per-channel standardization with train statistics
    img = load_dataset("cifar10", n_train=50, n_test=10, seed=3, flatten=False)
    assert img.x_train.shape == (50, 3, 32, 32)
    m = img.x_train.double().mean(dim=(0, 2, 3))
    s = img.x_train.double().std(dim=(0, 2, 3), unbiased=False)
    assert torch.allclose(m, torch.zeros(3, dtype=torch.float64), atol=1e-5)
    assert torch.allclose(s, torch.ones(3, dtype=torch.float64), atol=1e-4)
    # the cached pool holds the exact pixels of the archive (rows are images, CHW order)
    with np.load(data_dir / cifar.CIFAR_SUBSET_FILE) as z:
        pool_x, pool_y = z["x_train"], z["y_train"]
    raw = np.concatenate([members[f"data_batch_{i}"][b"data"] for i in range(1, 6)])
    raw_img = raw.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    for row, label in zip(pool_x[:5], pool_y[:5]):
        hits = np.flatnonzero((raw_img == row).all(axis=(1, 2, 3)))
        assert len(hits) == 1 and hits[0] % 10 == label
    # a second load uses the cache: delete the archive and it still works
    (data_dir / cifar.CIFAR_ARCHIVE).unlink()
    again = load_dataset("cifar10", n_train=50, n_test=10, seed=3)
    assert torch.equal(again.x_train, ds.x_train) and torch.equal(again.y_train, ds.y_train)


def test_cifar_checksum_mismatch_deletes_download(data_dir, fake_cifar_url, monkeypatch):
    monkeypatch.setattr(cifar, "CIFAR_MD5", "0" * 32)
    with pytest.raises(ChecksumError, match="md5"):
        load_dataset("cifar10", n_train=10)
    assert _listing(data_dir) == []  # no archive, no temp file, no cache


def test_cifar_offline_error_names_the_file_and_directory(data_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(cifar, "CIFAR_URL", (tmp_path / "nowhere.tar.gz").as_uri())
    with pytest.raises(DataNotFoundError) as err:
        load_dataset("cifar10")
    msg = str(err.value)
    assert cifar.CIFAR_ARCHIVE in msg and str(data_dir) in msg and "NTKBOOK_DATA_DIR" in msg
    assert _listing(data_dir) == []
    with pytest.raises(DataNotFoundError):
        load_dataset("cifar10", download=False)


def _prepared_npz(path, zero_pixels=False):
    """A small stand-in for the prepared cifar10-5k.npz; returns its sha256."""
    rng = np.random.default_rng(0)
    y_tr, y_te = np.repeat(np.arange(10), 6), np.repeat(np.arange(10), 2)
    x_tr = rng.integers(0, 256, (60, 32, 32, 3), dtype=np.uint8)
    x_te = rng.integers(0, 256, (20, 32, 32, 3), dtype=np.uint8)
    if zero_pixels:
        x_tr[:] = 0
    np.savez(path, x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te,
             classes=np.array(cifar.CIFAR_CLASSES), source=np.array("a prepared test copy"))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_cifar_reads_prepared_npz_and_reports_its_source(data_dir, monkeypatch):
    monkeypatch.setattr(cifar, "CIFAR_SUBSET_SHA256", _prepared_npz(data_dir / cifar.CIFAR_SUBSET_FILE))
    ds = load_dataset("cifar10", n_train=30, n_test=20, seed=1, dtype=torch.float64)
    assert ds.source.startswith("a prepared test copy")
    assert ds.x_train.dtype == torch.float64
    assert torch.bincount(ds.y_train).tolist() == [3] * 10
    # seeded: same seed -> same subset, other seed -> another
    same = load_dataset("cifar10", n_train=30, n_test=20, seed=1, dtype=torch.float64)
    other = load_dataset("cifar10", n_train=30, n_test=20, seed=2, dtype=torch.float64)
    assert torch.equal(same.x_train, ds.x_train) and not torch.equal(other.x_train, ds.x_train)
    with pytest.raises(DataError, match="n_train=61 is larger than the 60"):
        load_dataset("cifar10", n_train=61)


def test_prepared_cifar_copy_with_zeroed_pixels_fails_its_published_checksum(data_dir, monkeypatch):
    path = data_dir / cifar.CIFAR_SUBSET_FILE
    monkeypatch.setattr(cifar, "CIFAR_SUBSET_SHA256", _prepared_npz(path))  # the published digest
    _prepared_npz(path, zero_pixels=True)  # same arrays, same shapes, pixels zeroed
    with pytest.raises(ChecksumError) as err:
        load_dataset("cifar10", n_train=10, n_test=10)
    msg = str(err.value)
    assert str(path) in msg and "sha256" in msg and "published" in msg and "delete it" in msg
    ds = load_dataset("cifar10", n_train=10, n_test=10, verify=False)  # a local variant, on request
    assert float(ds.x_train.abs().max()) == 0.0


def test_the_published_cifar_subset_digest_is_the_default_check(data_dir):
    _prepared_npz(data_dir / cifar.CIFAR_SUBSET_FILE)
    with pytest.raises(ChecksumError, match=f"expected {cifar.CIFAR_SUBSET_SHA256}"):
        load_dataset("cifar10")


def test_a_subset_built_here_is_verified_against_the_digest_recorded_beside_it(data_dir, fake_cifar_url):
    load_dataset("cifar10", n_train=20, n_test=10)
    pool = data_dir / cifar.CIFAR_SUBSET_FILE
    recorded = (data_dir / (cifar.CIFAR_SUBSET_FILE + ".sha256")).read_text().split()
    assert recorded == [hashlib.sha256(pool.read_bytes()).hexdigest(), cifar.CIFAR_SUBSET_FILE]
    with np.load(pool) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["x_train"][:] = 0
    np.savez_compressed(pool, **arrays)
    with pytest.raises(ChecksumError, match=f"{pool}: sha256 .*recorded in cifar10-5k.npz.sha256"):
        load_dataset("cifar10", n_train=20, n_test=10)


def test_a_digest_without_its_pool_rebuilds_both(data_dir, fake_cifar_url):
    load_dataset("cifar10", n_train=20, n_test=10)
    first = (data_dir / cifar.CIFAR_SUBSET_FILE).read_bytes()
    (data_dir / cifar.CIFAR_SUBSET_FILE).unlink()  # as if killed between the two writes
    load_dataset("cifar10", n_train=20, n_test=10)
    assert (data_dir / cifar.CIFAR_SUBSET_FILE).read_bytes() == first


def test_an_unreadable_recorded_digest_is_a_clear_error(data_dir):
    _prepared_npz(data_dir / cifar.CIFAR_SUBSET_FILE)
    (data_dir / (cifar.CIFAR_SUBSET_FILE + ".sha256")).write_text("garbage\n")
    with pytest.raises(CorruptFileError, match="cifar10-5k.npz.sha256 does not hold a SHA-256"):
        load_dataset("cifar10")


def test_corrupt_cached_npz_gives_a_clear_error(data_dir):
    (data_dir / cifar.CIFAR_SUBSET_FILE).write_bytes(b"this is not a zip file")
    with pytest.raises(ChecksumError, match="cifar10-5k.npz: sha256"):
        load_dataset("cifar10")
    with pytest.raises(CorruptFileError, match="cifar10-5k.npz.*delete it"):
        load_dataset("cifar10", verify=False)


def test_npz_with_mismatched_labels_is_refused(data_dir):
    np.savez(data_dir / cifar.CIFAR_SUBSET_FILE,
             x_train=np.zeros((10, 32, 32, 3), np.uint8), y_train=np.arange(9),
             x_test=np.zeros((2, 32, 32, 3), np.uint8), y_test=np.arange(2),
             classes=np.array(cifar.CIFAR_CLASSES), source=np.array("bad"))
    with pytest.raises(CorruptFileError, match="labels do not match inputs"):
        load_dataset("cifar10", verify=False)


def test_corrupt_archive_gives_a_clear_error(data_dir, monkeypatch):
    (data_dir / cifar.CIFAR_ARCHIVE).write_bytes(b"garbage")
    monkeypatch.setattr(cifar, "CIFAR_MD5", hashlib.md5(b"garbage").hexdigest())
    with pytest.raises(CorruptFileError, match="not a readable tar.gz"):
        load_dataset("cifar10")
    assert _listing(data_dir) == [cifar.CIFAR_ARCHIVE]  # no half-written cache


# ----------------------------------------------------------------------------- restricted pickle


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_restricted_unpickler_refuses_code_execution(tmp_path, monkeypatch):
    payload = pickle.dumps({b"data": _Evil()}, protocol=2)
    with pytest.raises(pickle.UnpicklingError, match="system"):
        D.restricted_load(io.BytesIO(payload))
    for obj in (eval, getattr, __import__):
        with pytest.raises(pickle.UnpicklingError, match="refusing"):
            D.restricted_load(io.BytesIO(pickle.dumps(obj)))
    # inside an archive the refusal becomes a clear CorruptFileError and nothing is cached
    d = tmp_path / "data"
    d.mkdir()
    monkeypatch.setenv("NTKBOOK_DATA_DIR", str(d))
    with tarfile.open(d / cifar.CIFAR_ARCHIVE, "w:gz") as tar:
        info = tarfile.TarInfo("cifar-10-batches-py/data_batch_1")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    monkeypatch.setattr(cifar, "CIFAR_MD5", _md5(d / cifar.CIFAR_ARCHIVE))
    with pytest.raises(CorruptFileError, match="refusing to unpickle global"):
        load_dataset("cifar10")
    assert not (d / cifar.CIFAR_SUBSET_FILE).exists()


def test_restricted_unpickler_admits_containers_and_arrays():
    obj = {b"labels": [1, 2, 3], b"data": np.arange(12, dtype=np.uint8).reshape(3, 4),
           b"name": b"x", "t": (1.5, None, True)}
    for protocol in (2, 4, 5):
        out = D.restricted_load(io.BytesIO(pickle.dumps(obj, protocol=protocol)))
        assert out[b"labels"] == [1, 2, 3] and out[b"name"] == b"x"
        np.testing.assert_array_equal(out[b"data"], obj[b"data"])


# ----------------------------------------------------------------------------- Boston


def _boston_csv(path, n=30, seed=0):
    rng = np.random.default_rng(seed)
    header = ",".join(f'"{c}"' for c in boston.BOSTON_COLUMNS)
    lines = [header]
    for i in range(n):
        vals = rng.uniform(0, 10, size=14).round(3)
        vals[3] = i % 2
        cells = [repr(float(v)) for v in vals]
        cells[3] = f'"{int(vals[3])}"'
        lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n")
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_boston_from_csv_standardized_on_train_with_b_column_option(data_dir, monkeypatch):
    sha = _boston_csv(data_dir / boston.BOSTON_FILE)
    monkeypatch.setattr(boston, "BOSTON_SHA256", sha)
    ds = load_dataset("boston", seed=0)
    assert ds.task == "regression" and ds.x_train.shape == (24, 13) and ds.x_test.shape == (6, 13)
    assert ds.y_train.shape == (24, 1)
    assert "b" in ds.feature_names and "Black residents" in ds.notes
    assert "Black residents" in boston._boston.__doc__
    x = ds.x_train.double()
    assert torch.allclose(x.mean(0), torch.zeros(13, dtype=torch.float64), atol=1e-6)
    assert torch.allclose(x.std(0, unbiased=False), torch.ones(13, dtype=torch.float64), atol=1e-5)
    assert abs(float(ds.y_train.double().mean())) < 1e-6
    # test statistics are not re-fitted: the test split is not exactly standardized
    assert float(ds.x_test.double().mean(0).abs().max()) > 1e-3
    dropped = load_dataset("boston", seed=0, drop_b=True)
    assert dropped.x_train.shape == (24, 12) and "b" not in dropped.feature_names
    assert "column b dropped" in dropped.source
    raw = load_dataset("boston", seed=0, standardize=False, standardize_y=False)
    import pandas as pd
    table = pd.read_csv(data_dir / boston.BOSTON_FILE)
    idx = ds.extras["train_index"]
    np.testing.assert_allclose(raw.y_train.double().numpy().ravel(), table["medv"].to_numpy()[idx],
                               rtol=1e-6)
    np.testing.assert_allclose(ds.extras["x_mean"],
                               table.drop(columns="medv").to_numpy(float)[idx].mean(0))


def test_boston_checksum_mismatch_on_a_cached_file(data_dir):
    _boston_csv(data_dir / boston.BOSTON_FILE)
    with pytest.raises(ChecksumError, match="sha256.*delete it"):
        load_dataset("boston")


def test_boston_download_from_url(data_dir, tmp_path, monkeypatch):
    src = tmp_path / "BostonHousing.csv"
    sha = _boston_csv(src, n=20)
    monkeypatch.setattr(boston, "BOSTON_URL", src.as_uri())
    monkeypatch.setattr(boston, "BOSTON_SHA256", sha)
    ds = load_dataset("boston", n_train=15, n_test=5)
    assert _listing(data_dir) == [boston.BOSTON_FILE]
    assert ds.x_train.shape == (15, 13) and "downloaded now from file://" in ds.source
    assert "in the data directory" in load_dataset("boston").source
    with pytest.raises(DataError, match="n_train=21 is larger than the 20"):
        load_dataset("boston", n_train=21)
    with pytest.raises(DataError, match="larger than the 20"):
        load_dataset("boston", n_train=15, n_test=10)


def test_boston_download_mismatch_leaves_nothing(data_dir, tmp_path, monkeypatch):
    src = tmp_path / "BostonHousing.csv"
    _boston_csv(src)
    monkeypatch.setattr(boston, "BOSTON_URL", src.as_uri())
    with pytest.raises(ChecksumError, match="deleted"):
        load_dataset("boston")
    assert _listing(data_dir) == []


def test_boston_corrupt_csv(data_dir, monkeypatch):
    path = data_dir / boston.BOSTON_FILE
    path.write_text("a,b\n1,2\n")
    monkeypatch.setattr(boston, "BOSTON_SHA256", hashlib.sha256(path.read_bytes()).hexdigest())
    with pytest.raises(CorruptFileError, match="missing Boston Housing columns"):
        load_dataset("boston")


def test_boston_offline_error(data_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(boston, "BOSTON_URL", (tmp_path / "missing.csv").as_uri())
    with pytest.raises(DataNotFoundError, match="boston_housing.csv"):
        load_dataset("boston")


def test_download_is_atomic_and_verifies(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"hello world")
    good = hashlib.sha256(b"hello world").hexdigest()
    dest = tmp_path / "out" / "file.bin"
    D.download(src.as_uri(), dest, sha256=good, md5=hashlib.md5(b"hello world").hexdigest())
    assert dest.read_bytes() == b"hello world"
    dest2 = tmp_path / "out" / "other.bin"
    with pytest.raises(ChecksumError):
        D.download(src.as_uri(), dest2, sha256="1" * 64)
    assert _listing(tmp_path / "out") == ["file.bin"]


def test_download_refuses_to_write_through_a_symlink(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"new")
    target = tmp_path / "elsewhere.bin"
    target.write_bytes(b"old")
    link = tmp_path / "out" / "file.bin"
    link.parent.mkdir()
    link.symlink_to(target)
    with pytest.raises(SymlinkError, match="symbolic link"):
        D.download(src.as_uri(), link)
    assert target.read_bytes() == b"old" and _listing(tmp_path / "out") == ["file.bin"]


def test_data_dir_defaults_to_user_cache(monkeypatch):
    import platformdirs

    monkeypatch.delenv("NTKBOOK_DATA_DIR", raising=False)
    assert str(D.data_dir()).startswith(platformdirs.user_cache_dir("ntkbook"))


# ----------------------------------------------------------------------------- prepared files


def _prepared_dir():
    import os
    from pathlib import Path

    d = os.environ.get("NTKBOOK_DATA_DIR")
    return Path(d) if d else None


@pytest.mark.skipif(not (_prepared_dir() and (_prepared_dir() / boston.BOSTON_FILE).exists()),
                    reason="NTKBOOK_DATA_DIR does not hold the prepared boston_housing.csv")
def test_prepared_boston_file():
    ds = load_dataset("boston", n_test=0, standardize=False, standardize_y=False)
    assert len(ds.x_train) == 506 and ds.x_train.shape[1] == 13 and "sha256 verified" in ds.source
    assert load_dataset("boston", drop_b=True).x_train.shape[1] == 12


@pytest.mark.skipif(not (_prepared_dir() and (_prepared_dir() / cifar.CIFAR_SUBSET_FILE).exists()),
                    reason="NTKBOOK_DATA_DIR does not hold the prepared cifar10-5k.npz")
def test_prepared_cifar_file():
    ds = load_dataset("cifar10", n_train=1000, n_test=200, flatten=False)
    assert ds.x_train.shape == (1000, 3, 32, 32) and ds.n_classes == 10
    assert torch.bincount(ds.y_train).tolist() == [100] * 10
    print(ds.source)
    full = load_dataset("cifar10")
    assert len(full.x_train) == 5000 and len(full.x_test) == 1000


@pytest.mark.skipif(not (_prepared_dir() and (_prepared_dir() / "README.md").exists()),
                    reason="NTKBOOK_DATA_DIR does not hold the README of the prepared files")
def test_the_digests_in_the_code_are_the_published_ones():
    readme = (_prepared_dir() / "README.md").read_text()
    for name, digest in ((boston.BOSTON_FILE, boston.BOSTON_SHA256), (cifar.CIFAR_SUBSET_FILE, cifar.CIFAR_SUBSET_SHA256)):
        row = next(line for line in readme.splitlines() if line.startswith(f"| `{name}`"))
        assert row.rstrip(" |").endswith(digest), name


def test_cifar_with_an_empty_test_split_keeps_the_feature_width():
    from ntkbook.data import data_dir, load_dataset

    if not (data_dir() / "cifar10-5k.npz").is_file():
        pytest.skip("NTKBOOK_DATA_DIR does not hold the prepared cifar10-5k.npz")
    d = load_dataset("cifar10", n_train=20, n_test=0, seed=0)
    assert tuple(d.x_test.shape) == (0, 3072) and tuple(d.x_train.shape) == (20, 3072)
