"""The model as a function f(theta, x) of its parameters, for torch.func, and the sample blocks it runs on."""

from __future__ import annotations

import torch
from torch.func import functional_call, jacrev, vmap


class ModelFunction:
    """``model`` with its trainable parameters ``params`` (a list of (name, tensor)) as an explicit argument.

    ``names`` and ``params`` (name -> detached tensor) are theta, ``O`` the outputs per sample and
    ``P`` the number of parameters.
    """

    def __init__(self, model, params, n_outputs):
        self.model = model
        self.names = [n for n, _ in params]
        self.params = {n: p.detach() for n, p in params}
        self.O = n_outputs
        self.P = sum(p.numel() for _, p in params)
        self.vmappable = True  # cleared when vmap fails on the model

    def single(self, p, xn):  # one sample (...) -> (O,)
        return functional_call(self.model, p, (xn.unsqueeze(0),)).reshape(-1)

    def batch(self, p, xb):  # (b, ...) -> (b, O)
        return functional_call(self.model, p, (xb,)).reshape(xb.shape[0], -1)

    def split(self, names):
        """The parameters ``names`` (name -> tensor) and all the others, held constant."""
        sub = {n: self.params[n] for n in names}
        rest = {n: v for n, v in self.params.items() if n not in sub}
        return sub, rest

    def jacobian(self, xb, names=None):
        """Per-sample Jacobian of a block for the parameters ``names`` (default all): (b, O, P_names).

        ``vmap(jacrev)`` over the block; a model that vmap cannot run (Python control flow on the
        data, ``.item()``) gets one ``jacrev`` per sample instead, from then on.
        """
        names = self.names if names is None else names
        sub, rest = self.split(names)

        def f(ps, xn):
            return self.single({**rest, **ps}, xn)

        b = xb.shape[0]
        jac = None
        if self.vmappable:
            try:
                jac = vmap(jacrev(f), in_dims=(None, 0))(sub, xb)  # name -> (b, O, *shape)
            except RuntimeError:
                self.vmappable = False
        if jac is None:
            rows = [jacrev(f)(sub, xb[n]) for n in range(b)]
            jac = {k: torch.stack([r[k] for r in rows]) for k in names}
        return torch.cat([jac[n].reshape(b, self.O, -1) for n in names], dim=2)


def block_slices(N, b):
    """Consecutive slices of at most ``b`` samples covering range(N)."""
    return [slice(i, min(i + b, N)) for i in range(0, N, b)]
