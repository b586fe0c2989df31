"""The stages of the command line, as functions: each reads files and writes files.

Every stage writes its outputs and a ``summary.json`` into its output folder;
:func:`sklearn_contig.report.build_report` reads those folders.
"""

from __future__ import annotations

import json
import logging
import os
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ._cohort import add_labels, add_masks, load_cohort, read_table
from ._model import (
    ENCODER_FILE,
    SPLIT_FILE,
    encoder_path,
    holds_model,
    load_model,
    read_split,
    remove_model,
    save_model,
)

__all__ = ["synthetic", "prepare_images", "pretrain", "embed", "finetune", "explain", "gwas",
           "estimator_params"]

log = logging.getLogger("sklearn_contig.cli")

#: Parameters of the downstream estimators that fine-tuning takes from the model folder.
FROM_MODEL_FOLDER = ("encoder", "image_encoder")

#: Inputs that name a cohort, shared by the stages that read one.
COHORT_KEYS = ("images", "image_size", "genotypes", "every", "maf", "pgs", "burden")


def _write_json(path, obj):
    def default(o):
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        return str(o)

    Path(path).write_text(json.dumps(obj, indent=1, default=default))


def _remove_stale(folder, names):
    """Delete the outputs ``names`` of an earlier run from ``folder`` (those not written this time)."""
    for name in names:
        path = Path(folder) / name
        if path.is_file():
            path.unlink()
            log.info("removed %s of an earlier run", path)


def _elapsed(t0):
    return round(time.perf_counter() - t0, 2)


def estimator_params(cls, params, where):
    """Check that every key of ``params`` is a parameter of ``cls``."""
    params = dict(params or {})
    valid = cls().get_params(deep=False) if cls.__name__ != "Explainer" else {}
    if cls.__name__ == "Explainer":
        import inspect

        valid = [p for p in inspect.signature(cls).parameters if p != "pretrainer"]
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ValueError(f"{where}: unknown {cls.__name__} parameter {unknown[0]!r}; "
                         f"valid names are {sorted(valid)}")
    return params


def _cohort(cohort):
    cohort = dict(cohort or {})
    unknown = sorted(set(cohort) - set(COHORT_KEYS))
    if unknown:
        raise ValueError(f"unknown cohort input {unknown[0]!r}; valid names are {list(COHORT_KEYS)}")
    return load_cohort(**cohort)


def _select(ds, split, which):
    """Samples of ``ds`` whose individual is in the ``which`` part of ``split``."""
    ind = np.asarray(ds["individual"].values).astype(str)
    keep = np.flatnonzero(pd.Series(ind).map(split).to_numpy() == which)
    if len(keep) < 2:
        raise ValueError(f"fewer than 2 samples of the cohort are in the {which!r} individuals "
                         "of the model's split")
    return ds.isel(sample=keep)


def _warn_outside_split(ds, split, model, stage):
    """Warn that cohort individuals absent from the model's ``split.csv`` are excluded."""
    people = pd.unique(np.asarray(ds["individual"].values).astype(str))
    outside = people[~np.isin(people, split.index.to_numpy().astype(str))]
    if len(outside):
        path = Path(model) / SPLIT_FILE
        warnings.warn(
            f"{len(outside)} of {len(people)} individuals of the cohort are not in the model's "
            f"split {str(path)!r} and are excluded from {stage}, e.g. {outside[:5].tolist()}",
            UserWarning, stacklevel=3)


def _categories_as_indicators(cov, where):
    """Numeric covariates: text, categorical and boolean columns as 0/1 indicators.

    Each such column becomes one indicator per level but the first (sorted), named
    ``<column>_<level>`` (whitespace in a level becomes ``_``); a missing value
    stays missing in every indicator. A text column with a different value in
    each row (more than two; an id or free text) raises a :class:`ValueError`.
    """
    out = {}
    for col in cov.columns:
        values = cov[col]
        if pd.api.types.is_bool_dtype(values.dtype):
            out[str(col)] = values.astype(np.float64)
            continue
        if pd.api.types.is_numeric_dtype(values.dtype):
            out[str(col)] = values
            continue
        levels = sorted(map(str, values.dropna().unique()))
        if len(levels) > 2 and len(levels) == values.notna().sum():
            raise ValueError(
                f"{where}: text column {col!r} has a different value in each of its "
                f"{len(levels)} rows; an id or free-text column cannot be a covariate: remove "
                "it or code it as numbers")
        text = values.astype(str).where(values.notna())
        for level in levels[1:]:
            name = f"{col}_{'_'.join(level.split())}"
            out[name] = (text == level).astype(np.float64).where(values.notna())
    return pd.DataFrame(out, index=cov.index)


# ---------------------------------------------------------------- synthetic


def synthetic(out, *, n_individuals=300, image_size=32, masks=True, **kwargs) -> dict:
    """Write the built-in synthetic biobank as files a real cohort would come in.

    :func:`~sklearn_contig.datasets.generate_to_disk` writes the images, the
    PLINK genotypes and the truth; the polygenic and burden scores and the labels
    are written as CSV tables and, with ``masks``, the optic-disc masks as PNG.

    Returns
    -------
    paths : dict
        ``images``, ``genotypes``, ``pgs``, ``burden``, ``labels``, ``masks``,
        ``truth``, ``traits``.
    """
    from ..datasets import generate_to_disk, make_imaging_genetics, write_image_folder

    t0 = time.perf_counter()
    out = Path(out)
    log.info("writing a synthetic biobank of %d individuals (%d px) to %s", n_individuals,
             image_size, out)
    kwargs.setdefault("format", "png")
    ds = generate_to_disk(out, n_individuals, image_size, **kwargs)
    for name in ("pgs", "burden"):
        table = ds[name].to_pandas()
        table.index = pd.Index(np.asarray(ds["individual"].values).astype(str), name="IID")
        table[~table.index.duplicated()].to_csv(out / f"{name}.csv")
    labels = pd.DataFrame({"sample": ds["sample"].values, "individual": ds["individual"].values,
                           "grade": ds["grade"].values})
    for name, dim in (("diseases", "disease"), ("risk", "factor")):
        for j, col in enumerate(ds[dim].values):
            labels[f"{name}_{col}"] = ds[name].values[:, j]
    labels.to_csv(out / "labels.csv", index=False)
    # the index, not the folder: a folder's file names are sample ids, and with two
    # eyes per person those are not the individual ids the genetics are keyed by
    paths = {"images": str(out / "images" / "images.csv"), "genotypes": str(out / "genotypes.bed"),
             "pgs": str(out / "pgs.csv"), "burden": str(out / "burden.csv"),
             "labels": str(out / "labels.csv"), "truth": str(out / "truth.json"),
             "traits": str(out / "traits.csv")}
    if masks:
        gen_keys = ("eyes", "genotypes", "missing", "heritability", "genetic_shares", "n_snps",
                    "n_pgs", "n_genes", "simulator", "random_state")
        mem, _ = make_imaging_genetics(n_individuals, image_size,
                                       **{k: v for k, v in kwargs.items() if k in gen_keys})
        m = (mem["disc_mask"].values > 0).astype(np.uint8)[:, None] * 255
        mask_ds = mem[["sample"]].assign(image=(("sample", "channel", "y", "x"), np.repeat(m, 3, 1)))
        write_image_folder(mask_ds, out / "masks", format="png")
        paths["masks"] = str(out / "masks")
    _write_json(out / "paths.json", paths)
    log.info("synthetic biobank written in %.1f s", _elapsed(t0))
    return paths


# ---------------------------------------------------------------- prepare-images


def prepare_images(source, store, **kwargs) -> dict:
    """Crop, resize and quality-filter images into a zarr store
    (:func:`sklearn_contig.data.prepare_images`)."""
    from ..data import prepare_images as _prepare

    t0 = time.perf_counter()
    result = _prepare(source, store, **kwargs)
    summary = {k: (v if np.isscalar(v) or v is None else str(v)) for k, v in dict(result).items()}
    summary["seconds"] = _elapsed(t0)
    log.info("prepared images into %s in %.1f s", store, summary["seconds"])
    return summary


# ---------------------------------------------------------------- pretrain


def _cohort_summary(ds, train, test) -> dict:
    presence = ds.contig.presence()
    mods = {m: {"features": int(ds[m].shape[1]), "present": float(presence[m].mean())}
            for m in ds.contig.modalities}
    image = ds["image"]
    return {
        "n_samples": int(ds.sizes["sample"]),
        "n_individuals": int(len(pd.unique(ds["individual"].values))),
        "image_shape": [int(s) for s in image.shape[1:]],
        "modalities": mods,
        "n_train_individuals": int(len(pd.unique(train["individual"].values))),
        "n_held_out_individuals": int(len(pd.unique(test["individual"].values))),
    }


def _held_out_scores(model, test, modalities) -> dict:
    n = int(test.sizes["sample"])
    k = min(10, n)
    top1 = model.retrieval_accuracy(test, k=1, chunk_size=n)
    topk = model.retrieval_accuracy(test, k=k, chunk_size=n)
    loss = model.contrastive_loss(test)
    # the chance level of the retrieval depends on how many of the searched rows
    # (the samples that have the modality) each individual has
    present = test.contig.presence(modalities)
    ind = np.asarray(test["individual"].values).astype(str)
    rows = {}
    for m in modalities:
        sizes = pd.Series(ind[present[m]]).value_counts().value_counts().sort_index()
        rows[m] = {str(s): int(c) for s, c in sizes.items()}
    return {"top1": {m: float(top1[m]) for m in modalities if m in top1},
            f"top{k}": {m: float(topk[m]) for m in modalities if m in topk},
            "loss": float(loss["mean"]), "k": k, "n": n, "rows_per_individual": rows}


def pretrain(out, *, cohort, params=None, test_size=0.3, random_state=0, traits=None) -> dict:
    """Pretrain ContIG on the training individuals; score it on the held-out ones.

    Writes the model folder (:func:`~sklearn_contig.cli._model.save_model`), the
    split of individuals (``split.csv``), example images and ``summary.json``:
    cohort summary, held-out retrieval and contrastive loss against the same
    network untrained and, with ``traits`` (a table of latent traits per
    individual), linear-probe R^2 of each trait from the embeddings
    (``trait_probes.csv``).

    A model already in ``out`` is replaced, with a warning. ``split.csv`` is
    written only once the new model is saved, so a failed run leaves the old
    model with its own split; the outputs of an earlier run that this one does
    not write (``trait_probes.csv`` without ``traits``) are removed.
    """
    from ..data import split_individuals
    from ..pretraining import ContIGPretrainer

    params = estimator_params(ContIGPretrainer, params, "pretrain")
    params.setdefault("random_state", random_state)
    t0 = time.perf_counter()
    out = Path(out)
    table = read_table(traits, "traits") if traits is not None else None
    ds = _cohort(cohort)
    train, test = split_individuals(ds, test_size=test_size, random_state=random_state)
    held_ind = np.asarray(test["individual"].values).astype(str)
    if table is not None and not np.isin(held_ind, table.index).all():
        missing = pd.unique(held_ind[~np.isin(held_ind, table.index)])
        raise ValueError(f"traits {str(traits)!r}: the table lacks {len(missing)} held-out "
                         f"individuals, e.g. {missing[:5].tolist()}")
    if holds_model(out):
        warnings.warn(f"pretrain: output folder {str(out)!r} already holds a model; it is replaced "
                      "by the model trained now (its encoder and split.csv included)",
                      UserWarning, stacklevel=2)
    split = pd.DataFrame({"individual": pd.unique(np.concatenate([
        np.asarray(train["individual"].values).astype(str), held_ind]))})
    split["split"] = np.where(split["individual"].isin(set(held_ind)), "held_out", "train")
    summary = {"cohort": _cohort_summary(ds, train, test), "params": params}
    log.info("pretraining on %d samples of %d training individuals (%d held out)",
             train.sizes["sample"], summary["cohort"]["n_train_individuals"],
             summary["cohort"]["n_held_out_individuals"])
    model = ContIGPretrainer(**params).fit(train)
    summary["fit_seconds"] = _elapsed(t0)
    summary["best_epoch"] = int(model.best_epoch_) if model.best_epoch_ is not None else None
    out.mkdir(parents=True, exist_ok=True)
    save_model(model, out)
    # the split goes with the model it was trained on: written whole, then renamed
    part = out / f"{SPLIT_FILE}.part"
    split.to_csv(part, index=False)
    os.replace(part, out / SPLIT_FILE)
    # what an earlier run wrote here described the replaced model
    _remove_stale(out, ["summary.json", "trait_probes.csv"])
    log.info("model written to %s (%.1f s)", out, summary["fit_seconds"])

    untrained = ContIGPretrainer(**{**params, "max_epochs": 0, "verbose": 0}).fit(train)
    mods = list(model.modalities_)
    summary["held_out"] = {"ContIG": _held_out_scores(model, test, mods),
                           "untrained": _held_out_scores(untrained, test, mods)}
    summary["batch_size"] = int(model.batch_size_)
    if table is not None:
        from ..evaluation import linear_probe_r2

        y = table.loc[held_ind]
        groups = held_ind
        probes = pd.DataFrame({
            "untrained": linear_probe_r2(untrained.transform(test), y, groups=groups),
            "ContIG": linear_probe_r2(model.transform(test), y, groups=groups),
        })
        probes.index.name = "trait"
        probes.to_csv(out / "trait_probes.csv")
    n_ex = min(8, int(ds.sizes["sample"]))
    np.save(out / "examples.npy", np.asarray(ds["image"].isel(sample=slice(0, n_ex)).values))
    summary["seconds"] = _elapsed(t0)
    _write_json(out / "summary.json", summary)
    return summary


# ---------------------------------------------------------------- embed


def embed(model, out, *, cohort, split=None) -> dict:
    """Image embeddings of a cohort, indexed by (sample, individual), as Parquet or CSV.

    ``split`` (``"train"`` or ``"held_out"``) keeps only those individuals of the
    model's split.
    """
    t0 = time.perf_counter()
    out = Path(out)
    if out.suffix not in (".parquet", ".csv"):
        raise ValueError(f"embeddings path must end in .parquet or .csv, got {str(out)!r}")
    if split not in (None, "train", "held_out"):
        raise ValueError(f"split must be 'train', 'held_out' or None, got {split!r}")
    est = load_model(model)
    ds = _cohort(cohort)
    if split is not None:
        parts = read_split(model)
        if parts is None:
            raise ValueError(f"split={split!r} but model folder {str(model)!r} has no split.csv")
        _warn_outside_split(ds, parts, model, "embed")
        ds = _select(ds, parts, split)
    log.info("embedding %d samples", ds.sizes["sample"])
    emb = est.set_output(transform="pandas").transform(ds)
    emb.columns = [str(c) for c in emb.columns]
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".parquet":
        emb.to_parquet(out)
    else:
        emb.to_csv(out)
    log.info("wrote %s (%d x %d) in %.1f s", out, *emb.shape, _elapsed(t0))
    return {"path": str(out), "shape": list(emb.shape), "seconds": _elapsed(t0)}


def read_embeddings(path) -> pd.DataFrame:
    """Embeddings written by :func:`embed` (index ``sample``, ``individual``)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"embeddings {str(path)!r} do not exist")
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    table = pd.read_csv(path, dtype={"sample": str, "individual": str})
    keys = [c for c in ("sample", "individual") if c in table.columns]
    if not keys:
        raise ValueError(f"embeddings {str(path)!r}: no sample or individual column")
    return table.set_index(keys)


# ---------------------------------------------------------------- finetune


def _labelled_part(ds, split, n_labelled, random_state):
    train = _select(ds, split, "train")
    people = pd.unique(np.asarray(train["individual"].values).astype(str))
    if n_labelled is not None and n_labelled < len(people):
        rng = np.random.default_rng(random_state)
        chosen = set(rng.choice(people, size=int(n_labelled), replace=False))
        ind = np.asarray(train["individual"].values).astype(str)
        train = train.isel(sample=np.flatnonzero(np.isin(ind, list(chosen))))
    return train, _select(ds, split, "held_out")


def finetune(model, out, *, cohort, target=None, labels=None, masks=None, task="auto",
             n_labelled=None, compare_scratch=True, test_size=0.3, random_state=0,
             params=None) -> dict:
    """Fine-tune the pretrained encoder on a labelled task; score on held-out individuals.

    ``task="segmentation"`` trains a :class:`~sklearn_contig.ContIGSegmenter` on
    ``masks`` (an image folder or CSV, matched by sample id); any other task a
    :class:`~sklearn_contig.ContIGClassifier` on column(s) ``target`` of
    ``labels``. Training uses ``n_labelled`` of the model's training individuals
    (all when None); the score (the estimator's metric) is measured on the
    held-out individuals. With ``compare_scratch`` the same network trained from
    random initialisation is scored too.

    The encoder is the model folder's (``encoder.safetensors``) and the
    from-scratch network has the folder's architecture: ``params`` naming
    ``encoder`` or ``image_encoder`` raise ``ValueError``. Outputs of an earlier
    run that this one does not write (``examples.npz`` of a segmentation, the
    ``scratch`` model without ``compare_scratch``) are removed.
    """
    from ..downstream import ContIGClassifier, ContIGSegmenter

    segment = task == "segmentation"
    cls = ContIGSegmenter if segment else ContIGClassifier
    params = estimator_params(cls, params, "finetune")
    for name in FROM_MODEL_FOLDER:
        if name in params:
            raise ValueError(
                f"finetune: {name!r} (--{name.replace('_', '-')}) cannot be set: fine-tuning starts "
                f"from the model folder's encoder ({ENCODER_FILE}) and the from-scratch model uses "
                "the model folder's architecture; pretrain another model folder to change them")
    params.setdefault("random_state", random_state)
    if segment and masks is None:
        raise ValueError("task='segmentation' needs masks (an image folder or CSV of masks)")
    if not segment and target is None:
        raise ValueError(f"task={task!r} needs target (the label column(s) of labels)")
    if not segment and labels is None:
        raise ValueError(f"task={task!r} needs labels (a table with a {target!r} column)")
    t0 = time.perf_counter()
    out = Path(out)
    enc = encoder_path(model)
    pre = load_model(model)
    ds = _cohort(cohort)
    if segment:
        ds, target = add_masks(ds, masks), "mask"
    else:
        ds = add_labels(ds, read_table(labels, "labels"), target, where=f"labels {str(labels)!r}")
        target = target if isinstance(target, str) else "labels"
        params.setdefault("task", task)
    split = read_split(model)
    if split is None:
        from ..data import split_individuals

        _, held = split_individuals(ds, test_size=test_size, random_state=random_state)
        held = set(np.asarray(held["individual"].values).astype(str))
        ind = pd.unique(np.asarray(ds["individual"].values).astype(str))
        split = pd.Series(np.where(np.isin(ind, list(held)), "held_out", "train"), index=ind)
    else:
        _warn_outside_split(ds, split, model, "finetune")
    train, test = _labelled_part(ds, split, n_labelled, random_state)
    from ..data import Samples

    out.mkdir(parents=True, exist_ok=True)
    summary = {"task": "segmentation" if segment else task, "target": target,
               "n_train_individuals": int(len(pd.unique(train["individual"].values))),
               "n_test_individuals": int(len(pd.unique(test["individual"].values))),
               "scores": {}}
    variants = {"ContIG": {"encoder": str(enc)}}
    if compare_scratch:
        variants["scratch"] = {"encoder": None, "image_encoder": pre.image_encoder}
    for name, extra in variants.items():
        log.info("fine-tuning %s (%s) on %d labelled individuals", name, target,
                 summary["n_train_individuals"])
        est = cls(**{**params, **extra, "target": target}).fit(Samples(train))
        summary["scores"][name] = float(est.score(Samples(test)))
        if not segment:
            summary["metric"] = "quadratic weighted kappa" if est.task_ == "ordinal" else (
                "micro ROC-AUC" if est.task_ == "multilabel" else "accuracy")
            summary["task"] = est.task_
        else:
            summary["metric"] = "Dice"
        save_model(est, out / name, metrics={"held_out_score": summary["scores"][name]},
                   encoder=False)
        log.info("%s: held-out %s %.3f", name, summary["metric"], summary["scores"][name])
        if segment and name == "ContIG":
            n_ex = min(4, int(test.sizes["sample"]))
            sub = test.isel(sample=slice(0, n_ex))
            np.savez_compressed(out / "examples.npz", image=np.asarray(sub["image"].values),
                                mask=np.asarray(sub["mask"].values),
                                pred=np.asarray(est.predict(Samples(sub))))
    if not segment:
        _remove_stale(out, ["examples.npz"])
    if not compare_scratch and (out / "scratch").is_dir():
        remove_model(out / "scratch")
        log.info("removed the scratch model of an earlier run from %s", out)
    summary["seconds"] = _elapsed(t0)
    _write_json(out / "summary.json", summary)
    return summary


# ---------------------------------------------------------------- explain


def _causal_sets(truth):
    if truth is None:
        return {}
    causal = json.loads(Path(truth).read_text())["causal"]
    sets = {}
    for per_mod in causal.values():
        for mod, feats in per_mod.items():
            sets.setdefault(mod, set()).update(map(str, feats))
    return sets


def explain(model, out, *, cohort, n_explain=50, split="held_out", truth=None, top_k=20,
            params=None, random_state=0) -> dict:
    """Global and local attributions of the genetic features (and image maps).

    The reference batch and the explained people are disjoint sets of the
    ``split`` individuals (held-out by default). Writes ``global_<modality>.csv``
    (feature, attribution, rank, and ``causal`` when ``truth`` is given),
    ``local_<modality>.csv`` (signed, one row per explained sample) and, with
    ``attribute_image=True``, the image maps as ``image_maps.npz``. Those files of
    an earlier run that this one does not write are removed.
    """
    from ..datasets._cohort import MODALITIES
    from ..explain import Explainer

    params = estimator_params(Explainer, params, "explain")
    params.setdefault("random_state", random_state)
    t0 = time.perf_counter()
    out = Path(out)
    est = load_model(model)
    ds = _cohort(cohort)
    parts = read_split(model)
    if parts is not None and split is not None:
        _warn_outside_split(ds, parts, model, "explain")
        ds = _select(ds, parts, split)
    people = pd.unique(np.asarray(ds["individual"].values).astype(str))
    rng = np.random.default_rng(random_state)
    n_explain = int(min(n_explain, len(people) // 2))
    explained = set(rng.choice(people, size=n_explain, replace=False))
    ind = np.asarray(ds["individual"].values).astype(str)
    is_x = np.isin(ind, list(explained))
    ref, target = ds.isel(sample=np.flatnonzero(~is_x)), ds.isel(sample=np.flatnonzero(is_x))
    params.setdefault("n_reference", min(1000, int(ref.sizes["sample"])))
    params["n_reference"] = min(int(params["n_reference"]), int(ref.sizes["sample"]))
    log.info("explaining %d samples against a reference batch of %d", target.sizes["sample"],
             params["n_reference"])
    explainer = Explainer(est, **params).fit(ref)
    local = explainer.local(target)
    causal = _causal_sets(truth)
    out.mkdir(parents=True, exist_ok=True)
    from ..explain import aggregate

    glob = aggregate(local)
    # the fitted reference batch holds one sample per individual: it can be
    # smaller than the requested size
    summary = {"modalities": list(explainer.modalities_), "n_explained": int(target.sizes["sample"]),
               "method": str(explainer.method), "n_reference": int(explainer.n_reference_),
               "n_reference_requested": int(params["n_reference"]), "top": {}}
    for mod in explainer.modalities_:
        g = glob[mod].to_pandas().sort_values(ascending=False)
        table = pd.DataFrame({"feature": g.index.astype(str), "attribution": g.to_numpy()})
        table["rank"] = np.arange(1, len(table) + 1)
        if truth is not None:
            table["causal"] = table["feature"].isin(causal.get(mod, set()))
            pos = table["causal"].to_numpy()
            if 0 < pos.sum() < len(pos):
                from sklearn.metrics import roc_auc_score

                summary.setdefault("auc", {})[mod] = float(
                    roc_auc_score(pos, np.nan_to_num(table["attribution"].to_numpy())))
        table.to_csv(out / f"global_{mod}.csv", index=False)
        loc = local[mod].to_pandas()
        loc.index = loc.index.astype(str)
        loc.to_csv(out / f"local_{mod}.csv")
        summary["top"][mod] = table.head(top_k)["feature"].tolist()
    if "image" in local:
        n_ex = min(4, int(target.sizes["sample"]))
        np.savez_compressed(out / "image_maps.npz",
                            image=np.asarray(target["image"].isel(sample=slice(0, n_ex)).values),
                            attribution=np.asarray(local["image"].values[:n_ex]))
    else:
        _remove_stale(out, ["image_maps.npz"])
    _remove_stale(out, [f"{kind}_{mod}.csv" for mod in MODALITIES if mod not in explainer.modalities_
                        for kind in ("global", "local")])
    summary["seconds"] = _elapsed(t0)
    _write_json(out / "summary.json", summary)
    log.info("attributions written to %s in %.1f s", out, summary["seconds"])
    return summary


# ---------------------------------------------------------------- gwas


def gwas(embeddings, genotypes, out, *, covariates=None, n_pcs=5, n_components=10, truth=None,
         p1=5e-8, threads=None, random_state=0) -> dict:
    """GWAS on embedding principal components with PLINK 2; regions with PLINK 1.9.

    ``covariates`` is a table indexed by individual: every column but the id
    and family id is a covariate, text ones (sex ``F``/``M``) as 0/1 indicators
    of each level but the first; when None, ``n_pcs`` genetic principal
    components (``plink2 --pca``) are used (0 for none). Writes
    ``phenotypes.csv``, ``results.tsv`` (one row per SNP x component),
    ``regions.csv`` and ``summary.json`` (regions, lambda_GC, planted loci found
    when ``truth`` is given).
    """
    from ..gwas import (
        GWASTransformer,
        count_independent_regions,
        genetic_pcs,
        genomic_inflation,
        min_p_across,
        run_gwas,
    )

    t0 = time.perf_counter()
    out = Path(out)
    emb = read_embeddings(embeddings)
    if not Path(genotypes).exists():
        raise FileNotFoundError(f"genotypes {str(genotypes)!r} do not exist")
    if covariates is not None:
        where = f"covariates {str(covariates)!r}"
        cov = _categories_as_indicators(read_table(covariates, "covariates"), where)
    elif n_pcs:
        log.info("genetic principal components (plink2 --pca, %d)", n_pcs)
        cov = genetic_pcs(genotypes, n_pcs=n_pcs, threads=threads)
    else:
        cov = None
    n_people = len(pd.unique(emb.index.get_level_values("individual")))
    n_components = int(min(n_components, n_people - 1, emb.shape[1]))
    pheno = GWASTransformer(n_components, covariates=cov, random_state=random_state).fit_transform(emb)
    out.mkdir(parents=True, exist_ok=True)
    pheno.to_csv(out / "phenotypes.csv")
    log.info("plink2 --glm on %d phenotypes of %d individuals", pheno.shape[1], len(pheno))
    results = run_gwas(pheno, genotypes, covariates=cov, threads=threads)
    results.to_csv(out / "results.tsv", sep="\t", index=False)
    n_regions, clumps = count_independent_regions(results, genotypes, p1=p1)
    clumps.to_csv(out / "regions.csv", index=False)
    combined = min_p_across(results)
    summary = {"n_individuals": int(len(pheno)), "n_components": n_components,
               "n_snps": int(len(combined)), "n_regions": int(n_regions),
               "lambda_gc": float(genomic_inflation(combined["P"])),
               "covariates": [] if cov is None else list(map(str, cov.columns))}
    if truth is not None:
        loci = json.loads(Path(truth).read_text())["loci"]
        planted = sorted({str(s) for snps in loci.values() for s in snps})
        p = combined.set_index(combined["SNP"].astype(str))["P"]
        bonf = 0.05 / max(len(combined), 1)
        summary["planted"] = {"n": len(planted), "bonferroni": bonf,
                              "found": int((p.reindex(planted) < bonf).sum()),
                              "genome_wide": int((p.reindex(planted) < p1).sum())}
    summary["seconds"] = _elapsed(t0)
    _write_json(out / "summary.json", summary)
    log.info("GWAS: %d independent regions, lambda_GC %.2f (%.1f s)", n_regions,
             summary["lambda_gc"], summary["seconds"])
    return summary
