"""Training loops that record per-epoch metrics and, optionally, the empirical NTK spectrum.

Loss conventions (the linearized dynamics elsewhere in the book use the same ones):

* ``loss="mse"``: L(theta) = 1/(2n) * sum_i ||f(x_i; theta) - y_i||^2, i.e. half the squared
  error summed over outputs and averaged over examples. For one output this is
  ``0.5 * MSE``; under gradient flow with learning rate eta the function evolves as
  df/dt = -(eta/n) Theta (f - y). For classification with ``mse`` the targets are one-hot.
* ``loss="ce"``: mean softmax cross-entropy over examples (classification only).

Metrics (tidy rows ``epoch, split, metric, value`` for split in {"train", "test"}):

* regression: ``loss`` (the objective above), ``mse`` (plain mean of squared errors over
  examples and outputs, no 1/2), ``r2`` (1 - SS_res/SS_tot around the split's own target mean,
  averaged over outputs).
* classification: ``loss``, ``accuracy``, ``cross_entropy``.

Epoch 0 is the model at initialization; epoch e is after e passes over the training data.
Metrics are computed in ``model.eval()`` mode on the whole split, after the epoch's updates.

Determinism: on CPU, a given seed gives bit-identical histories and final parameters across
runs in the same environment: the minibatch order comes from a ``torch.Generator`` seeded
with ``seed`` and any randomness inside the model (dropout) uses the global generator, which
is seeded with ``seed`` inside ``torch.random.fork_rng`` (so the caller's RNG state is left as
it was).

Divergence: a non-finite training loss (or a non-finite metric, or a loss above
``divergence_threshold``) stops the run. The result is marked ``diverged`` with the epoch and
the cause; the history holds only the finite epochs before it, so no NaN reaches a plot.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from ntkbook._progress import progress_bar
from ntkbook._validation import (InvalidParameterError, check_bool, check_finite, check_float, check_int,
                                 check_option, check_optional_int, check_seed, fail)
from ntkbook.data import Dataset

__all__ = ["train", "TrainResult", "TrainState", "Callback", "NTKTracker", "HISTORY_COLUMNS",
           "ntk_spectrum_metrics"]

HISTORY_COLUMNS = ["epoch", "split", "metric", "value"]
OPTIMIZERS = ("gd", "sgd", "adam")
LOSSES = ("mse", "ce")


# --------------------------------------------------------------------------- state & results


@dataclass
class TrainState:
    """What callbacks see: the model, data and progress of the current run."""

    model: nn.Module
    data: Dataset
    epoch: int
    device: torch.device
    loss: str
    seed: int
    metrics: dict[str, float] = field(default_factory=dict)  # "split/metric" -> value
    stop_cause: str | None = None

    def stop(self, cause: str) -> None:
        """Ask the loop to stop after this epoch, marking the run as diverged with ``cause``."""
        self.stop_cause = cause


class Callback:
    """Base class: override any of the hooks. Tidy rows in ``self.records`` are collected."""

    records: list[dict[str, Any]]

    def on_train_begin(self, state: TrainState) -> None:  # pragma: no cover - default no-op
        pass

    def on_epoch_end(self, state: TrainState) -> None:  # pragma: no cover - default no-op
        pass

    def on_train_end(self, state: TrainState) -> None:  # pragma: no cover - default no-op
        pass


@dataclass
class TrainResult:
    """The outcome of :func:`train`.

    Attributes
    ----------
    history
        tidy DataFrame (epoch, split, metric, value) of the training metrics.
    ntk
        tidy DataFrame with the same columns holding the NTKTracker records (split
        ``"probe"``); empty when no tracker was used. ``frame()`` concatenates both.
    diverged, diverged_epoch, cause
        whether and where a non-finite loss stopped the run.
    model
        the trained model (the same object that was passed in).
    epochs_run
        the last epoch with recorded metrics.
    """

    history: pd.DataFrame
    ntk: pd.DataFrame
    diverged: bool
    diverged_epoch: int | None
    cause: str | None
    model: nn.Module
    epochs_run: int
    config: dict[str, Any] = field(default_factory=dict)

    def frame(self) -> pd.DataFrame:
        """History and NTK records in one tidy DataFrame."""
        return pd.concat([self.history, self.ntk], ignore_index=True)

    def final(self, split: str = "test") -> dict[str, float]:
        """Metrics of the last recorded epoch for ``split`` as a dict."""
        h = self.history
        h = h[(h.split == split) & (h.epoch == h.epoch.max())]
        return dict(zip(h.metric, h.value))

    def __repr__(self) -> str:
        status = (f"diverged at epoch {self.diverged_epoch}: {self.cause}" if self.diverged
                  else "finished")
        return f"TrainResult({status}, epochs_run={self.epochs_run}, rows={len(self.history)})"


# --------------------------------------------------------------------------- NTK tracking


def ntk_spectrum_metrics(kernel: torch.Tensor, *, top_k: int = 10,
                         kernel0: torch.Tensor | None = None,
                         targets: torch.Tensor | None = None) -> dict[str, float]:
    """Spectral summaries of a symmetric kernel matrix (computed in float64).

    * ``lambda_max``, ``lambda_min``: extreme eigenvalues (``torch.linalg.eigvalsh``).
    * ``trace``: sum of eigenvalues.
    * ``condition_number``: lambda_max / lambda_min; ``inf`` when lambda_min <= 0 (singular
      up to rounding).
    * ``effective_rank``: participation ratio (sum lambda)^2 / sum lambda^2 of the eigenvalues
      clipped at 0; between 1 and n.
    * ``effective_rank_entropy``: exp of the Shannon entropy of p_i = lambda_i / sum lambda
      (Roy & Vetterli 2007).
    * ``eig_1`` ... ``eig_k``: the top-k eigenvalues, largest first.
    * ``kernel_change``: ||K - K_0||_F / ||K_0||_F when ``kernel0`` is given.
    * ``alignment``: kernel-target alignment (Cristianini et al. 2002)
      <K, Y Y^T>_F / (||K||_F ||Y Y^T||_F), with Y the targets (n, k) (one-hot for labels),
      uncentered; when ``targets`` is given.
    """
    owner = "ntk_spectrum_metrics"
    if not isinstance(kernel, torch.Tensor) or kernel.dim() != 2 or kernel.shape[0] != kernel.shape[1]:
        raise InvalidParameterError(f"The 'kernel' parameter of {owner} must be a square (N, N) "
                                    f"torch.Tensor. Got {type(kernel).__name__} of shape "
                                    f"{tuple(getattr(kernel, 'shape', ()))} instead.")
    top_k = check_int(top_k, "top_k", owner)
    k = kernel.detach().to(torch.float64)
    k = check_finite(0.5 * (k + k.T), "kernel", owner)
    ev = torch.linalg.eigvalsh(k)  # ascending
    lam_max, lam_min = float(ev[-1]), float(ev[0])
    pos = ev.clamp_min(0)
    s1, s2 = float(pos.sum()), float((pos ** 2).sum())
    out = {
        "lambda_max": lam_max,
        "lambda_min": lam_min,
        "trace": float(ev.sum()),
        "condition_number": lam_max / lam_min if lam_min > 0 else math.inf,
        "effective_rank": s1 * s1 / s2 if s2 > 0 else 0.0,
    }
    if s1 > 0:
        p = pos / s1
        p = p[p > 0]
        out["effective_rank_entropy"] = float(torch.exp(-(p * p.log()).sum()))
    else:
        out["effective_rank_entropy"] = 0.0
    desc = ev.flip(0)
    for i in range(min(top_k, len(desc))):
        out[f"eig_{i + 1}"] = float(desc[i])
    if kernel0 is not None:
        k0 = kernel0.detach().to(torch.float64)
        out["kernel_change"] = float(torch.linalg.norm(k - k0) / torch.linalg.norm(k0))
    if targets is not None:
        y = targets.detach().to(device=k.device, dtype=torch.float64)
        y = y.reshape(len(y), -1)
        yy = y @ y.T
        denom = float(torch.linalg.norm(k) * torch.linalg.norm(yy))
        out["alignment"] = float((k * yy).sum()) / denom if denom > 0 else 0.0
    return out


class NTKTracker(Callback):
    """Record the empirical NTK spectrum on a fixed probe set every ``every`` epochs.

    Parameters
    ----------
    probe_x
        a tensor of probe inputs, or an int n meaning the first n training inputs.
    every
        record at epochs 0, every, 2*every, ... (epoch 0 is initialization).
    top_k
        how many leading eigenvalues to record (``eig_1`` ... ``eig_k``).
    probe_y
        targets for the kernel-target alignment; with ``probe_x`` an int they default
        to the matching training targets (class labels become one-hot).
    method
        passed to ``ntkbook.ntk.empirical_ntk`` (``"auto"`` uses its default).

    Notes
    -----
    The kernel is Theta(x, x') = sum_o J_o(x) . J_o(x') (summed over outputs), computed with
    the model in eval mode. Records are tidy rows ``epoch, split="probe", metric, value`` (see
    :func:`ntk_spectrum_metrics` for the metrics); :func:`train` returns them as
    ``TrainResult.ntk``. ``kernel0`` and ``last_kernel`` keep the first and latest kernels.
    """

    def __init__(self, probe_x, every: int = 1, top_k: int = 10, probe_y=None,
                 method: str = "auto"):
        owner = "NTKTracker"
        if isinstance(probe_x, numbers.Number) or not hasattr(probe_x, "__len__"):
            probe_x = check_int(probe_x, "probe_x", owner)  # a probe size
        self.probe_x, self.probe_y = probe_x, probe_y
        self.every = check_int(every, "every", owner)
        self.top_k = check_int(top_k, "top_k", owner)
        self.method = method  # checked by ntkbook.ntk.empirical_ntk at the first kernel
        self.records: list[dict[str, Any]] = []
        self.kernel0: torch.Tensor | None = None
        self.last_kernel: torch.Tensor | None = None
        self._x: torch.Tensor | None = None
        self._y: torch.Tensor | None = None

    def on_train_begin(self, state: TrainState) -> None:
        self.records, self.kernel0, self.last_kernel = [], None, None
        data = state.data
        if isinstance(self.probe_x, int):
            n = min(self.probe_x, len(data.x_train))
            x = data.x_train[:n]
            y = data.y_train[:n] if self.probe_y is None else self.probe_y
        else:
            x, y = self.probe_x, self.probe_y
        self._x = torch.as_tensor(x).to(device=state.device, dtype=data.x_train.dtype)
        if y is not None:
            y = torch.as_tensor(y).to(state.device)
            if len(y) != len(self._x):
                raise InvalidParameterError(f"The 'probe_y' parameter of NTKTracker must have one row "
                                            f"per probe input ({len(self._x)}). Got {len(y)} rows instead.")
            if not torch.is_floating_point(y):
                n_classes = data.n_classes or int(y.max()) + 1
                y = F.one_hot(y.long(), n_classes)
            y = y.to(torch.float64)
        self._y = y

    def kernel(self, model: nn.Module) -> torch.Tensor:
        from ntkbook.ntk import empirical_ntk

        was_training = model.training
        model.eval()
        try:
            if self.method == "auto":
                return empirical_ntk(model, self._x)
            return empirical_ntk(model, self._x, method=self.method)
        finally:
            model.train(was_training)

    def on_epoch_end(self, state: TrainState) -> None:
        if state.epoch % self.every:
            return
        k = self.kernel(state.model).detach()
        if not torch.isfinite(k).all():
            state.stop(f"non-finite empirical NTK at epoch {state.epoch}")
            return
        if self.kernel0 is None:
            self.kernel0 = k
        self.last_kernel = k
        metrics = ntk_spectrum_metrics(k, top_k=self.top_k, kernel0=self.kernel0,
                                       targets=self._y)
        for name, value in metrics.items():
            self.records.append({"epoch": state.epoch, "split": "probe", "metric": name,
                                 "value": value})

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.records, columns=HISTORY_COLUMNS)


# --------------------------------------------------------------------------- loss & metrics


def _objective(out: torch.Tensor, y: torch.Tensor, loss: str, n_classes: int | None):
    if loss == "ce":
        return F.cross_entropy(out, y)
    target = F.one_hot(y, n_classes).to(out.dtype) if n_classes else y
    return 0.5 * ((out - target.reshape(out.shape)) ** 2).sum(dim=tuple(range(1, out.ndim))).mean()


@torch.no_grad()
def _predict(model: nn.Module, x: torch.Tensor, batch: int) -> torch.Tensor:
    return torch.cat([model(x[i:i + batch]) for i in range(0, len(x), batch)])


@torch.no_grad()
def _metrics(out: torch.Tensor, y: torch.Tensor, data: Dataset, loss: str) -> dict[str, float]:
    n_classes = data.n_classes if data.task == "classification" else None
    res = {"loss": float(_objective(out, y, loss, n_classes))}
    if data.task == "regression":
        err = out.reshape(y.shape) - y
        res["mse"] = float((err ** 2).mean())
        ss_res = (err ** 2).sum(0)
        ss_tot = ((y - y.mean(0)) ** 2).sum(0)
        r2 = torch.where(ss_tot > 0, 1 - ss_res / ss_tot.clamp_min(1e-300),
                         torch.zeros_like(ss_tot))
        res["r2"] = float(r2.mean())
    else:
        res["accuracy"] = float((out.argmax(1) == y).to(torch.float64).mean())
        res["cross_entropy"] = float(F.cross_entropy(out, y))
    return res


# --------------------------------------------------------------------------- train


@dataclass
class _Setup:
    """What one call of :func:`train` works with once its arguments are checked and placed."""

    model: nn.Module
    data: Dataset  # on the training device, inputs in the model's floating dtype
    opt: torch.optim.Optimizer
    loss: str  # "mse" or "ce"
    n_classes: int | None  # one-hot width of the targets for mse on labels, else None
    batch: int  # minibatch size; n (the training-set size) for full batch
    eval_batch_size: int
    divergence_threshold: float | None


def _check_arguments(model, data, optimizer, lr, epochs, batch_size, loss, seed, device, progress,
                     optimizer_kwargs, divergence_threshold, eval_batch_size):
    """Check :func:`train`'s arguments; returns (optimizer, loss, device), normalized."""
    owner = "train"
    if not isinstance(model, nn.Module):
        raise InvalidParameterError(f"The 'model' parameter of {owner} must be a torch.nn.Module. "
                                    f"Got {type(model).__name__} instead.")
    if not isinstance(data, Dataset):
        raise InvalidParameterError(f"The 'data' parameter of {owner} must be an ntkbook.data.Dataset. "
                                    f"Got {type(data).__name__} instead.")
    optimizer = check_option(optimizer.lower() if isinstance(optimizer, str) else optimizer,
                             "optimizer", owner, OPTIMIZERS)
    check_float(lr, "lr", owner)
    check_int(epochs, "epochs", owner, low=0)
    check_optional_int(batch_size, "batch_size", owner)
    if loss is None:
        loss = "mse" if data.task == "regression" else "ce"
    loss = check_option(loss.lower() if isinstance(loss, str) else loss, "loss", owner, LOSSES)
    if loss == "ce" and data.task != "classification":
        fail("loss", owner, f"'mse' for the {data.task} task of dataset {data.name!r} ('ce' needs "
             "class labels)", loss)
    n = len(data.x_train)
    if optimizer == "gd" and batch_size is not None and batch_size < n:
        fail("batch_size", owner, f"None or >= the {n} training examples with optimizer='gd' "
             "(full-batch gradient descent; use optimizer='sgd' for minibatches)", batch_size)
    check_seed(seed, "seed", owner)
    try:
        device = torch.device(device) if device is not None else data.x_train.device
    except (RuntimeError, TypeError):
        fail("device", owner, "None, a torch.device or a device string such as 'cpu' or 'cuda:0'", device)
    if progress is not None:
        check_bool(progress, "progress", owner)
    if optimizer_kwargs is not None and not isinstance(optimizer_kwargs, dict):
        fail("optimizer_kwargs", owner, "None or a dict", optimizer_kwargs)
    if divergence_threshold is not None:
        check_float(divergence_threshold, "divergence_threshold", owner)
    check_int(eval_batch_size, "eval_batch_size", owner)
    return optimizer, loss, device


def _set_up(model, data, *, optimizer, lr, batch_size, loss, device, optimizer_kwargs,
            divergence_threshold, eval_batch_size) -> _Setup:
    """Move the model to ``device``, cast the data to its floating dtype, build the optimizer."""
    model = model.to(device)
    float_params = [p for p in model.parameters() if torch.is_floating_point(p)]
    # inputs follow the model's floating dtype (labels stay int64)
    data = data.to(device=device, dtype=float_params[0].dtype if float_params else None)
    params = [p for p in model.parameters() if p.requires_grad]
    make = torch.optim.Adam if optimizer == "adam" else torch.optim.SGD  # gd is SGD on the full batch
    opt = make(params, lr=lr, **optimizer_kwargs)
    n = len(data.x_train)
    n_classes = data.n_classes if (data.task == "classification" and loss == "mse") else None
    return _Setup(model, data, opt, loss, n_classes, n if batch_size is None else min(batch_size, n),
                  eval_batch_size, divergence_threshold)


def _step_divergence(value: float, threshold: float | None, epoch: int, step: int) -> str | None:
    """Why the training loss ``value`` of one step stops the run, or None."""
    if not math.isfinite(value):
        return f"non-finite training loss ({value}) at epoch {epoch}, step {step}"
    if threshold is not None and value > threshold:
        return (f"training loss {value:.3g} above divergence_threshold {threshold:g} at epoch "
                f"{epoch}, step {step}")
    return None


def _train_epoch(s: _Setup, gen: torch.Generator, epoch: int) -> str | None:
    """One pass over the training data in minibatches (a seeded order from ``gen``).

    Returns the divergence cause when a step's loss is non-finite or above the threshold (that
    step is not taken), else None.
    """
    x, y = s.data.x_train, s.data.y_train
    n = len(x)
    s.model.train()
    order = torch.randperm(n, generator=gen) if s.batch < n else torch.arange(n)
    for step, start in enumerate(range(0, n, s.batch)):
        idx = order[start:start + s.batch].to(x.device)
        s.opt.zero_grad(set_to_none=True)
        value = _objective(s.model(x[idx]), y[idx], s.loss, s.n_classes)
        cause = _step_divergence(float(value.detach()), s.divergence_threshold, epoch, step)
        if cause is not None:
            return cause
        value.backward()
        s.opt.step()
    return None


def _evaluate(s: _Setup, epoch: int, rows: list[dict[str, Any]], state: TrainState) -> str | None:
    """Metrics of both splits in eval mode, appended to ``rows`` and set on ``state``.

    Returns the divergence cause if a metric is not finite (nothing is recorded then).
    """
    s.model.eval()
    got = {}
    for split in ("train", "test"):
        x, y = getattr(s.data, f"x_{split}"), getattr(s.data, f"y_{split}")
        if len(x) == 0:
            continue
        m = _metrics(_predict(s.model, x, s.eval_batch_size), y, s.data, s.loss)
        for name, value in m.items():
            if not math.isfinite(value):
                return f"non-finite {split} {name} at epoch {epoch}"
            got[f"{split}/{name}"] = value
    for key, value in got.items():
        split, name = key.split("/")
        rows.append({"epoch": epoch, "split": split, "metric": name, "value": value})
    state.metrics = got
    return None


def _run_callbacks(callbacks: list, hook: str, state: TrainState) -> None:
    for cb in callbacks:
        fn = getattr(cb, hook, None)
        if fn is not None:
            fn(state)
        elif hook == "on_epoch_end" and callable(cb):
            cb(state)


def _end_of_epoch(s: _Setup, epoch: int, rows, state: TrainState, callbacks: list) -> str | None:
    """Evaluate, then run the callbacks; the divergence or stop cause, or None."""
    cause = _evaluate(s, epoch, rows, state)
    if cause is None:
        _run_callbacks(callbacks, "on_epoch_end", state)
        cause = state.stop_cause
    return cause


def _run_epochs(s: _Setup, epochs: int, gen: torch.Generator, state: TrainState, rows, callbacks: list,
                bar) -> tuple[str | None, int | None, int]:
    """Epochs 1 .. ``epochs``: train one pass, evaluate, run the callbacks; stop at the first cause.

    Returns (cause, diverged_epoch, last_epoch): the stop cause and its epoch (None, None when
    the run finished) and the last epoch whose metrics were recorded.
    """
    for epoch in range(1, epochs + 1):
        state.epoch = epoch
        cause = _train_epoch(s, gen, epoch) or _end_of_epoch(s, epoch, rows, state, callbacks)
        if cause is not None:
            return cause, epoch, epoch - 1
        bar.update(1)
        if not bar.disable:
            bar.set_postfix(loss=f"{state.metrics.get('train/loss', float('nan')):.4g}")
    return None, None, epochs


def _frames(rows, callbacks, diverged: bool, last_epoch: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The tidy history and NTK-record frames of a run (NTK rows after a divergence dropped)."""
    history = pd.DataFrame(rows, columns=HISTORY_COLUMNS)
    ntk_frames = [pd.DataFrame(cb.records, columns=HISTORY_COLUMNS) for cb in callbacks
                  if isinstance(getattr(cb, "records", None), list) and cb.records]
    ntk = (pd.concat(ntk_frames, ignore_index=True) if ntk_frames
           else pd.DataFrame(columns=HISTORY_COLUMNS))
    if diverged and len(ntk):
        ntk = ntk[ntk.epoch <= last_epoch].reset_index(drop=True)
    for frame in (history, ntk):
        frame["epoch"] = frame["epoch"].astype(np.int64)
        frame["value"] = frame["value"].astype(np.float64)
    return history, ntk


def train(model: nn.Module, data: Dataset, *, optimizer: str = "gd", lr: float,
          epochs: int, batch_size: int | None = None, loss: str | None = None, seed: int = 0,
          device=None, callbacks: Iterable[Callback | Callable[[TrainState], None]] = (),
          progress: bool | None = True, optimizer_kwargs: dict[str, Any] | None = None,
          divergence_threshold: float | None = None,
          eval_batch_size: int = 4096) -> TrainResult:
    """Train ``model`` on ``data`` and record metrics every epoch (see the module docstring).

    Parameters
    ----------
    optimizer
        ``"gd"`` (full-batch gradient descent: one step per epoch), ``"sgd"``
        (minibatch SGD; full batch when ``batch_size`` is None) or ``"adam"``.
        ``optimizer_kwargs`` go to ``torch.optim.SGD`` / ``torch.optim.Adam``
        (e.g. momentum, weight_decay).
    lr
        learning rate, finite and >= 0.
    epochs
        number of passes over the training data (an int >= 0).
    batch_size
        minibatch size for ``sgd``/``adam``; None means full batch.
    loss
        ``"mse"`` (1/(2n) sum ||f - y||^2) or ``"ce"``; default mse for regression and ce for
        classification. ``"ce"`` on a regression task is an error.
    seed
        seeds the minibatch order and the model's own randomness (dropout).
    device
        where to train; default the device of ``data.x_train``. The model is moved there
        and the data are cast to the model's floating dtype.
    callbacks
        :class:`Callback` objects (e.g. :class:`NTKTracker`) or callables taking the
        :class:`TrainState`, called after every epoch including epoch 0.
    progress
        show a bar over the epochs (``tqdm.auto``: a widget in Jupyter, text in a
        terminal; see :mod:`ntkbook._progress`). None is read as the default, True, so that
        callers can forward an optional setting. ``TQDM_DISABLE=1`` in the environment also
        silences it (the book's pipeline sets it in the kernels it starts).
    divergence_threshold
        also stop when the training loss exceeds this value.
    eval_batch_size
        inputs per forward pass when the metrics are computed.

    Notes
    -----
    A bad argument raises :class:`ntkbook._validation.InvalidParameterError` naming it. The
    model is trained in place and returned in the result.

    Steps: check the arguments, set up (placement and optimizer), then inside a forked RNG
    seeded with ``seed``: evaluate epoch 0, and for each epoch train one pass
    (:func:`_train_epoch`, which checks every step's loss for divergence), evaluate and run the
    callbacks (:func:`_end_of_epoch`); finally collect the tidy frames.
    """
    optimizer, loss, device = _check_arguments(
        model, data, optimizer, lr, epochs, batch_size, loss, seed, device, progress,
        optimizer_kwargs, divergence_threshold, eval_batch_size)
    epochs = int(epochs)
    kw = dict(optimizer_kwargs or {})
    s = _set_up(model, data, optimizer=optimizer, lr=lr, batch_size=batch_size, loss=loss,
                device=device, optimizer_kwargs=kw, divergence_threshold=divergence_threshold,
                eval_batch_size=eval_batch_size)
    callbacks = list(callbacks)
    state = TrainState(s.model, s.data, 0, device, loss, seed)
    rows: list[dict[str, Any]] = []
    last_epoch = 0
    show = progress is not False
    fork_devices = [device.index or 0] if device.type == "cuda" else []

    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(seed)
        gen = torch.Generator(device="cpu").manual_seed(seed)
        _run_callbacks(callbacks, "on_train_begin", state)
        cause = _end_of_epoch(s, 0, rows, state, callbacks)  # epoch 0: the model at initialization
        diverged_epoch = None if cause is None else 0
        bar = progress_bar(total=epochs, show=show, desc=f"train ({optimizer}, lr={lr:g})",
                           unit="epoch", leave=False)
        try:
            if cause is None:
                cause, diverged_epoch, last_epoch = _run_epochs(s, epochs, gen, state, rows, callbacks, bar)
        finally:
            bar.close()
            _run_callbacks(callbacks, "on_train_end", state)
    s.model.eval()

    history, ntk = _frames(rows, callbacks, diverged_epoch is not None, last_epoch)
    config = {"optimizer": optimizer, "lr": lr, "epochs": epochs, "batch_size": batch_size,
              "loss": loss, "seed": seed, "device": str(device),
              "optimizer_kwargs": kw}
    return TrainResult(history, ntk, diverged_epoch is not None, diverged_epoch, cause, s.model,
                       last_epoch, config)
