"""Shared surface of every pretrainer: fit on a cohort, transform images to embeddings.

The training itself is :class:`~sklearn_contig.training.NetEstimator`'s; a
pretrainer adds which samples and modalities take part (``_prepare``), a fresh
image encoder, and the embedding API (``transform``, ``get_encoder``,
``save_encoder``).
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from sklearn.base import TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .._compat import output_is_pandas
from ..data import as_dataset
from ..data._schema import IMAGE
from ..models import ImageEncoder, ImageEncoderName
from ..models import save_encoder as _save_encoder
from ..training import NetEstimator, check_pretrained_weights, image_dataset, start_from_weights


def embedding_names(dim: int) -> np.ndarray:
    """Names of the embedding columns: ``embedding0`` ... ``embedding{dim-1}``."""
    return np.asarray([f"embedding{i}" for i in range(dim)], dtype=object)


def embedding_frame(Z: np.ndarray, X) -> pd.DataFrame:
    """Embeddings ``Z`` of ``X`` as the pandas output of ``transform``.

    Indexed by (sample, individual) for a cohort Dataset, by sample for a
    DataArray with a ``sample`` coordinate, else by position.
    """
    ds = as_dataset(X)
    index = None
    if ds is not None:
        index = pd.MultiIndex.from_arrays([ds["sample"].values, ds["individual"].values],
                                          names=["sample", "individual"])
    elif isinstance(X, xr.DataArray) and "sample" in X.coords:
        index = pd.Index(X["sample"].values, name="sample")
    return pd.DataFrame(Z, index=index, columns=embedding_names(Z.shape[1]))


def _feature_names(var) -> np.ndarray:
    """Feature names of a (sample, feature) variable: its coordinate, else positions."""
    dim = var.dims[1]
    values = var[dim].values if dim in var.coords else np.arange(var.shape[1])
    return np.asarray([str(v) for v in values], dtype=object)


class BasePretrainer(TransformerMixin, NetEstimator):
    """Base class of the pretrainers; not for direct use.

    Subclasses implement ``_prepare(ds)`` (modalities and usable rows),
    ``_build_module(encoder, train_data)`` and ``_build_criterion()``, and may
    override ``_default_augment()`` and ``score``.
    """

    _parameter_constraints: dict = {
        **NetEstimator._parameter_constraints,
        "image_encoder": [ImageEncoderName()],
    }

    def __init__(self, image_encoder="resnet50"):
        self.image_encoder = image_encoder

    # ------------------------------------------------------------------ hooks
    def _prepare(self, ds):  # pragma: no cover - abstract
        """Return ``(modalities, rows)``: genetic modalities used and usable sample rows."""
        raise NotImplementedError

    def _initial_encoder(self, ds):
        in_channels = int(ds[IMAGE].shape[1])
        if self.image_encoder == "mlp":
            return ImageEncoder("mlp", in_channels=in_channels), False
        size = self.image_size or int(ds[IMAGE].shape[-1])
        encoder = ImageEncoder(self.image_encoder, in_channels=in_channels, image_size=size)
        return start_from_weights(encoder, self.pretrained_weights, self.weights_normalization)

    # ---------------------------------------------------------------- helpers
    def _check_image_for_encoder(self, ds) -> None:
        if IMAGE not in ds:
            raise ValueError(f"X has no {IMAGE!r} variable: a pretrainer needs images")
        img = ds[IMAGE]
        if self.image_encoder == "mlp":
            if img.ndim != 2:
                raise ValueError(
                    "image_encoder='mlp' needs a flat image variable (sample, feature), "
                    f"got dims {img.dims}"
                )
        elif img.ndim != 4:
            raise ValueError(
                f"image_encoder={self.image_encoder!r} needs image dims (sample, channel, y, x), "
                f"got {img.dims}"
            )

    # -------------------------------------------------------------------- fit
    def fit(self, X, y=None):
        """Pretrain the image encoder on ``X``.

        Parameters
        ----------
        X : xarray.Dataset or Samples
            Cohort Dataset (see :mod:`sklearn_contig.data`).
        y : None
            Ignored; present for Pipeline compatibility.

        Returns
        -------
        self
        """
        self._validate_params()
        check_pretrained_weights(self, self.image_encoder)
        ds = as_dataset(X, required=True)
        self._check_image_for_encoder(ds)
        modalities, rows = self._prepare(ds)
        train_data = self._fit_net(ds, rows, modalities=modalities)
        if self.pretrained_weights is not None:
            self.pretrained_ = True
        self.modalities_ = list(modalities)
        self.modality_features_ = {m: _feature_names(ds[m]) for m in modalities}
        self.n_individuals_ = int(len(np.unique(np.asarray(ds["individual"].values)[rows])))
        self.fill_values_ = train_data.fill
        self.embedding_dim_ = self.module_.image_encoder.out_dim
        self._set_fitted_attributes(train_data)
        return self

    def _set_fitted_attributes(self, train_data) -> None:
        """Hook: fitted attributes of a method, set after training."""

    # -------------------------------------------------------------- embedding
    def _embed(self, X) -> np.ndarray:
        out = self._map_batches(image_dataset(X), lambda module, b: module.image_encoder(b["image"]).float().cpu())
        if not out:
            return np.zeros((0, self.embedding_dim_), dtype=np.float32)
        return np.concatenate([t.numpy() for t in out])

    def transform(self, X):
        """Image embeddings.

        Parameters
        ----------
        X : xarray.Dataset, Samples, or array-like of shape (n, c, h, w) or (n, d)
            A cohort Dataset, or just images: uint8 0-255 or float 0-1, any size
            (resized to the training size). Only the images are used.

        Returns
        -------
        embeddings : ndarray of shape (n, embedding_dim_)
            With ``set_output(transform="pandas")`` a DataFrame; for a cohort
            Dataset its index has the levels ``sample`` and ``individual``, so a
            following :class:`~sklearn_contig.gwas.GWASTransformer` aggregates by
            individual without further arguments.
        """
        check_is_fitted(self, "net_")
        Z = self._embed(X)
        if output_is_pandas(self):
            return embedding_frame(Z, X)
        return Z

    def get_feature_names_out(self, input_features=None):
        """Names of the embedding columns: ``embedding0`` ... ``embedding{d-1}``."""
        check_is_fitted(self, "net_")
        return embedding_names(self.embedding_dim_)

    # ------------------------------------------------------------- encoders
    def get_encoder(self) -> ImageEncoder:
        """A CPU copy of the trained image encoder (with its preprocessing), in eval mode."""
        check_is_fitted(self, "net_")
        encoder = copy.deepcopy(self.module_.image_encoder).cpu().eval()
        return encoder

    def save_encoder(self, path) -> Path:
        """Write the image encoder as safetensors for the downstream estimators.

        Load it with :func:`sklearn_contig.models.load_encoder` or pass the path as
        ``encoder=`` to a downstream estimator; nothing is unpickled.
        """
        return _save_encoder(self.get_encoder(), path)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        return tags
