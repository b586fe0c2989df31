"""Losses of the image-only self-supervised baselines (paper Table 1).

Written compactly here rather than taken from ``lightly``, whose package
requires ``pytorch_lightning`` and ``hydra-core``. Each loss is a plain
``nn.Module`` that checks its arguments in ``__init__``, works in float32
whatever the autocast dtype of its inputs, and follows its paper's formula:

- :class:`NTXentLoss` -- SimCLR (Chen et al., 2020), optionally with a memory bank
  of extra negatives;
- :class:`BYOLLoss` -- BYOL (Grill et al., 2020), symmetric ``2 - 2 cos``;
- :class:`BarlowTwinsLoss` -- Barlow Twins (Zbontar et al., 2021);
- :class:`SimSiamLoss` -- SimSiam (Chen & He, 2021), symmetric negative cosine
  with stop-gradient;
- :class:`NNCLRLoss` -- NNCLR (Dwibedi et al., 2021), NT-Xent with the nearest
  neighbour from a support set as positive.

Under ``torch.distributed`` (``torchrun``, ``accelerate launch``) the
contrastive and redundancy-reduction losses work on the global batch, as
:class:`~sklearn_contig.losses.ContIGLoss` does: the embeddings of all processes
are gathered (with gradients summed back to their process), NT-Xent and NNCLR
take their negatives from every process's rows, Barlow Twins standardises and
cross-correlates over the global batch, and each process's loss is scaled so
that the mean over processes (what DistributedDataParallel's gradient
averaging computes) is the global loss. Every process joins the same gathers in
the same order.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._distributed import all_gather_rows, world
from .contig import _check_temperature


def _same_individual(individual, n_views: int) -> torch.Tensor | None:
    """(n*v, n*v) mask of pairs of *different* samples of one individual."""
    if individual is None:
        return None
    ind = individual.repeat(n_views)
    same = ind[:, None] == ind[None, :]
    n = individual.shape[0]
    rows = torch.arange(n * n_views, device=individual.device)
    sample = rows % n
    return same & (sample[:, None] != sample[None, :])


class NTXentLoss(nn.Module):
    """Normalised temperature-scaled cross entropy of SimCLR.

    The 2n views of a batch (``z1`` and ``z2``) are L2-normalised; for each view
    the positive is the other view of its sample and the negatives are the other
    2n - 2 views, plus the rows of ``negatives`` (a memory bank) when given:

    ``l_i = -log( exp(s_ip / tau) / sum_{k != i} exp(s_ik / tau) )``,

    averaged over all 2n views (Chen et al., 2020, Eq. 1).

    Parameters
    ----------
    temperature : float, default=0.1
        Softmax temperature tau of the equation above.

    Examples
    --------
    >>> import torch
    >>> z = torch.randn(8, 4)
    >>> bool(NTXentLoss()(z, z + 0.1 * torch.randn(8, 4)) > 0)
    True
    """

    def __init__(self, temperature: float = 0.1):
        super().__init__()
        self.temperature = _check_temperature(temperature)

    def forward(self, z1, z2, negatives=None, individual=None):
        """Loss of a batch.

        Parameters
        ----------
        z1, z2 : Tensor of shape (n, k)
            Projections of the two views.
        negatives : Tensor of shape (m, k), default=None
            Extra negatives (e.g. a memory bank of earlier projections).
        individual : int Tensor of shape (n,), default=None
            Individual codes: different samples of one individual are left out
            of each other's denominators.
        """
        n = z1.shape[0]
        rank, world_size = world()
        z1, z2 = F.normalize(z1.float(), dim=1), F.normalize(z2.float(), dim=1)
        queries = torch.cat([z1, z2])  # (2n, k): this process's views
        g1, g2 = all_gather_rows(z1), all_gather_rows(z2)  # (N, k) each, N = n * world_size
        n_all = g1.shape[0]
        keys = torch.cat([g1, g2])  # (2N, k)
        logits = queries @ keys.T / self.temperature  # (2n, 2N)
        local = torch.arange(n, device=queries.device) + rank * n
        own = torch.cat([local, local + n_all])  # column of each query itself
        drop = torch.zeros_like(logits, dtype=torch.bool)
        drop[torch.arange(2 * n, device=queries.device), own] = True
        if individual is not None:
            ind_all = all_gather_rows(individual)
            same = _same_individual(ind_all, 2)  # (2N, 2N)
            drop = drop | same[own]
        logits = logits.masked_fill(drop, float("-inf"))
        if negatives is not None and negatives.shape[0] > 0:
            bank = F.normalize(negatives.detach().float(), dim=1)
            logits = torch.cat([logits, queries @ bank.T / self.temperature], dim=1)  # (2n, 2N + m)
        target = torch.cat([local + n_all, local])
        # with equal local batches the mean over processes is the global mean
        return F.cross_entropy(logits, target)


class BYOLLoss(nn.Module):
    """Symmetric BYOL regression loss.

    ``L = mean_i [ ||p1_i/|p1_i| - t2_i/|t2_i| ||^2 + ||p2_i/|p2_i| - t1_i/|t1_i| ||^2 ]``
    with ``||a - b||^2 = 2 - 2 cos(a, b)`` for unit vectors (Grill et al., 2020,
    Eq. 2 and its symmetrisation). ``p`` are the online predictions, ``t`` the
    target projections; the targets are detached (no gradient reaches them).

    Examples
    --------
    >>> import torch
    >>> p = torch.randn(4, 8)
    >>> bool(abs(BYOLLoss()(p, p, p, p)) < 1e-5)  # identical directions: zero loss
    True
    """

    def forward(self, p1, p2, t1, t2):
        """``p1, p2`` predictions (n, k) of views 1 and 2; ``t1, t2`` target projections (n, k)."""
        p1, p2 = F.normalize(p1.float(), dim=1), F.normalize(p2.float(), dim=1)
        t1, t2 = F.normalize(t1.detach().float(), dim=1), F.normalize(t2.detach().float(), dim=1)
        loss = (2 - 2 * (p1 * t2).sum(1)) + (2 - 2 * (p2 * t1).sum(1))
        return loss.mean()


class BarlowTwinsLoss(nn.Module):
    """Barlow Twins redundancy-reduction loss.

    Each embedding dimension is standardised over the batch (mean 0, biased
    variance 1, as ``BatchNorm1d(affine=False)`` in the authors' code), the
    cross-correlation ``C = z1n.T @ z2n / n`` (k, k) is formed and
    ``L = sum_i (1 - C_ii)^2 + lambda * sum_{i != j} C_ij^2``
    (Zbontar et al., 2021, Eq. 1-2).

    Parameters
    ----------
    lambda_param : float, default=5e-3
        Weight of the off-diagonal (redundancy) term.
    eps : float, default=1e-5
        Added to the variance before standardising.

    Examples
    --------
    >>> import torch
    >>> z = torch.randn(16, 4)
    >>> bool(BarlowTwinsLoss()(z, z) < 1)
    True
    """

    def __init__(self, lambda_param: float = 5e-3, eps: float = 1e-5):
        super().__init__()
        if not lambda_param >= 0:
            raise ValueError(f"lambda_param must be >= 0, got {lambda_param}")
        if not eps >= 0:
            raise ValueError(f"eps must be >= 0, got {eps}")
        self.lambda_param = float(lambda_param)
        self.eps = float(eps)

    def _standardise(self, z):
        z = z.float()
        return (z - z.mean(0)) / torch.sqrt(z.var(0, unbiased=False) + self.eps)

    def forward(self, z1, z2):
        """``z1, z2``: projections (n, k) of the two views, n >= 2 over all processes.

        Under ``torch.distributed`` every process computes the loss of the
        gathered global batch (so the mean over processes is that loss).
        """
        z1, z2 = all_gather_rows(z1), all_gather_rows(z2)
        n = z1.shape[0]
        if n < 2:
            raise ValueError(f"BarlowTwinsLoss needs at least 2 samples, got {n}")
        c = self._standardise(z1).T @ self._standardise(z2) / n  # (k, k)
        diag = torch.diagonal(c)
        on = (1 - diag).pow(2).sum()
        off = c.pow(2).sum() - diag.pow(2).sum()
        return on + self.lambda_param * off


class SimSiamLoss(nn.Module):
    """Symmetric negative cosine similarity with stop-gradient of SimSiam.

    ``L = D(p1, sg(z2)) / 2 + D(p2, sg(z1)) / 2`` with
    ``D(p, z) = -mean_i cos(p_i, z_i)`` (Chen & He, 2021, Eq. 3-4): the
    projections ``z`` act as constants; gradients reach the encoder only through
    the predictions ``p``.

    Examples
    --------
    >>> import torch
    >>> p = torch.randn(4, 8)
    >>> round(float(SimSiamLoss()(p, p, p, p)), 5)
    -1.0
    """

    def forward(self, p1, p2, z1, z2):
        """``p1, p2`` predictions (n, k); ``z1, z2`` projections (n, k) of the two views."""
        d12 = -F.cosine_similarity(p1.float(), z2.detach().float(), dim=1).mean()
        d21 = -F.cosine_similarity(p2.float(), z1.detach().float(), dim=1).mean()
        return 0.5 * d12 + 0.5 * d21


class NNCLRLoss(nn.Module):
    """NNCLR: NT-Xent with the support-set nearest neighbour as the positive.

    With ``nn1 = NN(z1, Q)`` the nearest neighbour of the view-1 projection in
    the support set and ``p2`` the view-2 prediction (both L2-normalised),
    ``l_i = -log( exp(nn1_i . p2_i / tau) / sum_k exp(nn1_i . p2_k / tau) )``
    (Dwibedi et al., 2021, Eq. 2), symmetrised with the roles of the views
    swapped and the two terms averaged. The neighbours are constants (no
    gradient flows into the support set).

    Parameters
    ----------
    temperature : float, default=0.1
        Temperature tau that scales the neighbour-prediction logits.

    Examples
    --------
    >>> import torch
    >>> z = torch.randn(8, 4)
    >>> bool(torch.isfinite(NNCLRLoss()(z, z, z, z)))
    True
    """

    def __init__(self, temperature: float = 0.1):
        super().__init__()
        self.temperature = _check_temperature(temperature)

    def _one_way(self, nn_, p, individual):
        rank, _ = world()
        nn_ = F.normalize(nn_.detach().float(), dim=1)
        p = F.normalize(p.float(), dim=1)
        keys = all_gather_rows(p)  # the predictions of every process's rows
        logits = nn_ @ keys.T / self.temperature  # (n, N)
        target = torch.arange(len(p), device=p.device) + rank * len(p)
        if individual is not None:
            same = _same_individual(all_gather_rows(individual), 1)[target]
            logits = logits.masked_fill(same, float("-inf"))
        return F.cross_entropy(logits, target)

    def forward(self, nn1, nn2, p1, p2, individual=None):
        """``nn1, nn2`` neighbours (n, k) of the views' projections; ``p1, p2`` predictions (n, k)."""
        return 0.5 * (self._one_way(nn1, p2, individual) + self._one_way(nn2, p1, individual))
