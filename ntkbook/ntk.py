"""The empirical neural tangent kernel (placeholder: the full engine lands with issue 3).

Theta(x, x') = sum_p df(x)/dtheta_p * df(x')/dtheta_p = J(x) J(x')^T.
"""

import torch
from torch.func import functional_call, jacrev, vmap


def empirical_ntk(model, x1, x2=None, *, method="jacobian", outputs="trace"):
    """Return J(x1) J(x2)^T, shape (N1, N2) (summed over outputs) or (N1, N2, O, O)."""
    x2 = x1 if x2 is None else x2
    params = {k: v.detach() for k, v in model.named_parameters()}

    def f(p, x):
        out = functional_call(model, p, (x.unsqueeze(0),)).squeeze(0)
        return out.reshape(-1)

    j1 = vmap(jacrev(f), (None, 0))(params, x1)
    j2 = vmap(jacrev(f), (None, 0))(params, x2)
    eq = "nap,mbp->nmab" if outputs == "full" else "nap,map->nm"
    return sum(torch.einsum(eq, j1[k].flatten(2), j2[k].flatten(2)) for k in params)
