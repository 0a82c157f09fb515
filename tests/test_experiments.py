"""ntkbook.experiments.runs: seeded cached runs, sidecars, summaries and paired comparisons."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

import ntkbook
from ntkbook._validation import InvalidParameterError
from ntkbook._fingerprint import code_fingerprint
from ntkbook.experiments import runs as E
from ntkbook.experiments.runs import (ExperimentConfig, config_hash, paired_comparison,
                                 run_experiment, summarize)
from ntkbook.experiments.kernel_baseline import KernelBaseline


def _ecrn_config(**over):
    kw = dict(dataset="sinusoids", model="ecrn",
              dataset_kwargs={"n_train": 24, "n_test": 16, "frequencies": [1, 6],
                              "amplitudes": [1.0, 0.5]},
              model_kwargs={"width": 16, "depth": 2, "n_fourier": 4},
              optimizer="gd", lr=0.05, epochs=3, seeds=(0, 1, 2),
              ntk_every=1, ntk_probe=8, ntk_top_k=3)
    kw.update(over)
    return ExperimentConfig(**kw)


def test_three_seed_ecrn_records_ntk_every_epoch_and_is_bit_identical(tmp_path):
    cfg = _ecrn_config()
    a = run_experiment(cfg, results_dir=tmp_path / "a")
    b = run_experiment(cfg, results_dir=tmp_path / "b")
    assert not b.attrs["metadata"]["loaded_from_cache"]
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert list(a.columns) == ["model", "seed", "epoch", "split", "metric", "value"]
    assert sorted(a.seed.unique()) == [0, 1, 2] and set(a.model) == {"ecrn"}
    probe = a[a.split == "probe"]
    for seed in (0, 1, 2):
        got = probe[(probe.seed == seed) & (probe.metric == "lambda_max")]
        assert sorted(got.epoch) == [0, 1, 2, 3]  # NTK spectrum every epoch, incl. init
    assert {"eig_1", "eig_3", "kernel_change", "alignment", "effective_rank"} <= set(probe.metric)
    runs = a[a.split == "run"]
    assert runs.metric.tolist() == ["diverged"] * 3 and (runs.value == 0).all()
    assert (runs.epoch == 3).all()
    # seeds differ from each other
    init = a[(a.epoch == 0) & (a.split == "train") & (a.metric == "mse")].value
    assert init.nunique() == 3


def test_cache_sidecar_and_force(tmp_path, monkeypatch):
    cfg = _ecrn_config(seeds=(0, 1), ntk_every=1, epochs=2)
    df = run_experiment(cfg, results_dir=tmp_path)
    digest = config_hash(cfg)
    files = sorted(p.name for p in tmp_path.iterdir())
    stem = f"sinusoids_ecrn_{digest[:12]}"
    assert files == [f"{stem}.csv", f"{stem}.json"]  # no temp files left
    meta = json.loads((tmp_path / f"{stem}.json").read_text())
    assert meta["config_hash"] == digest and meta["config"] == cfg.to_dict()
    assert meta["code_fingerprint"] == code_fingerprint()
    assert meta["result_rows"] == len(df) and len(meta["result_sha256"]) == 64
    assert meta["ntkbook_version"] == ntkbook.__version__
    assert meta["git_commit"] == "unknown" or len(meta["git_commit"]) == 40
    assert meta["device"] == "cpu" and meta["wall_time_s"] > 0
    assert [r["seed"] for r in meta["runs"]] == [0, 1]
    assert all(r["diverged"] is False for r in meta["runs"])

    # a rerun loads the saved result instead of training
    import ntkbook.train as T

    def boom(*a, **k):
        raise AssertionError("retrained")

    monkeypatch.setattr(T, "train", boom)
    again = run_experiment(cfg, results_dir=tmp_path)
    assert again.attrs["metadata"]["loaded_from_cache"]
    pd.testing.assert_frame_equal(df, again, check_exact=True)
    with pytest.raises(AssertionError, match="retrained"):
        run_experiment(cfg, results_dir=tmp_path, force=True)
    monkeypatch.undo()
    # the failed forced run left the cached result intact (nothing half-written)
    assert sorted(p.name for p in tmp_path.iterdir()) == files
    forced = run_experiment(cfg, results_dir=tmp_path, force=True)
    assert not forced.attrs["metadata"]["loaded_from_cache"]
    pd.testing.assert_frame_equal(df, forced, check_exact=True)


def test_corrupt_cache_is_recomputed(tmp_path):
    cfg = _ecrn_config(seeds=(0,), ntk_every=0, epochs=1)
    df = run_experiment(cfg, results_dir=tmp_path)
    csv = next(tmp_path.glob("*.csv"))
    csv.write_text("garbage\n")
    with pytest.warns(E.CacheWarning, match=csv.name):
        again = run_experiment(cfg, results_dir=tmp_path)
    assert not again.attrs["metadata"]["loaded_from_cache"]
    pd.testing.assert_frame_equal(df, again, check_exact=True)


def test_config_hash_and_validation():
    a, b = _ecrn_config(), _ecrn_config()
    assert config_hash(a) == config_hash(b) and len(config_hash(a)) == 64
    assert config_hash(_ecrn_config(lr=0.06)) != config_hash(a)
    assert config_hash(_ecrn_config(seeds=(0, 1))) != config_hash(a)
    assert ExperimentConfig.from_dict(a.to_dict()) == a
    with pytest.raises(ValueError, match="'dataset' parameter of ExperimentConfig .* Got 'mnist'"):
        _ecrn_config(dataset="mnist")
    with pytest.raises(ValueError, match="'model' parameter of ExperimentConfig .* Got 'transformer'"):
        _ecrn_config(model="transformer")
    with pytest.raises(ValueError, match="'model_kwargs' parameter of ExperimentConfig .* without 'seed'"):
        _ecrn_config(model_kwargs={"seed": 3})
    with pytest.raises(ValueError, match="'seeds' parameter of ExperimentConfig .* distinct"):
        _ecrn_config(seeds=(1, 1))
    with pytest.raises(ValueError, match="'seeds' parameter of ExperimentConfig"):
        _ecrn_config(seeds=(True,))
    with pytest.raises(ValueError, match="'ntk_every' parameter of ExperimentConfig"):
        _ecrn_config(ntk_every=-1)
    with pytest.raises(ValueError, match="'dtype' parameter of ExperimentConfig"):
        _ecrn_config(dtype="float16")
    with pytest.raises(ValueError, match="JSON-serializable"):
        _ecrn_config(dataset_kwargs={"n_train": object()})
    with pytest.raises(TypeError):
        run_experiment({"dataset": "sinusoids"})


def test_bad_training_settings_fail_before_writing(tmp_path):
    cfg = _ecrn_config(lr=-1.0, seeds=(0,))
    with pytest.raises(ValueError, match="'lr' parameter of train"):
        run_experiment(cfg, results_dir=tmp_path)
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_label_column_and_mlp_on_classification(tmp_path):
    cfg = ExperimentConfig("gaussian_mixture", "mlp", dataset_kwargs={"n_train": 40, "n_test": 20},
                           model_kwargs={"width": 16}, label="mlp-w16", optimizer="adam",
                           lr=0.01, epochs=2, seeds=(0, 1), ntk_every=2, ntk_probe=6)
    df = run_experiment(cfg, results_dir=tmp_path)
    assert set(df.model) == {"mlp-w16"}
    assert {"accuracy", "cross_entropy"} <= set(df.metric)
    assert sorted(df[df.split == "probe"].epoch.unique()) == [0, 2]


def _fake_results():
    rows = []
    rng = np.random.default_rng(0)
    for model, shift in (("a", 0.0), ("b", 0.5)):
        for seed in range(5):
            for epoch in (0, 1, 2):
                v = float(rng.normal()) + shift + seed
                rows.append((model, seed, epoch, "test", "mse", v))
    return pd.DataFrame(rows, columns=E.RESULT_COLUMNS)


def test_summarize_t_interval():
    df = _fake_results()
    s = summarize(df)
    assert set(s.epoch) == {2} and len(s) == 2
    row = s[s.model == "a"].iloc[0]
    vals = df[(df.model == "a") & (df.epoch == 2)].value.to_numpy()
    half = stats.t.ppf(0.975, 4) * vals.std(ddof=1) / np.sqrt(5)
    assert row.n == 5 and row["mean"] == pytest.approx(vals.mean())
    assert (row.ci_low, row.ci_high) == pytest.approx((vals.mean() - half, vals.mean() + half))
    curves = summarize(df, epoch=None)
    assert len(curves) == 6
    one = summarize(df[df.seed == 0])
    assert one.n.tolist() == [1, 1] and one.ci_low.isna().all()
    at1 = summarize(df, epoch=1, confidence=0.9)
    assert set(at1.epoch) == {1}
    with pytest.raises(ValueError, match="missing columns"):
        summarize(df.drop(columns="seed"))


def test_paired_comparison_matches_scipy():
    df = _fake_results()
    res = paired_comparison(df, "b", "a", "mse")
    a = df[(df.model == "a") & (df.epoch == 2)].sort_values("seed").value.to_numpy()
    b = df[(df.model == "b") & (df.epoch == 2)].sort_values("seed").value.to_numpy()
    t = stats.ttest_rel(b, a)
    assert res.n == 5 and res.epoch == 2
    assert res.mean_difference == pytest.approx((b - a).mean())
    assert res.t_statistic == pytest.approx(t.statistic) and res.p_value == pytest.approx(t.pvalue)
    half = stats.t.ppf(0.975, 4) * (b - a).std(ddof=1) / np.sqrt(5)
    assert res.ci_high - res.ci_low == pytest.approx(2 * half)
    assert res.differences.seed.tolist() == [0, 1, 2, 3, 4]
    assert "paired t" in str(res) and res.as_dict()["n"] == 5
    # only shared seeds are paired
    part = df[~((df.model == "a") & (df.seed == 4))]
    assert paired_comparison(part, "b", "a", "mse").n == 4
    with pytest.raises(ValueError, match="no rows for model 'c'"):
        paired_comparison(df, "a", "c", "mse")


def test_a_paired_comparison_is_a_paired_difference_with_its_labels_first_in_its_record():
    from ntkbook.stats import PairedDifference

    res = paired_comparison(_fake_results(), "b", "a", "mse")
    assert isinstance(res, PairedDifference)
    assert list(res.as_dict()) == ["model_a", "model_b", "metric", "split", "epoch", "n", "mean_difference",
                                   "ci_low", "ci_high", "t_statistic", "p_value", "confidence", "epoch_b"]
    assert res.as_dict()["mean_difference"] == res.mean_difference


def test_paired_comparison_of_real_runs(tmp_path):
    common = dict(dataset_kwargs={"n_train": 24, "n_test": 16}, lr=0.05, epochs=2,
                  seeds=(0, 1, 2))
    ecrn = run_experiment(ExperimentConfig("sinusoids", "ecrn", model_kwargs={
        "width": 16, "depth": 2, "n_fourier": 4}, **common), results_dir=tmp_path)
    mlp = run_experiment(ExperimentConfig("sinusoids", "mlp", model_kwargs={"width": 16},
                                          **common), results_dir=tmp_path)
    res = paired_comparison(pd.concat([ecrn, mlp]), "ecrn", "mlp", "mse")
    assert res.n == 3 and np.isfinite(res.mean_difference) and 0 <= res.p_value <= 1


def test_ntk_regression_model_is_the_kernel_baseline(tmp_path):
    cfg = ExperimentConfig("sinusoids", "ntk_regression", dataset_kwargs={"n_train": 20, "n_test": 10},
                           model_kwargs={"ridges": [1e-6]}, seeds=(0, 1), dtype="float64")
    df = run_experiment(cfg, results_dir=tmp_path)
    assert set(df.epoch) == {0} and {"mse", "r2", "ridge", "relative_ridge"} <= set(df.metric)
    assert df.attrs["metadata"]["runs"][0]["epochs_run"] == 0
    assert cfg.kernel() == E.KernelBaseline(ridges=(1e-6,))
    # kernel regression with a tiny ridge interpolates the (noisy) training targets
    train_r2 = df[(df.split == "train") & (df.metric == "r2")].value
    assert (train_r2 > 0.99).all()
    # paired against a network: each model's own last epoch
    net = run_experiment(_ecrn_config(seeds=(0, 1), ntk_every=0, epochs=2,
                                      dataset_kwargs={"n_train": 20, "n_test": 10}),
                         results_dir=tmp_path)
    res = paired_comparison(pd.concat([net, df]), "ecrn", "ntk_regression", "mse")
    assert (res.epoch, res.epoch_b, res.n) == (2, 0, 2) and "epochs 2 and 0" in str(res)
    cls = E.ExperimentConfig.for_kernel(E.KernelBaseline(ridges=(1e-6,)), "iris", {}, seeds=(0,))
    out = run_experiment(cls, results_dir=tmp_path)
    acc = out[(out.split == "test") & (out.metric == "accuracy")].value
    assert float(acc.iloc[0]) > 0.8


def test_divergence_is_in_the_result(tmp_path):
    cfg = _ecrn_config(lr=1e8, epochs=30, seeds=(0, 1), ntk_every=1)
    df = run_experiment(cfg, results_dir=tmp_path)
    runs = df[df.split == "run"]
    assert (runs.value == 1.0).all()
    meta = df.attrs["metadata"]["runs"]
    assert all(r["diverged"] and "non-finite" in r["cause"] for r in meta)
    assert np.isfinite(df[df.split != "probe"].value).all()
    s = summarize(df, splits=["run"])
    assert s["mean"].tolist() == [1.0]


def test_ntk_regression_rejects_settings_that_are_not_kernel_baseline_fields():
    with pytest.raises(ValueError, match="'model_kwargs' parameter of ExperimentConfig"):
        ExperimentConfig("sinusoids", "ntk_regression", model_kwargs={"ridge": 1e-6})
    with pytest.raises(ValueError, match="'ridges' parameter of KernelBaseline"):
        ExperimentConfig("sinusoids", "ntk_regression", model_kwargs={"ridges": [-1.0]})
    with pytest.raises(ValueError, match="'loss' parameter of ExperimentConfig"):
        ExperimentConfig("sinusoids", "ntk_regression", loss="cross_entropy")


def _with_diverged_seed(df, model="a", seed=4, epoch=1):
    """``df`` where ``model``'s ``seed`` stopped after ``epoch`` and is marked diverged."""
    df = df[~((df.model == model) & (df.seed == seed) & (df.epoch > epoch))]
    runs = pd.DataFrame([(m, s, 2 if (m, s) != (model, seed) else epoch, "run", "diverged",
                          float((m, s) == (model, seed))) for m in ("a", "b") for s in range(5)],
                        columns=E.RESULT_COLUMNS)
    return pd.concat([df, runs], ignore_index=True)


def test_a_diverged_seed_makes_the_paired_comparison_inconclusive_not_better():
    from ntkbook.claims.rules import sign_rule

    df = _with_diverged_seed(_fake_results())
    res = paired_comparison(df, "b", "a", "mse")
    assert res.n == 5 and np.isnan(res.differences.set_index("seed").loc[4, "b"])  # model a is b here
    assert np.isnan(res.ci_low) and np.isnan(res.ci_high) and np.isnan(res.p_value)
    verdict = sign_rule(res.mean_difference, res.ci_low, res.ci_high, expect="positive")
    assert verdict.verdict == "inconclusive"


def test_a_diverged_seed_that_reached_the_last_epoch_still_voids_the_comparison():
    df = _with_diverged_seed(_fake_results(), epoch=2)
    assert np.isnan(paired_comparison(df, "b", "a", "mse").ci_low)


def test_a_paired_comparison_at_an_epoch_a_model_never_reached_is_an_error():
    with pytest.raises(ValueError, match="at epoch 7"):
        paired_comparison(_fake_results(), "b", "a", "mse", epoch=7)


def test_summarize_drops_non_finite_values_and_counts_them():
    df = _fake_results()
    df.loc[(df.model == "a") & (df.seed == 0) & (df.epoch == 2), "value"] = np.nan
    row = summarize(df).set_index("model").loc["a"]
    assert (row.n, row.n_dropped) == (4, 1) and np.isfinite(row.ci_low)


# ----------------------------------------------------------------------------- tuned runs


def _tuned(**over):
    kw = dict(dataset="iris", model="mlp", model_kwargs={"width": 8, "depth": 1}, optimizer="adam",
              epochs=8, seeds=(0, 1), validation=0.25, grid=[{"lr": 1e-3}, {"lr": 3e-2}])
    kw.update(over)
    return ExperimentConfig(**kw)


def test_a_grid_needs_a_validation_split():
    with pytest.raises(ValueError, match="'validation' parameter of ExperimentConfig"):
        _tuned(validation=0.0)


def test_a_candidate_may_override_only_training_fields_and_model_kwargs():
    with pytest.raises(ValueError, match="'grid' parameter of ExperimentConfig"):
        _tuned(grid=[{"seeds": (3,)}])
    with pytest.raises(ValueError, match="'ridges' parameter of KernelBaseline"):
        ExperimentConfig("iris", "ntk_regression", validation=0.2, grid=[{"model_kwargs": {"ridges": [-1.0]}}])


def test_the_validation_rows_are_training_rows_and_never_test_rows(tmp_path):
    from ntkbook.data import hold_out_validation, load_dataset
    from ntkbook.experiments.tuning import validation_size

    data = load_dataset("iris", seed=0)
    fitval = hold_out_validation(data, validation_size(len(data.x_train), 0.2))
    assert len(fitval.x_train) + len(fitval.x_test) == len(data.x_train) and len(fitval.x_test) == 21
    train_rows = {tuple(r) for r in data.x_train.tolist()}
    assert all(tuple(r) in train_rows for r in fitval.x_test.tolist())


def torch_equal(a, b):
    import torch

    return bool(torch.equal(a, b))


def test_training_never_sees_the_test_split(tmp_path, monkeypatch):
    import ntkbook.train as T

    seen = []
    real = T.train
    monkeypatch.setattr(T, "train", lambda model, data, **kw: seen.append(data) or real(model, data, **kw))
    from ntkbook.data import load_dataset

    df = run_experiment(_tuned(seeds=(0,)), results_dir=tmp_path)
    test = load_dataset("iris", seed=0).x_test
    assert seen and all(len(d.x_test) != len(test) or not torch_equal(d.x_test, test) for d in seen)
    assert set(df[df.split == "test"].epoch) == {0}  # the one evaluation of the selected model


def test_the_candidate_with_the_lowest_validation_loss_is_selected(tmp_path):
    df = run_experiment(_tuned(seeds=(0,)), results_dir=tmp_path)
    scores = df[df.split == "tuning"].set_index("metric").value
    chosen = int(df[(df.split == "fit") & (df.metric == "candidate")].value.iloc[0])
    assert scores[f"score:{chosen}"] == scores.min()


def test_early_stopping_is_not_a_divergence(tmp_path):
    df = run_experiment(_tuned(seeds=(0,), epochs=200, patience=2, grid=[{"lr": 0.5}]), results_dir=tmp_path)
    meta = df.attrs["metadata"]["runs"][0]
    assert not meta["diverged"] and meta["candidates_diverged"] == 0
    assert df[df.split == "val"].epoch.max() < 200


def test_every_classifier_gets_a_temperature_fitted_on_validation(tmp_path):
    df = run_experiment(_tuned(seeds=(0,)), results_dir=tmp_path)
    fit = df[df.split == "fit"].set_index("metric").value
    test = df[df.split == "test"].set_index("metric").value
    assert fit["temperature"] > 0 and test["cross_entropy"] <= test["cross_entropy_raw"] + 0.5


def test_per_example_rows_hold_one_score_per_test_example(tmp_path):
    df = run_experiment(_tuned(seeds=(0,), per_example=True), results_dir=tmp_path)
    ex = df[df.split == "example"]
    n_test = df.attrs["metadata"]["runs"][0]["n_test"]
    assert sorted(ex.metric.unique()) == ["correct", "nll"]
    assert (ex.groupby("metric").size() == n_test).all()
    acc = df[(df.split == "test") & (df.metric == "accuracy")].value.iloc[0]
    assert ex[ex.metric == "correct"].value.mean() == pytest.approx(acc)


def test_a_tuned_kernel_model_selects_its_ridge_and_candidate_on_validation(tmp_path):
    cfg = ExperimentConfig("iris", "ntk_regression", model_kwargs={"depth": 1}, validation=0.25, seeds=(0,),
                           grid=[{"model_kwargs": {"depth": 1}}, {"model_kwargs": {"depth": 3}}], dtype="float64")
    df = run_experiment(cfg, results_dir=tmp_path)
    fit = df[df.split == "fit"].set_index("metric").value
    assert {"ridge", "relative_ridge", "temperature", "candidate"} <= set(fit.index)
    assert df[(df.split == "test") & (df.metric == "accuracy")].value.iloc[0] > 0.8


def test_a_tuned_run_whose_candidates_all_diverge_is_marked_diverged_with_its_cause(tmp_path):
    df = run_experiment(_tuned(seeds=(0,), grid=[{"lr": 1e8}], optimizer="sgd", epochs=5), results_dir=tmp_path)
    run = df.attrs["metadata"]["runs"][0]
    assert run["seed"] == 0 and run["candidates_diverged"] == 1
    assert df[(df.split == "run")].value.tolist() == [float(run["diverged"])]


def test_seeds_that_share_their_data_reuse_the_kernel_fits(tmp_path, monkeypatch):
    import ntkbook.experiments.tuning as tuning

    calls = []
    real = tuning._fit_kernel_candidate
    monkeypatch.setattr(tuning, "_fit_kernel_candidate", lambda *a: calls.append(a[3]) or real(*a))
    cfg = ExperimentConfig("iris", "ntk_regression", model_kwargs={"depth": 1}, validation=0.25, seeds=(0, 1, 2),
                           data_seed=0, tune_on="first_seed", dtype="float64",
                           grid=[{"model_kwargs": {"depth": 1}}, {"model_kwargs": {"depth": 3}}])
    df = run_experiment(cfg, results_dir=tmp_path)
    assert sorted(calls) == [0, 1]  # each candidate fitted once, on the first seed
    acc = df[(df.split == "test") & (df.metric == "accuracy")].value
    assert acc.nunique() == 1


# --------------------------------------------------------------------------- the CNTK kernel model


def test_the_cntk_kernel_model_reshapes_pools_and_matches_cntk_kernels():
    from ntkbook.cntk import cntk_kernels
    from ntkbook.experiments.kernel_baseline import kernel_matrix

    x = torch.randn(5, 3, 8, 8, dtype=torch.float64)
    kb = KernelBaseline(architecture="cntk", depth=2, image_shape=(3, 8, 8), pool=2)
    want = cntk_kernels(torch.nn.functional.avg_pool2d(x, 2), depth=2)[1]
    torch.testing.assert_close(kernel_matrix(kb, x.reshape(5, -1)), want)  # flat inputs are images
    torch.testing.assert_close(kernel_matrix(kb, x[:2], x), want[:2])


@pytest.mark.parametrize("kwargs, argument", [
    ({"image_shape": None}, "image_shape"),
    ({"image_shape": (3, 8)}, "image_shape"),
    ({"image_shape": (3, 8, 8), "pool": 3}, "pool"),
    ({"image_shape": (3, 8, 8), "activation": "tanh"}, "activation"),
    ({"image_shape": (3, 8, 8), "readout": "max"}, "readout"),
    ({"image_shape": (3, 8, 8), "max_train": -1}, "max_train"),
])
def test_a_cntk_kernel_model_with_bad_settings_names_the_argument(kwargs, argument):
    with pytest.raises(InvalidParameterError, match=argument):
        KernelBaseline(architecture="cntk", **kwargs)


def test_an_mlp_kernel_model_rejects_an_image_shape():
    with pytest.raises(InvalidParameterError, match="image_shape"):
        KernelBaseline(image_shape=(3, 8, 8))


def test_a_kernel_fits_on_a_stratified_subset_of_max_train_rows_the_same_for_every_call():
    from ntkbook.experiments.kernel_baseline import kernel_training_rows

    labels = torch.arange(40) % 4
    kb = KernelBaseline(max_train=12)
    rows = kernel_training_rows(kb, labels)
    assert len(rows) == 12 and np.all(np.diff(rows) > 0)
    assert np.bincount(labels[rows].numpy()).tolist() == [3, 3, 3, 3]
    assert np.array_equal(rows, kernel_training_rows(kb, labels))
    assert kernel_training_rows(KernelBaseline(max_train=0), labels) is None
    assert kernel_training_rows(KernelBaseline(max_train=40), labels) is None
