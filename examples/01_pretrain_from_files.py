"""
Pretrain ContIG on a cohort read from files
===========================================

A biobank arrives as files: one image per eye, PLINK genotypes, a table of polygenic
scores (PGS) and a table of gene burden scores. This example

1. writes the built-in synthetic biobank to disk in that form
   (:func:`sklearn_contig.datasets.generate_to_disk`, plus the two score tables);
2. reads it back with the package's readers (:func:`~sklearn_contig.data.read_images`,
   :func:`~sklearn_contig.data.read_plink`, :func:`~sklearn_contig.data.read_pgs`,
   :func:`~sklearn_contig.data.read_burden`) and joins them on the individual id with
   :func:`~sklearn_contig.data.align`;
3. pretrains a :class:`~sklearn_contig.ContIGPretrainer` on 70 % of the individuals
   and saves it as a model folder with :func:`~sklearn_contig.save_pretrained`;
4. compares held-out image-to-genetics retrieval with the same network untrained
   (``max_epochs=0``).

Figures go to ``$SKLEARN_CONTIG_EXAMPLES_OUT/01_pretrain_from_files`` (default:
``examples_output/`` in the current directory). Run:
``python examples/01_pretrain_from_files.py``.
"""

# %%
# Where the files go
# ------------------
# Everything this example writes (the cohort, the model folder, the figure) lands
# in one output folder: the environment variable ``SKLEARN_CONTIG_EXAMPLES_OUT`` or
# ``examples_output`` in the current directory.
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # write PNG files, open no window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from sklearn_contig import ContIGPretrainer, load_pretrained, save_pretrained  # noqa: E402
from sklearn_contig.data import (  # noqa: E402
    align,
    read_burden,
    read_images,
    read_pgs,
    read_plink,
    split_individuals,
)
from sklearn_contig.datasets import generate_to_disk  # noqa: E402

OUT = Path(os.environ.get("SKLEARN_CONTIG_EXAMPLES_OUT", "examples_output")) / "01_pretrain_from_files"
OUT.mkdir(parents=True, exist_ok=True)

# %%
# Write a synthetic biobank to disk
# ---------------------------------
# ``generate_to_disk`` renders the images chunk by chunk (only one chunk is ever in
# memory) and writes ``images/*.png`` with an ``images/images.csv`` index,
# ``genotypes.bed/.bim/.fam`` (PLINK 1) and the planted ground truth. Polygenic and
# burden scores come as wide tables in real biobanks: one row per individual
# (``IID``), one column per score or gene; we write them from the returned cohort.
#
# The sizes are small so that the example runs in seconds on a laptop CPU. For a
# real run raise ``n_individuals`` (thousands), ``image_size`` (224-448 px) and
# the model below (``image_encoder="resnet50"``, ``max_epochs=100``).
cohort_dir = OUT / "cohort"
cohort = generate_to_disk(cohort_dir, n_individuals=120, image_size=24, format="png",
                          n_snps=200, n_pgs=40, n_genes=40, heritability=0.8,
                          simulator="independent", random_state=0)
for name in ("pgs", "burden"):
    table = cohort[name].to_pandas()
    table.index = pd.Index(cohort["individual"].values.astype(str), name="IID")
    table.to_csv(cohort_dir / f"{name}.csv")
print("wrote", sorted(p.name for p in cohort_dir.iterdir()))

# %%
# Read the files back
# -------------------
# ``read_images`` opens the images lazily: pixels are decoded batch by batch during
# training, so a cohort larger than memory works the same. The CSV index says which
# individual each image belongs to. ``align`` joins every modality on that id
# (several images of one person share the genetic rows; people missing a modality
# get an all-NaN row, which the pretrainer handles per row).
images = read_images(cohort_dir / "images" / "images.csv", image_size=24)
ds = align(images,
           snp=read_plink(cohort_dir / "genotypes"),
           pgs=read_pgs(cohort_dir / "pgs.csv"),
           burden=read_burden(cohort_dir / "burden.csv"))
print(f"cohort: {ds.sizes['sample']} images, modalities {ds.contig.modalities}")

# %%
# Pretrain on 70 % of the individuals
# -----------------------------------
# ``split_individuals`` keeps both eyes of a person on one side. The held-out people
# measure what the encoder learned without memorisation. ``max_epochs``,
# ``hidden_dim`` and ``projection_dim`` are cut down for speed (defaults: 100,
# 2048 and 128), and there is no validation split for early stopping
# (``validation_fraction=0``; the default holds out 10 % of the individuals). On a
# CPU the cost is the number of optimizer steps more than the image size: a large
# batch keeps them few.
train, test = split_individuals(ds, test_size=0.3, random_state=0)
params = dict(image_encoder="resnet18", batch_size=84, max_epochs=2, hidden_dim=64,
              projection_dim=32, lr=1e-3, weight_decay=1e-4, validation_fraction=0,
              random_state=0, verbose=0)
model = ContIGPretrainer(**params).fit(train)
untrained = ContIGPretrainer(**{**params, "max_epochs": 0}).fit(train)

# %%
# Held-out retrieval against the untrained network
# ------------------------------------------------
# For each held-out image, are the person's own genetics among the ``k`` most
# similar genetic embeddings of the held-out people? With one image per person the
# chance level is ``k / n``. At this size (84 pretraining people, two epochs) both
# networks stay close to chance and the difference between them is noise; the
# package's learning test pretrains 1,616 people for up to 8 epochs at 32 px
# (``tests/pretraining/test_learning.py``).
n_test = test.sizes["sample"]
k = 5
trained_acc = model.retrieval_accuracy(test, k=k, chunk_size=n_test)
untrained_acc = untrained.retrieval_accuracy(test, k=k, chunk_size=n_test)
for m in model.modalities_:
    print(f"held-out top-{k} retrieval {m:>6}: ContIG {trained_acc[m]:.3f}, "
          f"untrained {untrained_acc[m]:.3f} (chance {k / n_test:.3f})")

# %%
# Save the model as a folder and load it back
# -------------------------------------------
# ``save_pretrained`` writes ``config.json``, ``model.safetensors`` and a model card
# (no pickle). ``load_pretrained`` gives an estimator whose ``transform`` matches.
folder = save_pretrained(model, OUT / "contig-model", overwrite=True,
                         metrics={f"held_out_top{k}_{m}": v for m, v in trained_acc.items()})
reloaded = load_pretrained(folder)
first = test.isel(sample=slice(0, 8))
same = np.allclose(reloaded.transform(first), model.transform(first), atol=1e-5)
print(f"saved to {folder}: {sorted(p.name for p in folder.iterdir())}; reloaded embeddings match: {same}")

# %%
# Plot the training curve and the held-out retrieval
# --------------------------------------------------
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5), layout="constrained")
ax1.plot(model.history_[:, "epoch"], model.history_[:, "train_loss"], marker="o")
ax1.xaxis.set_major_locator(MaxNLocator(integer=True))
ax1.set(xlabel="epoch", ylabel="contrastive loss", title="Training loss")
x = np.arange(len(model.modalities_))
ax2.bar(x - 0.2, [untrained_acc[m] for m in model.modalities_], 0.4, label="untrained")
ax2.bar(x + 0.2, [trained_acc[m] for m in model.modalities_], 0.4, label="ContIG")
ax2.axhline(k / n_test, color="k", ls="--", lw=1, label="chance")
ax2.set_xticks(x, model.modalities_)
ax2.set(ylabel=f"top-{k} accuracy", title=f"Held-out retrieval ({n_test} people)")
ax2.legend()
fig.savefig(OUT / "retrieval.png", dpi=100)
print("figure:", OUT / "retrieval.png")
