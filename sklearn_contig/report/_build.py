"""One self-contained HTML page of a run: every stage's tables and figures."""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
import pandas as pd

from . import _figures as F

__all__ = ["build_report", "SECTIONS", "MANIFEST"]

#: Section ids of the page, in order.
SECTIONS = ("cohort", "pretraining", "finetuning", "explanation", "gwas")
#: File a run writes into its output folder, naming the folder of each stage.
MANIFEST = "manifest.json"

_CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{border-bottom:2px solid #444} h2{margin-top:2em;border-bottom:1px solid #bbb}
figure{display:inline-block;margin:.5em 1em .5em 0;vertical-align:top}
figcaption{font-size:.85em;color:#555;max-width:560px}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
td,th{border:1px solid #ccc;padding:2px 8px;text-align:right} th{background:#f3f3f3}
.note{color:#666;font-size:.9em}
"""


#: Names of the attribution methods of :class:`~sklearn_contig.explain.Explainer`.
_METHODS = {"integrated_gradients": "Integrated-gradients", "deeplift": "DeepLIFT",
            "noise_tunnel": "Noise-tunnel (SmoothGrad over integrated-gradients)"}


def _read_json(path):
    return json.loads(Path(path).read_text()) if path and Path(path).exists() else None


class _Page:
    def __init__(self, title):
        self.title = title
        self.parts = []
        self.n_figures = 0

    def section(self, key, heading):
        self.parts.append(f'<section id="{key}"><h2>{html.escape(heading)}</h2>')

    def end(self):
        self.parts.append("</section>")

    def text(self, s, cls=None):
        attr = f' class="{cls}"' if cls else ""
        self.parts.append(f"<p{attr}>{html.escape(s)}</p>")

    def table(self, df, floatfmt="{:.3f}"):
        self.parts.append(df.to_html(float_format=floatfmt.format, border=0))

    def figure(self, fig, caption):
        self.n_figures += 1
        b64 = F.to_base64_png(fig)
        self.parts.append(
            f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{b64}">'
            f"<figcaption>Figure {self.n_figures}. {html.escape(caption)}</figcaption></figure>")

    def html(self):
        body = "\n".join(self.parts)
        return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
                f"<title>{html.escape(self.title)}</title><style>{_CSS}</style></head>"
                f"<body><h1>{html.escape(self.title)}</h1>\n{body}\n</body></html>\n")


def _cohort(page, pre, pre_dir):
    page.section("cohort", "Cohort")
    if pre is None:
        page.text("No pretraining stage in this run.", "note")
        return page.end()
    c = pre["cohort"]
    page.text(f"{c['n_samples']} samples of {c['n_individuals']} individuals, images "
              f"{' x '.join(map(str, c['image_shape']))}; pretraining on {c['n_train_individuals']} "
              f"individuals, {c['n_held_out_individuals']} held out for evaluation and the GWAS.")
    mods = pd.DataFrame(c["modalities"]).T
    mods.index.name = "modality"
    page.table(mods, "{:.2f}")
    if (pre_dir / "examples.npy").exists():
        page.figure(F.example_images(np.load(pre_dir / "examples.npy")), "Example images of the cohort.")
    page.figure(F.presence(c["modalities"]), "Genetic modalities: share of samples that have each.")
    page.end()


def _pretraining(page, pre, pre_dir):
    page.section("pretraining", "ContIG pretraining")
    if pre is None:
        page.text("No pretraining stage in this run.", "note")
        return page.end()
    params = ", ".join(f"{k}={v!r}" for k, v in pre.get("params", {}).items())
    page.text(f"ContIGPretrainer({params}); {pre.get('fit_seconds', float('nan')):.0f} s, "
              f"best epoch {pre.get('best_epoch')}.")
    hist = pd.read_csv(pre_dir / "history.csv") if (pre_dir / "history.csv").exists() else None
    if hist is not None and len(hist):
        chance = np.log(pre["batch_size"]) if "batch_size" in pre else None
        page.figure(F.training_curves(hist, chance), "Training curves: contrastive loss per epoch "
                    "(train dotted, held-out validation individuals solid).")
    ho = pre["held_out"]
    k = ho["ContIG"]["k"]
    rows = {m: {"held-out loss": v["loss"], **{f"top-1 {mod}": a for mod, a in v["top1"].items()},
                **{f"top-{k} {mod}": a for mod, a in v[f"top{k}"].items()}} for m, v in ho.items()}
    chances = F.retrieval_chances(ho["ContIG"])
    if chances is not None:
        rows["chance"] = {f"top-{1 if key == 'top1' else k} {mod}": c
                          for key, per_mod in chances.items() for mod, c in per_mod.items()}
    page.table(pd.DataFrame(rows).T)
    chance_text = ("chance (dashed) is the expected score of random embeddings given the "
                   "images per individual" if chances is not None else
                   "chance (dashed) assumes one image per individual, as this run's summary "
                   "does not record the images per individual")
    page.figure(F.retrieval(ho), f"Held-out cross-modal retrieval: share of held-out images whose own "
                f"genetics rank in the top {k} of all held-out samples, ContIG vs the same "
                f"network untrained; {chance_text}.")
    if (pre_dir / "trait_probes.csv").exists():
        probes = pd.read_csv(pre_dir / "trait_probes.csv", index_col=0)
        page.table(probes)
        page.figure(F.grouped_bars(probes, "linear-probe R^2", "planted traits, held-out individuals"),
                    "Trait probes: R^2 of a cross-validated linear model predicting each planted "
                    "visual trait from the image embedding.")
    page.end()


def _finetuning(page, stages):
    page.section("finetuning", "Fine-tuning with few labels, vs training from scratch")
    if not stages:
        page.text("No fine-tuning stage in this run.", "note")
        return page.end()
    rows, seg_dir = {}, None
    for name, folder in stages.items():
        s = _read_json(Path(folder) / "summary.json")
        if s is None:
            continue
        label = f"{name} ({s.get('metric', 'score')})"
        rows[label] = {**s["scores"], "labelled individuals": s["n_train_individuals"],
                       "held-out individuals": s["n_test_individuals"]}
        if (Path(folder) / "examples.npz").exists():
            seg_dir = Path(folder)
    table = pd.DataFrame(rows).T
    page.table(table)
    scores = table[[c for c in ("ContIG", "scratch") if c in table.columns]]
    page.figure(F.grouped_bars(scores, "held-out score", "ContIG encoder vs scratch"),
                "Fine-tuning results on held-out individuals: each task's metric for the "
                "ContIG-pretrained encoder and for the same network from random weights.")
    for name, folder in stages.items():
        h = Path(folder) / "ContIG" / "history.csv"
        if h.exists():
            hist = pd.read_csv(h)
            if len(hist) and "train_loss" in hist:
                page.figure(F.training_curves(hist[["epoch"] + [c for c in hist if c.endswith("loss")]],
                                              title="task loss"),
                            f"Fine-tuning curve of {name} (ContIG encoder).")
    if seg_dir is not None:
        ex = np.load(seg_dir / "examples.npz")
        page.figure(F.segmentation_examples(ex["image"], ex["mask"], ex["pred"]),
                    "Segmentation of held-out images with the ContIG encoder.")
    page.end()


def _explanation(page, folder):
    page.section("explanation", "Which genetic features does the model link to the images?")
    s = _read_json(Path(folder) / "summary.json") if folder else None
    if s is None:
        page.text("No explanation stage in this run.", "note")
        return page.end()
    method = _METHODS.get(s.get("method"), s.get("method") or "Feature")
    reference = str(s["n_reference"])
    requested = s.get("n_reference_requested")
    if requested is not None:
        # the fitted size: one sample per individual, at most the requested size
        reference += " individuals (one sample each" + (
            f"; {requested} requested)" if requested != s["n_reference"] else ")")
    page.text(f"{method} attributions of {s['n_explained']} held-out samples against a "
              f"reference batch of {reference}; planted (causal) features in red.")
    # feature names are text: "NA" or "007" are names, not a missing value or a number
    tables = {m: pd.read_csv(Path(folder) / f"global_{m}.csv", dtype={"feature": str},
                             keep_default_na=False, na_values={"attribution": ["", "NaN", "nan"]})
              for m in s["modalities"]}
    if s.get("auc"):
        auc = pd.Series(s["auc"], name="ROC-AUC causal vs noise").to_frame()
        auc.index.name = "modality"
        page.table(auc)
    page.figure(F.top_features(tables), "Top attributed features per modality (mean |attribution|).")
    maps = Path(folder) / "image_maps.npz"
    if maps.exists():
        m = np.load(maps)
        page.figure(F.image_maps(m["image"], m["attribution"]),
                    "Image attribution maps of held-out samples.")
    page.end()


def _gwas(page, folder, planted):
    page.section("gwas", "GWAS on the image embeddings of held-out individuals")
    s = _read_json(Path(folder) / "summary.json") if folder else None
    if s is None:
        page.text("No GWAS stage in this run.", "note")
        return page.end()
    text = (f"plink2 --glm on {s['n_components']} embedding components of {s['n_individuals']} "
            f"held-out individuals, {s['n_snps']} SNPs, covariates {', '.join(s['covariates']) or 'none'}: "
            f"{s['n_regions']} independent regions (plink1.9 --clump), lambda_GC {s['lambda_gc']:.2f}.")
    if "planted" in s:
        p = s["planted"]
        text += (f" Planted loci found: {p['found']} of {p['n']} at Bonferroni p < {p['bonferroni']:.1e}, "
                 f"{p['genome_wide']} at p < 5e-8.")
    page.text(text)
    results = pd.read_csv(Path(folder) / "results.tsv", sep="\t", dtype={"SNP": str})
    page.figure(F.manhattan(results, planted), "Manhattan plot (planted loci in red).")
    page.figure(F.qq(results), "QQ plot of all association p-values.")
    page.end()


def build_report(run_dir, path=None, *, title="sklearn-contig report") -> Path:
    """Write one self-contained HTML page (figures as base64 PNG) of a run.

    Parameters
    ----------
    run_dir : str or path-like
        Output folder of ``sklearn-contig run`` holding ``manifest.json``
        (``{"stages": {"pretrain": dir, "finetune": {name: dir}, "explain": dir,
        "gwas": dir}, "truth": path}``; stage folders relative to ``run_dir``).
    path : str or path-like, default=None
        Where to write; ``run_dir/report.html`` when None.
    title : str, default="sklearn-contig report"

    Returns
    -------
    path : pathlib.Path

    Examples
    --------
    >>> import json, pathlib, tempfile
    >>> with tempfile.TemporaryDirectory() as run:
    ...     _ = pathlib.Path(run, "manifest.json").write_text(json.dumps({"stages": {}}))
    ...     build_report(run).name
    'report.html'
    """
    run_dir = Path(run_dir)
    manifest = _read_json(run_dir / MANIFEST)
    if manifest is None:
        raise FileNotFoundError(f"no {MANIFEST} in {str(run_dir)!r}: is it the output folder of a run?")
    stages = manifest.get("stages", {})

    def at(p):
        return None if p is None else run_dir / p

    pre_dir = at(stages.get("pretrain"))
    pre = _read_json(pre_dir / "summary.json") if pre_dir else None
    truth = _read_json(at(manifest.get("truth"))) if manifest.get("truth") else None
    planted = sorted({str(s) for snps in truth["loci"].values() for s in snps}) if truth else None
    page = _Page(manifest.get("title", title))
    if manifest.get("seconds"):
        page.text(f"Run time {manifest['seconds']:.0f} s.", "note")
    _cohort(page, pre, pre_dir)
    _pretraining(page, pre, pre_dir)
    _finetuning(page, {k: at(v) for k, v in stages.get("finetune", {}).items()})
    _explanation(page, at(stages.get("explain")))
    _gwas(page, at(stages.get("gwas")), planted)
    path = Path(path) if path is not None else run_dir / "report.html"
    path.write_text(page.html(), encoding="utf-8")
    return path
