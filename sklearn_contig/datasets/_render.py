"""Vectorised numpy rendering of fundus-like images.

Everything is drawn in a canonical frame (right eye: optic disc right of centre,
macula at the centre) on normalised coordinates in [-1, 1]; left eyes are mirrored at
the end. Loops run over vessels and dots (a few dozen), never over pixels: each step
works on a whole (batch, y, x) array.

All randomness of an image (vessel geometry, dot positions, noise seed) is drawn up
front by :func:`draw_geometry` into a *spec* of per-sample arrays, so rendering a
chunk of samples gives exactly the images an in-memory run gives;
:func:`render_batches` is the one loop over chunks that every caller uses.
"""

from __future__ import annotations

import numpy as np

#: Canonical disc and macula centres (x, y) in normalised coordinates.
DISC_CENTRE = (0.44, -0.03)
MACULA_CENTRE = (-0.06, 0.04)
FOV_RADIUS = 0.94

N_MAIN = 8  # 4 temporal arcade vessels + 4 nasal vessels
N_FINE = 18  # fine branches (tortuosity and calibre traits act on these)
MAX_MA = 16  # microaneurysm-like dots (a trait)
MAX_DISTRACTORS = 8  # yellow, genetically neutral dots

# RGB colours (0-1)
_PIGMENT_LIGHT = np.array([0.93, 0.50, 0.24], dtype=np.float32)
_PIGMENT_DARK = np.array([0.55, 0.19, 0.08], dtype=np.float32)
_DISC = np.array([0.99, 0.80, 0.55], dtype=np.float32)
_CUP = np.array([1.00, 0.95, 0.82], dtype=np.float32)
#: How far the cup is blended from the disc colour towards ``_CUP``: a real optic cup
#: is only a little paler than the neuroretinal rim around it.
CUP_OPACITY = 0.5
_ARTERY = np.array([0.62, 0.14, 0.08], dtype=np.float32)
_VEIN = np.array([0.38, 0.06, 0.06], dtype=np.float32)
_MA = np.array([0.36, 0.03, 0.03], dtype=np.float32)
_EXUDATE = np.array([0.98, 0.86, 0.42], dtype=np.float32)


def trait_to_params(traits: dict) -> dict:
    """Map standardised latent traits (each an array, mean 0 sd 1) to render parameters.

    The mapping is monotone per trait; documented ranges (mean +- 2 sd):
    pigmentation -> background colour mix in (0.1, 0.9); disc_size -> disc radius
    0.105-0.185; cup_to_disc -> ratio 0.2-0.7; macula_size -> macula sd 0.07-0.17;
    vessel_tortuosity -> fine-vessel wave amplitude (saturating) and
    wave frequency; vessel_calibre -> fine-vessel
    width; microaneurysms -> expected dot count 1-11.
    """
    t = {k: np.asarray(v, dtype=np.float32) for k, v in traits.items()}
    sig = lambda z: 1.0 / (1.0 + np.exp(-z))  # noqa: E731
    return {
        "pigment_mix": sig(1.1 * t["pigmentation"]),
        "disc_radius": np.clip(0.145 + 0.02 * t["disc_size"], 0.08, 0.22),
        "cup_ratio": np.clip(0.45 + 0.14 * t["cup_to_disc"], 0.1, 0.9),
        "macula_sd": np.clip(0.12 + 0.025 * t["macula_size"], 0.05, 0.2),
        "tortuosity": 0.048 * sig(1.1 * t["vessel_tortuosity"] + 0.3),
        "wave_scale": np.clip(np.exp(-0.2 * t["vessel_tortuosity"]), 0.8, 1.4),
        "calibre": 0.0085 * np.exp(0.45 * t["vessel_calibre"]),
        "ma_rate": np.clip(6.0 + 3.0 * t["microaneurysms"], 0.0, MAX_MA),
    }


def draw_geometry(n, rng) -> dict:
    """Per-sample random geometry (independent of the traits): vessels, dots, seeds."""
    f32 = lambda a: np.asarray(a, dtype=np.float32)  # noqa: E731
    g = {}
    # main vessels: (sign: superior -1 / inferior +1, temporal 1 / nasal 0, artery 1/0)
    side = np.array([-1, -1, 1, 1, -1, -1, 1, 1], dtype=np.float32)
    temporal = np.array([1, 1, 1, 1, 0, 0, 0, 0], dtype=np.float32)
    artery = np.array([1, 0, 1, 0, 1, 0, 1, 0], dtype=np.float32)
    g["main_side"] = np.broadcast_to(side, (n, N_MAIN)).copy()
    g["main_temporal"] = np.broadcast_to(temporal, (n, N_MAIN)).copy()
    g["main_artery"] = np.broadcast_to(artery, (n, N_MAIN)).copy()
    near = np.where(temporal == 1, 1.5, 2.2) + np.where(artery == 1, -0.12, 0.12)
    g["main_near"] = f32(near + rng.normal(0, 0.12, (n, N_MAIN)))
    far = np.where(temporal == 1, 0.25, 2.5)
    g["main_far"] = f32(far + rng.normal(0, 0.06, (n, N_MAIN)))
    g["main_rho"] = f32(np.where(temporal == 1, rng.uniform(0.33, 0.5, (n, N_MAIN)),
                                 rng.uniform(0.2, 0.3, (n, N_MAIN))))
    g["main_wave"] = f32(rng.uniform(0.4, 0.6, (n, N_MAIN)) * rng.choice([-1, 1], (n, N_MAIN)))
    g["main_phase"] = f32(rng.uniform(0, 2 * np.pi, (n, N_MAIN)))
    g["main_width"] = f32(np.where(artery == 1, 0.013, 0.018) * rng.uniform(0.9, 1.1, (n, N_MAIN)))
    g["main_end"] = f32(np.where(temporal == 1, 1.6, 0.9) + rng.uniform(-0.1, 0.1, (n, N_MAIN)))
    # fine branches: parent main vessel, start radius, divergence, length, phase
    g["fine_parent"] = rng.integers(0, N_MAIN, (n, N_FINE))
    g["fine_start"] = f32(rng.uniform(0.12, 0.75, (n, N_FINE)))
    g["fine_turn"] = f32(rng.choice([-1.0, 1.0], (n, N_FINE)) * rng.uniform(0.35, 0.9, (n, N_FINE)))
    g["fine_len"] = f32(rng.uniform(0.3, 0.45, (n, N_FINE)))
    g["fine_phase"] = f32(rng.uniform(0, 2 * np.pi, (n, N_FINE)))
    g["fine_wavelength"] = f32(rng.uniform(0.13, 0.18, (n, N_FINE)))
    # dots: polar positions in the field (avoid the disc later by construction)
    for key, m in (("ma", MAX_MA), ("dist", MAX_DISTRACTORS)):
        rad = 0.78 * np.sqrt(rng.uniform(0.0, 1.0, (n, m)))
        ang = rng.uniform(0, 2 * np.pi, (n, m))
        g[f"{key}_x"] = f32(rad * np.cos(ang) - 0.05)
        g[f"{key}_y"] = f32(rad * np.sin(ang))
        g[f"{key}_size"] = f32(rng.uniform(0.8, 1.2, (n, m)))
    g["ma_jitter"] = f32(rng.uniform(-0.5, 0.5, n))
    g["n_distractors"] = rng.integers(0, MAX_DISTRACTORS + 1, n)
    # background texture: 6 low-frequency cosines
    g["tex_freq"] = f32(rng.uniform(1.5, 5.0, (n, 6, 2)) * rng.choice([-1, 1], (n, 6, 2)))
    g["tex_phase"] = f32(rng.uniform(0, 2 * np.pi, (n, 6)))
    g["illum_shift"] = f32(rng.normal(0, 0.08, (n, 2)))
    g["brightness"] = f32(rng.normal(1.0, 0.04, n))
    g["noise_seed"] = rng.integers(0, 2**31 - 1, n)
    return g


def ma_counts(params, geometry):
    """Number of microaneurysm-like dots drawn in each image."""
    return np.clip(np.rint(params["ma_rate"] + geometry["ma_jitter"]), 0, MAX_MA).astype(int)


def _main_theta(r, g, j):
    """Polar angle (disc-centred, temporal = 0) of main vessel j at radius r."""
    side = g["main_side"][:, j, None, None]
    near = g["main_near"][:, j, None, None]
    far = g["main_far"][:, j, None, None]
    rho = g["main_rho"][:, j, None, None]
    theta = side * (far + (near - far) * np.exp(-r / rho))
    return theta


def _vessel_alpha(u, v, r, theta, width, px, r0, r1, slope=None):
    """Opacity (0-1) of a curve given as polar angle theta(r) around the disc centre.

    ``slope`` is the lateral displacement per unit radius (d(r theta)/dr); the
    horizontal distance to the curve is shortened by sqrt(1 + slope^2) to give the
    perpendicular distance, so wavy vessels keep their width.
    """
    c, s = np.cos(theta), np.sin(theta)
    cross = np.abs(u * s - v * c)  # = r |sin(phi - theta)|
    if slope is not None:
        cross = cross / np.sqrt(1.0 + slope * slope)
    ahead = (u * c + v * s) > 0
    # anti-aliasing: widen by the pixel footprint, keep the integrated darkness
    w_eff = np.sqrt(width * width + (0.5 * px) ** 2)
    a = (width / w_eff) * np.exp(-0.5 * (cross / w_eff) ** 2)
    ramp = np.clip((r - r0) / (3 * px + 0.02), 0, 1) * np.clip((r1 - r) / 0.08, 0, 1)
    return np.where(ahead, a * ramp, 0.0)


def render(params, geometry, image_size, mirror=None):
    """Render a batch of RGB images, optic-disc masks and optic-cup masks.

    Parameters
    ----------
    params : dict of ndarray (b,)
        Output of :func:`trait_to_params` for the batch.
    geometry : dict of ndarray (b, ...)
        Output of :func:`draw_geometry` for the batch.
    image_size : int
    mirror : ndarray of bool (b,), default=None
        Mirror these images left-right (left eyes).

    Returns
    -------
    images : ndarray of shape (b, 3, image_size, image_size), uint8
    disc_mask : ndarray of shape (b, image_size, image_size), uint8
    cup_mask : ndarray of shape (b, image_size, image_size), uint8
        The optic cup: a pale, low-contrast region inside the disc, offset towards
        the macula, of radius ``cup_ratio * disc_radius``.
    """
    b = len(params["disc_radius"])
    h = image_size
    px = 2.0 / h
    lin = (np.arange(h, dtype=np.float32) + 0.5) * px - 1.0
    X = lin[None, None, :]
    Y = lin[None, :, None]
    g = geometry
    P = {k: np.asarray(v, dtype=np.float32)[:, None, None] for k, v in params.items()}

    # --- background: pigmentation, texture, illumination falloff ------------------
    mix = P["pigment_mix"][..., None]  # (b,1,1,1)
    base = (1 - mix) * _PIGMENT_LIGHT + mix * _PIGMENT_DARK  # (b,1,1,3)
    tex = np.zeros((b, h, h), dtype=np.float32)
    for k in range(g["tex_freq"].shape[1]):
        fx = g["tex_freq"][:, k, 0, None, None]
        fy = g["tex_freq"][:, k, 1, None, None]
        tex += np.cos(np.pi * (fx * X + fy * Y) + g["tex_phase"][:, k, None, None])
    tex *= 0.025
    ix = X - g["illum_shift"][:, 0, None, None]
    iy = Y - g["illum_shift"][:, 1, None, None]
    illum = 1.08 - 0.55 * ((ix * ix + iy * iy) / FOV_RADIUS**2) ** 1.3
    shade = np.clip((illum + tex) * g["brightness"][:, None, None], 0.0, None)
    img = base * shade[..., None]  # (b,h,w,3)

    # --- macula: darker spot with a small bright foveal reflex --------------------
    mx, my = MACULA_CENTRE
    d2 = (X - mx) ** 2 + (Y - my) ** 2
    mac = np.exp(-0.5 * d2 / P["macula_sd"] ** 2)
    img *= (1 - 0.5 * mac)[..., None]
    fov_reflex = np.exp(-0.5 * d2 / max(0.012, 0.6 * px) ** 2) * 0.25
    img += (fov_reflex[..., None] * np.array([1.0, 0.9, 0.6], dtype=np.float32))

    # --- optic disc and cup ---------------------------------------------------------
    cx, cy = DISC_CENTRE
    u = cx - X  # towards the macula is +u
    v = Y - cy
    r = np.sqrt(u * u + v * v)
    rd = np.sqrt((X - cx) ** 2 + ((Y - cy) / 1.12) ** 2)  # slightly vertical oval
    edge = max(0.008, 0.6 * px)
    disc = 1 / (1 + np.exp(np.clip((rd - P["disc_radius"]) / edge, -30, 30)))
    rc = np.sqrt((X - cx + 0.15 * P["disc_radius"]) ** 2 + ((Y - cy) / 1.12) ** 2)
    cup_radius = P["cup_ratio"] * P["disc_radius"]
    cup = 1 / (1 + np.exp(np.clip((rc - cup_radius) / (1.5 * edge), -30, 30)))
    cup *= disc * CUP_OPACITY  # inside the disc only, and faint
    img = img * (1 - disc[..., None]) + _DISC * disc[..., None] * shade[..., None] ** 0.3
    img = img * (1 - cup[..., None]) + _CUP * cup[..., None]
    disc_mask = (rd <= P["disc_radius"]).astype(np.uint8)
    cup_mask = ((rc <= cup_radius) & (rd <= P["disc_radius"])).astype(np.uint8)

    # --- vessels: main arcades and nasal vessels, then fine branches ---------------
    art = np.zeros((b, h, h), dtype=np.float32)
    vein = np.zeros((b, h, h), dtype=np.float32)
    taper = np.clip(1.0 - 0.45 * r, 0.45, 1.0)
    for j in range(N_MAIN):
        theta = _main_theta(r, g, j)
        # tortuosity also bends the large vessels a little (amplitude up to ~0.03)
        wave = g["main_wave"][:, j, None, None] * P["tortuosity"]
        theta = theta + wave * np.sin(14 * r + g["main_phase"][:, j, None, None]) / np.maximum(r, 0.05)
        width = g["main_width"][:, j, None, None] * taper
        a = _vessel_alpha(u, v, r, theta, width, px, 0.2 * P["disc_radius"], g["main_end"][:, j, None, None])
        is_art = g["main_artery"][:, j, None, None]
        art = np.maximum(art, a * is_art)
        vein = np.maximum(vein, a * (1 - is_art))
    fine = np.zeros((b, h, h), dtype=np.float32)
    amp = P["tortuosity"]
    cal = P["calibre"]
    rows = np.arange(b)
    for j in range(N_FINE):
        parent = g["fine_parent"][:, j]
        r0 = g["fine_start"][:, j, None, None]
        pg = {key: g[key][rows, parent][:, None] for key in ("main_side", "main_near", "main_far", "main_rho")}
        theta0 = _main_theta(r0, pg, 0)
        rr = np.maximum(r - r0, 0)
        turn = g["fine_turn"][:, j, None, None]
        lam = g["fine_wavelength"][:, j, None, None] * P["wave_scale"]
        arg = 2 * np.pi * rr / lam + g["fine_phase"][:, j, None, None]
        onset = np.clip(rr / 0.05, 0, 1)
        lateral = amp * np.sin(arg) * onset
        slope = np.clip(amp * (2 * np.pi / lam), 0, 3.0) * np.cos(arg) * onset
        theta = theta0 + turn * (1 - np.exp(-rr / 0.25)) * 0.9 + lateral / np.maximum(r, 0.05)
        a = _vessel_alpha(u, v, r, theta, cal, px, r0, r0 + g["fine_len"][:, j, None, None], slope)
        fine = np.maximum(fine, a)
    # fine vessels share the arteriolar colour
    art = np.maximum(art, 0.9 * fine)
    img = img * (1 - art[..., None]) + (_ARTERY * shade[..., None]) * art[..., None]
    img = img * (1 - vein[..., None]) + (_VEIN * shade[..., None]) * vein[..., None]

    # --- dots: microaneurysms (trait) and yellow distractors (neutral) ------------
    counts = ma_counts(params, g)
    for key, n_dots, colour, size in (
        ("ma", counts, _MA, 0.022),
        ("dist", g["n_distractors"], _EXUDATE, 0.018),
    ):
        alpha = np.zeros((b, h, h), dtype=np.float32)
        for k in range(g[f"{key}_x"].shape[1]):
            on = (k < n_dots).astype(np.float32)[:, None, None]
            if not on.any():
                continue
            s = size * g[f"{key}_size"][:, k, None, None]
            s_eff = np.sqrt(s * s + (0.5 * px) ** 2)
            dd = (X - g[f"{key}_x"][:, k, None, None]) ** 2 + (Y - g[f"{key}_y"][:, k, None, None]) ** 2
            a = on * np.minimum(1.0, 1.3 * (s / s_eff) ** 2) * np.exp(-0.5 * dd / s_eff**2)
            alpha = np.maximum(alpha, a)
        alpha *= 1 - disc  # no lesions on the disc
        img = img * (1 - alpha[..., None]) + (colour * shade[..., None] ** 0.5) * alpha[..., None]

    # --- field of view, noise, quantisation -----------------------------------------
    R = np.sqrt(X * X + Y * Y)
    fov = np.clip((FOV_RADIUS - R) / (1.5 * px) + 0.5, 0, 1)
    img = img * fov[..., None]
    out = np.empty((b, 3, h, h), dtype=np.uint8)
    for i in range(b):
        noise = np.random.default_rng(int(g["noise_seed"][i])).normal(0, 0.012, (h, h, 3))
        im = np.clip((img[i] + noise * fov[0, ..., None]) * 255.0, 0, 255)
        out[i] = np.rint(im).astype(np.uint8).transpose(2, 0, 1)
    if mirror is not None:
        mirror = np.asarray(mirror, dtype=bool)
        out[mirror] = out[mirror][..., ::-1]
        disc_mask[mirror] = disc_mask[mirror][..., ::-1]
        cup_mask[mirror] = cup_mask[mirror][..., ::-1]
    return out, disc_mask, cup_mask


def render_batches(params, geometry, image_size, mirror, batch_size):
    """Render samples ``batch_size`` at a time, in order.

    Yields ``(rows, images, disc_mask, cup_mask)`` with ``rows`` the slice of samples
    of the batch; the images do not depend on the batch size.
    """
    n = len(mirror)
    for start in range(0, n, batch_size):
        rows = slice(start, min(start + batch_size, n))
        p = {k: v[rows] for k, v in params.items()}
        g = {k: v[rows] for k, v in geometry.items()}
        yield (rows, *render(p, g, image_size, mirror[rows]))
