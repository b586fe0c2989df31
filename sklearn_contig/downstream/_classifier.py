"""ContIGClassifier: multiclass, multilabel and ordinal classification of images."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.base import ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, column_or_1d
from torch import nn

from .._compat import StrOptions
from ..data._errors import named_errors
from ..losses import CoralLoss, CrossEntropyLoss, MultilabelBCELoss
from ..metrics import micro_roc_auc, quadratic_weighted_kappa
from ..models import CoralHead
from ._base import COMMON_ATTRS, COMMON_PARAMS, BaseDownstream


def coral_proba(logits: np.ndarray) -> np.ndarray:
    """Class probabilities from CORAL logits: P(y=k) = P(y>k-1) - P(y>k), clipped and renormalised."""
    gt = 1.0 / (1.0 + np.exp(-logits))  # (n, K-1): P(y > k)
    gt = np.minimum.accumulate(gt, axis=1)  # enforce monotone cumulative probabilities
    n = len(gt)
    cum = np.concatenate([np.ones((n, 1)), gt, np.zeros((n, 1))], axis=1)
    proba = np.clip(cum[:, :-1] - cum[:, 1:], 0.0, None)
    return proba / proba.sum(1, keepdims=True)


class ContIGClassifier(ClassifierMixin, BaseDownstream):
    __doc__ = f"""Fine-tune (or linearly evaluate) an image encoder for classification.

    Three tasks:

    - ``"multiclass"`` (binary included): softmax head, cross-entropy loss;
      ``score`` is accuracy.
    - ``"multilabel"``: ``y`` an indicator matrix (n, n_labels); one sigmoid per
      label, binary cross-entropy; ``predict`` returns the 0/1 matrix (threshold
      0.5), ``predict_proba`` the (n, n_labels) probabilities; ``score`` is
      micro-averaged ROC-AUC (the paper's RFMiD metric).
    - ``"ordinal"`` (grades such as diabetic retinopathy 0-4): a CORAL head and
      loss (Cao, Mirjalili & Raschka, Pattern Recognition Letters 2020): K-1
      rank-consistent binary tasks "y > k"; the predicted grade is the number of
      tasks with probability > 0.5. The order of ``classes_`` (sorted labels) is the
      grade order. ``score`` is quadratic weighted kappa (the paper's APTOS metric).

    Prediction always returns the original labels (strings allowed).

    Parameters
    ----------
    task : {{"auto", "multiclass", "multilabel", "ordinal"}}, default="auto"
        ``"auto"``: multilabel for a 2-D indicator ``y``, multiclass otherwise.
    {COMMON_PARAMS}

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels (multilabel: ``0..n_labels-1``).
    task_ : str
        The task resolved from ``task`` and ``y``.
    {COMMON_ATTRS}

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_contig.downstream import ContIGClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 5)).astype(np.float32)
    >>> y = np.where(X[:, 0] > 0, "sick", "healthy")
    >>> clf = ContIGClassifier(image_encoder="mlp", max_epochs=5, random_state=0).fit(X, y)
    >>> clf.classes_.tolist(), clf.predict(X[:3]).shape
    (['healthy', 'sick'], (3,))
    """

    _parameter_constraints: dict = {
        **BaseDownstream._parameter_constraints,
        "task": [StrOptions({"auto", "multiclass", "multilabel", "ordinal"})],
    }

    def __init__(self, task="auto"):
        self.task = task

    # ----------------------------------------------------------------- labels
    def _encode_y(self, y, ds):
        multilabel = self.task == "multilabel" or (self.task == "auto" and y.ndim == 2 and y.shape[1] > 1)
        if multilabel:
            return self._encode_multilabel(y, ds)
        if y.ndim == 2 and y.shape[1] > 1:
            raise ValueError(
                f"task={self.task!r} needs a 1-D y, got shape {y.shape} (a 2-D indicator y is multilabel)"
            )
        with named_errors("y"):
            y = column_or_1d(y, warn=True)
        missing = pd.isna(y) if y.dtype.kind == "O" else (~np.isfinite(y) if y.dtype.kind == "f" else None)
        if missing is not None and np.any(missing):
            raise ValueError(
                f"y contains NaN or infinite labels ({int(np.sum(missing))} of {len(y)}, e.g. row "
                f"{int(np.flatnonzero(missing)[0])}); drop those samples before fitting"
            )
        if y.dtype.kind == "O":
            try:
                np.unique(y)
            except TypeError:
                kinds = sorted({type(v).__name__ for v in y})
                raise TypeError(f"y mixes label types {kinds}; give labels of one type") from None
        with named_errors("y"):
            check_classification_targets(y)
        classes, y_enc = self._classes(y)
        if len(classes) < 2:
            raise ValueError(
                f"y has a single class ({classes[0]!r}); a classifier needs at least 2 classes"
            )
        self.classes_ = classes
        self.task_ = "ordinal" if self.task == "ordinal" else "multiclass"
        return y_enc.astype(np.int64)

    def _classes(self, y):
        """``(classes, codes)``: sorted labels, or for ordinal grades the order they come in.

        An ordinal ``y`` given as an ordered pandas Categorical keeps its
        categories' order (the grades present); other labels are sorted, and
        sorted text grades raise a warning since their order is alphabetical.
        """
        levels = getattr(self, "_label_levels", None)
        if self.task == "ordinal" and levels is not None:
            present = set(y.tolist())
            classes = np.asarray([c for c in levels if c in present], dtype=object)
            return classes, pd.Index(classes).get_indexer(y)
        classes, codes = np.unique(y, return_inverse=True)
        if self.task == "ordinal" and classes.dtype.kind in "OUS":
            warnings.warn(
                f"task='ordinal' with text grades: their order is taken as sorted, {classes.tolist()[:6]}; "
                "pass y as an ordered pandas Categorical to give the order",
                UserWarning,
                stacklevel=3,
            )
        return classes, codes

    def _encode_multilabel(self, y, ds):
        if y.ndim != 2:
            raise ValueError(f"task='multilabel' needs an indicator y of shape (n, n_labels), got {y.shape}")
        if y.dtype.kind == "f" and not np.isfinite(y).all():
            rows = np.flatnonzero(~np.isfinite(y).all(1))
            raise ValueError(f"y contains NaN or infinite labels (rows {rows[:5].tolist()}); drop them")
        if type_of_target(y) != "multilabel-indicator":
            raise ValueError(
                f"a multilabel y must be a 0/1 indicator matrix, got {type_of_target(y)!r} values"
            )
        names = self._label_names(ds, y.shape[1])
        pos = y.sum(0)
        for j in range(y.shape[1]):
            if pos[j] == 0 or pos[j] == len(y):
                what = "no positive" if pos[j] == 0 else "only positive"
                raise ValueError(
                    f"multilabel y column {j} ({names[j]!r}) has {what} samples; every label "
                    "needs both positive and negative samples to be learned and scored"
                )
        self.classes_ = np.arange(y.shape[1])
        self.task_ = "multilabel"
        return y.astype(np.float32)

    def _label_names(self, ds, k):
        if self.target is not None and self.target in ds and ds[self.target].ndim == 2:
            dim = ds[self.target].dims[1]
            if dim in ds.coords:
                return [str(v) for v in ds[dim].values]
        return [str(j) for j in range(k)]

    # ------------------------------------------------------------ task parts
    def _build_head(self, encoder):
        k = len(self.classes_)
        if self.task_ == "ordinal":
            return CoralHead(encoder.out_dim, k)
        return nn.Linear(encoder.out_dim, k)

    def _build_criterion(self):
        return {"ordinal": CoralLoss, "multilabel": MultilabelBCELoss, "multiclass": CrossEntropyLoss}[self.task_]()

    # ------------------------------------------------------------------- API
    def decision_function(self, X):
        """Raw scores: logits per class (binary: one column, class 1 vs 0), per label
        (multilabel), or the K-1 cumulative log-odds of P(y > k) (ordinal)."""
        out = self._forward(X)
        if self.task_ == "multiclass" and out.shape[1] == 2:
            return out[:, 1] - out[:, 0]
        return out

    def predict_proba(self, X):
        """Class probabilities (n, n_classes), or per-label probabilities (n, n_labels)."""
        out = self._forward(X)
        if self.task_ == "multilabel":
            return 1.0 / (1.0 + np.exp(-out))
        if self.task_ == "ordinal":
            return coral_proba(out)
        out = out - out.max(1, keepdims=True)
        e = np.exp(out)
        return e / e.sum(1, keepdims=True)

    def predict(self, X):
        """Predicted labels (original label values), or the 0/1 label matrix (multilabel)."""
        out = self._forward(X)
        if self.task_ == "multilabel":
            return (out > 0).astype(np.int64)
        if self.task_ == "ordinal":
            return self.classes_[(out > 0).sum(1)]
        return self.classes_[np.argmax(out, axis=1)]

    def score(self, X, y=None, sample_weight=None):
        """Accuracy (multiclass), quadratic weighted kappa (ordinal) or micro ROC-AUC (multilabel)."""
        check_is_fitted(self, "net_")
        ds, is_dataset = self._input(X, reset=False)
        y = self._target(ds, y, is_dataset)
        if self.task_ == "multilabel":
            return micro_roc_auc(y, self.predict_proba(X), sample_weight=sample_weight)
        if self.task_ == "ordinal":
            return quadratic_weighted_kappa(column_or_1d(y), self.predict(X), labels=self.classes_,
                                            sample_weight=sample_weight)
        return super().score(X, column_or_1d(y), sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags
