"""skorch callbacks of every trained estimator: checkpoint/resume, early stopping, loss parts."""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch
from skorch.callbacks import Callback

from .._distributed import agree, world

PARAMS = "last_module.safetensors"
OPTIMIZER = "last_optimizer.pt"
HISTORY = "history.json"
BEST = "best_module.safetensors"
RNG = "last_rng.pt"


def _atomic(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def _state(module) -> dict:
    return {k: v.detach().cpu().clone().contiguous() for k, v in module.state_dict().items()}


def unwrapped(net):
    """The plain module of a net (unwrapped from DistributedDataParallel under accelerate)."""
    accelerator = getattr(net, "accelerator", None)
    return net.module_ if accelerator is None else accelerator.unwrap_model(net.module_)


def is_main_process(net) -> bool:
    """Whether this process writes files and prints (always, without accelerate)."""
    accelerator = getattr(net, "accelerator", None)
    return accelerator is None or accelerator.is_main_process


def across_processes(net) -> bool:
    """Whether ``net`` trains across several processes (an Accelerator under torch.distributed)."""
    return getattr(net, "accelerator", None) is not None and world()[1] > 1


def _agree(net, flag: bool) -> bool:
    """Rank 0's ``flag`` when ``net`` trains across processes, else ``flag``."""
    return agree(flag) if across_processes(net) else bool(flag)


def save_state_file(module, path: Path) -> None:
    """Write a module's state dict as safetensors, atomically."""
    from safetensors.torch import save_file

    state = _state(module)
    _atomic(Path(path), lambda p: save_file(state, str(p)))


def load_state_file(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path))


def has_checkpoint(dirname) -> bool:
    """Whether ``dirname`` holds a complete resumable checkpoint."""
    d = Path(dirname)
    return all((d / f).is_file() for f in (PARAMS, OPTIMIZER, HISTORY))


def rng_state() -> dict:
    """The torch random number generator states (CPU, and every visible GPU)."""
    state = {"cpu": torch.random.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.random.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def load_checkpoint(net, dirname) -> None:
    """Restore module weights, optimizer state, history and RNG states into an initialised net.

    With the RNG states restored, the epochs after a resume shuffle and augment
    as an uninterrupted fit would.
    """
    from skorch.history import History

    d = Path(dirname)
    unwrapped(net).load_state_dict(load_state_file(d / PARAMS))
    net.optimizer_.load_state_dict(torch.load(d / OPTIMIZER, map_location=net.device, weights_only=True))
    net.history = History.from_file(str(d / HISTORY))
    if (d / RNG).is_file():
        set_rng_state(torch.load(d / RNG, weights_only=True))


class TrainingControl(Callback):
    """Early stopping with restore of the best epoch, and per-epoch checkpoints.

    At the end of every epoch, in this order: track the best ``monitor`` value and
    keep a copy of those weights; write the checkpoint (weights, optimizer state,
    RNG states, history; each file replaced atomically, so a killed process leaves the last
    complete epoch); stop when ``patience`` epochs passed without improvement. At
    the end of training the best weights are loaded back. On resume the state is
    rebuilt from the history and the best-weights file.

    Parameters
    ----------
    patience : int or None, default=5
        Epochs without improvement before stopping; None never stops early.
    monitor : str, default="valid_loss"
        History key to minimise; when absent (no validation set) only
        checkpointing happens and the last epoch is kept.
    dirname : str or Path or None, default=None
        Checkpoint folder; None writes nothing.
    threshold : float, default=1e-4
        Relative improvement that counts.
    """

    def __init__(self, patience=5, monitor="valid_loss", dirname=None, threshold=1e-4):
        self.patience = patience
        self.monitor = monitor
        self.dirname = dirname
        self.threshold = threshold

    def initialize(self):
        self.stop_ = False
        self.best_ = math.inf
        self.best_epoch_ = None
        self.misses_ = 0
        self.best_state_ = None
        return self

    def on_train_begin(self, net, **kwargs):
        self.initialize()
        if self.dirname is not None:
            Path(self.dirname).mkdir(parents=True, exist_ok=True)
        for row in net.history:
            value = row.get(self.monitor)
            if value is None:
                continue
            if self._improved(value):
                self.best_, self.best_epoch_, self.misses_ = value, row["epoch"], 0
            else:
                self.misses_ += 1
        if self.dirname is not None and (Path(self.dirname) / BEST).is_file() and self.best_epoch_ is not None:
            self.best_state_ = load_state_file(Path(self.dirname) / BEST)

    def _improved(self, value) -> bool:
        if not math.isfinite(self.best_):
            return math.isfinite(value)
        margin = abs(self.best_) * self.threshold
        return value < self.best_ - margin

    def on_epoch_end(self, net, **kwargs):
        row = net.history[-1]
        value = row.get(self.monitor)
        stop = False
        if value is not None:
            # across processes, rank 0 decides (the losses in the history are
            # already averaged over the processes): all stop at the same epoch
            if _agree(net, self._improved(value)):
                self.best_, self.best_epoch_, self.misses_ = value, row["epoch"], 0
                self.best_state_ = _state(unwrapped(net))
                if self.dirname is not None and is_main_process(net):
                    save_state_file(unwrapped(net), Path(self.dirname) / BEST)
            else:
                self.misses_ += 1
            stop = _agree(net, self.patience is not None and self.misses_ >= self.patience)
            if stop:
                net.history.record("stopped_early", True)
        if self.dirname is not None and is_main_process(net):
            d = Path(self.dirname)
            save_state_file(unwrapped(net), d / PARAMS)
            _atomic(d / OPTIMIZER, lambda p: torch.save(net.optimizer_.state_dict(), p))
            _atomic(d / RNG, lambda p: torch.save(rng_state(), p))
            # the history last: a checkpoint counts as complete once it is written
            _atomic(d / HISTORY, lambda p: net.history.to_file(str(p)))
        # Stop at the start of the next epoch, so that the other callbacks (the
        # epoch table among them) still see this one.
        self.stop_ = stop

    def on_epoch_begin(self, net, **kwargs):
        if self.stop_:
            # the net has already opened the row of the epoch that will not run
            if len(net.history) and set(net.history[-1]) <= {"epoch", "batches"}:
                net.history.pop()
            if net.verbose and is_main_process(net):
                print(f"Stopping early: no {self.monitor} improvement for {self.patience} epochs.")
            raise KeyboardInterrupt

    def on_train_end(self, net, **kwargs):
        if self.best_state_ is not None:
            if net.verbose and is_main_process(net) and net.history[-1]["epoch"] != self.best_epoch_:
                print(f"Restoring the weights of epoch {self.best_epoch_} ({self.monitor}={self.best_:.4f}).")
            unwrapped(net).load_state_dict(self.best_state_)
        self.best_state_ = None  # do not keep a second copy of the weights on the estimator


class RecordLossParts(Callback):
    """Record per-modality losses (``train_loss_<m>``, ``valid_loss_<m>``) in the history.

    Reads ``net.criterion_.last_parts`` (a dict of floats) after every batch.
    """

    def on_epoch_begin(self, net, **kwargs):
        self._sums = {}

    def on_batch_end(self, net, batch=None, training=None, **kwargs):
        parts = getattr(net.criterion_, "last_parts", None) or {}
        prefix = "train" if training else "valid"
        n = len(batch[1]) if batch is not None else 1
        for name, value in parts.items():
            total, count = self._sums.get((prefix, name), (0.0, 0))
            self._sums[(prefix, name)] = (total + value * n, count + n)

    def on_epoch_end(self, net, **kwargs):
        if across_processes(net):
            # every process's sums, merged: each records the global means
            import torch.distributed as dist

            everyone = [None] * world()[1]
            dist.all_gather_object(everyone, self._sums)
            merged = {}
            for sums in everyone:
                for key, (total, count) in sums.items():
                    t0, c0 = merged.get(key, (0.0, 0))
                    merged[key] = (t0 + total, c0 + count)
            self._sums = merged
        for (prefix, name), (total, count) in sorted(self._sums.items()):
            net.history.record(f"{prefix}_loss_{name}", total / max(count, 1))


def steps_per_epoch(net, n_samples: int) -> int:
    """Optimizer steps one epoch of ``n_samples`` training samples takes in ``net``.

    Across processes each process steps through its share of the batches
    (accelerate's sharding: whole batches of ``batch_size``, the last one
    completed when they do not divide evenly).
    """
    bs = int(net.batch_size)
    drop = bool(getattr(net, "iterator_train__drop_last", False))
    batches = n_samples // bs if drop else -(-n_samples // bs)
    processes = world()[1] if getattr(net, "accelerator", None) is not None else 1
    if processes > 1:
        batches = batches // processes if drop else -(-batches // processes)
    return max(1, batches)


class CosineSchedule(Callback):
    """Cosine decay of the learning rate over the planned optimizer steps, set per batch.

    ``lr_k = lr * (final + (1 - final) * (1 + cos(pi k / K)) / 2)`` for training
    step ``k`` of ``K = steps_per_epoch * max_epochs``. ``k`` is counted from the
    history's ``train_batch_count``, so a resumed fit continues the schedule where
    the interrupted one was.

    Parameters
    ----------
    final : float, default=0.0
        Learning rate at the last step, as a fraction of the initial one.
    """

    def __init__(self, final=0.0):
        self.final = final

    def initialize(self):
        self.step_ = 0
        self.total_steps_ = 0
        return self

    def on_train_begin(self, net, X=None, **kwargs):
        n = len(X) if X is not None else 0
        self.total_steps_ = steps_per_epoch(net, n) * int(net.max_epochs)
        self.step_ = sum(int(row.get("train_batch_count", 0)) for row in net.history)
        self.base_lrs_ = [group.get("initial_lr", net.lr) for group in net.optimizer_.param_groups]
        for group, lr in zip(net.optimizer_.param_groups, self.base_lrs_):
            group.setdefault("initial_lr", lr)

    def factor(self, step: int) -> float:
        """Learning-rate multiplier of training step ``step`` (0-based)."""
        if self.total_steps_ <= 0:
            return 1.0
        frac = min(step / self.total_steps_, 1.0)
        return self.final + (1.0 - self.final) * (1.0 + math.cos(math.pi * frac)) / 2.0

    def on_batch_begin(self, net, training=False, **kwargs):
        if training:
            f = self.factor(self.step_)
            for group, lr in zip(net.optimizer_.param_groups, self.base_lrs_):
                group["lr"] = lr * f

    def on_batch_end(self, net, training=False, **kwargs):
        if training:
            self.step_ += 1
