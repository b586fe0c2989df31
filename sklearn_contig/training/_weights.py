"""Where an image encoder's starting weights come from.

Published weights (``pretrained_weights``, read by
:func:`~sklearn_contig.models.load_weights`) or an encoder the user passes
(``encoder=``: a file written by ``save_encoder``, an ``ImageEncoder``, or a
fitted estimator with ``get_encoder()``).
"""

from __future__ import annotations

import copy
import os

from sklearn.exceptions import NotFittedError

from ..models import ImageEncoder, load_encoder, load_weights

#: numpydoc text of ``pretrained_weights`` and ``weights_normalization``.
PRETRAINED_WEIGHTS_DOC = """pretrained_weights : str, path or None, default=None
        Published weights the image encoder starts from instead of a random
        initialisation: a state dict in ``.safetensors``, or ``.pth`` / ``.pt``
        / ``.ckpt`` read with ``torch.load(weights_only=True)`` (nothing else
        is unpickled). Understood layouts: plain (torchvision, timm), RETFound /
        MAE ``{"model": ...}``, Lightning ``{"state_dict": ...}`` with prefixes
        such as ``model.imaging_model.`` or ``models.0.imaging_model.`` (the
        ContIG authors' checkpoints), DataParallel ``module.``; classifier
        heads and MAE decoders are dropped and a ViT's position embeddings are
        resampled to ``image_size``. ``image_encoder`` names the weights'
        architecture (e.g. ``"timm:vit_large_patch16_224"`` for RETFound); a
        file of another architecture raises ``ValueError`` listing the keys.
        See :func:`~sklearn_contig.models.load_weights`.
    weights_normalization : {"imagenet", "data"}, default="imagenet"
        Input statistics used with ``pretrained_weights``: ``"imagenet"``, the
        ImageNet per-channel mean and standard deviation that torchvision,
        timm and RETFound weights were trained with (3 channels); ``"data"``,
        those of the training images, as for a random start. Either way the
        encoder counts as pretrained (``pretrained_ = True``). Ignored
        without ``pretrained_weights``."""


def check_pretrained_weights(estimator, image_encoder) -> None:
    """Checks of ``pretrained_weights`` that need no reading, before any work."""
    path = estimator.pretrained_weights
    if path is None:
        return
    if image_encoder == "mlp":
        raise ValueError("pretrained_weights needs an image backbone; image_encoder='mlp' has no published weights")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"pretrained_weights file {str(path)!r} does not exist")


def start_from_weights(encoder, path, normalization) -> tuple[ImageEncoder, bool]:
    """``encoder`` with the weights of ``path`` (if any) and whether its statistics are set.

    The second value tells the training core whether to compute the
    normalisation statistics from the training images (False) or keep the
    encoder's (True: ImageNet statistics of published weights).
    """
    if path is None:
        return encoder, False
    load_weights(encoder, path, normalization="imagenet" if normalization == "imagenet" else "keep")
    return encoder, normalization == "imagenet"


def copy_encoder(src, *, expected=None) -> ImageEncoder:
    """A private CPU copy of the encoder ``src`` holds.

    ``src`` is a file written by ``save_encoder``, an ``ImageEncoder``, or a
    fitted estimator with ``get_encoder()`` (a pretrainer). ``expected`` names
    the architecture the caller needs; another one raises ``ValueError``.
    """
    if isinstance(src, (str, os.PathLike)):
        encoder = load_encoder(src, expected=expected)
    elif isinstance(src, ImageEncoder):
        encoder = copy.deepcopy(src).cpu()
    else:
        try:
            encoder = src.get_encoder()
        except NotFittedError:
            raise NotFittedError(
                f"encoder= is an unfitted {type(src).__name__}; fit it before passing it "
                "(when this estimator is cloned, e.g. by GridSearchCV or cross_val_score, "
                "clone() unfits a nested pretrainer: pass sklearn.frozen.FrozenEstimator"
                "(pretrainer) or a file written by pretrainer.save_encoder instead)"
            ) from None
        if not isinstance(encoder, ImageEncoder):
            raise TypeError(f"encoder.get_encoder() returned {type(encoder).__name__}, not an ImageEncoder")
    if expected is not None and encoder.name != expected:
        raise ValueError(f"encoder= holds a {encoder.name!r} encoder but image_encoder={expected!r}")
    return encoder
