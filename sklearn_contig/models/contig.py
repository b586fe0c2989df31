"""The ContIG network: image encoder, genetic encoders and one projection head per pair."""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from .._distributed import all_reduce_sum, has_sync_batchnorm, world
from .encoders import ImageEncoder
from .genetic import GeneticEncoder
from .heads import ProjectionHead


def autocast_context(device_type: str, dtype):
    """``torch.autocast`` for ``dtype`` (e.g. ``torch.bfloat16``), or a no-op for None."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device_type, dtype=dtype)


class ContIGModule(nn.Module):
    """Image encoder f_v, genetic encoders f_m and the projection heads p_v^m, p_m.

    ``forward(image, individual, **genetics)`` takes a batch from
    :class:`~sklearn_contig.data.CohortDataset` and returns a dict with the image
    embedding ``"embedding"`` (n, d), ``"pairs"`` {m: (z_image, z_genetic, mask)} for
    :class:`~sklearn_contig.losses.ContIGLoss`, and ``"individual"``.

    Each genetic encoder sees only the rows that have its modality, so missing
    rows never enter its BatchNorm statistics and get no gradient. A modality with
    a single present row in a training batch is skipped (BatchNorm needs two rows;
    the loss ignores such a modality anyway). A skipped encoder stays in the
    graph with a zero contribution, so every parameter gets a (zero) gradient,
    as DistributedDataParallel requires. With synchronised BatchNorm layers
    (``sync_batchnorm=True``) under ``torch.distributed`` the rows are counted
    over all processes: every process runs the encoder (and joins its
    collectives) unless fewer than 2 rows are present in the global batch.

    Parameters
    ----------
    image_encoder : ImageEncoder
    modality_dims : dict of str to int
        Number of input features per genetic modality.
    genetic_encoder : {"None", "H1", "H12"} or dict of str to str, default="H1"
    hidden_dim : int, default=2048
        Width of the genetic encoders and of the projection heads' hidden layer.
    projection_dim : int, default=128
    augment : nn.Module, default=None
        Batch augmentation applied to [0, 1] images in training mode.
    """

    def __init__(self, image_encoder: ImageEncoder, modality_dims: dict, genetic_encoder="H1",
                 hidden_dim: int = 2048, projection_dim: int = 128, augment: nn.Module | None = None):
        super().__init__()
        self.image_encoder = image_encoder
        self.augment = augment
        kinds = genetic_encoder if isinstance(genetic_encoder, dict) else {m: genetic_encoder for m in modality_dims}
        self.genetic_encoders = nn.ModuleDict(
            {m: GeneticEncoder(p, kinds[m], hidden=hidden_dim) for m, p in modality_dims.items()}
        )
        self.image_heads = nn.ModuleDict(
            {m: ProjectionHead(image_encoder.out_dim, hidden_dim, projection_dim) for m in modality_dims}
        )
        self.genetic_heads = nn.ModuleDict(
            {m: ProjectionHead(enc.out_dim, hidden_dim, projection_dim) for m, enc in self.genetic_encoders.items()}
        )
        self.autocast_dtype = None

    @property
    def modalities(self) -> list[str]:
        return list(self.genetic_encoders)

    def encode_image(self, image: torch.Tensor) -> torch.Tensor:
        """Image embedding h_v (augmented in training mode)."""
        return self.image_encoder(image, augment=self.augment if self.training else None)

    def encode_genetics(self, name: str, x: torch.Tensor, mask: torch.Tensor):
        """Genetic embedding of the present rows, scattered into an (n, d) zero tensor."""
        rows = torch.nonzero(mask, as_tuple=True)[0]
        enc = self.genetic_encoders[name]
        out = x.new_zeros((x.shape[0], enc.out_dim))
        present = rows.numel()
        synced = self.training and has_sync_batchnorm(enc) and world()[1] > 1
        if synced:
            # one collective, joined by every process whatever its rows
            present = int(all_reduce_sum(torch.tensor([float(present)], device=x.device)).item())
        if present == 0 or (self.training and present < 2) or (rows.numel() == 0 and not synced):
            if self.training:
                # zero contribution that keeps every parameter in the graph
                out = out + sum(p.sum() for p in enc.parameters()) * 0.0
            return out, torch.zeros_like(mask)
        return out.index_put((rows,), enc(x[rows]).to(out.dtype)), mask

    def project_image(self, name: str, h: torch.Tensor) -> torch.Tensor:
        """Image-side projection ``p_v^m(h)`` of image embeddings for modality ``name``."""
        return self.image_heads[name](h)

    def project_genetics(self, name: str, x: torch.Tensor, mask: torch.Tensor | None = None):
        """Genetic-side projection ``p_m(f_m(x))`` of modality ``name``.

        With ``mask`` (bool, row present) only the present rows are encoded and
        ``(z, used_mask)`` is returned, absent rows zero; without it every row of
        ``x`` is encoded and ``z`` alone is returned (the explainer's path).
        """
        if mask is None:
            return self.project_genetic_embedding(name, self.genetic_encoders[name](x))
        hg, used = self.encode_genetics(name, x, mask)
        return self.project_genetic_embedding(name, hg), used

    def project_genetic_embedding(self, name: str, hg: torch.Tensor) -> torch.Tensor:
        """Genetic-side projection ``p_m(hg)`` of genetic embeddings ``hg`` of modality ``name``."""
        return self.genetic_heads[name](hg)

    def project(self, h: torch.Tensor, genetics: dict) -> dict:
        """Projections per modality from the image embedding and the genetic inputs."""
        pairs = {}
        for name in self.genetic_encoders:
            zg, mask = self.project_genetics(name, genetics[name], genetics[f"{name}_mask"])
            pairs[name] = (self.project_image(name, h), zg, mask)
        return pairs

    def forward(self, image, individual=None, **genetics):
        with autocast_context(image.device.type, self.autocast_dtype):
            h = self.encode_image(image)
            pairs = self.project(h, genetics)
        return {"embedding": h, "pairs": pairs, "individual": individual}
