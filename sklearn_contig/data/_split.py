"""Split a cohort by individual: every image of a person lands on one side."""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np
import pandas as pd
import xarray as xr
from sklearn.utils import check_random_state

from ._samples import Samples


def split_individuals(X, *, test_size=0.25, random_state=None):
    """Split a cohort into training and held-out individuals.

    All samples of one individual (e.g. the left and the right eye) go to the same
    side, so no person is seen on both. Use it to keep the people of a downstream
    analysis out of pretraining: a ContIG encoder is trained to match its training
    individuals' genotypes, so a GWAS on the embeddings of those same people can
    find genotype the encoder memorised rather than signal it reads from the
    images. Pretrain on the first part, run the GWAS on the second.

    Parameters
    ----------
    X : xarray.Dataset or Samples
        A cohort with an ``individual`` coordinate (or variable) along ``sample``.
    test_size : float or int, default=0.25
        Share of the individuals held out (a float in (0, 1), rounded up to a
        whole person), or their number (an int in [1, n_individuals - 1]).
    random_state : int, RandomState instance or None, default=None
        Seed for the random choice of the held-out individuals.

    Returns
    -------
    train, test : same type as ``X``
        The samples of the training and of the held-out individuals, each in
        the original sample order.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_contig.data import from_arrays, split_individuals
    >>> ds = from_arrays(np.zeros((8, 3, 4, 4), np.uint8), pgs=np.ones((8, 2)),
    ...                  individual_ids=np.repeat(["a", "b", "c", "d"], 2))
    >>> train, test = split_individuals(ds, test_size=0.25, random_state=0)
    >>> train.sizes["sample"], test.sizes["sample"]
    (6, 2)
    >>> set(train["individual"].values) & set(test["individual"].values)
    set()
    """
    if isinstance(X, Samples):
        ds, wrap = X.ds, Samples
    elif isinstance(X, xr.Dataset):
        ds, wrap = X, None
    else:
        raise TypeError(
            f"X must be an xarray.Dataset or Samples, got {type(X).__name__}"
        )
    if "individual" not in ds.variables or ds["individual"].dims != ("sample",):
        raise ValueError(
            "X has no 'individual' coordinate along 'sample'; cannot tell whose "
            "samples belong together"
        )
    codes, people = pd.factorize(np.asarray(ds["individual"].values), sort=False)
    n_people = len(people)
    if isinstance(test_size, (bool, np.bool_)) or not isinstance(test_size, Real):
        raise TypeError(
            f"test_size must be a float in (0, 1) or an int, got {test_size!r}"
        )
    if isinstance(test_size, Integral):
        n_test = int(test_size)
        if not 1 <= n_test <= n_people - 1:
            raise ValueError(
                f"test_size={n_test} individuals must lie in [1, {n_people - 1}] "
                f"(the cohort has {n_people} individuals)"
            )
    else:
        if not 0.0 < test_size < 1.0:
            raise ValueError(f"test_size must lie in (0, 1) as a share, got {test_size}")
        n_test = math.ceil(test_size * n_people)
        if n_test > n_people - 1:
            raise ValueError(
                f"test_size={test_size} leaves no training individual among "
                f"{n_people}"
            )
    rng = check_random_state(random_state)
    held_out = np.zeros(n_people, dtype=bool)
    held_out[rng.permutation(n_people)[:n_test]] = True
    in_test = held_out[codes]
    train = ds.isel(sample=np.flatnonzero(~in_test))
    test = ds.isel(sample=np.flatnonzero(in_test))
    if wrap is not None:
        return wrap(train), wrap(test)
    return train, test
