"""``sklearn-contig run CONFIG.toml``: every stage from one TOML file, then the report."""

from __future__ import annotations

import inspect
import json
import logging
import time
import tomllib
from pathlib import Path

from . import _stages as S

__all__ = ["read_config", "run_config"]

log = logging.getLogger("sklearn_contig.cli")

#: Top-level keys of a configuration; every other table is a stage.
TOP_KEYS = ("output", "title", "random_state", "report")
STAGES = ("synthetic", "cohort", "pretrain", "embed", "finetune", "explain", "gwas")


def read_config(path) -> dict:
    """Read a TOML configuration (a clear error for a missing or malformed file)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"configuration {str(path)!r} does not exist")
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"configuration {str(path)!r} is not valid TOML: {exc}") from None


def _estimator_class(stage, options):
    from ..downstream import ContIGClassifier, ContIGSegmenter
    from ..explain import Explainer
    from ..pretraining import ContIGPretrainer

    if stage == "pretrain":
        return ContIGPretrainer
    if stage == "explain":
        return Explainer
    if stage == "finetune":
        return ContIGSegmenter if options.get("task") == "segmentation" else ContIGClassifier
    return None


def split_options(stage, fn, options, where):
    """Stage options by name: the stage function's own, else the estimator's parameters."""
    own = set(inspect.signature(fn).parameters) - {"params", "cohort"}
    cls = _estimator_class(stage, options)
    valid_params = set()
    if cls is not None:
        sig = inspect.signature(cls).parameters
        valid_params = {p for p in sig if p != "pretrainer"}
    kwargs, params = {}, {}
    for key, value in options.items():
        if key in own:
            kwargs[key] = value
            if key == "random_state" and key in valid_params:
                params[key] = value
        elif key in valid_params:
            params[key] = value
        else:
            raise ValueError(f"{where}: unknown option {key!r}; valid names are "
                             f"{sorted((own | valid_params) - {'model', 'out'})}")
    if cls is not None:
        kwargs["params"] = params
    return kwargs


def _table(config, name):
    value = config.get(name, {})
    if not isinstance(value, dict):
        raise ValueError(f"[{name}] must be a table, got {type(value).__name__}")
    return dict(value)


def run_config(config, *, output=None) -> Path:
    """Run the stages a configuration names, in order, and write the report.

    Parameters
    ----------
    config : dict or str or path-like
        A parsed configuration or a TOML file. Tables: ``[synthetic]`` (write the
        built-in synthetic biobank first; its files fill ``[cohort]``), ``[cohort]``
        (``images``, ``image_size``, ``genotypes``, ``pgs``, ``burden``, ``labels``,
        ``masks``, ``truth``, ``traits``), ``[pretrain]``, ``[embed]``,
        ``[finetune.<name>]`` (one per task), ``[explain]``, ``[gwas]``. Each stage
        table takes the stage's options and its estimator's parameters, named as in
        the Python API. Paths are relative to the working directory.
    output : str or path-like, default=None
        Output folder; the configuration's ``output`` (default ``"contig_output"``).

    Returns
    -------
    report : pathlib.Path
        The HTML report (``<output>/report.html``).
    """
    from ..report import MANIFEST, build_report

    if not isinstance(config, dict):
        config = read_config(config)
    unknown = sorted(set(config) - set(TOP_KEYS) - set(STAGES))
    if unknown:
        raise ValueError(f"unknown configuration key {unknown[0]!r}; valid are "
                         f"{list(TOP_KEYS) + list(STAGES)}")
    t0 = time.perf_counter()
    out = Path(output or config.get("output", "contig_output"))
    seed = config.get("random_state", 0)
    cohort = _table(config, "cohort")
    extra_keys = ("labels", "masks", "truth", "traits")
    if "synthetic" in config:
        syn = _table(config, "synthetic")
        syn.setdefault("random_state", seed)
        path = syn.pop("path", str(out / "synthetic"))
        paths = S.synthetic(path, **syn)
        cohort.setdefault("image_size", syn.get("image_size", 32))
        for key in ("images", "genotypes", "pgs", "burden") + extra_keys:
            if key in paths:
                cohort.setdefault(key, paths[key])
    extra = {k: cohort.pop(k) for k in extra_keys if k in cohort}
    if not cohort.get("images"):
        raise ValueError("[cohort] needs images (or a [synthetic] table)")
    image_only = {k: cohort[k] for k in ("images", "image_size") if k in cohort}
    out.mkdir(parents=True, exist_ok=True)
    stages = {}
    model = out / "model"

    def checked(stage, fn, options):
        options = dict(options)
        if "random_state" in inspect.signature(fn).parameters:
            options.setdefault("random_state", seed)
        return split_options(stage, fn, options, f"[{stage}]")

    if "pretrain" in config:
        kw = checked("pretrain", S.pretrain, _table(config, "pretrain"))
        kw.setdefault("traits", extra.get("traits"))
        S.pretrain(model, cohort=cohort, **kw)
        stages["pretrain"] = "model"
    emb_path = None
    if "embed" in config or "gwas" in config:
        options = _table(config, "embed")
        emb_path = out / options.pop("path", "embeddings.parquet")
        kw = checked("embed", S.embed, options)
        kw.setdefault("split", "held_out")
        S.embed(model, emb_path, cohort=image_only, **kw)
    finetune = _table(config, "finetune")
    if finetune:
        stages["finetune"] = {}
    for name, options in finetune.items():
        if not isinstance(options, dict):
            raise ValueError(f"[finetune.{name}] must be a table")
        kw = checked("finetune", S.finetune, options)
        if kw.get("task") == "segmentation":
            kw.setdefault("masks", extra.get("masks"))
        else:
            kw.setdefault("labels", extra.get("labels"))
        S.finetune(model, out / "finetune" / name, cohort=image_only, **kw)
        stages["finetune"][name] = f"finetune/{name}"
    if "explain" in config:
        kw = checked("explain", S.explain, _table(config, "explain"))
        kw.setdefault("truth", extra.get("truth"))
        S.explain(model, out / "explain", cohort=cohort, **kw)
        stages["explain"] = "explain"
    if "gwas" in config:
        kw = checked("gwas", S.gwas, _table(config, "gwas"))
        kw.setdefault("truth", extra.get("truth"))
        genotypes = kw.pop("genotypes", cohort.get("genotypes"))
        if genotypes is None:
            raise ValueError("[gwas] needs genotypes (in [cohort] or [gwas])")
        S.gwas(emb_path, genotypes, out / "gwas", **kw)
        stages["gwas"] = "gwas"
    truth = extra.get("truth")
    manifest = {"title": config.get("title", "sklearn-contig report"), "stages": stages,
                "truth": str(Path(truth).resolve()) if truth else None,
                "seconds": round(time.perf_counter() - t0, 1)}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1))
    report = build_report(out)
    log.info("report written to %s (%.0f s in all)", report, time.perf_counter() - t0)
    return report
