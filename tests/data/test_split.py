import numpy as np
import pytest

from sklearn_contig.data import Samples, from_arrays, split_individuals


def _cohort(n_people=10, eyes=2):
    n = n_people * eyes
    people = np.repeat([f"p{i}" for i in range(n_people)], eyes)
    return from_arrays(np.zeros((n, 3, 4, 4), np.uint8), pgs=np.arange(2 * n, dtype=float).reshape(n, 2),
                       individual_ids=people)


def test_people_never_straddle_the_split():
    ds = _cohort(20)
    train, test = split_individuals(ds, test_size=0.3, random_state=0)
    a, b = set(train["individual"].values), set(test["individual"].values)
    assert a.isdisjoint(b) and a | b == set(ds["individual"].values)
    assert len(b) == 6  # ceil(0.3 * 20) people, each with both eyes
    assert test.sizes["sample"] == 12 and train.sizes["sample"] == 28
    # original sample order kept on each side
    order = {s: i for i, s in enumerate(ds["sample"].values)}
    for part in (train, test):
        pos = [order[s] for s in part["sample"].values]
        assert pos == sorted(pos)


def test_int_test_size_and_reproducible():
    ds = _cohort(10)
    train, test = split_individuals(ds, test_size=3, random_state=1)
    assert len(set(test["individual"].values)) == 3
    again = split_individuals(ds, test_size=3, random_state=1)[1]
    assert list(again["sample"].values) == list(test["sample"].values)
    other = split_individuals(ds, test_size=3, random_state=2)[1]
    assert list(other["sample"].values) != list(test["sample"].values)


def test_samples_in_samples_out():
    X = Samples(_cohort(8))
    train, test = split_individuals(X, test_size=0.25, random_state=0)
    assert isinstance(train, Samples) and isinstance(test, Samples)
    assert len(train) + len(test) == len(X)
    assert set(train.individual).isdisjoint(test.individual)


def test_uneven_images_per_person():
    ds = from_arrays(np.zeros((5, 3, 4, 4), np.uint8), pgs=np.ones((5, 2)),
                     individual_ids=["a", "a", "a", "b", "c"])
    train, test = split_individuals(ds, test_size=1, random_state=0)
    for part in (train, test):
        ids = list(part["individual"].values)
        assert ids.count("a") in (0, 3)


@pytest.mark.parametrize("test_size, match", [
    (0.0, "test_size"), (1.0, "test_size"), (-0.5, "test_size"), (0, "test_size"),
    (10, "test_size"), (0.99, "test_size"),
])
def test_bad_test_size(test_size, match):
    with pytest.raises(ValueError, match=match):
        split_individuals(_cohort(10), test_size=test_size)


@pytest.mark.parametrize("test_size", [True, "0.2", None])
def test_test_size_type(test_size):
    with pytest.raises(TypeError, match="test_size"):
        split_individuals(_cohort(10), test_size=test_size)


def test_bad_input():
    with pytest.raises(TypeError, match="X must be"):
        split_individuals(np.zeros((4, 3)))
    ds = _cohort(4).drop_vars("individual")
    with pytest.raises(ValueError, match="individual"):
        split_individuals(ds)
