"""The loss under torch.distributed (gloo, 2 CPU processes) equals the single-process loss."""

import socket

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from sklearn_contig.losses import ContIGLoss

N, K = 12, 6


def _data():
    rng = np.random.default_rng(0)
    zv = torch.tensor(rng.normal(size=(N, K)))
    zg = torch.tensor(rng.normal(size=(N, K)))
    mask = torch.tensor(rng.random(N) > 0.3)
    individual = torch.tensor(np.repeat(np.arange(N // 2), 2))
    return zv, zg, mask, individual


def _worker(rank, world, port, queue):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        zv, zg, mask, ind = _data()
        n = N // world
        sl = slice(rank * n, (rank + 1) * n)
        v = zv[sl].clone().requires_grad_(True)
        g = zg[sl].clone().requires_grad_(True)
        loss = ContIGLoss()({"pgs": (v, g, mask[sl])}, ind[sl])
        loss.backward()
        total = loss.detach().clone()
        dist.all_reduce(total)
        queue.put((rank, float(total) / world, v.grad.numpy() / world, g.grad.numpy() / world))
    finally:
        dist.destroy_process_group()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(120)
def test_distributed_loss_and_gradients_match_single_process():
    zv, zg, mask, ind = _data()
    v, g = zv.clone().requires_grad_(True), zg.clone().requires_grad_(True)
    expected = ContIGLoss()({"pgs": (v, g, mask)}, ind)
    expected.backward()

    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    world = 2
    mp.start_processes(_worker, args=(world, _free_port(), queue), nprocs=world, join=True, start_method="spawn")
    results = sorted(queue.get() for _ in range(world))
    for rank, loss, grad_v, grad_g in results:
        assert loss == pytest.approx(expected.item(), rel=1e-6)
        n = N // world
        np.testing.assert_allclose(grad_v, v.grad[rank * n:(rank + 1) * n].numpy(), rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(grad_g, g.grad[rank * n:(rank + 1) * n].numpy(), rtol=1e-5, atol=1e-7)
