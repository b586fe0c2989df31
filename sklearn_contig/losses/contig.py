"""The ContIG cross-modal contrastive loss (Taleb et al., CVPR 2022, Eq. 1-2)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._distributed import all_gather_rows, world


def _check_temperature(temperature) -> float:
    """``temperature`` as a float, or a ``ValueError`` unless it is > 0."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    return float(temperature)


class ContIGLoss(nn.Module):
    """Cross-modal NT-Xent loss between images and each genetic modality.

    For one pair (image, modality m), over the b_m rows of the batch that have m:
    ``u = normalize(z_image)``, ``w = normalize(z_m)``, ``logits = u @ w.T / tau`` and
    ``L_m = lam * CE(logits, arange) + (1 - lam) * CE(logits.T, arange)``.
    The total is the mean of ``L_m`` over the modalities with at least 2 present
    rows; a batch with none gives an exact zero that still back-propagates.

    Samples of one individual (e.g. left and right eye) are never each other's
    negatives: their off-diagonal logits are masked out of the softmax.

    With ``exclude_positive=True`` (Eq. 1) a row whose every other key belongs
    to its own individual has no negative left, and its term would be
    ``log(0) = -inf``. Such rows are left out of the mean of their direction.
    Since "some other present row belongs to someone else" holds for all rows of
    a pair or for none, this happens exactly when all present rows of a modality
    are one person's images (e.g. two eyes); that modality is then left out of
    the mean over modalities, like a modality with fewer than 2 rows. The
    default form keeps the positive in the denominator, so those rows give a
    finite zero and stay in.

    Under ``torch.distributed`` the embeddings of all processes are gathered, so the
    negatives come from the global batch (each process computes the loss of its
    own rows against the global keys). Whether a modality counts is decided from
    gathered data, so every process takes the same branch and joins every
    collective, in the forward and in the backward pass.

    Parameters
    ----------
    temperature : float, default=0.1
    loss_weight : float, default=0.75
        ``lam``: weight of the image-to-genetics direction.
    exclude_positive : bool, default=False
        Leave the positive out of the softmax denominator (the paper's Eq. 1,
        ``k != j``). The default keeps it, as the authors' code does.

    Examples
    --------
    >>> import torch
    >>> loss = ContIGLoss()
    >>> z = torch.randn(8, 4)
    >>> mask = torch.ones(8, dtype=torch.bool)
    >>> value = loss({"pgs": (z, z.clone(), mask)})
    >>> bool(torch.isfinite(value))
    True
    """

    def __init__(self, temperature: float = 0.1, loss_weight: float = 0.75, exclude_positive: bool = False):
        super().__init__()
        temperature = _check_temperature(temperature)
        if not 0.0 <= loss_weight <= 1.0:
            raise ValueError(f"loss_weight must be in [0, 1], got {loss_weight}")
        self.temperature = temperature
        self.loss_weight = float(loss_weight)
        self.exclude_positive = bool(exclude_positive)

    def _directional(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # logits: (q, k) with the positive of row i at column target[i]
        if self.exclude_positive:
            pos = logits.gather(1, target[:, None])[:, 0]
            masked = logits.scatter(1, target[:, None], float("-inf"))
            return (torch.logsumexp(masked, dim=1) - pos).mean()
        return F.cross_entropy(logits, target)

    def pair_loss(self, zv, zg, mask, individual=None):
        """Loss of one (image, modality) pair, or ``None`` when fewer than 2 rows or people.

        Parameters
        ----------
        zv, zg : Tensor of shape (n, k)
            Image-side and genetic-side projections of the whole local batch
            (rows where ``mask`` is False are ignored, whatever they hold).
        mask : bool Tensor of shape (n,)
            Rows that have the modality.
        individual : int Tensor of shape (n,), default=None
            Individual codes; equal codes are never negatives of each other.
        """
        n_local = zv.shape[0]
        zv = F.normalize(zv.float(), dim=1)
        zg = F.normalize(zg.float(), dim=1)
        # Every collective comes first and unconditionally: all processes gather
        # the same tensors in the same order whatever their local rows hold.
        keys_v, keys_g = all_gather_rows(zv), all_gather_rows(zg)
        gmask = all_gather_rows(mask)
        gind_all = all_gather_rows(individual) if individual is not None else None
        if int(gmask.sum()) < 2:
            return None
        if gind_all is not None:
            gind_present = gind_all[gmask]
            if bool((gind_present == gind_present[0]).all()):
                # one person only: no row has a negative (Eq. 1 would give -inf, or 0
                # with the person's other images masked out), so no contrast to learn
                return None
        rank, world_size = world()
        offset = rank * n_local
        # position of each global present row among the present rows
        gpos = torch.cumsum(gmask.long(), 0) - 1
        local_rows = torch.nonzero(mask, as_tuple=True)[0]
        if local_rows.numel() == 0:
            # Zero, but through the gathered keys: the backward of the gather is a
            # collective that the other processes run too.
            return (keys_v.sum() + keys_g.sum()) * 0.0
        target = gpos[local_rows + offset]
        u_local, w_local = zv[local_rows], zg[local_rows]
        u_keys, w_keys = keys_v[gmask], keys_g[gmask]
        logits_vg = u_local @ w_keys.T / self.temperature  # (b_local, b_m)
        logits_gv = w_local @ u_keys.T / self.temperature  # (b_local, b_m)
        if individual is not None:
            gind = gind_all[gmask]
            lind = individual[local_rows]
            same = lind[:, None] == gind[None, :]
            same[torch.arange(len(target), device=same.device), target] = False
            logits_vg = logits_vg.masked_fill(same, float("-inf"))
            logits_gv = logits_gv.masked_fill(same, float("-inf"))
        lam = self.loss_weight
        loss = lam * self._directional(logits_vg, target) + (1 - lam) * self._directional(logits_gv, target)
        if world_size > 1:
            # each process averages over its own rows; rescale so that the mean over
            # processes (what DDP's gradient averaging computes) is the global mean
            loss = loss * (len(local_rows) * world_size / float(gmask.sum()))
        return loss

    def forward(self, pairs: dict, individual: torch.Tensor | None = None, return_parts: bool = False):
        """Mean pair loss over the modalities present in the batch.

        Parameters
        ----------
        pairs : dict of str to (zv, zg, mask)
            Per modality: image projection (n, k), genetic projection (n, k),
            presence mask (n,).
        individual : Tensor of shape (n,), default=None
        return_parts : bool, default=False
            Also return a dict of the per-modality losses (floats).
        """
        parts, total, left_out = {}, [], []
        for name, (zv, zg, mask) in pairs.items():
            value = self.pair_loss(zv, zg, mask, individual)
            if value is not None:
                total.append(value)
                parts[name] = float(value.detach())
            else:
                left_out.append(zv.sum() + zg.sum())
        # A left-out pair stays in the graph with a zero contribution: backward()
        # works without any pair, and every projection head gets a (zero)
        # gradient, as DistributedDataParallel needs.
        zero = sum(left_out) * 0.0 if left_out else 0.0
        loss = (torch.stack(total).mean() if total else 0.0) + zero
        return (loss, parts) if return_parts else loss
