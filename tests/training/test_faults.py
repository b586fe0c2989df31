"""Long fits that survive a cluster: resume checks, preemption, divergence, bad files, locks, full disks."""

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from PIL import Image
from skorch.callbacks import Callback

from sklearn_contig.data import from_arrays, read_images
from sklearn_contig.downstream import ContIGClassifier
from sklearn_contig.pretraining import ContIGPretrainer
from sklearn_contig.training import NonFiniteLoss, TrainingInterrupted, checkpoint_folder, has_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")

# ContIG on flat features with two genetic modalities: fast, and it has per-modality loss parts
PARAMS = dict(image_encoder="mlp", modalities=["pgs", "burden"], hidden_dim=16, projection_dim=8, batch_size=16,
              max_epochs=3, validation_fraction=0.25, patience=None, device="cpu", random_state=0, verbose=0)


def cohort(n=96, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 4))
    images = (z @ rng.normal(size=(4, 12)) + 0.3 * rng.normal(size=(n, 12))).astype(np.float32)
    pgs = (z[:, :2] + 0.3 * rng.normal(size=(n, 2))).astype(np.float32)
    burden = (z[:, 2:] + 0.3 * rng.normal(size=(n, 2))).astype(np.float32)
    burden[rng.random(n) < 0.2] = np.nan  # some people without burden scores
    return from_arrays(images, pgs=pgs, burden=burden)


class At(Callback):
    """Call ``fn(net, batch)`` once, at training batch ``batch`` (1-based) of epoch ``epoch``."""

    def __init__(self, epoch, batch, fn, hook="on_batch_end"):
        self.epoch, self.batch, self.fn, self.hook = epoch, batch, fn, hook

    def _maybe(self, net, batch, training):
        row = net.history[-1]
        done = sum(1 for b in row["batches"] if "train_loss" in b) + (self.hook == "on_grad_computed")
        if training and row["epoch"] == self.epoch and done == self.batch:
            self.fn(net, batch)

    def on_batch_end(self, net, batch=None, training=False, **kw):
        if self.hook == "on_batch_end":
            self._maybe(net, batch, training)

    def on_grad_computed(self, net, named_parameters, batch=None, training=False, **kw):
        if self.hook == "on_grad_computed":
            self._maybe(net, batch, training)


def assert_same_fit(a, b):
    for key in ("train_loss", "valid_loss", "train_loss_pgs", "valid_loss_burden", "train_batch_count"):
        np.testing.assert_allclose(a.history_[:, key], b.history_[:, key], rtol=1e-6, atol=1e-7, err_msg=key)
    sa, sb = a.module_.state_dict(), b.module_.state_dict()
    for name in sa:
        torch.testing.assert_close(sa[name], sb[name], rtol=1e-6, atol=1e-6, msg=name)


# ------------------------------------------------------------ resume fingerprint
@pytest.mark.parametrize(
    "change, says",
    [
        ({"temperature": 0.5}, "temperature"),
        ({"hidden_dim": 32}, "hidden_dim"),
        ({"data": 120}, "n_samples"),
        ({"modalities": ["pgs"]}, "modalities"),
    ],
)
def test_resume_against_another_fit_is_refused(tmp_path, change, says):
    ContIGPretrainer(**{**PARAMS, "max_epochs": 1}, checkpoint_dir=tmp_path).fit(cohort())
    change = dict(change)
    data = cohort(change.pop("data", 96))
    with pytest.raises(ValueError, match=f"checkpoint.*{says}"):
        ContIGPretrainer(**{**PARAMS, **change}, checkpoint_dir=tmp_path, resume=True).fit(data)


def test_resume_may_change_how_long_and_where(tmp_path):
    ContIGPretrainer(**{**PARAMS, "max_epochs": 1}, checkpoint_dir=tmp_path).fit(cohort())
    model = ContIGPretrainer(**{**PARAMS, "max_epochs": 2, "verbose": 0, "patience": 3, "num_workers": 0},
                             checkpoint_dir=tmp_path, resume=True, on_nonfinite="skip").fit(cohort())
    assert [row["epoch"] for row in model.history_] == [1, 2]


def test_other_sample_ids_are_refused(tmp_path):
    ContIGPretrainer(**{**PARAMS, "max_epochs": 1}, checkpoint_dir=tmp_path).fit(cohort(seed=0))
    other = cohort(seed=0).assign_coords(sample=[f"x{i}" for i in range(96)])
    with pytest.raises(ValueError, match="checkpoint.*samples"):
        ContIGPretrainer(**PARAMS, checkpoint_dir=tmp_path, resume=True).fit(other)


# ------------------------------------------------------------------ preemption
_SCRIPT = """
import os, signal, sys
import numpy as np
sys.path.insert(0, {tests!r})
from test_faults import PARAMS, At, cohort
from sklearn_contig.pretraining import ContIGPretrainer
import torch
torch.set_num_threads(1)
term = At(2, 1, lambda net, batch: os.kill(os.getpid(), signal.SIGTERM))
ContIGPretrainer(**PARAMS, checkpoint_dir={ckpt!r}, callbacks=[term]).fit(cohort())
print("not interrupted")
"""


def test_sigterm_mid_epoch_then_resume_equals_an_uninterrupted_fit(tmp_path):
    ckpt = tmp_path / "ckpt"
    script = tmp_path / "fit.py"
    script.write_text(textwrap.dedent(_SCRIPT.format(tests=os.path.dirname(__file__), ckpt=str(ckpt))))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == TrainingInterrupted.EXIT_STATUS == 75, proc.stderr[-2000:]
    assert "not interrupted" not in proc.stdout
    assert "stopped by SIGTERM at epoch 2, batch" in proc.stderr and "resume=True" in proc.stderr
    assert "Traceback" not in proc.stderr
    history = json.loads((checkpoint_folder(ckpt) / "history.json").read_text())
    assert len(history) == 2 and "valid_loss" not in history[-1]  # saved inside epoch 2
    assert not (ckpt / "lock").exists()

    resumed = ContIGPretrainer(**PARAMS, checkpoint_dir=ckpt, resume=True).fit(cohort())
    straight = ContIGPretrainer(**PARAMS).fit(cohort())
    assert [row["epoch"] for row in resumed.history_] == [1, 2, 3]
    assert_same_fit(resumed, straight)


def test_checkpoint_every_steps_survives_a_hard_kill(tmp_path):
    def crash(net, batch):
        raise RuntimeError("node lost")  # as a SIGKILL: nothing runs after it

    with pytest.raises(RuntimeError, match="node lost"):
        ContIGPretrainer(**PARAMS, checkpoint_dir=tmp_path, checkpoint_every=2,
                         callbacks=[At(2, 3, crash)]).fit(cohort())
    history = json.loads((checkpoint_folder(tmp_path) / "history.json").read_text())
    # epoch 2 was checkpointed after its second step
    assert len(history) == 2 and sum("train_loss" in b for b in history[-1]["batches"]) == 2
    resumed = ContIGPretrainer(**PARAMS, checkpoint_dir=tmp_path, resume=True).fit(cohort())
    assert_same_fit(resumed, ContIGPretrainer(**PARAMS).fit(cohort()))


def test_sigint_in_process_raises_training_interrupted_and_restores_handlers(tmp_path):
    before = signal.getsignal(signal.SIGINT)
    stop = At(1, 2, lambda net, batch: signal.raise_signal(signal.SIGINT))
    with pytest.raises(TrainingInterrupted, match="SIGINT at epoch 1, batch 3"):
        ContIGPretrainer(**PARAMS, checkpoint_dir=tmp_path, callbacks=[stop]).fit(cohort())
    assert signal.getsignal(signal.SIGINT) is before
    assert has_checkpoint(tmp_path) and not (tmp_path / "lock").exists()


@pytest.mark.parametrize("every", ["0min", "soon", "3 days"])
def test_bad_checkpoint_every_is_refused(tmp_path, every):
    with pytest.raises(ValueError, match="checkpoint_every"):
        ContIGPretrainer(**PARAMS, checkpoint_dir=tmp_path, checkpoint_every=every).fit(cohort())


def test_checkpoint_every_needs_a_folder():
    with pytest.raises(ValueError, match="checkpoint_every needs checkpoint_dir"):
        ContIGPretrainer(**PARAMS, checkpoint_every=10).fit(cohort())


# ------------------------------------------------------------------ divergence
def test_nan_loss_raises_naming_epoch_and_batch_and_keeps_the_checkpoint(tmp_path):
    with pytest.raises(NonFiniteLoss, match="epoch 2, batch 2"):
        ContIGPretrainer(**PARAMS, checkpoint_dir=tmp_path, callbacks=[PoisonBatch(2, 2)]).fit(cohort())
    history = json.loads((checkpoint_folder(tmp_path) / "history.json").read_text())
    assert len(history) == 1 and np.isfinite(history[0]["train_loss"])
    # the checkpoint left behind resumes
    model = ContIGPretrainer(**PARAMS, checkpoint_dir=tmp_path, resume=True).fit(cohort())
    assert len(model.history_) == 3


class PoisonBatch(Callback):
    """Turn the images of training batch ``batch`` of epoch ``epoch`` into NaN before the step."""

    def __init__(self, epoch, batch):
        self.epoch, self.batch = epoch, batch

    def on_batch_begin(self, net, batch=None, training=False, **kw):
        row = net.history[-1]
        if training and row["epoch"] == self.epoch and sum("train_loss" in b for b in row["batches"]) == self.batch - 1:
            batch[0]["image"] = torch.full_like(batch[0]["image"], float("nan"))


def _nan_grad(net, batch):
    next(p for p in net.module_.parameters() if p.grad is not None).grad.fill_(float("nan"))


def test_nonfinite_gradient_skip_is_counted_and_leaves_finite_weights():
    model = ContIGPretrainer(**PARAMS, on_nonfinite="skip",
                             callbacks=[At(2, 2, _nan_grad, hook="on_grad_computed")]).fit(cohort())
    assert model.history_[1, "skipped_steps"] == 1
    assert "skipped_steps" not in model.history_[0] and "skipped_steps" not in model.history_[2]
    assert all(np.isfinite(row["train_loss"]) for row in model.history_)
    assert all(torch.isfinite(v).all() for v in model.module_.state_dict().values() if v.is_floating_point())


def test_nonfinite_gradient_raises_by_default():
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with pytest.raises(NonFiniteLoss, match="epoch 1, batch 3"):
        ContIGPretrainer(**PARAMS, callbacks=[At(1, 3, _nan_grad, hook="on_grad_computed")]).fit(cohort())
    # a fit that raised leaves the signal handlers as they were
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


# ------------------------------------------------------------------- bad files
@pytest.fixture(scope="module")
def image_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    labels = {}
    for i in range(120):
        y = i % 2
        img = rng.integers(0, 80, (16, 16, 3), dtype=np.uint8)
        img[4:12, 4:12, y] = 250  # the label is the bright square's channel
        Image.fromarray(img).save(folder / f"s{i:03d}.png")
        labels[f"s{i:03d}"] = y
    data = (folder / "s007.png").read_bytes()
    (folder / "s007.png").write_bytes(data[: len(data) // 2])  # truncated
    return folder, labels


def _classifier(**kw):
    return ContIGClassifier(image_encoder="resnet18", max_epochs=2, batch_size=16, validation_fraction=0.2,
                            device="cpu", random_state=0, verbose=0, **kw)


def test_bad_file_skip_trains_and_reports_it(image_files):
    folder, labels = image_files
    ds = read_images(folder, 16)
    y = np.array([labels[s] for s in ds["sample"].values])
    clf = _classifier(on_bad_image="skip").fit(ds, y)
    assert clf.skipped_samples_.tolist() == ["s007"]
    assert sum(row.get("skipped_images", 0) for row in clf.history_) >= 1
    assert all(np.isfinite(row["train_loss"]) for row in clf.history_)


def test_bad_file_raises_naming_sample_and_file(image_files):
    folder, labels = image_files
    ds = read_images(folder, 16)
    y = np.array([labels[s] for s in ds["sample"].values])
    with pytest.raises(ValueError, match=r"sample 's007'.*s007\.png"):
        _classifier().fit(ds, y)


def test_bad_on_bad_image_value_is_refused():
    with pytest.raises(ValueError, match="on_bad_image"):
        ContIGPretrainer(**PARAMS, on_bad_image="ignore").fit(cohort())


# ------------------------------------------------------------------------ lock
def test_second_fit_on_a_locked_folder_is_refused(tmp_path):
    import socket

    holder = {"pid": os.getppid(), "host": socket.gethostname(), "started": "2026-01-01T00:00:00"}
    (tmp_path / "lock").write_text(json.dumps(holder))
    with pytest.raises(RuntimeError, match=f"in use by another fit \\(process {os.getppid()}"):
        ContIGPretrainer(**PARAMS, checkpoint_dir=tmp_path).fit(cohort())
    assert json.loads((tmp_path / "lock").read_text()) == holder  # left to its owner


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
    import socket

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / "lock").write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname()}))
    ContIGPretrainer(**{**PARAMS, "max_epochs": 1}, checkpoint_dir=tmp_path).fit(cohort())
    assert has_checkpoint(tmp_path) and not (tmp_path / "lock").exists()


def test_lock_is_released_when_the_fit_fails(tmp_path):
    with pytest.raises(NonFiniteLoss):
        ContIGPretrainer(**PARAMS, checkpoint_dir=tmp_path, callbacks=[At(1, 1, _nan_grad, hook="on_grad_computed")]
                         ).fit(cohort())
    assert not (tmp_path / "lock").exists()


# ------------------------------------------------------------------- full disk
def test_disk_full_while_checkpointing_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    from sklearn_contig.training import _checkpoint

    real_save, calls = torch.save, []

    def save(obj, path, *args, **kw):
        calls.append(path)
        if len(calls) > 2:  # the first checkpoint (optimizer + RNG) goes through, the second does not
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, path, *args, **kw)

    monkeypatch.setattr(_checkpoint.torch, "save", save)
    with pytest.raises(OSError, match="previous checkpoint .* is intact"):
        ContIGPretrainer(**PARAMS, checkpoint_dir=tmp_path).fit(cohort())
    monkeypatch.setattr(_checkpoint.torch, "save", real_save)
    folder = checkpoint_folder(tmp_path)
    assert len(json.loads((folder / "history.json").read_text())) == 1
    assert not (tmp_path / "latest.tmp").exists() and not (tmp_path / "lock").exists()
    model = ContIGPretrainer(**PARAMS, checkpoint_dir=tmp_path, resume=True).fit(cohort())
    assert [row["epoch"] for row in model.history_] == [1, 2, 3]
