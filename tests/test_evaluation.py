import numpy as np
import pytest
import xarray as xr

from sklearn_contig.evaluation import attribution_auc, linear_probe_r2, top_k_retrieval


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


def _glob(names, scores):
    return xr.Dataset({"pgs": ("pgs_id", np.asarray(scores, float))}, coords={"pgs_id": names})


def test_attribution_auc_positives_negatives_and_left_out():
    causal = {"t1": {"pgs": ["a", "b"], "snp": ["s1"]}, "t2": {"pgs": ["c"]}}
    # c is causal for t2 only: left out when scoring t1, so its top score does not count
    glob = _glob(["c", "a", "n1", "b", "n2"], [10.0, 5.0, 4.0, 3.0, 1.0])
    assert attribution_auc(glob, causal, "t1", modality="pgs") == 0.75  # a > n1, n2; b > n2 only
    assert attribution_auc(glob, causal, ["t2"], modality="pgs") == 1.0
    assert attribution_auc(glob, causal, ["t1", "t2"], modality="pgs") == pytest.approx(5 / 6)
    # same scores, reversed ranking
    assert attribution_auc(_glob(["a", "b", "n1"], [0.0, 0.1, 1.0]), causal, "t1", modality="pgs") == 0.0
    # no negative feature, or no positive one: undefined
    assert np.isnan(attribution_auc(_glob(["a", "b"], [1.0, 2.0]), causal, "t1", modality="pgs"))
    assert np.isnan(attribution_auc(_glob(["n1", "n2"], [1.0, 2.0]), causal, "t1", modality="pgs"))


def test_attribution_auc_bad_input():
    causal = {"t1": {"pgs": ["a"]}}
    glob = _glob(["a", "n"], [1.0, 0.0])
    with pytest.raises(ValueError, match=r"traits \['t9'\] are not in causal"):
        attribution_auc(glob, causal, "t9", modality="pgs")
    with pytest.raises(ValueError, match="result has no variable 'snp'"):
        attribution_auc(glob, causal, "t1", modality="snp")
    local = xr.Dataset({"pgs": (("sample", "pgs_id"), np.ones((2, 2)))}, coords={"pgs_id": ["a", "n"]})
    with pytest.raises(ValueError, match="must be 1-D"):
        attribution_auc(local, causal, "t1", modality="pgs")


def test_top_k_retrieval_matches_a_direct_count():
    rng = np.random.default_rng(3)
    q, key = rng.normal(size=(50, 4)), rng.normal(size=(50, 4))
    groups = np.repeat(np.arange(25), 2)
    for k, chunk in ((1, None), (3, 20), (5, 7)):
        hits = total = 0
        for start in range(0, 50, chunk or 50):
            stop = min(start + (chunk or 50), 50)
            if stop - start < 2:
                continue
            u = q[start:stop] / np.linalg.norm(q[start:stop], axis=1, keepdims=True)
            w = key[start:stop] / np.linalg.norm(key[start:stop], axis=1, keepdims=True)
            order = np.argsort(-(u @ w.T), axis=1)[:, :k]
            g = groups[start:stop]
            hits += sum(g[i] in g[order[i]] for i in range(len(g)))
            total += len(g)
        assert top_k_retrieval(q, key, k=k, groups=groups, chunk_size=chunk) == hits / total


def test_top_k_retrieval_bad_input():
    with pytest.raises(ValueError, match="queries and keys must be 2-D with the same shape"):
        top_k_retrieval(np.zeros((4, 3)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="groups must have one entry per row"):
        top_k_retrieval(np.ones((4, 3)), np.ones((4, 3)), groups=[0, 1])
    assert np.isnan(top_k_retrieval(np.ones((1, 3)), np.ones((1, 3))))
