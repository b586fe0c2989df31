"""Plots of explanations: top features (paper Fig. 3/4) and image attribution maps.

All functions draw with matplotlib's Agg backend (no display needed), return the
:class:`~matplotlib.figure.Figure`, and write a PNG when ``path`` is given.
"""

from __future__ import annotations

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _finish(fig, path):
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig


def _as_hwc(image):
    """An image as (y, x, 3) floats in [0, 1], or (y, x) for one channel."""
    img = np.asarray(getattr(image, "values", image))
    if img.ndim == 3 and img.shape[0] in (1, 3, 4) and img.shape[-1] not in (1, 3, 4):
        img = np.moveaxis(img, 0, -1)
    elif img.ndim == 3 and img.shape[0] in (1, 3) and img.shape[-1] in (1, 3) and img.shape[0] != img.shape[-1]:
        img = np.moveaxis(img, 0, -1)
    if img.ndim not in (2, 3):
        raise ValueError(f"image must be (c, y, x), (y, x, c) or (y, x), got shape {img.shape}")
    img = img.astype(np.float64)
    if img.max(initial=0.0) > 1.0:
        img = img / 255.0
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    return np.clip(img, 0.0, 1.0)


def _sample_index(result, sample):
    ids = list(result["sample"].values)
    if isinstance(sample, (int, np.integer)) and sample not in ids:
        if not -len(ids) <= sample < len(ids):
            raise IndexError(f"sample index {sample} out of range for {len(ids)} samples")
        return int(sample) % len(ids)
    if sample not in ids:
        raise KeyError(f"sample {sample!r} is not in the result")
    return ids.index(sample)


def plot_global(result, modality, top_k=20, path=None, ax=None):
    """Bar chart of the ``top_k`` features with the largest global attribution.

    Parameters
    ----------
    result : xarray.Dataset
        Output of :meth:`Explainer.global_`.
    modality : str
        Variable to plot, e.g. ``"pgs"``.
    top_k : int, default=20
    path : str or path-like, default=None
        Write a PNG there.
    ax : matplotlib Axes, default=None

    Returns
    -------
    fig : matplotlib.figure.Figure

    Examples
    --------
    >>> import xarray as xr
    >>> g = xr.Dataset({"pgs": ("pgs_id", [3.0, 2.0, 1.0])},
    ...                coords={"pgs_id": ["PGS000003", "PGS000001", "PGS000002"]})
    >>> fig = plot_global(g, "pgs", top_k=2)
    >>> len(fig.axes[0].patches)
    2
    """
    if modality not in result:
        raise ValueError(f"result has no variable {modality!r}; it has {list(result.data_vars)}")
    plt = _pyplot()
    da = result[modality]
    values = np.asarray(da.values, dtype=float)
    names = np.asarray(da[da.dims[0]].values).astype(str)
    order = np.argsort(-np.nan_to_num(values, nan=-np.inf), kind="stable")[: int(top_k)]
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 0.28 * len(order) + 1.2))
    else:
        fig = ax.figure
    y = np.arange(len(order))[::-1]
    ax.barh(y, values[order], color="#4c72b0")
    ax.set_yticks(y)
    ax.set_yticklabels(names[order], fontsize=8)
    ax.set_xlabel("mean |attribution|")
    ax.set_title(f"Top {len(order)} {modality} features")
    return _finish(fig, path)


def plot_local(result, sample, image=None, top_k=10, path=None, modalities=None):
    """Top positive and negative features of one sample, beside its image.

    Parameters
    ----------
    result : xarray.Dataset
        Output of :meth:`Explainer.local`.
    sample : sample id or int
        Which sample (an id of ``result["sample"]``, or a position).
    image : array-like of shape (c, y, x) or (y, x, c), default=None
        The sample's image (uint8 0-255 or float 0-1), shown on the left; with an
        ``image`` attribution in ``result`` it is overlaid.
    top_k : int, default=10
        Features per sign (positive raise the loss, negative lower it).
    path : str or path-like, default=None
    modalities : list of str, default=None
        Modalities to rank together (features are labelled ``modality:name``);
        all explained modalities when None.

    Returns
    -------
    fig : matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> local = xr.Dataset({"pgs": (("sample", "pgs_id"), [[0.5, -1.0, 0.2]])},
    ...                    coords={"sample": ["s1"], "pgs_id": ["a", "b", "c"]},
    ...                    attrs={"modalities": ["pgs"]})
    >>> fig = plot_local(local, "s1", image=np.zeros((3, 8, 8), np.uint8), top_k=2)
    >>> len(fig.axes)
    2
    """
    plt = _pyplot()
    i = _sample_index(result, sample)
    modalities = list(modalities or result.attrs.get("modalities") or
                      [v for v in result.data_vars if result[v].ndim == 2 and v != "image"])
    labels, values = [], []
    for m in modalities:
        da = result[m]
        row = np.asarray(da.values[i], dtype=float)
        names = np.asarray(da[da.dims[1]].values).astype(str)
        prefix = f"{m}:" if len(modalities) > 1 else ""
        labels += [prefix + n for n in names]
        values.append(row)
    values = np.concatenate(values) if values else np.zeros(0)
    finite = np.isfinite(values)
    order = np.argsort(values[finite])
    idx = np.flatnonzero(finite)[order]
    neg = [j for j in idx[: int(top_k)] if values[j] < 0]
    pos = [j for j in idx[::-1][: int(top_k)] if values[j] > 0]
    chosen = pos + neg[::-1]
    has_image = image is not None or "image" in result
    if has_image:
        fig, (ax_img, ax) = plt.subplots(1, 2, figsize=(10, 0.3 * max(len(chosen), 8) + 1.2),
                                         gridspec_kw={"width_ratios": [1, 1.4]})
        attr = result["image"].values[i] if "image" in result else None
        if image is not None:
            _draw_overlay(ax_img, _as_hwc(image), attr)
        else:
            _draw_map(ax_img, attr)
        ax_img.set_title(f"sample {result['sample'].values[i]}")
    else:
        fig, ax = plt.subplots(figsize=(6, 0.3 * max(len(chosen), 8) + 1.2))
    y = np.arange(len(chosen))[::-1]
    colors = ["#c44e52" if values[j] > 0 else "#4c72b0" for j in chosen]
    ax.barh(y, values[chosen] if chosen else [], color=colors)
    ax.set_yticks(y)
    ax.set_yticklabels([labels[j] for j in chosen], fontsize=8)
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.set_xlabel("attribution (red raises the loss, blue lowers it)")
    ax.set_title("Top positive and negative features")
    if not chosen:
        ax.text(0.5, 0.5, "no attributions (modality missing)", ha="center", transform=ax.transAxes)
    return _finish(fig, path)


def _draw_map(ax, attr):
    if attr is None:
        ax.axis("off")
        return
    lim = float(np.nanmax(np.abs(attr))) or 1.0
    im = ax.imshow(attr, cmap="bwr", vmin=-lim, vmax=lim)
    ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.axis("off")


def _draw_overlay(ax, img, attr, alpha=0.8):
    """The image, with the attribution drawn on top, opaque where it is strong."""
    import matplotlib as mpl

    ax.imshow(img, cmap="gray" if img.ndim == 2 else None)
    if attr is not None:
        attr = np.nan_to_num(np.asarray(attr, dtype=float))
        if attr.shape != img.shape[:2]:
            attr = _resize(attr, img.shape[:2])
        lim = float(np.abs(attr).max()) or 1.0
        norm = mpl.colors.Normalize(-lim, lim)
        rgba = mpl.colormaps["bwr"](norm(attr))
        rgba[..., 3] = alpha * np.abs(attr) / lim
        ax.imshow(rgba)
        ax.figure.colorbar(mpl.cm.ScalarMappable(norm=norm, cmap="bwr"), ax=ax, fraction=0.046, pad=0.04)
    ax.axis("off")


def _resize(a, shape):
    """Nearest-neighbour resize of a 2-D map."""
    rows = (np.arange(shape[0]) * a.shape[0] / shape[0]).astype(int)
    cols = (np.arange(shape[1]) * a.shape[1] / shape[1]).astype(int)
    return a[rows][:, cols]


def plot_image_attribution(image, attribution, path=None, alpha=0.8):
    """The image beside, and overlaid with, its pixel attribution map.

    Parameters
    ----------
    image : array-like of shape (c, y, x) or (y, x, c)
        uint8 0-255 or float 0-1.
    attribution : array-like of shape (y, x)
        E.g. ``local["image"].sel(sample=s)``; resized (nearest) to the image.
    path : str or path-like, default=None
    alpha : float, default=0.8
        Opacity of the overlay where the attribution is strongest (it fades to
        transparent where the attribution is near zero).

    Returns
    -------
    fig : matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> fig = plot_image_attribution(np.zeros((3, 8, 8), np.uint8), np.eye(8))
    >>> len(fig.axes) >= 2
    True
    """
    plt = _pyplot()
    img = _as_hwc(image)
    attr = np.asarray(getattr(attribution, "values", attribution), dtype=float)
    if attr.ndim != 2:
        raise ValueError(f"attribution must be 2-D (y, x), got shape {attr.shape}")
    fig, (a0, a1) = plt.subplots(1, 2, figsize=(8, 4))
    a0.imshow(img, cmap="gray" if img.ndim == 2 else None)
    a0.set_title("image")
    a0.axis("off")
    _draw_overlay(a1, img, attr, alpha=alpha)
    a1.set_title("attribution (red raises the loss)")
    return _finish(fig, path)
