"""ImageEmbedder: embeddings from a pretrained image encoder, without training.

transferGWAS' feature condensation (Kirchler et al., Bioinformatics 2022):
images go through a published encoder, the activations of a chosen layer are
global-average-pooled, optionally averaged over flipped copies of the image
(test-time augmentation), and the embeddings feed a GWAS on their principal
components (:class:`~sklearn_contig.gwas.GWASTransformer`).
"""

from __future__ import annotations

import os
from numbers import Integral

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .._compat import HasMethods, Interval, StrOptions, output_is_pandas
from ..data import CohortDataset
from ..data._schema import IMAGE, validate
from ..models import ImageEncoder, ImageEncoderName
from ..models.contig import autocast_context
from ..training import check_pretrained_weights, copy_encoder, image_dataset, start_from_weights
from ..training._estimator import resolve_device, resolve_precision, set_data_normalization
from ._base import embedding_frame, embedding_names

#: Layers of a ResNet whose pooled activations can be taken.
RESNET_LAYERS = ("layer1", "layer2", "layer3", "layer4")

#: Test-time augmentations: the flips averaged per image.
TTA = {"none": ((),), "hflip": ((), (3,)), "flips": ((), (3,), (2,), (2, 3))}


class ImageEmbedder(TransformerMixin, BaseEstimator):
    """Image embeddings from a pretrained encoder, without training (transferGWAS).

    ``fit`` builds the encoder (loading ``pretrained_weights`` or copying
    ``encoder``) and, with ``weights_normalization="data"``, learns the input
    statistics from the images; ``transform`` returns the global-average-pooled
    activations of ``layer``, averaged over the flips of ``tta``. With
    ``set_output(transform="pandas")`` the rows of a cohort Dataset are indexed
    by (sample, individual), so ``make_pipeline(ImageEmbedder(...),
    GWASTransformer())`` runs a GWAS on any published encoder.

    Parameters
    ----------
    image_encoder : {"resnet50", "resnet18"} or "timm:<name>", default="resnet50"
        Architecture of ``pretrained_weights``.
    pretrained_weights : str, path or None, default=None
        Published weights (see :func:`~sklearn_contig.models.load_weights` for
        the files and layouts understood).
    weights_normalization : {"imagenet", "data"}, default="imagenet"
        Input statistics: ImageNet's per-channel mean and standard deviation
        (what torchvision, timm and RETFound weights expect) or those of the
        images given to ``fit`` (up to 256 of them).
    encoder : fitted pretrainer, str, path, ImageEncoder or None, default=None
        Instead of ``pretrained_weights``: a fitted pretrainer (its encoder is
        copied), a file written by ``save_encoder``, or an
        :class:`~sklearn_contig.models.ImageEncoder`; its own normalisation is
        kept.
    layer : {"layer1", "layer2", "layer3", "layer4"} or None, default=None
        ResNet stage whose activations are pooled (transferGWAS compares the
        stages); None: the encoder's pooled output (``layer4`` for a ResNet).
        Only None for timm encoders.
    tta : {"none", "hflip", "flips"}, default="none"
        Test-time augmentation: the embedding is the mean over the image and
        its horizontal flip (``"hflip"``), or its horizontal, vertical and
        double flips (``"flips"``).
    image_size : int or None, default=None
        Side length images are resized to; the training images' size (or the
        encoder's for ``encoder=``) when None.
    batch_size : int, default=64
    device : str, default="auto"
        ``"auto"`` uses a GPU when one is visible.
    precision : {"auto", "32", "bf16"}, default="auto"
        ``"auto"``: bf16 autocast on GPUs that support it.
    num_workers : int, default=0
        DataLoader processes reading (and decoding) batches.

    Attributes
    ----------
    encoder_ : ImageEncoder
        The encoder, in eval mode, on ``device_``.
    embedding_dim_ : int
    device_ : str
    n_features_in_ : int
        Image channels.

    Examples
    --------
    >>> import numpy as np, torch, torchvision
    >>> torch.save(torchvision.models.resnet18(weights=None).state_dict(), "resnet18.pth")
    >>> images = np.random.default_rng(0).integers(0, 255, (6, 3, 32, 32), dtype=np.uint8)
    >>> emb = ImageEmbedder("resnet18", pretrained_weights="resnet18.pth", layer="layer3",
    ...                     tta="hflip", device="cpu")
    >>> emb.fit_transform(images).shape
    (6, 256)
    """

    _parameter_constraints: dict = {
        "image_encoder": [ImageEncoderName()],
        "pretrained_weights": [str, os.PathLike, None],
        "weights_normalization": [StrOptions({"imagenet", "data"})],
        "encoder": [None, str, os.PathLike, HasMethods(["get_encoder"]), ImageEncoder],
        "layer": [StrOptions(set(RESNET_LAYERS)), None],
        "tta": [StrOptions(set(TTA))],
        "image_size": [Interval(Integral, 8, None, closed="left"), None],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "device": [str],
        "precision": [StrOptions({"auto", "32", "bf16"})],
        "num_workers": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(
        self,
        image_encoder="resnet50",
        *,
        pretrained_weights=None,
        weights_normalization="imagenet",
        encoder=None,
        layer=None,
        tta="none",
        image_size=None,
        batch_size=64,
        device="auto",
        precision="auto",
        num_workers=0,
    ):
        self.image_encoder = image_encoder
        self.pretrained_weights = pretrained_weights
        self.weights_normalization = weights_normalization
        self.encoder = encoder
        self.layer = layer
        self.tta = tta
        self.image_size = image_size
        self.batch_size = batch_size
        self.device = device
        self.precision = precision
        self.num_workers = num_workers

    # -------------------------------------------------------------------- fit
    def fit(self, X, y=None):
        """Build the encoder (and learn input statistics with ``weights_normalization="data"``).

        Parameters
        ----------
        X : xarray.Dataset, Samples, or array-like of shape (n, c, h, w)
            Images, uint8 0-255 or float 0-1.
        y : None
            Ignored.

        Returns
        -------
        self : ImageEmbedder
            With the encoder built (``encoder_``).
        """
        self._validate_params()
        if (self.pretrained_weights is None) == (self.encoder is None):
            raise ValueError("ImageEmbedder needs exactly one of pretrained_weights and encoder")
        if self.image_encoder == "mlp":
            raise ValueError("ImageEmbedder embeds images; image_encoder='mlp' is not an image backbone")
        check_pretrained_weights(self, self.image_encoder)
        ds = image_dataset(X)
        img = ds[IMAGE]
        if img.ndim != 4:
            raise ValueError(f"X must hold images (n, channel, y, x), got image dims {img.dims}")
        validate(ds, [], require_image=True, min_samples=1)
        in_channels = int(img.shape[1])
        if self.encoder is not None:
            encoder = copy_encoder(self.encoder)
            if encoder.flat:
                raise ValueError("encoder= holds an 'mlp' encoder; ImageEmbedder embeds images")
            if self.image_size is not None:
                encoder.set_image_size(self.image_size)
            elif encoder.image_size is None:
                encoder.set_image_size(int(img.shape[-1]))
            pretrained = True
        else:
            size = int(self.image_size or img.shape[-1])
            encoder = ImageEncoder(self.image_encoder, in_channels=in_channels, image_size=size)
            encoder, pretrained = start_from_weights(encoder, self.pretrained_weights, self.weights_normalization)
        if encoder.in_channels != in_channels:
            raise ValueError(f"X has {in_channels} channels but the encoder expects {encoder.in_channels}")
        if self.layer is not None and encoder.kind != "resnet":
            raise ValueError(f"layer={self.layer!r} needs a ResNet encoder, not {encoder.name!r}; use layer=None")
        if not pretrained:  # weights_normalization="data"
            set_data_normalization(encoder, ds, np.arange(ds.sizes["sample"]), seed=0)
        self.device_ = resolve_device(self.device)
        self.encoder_ = encoder.to(self.device_).eval()
        self.n_features_in_ = in_channels
        self.embedding_dim_ = self._width()
        return self

    def _width(self) -> int:
        if self.layer is None:
            return int(self.encoder_.out_dim)
        block = getattr(self.encoder_.backbone, self.layer)[-1]
        last = block.conv3 if hasattr(block, "conv3") else block.conv2
        return int(last.out_channels)

    # -------------------------------------------------------------- transform
    def _features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled activations of ``layer`` for normalised images ``x``."""
        if self.layer is None:
            return self.encoder_.backbone(x)
        b = self.encoder_.backbone
        x = b.maxpool(b.relu(b.bn1(b.conv1(x))))
        for name in RESNET_LAYERS:
            x = getattr(b, name)(x)
            if name == self.layer:
                break
        return x.mean(dim=(2, 3))

    @torch.no_grad()
    def _embed(self, ds) -> np.ndarray:
        enc = self.encoder_
        device = torch.device(self.device_)
        dtype = resolve_precision(self.precision, self.device_)
        data = CohortDataset(ds, [])
        out = []
        for X, _ in data.batches(self.batch_size, num_workers=self.num_workers, pin_memory=device.type == "cuda"):
            x = enc.normalize(enc.to_unit(X["image"].to(device, non_blocking=True)))
            with autocast_context(device.type, dtype):
                h = sum(self._features(x.flip(dims) if dims else x).float() for dims in TTA[self.tta])
            out.append((h / len(TTA[self.tta])).cpu().numpy())
        if not out:
            return np.zeros((0, self.embedding_dim_), dtype=np.float32)
        return np.concatenate(out)

    def transform(self, X):
        """Embeddings of the images of ``X``.

        Parameters
        ----------
        X : xarray.Dataset, Samples, or array-like of shape (n, c, h, w)

        Returns
        -------
        embeddings : ndarray of shape (n, embedding_dim_)
            With ``set_output(transform="pandas")`` a DataFrame, indexed by
            (sample, individual) for a cohort Dataset.
        """
        check_is_fitted(self, "encoder_")
        ds = image_dataset(X)
        if ds[IMAGE].ndim != 4 or int(ds[IMAGE].shape[1]) != self.n_features_in_:
            raise ValueError(
                f"X must hold images with {self.n_features_in_} channels, got image shape {ds[IMAGE].shape}"
            )
        Z = self._embed(ds)
        if output_is_pandas(self):
            return embedding_frame(Z, X)
        return Z

    def get_feature_names_out(self, input_features=None):
        """Names of the embedding columns: ``embedding0`` ... ``embedding{d-1}``."""
        check_is_fitted(self, "encoder_")
        return embedding_names(self.embedding_dim_)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        tags.non_deterministic = self.device != "cpu"
        return tags
