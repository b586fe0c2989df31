"""skorch callbacks of every trained estimator: checkpoint/resume, early stopping, loss parts."""

from __future__ import annotations

import math
import signal
import threading
import time
from pathlib import Path

import torch
from skorch.callbacks import Callback

from .._distributed import agree, world
from ._checkpoint import (
    BEST,
    HISTORY,
    OPTIMIZER,
    PARAMS,
    _state,
    checkpoint_folder,
    load_state_file,
    read_checkpoint,
    set_rng_state,
    write_checkpoint,
)


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


def train_batches(row) -> list:
    """The training batches recorded in a history row."""
    return [b for b in row.get("batches", []) if "train_loss" in b]


def load_checkpoint(net, dirname) -> dict:
    """Restore weights, optimizer state, history and RNG states into an initialised net.

    With the RNG states restored, the epochs after a resume shuffle and augment
    as an uninterrupted fit would. Returns the checkpoint's record (``rng``,
    and ``position``, not None for a checkpoint written mid-epoch).
    """
    from skorch.history import History

    record = read_checkpoint(dirname)
    folder = record["folder"]
    unwrapped(net).load_state_dict(load_state_file(folder / PARAMS))
    net.optimizer_.load_state_dict(torch.load(folder / OPTIMIZER, map_location=net.device, weights_only=True))
    net.history = History.from_file(str(folder / HISTORY))
    set_rng_state(record["rng"])
    return record


class TrainingControl(Callback):
    """Early stopping with restore of the best epoch, and per-epoch checkpoints.

    At the end of every epoch, in this order: track the best ``monitor`` value and
    keep a copy of those weights; write the checkpoint (weights, best weights,
    optimizer state, RNG states, history, fingerprint: written whole, then
    swapped in, so a killed process or a full disk leaves the previous complete
    checkpoint); stop when ``patience`` epochs passed without improvement. At
    the end of training the best weights are loaded back. On resume the state is
    rebuilt from the history and the checkpoint's best weights.

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
    fingerprint : dict or None, default=None
        What the fit is (parameters and data), written with every checkpoint
        and compared on resume.
    """

    def __init__(self, patience=5, monitor="valid_loss", dirname=None, threshold=1e-4, fingerprint=None):
        self.patience = patience
        self.monitor = monitor
        self.dirname = dirname
        self.threshold = threshold
        self.fingerprint = fingerprint

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
        folder = checkpoint_folder(self.dirname) if self.dirname is not None else None
        if folder is not None and (folder / BEST).is_file() and self.best_epoch_ is not None:
            self.best_state_ = load_state_file(folder / BEST)

    def _improved(self, value) -> bool:
        if not math.isfinite(self.best_):
            return math.isfinite(value)
        margin = abs(self.best_) * self.threshold
        return value < self.best_ - margin

    def save(self, net, *, best_state=None, position=None) -> None:
        """Write a checkpoint of ``net`` now (main process only; nothing without ``dirname``)."""
        if self.dirname is None or not is_main_process(net):
            return
        write_checkpoint(self.dirname, module_state=unwrapped(net), optimizer=net.optimizer_,
                         history=net.history, best_state=best_state, position=position,
                         fingerprint=self.fingerprint)

    def on_epoch_end(self, net, **kwargs):
        row = net.history[-1]
        value = row.get(self.monitor)
        stop, improved = False, False
        if value is not None:
            # across processes, rank 0 decides (the losses in the history are
            # already averaged over the processes): all stop at the same epoch
            improved = _agree(net, self._improved(value))
            if improved:
                self.best_, self.best_epoch_, self.misses_ = value, row["epoch"], 0
                self.best_state_ = _state(unwrapped(net))
            else:
                self.misses_ += 1
            stop = _agree(net, self.patience is not None and self.misses_ >= self.patience)
            if stop:
                net.history.record("stopped_early", True)
        self.save(net, best_state=self.best_state_ if improved else None)
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


def checkpoint_interval(every):
    """``checkpoint_every`` as ``(steps, seconds)``: an int counts steps, "<x>min"/"<x>h" is time.

    Raises a ValueError for any other string or a time that is not positive.
    """
    if every is None:
        return None, None
    if not isinstance(every, str):
        return int(every), None
    text = every.strip().lower()
    for suffix, scale in (("min", 60.0), ("h", 3600.0)):
        if text.endswith(suffix):
            try:
                seconds = float(text[: -len(suffix)]) * scale
            except ValueError:
                break
            if seconds > 0:
                return None, seconds
            break
    raise ValueError(f"checkpoint_every must be a number of steps or a time like '30min' or '2h', got {every!r}")


class Interruption(Callback):
    """Stop cleanly on SIGTERM/SIGINT, and checkpoint in the middle of long epochs.

    On SIGTERM or SIGINT the current optimizer step finishes; then, in a single
    process with a checkpoint folder, a mid-epoch checkpoint is written (weights,
    optimizer, RNG states, the epoch's sample order and the samples consumed)
    and training stops; the estimator raises :class:`TrainingInterrupted`. A
    second signal of the same kind acts at once, as it would without the fit.
    ``resume=True`` then continues at the next step, as the uninterrupted fit
    would have. Across processes (accelerate) every process stops at the same
    step and the fit resumes from the start of the epoch (the last epoch-end
    checkpoint).

    Parameters
    ----------
    every : int, str or None
        Also write a mid-epoch checkpoint every this many optimizer steps (int)
        or this much time ("30min", "2h"), against hard kills.
    sampler : EpochOrder or None
        The training order (None across processes: no mid-epoch checkpoints).
    """

    def __init__(self, every=None, sampler=None):
        self.every = every
        self.sampler = sampler

    def initialize(self):
        self.requested_ = None
        self.interrupted_ = None
        self._previous = {}
        return self

    def _handle(self, signum, frame):
        if self.requested_ is not None:  # the second one: as without the fit
            signal.signal(signum, self._previous.get(signum, signal.SIG_DFL))
            signal.raise_signal(signum)
            return
        self.requested_ = signum

    def on_train_begin(self, net, **kwargs):
        self.initialize()
        self._steps, self._last = 0, time.monotonic()
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._previous[sig] = signal.signal(sig, self._handle)

    def restore_handlers(self) -> None:
        """Put back the signal handlers of before the fit (also after a fit that raised)."""
        for sig, handler in getattr(self, "_previous", {}).items():
            signal.signal(sig, handler)
        self._previous = {}

    def on_train_end(self, net, **kwargs):
        self.restore_handlers()

    def _position(self, net):
        row = net.history[-1]
        consumed = sum(int(b["train_batch_size"]) for b in train_batches(row))
        return {"epoch": int(row["epoch"]), "consumed": consumed,
                "order": torch.as_tensor(self.sampler.order, dtype=torch.int64)}

    def _mid_epoch_save(self, net) -> bool:
        if self.sampler is None or self.sampler.order is None:
            return False
        dict(net.callbacks_)["control"].save(net, position=self._position(net))
        return dict(net.callbacks_)["control"].dirname is not None

    def on_batch_end(self, net, training=False, **kwargs):
        if not training:
            return
        self._steps += 1
        if _agree(net, self.requested_ is not None):
            row = net.history[-1]
            saved = self._mid_epoch_save(net)
            self.interrupted_ = {"signal": signal.Signals(self.requested_ or signal.SIGTERM).name,
                                 "epoch": int(row["epoch"]), "batch": len(train_batches(row)), "saved": saved}
            raise KeyboardInterrupt
        steps, seconds = checkpoint_interval(self.every)
        due = (steps is not None and self._steps % steps == 0) or (
            seconds is not None and time.monotonic() - self._last >= seconds)
        if due:
            self._mid_epoch_save(net)
            self._last = time.monotonic()

    def on_epoch_end(self, net, **kwargs):
        # a signal during validation: the epoch's checkpoint is written, stop now
        if _agree(net, self.requested_ is not None):
            self.interrupted_ = {"signal": signal.Signals(self.requested_ or signal.SIGTERM).name,
                                 "epoch": int(net.history[-1]["epoch"]), "batch": None,
                                 "saved": dict(net.callbacks_)["control"].dirname is not None}
            raise KeyboardInterrupt


class SkippedData(Callback):
    """Count what a fit skipped: unreadable images and non-finite steps.

    Batches read with ``on_bad_image="skip"`` carry the dataset rows they left
    out under the key ``"skipped"`` (removed here before the step); steps skipped
    with ``on_nonfinite="skip"`` are counted by the net. Each epoch with skips
    records ``skipped_images`` and ``skipped_steps`` in the history, and its
    ``train_loss`` is the mean over the steps taken. ``rows_`` holds every
    skipped dataset row.
    """

    def initialize(self):
        self.rows_ = set()
        return self

    def on_epoch_begin(self, net, **kwargs):
        self._images = 0
        self._steps = getattr(net, "skipped_steps_", 0)

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        X = batch[0] if isinstance(batch, (tuple, list)) else None
        if isinstance(X, dict) and "skipped" in X:
            rows = X.pop("skipped").tolist()
            self.rows_.update(rows)
            self._images += len(rows)

    def on_epoch_end(self, net, **kwargs):
        steps = getattr(net, "skipped_steps_", 0) - self._steps
        if self._images:
            net.history.record("skipped_images", self._images)
        if steps:
            net.history.record("skipped_steps", steps)
            losses = [b["train_loss"] for b in train_batches(net.history[-1]) if math.isfinite(b["train_loss"])]
            sizes = [b["train_batch_size"] for b in train_batches(net.history[-1])
                     if math.isfinite(b["train_loss"])]
            if losses:
                net.history.record("train_loss", sum(v * n for v, n in zip(losses, sizes)) / sum(sizes))


class RecordLossParts(Callback):
    """Record per-modality losses (``train_loss_<m>``, ``valid_loss_<m>``) in the history.

    Reads ``net.criterion_.last_parts`` (a dict of floats) after every batch and
    records it with the batch; at the end of the epoch the means over the
    epoch's batches (weighted by their sizes; a fit resumed mid-epoch includes
    the batches before the interruption) enter the epoch's row.
    """

    def on_batch_end(self, net, batch=None, training=None, **kwargs):
        parts = getattr(net.criterion_, "last_parts", None) or {}
        prefix = "train" if training else "valid"
        for name, value in parts.items():
            net.history.record_batch(f"{prefix}_loss_{name}", float(value))

    def on_epoch_end(self, net, **kwargs):
        sums = {}
        for b in net.history[-1].get("batches", []):
            for key, value in b.items():
                prefix = key.split("_", 1)[0]
                if not key.startswith(("train_loss_", "valid_loss_")) or not math.isfinite(value):
                    continue
                n = b.get(f"{prefix}_batch_size", 1)
                total, count = sums.get(key, (0.0, 0))
                sums[key] = (total + value * n, count + n)
        if across_processes(net):
            # every process's sums, merged: each records the global means
            import torch.distributed as dist

            everyone = [None] * world()[1]
            dist.all_gather_object(everyone, sums)
            sums = {}
            for part in everyone:
                for key, (total, count) in part.items():
                    t0, c0 = sums.get(key, (0.0, 0))
                    sums[key] = (t0 + total, c0 + count)
        for key, (total, count) in sorted(sums.items()):
            net.history.record(key, total / max(count, 1))


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


def planned_steps(net, X) -> int:
    """Optimizer steps of the whole fit: ``steps_per_epoch`` times ``max_epochs``."""
    return steps_per_epoch(net, len(X) if X is not None else 0) * int(net.max_epochs)


def cosine_decay(step: int, total: int) -> float:
    """``(1 + cos(pi * min(step / total, 1))) / 2``: 1 at the first step, 0 from ``total`` on (1 if no steps)."""
    if total <= 0:
        return 1.0
    return (1.0 + math.cos(math.pi * min(step / total, 1.0))) / 2.0


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
        self.total_steps_ = planned_steps(net, X)
        self.step_ = sum(int(row.get("train_batch_count", len(train_batches(row)))) for row in net.history)
        self.base_lrs_ = [group.get("initial_lr", net.lr) for group in net.optimizer_.param_groups]
        for group, lr in zip(net.optimizer_.param_groups, self.base_lrs_):
            group.setdefault("initial_lr", lr)

    def factor(self, step: int) -> float:
        """Learning-rate multiplier of training step ``step`` (0-based)."""
        return self.final + (1.0 - self.final) * cosine_decay(step, self.total_steps_)

    def on_batch_begin(self, net, training=False, **kwargs):
        if training:
            f = self.factor(self.step_)
            for group, lr in zip(net.optimizer_.param_groups, self.base_lrs_):
                group["lr"] = lr * f

    def on_batch_end(self, net, training=False, **kwargs):
        if training:
            self.step_ += 1
