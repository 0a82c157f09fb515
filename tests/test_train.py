"""ntkbook.train: metrics, determinism, divergence, NTK tracking and bad input."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from ntkbook._validation import InvalidParameterError
from ntkbook.data import load_dataset, make_dataset
from ntkbook.train import NTKTracker, TrainResult, ntk_spectrum_metrics, train


def _mlp(d_in=1, d_out=1, width=32, seed=0, dropout=0.0, dtype=torch.float64):
    torch.manual_seed(seed)
    layers = [nn.Linear(d_in, width), nn.Tanh()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(width, d_out))
    return nn.Sequential(*layers).to(dtype)


@pytest.fixture
def sines():
    return load_dataset("sinusoids", n_train=40, n_test=30, dtype=torch.float64)


@pytest.fixture
def mixture():
    return load_dataset("gaussian_mixture", n_train=60, n_test=40, dtype=torch.float64)


def test_history_is_tidy_with_epoch_zero_and_all_metrics(sines, mixture):
    res = train(_mlp(), sines, lr=0.05, epochs=3)
    h = res.history
    assert list(h.columns) == ["epoch", "split", "metric", "value"]
    assert sorted(h.epoch.unique()) == [0, 1, 2, 3]
    assert set(h.metric) == {"loss", "mse", "r2"} and set(h.split) == {"train", "test"}
    assert len(h) == 4 * 2 * 3 and np.isfinite(h.value).all()
    assert not res.diverged and res.epochs_run == 3 and res.ntk.empty
    # conventions: loss = 0.5 * mse for one output; values match a direct computation
    model = res.model
    with torch.no_grad():
        err = model(sines.x_test) - sines.y_test
    final = res.final("test")
    assert final["mse"] == pytest.approx(float((err ** 2).mean()), rel=1e-12)
    assert final["loss"] == pytest.approx(0.5 * final["mse"], rel=1e-12)
    y = sines.y_test
    r2 = 1 - float((err ** 2).sum() / ((y - y.mean()) ** 2).sum())
    assert final["r2"] == pytest.approx(r2, rel=1e-10)

    cls = train(_mlp(2, 5), mixture, optimizer="adam", lr=0.01, epochs=2)
    assert set(cls.history.metric) == {"loss", "accuracy", "cross_entropy"}
    acc = cls.history.query("metric == 'accuracy'").value
    assert ((acc >= 0) & (acc <= 1)).all()
    f = cls.final("train")
    assert f["loss"] == pytest.approx(f["cross_entropy"])


def test_gd_matches_manual_gradient_descent(sines):
    """One 'gd' epoch is one full-batch step on 1/(2n) sum (f - y)^2."""
    m1, m2 = _mlp(), _mlp()
    train(m1, sines, optimizer="gd", lr=0.1, epochs=1)
    loss = 0.5 * ((m2(sines.x_train) - sines.y_train) ** 2).sum(1).mean()
    grads = torch.autograd.grad(loss, list(m2.parameters()))
    with torch.no_grad():
        for p, g in zip(m2.parameters(), grads):
            p -= 0.1 * g
    for p, q in zip(m1.parameters(), m2.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-14)


def test_deterministic_bit_identical_on_cpu(mixture):
    kw = dict(optimizer="sgd", lr=0.05, epochs=3, batch_size=16, seed=7,
              optimizer_kwargs={"momentum": 0.9})
    model = _mlp(2, 5, dropout=0.2)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    r1 = train(model, mixture,
               callbacks=[NTKTracker(12, every=1, top_k=4)], **kw)
    assert torch.equal(torch.get_rng_state(), before)  # caller's RNG untouched
    torch.manual_seed(999)  # different global state: must not matter
    r2 = train(_mlp(2, 5, dropout=0.2), mixture,
               callbacks=[NTKTracker(12, every=1, top_k=4)], **kw)
    pd.testing.assert_frame_equal(r1.history, r2.history, check_exact=True)
    pd.testing.assert_frame_equal(r1.ntk, r2.ntk, check_exact=True)
    for p, q in zip(r1.model.parameters(), r2.model.parameters()):
        assert torch.equal(p, q)
    r3 = train(_mlp(2, 5, dropout=0.2), mixture, **{**kw, "seed": 8})
    assert not r3.history.equals(r1.history)


def test_ntk_tracker_records_spectrum_every_k_epochs(sines):
    tracker = NTKTracker(16, every=2, top_k=5)
    res = train(_mlp(), sines, lr=0.05, epochs=4, callbacks=[tracker])
    ntk = res.ntk
    assert sorted(ntk.epoch.unique()) == [0, 2, 4]
    assert set(ntk.split) == {"probe"}
    want = {"lambda_max", "lambda_min", "trace", "condition_number", "effective_rank",
            "effective_rank_entropy", "kernel_change", "alignment",
            "eig_1", "eig_2", "eig_3", "eig_4", "eig_5"}
    assert set(ntk.metric) == want
    at0 = ntk[ntk.epoch == 0].set_index("metric").value
    assert at0["kernel_change"] == 0.0
    assert at0["eig_1"] == at0["lambda_max"] >= at0["eig_2"] >= at0["eig_5"] >= at0["lambda_min"]
    # the recorded kernel agrees with the spectrum and the NTK at the probe points
    from ntkbook.ntk import empirical_ntk

    k0 = tracker.kernel0
    assert k0.shape == (16, 16)
    assert at0["trace"] == pytest.approx(float(torch.trace(k0.double())), rel=1e-10)
    k_last = empirical_ntk(res.model, sines.x_train[:16])
    torch.testing.assert_close(tracker.last_kernel, k_last)
    at4 = ntk[ntk.epoch == 4].set_index("metric").value
    rel = float(torch.linalg.norm(k_last - k0) / torch.linalg.norm(k0))
    assert at4["kernel_change"] == pytest.approx(rel, rel=1e-8) and rel > 0
    # frame() stacks history and NTK rows
    assert len(res.frame()) == len(res.history) + len(ntk)


def test_spectrum_metric_definitions():
    k = torch.diag(torch.tensor([4.0, 1.0, 1.0, 0.0], dtype=torch.float64))
    m = ntk_spectrum_metrics(k, top_k=2)
    assert m["lambda_max"] == 4 and m["lambda_min"] == 0 and m["trace"] == 6
    assert m["condition_number"] == math.inf
    assert m["effective_rank"] == pytest.approx(36 / 18)  # (sum l)^2 / sum l^2
    p = np.array([4, 1, 1]) / 6
    assert m["effective_rank_entropy"] == pytest.approx(np.exp(-(p * np.log(p)).sum()))
    assert (m["eig_1"], m["eig_2"]) == (4, 1) and "eig_3" not in m
    # alignment: K = y y^T is perfectly aligned; orthogonal targets give 0
    y = torch.tensor([[1.0], [-1.0], [1.0]], dtype=torch.float64)
    assert ntk_spectrum_metrics(y @ y.T, targets=y)["alignment"] == pytest.approx(1.0)
    k2 = torch.eye(2, dtype=torch.float64)
    yy = torch.tensor([[1.0], [-1.0]], dtype=torch.float64)
    assert ntk_spectrum_metrics(k2, targets=yy)["alignment"] == pytest.approx(2 / (2 ** 0.5 * 2))
    assert ntk_spectrum_metrics(k2, kernel0=2 * k2)["kernel_change"] == pytest.approx(0.5)


def test_divergence_stops_and_is_recorded(sines):
    res = train(_mlp(), sines, lr=1e6, epochs=50, callbacks=[NTKTracker(8)])
    assert res.diverged and res.diverged_epoch is not None and res.diverged_epoch <= 50
    assert "non-finite" in res.cause and f"epoch {res.diverged_epoch}" in res.cause
    assert res.epochs_run == res.diverged_epoch - 1
    assert res.history.epoch.max() == res.epochs_run
    assert np.isfinite(res.history.value).all()  # no NaN reaches a plot
    assert res.ntk.epoch.max() <= res.epochs_run
    assert "diverged" in repr(res)
    thr = train(_mlp(), sines, lr=0.05, epochs=5, divergence_threshold=1e-9)
    assert thr.diverged and thr.diverged_epoch == 1 and "divergence_threshold" in thr.cause


@pytest.mark.parametrize("kwargs, argument", [
    (dict(lr=-0.1), "lr"),
    (dict(lr=float("nan")), "lr"),
    (dict(lr="0.1"), "lr"),
    (dict(epochs=None), "epochs"),
    (dict(epochs=-1), "epochs"),
    (dict(epochs=2.5), "epochs"),
    (dict(epochs=True), "epochs"),
    (dict(optimizer="rmsprop"), "optimizer"),
    (dict(loss="hinge"), "loss"),
    (dict(optimizer="sgd", batch_size=0), "batch_size"),
    (dict(optimizer="sgd", batch_size=4.0), "batch_size"),
    (dict(seed=-1), "seed"),
    (dict(seed="a"), "seed"),
    (dict(progress="yes"), "progress"),
    (dict(optimizer_kwargs=[("momentum", 0.9)]), "optimizer_kwargs"),
    (dict(divergence_threshold=float("nan")), "divergence_threshold"),
    (dict(eval_batch_size=0), "eval_batch_size"),
    (dict(device="gpu:x"), "device"),
])
def test_bad_arguments_raise_the_package_error_naming_them(sines, kwargs, argument):
    args = dict(lr=0.1, epochs=1)
    args.update(kwargs)
    with pytest.raises(InvalidParameterError, match=f"^The '{argument}' parameter of train must be .* Got .* instead"):
        train(_mlp(), sines, **args)


def test_cross_argument_errors_say_what_fits(sines):
    with pytest.raises(InvalidParameterError, match="'loss' parameter of train must be 'mse' for the regression task"):
        train(_mlp(), sines, lr=0.1, epochs=1, loss="ce")
    with pytest.raises(InvalidParameterError, match="'batch_size' parameter of train .*full-batch"):
        train(_mlp(), sines, lr=0.1, epochs=1, optimizer="gd", batch_size=4)


def test_model_and_data_must_have_the_right_types(sines):
    with pytest.raises(InvalidParameterError, match="'data' parameter of train must be an ntkbook.data.Dataset. "
                       "Got tuple instead"):
        train(_mlp(), (sines.x_train, sines.y_train), lr=0.1, epochs=1)
    with pytest.raises(InvalidParameterError, match="'model' parameter of train must be a torch.nn.Module"):
        train(lambda x: x, sines, lr=0.1, epochs=1)


def test_option_names_are_case_insensitive(sines):
    a = train(_mlp(), sines, lr=0.1, epochs=1, optimizer="GD", loss="MSE")
    b = train(_mlp(), sines, lr=0.1, epochs=1)
    pd.testing.assert_frame_equal(a.history, b.history, check_exact=True)


@pytest.mark.parametrize("kwargs, argument", [
    (dict(probe_x=8, every=0), "every"),
    (dict(probe_x=8, top_k=0), "top_k"),
    (dict(probe_x=0), "probe_x"),
    (dict(probe_x=True), "probe_x"),
    (dict(probe_x=2.5), "probe_x"),
])
def test_bad_tracker_arguments_raise_naming_them(kwargs, argument):
    with pytest.raises(InvalidParameterError, match=f"'{argument}' parameter of NTKTracker must be"):
        NTKTracker(**kwargs)


def test_tracker_probe_targets_must_match_the_probe_inputs(sines):
    tracker = NTKTracker(sines.x_train[:5], probe_y=sines.y_train[:4])
    with pytest.raises(InvalidParameterError, match="'probe_y' parameter of NTKTracker must have one row per "
                       r"probe input \(5\)\. Got 4 rows"):
        train(_mlp(), sines, lr=0.1, epochs=1, callbacks=[tracker])


def test_spectrum_metrics_refuse_non_finite_or_non_square_kernels():
    k = torch.eye(3, dtype=torch.float64)
    k[0, 1] = float("nan")
    with pytest.raises(InvalidParameterError, match="'kernel' parameter of ntk_spectrum_metrics must hold only finite"):
        ntk_spectrum_metrics(k)
    with pytest.raises(InvalidParameterError, match="'kernel' parameter of ntk_spectrum_metrics must be a square"):
        ntk_spectrum_metrics(torch.ones(2, 3))


def test_train_is_split_into_named_steps():
    """No step of the loop is longer than a screen (train itself was 174 lines)."""
    import inspect

    from ntkbook import train as module

    for name in ("train", "_check_arguments", "_set_up", "_train_epoch", "_evaluate", "_end_of_epoch",
                 "_step_divergence", "_frames"):
        lines = len(inspect.getsource(getattr(module, name)).splitlines())
        assert lines <= 90, (name, lines)


def test_mse_on_classification_uses_one_hot(mixture):
    res = train(_mlp(2, 5), mixture, lr=0.1, epochs=1, loss="mse")
    model = res.model
    with torch.no_grad():
        out = model(mixture.x_train)
    onehot = torch.nn.functional.one_hot(mixture.y_train, 5).double()
    expect = 0.5 * float(((out - onehot) ** 2).sum(1).mean())
    assert res.final("train")["loss"] == pytest.approx(expect, rel=1e-12)


def test_callable_callbacks_and_stop(sines):
    seen = []

    def cb(state):
        seen.append(state.epoch)
        if state.epoch == 2:
            state.stop("asked to stop")

    res = train(_mlp(), sines, lr=0.01, epochs=5, callbacks=[cb])
    assert seen == [0, 1, 2] and res.cause == "asked to stop" and res.diverged_epoch == 2


def test_a_progress_bar_over_the_epochs_shows_by_default(sines, capsys, monkeypatch):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    train(_mlp(), sines, lr=0.01, epochs=2)  # stderr is not a terminal here: shown anyway
    assert "train (gd, lr=0.01)" in capsys.readouterr().err


def test_progress_false_trains_silently(sines, capsys, monkeypatch):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    train(_mlp(), sines, lr=0.01, epochs=2, progress=False)
    assert capsys.readouterr().err == ""


def test_tqdm_disable_in_the_environment_silences_the_bar(sines, capsys, monkeypatch):
    monkeypatch.setenv("TQDM_DISABLE", "1")
    train(_mlp(), sines, lr=0.01, epochs=2, progress=True)
    assert capsys.readouterr().err == ""


def test_minibatch_sgd_and_float32(mixture):
    data = mixture.to(dtype=torch.float32)
    res = train(_mlp(2, 5, dtype=torch.float32), data, optimizer="sgd", lr=0.1, epochs=4,
                batch_size=16, seed=1)
    acc = res.history.query("split == 'train' and metric == 'accuracy'").value.to_numpy()
    assert acc[-1] > acc[0]
    assert isinstance(res, TrainResult) and res.config["batch_size"] == 16


def test_data_follow_the_model_dtype(sines):
    res = train(_mlp(dtype=torch.float32), sines, lr=0.01, epochs=1)
    assert next(res.model.parameters()).dtype == torch.float32 and not res.diverged


def test_empty_test_split_is_skipped():
    ds = make_dataset(np.random.default_rng(0).normal(size=(8, 1)), np.zeros(8),
                      np.zeros((0, 1)), np.zeros(0), task="regression", dtype=torch.float64)
    res = train(_mlp(), ds, lr=0.1, epochs=1)
    assert set(res.history.split) == {"train"}
