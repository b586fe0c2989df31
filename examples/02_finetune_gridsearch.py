"""
Fine-tune a pretrained encoder in a Pipeline with GridSearchCV
==============================================================

Pretraining is done once on many unlabelled people; the clinical task has few
labelled ones. This example

1. pretrains a :class:`~sklearn_contig.ContIGPretrainer` on the unlabelled part of a
   synthetic cohort and saves its image encoder;
2. fine-tunes a :class:`~sklearn_contig.ContIGClassifier` on 0-4 disease grades
   (an ordinal task: CORAL head, scored by quadratic weighted kappa) inside a
   scikit-learn ``Pipeline``, with ``GridSearchCV`` and ``GroupKFold`` so that both
   eyes of a person are always on the same side of a split;
3. lets the grid compare the pretrained encoder with training from scratch
   (``encoder=None``) and scores the refitted best model on held-out people.

The figure goes to ``$SKLEARN_CONTIG_EXAMPLES_OUT/02_finetune_gridsearch`` (default:
``examples_output/`` in the current directory). Run:
``python examples/02_finetune_gridsearch.py``.
"""

# %%
# Imports and output folder
# -------------------------
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # write PNG files, open no window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.model_selection import GridSearchCV, GroupKFold  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402

from sklearn_contig import ContIGClassifier, ContIGPretrainer, Samples  # noqa: E402
from sklearn_contig.data import split_individuals  # noqa: E402
from sklearn_contig.datasets import make_imaging_genetics  # noqa: E402

OUT = Path(os.environ.get("SKLEARN_CONTIG_EXAMPLES_OUT", "examples_output")) / "02_finetune_gridsearch"
OUT.mkdir(parents=True, exist_ok=True)

# %%
# A cohort with two eyes per person
# ---------------------------------
# 64 people, two 24 px images each. For real data raise ``n_individuals`` (the
# pretraining set in thousands), ``image_size`` (224-448 px), the epochs below and use
# ``image_encoder="resnet50"``.
ds, truth = make_imaging_genetics(64, image_size=24, eyes=2, n_snps=200, n_pgs=40, n_genes=40,
                                  heritability=0.8, simulator="independent", random_state=0)
unlabelled, labelled = split_individuals(ds, test_size=0.4, random_state=0)

# %%
# Pretrain on the unlabelled people
# ---------------------------------
# The encoder file (safetensors) is what a pretraining run hands to fine-tuning. A
# file path, unlike a fitted estimator, survives ``GridSearchCV``'s ``clone``.
pretrainer = ContIGPretrainer("resnet18", batch_size=64, max_epochs=2, hidden_dim=64,
                              projection_dim=32, lr=1e-3, weight_decay=1e-4,
                              validation_fraction=0, random_state=0, verbose=0)
pretrainer.fit(unlabelled)
encoder_file = pretrainer.save_encoder(OUT / "encoder.safetensors")

# %%
# Fine-tuning inside a Pipeline, searched with GroupKFold
# -------------------------------------------------------
# ``Samples`` makes the cohort indexable along its samples, as scikit-learn's
# splitters need; its ``individual`` are the groups. Preprocessing steps would go
# in front of the classifier; parameter names take the step's prefix. The grid
# searches the starting encoder (the pretrained file or ``None``, a random
# initialisation); add learning rates (``"grade__lr": [3e-4, 1e-3, 3e-3]``),
# ``grade__freeze_encoder`` or epochs for a real search. The classifier's ``score``
# (quadratic weighted kappa for ordinal grades) is the search's score.
#
# With this little data and two epochs the classifier mostly predicts the commonest
# grade, a kappa near 0. Telling pretraining from scratch apart on grades takes
# thousands of pretraining people and hundreds of labels
# (``benchmarks/pretrained_transfer.py``; at 300 pretraining people and 50 labels
# neither start learned the grade, see ``benchmarks/RESULTS.md``).
train, test = split_individuals(labelled, test_size=0.3, random_state=1)
X_train, X_test = Samples(train), Samples(test)
y_train, y_test = train["grade"].values, test["grade"].values

pipe = Pipeline([("grade", ContIGClassifier("ordinal", image_encoder="resnet18", batch_size=64,
                                             max_epochs=2, lr=1e-3, random_state=0))])
grid = {"grade__encoder": [str(encoder_file), None]}
search = GridSearchCV(pipe, grid, cv=GroupKFold(n_splits=2))
search.fit(X_train, y_train, groups=X_train.individual)

results = pd.DataFrame(search.cv_results_)
results["start"] = np.where(results["param_grade__encoder"].isna(), "scratch", "pretrained")
for row in results.itertuples():
    print(f"{row.start:>10}: CV quadratic weighted kappa {row.mean_test_score:.3f} "
          f"+/- {row.std_test_score:.3f}")
best = results.loc[results["rank_test_score"] == 1, "start"].iloc[0]
print(f"best start: {best}; held-out quadratic weighted kappa "
      f"{search.score(X_test, y_test):.3f} ({test.sizes['sample']} images)")

# %%
# Plot the cross-validated scores
# -------------------------------
fig, ax = plt.subplots(figsize=(4, 3.5), layout="constrained")
ax.bar(results["start"], results["mean_test_score"], yerr=results["std_test_score"], capsize=4,
       color=["#4c72b0", "#999999"])
ax.axhline(0, color="k", lw=0.8)
ax.set(ylim=(-0.3, 1), ylabel="CV quadratic weighted kappa (0: chance)",
       title="Grading: pretrained vs scratch")
fig.savefig(OUT / "gridsearch.png", dpi=100)
print("figure:", OUT / "gridsearch.png")
