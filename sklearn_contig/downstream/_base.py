"""Shared surface of the downstream estimators (classification, regression, segmentation).

A downstream estimator is an image encoder (from a fitted pretrainer, an encoder
file or a fresh one) plus a task head, trained by
:class:`~sklearn_contig.training.NetEstimator`; the tasks differ only in head,
loss and how labels are encoded and decoded.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import torch
import xarray as xr
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import nn

from .._compat import HasMethods, StrOptions
from ..data import as_dataset
from ..data._errors import named_errors
from ..data._schema import IMAGE, check_image_values, label_variables, validate
from ..models import DownstreamModule, ImageEncoder, ImageEncoderName
from ..training import (
    PRETRAINED_WEIGHTS_DOC,
    TRAINING_ATTRS_DOC,
    CosineSchedule,
    NetEstimator,
    check_pretrained_weights,
    copy_encoder,
    start_from_weights,
    training_params_doc,
)


def _ordered_levels(y) -> list | None:
    """The categories of an ordered pandas Categorical ``y`` (Series or Categorical), in order, else None."""
    dtype = getattr(y, "dtype", None)
    if isinstance(dtype, pd.CategoricalDtype) and dtype.ordered:
        return list(dtype.categories)
    return None


def _check_label_order(index, ds) -> None:
    """Refuse pandas labels indexed by the sample ids of ``ds`` in another order.

    Labels are matched to samples by position (scikit-learn's rule); a Series
    whose index holds exactly the sample ids, shuffled, would otherwise be
    matched to the wrong images without a word.
    """
    if isinstance(index, pd.RangeIndex) or len(index) != ds.sizes["sample"]:
        return
    ids = pd.Index(np.asarray(ds["sample"].values).astype(str))
    given = pd.Index(np.asarray(index).astype(str))
    if not given.equals(ids) and given.is_unique and given.sort_values().equals(ids.sort_values()):
        raise ValueError(
            "y is indexed by the sample ids of X but in another order; labels are matched to "
            "samples by position: pass y.loc[X['sample'].values] (or reset its index)"
        )


class BaseDownstream(NetEstimator):
    """Base class of the downstream estimators; not for direct use.

    Subclasses implement ``_encode_y(y, ds)`` (validate and encode labels, set the
    label attributes, return the encoded array), ``_build_head(encoder)`` and
    ``_build_criterion()``; the segmenter overrides ``_build_module``.
    """

    _parameter_constraints: dict = {
        "encoder": [None, str, os.PathLike, HasMethods(["get_encoder"]), ImageEncoder],
        "image_encoder": [ImageEncoderName(), None],
        "freeze_encoder": ["boolean"],
        "target": [str, None],
        "lr_schedule": [StrOptions({"cosine", "constant"})],
        **NetEstimator._parameter_constraints,
    }

    #: Few labelled samples: adaptive batch size and validation split, fewer
    #: epochs, more weight decay and a quiet fit than the pretrainers.
    _default_overrides: dict = dict(
        batch_size="auto", max_epochs=50, weight_decay=1e-5, validation_fraction="auto", verbose=0,
    )

    def __init__(
        self,
        *,
        encoder=None,
        image_encoder=None,
        freeze_encoder=False,
        target=None,
        lr_schedule="cosine",
    ):
        self.encoder = encoder
        self.image_encoder = image_encoder
        self.freeze_encoder = freeze_encoder
        self.target = target
        self.lr_schedule = lr_schedule

    # ------------------------------------------------------------- task hooks
    def _encode_y(self, y, ds):  # pragma: no cover - abstract
        raise NotImplementedError

    def _build_head(self, encoder) -> nn.Module:  # pragma: no cover - abstract
        raise NotImplementedError

    def _build_module(self, encoder, train_data) -> nn.Module:
        return DownstreamModule(encoder, self._build_head(encoder), freeze=self.freeze_encoder)

    def _check_encoder(self, encoder) -> None:
        """Hook: refuse encoders a task cannot use."""

    def _fit_callbacks(self) -> list:
        return [("lr_schedule", CosineSchedule())] if self.lr_schedule == "cosine" else []

    # ------------------------------------------------------------------ input
    def _input(self, X, *, reset: bool):
        """``X`` as a cohort Dataset (arrays wrapped without copying) and whether it was one."""
        ds = as_dataset(X)
        if ds is not None:
            if IMAGE not in ds:
                raise ValueError("X has no 'image' variable")
            if ds.sizes.get("sample", 0) < 2 and reset:
                raise ValueError(
                    f"X has {ds.sizes.get('sample', 0)} sample(s); at least 2 are needed to fit"
                )
            validate(ds, [], require_image=True, min_samples=0)
            if reset:
                for attr in ("n_features_in_", "feature_names_in_"):
                    if hasattr(self, attr):
                        delattr(self, attr)
            return ds, True
        if isinstance(X, xr.DataArray):
            X = X.values
        if isinstance(X, torch.Tensor):
            X = X.detach().cpu().numpy()
        with named_errors("X"):
            X = validate_data(
                self,
                X,
                reset=reset,
                allow_nd=True,
                dtype="numeric",
                ensure_min_samples=2 if reset else 1,
            )
        if X.ndim not in (2, 4) or 0 in X.shape[1:]:
            raise ValueError(
                f"X must be images (n, channel, y, x) or flat features (n, d), none of them empty; "
                f"got shape {X.shape}"
            )
        check_image_values(X)
        if not X.flags.writeable:
            X = X.copy()
        n = X.shape[0]
        dims = ("sample", "feature") if X.ndim == 2 else ("sample", "channel", "y", "x")
        ids = np.arange(n)
        ds = xr.Dataset({IMAGE: (dims, X)}, coords={"sample": ids, "individual": ("sample", ids)})
        return ds, False

    def _target(self, ds, y, is_dataset):
        """Labels from ``y`` or, for Dataset input, from the ``target`` variable."""
        if y is None and is_dataset and self.target is not None:
            if self.target not in ds:
                labels = label_variables(ds)
                raise ValueError(
                    f"target={self.target!r} is not a variable of X; its label variables are {labels}"
                )
            y = ds[self.target].values
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None "
                "(for a Dataset, name a label variable with target=...)"
            )
        if is_dataset and isinstance(y, (pd.Series, pd.DataFrame)):
            _check_label_order(y.index, ds)
        if hasattr(y, "values") and not isinstance(y, np.ndarray):
            y = y.values
        y = np.asarray(y)
        if y.ndim == 0 or len(y) != ds.sizes["sample"]:
            raise ValueError(
                f"y has {0 if y.ndim == 0 else len(y)} entries but X has {ds.sizes['sample']} samples"
            )
        return y

    # ---------------------------------------------------------------- encoder
    def _initial_encoder(self, ds) -> tuple[ImageEncoder, bool]:
        """A private copy of the starting encoder and whether it is pretrained."""
        img = ds[IMAGE]
        flat = img.ndim == 2
        in_channels = int(img.shape[1])
        src = self.encoder
        if src is None:
            name = self.image_encoder or ("mlp" if flat else "resnet50")
            size = None if name == "mlp" else (self.image_size or int(img.shape[-1]))
            if flat and self.pretrained_weights is not None:
                raise ValueError(
                    "pretrained_weights needs images (n, channel, y, x); X holds flat features "
                    f"with image dims {img.dims}"
                )
            encoder = ImageEncoder(name, in_channels=in_channels, image_size=size)
            encoder, pretrained = start_from_weights(encoder, self.pretrained_weights, self.weights_normalization)
        else:
            encoder = copy_encoder(src, expected=self.image_encoder)
            pretrained = True
            if self.image_size is not None and not encoder.flat:
                encoder.set_image_size(self.image_size)
            elif encoder.image_size is None and not encoder.flat and not flat:
                # an encoder saved without a size works at the training images' size
                encoder.set_image_size(int(img.shape[-1]))
        if encoder.flat != flat:
            raise ValueError(
                f"the {encoder.name!r} encoder needs "
                + ("flat features (n, d)" if encoder.flat else "images (n, channel, y, x)")
                + f"; X has image dims {img.dims} (use image_encoder='mlp' for flat features)"
            )
        if encoder.in_channels != in_channels:
            what = "features" if flat else "channels"
            raise ValueError(
                f"X has {in_channels} {what} but the {encoder.name!r} encoder expects "
                f"{encoder.in_channels}"
            )
        self._check_encoder(encoder)
        return encoder, pretrained

    # -------------------------------------------------------------------- fit
    def fit(self, X, y=None):
        """Fit the encoder and the task head.

        Parameters
        ----------
        X : array-like of shape (n, c, h, w) or (n, d), xarray.Dataset or Samples
            Images (uint8 0-255 or float 0-1), flat features (``mlp`` encoder), or
            a cohort Dataset whose ``image`` variable is used.
        y : array-like, default=None
            Labels, targets or masks as the estimator describes; may be omitted
            for a Dataset when ``target`` names a label variable.

        Returns
        -------
        self
        """
        return self._fit(X, y)

    def _fit(self, X, y):
        self._validate_params()
        if self.pretrained_weights is not None and self.encoder is not None:
            raise ValueError(
                "pretrained_weights and encoder= both give a starting encoder; pass one of them"
            )
        check_pretrained_weights(self, self.image_encoder)
        ds, is_dataset = self._input(X, reset=True)
        self._label_levels = _ordered_levels(y)
        y = self._target(ds, y, is_dataset)
        y_enc = self._encode_y(y, ds)
        self._fit_net(ds, np.arange(ds.sizes["sample"]), y=y_enc)
        if self.pretrained_weights is not None:
            self.pretrained_ = True
        self.n_individuals_ = int(len(np.unique(np.asarray(ds["individual"].values))))
        self.encoder_name_ = self.module_.encoder.name
        return self

    # ---------------------------------------------------------------- predict
    #: dtype of ``_forward``'s output.
    _output_dtype = np.float64

    def _outputs(self, raw):
        """Map the module's raw output for one batch to the tensor ``_forward`` returns."""
        return raw

    def _forward(self, X) -> np.ndarray:
        """Network outputs for ``X`` (through ``_outputs``), in eval mode, batch by batch."""
        check_is_fitted(self, "net_")
        ds, _ = self._input(X, reset=False)
        out = self._map_batches(ds, lambda module, b: self._outputs(module(b["image"])).float().cpu())
        if not out:
            raise ValueError("X has no samples")
        return torch.cat(out).numpy().astype(self._output_dtype)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


# Parameter documentation shared by the three estimators (numpydoc text).
COMMON_PARAMS = """encoder : fitted pretrainer, str, path, ImageEncoder or None, default=None
        Where the image encoder starts: a fitted pretrainer (any
        ``BasePretrainer`` subclass; its ``get_encoder()`` is copied), a file
        written by ``save_encoder`` (safetensors; nothing is unpickled), an
        :class:`~sklearn_contig.models.ImageEncoder` (copied), or None to train
        from scratch. Cloning (GridSearchCV, cross_val_score) unfits a nested
        pretrainer: use a file or ``sklearn.frozen.FrozenEstimator(pretrainer)``
        there.
    image_encoder : {"resnet50", "resnet18", "mlp"}, "timm:<name>" or None, default=None
        Architecture trained when ``encoder`` is None (None: ``"resnet50"`` for
        images, ``"mlp"`` for flat (n, d) features); ``"timm:<architecture>"``
        for any model of the optional ``timm`` package. With an ``encoder``, a
        check: a different architecture raises ``ValueError``.
    """ + PRETRAINED_WEIGHTS_DOC.replace(
    "initialisation: a state", "initialisation, with ``encoder=None``: a state"
) + """
    freeze_encoder : bool, default=False
        Linear evaluation: the encoder is frozen (no gradients, eval mode
        including BatchNorm) and only the head trains.
    target : str or None, default=None
        For Dataset/Samples input without ``y``: name of the label variable
        (e.g. ``"grade"``) read from ``X`` in ``fit`` and ``score``; the labels
        then travel with the samples through cross-validation splits.
    lr_schedule : {"cosine", "constant"}, default="cosine"
        ``"cosine"``: the learning rate decays from ``lr`` to 0 along a cosine
        over the ``max_epochs`` planned epochs, step by step; ``"constant"``
        keeps ``lr``.
    image_size : int or None, default=None
        Side length images are resized to (on the device); a pretrained
        encoder's own size, or the training images' size, when None.
    """ + training_params_doc(
    batch_size='"auto"', max_epochs=50, weight_decay="1e-5", verbose=0, validation_fraction='"auto"',
    weight_decay_note=" (the authors' fine-tuning setting)",
    augment="random rotation up to 20 degrees and horizontal flips (flat mlp input is never augmented)",
)

COMMON_ATTRS = TRAINING_ATTRS_DOC + """
    encoder_name_ : str
        Architecture of the image encoder.
    n_individuals_ : int
        Individuals in the training data (samples for array input).
    n_features_in_ : int
        Features (flat input) or channels (images) of array input."""
