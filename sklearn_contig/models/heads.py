"""Projection, prediction and task heads (MLPs on top of an embedding)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class MLPHead(nn.Module):
    """General projection / prediction MLP.

    ``Linear -> [BatchNorm1d] -> ReLU`` for every hidden layer, then a final
    ``Linear`` (optionally followed by ``BatchNorm1d``).

    Parameters
    ----------
    dims : sequence of int
        ``(in_dim, hidden_1, ..., out_dim)``, at least two entries.
    batch_norm : bool, default=True
        BatchNorm1d after each hidden Linear.
    last_batch_norm : bool, default=False
        BatchNorm1d after the output Linear.
    last_affine : bool, default=True
        Whether that output BatchNorm1d has learnable scale and shift.

    Examples
    --------
    >>> import torch
    >>> MLPHead([8, 16, 16, 4])(torch.randn(3, 8)).shape
    torch.Size([3, 4])
    """

    def __init__(self, dims: Sequence[int], batch_norm: bool = True, last_batch_norm: bool = False,
                 last_affine: bool = True):
        super().__init__()
        dims = [int(d) for d in dims]
        if len(dims) < 2 or min(dims) < 1:
            raise ValueError(f"dims must hold at least two positive sizes, got {dims}")
        layers: list[nn.Module] = []
        for d_in, d_out in zip(dims[:-2], dims[1:-1]):
            layers.append(nn.Linear(d_in, d_out, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm1d(d_out))
            layers.append(nn.ReLU())
        layers.append(nn.Linear(dims[-2], dims[-1], bias=not last_batch_norm))
        if last_batch_norm:
            layers.append(nn.BatchNorm1d(dims[-1], affine=last_affine))
        self.net = nn.Sequential(*layers)

    def forward(self, x):  # (n, dims[0]) -> (n, dims[-1])
        return self.net(x)


class ProjectionHead(MLPHead):
    """SimCLR-style projection: Linear -> ReLU -> Linear, one hidden layer.

    Chen et al., 2020; the heads of ContIG (Taleb et al., 2022) and of the
    SimCLR baseline (``SimCLRProjectionHead`` is this class).

    Parameters
    ----------
    in_dim : int
    hidden_dim : int, default=2048
    out_dim : int, default=128

    Examples
    --------
    >>> import torch
    >>> ProjectionHead(8, 16, 4)(torch.randn(3, 8)).shape
    torch.Size([3, 4])
    """

    def __init__(self, in_dim: int, hidden_dim: int = 2048, out_dim: int = 128):
        super().__init__([in_dim, hidden_dim, out_dim], batch_norm=False)


#: The SimCLR projection head is the ContIG one.
SimCLRProjectionHead = ProjectionHead


class BYOLProjectionHead(MLPHead):
    """BYOL projection and prediction MLP: Linear -> BN -> ReLU -> Linear (Grill et al., 2020)."""

    def __init__(self, in_dim: int, hidden_dim: int = 4096, out_dim: int = 256):
        super().__init__([in_dim, hidden_dim, out_dim])


class BarlowTwinsProjectionHead(MLPHead):
    """Barlow Twins projector: three Linear layers, BN and ReLU after the first two (Zbontar et al., 2021)."""

    def __init__(self, in_dim: int, hidden_dim: int = 8192, out_dim: int = 8192):
        super().__init__([in_dim, hidden_dim, hidden_dim, out_dim])


class SimSiamProjectionHead(MLPHead):
    """SimSiam projector: three Linear layers each followed by BN (Chen & He, 2021).

    The output BN has no affine parameters, as in the authors' code.
    """

    def __init__(self, in_dim: int, hidden_dim: int = 2048, out_dim: int = 2048):
        super().__init__([in_dim, hidden_dim, hidden_dim, out_dim], last_batch_norm=True, last_affine=False)


class SimSiamPredictionHead(MLPHead):
    """SimSiam predictor: Linear -> BN -> ReLU -> Linear, a bottleneck (Chen & He, 2021)."""

    def __init__(self, in_dim: int = 2048, hidden_dim: int = 512, out_dim: int = 2048):
        super().__init__([in_dim, hidden_dim, out_dim])


class NNCLRProjectionHead(MLPHead):
    """NNCLR projector: three Linear layers each followed by BN (Dwibedi et al., 2021)."""

    def __init__(self, in_dim: int, hidden_dim: int = 2048, out_dim: int = 256):
        super().__init__([in_dim, hidden_dim, hidden_dim, out_dim], last_batch_norm=True)


class NNCLRPredictionHead(MLPHead):
    """NNCLR predictor: Linear -> BN -> ReLU -> Linear (Dwibedi et al., 2021)."""

    def __init__(self, in_dim: int = 256, hidden_dim: int = 4096, out_dim: int = 256):
        super().__init__([in_dim, hidden_dim, out_dim])


class CoralHead(nn.Module):
    """CORAL ordinal head: one shared weight vector and K-1 ordered thresholds.

    Cao, Mirjalili & Raschka, "Rank consistent ordinal regression for neural
    networks with application to age estimation", Pattern Recognition Letters
    140 (2020). Output ``(n, K-1)`` logits of P(y > k); sharing the weights makes
    the K-1 binary tasks rank-consistent. Trained with
    :class:`~sklearn_contig.losses.CoralLoss`.

    Parameters
    ----------
    in_features : int
    n_classes : int

    Examples
    --------
    >>> import torch
    >>> CoralHead(8, 5)(torch.randn(3, 8)).shape
    torch.Size([3, 4])
    """

    def __init__(self, in_features: int, n_classes: int):
        super().__init__()
        self.fc = nn.Linear(in_features, 1, bias=False)
        # Initial thresholds decreasing from 1 to 1/(K-1), as in coral-pytorch.
        self.bias = nn.Parameter(torch.arange(n_classes - 1, 0, -1, dtype=torch.float32) / (n_classes - 1))

    def forward(self, x):  # (n, d) -> (n, K-1)
        return self.fc(x) + self.bias
