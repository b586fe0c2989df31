import numpy as np
import pytest
from sklearn.base import BaseEstimator
from sklearn.metrics import roc_auc_score

from sklearn_contig.metrics import (
    dice_score,
    dice_scorer,
    micro_auc_scorer,
    micro_roc_auc,
    quadratic_weighted_kappa,
    qwk_scorer,
)


def _manual_qwk(a, b, k):
    O = np.zeros((k, k))
    for i, j in zip(a, b):
        O[i, j] += 1
    W = np.array([[(i - j) ** 2 for j in range(k)] for i in range(k)]) / (k - 1) ** 2
    E = np.outer(O.sum(1), O.sum(0)) / O.sum()
    return 1 - (W * O).sum() / (W * E).sum()


def test_qwk_matches_manual_formula():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 5, 200)
    b = np.clip(a + rng.integers(-1, 2, 200), 0, 4)
    assert quadratic_weighted_kappa(a, b) == pytest.approx(_manual_qwk(a, b, 5))
    assert quadratic_weighted_kappa(a, a) == 1.0
    assert quadratic_weighted_kappa(a, rng.permutation(a)) == pytest.approx(0, abs=0.2)


def test_micro_auc_is_pooled_auc():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, (50, 3))
    s = y + rng.normal(size=y.shape)
    assert micro_roc_auc(y, s) == pytest.approx(roc_auc_score(y.ravel(), s.ravel()))
    with pytest.raises(ValueError, match="shape"):
        micro_roc_auc(y, s[:, :2])


def test_dice_per_image_and_micro():
    a = np.zeros((2, 4, 4), int)
    a[0, :2] = 1
    b = a.copy()
    b[0, :1] = 0  # half of image 0 missed; image 1 empty in both -> 1
    assert dice_score(a, b) == pytest.approx((2 * 4 / 12 + 1) / 2)
    assert dice_score(a, b, average="micro") == pytest.approx(2 * 4 / 12)
    assert dice_score(a[:, None], b[:, None]) == dice_score(a, b)
    assert dice_score(a.astype(float) * 0.9, b) == dice_score(a, b)  # probabilities thresholded
    with pytest.raises(ValueError, match="shape"):
        dice_score(a, b[:, :3])


class _Const(BaseEstimator):
    def __init__(self, out):
        self.out = out

    def predict(self, X):
        return self.out

    def predict_proba(self, X):
        return self.out

    def fit(self, X, y):
        return self


def test_scorers_are_higher_is_better():
    y = np.array([0, 1, 2, 3])
    assert qwk_scorer(_Const(y), None, y) == 1.0
    Y = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])
    assert micro_auc_scorer(_Const(Y.astype(float)), None, Y) == 1.0
    m = np.ones((2, 3, 3), int)
    assert dice_scorer(_Const(m), None, m) == 1.0


def test_sample_weight_of_every_metric():
    rng = np.random.default_rng(0)
    w = np.r_[np.ones(20), np.zeros(20)]
    a, b = rng.integers(0, 4, 40), rng.integers(0, 4, 40)
    assert quadratic_weighted_kappa(a, b, sample_weight=w) == pytest.approx(quadratic_weighted_kappa(a[:20], b[:20]))
    y, s = rng.integers(0, 2, (40, 3)), rng.random((40, 3))
    assert micro_roc_auc(y, s, sample_weight=w) == pytest.approx(micro_roc_auc(y[:20], s[:20]))
    t, p = rng.integers(0, 2, (40, 2, 5, 5)), rng.integers(0, 2, (40, 2, 5, 5))
    for average in ("samples", "micro"):
        assert dice_score(t, p, sample_weight=w, average=average) == pytest.approx(
            dice_score(t[:20], p[:20], average=average))
    with pytest.raises(ValueError, match=r"sample_weight must have shape \(40,\)"):
        dice_score(t, p, sample_weight=w[:5])
