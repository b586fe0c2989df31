"""Projection heads."""

from __future__ import annotations

from torch import nn


class ProjectionHead(nn.Module):
    """SimCLR-style projection MLP with one hidden layer.

    Linear(in_dim, hidden_dim) -> ReLU -> Linear(hidden_dim, out_dim)
    (Chen et al., 2020; the heads of ContIG, Taleb et al., 2022).

    Parameters
    ----------
    in_dim : int
    hidden_dim : int, default=2048
    out_dim : int, default=128
    batch_norm : bool, default=False
        Insert BatchNorm1d after the hidden layer (used by some image-only
        baselines).

    Examples
    --------
    >>> import torch
    >>> ProjectionHead(8, 16, 4)(torch.randn(3, 8)).shape
    torch.Size([3, 4])
    """

    def __init__(self, in_dim: int, hidden_dim: int = 2048, out_dim: int = 128, batch_norm: bool = False):
        super().__init__()
        layers = [nn.Linear(in_dim, hidden_dim)]
        if batch_norm:
            layers.append(nn.BatchNorm1d(hidden_dim))
        layers += [nn.ReLU(), nn.Linear(hidden_dim, out_dim)]
        self.net = nn.Sequential(*layers)

    def forward(self, x):  # (n, in_dim) -> (n, out_dim)
        return self.net(x)
