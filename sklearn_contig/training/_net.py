"""The skorch net every estimator trains with: resumable epochs and a guarded optimizer step."""

from __future__ import annotations

import torch
from skorch import NeuralNet
from torch.utils.data import Sampler

from .._distributed import mean_over_processes, world
from ._callbacks import train_batches


class EpochOrder(Sampler):
    """Shuffled order of ``n`` samples per epoch that a resumed fit can re-enter mid-epoch.

    Each epoch's permutation comes from a generator seeded by the global torch
    RNG (as ``RandomSampler`` does), so checkpoints, which save that RNG,
    reproduce it. :meth:`resume_at` makes the next epoch continue a saved
    order after the samples already consumed, with the RNG state saved at that
    step restored just before the first batch of the remainder is read.
    """

    def __init__(self, n: int):
        self.n = int(n)
        self.order = None
        self._resume = None

    def resume_at(self, order, consumed: int, rng: dict) -> None:
        self._resume = (list(order), int(consumed), rng)

    def __len__(self) -> int:
        return self.n if self._resume is None else self.n - self._resume[1]

    def __iter__(self):
        if self._resume is not None:
            from ._checkpoint import set_rng_state

            order, start, rng = self._resume
            self._resume = None
            set_rng_state(rng)
        else:
            seed = int(torch.empty((), dtype=torch.int64).random_().item())
            order = torch.randperm(self.n, generator=torch.Generator().manual_seed(seed)).tolist()
            start = 0
        self.order = order
        yield from order[start:]


class TrainingInterrupted(SystemExit):
    """A fit stopped by SIGTERM/SIGINT after saving its state (see ``checkpoint_dir``).

    A ``SystemExit``: uncaught, the process ends without a traceback, with exit
    status :attr:`EXIT_STATUS` (75, ``EX_TEMPFAIL``: "try again"), which a job
    script can tell from a failure (1) to requeue the job; the message is written to
    stderr when it is raised. ``except Exception`` does not swallow it.
    """

    #: Exit status of a process ended by an uncaught ``TrainingInterrupted``.
    EXIT_STATUS = 75

    def __init__(self, message):
        super().__init__(message)
        self.message = message
        self.code = self.EXIT_STATUS

    def __str__(self):
        return self.message


class NonFiniteLoss(FloatingPointError):
    """A training step gave a non-finite loss or gradient (``on_nonfinite="raise"``)."""


class TrainingNet(NeuralNet):
    """skorch ``NeuralNet`` with two additions used by :class:`NetEstimator`.

    - A fit resumed from a mid-epoch checkpoint continues the open epoch's
      history row instead of starting a new one (``continue_epoch``).
    - Every optimizer step is guarded: when the loss or any gradient is
      non-finite the weights are not updated, and the step either raises
      :class:`NonFiniteLoss` naming the epoch and batch (``on_nonfinite="raise"``)
      or is skipped and counted (``"skip"``).
    """

    #: Set on the instance: "raise" or "skip".
    on_nonfinite = "raise"
    #: Set on the instance before a resumed fit whose last history row is open.
    continue_epoch = False
    #: Set on the instance: the checkpoint folder, named in errors.
    checkpoint_dir = None

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        if self.continue_epoch:
            self.continue_epoch = False
            return
        super().on_epoch_begin(net, dataset_train=dataset_train, dataset_valid=dataset_valid, **kwargs)

    def on_epoch_end(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        super().on_epoch_end(net, dataset_train=dataset_train, dataset_valid=dataset_valid, **kwargs)
        if len(self.history):  # an epoch resumed mid-way counts its batches from before, too
            self.history.record("train_batch_count", len(train_batches(self.history[-1])))

    def _nonfinite(self, loss) -> bool:
        grads = [p.grad for p in self.module_.parameters() if p.grad is not None]
        total = loss.detach().float().sum()
        if grads:
            total = total + torch.nn.utils.get_total_norm(grads, error_if_nonfinite=False).float()
        bad = not bool(torch.isfinite(total))
        if world()[1] > 1 and getattr(self, "accelerator", None) is not None:
            bad = mean_over_processes(float(bad)) > 0  # every process skips or raises together
        return bad

    def _step_optimizer(self, step_fn):
        # the closure once, then a plain step: the step can be withheld (and
        # GradScaler, under accelerate, takes no closure)
        loss = step_fn()
        if self._nonfinite(loss):
            for name in self._optimizers:
                getattr(self, name + "_").zero_grad(set_to_none=True)
            row = self.history[-1] if len(self.history) else {}
            epoch = row.get("epoch", len(self.history))
            batch = len(train_batches(row)) + 1
            # a skipped step must leave nothing non-finite behind (BatchNorm
            # statistics, memory banks updated by the forward pass)
            buffers_ok = all(bool(torch.isfinite(b).all()) for b in self.module_.buffers() if b.is_floating_point())
            if self.on_nonfinite == "skip" and buffers_ok:
                self.skipped_steps_ = getattr(self, "skipped_steps_", 0) + 1
                return
            where = f" The last checkpoint in {self.checkpoint_dir} is intact." if self.checkpoint_dir else ""
            raise NonFiniteLoss(
                f"non-finite training loss or gradient (loss={float(loss.detach().float().sum())}) at epoch "
                f"{epoch}, batch {batch}; the weights were not updated.{where} Lower lr, check the "
                "inputs, or set on_nonfinite='skip' to skip such batches."
            )
        for name in self._optimizers:
            getattr(self, name + "_").step()
