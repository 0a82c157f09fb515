"""Kernel regression with the NTK ("the conventional NTK model") and the linearized dynamics.

Two views of the same predictor (Jacot et al. 2018; Lee et al. 2019):

- :class:`NTKRegressor`: the scikit-learn estimator f(x) = Theta(x, X) (Theta(X, X) + alpha I)^-1 Y,
  the t -> inf limit of gradient descent on an infinitely wide network started from f_0 = 0.
- :func:`linearized_predictions`: the outputs at finite training time t of the linearized
  (or infinitely wide) network trained by full-batch gradient descent on the mean squared error,
  in closed form through the eigendecomposition of the training Gram Theta(X, X).

Example::

    >>> X = np.random.default_rng(0).normal(size=(20, 3))      # (N, d)
    >>> y = np.sin(X[:, 0])                                     # (N,)
    >>> reg = NTKRegressor(architecture="mlp", depth=2).fit(X, y)
    >>> reg.predict(X[:5]).shape                                # (5,)
    (5,)
"""

import numpy as np
import torch
from sklearn.base import BaseEstimator, MultiOutputMixin, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from ntkbook._validation import (InvalidParameterError, check_bool, check_finite, check_float,
                                 check_int, check_option)
from ntkbook.analytic import ecrn_kernels, mlp_kernels
from ntkbook.models import ACTIVATIONS, resolve_alphas, resolve_drop_probs
from ntkbook.ntk import empirical_ntk

_EIG_RTOL = 1e-12  # eigenvalues below this times the largest are treated as 0 in the inverse


class KernelOverflowError(ValueError):
    """A kernel matrix is not finite, or too large to decompose: the inputs need rescaling."""


def _check_kernel(theta, what, owner, inputs=None):
    """Raise :class:`KernelOverflowError` if the kernel matrix ``theta`` has a NaN or an inf."""
    bad = int((~torch.isfinite(theta)).sum())
    if bad:
        scale = "" if inputs is None else f" (the largest |X| entry is {float(np.abs(inputs).max()):.3g})"
        raise KernelOverflowError(
            f"{owner}: {bad} of the {theta.numel()} entries of {what} are not finite: the kernel "
            f"overflowed float64{scale}. Rescale the inputs (e.g. standardize each feature) or use "
            f"a smaller w_std.")


def _eigh(theta, what, owner):
    """torch.linalg.eigh of a finite symmetric matrix, with a clear error when it fails."""
    try:
        return torch.linalg.eigh(theta)
    except torch.linalg.LinAlgError as exc:
        raise KernelOverflowError(
            f"{owner}: the eigendecomposition of {what} did not converge (its largest |entry| is "
            f"{float(theta.abs().max()):.3g}; {exc}). Rescale the inputs (e.g. standardize each "
            f"feature).") from None


def _spectral_solve(gram, rhs, alpha, owner):
    """(gram + alpha I)^+ rhs through gram = V diag(lam) V^T; shapes (N, N), (N, O) -> (N, O)."""
    lam, vecs = _eigh(gram, "the training Gram matrix Theta(X, X)", owner)
    lam = lam + alpha
    keep = lam > _EIG_RTOL * lam.abs().max().clamp_min(1e-300)
    inv = torch.where(keep, 1.0 / torch.where(keep, lam, 1.0), 0.0)
    return vecs @ (inv[:, None] * (vecs.T @ rhs))


class NTKRegressor(MultiOutputMixin, RegressorMixin, BaseEstimator):
    """Kernel ridge regression with an infinite-width (analytic) or empirical NTK.

    Predicts f(x) = Theta(x, X) (Theta(X, X) + alpha I)^+ Y: the mean prediction of an
    infinitely wide network trained to convergence by gradient descent on the squared loss
    (with alpha = 0; Lee et al. 2019, Eq. (16) with f_0 = 0), i.e. the "conventional NTK model"
    baseline of arXiv:2512.08264. Multi-output Y is regressed column by column with the same
    kernel (the infinite-width NTK is Theta times I_O).

    Parameters
    ----------
    alpha : float, default=0.0
        Regularization strength, added to the diagonal of the training Gram (named as in
        :class:`sklearn.kernel_ridge.KernelRidge`). 0 interpolates the training data.
    kernel : {"analytic", "empirical"}, default="analytic"
        "analytic": the infinite-width NTK of ``architecture``
        (:func:`ntkbook.analytic.mlp_kernels` or :func:`ntkbook.analytic.ecrn_kernels`).
        "empirical": J(x) J(x')^T / O of ``model`` at its current parameters
        (:func:`ntkbook.ntk.empirical_ntk`, summed over the O outputs and divided by O).
    architecture : {"mlp", "ecrn"}, default="mlp"
        Architecture of the analytic kernel.
    depth : int, default=2
        Hidden layers (mlp) or residual blocks (ecrn) of the analytic kernel.
    activation : {"relu", "erf", "tanh", "gelu"}, default="relu"
    w_std, b_std : float, default=1.0 and 0.1
        Weight and bias standard deviations (NTK parameterization).
    residual_scale : float, str or sequence, default="1/sqrt(L)"
        Residual scales alpha_l of the ecrn kernel: the ``alpha`` argument of
        :class:`ntkbook.models.ECRN` and :func:`ntkbook.analytic.ecrn_kernels`, renamed here
        because ``alpha`` is scikit-learn's name for the regularization.
    drop_prob : float, str or sequence, default="linear:0.1"
        Stochastic-depth probabilities of the ecrn kernel (eval-mode network: 1 - p_l).
    fourier_scale : float, default=1.0
        sigma of the Fourier frequencies of the ecrn kernel.
    n_fourier : int, default=64
        0: no Fourier embedding; > 0: the B-averaged Fourier input kernel
        (1/2) exp(-2 pi^2 sigma^2 ||x - x'||^2).
    model : torch.nn.Module or callable, default=None
        For kernel="empirical": a network, or a function ``in_features -> network`` called at
        fit (so the estimator can be cloned and fitted on data of any width). Its device and
        dtype are used for the kernel.

    Attributes
    ----------
    X_fit_ : ndarray of shape (n_samples, n_features)
    dual_coef_ : ndarray of shape (n_samples,) or (n_samples, n_targets)
        (Theta(X, X) + alpha I)^+ Y.
    model_ : torch.nn.Module or None
        The network of the empirical kernel.
    n_features_in_ : int
    """

    def __init__(self, alpha=0.0, *, kernel="analytic", architecture="mlp", depth=2,
                 activation="relu", w_std=1.0, b_std=0.1, residual_scale="1/sqrt(L)",
                 drop_prob="linear:0.1", fourier_scale=1.0, n_fourier=64, model=None):
        self.alpha = alpha
        self.kernel = kernel
        self.architecture = architecture
        self.depth = depth
        self.activation = activation
        self.w_std = w_std
        self.b_std = b_std
        self.residual_scale = residual_scale
        self.drop_prob = drop_prob
        self.fourier_scale = fourier_scale
        self.n_fourier = n_fourier
        self.model = model

    def _check_params(self):
        """Check every parameter where it enters (``fit``), in the package's wording.

        scikit-learn's contract: ``__init__`` only stores, ``fit`` validates; its own
        constraint machinery is private, so the checks are :mod:`ntkbook._validation`'s.
        """
        owner = "NTKRegressor"
        check_float(self.alpha, "alpha", owner)
        check_option(self.kernel, "kernel", owner, ("analytic", "empirical"))
        check_option(self.architecture, "architecture", owner, ("mlp", "ecrn"))
        check_int(self.depth, "depth", owner)
        check_option(self.activation, "activation", owner, ACTIVATIONS)
        for name in ("w_std", "b_std", "fourier_scale"):
            check_float(getattr(self, name), name, owner)
        check_int(self.n_fourier, "n_fourier", owner, low=0)
        if self.model is not None and not callable(self.model):  # a Module is callable too
            raise InvalidParameterError(
                f"The 'model' parameter of {owner} must be None, a torch.nn.Module or a callable "
                f"in_features -> module. Got {self.model!r} instead.")
        if self.architecture == "ecrn":  # per-block values: their length depends on depth
            try:
                resolve_alphas(self.residual_scale, self.depth, owner)
            except InvalidParameterError as err:  # ECRN's argument alpha is residual_scale here
                raise InvalidParameterError(str(err).replace("'alpha'", "'residual_scale'", 1)) from None
            resolve_drop_probs(self.drop_prob, self.depth, owner)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.non_deterministic = False
        return tags

    def _kernel(self, X1, X2=None):
        """Theta(X1, X2) as a float64 CPU tensor, shape (N1, N2)."""
        if self.kernel == "empirical":
            p = next(self.model_.parameters())
            as_t = lambda a: torch.as_tensor(a, dtype=p.dtype, device=p.device)  # noqa: E731
            x2 = None if X2 is None else as_t(X2)
            with torch.no_grad():
                n_out = self.model_(as_t(X1[:1])).reshape(1, -1).shape[1]
            theta = empirical_ntk(self.model_, as_t(X1), x2, outputs="trace") / n_out
            return theta.detach().to("cpu", torch.float64)
        x1 = torch.as_tensor(X1, dtype=torch.float64)
        x2 = None if X2 is None else torch.as_tensor(X2, dtype=torch.float64)
        common = dict(depth=self.depth, activation=self.activation, w_std=self.w_std,
                      b_std=self.b_std)
        if self.architecture == "mlp":
            return mlp_kernels(x1, x2, **common)[1]
        return ecrn_kernels(x1, x2, alpha=self.residual_scale, drop_prob=self.drop_prob,
                            fourier_scale=self.fourier_scale, n_fourier=self.n_fourier,
                            **common)[1]

    def fit(self, X, y):
        """Fit the dual coefficients (Theta(X, X) + alpha I)^+ y.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_targets)

        Returns
        -------
        self : NTKRegressor

        Raises
        ------
        InvalidParameterError
            A parameter outside its allowed values (a ``ValueError``), named in the message.
        KernelOverflowError
            When Theta(X, X) overflows float64 (inputs of a huge scale): rescale X.
        """
        self._check_params()
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True,
                             dtype=np.float64)
        self.model_ = None
        if self.kernel == "empirical":
            if self.model is None:
                raise InvalidParameterError(
                    "The 'model' parameter of NTKRegressor must be a torch.nn.Module or a "
                    "callable in_features -> module when kernel='empirical'. Got None instead."
                )
            is_module = isinstance(self.model, torch.nn.Module)
            self.model_ = self.model if is_module else self.model(X.shape[1])
        gram = self._kernel(X)  # (N, N)
        _check_kernel(gram, "the training Gram matrix Theta(X, X)", "NTKRegressor.fit", X)
        rhs = torch.as_tensor(y.reshape(len(y), -1), dtype=torch.float64)  # (N, O)
        coef = _spectral_solve(gram, rhs, float(self.alpha), "NTKRegressor.fit").numpy()
        self.X_fit_ = X
        self.dual_coef_ = coef.reshape(y.shape) if y.ndim == 1 else coef
        return self

    def predict(self, X):
        """Predict Theta(X, X_fit) dual_coef.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_targets)
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        cross = self._kernel(X, self.X_fit_)  # (M, N)
        _check_kernel(cross, "the cross kernel Theta(X, X_fit)", "NTKRegressor.predict", X)
        cross = cross.numpy()
        return cross @ self.dual_coef_


def _outputs(values, name, shape, owner, kw):
    """Network outputs ``values`` as a finite float64 tensor reshaped to ``shape`` (N, O)."""
    out = check_finite(torch.as_tensor(values, **kw), name, owner)
    if out.numel() != shape[0] * shape[1] or out.dim() not in (1, 2) or len(out) != shape[0]:
        raise InvalidParameterError(f"The '{name}' parameter of {owner} must have shape ({shape[0]},) or "
                                    f"{tuple(shape)}. Got shape {tuple(out.shape)} instead.")
    return out.reshape(shape)


def linearized_predictions(theta_train, theta_test_train, y_train, f0_train=None,
                           f0_test=None, *, lr, times, discrete=False):
    """Outputs at training times t of the linearized network trained by gradient descent.

    Loss convention: full-batch gradient descent theta <- theta - lr * grad L on
    L(theta) = (1 / 2N) sum_i ||f(x_i) - y_i||^2 (for one output: 0.5 * mean((f - y)^2)). With a
    constant NTK Theta (the linearized model, or the infinite-width limit; Lee et al. 2019,
    Eqs. (8)-(11)) the training outputs follow df/dt = -(lr / N) Theta (f - y), so with
    Theta = V diag(lam) V^T and r_t = exp(-lr lam t / N) (gradient flow) or
    r_t = (1 - lr lam / N)^t (``discrete=True``: exact for t integer steps)::

        f_t(X)  = y + V r_t V^T (f_0(X) - y)
        f_t(X*) = f_0(X*) + Theta(X*, X) V diag((1 - r_t) / lam) V^T (y - f_0(X))

    (with (1 - r_t) / lam -> lr t / N as lam -> 0). As t -> inf with f_0 = 0 and Theta
    invertible this is :class:`NTKRegressor` with alpha = 0. Gradient descent converges iff
    lr < 2N / lam_max.

    Parameters
    ----------
    theta_train : torch.Tensor or ndarray, shape (N, N)
        Theta(X, X), symmetric positive semi-definite.
    theta_test_train : torch.Tensor or ndarray, shape (M, N), or None
        Theta(X*, X); None skips the test predictions.
    y_train : shape (N,) or (N, O)
    f0_train : shape like y_train, optional (default 0)
        Outputs of the network at initialization on X.
    f0_test : shape (M,) or (M, O), optional (default 0)
    lr : float > 0
    times : sequence of float >= 0
        Training times in gradient steps.
    discrete : bool, default=False

    Returns
    -------
    f_train : torch.Tensor float64, shape (T, N) or (T, N, O)
    f_test : torch.Tensor float64, shape (T, M) or (T, M, O), or None
    """
    owner = "linearized_predictions"
    theta = torch.as_tensor(theta_train, dtype=torch.float64)
    if theta.dim() != 2 or theta.shape[0] != theta.shape[1]:
        raise InvalidParameterError(f"The 'theta_train' parameter of {owner} must be a square (N, N) "
                                    f"matrix. Got shape {tuple(theta.shape)} instead.")
    check_finite(theta, "theta_train", owner)
    n = theta.shape[0]
    kw = dict(dtype=torch.float64, device=theta.device)
    y = check_finite(torch.as_tensor(y_train, **kw), "y_train", owner)
    if y.dim() not in (1, 2) or y.shape[0] != n:
        raise InvalidParameterError(f"The 'y_train' parameter of {owner} must have shape (N,) or (N, O) "
                                    f"with N={n}. Got shape {tuple(y.shape)} instead.")
    Y = y.reshape(n, -1)  # (N, O)
    f0 = torch.zeros_like(Y) if f0_train is None else _outputs(f0_train, "f0_train", Y.shape, owner, kw)
    check_float(lr, "lr", owner, 0.0, low_open=True)
    discrete = check_bool(discrete, "discrete", owner)
    t = torch.as_tensor(times, **kw).reshape(-1)  # (T,)
    if (t < 0).any() or not torch.isfinite(t).all():
        raise InvalidParameterError(f"The 'times' parameter of {owner} must hold finite values >= 0. "
                                    f"Got {times!r} instead.")

    lam, V = _eigh((theta + theta.T) / 2, "theta_train", owner)  # (N,), (N, N)
    lam = lam.clamp_min(0.0)
    rate = lr * lam / n  # (N,)
    if discrete:
        r = (1 - rate)[None, :] ** t[:, None]  # (T, N)
    else:
        r = torch.exp(-rate[None, :] * t[:, None])  # (T, N)
    # (1 - r) / lam, with its lam -> 0 limit lr t / N
    small = lam <= _EIG_RTOL * lam.max().clamp_min(1e-300)
    gain = torch.where(small, lr * t[:, None] / n, (1 - r) / torch.where(small, 1.0, lam))

    resid = V.T @ (f0 - Y)  # (N, O), residual in the eigenbasis
    f_train = Y + torch.einsum("nk,tk,ko->tno", V, r, resid)  # (T, N, O)
    f_test = None
    if theta_test_train is not None:
        cross = check_finite(torch.as_tensor(theta_test_train, **kw), "theta_test_train", owner)
        if cross.dim() != 2 or cross.shape[1] != n:
            raise InvalidParameterError(f"The 'theta_test_train' parameter of {owner} must have shape "
                                        f"(M, N={n}). Got shape {tuple(cross.shape)} instead.")
        m = cross.shape[0]
        g0 = (torch.zeros(m, Y.shape[1], **kw) if f0_test is None
              else _outputs(f0_test, "f0_test", (m, Y.shape[1]), owner, kw))
        f_test = g0 - torch.einsum("mn,nk,tk,ko->tmo", cross, V, gain, resid)  # (T, M, O)
    if y.dim() == 1:
        f_train = f_train[..., 0]
        f_test = None if f_test is None else f_test[..., 0]
    return f_train, f_test
