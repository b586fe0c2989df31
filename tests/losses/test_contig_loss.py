import socket

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from sklearn_contig.losses import ContIGLoss


def _logsumexp(a, axis):
    m = np.max(a, axis=axis, keepdims=True)
    return (m + np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True))).squeeze(axis)


def _ce(logits, exclude_positive):
    """Mean cross-entropy with the positive on the diagonal (NumPy, float64).

    With ``exclude_positive``, rows without any finite negative are left out of
    the mean (Eq. 1 is -inf there); None when no row is left.
    """
    pos = np.diag(logits)
    if exclude_positive:
        logits = logits.copy()
        np.fill_diagonal(logits, -np.inf)
        keep = np.isfinite(logits).any(axis=1)
        if not keep.any():
            return None
        return float(np.mean(_logsumexp(logits[keep], 1) - pos[keep]))
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
        vg, gv = _ce(logits, exclude_positive), _ce(logits.T, exclude_positive)
        if vg is None:  # no row has a negative (then none has in either direction)
            assert gv is None
            continue
        losses.append(lam * vg + (1 - lam) * gv)
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


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("exclude_positive", [False, True])
def test_two_eyes_per_person_match_numpy(seed, exclude_positive):
    """Random batches of two-eyed people: every row has a negative, nothing is dropped."""
    rng = np.random.default_rng(10 + seed)
    pairs = _random_pairs(rng, 16, 8)
    individual = np.repeat(np.arange(8), 2)
    expected = numpy_contig_loss(pairs, 0.1, 0.75, exclude_positive, individual)
    got = ContIGLoss(0.1, 0.75, exclude_positive)(_torch(pairs), torch.tensor(individual))
    assert got.item() == pytest.approx(expected, rel=1e-6)


def _one_person_pairs():
    """pgs on everyone; burden only on both eyes of person 0 (no negative for burden)."""
    rng = np.random.default_rng(5)
    individual = np.repeat(np.arange(4), 2)
    only_first = np.zeros(8, bool)
    only_first[:2] = True
    pairs = {
        "pgs": (rng.normal(size=(8, 6)), rng.normal(size=(8, 6)), np.ones(8, bool)),
        "burden": (rng.normal(size=(8, 6)), rng.normal(size=(8, 6)), only_first),
    }
    return pairs, individual


def test_exclude_positive_one_person_modality_is_left_out():
    pairs, individual = _one_person_pairs()
    torch_pairs = {m: (a.requires_grad_(True), b.requires_grad_(True), c) for m, (a, b, c) in _torch(pairs).items()}
    loss, parts = ContIGLoss(exclude_positive=True)(torch_pairs, torch.tensor(individual), return_parts=True)
    assert torch.isfinite(loss)
    assert list(parts) == ["pgs"]
    only_pgs = ContIGLoss(exclude_positive=True)({"pgs": _torch(pairs)["pgs"]}, torch.tensor(individual))
    assert loss.item() == pytest.approx(only_pgs.item(), rel=1e-12)
    assert loss.item() == pytest.approx(numpy_contig_loss(pairs, 0.1, 0.75, True, individual), rel=1e-6)
    loss.backward()
    zv, zg, _ = torch_pairs["pgs"]
    assert torch.isfinite(zv.grad).all() and torch.isfinite(zg.grad).all()
    assert torch.any(zv.grad != 0)
    zv, zg, _ = torch_pairs["burden"]  # left out: no gradient at all
    assert zv.grad is None or torch.all(zv.grad == 0)
    assert zg.grad is None or torch.all(zg.grad == 0)


def test_exclude_positive_batch_of_one_person_is_zero_and_finite():
    """The only modality holds the two eyes of one person: an exact, finite zero."""
    zv = torch.randn(2, 4, requires_grad=True)
    zg = torch.randn(2, 4, requires_grad=True)
    loss = ContIGLoss(exclude_positive=True)({"pgs": (zv, zg, torch.ones(2, dtype=torch.bool))}, torch.tensor([7, 7]))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.all(zv.grad == 0) and torch.all(zg.grad == 0)
    # without exclude_positive the masked rows keep their positive: a finite zero too
    kept = ContIGLoss()({"pgs": (zv, zg, torch.ones(2, dtype=torch.bool))}, torch.tensor([7, 7]))
    assert kept.item() == pytest.approx(0.0, abs=1e-12)


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


# -- torch.distributed: every process joins every collective ----------------------
# Cases where the two processes' local rows differ: one process has no row of a
# modality, or the modality's rows are one person's two eyes split over both.
def _edge_cases():
    rng = np.random.default_rng(2)
    n, k = 8, 5
    individual = np.repeat(np.arange(n // 2), 2)
    first_half = np.arange(n) < n // 2
    split_person = np.zeros(n, bool)
    split_person[[3, 4]] = True  # rows 3 and 4 ...
    individual_split = individual.copy()
    individual_split[4] = individual[3]  # ... are one person, one row per process
    cases = []
    for exclude_positive in (False, True):
        cases.append((exclude_positive, individual, {
            "pgs": (rng.normal(size=(n, k)), rng.normal(size=(n, k)), np.ones(n, bool)),
            "burden": (rng.normal(size=(n, k)), rng.normal(size=(n, k)), first_half),
        }))
        cases.append((exclude_positive, individual_split, {
            "pgs": (rng.normal(size=(n, k)), rng.normal(size=(n, k)), np.ones(n, bool)),
            "snp": (rng.normal(size=(n, k)), rng.normal(size=(n, k)), split_person),
        }))
    return cases


def _loss_and_grads(pairs, individual, exclude_positive, rows=slice(None)):
    t = {m: (torch.tensor(a[rows]).requires_grad_(True), torch.tensor(b[rows]).requires_grad_(True),
             torch.tensor(c[rows])) for m, (a, b, c) in pairs.items()}
    loss = ContIGLoss(exclude_positive=exclude_positive)(t, torch.tensor(individual[rows]))
    loss.backward()
    def grad(x):  # a modality left out on every process is not in the graph at all
        return np.zeros(x.shape) if x.grad is None else x.grad.numpy()

    grads = {m: (grad(zv), grad(zg)) for m, (zv, zg, _) in t.items()}
    return loss.detach(), grads


def _edge_worker(rank, world, port, queue):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        out = []
        for exclude_positive, individual, pairs in _edge_cases():
            n = len(individual) // world
            loss, grads = _loss_and_grads(pairs, individual, exclude_positive, slice(rank * n, (rank + 1) * n))
            total = loss.clone()
            dist.all_reduce(total)  # DDP averages gradients over processes
            out.append((float(total) / world, {m: (g[0] / world, g[1] / world) for m, g in grads.items()}))
        queue.put((rank, out))
    finally:
        dist.destroy_process_group()


@pytest.mark.timeout(120)
def test_distributed_edge_cases_match_single_process():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    world = 2
    queue = mp.get_context("spawn").Queue()
    mp.start_processes(_edge_worker, args=(world, port, queue), nprocs=world, join=True, start_method="spawn")
    results = dict(queue.get() for _ in range(world))
    for i, (exclude_positive, individual, pairs) in enumerate(_edge_cases()):
        loss, grads = _loss_and_grads(pairs, individual, exclude_positive)
        assert np.isfinite(loss.item())
        n = len(individual) // world
        for rank in range(world):
            got_loss, got_grads = results[rank][i]
            assert got_loss == pytest.approx(loss.item(), rel=1e-6), (i, rank)
            for m, (gv, gg) in got_grads.items():
                sl = slice(rank * n, (rank + 1) * n)
                np.testing.assert_allclose(gv, grads[m][0][sl], rtol=1e-5, atol=1e-7)
                np.testing.assert_allclose(gg, grads[m][1][sl], rtol=1e-5, atol=1e-7)


def test_one_person_modality_is_left_out_in_the_default_form_too():
    """A modality present for one person only (two eyes) has no negative: out of the mean, not a 0."""
    pairs, individual = _one_person_pairs()
    loss, parts = ContIGLoss()(_torch(pairs), torch.tensor(individual), return_parts=True)
    assert list(parts) == ["pgs"]
    only_pgs = ContIGLoss()({"pgs": _torch(pairs)["pgs"]}, torch.tensor(individual))
    assert loss.item() == pytest.approx(only_pgs.item(), rel=1e-12)


def test_retrieval_skips_a_chunk_of_one_person():
    from sklearn_contig.evaluation import top_k_retrieval

    z = torch.randn(4, 3).numpy()
    assert np.isnan(top_k_retrieval(z, z, groups=[1, 1, 1, 1]))
    assert np.isnan(top_k_retrieval(z, z, k=1, groups=[1, 1, 2, 2], chunk_size=2))  # each chunk is one person
    assert top_k_retrieval(z, z, k=1, groups=[1, 1, 2, 2]) == 1.0
