"""Collectives of training across processes (``torch.distributed``), CPU and GPU.

Everything here is a no-op in a single process. Under ``torchrun`` or
``accelerate launch`` (gloo on CPUs, NCCL on GPUs):

- :func:`world` -- ``(rank, world_size)``;
- :func:`all_reduce_sum` -- a sum over processes whose backward sums the
  gradients of every process (the convention of the gathered losses: each
  process's loss is scaled so that DDP's average of the gradients is the
  gradient of the global loss);
- :class:`SyncBatchNorm` and :func:`convert_sync_batchnorm` -- BatchNorm whose
  statistics are those of the global batch, on GPUs through PyTorch's kernel and
  on CPUs (where ``torch.nn.SyncBatchNorm`` refuses to run) through two
  all-reduces;
- :func:`all_gather_rows` -- the rows of every process, differentiable: the
  backward gives each process the gradient of its own rows summed over
  processes (the gathered losses' convention again);
- :func:`gather_rows` -- the rows of every process (no gradient);
- :func:`broadcast_state` -- copy rank 0's parameters and buffers to every process;
- :func:`agree` -- rank 0's value of a flag, so every process takes the same branch.
"""

from __future__ import annotations

import torch
from torch import nn


def world() -> tuple[int, int]:
    """``(rank, world_size)``; ``(0, 1)`` without an initialised process group."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return 0, 1
    return dist.get_rank(), dist.get_world_size()


def _summed(t: torch.Tensor) -> torch.Tensor:
    """A copy of ``t`` summed over processes (``torch.distributed.all_reduce``)."""
    import torch.distributed as dist

    t = t.contiguous().clone()
    dist.all_reduce(t)
    return t


def _concatenated(t: torch.Tensor) -> torch.Tensor:
    """Rows of ``t`` from every process, in rank order (``torch.distributed.all_gather``)."""
    import torch.distributed as dist

    parts = [torch.empty_like(t) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, t.contiguous())
    return torch.cat(parts, dim=0)


class _AllReduceSum(torch.autograd.Function):
    @staticmethod
    def forward(ctx, t):
        return _summed(t)

    @staticmethod
    def backward(ctx, grad):
        return _summed(grad)


class _AllGather(torch.autograd.Function):
    """All-gather along dim 0 whose backward sums the gradients of every process."""

    @staticmethod
    def forward(ctx, t):
        import torch.distributed as dist

        ctx.rank, ctx.n = dist.get_rank(), t.shape[0]
        return _concatenated(t)

    @staticmethod
    def backward(ctx, grad):
        return _summed(grad)[ctx.rank * ctx.n : (ctx.rank + 1) * ctx.n]


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum of ``t`` over processes, differentiable (identity in one process)."""
    if world()[1] == 1:
        return t
    if t.requires_grad:
        return _AllReduceSum.apply(t)
    return _summed(t)


def all_gather_rows(t: torch.Tensor) -> torch.Tensor:
    """Rows of ``t`` from every process, in rank order, keeping gradients (``t`` in one process).

    The backward sums the gradient of the gathered rows over processes and
    gives each process the part of its own rows.

    Examples
    --------
    >>> import torch
    >>> t = torch.ones(2, 3, requires_grad=True)
    >>> all_gather_rows(t) is t  # one process
    True
    """
    if world()[1] == 1:
        return t
    if t.requires_grad:
        return _AllGather.apply(t)
    return _concatenated(t)


@torch.no_grad()
def gather_rows(t: torch.Tensor) -> torch.Tensor:
    """Rows of ``t`` from every process, in rank order, without gradient (``t`` in one process)."""
    if world()[1] == 1:
        return t.detach()
    return _concatenated(t.detach())


def agree(flag: bool, device=None) -> bool:
    """Rank 0's ``flag`` on every process (``flag`` itself in one process)."""
    if world()[1] == 1:
        return bool(flag)
    import torch.distributed as dist

    t = torch.tensor([1 if flag else 0], dtype=torch.long, device=device or _comm_device())
    dist.broadcast(t, src=0)
    return bool(t.item())


def mean_over_processes(value: float, device=None) -> float:
    """Mean of a float over processes (``value`` itself in one process)."""
    rank, size = world()
    if size == 1:
        return float(value)
    import torch.distributed as dist

    t = torch.tensor([float(value)], dtype=torch.float64, device=device or _comm_device())
    dist.all_reduce(t)
    return float(t.item()) / size


def _comm_device():
    """Device of the tensors of a collective: the GPU under NCCL, the CPU otherwise."""
    import torch.distributed as dist

    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


@torch.no_grad()
def broadcast_state(module: nn.Module) -> None:
    """Copy rank 0's parameters and buffers into ``module`` on every process."""
    if world()[1] == 1:
        return
    import torch.distributed as dist

    for t in list(module.parameters()) + list(module.buffers()):
        if dist.get_backend() == "nccl" or t.device.type == "cpu":
            dist.broadcast(t.data, src=0)
        else:
            tmp = t.data.to(_comm_device())
            dist.broadcast(tmp, src=0)
            t.data.copy_(tmp)


class SyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm over the global batch of all processes, for CPU processes (gloo).

    ``torch.nn.SyncBatchNorm`` runs on GPUs only (DistributedDataParallel
    refuses it on CPU modules). This layer's training forward under
    ``torch.distributed`` all-reduces the per-channel count and sum, then the
    sum of squared deviations from the global mean, with gradients flowing back
    through both sums. The result equals a ``BatchNorm`` applied to the
    concatenated batches of all processes; a process with no rows takes part in
    the collectives with zero counts. In one process and in eval mode it is a
    plain BatchNorm.

    Examples
    --------
    >>> import torch
    >>> bn = convert_sync_batchnorm(torch.nn.Sequential(torch.nn.BatchNorm1d(3)))
    >>> type(bn[0]).__name__
    'SyncBatchNorm'
    >>> bn(torch.randn(4, 3)).shape
    torch.Size([4, 3])
    """

    def _check_input_dim(self, input):
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if not self.training or world()[1] == 1:
            return super().forward(input)
        self._check_input_dim(input)
        dims = [0] + list(range(2, input.ndim))
        shape = [1, -1] + [1] * (input.ndim - 2)
        x = input.float()
        local_n = x.numel() // x.shape[1]
        count = torch.full((1,), float(local_n), dtype=x.dtype)
        total = all_reduce_sum(torch.cat([x.sum(dim=dims), count]))
        n = total[-1].detach()
        if float(n) < 2:
            raise ValueError(f"Expected more than 1 value per channel over all processes when training, got {int(n)}")
        mean = total[:-1] / n
        centred = x - mean.reshape(shape)
        var = all_reduce_sum(centred.pow(2).sum(dim=dims)) / n
        out = centred * torch.rsqrt(var + self.eps).reshape(shape)
        if self.affine:
            out = out * self.weight.reshape(shape) + self.bias.reshape(shape)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = (1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum)
                unbiased = var.detach() * n / (n - 1)
                self.running_mean.mul_(1 - momentum).add_(mean.detach().to(self.running_mean.dtype), alpha=momentum)
                self.running_var.mul_(1 - momentum).add_(unbiased.to(self.running_var.dtype), alpha=momentum)
        return out.to(input.dtype)


def convert_sync_batchnorm(module: nn.Module, device="cpu") -> nn.Module:
    """Replace every ``BatchNorm*d`` of ``module`` by a synchronised one, keeping its state.

    On a GPU ``device`` PyTorch's ``torch.nn.SyncBatchNorm``; otherwise
    :class:`SyncBatchNorm`.
    """
    if torch.device(device).type != "cpu":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    out = module
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(
            module, (nn.SyncBatchNorm, SyncBatchNorm)):
        out = SyncBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                            module.track_running_stats)
        if module.affine:
            with torch.no_grad():
                out.weight = module.weight
                out.bias = module.bias
        out.running_mean = module.running_mean
        out.running_var = module.running_var
        out.num_batches_tracked = module.num_batches_tracked
        out.training = module.training
    for name, child in module.named_children():
        out.add_module(name, convert_sync_batchnorm(child, device))
    return out


def has_sync_batchnorm(module: nn.Module) -> bool:
    """Whether ``module`` holds a synchronised BatchNorm layer (ours or PyTorch's)."""
    return any(isinstance(m, (nn.SyncBatchNorm, SyncBatchNorm)) for m in module.modules())
