"""Specifications of ntkbook.regression: the scikit-learn NTK regressor and the closed-form
linearized gradient-descent dynamics."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.kernel_ridge import KernelRidge
from sklearn.utils.estimator_checks import parametrize_with_checks

from ntkbook.analytic import ecrn_kernels, mlp_kernels
from ntkbook.models import MLP
from ntkbook.ntk import empirical_ntk
from ntkbook._validation import InvalidParameterError
from ntkbook.regression import KernelOverflowError, NTKRegressor, linearized_predictions

F64 = torch.float64


def small_mlp_float64(in_features):
    """Module-level (picklable) model factory for the empirical kernel."""
    return MLP(in_features, width=32, depth=1, seed=0).double()


def data(n=30, d=3, outputs=None, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = np.sin(2 * X[:, 0]) + 0.5 * X[:, 1]
    if outputs:
        y = np.stack([y, np.cos(X[:, 2])] + [X[:, 0]] * (outputs - 2), 1)
    return X, y


# ----------------------------------------------------------------------------- estimator checks
# Every check of scikit-learn 1.9 applies and passes, so expected_failed_checks is not needed
# (only the array-API check skips itself without SCIPY_ARRAY_API). The empirical kernel takes a
# model factory ``in_features -> module`` so that checks with data of any width can fit it.
@parametrize_with_checks([NTKRegressor()])
def test_analytic_mlp_regressor_passes_sklearn_checks(estimator, check):
    check(estimator)


@pytest.mark.slow
@parametrize_with_checks([
    NTKRegressor(architecture="ecrn", depth=2, activation="erf", n_fourier=16, fourier_scale=0.3),
    NTKRegressor(kernel="empirical", model=small_mlp_float64),
])
def test_ecrn_and_empirical_regressors_pass_sklearn_checks(estimator, check):
    check(estimator)


# ----------------------------------------------------------------------------- NTKRegressor
def test_zero_alpha_interpolates_the_training_data():
    X, y = data()
    np.testing.assert_allclose(NTKRegressor().fit(X, y).predict(X), y, atol=1e-8)


def test_predictions_are_the_kernel_regression_formula():
    X, y = data()
    Xt, _ = data(n=7, seed=1)
    pred = NTKRegressor(depth=3, activation="erf", b_std=0.2).fit(X, y).predict(Xt)
    k = lambda a, b: mlp_kernels(torch.tensor(a), torch.tensor(b), depth=3, activation="erf",  # noqa: E731
                                 b_std=0.2)[1].numpy()
    np.testing.assert_allclose(pred, k(Xt, X) @ np.linalg.solve(k(X, X), y), rtol=1e-6)


def test_alpha_matches_kernel_ridge_alpha_with_the_precomputed_ntk():
    X, y = data()
    Xt, _ = data(n=7, seed=1)
    k = lambda a, b: ecrn_kernels(torch.tensor(a), torch.tensor(b), depth=2,  # noqa: E731
                                  activation="tanh", fourier_scale=0.2)[1].numpy()
    expected = KernelRidge(alpha=0.3, kernel="precomputed").fit(k(X, X), y).predict(k(Xt, X))
    reg = NTKRegressor(alpha=0.3, architecture="ecrn", depth=2, activation="tanh",
                       fourier_scale=0.2).fit(X, y)
    np.testing.assert_allclose(reg.predict(Xt), expected, rtol=1e-8, atol=1e-10)


def test_multi_output_is_column_by_column_regression():
    X, Y = data(outputs=3)
    multi = NTKRegressor(alpha=0.1).fit(X, Y).predict(X[:5])
    assert multi.shape == (5, 3)
    for o in range(3):
        np.testing.assert_allclose(multi[:, o], NTKRegressor(alpha=0.1).fit(X, Y[:, o]).predict(X[:5]))


def test_empirical_kernel_uses_the_given_model():
    X, y = data(n=12)
    model = MLP(3, width=64, depth=2, seed=1).double()
    reg = NTKRegressor(kernel="empirical", alpha=1e-3, model=model).fit(X, y)
    assert reg.model_ is model
    x = torch.tensor(X)
    gram = empirical_ntk(model, x).numpy()
    cross = empirical_ntk(model, x[:4], x).numpy()
    expected = cross @ np.linalg.solve(gram + 1e-3 * np.eye(12), y)
    np.testing.assert_allclose(reg.predict(X[:4]), expected, rtol=1e-6, atol=1e-9)


def test_wide_empirical_kernel_predicts_like_the_analytic_one():
    X, y = data(n=20, d=2)
    Xt, _ = data(n=10, d=2, seed=3)
    analytic = NTKRegressor(alpha=1e-2, depth=1).fit(X, y).predict(Xt)
    preds = [NTKRegressor(kernel="empirical", alpha=1e-2,
                          model=MLP(2, width=8192, depth=1, seed=s)).fit(X, y).predict(Xt)
             for s in range(2)]
    error = np.linalg.norm(np.mean(preds, 0) - analytic) / np.linalg.norm(analytic)
    assert error < 0.05


def test_residual_scale_is_the_alpha_of_the_ecrn_kernel():
    X, y = data()
    Xt, _ = data(n=7, seed=1)
    k = lambda a, b: ecrn_kernels(torch.tensor(a), torch.tensor(b), depth=2, alpha=[0.3, 1.5],  # noqa: E731
                                  activation="tanh", fourier_scale=0.2)[1].numpy()
    expected = KernelRidge(alpha=0.1, kernel="precomputed").fit(k(X, X), y).predict(k(Xt, X))
    reg = NTKRegressor(alpha=0.1, architecture="ecrn", depth=2, residual_scale=[0.3, 1.5],
                       activation="tanh", fourier_scale=0.2).fit(X, y)
    np.testing.assert_allclose(reg.predict(Xt), expected, rtol=1e-8, atol=1e-10)


def test_the_regressor_uses_only_public_sklearn_modules():
    import ast
    import inspect

    import ntkbook.regression as module

    tree = ast.parse(inspect.getsource(module))
    imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module]
    imported += [f"{n.module}.{a.name}" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module
                 for a in n.names]
    private = [name for name in imported if name.startswith("sklearn") and any(
        part.startswith("_") for part in name.split("."))]
    assert private == []


def test_clone_keeps_parameters_and_drops_fitted_state():
    X, y = data()
    reg = NTKRegressor(alpha=0.5, architecture="ecrn", depth=3).fit(X, y)
    copy = clone(reg)
    assert copy.get_params() == reg.get_params()
    assert not hasattr(copy, "dual_coef_")


@pytest.mark.parametrize("params, message", [
    (dict(alpha=-1.0), "The 'alpha' parameter of NTKRegressor must be a finite float in the range [0, inf). Got -1.0 instead."),
    (dict(kernel="rbf"), "The 'kernel' parameter of NTKRegressor must be a str among"),
    (dict(depth=0), "The 'depth' parameter of NTKRegressor must be an int in the range [1, inf). Got 0 instead."),
    (dict(activation="swish"), "The 'activation' parameter of NTKRegressor must be a str among"),
    (dict(architecture="ecrn", depth=3, residual_scale=[1.0, 1.0]), "The 'residual_scale' parameter of NTKRegressor must be a sequence of length depth=3"),
    (dict(architecture="ecrn", drop_prob=1.0), "The 'drop_prob' parameter of NTKRegressor must be"),
    (dict(kernel="empirical"), "The 'model' parameter of NTKRegressor must be a torch.nn.Module"),
])
def test_bad_parameters_raise_at_fit_naming_them(params, message):
    X, y = data()
    with pytest.raises(ValueError) as err:
        NTKRegressor(**params).fit(X, y)
    assert message in str(err.value)


def test_an_overflowing_gram_matrix_raises_a_clear_error():
    X, y = data()
    with pytest.raises(KernelOverflowError, match=r"NTKRegressor.fit: .* Theta\(X, X\) are not finite: the "
                       r"kernel overflowed float64 \(the largest \|X\| entry is .*e\+200\)\. Rescale"):
        NTKRegressor().fit(X * 1e200, y)


def test_an_overflowing_cross_kernel_at_predict_raises_a_clear_error():
    X, y = data()
    reg = NTKRegressor().fit(X, y)
    with pytest.raises(KernelOverflowError, match=r"NTKRegressor.predict: .* cross kernel .* overflowed"):
        reg.predict(X * 1e200)


def test_a_failed_eigendecomposition_is_reported_without_torch_internals(monkeypatch):
    def failing_eigh(a):
        raise torch.linalg.LinAlgError("linalg.eigh: The algorithm failed to converge")

    X, y = data()
    monkeypatch.setattr(torch.linalg, "eigh", failing_eigh)
    with pytest.raises(KernelOverflowError, match="NTKRegressor.fit: the eigendecomposition of the training Gram"):
        NTKRegressor().fit(X, y)
    with pytest.raises(KernelOverflowError, match="linearized_predictions: the eigendecomposition of theta_train"):
        linearized_predictions(torch.eye(3, dtype=F64), None, torch.zeros(3), lr=0.1, times=[1])


def test_wrong_feature_count_at_predict_raises():
    X, y = data()
    reg = NTKRegressor().fit(X, y)
    with pytest.raises(ValueError, match="X has 2 features, but NTKRegressor is expecting 3"):
        reg.predict(X[:, :2])


# ----------------------------------------------------------------------------- linearized dynamics
def gd_linear_model(features, y, test_features, lr, steps):
    """Full-batch GD on 0.5 * mean((f - y)^2) for f(x) = w . phi(x) + w0 . phi(x) offset."""
    g = torch.Generator().manual_seed(0)
    w = torch.randn(features.shape[1], generator=g, dtype=F64, requires_grad=True)
    train, test = [], []
    for _ in range(steps + 1):
        with torch.no_grad():
            train.append((features @ w).clone())
            test.append((test_features @ w).clone())
        loss = 0.5 * ((features @ w - y) ** 2).mean()
        (grad,) = torch.autograd.grad(loss, w)
        with torch.no_grad():
            w -= lr * grad
    return torch.stack(train), torch.stack(test), w


def test_discrete_dynamics_equal_gradient_descent_on_a_linear_model():
    g = torch.Generator().manual_seed(1)
    phi, phi_t = torch.randn(10, 6, generator=g, dtype=F64), torch.randn(4, 6, generator=g, dtype=F64)
    y = torch.randn(10, generator=g, dtype=F64)
    train, test, _ = gd_linear_model(phi, y, phi_t, lr=0.3, steps=25)
    f_train, f_test = linearized_predictions(phi @ phi.T, phi_t @ phi.T, y, train[0], test[0],
                                             lr=0.3, times=range(26), discrete=True)
    torch.testing.assert_close(f_train, train, rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(f_test, test, rtol=1e-9, atol=1e-10)


def test_gradient_flow_approximates_small_learning_rate_descent():
    g = torch.Generator().manual_seed(2)
    phi, phi_t = torch.randn(10, 6, generator=g, dtype=F64), torch.randn(4, 6, generator=g, dtype=F64)
    y = torch.randn(10, generator=g, dtype=F64)
    train, test, _ = gd_linear_model(phi, y, phi_t, lr=0.01, steps=300)
    f_train, f_test = linearized_predictions(phi @ phi.T, phi_t @ phi.T, y, train[0], test[0],
                                             lr=0.01, times=range(301))
    scale = (train[0] - y).abs().max()
    assert (f_train - train).abs().max() < 0.01 * scale
    assert (f_test - test).abs().max() < 0.01 * scale


def test_time_zero_gives_the_initial_outputs_and_infinity_the_kernel_regressor():
    X, y = data(n=15)
    Xt, _ = data(n=5, seed=4)
    k = lambda a, b: mlp_kernels(torch.tensor(a), torch.tensor(b), depth=2)[1]  # noqa: E731
    f0, f0t = torch.full((15,), 0.3, dtype=F64), torch.full((5,), -0.2, dtype=F64)
    f_train, f_test = linearized_predictions(k(X, X), k(Xt, X), y, f0, f0t, lr=1.0,
                                             times=[0.0, 1e9])
    torch.testing.assert_close(f_train[0], f0)
    torch.testing.assert_close(f_test[0], f0t)
    _, from_zero = linearized_predictions(k(X, X), k(Xt, X), y, lr=1.0, times=[1e9])
    np.testing.assert_allclose(from_zero[0].numpy(), NTKRegressor().fit(X, y).predict(Xt), rtol=1e-6)
    np.testing.assert_allclose(f_train[1].numpy(), y, atol=1e-6)


def test_multi_output_dynamics_have_time_sample_output_shape():
    X, Y = data(n=8, outputs=2)
    theta = mlp_kernels(torch.tensor(X), depth=1)[1]
    f_train, f_test = linearized_predictions(theta, theta[:3], Y, lr=0.5, times=[0, 1, 2, 5])
    assert f_train.shape == (4, 8, 2) and f_test.shape == (4, 3, 2)


@pytest.mark.slow
def test_wide_network_gradient_descent_follows_the_linearized_prediction():
    # tanh: the lazy regime sets in quickly (max deviation ~0.002 at width 4096 after 100 steps
    # at lr=0.5); relu on 1-D inputs converges much more slowly (~0.08), kinks crossing the data.
    x, xt = torch.linspace(-1, 1, 8, dtype=F64)[:, None], torch.linspace(-0.9, 0.9, 5, dtype=F64)[:, None]
    y = torch.sin(3 * x[:, 0])
    model = MLP(1, width=4096, depth=1, activation="tanh", w_std=1.5, seed=0).double()
    with torch.no_grad():
        f0, f0t = model(x)[:, 0], model(xt)[:, 0]
    theta, cross = empirical_ntk(model, x), empirical_ntk(model, xt, x)
    lr, steps = 0.5, 200
    train, test = [], []
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    for _ in range(steps + 1):
        with torch.no_grad():
            train.append(model(x)[:, 0])
            test.append(model(xt)[:, 0])
        opt.zero_grad()
        (0.5 * ((model(x)[:, 0] - y) ** 2).mean()).backward()
        opt.step()
    f_train, f_test = linearized_predictions(theta, cross, y, f0, f0t, lr=lr,
                                             times=range(steps + 1), discrete=True)
    scale = (f0 - y).abs().max()
    assert (torch.stack(train) - f_train).abs().max() < 0.01 * scale
    assert (torch.stack(test) - f_test).abs().max() < 0.01 * scale
    assert (torch.stack(train)[-1] - y).abs().max() < 0.5 * scale  # it did train


@pytest.mark.parametrize("kwargs, argument", [
    (dict(lr=0.0, times=[1]), "lr"),
    (dict(lr=float("inf"), times=[1]), "lr"),
    (dict(lr=True, times=[1]), "lr"),
    (dict(lr=0.1, times=[-1.0]), "times"),
    (dict(lr=0.1, times=[float("nan")]), "times"),
    (dict(lr=0.1, times=[1], discrete="yes"), "discrete"),
    (dict(lr=0.1, times=[1], f0_train=[0.0, float("nan"), 0.0]), "f0_train"),
    (dict(lr=0.1, times=[1], f0_train=[0.0, 0.0]), "f0_train"),
])
def test_bad_dynamics_arguments_raise(kwargs, argument):
    theta = torch.eye(3, dtype=F64)
    with pytest.raises(ValueError, match=f"'{argument}' parameter of linearized_predictions"):
        linearized_predictions(theta, None, torch.zeros(3), **kwargs)


@pytest.mark.parametrize("argument", ["theta_train", "theta_test_train", "y_train", "f0_test"])
def test_non_finite_dynamics_inputs_are_refused_naming_them(argument):
    args = dict(theta_train=torch.eye(3, dtype=F64), theta_test_train=torch.ones(2, 3, dtype=F64),
                y_train=torch.zeros(3, dtype=F64), f0_test=torch.zeros(2, dtype=F64))
    args[argument] = args[argument].clone()
    args[argument].view(-1)[0] = float("inf")
    with pytest.raises(InvalidParameterError, match=f"'{argument}' parameter of linearized_predictions must hold "
                       "only finite values"):
        linearized_predictions(args["theta_train"], args["theta_test_train"], args["y_train"],
                               f0_test=args["f0_test"], lr=0.1, times=[1])


def test_mismatched_dynamics_shapes_raise():
    theta = torch.eye(3, dtype=F64)
    with pytest.raises(ValueError, match="'y_train' parameter.*N=3"):
        linearized_predictions(theta, None, torch.zeros(4), lr=0.1, times=[1])
    with pytest.raises(ValueError, match="'theta_test_train' parameter.*N=3"):
        linearized_predictions(theta, torch.ones(2, 4), torch.zeros(3), lr=0.1, times=[1])
