"""Training-length defaults of the downstream estimators, from 50 to 1,000+ labelled images.

Two synthetic tasks from the built-in biobank, each at a small and a large
labelled-set size, scored on held-out individuals:

- ``cup``: segmentation of the optic cup (``cup_mask``: under 2 % of the image,
  low contrast), Dice;
- ``cdr``: regression of the cup-to-disc trait from the image, R^2;
- ``grade``: the ordinal disease grade (``ContIGClassifier(task="ordinal")``), quadratic weighted kappa.

Each task runs the estimator with its defaults (only ``max_epochs`` and the
encoder set) and a small search over batch size, learning-rate schedule,
learning rate and early stopping; the table shows every configuration, and
the gap between the defaults and the best one.

Usage::

    python benchmarks/small_labels.py                   # both tasks, 2 seeds
    python benchmarks/small_labels.py --tasks cup --sizes 50 --seeds 0
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from sklearn_contig.datasets import make_imaging_genetics
from sklearn_contig.downstream import ContIGClassifier, ContIGRegressor, ContIGSegmenter

#: name -> parameters on top of the defaults; "defaults" sets nothing.
CONFIGS = {
    "defaults": {},
    "bs8 constant, no early stop": dict(batch_size=8, lr_schedule="constant", validation_fraction=0.0),
    "bs4 cosine, no early stop": dict(batch_size=4, validation_fraction=0.0),
    "bs8 cosine, no early stop": dict(batch_size=8, validation_fraction=0.0),
    "bs16 cosine, no early stop": dict(batch_size=16, validation_fraction=0.0),
    "bs32 cosine, no early stop": dict(batch_size=32, validation_fraction=0.0),
    "bs32 cosine, no early stop, 2x epochs": dict(batch_size=32, validation_fraction=0.0, epochs_factor=2),
    "bs16 cosine, early stop 0.1": dict(batch_size=16, validation_fraction=0.1),
    "bs8 cosine lr 3e-4, no early stop": dict(batch_size=8, lr=3e-4, validation_fraction=0.0),
    "previous defaults (bs32, constant, early stop 0.1)": dict(batch_size=32, lr_schedule="constant",
                                                                validation_fraction=0.1, patience=5),
}


def cohort(n_train, n_test, image_size, seed):
    ds, truth = make_imaging_genetics(n_train + n_test, image_size=image_size, simulator="independent",
                                      random_state=seed)
    cdr = truth.traits["cup_to_disc"].reindex(ds["individual"].values).to_numpy()
    ds = ds.assign(cdr=("sample", cdr))
    return ds.isel(sample=slice(0, n_train)), ds.isel(sample=slice(n_train, None))


def run(task, n_train, config, params, seed, args):
    train, test = cohort(n_train, args.test, args.image_size, seed)
    params = dict(params)
    epochs = args.epochs * params.pop("epochs_factor", 1)
    common = dict(image_encoder="resnet18", max_epochs=epochs, random_state=seed, device="cpu", **params)
    if task == "cup":
        est = ContIGSegmenter(target="cup_mask", **common)
    elif task == "grade":
        est = ContIGClassifier(task="ordinal", target="grade", **common)
    else:
        est = ContIGRegressor(target="cdr", **common)
    start = time.perf_counter()
    est.fit(train)
    return est.score(test), len(est.history_), time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=["cup", "cdr", "grade"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[50, 1000])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--test", type=int, default=200)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    print("| task | labelled | configuration | score (mean over seeds) | per seed | epochs run | fit s |")
    print("| --- | ---: | --- | ---: | --- | --- | ---: |")
    summary = []
    for task in args.tasks:
        for n in args.sizes:
            means = {}
            for name in args.configs:
                scores, epochs, seconds = [], [], 0.0
                for seed in args.seeds:
                    score, n_epochs, sec = run(task, n, name, CONFIGS[name], seed, args)
                    scores.append(score)
                    epochs.append(n_epochs)
                    seconds += sec
                means[name] = float(np.mean(scores))
                print(f"| {task} | {n} | {name} | {means[name]:.3f} | "
                      f"{', '.join(f'{s:.3f}' for s in scores)} | {epochs} | {seconds / len(args.seeds):.0f} |",
                      flush=True)
            best = max(means, key=means.get)
            summary.append((task, n, means.get("defaults", float("nan")), best, means[best]))
    print("\n| task | labelled | defaults | best configuration | best | defaults - best |")
    print("| --- | ---: | ---: | --- | ---: | ---: |")
    for task, n, default, best, value in summary:
        print(f"| {task} | {n} | {default:.3f} | {best} | {value:.3f} | {default - value:+.3f} |")


if __name__ == "__main__":
    main()
