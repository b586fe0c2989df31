"""Few-label grading from scratch vs from a ContIG encoder shared as a model folder.

A ContIG encoder is pretrained on the images and genetics of one part of the
synthetic biobank (no labels), written with ``save_pretrained`` and read back
with ``load_pretrained``; the 0-4 ``grade`` is then learned (ordinal
``ContIGClassifier``) from a few labelled individuals, starting

- from scratch (random ResNet-18),
- from the in-memory pretrainer (``encoder=pretrainer``),
- from the loaded folder (``encoder=load_pretrained(folder)``),

and scored (quadratic weighted kappa) on held-out individuals. The last two
rows must agree to the digit: the folder holds the same model.

Usage::

    python benchmarks/pretrained_transfer.py                      # small CPU size
    python benchmarks/pretrained_transfer.py --pretrain 2000 --labels 50 200 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from sklearn_contig import ContIGClassifier, ContIGPretrainer, load_pretrained
from sklearn_contig.datasets import make_imaging_genetics


def cohorts(args, seed):
    n = args.pretrain + max(args.labels) + args.test
    ds, _ = make_imaging_genetics(n, image_size=args.image_size, simulator="independent", random_state=seed)
    pre = ds.isel(sample=slice(0, args.pretrain))
    lab = ds.isel(sample=slice(args.pretrain, args.pretrain + max(args.labels)))
    test = ds.isel(sample=slice(args.pretrain + max(args.labels), None))
    return pre, lab, test


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pretrain", type=int, default=400, help="individuals for pretraining (no labels)")
    parser.add_argument("--labels", nargs="+", type=int, default=[50], help="labelled individuals")
    parser.add_argument("--test", type=int, default=200)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--pretrain-epochs", type=int, default=15)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    rows = []
    for seed in args.seeds:
        pre, lab, test = cohorts(args, seed)
        start = time.perf_counter()
        contig = ContIGPretrainer("resnet18", hidden_dim=256, projection_dim=64, batch_size=64,
                                  max_epochs=args.pretrain_epochs, weight_decay=1e-4, device="cpu",
                                  verbose=0, random_state=seed).fit(pre)
        t_pre = time.perf_counter() - start
        with tempfile.TemporaryDirectory() as tmp:
            folder = contig.save_pretrained(Path(tmp) / "contig")
            size_mb = sum(p.stat().st_size for p in folder.iterdir()) / 2**20
            loaded = load_pretrained(folder)
        same = bool(np.array_equal(loaded.transform(test), contig.transform(test)))
        print(f"seed {seed}: pretrained {args.pretrain} individuals in {t_pre:.0f} s "
              f"(best epoch {contig.best_epoch_}); folder {size_mb:.1f} MiB; loaded transform identical: {same}")
        for n_lab in args.labels:
            train = lab.isel(sample=slice(0, n_lab))
            for name, encoder in (("scratch", None), ("ContIG in memory", contig), ("ContIG loaded", loaded)):
                clf = ContIGClassifier(task="ordinal", image_encoder="resnet18", encoder=encoder, target="grade",
                                       max_epochs=args.epochs, device="cpu", random_state=seed)
                start = time.perf_counter()
                clf.fit(train)
                qwk = clf.score(test)
                rows.append((seed, n_lab, name, qwk, time.perf_counter() - start))
                print(f"  {n_lab:4d} labels  {name:18s} QWK {qwk:.4f}  ({rows[-1][-1]:.0f} s)")

    print("\n| labels | start | QWK (mean over seeds) | seeds |")
    print("|---:|---|---:|---:|")
    for n_lab in args.labels:
        for name in ("scratch", "ContIG in memory", "ContIG loaded"):
            vals = [r[3] for r in rows if r[1] == n_lab and r[2] == name]
            print(f"| {n_lab} | {name} | {np.mean(vals):.4f} | {len(vals)} |")


if __name__ == "__main__":
    main()
