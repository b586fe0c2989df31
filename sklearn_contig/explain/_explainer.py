"""Feature attributions of a fitted ContIG model (Taleb et al., CVPR 2022, Sec. 3.3).

The contrastive loss is defined over a batch, so it has no per-sample output to
explain. Following the paper, a reference batch R of ``b`` individuals is fixed
and the explainer function of a sample ``x`` is the full ContIG loss over the
batch ``R + {x}``::

    E(x) = mean over modalities m of  L_m(R + {x})
    L_m  = lam * CE(logits, arange) + (1 - lam) * CE(logits.T, arange)

with ``logits = normalize(z_image) @ normalize(z_m).T / tau`` over the ``b_m + 1``
rows that have modality ``m`` (``b_m`` when ``x`` lacks it). With the encoders in
eval mode the reference projections do not depend on ``x``; they are computed
once in :meth:`Explainer.fit`, together with the log-sum-exp of every
reference row and column of the reference-reference logits. Adding ``x``'s
row and column then costs ``O(b k)`` per modality (``k`` the projection
width), on top of the encoders of ``x`` alone: the reference batch is never
re-encoded.

Attributions come from :mod:`captum` (Integrated Gradients, DeepLift, or
NoiseTunnel over Integrated Gradients); captum evaluates ``E`` on batches of
interpolated inputs, and every row of such a batch is its own ``R + {x}``
problem.
"""

from __future__ import annotations

import copy
import types
import warnings
from numbers import Integral, Real

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
import xarray as xr
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ..data import CohortDataset, as_dataset
from ..data._schema import IMAGE, validate

METHODS = ("integrated_gradients", "deeplift", "noise_tunnel")


# --------------------------------------------------------------------------- math
class _ReferenceStats:
    """Cached quantities of one modality's reference-reference logits.

    Attributes
    ----------
    U, W : Tensor of shape (b, k)
        L2-normalised image-side and genetic-side reference projections.
    A, C : Tensor of shape (b,)
        Row and column log-sum-exp of ``U @ W.T / tau`` (diagonal left out when
        ``exclude_positive``).
    D : Tensor, scalar
        Sum of the diagonal logits.
    L : Tensor, scalar
        Loss of the reference batch alone (used when ``x`` lacks the modality).
    individuals : ndarray of shape (b,)
        Individual ids of the reference rows.
    """

    def __init__(self, zv, zg, individuals, tau, lam, exclude_positive, dtype, device):
        u = F.normalize(torch.as_tensor(zv, dtype=torch.float64), dim=1)
        w = F.normalize(torch.as_tensor(zg, dtype=torch.float64), dim=1)
        logits = u @ w.T / tau  # (b, b)
        diag = logits.diagonal()
        masked = logits
        if exclude_positive:
            masked = logits.clone()
            masked.fill_diagonal_(float("-inf"))
        A = torch.logsumexp(masked, dim=1)
        C = torch.logsumexp(masked, dim=0)
        L = lam * (A - diag).mean() + (1 - lam) * (C - diag).mean()
        as_ = dict(dtype=dtype, device=device)
        self.U, self.W = u.to(**as_), w.to(**as_)
        self.A, self.C = A.to(**as_), C.to(**as_)
        self.D, self.L = diag.sum().to(**as_), L.to(**as_)
        self.individuals = np.asarray(individuals)
        self.b = int(u.shape[0])

    def to(self, device):
        for name in ("U", "W", "A", "C", "D", "L"):
            setattr(self, name, getattr(self, name).to(device))
        return self


def _pair_loss(stats: _ReferenceStats, u, w, match, tau, lam, exclude_positive):
    """``L_m(R + {x})`` for every row of ``u``/``w`` (each row its own problem).

    Parameters
    ----------
    u, w : Tensor of shape (N, k)
        Image-side and genetic-side projections of the N rows ``x``.
    match : long Tensor of shape (N,)
        Position in the reference of a sample of ``x``'s individual (-1: none);
        that pair is masked out, as :class:`~sklearn_contig.losses.ContIGLoss`
        masks samples of one individual.

    Returns
    -------
    loss : Tensor of shape (N,)
    """
    u = F.normalize(u, dim=1)
    w = F.normalize(w, dim=1)
    s = w @ stats.U.T / tau  # (N, b): reference images vs x's genetics
    t = u @ stats.W.T / tau  # (N, b): x's image vs reference genetics
    d = (u * w).sum(dim=1) / tau  # (N,): x's positive
    hit = torch.arange(stats.b, device=u.device)[None, :] == match[:, None]
    if bool(hit.any()):
        s = s.masked_fill(hit, float("-inf"))
        t = t.masked_fill(hit, float("-inf"))
    # reference rows/columns gain x's entry; x's own row/column is new
    rows_ref = torch.logaddexp(stats.A[None, :], s).sum(dim=1)
    cols_ref = torch.logaddexp(stats.C[None, :], t).sum(dim=1)
    if exclude_positive:
        row_x = torch.logsumexp(t, dim=1)
        col_x = torch.logsumexp(s, dim=1)
    else:
        row_x = torch.logsumexp(torch.cat([t, d[:, None]], dim=1), dim=1)
        col_x = torch.logsumexp(torch.cat([s, d[:, None]], dim=1), dim=1)
    diag = stats.D + d
    n = stats.b + 1
    return (lam * (rows_ref + row_x - diag) + (1 - lam) * (cols_ref + col_x - diag)) / n


def _relu_block_forward(self, x):
    """Forward of a torchvision BasicBlock/Bottleneck with one ReLU module per use."""
    identity = x if self.downsample is None else self.downsample(x)
    out = self.relu_1(self.bn1(self.conv1(x)))
    out = self.bn2(self.conv2(out))
    if hasattr(self, "conv3"):
        out = self.bn3(self.conv3(self.relu_2(out)))
        return self.relu_3(out + identity)
    return self.relu_2(out + identity)


def deeplift_safe(module: nn.Module) -> nn.Module:
    """Copy of ``module`` whose ReLUs are distinct, non-inplace modules.

    torchvision's ResNet blocks call one ``nn.ReLU`` several times per forward;
    DeepLift's module hooks then mix up the stored activations and fail. The
    copy gives every use its own ReLU (same function, same weights elsewhere).

    Examples
    --------
    >>> import torchvision
    >>> net = deeplift_safe(torchvision.models.resnet18(weights=None))
    >>> hasattr(net.layer1[0], "relu_2")
    True
    """
    from torchvision.models.resnet import BasicBlock, Bottleneck

    module = copy.deepcopy(module)
    for sub in list(module.modules()):
        for name, child in list(sub.named_children()):
            if isinstance(child, nn.ReLU) and child.inplace:
                setattr(sub, name, nn.ReLU())
        if isinstance(sub, (BasicBlock, Bottleneck)):
            sub.relu_1, sub.relu_2 = nn.ReLU(), nn.ReLU()
            if isinstance(sub, Bottleneck):
                sub.relu_3 = nn.ReLU()
            sub.forward = types.MethodType(_relu_block_forward, sub)
    return module


class _ExplainerFunction(nn.Module):
    """``E(x)`` as an ``nn.Module`` over a batch of rows (captum's forward).

    ``forward(*inputs, *fixed, present, match, const)``:

    - ``inputs``: the attributed tensors, ``image`` (N, c, y, x) in [0, 1] first
      when the image is attributed, then one (N, p_m) tensor per explained modality;
    - ``fixed``: per active modality the image-side projection (N, k) when the
      image is fixed, or the genetic values (N, p_m) of the modalities that are
      active but not explained when the image is attributed;
    - ``present`` (N, n_active) bool and ``match`` (N, n_active) long, per active
      modality; ``const`` (N,): the summed losses of the inactive modalities.
    """

    def __init__(self, module, stats, modalities, explained, attribute_image, tau, lam, exclude_positive):
        super().__init__()
        self.attribute_image = bool(attribute_image)
        self.explained = list(explained)
        self.active = list(modalities) if attribute_image else list(explained)
        self.fixed_genetic = [m for m in self.active if m not in self.explained]
        self.n_total = len(modalities)
        self.tau, self.lam, self.exclude_positive = float(tau), float(lam), bool(exclude_positive)
        self.stats = stats
        self.genetic_encoders = nn.ModuleDict({m: module.genetic_encoders[m] for m in self.active})
        self.genetic_heads = nn.ModuleDict({m: module.genetic_heads[m] for m in self.active})
        if self.attribute_image:
            self.image_encoder = module.image_encoder
            self.image_heads = nn.ModuleDict({m: module.image_heads[m] for m in self.active})

    @property
    def n_inputs(self) -> int:
        return len(self.explained) + int(self.attribute_image)

    def forward(self, *args):
        inputs = list(args[: self.n_inputs])
        extra = list(args[self.n_inputs :])
        present, match, const = extra[-3:]
        fixed = extra[:-3]
        if self.attribute_image:
            enc = self.image_encoder
            h = enc.backbone(enc.normalize(inputs.pop(0)))
            genetics = dict(zip(self.explained, inputs))
            if torch.is_grad_enabled():
                # DeepLift hooks every module input, fixed ones included
                fixed = [t.detach().requires_grad_() for t in fixed]
            genetics.update(zip(self.fixed_genetic, fixed))
        else:
            genetics = dict(zip(self.explained, inputs))
            image_proj = dict(zip(self.active, fixed))
        total = const
        for j, m in enumerate(self.active):
            u = self.image_heads[m](h) if self.attribute_image else image_proj[m]
            w = self.genetic_heads[m](self.genetic_encoders[m](genetics[m]))
            loss = _pair_loss(self.stats[m], u, w, match[:, j], self.tau, self.lam, self.exclude_positive)
            total = total + torch.where(present[:, j], loss, self.stats[m].L)
        return total / self.n_total


# ------------------------------------------------------------------- estimator
class Explainer(BaseEstimator):
    """Attribute a fitted ContIG model's loss to genetic features (and image pixels).

    The explainer function ``E(x)`` of a sample is the full ContIG loss over a
    fixed reference batch plus that sample (paper Sec. 3.3), with the
    pretrainer's ``temperature``, ``loss_weight`` and ``exclude_positive``, the
    encoders in eval mode, and the mean over all the model's modalities as in
    :class:`~sklearn_contig.losses.ContIGLoss`. :meth:`fit` draws the reference
    batch (one sample per individual) and caches its projections; each evaluation
    of ``E`` then runs only the encoders of ``x`` plus ``O(b k)`` work per
    modality. :meth:`local` gives signed attributions per sample,
    :meth:`global_` the mean absolute attribution per feature.

    By default the image of ``x`` is fixed and the explained genetic modalities
    are attributed (modalities not explained keep ``x``'s values). With
    ``attribute_image=True`` the image (in [0, 1] at the encoder's input size) is
    attributed together with the genetics, along one joint path.

    A positive attribution means the feature *raises* the loss, i.e. makes the
    sample's image and genetics match less well against the reference batch;
    a negative one makes them match better.

    Missing modalities follow the "outer" aggregation: a modality ``x`` lacks
    contributes the reference-only loss (a constant). A sample that lacks an
    explained modality gets NaN attributions for it in :meth:`local` and is left
    out of that modality's mean in :meth:`global_`; a sample lacking every
    explained modality is skipped entirely (NaN ``delta`` too). If no sample has
    any explained modality, a ``ValueError`` is raised.

    Parameters
    ----------
    pretrainer : ContIGPretrainer
        A fitted pretrainer. Its network is copied at :meth:`fit` time, so later
        refits of the pretrainer do not change a fitted explainer.
    method : {"integrated_gradients", "deeplift", "noise_tunnel"}, default="integrated_gradients"
        captum's ``IntegratedGradients``, ``DeepLift`` (rescale rule; ResNet image
        encoders are run through a copy with one ReLU module per use, see
        :func:`deeplift_safe`), or ``NoiseTunnel`` (SmoothGrad) over Integrated
        Gradients. DeepLift's rescale rule covers only the ReLUs, not the
        normalisation and log-sum-exp of the loss, so its attributions do not sum
        to ``E(x) - E(baseline)``: expect a large ``delta``. Use Integrated
        Gradients when completeness matters.
    n_reference : int, default=1000
        Size of the reference batch (individuals); all individuals of the
        reference Dataset when it has fewer. At least 2.
    n_steps : int, default=50
        Integration steps of Integrated Gradients (Gauss-Legendre).
    baseline : {"zeros", "mean"}, default="zeros"
        Reference input of the attribution: zeros (for standardised scores the
        population mean; for images black), or the reference batch's mean
        genetic values (and mean image).
    nt_samples : int, default=10
        Noisy copies per sample for ``method="noise_tunnel"``.
    nt_stdevs : float, default=0.1
        Standard deviation of the noise added to every input (genetic values in
        their own units, images on the [0, 1] scale).
    modalities : list of str, default=None
        Genetic modalities to explain; all the pretrainer's when None.
    attribute_image : bool, default=False
        Attribute the image together with the genetics (default of
        ``local(..., image=None)``).
    batch_size : int, default=32
        Samples per captum call; a call evaluates ``E`` on ``batch_size * n_steps``
        rows (times ``nt_samples`` for the noise tunnel).
    random_state : int, RandomState or None, default=None
        Draw of the reference batch and of the noise tunnel's noise.

    Attributes
    ----------
    modalities_ : list of str
        Explained modalities.
    model_modalities_ : list of str
        All modalities of the model (the loss averages over them).
    reference_samples_ : ndarray of shape (n_reference_,)
        Sample ids of the reference batch.
    n_reference_ : int
    reference_stats_ : dict of str to object
        Per modality the cached normalised reference projections, row/column
        log-sum-exps and reference-only loss.
    feature_names_ : dict of str to ndarray
    baseline_values_ : dict of str to ndarray
        Baseline per explained modality (and ``"image"``, (c, y, x) in [0, 1]).
    fill_values_ : dict of str to ndarray
        Fill values for partial NaN (the pretrainer's).
    module_ : nn.Module
        The copy of the pretrainer's network, in eval mode, gradients off.

    See Also
    --------
    plot_global, plot_local, plot_image_attribution

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_contig.data import from_arrays
    >>> from sklearn_contig.pretraining import ContIGPretrainer
    >>> from sklearn_contig.explain import Explainer
    >>> rng = np.random.default_rng(0)
    >>> ds = from_arrays(rng.integers(0, 255, (24, 3, 16, 16), dtype=np.uint8),
    ...                  pgs=rng.normal(size=(24, 5)))
    >>> model = ContIGPretrainer("resnet18", hidden_dim=16, projection_dim=8, batch_size=8,
    ...                          max_epochs=1, verbose=0, random_state=0).fit(ds)
    >>> explainer = Explainer(model, n_reference=16, n_steps=8, random_state=0).fit(ds)
    >>> local = explainer.local(ds.isel(sample=slice(0, 3)))
    >>> local["pgs"].dims, local["pgs"].shape
    (('sample', 'pgs_id'), (3, 5))
    >>> explainer.global_(ds.isel(sample=slice(0, 6)))["pgs"].sizes["pgs_id"]
    5
    """

    _parameter_constraints: dict = {
        "pretrainer": "no_validation",
        "method": [StrOptions(set(METHODS))],
        "n_reference": [Interval(Integral, 2, None, closed="left")],
        "n_steps": [Interval(Integral, 1, None, closed="left")],
        "baseline": [StrOptions({"zeros", "mean"})],
        "nt_samples": [Interval(Integral, 1, None, closed="left")],
        "nt_stdevs": [Interval(Real, 0, None, closed="left")],
        "modalities": [list, str, None],
        "attribute_image": ["boolean"],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        pretrainer,
        *,
        method="integrated_gradients",
        n_reference=1000,
        n_steps=50,
        baseline="zeros",
        nt_samples=10,
        nt_stdevs=0.1,
        modalities=None,
        attribute_image=False,
        batch_size=32,
        random_state=None,
    ):
        self.pretrainer = pretrainer
        self.method = method
        self.n_reference = n_reference
        self.n_steps = n_steps
        self.baseline = baseline
        self.nt_samples = nt_samples
        self.nt_stdevs = nt_stdevs
        self.modalities = modalities
        self.attribute_image = attribute_image
        self.batch_size = batch_size
        self.random_state = random_state

    # ------------------------------------------------------------------- fit
    def _check_pretrainer(self):
        pre = self.pretrainer
        try:
            check_is_fitted(pre, "net_")
        except NotFittedError:
            raise NotFittedError(
                f"the {type(pre).__name__} given to Explainer is not fitted yet; "
                "call its fit(ds) first"
            ) from None
        except TypeError:
            raise TypeError(
                f"pretrainer must be a fitted ContIGPretrainer, got {type(pre).__name__}"
            ) from None
        module = getattr(pre, "module_", None)
        if module is None or not hasattr(module, "genetic_encoders"):
            raise TypeError(
                f"pretrainer must be a fitted ContIGPretrainer (a model with genetic "
                f"encoders), got {type(pre).__name__}"
            )

    def fit(self, X, y=None):
        """Draw the reference batch from ``X`` and cache its projections.

        Parameters
        ----------
        X : xarray.Dataset or Samples
            Cohort Dataset to draw the reference individuals from (ideally people
            not explained later; a reference sample of an explained sample's
            individual is masked out of that sample's loss).
        y : None
            Ignored.

        Returns
        -------
        self
        """
        self._validate_params()
        self._check_pretrainer()
        pre = self.pretrainer
        model_modalities = list(pre.modalities_)
        explained = self.modalities
        if explained is None:
            explained = list(model_modalities)
        elif isinstance(explained, str):
            explained = [explained]
        unknown = [m for m in explained if m not in model_modalities]
        if unknown:
            raise ValueError(
                f"cannot explain modalities {unknown}: the model was trained on {model_modalities}"
            )
        if not explained:
            raise ValueError("modalities is empty; name at least one modality to explain")
        ds = _as_dataset(X)
        validate(ds, [m for m in model_modalities if m in ds], require_image=True, min_samples=1)
        self._check_features(ds, model_modalities, pre, require=model_modalities)

        rng = check_random_state(self.random_state)
        individuals = np.asarray(ds["individual"].values)
        # samples with at least one of the model's modalities, one per individual
        # (a batch never holds two samples of one person)
        usable = np.zeros(len(individuals), dtype=bool)
        for m in model_modalities:
            usable |= _presence(ds, m)
        order = rng.permutation(np.flatnonzero(usable))
        candidates = order[~pd.Index(individuals[order]).duplicated()]
        n_ref = min(int(self.n_reference), len(candidates))
        if n_ref < 2:
            raise ValueError(
                f"the reference batch needs at least 2 individuals with genetic data, "
                f"X has {len(candidates)}"
            )
        rows = np.sort(rng.choice(candidates, size=n_ref, replace=False))

        module = copy.deepcopy(pre.module_).eval()
        for p in module.parameters():
            p.requires_grad_(False)
        self.module_ = module
        self.device_ = next(module.parameters()).device
        self.fill_values_ = {m: np.asarray(v) for m, v in pre.fill_values_.items()}
        self.model_modalities_ = model_modalities
        self.modalities_ = list(explained)
        self.temperature_ = float(pre.temperature)
        self.loss_weight_ = float(pre.loss_weight)
        self.exclude_positive_ = bool(pre.exclude_positive)

        enc = self._encode(ds, rows, model_modalities)
        stats, baseline = {}, {}
        for m in model_modalities:
            present = enc["present"][m]
            if present.sum() < 2:
                raise ValueError(
                    f"the reference batch has {int(present.sum())} sample(s) with modality "
                    f"{m!r}; at least 2 are needed (raise n_reference or use a Dataset "
                    f"where {m!r} is less often missing)"
                )
            stats[m] = _ReferenceStats(
                enc["zv"][m][present], enc["zg"][m][present], individuals[rows][present],
                self.temperature_, self.loss_weight_, self.exclude_positive_,
                torch.float32, self.device_,
            )
            baseline[m] = enc["x"][m][present].mean(axis=0)
        baseline[IMAGE] = enc["image_mean"]
        self.reference_stats_ = stats
        self.baseline_values_ = baseline
        self.reference_samples_ = np.asarray(ds["sample"].values)[rows]
        self.n_reference_ = int(n_ref)
        self.feature_names_ = {m: np.asarray(ds[m][ds[m].dims[1]].values) for m in model_modalities}
        return self

    def _check_features(self, ds, modalities, pre, require=()):
        for m in modalities:
            if m not in ds:
                if m in require:
                    raise ValueError(f"X has no variable for modality {m!r} the model was trained on")
                continue
            var = ds[m]
            if var.ndim != 2 or var.dims[0] != "sample":
                raise ValueError(f"modality {m!r} must have dims (sample, feature), got {var.dims}")
            expected = len(pre.fill_values_[m])
            if var.shape[1] != expected:
                raise ValueError(
                    f"modality {m!r} has {var.shape[1]} features; the model was trained on {expected}"
                )
            names = getattr(self, "feature_names_", {}).get(m)
            if names is not None:
                got = np.asarray(var[var.dims[1]].values)
                if not np.array_equal(got.astype(str), names.astype(str)):
                    raise ValueError(
                        f"modality {m!r} has other feature names (or order) than the reference, "
                        f"e.g. {got[:3].tolist()} vs {names[:3].tolist()}"
                    )

    @torch.no_grad()
    def _encode(self, ds, rows, modalities, *, projections=True):
        """Read ``rows`` of ``ds``: unit images, genetic values, masks, projections."""
        module = self.module_
        available = [m for m in modalities if m in ds]
        data = CohortDataset(ds, available, indices=rows, fill={m: self.fill_values_[m] for m in available})
        n = len(rows)
        out = {"x": {}, "present": {}, "zv": {}, "zg": {}, "h": []}
        img_sum, bs = None, 128
        parts = {k: {m: [] for m in modalities} for k in ("x", "present", "zv", "zg")}
        for start in range(0, n, bs):
            batch, _ = data.__getitems__(np.arange(start, min(start + bs, n)))
            unit = module.image_encoder.to_unit(batch[IMAGE].to(self.device_))
            img_sum = unit.sum(0) if img_sum is None else img_sum + unit.sum(0)
            h = module.image_encoder.backbone(module.image_encoder.normalize(unit))
            out["h"].append(h)
            for m in modalities:
                if m in batch:
                    x, mask = batch[m].to(self.device_), batch[f"{m}_mask"].to(self.device_)
                else:
                    p = len(self.fill_values_[m])
                    x = torch.zeros((len(h), p), device=self.device_)
                    mask = torch.zeros(len(h), dtype=torch.bool, device=self.device_)
                parts["x"][m].append(x)
                parts["present"][m].append(mask)
                if projections:
                    parts["zv"][m].append(module.image_heads[m](h))
                    parts["zg"][m].append(module.genetic_heads[m](module.genetic_encoders[m](x)))
        for k, per in parts.items():
            for m, chunks in per.items():
                if chunks:
                    t = torch.cat(chunks)
                    out[k][m] = t if k in ("zv", "zg") else t.cpu().numpy()
        out["h"] = torch.cat(out["h"])
        out["image_mean"] = (img_sum / n).cpu().numpy()
        return out

    # ------------------------------------------------------------- evaluation
    def _match(self, individuals, modalities):
        out = np.full((len(individuals), len(modalities)), -1, dtype=np.int64)
        for j, m in enumerate(modalities):
            pos = pd.Index(self.reference_stats_[m].individuals).get_indexer(individuals)
            out[:, j] = pos
        return out

    def _function(self, explained, attribute_image, module=None):
        module = self.module_ if module is None else module
        return _ExplainerFunction(
            module, self.reference_stats_, self.model_modalities_, explained, attribute_image,
            self.temperature_, self.loss_weight_, self.exclude_positive_,
        ).eval()

    def _baseline_like(self, name, x):
        if self.baseline == "zeros":
            return torch.zeros_like(x)
        value = torch.as_tensor(self.baseline_values_[name], dtype=x.dtype, device=x.device)
        return value.expand_as(x).clone()

    def _constant(self, fn, enc, sl, match):
        """Summed losses of the modalities the function keeps fixed, per row."""
        n = sl.stop - sl.start
        const = torch.zeros(n, device=self.device_)
        for j, m in enumerate(self.model_modalities_):
            if m in fn.active:
                continue
            st = self.reference_stats_[m]
            loss = _pair_loss(
                st, enc["zv"][m][sl], enc["zg"][m][sl],
                torch.as_tensor(match[sl, j], device=self.device_),
                self.temperature_, self.loss_weight_, self.exclude_positive_,
            )
            present = torch.as_tensor(enc["present"][m][sl], device=self.device_)
            const = const + torch.where(present, loss, st.L)
        return const

    def _chunks(self, ds, explained, attribute_image, module=None):
        """Yield per chunk: function, inputs, baselines, additional args, row slice."""
        fn = self._function(explained, attribute_image, module=module)
        n = ds.sizes["sample"]
        rows = np.arange(n)
        enc = self._encode(ds, rows, self.model_modalities_)
        individuals = np.asarray(ds["individual"].values)
        match = self._match(individuals, self.model_modalities_)
        active_idx = [self.model_modalities_.index(m) for m in fn.active]
        dev = self.device_
        unit = None
        if attribute_image:
            unit = self._unit_images(ds)
        for start in range(0, n, int(self.batch_size)):
            sl = slice(start, min(start + int(self.batch_size), n))
            inputs, baselines, fixed = [], [], []
            if attribute_image:
                img = unit[sl].to(dev)
                inputs.append(img)
                baselines.append(self._baseline_like(IMAGE, img))
            for m in fn.explained:
                x = torch.as_tensor(enc["x"][m][sl], device=dev)
                inputs.append(x)
                baselines.append(self._baseline_like(m, x))
            if attribute_image:
                fixed = [torch.as_tensor(enc["x"][m][sl], device=dev) for m in fn.fixed_genetic]
            else:
                fixed = [enc["zv"][m][sl] for m in fn.active]
            present = torch.as_tensor(
                np.stack([enc["present"][m][sl] for m in fn.active], axis=1), device=dev
            )
            m_match = torch.as_tensor(match[sl][:, active_idx], device=dev)
            const = self._constant(fn, enc, sl, match)
            yield fn, inputs, baselines, (*fixed, present, m_match, const), sl, enc

    @torch.no_grad()
    def _unit_images(self, ds):
        data = CohortDataset(ds, [], include_image=True)
        out = []
        for start in range(0, len(data), 128):
            batch, _ = data.__getitems__(np.arange(start, min(start + 128, len(data))))
            out.append(self.module_.image_encoder.to_unit(batch[IMAGE].to(self.device_)).cpu())
        return torch.cat(out)

    def _check_X(self, X):
        check_is_fitted(self, "reference_stats_")
        ds = _as_dataset(X)
        validate(ds, [], require_image=True, min_samples=1)
        missing = [m for m in self.modalities_ if m not in ds]
        if missing:
            raise ValueError(f"X has no variable for the explained modalities {missing}")
        self._check_features(ds, self.model_modalities_, self.pretrainer)
        return ds

    def loss(self, X) -> np.ndarray:
        """The explainer function ``E(x)`` of every sample of ``X``.

        Parameters
        ----------
        X : xarray.Dataset or Samples

        Returns
        -------
        loss : ndarray of shape (n_samples,)
            ContIG loss of the reference batch plus each sample.
        """
        ds = self._check_X(X)
        out = []
        with torch.no_grad():
            for fn, inputs, _, extra, _, _ in self._chunks(ds, self.modalities_, False):
                out.append(fn(*inputs, *extra).cpu().numpy())
        return np.concatenate(out).astype(np.float64)

    # ----------------------------------------------------------- attribution
    def _attributor(self, fn):
        from captum.attr import DeepLift, IntegratedGradients, NoiseTunnel

        if self.method == "deeplift":
            return DeepLift(fn)
        ig = IntegratedGradients(fn)
        return NoiseTunnel(ig) if self.method == "noise_tunnel" else ig

    def _attribute(self, attributor, inputs, baselines, extra):
        kwargs = dict(baselines=tuple(baselines), additional_forward_args=extra,
                      return_convergence_delta=True)
        if self.method == "integrated_gradients":
            return attributor.attribute(tuple(inputs), n_steps=int(self.n_steps), **kwargs)
        if self.method == "deeplift":
            with warnings.catch_warnings():
                # captum warns that the forward's non-module ops get plain gradients
                warnings.simplefilter("ignore", UserWarning)
                return attributor.attribute(tuple(inputs), **kwargs)
        attr, delta = attributor.attribute(
            tuple(inputs), nt_type="smoothgrad", nt_samples=int(self.nt_samples),
            stdevs=float(self.nt_stdevs), n_steps=int(self.n_steps), **kwargs,
        )
        return attr, delta.reshape(len(inputs[0]), int(self.nt_samples)).mean(dim=1)

    def local(self, X, image=None) -> xr.Dataset:
        """Signed attributions of every sample of ``X``.

        Parameters
        ----------
        X : xarray.Dataset or Samples
            Samples to explain (image and genetic modalities).
        image : bool, default=None
            Attribute the image too (jointly with the genetics) and return its map;
            ``attribute_image`` when None.

        Returns
        -------
        result : xarray.Dataset
            One variable per explained modality, dims (sample, <feature dim>), with
            the feature names (and other feature coordinates) of ``X``; NaN rows for
            samples lacking the modality. ``image`` (sample, y, x): attribution
            summed over channels (when attributed). ``loss`` (sample,): ``E(x)``;
            ``baseline_loss`` (sample,): ``E`` at the baseline; ``delta``
            (sample,): captum's convergence delta, ``sum(attributions) -
            (loss - baseline_loss)`` (mean over the noisy copies for the noise
            tunnel). Attributes record the method and settings.
        """
        ds = self._check_X(X)
        attribute_image = bool(self.attribute_image if image is None else image)
        n = ds.sizes["sample"]
        skipped_all = ~np.stack(
            [_presence(ds, m) for m in self.modalities_], axis=1
        ).any(axis=1)
        if skipped_all.all():
            raise ValueError(
                f"every sample of X lacks all explained modalities {self.modalities_}; "
                "nothing to explain"
            )
        module = None
        if attribute_image and self.method == "deeplift":
            # torchvision ResNets reuse one ReLU module, which DeepLift cannot handle
            module = copy.copy(self.module_)
            module._modules = dict(module._modules)
            module.image_encoder = deeplift_safe(self.module_.image_encoder)
        results = {m: np.full((n, len(self.fill_values_[m])), np.nan) for m in self.modalities_}
        img_attr, delta = None, np.full(n, np.nan)
        loss, base_loss = np.full(n, np.nan), np.full(n, np.nan)
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        fork = [self.device_.index or 0] if self.device_.type == "cuda" else []
        with torch.random.fork_rng(devices=fork):
            torch.manual_seed(seed)
            chunks = self._chunks(ds, self.modalities_, attribute_image, module=module)
            for fn, inputs, baselines, extra, sl, enc in chunks:
                keep = np.flatnonzero(~skipped_all[sl])
                if len(keep) == 0:
                    continue
                idx = torch.as_tensor(keep, device=self.device_)
                inputs = [t.index_select(0, idx) for t in inputs]
                baselines = [t.index_select(0, idx) for t in baselines]
                extra = tuple(t.index_select(0, idx) for t in extra)
                attr, dlt = self._attribute(self._attributor(fn), inputs, baselines, extra)
                with torch.no_grad():
                    lx = fn(*inputs, *extra).cpu().numpy()
                    lb = fn(*baselines, *extra).cpu().numpy()
                rows = np.arange(sl.start, sl.stop)[keep]
                attr = [a.detach().cpu().numpy() for a in attr]
                if attribute_image:
                    a_img = attr.pop(0).sum(axis=1)
                    if img_attr is None:
                        img_attr = np.full((n, *a_img.shape[1:]), np.nan)
                    img_attr[rows] = a_img
                for m, a in zip(self.modalities_, attr):
                    present = enc["present"][m][rows]
                    results[m][rows[present]] = a[present]
                delta[rows] = dlt.detach().cpu().numpy()
                loss[rows], base_loss[rows] = lx, lb
        return self._local_dataset(ds, results, img_attr, delta, loss, base_loss, attribute_image)

    def _local_dataset(self, ds, results, img_attr, delta, loss, base_loss, attribute_image):
        sample_coords = {"sample": ds["sample"].values, "individual": ("sample", ds["individual"].values)}
        out = xr.Dataset(coords=sample_coords)
        for m, values in results.items():
            fdim = ds[m].dims[1]
            feature_coords = {k: c for k, c in ds[m].coords.items() if c.dims == (fdim,)}
            out[m] = xr.DataArray(values, dims=("sample", fdim), coords={**sample_coords, **feature_coords})
            out[m].attrs["description"] = f"signed attribution of E(x) to {m} features"
        if img_attr is not None:
            out[IMAGE] = xr.DataArray(img_attr, dims=("sample", "y", "x"), coords=sample_coords)
            out[IMAGE].attrs["description"] = "attribution to image pixels (summed over channels)"
        out["loss"] = ("sample", loss)
        out["baseline_loss"] = ("sample", base_loss)
        out["delta"] = ("sample", delta)
        out.attrs.update(
            explanation="local", method=self.method, baseline=self.baseline,
            n_steps=int(self.n_steps), n_reference=self.n_reference_,
            attribute_image=int(attribute_image), modalities=list(self.modalities_),
        )
        return out

    def global_(self, X, image=None) -> xr.Dataset:
        """Mean absolute attribution per feature, sorted in descending order.

        Parameters
        ----------
        X : xarray.Dataset, Samples, or the result of :meth:`local`
            Samples to explain (the paper uses 1,000), or local attributions
            already computed.
        image : bool, default=None
            Passed to :meth:`local` (attributing the image changes the path).

        Returns
        -------
        result : xarray.Dataset
            One variable per explained modality, dims (<feature dim>,), mean
            ``|attribution|`` over the samples that have the modality, sorted
            descending (each variable along its own feature dimension, names
            kept). Attributes ``n_samples_<m>``, ``mean_abs_delta`` and
            ``mean_abs_relative_delta`` (|delta| / |loss - baseline_loss|).
        """
        if isinstance(X, xr.Dataset) and X.attrs.get("explanation") == "local":
            local = X
        else:
            local = self.local(X, image=image)
        return aggregate(local)


def aggregate(local: xr.Dataset) -> xr.Dataset:
    """Global attributions from the output of :meth:`Explainer.local`.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> local = xr.Dataset({"pgs": (("sample", "pgs_id"), [[1.0, -3.0], [np.nan, np.nan]]),
    ...                     "delta": ("sample", [0.0, np.nan]),
    ...                     "loss": ("sample", [1.0, np.nan]),
    ...                     "baseline_loss": ("sample", [0.5, np.nan])},
    ...                    coords={"pgs_id": ["a", "b"]}, attrs={"modalities": ["pgs"]})
    >>> aggregate(local)["pgs"].to_series().to_dict()
    {'b': 3.0, 'a': 1.0}
    """
    modalities = list(local.attrs.get("modalities", []))
    out = xr.Dataset()
    for m in modalities:
        da = local[m]
        fdim = da.dims[1]
        present = np.isfinite(da.values).all(axis=1)
        mean_abs = np.abs(da.values[present]).mean(axis=0) if present.any() else np.full(da.shape[1], np.nan)
        order = np.argsort(-np.nan_to_num(mean_abs, nan=-np.inf), kind="stable")
        feature_coords = {k: c for k, c in da.coords.items() if c.dims == (fdim,)}
        g = xr.DataArray(mean_abs, dims=(fdim,), coords=feature_coords).isel({fdim: order})
        g.attrs["description"] = f"mean |attribution| of E(x) to {m} features"
        g.attrs["n_samples"] = int(present.sum())
        out[m] = g
        out.attrs[f"n_samples_{m}"] = int(present.sum())
    delta = np.asarray(local["delta"].values, dtype=float)
    diff = np.abs(np.asarray(local["loss"].values) - np.asarray(local["baseline_loss"].values))
    ok = np.isfinite(delta)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.abs(delta[ok]) / diff[ok]
    out.attrs.update({k: v for k, v in local.attrs.items() if k != "explanation"})
    out.attrs["explanation"] = "global"
    out.attrs["mean_abs_delta"] = float(np.abs(delta[ok]).mean()) if ok.any() else float("nan")
    out.attrs["mean_abs_relative_delta"] = float(np.nanmean(rel)) if ok.any() else float("nan")
    return out


def _presence(ds, m):
    values = np.asarray(ds[m].values, dtype=np.float64)
    return ~np.all(np.isnan(values), axis=1)


def _as_dataset(X):
    ds = as_dataset(X)
    if ds is None:
        raise TypeError(
            f"X must be an xarray.Dataset (or sklearn_contig.data.Samples), got {type(X).__name__}"
        )
    return ds
