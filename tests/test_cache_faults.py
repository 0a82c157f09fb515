"""Fault injection on the experiment cache: stale code, ``--force``, truncated, edited and
half-written files, symbolic links, interrupts, concurrent writers and name collisions.

Each test caches a tiny run (one seed, one epoch: well under a second), breaks something,
and checks that the next run recomputes (warning, naming the file, when a file was
damaged), refuses, or loads, as :mod:`ntkbook.experiments.runs` documents.
"""

import os
import threading
import warnings

import numpy as np
import pandas as pd
import pytest

import ntkbook._fingerprint
from ntkbook._io import SymlinkError, read_json, write_json
from ntkbook.experiments import runs
from ntkbook.experiments.benchmarks import run_kernel_regression
from ntkbook.experiments.kernel_baseline import KernelBaseline
from ntkbook.experiments.runs import CacheWarning, ExperimentConfig, run_experiment

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _config(**over):
    kw = dict(dataset="sinusoids", model="mlp", dataset_kwargs={"n_train": 16, "n_test": 8},
              model_kwargs={"width": 8, "depth": 1}, lr=0.05, epochs=1, seeds=(0,))
    kw.update(over)
    return ExperimentConfig(**kw)


@pytest.fixture
def no_cache_warnings():
    """Turn a CacheWarning into an error: the test expects the cache to be trusted silently."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheWarning)
        yield


@pytest.fixture
def cached(tmp_path, monkeypatch):
    """A cached result: (config, its frame, csv path, sidecar path); NTKBOOK_FORCE unset."""
    monkeypatch.delenv("NTKBOOK_FORCE", raising=False)
    cfg = _config()
    df = run_experiment(cfg, results_dir=tmp_path)
    (csv,) = tmp_path.glob("*.csv")
    return cfg, df, csv, csv.with_suffix(".json")


def _rerun(cfg, csv):
    return run_experiment(cfg, results_dir=csv.parent)


def _files(folder):
    return sorted(p.name for p in folder.iterdir())


# ----------------------------------------------------------------------------- stale code, --force


def test_a_result_cached_by_other_code_is_recomputed(cached, monkeypatch, no_cache_warnings):
    cfg, df, csv, _ = cached
    monkeypatch.setattr(ntkbook._fingerprint, "code_fingerprint", lambda: "f" * 64)
    again = _rerun(cfg, csv)
    assert not again.attrs["metadata"]["loaded_from_cache"]
    assert again.attrs["metadata"]["code_fingerprint"] == "f" * 64
    assert _rerun(cfg, csv).attrs["metadata"]["loaded_from_cache"]  # cached under the new code


def test_the_same_code_loads_the_cached_result(cached, no_cache_warnings):
    cfg, df, csv, _ = cached
    again = _rerun(cfg, csv)
    assert again.attrs["metadata"]["loaded_from_cache"]
    pd.testing.assert_frame_equal(df, again, check_exact=True)


def test_ntkbook_force_1_recomputes(cached, monkeypatch):
    cfg, df, csv, _ = cached
    monkeypatch.setenv("NTKBOOK_FORCE", "1")
    again = _rerun(cfg, csv)
    assert not again.attrs["metadata"]["loaded_from_cache"]
    pd.testing.assert_frame_equal(df, again, check_exact=True)


def test_ntkbook_force_other_than_1_loads_the_cache(cached, monkeypatch):
    cfg, _, csv, _ = cached
    monkeypatch.setenv("NTKBOOK_FORCE", "0")
    assert _rerun(cfg, csv).attrs["metadata"]["loaded_from_cache"]


def test_an_explicit_force_false_overrides_ntkbook_force(cached, monkeypatch):
    cfg, _, csv, _ = cached
    monkeypatch.setenv("NTKBOOK_FORCE", "1")
    assert run_experiment(cfg, results_dir=csv.parent, force=False).attrs["metadata"]["loaded_from_cache"]


def test_force_must_be_a_bool_or_none(cached):
    cfg, _, csv, _ = cached
    with pytest.raises(ValueError, match="'force' parameter of run_experiment"):
        run_experiment(cfg, results_dir=csv.parent, force="yes")


# ----------------------------------------------------------------------------- damaged files


def test_a_truncated_csv_is_recomputed_with_a_warning_naming_it(cached):
    cfg, df, csv, _ = cached
    data = csv.read_bytes()
    csv.write_bytes(data[: len(data) // 2])
    with pytest.warns(CacheWarning, match=f"{csv.name}.*SHA-256"):
        again = _rerun(cfg, csv)
    assert not again.attrs["metadata"]["loaded_from_cache"]
    pd.testing.assert_frame_equal(df, again, check_exact=True)
    assert csv.read_bytes() == data  # rewritten whole


def test_a_csv_truncated_at_a_row_boundary_is_recomputed(cached):
    cfg, df, csv, _ = cached
    lines = csv.read_bytes().splitlines(keepends=True)
    csv.write_bytes(b"".join(lines[: len(lines) // 2]))  # still a well-formed CSV
    with pytest.warns(CacheWarning, match=csv.name):
        again = _rerun(cfg, csv)
    assert len(again) == len(df)


def test_an_edited_csv_value_is_recomputed_with_a_warning(cached):
    cfg, df, csv, _ = cached
    text = csv.read_text()
    value = repr(float(df.value.iloc[0]))
    assert value in text
    csv.write_text(text.replace(value, value[:-1] + ("1" if value[-1] != "1" else "2"), 1))
    with pytest.warns(CacheWarning, match=csv.name):
        again = _rerun(cfg, csv)
    pd.testing.assert_frame_equal(df, again, check_exact=True)


def test_a_truncated_sidecar_is_recomputed_with_a_warning_naming_it(cached):
    cfg, df, csv, sidecar = cached
    text = sidecar.read_text()
    sidecar.write_text(text[: len(text) // 2])
    with pytest.warns(CacheWarning, match=sidecar.name):
        again = _rerun(cfg, csv)
    assert not again.attrs["metadata"]["loaded_from_cache"]
    assert read_json(sidecar)["result_rows"] == len(df)  # a whole sidecar again


def test_a_sidecar_that_is_not_an_object_is_recomputed(cached):
    cfg, _, csv, sidecar = cached
    sidecar.write_text("[]\n")
    with pytest.warns(CacheWarning, match=sidecar.name):
        _rerun(cfg, csv)


def test_a_missing_sidecar_is_recomputed_with_a_warning(cached):
    cfg, df, csv, sidecar = cached
    sidecar.unlink()
    with pytest.warns(CacheWarning, match=f"{csv.name}.*sidecar"):
        again = _rerun(cfg, csv)
    assert not again.attrs["metadata"]["loaded_from_cache"] and sidecar.exists()


def test_a_missing_csv_is_recomputed_with_a_warning(cached):
    cfg, df, csv, sidecar = cached
    csv.unlink()
    with pytest.warns(CacheWarning, match=sidecar.name):
        again = _rerun(cfg, csv)
    pd.testing.assert_frame_equal(df, again, check_exact=True)


def test_a_sidecar_of_an_older_format_is_recomputed_silently(cached, no_cache_warnings):
    cfg, _, csv, sidecar = cached
    meta = read_json(sidecar)
    del meta["cache_format"]
    write_json(sidecar, meta)
    assert not _rerun(cfg, csv).attrs["metadata"]["loaded_from_cache"]


def test_a_non_finite_value_round_trips_through_the_cache(tmp_path, monkeypatch, no_cache_warnings):
    cfg = _config()
    real = runs._run_seeds

    def with_nan(*args):
        df, info = real(*args)
        df.loc[0, "value"] = np.nan
        df.loc[1, "value"] = np.inf
        return df, info

    monkeypatch.setattr(runs, "_run_seeds", with_nan)
    df = run_experiment(cfg, results_dir=tmp_path)
    again = run_experiment(cfg, results_dir=tmp_path)
    assert again.attrs["metadata"]["loaded_from_cache"]
    pd.testing.assert_frame_equal(df, again, check_exact=True)


# ----------------------------------------------------------------------------- links


def test_a_symlinked_cache_file_is_refused_and_its_target_left_alone(cached, tmp_path_factory):
    cfg, _, csv, _ = cached
    outside = tmp_path_factory.mktemp("outside") / "precious.csv"
    outside.write_text("precious\n")
    csv.unlink()
    csv.symlink_to(outside)
    with pytest.raises(SymlinkError, match=csv.name):
        run_experiment(cfg, results_dir=csv.parent, force=True)
    assert outside.read_text() == "precious\n"


def test_a_symlinked_sidecar_is_refused(cached, tmp_path_factory):
    cfg, _, csv, sidecar = cached
    outside = tmp_path_factory.mktemp("outside") / "meta.json"
    outside.write_text(sidecar.read_text())
    sidecar.unlink()
    sidecar.symlink_to(outside)
    with pytest.raises(SymlinkError, match=sidecar.name):
        _rerun(cfg, csv)


def test_a_symlinked_csv_is_refused_before_anything_runs(tmp_path, tmp_path_factory, monkeypatch):
    cfg = _config()
    target = tmp_path_factory.mktemp("outside") / "x.csv"
    target.write_text("x\n")
    stem = runs._stem(cfg, runs.config_hash(cfg))
    (tmp_path / f"{stem}.csv").symlink_to(target)
    monkeypatch.setattr(runs, "_run_seeds", lambda *a: pytest.fail("ran before refusing the link"))
    with pytest.raises(SymlinkError):
        run_experiment(cfg, results_dir=tmp_path)
    assert target.read_text() == "x\n"


# ----------------------------------------------------------------------------- interrupts


def test_an_interrupted_sidecar_write_leaves_no_partial_and_no_half_cache(tmp_path, monkeypatch):
    cfg = _config()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runs, "write_json", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(cfg, results_dir=tmp_path)
    assert _files(tmp_path) == []  # the CSV written before the interrupt is gone too
    monkeypatch.undo()
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheWarning)
        assert not run_experiment(cfg, results_dir=tmp_path).attrs["metadata"]["loaded_from_cache"]
        assert run_experiment(cfg, results_dir=tmp_path).attrs["metadata"]["loaded_from_cache"]


def test_an_interrupt_inside_a_forced_csv_write_keeps_the_old_cache_whole(cached, monkeypatch):
    cfg, df, csv, sidecar = cached
    before = {p.name: p.read_bytes() for p in (csv, sidecar)}

    def interrupted(fd):
        raise KeyboardInterrupt  # the partial file holds the new bytes, not yet moved into place

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(cfg, results_dir=csv.parent, force=True)
    monkeypatch.undo()
    assert _files(csv.parent) == sorted(before)  # no .partial left
    assert {p.name: p.read_bytes() for p in (csv, sidecar)} == before
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheWarning)
        assert _rerun(cfg, csv).attrs["metadata"]["loaded_from_cache"]


def test_a_failed_computation_leaves_the_cache_as_it_was(cached, monkeypatch):
    cfg, _, csv, sidecar = cached
    before = {p.name: p.read_bytes() for p in (csv, sidecar)}
    monkeypatch.setattr(runs, "_run_seeds", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        run_experiment(cfg, results_dir=csv.parent, force=True)
    assert {p.name: p.read_bytes() for p in csv.parent.iterdir()} == before


# ----------------------------------------------------------------------------- concurrency, names


def test_concurrent_runs_of_one_config_leave_one_valid_cache(tmp_path, no_cache_warnings):
    cfg = _config()
    results, errors = [], []

    def run():
        try:
            results.append(run_experiment(cfg, results_dir=tmp_path, force=True))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 3
    assert len(_files(tmp_path)) == 2  # one CSV, one sidecar, no partials
    again = run_experiment(cfg, results_dir=tmp_path)
    assert again.attrs["metadata"]["loaded_from_cache"]
    pd.testing.assert_frame_equal(results[0], again, check_exact=True)


def test_two_configs_whose_labels_sanitize_alike_never_share_files(tmp_path, no_cache_warnings):
    a, b = _config(label="net/a"), _config(label="net a", lr=0.01)
    assert runs._stem(a, runs.config_hash(a)).startswith("sinusoids_net-a_")
    da, db = run_experiment(a, results_dir=tmp_path), run_experiment(b, results_dir=tmp_path)
    assert len(_files(tmp_path)) == 4
    assert run_experiment(a, results_dir=tmp_path).attrs["metadata"]["config"]["label"] == "net/a"
    assert run_experiment(b, results_dir=tmp_path).attrs["metadata"]["config"]["label"] == "net a"
    assert not da.value.equals(db.value)


def test_a_stem_collision_never_serves_the_other_configs_result(tmp_path, monkeypatch, no_cache_warnings):
    monkeypatch.setattr(runs, "_stem", lambda config, digest: "same")
    a, b = _config(), _config(lr=0.01)
    da = run_experiment(a, results_dir=tmp_path)
    db = run_experiment(b, results_dir=tmp_path)
    assert not db.attrs["metadata"]["loaded_from_cache"]
    assert db.attrs["metadata"]["config_hash"] == runs.config_hash(b)
    assert not da.value.equals(db.value)


def test_a_network_and_the_kernel_baseline_of_one_dataset_never_share_files(tmp_path, no_cache_warnings):
    run_experiment(_config(), results_dir=tmp_path)
    run_kernel_regression(KernelBaseline(), "sinusoids", {"n_train": 16, "n_test": 8}, (0,), results_dir=tmp_path)
    assert len(_files(tmp_path)) == 4


# ----------------------------------------------------------------------------- the kernel baseline


def test_the_kernel_baseline_is_verified_like_every_cached_run(tmp_path, monkeypatch):
    monkeypatch.delenv("NTKBOOK_FORCE", raising=False)
    args = (KernelBaseline(ridges=(1e-3,)), "sinusoids", {"n_train": 16, "n_test": 8}, (0, 1))
    df = run_kernel_regression(*args, results_dir=tmp_path)
    meta = df.attrs["metadata"]
    assert meta["code_fingerprint"] == ntkbook._fingerprint.code_fingerprint()
    assert meta["result_rows"] == len(df)
    (csv,) = tmp_path.glob("*.csv")
    csv.write_bytes(csv.read_bytes()[:-40])
    with pytest.warns(CacheWarning, match=csv.name):
        again = run_kernel_regression(*args, results_dir=tmp_path)
    pd.testing.assert_frame_equal(df, again, check_exact=True)
    monkeypatch.setattr(ntkbook._fingerprint, "code_fingerprint", lambda: "0" * 64)
    assert not run_kernel_regression(*args, results_dir=tmp_path).attrs["metadata"]["loaded_from_cache"]
    monkeypatch.setenv("NTKBOOK_FORCE", "1")
    assert not run_kernel_regression(*args, results_dir=tmp_path).attrs["metadata"]["loaded_from_cache"]


def test_a_tuned_run_is_cached_and_verified_like_every_run(tmp_path, monkeypatch, no_cache_warnings):
    monkeypatch.delenv("NTKBOOK_FORCE", raising=False)
    cfg = _config(validation=0.25, grid=[{"lr": 0.01}, {"lr": 0.05}], epochs=2)
    first = run_experiment(cfg, results_dir=tmp_path)
    again = run_experiment(cfg, results_dir=tmp_path)
    assert again.attrs["metadata"]["loaded_from_cache"]
    pd.testing.assert_frame_equal(first, again, check_exact=True)
    other = run_experiment(_config(validation=0.25, grid=[{"lr": 0.01}], epochs=2), results_dir=tmp_path)
    assert not other.attrs["metadata"]["loaded_from_cache"]  # another grid is another cache entry
