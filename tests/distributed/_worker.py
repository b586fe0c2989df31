"""Scenarios run in every process started by ``torchrun`` (see ``test_multiprocess.py``).

``python _worker.py OUT_DIR SCENARIO [SCENARIO ...]`` writes, per process,
``OUT_DIR/<scenario>_rank<r>.pt``: the fitted weights and what the test checks.
"""

from __future__ import annotations

import sys
from pathlib import Path

import accelerate
import numpy as np
import torch
from skorch.callbacks import Callback

from sklearn_contig.data import CohortDataset, from_arrays
from sklearn_contig.downstream import ContIGClassifier
from sklearn_contig.pretraining import ContIGPretrainer, NNCLRPretrainer, SimCLRPretrainer

GLOBAL_BATCH = 8


def cohort(n=32, size=16, burden_rows=None, seed=0):
    rng = np.random.default_rng(seed)
    pgs = rng.normal(size=(n, 6)).astype(np.float32)
    burden = rng.poisson(1.0, size=(n, 4)).astype(np.float32)
    keep = np.ones(n, bool) if burden_rows is None else np.isin(np.arange(n), burden_rows)
    burden[~keep] = np.nan
    img = 127 + 40 * np.tanh(pgs[:, :3])[:, :, None, None] + rng.normal(0, 20, size=(n, 3, size, size))
    ids = [f"p{i}" for i in range(n)]
    labels = {"y": (pgs[:, 0] > 0).astype(np.int64)}
    return from_arrays(np.clip(img, 0, 255).astype(np.uint8), pgs=pgs, burden=burden, sample_ids=ids,
                       individual_ids=ids, labels=labels)


def common(world):
    return dict(image_encoder="resnet18", batch_size=GLOBAL_BATCH // world, augment=False, verbose=0,
                random_state=0, precision="32", accelerator=accelerate.Accelerator(cpu=True))


def weights(model):
    return {k: v.detach().clone() for k, v in model.module_.state_dict().items()}


class InitialWeights(Callback):
    """The weights training starts from (after DistributedDataParallel's broadcast)."""

    def on_train_begin(self, net, **kwargs):
        module = net.accelerator.unwrap_model(net.module_)
        self.weights_ = {k: v.detach().clone() for k, v in module.state_dict().items()}


def batch_losses(model):
    return [b["train_loss"] for row in model.history_ for b in row["batches"]]


# Equivalence runs: Adam's first steps move every weight by about +-lr whatever
# its gradient's size, so the sign of a near-zero gradient (set by rounding in
# the sums, which differ between 1 and 2 processes) decides a move of 2 lr; a
# small lr keeps those moves below the 1e-5 tolerance, while a wrong gradient
# (moves in other directions for most weights) stays far above it.
EQUIV = dict(lr=1e-5, max_epochs=1, validation_fraction=0, sync_batchnorm=True)


class ReadRecorder(Callback):
    """Positions of the training set this process reads, per epoch."""

    def on_train_begin(self, net, **kwargs):
        self.epochs_ = []
        original = CohortDataset.__getitems__
        recorder = self

        def getitems(ds, idx):
            recorder.epochs_[-1].extend(int(i) for i in idx)
            return original(ds, idx)

        self._original, CohortDataset.__getitems__ = original, getitems

    def on_epoch_begin(self, net, **kwargs):
        self.epochs_.append([])

    def on_train_end(self, net, **kwargs):
        CohortDataset.__getitems__ = self._original


def equiv_contig(world, rank):
    reads, start = ReadRecorder(), InitialWeights()
    model = ContIGPretrainer(**common(world), hidden_dim=16, projection_dim=8, **EQUIV, callbacks=[reads, start])
    model.fit(cohort(burden_rows=np.arange(0, 32, 3)))
    return {"weights": weights(model), "start": start.weights_, "reads": reads.epochs_,
            "loss": batch_losses(model)}


def equiv_simclr(world, rank):
    # the bank holds whole global batches: which rows it keeps does not depend on
    # the order of the rows within a batch
    start = InitialWeights()
    model = SimCLRPretrainer(**common(world), hidden_dim=16, projection_dim=8, memory_bank_size=2 * GLOBAL_BATCH,
                             **EQUIV, callbacks=[start])
    model.fit(cohort())
    return {"weights": weights(model), "start": start.weights_, "loss": batch_losses(model)}


def missing(world, rank):
    # burden on 5 of 32 rows: many local batches have none of it, some one row
    data = cohort(burden_rows=[0, 1, 7, 20, 29])
    out = {}
    for sync in (False, True):
        model = ContIGPretrainer(**common(world), hidden_dim=16, projection_dim=8, max_epochs=2,
                                 validation_fraction=0, sync_batchnorm=sync)
        model.fit(data)
        out[f"weights_sync{sync}"] = weights(model)
    model = NNCLRPretrainer(**common(world), hidden_dim=16, projection_dim=8, predictor_hidden_dim=8,
                            support_set_size=12, max_epochs=1, validation_fraction=0)
    model.fit(data)
    out["nnclr_bank"] = model.module_.memory_bank.bank.clone()
    return out


def stopping(world, rank, out_dir):
    data = cohort(n=48)
    model = ContIGPretrainer(**common(world), hidden_dim=16, projection_dim=8, max_epochs=6, lr=3e-2,
                             validation_fraction=0.25, patience=1, checkpoint_dir=out_dir / "stop_ckpt")
    model.fit(data)
    resume = dict(**common(world), hidden_dim=16, projection_dim=8, validation_fraction=0,
                  checkpoint_dir=out_dir / "resume_ckpt", resume=True)
    ContIGPretrainer(**{**resume, "max_epochs": 1}).fit(data)
    resumed = ContIGPretrainer(**{**resume, "max_epochs": 2}).fit(data)
    return {
        "weights": weights(model),
        "epochs": [row["epoch"] for row in model.history_],
        "valid_loss": model.history_[:, "valid_loss"],
        "best_epoch": model.best_epoch_,
        "transform": model.transform(data),
        "resumed_epochs": [row["epoch"] for row in resumed.history_],
        "resumed_weights": weights(resumed),
    }


def classifier(world, rank):
    data = cohort()
    model = ContIGClassifier(**common(world), max_epochs=2, validation_fraction=0)
    model.fit(data, data["y"].values)
    return {
        "weights": weights(model),
        "proba": model.predict_proba(data),
        "predict": model.predict(data),
        "score": model.score(data, data["y"].values),
        "net": type(model.net_).__name__,
    }


SCENARIOS = {"equiv_contig": equiv_contig, "equiv_simclr": equiv_simclr, "missing": missing,
             "stopping": stopping, "classifier": classifier}


def main(out_dir, *names):
    torch.set_num_threads(1)
    state = accelerate.PartialState(cpu=True)
    out_dir = Path(out_dir)
    for name in names:
        fn = SCENARIOS[name]
        args = (state.num_processes, state.process_index) + ((out_dir,) if name == "stopping" else ())
        result = fn(*args)
        result["world"] = state.num_processes
        torch.save(result, out_dir / f"{name}_rank{state.process_index}.pt")
        print(f"rank {state.process_index}: {name} done", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
