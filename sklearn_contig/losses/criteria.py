"""skorch criteria: adapters from a module's output dict to the package's losses."""

from __future__ import annotations

from torch import nn

from .contig import ContIGLoss


class ContIGCriterion(nn.Module):
    """:class:`ContIGLoss` on a :class:`~sklearn_contig.models.ContIGModule` output dict.

    Keeps the per-modality losses of the last batch in ``last_parts`` (read by
    the ``RecordLossParts`` callback).
    """

    def __init__(self, temperature=0.1, loss_weight=0.75, exclude_positive=False):
        super().__init__()
        self.loss = ContIGLoss(temperature, loss_weight, exclude_positive)
        self.last_parts = {}

    def forward(self, y_pred, y_true=None):
        loss, self.last_parts = self.loss(y_pred["pairs"], y_pred["individual"], return_parts=True)
        return loss


class SSLCriterion(nn.Module):
    """A two-view loss applied to the module's ``"loss_inputs"`` (image-only baselines)."""

    def __init__(self, loss: nn.Module):
        super().__init__()
        self.loss = loss
        self.last_parts = {}

    def forward(self, y_pred, y_true=None):
        return self.loss(**y_pred["loss_inputs"])
