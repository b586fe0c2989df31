"""Explainer quality: do global attributions rank the planted causal features first?

Pretrains ContIG on the synthetic biobank (all genetic modalities), explains
``--n-explain`` held-out people against a reference batch of other people, and
prints, per trait and modality, the ROC-AUC of the global attributions for that
trait's causal features against the noise features (causal for no trait). The
same is printed for an untrained model (``max_epochs=0``) as the chance
reference, plus the model's held-out retrieval accuracy.

Run: ``python benchmarks/explain_quality.py`` (``--quick`` for a small smoke run).
"""

from __future__ import annotations

import argparse
import datetime
import time

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score

from sklearn_contig.datasets import make_imaging_genetics
from sklearn_contig.explain import Explainer
from sklearn_contig.pretraining import ContIGPretrainer


def attribution_auc(glob, truth, traits, modality):
    positive = {f for t in traits for f in truth.causal[t][modality]}
    causal = {f for t in truth.causal for f in truth.causal[t][modality]}
    da = glob[modality]
    names = np.asarray(da[da.dims[0]].values)
    keep = np.array([f in positive or f not in causal for f in names])
    label = np.array([f in positive for f in names])[keep]
    if label.all() or not label.any():
        return float("nan")
    return float(roc_auc_score(label, da.values[keep]))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=4000, help="individuals")
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--heritability", type=float, default=0.8)
    p.add_argument("--n-reference", type=int, default=1000)
    p.add_argument("--n-explain", type=int, default=1000)
    p.add_argument("--n-steps", type=int, default=32)
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        args.n, args.epochs, args.n_reference, args.n_explain, args.n_steps = 600, 1, 200, 100, 8
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    ds, truth = make_imaging_genetics(
        args.n, image_size=args.image_size, simulator="independent", n_snps=500, n_pgs=300,
        n_genes=200, heritability=args.heritability, random_state=0,
    )
    t_data = time.perf_counter() - t0
    # people 0 .. n/2 pretrain; the reference and explained people are held out
    half = args.n // 2
    train, held = ds.isel(sample=slice(0, half)), ds.isel(sample=slice(half, None))
    reference = held.isel(sample=slice(0, args.n_reference))
    explained = held.isel(sample=slice(args.n_reference, args.n_reference + args.n_explain))
    modalities = ["pgs", "snp", "burden"]
    table, notes = {}, {}
    for label, epochs in (("trained", args.epochs), ("untrained", 0)):
        t0 = time.perf_counter()
        model = ContIGPretrainer(
            "resnet18", modalities=modalities, hidden_dim=args.hidden, projection_dim=128,
            batch_size=128, max_epochs=epochs, weight_decay=1e-4, validation_fraction=0,
            verbose=0, random_state=0,
        ).fit(train)
        t_fit = time.perf_counter() - t0
        t0 = time.perf_counter()
        explainer = Explainer(model, n_reference=args.n_reference, n_steps=args.n_steps,
                              random_state=0).fit(reference)
        glob = explainer.global_(explained)
        t_explain = time.perf_counter() - t0
        retrieval = model.retrieval_accuracy(explained, k=10, chunk_size=128)
        notes[label] = (f"fit {t_fit:.0f} s, explain {t_explain:.0f} s, held-out top-10 retrieval "
                        + ", ".join(f"{m} {v:.3f}" for m, v in retrieval.items()) + " (chance 0.078)")
        for m in modalities:
            for t in truth.easy_traits + truth.hard_traits:
                table[(m, t, label)] = attribution_auc(glob, truth, [t], m)
            table[(m, "easy traits", label)] = attribution_auc(glob, truth, truth.easy_traits, m)
            table[(m, "hard traits", label)] = attribution_auc(glob, truth, truth.hard_traits, m)
    df = pd.Series(table).unstack(-1)[["trained", "untrained"]].round(3)
    print(f"explain_quality {datetime.date.today()}: n={args.n}, {args.image_size}px, h2={args.heritability}, "
          f"resnet18 {args.epochs} epochs on {half} people, reference {args.n_reference}, "
          f"explained {args.n_explain}, IG {args.n_steps} steps (data {t_data:.0f} s)")
    for label, note in notes.items():
        print(f"{label}: {note}")
    print(df.to_markdown() if hasattr(df, "to_markdown") else df.to_string())
    return df


if __name__ == "__main__":
    main()
