"""The one training core: every estimator that trains a network derives from ``NetEstimator``.

A ``NetEstimator`` is a plain scikit-learn estimator (parameters stored in
``__init__``, checked by ``_parameter_constraints`` before any work) that builds
a skorch ``NeuralNet`` in ``fit``; skorch's loop is the training loop. The base
owns everything the estimators share:

- the training parameters and their constraints (:data:`TRAINING_CONSTRAINTS`);
- seeding, the split by individual, device, precision, channels_last and
  ``torch.compile``;
- normalisation statistics of a fresh image encoder;
- the skorch net with early stopping, restore of the best epoch, per-epoch
  checkpoints and ``resume``, and the optional ``accelerate.Accelerator``;
- the inference batch loop (:meth:`NetEstimator._map_batches`) and pickling.

Subclasses supply hooks only: the starting encoder (``_initial_encoder``), the
network (``_build_module``), the criterion (``_build_criterion``), and, where
they differ, the augmentation, the dataset class and extra callbacks.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
from numbers import Integral, Real

import numpy as np
import pandas as pd
import torch
import xarray as xr
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted
from torch import nn

from .._compat import Interval, StrOptions
from .._distributed import broadcast_state, convert_sync_batchnorm
from .._pickle import state_without_optimizer
from ..data import CohortDataset, as_dataset, collate_batch, individual_codes, inference_batch_size
from ..data._schema import IMAGE
from ..models import BatchAugment, ImageEncoder
from ..models.contig import autocast_context
from ._callbacks import (
    Interruption,
    RecordLossParts,
    SkippedData,
    TrainingControl,
    checkpoint_interval,
    load_checkpoint,
)
from ._checkpoint import FolderLock, check_fingerprint, fingerprint, has_checkpoint
from ._net import EpochOrder, TrainingInterrupted, TrainingNet

#: The authors' ContIG and fine-tuning augmentation (random rotation up to 20
#: degrees, horizontal flip), applied on the device.
GEOMETRIC_AUGMENT = {"rotation": 20.0, "hflip": True}


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


def image_dataset(X, name: str = "X") -> xr.Dataset:
    """``X`` as a cohort Dataset: Datasets/Samples as they are, image arrays wrapped.

    Arrays ``(n, c, h, w)`` or ``(n, d)`` (numpy, torch, DataArray), uint8 or float,
    are wrapped without copying, with one individual per sample.
    """
    ds = as_dataset(X)
    if ds is not None:
        if IMAGE not in ds:
            raise ValueError(f"{name} has no 'image' variable")
        return ds
    if isinstance(X, xr.DataArray):
        X = X.values
    if isinstance(X, torch.Tensor):
        X = X.detach().cpu().numpy()
    X = np.asarray(X)
    if X.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a numeric image array or a cohort Dataset, got dtype {X.dtype}")
    if X.ndim not in (2, 4):
        raise ValueError(f"{name} must be images (n, channel, y, x) or flat features (n, d), got shape {X.shape}")
    if X.dtype.kind == "f" and not np.isfinite(X).all():
        raise ValueError(f"{name} has non-finite values (NaN or inf)")
    dims = ("sample", "feature") if X.ndim == 2 else ("sample", "channel", "y", "x")
    ids = np.arange(X.shape[0])
    return xr.Dataset({IMAGE: (dims, X)}, coords={"sample": ids, "individual": ("sample", ids)})


#: Constraints of the training parameters shared by every ``NetEstimator``.
TRAINING_CONSTRAINTS: dict = {
    "image_size": [Interval(Integral, 8, None, closed="left"), None],
    "batch_size": [Interval(Integral, 2, None, closed="left"), StrOptions({"auto"})],
    "max_epochs": [Interval(Integral, 0, None, closed="left")],
    "lr": [Interval(Real, 0, None, closed="neither")],
    "weight_decay": [Interval(Real, 0, None, closed="left")],
    "augment": ["boolean", dict],
    "validation_fraction": [Interval(Real, 0, 1, closed="left"), StrOptions({"auto"})],
    "patience": [Interval(Integral, 1, None, closed="left"), None],
    "device": [str],
    "precision": [StrOptions({"auto", "32", "bf16"})],
    "compile": ["boolean"],
    "num_workers": [Interval(Integral, 0, None, closed="left")],
    "checkpoint_dir": [str, os.PathLike, None],
    "resume": ["boolean"],
    "checkpoint_every": [Interval(Integral, 1, None, closed="left"), str, None],
    "on_nonfinite": [StrOptions({"raise", "skip"})],
    "on_bad_image": [StrOptions({"raise", "skip"})],
    "random_state": ["random_state"],
    "callbacks": [list, None],
    "verbose": ["verbose"],
    "accelerator": "no_validation",
    "sync_batchnorm": ["boolean"],
}

_TRAINING_PARAMS_DOC = """batch_size : int or "auto", default={batch_size}
        Samples per optimizer step. ``"auto"``: the batch that keeps an epoch
        at about 60 optimizer steps, between 8 and 32 (8 up to about 500
        training samples, 16 at 1,000, 32 from about 2,000 on): small and
        mid-sized labelled sets gain from more steps (measured from 50 to
        2,000 images).
    max_epochs : int, default={max_epochs}
        Passes over the training samples; 0 gives an untrained (randomly
        initialised) network, a useful baseline.
    lr : float, default=1e-3
        Adam learning rate.
    weight_decay : float, default={weight_decay}
        Adam's L2 penalty{weight_decay_note}.
    augment : bool or dict, default=True
        Training-only augmentation on the device: {augment}. A dict overrides
        or adds :class:`~sklearn_contig.models.BatchAugment` arguments; False
        disables it.
    validation_fraction : float or "auto", default={validation_fraction}
        Fraction of individuals (the ``individual`` coordinate; samples for
        arrays) held out for early stopping; 0 disables both and trains the
        full budget. ``"auto"``: 0.1 when that holds out at least 500
        individuals (5,000 or more), otherwise 0: a smaller validation split
        stops training on noise (at 1,000 labelled images, early stopping on
        100 of them cost a regression 0.2 R^2 on average).
    patience : int or None, default=5
        Epochs without held-out improvement before stopping; the best epoch's
        weights are restored.
    device : str, default="auto"
        ``"auto"`` uses a GPU when one is visible.
    precision : {{"auto", "32", "bf16"}}, default="auto"
        ``"auto"``: bf16 autocast on GPUs that support it, float32 otherwise.
    compile : bool, default=False
        ``torch.compile`` the image backbone.
    num_workers : int, default=0
        DataLoader worker processes reading (and decoding) batches, in training
        and inference.
    checkpoint_dir : str or Path, default=None
        Write a checkpoint after every epoch (weights, optimizer state, RNG
        states, history, and a fingerprint of the parameters and data), whole
        or not at all. One fit at a time may use a folder (a ``lock`` file).
        On SIGTERM or SIGINT the fit finishes its step, writes a mid-epoch
        checkpoint and raises :class:`~sklearn_contig.training.TrainingInterrupted`.
    resume : bool, default=False
        Continue from the checkpoint in ``checkpoint_dir`` when there is one,
        mid-epoch included, as the uninterrupted fit would have (on CPU to
        float precision). A checkpoint written by a fit with other data or
        other parameters is refused (``ValueError``); ``max_epochs``,
        ``patience``, ``verbose``, ``num_workers``, ``device``, ``precision``,
        ``compile``, ``callbacks`` and the fault options may change.
    checkpoint_every : int, str or None, default=None
        Also checkpoint in the middle of epochs, every this many optimizer
        steps (int) or this much time (``"30min"``, ``"2h"``), against hard
        kills (SIGKILL, node failure). Needs ``checkpoint_dir``; one process
        only (across processes checkpoints are written at epoch ends).
    on_nonfinite : {{"raise", "skip"}}, default="raise"
        A non-finite training loss or gradient stops the fit with a
        :class:`~sklearn_contig.training.NonFiniteLoss` naming the epoch and
        batch (the weights of that step are not applied; the last checkpoint
        stays), or ``"skip"``: the step is not applied and is counted
        (``skipped_steps`` in the history).
    on_bad_image : {{"raise", "skip"}}, default="raise"
        An image file that cannot be read during training raises a
        ``ValueError`` naming its sample and file, or ``"skip"``: the sample
        leaves its batch, ``skipped_samples_`` lists it and the history counts
        it (``skipped_images``). ``read_images(..., check=True)`` finds such
        files before a fit.
    random_state : int, RandomState or None, default=None
        Seeds initialisation, the validation split, shuffling and augmentation;
        CPU runs are repeatable.
    callbacks : list of skorch callbacks, default=None
    verbose : int, default={verbose}
        1 prints the skorch epoch table, 2 adds per-batch progress bars.
    accelerator : accelerate.Accelerator, default=None
        Train across the processes started by ``accelerate launch`` or
        ``torchrun`` (several GPUs or machines): the Accelerator shards the
        data, wraps the model in DistributedDataParallel and handles mixed
        precision (``device`` and ``precision`` are then ignored). Needs the
        ``accelerate`` package (``pip install sklearn-contig[gpu]``). Dropped
        from the fitted estimator after training. Every process ends with the
        same weights, stops at the same epoch and can call ``transform`` /
        ``predict``.
    sync_batchnorm : bool, default=False
        Replace every BatchNorm layer by a synchronised one, whose statistics
        are those of the global batch of all processes (on GPUs and on CPU
        processes alike): training on k processes with batch ``b`` then
        matches one process with batch ``k * b``. Without it each process
        normalises with its own batch. No effect in a single process."""


def training_params_doc(*, batch_size, max_epochs, weight_decay, verbose, augment, weight_decay_note="",
                        validation_fraction="0.1") -> str:
    """numpydoc text of the shared training parameters, with an estimator's defaults."""
    return _TRAINING_PARAMS_DOC.format(
        batch_size=batch_size, max_epochs=max_epochs, weight_decay=weight_decay, verbose=verbose,
        augment=augment, weight_decay_note=weight_decay_note, validation_fraction=validation_fraction,
    )


#: ``batch_size="auto"`` keeps an epoch at this many optimizer steps, within
#: ``AUTO_BATCH_RANGE``.
AUTO_BATCH_STEPS = 60
AUTO_BATCH_RANGE = (8, 32)


def auto_batch_size(n_train: int) -> int:
    """``batch_size="auto"``: ``n_train // 60`` (60 steps an epoch), clipped to [8, 32]."""
    return int(np.clip(n_train // AUTO_BATCH_STEPS, *AUTO_BATCH_RANGE))


#: ``validation_fraction="auto"`` holds out 10 % of the individuals when that is
#: at least this many of them, and nobody otherwise.
MIN_VALIDATION_INDIVIDUALS = 500


def auto_validation_fraction(n_individuals: int) -> float:
    """``validation_fraction="auto"``: 0.1 when it holds out >= 500 individuals, else 0."""
    return 0.1 if round(0.1 * n_individuals) >= MIN_VALIDATION_INDIVIDUALS else 0.0


#: Inference on at least this many samples shows a progress bar (when ``verbose``).
PROGRESS_MIN_SAMPLES = 10_000


#: numpydoc text of the fitted attributes every ``NetEstimator`` sets.
TRAINING_ATTRS_DOC = """net_ : skorch.NeuralNet
        The trained network wrapper; ``history_`` is its per-epoch history.
    module_ : torch.nn.Module
        The trained network, in eval mode.
    best_epoch_ : int or None
        Epoch whose weights were restored (None without a validation split).
    pretrained_ : bool
        Whether the image encoder started from pretrained weights.
    batch_size_ : int
        The batch size trained with (``batch_size`` resolved).
    n_train_samples_, n_valid_samples_ : int
        Samples trained on and held out for early stopping.
    skipped_samples_ : ndarray
        Samples left out of training because their image could not be read
        (``on_bad_image="skip"``); empty otherwise."""


def _inherit_parameters(cls) -> None:
    """Give ``cls.__init__`` the parameters of its parent's constructor too.

    A ``NetEstimator`` subclass's ``__init__`` lists and stores only the
    parameters it adds (scikit-learn style, keyword-only after the first). Its
    signature becomes: the parent's positional parameters, its own, then the
    parent's keyword-only ones with the defaults changed in
    ``cls._default_overrides``. A call binds that signature (an unknown name is
    a ``TypeError``), runs the class's ``__init__`` on its own parameters and
    the parent's on the rest, so every parameter is listed and stored in exactly
    one constructor and ``get_params``/``clone`` see them all.
    """
    own_init = cls.__dict__["__init__"]
    parent = next(c for c in cls.__mro__[1:] if "__init__" in c.__dict__ and issubclass(c, NetEstimator))
    parent_init = parent.__init__
    own = list(inspect.signature(own_init).parameters.values())
    inherited = list(inspect.signature(parent_init).parameters.values())[1:]
    clash = {p.name for p in own} & {p.name for p in inherited}
    if clash:
        raise TypeError(f"{cls.__name__}.__init__ repeats parameters of {parent.__name__}: {sorted(clash)}")
    overrides = getattr(cls, "_default_overrides", {})
    inherited = [p.replace(default=overrides.get(p.name, p.default)) for p in inherited]
    positional = inspect.Parameter.POSITIONAL_OR_KEYWORD

    def by_kind(params, positional_only):
        return [p for p in params if (p.kind is positional) == positional_only]

    signature = inspect.signature(own_init).replace(parameters=[
        own[0], *by_kind(inherited, True), *by_kind(own[1:], True),
        *by_kind(own[1:], False), *by_kind(inherited, False),
    ])
    own_names = [p.name for p in own[1:]]

    @functools.wraps(own_init)
    def __init__(self, *args, **kwargs):
        try:
            bound = signature.bind(self, *args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{cls.__name__}(): {exc}") from None
        bound.apply_defaults()
        values = dict(bound.arguments)
        del values[own[0].name]
        own_init(self, **{name: values.pop(name) for name in own_names})
        parent_init(self, **values)

    __init__.__signature__ = signature
    cls.__init__ = __init__


def set_data_normalization(encoder, ds, rows, seed, *, on_bad_image="raise") -> None:
    """Set ``encoder``'s input statistics from up to 256 images of ``ds`` drawn from ``rows``.

    The per-channel (per-feature for flat input) mean and standard deviation of
    the 0-1 scaled images, drawn without replacement with ``seed``.
    """
    rng = np.random.default_rng(seed)
    take = np.sort(rng.choice(np.asarray(rows), size=min(len(rows), 256), replace=False))
    X, _ = next(CohortDataset(ds, [], indices=take, on_bad_image=on_bad_image).batches(len(take)))
    with torch.no_grad():
        x = encoder.to_unit(X["image"])
    dims = (0,) if x.ndim == 2 else (0, 2, 3)
    encoder.set_normalization(x.mean(dim=dims), x.std(dim=dims))


class NetEstimator(BaseEstimator):
    """Base class of every estimator that trains a network; not for direct use.

    Subclasses call :meth:`_fit_net` from ``fit`` and implement the hooks
    ``_initial_encoder(ds)``, ``_build_module(encoder, train_data)`` and
    ``_build_criterion()``; they may override ``_default_augment``,
    ``_set_augment``, ``_fit_callbacks`` and ``_dataset_class``.

    The parameters every such estimator shares are listed and stored once, in
    this class's ``__init__``. A subclass's ``__init__`` lists and stores only
    the parameters it adds and inherits the others (see
    :func:`_inherit_parameters`); a family of estimators changes shared defaults
    with ``_default_overrides``.
    """

    _parameter_constraints: dict = {
        "pretrained_weights": [str, os.PathLike, None],
        "weights_normalization": [StrOptions({"imagenet", "data"})],
        **TRAINING_CONSTRAINTS,
    }

    #: Defaults of inherited parameters that differ in a family of estimators.
    _default_overrides: dict = {}

    def __init__(
        self,
        *,
        pretrained_weights=None,
        weights_normalization="imagenet",
        image_size=None,
        batch_size=64,
        max_epochs=100,
        lr=1e-3,
        weight_decay=1e-6,
        augment=True,
        validation_fraction=0.1,
        patience=5,
        device="auto",
        precision="auto",
        compile=False,
        num_workers=0,
        checkpoint_dir=None,
        resume=False,
        checkpoint_every=None,
        on_nonfinite="raise",
        on_bad_image="raise",
        random_state=None,
        callbacks=None,
        verbose=1,
        accelerator=None,
        sync_batchnorm=False,
    ):
        self.pretrained_weights = pretrained_weights
        self.weights_normalization = weights_normalization
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
        self.compile = compile
        self.num_workers = num_workers
        self.checkpoint_dir = checkpoint_dir
        self.resume = resume
        self.checkpoint_every = checkpoint_every
        self.on_nonfinite = on_nonfinite
        self.on_bad_image = on_bad_image
        self.random_state = random_state
        self.callbacks = callbacks
        self.verbose = verbose
        self.accelerator = accelerator
        self.sync_batchnorm = sync_batchnorm

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            _inherit_parameters(cls)

    #: Dataset class of the training and validation data.
    _dataset_class = CohortDataset

    # ------------------------------------------------------------------ hooks
    def _initial_encoder(self, ds) -> tuple[ImageEncoder, bool]:  # pragma: no cover - abstract
        """The image encoder training starts from, and whether it is pretrained."""
        raise NotImplementedError

    def _build_module(self, encoder: ImageEncoder, train_data: CohortDataset) -> nn.Module:  # pragma: no cover
        raise NotImplementedError

    def _build_criterion(self) -> nn.Module:  # pragma: no cover - abstract
        raise NotImplementedError

    def _default_augment(self, image_size=None) -> dict:
        """Augmentation parameters of the method for images of ``image_size`` px (None: flat)."""
        return dict(GEOMETRIC_AUGMENT)

    def _set_augment(self, module, augment) -> None:
        module.augment = augment

    def _fit_callbacks(self) -> list:
        """Extra skorch callbacks of a method (before the user's)."""
        return []

    # ---------------------------------------------------------------- helpers
    def _working_size(self, ds):
        """Side length the images are trained at (None for flat features)."""
        img = ds[IMAGE]
        return None if img.ndim == 2 else int(self.image_size or img.shape[-1])

    def _augment_module(self, image_size=None):
        if self.augment is False:
            return None
        params = self._default_augment(image_size)
        if isinstance(self.augment, dict):
            unknown = set(self.augment) - set(BatchAugment.__init__.__code__.co_varnames)
            if unknown:
                raise ValueError(f"augment has unknown keys {sorted(unknown)}")
            params.update(self.augment)
        return BatchAugment(**params)

    def _make_net(self, module, criterion, train_data, valid_data, device, *, sampler=None, fingerprint=None):
        from skorch.callbacks import ProgressBar
        from skorch.helper import predefined_split

        pin = device.startswith("cuda")
        monitor = "valid_loss" if valid_data is not None else None
        patience = self.patience if monitor is not None else None
        callbacks = [
            ("loss_parts", RecordLossParts()),
            ("skipped", SkippedData()),
            *self._fit_callbacks(),
            ("control", TrainingControl(patience=patience, monitor=monitor or "valid_loss",
                                        dirname=self.checkpoint_dir, fingerprint=fingerprint)),
            ("interruption", Interruption(every=self.checkpoint_every, sampler=sampler)),
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
        # one process: the resumable epoch order; across processes the
        # accelerated net's shuffling (a generator seeded from the global RNG)
        order = {"shuffle": False, "sampler": sampler} if sampler is not None else {"shuffle": True}
        net_cls, extra = TrainingNet, {"device": device}
        if self.accelerator is not None:
            from ._accelerate import AcceleratedNet, discard, print_on_main

            # skorch's default sink (the Accelerator's print) ignores verbose=0
            sink = print_on_main if int(self.verbose) else discard
            net_cls, extra = AcceleratedNet, {"accelerator": self.accelerator, "device": None,
                                              "callbacks__print_log__sink": sink}
        net = net_cls(
            module=module,
            criterion=criterion,
            optimizer=torch.optim.Adam,
            optimizer__weight_decay=self.weight_decay,
            # one fused kernel per step instead of a Python loop over parameters:
            # on a CPU this makes the Adam step of the full ContIG model 6x faster
            optimizer__fused=torch.device(device).type in ("cpu", "cuda"),
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size_,
            train_split=None if valid_data is None else predefined_split(valid_data),
            **{f"iterator_train__{k}": v for k, v in order.items()},
            iterator_train__drop_last=len(train_data) > self.batch_size_,
            **{f"iterator_train__{k}": v for k, v in loader.items()},
            **{f"iterator_valid__{k}": v for k, v in loader.items()},
            callbacks=callbacks,
            verbose=int(self.verbose),
            **extra,
        )
        net.on_nonfinite = self.on_nonfinite
        net.checkpoint_dir = self.checkpoint_dir
        return net

    def _check_fault_options(self) -> None:
        if self.resume and self.checkpoint_dir is None:
            raise ValueError("resume=True needs checkpoint_dir")
        if self.checkpoint_every is not None:
            if self.checkpoint_dir is None:
                raise ValueError("checkpoint_every needs checkpoint_dir")
            checkpoint_interval(self.checkpoint_every)

    # -------------------------------------------------------------------- fit
    def _fit_net(self, ds, rows, *, modalities=(), y=None) -> CohortDataset:
        """Train the network on sample ``rows`` of ``ds``; the one fit template.

        Splits ``rows`` by individual, builds the datasets, the encoder (with
        normalisation statistics when it is not pretrained), the module and the
        skorch net, resumes from ``checkpoint_dir`` when asked (refusing a
        checkpoint of another fit), trains for the epochs left and sets the
        shared fitted attributes. Returns the training data (its ``fill`` and
        ``indices`` are what subclasses keep).
        """
        self._check_fault_options()
        accelerator = self.accelerator
        main = accelerator is None or accelerator.is_main_process
        stamp = None
        if self.checkpoint_dir is not None:
            stamp = fingerprint(self, ds, rows, modalities, y)
            if self.resume and has_checkpoint(self.checkpoint_dir):
                check_fingerprint(self.checkpoint_dir, stamp)
        lock = FolderLock(self.checkpoint_dir) if self.checkpoint_dir is not None and main else None
        if lock is not None:
            lock.acquire()
        try:
            return self._train(ds, rows, modalities, y, stamp)
        finally:
            if lock is not None:
                lock.release()

    def _train(self, ds, rows, modalities, y, stamp):
        augment = self._augment_module(self._working_size(ds))
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        fraction = self.validation_fraction
        if fraction == "auto":
            fraction = auto_validation_fraction(len(pd.unique(np.asarray(ds["individual"].values)[rows])))
        train_rows, valid_rows = split_by_individual(ds, rows, fraction, rng)
        self.batch_size_ = auto_batch_size(len(train_rows)) if self.batch_size == "auto" else int(self.batch_size)
        accelerator = self.accelerator
        device = str(accelerator.device) if accelerator is not None else resolve_device(self.device)
        cuda = device.startswith("cuda")
        codes = individual_codes(ds)
        make = self._dataset_class
        bad = self.on_bad_image
        with torch.random.fork_rng(devices=[torch.device(device).index or 0] if cuda else []):
            torch.manual_seed(seed)
            train_data = make(ds, modalities, indices=train_rows, y=y, codes=codes, on_bad_image=bad)
            valid_data = (
                make(ds, modalities, indices=valid_rows, fill=train_data.fill, y=y, codes=codes, on_bad_image=bad)
                if len(valid_rows)
                else None
            )
            encoder, pretrained = self._initial_encoder(ds)
            if not pretrained:
                set_data_normalization(encoder, ds, train_rows, seed, on_bad_image=bad)
            module = self._build_module(encoder, train_data)
            if self.sync_batchnorm:
                module = convert_sync_batchnorm(module, device)
            self._set_augment(module, augment)
            # under accelerate, mixed precision is the Accelerator's (mixed_precision=...)
            module.autocast_dtype = None if accelerator is not None else resolve_precision(self.precision, device)
            if cuda:
                module = module.to(memory_format=torch.channels_last)
            if self.compile:
                encoder.backbone.compile()
            sampler = EpochOrder(len(train_data)) if accelerator is None else None
            net = self._make_net(module, self._build_criterion(), train_data, valid_data, device,
                                 sampler=sampler, fingerprint=stamp)
            net.initialize()
            mid_epoch = False
            if self.resume and has_checkpoint(self.checkpoint_dir):
                record = load_checkpoint(net, self.checkpoint_dir)
                position = record["position"]
                if position is not None and sampler is not None:
                    sampler.resume_at(position["order"].tolist(), position["consumed"], record["rng"])
                    net.continue_epoch = mid_epoch = True
                elif position is not None:  # across processes: restart the open epoch
                    net.history.pop()
            done = len(net.history) - int(mid_epoch)
            stopped = done > 0 and net.history[-1].get("stopped_early", False)
            remaining = 0 if stopped else self.max_epochs - done
            try:
                if remaining > 0:
                    net.partial_fit(train_data, epochs=remaining)
            finally:  # skorch skips on_train_end when the loop raises
                dict(net.callbacks_)["interruption"].restore_handlers()
        if sampler is not None:
            sampler.order = None  # the fitted net does not keep the last epoch's order
        callbacks = dict(net.callbacks_)
        interrupted = callbacks["interruption"].interrupted_
        if interrupted is not None:
            self._raise_interrupted(interrupted)
        net.train_split = None  # drop the reference to the data
        if accelerator is not None:
            # identical weights and buffers (BatchNorm statistics, memory banks)
            # in every process, whatever each one last saw
            net._unwrap_accelerator()
            broadcast_state(net.module_)
            net.accelerator = None  # the Accelerator holds process state; it is a fit-time tool
            net.device = device
        net.module_.eval()
        self.net_ = net
        self.module_ = net.module_
        self.device_ = device
        self.pretrained_ = pretrained
        self.n_train_samples_ = len(train_rows)
        self.n_valid_samples_ = len(valid_rows)
        self.best_epoch_ = callbacks["control"].best_epoch_
        self.skipped_samples_ = np.asarray(ds["sample"].values)[sorted(callbacks["skipped"].rows_)]
        return train_data

    def _raise_interrupted(self, info) -> None:
        where = f"epoch {info['epoch']}" + (f", batch {info['batch']}" if info["batch"] else " (its end)")
        if self.checkpoint_dir is None:
            state = "nothing was saved (no checkpoint_dir)"
        elif info["saved"]:
            state = f"its state is saved in {self.checkpoint_dir}; fit again with resume=True to continue from there"
        else:
            state = (f"the last epoch-end checkpoint in {self.checkpoint_dir} is kept; fit again with "
                     "resume=True to restart the interrupted epoch")
        message = f"{type(self).__name__} training stopped by {info['signal']} at {where}: {state}."
        if self.accelerator is None or self.accelerator.is_main_process:
            print(message, file=sys.stderr, flush=True)  # an uncaught SystemExit with a status prints nothing
        raise TrainingInterrupted(message)

    @property
    def history_(self):
        """The skorch training history (one row per epoch)."""
        check_is_fitted(self, "net_")
        return self.net_.history

    # -------------------------------------------------------------- inference
    @torch.no_grad()
    def _map_batches(self, ds, fn, *, modalities=(), fill=None, include_image=True) -> list:
        """``[fn(module, X) for X in batches of ds]``: the one inference loop.

        The fitted module runs in eval mode on its device under the training
        precision; batches come from :meth:`CohortDataset.batches` (decoded in
        ``num_workers`` DataLoader workers) and are moved to the device. With
        ``verbose`` and at least :data:`PROGRESS_MIN_SAMPLES` samples a progress
        bar shows the batches done.
        """
        from tqdm.auto import tqdm

        check_is_fitted(self, "net_")
        module = self.module_.eval()
        device = next(module.parameters()).device
        data = CohortDataset(ds, modalities, fill=fill, include_image=include_image, codes=individual_codes(ds))
        size = inference_batch_size(self.batch_size_)
        batches = data.batches(self.batch_size_, num_workers=self.num_workers, pin_memory=device.type == "cuda")
        show = int(self.verbose) > 0 and len(data) >= PROGRESS_MIN_SAMPLES
        out = []
        for X, _ in tqdm(batches, total=-(-len(data) // size), disable=not show, desc=type(self).__name__,
                         unit="batch"):
            X = {k: v.to(device, non_blocking=True) for k, v in X.items()}
            with autocast_context(device.type, getattr(module, "autocast_dtype", None)):
                out.append(fn(module, X))
        return out

    def save_pretrained(self, folder, *, metrics=None, overwrite=False):
        """Write the fitted model to ``folder`` to share it: config.json, model.safetensors, README.md.

        Rebuild it with :func:`sklearn_contig.load_pretrained` (nothing is
        unpickled); see :func:`sklearn_contig.save_pretrained` for the files
        and the arguments.
        """
        from .._pretrained import save_pretrained

        return save_pretrained(self, folder, metrics=metrics, overwrite=overwrite)

    def __getstate__(self):
        # pickles for inference: without the optimizer state (see checkpoint_dir)
        return state_without_optimizer(self)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.device != "cpu"
        return tags
