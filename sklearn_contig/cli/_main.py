"""``sklearn-contig``: one subcommand per stage, and ``run CONFIG.toml`` for all of them."""

from __future__ import annotations

import argparse
import inspect
import logging
import sys
import tomllib

__all__ = ["build_parser", "main"]

log = logging.getLogger("sklearn_contig.cli")

#: Errors that mean bad input: exit status 2 and the message, no traceback.
INPUT_ERRORS = (ValueError, TypeError, FileNotFoundError, NotADirectoryError, KeyError)


def _literal(text):
    """A TOML literal (``5``, ``1e-3``, ``true``, ``["pgs"]``, ``{a = 1}``) or the string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _estimator_args(parser, classes, skip=(), hidden=()):
    """One flag per estimator parameter; those in ``hidden`` are left out of ``--help``.

    A hidden flag still reaches the stage, which refuses it with the reason.
    """
    group = parser.add_argument_group(
        "estimator parameters", "named as in the Python API; values are TOML literals "
        "(5, 1e-3, true, '[\"pgs\"]'), anything else a string")
    seen = set()
    for cls in classes:
        for name, p in inspect.signature(cls).parameters.items():
            if name in seen or name in skip or name in ("pretrainer", "callbacks", "accelerator"):
                continue
            seen.add(name)
            flags = [f"--{name.replace('_', '-')}"] + ([f"--{name}"] if "_" in name else [])
            if any(f in parser._option_string_actions for f in flags):
                continue  # e.g. --image-size: the cohort's read size
            group.add_argument(*flags, dest=f"param:{name}", type=_literal, default=argparse.SUPPRESS,
                               metavar="V",
                               help=argparse.SUPPRESS if name in hidden else f"default {p.default!r}")


def _cohort_args(parser, genetics=True):
    g = parser.add_argument_group("cohort")
    g.add_argument("--images", help="zarr store (prepare-images), image folder or CSV of paths")
    g.add_argument("--image-size", type=int, help="pixels per side for an image folder or CSV")
    if genetics:
        g.add_argument("--genotypes", help=".bed/.pgen/.bgen file")
        g.add_argument("--every", type=int, default=1, help="keep every k-th SNP (default 1)")
        g.add_argument("--maf", type=float, help="minor allele frequency filter")
        g.add_argument("--pgs", help="polygenic score table or plink2 .sscore file")
        g.add_argument("--burden", help="gene burden score table")


def _subcommand(sub, name, summary, description=None, *, model=False, cohort=None, out=None):
    """A subcommand's parser with the arguments stages share.

    ``model``: the model folder positional; ``cohort``: ``"genetics"`` or
    ``"images"`` for the cohort group; ``out``: help of a required ``--out``.
    """
    p = sub.add_parser(name, help=summary, description=description, allow_abbrev=False)
    if model:
        p.add_argument("model", help="model folder (pretrain)")
    if cohort is not None:
        _cohort_args(p, genetics=cohort == "genetics")
    if out is not None:
        p.add_argument("--out", required=True, help=out)
    return p


def _cohort(ns):
    keys = ("images", "image_size", "genotypes", "every", "maf", "pgs", "burden")
    return {k: getattr(ns, k) for k in keys if getattr(ns, k, None) is not None}


def _params(ns):
    return {k.split(":", 1)[1]: v for k, v in vars(ns).items() if k.startswith("param:")}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``sklearn-contig`` and its subcommands."""
    from ..downstream import ContIGClassifier, ContIGSegmenter
    from ..explain import Explainer
    from ..pretraining import ContIGPretrainer

    # allow_abbrev=False: a misspelt flag (--max-epoch) is an error, not a prefix of another
    parser = argparse.ArgumentParser(
        prog="sklearn-contig", allow_abbrev=False,
        description="ContIG on biobank cohorts: prepare images, pretrain, embed, fine-tune, "
                    "explain and run a GWAS on the embeddings; `run CONFIG.toml` chains them "
                    "and writes one HTML report.")
    parser.add_argument("-q", "--quiet", action="store_true", help="log warnings only")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("prepare-images", help="image folder/CSV -> zarr store (crop, resize, filter)",
                       description="Crop, resize and quality-filter images into a chunked zarr store.",
                       allow_abbrev=False)
    p.add_argument("source", help="image folder or CSV of paths")
    p.add_argument("store", help="zarr store to write")
    p.add_argument("--image-size", type=int, default=448)
    p.add_argument("--crop", default="fundus", help="'fundus' or 'none'")
    p.add_argument("--n-jobs", type=int, default=1)
    p.add_argument("--samples-per-chunk", type=int, default=64)
    p.add_argument("--overwrite", action="store_true")

    p = _subcommand(sub, "pretrain", "images + genetics -> model folder",
                    "Pretrain ContIG on the training individuals, score it on the held-out ones, "
                    "and write the model folder.", cohort="genetics", out="model folder to write")
    p.add_argument("--test-size", type=float, default=0.3, help="share of individuals held out")
    p.add_argument("--traits", help="table of traits per individual for linear probes")
    p.add_argument("--random-state", type=int, default=0)
    _estimator_args(p, [ContIGPretrainer], skip=("random_state",))

    p = _subcommand(sub, "embed", "model + images -> embeddings (Parquet or CSV)",
                    "Image embeddings indexed by (sample, individual).", model=True, cohort="images",
                    out="embeddings file, .parquet or .csv")
    p.add_argument("--split", choices=["train", "held_out"],
                   help="only the individuals of this part of the model's split")

    p = _subcommand(sub, "finetune", "model + labels -> fitted downstream model + held-out metrics",
                    "Fine-tune on a labelled task with the ContIG encoder and from scratch; score "
                    "both on held-out individuals.", model=True, cohort="images", out="output folder")
    p.add_argument("--labels", help="labels table (sample or individual id column)")
    p.add_argument("--target", nargs="+", help="label column(s); several make a multilabel task")
    p.add_argument("--masks", help="mask folder or CSV (task segmentation)")
    p.add_argument("--task", default="auto",
                   choices=["auto", "multiclass", "multilabel", "ordinal", "segmentation"])
    p.add_argument("--n-labelled", type=int, help="labelled training individuals (default all)")
    p.add_argument("--no-scratch", action="store_true", help="skip the from-scratch comparison")
    p.add_argument("--random-state", type=int, default=0)
    # the encoder and its architecture come from the model folder: finetune refuses them
    _estimator_args(p, [ContIGClassifier, ContIGSegmenter], skip=("random_state", "task", "target"),
                    hidden=("encoder", "image_encoder"))

    p = _subcommand(sub, "explain", "model + cohort -> attribution tables",
                    "Global and local attributions of the genetic features on held-out individuals.",
                    model=True, cohort="genetics", out="output folder")
    p.add_argument("--n-explain", type=int, default=50, help="individuals explained")
    p.add_argument("--truth", help="truth.json of a synthetic cohort (marks planted features)")
    p.add_argument("--random-state", type=int, default=0)
    _estimator_args(p, [Explainer], skip=("random_state",))

    p = sub.add_parser("gwas", help="embeddings + genotypes -> plink2 results, regions, plots",
                       description="GWAS on embedding principal components (plink2 --glm), "
                                   "independent regions (plink1.9 --clump).",
                       allow_abbrev=False)
    p.add_argument("embeddings", help="embeddings file (embed)")
    p.add_argument("--genotypes", required=True, help=".bed/.pgen/.bgen file")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--covariates", help="covariate table (individual id column)")
    p.add_argument("--n-pcs", type=int, default=5, help="genetic PCs as covariates without --covariates")
    p.add_argument("--n-components", type=int, default=10)
    p.add_argument("--truth", help="truth.json of a synthetic cohort (counts planted loci)")
    p.add_argument("--threads", type=int)

    p = sub.add_parser("run", help="every stage from one TOML file, and the HTML report",
                       description="Run the stages of CONFIG.toml in order and write report.html.",
                       allow_abbrev=False)
    p.add_argument("config", help="TOML configuration (see examples/quickstart.toml)")
    p.add_argument("--output", help="output folder (overrides the configuration's)")

    p = sub.add_parser("report", help="rebuild the HTML report of a run folder", allow_abbrev=False)
    p.add_argument("run_dir")
    p.add_argument("--out", help="HTML file (default RUN_DIR/report.html)")
    return parser


def _dispatch(ns):
    from . import _stages as S

    if ns.command == "prepare-images":
        return S.prepare_images(ns.source, ns.store, image_size=ns.image_size,
                                crop=None if ns.crop == "none" else ns.crop, n_jobs=ns.n_jobs,
                                samples_per_chunk=ns.samples_per_chunk, overwrite=ns.overwrite)
    if ns.command == "pretrain":
        return S.pretrain(ns.out, cohort=_cohort(ns), params=_params(ns), test_size=ns.test_size,
                          random_state=ns.random_state, traits=ns.traits)
    if ns.command == "embed":
        return S.embed(ns.model, ns.out, cohort=_cohort(ns), split=ns.split)
    if ns.command == "finetune":
        target = ns.target[0] if ns.target and len(ns.target) == 1 else ns.target
        return S.finetune(ns.model, ns.out, cohort=_cohort(ns), target=target, labels=ns.labels,
                          masks=ns.masks, task=ns.task, n_labelled=ns.n_labelled,
                          compare_scratch=not ns.no_scratch, random_state=ns.random_state,
                          params=_params(ns))
    if ns.command == "explain":
        return S.explain(ns.model, ns.out, cohort=_cohort(ns), n_explain=ns.n_explain,
                         truth=ns.truth, random_state=ns.random_state, params=_params(ns))
    if ns.command == "gwas":
        return S.gwas(ns.embeddings, ns.genotypes, ns.out, covariates=ns.covariates,
                      n_pcs=ns.n_pcs, n_components=ns.n_components, truth=ns.truth,
                      threads=ns.threads)
    if ns.command == "run":
        from ._run import run_config

        return run_config(ns.config, output=ns.output)
    if ns.command == "report":
        from ..report import build_report

        path = build_report(ns.run_dir, ns.out)
        log.info("report written to %s", path)
        return path
    raise AssertionError(ns.command)  # pragma: no cover


def main(argv=None) -> int:
    """Run ``sklearn-contig`` with ``argv`` (``sys.argv[1:]`` when None); the exit status.

    Bad input (a missing file, a wrong value) prints ``sklearn-contig <command>:
    error: <message>`` and returns 2, as argparse does for bad arguments.

    Examples
    --------
    >>> from sklearn_contig.cli import main
    >>> main(["embed", "no_such_model", "--images", "x", "--out", "e.csv"])
    2
    """
    parser = build_parser()
    ns = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if ns.quiet else logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S",
                        stream=sys.stderr, force=True)
    try:
        _dispatch(ns)
    except INPUT_ERRORS as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"sklearn-contig {ns.command}: error: {msg}", file=sys.stderr)
        return 2
    return 0


def console_main():  # pragma: no cover - console-script wrapper
    sys.exit(main())
