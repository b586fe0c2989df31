"""
GWAS on the learned image embeddings of held-out people
=======================================================

ContIG's image embeddings can serve as phenotypes for a genome-wide association
study (transferGWAS). The GWAS must run on people the encoder was not pretrained on:
ContIG trains each person's image embedding to match that person's genotypes, so on
the pretraining people the embeddings can carry memorised genotype. This example

1. writes the cohort's genotypes as PLINK files and computes genetic principal
   components (``plink2 --pca``) as ancestry covariates;
2. pretrains a :class:`~sklearn_contig.ContIGPretrainer` on SNPs of 60 % of the
   individuals;
3. turns the held-out people's embeddings into phenotypes with
   :class:`~sklearn_contig.GWASTransformer` (principal components, covariates
   regressed out, inverse normal transform);
4. runs ``plink2 --glm`` (:func:`~sklearn_contig.gwas.run_gwas`), clumps the hits
   with ``plink1.9 --clump`` when PLINK 1.9 is installed, and draws a Manhattan plot
   with the planted loci in red.

PLINK 2 must be on ``PATH`` (Debian/Ubuntu: ``apt-get install plink2 plink1.9``, or
``make plink``). Without it the package's GWAS functions raise a ``RuntimeError``
naming the missing binary; this example says so and exits without error.

The figure goes to ``$SKLEARN_CONTIG_EXAMPLES_OUT/04_gwas_held_out`` (default:
``examples_output/`` in the current directory). Run:
``python examples/04_gwas_held_out.py``.
"""

# %%
# Check for PLINK first
# ---------------------
# Before any work: without ``plink2`` there is no GWAS to run.
import shutil
import sys

if shutil.which("plink2") is None:
    print("plink2 is not on PATH: this example needs PLINK 2 (apt-get install plink2 plink1.9, "
          "or make plink). Nothing to do.")
    sys.exit(0)

# %%
# Imports and output folder
# -------------------------
import os  # noqa: E402
from pathlib import Path  # noqa: E402

from sklearn_contig import ContIGPretrainer, GWASTransformer  # noqa: E402
from sklearn_contig.data import split_individuals, write_plink  # noqa: E402
from sklearn_contig.datasets import make_imaging_genetics  # noqa: E402
from sklearn_contig.gwas import (  # noqa: E402
    count_independent_regions,
    genetic_pcs,
    genomic_inflation,
    manhattan_plot,
    min_p_across,
    run_gwas,
)

OUT = Path(os.environ.get("SKLEARN_CONTIG_EXAMPLES_OUT", "examples_output")) / "04_gwas_held_out"
OUT.mkdir(parents=True, exist_ok=True)

# %%
# Genotypes as PLINK files, genetic PCs
# -------------------------------------
# Real cohorts come with their PLINK files; here ``write_plink`` writes the synthetic
# SNPs of everyone. ``run_gwas`` only tests the individuals that have a phenotype, so
# the files may hold the whole cohort.
#
# 200 people, 300 SNPs, 24 px: at this size the encoder has barely learned, the GWAS
# has little power, and the few hits come from the easy traits that even a random
# CNN sees (disc size, pigmentation). For real data use thousands of
# held-out people, 10 PCs and 10 embedding components (the defaults), and the
# ``simulator="msprime"`` genotypes (linkage disequilibrium, three populations) to
# try the pipeline on structured data.
ds, truth = make_imaging_genetics(200, image_size=24, n_snps=300, n_pgs=20, n_genes=20,
                                  heritability=0.8, genetic_shares={"snp": 1.0},
                                  simulator="independent", random_state=0)
bfile = write_plink(OUT / "cohort", ds["snp"])
pcs = genetic_pcs(bfile, n_pcs=3, threads=1)

# %%
# Pretrain on 60 %, embed the other 40 %
# --------------------------------------
# ``set_output(transform="pandas")`` returns the embeddings indexed by
# ``(sample, individual)``; ``GWASTransformer`` averages each person's images with it.
train, held_out = split_individuals(ds, test_size=0.4, random_state=0)
model = ContIGPretrainer("resnet18", modalities=["snp"], batch_size=120, max_epochs=2,
                         hidden_dim=64, projection_dim=32, lr=1e-3, weight_decay=1e-4,
                         validation_fraction=0, random_state=0, verbose=0).fit(train)
embeddings = model.set_output(transform="pandas").transform(held_out)
phenotypes = GWASTransformer(n_components=3, covariates=pcs, random_state=0).fit_transform(embeddings)
print(f"phenotypes: {phenotypes.shape[0]} held-out individuals x {phenotypes.shape[1]} components")

# %%
# Association with every SNP
# --------------------------
# One ``plink2 --glm`` row per SNP and component; ``min_p_across`` keeps each SNP's
# smallest p-value, Bonferroni-corrected by the number of components.
results = run_gwas(phenotypes, bfile, covariates=pcs, threads=1)
combined = min_p_across(results)
planted = sorted({snp for loci in truth.loci.values() for snp in loci})
bonferroni = 0.05 / len(combined)
hits = combined.loc[combined["P"] < bonferroni, "SNP"].tolist()
print(f"{len(results)} association tests; lambda_GC {genomic_inflation(combined['P']):.2f}")
print(f"SNPs below the Bonferroni threshold {bonferroni:.1e}: {len(hits)} "
      f"({len(set(hits) & set(planted))} of them planted)")
print(combined.nsmallest(5, "P").to_string(index=False))

# %%
# Independent regions
# -------------------
# ``count_independent_regions`` clumps the hits by linkage disequilibrium with
# ``plink1.9 --clump``. The authors' thresholds (index SNPs at p < 5e-8, the
# defaults) are for genome-wide data; with 300 SNPs we use the Bonferroni threshold.
if shutil.which("plink1.9") is not None:
    n_regions, _ = count_independent_regions(results, bfile, p1=bonferroni, p2=bonferroni)
    print(f"independent associated regions: {n_regions}")
else:
    print("plink1.9 is not on PATH: regions not counted")

# %%
# Manhattan plot, planted loci in red
# -----------------------------------
manhattan_plot(combined, path=OUT / "manhattan.png", threshold=bonferroni, highlight=planted)
print("figure:", OUT / "manhattan.png")
