r"""The empirical neural tangent kernel: exact, blocked, matrix-free, on CPU and GPU.

For a network f(x; theta) with O outputs and P trainable parameters, the empirical
NTK (Jacot, Gabriel, Hongler 2018) is

    Theta(x, x')[o, o'] = sum_p  d f_o(x) / d theta_p  *  d f_o'(x') / d theta_p ,

that is J(X1) J(X2)^T, where J(X) is the (N*O, P) Jacobian of the outputs with
respect to the parameters. ``outputs="full"`` returns the (N1, N2, O, O) array;
``outputs="trace"`` returns sum_o Theta[:, :, o, o], shape (N1, N2), which for a
scalar model is simply the NTK.

Example::

    >>> import torch
    >>> from ntkbook.ntk import empirical_ntk, ntk_eigenvalues
    >>> _ = torch.manual_seed(0)
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 64), torch.nn.Tanh(), torch.nn.Linear(64, 2))
    >>> x = torch.randn(10, 3)                                   # (N, D)
    >>> empirical_ntk(net, x).shape                              # (N, N), summed over the 2 outputs
    torch.Size([10, 10])
    >>> empirical_ntk(net, x, x[:4], outputs="full").shape       # (N1, N2, O, O)
    torch.Size([10, 4, 2, 2])
    >>> ntk_eigenvalues(net, x, k=3).shape                       # the three largest eigenvalues
    torch.Size([3])

The modules, one concept each (imports flow down this list, never up):

* ``_checks``: the checks of every public argument, and the model's mode during a computation;
* ``_functional``: the model as a function of its parameters, for torch.func;
* ``rules``: the structural rules, one per torch primitive through which a parameter can enter
  the computation (``F.linear``, ``@``, ``einsum``, convolutions, bias adds, elementwise scales,
  norms, embedding lookups), and the operations that make views of parameters;
* ``capture``: the ``TorchFunctionMode`` that records, during a forward pass, each use of a
  parameter, its other operand and its output (whose gradient the backward passes give);
* ``structured``: the layerwise Gram-product rule built on them (its contract: which uses have a
  rule, how every use of a parameter is counted, and how a rule is verified);
* ``empirical``: :class:`NTKMethod` (each method with its cost, memory and contraction) and
  :func:`empirical_ntk`;
* ``operator``: the matrix-free :class:`NTKOperator`;
* ``spectrum``: :func:`ntk_spectrum` and :func:`ntk_eigenvalues`;
* ``monte_carlo``: :func:`expected_ntk`, the mean over stochastic-depth masks.

What is differentiated
----------------------
* theta is every parameter with ``requires_grad=True``; frozen parameters and
  buffers are constants. A parameter shared by several modules counts once, with every one
  of its uses (tied weights give the cross terms between their uses).
* By default (``mode="eval"``) the NTK is the one of the model **in eval mode**:
  the model is switched to ``eval()`` for the computation and switched back after,
  so dropout is off and BatchNorm uses its running statistics. ``mode="as_is"``
  uses the model in whatever mode it is; a BatchNorm layer in training mode then
  raises (its output for one sample depends on the other samples of the batch, so
  the per-sample Jacobian, and with it the NTK, is not defined), and so does a model
  whose output is random in that mode.
* The inputs are passed to the model as given: a float batch must have the model's dtype,
  and an integer or bool batch is accepted only by a model that takes one (an
  ``nn.Embedding``, say); for any other model it is refused with an error naming the
  argument, as is a batch of the wrong per-sample shape. The model must give at least one
  finite floating-point output per sample.

Contract for stochastic depth (models implement it, this package uses it)
-------------------------------------------------------------------------
A model with stochastic depth (for example ``ntkbook.models.ECRN``) may define two
methods; nothing else is assumed about the model:

* ``model.sample_depth_mask(generator) -> torch.Tensor``: draw one depth mask
  (for example a 0/1 vector with one entry per residual block) using only the
  given ``torch.Generator`` (a CPU generator), so that equal seeds give equal masks.
* ``model.set_depth_mask(mask)``: from now on every forward pass uses this fixed
  mask, in train and in eval mode alike, for every sample of the batch (the same
  network for all samples), and is deterministic. ``model.set_depth_mask(None)``
  restores the model's own behaviour (random masks in training, its deterministic
  eval rule in eval mode). The model moves the mask to its own device.

``empirical_ntk(model, x, depth_mask=m)`` is the NTK of the network with mask ``m``
(it calls ``set_depth_mask(m)`` and, at the end, ``set_depth_mask(None)``), and
``expected_ntk(model, x, n_samples, seed)`` is the Monte Carlo mean over masks drawn
by ``sample_depth_mask`` together with its standard error.

Memory
------
``max_memory`` (bytes) bounds the working memory of the computation, that is what
it allocates beyond the model, its inputs and the returned kernel, as estimated from
the cost model of each method (an estimate, not an allocator limit). The default is
a quarter of the available memory, at most 2 GiB, on a CPU and half the free memory
on a GPU.
"""

from ntkbook.ntk.empirical import DEFAULT_METHOD, NTKMethod, empirical_ntk
from ntkbook.ntk.monte_carlo import ExpectedNTK, expected_ntk
from ntkbook.ntk.operator import NTKOperator, ntk_operator
from ntkbook.ntk.spectrum import ntk_eigenvalues, ntk_spectrum

__all__ = [
    "NTKMethod",
    "DEFAULT_METHOD",
    "empirical_ntk",
    "NTKOperator",
    "ntk_operator",
    "ntk_eigenvalues",
    "ntk_spectrum",
    "expected_ntk",
    "ExpectedNTK",
]
