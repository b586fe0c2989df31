import numpy as np
import pytest
import torch

from sklearn_contig.losses import ContIGLoss


def _logsumexp(a, axis):
    m = np.max(a, axis=axis, keepdims=True)
    return (m + np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True))).squeeze(axis)


def _ce(logits, exclude_positive):
    """Mean cross-entropy with the positive on the diagonal (NumPy, float64)."""
    pos = np.diag(logits)
    if exclude_positive:
        logits = logits.copy()
        np.fill_diagonal(logits, -np.inf)
    return float(np.mean(_logsumexp(logits, 1) - pos))


def numpy_contig_loss(pairs, tau, lam, exclude_positive=False, individual=None):
    """DESIGN section 1, written out directly."""
    losses = []
    for zv, zg, mask in pairs.values():
        rows = np.flatnonzero(mask)
        if len(rows) < 2:
            continue
        u = zv[rows] / np.linalg.norm(zv[rows], axis=1, keepdims=True)
        w = zg[rows] / np.linalg.norm(zg[rows], axis=1, keepdims=True)
        logits = u @ w.T / tau
        if individual is not None:
            ind = individual[rows]
            same = (ind[:, None] == ind[None, :]) & ~np.eye(len(rows), dtype=bool)
            logits = np.where(same, -np.inf, logits)
        losses.append(lam * _ce(logits, exclude_positive) + (1 - lam) * _ce(logits.T, exclude_positive))
    return float(np.mean(losses)) if losses else 0.0


def _random_pairs(rng, n, k, names=("snp", "pgs", "burden"), p_missing=(0.0, 0.1, 0.5)):
    pairs = {}
    for name, p in zip(names, p_missing):
        mask = rng.random(n) >= p
        pairs[name] = (rng.normal(size=(n, k)), rng.normal(size=(n, k)), mask)
    return pairs


def _torch(pairs):
    return {m: (torch.tensor(a), torch.tensor(b), torch.tensor(c)) for m, (a, b, c) in pairs.items()}


@pytest.mark.parametrize("n", [2, 7, 32])
@pytest.mark.parametrize("tau", [0.05, 0.1, 1.0])
@pytest.mark.parametrize("lam", [0.0, 0.75, 1.0])
@pytest.mark.parametrize("exclude_positive", [False, True])
def test_outer_matches_numpy(n, tau, lam, exclude_positive):
    rng = np.random.default_rng(n)
    pairs = _random_pairs(rng, n, 16)
    expected = numpy_contig_loss(pairs, tau, lam, exclude_positive)
    got = ContIGLoss(tau, lam, exclude_positive)(_torch(pairs))
    assert got.item() == pytest.approx(expected, rel=1e-5, abs=1e-5)


@pytest.mark.parametrize("seed", range(5))
def test_inner_matches_numpy(seed):
    """Inner aggregation: keep only the rows that have every modality."""
    rng = np.random.default_rng(seed)
    pairs = _random_pairs(rng, 40, 8, p_missing=(0.1, 0.2, 0.4))
    complete = np.all([mask for _, _, mask in pairs.values()], axis=0)
    inner = {m: (zv[complete], zg[complete], np.ones(complete.sum(), bool)) for m, (zv, zg, _) in pairs.items()}
    expected = numpy_contig_loss(inner, 0.1, 0.75)
    assert ContIGLoss()(_torch(inner)).item() == pytest.approx(expected, rel=1e-5)


def test_same_individual_is_not_a_negative():
    rng = np.random.default_rng(3)
    pairs = _random_pairs(rng, 12, 8)
    individual = np.repeat(np.arange(6), 2)  # left and right eye
    expected = numpy_contig_loss(pairs, 0.1, 0.75, individual=individual)
    got = ContIGLoss()(_torch(pairs), torch.tensor(individual))
    assert got.item() == pytest.approx(expected, rel=1e-5)
    unmasked = ContIGLoss()(_torch(pairs))
    assert got.item() != pytest.approx(unmasked.item(), rel=1e-3)


@pytest.mark.parametrize("present", [0, 1])
def test_too_few_rows_give_finite_loss(present):
    n = 6
    zv = torch.randn(n, 4, requires_grad=True)
    zg = torch.randn(n, 4, requires_grad=True)
    mask = torch.zeros(n, dtype=torch.bool)
    mask[:present] = True
    loss = ContIGLoss()({"pgs": (zv, zg, mask)})
    assert torch.isfinite(loss) and loss.item() == 0.0
    loss.backward()
    assert torch.all(zv.grad == 0) and torch.all(zg.grad == 0)


def test_modality_with_one_row_is_left_out_of_the_mean():
    rng = np.random.default_rng(0)
    pairs = _random_pairs(rng, 10, 4, names=("pgs", "burden"), p_missing=(0.0, 0.0))
    only_pgs = ContIGLoss()(_torch({"pgs": pairs["pgs"]})).item()
    one = np.zeros(10, bool)
    one[3] = True
    pairs["burden"] = (pairs["burden"][0], pairs["burden"][1], one)
    assert ContIGLoss()(_torch(pairs)).item() == pytest.approx(only_pgs, rel=1e-6)


def test_no_gradient_from_missing_rows():
    rng = np.random.default_rng(1)
    zv = torch.tensor(rng.normal(size=(10, 4)), requires_grad=True)
    zg = torch.tensor(rng.normal(size=(10, 4)), requires_grad=True)
    mask = torch.tensor(rng.random(10) > 0.4)
    ContIGLoss()({"pgs": (zv, zg, mask)}).backward()
    assert torch.all(zg.grad[~mask] == 0)
    assert torch.all(zv.grad[~mask] == 0)
    assert torch.any(zg.grad[mask] != 0)


@pytest.mark.parametrize("kwargs", [{"temperature": 0}, {"temperature": -1}, {"loss_weight": 1.5}])
def test_bad_parameters(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        ContIGLoss(**kwargs)
