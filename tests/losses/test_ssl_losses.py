"""The baselines' losses against slow, obviously-correct NumPy versions of the paper formulas."""

import types

import numpy as np
import pytest
import torch

from sklearn_contig.losses import BarlowTwinsLoss, BYOLLoss, NNCLRLoss, NTXentLoss, SimSiamLoss
from sklearn_contig.models import ImageEncoder
from sklearn_contig.models.ssl import BYOLModule, MemoryBank, SimSiamModule
from sklearn_contig.pretraining._baselines import MomentumUpdate

SIZES = [(2, 3), (7, 16)]
REL = 1e-5


def _unit(a):
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def _arrays(seed, *shapes):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=s) for s in shapes]


def _t(*arrays, grad=False):
    return [torch.tensor(a, dtype=torch.float32, requires_grad=grad) for a in arrays]


# --------------------------------------------------------------------- NumPy


def ntxent_np(z1, z2, tau, bank=None, individual=None):
    n = len(z1)
    z = _unit(np.concatenate([z1, z2]).astype(np.float64))
    b = None if bank is None else _unit(bank.astype(np.float64))
    ind = None if individual is None else np.concatenate([individual, individual])
    total = 0.0
    for i in range(2 * n):
        pos = (i + n) % (2 * n)
        denom = 0.0
        for k in range(2 * n):
            if k == i:
                continue
            if ind is not None and k != pos and ind[k] == ind[i]:
                continue  # another sample of the same individual
            denom += np.exp(z[i] @ z[k] / tau)
        if b is not None:
            denom += sum(np.exp(z[i] @ row / tau) for row in b)
        total += -np.log(np.exp(z[i] @ z[pos] / tau) / denom)
    return total / (2 * n)


def byol_np(p1, p2, t1, t2):
    p1, p2, t1, t2 = (_unit(a.astype(np.float64)) for a in (p1, p2, t1, t2))
    return np.mean(np.sum((p1 - t2) ** 2, axis=1) + np.sum((p2 - t1) ** 2, axis=1))


def barlow_np(z1, z2, lam, eps=1e-5):
    n, k = z1.shape

    def std(z):
        z = z.astype(np.float64)
        return (z - z.mean(0)) / np.sqrt(z.var(0) + eps)

    a, b = std(z1), std(z2)
    loss = 0.0
    for i in range(k):
        for j in range(k):
            c = sum(a[s, i] * b[s, j] for s in range(n)) / n
            loss += (1 - c) ** 2 if i == j else lam * c**2
    return loss


def simsiam_np(p1, p2, z1, z2):
    def d(p, z):
        return -np.mean(np.sum(_unit(p.astype(np.float64)) * _unit(z.astype(np.float64)), axis=1))

    return 0.5 * d(p1, z2) + 0.5 * d(p2, z1)


def nnclr_np(nn1, nn2, p1, p2, tau):
    def one(a, b):
        a, b = _unit(a.astype(np.float64)), _unit(b.astype(np.float64))
        out = 0.0
        for i in range(len(a)):
            logits = np.array([a[i] @ b[k] / tau for k in range(len(b))])
            out += -(logits[i] - np.log(np.sum(np.exp(logits))))
        return out / len(a)

    return 0.5 * (one(nn1, p2) + one(nn2, p1))


# ---------------------------------------------------------------------- tests


@pytest.mark.parametrize("n,k", SIZES)
@pytest.mark.parametrize("tau", [0.1, 0.5])
def test_ntxent_matches_numpy(n, k, tau):
    z1, z2 = _arrays(n * k, (n, k), (n, k))
    got = NTXentLoss(tau)(*_t(z1, z2))
    assert got.detach().item() == pytest.approx(ntxent_np(z1, z2, tau), rel=REL)


def test_ntxent_memory_bank_and_individual_masking():
    z1, z2, bank = _arrays(1, (6, 5), (6, 5), (9, 5))
    ind = np.array([0, 1, 1, 2, 3, 3])
    got = NTXentLoss(0.2)(*_t(z1, z2, bank), individual=torch.tensor(ind))
    assert got.detach().item() == pytest.approx(ntxent_np(z1, z2, 0.2, bank, ind), rel=REL)
    plain = NTXentLoss(0.2)(*_t(z1, z2), negatives=torch.zeros(0, 5))
    assert float(plain) == pytest.approx(ntxent_np(z1, z2, 0.2), rel=REL)


@pytest.mark.parametrize("n,k", SIZES)
def test_byol_matches_numpy_and_target_gets_no_gradient(n, k):
    p1, p2, t1, t2 = _t(*_arrays(n + k, (n, k), (n, k), (n, k), (n, k)), grad=True)
    loss = BYOLLoss()(p1, p2, t1, t2)
    assert loss.detach().item() == pytest.approx(byol_np(*(a.detach().numpy() for a in (p1, p2, t1, t2))), rel=REL)
    loss.backward()
    assert t1.grad is None and t2.grad is None
    assert p1.grad.abs().sum() > 0 and p2.grad.abs().sum() > 0


@pytest.mark.parametrize("n,k", SIZES)
@pytest.mark.parametrize("lam", [5e-3, 0.5])
def test_barlow_twins_matches_numpy(n, k, lam):
    z1, z2 = _arrays(n * 3 + k, (n, k), (n, k))
    got = BarlowTwinsLoss(lam)(*_t(z1, z2))
    assert got.detach().item() == pytest.approx(barlow_np(z1, z2, lam), rel=REL)


def test_barlow_twins_needs_two_samples():
    with pytest.raises(ValueError, match="at least 2"):
        BarlowTwinsLoss()(torch.randn(1, 4), torch.randn(1, 4))


@pytest.mark.parametrize("n,k", SIZES)
def test_simsiam_matches_numpy_and_stops_gradient(n, k):
    p1, p2, z1, z2 = _t(*_arrays(n * k + 5, (n, k), (n, k), (n, k), (n, k)), grad=True)
    loss = SimSiamLoss()(p1, p2, z1, z2)
    assert loss.detach().item() == pytest.approx(simsiam_np(*(a.detach().numpy() for a in (p1, p2, z1, z2))), rel=REL)
    loss.backward()
    # the projections are the targets: no gradient reaches them through the loss
    assert z1.grad is None and z2.grad is None
    assert p1.grad.abs().sum() > 0 and p2.grad.abs().sum() > 0


def test_simsiam_module_gradient_reaches_projector_only_through_predictor():
    torch.manual_seed(0)
    enc = ImageEncoder("mlp", in_channels=6)
    module = SimSiamModule(enc, hidden_dim=8, projection_dim=8, predictor_hidden_dim=4).train()
    out = module(torch.rand(5, 6))
    li = out["loss_inputs"]
    z1, z2 = li["z1"], li["z2"]
    z1.retain_grad()
    z2.retain_grad()
    loss = SimSiamLoss()(**li)
    # gradient w.r.t. z via all paths equals the gradient through the predictor alone
    g_all = torch.autograd.grad(loss, [z1, z2], retain_graph=True)
    g_pred = torch.autograd.grad(loss, [li["p1"], li["p2"]], retain_graph=True)
    g_via_pred = torch.autograd.grad(
        [li["p1"], li["p2"]], [z1, z2], grad_outputs=list(g_pred), retain_graph=True
    )
    for a, b in zip(g_all, g_via_pred):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("n,k", SIZES)
@pytest.mark.parametrize("tau", [0.1, 0.5])
def test_nnclr_matches_numpy(n, k, tau):
    arrays = _arrays(n + 2 * k, (n, k), (n, k), (n, k), (n, k))
    nn1, nn2, p1, p2 = _t(*arrays, grad=True)
    loss = NNCLRLoss(tau)(nn1, nn2, p1, p2)
    assert loss.detach().item() == pytest.approx(nnclr_np(*arrays, tau), rel=REL)
    loss.backward()
    assert nn1.grad is None and nn2.grad is None  # neighbours are constants


def test_nnclr_individual_masking_matches_numpy_without_those_negatives():
    nn1, nn2, p1, p2 = _arrays(3, (4, 3), (4, 3), (4, 3), (4, 3))
    # samples 2 and 3 are one individual: with masking the loss equals the loss
    # where their mutual logits are dropped; check against a direct computation
    ind = torch.tensor([0, 1, 2, 2])
    got = float(NNCLRLoss(0.3)(*_t(nn1, nn2, p1, p2), individual=ind))

    def one(a, b):
        a, b = _unit(a), _unit(b)
        total = 0.0
        for i in range(4):
            ks = [k for k in range(4) if k == i or ind[k] != ind[i]]
            logits = np.array([a[i] @ b[k] / 0.3 for k in ks])
            total += -(a[i] @ b[i] / 0.3 - np.log(np.exp(logits).sum()))
        return total / 4

    assert got == pytest.approx(0.5 * (one(nn1, p2) + one(nn2, p1)), rel=REL)


def test_memory_bank_nearest_is_true_nearest_neighbour():
    rng = np.random.default_rng(0)
    support = rng.normal(size=(50, 8))
    queries = rng.normal(size=(12, 8))
    bank = MemoryBank(64, 8)
    bank.enqueue(torch.tensor(support, dtype=torch.float32))
    got = bank.nearest(torch.tensor(queries, dtype=torch.float32)).numpy()
    expected = support[np.argmax(_unit(queries) @ _unit(support).T, axis=1)]
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_memory_bank_is_a_fifo_queue_and_empty_bank_returns_query():
    bank = MemoryBank(4, 1)
    q = torch.tensor([[1.0]])
    assert torch.equal(bank.nearest(q), q) and len(bank) == 0
    bank.enqueue(torch.arange(3.0)[:, None])
    bank.enqueue(torch.arange(3.0, 6.0)[:, None])  # 0 and 1 are replaced by 4 and 5
    assert len(bank) == 4
    assert sorted(bank.get()[:, 0].tolist()) == [2.0, 3.0, 4.0, 5.0]
    assert set(bank.state_dict()) == {"bank", "ptr", "count"}


def test_byol_target_changes_only_by_the_momentum_update():
    torch.manual_seed(0)
    enc = ImageEncoder("mlp", in_channels=6)
    module = BYOLModule(enc, hidden_dim=8, projection_dim=4, predictor_hidden_dim=8).train()
    assert all(not p.requires_grad for p in module.target_parameters())
    opt = torch.optim.SGD([p for p in module.parameters() if p.requires_grad], lr=0.5)
    old = [p.detach().clone() for p in module.target_parameters()]
    loss = BYOLLoss()(**module(torch.rand(8, 6))["loss_inputs"])
    loss.backward()
    opt.step()
    assert all(p.grad is None for p in module.target_parameters())
    for p, o in zip(module.target_parameters(), old):  # the optimizer step left the target alone
        torch.testing.assert_close(p, o, rtol=0, atol=0)
    online = [p.detach().clone() for p in module.online_parameters()]
    assert any(not torch.equal(a, b) for a, b in zip(online, old))

    callback = MomentumUpdate(momentum=0.9, schedule="constant").initialize()
    net = types.SimpleNamespace(module_=module)
    callback.on_batch_end(net, training=False)  # validation batches do not update
    for p, o in zip(module.target_parameters(), old):
        torch.testing.assert_close(p, o, rtol=0, atol=0)
    callback.on_batch_end(net, training=True)
    for p, o, w in zip(module.target_parameters(), old, online):
        torch.testing.assert_close(p, 0.9 * o + 0.1 * w, rtol=1e-6, atol=1e-7)
    assert int(module.momentum_step) == 1


def test_byol_cosine_momentum_schedule():
    cb = MomentumUpdate(momentum=0.99, schedule="cosine").initialize()
    net = types.SimpleNamespace(batch_size=10, max_epochs=4, iterator_train__drop_last=True)
    cb.on_train_begin(net, X=list(range(25)))  # 2 steps per epoch, 8 in all
    assert cb.total_steps_ == 8
    assert cb.momentum_at(0) == pytest.approx(0.99)
    assert cb.momentum_at(4) == pytest.approx(0.995)
    assert cb.momentum_at(8) == pytest.approx(1.0)
    const = MomentumUpdate(momentum=0.99, schedule="constant").initialize()
    const.on_train_begin(net, X=list(range(25)))
    assert const.momentum_at(5) == pytest.approx(0.99)


@pytest.mark.parametrize("loss", [NTXentLoss, NNCLRLoss])
def test_bad_temperature(loss):
    with pytest.raises(ValueError, match="temperature"):
        loss(0.0)
