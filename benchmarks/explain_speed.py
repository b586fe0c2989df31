"""Explainer speed: cached reference statistics vs the authors' way vs re-encoding.

Global Integrated-Gradients attributions for ``--n-explain`` individuals against a
reference batch of ``--n-reference``, with 481 PGS features and the real head
sizes (H1 genetic encoder, hidden 2048, projection 128), image fixed. Three ways
to evaluate E(x) for every row captum asks for:

- cached (the package): reference projections *and* the log-sum-exps of the
  reference-reference logits are cached, each row adds its own row and column
  in O(b k);
- the authors' way: reference embeddings cached, but the whole (b + 1) x (b + 1)
  logit matrix and its log-sum-exps are recomputed for every row, O(b^2 k)
  (timed on ``--authors-n`` individuals);
- naive: the whole reference + {x} batch runs through the ContIG module and
  :class:`ContIGLoss` for every row (timed on ``--naive-n`` individuals).

The model is untrained (``max_epochs=0``): cost does not depend on the weights.

Run: ``python benchmarks/explain_speed.py`` (prints a table; add ``--quick`` for
a small smoke run; ``--n-explain 200 --n-reference 500`` is a modest size).
"""

from __future__ import annotations

import argparse
import copy
import datetime
import platform
import time

import numpy as np
import torch

from sklearn_contig.data import CohortDataset, from_arrays, individual_codes
from sklearn_contig.explain import Explainer
from sklearn_contig.explain._reference import recomputed_pair_loss
from sklearn_contig.losses import ContIGLoss
from sklearn_contig.pretraining import ContIGPretrainer


class AuthorsExplainer(Explainer):
    """Reference embeddings cached, the batch's logits recomputed per evaluation."""

    _pair_loss = staticmethod(recomputed_pair_loss)


def naive_attributions(model, ds, reference_rows, rows, n_steps, baseline):
    """IG attributions of ``pgs`` with E(x) computed by re-encoding the reference batch."""
    from captum.attr import IntegratedGradients

    module = copy.deepcopy(model.module_).eval()
    for param in module.parameters():  # gradients with respect to the inputs only
        param.requires_grad_(False)
    crit = ContIGLoss(model.temperature, model.loss_weight, model.exclude_positive)
    data = CohortDataset(ds, model.modalities_, fill=model.fill_values_, codes=individual_codes(ds))
    out = []
    for i in rows:
        X, _ = data.__getitems__(np.r_[reference_rows, i])

        def forward(pgs_rows, X=X):
            values = []
            for row in pgs_rows:  # each row its own reference + {x} batch
                batch = dict(X)
                batch["pgs"] = torch.cat([X["pgs"][:-1], row[None]])
                res = module(**batch)
                values.append(crit(res["pairs"], batch["individual"]))
            return torch.stack(values)

        x = X["pgs"][-1:].clone()
        attr = IntegratedGradients(forward).attribute(
            x, baselines=torch.as_tensor(baseline, dtype=x.dtype).expand_as(x), n_steps=n_steps, internal_batch_size=10
        )
        out.append(attr.detach().numpy()[0])
    return np.array(out)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-explain", type=int, default=1000)
    p.add_argument("--n-reference", type=int, default=1000)
    p.add_argument("--n-features", type=int, default=481)
    p.add_argument("--n-steps", type=int, default=50)
    p.add_argument("--naive-n", type=int, default=1)
    p.add_argument("--authors-n", type=int, default=32)
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--quick", action="store_true", help="small smoke run")
    args = p.parse_args(argv)
    if args.quick:
        args.n_explain, args.n_reference, args.n_steps, args.authors_n = 40, 100, 10, 8
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    n = args.n_explain + args.n_reference
    ds = from_arrays(
        rng.integers(0, 255, (n, 3, args.image_size, args.image_size), dtype=np.uint8),
        pgs=rng.normal(size=(n, args.n_features)),
    )
    model = ContIGPretrainer("resnet18", genetic_encoder="H1", hidden_dim=2048, projection_dim=128,
                             max_epochs=0, verbose=0, random_state=0).fit(ds)
    ref_ds = ds.isel(sample=slice(0, args.n_reference))
    exp_ds = ds.isel(sample=slice(args.n_reference, n))

    t0 = time.perf_counter()
    explainer = Explainer(model, n_reference=args.n_reference, n_steps=args.n_steps,
                          batch_size=32, random_state=0).fit(ref_ds)
    t_fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    local = explainer.local(exp_ds)
    t_attr = time.perf_counter() - t0
    glob = explainer.global_(local)
    per_cached = t_attr / args.n_explain
    print(f"cached: fit {t_fit:.1f} s, {args.n_explain} individuals in {t_attr:.1f} s", flush=True)

    authors = AuthorsExplainer(model, n_reference=args.n_reference, n_steps=args.n_steps,
                               batch_size=32, random_state=0).fit(ref_ds)
    t0 = time.perf_counter()
    local_authors = authors.local(exp_ds.isel(sample=slice(0, args.authors_n)))
    t_authors = time.perf_counter() - t0
    per_authors = t_authors / args.authors_n
    cached_a = local["pgs"].values[: args.authors_n]
    agree_authors = float(np.max(np.abs(local_authors["pgs"].values - cached_a)) / np.max(np.abs(cached_a)))
    print(f"authors' way: {args.authors_n} individuals in {t_authors:.1f} s", flush=True)

    ref_rows = np.flatnonzero(np.isin(ds["sample"].values, explainer.reference_samples_))
    naive_rows = np.arange(args.n_reference, args.n_reference + args.naive_n)
    t0 = time.perf_counter()
    naive = naive_attributions(model, ds, ref_rows, naive_rows, args.n_steps,
                               explainer.baseline_values_["pgs"])
    t_naive = time.perf_counter() - t0
    per_naive = t_naive / args.naive_n
    cached = local["pgs"].values[: args.naive_n]
    agree = float(np.max(np.abs(naive - cached)) / np.max(np.abs(cached)))

    rows = [
        ("reference batch cached (fit)", f"{t_fit:.2f} s", f"{args.n_reference} individuals"),
        ("cached: global attributions", f"{t_attr:.1f} s", f"{args.n_explain} individuals"),
        ("cached: per individual", f"{per_cached * 1e3:.1f} ms", f"IG, {args.n_steps} steps"),
        ("authors' way (embeddings cached, logits recomputed): per individual",
         f"{per_authors * 1e3:.1f} ms", f"measured on {args.authors_n}"),
        ("naive re-encoding: per individual", f"{per_naive:.1f} s", f"measured on {args.naive_n}"),
        ("speed-up vs the authors' way", f"{per_authors / per_cached:.1f}x", ""),
        ("speed-up vs naive re-encoding", f"{per_naive / per_cached:.0f}x", "target >= 50x"),
        ("max |authors - cached| / max |cached|", f"{agree_authors:.1e}", "same attributions"),
        ("max |naive - cached| / max |cached|", f"{agree:.1e}", "same attributions"),
        ("mean |relative delta|", f"{glob.attrs['mean_abs_relative_delta']:.1e}", "IG completeness"),
    ]
    print(f"explain_speed {datetime.date.today()} | {platform.machine()}, torch threads {torch.get_num_threads()}, "
          f"{args.n_features} PGS, H1 hidden 2048, projection 128, resnet18 {args.image_size}px")
    w = max(len(r[0]) for r in rows)
    print(f"| {'measure':<{w}} | value | note |\n|{'-' * (w + 2)}|---|---|")
    for name, value, note in rows:
        print(f"| {name:<{w}} | {value} | {note} |")
    return rows


if __name__ == "__main__":
    main()
