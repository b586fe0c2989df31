"""Two-view networks of the image-only self-supervised baselines (paper Table 1).

Each module takes a batch of raw images, draws two augmented views on the
device (:class:`~sklearn_contig.models.BatchAugment`, also in eval mode so a
validation loss compares two views), embeds both with the shared
:class:`~sklearn_contig.models.ImageEncoder` in one backbone pass, and returns a
dict whose ``"loss_inputs"`` are the keyword arguments of the method's loss in
:mod:`sklearn_contig.losses.ssl`. Stateful parts that change outside gradient
descent -- BYOL's momentum target network, the memory bank of SimCLR and
NNCLR's support set -- are updated by skorch callbacks after each training
step (:meth:`BYOLModule.update_target`, :meth:`MemoryBank.enqueue`), never in
``forward``; they live in the state dict, so checkpoints resume them. Under
``torch.distributed`` the rows to enqueue are those of the global batch (all
processes, in rank order), so every process holds the same memory bank.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from .._distributed import gather_rows
from .contig import autocast_context
from .encoders import ImageEncoder
from .heads import (
    BarlowTwinsProjectionHead,
    BYOLProjectionHead,
    NNCLRPredictionHead,
    NNCLRProjectionHead,
    SimCLRProjectionHead,
    SimSiamPredictionHead,
    SimSiamProjectionHead,
)

# ---------------------------------------------------------------- memory bank


class MemoryBank(nn.Module):
    """First-in first-out queue of embeddings, kept as buffers.

    The negatives bank of SimCLR with a memory bank, and NNCLR's support set.
    Entries are detached float32 copies; the state dict holds the queue, its
    write position and fill level, so a resumed fit continues with it.

    Parameters
    ----------
    size : int
        Capacity (0: always empty).
    dim : int
        Width of the stored embeddings.

    Examples
    --------
    >>> import torch
    >>> bank = MemoryBank(4, 2)
    >>> bank.enqueue(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    >>> bank.get().shape
    torch.Size([2, 2])
    >>> bank.nearest(torch.tensor([[0.1, 0.9]]))
    tensor([[0., 1.]])
    """

    def __init__(self, size: int, dim: int):
        super().__init__()
        if size < 0 or dim < 1:
            raise ValueError(f"need size >= 0 and dim >= 1, got size={size}, dim={dim}")
        self.size = int(size)
        self.dim = int(dim)
        self.register_buffer("bank", torch.zeros(self.size, self.dim))
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    def __len__(self) -> int:
        return int(self.count)

    def get(self) -> torch.Tensor:
        """The filled entries, (len(self), dim); oldest-first order is not kept."""
        return self.bank[: int(self.count)]

    @torch.no_grad()
    def enqueue(self, x: torch.Tensor) -> None:
        """Add the rows of ``x`` (n, dim), replacing the oldest entries when full."""
        if self.size == 0:
            return
        x = x.detach().to(self.bank.dtype)[-self.size :]
        n = x.shape[0]
        idx = (int(self.ptr) + torch.arange(n, device=self.bank.device)) % self.size
        self.bank[idx] = x.to(self.bank.device)
        self.ptr.fill_((int(self.ptr) + n) % self.size)
        self.count.fill_(min(self.size, int(self.count) + n))

    @torch.no_grad()
    def nearest(self, z: torch.Tensor) -> torch.Tensor:
        """Nearest stored entry (cosine similarity) of each row of ``z`` (n, dim).

        Returns an (n, dim) tensor of stored rows; ``z`` itself (detached) while
        the bank is empty.
        """
        stored = self.get()
        if stored.shape[0] == 0:
            return z.detach()
        sim = F.normalize(z.detach().float(), dim=1) @ F.normalize(stored, dim=1).T  # (n, len)
        return stored[sim.argmax(dim=1)].to(z.dtype)


# ------------------------------------------------------------------- modules


class TwoViewModule(nn.Module):
    """Base of the baselines' networks: two augmented views through one encoder.

    Subclasses define ``_heads(h1, h2, individual)`` returning the output dict.

    Parameters
    ----------
    image_encoder : ImageEncoder
    augment : nn.Module, default=None
        Applied to [0, 1] images to draw each view, in training *and* eval mode
        (``augment(x, force=True)``); None makes both views the input itself.
    """

    def __init__(self, image_encoder: ImageEncoder, augment: nn.Module | None = None):
        super().__init__()
        self.image_encoder = image_encoder
        self.augment = augment
        self.autocast_dtype = None

    def views(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Two augmented views of a raw batch, as [0, 1] floats."""
        x = self.image_encoder.to_unit(image)
        if self.augment is None:
            return x, x
        return self.augment(x, force=True), self.augment(x, force=True)

    def embed_views(self, image: torch.Tensor, encoder: ImageEncoder | None = None):
        """Backbone embeddings (n, d) of the two views, computed in one pass."""
        encoder = self.image_encoder if encoder is None else encoder
        v1, v2 = self.views(image)
        h = encoder.backbone(encoder.normalize(torch.cat([v1, v2])))
        return h.chunk(2)

    def forward(self, image, individual=None):
        with autocast_context(image.device.type, self.autocast_dtype):
            h1, h2 = self.embed_views(image)
            out = self._heads(h1, h2, individual)
        out["embedding"] = h1
        return out

    def _heads(self, h1, h2, individual):  # pragma: no cover - abstract
        raise NotImplementedError


def _both(head: nn.Module, a: torch.Tensor, b: torch.Tensor):
    """Apply ``head`` to two halves in one pass (shared BatchNorm statistics)."""
    return head(torch.cat([a, b])).chunk(2)


class SimCLRModule(TwoViewModule):
    """SimCLR: encoder + projection head; optional memory bank of negatives.

    Parameters
    ----------
    image_encoder : ImageEncoder
    hidden_dim : int, default=2048
    projection_dim : int, default=128
    memory_bank_size : int, default=0
        Capacity of the bank of earlier view-2 projections used as extra
        negatives (filled by :meth:`MemoryBank.enqueue` after each step).
    augment : nn.Module, default=None
    """

    def __init__(self, image_encoder, hidden_dim=2048, projection_dim=128, memory_bank_size=0, augment=None):
        super().__init__(image_encoder, augment)
        self.projector = SimCLRProjectionHead(image_encoder.out_dim, hidden_dim, projection_dim)
        self.memory_bank = MemoryBank(memory_bank_size, projection_dim)

    def _heads(self, h1, h2, individual):
        z1, z2 = _both(self.projector, h1, h2)
        negatives = self.memory_bank.get() if self.memory_bank.size else None
        return {
            "loss_inputs": {"z1": z1, "z2": z2, "negatives": negatives, "individual": individual},
            "enqueue": gather_rows(z2),
        }


class BYOLModule(TwoViewModule):
    """BYOL: online encoder + projector + predictor; target = EMA of encoder + projector.

    The target network is a copy of the online encoder and projector whose
    parameters never require gradients; :meth:`update_target` moves them
    towards the online ones, ``t <- m t + (1 - m) o``. The training step counter
    of the momentum schedule is the buffer ``momentum_step``.

    Parameters
    ----------
    image_encoder : ImageEncoder
    hidden_dim : int, default=4096
    projection_dim : int, default=256
    predictor_hidden_dim : int, default=4096
    augment : nn.Module, default=None
    """

    def __init__(self, image_encoder, hidden_dim=4096, projection_dim=256, predictor_hidden_dim=4096, augment=None):
        super().__init__(image_encoder, augment)
        self.projector = BYOLProjectionHead(image_encoder.out_dim, hidden_dim, projection_dim)
        self.predictor = BYOLProjectionHead(projection_dim, predictor_hidden_dim, projection_dim)
        self.target_encoder = copy.deepcopy(image_encoder)
        self.target_projector = copy.deepcopy(self.projector)
        for p in self.target_parameters():
            p.requires_grad_(False)
        self.register_buffer("momentum_step", torch.zeros((), dtype=torch.long))

    def online_parameters(self):
        """Parameters of the online encoder and projector, in target order."""
        yield from self.image_encoder.parameters()
        yield from self.projector.parameters()

    def target_parameters(self):
        """Parameters of the target encoder and projector."""
        yield from self.target_encoder.parameters()
        yield from self.target_projector.parameters()

    @torch.no_grad()
    def update_target(self, momentum: float) -> None:
        """Exponential moving average step: ``target <- m * target + (1 - m) * online``."""
        for t, o in zip(self.target_parameters(), self.online_parameters()):
            t.mul_(momentum).add_(o.detach(), alpha=1.0 - momentum)

    def forward(self, image, individual=None):
        with autocast_context(image.device.type, self.autocast_dtype):
            v1, v2 = self.views(image)
            both = torch.cat([v1, v2])
            enc = self.image_encoder
            h = enc.backbone(enc.normalize(both))
            p1, p2 = self.predictor(self.projector(h)).chunk(2)
            with torch.no_grad():
                tenc = self.target_encoder
                t1, t2 = self.target_projector(tenc.backbone(tenc.normalize(both))).chunk(2)
        return {"loss_inputs": {"p1": p1, "p2": p2, "t1": t1, "t2": t2}, "embedding": h.chunk(2)[0]}


class BarlowTwinsModule(TwoViewModule):
    """Barlow Twins: encoder + 3-layer BN projector.

    Parameters
    ----------
    image_encoder : ImageEncoder
    hidden_dim : int, default=8192
    projection_dim : int, default=8192
    augment : nn.Module, default=None
    """

    def __init__(self, image_encoder, hidden_dim=8192, projection_dim=8192, augment=None):
        super().__init__(image_encoder, augment)
        self.projector = BarlowTwinsProjectionHead(image_encoder.out_dim, hidden_dim, projection_dim)

    def _heads(self, h1, h2, individual):
        z1, z2 = _both(self.projector, h1, h2)
        return {"loss_inputs": {"z1": z1, "z2": z2}}


class SimSiamModule(TwoViewModule):
    """SimSiam: encoder + 3-layer BN projector + bottleneck predictor.

    Parameters
    ----------
    image_encoder : ImageEncoder
    hidden_dim : int, default=2048
    projection_dim : int, default=2048
    predictor_hidden_dim : int, default=512
    augment : nn.Module, default=None
    """

    def __init__(self, image_encoder, hidden_dim=2048, projection_dim=2048, predictor_hidden_dim=512, augment=None):
        super().__init__(image_encoder, augment)
        self.projector = SimSiamProjectionHead(image_encoder.out_dim, hidden_dim, projection_dim)
        self.predictor = SimSiamPredictionHead(projection_dim, predictor_hidden_dim, projection_dim)

    def _heads(self, h1, h2, individual):
        z1, z2 = _both(self.projector, h1, h2)
        p1, p2 = _both(self.predictor, z1, z2)
        return {"loss_inputs": {"p1": p1, "p2": p2, "z1": z1, "z2": z2}}


class NNCLRModule(TwoViewModule):
    """NNCLR: encoder + BN projector + predictor, and a support set of projections.

    The positive of each view is the nearest neighbour of the *other* view's
    projection in the support set (the batch's own projections while the set is
    empty); after each training step the view-1 projections are added to it.

    Parameters
    ----------
    image_encoder : ImageEncoder
    hidden_dim : int, default=2048
    projection_dim : int, default=256
    predictor_hidden_dim : int, default=4096
    support_set_size : int, default=4096
    augment : nn.Module, default=None
    """

    def __init__(self, image_encoder, hidden_dim=2048, projection_dim=256, predictor_hidden_dim=4096,
                 support_set_size=4096, augment=None):
        super().__init__(image_encoder, augment)
        self.projector = NNCLRProjectionHead(image_encoder.out_dim, hidden_dim, projection_dim)
        self.predictor = NNCLRPredictionHead(projection_dim, predictor_hidden_dim, projection_dim)
        self.memory_bank = MemoryBank(support_set_size, projection_dim)

    def _heads(self, h1, h2, individual):
        z1, z2 = _both(self.projector, h1, h2)
        p1, p2 = _both(self.predictor, z1, z2)
        nn1, nn2 = self.memory_bank.nearest(z1), self.memory_bank.nearest(z2)
        return {
            "loss_inputs": {"nn1": nn1, "nn2": nn2, "p1": p1, "p2": p2, "individual": individual},
            "enqueue": gather_rows(z1),
        }
