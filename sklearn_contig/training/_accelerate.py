"""Training across processes and GPUs with Hugging Face accelerate (optional)."""

import torch
from skorch.callbacks import LRScheduler
from skorch.hf import AccelerateMixin

from .._distributed import mean_over_processes, world
from ._net import TrainingNet


def print_on_main(text) -> None:
    """``print`` in the main process (rank 0) only: the epoch table of a multi-process fit."""
    if world()[0] == 0:
        print(text)


def discard(text) -> None:
    """A print sink that prints nothing (``verbose=0``)."""


def _has_trainable(module) -> bool:
    return any(p.requires_grad for p in module.parameters())


class AcceleratedNet(AccelerateMixin, TrainingNet):
    """skorch ``NeuralNet`` driven by an ``accelerate.Accelerator``.

    The Accelerator wraps the module in DistributedDataParallel, shards the data
    loaders across the processes started by ``accelerate launch`` or
    ``torchrun`` (each process reads only its share of the batches) and handles
    mixed precision. The losses gather the embeddings of all processes, so
    negatives come from the global batch.

    Differences from skorch's ``AccelerateMixin``:

    - the training order is one permutation of the samples per epoch, drawn
      from the global torch RNG, so k processes with batch ``b`` see the
      batches one process with batch ``k * b`` sees;
    - a criterion without trainable parameters (all of ours) is not prepared:
      DistributedDataParallel refuses modules without gradients;
    - the training and validation loss of every batch is averaged over the
      processes before it enters the history, so every process records the
      same values and early stopping takes the same decision everywhere;
    - ``sklearn_contig.training.NetEstimator`` copies rank 0's parameters and
      buffers (BatchNorm statistics, memory banks) to every process after
      training, so all processes hold identical weights.
    """

    # the guarded step of TrainingNet (it calls the closure and steps as accelerate does)
    _step_optimizer = TrainingNet._step_optimizer

    def _initialize_accelerator(self):
        if self._wrapped_with_accelerator:
            return self
        with self._current_init_context("criterion"):
            for name in self._criteria:
                criterion = getattr(self, name + "_")
                if isinstance(criterion, torch.nn.Module) and _has_trainable(criterion):
                    setattr(self, name + "_", self.accelerator.prepare(criterion))
        with self._current_init_context("module"):
            for name in self._modules:
                module = getattr(self, name + "_")
                if isinstance(module, torch.nn.Module):
                    setattr(self, name + "_", self.accelerator.prepare(module))
        with self._current_init_context("optimizer"):
            for name in self._optimizers:
                optimizer = getattr(self, name + "_")
                if isinstance(optimizer, torch.optim.Optimizer):
                    setattr(self, name + "_", self.accelerator.prepare(optimizer))
        for _, callback in self.callbacks_:
            if isinstance(callback, LRScheduler):
                callback.policy_ = self.accelerator.prepare(callback.policy_)
        self._wrapped_with_accelerator = True
        return self

    def get_params_for(self, prefix):
        kwargs = super().get_params_for(prefix)
        if prefix == "iterator_train" and kwargs.get("shuffle") and kwargs.get("generator") is None:
            # The epoch's order from a generator seeded by the global RNG (which
            # checkpoints restore): the same permutation of the samples whatever
            # the number of processes, each process reading its share of it.
            generator = torch.Generator()
            generator.manual_seed(int(torch.empty((), dtype=torch.int64).random_().item()))
            kwargs["generator"] = generator
        return kwargs

    def _global_loss(self, step: dict) -> dict:
        if world()[1] > 1:
            loss = step["loss"]
            value = mean_over_processes(float(loss.detach()))
            step = {**step, "loss": torch.tensor(value, dtype=loss.dtype, device=loss.device)}
        return step

    def train_step(self, batch, **fit_params):
        return self._global_loss(super().train_step(batch, **fit_params))

    def validation_step(self, batch, **fit_params):
        return self._global_loss(super().validation_step(batch, **fit_params))

