"""The reference batch of the explainer function: cached statistics and the loss.

For one genetic modality ``m`` the explainer function of a sample ``x`` is the
ContIG loss over the batch ``R + {x}``::

    L_m(R + {x}) = lam * CE(logits, arange) + (1 - lam) * CE(logits.T, arange)

with ``logits = normalize(z_image) @ normalize(z_m).T / tau`` over the ``b + 1``
rows. The reference rows never change, so the row and column log-sum-exps of
the ``b x b`` reference-reference logits are computed once
(:class:`ReferenceStats`); :func:`pair_loss` then adds ``x``'s row and column
in ``O(b k)``. :func:`recomputed_pair_loss` builds the whole ``(b + 1) x (b + 1)``
logit matrix for every evaluation instead, as the authors' code does with
cached reference embeddings: the same value at ``O(b^2 k)`` per evaluation
(kept for tests and the speed benchmark).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


class ReferenceStats:
    """Cached quantities of one modality's reference-reference logits.

    Parameters
    ----------
    zv, zg : Tensor of shape (b, k)
        Image-side and genetic-side projections of the reference rows.
    individuals : array-like of shape (b,)
        Individual ids of the reference rows.
    tau, lam : float
        Temperature and weight of the image-to-genetics direction.
    exclude_positive : bool
        Leave the positive out of the log-sum-exp denominators.
    dtype, device
        Where the cached tensors live (computed in float64 first).

    Attributes
    ----------
    U, W : Tensor of shape (b, k)
        L2-normalised image-side and genetic-side reference projections.
    A, C : Tensor of shape (b,)
        Row and column log-sum-exp of ``U @ W.T / tau`` (diagonal left out when
        ``exclude_positive``).
    D : Tensor, scalar
        Sum of the diagonal logits.
    L : Tensor, scalar
        Loss of the reference batch alone (used when ``x`` lacks the modality).
    individuals : ndarray of shape (b,)
    b : int

    Examples
    --------
    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> stats = ReferenceStats(torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g),
    ...                        list("abcde"), tau=0.1, lam=0.75, exclude_positive=False,
    ...                        dtype=torch.float32, device="cpu")
    >>> stats.b, tuple(stats.A.shape)
    (5, (5,))
    """

    def __init__(self, zv, zg, individuals, tau, lam, exclude_positive, dtype, device):
        u = F.normalize(torch.as_tensor(zv, dtype=torch.float64), dim=1)
        w = F.normalize(torch.as_tensor(zg, dtype=torch.float64), dim=1)
        logits = u @ w.T / tau  # (b, b)
        diag = logits.diagonal()
        masked = logits
        if exclude_positive:
            masked = logits.clone()
            masked.fill_diagonal_(float("-inf"))
        A = torch.logsumexp(masked, dim=1)
        C = torch.logsumexp(masked, dim=0)
        L = lam * (A - diag).mean() + (1 - lam) * (C - diag).mean()
        as_ = dict(dtype=dtype, device=device)
        self.U, self.W = u.to(**as_), w.to(**as_)
        self.A, self.C = A.to(**as_), C.to(**as_)
        self.D, self.L = diag.sum().to(**as_), L.to(**as_)
        self.individuals = np.asarray(individuals)
        self.b = int(u.shape[0])

    def to(self, device):
        """Move the cached tensors to ``device`` (in place); returns self."""
        for name in ("U", "W", "A", "C", "D", "L"):
            setattr(self, name, getattr(self, name).to(device))
        return self


def _match_mask(stats, match, device):
    """(N, b) bool: the reference row of ``x``'s own individual (masked like ContIGLoss)."""
    return torch.arange(stats.b, device=device)[None, :] == match[:, None]


def pair_loss(stats: ReferenceStats, u, w, match, tau, lam, exclude_positive):
    """``L_m(R + {x})`` for every row of ``u``/``w`` (each row its own problem).

    Parameters
    ----------
    stats : ReferenceStats
    u, w : Tensor of shape (N, k)
        Image-side and genetic-side projections of the N rows ``x``.
    match : long Tensor of shape (N,)
        Position in the reference of a sample of ``x``'s individual (-1: none);
        that pair is masked out, as :class:`~sklearn_contig.losses.ContIGLoss`
        masks samples of one individual.
    tau, lam : float
    exclude_positive : bool

    Returns
    -------
    loss : Tensor of shape (N,)

    Examples
    --------
    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> ref, x = torch.randn(2, 6, 4, generator=g), torch.randn(2, 3, 4, generator=g)
    >>> stats = ReferenceStats(ref[0], ref[1], range(6), 0.1, 0.75, False, torch.float64, "cpu")
    >>> args = (x[0].double(), x[1].double(), torch.full((3,), -1), 0.1, 0.75, False)
    >>> torch.allclose(pair_loss(stats, *args), recomputed_pair_loss(stats, *args))
    True
    """
    u = F.normalize(u, dim=1)
    w = F.normalize(w, dim=1)
    s = w @ stats.U.T / tau  # (N, b): reference images vs x's genetics
    t = u @ stats.W.T / tau  # (N, b): x's image vs reference genetics
    d = (u * w).sum(dim=1) / tau  # (N,): x's positive
    hit = _match_mask(stats, match, u.device)
    if bool(hit.any()):
        s = s.masked_fill(hit, float("-inf"))
        t = t.masked_fill(hit, float("-inf"))
    # reference rows/columns gain x's entry; x's own row/column is new
    rows_ref = torch.logaddexp(stats.A[None, :], s).sum(dim=1)
    cols_ref = torch.logaddexp(stats.C[None, :], t).sum(dim=1)
    if exclude_positive:
        row_x = torch.logsumexp(t, dim=1)
        col_x = torch.logsumexp(s, dim=1)
    else:
        row_x = torch.logsumexp(torch.cat([t, d[:, None]], dim=1), dim=1)
        col_x = torch.logsumexp(torch.cat([s, d[:, None]], dim=1), dim=1)
    diag = stats.D + d
    n = stats.b + 1
    return (lam * (rows_ref + row_x - diag) + (1 - lam) * (cols_ref + col_x - diag)) / n


def recomputed_pair_loss(stats: ReferenceStats, u, w, match, tau, lam, exclude_positive, chunk=32):
    """:func:`pair_loss` computed over the full ``(b + 1) x (b + 1)`` logits of every row.

    The authors' way: the reference embeddings are cached but every evaluation
    rebuilds the batch's logit matrix and its log-sum-exps, ``O(b^2 k)`` per row
    (``chunk`` rows at a time to bound memory). Same parameters and value as
    :func:`pair_loss`.
    """
    u = F.normalize(u, dim=1)
    w = F.normalize(w, dim=1)
    n, b = u.shape[0], stats.b
    hit = _match_mask(stats, match, u.device)
    eye = torch.eye(b + 1, dtype=torch.bool, device=u.device)
    out = []
    for start in range(0, n, chunk):
        sl = slice(start, min(start + chunk, n))
        m = sl.stop - sl.start
        U = torch.cat([stats.U.expand(m, b, -1), u[sl, None]], dim=1)  # (m, b+1, k)
        W = torch.cat([stats.W.expand(m, b, -1), w[sl, None]], dim=1)
        logits = U @ W.transpose(1, 2) / tau  # (m, b+1, b+1)
        # x's pair with a sample of its own individual is no negative
        mask = torch.zeros((m, b + 1, b + 1), dtype=torch.bool, device=u.device)
        mask[:, b, :b] = hit[sl]
        mask[:, :b, b] = hit[sl]
        diag = logits.diagonal(dim1=1, dim2=2)
        if exclude_positive:
            mask = mask | eye
        masked = logits.masked_fill(mask, float("-inf"))
        rows = (torch.logsumexp(masked, dim=2) - diag).mean(dim=1)
        cols = (torch.logsumexp(masked, dim=1) - diag).mean(dim=1)
        out.append(lam * rows + (1 - lam) * cols)
    return torch.cat(out)
