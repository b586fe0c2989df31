"""
Start from published weights
============================

Instead of a random initialisation, any estimator's image encoder can start from
published weights: torchvision or timm checkpoints, RETFound, the ContIG authors'
Lightning checkpoints. Files are read as safetensors or with
``torch.load(weights_only=True)`` (nothing is unpickled), the usual layouts are
recognised and classifier heads are dropped. This example

1. writes a torchvision ResNet-18 state dict to a file, as a stand-in for a
   downloaded checkpoint (random weights: nothing is downloaded), and the same
   weights in the ContIG authors' Lightning layout;
2. loads both into an :class:`~sklearn_contig.models.ImageEncoder` with
   :func:`~sklearn_contig.models.load_weights` and checks the weights, then shows
   the error for a file of another architecture;
3. fine-tunes a multi-label disease :class:`~sklearn_contig.ContIGClassifier` from
   the file (``pretrained_weights=``) and scores it on held-out people.

The figure goes to ``$SKLEARN_CONTIG_EXAMPLES_OUT/06_published_weights`` (default:
``examples_output/`` in the current directory). Run:
``python examples/06_published_weights.py``.
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
import torch  # noqa: E402
import torchvision  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

from sklearn_contig import ContIGClassifier, Samples  # noqa: E402
from sklearn_contig.data import split_individuals  # noqa: E402
from sklearn_contig.datasets import make_imaging_genetics  # noqa: E402
from sklearn_contig.models import ImageEncoder, load_weights  # noqa: E402

OUT = Path(os.environ.get("SKLEARN_CONTIG_EXAMPLES_OUT", "examples_output")) / "06_published_weights"
OUT.mkdir(parents=True, exist_ok=True)

# %%
# A stand-in for published weights
# --------------------------------
# With internet access this would be
# ``torchvision.models.resnet18(weights="IMAGENET1K_V1").state_dict()`` or a file
# downloaded from a model zoo (``resnet18-f37072fd.pth``). Here the network keeps its
# random initialisation; the file format is the same. The second file nests the
# weights the way the ContIG authors' PyTorch Lightning checkpoints do.
torch.manual_seed(0)
published = torchvision.models.resnet18(weights=None)
weights_file = OUT / "resnet18-published.pth"
torch.save(published.state_dict(), weights_file)
lightning_file = OUT / "contig-authors-layout.ckpt"
torch.save({"state_dict": {f"model.imaging_model.{k}": v for k, v in published.state_dict().items()
                           if not k.startswith("fc.")}}, lightning_file)

# %%
# Load the weights into an image encoder
# --------------------------------------
# ``load_weights`` finds the state dict in its container, removes the key prefix,
# drops the classification head (``fc.*``) and sets the ImageNet input statistics
# the weights were trained with. Both files give the same encoder.
for path in (weights_file, lightning_file):
    encoder = load_weights(ImageEncoder("resnet18", image_size=24), path)
    same = torch.equal(encoder.backbone.conv1.weight, published.conv1.weight)
    print(f"{path.name}: loaded into resnet18, conv1 weights equal to the file's: {same}")

# A file of another architecture is refused with the keys that do not fit.
try:
    load_weights(ImageEncoder("resnet50", image_size=24), weights_file)
except ValueError as err:
    print("resnet50 from a resnet18 file:", str(err).splitlines()[0][:150], "...")

# %%
# Fine-tune from the file
# -----------------------
# ``pretrained_weights=`` works the same for every estimator (pretrainers,
# classifier, regressor, segmenter; ``image_encoder`` names the weights'
# architecture). ``weights_normalization="imagenet"`` (the default) normalises
# the inputs with the ImageNet statistics such weights expect. The task here is
# multi-label: four diseases per image, one sigmoid each, scored by micro-averaged
# ROC-AUC.
#
# Small sizes for speed (120 people, 24 px, 2 epochs). With real published weights
# use the image size they were trained at (224 px for ImageNet ResNets), thousands of
# labelled images and ``max_epochs`` in the tens.
ds, _ = make_imaging_genetics(120, image_size=24, n_snps=50, n_pgs=20, n_genes=20,
                              simulator="independent", random_state=0)
train, test = split_individuals(ds, test_size=0.3, random_state=0)
clf = ContIGClassifier("multilabel", image_encoder="resnet18", pretrained_weights=str(weights_file),
                       target="diseases", batch_size=84, max_epochs=2, lr=1e-3, random_state=0)
clf.fit(Samples(train))
print(f"encoder started from published weights: {clf.pretrained_}")
print(f"held-out micro ROC-AUC: {clf.score(Samples(test)):.3f} ({test.sizes['sample']} images)")

# %%
# Plot the training loss and the held-out ROC-AUC per disease
# -----------------------------------------------------------
diseases = test["disease"].values.astype(str)
proba = clf.predict_proba(Samples(test))
truth = test["diseases"].values
aucs = [roc_auc_score(truth[:, j], proba[:, j]) if 0 < truth[:, j].sum() < len(truth) else np.nan
        for j in range(len(diseases))]
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5), layout="constrained")
ax1.plot(clf.history_[:, "epoch"], clf.history_[:, "train_loss"], marker="o")
ax1.xaxis.set_major_locator(MaxNLocator(integer=True))
ax1.set(xlabel="epoch", ylabel="binary cross-entropy", title="Fine-tuning loss")
ax2.barh(diseases, aucs)
ax2.axvline(0.5, color="k", ls="--", lw=1)
ax2.set(xlim=(0, 1), xlabel="held-out ROC-AUC", title="Per disease")
fig.savefig(OUT / "finetune.png", dpi=100)
print("figure:", OUT / "finetune.png")
