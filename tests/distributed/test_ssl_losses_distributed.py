"""The image-only losses under torch.distributed (gloo, 2 processes) equal the single-process loss.

Each process holds half of the batch; the loss of each process, averaged over the
processes, and the gradients, summed over the processes and divided by their number
(what DistributedDataParallel does), must match one process holding the whole batch.
"""

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from sklearn_contig.losses import BarlowTwinsLoss, NNCLRLoss, NTXentLoss

from ._launch import free_port

N, K = 8, 5


def _inputs():
    g = torch.Generator().manual_seed(0)
    z = {name: torch.randn(N, K, generator=g) for name in ("a", "b", "c", "d")}
    bank = torch.randn(6, K, generator=g)
    individual = torch.tensor([0, 0, 1, 2, 3, 3, 4, 5])  # pairs of samples of one person, across processes too
    return z, bank, individual


def _cases():
    """name -> (loss, function of (z, bank, individual, rows) giving the loss of those rows)."""
    return {
        "ntxent": lambda z, bank, ind, s: NTXentLoss()(z["a"][s], z["b"][s], negatives=bank, individual=ind[s]),
        "barlow": lambda z, bank, ind, s: BarlowTwinsLoss()(z["a"][s], z["b"][s]),
        "nnclr": lambda z, bank, ind, s: NNCLRLoss()(z["c"][s], z["d"][s], z["a"][s], z["b"][s], individual=ind[s]),
    }


def _leaves():
    z, bank, ind = _inputs()
    return {k: v.clone().requires_grad_(True) for k, v in z.items()}, bank, ind


def _worker(rank, world, port, queue):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        n = N // world
        rows = slice(rank * n, (rank + 1) * n)
        for name, fn in _cases().items():
            z, bank, ind = _leaves()
            local = {k: v[rows].detach().clone().requires_grad_(True) for k, v in z.items()}
            loss = fn({k: v for k, v in local.items()}, bank, ind[rows], slice(None))
            loss.backward()
            total = loss.detach().clone()
            dist.all_reduce(total)
            grads = {k: (v.grad / world).numpy() if v.grad is not None else None for k, v in local.items()}
            queue.put((name, rank, float(total) / world, grads))
    finally:
        dist.destroy_process_group()


@pytest.mark.timeout(300)
def test_losses_and_gradients_match_single_process():
    expected = {}
    for name, fn in _cases().items():
        z, bank, ind = _leaves()
        loss = fn(z, bank, ind, slice(None))
        loss.backward()
        expected[name] = (float(loss.detach()), {k: v.grad for k, v in z.items()})

    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    mp.start_processes(_worker, args=(2, free_port(), queue), nprocs=2, join=True, start_method="spawn")
    results = [queue.get() for _ in range(2 * len(expected))]
    n = N // 2
    for name, rank, loss, grads in results:
        value, full_grads = expected[name]
        assert loss == pytest.approx(value, rel=1e-6), name
        for k, g in grads.items():
            want = full_grads[k]
            if want is None:
                assert g is None or not np.any(g), (name, k)
            else:
                np.testing.assert_allclose(g, want[rank * n:(rank + 1) * n].numpy(), rtol=1e-5, atol=1e-7,
                                           err_msg=f"{name} {k}")
