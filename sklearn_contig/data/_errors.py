"""Input errors that name the argument they are about."""

from __future__ import annotations

import re
from contextlib import contextmanager


@contextmanager
def named_errors(name: str):
    """Put ``name`` in front of a ValueError/TypeError message that does not give it.

    scikit-learn's generic checks (``check_array``, ``validate_data``,
    ``check_classification_targets``) word their errors without the argument's
    name ("Found array with 0 feature(s) ..."); wrapped in this context, the
    message tells which of ``X`` and ``y`` is meant. Messages that already name
    the argument pass unchanged.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.utils import check_array
    >>> with named_errors("y"):
    ...     check_array(np.zeros((3, 0)))
    Traceback (most recent call last):
    ...
    ValueError: y: Found array with 0 feature(s) (shape=(3, 0)) while a minimum of 1 is required.
    """
    try:
        yield
    except (ValueError, TypeError) as exc:
        if re.search(rf"(?<!\w){re.escape(name)}(?!\w)", str(exc)):
            raise
        kind = ValueError if isinstance(exc, ValueError) else TypeError
        raise kind(f"{name}: {exc}") from None
