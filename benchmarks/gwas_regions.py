"""GWAS on image embeddings: planted loci recovered and independent regions (paper Table 2).

The ContIG paper (Table 2) counts the independent genome-wide significant regions of
a GWAS on the first 10 principal components of each model's image embeddings
(transferGWAS). On real data nobody knows which regions are true. Here the synthetic
biobank plants 3 SNP loci on each of 7 latent visual traits (21 loci), so each
model's hits can be scored against the truth.

The cohort is split by individual (:func:`~sklearn_contig.data.split_individuals`,
both eyes of a person on one side): the encoders are pretrained on the training
individuals and the GWAS runs on the held-out ones, as the authors did. A ContIG
encoder is trained to match its training people's genotypes, planted SNPs
included; a GWAS on those same people could find genotype the encoder memorised
instead of signal it reads from the images.

Per seed (``--seeds``, three by default) and model:

1. pretrain on the training individuals (ContIG; a randomly initialised encoder,
   ``max_epochs=0``; with ``--baselines`` the image-only baselines present in
   :mod:`sklearn_contig.pretraining`);
2. embed the held-out individuals, :class:`~sklearn_contig.gwas.GWASTransformer`
   (10 PCs of the centred embeddings, residualised on 10 genetic PCs, rank-INT);
3. ``plink2 --glm`` per PC (:func:`~sklearn_contig.gwas.run_gwas`) with the
   genetic PCs as covariates of the association too, the per-SNP minimum p-value
   across the PCs (Bonferroni x10, as the authors did);
4. ``plink1.9 --clump`` with the authors' settings (p1 5e-8, p2 1e-7, r2 0.1,
   150 kb) -> independent regions.

Reported: planted loci recovered (a significant SNP, min-p < 5e-8, that is the
planted SNP or lies within 150 kb of it with r^2 >= 0.1: the clumping notion of
"the same region"), independent regions, regions that hold no planted locus (no SNP
of the clump, index or clumped, within 150 kb and r^2 >= 0.1 of a planted SNP),
lambda_GC of the 10 PC GWAS (pooled p-values), and the linear-probe R^2 of the
latent traits (easy / hard), to tell what the embedding saw, and for ContIG the
held-out top-10 image -> genetics retrieval accuracy. With two images per person
both of a person's genetic rows count as a hit, so chance top-k retrieval is
about ``2k / chunk`` (``1 - (1 - 2/chunk)^k``), not ``k / chunk``. The table
per seed is followed by the mean and sd over seeds. A Manhattan plot per model
and seed goes to ``--out`` (a temporary folder by default; never the repository).

Run::

    python benchmarks/gwas_regions.py                      # CPU size, 3 seeds, ~1 h
    python benchmarks/gwas_regions.py --config gpu --baselines
    python benchmarks/gwas_regions.py --config smoke --seeds 0   # checks the plumbing

Needs plink2 and plink1.9 on PATH (``make plink``) and msprime.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

#: Benchmark sizes (``test_size``: share of the individuals held out for the GWAS).
#: "cpu" takes ~20 minutes per seed on 2 shared CPU cores; "gpu" is for one GPU
#: (untested here); "smoke" checks the plumbing in a few minutes.
CONFIGS = {
    "smoke": dict(n_individuals=600, image_size=32, eyes=2, max_epochs=1, batch_size=128,
                  hidden_dim=128, projection_dim=64, patience=2, n_components=4, test_size=0.4),
    "cpu": dict(n_individuals=4000, image_size=32, eyes=2, max_epochs=4, batch_size=128,
                hidden_dim=512, projection_dim=128, patience=2, n_components=10, test_size=0.4),
    "gpu": dict(n_individuals=20000, image_size=64, eyes=2, max_epochs=40, batch_size=256,
                hidden_dim=2048, projection_dim=128, patience=5, n_components=10, test_size=0.3),
}
#: Image-only baselines looked up by name (``--baselines``); missing ones are skipped.
BASELINES = ["SimCLRPretrainer", "BYOLPretrainer", "BarlowTwinsPretrainer",
             "SimSiamPretrainer", "NNCLRPretrainer"]
#: ContIG variants per config, like the rows of the paper's Table 2.
CONTIG_VARIANTS = {
    "smoke": {"ContIG (outer RPB)": dict(modalities=["snp", "pgs", "burden"])},
    "cpu": {"ContIG (outer RPB)": dict(modalities=["snp", "pgs", "burden"])},
    "gpu": {
        "ContIG (raw SNP)": dict(modalities=["snp"]),
        "ContIG (PGS)": dict(modalities=["pgs"]),
        "ContIG (burden)": dict(modalities=["burden"]),
        "ContIG (inner RPB)": dict(modalities=["snp", "pgs", "burden"], aggregation="inner"),
        "ContIG (outer RPB)": dict(modalities=["snp", "pgs", "burden"]),
    },
}
CLUMP = dict(p1=5e-8, p2=1e-7, r2=0.1, kb=150)  # the authors' settings
N_GENETIC_PCS = 10


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# -- cohort --------------------------------------------------------------------------
def make_cohort(cfg, seed, out):
    from sklearn_contig.data import write_plink
    from sklearn_contig.datasets import make_imaging_genetics
    from sklearn_contig.gwas import genetic_pcs

    t = time.time()
    ds, truth = make_imaging_genetics(
        cfg["n_individuals"], image_size=cfg["image_size"], eyes=cfg["eyes"],
        simulator="msprime", random_state=seed,
    )  # fmt: skip
    log(f"cohort: {cfg['n_individuals']} people x {cfg['eyes']} eye(s), "
        f"{ds.sizes['snp_id']} SNPs, {cfg['image_size']} px ({time.time() - t:.0f} s)")  # fmt: skip
    # ds["snp"] carries chromosome / bp_position: clumping and plots get real positions.
    # The whole cohort goes into the PLINK files; run_gwas only uses the individuals
    # that have a phenotype, i.e. the held-out ones.
    bfile = write_plink(out / "cohort", ds["snp"])
    # Genetic PCs on LD-pruned SNPs (unpruned, the top PCs follow LD blocks, not ancestry)
    subprocess.run(
        ["plink2", "--bfile", bfile, "--indep-pairwise", "200kb", "1", "0.2",
         "--threads", "2", "--out", str(out / "prune")],
        check=True, capture_output=True,
    )  # fmt: skip
    gpcs = genetic_pcs(bfile, n_pcs=N_GENETIC_PCS, threads=2,
                       extra_args=("--extract", str(out / "prune.prune.in")))
    return ds, truth, bfile, gpcs


class LociIndex:
    """Planted SNPs and the 'same region' test (within ``kb`` and r^2 >= ``r2``)."""

    def __init__(self, ds, truth, kb=150, r2=0.1):
        snp = ds["snp"].groupby("individual").first()
        self.ids = pd.Index(map(str, snp["snp_id"].values))
        self.chrom = pd.Series(snp["chromosome"].values, index=self.ids)
        self.bp = pd.Series(snp["bp_position"].values, index=self.ids)
        g = snp.values.astype(np.float64)
        g = np.where(np.isnan(g), np.nanmean(g, axis=0), g)
        sd = g.std(axis=0)
        self.z = (g - g.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
        self.col = pd.Series(np.arange(len(self.ids)), index=self.ids)
        self.planted = sorted({s for loci in truth.loci.values() for s in loci})
        self.kb, self.r2 = kb, r2

    def near(self, locus, snps):
        """Which of ``snps`` are in the region of the planted ``locus``."""
        snps = pd.Index(snps)
        same_chr = self.chrom.loc[snps].to_numpy() == self.chrom[locus]
        close = np.abs(self.bp.loc[snps].to_numpy() - self.bp[locus]) <= self.kb * 1000
        cand = snps[same_chr & close]
        if len(cand) == 0:
            return cand
        r = self.z[:, self.col.loc[cand]].T @ self.z[:, self.col[locus]] / len(self.z)
        return cand[(r**2 >= self.r2) | (cand == locus)]


# -- models --------------------------------------------------------------------------
def model_list(cfg, config, seed, with_baselines, device):
    from sklearn_contig import pretraining

    common = dict(image_encoder="resnet18", batch_size=cfg["batch_size"],
                  max_epochs=cfg["max_epochs"], weight_decay=1e-4,
                  augment={"brightness": 0.1}, patience=cfg["patience"],
                  device=device, random_state=seed, verbose=1)  # fmt: skip
    heads = dict(hidden_dim=cfg["hidden_dim"], projection_dim=cfg["projection_dim"])
    models = {"random init": pretraining.ContIGPretrainer(**{**common, **heads, "max_epochs": 0})}
    for name, extra in CONTIG_VARIANTS[config].items():
        models[name] = pretraining.ContIGPretrainer(**common, **heads, **extra)
    if with_baselines:
        for cls_name in BASELINES:
            cls = getattr(pretraining, cls_name, None)
            if cls is None:
                log(f"{cls_name} not in sklearn_contig.pretraining: skipped")
                continue
            params = cls().get_params()
            kw = {k: v for k, v in {**common, **heads}.items() if k in params}
            if "augment" in params:
                kw.pop("augment")  # the baselines' own two-view augmentation
            if "hidden_dim" in params and "projection_dim" in params:
                kw["projection_dim"] = min(params["projection_dim"], 4 * cfg["projection_dim"])
                kw["hidden_dim"] = min(params["hidden_dim"], cfg["hidden_dim"])
            models[cls_name.removesuffix("Pretrainer")] = cls(**kw)
    return models


# -- one model ------------------------------------------------------------------------
def evaluate(name, model, train, test, truth, bfile, gpcs, loci, cfg, out):
    from sklearn_contig.data import Samples
    from sklearn_contig.evaluation import linear_probe_r2
    from sklearn_contig.gwas import (
        GWASTransformer,
        count_independent_regions,
        genomic_inflation,
        manhattan_plot,
        min_p_across,
        run_gwas,
    )  # fmt: skip

    t0 = time.time()
    model.set_output(transform="pandas")
    # pretrain on the training individuals, embed the held-out ones only
    emb = model.fit(Samples(train)).transform(Samples(test))
    fit_s = time.time() - t0
    ds = test
    best = getattr(model, "best_epoch_", None)
    log(f"{name}: fit + embed {fit_s:.0f} s (best epoch {best})")

    # Why residualise on genetic PCs: the synthetic cohort has three populations with
    # different allele frequencies, and the planted loci and the PGS/burden features
    # differ in frequency between them, so the images (and every embedding PC) differ
    # by ancestry. Without ancestry covariates every ancestry-informative SNP on the
    # genome associates with the PCs: lambda_GC inflates and clumping reports regions
    # that hold no causal variant. The authors residualised on 15 genetic PCs (plus sex
    # and age); here 10 PCs of LD-pruned SNPs (3 populations need 2).
    # the embeddings are indexed by (sample, individual): the two eyes are averaged
    gt = GWASTransformer(cfg["n_components"], covariates=gpcs, random_state=0)
    t1 = time.time()
    pheno = gt.fit_transform(emb)
    res = run_gwas(pheno, bfile, covariates=gpcs, threads=2)
    combined = min_p_across(res)
    lam = genomic_inflation(res["P"].dropna())
    n_regions, clumps = count_independent_regions(res, bfile, **CLUMP)

    sig = combined.loc[combined["P"] < CLUMP["p1"], "SNP"].astype(str)
    recovered = [loc for loc in loci.planted if len(loci.near(loc, sig))]
    false_regions = 0
    for _, row in clumps.iterrows():
        members = [str(row["SNP"]), *map(str, row["SP2"])]
        if not any(len(loci.near(loc, members)) for loc in loci.planted):
            false_regions += 1

    traits = truth.traits.loc[pd.unique(ds["individual"].values)]
    per_person = emb.groupby(level="individual", sort=False).mean()
    r2 = linear_probe_r2(per_person.loc[traits.index].to_numpy(), traits)
    manhattan_plot(res, out / f"manhattan_{slug(name)}.png", highlight=loci.planted)
    res.to_csv(out / f"gwas_{slug(name)}.tsv.gz", sep="\t", index=False)
    retrieval = float("nan")
    if hasattr(model, "retrieval_accuracy") and getattr(model, "max_epochs", 0):
        retrieval = model.retrieval_accuracy(Samples(test), k=10, chunk_size=256).get("snp", float("nan"))
    log(f"{name}: GWAS, clumping, probe and plot {time.time() - t1:.0f} s")
    row = {
        "model": name,
        "held-out people": len(pheno),
        "loci recovered": len(recovered),
        "planted loci": len(loci.planted),
        "regions": n_regions,
        "regions w/o planted locus": false_regions,
        "lambda_GC": round(lam, 3),
        "probe R2 easy": round(float(r2[truth.easy_traits].mean()), 2),
        "probe R2 hard": round(float(r2[truth.hard_traits].mean()), 2),
        "top-10 retrieval (snp)": round(retrieval, 3),
        "best epoch": best if best is not None else "-",
        "fit s": round(fit_s),
    }
    log(f"{name}: {row}")
    return row, recovered


def slug(name):
    return "".join(c if c.isalnum() else "_" for c in name).strip("_").lower()


def main(argv=None):
    from sklearn_contig.data import split_individuals

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", choices=list(CONFIGS), default="cpu")
    parser.add_argument("--baselines", action="store_true",
                        help="also the image-only baselines in sklearn_contig.pretraining")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for plots and tables (default: a new temp folder)")
    args = parser.parse_args(argv)
    cfg = CONFIGS[args.config]
    out = args.out or Path(tempfile.mkdtemp(prefix="gwas_regions_"))
    out.mkdir(parents=True, exist_ok=True)
    log(f"config {args.config}, seeds {args.seeds}: {cfg}; output in {out}")

    t0 = time.time()
    rows = []
    for seed in args.seeds:
        seed_out = out / f"seed{seed}"
        seed_out.mkdir(exist_ok=True)
        ds, truth, bfile, gpcs = make_cohort(cfg, seed, seed_out)
        train, test = split_individuals(ds, test_size=cfg["test_size"], random_state=seed)
        log(f"seed {seed}: pretraining on {len(set(train['individual'].values))} people, "
            f"GWAS on {len(set(test['individual'].values))} held-out people")
        loci = LociIndex(ds, truth, kb=CLUMP["kb"], r2=CLUMP["r2"])
        easy = {s for t in truth.easy_traits for s in truth.loci[t]}
        models = model_list(cfg, args.config, seed, args.baselines, args.device)
        for name, model in models.items():
            row, recovered = evaluate(name, model, train, test, truth, bfile, gpcs, loci, cfg, seed_out)
            n_easy = sum(s in easy for s in recovered)
            rows.append({"seed": seed, **row, "easy-trait loci": n_easy,
                         "hard-trait loci": len(recovered) - n_easy})
    table = pd.DataFrame(rows)
    print()
    print(table.to_markdown(index=False))
    numeric = ["loci recovered", "easy-trait loci", "hard-trait loci", "regions",
               "regions w/o planted locus", "lambda_GC", "probe R2 easy", "probe R2 hard",
               "top-10 retrieval (snp)"]
    grouped = table.groupby("model", sort=False)[numeric]
    mean, sd = grouped.mean(), grouped.std()
    summary = pd.DataFrame({c: [f"{m:.2f} ± {d:.2f}" for m, d in zip(mean[c], sd[c])]
                            for c in numeric}, index=mean.index)
    print(f"\nmean and sd over seeds {args.seeds}:\n")
    print(summary.to_markdown(disable_numparse=True))
    print("\nchance top-10 retrieval in chunks of 256 with two images per person: "
          f"{1 - (1 - 2 / 256) ** 10:.3f} (about 2k/chunk)" if cfg["eyes"] == 2 else "")
    print(f"\ntotal {time.time() - t0:.0f} s; plots and tables in {out}")
    table.to_csv(out / "table.csv", index=False)
    return table


if __name__ == "__main__":
    main()
