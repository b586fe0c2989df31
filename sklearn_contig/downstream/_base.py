"""Shared machinery of the downstream estimators (classification, regression, segmentation).

A downstream estimator is a plain scikit-learn estimator that builds a skorch
``NeuralNet`` in ``fit``: an image encoder (from a fitted pretrainer, an encoder
file or a fresh one) plus a task head. The training loop, early stopping with
restore of the best epoch, device/precision handling, normalisation statistics and
augmentation are the pretrainers' (:mod:`sklearn_contig.pretraining._base`); the
tasks differ only in head, loss and how labels are encoded and decoded.
"""

from __future__ import annotations

import copy
import os

import numpy as np
import torch
import xarray as xr
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import nn

from .._pickle import state_without_optimizer
from ..data import CohortDataset, as_dataset, individual_codes
from ..data._schema import IMAGE
from ..models import IMAGE_ENCODERS, BatchAugment, ImageEncoder, load_encoder
from ..models.contig import autocast_context
from ..pretraining._base import (
    TRAINING_CONSTRAINTS,
    BasePretrainer,
    resolve_device,
    resolve_precision,
    split_by_individual,
)


class DownstreamModule(nn.Module):
    """Image encoder followed by a task head; the network of every downstream estimator.

    ``forward(image, **ignored)`` scales, (in training) augments, normalises and
    encodes the images, then applies ``head`` to the pooled embedding.

    Parameters
    ----------
    encoder : ImageEncoder
    head : nn.Module
        Maps the embedding ``(n, encoder.out_dim)`` to the task's outputs.
    freeze : bool, default=False
        Linear evaluation: the encoder gets no gradients and stays in eval mode
        (BatchNorm statistics frozen too) whatever ``train()`` is called with.
    """

    def __init__(self, encoder: ImageEncoder, head: nn.Module, freeze: bool = False):
        super().__init__()
        self.encoder = encoder
        self.head = head
        self.freeze = bool(freeze)
        self.augment = None
        self.autocast_dtype = None
        if self.freeze:
            self.encoder.requires_grad_(False)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.freeze:
            self.encoder.eval()
        return self

    def _unit(self, image):
        return self.encoder.to_unit(image)

    def _backbone(self, fn, x):
        if self.freeze:
            with torch.no_grad():
                return fn(x)
        return fn(x)

    def forward(self, image, **ignored):  # (n, c, h, w) or (n, d) -> (n, n_outputs)
        x = self._unit(image)
        if self.augment is not None and self.training:
            x = self.augment(x)
        with autocast_context(x.device.type, self.autocast_dtype):
            h = self._backbone(self.encoder.backbone, self.encoder.normalize(x))
            out = self.head(h)
        return out.float()


class BaseDownstream(BaseEstimator):
    """Base class of the downstream estimators; not for direct use.

    Subclasses implement ``_encode_y(y)`` (validate and encode labels, set the
    label attributes, return the encoded array), ``_n_outputs()``, ``_build_head``
    and ``_build_criterion``.
    """

    _parameter_constraints: dict = {
        "encoder": [None, str, os.PathLike, HasMethods(["get_encoder"]), ImageEncoder],
        "image_encoder": [StrOptions(set(IMAGE_ENCODERS)), None],
        "freeze_encoder": ["boolean"],
        "target": [str, None],
        **TRAINING_CONSTRAINTS,
    }

    # The pretrainers' training machinery, reused as is: skorch net with early
    # stopping/restore and checkpoints, augmentation module, normalisation stats.
    _make_net = BasePretrainer._make_net
    _augment_module = BasePretrainer._augment_module
    _normalization = BasePretrainer._normalization

    def _default_augment(self) -> dict:
        return {"rotation": 20.0, "hflip": True}

    def _fit_callbacks(self) -> list:
        return []

    # ------------------------------------------------------------- task hooks
    def _encode_y(self, y):  # pragma: no cover - abstract
        raise NotImplementedError

    def _n_outputs(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def _build_head(self, encoder) -> nn.Module:  # pragma: no cover - abstract
        raise NotImplementedError

    def _build_criterion(self) -> nn.Module:  # pragma: no cover - abstract
        raise NotImplementedError

    def _build_module(self, encoder) -> nn.Module:
        return DownstreamModule(encoder, self._build_head(encoder), freeze=self.freeze_encoder)

    def _make_dataset(self, ds, indices, y, codes):
        return CohortDataset(ds, [], indices=indices, y=y, codes=codes)

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
            if reset:
                for attr in ("n_features_in_", "feature_names_in_"):
                    if hasattr(self, attr):
                        delattr(self, attr)
            return ds, True
        if isinstance(X, xr.DataArray):
            X = X.values
        if isinstance(X, torch.Tensor):
            X = X.detach().cpu().numpy()
        X = validate_data(
            self,
            X,
            reset=reset,
            allow_nd=True,
            dtype="numeric",
            ensure_min_samples=2 if reset else 1,
        )
        if X.ndim not in (2, 4):
            raise ValueError(
                f"X must be images (n, channel, y, x) or flat features (n, d), got shape {X.shape}"
            )
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
                labels = [k for k, v in ds.data_vars.items() if v.attrs.get("kind") == "label"]
                raise ValueError(
                    f"target={self.target!r} is not a variable of X; its label variables are {labels}"
                )
            y = ds[self.target].values
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None "
                "(for a Dataset, name a label variable with target=...)"
            )
        if hasattr(y, "values") and not isinstance(y, np.ndarray):
            y = y.values
        y = np.asarray(y)
        if y.ndim == 0 or len(y) != ds.sizes["sample"]:
            raise ValueError(
                f"y has {0 if y.ndim == 0 else len(y)} entries but X has {ds.sizes['sample']} samples"
            )
        return y

    # ---------------------------------------------------------------- encoder
    def _resolve_encoder(self, ds) -> tuple[ImageEncoder, bool]:
        """A private copy of the starting encoder and whether it is pretrained."""
        img = ds[IMAGE]
        flat = img.ndim == 2
        in_channels = int(img.shape[1])
        src = self.encoder
        if src is None:
            name = self.image_encoder or ("mlp" if flat else "resnet50")
            size = None if name == "mlp" else (self.image_size or int(img.shape[-1]))
            encoder, pretrained = ImageEncoder(name, in_channels=in_channels, image_size=size), False
        else:
            if isinstance(src, (str, os.PathLike)):
                encoder = load_encoder(src, expected=self.image_encoder)
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
                    raise TypeError(
                        f"encoder.get_encoder() returned {type(encoder).__name__}, not an ImageEncoder"
                    )
            if self.image_encoder is not None and encoder.name != self.image_encoder:
                raise ValueError(
                    f"encoder= holds a {encoder.name!r} encoder but image_encoder={self.image_encoder!r}"
                )
            pretrained = True
            if self.image_size is not None and not encoder.flat:
                encoder.image_size = int(self.image_size)
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
        return encoder, pretrained

    # -------------------------------------------------------------------- fit
    def _fit(self, X, y):
        self._validate_params()
        ds, is_dataset = self._input(X, reset=True)
        y = self._target(ds, y, is_dataset)
        y_enc = self._encode_y(y, ds)
        augment = self._augment_module()
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        rows = np.arange(ds.sizes["sample"])
        train_rows, valid_rows = split_by_individual(ds, rows, self.validation_fraction, rng)
        device = resolve_device(self.device)
        cuda = device.startswith("cuda")
        codes = individual_codes(ds)
        fork_devices = [torch.device(device).index or 0] if cuda else []
        with torch.random.fork_rng(devices=fork_devices):
            torch.manual_seed(seed)
            encoder, pretrained = self._resolve_encoder(ds)
            self._check_encoder(encoder)
            train_ds = self._make_dataset(ds, train_rows, y_enc, codes)
            valid_ds = self._make_dataset(ds, valid_rows, y_enc, codes) if len(valid_rows) else None
            if not pretrained:
                self._normalization(encoder, ds, train_rows, seed)
            module = self._build_module(encoder)
            self._set_augment(module, augment)
            module.autocast_dtype = resolve_precision(self.precision, device)
            if cuda:
                module = module.to(memory_format=torch.channels_last)
            net = self._make_net(module, self._build_criterion(), train_ds, valid_ds, device)
            net.initialize()
            if self.max_epochs > 0:
                net.partial_fit(train_ds, epochs=self.max_epochs)
        net.train_split = None  # drop the reference to the data
        net.module_.eval()
        self.net_ = net
        self.module_ = net.module_
        self.device_ = device
        self.encoder_name_ = encoder.name
        self.pretrained_ = pretrained
        self.n_train_samples_ = len(train_rows)
        self.n_valid_samples_ = len(valid_rows)
        self.best_epoch_ = dict(net.callbacks_)["control"].best_epoch_
        return self

    def _check_encoder(self, encoder) -> None:
        """Hook: refuse encoders a task cannot use."""

    def _set_augment(self, module, augment) -> None:
        module.augment = augment

    @property
    def history_(self):
        """The skorch training history (one row per epoch)."""
        check_is_fitted(self, "net_")
        return self.net_.history

    # ---------------------------------------------------------------- predict
    #: Smallest batch used for prediction, and the dtype of ``_forward``'s output.
    _predict_batch_min = 64
    _output_dtype = np.float64

    def _outputs(self, raw):
        """Map the module's raw output for one batch to the tensor ``_forward`` returns."""
        return raw

    @torch.no_grad()
    def _forward(self, X) -> np.ndarray:
        """Network outputs for ``X`` (through ``_outputs``), in eval mode, batch by batch."""
        check_is_fitted(self, "net_")
        ds, _ = self._input(X, reset=False)
        module = self.module_.eval()
        device = next(module.parameters()).device
        data = CohortDataset(ds, [], codes=np.zeros(ds.sizes["sample"], dtype=np.int64))
        bs = max(self.batch_size, self._predict_batch_min)
        out = []
        for start in range(0, len(data), bs):
            batch, _ = data.__getitems__(np.arange(start, min(start + bs, len(data))))
            out.append(self._outputs(module(batch["image"].to(device))).float().cpu().numpy())
        if not out:
            raise ValueError("X has no samples")
        return np.concatenate(out).astype(self._output_dtype)

    def __getstate__(self):
        # pickles for inference: without the optimizer state (see checkpoint_dir)
        return state_without_optimizer(self)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.device != "cpu"
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
    image_encoder : {"resnet50", "resnet18", "mlp"} or None, default=None
        Architecture trained from scratch when ``encoder`` is None (None:
        ``"resnet50"`` for images, ``"mlp"`` for flat (n, d) features). With an
        ``encoder``, a check: a different architecture raises ``ValueError``.
    freeze_encoder : bool, default=False
        Linear evaluation: the encoder is frozen (no gradients, eval mode
        including BatchNorm) and only the head trains.
    target : str or None, default=None
        For Dataset/Samples input without ``y``: name of the label variable
        (e.g. ``"grade"``) read from ``X`` in ``fit`` and ``score``; the labels
        then travel with the samples through cross-validation splits.
    image_size : int or None, default=None
        Side length images are resized to (on the device); a pretrained
        encoder's own size, or the training images' size, when None.
    batch_size : int, default=32
    max_epochs : int, default=50
    lr : float, default=1e-3
        Adam learning rate (the authors' fine-tuning setting).
    weight_decay : float, default=1e-5
        Adam's L2 penalty (the authors' fine-tuning setting).
    augment : bool or dict, default=True
        Training-only augmentation on the device: random rotation up to 20
        degrees and horizontal flips; a dict overrides or adds
        :class:`~sklearn_contig.models.BatchAugment` arguments; False disables.
        Flat (mlp) inputs are never augmented.
    validation_fraction : float, default=0.1
        Fraction of individuals (the ``individual`` coordinate of a Dataset;
        samples for arrays) held out for early stopping; 0 disables it.
    patience : int or None, default=5
        Epochs without held-out improvement before stopping; the best epoch's
        weights are restored.
    device : str, default="auto"
        ``"auto"`` uses a GPU when one is visible.
    precision : {"auto", "32", "bf16"}, default="auto"
        ``"auto"``: bf16 autocast on GPUs that support it, float32 otherwise.
    num_workers : int, default=0
        DataLoader worker processes.
    checkpoint_dir : str or path, default=None
        Write weights, optimizer state and history after every epoch.
    random_state : int, RandomState or None, default=None
        Seeds initialisation, the validation split, shuffling and augmentation;
        CPU runs are repeatable.
    callbacks : list of skorch callbacks, default=None
    verbose : int, default=0
        1 prints the skorch epoch table."""

COMMON_ATTRS = """net_ : skorch.NeuralNet
        The trained network wrapper; ``history_`` is its per-epoch history.
    module_ : torch.nn.Module
        Encoder plus head, in eval mode.
    best_epoch_ : int or None
        Epoch whose weights were restored (None without a validation split).
    pretrained_ : bool
        Whether the encoder started from pretrained weights.
    n_features_in_ : int
        Features (flat input) or channels (images) of array input."""


def init_common(self, encoder, image_encoder, freeze_encoder, target, image_size, batch_size,
                max_epochs, lr, weight_decay, augment, validation_fraction, patience, device,
                precision, num_workers, checkpoint_dir, random_state, callbacks, verbose):
    """Store the shared constructor arguments (``__init__`` only stores)."""
    self.encoder = encoder
    self.image_encoder = image_encoder
    self.freeze_encoder = freeze_encoder
    self.target = target
    self.image_size = image_size
    self.batch_size = batch_size
    self.max_epochs = max_epochs
    self.lr = lr
    self.weight_decay = weight_decay
    self.augment = augment
    self.validation_fraction = validation_fraction
    self.patience = patience
    self.device = device
    self.precision = precision
    self.num_workers = num_workers
    self.checkpoint_dir = checkpoint_dir
    self.random_state = random_state
    self.callbacks = callbacks
    self.verbose = verbose


def split_augment(augment: BatchAugment | None):
    """Split an augmentation into its geometric and photometric parts (for masks)."""
    if augment is None:
        return None, None
    geo = BatchAugment(rotation=augment.rotation, hflip=augment.hflip, crop_scale=augment.crop_scale)
    photo = None
    if augment.brightness or augment.contrast or augment.saturation or augment.grayscale_p or augment.blur_p:
        photo = BatchAugment(
            rotation=0.0, hflip=False, brightness=augment.brightness, contrast=augment.contrast,
            saturation=augment.saturation, jitter_p=augment.jitter_p,
            grayscale_p=augment.grayscale_p, blur_p=augment.blur_p, blur_sigma=augment.blur_sigma,
        )
    return geo, photo
