"""ContIGRegressor: single- and multi-output regression from images."""

from __future__ import annotations

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.utils import check_array
from torch import nn

from ..data._errors import named_errors
from ..losses import MSELoss
from ._base import COMMON_ATTRS, COMMON_PARAMS, BaseDownstream


class ContIGRegressor(RegressorMixin, BaseDownstream):
    __doc__ = f"""Fine-tune (or linearly evaluate) an image encoder for regression.

    A linear head predicts every target column; targets are standardised with the
    training mean and standard deviation and the loss is their mean squared
    error, so outputs on different scales (age in years, blood pressure in mmHg)
    weigh alike. ``predict`` returns the original units; ``score`` is R^2
    (averaged uniformly over outputs).

    Parameters
    ----------
    {COMMON_PARAMS}

    Attributes
    ----------
    n_outputs_ : int
    y_mean_, y_scale_ : ndarray of shape (n_outputs,)
        Standardisation of the targets learned in ``fit``.
    {COMMON_ATTRS}

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_contig.downstream import ContIGRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 5)).astype(np.float32)
    >>> Y = np.c_[X[:, 0] * 10 + 50, X[:, 1]]
    >>> reg = ContIGRegressor(image_encoder="mlp", max_epochs=5, random_state=0).fit(X, Y)
    >>> reg.predict(X[:3]).shape
    (3, 2)
    """

    def _encode_y(self, y, ds):
        with named_errors("y"):
            y = check_array(y, ensure_2d=False, dtype=np.float64, input_name="y")
        if y.ndim > 2:
            raise ValueError(f"y must have shape (n,) or (n, n_outputs), got {y.shape}")
        self._y_1d = y.ndim == 1
        Y = y.reshape(len(y), -1)
        self.n_outputs_ = Y.shape[1]
        self.y_mean_ = Y.mean(0)
        scale = Y.std(0)
        self.y_scale_ = np.where(scale > 0, scale, 1.0)
        return ((Y - self.y_mean_) / self.y_scale_).astype(np.float32)

    def _build_head(self, encoder):
        return nn.Linear(encoder.out_dim, self.n_outputs_)

    def _build_criterion(self):
        return MSELoss()

    def predict(self, X):
        """Predictions in the targets' units, shape (n,) or (n, n_outputs) as in ``fit``."""
        out = self._forward(X) * self.y_scale_ + self.y_mean_
        return out[:, 0] if self._y_1d else out

    def score(self, X, y=None, sample_weight=None):
        """R^2 of ``predict(X)`` (uniform average over outputs)."""
        ds, is_dataset = self._input(X, reset=False)
        y = self._target(ds, y, is_dataset)
        return super().score(X, y, sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
