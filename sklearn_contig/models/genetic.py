"""Genetic encoders: ``None`` (identity), ``H1`` and ``H12`` (DESIGN section 1)."""

from __future__ import annotations

import torch
from torch import nn

GENETIC_ENCODERS = ("None", "H1", "H12")


class GeneticEncoder(nn.Module):
    """Encoder of one genetic modality.

    ``H1``: Linear(in, hidden) -> ReLU -> BatchNorm1d; ``H12`` adds
    Linear(hidden, hidden) -> ReLU -> BatchNorm1d; ``None`` is the identity.

    Call it on the rows that *have* the modality only (see
    :meth:`ContIGModule.forward`): missing rows then never enter the BatchNorm
    statistics nor receive gradients.

    The input is standardised first, ``(x - loc) / scale``, with per-feature
    buffers set by :meth:`set_standardization` (identity until then), so the
    encoder takes genetic scores at the scale the user's pipeline wrote them
    (``plink2 --score`` averages near 1e-4, burden counts in the tens) and
    gradients and attributions are with respect to those raw inputs.

    Parameters
    ----------
    in_features : int
    kind : {"None", "H1", "H12"}, default="H1"
    hidden : int, default=2048

    Examples
    --------
    >>> import torch
    >>> GeneticEncoder(10, "H1", hidden=16)(torch.randn(4, 10)).shape
    torch.Size([4, 16])
    """

    def __init__(self, in_features: int, kind: str = "H1", hidden: int = 2048):
        super().__init__()
        if kind not in GENETIC_ENCODERS:
            raise ValueError(f"genetic_encoder must be one of {GENETIC_ENCODERS}, got {kind!r}")
        layers: list[nn.Module] = []
        if kind in ("H1", "H12"):
            layers += [nn.Linear(in_features, hidden), nn.ReLU(), nn.BatchNorm1d(hidden)]
        if kind == "H12":
            layers += [nn.Linear(hidden, hidden), nn.ReLU(), nn.BatchNorm1d(hidden)]
        self.net = nn.Sequential(*layers)
        self.out_dim = in_features if kind == "None" else hidden
        self.register_buffer("loc", torch.zeros(in_features))
        self.register_buffer("scale", torch.ones(in_features))

    @torch.no_grad()
    def set_standardization(self, loc, scale) -> None:
        """Set the per-feature location and scale of the raw input."""
        self.loc.copy_(torch.as_tensor(loc, dtype=torch.float32).reshape(self.loc.shape))
        self.scale.copy_(torch.as_tensor(scale, dtype=torch.float32).reshape(self.scale.shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (b_m, in) -> (b_m, out_dim)
        return self.net((x - self.loc) / self.scale)
