"""ContIGSegmenter: a U-Net decoder on the (pretrained) ResNet encoder; masks in, masks out."""

from __future__ import annotations

import numpy as np
import torch

from ..data import CohortDataset
from ..data._schema import IMAGE
from ..losses import DiceBCELoss
from ..metrics import dice_score
from ..models import SegmentationModule
from ._base import COMMON_ATTRS, COMMON_PARAMS, BaseDownstream


class _MaskDataset(CohortDataset):
    """CohortDataset that also hands the masks to ``forward`` as ``target``."""

    def __getitems__(self, idx):
        X, y = super().__getitems__(idx)
        X["target"] = y.float()
        return X, y


class ContIGSegmenter(BaseDownstream):
    __doc__ = f"""Fine-tune (or linearly evaluate) a ResNet encoder with a U-Net decoder.

    Masks in, masks out: ``y`` holds binary masks of shape (n, h, w) (one
    structure, e.g. the optic disc) or (n, k, h, w) (k structures, each its own
    sigmoid channel, overlaps allowed), with the images' height and width.
    The loss is binary cross-entropy plus soft Dice; training augmentation warps
    images and masks with the same random geometry. ``predict`` returns 0/1 masks
    (uint8) in the layout given to ``fit``, at the input images' size;
    ``predict_proba`` the per-pixel probabilities; ``score`` the mean Dice per
    image and channel (:func:`sklearn_contig.metrics.dice_score`).

    The decoder (see :class:`~sklearn_contig.models.UNet`) takes skip connections
    from the ResNet stem and its four stages, so the encoder must be a ResNet
    (``resnet18`` or ``resnet50``).

    Parameters
    ----------
    {COMMON_PARAMS}

    Attributes
    ----------
    n_masks_ : int
        Mask channels k.
    {COMMON_ATTRS}

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_contig.downstream import ContIGSegmenter
    >>> rng = np.random.default_rng(0)
    >>> X = rng.integers(0, 255, (8, 3, 16, 16), dtype=np.uint8)
    >>> masks = (X[:, 0] > 127).astype(np.uint8)
    >>> seg = ContIGSegmenter(image_encoder="resnet18", max_epochs=1, batch_size=4,
    ...                       random_state=0).fit(X, masks)
    >>> seg.predict(X[:2]).shape
    (2, 16, 16)
    """

    def _encode_y(self, y, ds):
        img = ds[IMAGE]
        if img.ndim != 4:
            raise ValueError(f"segmentation needs images (n, channel, y, x), got image dims {img.dims}")
        if y.ndim not in (3, 4) or tuple(y.shape[-2:]) != tuple(img.shape[-2:]):
            raise ValueError(
                f"masks must have shape (n, h, w) or (n, k, h, w) matching the images' "
                f"(h, w) = {tuple(img.shape[-2:])}; got masks of shape {y.shape}"
            )
        if y.ndim == 4 and y.shape[1] == 0:
            raise ValueError(f"masks have no channel: shape {y.shape}; give (n, h, w) or (n, k, h, w) with k >= 1")
        if y.dtype.kind == "f" and not np.isfinite(y).all():
            raise ValueError("masks contain NaN or infinite values")
        values = np.unique(y)
        if not np.isin(values, (0, 1)).all():
            raise ValueError(f"masks must be binary (0/1), found values {values[:5].tolist()}")
        self._masks_3d = y.ndim == 3
        Y = y[:, None] if y.ndim == 3 else y
        self.n_masks_ = Y.shape[1]
        return Y.astype(np.uint8, copy=False)

    def _check_encoder(self, encoder):
        if encoder.kind != "resnet":
            raise ValueError(
                "ContIGSegmenter needs a ResNet encoder (resnet18/resnet50) whose stages feed the "
                f"U-Net skip connections, not {encoder.name!r}"
            )

    _dataset_class = _MaskDataset

    def _build_module(self, encoder, train_data):
        return SegmentationModule(encoder, self.n_masks_, freeze=self.freeze_encoder)

    def _set_augment(self, module, augment):
        module.augment, module.photometric = (None, None) if augment is None else augment.split()

    def _build_criterion(self):
        return DiceBCELoss()

    _output_dtype = np.float32

    def _outputs(self, raw):
        logits, _ = raw
        return torch.sigmoid(logits)

    def fit(self, X, y=None):
        """Fit the encoder and the U-Net decoder.

        Parameters
        ----------
        X : array-like of shape (n, c, h, w), xarray.Dataset or Samples
            Images (uint8 0-255 or float 0-1) or a cohort Dataset.
        y : array-like of shape (n, h, w) or (n, k, h, w), default=None
            Binary masks; may be omitted for a Dataset when ``target`` names a
            mask variable (e.g. ``"disc_mask"``).

        Returns
        -------
        self
        """
        return self._fit(X, y)

    def predict_proba(self, X):
        """Per-pixel probabilities, shape (n, h, w) or (n, k, h, w) as in ``fit``."""
        p = self._forward(X)
        return p[:, 0] if self._masks_3d else p

    def predict(self, X):
        """Binary masks (uint8), shape (n, h, w) or (n, k, h, w) as in ``fit``."""
        return (self.predict_proba(X) > 0.5).astype(np.uint8)

    def score(self, X, y=None, sample_weight=None):
        """Mean Dice over images (and mask channels) of ``predict(X)`` against ``y``."""
        ds, is_dataset = self._input(X, reset=False)
        y = self._target(ds, y, is_dataset)
        pred = self.predict(X)
        if y.shape != pred.shape:
            raise ValueError(f"masks have shape {y.shape}, predictions {pred.shape}")
        return dice_score(y, pred, sample_weight=sample_weight)
