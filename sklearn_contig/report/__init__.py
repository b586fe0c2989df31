"""One self-contained HTML report of a run: cohort, pretraining, fine-tuning, explanation, GWAS."""

from ._build import MANIFEST, SECTIONS, build_report

__all__ = ["MANIFEST", "SECTIONS", "build_report"]
