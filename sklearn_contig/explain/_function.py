"""The attributed function ``E(x)`` as an ``nn.Module`` for captum."""

from __future__ import annotations

import torch
from torch import nn

from ._reference import pair_loss


class ExplainerFunction(nn.Module):
    """``E(x)`` over a batch of rows, each row its own ``R + {x}`` problem.

    ``forward(*inputs, *fixed, present, match, const)``:

    - ``inputs``: the attributed tensors, ``image`` (N, c, y, x) in [0, 1] first
      when the image is attributed, then one (N, p_m) tensor per explained
      modality in *standardised* units ``(x - loc) / scale`` of the modality's
      genetic encoder (mapped back to raw values before the encoder, so
      Integrated Gradients and DeepLift attributions equal those with respect
      to the raw inputs, while noise and baselines are set per standard deviation);
    - ``fixed``: per active modality the image-side projection (N, k) when the
      image is fixed, or the raw genetic values (N, p_m) of the modalities that
      are active but not explained when the image is attributed;
    - ``present`` (N, n_active) bool and ``match`` (N, n_active) long, per active
      modality; ``const`` (N,): the summed losses of the inactive modalities.

    Parameters
    ----------
    module : ContIGModule
        In eval mode; only its public projections are used.
    stats : dict of str to ReferenceStats
    modalities : list of str
        All the model's modalities (the loss is their mean).
    explained : list of str
    attribute_image : bool
    tau, lam : float
    exclude_positive : bool
    loss : callable, default=pair_loss
        ``loss(stats, u, w, match, tau, lam, exclude_positive)`` per modality.
    """

    def __init__(self, module, stats, modalities, explained, attribute_image, tau, lam,
                 exclude_positive, loss=pair_loss):
        super().__init__()
        self.module = module
        self.stats = stats
        self.attribute_image = bool(attribute_image)
        self.explained = list(explained)
        self.active = list(modalities) if attribute_image else list(explained)
        self.fixed_genetic = [m for m in self.active if m not in self.explained]
        self.n_total = len(modalities)
        self.tau, self.lam, self.exclude_positive = float(tau), float(lam), bool(exclude_positive)
        self.loss = loss

    @property
    def n_inputs(self) -> int:
        """Number of attributed input tensors."""
        return len(self.explained) + int(self.attribute_image)

    def _raw(self, name, z):
        enc = self.module.genetic_encoders[name]
        return z * enc.scale + enc.loc

    def forward(self, *args):
        inputs = list(args[: self.n_inputs])
        extra = list(args[self.n_inputs :])
        present, match, const = extra[-3:]
        fixed = extra[:-3]
        module = self.module
        if self.attribute_image:
            h = module.image_encoder.embed_unit(inputs.pop(0))
            if torch.is_grad_enabled():
                # DeepLift hooks every module input, fixed ones included
                fixed = [t.detach().requires_grad_() for t in fixed]
            genetics = dict(zip(self.fixed_genetic, fixed))
        else:
            genetics = {}
            image_proj = dict(zip(self.active, fixed))
        genetics.update({m: self._raw(m, z) for m, z in zip(self.explained, inputs)})
        total = const
        for j, m in enumerate(self.active):
            u = module.project_image(m, h) if self.attribute_image else image_proj[m]
            w = module.project_genetics(m, genetics[m])
            loss = self.loss(self.stats[m], u, w, match[:, j], self.tau, self.lam, self.exclude_positive)
            total = total + torch.where(present[:, j], loss, self.stats[m].L)
        return total / self.n_total
