"""ContIGPretrainer: contrastive pretraining of an image encoder against genetics."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from .._compat import Interval, StrOptions
from ..data import as_dataset, genetic_scaling, individual_codes, presence
from ..data._schema import check_feature_names, validate
from ..evaluation import top_k_retrieval
from ..losses import ContIGCriterion, ContIGLoss
from ..models import GENETIC_ENCODERS, ContIGModule
from ..training import PRETRAINED_WEIGHTS_DOC, training_params_doc
from ._base import BasePretrainer


class ContIGPretrainer(BasePretrainer):
    """Contrastive image-genetics pretraining (ContIG; Taleb et al., CVPR 2022).

    An image encoder and one encoder per genetic modality are trained so that an
    individual's image embedding lies close to the embeddings of the same
    individual's genetics and far from other individuals' (a cross-modal NT-Xent
    loss per modality, averaged). Missing modalities are handled per row
    (``aggregation="outer"``) or by keeping only complete individuals
    (``"inner"``). Training holds out ``validation_fraction`` of the individuals,
    stops early on their contrastive loss and restores the best epoch: small
    cohorts memorise within a few epochs.

    Parameters
    ----------
    image_encoder : {"resnet50", "resnet18", "mlp"} or "timm:<name>", default="resnet50"
        Image backbone; ``"mlp"`` for a flat (sample, feature) image variable,
        ``"timm:<architecture>"`` for any model of the optional ``timm`` package
        (``pip install sklearn-contig[timm]``). Trained from scratch unless
        ``pretrained_weights`` is given.
    %(weights)s
    modalities : list of str, default=None
        Genetic modalities to use; all variables with ``attrs["kind"] == "genetic"``
        when None.
    genetic_encoder : {"None", "H1", "H12"} or dict, default="H1"
        Encoder of each modality (a dict gives one per modality).
    aggregation : {"outer", "inner"}, default="outer"
        ``"outer"``: train on every sample that has at least one selected modality,
        each modality's loss over the rows that have it. ``"inner"``: only samples
        that have all selected modalities.
    temperature : float, default=0.1
    loss_weight : float, default=0.75
        Weight of the image-to-genetics direction (lambda).
    exclude_positive : bool, default=False
        Leave the positive out of the softmax denominator (the paper's Eq. 1).
    projection_dim : int, default=128
    hidden_dim : int, default=2048
        Width of the genetic encoders and of the heads' hidden layer.
    standardize_genetics : bool, default=True
        Standardise each genetic feature inside its encoder with a location and
        scale learned on the training rows that have the modality: ``2p`` and
        ``sqrt(2p(1-p))`` for SNP dosages (the field's convention), mean and
        standard deviation otherwise; constant columns keep scale 1. Genetic
        scores can then be given at the scale a pipeline writes them (``plink2
        --score`` averages near 1e-4, burden counts in the tens). False feeds
        the values as given (only sensible for inputs already standardised).
    image_size : int, default=None
        Side length images are resized to (on the device); the training images'
        size when None.
    %(training)s

    Attributes
    ----------
    net_ : skorch.NeuralNet
        The trained network wrapper (``net_.history`` holds per-epoch losses,
        including ``train_loss_<m>`` / ``valid_loss_<m>`` per modality).
    module_ : ContIGModule
    modalities_ : list of str
    best_epoch_ : int or None
        Epoch whose weights were restored.
    embedding_dim_ : int
        Width of the image embedding (2048 for resnet50, 512 for resnet18/mlp).
    modality_features_ : dict of str to ndarray of str
        Feature names of each genetic modality seen in ``fit``.
    n_individuals_ : int
        Individuals in the training rows (before the validation split).
    fill_values_ : dict of str to ndarray
        Column fill values for partial NaN in present rows (mode for ``snp``,
        mean otherwise), learned on the training rows.
    genetic_scaling_ : dict of str to (ndarray, ndarray)
        Per modality, the location and scale each feature is standardised with
        (zeros and ones when ``standardize_genetics=False``).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_contig.data import from_arrays
    >>> from sklearn_contig.pretraining import ContIGPretrainer
    >>> rng = np.random.default_rng(0)
    >>> ds = from_arrays(rng.integers(0, 255, (32, 3, 16, 16), dtype=np.uint8),
    ...                  pgs=rng.normal(size=(32, 6)))
    >>> model = ContIGPretrainer(image_encoder="resnet18", batch_size=16, max_epochs=1,
    ...                          hidden_dim=32, projection_dim=8, verbose=0, random_state=0)
    >>> model.fit(ds).transform(ds).shape
    (32, 512)
    """

    _parameter_constraints: dict = {
        **BasePretrainer._parameter_constraints,
        "modalities": [list, None],
        "genetic_encoder": [StrOptions(set(GENETIC_ENCODERS)), dict],
        "aggregation": [StrOptions({"outer", "inner"})],
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "loss_weight": [Interval(Real, 0, 1, closed="both")],
        "exclude_positive": ["boolean"],
        "projection_dim": [Interval(Integral, 1, None, closed="left")],
        "hidden_dim": [Interval(Integral, 1, None, closed="left")],
        "standardize_genetics": ["boolean"],
    }

    def __init__(
        self,
        *,
        modalities=None,
        genetic_encoder="H1",
        aggregation="outer",
        temperature=0.1,
        loss_weight=0.75,
        exclude_positive=False,
        projection_dim=128,
        hidden_dim=2048,
        standardize_genetics=True,
    ):
        self.modalities = modalities
        self.genetic_encoder = genetic_encoder
        self.aggregation = aggregation
        self.temperature = temperature
        self.loss_weight = loss_weight
        self.exclude_positive = exclude_positive
        self.projection_dim = projection_dim
        self.hidden_dim = hidden_dim
        self.standardize_genetics = standardize_genetics

    # ------------------------------------------------------------------ hooks
    def _prepare(self, ds):
        modalities = validate(ds, self.modalities, require_image=True, require_genetics=True)
        if isinstance(self.genetic_encoder, dict):
            unknown = set(self.genetic_encoder) - set(modalities)
            if unknown:
                raise ValueError(f"genetic_encoder names modalities not used: {sorted(unknown)}")
            bad = {k: v for k, v in self.genetic_encoder.items() if v not in GENETIC_ENCODERS}
            if bad:
                raise ValueError(f"genetic_encoder values must be in {GENETIC_ENCODERS}, got {bad}")
        masks = presence(ds, modalities)
        stacked = np.stack([masks[m] for m in modalities], axis=1)
        usable = stacked.all(axis=1) if self.aggregation == "inner" else stacked.any(axis=1)
        rows = np.flatnonzero(usable)
        n_ind = len(np.unique(np.asarray(ds["individual"].values)[rows]))
        if n_ind < 2:
            raise ValueError(
                f"aggregation={self.aggregation!r} leaves {n_ind} individual(s) with "
                f"{'all' if self.aggregation == 'inner' else 'any'} of the modalities {modalities}; "
                "at least 2 are needed"
            )
        return modalities, rows

    def _build_module(self, encoder, train_data):
        ds, modalities = train_data.ds, train_data.modalities
        dims = {m: int(ds[m].shape[1]) for m in modalities}
        kinds = self.genetic_encoder
        if isinstance(kinds, dict):
            kinds = {m: kinds.get(m, "H1") for m in modalities}
        module = ContIGModule(encoder, dims, kinds, hidden_dim=self.hidden_dim, projection_dim=self.projection_dim)
        # raises, naming it, for a modality whose training values are all identical
        scaling = genetic_scaling(ds, modalities, train_data.indices)
        if self.standardize_genetics:
            for m, (loc, scale) in scaling.items():
                module.genetic_encoders[m].set_standardization(loc, scale)
        return module

    def _build_criterion(self):
        return ContIGCriterion(self.temperature, self.loss_weight, self.exclude_positive)

    def _set_fitted_attributes(self, train_data) -> None:
        self.genetic_scaling_ = {
            m: (enc.loc.cpu().numpy().copy(), enc.scale.cpu().numpy().copy())
            for m, enc in self.module_.genetic_encoders.items()
        }

    # ------------------------------------------------------------ embeddings
    @torch.no_grad()
    def _projections(self, X):
        """Per modality: image projection, genetic projection, genetic embedding, mask."""
        check_is_fitted(self, "net_")
        ds = as_dataset(X, required=True)
        validate(ds, self.modalities_, require_image=True)
        check_feature_names(ds, self.modality_features_)

        def batch_projections(module, batch):
            h = module.encode_image(batch["image"])
            out = {}
            for m in self.modalities_:
                mask = batch[f"{m}_mask"]
                hg, _ = module.encode_genetics(m, batch[m], mask)
                zv, zg = module.project_image(m, h), module.project_genetic_embedding(m, hg)
                out[m] = tuple(v.float().cpu() if v.is_floating_point() else v.cpu() for v in (zv, zg, hg, mask))
            return out

        parts = self._map_batches(ds, batch_projections, modalities=self.modalities_, fill=self.fill_values_)
        return {
            m: tuple(torch.cat([p[m][j] for p in parts]).numpy() for j in range(4)) for m in self.modalities_
        }

    def transform_genetics(self, X) -> dict:
        """Genetic embeddings per modality.

        Parameters
        ----------
        X : xarray.Dataset or Samples

        Returns
        -------
        embeddings : dict of str to ndarray of shape (n_samples, d_m)
            Output of each modality's genetic encoder; rows of samples without
            the modality are NaN.
        """
        out = {}
        for m, (_, _, hg, mask) in self._projections(X).items():
            hg = hg.copy()
            hg[~mask] = np.nan
            out[m] = hg
        return out

    def retrieval_accuracy(self, X, k=1, chunk_size=None) -> dict:
        """Held-out cross-modal retrieval accuracy per modality (image -> genetics).

        Samples are taken in chunks of ``chunk_size`` (default ``batch_size``)
        present rows; within a chunk each image's ``k`` most similar genetic
        embeddings are looked up, and a hit is one of the same individual. Chance
        is about ``k * s / chunk_size`` with ``s`` the images per individual
        (``2k / chunk_size`` for two eyes per person).

        Returns
        -------
        accuracy : dict of str to float
        """
        chunk = int(chunk_size or self.batch_size_)
        ds = as_dataset(X, required=True)
        individual = individual_codes(ds)
        result = {}
        for m, (zv, zg, _, mask) in self._projections(X).items():
            rows = np.flatnonzero(mask)
            if len(rows) < 2:
                result[m] = float("nan")
                continue
            result[m] = top_k_retrieval(zv[rows], zg[rows], k=k, groups=individual[rows], chunk_size=chunk)
        return result

    def contrastive_loss(self, X, chunk_size=None) -> dict:
        """Contrastive loss of the fitted model on ``X``, per modality and overall.

        Computed in eval mode (no augmentation) over consecutive chunks of
        ``chunk_size`` samples (default ``batch_size``), like the validation loss
        during training. Its chance level is about ``ln(chunk_size)``.

        Returns
        -------
        loss : dict of str to float
            One entry per modality and ``"mean"``, the chunk-size-weighted mean
            of the per-chunk losses.
        """
        chunk = int(chunk_size or self.batch_size_)
        ds = as_dataset(X, required=True)
        codes = torch.from_numpy(individual_codes(ds))
        proj = self._projections(X)
        loss_fn = ContIGLoss(self.temperature, self.loss_weight, self.exclude_positive)
        n = ds.sizes["sample"]
        totals = {m: [0.0, 0] for m in self.modalities_}
        overall = [0.0, 0]
        for start in range(0, n, chunk):
            sl = slice(start, min(start + chunk, n))
            pairs = {
                m: (torch.from_numpy(zv[sl]), torch.from_numpy(zg[sl]), torch.from_numpy(mask[sl]))
                for m, (zv, zg, _, mask) in proj.items()
            }
            with torch.no_grad():
                value, parts = loss_fn(pairs, codes[sl], return_parts=True)
            size = sl.stop - sl.start
            for m, v in parts.items():
                totals[m][0] += v * size
                totals[m][1] += size
            if parts:
                overall[0] += float(value) * size
                overall[1] += size
        out = {m: (t / c if c else float("nan")) for m, (t, c) in totals.items()}
        out["mean"] = overall[0] / overall[1] if overall[1] else float("nan")
        return out

    def score(self, X, y=None) -> float:
        """Mean top-1 cross-modal retrieval accuracy (higher is better).

        A label-free score for model selection: ``GridSearchCV`` needs no ``y``.
        """
        acc = self.retrieval_accuracy(X, k=1)
        values = [v for v in acc.values() if np.isfinite(v)]
        return float(np.mean(values)) if values else float("nan")


if ContIGPretrainer.__doc__:  # None under python -OO
    ContIGPretrainer.__doc__ = ContIGPretrainer.__doc__.replace(
        "%(weights)s", PRETRAINED_WEIGHTS_DOC
    ).replace("%(training)s", training_params_doc(
        batch_size=64, max_epochs=100, weight_decay="1e-6", verbose=1,
        weight_decay_note=" (the authors' setting; 1e-4 helps small cohorts)",
        augment="random rotation up to 20 degrees and horizontal flips, the authors' setting",
    ))
