"""Shared machinery of every pretrainer: one skorch ``NeuralNet`` is the training loop.

A pretrainer is a plain scikit-learn estimator (parameters stored in ``__init__``,
checked by ``_parameter_constraints`` before any work) that builds a skorch
``NeuralNet`` in ``fit``; subclasses supply the network, the criterion and which
samples and modalities take part. Everything else (splitting by individual,
normalisation statistics, device and precision, checkpoint/resume, early
stopping with restore of the best epoch, embedding) lives here once.
"""

from __future__ import annotations

import copy
import os
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import xarray as xr
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils._set_output import _get_output_config
from sklearn.utils.validation import check_is_fitted

from .._pickle import state_without_optimizer
from ..data import CohortDataset, as_dataset, collate_batch, individual_codes, make_loader
from ..data._schema import IMAGE, validate
from ..models import IMAGE_ENCODERS, BatchAugment, ImageEncoder
from ..models import save_encoder as _save_encoder
from ..models.contig import autocast_context
from ._callbacks import RecordLossParts, TrainingControl, has_checkpoint, load_checkpoint

#: The authors' ContIG augmentation (random rotation up to 20 degrees, horizontal flip).
CONTIG_AUGMENT = {"rotation": 20.0, "hflip": True}


def resolve_device(device: str) -> str:
    """``"auto"`` -> ``"cuda"`` when a GPU is visible, else ``"cpu"``."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def resolve_precision(precision: str, device: str):
    """Autocast dtype for ``precision`` on ``device`` (None: full float32)."""
    if precision == "bf16":
        return torch.bfloat16
    if precision == "auto" and device.startswith("cuda") and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


def split_by_individual(ds, rows, fraction, rng):
    """Split sample ``rows`` into train/validation rows so no individual is in both.

    Returns ``(train_rows, valid_rows)``; ``valid_rows`` is empty when ``fraction``
    is 0 or fewer than 2 individuals would be held out.
    """
    rows = np.asarray(rows)
    individuals = np.asarray(ds["individual"].values)[rows]
    unique = pd.unique(individuals)
    n_valid = int(round(fraction * len(unique)))
    if fraction == 0 or n_valid < 2 or len(unique) - n_valid < 2:
        return rows, rows[:0]
    held = set(rng.choice(unique, size=n_valid, replace=False).tolist())
    in_valid = np.fromiter((i in held for i in individuals), dtype=bool, count=len(rows))
    return rows[~in_valid], rows[in_valid]


#: Constraints of the training parameters shared by pretrainers and downstream estimators.
TRAINING_CONSTRAINTS: dict = {
    "image_size": [Interval(Integral, 8, None, closed="left"), None],
    "batch_size": [Interval(Integral, 2, None, closed="left")],
    "max_epochs": [Interval(Integral, 0, None, closed="left")],
    "lr": [Interval(Real, 0, None, closed="neither")],
    "weight_decay": [Interval(Real, 0, None, closed="left")],
    "augment": ["boolean", dict],
    "validation_fraction": [Interval(Real, 0, 1, closed="left")],
    "patience": [Interval(Integral, 1, None, closed="left"), None],
    "device": [str],
    "precision": [StrOptions({"auto", "32", "bf16"})],
    "num_workers": [Interval(Integral, 0, None, closed="left")],
    "checkpoint_dir": [str, os.PathLike, None],
    "random_state": ["random_state"],
    "callbacks": [list, None],
    "verbose": ["verbose"],
}


class BasePretrainer(TransformerMixin, BaseEstimator):
    """Base class of the pretrainers; not for direct use.

    Subclasses implement ``_prepare(ds)`` (modalities and usable rows),
    ``_build_module(encoder, ds, modalities)`` and ``_build_criterion()``, and may
    override ``_default_augment()`` and ``score``.
    """

    _parameter_constraints: dict = {
        **TRAINING_CONSTRAINTS,
        "image_encoder": [StrOptions(set(IMAGE_ENCODERS))],
        "compile": ["boolean"],
        "resume": ["boolean"],
        "accelerator": "no_validation",
    }

    # ------------------------------------------------------------------ hooks
    def _prepare(self, ds):  # pragma: no cover - abstract
        """Return ``(modalities, rows)``: genetic modalities used and usable sample rows."""
        raise NotImplementedError

    def _build_module(self, encoder, ds, modalities):  # pragma: no cover - abstract
        raise NotImplementedError

    def _build_criterion(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _default_augment(self) -> dict:
        return dict(CONTIG_AUGMENT)

    def _fit_callbacks(self) -> list:
        """Extra skorch callbacks of a method (before the user's)."""
        return []

    # ---------------------------------------------------------------- helpers
    @staticmethod
    def _as_dataset(X, name="X") -> xr.Dataset:
        ds = as_dataset(X)
        if ds is None:
            raise TypeError(
                f"{name} must be an xarray.Dataset (or sklearn_contig.data.Samples), "
                f"got {type(X).__name__}"
            )
        return ds

    def _check_image_for_encoder(self, ds) -> int:
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
        return int(img.shape[1])

    def _augment_module(self):
        if self.augment is False:
            return None
        params = self._default_augment()
        if isinstance(self.augment, dict):
            unknown = set(self.augment) - set(BatchAugment.__init__.__code__.co_varnames)
            if unknown:
                raise ValueError(f"augment has unknown keys {sorted(unknown)}")
            params.update(self.augment)
        return BatchAugment(**params)

    def _normalization(self, encoder, ds, rows, seed) -> None:
        rng = np.random.default_rng(seed)
        take = np.sort(rng.choice(rows, size=min(len(rows), 256), replace=False))
        X, _ = CohortDataset(ds, [], indices=take).__getitems__(np.arange(len(take)))
        with torch.no_grad():
            x = encoder.to_unit(X["image"])
        dims = (0,) if x.ndim == 2 else (0, 2, 3)
        encoder.set_normalization(x.mean(dim=dims), x.std(dim=dims))

    def _make_net(self, module, criterion, train_ds, valid_ds, device):
        from skorch import NeuralNet
        from skorch.callbacks import ProgressBar
        from skorch.helper import predefined_split

        pin = device.startswith("cuda")
        monitor = "valid_loss" if valid_ds is not None else None
        patience = self.patience if monitor is not None else None
        callbacks = [
            ("loss_parts", RecordLossParts()),
            *self._fit_callbacks(),
            ("control", TrainingControl(patience=patience, monitor=monitor or "valid_loss", dirname=self.checkpoint_dir)),
        ]
        if int(self.verbose) > 1:
            callbacks.append(("progress", ProgressBar()))
        for i, cb in enumerate(self.callbacks or []):
            callbacks.append(cb if isinstance(cb, tuple) else (f"user_{i}", cb))
        loader = {
            "collate_fn": collate_batch,
            "num_workers": self.num_workers,
            "pin_memory": pin,
            "persistent_workers": self.num_workers > 0,
        }
        net_cls, extra = NeuralNet, {"device": device}
        if getattr(self, "accelerator", None) is not None:
            from ._accelerate import AcceleratedNet

            net_cls, extra = AcceleratedNet, {"accelerator": self.accelerator, "device": None}
        return net_cls(
            module=module,
            criterion=criterion,
            optimizer=torch.optim.Adam,
            optimizer__weight_decay=self.weight_decay,
            # one fused kernel per step instead of a Python loop over parameters:
            # on a CPU this makes the Adam step of the full ContIG model 6x faster
            optimizer__fused=torch.device(device).type in ("cpu", "cuda"),
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            train_split=None if valid_ds is None else predefined_split(valid_ds),
            iterator_train__shuffle=True,
            iterator_train__drop_last=len(train_ds) > self.batch_size,
            **{f"iterator_train__{k}": v for k, v in loader.items()},
            **{f"iterator_valid__{k}": v for k, v in loader.items()},
            callbacks=callbacks,
            verbose=int(self.verbose),
            **extra,
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
        ds = self._as_dataset(X)
        in_channels = self._check_image_for_encoder(ds)
        modalities, rows = self._prepare(ds)
        augment = self._augment_module()
        if self.resume and self.checkpoint_dir is None:
            raise ValueError("resume=True needs checkpoint_dir")
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        train_rows, valid_rows = split_by_individual(ds, rows, self.validation_fraction, rng)
        accelerator = getattr(self, "accelerator", None)
        device = str(accelerator.device) if accelerator is not None else resolve_device(self.device)
        codes = individual_codes(ds)
        cuda = device.startswith("cuda")
        fork_devices = [torch.device(device).index or 0] if cuda else []
        with torch.random.fork_rng(devices=fork_devices):
            torch.manual_seed(seed)
            train_ds = CohortDataset(ds, modalities, indices=train_rows, codes=codes)
            valid_ds = (
                CohortDataset(ds, modalities, indices=valid_rows, fill=train_ds.fill, codes=codes)
                if len(valid_rows)
                else None
            )
            size = self.image_size if self.image_encoder != "mlp" else None
            encoder = ImageEncoder(self.image_encoder, in_channels=in_channels, image_size=size)
            if size is None and self.image_encoder != "mlp":
                encoder.image_size = int(ds[IMAGE].shape[-1])
            self._normalization(encoder, ds, train_rows, seed)
            module = self._build_module(encoder, ds, modalities)
            module.augment = augment if augment is not None else getattr(module, "augment", None)
            # under accelerate, mixed precision is the Accelerator's (mixed_precision=...)
            module.autocast_dtype = None if accelerator is not None else resolve_precision(self.precision, device)
            if cuda:
                module = module.to(memory_format=torch.channels_last)
            if self.compile:
                encoder.backbone.compile()
            net = self._make_net(module, self._build_criterion(), train_ds, valid_ds, device)
            net.initialize()
            if self.resume and has_checkpoint(self.checkpoint_dir):
                load_checkpoint(net, self.checkpoint_dir)
            done = len(net.history)
            stopped = done > 0 and net.history[-1].get("stopped_early", False)
            remaining = 0 if stopped else self.max_epochs - done
            if remaining > 0:
                net.partial_fit(train_ds, epochs=remaining)
        net.train_split = None  # drop the reference to the data
        if accelerator is not None:
            net.accelerator = None  # the Accelerator holds process state; it is a fit-time tool
            net.device = device
        net.module_.eval()
        self.net_ = net
        self.module_ = net.module_
        self.modalities_ = list(modalities)
        self.fill_values_ = train_ds.fill
        self.n_train_samples_ = len(train_rows)
        self.n_valid_samples_ = len(valid_rows)
        self.device_ = device
        ctl = dict(net.callbacks_)["control"]
        self.best_epoch_ = ctl.best_epoch_
        self.embedding_dim_ = encoder.out_dim
        return self

    @property
    def history_(self):
        """The skorch training history (one row per epoch)."""
        check_is_fitted(self, "net_")
        return self.net_.history

    # -------------------------------------------------------------- embedding
    def _image_batches(self, X):
        """Yield ``(uint8-or-float image tensor, sample ids or None)`` batches from X."""
        ds = as_dataset(X)
        bs = max(self.batch_size, 64)
        if ds is not None:
            if IMAGE not in ds:
                raise ValueError("X has no 'image' variable")
            # decoded in DataLoader worker processes when num_workers > 0
            loader = make_loader(CohortDataset(ds, [], include_image=True), bs, num_workers=self.num_workers,
                                 pin_memory=torch.cuda.is_available())
            for batch, _ in loader:
                yield batch["image"]
            return
        if isinstance(X, xr.DataArray):
            X = X.values
        if isinstance(X, torch.Tensor):
            X = X.detach().cpu().numpy()
        X = np.asarray(X)
        if X.dtype.kind not in "uif":
            raise TypeError(f"X must be a numeric image array, got dtype {X.dtype}")
        if X.dtype.kind == "f" and not np.isfinite(X).all():
            raise ValueError("X has non-finite values (NaN or inf)")
        for start in range(0, len(X), bs):
            chunk = X[start : start + bs]
            if chunk.dtype != np.uint8:
                chunk = chunk.astype(np.float32)
            yield torch.from_numpy(np.ascontiguousarray(chunk))

    def _sample_index(self, X):
        """Index of the pandas output: (sample, individual) for cohort Datasets."""
        ds = as_dataset(X)
        if ds is not None:
            return pd.MultiIndex.from_arrays(
                [ds["sample"].values, ds["individual"].values], names=["sample", "individual"]
            )
        if isinstance(X, xr.DataArray) and "sample" in X.coords:
            return pd.Index(X["sample"].values, name="sample")
        return None

    @torch.no_grad()
    def _embed(self, X) -> np.ndarray:
        module = self.module_
        module.eval()
        encoder = module.image_encoder
        device = next(module.parameters()).device
        out = []
        for images in self._image_batches(X):
            images = images.to(device, non_blocking=True)
            with autocast_context(device.type, getattr(module, "autocast_dtype", None)):
                h = encoder(images)
            out.append(h.float().cpu().numpy())
        if not out:
            return np.zeros((0, encoder.out_dim), dtype=np.float32)
        return np.concatenate(out)

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
        if _get_output_config("transform", self)["dense"] == "pandas":
            return pd.DataFrame(Z, index=self._sample_index(X), columns=self.get_feature_names_out())
        return Z

    def get_feature_names_out(self, input_features=None):
        """Names of the embedding columns: ``embedding0`` ... ``embedding{d-1}``."""
        check_is_fitted(self, "net_")
        return np.asarray([f"embedding{i}" for i in range(self.embedding_dim_)], dtype=object)

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

    def __getstate__(self):
        # pickles for inference: without the optimizer state (see checkpoint_dir)
        return state_without_optimizer(self)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        tags.non_deterministic = self.device != "cpu"
        return tags
