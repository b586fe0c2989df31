"""Evaluation on known ground truth: linear probes of embeddings, retrieval, attribution ROC-AUC."""

from __future__ import annotations

import numpy as np
import pandas as pd


def linear_probe_r2(features, targets, *, cv=5, groups=None, random_state=0) -> pd.Series:
    """Cross-validated R^2 of a ridge probe from embeddings to each target column.

    Drops near-constant features, standardises the rest and clips them at 5
    standard deviations before the ridge (a randomly initialised network in eval
    mode has near-dead units and heavy-tailed ones, whose rescaled outliers blow
    up a held-out fold), and picks the ridge penalty by inner generalised CV.

    Parameters
    ----------
    features : array-like of shape (n, d)
    targets : DataFrame or array-like of shape (n,) or (n, k)
    cv : int, default=5
    groups : array-like of shape (n,), default=None
        Group labels (e.g. individual ids) for grouped folds.
    random_state : int, default=0

    Returns
    -------
    r2 : Series
        Mean out-of-fold R^2 per target.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 5))
    >>> r2 = linear_probe_r2(X, {"signal": X[:, 0], "noise": rng.normal(size=200)})
    >>> bool(r2["signal"] > 0.9), bool(r2["noise"] < 0.1)
    (True, True)
    """
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import GroupKFold, KFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    X = np.asarray(features, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"features must be 2-D (n, d), got shape {X.shape}")
    if isinstance(targets, dict):
        targets = pd.DataFrame(targets)
    if not isinstance(targets, pd.DataFrame):
        values = np.asarray(targets)
        targets = pd.DataFrame(values.reshape(len(values), -1))
    T = targets
    if len(T) != len(X):
        raise ValueError(f"targets has {len(T)} rows, features has {len(X)}")
    sd = X.std(0)
    keep = sd > 1e-4 * max(float(sd.max()), 1e-12)
    X = X[:, keep]
    if groups is not None:
        folds = list(GroupKFold(cv).split(X, groups=groups))
    else:
        folds = list(KFold(cv, shuffle=True, random_state=random_state).split(X))
    clip = FunctionTransformer(np.clip, kw_args={"a_min": -5.0, "a_max": 5.0})
    model = make_pipeline(StandardScaler(), clip, StandardScaler(), RidgeCV(alphas=np.logspace(-2, 5, 15)))
    out = {}
    for col in T.columns:
        y = np.asarray(T[col], dtype=np.float64)
        out[col] = float(cross_val_score(model, X, y, cv=folds, scoring="r2").mean())
    return pd.Series(out, name="r2")


def top_k_retrieval(queries, keys, *, k=1, groups=None, chunk_size=None) -> float:
    """Share of queries whose match is among their ``k`` most cosine-similar keys.

    Row ``i`` of ``queries`` matches row ``j`` of ``keys`` when
    ``groups[i] == groups[j]`` (by default only ``j == i``). The rows are
    searched in consecutive chunks of ``chunk_size`` (all at once by default),
    each query among the keys of its own chunk, so chance is about
    ``k * s / chunk_size`` with ``s`` the rows per group. A chunk of one row
    or one group (nothing to tell apart) is skipped.

    Parameters
    ----------
    queries, keys : array-like of shape (n, d)
        Paired embeddings, e.g. image and genetic projections of the same samples.
    k : int, default=1
    groups : array-like of shape (n,), default=None
        Group of each row (e.g. the individual); rows of one group match.
    chunk_size : int, default=None

    Returns
    -------
    accuracy : float
        NaN when no chunk has two rows.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> z = rng.normal(size=(64, 8))
    >>> top_k_retrieval(z, z + 0.01 * rng.normal(size=z.shape))
    1.0
    >>> bool(top_k_retrieval(z, rng.normal(size=z.shape), k=5, chunk_size=32) < 0.5)
    True
    """
    u = np.asarray(queries, dtype=np.float64)
    w = np.asarray(keys, dtype=np.float64)
    if u.ndim != 2 or u.shape != w.shape:
        raise ValueError(f"queries and keys must be 2-D with the same shape, got {u.shape} and {w.shape}")
    groups = np.arange(len(u)) if groups is None else np.asarray(groups)
    if groups.shape != (len(u),):
        raise ValueError(f"groups must have one entry per row ({len(u)}), got shape {groups.shape}")
    u = u / np.maximum(np.linalg.norm(u, axis=1, keepdims=True), 1e-12)
    w = w / np.maximum(np.linalg.norm(w, axis=1, keepdims=True), 1e-12)
    chunk = int(chunk_size or max(len(u), 1))
    hits = total = 0
    for start in range(0, len(u), chunk):
        sl = slice(start, min(start + chunk, len(u)))
        if sl.stop - sl.start < 2 or len(np.unique(groups[sl])) < 2:
            continue
        sim = u[sl] @ w[sl].T
        kk = min(int(k), sim.shape[1])
        top = np.argpartition(-sim, kk - 1, axis=1)[:, :kk]
        hits += int((groups[sl][top] == groups[sl][:, None]).any(axis=1).sum())
        total += sim.shape[0]
    return hits / total if total else float("nan")


def attribution_auc(result, causal, traits, *, modality) -> float:
    """ROC-AUC of global attributions: causal features of ``traits`` vs noise features.

    Scores every feature of ``modality`` by its global attribution (e.g. mean
    ``|attribution|`` from :meth:`~sklearn_contig.explain.Explainer.global_`);
    the positives are the causal features of ``traits``, the negatives the
    features causal for no trait of ``causal`` (noise). Features causal only for
    other traits are left out, so one trait's score is not diluted by the
    others' causal features.

    Parameters
    ----------
    result : xarray.Dataset
        A global attribution result with a 1-D variable ``modality`` whose
        coordinate holds the feature names.
    causal : dict of str to dict of str to list of str
        Trait -> modality -> causal feature names (``truth.causal`` of
        :func:`~sklearn_contig.datasets.make_imaging_genetics`).
    traits : str or list of str
        Traits whose causal features are the positives.
    modality : str

    Returns
    -------
    auc : float
        NaN when the modality has no positive or no negative feature.

    Examples
    --------
    >>> import xarray as xr
    >>> glob = xr.Dataset({"pgs": ("pgs_id", [0.9, 0.5, 0.4, 0.1])},
    ...                   coords={"pgs_id": ["a", "c", "b", "d"]})
    >>> causal = {"t1": {"pgs": ["a", "b"]}, "t2": {"pgs": ["c"]}}
    >>> attribution_auc(glob, causal, "t1", modality="pgs")  # a, b vs noise d
    1.0
    >>> attribution_auc(glob, causal, ["t1", "t2"], modality="pgs")
    1.0
    """
    from sklearn.metrics import roc_auc_score

    if isinstance(traits, str):
        traits = [traits]
    traits = list(traits)
    unknown = [t for t in traits if t not in causal]
    if unknown:
        raise ValueError(f"traits {unknown} are not in causal (known: {sorted(causal)})")
    if modality not in result:
        raise ValueError(f"result has no variable {modality!r} (has {sorted(result.data_vars)})")
    da = result[modality]
    if da.ndim != 1:
        raise ValueError(f"result[{modality!r}] must be 1-D (one score per feature), got dims {da.dims}")
    positive = {str(f) for t in traits for f in causal[t].get(modality, [])}
    any_causal = {str(f) for t in causal for f in causal[t].get(modality, [])}
    names = np.asarray(da[da.dims[0]].values).astype(str)
    keep = np.array([f in positive or f not in any_causal for f in names])
    label = np.array([f in positive for f in names])[keep]
    if label.all() or not label.any():
        return float("nan")
    return float(roc_auc_score(label, np.asarray(da.values, dtype=float)[keep]))
