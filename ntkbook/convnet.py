"""The ReLU CNN in NTK parameterization whose infinite-width kernels :mod:`ntkbook.cntk` computes.

Every layer follows the convention of :class:`ntkbook.models.Dense`: weights and biases are
N(0, 1) and the layer multiplies by ``w_std / sqrt(fan_in)`` and ``b_std`` in its forward pass::

    z_1     = (w_std / sqrt(9 C)) conv3x3(x; W_1) + b_std b_1             nn.Conv2d, padding=1
    z_{l+1} = (w_std / sqrt(9 n)) conv3x3(relu(z_l); W_{l+1}) + b_std b_{l+1}
    f       = Dense(flatten(relu(z_depth)))  or  Dense(mean over pixels of relu(z_depth))

Example::

    >>> net = ConvNet(3, 1, channels=64, depth=2, readout="gap", seed=0)
    >>> net(torch.randn(5, 3, 8, 8)).shape       # (N, C, H, W) -> (N, out_features)
    torch.Size([5, 1])
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ntkbook._validation import check_float, check_int, check_option, check_seed
from ntkbook.models import Dense

__all__ = ["ConvNet", "NTKConv2d"]


class NTKConv2d(nn.Module):
    """A 3x3 SAME convolution in NTK parameterization: (w_std / sqrt(9 c_in)) W * a + b_std b."""

    def __init__(self, c_in, c_out, *, w_std, b_std, generator):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=generator))
        self.bias = nn.Parameter(torch.randn(c_out, generator=generator))
        self.w_mult, self.b_mult = w_std / math.sqrt(9 * c_in), b_std

    def forward(self, a):  # (N, c_in, H, W) -> (N, c_out, H, W)
        return self.w_mult * self.conv(a) + self.b_mult * self.bias[:, None, None]


class ConvNet(nn.Module):
    """``depth`` NTKConv2d + relu layers of ``channels`` channels, then a Dense readout.

    Parameters
    ----------
    in_channels, out_features : int
    channels : int, the width n (the limit n -> inf is :func:`ntkbook.cntk.cntk_kernels`)
    depth : int >= 1, conv layers
    readout : {"flatten", "gap"}
    image_size : (H, W), needed by the flatten readout (its fan-in is H W n)
    w_std, b_std : float >= 0; seed : int (a CPU generator: the same seed, the same weights)
    """

    def __init__(self, in_channels, out_features=1, *, channels=64, depth=2, readout="flatten",
                 image_size=(8, 8), w_std=1.0, b_std=0.1, seed=0):
        super().__init__()
        owner = "ConvNet"
        in_channels = check_int(in_channels, "in_channels", owner)
        out_features = check_int(out_features, "out_features", owner)
        channels = check_int(channels, "channels", owner)
        self.depth = check_int(depth, "depth", owner)
        self.readout = check_option(readout, "readout", owner, ("flatten", "gap"))
        h, w = (check_int(v, "image_size", owner) for v in image_size)
        self.w_std, self.b_std = check_float(w_std, "w_std", owner), check_float(b_std, "b_std", owner)
        g = torch.Generator().manual_seed(check_seed(seed, "seed", owner))
        widths = [in_channels] + [channels] * self.depth
        self.convs = nn.ModuleList(NTKConv2d(a, b, w_std=self.w_std, b_std=self.b_std, generator=g)
                                   for a, b in zip(widths[:-1], widths[1:]))
        fan_in = channels * (h * w if self.readout == "flatten" else 1)
        self.head = Dense(fan_in, out_features, w_std=self.w_std, b_std=self.b_std, parameterization="ntk",
                          generator=g)

    def forward(self, x):  # (N, C, H, W) -> (N, out_features)
        a = x
        for conv in self.convs:
            a = torch.relu(conv(a))  # (N, n, H, W)
        a = a.flatten(1) if self.readout == "flatten" else a.mean((2, 3))  # (N, H W n) or (N, n)
        return self.head(a)
