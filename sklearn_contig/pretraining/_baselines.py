"""Image-only self-supervised baselines of paper Table 1, on the shared pretrainer base.

SimCLR, BYOL, Barlow Twins, SimSiam and NNCLR train the image encoder from two
augmented views of each image; genetics in the Dataset are ignored. They share
all of :class:`~sklearn_contig.pretraining.BasePretrainer` (skorch loop, split
by individual, early stopping with restore, checkpoint/resume, transform,
save_encoder) and differ only in network, loss and callbacks.
"""

from __future__ import annotations

import inspect
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import Callback
from torch import nn

from .._compat import Interval, StrOptions
from ..data._schema import validate
from ..evaluation import top_k_retrieval
from ..losses import BarlowTwinsLoss, BYOLLoss, NNCLRLoss, NTXentLoss, SimSiamLoss, SSLCriterion
from ..models import BatchAugment
from ..models.ssl import BarlowTwinsModule, BYOLModule, NNCLRModule, SimCLRModule, SimSiamModule
from ..training import (
    PRETRAINED_WEIGHTS_DOC,
    cosine_decay,
    image_dataset,
    planned_steps,
    training_params_doc,
    unwrapped,
)
from ._base import BasePretrainer

#: Two-view augmentation the ContIG authors used for the baselines: random
#: resized crop (area 0.08-1), horizontal flip, colour jitter 0.7/0.7/0.7 with
#: hue 0.2 (p=0.8), grayscale (p=0.2), Gaussian blur (p=0.5); no rotation.
#: Flat image features (``image_encoder="mlp"``) get SCARF-style corruption
#: instead: half the features of a view come from other samples of the batch.
SSL_AUGMENT = {
    "rotation": 0.0,
    "hflip": True,
    "crop_scale": (0.08, 1.0),
    "brightness": 0.7,
    "contrast": 0.7,
    "saturation": 0.7,
    "hue": 0.2,
    "jitter_p": 0.8,
    "grayscale_p": 0.2,
    "blur_p": 0.5,
    "feature_mask_p": 0.5,
}

#: Two-view augmentation by image size: the preset of the largest size not above
#: the training size is used (smaller images take the 32 px one). At 224 px and
#: above it is the authors' recipe. Below, a crop of 8 % of a 32 px image is a
#: 9 x 9 patch and grayscale removes the colour that small fundus images are
#: recognised by: with the authors' recipe the baselines learn nothing at 32 px
#: (the loss stays at ln(2b - 1)), so small images get larger crops, milder
#: jitter and less grayscale/blur; at 32 px crops and flips alone (colour jitter
#: 0.4 there still kept every baseline but SimCLR under 2x its untrained
#: encoder's score in 8 epochs, without making a linear probe of the traits any
#: better: benchmarks/RESULTS.md).
SSL_AUGMENT_PRESETS = {
    32: {**SSL_AUGMENT, "crop_scale": (0.3, 1.0), "brightness": 0.0, "contrast": 0.0, "saturation": 0.0,
         "hue": 0.0, "jitter_p": 0.0, "grayscale_p": 0.0, "blur_p": 0.0},
    64: {**SSL_AUGMENT, "crop_scale": (0.25, 1.0), "brightness": 0.4, "contrast": 0.4, "saturation": 0.4,
         "hue": 0.1, "grayscale_p": 0.1, "blur_p": 0.2},
    224: dict(SSL_AUGMENT),
    448: dict(SSL_AUGMENT),
}


def ssl_augment(image_size=None) -> dict:
    """The two-view augmentation preset for images of ``image_size`` px (None: flat features).

    Examples
    --------
    >>> ssl_augment(32)["crop_scale"], ssl_augment(448)["crop_scale"]
    ((0.3, 1.0), (0.08, 1.0))
    """
    if image_size is None:
        return dict(SSL_AUGMENT)
    fitting = [size for size in SSL_AUGMENT_PRESETS if size <= image_size]
    return dict(SSL_AUGMENT_PRESETS[max(fitting) if fitting else min(SSL_AUGMENT_PRESETS)])


class EnqueueMemoryBank(Callback):
    """After each training step, add the batch's ``y_pred["enqueue"]`` to ``module.memory_bank``."""

    def on_batch_end(self, net, training=False, y_pred=None, **kwargs):
        if training and isinstance(y_pred, dict) and "enqueue" in y_pred:
            unwrapped(net).memory_bank.enqueue(y_pred["enqueue"])


class MomentumUpdate(Callback):
    """BYOL's target update after each training step, with its momentum schedule.

    ``"cosine"``: ``m_k = 1 - (1 - m) (cos(pi k / K) + 1) / 2`` over the K training
    steps of the fit (Grill et al., 2020), from ``m`` to 1; ``"constant"``: ``m``.
    The step counter ``k`` is the module's ``momentum_step`` buffer, so it
    survives checkpoint/resume.

    Parameters
    ----------
    momentum : float, default=0.99
    schedule : {"cosine", "constant"}, default="cosine"
    """

    def __init__(self, momentum=0.99, schedule="cosine"):
        self.momentum = momentum
        self.schedule = schedule

    def initialize(self):
        self.total_steps_ = 0
        return self

    def on_train_begin(self, net, X=None, **kwargs):
        self.total_steps_ = planned_steps(net, X)

    def momentum_at(self, step: int) -> float:
        """Momentum of training step ``step`` (0-based)."""
        if self.schedule == "constant":
            return float(self.momentum)
        return 1.0 - (1.0 - self.momentum) * cosine_decay(step, self.total_steps_)

    def on_batch_end(self, net, training=False, **kwargs):
        if not training:
            return
        module = unwrapped(net)
        module.update_target(self.momentum_at(int(module.momentum_step)))
        module.momentum_step += 1


_COMMON_DOC = """image_size : int, default=None
        Side length images are resized to (on the device); the training images'
        size when None.
    """ + training_params_doc(
    batch_size="%(batch_size)s", max_epochs=100, weight_decay="1e-6", verbose=1,
    augment=(
        "two views drawn per sample by the preset for the training image size "
        "(``ssl_augment``; ``SSL_AUGMENT_PRESETS``): at 224 px and above the authors' recipe "
        "(random resized crop of area 0.08-1, horizontal flip, colour jitter 0.7/0.7/0.7 with "
        "hue 0.2 applied with p=0.8, grayscale p=0.2, Gaussian blur p=0.5; no rotation); at 64 px "
        "crops of area 0.25-1, jitter 0.4 with hue 0.1, grayscale p=0.1, blur p=0.2; at 32 px and "
        "below crops of area 0.3-1 and flips only (no colour jitter, grayscale or blur). With False "
        "both views are the image itself and training learns nothing useful. Flat image features "
        "(``mlp``) are augmented by replacing each feature, with probability 0.5, by another "
        "sample's value"
    ),
) + """

    Attributes
    ----------
    net_ : skorch.NeuralNet
    module_ : nn.Module
        The two-view network; ``module_.image_encoder`` is the encoder kept.
    best_epoch_ : int or None
    embedding_dim_ : int
        Width of the image embedding (2048 for resnet50, 512 for resnet18/mlp).
    n_individuals_ : int
        Individuals in the training data (before the validation split)."""


class _TwoViewPretrainer(BasePretrainer):
    """Shared surface of the image-only baselines (not for direct use)."""

    _parameter_constraints: dict = {
        **BasePretrainer._parameter_constraints,
        "projection_dim": [Interval(Integral, 1, None, closed="left")],
        "hidden_dim": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, *, projection_dim=128, hidden_dim=2048):
        self.projection_dim = projection_dim
        self.hidden_dim = hidden_dim

    # ---------------------------------------------------------------- hooks
    def _prepare(self, ds):
        validate(ds, [], require_image=True)
        return [], np.arange(ds.sizes["sample"])

    def _default_augment(self, image_size=None) -> dict:
        return ssl_augment(image_size)

    def _make_loss(self) -> nn.Module:  # pragma: no cover - abstract
        raise NotImplementedError

    def _build_criterion(self):
        return SSLCriterion(self._make_loss())

    # ------------------------------------------------------------------ API
    def fit(self, X, y=None):
        """Pretrain the image encoder on two augmented views of each image.

        Parameters
        ----------
        X : xarray.Dataset, Samples, or array-like of shape (n, c, h, w) or (n, d)
            A cohort Dataset (only ``image`` is used) or the images themselves,
            uint8 0-255 or float 0-1, one individual per image (as in
            ``transform``).
        y : None
            Ignored.

        Returns
        -------
        self
        """
        return super().fit(image_dataset(X), y)

    @torch.no_grad()
    def view_retrieval_accuracy(self, X, k=1, chunk_size=None) -> float:
        """Top-k retrieval of view 2 from view 1 among held-out images.

        Images are taken in order, in chunks of ``chunk_size`` (default
        ``batch_size``; a last chunk of one image is skipped). Each image gets two
        augmented views (the training augmentation; the method's default when
        ``augment=False``), both embedded with the trained encoder; a hit is when
        the view-2 embedding of the same image is among the ``k`` most
        cosine-similar view-2 embeddings of the chunk. Chance is about
        ``k / chunk_size``. The views are drawn from a generator seeded with
        ``random_state`` (0 unless it is an int), so the value is repeatable.

        Returns
        -------
        accuracy : float
        """
        check_is_fitted(self, "net_")
        ds = image_dataset(X)
        validate(ds, [], require_image=True)
        chunk = int(chunk_size or self.batch_size_)
        device = next(self.module_.parameters()).device
        size = self.module_.image_encoder.image_size
        augment = self._augment_module(size) or BatchAugment(**self._default_augment(size))
        augment = augment.to(device).eval()

        def two_views(module, batch):
            x = module.image_encoder.to_unit(batch["image"])
            h1 = module.image_encoder.embed_unit(augment(x, force=True))
            h2 = module.image_encoder.embed_unit(augment(x, force=True))
            return (torch.nn.functional.normalize(h1.float(), dim=1).cpu(),
                    torch.nn.functional.normalize(h2.float(), dim=1).cpu())

        seed = int(self.random_state) if isinstance(self.random_state, Integral) else 0
        with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            views = self._map_batches(ds, two_views)
        if not views:
            return float("nan")
        h1 = torch.cat([v[0] for v in views]).numpy()
        h2 = torch.cat([v[1] for v in views]).numpy()
        return top_k_retrieval(h1, h2, k=k, chunk_size=chunk)

    def score(self, X, y=None) -> float:
        """Top-1 retrieval accuracy of view 2 from view 1 (higher is better).

        A label-free, repeatable score for model selection (see
        :meth:`view_retrieval_accuracy`); chance level is ``1 / batch_size``.
        """
        return self.view_retrieval_accuracy(X, k=1)


class SimCLRPretrainer(_TwoViewPretrainer):
    """SimCLR baseline: contrast two views of each image (Chen et al., ICML 2020).

    Encoder + projection head (Linear-ReLU-Linear) trained with the NT-Xent loss:
    each view's positive is the other view of its image, the negatives are the
    other 2n - 2 views of the batch (samples of one individual are not each
    other's negatives) and, with ``memory_bank_size > 0``, a queue of earlier
    view-2 projections. Written here, not taken from ``lightly``.

    Parameters
    ----------
    image_encoder : {"resnet50", "resnet18", "mlp"} or "timm:<name>", default="resnet50"
    %(weights)s
    temperature : float, default=0.1
    memory_bank_size : int, default=0
        Extra negatives from a queue of earlier batches (0: batch only).
    projection_dim : int, default=128
    hidden_dim : int, default=2048
    %(common)s

    %(example)s
    """

    _parameter_constraints: dict = {
        **_TwoViewPretrainer._parameter_constraints,
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "memory_bank_size": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(self, *, temperature=0.1, memory_bank_size=0):
        self.temperature = temperature
        self.memory_bank_size = memory_bank_size

    def _build_module(self, encoder, train_data):
        return SimCLRModule(encoder, self.hidden_dim, self.projection_dim, self.memory_bank_size)

    def _make_loss(self):
        return NTXentLoss(self.temperature)

    def _fit_callbacks(self):
        return [("memory_bank", EnqueueMemoryBank())] if self.memory_bank_size else []


class BYOLPretrainer(_TwoViewPretrainer):
    """BYOL baseline: predict a momentum target's projection of the other view (Grill et al., NeurIPS 2020).

    Online network = encoder + projector + predictor (MLPs Linear-BN-ReLU-Linear);
    target network = exponential moving average of the online encoder and
    projector, updated after every training step by a skorch callback
    (:class:`MomentumUpdate`), never by gradients. Loss: symmetric
    ``2 - 2 cos(prediction, target projection)``. ``transform`` uses the online
    encoder.

    Parameters
    ----------
    image_encoder : {"resnet50", "resnet18", "mlp"} or "timm:<name>", default="resnet50"
    %(weights)s
    momentum : float, default=0.99
        Base momentum tau of the target update.
    momentum_schedule : {"cosine", "constant"}, default="cosine"
        ``"cosine"`` raises tau to 1 over the fit, as published.
    predictor_hidden_dim : int, default=4096
    projection_dim : int, default=256
    hidden_dim : int, default=4096
        Hidden width of the projector.
    %(common)s

    %(example)s
    """

    _parameter_constraints: dict = {
        **_TwoViewPretrainer._parameter_constraints,
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "momentum_schedule": [StrOptions({"cosine", "constant"})],
        "predictor_hidden_dim": [Interval(Integral, 1, None, closed="left")],
    }

    #: Batch 32, not 64: BYOL needs no negatives from the batch, and its target
    #: network moves once per optimizer step, so a small cohort learns from
    #: more, smaller steps (benchmarks/RESULTS.md, "Baseline defaults at 32 px").
    _default_overrides: dict = dict(projection_dim=256, hidden_dim=4096, batch_size=32)

    def __init__(self, *, momentum=0.99, momentum_schedule="cosine", predictor_hidden_dim=4096):
        self.momentum = momentum
        self.momentum_schedule = momentum_schedule
        self.predictor_hidden_dim = predictor_hidden_dim

    def _build_module(self, encoder, train_data):
        return BYOLModule(encoder, self.hidden_dim, self.projection_dim, self.predictor_hidden_dim)

    def _make_loss(self):
        return BYOLLoss()

    def _fit_callbacks(self):
        return [("momentum", MomentumUpdate(self.momentum, self.momentum_schedule))]


class BarlowTwinsPretrainer(_TwoViewPretrainer):
    """Barlow Twins baseline: decorrelate the two views' embeddings (Zbontar et al., ICML 2021).

    Encoder + projector (three Linear layers, BN and ReLU after the first two);
    the cross-correlation matrix of the batch-standardised projections of the
    two views is pushed to the identity: invariance on the diagonal,
    redundancy reduction (weight ``lambda_param``) off it.

    Parameters
    ----------
    image_encoder : {"resnet50", "resnet18", "mlp"} or "timm:<name>", default="resnet50"
    %(weights)s
    lambda_param : float, default=5e-3
        Weight lambda of the off-diagonal term.
    projection_dim : int, default=256
        Width of the projector's output. The published 8192 goes with batches
        of 2048; keep ``lambda_param * projection_dim / batch_size`` near 0.02
        when changing either.
    hidden_dim : int, default=1024
    %(common)s

    %(example)s
    """

    _parameter_constraints: dict = {
        **_TwoViewPretrainer._parameter_constraints,
        "lambda_param": [Interval(Real, 0, None, closed="left")],
    }

    #: A 256-wide projector, not the published 8192: the d x d cross-correlation
    #: is estimated from one batch, and at batch 64 (the published batch is 2048)
    #: an 8192-wide one does not train the encoder. 256 keeps the published
    #: balance of the two terms, lambda * d / batch = 0.02 (benchmarks/RESULTS.md).
    _default_overrides: dict = dict(projection_dim=256, hidden_dim=1024)

    def __init__(self, *, lambda_param=5e-3):
        self.lambda_param = lambda_param

    def _build_module(self, encoder, train_data):
        return BarlowTwinsModule(encoder, self.hidden_dim, self.projection_dim)

    def _make_loss(self):
        return BarlowTwinsLoss(self.lambda_param)


class SimSiamPretrainer(_TwoViewPretrainer):
    """SimSiam baseline: predict one view's projection from the other with stop-gradient (Chen & He, CVPR 2021).

    Encoder + projector (three Linear layers, each followed by BN) + bottleneck
    predictor; symmetric negative cosine similarity between each view's
    prediction and the other view's projection, which is treated as a constant.

    Parameters
    ----------
    image_encoder : {"resnet50", "resnet18", "mlp"} or "timm:<name>", default="resnet50"
    %(weights)s
    predictor_hidden_dim : int, default=512
    projection_dim : int, default=2048
    hidden_dim : int, default=2048
    %(common)s

    %(example)s
    """

    _parameter_constraints: dict = {
        **_TwoViewPretrainer._parameter_constraints,
        "predictor_hidden_dim": [Interval(Integral, 1, None, closed="left")],
    }

    _default_overrides: dict = dict(projection_dim=2048, hidden_dim=2048)

    def __init__(self, *, predictor_hidden_dim=512):
        self.predictor_hidden_dim = predictor_hidden_dim

    def _build_module(self, encoder, train_data):
        return SimSiamModule(encoder, self.hidden_dim, self.projection_dim, self.predictor_hidden_dim)

    def _make_loss(self):
        return SimSiamLoss()


class NNCLRPretrainer(_TwoViewPretrainer):
    """NNCLR baseline: nearest neighbours from a support set as positives (Dwibedi et al., ICCV 2021).

    Encoder + projector (three Linear layers with BN) + predictor. The positive
    of each view's prediction is the nearest neighbour (cosine) of the other
    view's projection in a support set, a queue of earlier view-1 projections
    updated after every training step; NT-Xent over the batch, symmetrised.
    While the support set is empty (first step) the projection itself is used.

    Parameters
    ----------
    image_encoder : {"resnet50", "resnet18", "mlp"} or "timm:<name>", default="resnet50"
    %(weights)s
    temperature : float, default=0.1
    support_set_size : int, default=4096
        Queue length (the paper used 98,304 at batch size 4096).
    predictor_hidden_dim : int, default=4096
    projection_dim : int, default=256
    hidden_dim : int, default=2048
    %(common)s

    %(example)s
    """

    _parameter_constraints: dict = {
        **_TwoViewPretrainer._parameter_constraints,
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "support_set_size": [Interval(Integral, 1, None, closed="left")],
        "predictor_hidden_dim": [Interval(Integral, 1, None, closed="left")],
    }

    _default_overrides: dict = dict(projection_dim=256, hidden_dim=2048)

    def __init__(self, *, temperature=0.1, support_set_size=4096, predictor_hidden_dim=4096):
        self.temperature = temperature
        self.support_set_size = support_set_size
        self.predictor_hidden_dim = predictor_hidden_dim

    def _build_module(self, encoder, train_data):
        return NNCLRModule(encoder, self.hidden_dim, self.projection_dim, self.predictor_hidden_dim,
                           self.support_set_size)

    def _make_loss(self):
        return NNCLRLoss(self.temperature)

    def _fit_callbacks(self):
        return [("memory_bank", EnqueueMemoryBank())]


_EXAMPLE = """Examples
    --------
    >>> import numpy as np
    >>> from sklearn_contig.pretraining import {name}
    >>> images = np.random.default_rng(0).integers(0, 255, (32, 3, 16, 16), dtype=np.uint8)
    >>> model = {name}("resnet18", {small}batch_size=16, max_epochs=1,
    ...     verbose=0, random_state=0)
    >>> model.fit(images).transform(images).shape
    (32, 512)
    >>> 0 <= model.score(images) <= 1
    True"""

#: Small heads for each class's doctest (the defaults are sized for 224 px and up).
_EXAMPLE_HEADS = {
    SimCLRPretrainer: "hidden_dim=32, projection_dim=8, ",
    BYOLPretrainer: "hidden_dim=32, projection_dim=8, predictor_hidden_dim=32,\n    ...     ",
    BarlowTwinsPretrainer: "hidden_dim=32, projection_dim=32, ",
    SimSiamPretrainer: "hidden_dim=32, projection_dim=32, predictor_hidden_dim=8,\n    ...     ",
    NNCLRPretrainer: "support_set_size=64, hidden_dim=32, projection_dim=8,\n    ...     predictor_hidden_dim=32, ",
}

for _cls, _small in _EXAMPLE_HEADS.items():
    if _cls.__doc__:  # None under python -OO
        _batch = inspect.signature(_cls).parameters["batch_size"].default
        _cls.__doc__ = (_cls.__doc__.replace("%(common)s", _COMMON_DOC.replace("%(batch_size)s", str(_batch)))
                        .replace("%(weights)s", PRETRAINED_WEIGHTS_DOC)
                        .replace("%(example)s", _EXAMPLE.format(name=_cls.__name__, small=_small)))
del _cls, _small, _batch
