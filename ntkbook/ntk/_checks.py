"""The checks every public function of :mod:`ntkbook.ntk` makes where its arguments enter.

They use the package's one vocabulary (:mod:`ntkbook._validation`), so a bad argument raises
:class:`~ntkbook._validation.InvalidParameterError` (both a ``ValueError`` and a ``TypeError``)
with one sentence naming the parameter, the function, what is allowed and what was received.

Besides the arguments' types and values, :func:`check_outputs` calls the model once on the
first two samples, in the mode of the computation, and turns everything the NTK needs of
the model into a clear error: that it takes the input at all (an integer batch given to a
float layer, a wrong feature count, a 1-d batch), that each sample has its own finite,
floating-point outputs, that the model is deterministic and that samples do not interact.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from ntkbook._validation import InvalidParameterError, check_finite, check_float, fail

OUTPUTS = ("trace", "full")
MODES = ("eval", "as_is")
#: Working memory on a CPU when ``max_memory`` is None: a quarter of the available memory, at most this.
DEFAULT_CPU_BYTES = 2 * 1024**3


def _wrong_type(name, owner, allowed, value):
    raise InvalidParameterError(
        f"The '{name}' parameter of {owner} must be {allowed}. Got a {type(value).__name__} instead.")


def trainable(model):
    """(name, parameter) for every parameter with ``requires_grad=True``; a shared parameter once."""
    return [(n, p) for n, p in model.named_parameters() if p.requires_grad]


def check_model(model, owner):
    """The trainable parameters of ``model``: on one device, finite and none of them empty."""
    if not isinstance(model, nn.Module):
        _wrong_type("model", owner, "a torch.nn.Module", model)
    params = trainable(model)
    if not params:
        raise InvalidParameterError(
            f"The 'model' parameter of {owner} must have trainable parameters (requires_grad=True). "
            f"Got a {type(model).__name__} with none: its NTK is zero.")
    dev = params[0][1].device
    for n, p in params:
        if p.device != dev:
            raise InvalidParameterError(
                f"The 'model' parameter of {owner} must have all its parameters on one device. "
                f"Got {dev} and {p.device} (for {n!r}) instead.")
        if p.numel() == 0:
            raise InvalidParameterError(
                f"The 'model' parameter of {owner} must have no empty trainable parameter (a layer of width "
                f"zero?). Got {n!r} of shape {tuple(p.shape)} instead.")
        if not torch.isfinite(p).all():
            raise InvalidParameterError(
                f"The 'model' parameter of {owner} must have finite parameters. "
                f"Got non-finite values (nan or inf) in parameter {n!r} instead.")
    return params


def check_x(name, x, params, owner, like=None):
    """A batch (N, ...) with N >= 1 on the model's device; a float batch in the model's dtype and finite.

    An integer or bool batch is passed to the model unchanged (for a model that takes one, such
    as an ``nn.Embedding``); :func:`check_outputs` refuses it clearly for a model that cannot.
    ``like``: the first batch, whose per-sample shape and dtype this one must have.
    """
    if not isinstance(x, torch.Tensor):
        _wrong_type(name, owner, "a torch.Tensor of shape (N, ...)", x)
    if x.ndim == 0:
        raise InvalidParameterError(
            f"The '{name}' parameter of {owner} must have a leading batch dimension, shape (N, ...). Got a 0-d tensor instead.")
    if x.shape[0] == 0:
        raise InvalidParameterError(
            f"The '{name}' parameter of {owner} must hold at least one sample. "
            f"Got an empty batch of shape {tuple(x.shape)} instead.")
    p0 = params[0][1]
    if x.device != p0.device:
        raise InvalidParameterError(
            f"The '{name}' parameter of {owner} must be on the device of the model's parameters. Got a tensor on "
            f"device {x.device} while the parameters are on {p0.device}; move them to the same device (model.to(x.device)).")
    if x.is_floating_point():
        if x.dtype != p0.dtype:
            raise InvalidParameterError(
                f"The '{name}' parameter of {owner} must have the dtype of the model's parameters, {p0.dtype}. "
                f"Got dtype {x.dtype} instead.")
        check_finite(x, name, owner)
    if like is not None and (x.shape[1:] != like.shape[1:] or x.dtype != like.dtype):
        raise InvalidParameterError(
            f"The '{name}' parameter of {owner} must have the same per-sample shape and dtype as x1, "
            f"{tuple(like.shape[1:])} and {like.dtype}. Got {tuple(x.shape[1:])} and {x.dtype} instead.")


def check_out_device(out_device, owner):
    """None or a ``torch.device`` that this machine has."""
    if out_device is None:
        return None
    try:
        dev = torch.device(out_device)
    except (RuntimeError, TypeError, ValueError):
        fail("out_device", owner, "None, a torch.device or a device name such as 'cpu'", out_device)
    available = ["cpu"]
    if torch.cuda.is_available():
        available += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if dev.type == "cuda":
        ok = torch.cuda.is_available() and (dev.index is None or dev.index < torch.cuda.device_count())
    elif dev.type == "cpu":
        ok = True
    else:
        try:
            torch.empty(0, device=dev)
            ok = True
        except (RuntimeError, AssertionError):
            ok = False
    if not ok:
        fail("out_device", owner, f"None or a device this machine has, such as {available}", out_device)
    return dev


def memory_budget(max_memory, device, owner):
    """Bytes of working memory: ``max_memory``, or a quarter of the free memory (at most 2 GiB) on a
    CPU and half the free memory on a GPU."""
    if max_memory is not None:
        return int(check_float(max_memory, "max_memory", owner, low=1.0))
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free // 2)
    try:
        import psutil

        avail = psutil.virtual_memory().available
    except Exception:  # pragma: no cover - psutil is a dependency of the environment
        avail = 8 * DEFAULT_CPU_BYTES
    return int(min(DEFAULT_CPU_BYTES, avail // 4))


@contextlib.contextmanager
def prepared(model, mode, depth_mask, owner):
    """Put the model in the requested mode (and depth mask) and restore it afterwards."""
    if depth_mask is not None and not callable(getattr(model, "set_depth_mask", None)):
        raise InvalidParameterError(
            f"The 'depth_mask' parameter of {owner} needs a model with a set_depth_mask(mask) method "
            f"(see the stochastic-depth contract in ntkbook.ntk). {type(model).__name__} has none.")
    states = [(m, m.training) for m in model.modules()]
    try:
        if mode == "eval":
            model.eval()
        if depth_mask is not None:
            model.set_depth_mask(depth_mask)
        yield
    finally:
        if depth_mask is not None:
            model.set_depth_mask(None)
        for m, t in states:
            m.training = t


def _refuse_training_batchnorm(model, owner):
    for name, m in model.named_modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training:
            raise InvalidParameterError(
                f"The 'model' parameter of {owner} has BatchNorm layer {name or type(m).__name__!r} in training mode: its "
                f"output for one sample depends on the statistics of the whole batch, so samples interact and a "
                f"per-sample NTK is not defined. Use mode='eval' (the default) or call model.eval().")


def _first_call(model, x, xs, name, owner, params):
    """model(xs), with a failure of this first call reported as a batch the model cannot take."""
    try:
        return model(xs)
    except Exception as err:
        what = (f"a floating-point tensor in the model's dtype, {params[0][1].dtype}" if not x.is_floating_point()
                else "a batch (N, ...) of samples that the model takes")
        raise InvalidParameterError(
            f"The '{name}' parameter of {owner} must be {what}. Got a tensor of shape {tuple(x.shape)} and dtype "
            f"{x.dtype} instead: on its first samples the model raised {type(err).__name__}: {err}") from err


def _check_output(a, x, b, name, owner):
    """The first output: a floating tensor (b, ...) with at least one finite number per sample."""
    if not isinstance(a, torch.Tensor):
        _wrong_type("model", owner, "a module that returns one tensor", a)
    if a.ndim == 0 or a.shape[0] != b:
        raise InvalidParameterError(
            f"The '{name}' parameter of {owner} must be a batch with the samples along its first dimension, which "
            f"the model maps to outputs (N, ...). Got a batch of shape {tuple(x.shape)}, whose first {b} samples "
            f"the model maps to an output of shape {tuple(a.shape)}.")
    if not a.is_floating_point() or a[0].numel() == 0:
        raise InvalidParameterError(
            f"The 'model' parameter of {owner} must give at least one floating-point output per sample. "
            f"Got outputs of shape {tuple(a.shape)} and dtype {a.dtype} instead.")
    if not torch.isfinite(a).all():
        raise InvalidParameterError(
            f"The 'model' parameter of {owner} must give finite outputs. Got non-finite outputs (inf or nan) on "
            f"the first samples of '{name}' instead (an overflow? float64, smaller inputs or smaller weights may help).")


def _refuse_random_or_interacting(model, xs, a, owner):
    """Same input, same output; and a sample alone gives its row of the batch's output."""
    again = model(xs)
    if not torch.equal(a, again) and not torch.allclose(a, again, rtol=1e-5, atol=1e-6):
        raise InvalidParameterError(
            f"The 'model' parameter of {owner} gives different outputs for the same input in its current mode "
            f"(dropout or stochastic depth in training mode?), so its NTK is random. Use mode='eval' (the default) "
            f"or fix a depth_mask.")
    if xs.shape[0] == 2:
        alone = model(xs[:1]).reshape(1, -1)
        ref = a.reshape(2, -1)[:1]
        scale = ref.abs().max().clamp_min(1e-30)
        if alone.shape != ref.shape or not ((alone - ref).abs().max() <= 1e-4 * scale + 1e-6):
            raise InvalidParameterError(
                f"The 'model' parameter of {owner} gives a different output for a sample alone than inside a batch: "
                f"samples interact, so a per-sample NTK is not defined.")


def check_outputs(model, x, name, owner, params):
    """Call the model on ``x[:2]`` in its current mode and check what a per-sample NTK needs.

    Returns O, the number of outputs per sample. Refused: a batch the model cannot take; an
    output that is not a floating tensor with the batch first, has no entries or is not finite;
    a model that is random in this mode or whose samples interact (BatchNorm in training mode).
    """
    _refuse_training_batchnorm(model, owner)
    xs = x[:2]
    with torch.no_grad():
        a = _first_call(model, x, xs, name, owner, params)
        _check_output(a, x, xs.shape[0], name, owner)
        _refuse_random_or_interacting(model, xs, a, owner)
    return a[0].numel()
