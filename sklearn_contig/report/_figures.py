"""Figures of the report, each drawn from the tables a stage wrote."""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd

from ..explain._plots import _pyplot, _resize

__all__ = ["to_base64_png", "retrieval_chance"]


def to_base64_png(fig, dpi=100) -> str:
    """A figure as a base64 PNG string (the figure is closed)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    _pyplot().close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _hwc(img):
    img = np.asarray(img)
    if img.ndim == 3 and img.shape[0] in (1, 3):
        img = img.transpose(1, 2, 0)
    if img.dtype != np.uint8:
        img = np.clip(img * (255.0 if img.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    return img[..., 0] if img.ndim == 3 and img.shape[2] == 1 else img


def example_images(images):
    plt = _pyplot()
    n = len(images)
    fig, axes = plt.subplots(1, n, figsize=(1.4 * n, 1.6), squeeze=False)
    for ax, img in zip(axes[0], images):
        ax.imshow(_hwc(img), cmap="gray")
        ax.axis("off")
    fig.suptitle("example images")
    return fig


def presence(modalities: dict):
    plt = _pyplot()
    names = list(modalities)
    fig, ax = plt.subplots(figsize=(4.5, 2.6))
    ax.barh(names, [modalities[m]["present"] for m in names], color="tab:blue")
    for i, m in enumerate(names):
        ax.text(0.02, i, f"{modalities[m]['features']} features", va="center", color="white")
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of samples with the modality")
    return fig


def training_curves(history: pd.DataFrame, chance=None, title="contrastive loss"):
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    for col in [c for c in history.columns if (c.endswith("loss") or "_loss_" in c) and not c.endswith("_best")]:
        style = "-" if col.startswith("valid") else ":"
        ax.plot(history["epoch"], history[col], style, marker="o", ms=3, label=col)
    if chance is not None:
        ax.axhline(chance, color="grey", ls="--", label="chance (ln batch)")
    ax.set_xlabel("epoch")
    ax.set_ylabel(title)
    ax.legend(fontsize=7, ncol=2)
    return fig


def retrieval_chance(rows_per_individual, k):
    """Expected top-``k`` retrieval of random embeddings, as the CLI measures it.

    Each query (a row that has the modality) ranks all ``n`` such rows, its own
    among them; it scores a hit when one of its ``k`` most similar keys is a row
    of its individual. With random embeddings the top ``k`` are a uniform draw of
    ``k`` of the ``n`` keys, so a query whose individual has ``s`` rows misses
    with the hypergeometric probability ``C(n - s, k) / C(n, k)``; chance is the
    mean hit probability over the queries (about ``k * s / n``).

    Parameters
    ----------
    rows_per_individual : dict
        Number of individuals (value) with a given number of rows (key, int or
        str), e.g. ``{"2": 10}`` for ten individuals of two rows each.
    k : int

    Returns
    -------
    chance : float
        NaN with fewer than two individuals (nothing is scored then).

    Examples
    --------
    >>> retrieval_chance({1: 20}, k=10)
    0.5
    >>> round(retrieval_chance({2: 10}, k=10), 3)
    0.763
    """
    from math import comb

    sizes = {int(s): int(c) for s, c in rows_per_individual.items() if int(c) > 0 and int(s) > 0}
    n = sum(s * c for s, c in sizes.items())
    if sum(sizes.values()) < 2:
        return float("nan")
    k = min(int(k), n)
    hit = sum(c * s * (1 - comb(n - s, k) / comb(n, k)) for s, c in sizes.items())
    return float(hit / n)


def retrieval_chances(scores: dict) -> dict | None:
    """Chance of each modality's top-1 and top-``k`` retrieval of one model's held-out scores.

    ``{"top1": {modality: chance}, "top<k>": {...}}``, or None for a summary that
    does not record the rows per individual.
    """
    rows = scores.get("rows_per_individual")
    if not rows:
        return None
    k = scores["k"]
    return {key: {m: retrieval_chance(rows[m], kk) for m in scores[key] if m in rows}
            for key, kk in (("top1", 1), (f"top{k}", k))}


def retrieval(held_out: dict):
    plt = _pyplot()
    models = list(held_out)
    k = held_out[models[0]]["k"]
    n = held_out[models[0]]["n"]
    mods = list(held_out[models[0]][f"top{k}"])
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    width = 0.8 / len(models)
    for j, m in enumerate(models):
        vals = [held_out[m][f"top{k}"].get(mod, np.nan) for mod in mods]
        ax.bar(np.arange(len(mods)) + j * width, vals, width, label=m)
    chances = retrieval_chances(held_out[models[0]])
    if chances is not None:
        # one chance level per modality: its rows and individuals differ
        label = "chance"
        for i, mod in enumerate(mods):
            c = chances[f"top{k}"].get(mod, np.nan)
            if np.isfinite(c):
                ax.hlines(c, i - width / 2, i + width * (len(models) - 0.5), color="grey",
                          ls="--", label=label)
                label = None
    else:
        # the summary does not record the rows per individual: the chance of
        # one row per individual among all n held-out samples
        chance = min(k / max(n, 1), 1.0)
        ax.axhline(chance, color="grey", ls="--",
                   label=f"chance if one image per individual ({chance:.2f})")
    ax.set_xticks(np.arange(len(mods)) + width * (len(models) - 1) / 2, mods)
    ax.set_ylabel(f"top-{k} retrieval of own genetics")
    ax.set_title(f"held-out individuals ({n} samples)")
    ax.legend(fontsize=8)
    return fig


def grouped_bars(table: pd.DataFrame, ylabel, title=None):
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.2))
    table.plot.bar(ax=ax, rot=30)
    ax.set_ylabel(ylabel)
    ax.axhline(0, color="black", lw=0.5)
    if title:
        ax.set_title(title)
    return fig


def segmentation_examples(image, mask, pred):
    plt = _pyplot()
    n = len(image)
    fig, axes = plt.subplots(3, n, figsize=(1.5 * n, 4.6), squeeze=False)
    for i in range(n):
        for r, (arr, label) in enumerate(((image[i], "image"), (mask[i], "true mask"),
                                          (pred[i], "predicted"))):
            axes[r, i].imshow(_hwc(arr) if r == 0 else np.asarray(arr), cmap="gray")
            axes[r, i].axis("off")
            if i == 0:
                axes[r, i].set_title(label, fontsize=8, loc="left")
    return fig


def top_features(tables: dict, top_k=15):
    """One panel per modality; planted (causal) features in red."""
    plt = _pyplot()
    mods = list(tables)
    fig, axes = plt.subplots(1, len(mods), figsize=(4.2 * len(mods), 0.25 * top_k + 1.2),
                             squeeze=False)
    for ax, mod in zip(axes[0], mods):
        t = tables[mod].head(top_k)[::-1]
        causal = t["causal"].to_numpy(bool) if "causal" in t else np.zeros(len(t), bool)
        ax.barh(t["feature"].astype(str), t["attribution"],
                color=np.where(causal, "tab:red", "tab:grey"))
        ax.set_title(f"{mod}: top {len(t)} ({int(causal.sum())} planted)", fontsize=9)
        ax.tick_params(axis="y", labelsize=7)
        ax.set_xlabel("mean |attribution|")
    return fig


def image_maps(images, attributions):
    """Each image above its |attribution| map, the map resized to the image.

    The encoder resizes the images (to its ``image_size``, square), so a map can
    have another shape than the stored image; it is stretched back (nearest
    neighbour) to lie on the image.
    """
    plt = _pyplot()
    n = len(images)
    fig, axes = plt.subplots(2, n, figsize=(1.8 * n, 3.8), squeeze=False)
    for i in range(n):
        img = _hwc(images[i])
        attr = np.abs(np.nan_to_num(np.asarray(attributions[i], float)))
        if attr.ndim == 3:
            attr = attr.sum(0)
        if attr.shape != img.shape[:2]:
            attr = _resize(attr, img.shape[:2])
        cmap = "gray" if img.ndim == 2 else None
        axes[0, i].imshow(img, cmap=cmap)
        axes[1, i].imshow(img, cmap=cmap)
        axes[1, i].imshow(attr, cmap="inferno", alpha=0.7)
        axes[0, i].axis("off")
        axes[1, i].axis("off")
    axes[0, 0].set_title("image", fontsize=8, loc="left")
    axes[1, 0].set_title("|attribution|", fontsize=8, loc="left")
    return fig


def manhattan(results, planted=None):
    from ..gwas import manhattan_plot, min_p_across

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.2))
    manhattan_plot(min_p_across(results), ax=ax, highlight=planted or None)
    ax.set_title("min p over embedding components" + ("; planted loci in red" if planted else ""))
    return fig


def qq(results):
    from ..gwas import qq_plot

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(3.6, 3.4))
    qq_plot(results, ax=ax)
    return fig
