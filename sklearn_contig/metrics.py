"""Downstream metrics of the paper's Table 1 and their scorers.

- :func:`quadratic_weighted_kappa` (APTOS diabetic-retinopathy grading),
- :func:`micro_roc_auc` (RFMiD multi-label disease classification),
- :func:`dice_score` (PALM optic-disc segmentation),

and ready-made scorers for ``GridSearchCV`` / ``cross_val_score``:
``qwk_scorer``, ``micro_auc_scorer`` (uses ``predict_proba``) and ``dice_scorer``.
All are "higher is better".
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import cohen_kappa_score, make_scorer, roc_auc_score

__all__ = [
    "dice_score",
    "dice_scorer",
    "micro_auc_scorer",
    "micro_roc_auc",
    "quadratic_weighted_kappa",
    "qwk_scorer",
]


def quadratic_weighted_kappa(y_true, y_pred, *, labels=None, sample_weight=None) -> float:
    """Cohen's kappa with quadratic weights, for ordinal grades.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        Grades (integers, or labels whose sorted order is the grade order).
    labels : array-like, default=None
        The ordered grades; the sorted union of ``y_true`` and ``y_pred`` when None.
    sample_weight : array-like of shape (n_samples,), default=None

    Returns
    -------
    kappa : float
        1 for perfect agreement, 0 for chance, negative for worse than chance.

    Examples
    --------
    >>> quadratic_weighted_kappa([0, 1, 2, 3, 4], [0, 1, 2, 3, 4])
    1.0
    >>> round(quadratic_weighted_kappa([0, 1, 2, 3, 4], [0, 2, 2, 4, 4]), 3)
    0.909
    """
    y_true = np.asarray(y_true).ravel()
    y_pred = np.asarray(y_pred).ravel()
    if len(np.union1d(y_true, y_pred)) < 2:
        return 1.0 if np.array_equal(y_true, y_pred) else 0.0
    return float(cohen_kappa_score(y_true, y_pred, labels=labels, weights="quadratic", sample_weight=sample_weight))


def micro_roc_auc(y_true, y_score, *, sample_weight=None) -> float:
    """Micro-averaged ROC-AUC over all labels of a multi-label problem.

    Parameters
    ----------
    y_true : array-like of shape (n_samples, n_labels)
        Indicator matrix (0/1).
    y_score : array-like of shape (n_samples, n_labels)
        Probabilities or decision values, one column per label.
    sample_weight : array-like of shape (n_samples,), default=None

    Returns
    -------
    auc : float

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])
    >>> micro_roc_auc(y, np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.6], [0.1, 0.3]]))
    1.0
    """
    y_true = np.asarray(y_true)
    y_score = np.asarray(y_score, dtype=np.float64)
    if y_true.shape != y_score.shape:
        raise ValueError(f"y_true has shape {y_true.shape} but y_score has shape {y_score.shape}")
    return float(roc_auc_score(y_true, y_score, average="micro", sample_weight=sample_weight))


def dice_score(y_true, y_pred, *, average="samples", threshold=0.5, sample_weight=None) -> float:
    """Dice coefficient 2|A & B| / (|A| + |B|) of binary masks.

    Parameters
    ----------
    y_true : array-like of shape (n, h, w) or (n, k, h, w)
        True masks (0/1).
    y_pred : array-like, same shape as ``y_true``
        Predicted masks, or probabilities binarised at ``threshold``.
    average : {"samples", "micro"}, default="samples"
        ``"samples"``: Dice of every image (and mask channel), then the mean (an
        image where both masks are empty counts as 1); ``"micro"``: one Dice over
        all pixels.
    threshold : float, default=0.5
    sample_weight : array-like of shape (n,), default=None
        Weight of each image: a weighted mean of the per-image Dice
        (``"samples"``), or weighted pixel counts (``"micro"``).

    Returns
    -------
    dice : float in [0, 1]

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((1, 4, 4), int); a[0, :2] = 1
    >>> b = np.zeros((1, 4, 4), int); b[0, 1:3] = 1
    >>> dice_score(a, a), dice_score(a, b)
    (1.0, 0.5)
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has shape {y_true.shape} but y_pred has shape {y_pred.shape}")
    if y_true.ndim < 3:
        raise ValueError(f"masks must have shape (n, h, w) or (n, k, h, w), got {y_true.shape}")
    if average not in ("samples", "micro"):
        raise ValueError(f"average must be 'samples' or 'micro', got {average!r}")
    n = y_true.shape[0]
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    if w.shape != (n,):
        raise ValueError(f"sample_weight must have shape ({n},), got {w.shape}")
    t = y_true > threshold if y_true.dtype.kind == "f" else y_true.astype(bool)
    p = y_pred > threshold if y_pred.dtype.kind == "f" else y_pred.astype(bool)
    t, p = t.reshape(n, -1, t.shape[-2] * t.shape[-1]), p.reshape(n, -1, p.shape[-2] * p.shape[-1])
    inter = (t & p).sum(2)
    denom = t.sum(2) + p.sum(2)
    if average == "micro":
        total = float((w * denom.sum(1)).sum())
        return 1.0 if total == 0 else float(2.0 * (w * inter.sum(1)).sum() / total)
    per = np.where(denom == 0, 1.0, 2.0 * inter / np.maximum(denom, 1))
    weights = np.broadcast_to(w[:, None], per.shape)
    return float((per * weights).sum() / weights.sum())


#: ``make_scorer`` for :func:`quadratic_weighted_kappa` on ``predict``.
qwk_scorer = make_scorer(quadratic_weighted_kappa)
#: ``make_scorer`` for :func:`micro_roc_auc` on ``predict_proba``.
micro_auc_scorer = make_scorer(micro_roc_auc, response_method="predict_proba")
#: ``make_scorer`` for :func:`dice_score` on ``predict``.
dice_scorer = make_scorer(dice_score)
