"""Feature attributions of a fitted ContIG model (Taleb et al., CVPR 2022, Sec. 3.3).

The contrastive loss is defined over a batch, so it has no per-sample output to
explain. Following the paper, a reference batch R of ``b`` individuals is fixed
and the explainer function of a sample ``x`` is the full ContIG loss over the
batch ``R + {x}``, averaged over the model's modalities (see
:mod:`._reference` for the cached math, :mod:`._function` for the attributed
module). With the encoders in eval mode the reference projections do not
depend on ``x``; they are computed once in :meth:`Explainer.fit` together with
the log-sum-exps of the reference-reference logits, so each evaluation costs
the encoders of ``x`` alone plus ``O(b k)`` per modality.

Attributions come from :mod:`captum` (Integrated Gradients, DeepLift, or
NoiseTunnel over Integrated Gradients); captum evaluates ``E`` on batches of
interpolated inputs, and every row of such a batch is its own ``R + {x}``
problem.
"""

from __future__ import annotations

import copy
import warnings
from numbers import Integral, Real

import numpy as np
import pandas as pd
import torch
import xarray as xr
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._compat import Interval, StrOptions
from ..data import as_dataset, presence
from ..data._schema import IMAGE, check_feature_names, validate
from ._deeplift import with_deeplift_safe_image_encoder
from ._function import ExplainerFunction
from ._reference import ReferenceStats, pair_loss
from ._results import aggregate, local_dataset
from ._rows import Chunk, encode_rows

METHODS = ("integrated_gradients", "deeplift", "noise_tunnel")

#: The explanation settings of the authors' code: the loss at temperature 1.0
#: and weight 0.5 (not the training values), and captum's NoiseTunnel over
#: Integrated Gradients with its defaults (5 noisy copies of standard deviation
#: 1.0). Use as ``Explainer(model, **AUTHORS_SETTINGS)``.
AUTHORS_SETTINGS = dict(
    method="noise_tunnel", temperature=1.0, loss_weight=0.5, nt_samples=5, nt_stdevs=1.0,
)


class Explainer(BaseEstimator):
    """Attribute a fitted ContIG model's loss to genetic features (and image pixels).

    The explainer function ``E(x)`` of a sample is the full ContIG loss over a
    fixed reference batch plus that sample (paper Sec. 3.3), with the encoders in
    eval mode, the pretrainer's ``exclude_positive``, and the mean over all the
    model's modalities as in :class:`~sklearn_contig.losses.ContIGLoss`. The
    temperature and loss weight are the pretrainer's training values unless
    given. :meth:`fit` draws the reference batch (one sample per individual) and
    caches its projections; each evaluation of ``E`` then runs only the encoders
    of ``x`` plus ``O(b k)`` work per modality. :meth:`local` gives signed
    attributions per sample, :meth:`global_` the mean absolute attribution per
    feature.

    By default the image of ``x`` is fixed and the explained genetic modalities
    are attributed (modalities not explained keep ``x``'s values). With
    ``attribute_image=True`` the image (in [0, 1] at the encoder's input size) is
    attributed together with the genetics, along one joint path.

    Attributions are with respect to the raw genetic inputs, in the user's
    feature names and units. A positive attribution means the feature *raises*
    the loss, i.e. makes the sample's image and genetics match less well against
    the reference batch; a negative one makes them match better.

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
        Reference input of the attribution. ``"zeros"``: the standardised zero,
        i.e. per feature the location ``loc`` the model's genetic encoder
        subtracts (the training mean; ``2p`` for SNP dosages; raw 0 for a model
        whose encoders are not standardised), and a black image. ``"mean"``: the
        mean genetic values of the reference batch's samples that have the
        modality (partial NaN filled), and the reference batch's mean image.
    nt_samples : int, default=10
        Noisy copies per sample for ``method="noise_tunnel"``.
    nt_stdevs : float, default=0.1
        Standard deviation of the noise tunnel's noise, for genetic features in
        standardised units (times each feature's encoder ``scale`` in raw
        units), for images on the [0, 1] scale.
    temperature : float, default=None
        Temperature of the explained loss; the pretrainer's when None.
    loss_weight : float, default=None
        Weight ``lam`` of the image-to-genetics direction of the explained loss;
        the pretrainer's when None.
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
    reference_samples_ : ndarray of shape (`n_reference_`,)
        Sample ids of the reference batch.
    n_reference_ : int
    reference_stats_ : dict of str to ReferenceStats
        Per modality the cached normalised reference projections, row/column
        log-sum-exps and reference-only loss.
    temperature_, loss_weight_ : float
        Temperature and loss weight of the explained loss.
    exclude_positive_ : bool
    feature_names_ : dict of str to ndarray
    baseline_values_ : dict of str to ndarray
        Baseline per explained modality in raw units (and ``"image"``,
        (c, y, x) in [0, 1]).
    fill_values_ : dict of str to ndarray
        Fill values for partial NaN (the pretrainer's).
    module_ : nn.Module
        The copy of the pretrainer's network, in eval mode, gradients off.

    See Also
    --------
    AUTHORS_SETTINGS : the authors' explanation settings.
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
        "temperature": [Interval(Real, 0, None, closed="neither"), None],
        "loss_weight": [Interval(Real, 0, 1, closed="both"), None],
        "modalities": [list, str, None],
        "attribute_image": ["boolean"],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    #: Loss of one modality over ``R + {x}`` (:func:`recomputed_pair_loss` gives
    #: the same value the uncached way).
    _pair_loss = staticmethod(pair_loss)

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
        temperature=None,
        loss_weight=None,
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
        self.temperature = temperature
        self.loss_weight = loss_weight
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
        if module is None or not hasattr(module, "project_genetics"):
            raise TypeError(
                f"pretrainer must be a fitted ContIGPretrainer (a model with genetic "
                f"encoders), got {type(pre).__name__}"
            )

    def _explained_modalities(self, model_modalities):
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
        return list(explained)

    def _draw_reference(self, ds, model_modalities):
        """Rows of the reference batch: one sample per individual with genetic data."""
        rng = check_random_state(self.random_state)
        individuals = np.asarray(ds["individual"].values)
        usable = np.zeros(len(individuals), dtype=bool)
        for mask in presence(ds, model_modalities).values():
            usable |= mask
        order = rng.permutation(np.flatnonzero(usable))
        candidates = order[~pd.Index(individuals[order]).duplicated()]
        n_ref = min(int(self.n_reference), len(candidates))
        if n_ref < 2:
            raise ValueError(
                f"the reference batch needs at least 2 individuals with genetic data, "
                f"X has {len(candidates)}"
            )
        return np.sort(rng.choice(candidates, size=n_ref, replace=False))

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
        self : Explainer
            With the reference individuals drawn (``reference_samples_``) and
            their projections cached.
        """
        self._validate_params()
        self._check_pretrainer()
        pre = self.pretrainer
        model_modalities = list(pre.modalities_)
        explained = self._explained_modalities(model_modalities)
        ds = as_dataset(X, required=True)
        validate(ds, [m for m in model_modalities if m in ds], require_image=True, min_samples=1)
        self._check_features(ds, model_modalities, pre, require=model_modalities)
        rows = self._draw_reference(ds, model_modalities)

        module = copy.deepcopy(pre.module_).eval()
        for p in module.parameters():
            p.requires_grad_(False)
        self.module_ = module
        self.device_ = next(module.parameters()).device
        self.fill_values_ = {m: np.asarray(v) for m, v in pre.fill_values_.items()}
        self.model_modalities_ = model_modalities
        self.modalities_ = explained
        self.temperature_ = float(pre.temperature if self.temperature is None else self.temperature)
        self.loss_weight_ = float(pre.loss_weight if self.loss_weight is None else self.loss_weight)
        self.exclude_positive_ = bool(pre.exclude_positive)

        enc = encode_rows(module, ds, rows, model_modalities, self.fill_values_, self.device_,
                          batch_size=getattr(pre, "batch_size", None))
        individuals = np.asarray(ds["individual"].values)[rows]
        stats, baseline = {}, {}
        for m in model_modalities:
            present = enc.present[m]
            if present.sum() < 2:
                raise ValueError(
                    f"the reference batch has {int(present.sum())} sample(s) with modality "
                    f"{m!r}; at least 2 are needed (raise n_reference or use a Dataset "
                    f"where {m!r} is less often missing)"
                )
            stats[m] = ReferenceStats(
                enc.zv[m][present], enc.zg[m][present], individuals[present],
                self.temperature_, self.loss_weight_, self.exclude_positive_,
                torch.float32, self.device_,
            )
            if self.baseline == "zeros":
                baseline[m] = module.genetic_encoders[m].loc.detach().cpu().numpy().astype(np.float64)
            else:
                baseline[m] = enc.x[m][present].mean(axis=0)
        baseline[IMAGE] = np.zeros_like(enc.image_mean) if self.baseline == "zeros" else enc.image_mean
        self.reference_stats_ = stats
        self.baseline_values_ = baseline
        self.reference_samples_ = np.asarray(ds["sample"].values)[rows]
        self.n_reference_ = int(len(rows))
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
        fitted = getattr(pre, "modality_features_", None)
        if fitted is not None:
            check_feature_names(ds, {m: fitted[m] for m in modalities if m in fitted})

    # ------------------------------------------------------------- evaluation
    def _match(self, individuals):
        """(n, n_modalities): position of each row's individual in each reference (-1: none)."""
        out = np.full((len(individuals), len(self.model_modalities_)), -1, dtype=np.int64)
        for j, m in enumerate(self.model_modalities_):
            out[:, j] = pd.Index(self.reference_stats_[m].individuals).get_indexer(individuals)
        return out

    def _function(self, explained, attribute_image, module=None):
        module = self.module_ if module is None else module
        return ExplainerFunction(
            module, self.reference_stats_, self.model_modalities_, explained, attribute_image,
            self.temperature_, self.loss_weight_, self.exclude_positive_, loss=self._pair_loss,
        ).eval()

    def _standardise(self, name, x):
        enc = self.module_.genetic_encoders[name]
        return (x - enc.loc) / enc.scale

    def _constant(self, fn, enc, rows, match):
        """Summed losses of the modalities the function keeps fixed, per row."""
        const = torch.zeros(len(rows), device=self.device_)
        for j, m in enumerate(self.model_modalities_):
            if m in fn.active:
                continue
            st = self.reference_stats_[m]
            loss = self._pair_loss(
                st, enc.zv[m][rows], enc.zg[m][rows], torch.as_tensor(match[rows, j], device=self.device_),
                self.temperature_, self.loss_weight_, self.exclude_positive_,
            )
            present = torch.as_tensor(enc.present[m][rows], device=self.device_)
            const = const + torch.where(present, loss, st.L)
        return const

    def _chunks(self, fn, ds):
        """Yield the :class:`Chunk` of every ``batch_size`` rows of ``ds`` for ``fn``."""
        n = ds.sizes["sample"]
        enc = encode_rows(self.module_, ds, np.arange(n), self.model_modalities_, self.fill_values_,
                          self.device_, batch_size=getattr(self.pretrainer, "batch_size", None),
                          keep_images=fn.attribute_image)
        match = self._match(np.asarray(ds["individual"].values))
        active_idx = [self.model_modalities_.index(m) for m in fn.active]
        dev = self.device_
        for start in range(0, n, int(self.batch_size)):
            rows = np.arange(start, min(start + int(self.batch_size), n))
            inputs, baselines = [], []
            if fn.attribute_image:
                img = enc.unit[rows].to(dev)
                inputs.append(img)
                value = torch.as_tensor(self.baseline_values_[IMAGE], dtype=img.dtype, device=dev)
                baselines.append(value.expand_as(img).clone())
            for m in fn.explained:
                x = torch.as_tensor(enc.x[m][rows], device=dev)
                value = torch.as_tensor(self.baseline_values_[m], dtype=x.dtype, device=dev)
                inputs.append(self._standardise(m, x))
                baselines.append(self._standardise(m, value.expand_as(x)).clone())
            if fn.attribute_image:
                fixed = [torch.as_tensor(enc.x[m][rows], device=dev) for m in fn.fixed_genetic]
            else:
                fixed = [enc.zv[m][rows] for m in fn.active]
            present = torch.as_tensor(np.stack([enc.present[m][rows] for m in fn.active], axis=1), device=dev)
            m_match = torch.as_tensor(match[rows][:, active_idx], device=dev)
            const = self._constant(fn, enc, rows, match)
            yield Chunk(rows, inputs, baselines, (*fixed, present, m_match, const)), enc

    def _check_X(self, X):
        check_is_fitted(self, "reference_stats_")
        ds = as_dataset(X, required=True)
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
        fn = self._function(self.modalities_, False)
        out = []
        with torch.no_grad():
            for chunk, _ in self._chunks(fn, ds):
                out.append(fn(*chunk.inputs, *chunk.extra).cpu().numpy())
        return np.concatenate(out).astype(np.float64)

    # ----------------------------------------------------------- attribution
    def _attributor(self, fn):
        from captum.attr import DeepLift, IntegratedGradients, NoiseTunnel

        if self.method == "deeplift":
            return DeepLift(fn)
        ig = IntegratedGradients(fn)
        return NoiseTunnel(ig) if self.method == "noise_tunnel" else ig

    def _attribute(self, attributor, chunk):
        inputs = tuple(chunk.inputs)
        kwargs = dict(baselines=tuple(chunk.baselines), additional_forward_args=chunk.extra,
                      return_convergence_delta=True)
        if self.method == "integrated_gradients":
            return attributor.attribute(inputs, n_steps=int(self.n_steps), **kwargs)
        if self.method == "deeplift":
            with warnings.catch_warnings():
                # captum warns that the forward's non-module ops get plain gradients
                warnings.simplefilter("ignore", UserWarning)
                return attributor.attribute(inputs, **kwargs)
        attr, delta = attributor.attribute(
            inputs, nt_type="smoothgrad", nt_samples=int(self.nt_samples),
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
            samples lacking the modality, and NaN for the entries of a present row
            that were missing and imputed (``delta`` still counts their share). ``image`` (sample, y, x): attribution
            summed over channels (when attributed). ``loss`` (sample,): ``E(x)``;
            ``baseline_loss`` (sample,): ``E`` at the baseline; ``delta``
            (sample,): captum's convergence delta, ``sum(attributions) -
            (loss - baseline_loss)`` (mean over the noisy copies for the noise
            tunnel). Attributes record the method and settings.
        """
        ds = self._check_X(X)
        attribute_image = bool(self.attribute_image if image is None else image)
        if attribute_image and self.module_.image_encoder.flat:
            raise ValueError(
                "image attributions need an image encoder; the model's 'mlp' encoder reads flat "
                "features (explain the genetics only: image=False, attribute_image=False)"
            )
        n = ds.sizes["sample"]
        skipped_all = ~np.stack(list(presence(ds, self.modalities_).values()), axis=1).any(axis=1)
        if skipped_all.all():
            raise ValueError(
                f"every sample of X lacks all explained modalities {self.modalities_}; "
                "nothing to explain"
            )
        module = None
        if attribute_image and self.method == "deeplift":
            # torchvision ResNets reuse one ReLU module, which DeepLift cannot handle
            module = with_deeplift_safe_image_encoder(self.module_)
        fn = self._function(self.modalities_, attribute_image, module=module)
        attributor = self._attributor(fn)
        results = {m: np.full((n, len(self.fill_values_[m])), np.nan) for m in self.modalities_}
        img_attr, delta = None, np.full(n, np.nan)
        loss, base_loss = np.full(n, np.nan), np.full(n, np.nan)
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        fork = [self.device_.index or 0] if self.device_.type == "cuda" else []
        with torch.random.fork_rng(devices=fork):
            torch.manual_seed(seed)
            for chunk, enc in self._chunks(fn, ds):
                keep = np.flatnonzero(~skipped_all[chunk.rows])
                if len(keep) == 0:
                    continue
                chunk = chunk.select(keep)
                attr, dlt = self._attribute(attributor, chunk)
                with torch.no_grad():
                    lx = fn(*chunk.inputs, *chunk.extra).cpu().numpy()
                    lb = fn(*chunk.baselines, *chunk.extra).cpu().numpy()
                rows = chunk.rows
                attr = [a.detach().cpu().numpy() for a in attr]
                if attribute_image:
                    a_img = attr.pop(0).sum(axis=1)
                    if img_attr is None:
                        img_attr = np.full((n, *a_img.shape[1:]), np.nan)
                    img_attr[rows] = a_img
                for m, a in zip(self.modalities_, attr):
                    present = enc.present[m][rows]
                    # attributions of the standardised input are those of the raw input;
                    # an entry imputed for a partial NaN (an uncalled genotype) is not the
                    # person's value, so it gets none
                    raw = np.asarray(ds[m].isel(sample=rows[present]).values, dtype=np.float64)
                    results[m][rows[present]] = np.where(np.isnan(raw), np.nan, a[present])
                delta[rows] = dlt.detach().cpu().numpy()
                loss[rows], base_loss[rows] = lx, lb
        attrs = dict(
            method=self.method, baseline=self.baseline, n_steps=int(self.n_steps),
            n_reference=self.n_reference_, attribute_image=int(attribute_image),
            temperature=self.temperature_, loss_weight=self.loss_weight_,
        )
        if self.method == "noise_tunnel":
            attrs.update(nt_samples=int(self.nt_samples), nt_stdevs=float(self.nt_stdevs))
        return local_dataset(ds, results, img_attr, delta, loss, base_loss, attrs)

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
            ``mean_abs_relative_delta`` (``|delta| / |loss - baseline_loss|``).
        """
        if isinstance(X, xr.Dataset) and X.attrs.get("explanation") == "local":
            local = X
        else:
            local = self.local(X, image=image)
        return aggregate(local)


