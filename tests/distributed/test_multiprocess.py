"""Estimators trained by 2 CPU processes under ``torchrun`` (gloo).

All scenarios of ``_worker.py`` run in one launch of 2 processes (and the
references in one launch of 1 process): starting processes that import torch
costs more than the tiny fits. Each launch runs under a timeout, so a hang (a
collective one process skips) fails instead of blocking.
"""

import numpy as np
import pytest
import torch

from ._launch import torchrun

pytest.importorskip("accelerate", reason="accelerate not installed (pip install sklearn-contig[gpu])")

WORKER = __import__("pathlib").Path(__file__).with_name("_worker.py")
TWO_PROCESS = ["equiv_contig", "equiv_simclr", "missing", "stopping", "classifier"]
ONE_PROCESS = ["equiv_contig", "equiv_simclr"]


def _load(folder, name, rank):
    return torch.load(folder / f"{name}_rank{rank}.pt", weights_only=False)


@pytest.fixture(scope="module")
def two(tmp_path_factory):
    out = tmp_path_factory.mktemp("two")
    torchrun(WORKER, out, *TWO_PROCESS, nproc=2, timeout=600)
    return lambda name: (_load(out, name, 0), _load(out, name, 1))


@pytest.fixture(scope="module")
def one(tmp_path_factory):
    out = tmp_path_factory.mktemp("one")
    torchrun(WORKER, out, *ONE_PROCESS, nproc=1, timeout=400)
    return lambda name: _load(out, name, 0)


def _assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)


def _trained(state):
    """The trained parameters as one vector (BatchNorm statistics and memory banks left out)."""
    keys = [k for k in state if state[k].is_floating_point() and not k.endswith(("running_mean", "running_var"))
            and "memory_bank" not in k]
    return torch.cat([state[k].double().flatten() for k in keys])


@pytest.mark.timeout(1200)
@pytest.mark.parametrize("name", ONE_PROCESS)
def test_two_processes_match_one_process_with_the_global_batch(one, two, name):
    r0, r1 = two(name)
    ref = one(name)
    assert (r0["world"], r1["world"], ref["world"]) == (2, 2, 1)
    _assert_same_weights(r0["weights"], r1["weights"])
    _assert_same_weights(r0["start"], ref["start"])
    assert len(r0["loss"]) == len(ref["loss"]) == 4  # 4 steps of 8 images
    np.testing.assert_allclose(r0["loss"], ref["loss"], rtol=1e-5)
    start, two_proc, one_proc = _trained(ref["start"]), _trained(r0["weights"]), _trained(ref["weights"])
    difference = float((two_proc - one_proc).norm() / one_proc.norm())
    moved = float((one_proc - start).norm() / start.norm())
    assert difference < 1e-5, difference
    assert moved > 20 * 1e-5, moved  # the comparison is not vacuous


@pytest.mark.timeout(1200)
def test_each_process_reads_its_share_of_every_epoch(two):
    r0, r1 = two("equiv_contig")
    for reads0, reads1 in zip(r0["reads"], r1["reads"]):
        assert len(reads0) == len(reads1) == 16
        assert not set(reads0) & set(reads1)
        assert set(reads0) | set(reads1) == set(range(32))


@pytest.mark.timeout(1200)
def test_modality_missing_on_some_processes_trains(two):
    r0, r1 = two("missing")
    for key in ("weights_syncFalse", "weights_syncTrue"):
        _assert_same_weights(r0[key], r1[key])
        assert all(torch.isfinite(v).all() for v in r0[key].values() if v.is_floating_point())
    # the support set is filled from the global batch: the same in both processes
    torch.testing.assert_close(r0["nnclr_bank"], r1["nnclr_bank"], rtol=0, atol=0)


@pytest.mark.timeout(1200)
def test_processes_stop_together_with_identical_weights(two):
    r0, r1 = two("stopping")
    assert r0["epochs"] == r1["epochs"]
    assert len(r0["epochs"]) < 6  # stopped early (patience 1), best epoch restored
    assert r0["best_epoch"] == r1["best_epoch"]
    np.testing.assert_array_equal(r0["valid_loss"], r1["valid_loss"])
    _assert_same_weights(r0["weights"], r1["weights"])
    np.testing.assert_array_equal(r0["transform"], r1["transform"])
    # resume: both processes continue from the checkpoint rank 0 wrote
    assert r0["resumed_epochs"] == r1["resumed_epochs"] == [1, 2]
    _assert_same_weights(r0["resumed_weights"], r1["resumed_weights"])


@pytest.mark.timeout(1200)
def test_classifier_fits_with_an_accelerator(two):
    r0, r1 = two("classifier")
    assert r0["net"] == "AcceleratedNet"
    _assert_same_weights(r0["weights"], r1["weights"])
    np.testing.assert_array_equal(r0["proba"], r1["proba"])
    np.testing.assert_array_equal(r0["predict"], r1["predict"])
    assert r0["score"] == r1["score"]
