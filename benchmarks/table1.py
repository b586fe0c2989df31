"""Table 1 of the ContIG paper on the synthetic biobank: pretrain, then fine-tune with few labels.

Every method goes through one registry and one pretrain-and-evaluate path:
pretrain on the unlabelled pool (all people outside the test set; no labels
used), export the image encoder, then fine-tune it end to end on ``n_train``
labelled people for each task and score on held-out people:

- ``grade QWK``: 0-4 grade, ContIGClassifier(task="ordinal") (CORAL), quadratic weighted kappa;
- ``disease AUC``: 4 diseases, ContIGClassifier(task="multilabel"), micro ROC-AUC;
- ``disc Dice``: optic-disc masks, ContIGSegmenter (U-Net), mean Dice;
- ``risk MSE``: age/bmi/sbp, ContIGRegressor, MSE of the standardised targets
  (z-scored with the labelled set's mean and sd; 1.0 = predicting the mean);
- ``risk AUC``: one binary risk factor (default hypertension), ContIGClassifier, ROC-AUC.

"scratch" fine-tunes a randomly initialised encoder. ContIG runs with single
modalities (snp, pgs, burden) and with all three (inner/outer aggregation); the
image-only baselines (SimCLR, BYOL, Barlow Twins, SimSiam, NNCLR) join when
``sklearn_contig.pretraining`` provides them. Mean and standard deviation over
seeds (each seed: new cohort, new split, new pretraining).

Beside each pretrained row, ``learned`` says whether its pretraining learned
anything: the pretrainer's own held-out score (cross-modal retrieval for ContIG,
view retrieval for the baselines) on the test people, against the same
estimator with ``max_epochs=0`` (untrained) in the same run. A second table gives
each method's paired difference to scratch (same seed, same cohort and split)
with a 95 % t interval over seeds. Fine-tuning runs with the estimators' own
training-length defaults (``batch_size="auto"``, ``validation_fraction="auto"``,
cosine schedule); only ``max_epochs`` is set.

Usage::

    python benchmarks/table1.py --config cpu            # ~2k people, 32 px, minutes on 2 cores
    python benchmarks/table1.py --config gpu            # 20k people, 64 px, one GPU
    python benchmarks/table1.py --config cpu --methods scratch contig_pgs --seeds 0 1
    python benchmarks/table1.py --config cpu-large --methods scratch contig_outer --tasks "grade QWK"
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import mean_squared_error, roc_auc_score

from sklearn_contig import pretraining
from sklearn_contig.datasets import make_imaging_genetics
from sklearn_contig.downstream import ContIGClassifier, ContIGRegressor, ContIGSegmenter
from sklearn_contig.metrics import dice_score, micro_roc_auc, quadratic_weighted_kappa

CONFIGS = {
    "cpu": dict(
        n_individuals=2000, image_size=32, n_test=300, n_train=200, seeds=[0],
        image_encoder="resnet18", pretrain_epochs=2, pretrain_batch=64, hidden_dim=256,
        projection_dim=64, finetune_epochs=5, device="cpu", threads=1,
    ),
    "cpu-large": dict(
        n_individuals=6000, image_size=64, n_test=600, n_train=200, seeds=[0, 1, 2, 3, 4],
        image_encoder="resnet18", pretrain_epochs=4, pretrain_batch=64, hidden_dim=256,
        projection_dim=64, finetune_epochs=30, device="cpu", threads=2,
    ),
    "gpu": dict(
        n_individuals=20000, image_size=64, n_test=2000, n_train=200, seeds=[0, 1, 2],
        image_encoder="resnet18", pretrain_epochs=20, pretrain_batch=256, hidden_dim=2048,
        projection_dim=128, finetune_epochs=30, device="auto", threads=None,
    ),
}

ALL_MODALITIES = ["snp", "pgs", "burden"]

#: Image-only baselines looked up by name; missing classes are skipped.
BASELINES = ["SimCLRPretrainer", "BYOLPretrainer", "BarlowTwinsPretrainer", "SimSiamPretrainer", "NNCLRPretrainer"]

TASKS = ["grade QWK", "disease AUC", "disc Dice", "risk MSE", "risk AUC"]


def registry() -> dict:
    """Method name -> (pretrainer class or None, extra parameters)."""
    reg = {"scratch": (None, {})}
    for m in ALL_MODALITIES:
        reg[f"contig_{m}"] = (pretraining.ContIGPretrainer, {"modalities": [m], "aggregation": "outer"})
    for agg in ("inner", "outer"):
        reg[f"contig_{agg}"] = (pretraining.ContIGPretrainer, {"modalities": ALL_MODALITIES, "aggregation": agg})
    for name in BASELINES:
        cls = getattr(pretraining, name, None)
        if cls is not None:
            reg[name.removesuffix("Pretrainer").lower()] = (cls, {})
    return reg


def pretrain(method, pool, test, cfg, seed, workdir):
    """Pretrain ``method`` on the unlabelled ``pool``.

    Returns the exported encoder file (None: scratch) and the pretrainer's
    held-out score on ``test`` next to the untrained estimator's (None: scratch).
    """
    cls, extra = registry()[method]
    if cls is None:
        return None, None
    params = dict(
        image_encoder=cfg["image_encoder"], max_epochs=cfg["pretrain_epochs"],
        batch_size=cfg["pretrain_batch"], hidden_dim=cfg["hidden_dim"],
        projection_dim=cfg["projection_dim"], weight_decay=1e-4, device=cfg["device"],
        random_state=seed, verbose=0, **extra,
    )
    valid = cls().get_params()
    params = {k: v for k, v in params.items() if k in valid}
    model = cls(**params).fit(pool)
    untrained = cls(**{**params, "max_epochs": 0}).fit(pool)
    learned = (float(model.score(test)), float(untrained.score(test)))
    return str(model.save_encoder(Path(workdir) / f"{method}_{seed}.safetensors")), learned


def evaluate(encoder, train, test, cfg, seed, risk_factor="hypertension") -> dict:
    """Fine-tune ``encoder`` (file or None) on each task of ``cfg["tasks"]`` with ``train``; scores on ``test``."""
    common = dict(
        encoder=encoder, image_encoder=cfg["image_encoder"], max_epochs=cfg["finetune_epochs"],
        device=cfg["device"], random_state=seed,
    )
    yb_train = train["risk_binary"].sel(binary_factor=risk_factor).values
    yb_test = test["risk_binary"].sel(binary_factor=risk_factor).values
    mu, sd = train["risk"].values.mean(0), train["risk"].values.std(0)

    def grade():
        clf = ContIGClassifier(task="ordinal", target="grade", **common).fit(train)
        return quadratic_weighted_kappa(test["grade"].values, clf.predict(test))

    def disease():
        clf = ContIGClassifier(task="multilabel", target="diseases", **common).fit(train)
        return micro_roc_auc(test["diseases"].values, clf.predict_proba(test))

    def disc():
        seg = ContIGSegmenter(target="disc_mask", **common).fit(train)
        return dice_score(test["disc_mask"].values, seg.predict(test))

    def risk_mse():
        reg = ContIGRegressor(target="risk", **common).fit(train)
        return mean_squared_error((test["risk"].values - mu) / sd, (reg.predict(test) - mu) / sd)

    def risk_auc():
        clf = ContIGClassifier(**common).fit(train, yb_train)
        return roc_auc_score(yb_test, clf.predict_proba(test)[:, 1])

    tasks = dict(zip(TASKS, [grade, disease, disc, risk_mse, risk_auc]))
    return {name: tasks[name]() for name in cfg.get("tasks", TASKS)}


def split(ds, cfg, seed):
    """Held-out test people, the labelled training people, and the unlabelled pretraining pool."""
    rng = np.random.default_rng(seed)
    individuals = np.unique(ds["individual"].values)
    rng.shuffle(individuals)
    test_ids = set(individuals[: cfg["n_test"]])
    rest = individuals[cfg["n_test"]:]
    train_ids = set(rest[: cfg["n_train"]])
    ind = ds["individual"].values
    is_test = np.array([i in test_ids for i in ind])
    is_train = np.array([i in train_ids for i in ind])
    return ds.isel(sample=~is_test), ds.isel(sample=is_train), ds.isel(sample=is_test)


def run(cfg, methods, log=print):
    """``results[method][task]`` = list of per-seed scores; ``learned[method]`` = list of
    (held-out pretraining score, untrained score) per seed."""
    results = {m: {t: [] for t in cfg.get("tasks", TASKS)} for m in methods}
    learned = {m: [] for m in methods}
    for seed in cfg["seeds"]:
        t0 = time.time()
        ds, _ = make_imaging_genetics(
            cfg["n_individuals"], image_size=cfg["image_size"], simulator="independent", random_state=seed
        )
        pool, train, test = split(ds, cfg, seed)
        log(f"seed {seed}: cohort {ds.sizes['sample']} images ({time.time() - t0:.0f} s); "
            f"pool {pool.sizes['sample']}, labelled {train.sizes['sample']}, test {test.sizes['sample']}")
        with tempfile.TemporaryDirectory() as work:
            for method in methods:
                t0 = time.time()
                enc, pre = pretrain(method, pool, test, cfg, seed, work)
                t1 = time.time()
                scores = evaluate(enc, train, test, cfg, seed)
                for k, v in scores.items():
                    results[method][k].append(float(v))
                if pre is not None:
                    learned[method].append(pre)
                note = "" if pre is None else f" [pretraining held-out score {pre[0]:.3f} vs untrained {pre[1]:.3f}]"
                log(f"  {method:14s} pretrain {t1 - t0:5.0f} s, fine-tune {time.time() - t1:5.0f} s: "
                    + ", ".join(f"{k} {v:.3f}" for k, v in scores.items()) + note)
    return results, learned


def learned_cell(pairs) -> str:
    """``yes``/``no``/``mixed`` and the mean held-out score vs untrained (``-`` for scratch)."""
    if not pairs:
        return "-"
    wins = [trained > untrained for trained, untrained in pairs]
    verdict = "yes" if all(wins) else "no" if not any(wins) else f"{sum(wins)}/{len(wins)} seeds"
    trained, untrained = np.mean(pairs, axis=0)
    return f"{verdict} ({trained:.3f} vs {untrained:.3f})"


def paired_table(results) -> str:
    """Paired difference to scratch per task: mean and 95 % t interval over seeds."""
    from scipy import stats

    if "scratch" not in results:
        return ""
    tasks = list(results["scratch"])
    lines = ["| method - scratch | " + " | ".join(tasks) + " |", "| --- |" + " --- |" * len(tasks)]
    for method, per_task in results.items():
        if method == "scratch":
            continue
        cells = []
        for t in tasks:
            d = np.asarray(per_task[t]) - np.asarray(results["scratch"][t])
            if len(d) > 1:
                half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
                cells.append(f"{d.mean():+.3f} [{d.mean() - half:+.3f}, {d.mean() + half:+.3f}]")
            else:
                cells.append(f"{d.mean():+.3f}" if len(d) else "-")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def table(results, learned=None) -> str:
    """Markdown table of mean +- sd over seeds, with whether each pretraining learned."""
    learned = learned or {}
    tasks = list(next(iter(results.values()))) if results else TASKS
    lines = ["| method | " + " | ".join(tasks) + " | learned |", "| --- |" + " --- |" * (len(tasks) + 1)]
    for method, per_task in results.items():
        cells = []
        for t in tasks:
            v = np.asarray(per_task[t])
            sd = f" ± {v.std(ddof=1):.3f}" if len(v) > 1 else ""
            cells.append(f"{v.mean():.3f}{sd}" if len(v) else "-")
        lines.append(f"| {method} | " + " | ".join(cells) + f" | {learned_cell(learned.get(method, []))} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", choices=sorted(CONFIGS), default="cpu")
    parser.add_argument("--methods", nargs="*", default=None, help=f"subset of {list(registry())}")
    parser.add_argument("--seeds", nargs="*", type=int, default=None)
    parser.add_argument("--json", default=None, help="also write the per-seed scores here")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: the config's)")
    parser.add_argument("--tasks", nargs="+", default=None, choices=TASKS, metavar="TASK",
                        help=f"fine-tuning tasks to score (default: all of {TASKS})")
    args = parser.parse_args(argv)
    cfg = dict(CONFIGS[args.config])
    if args.seeds:
        cfg["seeds"] = args.seeds
    if args.threads:
        cfg["threads"] = args.threads
    if args.tasks:
        cfg["tasks"] = args.tasks
    methods = args.methods or list(registry())
    unknown = set(methods) - set(registry())
    if unknown:
        parser.error(f"unknown methods {sorted(unknown)}; known: {list(registry())}")
    if cfg["threads"]:
        # OpenMP threads spin-wait: on a busy small machine one thread is far faster.
        torch.set_num_threads(cfg["threads"])
    t0 = time.time()
    print(f"config {args.config}: {cfg}; {platform.node()}, torch {torch.__version__}, "
          f"cuda={torch.cuda.is_available()}", flush=True)
    results, learned = run(cfg, methods, log=lambda s: print(s, flush=True))
    print(f"\n{table(results, learned)}\n\n{paired_table(results)}\n\ntotal {time.time() - t0:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps({"config": cfg, "results": results, "learned": learned}, indent=1))


if __name__ == "__main__":
    main()
