import numpy as np
import pytest

from sklearn_contig.evaluation import linear_probe_r2


def test_probe_survives_heavy_tailed_and_dead_units():
    rng = np.random.default_rng(0)
    n = 300
    signal = rng.normal(size=n)
    X = np.column_stack([
        signal + 0.1 * rng.normal(size=n),
        rng.standard_cauchy(size=(n, 20)),  # heavy tails, like units of a random net
        np.full((n, 5), 3.0),  # dead units
        1e-9 * rng.normal(size=(n, 3)),  # near-dead units
    ])
    r2 = linear_probe_r2(X, {"signal": signal, "noise": rng.normal(size=n)})
    assert r2["signal"] > 0.9
    assert -0.1 < r2["noise"] < 0.1


def test_probe_with_groups_and_bad_shapes():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 4))
    groups = np.repeat(np.arange(30), 2)
    r2 = linear_probe_r2(X, X[:, 0], groups=groups, cv=3)
    assert r2.iloc[0] > 0.9
    with pytest.raises(ValueError, match="features must be 2-D"):
        linear_probe_r2(X[:, 0], X[:, 0])
    with pytest.raises(ValueError, match="targets has 59 rows"):
        linear_probe_r2(X, X[:59, 0])
