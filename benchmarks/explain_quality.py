"""Explainer quality: do global attributions rank the planted causal features first?

For each seed, draws the synthetic biobank, splits it by individual into
pretraining people (half), reference people (``--n-reference``) and explained
people (``--n-explain``): the reference batch and the explained people were never
seen in pretraining, and the explained people are not in the reference. ContIG
is pretrained on all genetic modalities; the same is done with an untrained
model (``max_epochs=0``) as the chance reference. Prints, per explanation
settings, modality and trait (group), the ROC-AUC of the global attributions for
that trait's causal features against the noise features (causal for no trait)
for the trained and the untrained model and their difference, as mean and
standard deviation over the seeds, plus each model's held-out retrieval.

Settings: ``training`` (the package's default: the pretrainer's temperature and
loss weight, Integrated Gradients) and ``authors`` (``AUTHORS_SETTINGS``:
temperature 1.0, loss weight 0.5, NoiseTunnel over Integrated Gradients with 5
copies of standard deviation 1.0).

Run: ``python benchmarks/explain_quality.py`` (the CPU configuration, 3 seeds,
both settings); ``--small`` for a quick check of the pipeline.
"""

from __future__ import annotations

import argparse
import datetime
import time

import numpy as np
import pandas as pd
import torch

from sklearn_contig.datasets import make_imaging_genetics
from sklearn_contig.evaluation import attribution_auc
from sklearn_contig.explain import AUTHORS_SETTINGS, Explainer
from sklearn_contig.pretraining import ContIGPretrainer

SETTINGS = {"training": {}, "authors": AUTHORS_SETTINGS}
MODALITIES = ["pgs", "snp", "burden"]


def split_people(ds, sizes, seed):
    """Samples of disjoint sets of individuals with the given sizes (in that order)."""
    people = np.random.default_rng(seed).permutation(np.unique(ds["individual"].values))
    if sum(sizes) > len(people):
        raise ValueError(f"the split needs {sum(sizes)} individuals, the cohort has {len(people)}")
    groups = np.split(people, np.cumsum(sizes))[: len(sizes)]
    return [ds.isel(sample=np.flatnonzero(np.isin(ds["individual"].values, g))) for g in groups]


def run_seed(seed, args, log):
    ds, truth = make_imaging_genetics(
        args.n, image_size=args.image_size, simulator="independent", n_snps=500, n_pgs=300,
        n_genes=200, heritability=args.heritability, random_state=seed,
    )
    pretrain, reference, explained = split_people(
        ds, [args.n // 2, args.n_reference, args.n_explain], seed
    )
    traits = {t: [t] for t in truth.easy_traits + truth.hard_traits}
    traits.update({"easy traits": truth.easy_traits, "hard traits": truth.hard_traits})
    out = {}
    for label, epochs in (("trained", args.epochs), ("untrained", 0)):
        t0 = time.perf_counter()
        model = ContIGPretrainer(
            "resnet18", modalities=MODALITIES, hidden_dim=args.hidden, projection_dim=128,
            batch_size=128, max_epochs=epochs, weight_decay=1e-4, validation_fraction=0,
            verbose=0, random_state=seed,
        ).fit(pretrain)
        t_fit = time.perf_counter() - t0
        retrieval = model.retrieval_accuracy(explained, k=10, chunk_size=128)
        log.append(f"seed {seed} {label}: fit {t_fit:.0f} s, held-out top-10 retrieval "
                   + ", ".join(f"{m} {v:.3f}" for m, v in retrieval.items()) + " (chance 0.078)")
        for name in args.settings:
            t0 = time.perf_counter()
            explainer = Explainer(model, n_reference=args.n_reference, n_steps=args.n_steps,
                                  random_state=seed, **SETTINGS[name]).fit(reference)
            glob = explainer.global_(explained)
            log.append(f"seed {seed} {label} {name}: explain {time.perf_counter() - t0:.0f} s")
            for m in MODALITIES:
                for t, ts in traits.items():
                    out[(name, m, t, label)] = attribution_auc(glob, truth.causal, ts, modality=m)
    for key in [k for k in out if k[-1] == "trained"]:
        out[(*key[:-1], "difference")] = out[key] - out[(*key[:-1], "untrained")]
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=4000, help="individuals (half pretrain)")
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--heritability", type=float, default=0.8)
    p.add_argument("--n-reference", type=int, default=1000)
    p.add_argument("--n-explain", type=int, default=1000)
    p.add_argument("--n-steps", type=int, default=32)
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--settings", nargs="+", choices=sorted(SETTINGS), default=["training", "authors"])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--small", action="store_true", help="quick check: 600 people, 1 epoch")
    args = p.parse_args(argv)
    if args.small:
        args.n, args.epochs, args.n_reference, args.n_explain, args.n_steps = 600, 1, 150, 100, 8
        args.hidden = 128
    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    log, rows = [], {}
    for seed in args.seeds:
        for key, value in run_seed(seed, args, log).items():
            rows.setdefault(key, []).append(value)
    cells = {k: f"{np.nanmean(v):.3f} ± {np.nanstd(v):.3f}" for k, v in rows.items()}
    table = pd.Series(cells).unstack(-1)[["trained", "untrained", "difference"]]
    table = table.reindex(list(dict.fromkeys(k[:-1] for k in rows)))  # settings, modality, traits
    table.index.names = ["settings", "modality", "traits"]
    table = table.reset_index()
    print(f"explain_quality {datetime.date.today()}: n={args.n}, {args.image_size}px, "
          f"h2={args.heritability}, resnet18 {args.epochs} epochs on {args.n // 2} people, "
          f"reference {args.n_reference} and {args.n_explain} explained held-out people, "
          f"IG {args.n_steps} steps, seeds {args.seeds} (mean ± sd), "
          f"total {time.perf_counter() - t_start:.0f} s")
    for line in log:
        print(line)
    print(table.to_markdown(index=False))
    return table


if __name__ == "__main__":
    main()
