"""The CPU SyncBatchNorm under torch.distributed (gloo, 2 processes) equals BatchNorm on the whole batch."""

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from sklearn_contig._distributed import SyncBatchNorm, convert_sync_batchnorm, has_sync_batchnorm

from ._launch import free_port

N = 8


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 36, 5),
                         nn.BatchNorm1d(5))


def _data():
    g = torch.Generator().manual_seed(1)
    return torch.randn(N, 3, 8, 8, generator=g), torch.randn(N, 5, generator=g)


#: rows of each process: even halves, a single row on one process, no row at all
SPLITS = {"even": ((0, 4), (4, 8)), "one-row": ((0, 7), (7, 8)), "empty": ((0, 8), (8, 8))}


def _worker(rank, world, port, queue):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        for name, rows in SPLITS.items():
            net = convert_sync_batchnorm(_net())
            x, w = _data()
            local = slice(*rows[rank])
            out = net(x[local])
            # the loss of the global batch, spread so that the sum over processes is it
            loss = (out * w[local]).sum() / N
            loss.backward()
            grads = {k: p.grad.clone() for k, p in net.named_parameters()}
            for g in grads.values():
                dist.all_reduce(g)
            queue.put((name, rank, out.detach().numpy(), {k: g.numpy() for k, g in grads.items()},
                       {k: b.numpy() for k, b in net.state_dict().items()}))
    finally:
        dist.destroy_process_group()


@pytest.mark.timeout(300)
def test_matches_batchnorm_on_the_global_batch():
    net = _net()
    x, w = _data()
    expected = net(x)
    (expected * w).sum().div(N).backward()

    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    mp.start_processes(_worker, args=(2, free_port(), queue), nprocs=2, join=True, start_method="spawn")
    results = sorted((queue.get() for _ in range(2 * len(SPLITS))), key=lambda r: r[:2])
    for name in SPLITS:
        mine = [r for r in results if r[0] == name]
        out = np.concatenate([r[2] for r in mine])
        np.testing.assert_allclose(out, expected.detach().numpy(), rtol=1e-5, atol=1e-6, err_msg=name)
        for _, _rank, _, grads, state in mine:
            for k, p in net.named_parameters():
                np.testing.assert_allclose(grads[k], p.grad.numpy(), rtol=1e-4, atol=1e-6, err_msg=f"{name} {k}")
            for k, b in net.state_dict().items():
                np.testing.assert_allclose(state[k], b.numpy(), rtol=1e-5, atol=1e-6, err_msg=f"{name} {k}")


def test_convert_keeps_state_and_single_process_is_batchnorm():
    net = _net()
    net[1].running_mean.fill_(0.5)
    converted = convert_sync_batchnorm(_net())
    converted.load_state_dict(net.state_dict())
    assert isinstance(converted[1], SyncBatchNorm) and isinstance(converted[5], SyncBatchNorm)
    assert has_sync_batchnorm(converted) and not has_sync_batchnorm(net)
    x, _ = _data()
    torch.testing.assert_close(converted(x), net(x))
    net.eval(), converted.eval()
    torch.testing.assert_close(converted(x), net(x))
