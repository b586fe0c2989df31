"""ContIGSegmenter: a U-Net decoder on the (pretrained) ResNet encoder; masks in, masks out."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data import CohortDataset
from ..data._schema import IMAGE
from ..metrics import dice_score
from ..models import UNet
from ..models.contig import autocast_context
from ._base import COMMON_ATTRS, COMMON_PARAMS, BaseDownstream, DownstreamModule, init_common, split_augment


class SegmentationModule(DownstreamModule):
    """Encoder + :class:`~sklearn_contig.models.UNet`; ``forward(image, target=None)``.

    Returns ``(logits, target)``: in training the target masks are warped with the
    same random geometry as the images (photometric augmentation touches the
    images only) and both are at the working size; in eval mode the logits are
    resized to the input's size and the target passes through.
    """

    def __init__(self, encoder, out_channels, freeze=False):
        unet = UNet(encoder.backbone, encoder.name, encoder.in_channels, out_channels)
        super().__init__(encoder, unet, freeze=freeze)
        self.photometric = None

    def forward(self, image, target=None, **ignored):
        size = tuple(image.shape[-2:])
        x = self._unit(image)
        if self.training and self.augment is not None:
            if target is not None:
                t = target.float()
                if tuple(t.shape[-2:]) != tuple(x.shape[-2:]):
                    t = F.interpolate(t, size=x.shape[-2:], mode="bilinear", align_corners=False)
                both = self.augment(torch.cat([x, t], dim=1))
                x, target = both[:, : x.shape[1]], both[:, x.shape[1] :]
            else:
                x = self.augment(x)
        if self.training and self.photometric is not None:
            x = self.photometric(x)
        with autocast_context(x.device.type, self.autocast_dtype):
            logits = self._decode(self.encoder.normalize(x)).float()
        if target is not None and tuple(logits.shape[-2:]) != tuple(target.shape[-2:]):
            logits = F.interpolate(logits, size=target.shape[-2:], mode="bilinear", align_corners=False)
        elif target is None and tuple(logits.shape[-2:]) != size:
            logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
        return logits, target

    def _decode(self, x):
        if not self.freeze:
            return self.head(x)
        with torch.no_grad():
            skips = self.head.encode(x)
        # Decoder only: the same steps as UNet.forward on frozen skip features.
        y = skips[-1]
        for block, skip in zip(self.head.up, (*skips[-2::-1], self.head.input_skip(x))):
            y = F.interpolate(y, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            y = block(torch.cat([y, skip.to(y.dtype)], dim=1))
        return self.head.out(y)


class DiceBCELoss(nn.Module):
    """Binary cross-entropy plus soft Dice loss (1 - Dice per image and channel, averaged)."""

    def __init__(self, eps: float = 1.0):
        super().__init__()
        self.eps = eps

    def forward(self, y_pred, y_true=None):
        logits, target = y_pred
        target = target.float()
        bce = F.binary_cross_entropy_with_logits(logits, target)
        p = torch.sigmoid(logits).flatten(2)
        t = target.flatten(2)
        dice = (2 * (p * t).sum(-1) + self.eps) / (p.sum(-1) + t.sum(-1) + self.eps)
        return bce + (1 - dice).mean()


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

    def __init__(
        self,
        *,
        encoder=None,
        image_encoder=None,
        freeze_encoder=False,
        target=None,
        image_size=None,
        batch_size=32,
        max_epochs=50,
        lr=1e-3,
        weight_decay=1e-5,
        augment=True,
        validation_fraction=0.1,
        patience=5,
        device="auto",
        precision="auto",
        num_workers=0,
        checkpoint_dir=None,
        random_state=None,
        callbacks=None,
        verbose=0,
    ):
        init_common(self, encoder, image_encoder, freeze_encoder, target, image_size, batch_size,
                    max_epochs, lr, weight_decay, augment, validation_fraction, patience, device,
                    precision, num_workers, checkpoint_dir, random_state, callbacks, verbose)

    def _encode_y(self, y, ds):
        img = ds[IMAGE]
        if img.ndim != 4:
            raise ValueError(f"segmentation needs images (n, channel, y, x), got image dims {img.dims}")
        if y.ndim not in (3, 4) or tuple(y.shape[-2:]) != tuple(img.shape[-2:]):
            raise ValueError(
                f"masks must have shape (n, h, w) or (n, k, h, w) matching the images' "
                f"(h, w) = {tuple(img.shape[-2:])}; got masks of shape {y.shape}"
            )
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
        if encoder.flat:
            raise ValueError("ContIGSegmenter needs a ResNet encoder (resnet18/resnet50), not 'mlp'")

    def _build_module(self, encoder):
        return SegmentationModule(encoder, self.n_masks_, freeze=self.freeze_encoder)

    def _set_augment(self, module, augment):
        geo, photo = split_augment(augment)
        module.augment = geo
        module.photometric = photo

    def _build_criterion(self):
        return DiceBCELoss()

    def _make_dataset(self, ds, indices, y, codes):
        return _MaskDataset(ds, [], indices=indices, y=y, codes=codes)

    _predict_batch_min = 16  # full-resolution masks: smaller prediction batches
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
        return dice_score(y, pred)
