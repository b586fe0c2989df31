"""The private scikit-learn names the package relies on, imported in one place.

scikit-learn's parameter validation (``Interval``, ``StrOptions``,
``HasMethods``), ``_fit_context`` and the ``set_output`` configuration are the
tools its own estimators use, but they live in private modules. Importing them
here only means a rename in a future scikit-learn release is fixed once.
Supported: scikit-learn >= 1.6 (``validate_data``, ``__sklearn_tags__``,
``sklearn.frozen``).
"""

from sklearn.base import _fit_context
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils._set_output import _get_output_config


def output_is_pandas(estimator, method: str = "transform") -> bool:
    """Whether ``estimator.set_output(transform="pandas")`` is in force."""
    return _get_output_config(method, estimator)["dense"] == "pandas"


__all__ = ["HasMethods", "Interval", "StrOptions", "_fit_context", "output_is_pandas"]
