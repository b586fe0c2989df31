"""Reading the rows to explain: genetic values, masks, projections, and chunks for captum."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..data import CohortDataset
from ..data._schema import IMAGE


@dataclass
class EncodedRows:
    """Rows of a cohort Dataset read through the model (eval mode, no gradients).

    Attributes
    ----------
    x : dict of str to ndarray of shape (n, p_m)
        Raw genetic values (partial NaN filled, missing rows zero).
    present : dict of str to ndarray of shape (n,)
        Row has the modality.
    zv, zg : dict of str to Tensor of shape (n, k)
        Image-side and genetic-side projections per modality (on the model's device).
    image_mean : ndarray of shape (c, y, x)
        Mean image in [0, 1] at the encoder's input size.
    unit : Tensor of shape (n, c, y, x) or None
        The images in [0, 1] (CPU), when asked for.
    """

    x: dict = field(default_factory=dict)
    present: dict = field(default_factory=dict)
    zv: dict = field(default_factory=dict)
    zg: dict = field(default_factory=dict)
    image_mean: np.ndarray | None = None
    unit: torch.Tensor | None = None


@torch.no_grad()
def encode_rows(module, ds, rows, modalities, fill_values, device, *, batch_size=None,
                keep_images=False) -> EncodedRows:
    """Read ``rows`` of ``ds`` through ``module`` in inference batches.

    Modalities of ``modalities`` missing from ``ds`` count as absent for every row.
    """
    available = [m for m in modalities if m in ds]
    data = CohortDataset(ds, available, indices=rows, fill={m: fill_values[m] for m in available})
    parts = {k: {m: [] for m in modalities} for k in ("x", "present", "zv", "zg")}
    img_sum, units = None, []
    for batch, _ in data.batches(batch_size):
        unit = module.image_encoder.to_unit(batch[IMAGE].to(device))
        img_sum = unit.sum(0) if img_sum is None else img_sum + unit.sum(0)
        if keep_images:
            units.append(unit.cpu())
        h = module.image_encoder.embed_unit(unit)
        for m in modalities:
            if m in batch:
                x, mask = batch[m].to(device), batch[f"{m}_mask"].to(device)
            else:
                x = torch.zeros((len(h), len(fill_values[m])), device=device)
                mask = torch.zeros(len(h), dtype=torch.bool, device=device)
            parts["x"][m].append(x)
            parts["present"][m].append(mask)
            parts["zv"][m].append(module.project_image(m, h))
            parts["zg"][m].append(module.project_genetics(m, x))
    out = EncodedRows(image_mean=(img_sum / len(rows)).cpu().numpy())
    for m in modalities:
        out.x[m] = torch.cat(parts["x"][m]).cpu().numpy()
        out.present[m] = torch.cat(parts["present"][m]).cpu().numpy()
        out.zv[m] = torch.cat(parts["zv"][m])
        out.zg[m] = torch.cat(parts["zg"][m])
    if keep_images:
        out.unit = torch.cat(units)
    return out


@dataclass
class Chunk:
    """One captum call's worth of rows.

    Attributes
    ----------
    rows : ndarray of int
        Positions of the rows in the explained Dataset.
    inputs, baselines : list of Tensor
        Attributed tensors (image first when attributed, then the explained
        modalities in standardised units) and their baselines.
    extra : tuple of Tensor
        ``additional_forward_args`` of :class:`ExplainerFunction`: fixed tensors,
        ``present``, ``match``, ``const``.
    """

    rows: np.ndarray
    inputs: list
    baselines: list
    extra: tuple

    def select(self, keep) -> Chunk:
        """The chunk restricted to the positions ``keep`` (ndarray of int) within it."""
        idx = torch.as_tensor(keep, device=self.inputs[0].device)
        pick = lambda ts: [t.index_select(0, idx) for t in ts]  # noqa: E731
        return Chunk(self.rows[keep], pick(self.inputs), pick(self.baselines), tuple(pick(self.extra)))
