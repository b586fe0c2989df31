"""A tiny saved result set of every stage, written without training anything."""

import json

import numpy as np
import pandas as pd
import pytest

MODALITIES = {"snp": 40, "pgs": 8}


def _write_json(path, obj):
    path.write_text(json.dumps(obj))


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory):
    """A run folder as ``sklearn-contig run`` leaves it (tiny, made-up numbers); read only."""
    rng = np.random.default_rng(0)
    run = tmp_path_factory.mktemp("report") / "run"
    model = run / "model"
    model.mkdir(parents=True)
    held = {m: {"top1": {"snp": a, "pgs": a + 0.05}, "top10": {"snp": 3 * a, "pgs": 3 * a + 0.1},
                "loss": 3.4 - a, "k": 10, "n": 30} for m, a in (("ContIG", 0.1), ("untrained", 0.03))}
    cohort = {"n_samples": 100, "n_individuals": 100, "image_shape": [3, 16, 16],
              "modalities": {m: {"features": n, "present": 0.9} for m, n in MODALITIES.items()},
              "n_train_individuals": 70, "n_held_out_individuals": 30}
    _write_json(model / "summary.json", {"cohort": cohort, "params": {"max_epochs": 3},
                                         "fit_seconds": 5.0, "best_epoch": 3, "held_out": held,
                                         "batch_size": 16})
    pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [3.0, 2.7, 2.5],
                  "valid_loss": [3.1, 2.9, 2.95]}).to_csv(model / "history.csv", index=False)
    np.save(model / "examples.npy", rng.integers(0, 255, (4, 3, 16, 16), dtype=np.uint8))
    pd.DataFrame({"untrained": [0.1, 0.0], "ContIG": [0.3, 0.05]},
                 index=pd.Index(["disc_size", "tortuosity"], name="trait")).to_csv(model / "trait_probes.csv")
    stages = {"pretrain": "model", "finetune": {}, "explain": "explain", "gwas": "gwas"}
    for name, metric in (("grade", "quadratic weighted kappa"), ("disc", "Dice")):
        ft = run / "finetune" / name
        (ft / "ContIG").mkdir(parents=True)
        _write_json(ft / "summary.json", {"task": name, "target": name, "metric": metric,
                                          "n_train_individuals": 20, "n_test_individuals": 30,
                                          "scores": {"ContIG": 0.5, "scratch": 0.3}})
        pd.DataFrame({"epoch": [1, 2], "train_loss": [1.0, 0.8]}).to_csv(ft / "ContIG" / "history.csv",
                                                                        index=False)
        stages["finetune"][name] = f"finetune/{name}"
    np.savez_compressed(run / "finetune" / "disc" / "examples.npz",
                        image=rng.integers(0, 255, (2, 3, 16, 16), dtype=np.uint8),
                        mask=rng.integers(0, 2, (2, 16, 16)), pred=rng.integers(0, 2, (2, 16, 16)))
    ex = run / "explain"
    ex.mkdir()
    for mod, n in MODALITIES.items():
        pd.DataFrame({"feature": [f"{mod}{i}" for i in range(n)], "attribution": np.sort(rng.random(n))[::-1],
                      "rank": np.arange(1, n + 1), "causal": np.arange(n) % 4 == 0}
                     ).to_csv(ex / f"global_{mod}.csv", index=False)
    np.savez_compressed(ex / "image_maps.npz", image=rng.integers(0, 255, (2, 3, 16, 16), dtype=np.uint8),
                        attribution=rng.normal(size=(2, 16, 16)))
    _write_json(ex / "summary.json", {"modalities": list(MODALITIES), "n_explained": 10,
                                      "n_reference": 20, "auc": {"snp": 0.8, "pgs": 0.7}})
    gw = run / "gwas"
    gw.mkdir()
    snps = [f"rs{i}" for i in range(60)]
    res = pd.DataFrame({"SNP": snps * 2, "CHR": ([1] * 30 + [2] * 30) * 2, "BP": list(range(60)) * 2,
                        "A1": "A", "phenotype": ["PC1"] * 60 + ["PC2"] * 60,
                        "BETA": 0.1, "SE": 0.1, "T_STAT": 1.0, "P": rng.uniform(1e-9, 1, 120), "N": 30})
    res.to_csv(gw / "results.tsv", sep="\t", index=False)
    _write_json(gw / "summary.json", {"n_individuals": 30, "n_components": 2, "n_snps": 60,
                                      "n_regions": 1, "lambda_gc": 1.02, "covariates": ["gPC1"],
                                      "planted": {"n": 2, "bonferroni": 0.05 / 60, "found": 1,
                                                  "genome_wide": 0}})
    _write_json(run / "truth.json", {"loci": {"disc_size": ["rs3", "rs40"]}, "causal": {}})
    _write_json(run / "manifest.json", {"title": "test report", "stages": stages, "truth": "truth.json"})
    return run


@pytest.fixture(scope="session")
def report(run_dir):
    """The report of :func:`run_dir`, built once."""
    from sklearn_contig.report import build_report

    return build_report(run_dir)
