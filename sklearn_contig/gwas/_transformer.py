"""GWASTransformer: per-sample image embeddings -> GWAS-ready phenotypes.

The transferGWAS recipe (Kirchler et al. 2022; ContIG paper Sec. 4.2.5): one
embedding per individual -> centre -> PCA -> residualise on covariates ->
rank-based inverse normal transform, one phenotype per principal component.
"""

from __future__ import annotations

import warnings
from numbers import Integral

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import PCA
from sklearn.utils.validation import check_array, check_is_fitted

from .._compat import Interval, StrOptions, _fit_context
from ..data._errors import named_errors
from ._plink import _check_unique_ids

#: Built-in aggregations over the images of one individual.
_AGGREGATIONS = ("mean", "median")


def inverse_normal_transform(values, *, offset=3.0 / 8.0):
    """Rank-based inverse normal transform of each column.

    ``Phi^-1((rank - c) / (n - 2c + 1))`` with Blom's offset ``c = 3/8``; tied
    values get their average rank. NaN stays NaN and is left out of the ranking.

    Parameters
    ----------
    values : array-like of shape (n,) or (n, k)
        Values to transform, column by column.
    offset : float, default=3/8
        The rank offset ``c`` (3/8 Blom, 1/2 Rankit, 0 Van der Waerden).

    Returns
    -------
    ndarray of the same shape as ``values``, float64.

    Examples
    --------
    >>> from sklearn_contig.gwas import inverse_normal_transform
    >>> inverse_normal_transform([10.0, 0.5, 3.0, 3.0]).round(3)
    array([ 1.049, -1.049,  0.   ,  0.   ])
    """
    arr = np.asarray(values, dtype=np.float64)
    squeeze = arr.ndim == 1
    arr = arr.reshape(len(arr), -1) if squeeze else arr
    if arr.ndim != 2:
        raise ValueError(f"values must be 1-D or 2-D, got shape {arr.shape}")
    out = np.full(arr.shape, np.nan)
    for j in range(arr.shape[1]):
        ok = ~np.isnan(arr[:, j])
        n = int(ok.sum())
        if n == 0:
            continue
        ranks = stats.rankdata(arr[ok, j], method="average")
        out[ok, j] = stats.norm.ppf((ranks - offset) / (n - 2.0 * offset + 1.0))
    return out[:, 0] if squeeze else out


def _embedding_frame(X, individual, individuals):
    """Return (embeddings (n, d) float64, individual ids (n,) array, feature names).

    Individual ids are resolved in this order: the ``individual`` argument, the
    ``individuals`` parameter, the input's own ``individual`` coordinate or index
    level, and finally one individual per row (the sample ids / row numbers).
    """
    import xarray as xr

    feature_names = None
    own_ids = None  # ids the input carries itself
    sample_ids = None
    if isinstance(X, xr.Dataset):
        X = _dataset_variable(X)
    if isinstance(X, xr.DataArray):
        if "sample" not in X.dims or X.ndim != 2:
            raise ValueError(
                "an embedding DataArray must be 2-D with a 'sample' dimension, "
                f"got dims {X.dims}"
            )
        feat_dim = next(d for d in X.dims if d != "sample")
        X = X.transpose("sample", feat_dim)
        sample_ids = np.asarray(X["sample"].values)
        if "individual" in X.coords:
            own_ids = np.asarray(X["individual"].values)
        values = X.values
    elif isinstance(X, pd.DataFrame):
        if all(isinstance(c, str) for c in X.columns):
            feature_names = np.asarray(X.columns, dtype=object)
        index = X.index
        if isinstance(index, pd.MultiIndex) and "individual" in index.names:
            own_ids = np.asarray(index.get_level_values("individual"))
            other = [n for n in index.names if n != "individual"]
            sample_ids = np.asarray(index.droplevel("individual")) if other else None
        else:
            sample_ids = np.asarray(index)
        values = X.to_numpy()
    else:
        values = X
    with named_errors("X"):
        values = check_array(values, dtype=np.float64, input_name="X")
    n = len(values)

    if individual is not None:
        ids = _row_aligned(individual, n, "individual")
    elif individuals is not None:
        if isinstance(individuals, pd.Series) and sample_ids is not None:
            mapped = individuals.reindex(pd.Index(sample_ids))
            missing = mapped.isna().to_numpy()
            if missing.any():
                examples = list(pd.Index(sample_ids)[missing][:5])
                raise ValueError(
                    f"{int(missing.sum())} sample ids have no entry in the "
                    f"`individuals` mapping, e.g. {examples}"
                )
            ids = mapped.to_numpy()
        else:
            ids = _row_aligned(individuals, n, "individuals")
    elif own_ids is not None:
        ids = own_ids
    elif sample_ids is not None:
        ids = sample_ids
    else:
        ids = np.arange(n)
    missing = np.flatnonzero(pd.isna(np.asarray(ids)))
    if len(missing):
        raise ValueError(f"individual ids are missing (None or NaN) for rows {missing[:5].tolist()} of X")
    return values, ids, sample_ids, feature_names


def _dataset_variable(ds):
    if "embedding" in ds.data_vars:
        return ds["embedding"]
    cands = [v for v in ds.data_vars if ds[v].ndim == 2 and "sample" in ds[v].dims]
    if len(cands) != 1:
        raise ValueError(
            "cannot tell which Dataset variable holds the embeddings: name it "
            f"'embedding' (2-D candidates found: {cands})"
        )
    return ds[cands[0]]


def _row_aligned(ids, n, name):
    ids = np.asarray(ids.to_numpy() if isinstance(ids, pd.Series) else ids)
    if ids.ndim != 1 or len(ids) != n:
        raise ValueError(
            f"`{name}` must hold one individual id per sample ({n}), got shape "
            f"{ids.shape}"
        )
    return ids


class GWASTransformer(TransformerMixin, BaseEstimator):
    """Turn per-sample image embeddings into GWAS phenotypes, one row per individual.

    The transferGWAS recipe used by ContIG (paper Sec. 4.2.5): aggregate the
    embeddings of each individual's images, centre the features, project on the
    first ``n_components`` principal components, regress out covariates (sex,
    age, genetic principal components, ...) and apply a rank-based inverse normal
    transform to each component. Write the result with :func:`write_phenotypes`
    and run the association with :func:`run_gwas`.

    Run it on individuals the encoder was not trained on (see
    :func:`~sklearn_contig.data.split_individuals`). A ContIG encoder is trained
    to make each training person's image embedding match that person's
    genotypes, so on those same people the embeddings can carry genotype that
    was memorised rather than read from the images, and a GWAS on them finds
    "image" associations that are not in the images. The ContIG authors pretrain
    on one part of the biobank and run the GWAS on held-out individuals.

    Parameters
    ----------
    n_components : int, default=10
        Number of principal components, i.e. of phenotypes.
    aggregate : {"mean", "median"}, str, callable or None, default="mean"
        How the images of one individual become one embedding:

        - ``"mean"`` / ``"median"``: element-wise over the individual's images;
        - any other string: a sample-id suffix such as ``"_L"``; the image whose
          sample id ends with it is used, individuals without one are dropped
          with a warning (more than one match is an error);
        - a callable: called with the ``(n_images, n_features)`` array of one
          individual and returning an ``(n_features,)`` vector;
        - ``None``: every individual must have exactly one sample.
    standardize : bool, default=False
        Scale every embedding feature to unit variance before the PCA. By
        default the PCA runs on the centred raw embeddings, as in transferGWAS
        and the ContIG authors' code: the components follow the directions the
        encoder gives most variance to. Standardising gives every unit the same
        weight, so near-constant units (e.g. ReLU units that are almost always
        zero, heavy-tailed) are blown up to the level of the informative ones
        and can take over the leading components.
    covariates : pandas.DataFrame or None, default=None
        Covariates indexed by individual id (e.g. sex, age, genetic PCs from
        :func:`genetic_pcs`). An intercept is added; object, string and
        category columns are one-hot encoded (first level dropped). The columns,
        the levels of the categorical ones (sorted, or a category column's
        categories) and the regression coefficients are learned in ``fit`` and
        applied in ``transform``, so a subset of individuals is encoded like
        the whole cohort; a level not seen in ``fit`` raises a ``ValueError``,
        and so does ``transform`` with other covariate columns than ``fit``.
        Every individual in the embeddings must be present.
    covariates_missing : {"raise", "drop"}, default="raise"
        What to do with individuals whose covariates hold missing values:
        ``"raise"`` a ``ValueError`` naming the column and count, or ``"drop"``
        them with a warning.
    inverse_normal : bool, default=True
        Apply the rank-based inverse normal transform (Blom offset 3/8, ties
        averaged) to each residualised component. It ranks within the data being
        transformed, so call ``fit_transform`` on the whole cohort.
    individuals : array-like or pandas.Series, default=None
        The Pipeline-friendly route to individual ids, used when ``fit`` /
        ``transform`` get no ``individual=`` argument: either one id per row of
        ``X`` (e.g. ``ds["individual"].values`` beside a pretrainer that returns
        a numpy array), or a Series mapping sample id -> individual id that is
        looked up with the sample ids in the index of a DataFrame ``X``.
        Without either, ids come from an xarray ``individual`` coordinate, a
        DataFrame index level named ``"individual"``, or the rows themselves
        (one individual per row: the DataFrame index, or 0..n-1 for arrays).
    random_state : int, RandomState instance or None, default=None
        Seed for the randomised PCA solver used on large inputs.

    Attributes
    ----------
    n_features_in_ : int
        Number of embedding features seen in ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Feature names, when ``X`` was a DataFrame with string columns.
    constant_features_ : ndarray of shape (n_constant,)
        Indices of embedding features that were constant in ``fit`` and dropped.
    mean_ : ndarray of shape (n_kept_features,)
        Mean of the kept features (subtracted before the PCA).
    scale_ : ndarray of shape (n_kept_features,)
        Divisor of the kept features: their standard deviation with
        ``standardize=True``, ones otherwise.
    pca_ : sklearn.decomposition.PCA
        The fitted PCA.
    explained_variance_ratio_ : ndarray of shape (n_components,)
        Share of the (centred, or standardised) embedding variance per
        component.
    covariate_names_ : list of str
        Covariate design columns, without the intercept: a numeric column's
        label as str, ``"<label>_<level>"`` for each level but the first of a
        categorical one (empty without covariates).
    residual_coef_ : ndarray of shape (1 + n_covariates, n_components)
        Intercept and covariate coefficients removed from the components.
    n_individuals_ : int
        Number of individuals used in ``fit``.

    See Also
    --------
    write_phenotypes : write the output for PLINK 2 / REGENIE / BOLT-LMM.
    run_gwas : run ``plink2 --glm`` on the output.

    Notes
    -----
    From a cohort Dataset to GWAS hits, with the pretrainer in a Pipeline (its
    ``transform`` returns one numpy row per sample, so the individual ids come
    in through ``individuals``)::

        pipe = make_pipeline(
            ContIGPretrainer(),
            GWASTransformer(individuals=ds["individual"].values, covariates=cov),
        )
        pheno = pipe.fit_transform(ds)          # DataFrame, one row per person
        bfile = write_plink(prefix, ds["snp"])  # or the cohort's own genotypes
        hits = run_gwas(pheno, bfile)
        n_regions, clumps = count_independent_regions(hits, bfile)

    The inverse normal transform ranks within the data given to ``transform``;
    PCA, centring (and scaling) and covariate coefficients come from ``fit``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_contig.gwas import GWASTransformer
    >>> rng = np.random.default_rng(0)
    >>> emb = rng.normal(size=(60, 16))          # two images for each of 30 people
    >>> people = np.repeat([f"id{i}" for i in range(30)], 2)
    >>> pheno = GWASTransformer(n_components=3).fit_transform(emb, individual=people)
    >>> pheno.shape, list(pheno.columns), pheno.index[0]
    ((30, 3), ['PC1', 'PC2', 'PC3'], 'id0')

    In a Pipeline, pass the ids as a parameter:

    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> pipe = make_pipeline(StandardScaler(),
    ...                      GWASTransformer(n_components=2, individuals=people))
    >>> pipe.fit_transform(emb).shape
    (30, 2)
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "aggregate": [str, callable, None],
        "standardize": ["boolean"],
        "covariates": [pd.DataFrame, None],
        "covariates_missing": [StrOptions({"raise", "drop"})],
        "inverse_normal": ["boolean"],
        "individuals": ["array-like", None],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        n_components=10,
        *,
        aggregate="mean",
        standardize=False,
        covariates=None,
        covariates_missing="raise",
        inverse_normal=True,
        individuals=None,
        random_state=None,
    ):
        self.n_components = n_components
        self.aggregate = aggregate
        self.standardize = standardize
        self.covariates = covariates
        self.covariates_missing = covariates_missing
        self.inverse_normal = inverse_normal
        self.individuals = individuals
        self.random_state = random_state

    # -- steps ---------------------------------------------------------------
    def _aggregate(self, values, ids, sample_ids):
        """One row per individual, in order of first appearance."""
        agg = self.aggregate
        codes, uniques = pd.factorize(pd.Index(ids), sort=False)
        counts = np.bincount(codes, minlength=len(uniques))
        if agg is None:
            if (counts > 1).any():
                dup = list(uniques[counts > 1][:5])
                raise ValueError(
                    f"{int((counts > 1).sum())} individuals have several samples "
                    f"(e.g. {dup}); set aggregate='mean' or a sample suffix"
                )
            order = np.empty(len(uniques), dtype=np.intp)
            order[codes] = np.arange(len(codes))
            return values[order], pd.Index(uniques)
        if agg == "mean":
            sums = np.zeros((len(uniques), values.shape[1]))
            np.add.at(sums, codes, values)
            return sums / counts[:, None], pd.Index(uniques)
        if isinstance(agg, str) and agg not in _AGGREGATIONS:
            if sample_ids is None:
                raise ValueError(
                    f"aggregate={agg!r} selects samples by id suffix, but the "
                    "input carries no sample ids (pass a DataFrame indexed by "
                    "sample id or a DataArray with a 'sample' coordinate)"
                )
            hit = pd.Index(sample_ids).astype(str).str.endswith(agg)
            hit = np.asarray(hit, dtype=bool)
            n_hit = np.bincount(codes[hit], minlength=len(uniques))
            if (n_hit > 1).any():
                raise ValueError(
                    f"aggregate={agg!r} matches several samples of "
                    f"{int((n_hit > 1).sum())} individuals, e.g. "
                    f"{list(uniques[n_hit > 1][:5])}"
                )
            if (n_hit == 0).any():
                warnings.warn(
                    f"aggregate={agg!r}: {int((n_hit == 0).sum())} of "
                    f"{len(uniques)} individuals have no sample with that suffix "
                    f"and are dropped (e.g. {list(uniques[n_hit == 0][:5])})",
                    UserWarning,
                    stacklevel=4,
                )
            if not hit.any():
                raise ValueError(f"no sample id ends with {agg!r}")
            return values[hit], pd.Index(np.asarray(ids)[hit])
        func = (lambda a: np.median(a, axis=0)) if agg == "median" else agg
        order = np.argsort(codes, kind="stable")
        groups = np.split(values[order], np.cumsum(counts)[:-1])
        rows = []
        for group in groups:
            row = np.asarray(func(group), dtype=np.float64)
            if row.shape != (values.shape[1],):
                raise ValueError(
                    f"the aggregate callable must return shape ({values.shape[1]},), "
                    f"got {row.shape}"
                )
            rows.append(row)
        return np.vstack(rows), pd.Index(uniques)

    def _covariate_design(self, index, fitting):
        """Design matrix (with intercept) for ``index`` and the rows kept.

        ``fit`` learns the covariate columns and the levels of the categorical
        ones; ``transform`` encodes with exactly those.
        """
        keep = np.ones(len(index), dtype=bool)
        cov = self.covariates
        columns = [] if cov is None else list(cov.columns)
        if not fitting:
            fitted = [label for label, _ in self._covariate_encoding]
            if columns != fitted:
                raise ValueError(
                    f"covariates has columns {columns}, but GWASTransformer was "
                    f"fitted with covariate columns {fitted}; fit again after "
                    "changing covariates"
                )
        if cov is None:
            if fitting:
                self._covariate_encoding = []
                self.covariate_names_ = []
            return np.ones((len(index), 1)), keep
        if cov.shape[1] == 0:
            raise ValueError("covariates has no column; pass covariates=None to regress on the intercept only")
        _check_unique_ids(cov.index, "covariates")
        absent = ~_present(cov, index)
        if absent.any():
            examples = list(index[absent][:5])
            raise ValueError(
                f"{int(absent.sum())} of {len(index)} individuals in the embeddings "
                f"have no row in `covariates`, e.g. {examples}"
            )
        aligned = _align_by_id(cov, index)
        na = aligned.isna()
        if na.to_numpy().any():
            cols = {c: int(k) for c, k in na.sum().items() if k}
            desc = ", ".join(f"{c!r}: {k}" for c, k in cols.items())
            if self.covariates_missing == "raise":
                raise ValueError(
                    f"covariates have missing values ({desc} individuals); impute "
                    "them or set covariates_missing='drop'"
                )
            keep = ~na.any(axis=1).to_numpy()
            warnings.warn(
                f"dropping {int((~keep).sum())} individuals with missing covariates "
                f"({desc})",
                UserWarning,
                stacklevel=4,
            )
        aligned = aligned[keep]
        if fitting:
            self._covariate_encoding = _learn_encoding(aligned)
            self.covariate_names_ = _design_names(self._covariate_encoding)
        z = _encode(aligned, self._covariate_encoding)
        if not np.isfinite(z).all():
            names = np.asarray(self.covariate_names_, dtype=object)
            cols = list(names[~np.isfinite(z).all(axis=0)])
            raise ValueError(f"covariates have infinite values in columns {cols}")
        if fitting and len(z) < 2:
            raise ValueError(
                f"covariates leave {len(z)} individual(s) with complete covariates; at least 2 are needed to fit"
            )
        return np.column_stack([np.ones(len(z)), z]), keep

    def _prepare(self, X, individual):
        values, ids, sample_ids, names = _embedding_frame(
            X, individual, self.individuals
        )
        agg, index = self._aggregate(values, ids, sample_ids)
        index.name = "individual"
        return agg, index, values.shape[1], names

    # -- sklearn API -----------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, individual=None):
        """Learn centring (and scaling), PCA and covariate coefficients.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), DataFrame, xarray
            Per-sample embeddings: a numpy array, a DataFrame indexed by sample id
            (or with a MultiIndex level ``"individual"``), or an xarray
            DataArray / Dataset with a ``sample`` dimension and an
            ``individual`` coordinate.
        y : None
            Ignored.
        individual : array-like of shape (n_samples,), default=None
            Individual id of each sample; overrides the ``individuals`` parameter.

        Returns
        -------
        self : GWASTransformer
        """
        agg, index, n_features, names = self._prepare(X, individual)
        if len(agg) < 2:
            raise ValueError(
                f"n_samples={len(agg)}: at least 2 individuals are needed to fit"
            )
        self.n_features_in_ = n_features
        if names is not None:
            self.feature_names_in_ = names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_

        mean = agg.mean(axis=0)
        scale = agg.std(axis=0)
        const = scale <= 1e-12 * np.maximum(1.0, np.abs(mean))
        if const.all():
            raise ValueError(
                f"all {n_features} embedding features are constant across "
                "individuals; nothing to analyse"
            )
        if const.any():
            warnings.warn(
                f"dropping {int(const.sum())} constant embedding features "
                f"(e.g. columns {np.flatnonzero(const)[:5].tolist()})",
                UserWarning,
                stacklevel=3,
            )
        self.constant_features_ = np.flatnonzero(const)
        self._kept = ~const
        self.mean_ = mean[self._kept]
        self.scale_ = scale[self._kept] if self.standardize else np.ones(len(self.mean_))
        z = (agg[:, self._kept] - self.mean_) / self.scale_

        design, keep = self._covariate_design(index, fitting=True)
        z = z[keep]
        limit = min(z.shape)
        if self.n_components > limit:
            raise ValueError(
                f"n_components={self.n_components} exceeds min(n_individuals, "
                f"n_non_constant_features) = min{z.shape} = {limit}"
            )
        self.pca_ = PCA(
            n_components=self.n_components, random_state=self.random_state
        ).fit(z)
        self.explained_variance_ratio_ = self.pca_.explained_variance_ratio_
        scores = self.pca_.transform(z)
        self.residual_coef_ = np.linalg.lstsq(design, scores, rcond=None)[0]
        self.n_individuals_ = int(keep.sum())
        return self

    def transform(self, X, individual=None):
        """Phenotypes for the individuals in ``X``.

        Parameters
        ----------
        X : array-like, DataFrame or xarray
            Per-sample embeddings, as in :meth:`fit`.
        individual : array-like of shape (n_samples,), default=None
            Individual id of each sample; overrides the ``individuals`` parameter.

        Returns
        -------
        pandas.DataFrame of shape (n_individuals, n_components)
            Indexed by individual id (index name ``"individual"``), columns
            ``"PC1"`` to ``"PCk"``.
        """
        check_is_fitted(self, "pca_")
        agg, index, n_features, names = self._prepare(X, individual)
        if n_features != self.n_features_in_:
            raise ValueError(
                f"X has {n_features} features, but GWASTransformer is expecting "
                f"{self.n_features_in_} features as input"
            )
        fitted = getattr(self, "feature_names_in_", None)
        if fitted is not None and names is not None and not np.array_equal(np.asarray(names), fitted):
            moved = [str(a) for a, b in zip(names, fitted) if a != b][:5]
            raise ValueError(
                "X has other feature names than in fit, or the same in another order "
                f"(e.g. {moved}); pass the columns of fit, in their order"
            )
        z = (agg[:, self._kept] - self.mean_) / self.scale_
        design, keep = self._covariate_design(index, fitting=False)
        resid = self.pca_.transform(z[keep]) - design @ self.residual_coef_
        if self.inverse_normal:
            resid = inverse_normal_transform(resid)
        return pd.DataFrame(
            resid, index=index[keep], columns=list(self.get_feature_names_out())
        )

    def fit_transform(self, X, y=None, individual=None):
        """Fit, then transform the same data; see :meth:`fit` and :meth:`transform`."""
        return self.fit(X, y, individual=individual).transform(X, individual=individual)

    def get_feature_names_out(self, input_features=None):
        """Output feature names ``PC1``..``PCk``.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Ignored; present for API compatibility.

        Returns
        -------
        ndarray of str objects of shape (n_components,)
        """
        check_is_fitted(self, "pca_")
        return np.asarray(
            [f"PC{i + 1}" for i in range(self.n_components)], dtype=object
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        # The output is always a float64 DataFrame, whatever the input dtype.
        tags.transformer_tags.preserves_dtype = []
        return tags


def _is_categorical(column):
    """Whether a covariate column is one-hot encoded (object, string or category)."""
    dtype = column.dtype
    return (
        isinstance(dtype, pd.CategoricalDtype)
        or pd.api.types.is_object_dtype(dtype)
        or pd.api.types.is_string_dtype(dtype)
    )


def _learn_encoding(frame):
    """``[(label, levels or None), ...]``: per column, the levels of a categorical one.

    Levels are the categories of a ``category`` column, otherwise the sorted
    distinct values, as :func:`pandas.get_dummies` orders them.
    """
    encoding = []
    for j, label in enumerate(frame.columns):
        column = frame.iloc[:, j]
        if not _is_categorical(column):
            encoding.append((label, None))
        elif isinstance(column.dtype, pd.CategoricalDtype):
            encoding.append((label, list(column.cat.categories)))
        else:
            encoding.append((label, list(pd.Categorical(column.dropna()).categories)))
    return encoding


def _design_names(encoding):
    """Design column names: the label of a numeric column, ``<label>_<level>``
    for each level but the first of a categorical one."""
    names = []
    for label, levels in encoding:
        if levels is None:
            names.append(str(label))
        else:
            names.extend(f"{label}_{level}" for level in levels[1:])
    return names


def _encode(frame, encoding):
    """Float design matrix of ``frame`` (no intercept) with the learned ``encoding``.

    Numeric columns are used as they are; a categorical column becomes one
    indicator per level but the first. A level not learned is a ValueError.
    """
    blocks = [np.empty((len(frame), 0))]
    for j, (label, levels) in enumerate(encoding):
        column = frame.iloc[:, j]
        if levels is None:
            try:
                values = column.to_numpy(dtype=np.float64)
            except (TypeError, ValueError):
                raise TypeError(
                    f"covariates column {label!r} must be numeric or categorical, "
                    f"got dtype {column.dtype}"
                ) from None
            blocks.append(values[:, None])
            continue
        values = np.asarray(column, dtype=object)
        codes = pd.Index(levels, dtype=object).get_indexer(values)
        unseen = codes < 0
        if unseen.any():
            new = list(pd.unique(values[unseen]))
            raise ValueError(
                f"covariates column {label!r} has levels {new[:5]} that were not "
                f"seen in fit (levels seen: {levels})"
            )
        blocks.append(
            (codes[:, None] == np.arange(1, len(levels))).astype(np.float64)
        )
    return np.hstack(blocks)


def _present(frame, index):
    """Which ids of ``index`` have a row in ``frame`` (with str fallback)."""
    hit = index.isin(frame.index)
    if not hit.any():
        hit = index.astype(str).isin(frame.index.astype(str))
    return np.asarray(hit, dtype=bool)


def _align_by_id(frame, index):
    """``frame`` reindexed to ``index``; ids are compared as str if none match."""
    if index.isin(frame.index).any():
        out = frame.reindex(index)
    else:
        out = frame.set_axis(frame.index.astype(str)).reindex(index.astype(str))
        out.index = index
    return out
