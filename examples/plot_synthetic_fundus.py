"""
Synthetic fundus images with planted genetic traits
====================================================

A contact sheet of eight 448 px images from
:func:`sklearn_contig.datasets.make_imaging_genetics`, sorted from low to high on one
latent trait, so you can see what the generator draws: a round field of view,
orange-red pigmentation with illumination falloff, the optic disc with its cup, the
artery/vein tree branching from the disc, the darker macula, small dark-red
microaneurysm-like dots and yellow, genetically neutral distractor dots.

Run: ``python examples/plot_synthetic_fundus.py [--out sheet.png] [--trait vessel_tortuosity]``
"""

# %%
import argparse
import os
import tempfile

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from sklearn_contig.datasets import TRAITS, make_imaging_genetics  # noqa: E402

parser = argparse.ArgumentParser(description="Contact sheet of synthetic fundus images")
parser.add_argument("--out", default=None, help="PNG path (default: a temporary folder)")
parser.add_argument("--trait", default="vessel_tortuosity", choices=TRAITS)
parser.add_argument("--size", type=int, default=448)
args, _ = parser.parse_known_args()

# %%
# Simulate a small cohort at full resolution (two eyes per person) and pick eight
# images spread over the range of one trait.
ds, truth = make_imaging_genetics(40, image_size=args.size, eyes=2, n_snps=300,
                                  random_state=0)
traits = truth.traits.loc[ds["individual"].values, args.trait].to_numpy()
picks = np.argsort(traits)[np.linspace(0, len(traits) - 1, 8).astype(int)]

# %%
# Plot the contact sheet with the trait value and the grade in each title.
fig, axes = plt.subplots(2, 4, figsize=(16, 8.6))
for ax, i in zip(axes.ravel(), picks):
    ax.imshow(ds["image"].values[i].transpose(1, 2, 0))
    ax.set_title(f"{ds['sample'].values[i]}  {args.trait}={traits[i]:+.1f}  "
                 f"grade {int(ds['grade'].values[i])}", fontsize=9)
    ax.axis("off")
fig.suptitle(f"make_imaging_genetics: 8 of {ds.sizes['sample']} images, sorted by {args.trait}")
fig.tight_layout()
out = args.out or os.path.join(tempfile.mkdtemp(prefix="contig_"), "synthetic_fundus.png")
fig.savefig(out, dpi=110)
print(out)
