"""The ``sklearn-contig`` command line: one subcommand per stage and ``run CONFIG.toml``.

Each stage is also a function of :mod:`sklearn_contig.cli` (``pretrain``,
``embed``, ``finetune``, ``explain``, ``gwas``, ...) that reads files and writes
files; ``run_config`` chains them as a TOML configuration says and writes the
HTML report (:func:`sklearn_contig.report.build_report`).
"""

from ._cohort import load_cohort
from ._main import build_parser, console_main, main
from ._run import read_config, run_config
from ._stages import embed, explain, finetune, gwas, prepare_images, pretrain, synthetic

__all__ = ["build_parser", "console_main", "embed", "explain", "finetune", "gwas", "load_cohort",
           "main", "prepare_images", "pretrain", "read_config", "run_config", "synthetic"]
