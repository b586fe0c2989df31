"""ContIG on genetic scores at the scales real pipelines write them.

``plink2 --score`` writes ``SCORE1_AVG`` values around 1e-4; burden pipelines write
counts in the tens. The same cohort, seed and settings are trained with the PGS
standardised, multiplied by 1e-4, multiplied by 1e-4 and shifted by 3e-3, and at a
burden-like scale (x40 + 100); each row reports how far the held-out contrastive
loss gets below chance (ln of the batch size), and its ratio to the standardised
row. A last row repeats the hardest scale with ``standardize_genetics=False``
(the behaviour before genetic inputs were standardised inside the encoders).

Usage::

    python benchmarks/input_scales.py                 # 2,000 people at 32 px
    python benchmarks/input_scales.py --n 800 --epochs 4   # quick look
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from sklearn_contig.datasets import make_imaging_genetics
from sklearn_contig.pretraining import ContIGPretrainer

SCALES = [
    ("standardised", 1.0, 0.0, True),
    ("x1e-4", 1e-4, 0.0, True),
    ("x1e-4 + 3e-3", 1e-4, 3e-3, True),
    ("x40 + 100", 40.0, 100.0, True),
    ("x1e-4 + 3e-3, standardize_genetics=False", 1e-4, 3e-3, False),
]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000, help="individuals")
    parser.add_argument("--test", type=int, default=384, help="held-out individuals")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    ds, _ = make_imaging_genetics(args.n, image_size=args.image_size, heritability=0.8,
                                  genetic_shares={"pgs": 1.0}, simulator="independent",
                                  random_state=args.seed)
    train = ds.isel(sample=slice(0, args.n - args.test))
    test = ds.isel(sample=slice(args.n - args.test, None))
    chance = float(np.log(args.batch_size))
    rows = []
    for name, scale, shift, standardize in SCALES:
        def rescale(part, scale=scale, shift=shift):
            pgs = part["pgs"]
            return part.assign(pgs=(pgs.dims, (pgs.values * scale + shift).astype(np.float32), pgs.attrs))

        start = time.perf_counter()
        model = ContIGPretrainer(
            image_encoder="resnet18", modalities=["pgs"], batch_size=args.batch_size, max_epochs=args.epochs,
            lr=3e-4, weight_decay=1e-4, hidden_dim=256, projection_dim=64, augment={"brightness": 0.1},
            patience=3, standardize_genetics=standardize, random_state=args.seed, verbose=0,
        ).fit(rescale(train))
        loss = model.contrastive_loss(rescale(test), chunk_size=args.batch_size)["mean"]
        best = min(row["valid_loss"] for row in model.history_)
        rows.append((name, loss, chance - loss, best, time.perf_counter() - start))
    reference = rows[0][2]
    print(f"\nheld-out contrastive loss, {args.n - args.test} training / {args.test} held-out people, "
          f"{args.image_size} px, chance ln({args.batch_size}) = {chance:.3f}\n")
    print("| PGS given as | held-out loss | gap below chance | gap / standardised gap | best valid loss | fit s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, loss, gap, best, seconds in rows:
        print(f"| {name} | {loss:.3f} | {gap:.3f} | {gap / reference:.2f} | {best:.3f} | {seconds:.0f} |")


if __name__ == "__main__":
    main()
