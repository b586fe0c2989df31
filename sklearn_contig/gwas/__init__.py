"""GWAS on image embeddings (transferGWAS, ContIG paper Sec. 4.2.5).

Embeddings per sample -> :class:`GWASTransformer` (one row per individual, PCA,
covariates regressed out, inverse normal transform) -> :func:`run_gwas`
(``plink2 --glm``) -> :func:`count_independent_regions` (``plink1.9 --clump``),
with :func:`manhattan_plot` / :func:`qq_plot` and :func:`genomic_inflation` to
look at the result. The runners read .bed, .pgen or .bgen genotypes. PLINK 2
and PLINK 1.9 must be on PATH for them (Debian: ``apt-get install plink2
plink1.9``).
"""

from ._association import genomic_inflation, linear_association
from ._plink import (
    count_independent_regions,
    genetic_pcs,
    min_p_across,
    run_gwas,
    write_covariates,
    write_phenotypes,
)
from ._plots import manhattan_plot, qq_plot
from ._transformer import GWASTransformer, inverse_normal_transform

__all__ = [
    "GWASTransformer",
    "count_independent_regions",
    "genetic_pcs",
    "genomic_inflation",
    "inverse_normal_transform",
    "linear_association",
    "manhattan_plot",
    "min_p_across",
    "qq_plot",
    "run_gwas",
    "write_covariates",
    "write_phenotypes",
]
