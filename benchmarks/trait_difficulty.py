"""How hard is each latent trait of the synthetic biobank for features without training?

Per trait, the 5-fold cross-validated R^2 of a ridge probe (RidgeCV) on

- raw pixels downsampled to 16 x 16 (768 features), and
- the pooled features of a randomly initialised torchvision resnet18 (eval mode,
  ``torch.manual_seed(0)``), after dropping near-constant units,

at 64 px for 2,000 individuals. Easy traits should come out near 0.9, hard ones at
roughly 0.1-0.3 (see the calibration notes). Prints a table.

Run: ``python benchmarks/trait_difficulty.py [--n 2000] [--size 64]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def random_resnet18_features(images, seed=0, batch_size=200):
    """Pooled 512-d features of a randomly initialised resnet18 in eval mode."""
    import torch
    import torchvision

    torch.manual_seed(seed)
    net = torchvision.models.resnet18(weights=None)
    net.fc = torch.nn.Identity()
    net.eval()
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    out = []
    with torch.no_grad():
        for s in range(0, len(images), batch_size):
            x = torch.as_tensor(np.asarray(images[s:s + batch_size]), dtype=torch.float32) / 255.0
            out.append(net((x - mean) / std).numpy())
    return np.concatenate(out)


def downsampled_pixels(images, size=16):
    """Block-averaged pixels (n, 3 * size * size)."""
    n, c, h, w = images.shape
    f = h // size
    x = images[:, :, : f * size, : f * size].astype(np.float32)
    return x.reshape(n, c, size, f, size, f).mean((3, 5)).reshape(n, -1)


def probe_r2(features, target, cv=5, seed=0):
    """Cross-validated R^2 of a standardised RidgeCV probe; drops near-constant features."""
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import KFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    sd = features.std(0)
    keep = sd > 1e-4 * max(sd.max(), 1e-12)
    model = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-2, 5, 15)))
    folds = KFold(cv, shuffle=True, random_state=seed)
    return float(cross_val_score(model, features[:, keep], target, cv=folds, scoring="r2").mean())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from sklearn_contig.datasets import make_imaging_genetics

    t0 = time.perf_counter()
    ds, truth = make_imaging_genetics(args.n, image_size=args.size, random_state=args.seed)
    t_gen = time.perf_counter() - t0
    images = ds["image"].values
    t0 = time.perf_counter()
    feats = random_resnet18_features(images, seed=args.seed)
    t_feat = time.perf_counter() - t0
    pix = downsampled_pixels(images)
    traits = truth.traits.loc[ds["individual"].values]
    print(f"n={args.n}, {args.size} px; generation {t_gen:.1f} s, resnet18 features {t_feat:.1f} s")
    print("| trait | class | raw 16x16 pixels R^2 | random resnet18 R^2 |")
    print("| --- | --- | --- | --- |")
    for trait in traits.columns:
        y = traits[trait].to_numpy()
        kind = "easy" if trait in truth.easy_traits else "hard"
        print(f"| {trait} | {kind} | {probe_r2(pix, y):.2f} | {probe_r2(feats, y):.2f} |")


if __name__ == "__main__":
    main()
