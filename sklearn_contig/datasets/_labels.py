"""Downstream labels from the latent traits, and which individuals miss a modality."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Grade liability: weights on the standardised latent traits (mostly hard traits),
#: the residual noise sd and the liability quantiles that cut grades 0|1|2|3|4.
GRADE_WEIGHTS = {"microaneurysms": 0.6, "vessel_tortuosity": 0.35, "vessel_calibre": 0.3,
                 "cup_to_disc": 0.5}
GRADE_NOISE = 0.25
GRADE_QUANTILES = (0.35, 0.60, 0.80, 0.92)

DISEASES = {
    # name: (prevalence, {trait: weight})
    "glaucoma": (0.10, {"cup_to_disc": 0.8, "disc_size": 0.3}),
    "amd": (0.08, {"macula_size": 0.6, "pigmentation": -0.5}),
    "hypertensive_retinopathy": (0.15, {"vessel_tortuosity": 0.6, "vessel_calibre": -0.5}),
    "diabetic_retinopathy": (0.20, {"microaneurysms": 0.8, "vessel_tortuosity": 0.3}),
}
RISK_FACTORS = {
    # name: (mean, sd, {trait: weight}); the rest of the unit variance is noise
    "age": (57.0, 7.0, {"pigmentation": 0.5, "vessel_tortuosity": 0.4}),
    "bmi": (27.0, 4.5, {"vessel_calibre": 0.5, "disc_size": 0.3}),
    "sbp": (132.0, 16.0, {"vessel_tortuosity": 0.55, "vessel_calibre": -0.45}),
}
BINARY_FACTORS = ["smoker", "diabetes", "hypertension"]


@dataclass
class Labels:
    """Per-individual labels (rows in the order of the traits).

    Attributes
    ----------
    grade : ndarray of shape (n,), int64, 0-4
    diseases : ndarray of shape (n, n_diseases), int64 0/1
    risk : ndarray of shape (n, n_factors), float64
    risk_binary : ndarray of shape (n, n_binary_factors), int64 0/1
    """

    grade: np.ndarray
    diseases: np.ndarray
    risk: np.ndarray
    risk_binary: np.ndarray


def simulate_labels(traits: pd.DataFrame, rng) -> Labels:
    """Per-individual downstream labels from the latent traits plus noise."""
    n = len(traits)
    T = traits
    liab = sum(w * T[k].to_numpy() for k, w in GRADE_WEIGHTS.items())
    liab = liab / np.sqrt(sum(w * w for w in GRADE_WEIGHTS.values()))
    liab = liab + GRADE_NOISE * rng.standard_normal(n)
    cuts = np.quantile(liab, GRADE_QUANTILES)
    grade = np.searchsorted(cuts, liab).astype(np.int64)
    diseases = np.zeros((n, len(DISEASES)), dtype=np.int64)
    for j, (prev, w) in enumerate(DISEASES.values()):
        liability = sum(wk * T[k].to_numpy() for k, wk in w.items()) + 0.6 * rng.standard_normal(n)
        diseases[:, j] = (liability > np.quantile(liability, 1 - prev)).astype(np.int64)
    risk = np.zeros((n, len(RISK_FACTORS)))
    for j, (mean, sd, w) in enumerate(RISK_FACTORS.values()):
        signal = sum(wk * T[k].to_numpy() for k, wk in w.items())
        rest = np.sqrt(max(0.0, 1 - sum(v * v for v in w.values())))
        risk[:, j] = mean + sd * (signal + rest * rng.standard_normal(n))
    binary = np.zeros((n, len(BINARY_FACTORS)), dtype=np.int64)
    smoke = 0.4 * T["vessel_calibre"].to_numpy() + rng.standard_normal(n)
    binary[:, 0] = smoke > np.quantile(smoke, 0.8)
    diab = 0.7 * T["microaneurysms"].to_numpy() + 0.7 * rng.standard_normal(n)
    binary[:, 1] = diab > np.quantile(diab, 0.9)
    binary[:, 2] = risk[:, 2] > 140.0
    return Labels(grade, diseases, risk, binary)


def missing_rows(n, missing, modalities, rng):
    """Per modality, a boolean mask of the individuals missing it (exact fractions)."""
    out = {}
    for mod in modalities:
        frac = missing.get(mod, 0.0)
        k = int(round(frac * n))
        mask = np.zeros(n, dtype=bool)
        if k:
            mask[rng.choice(n, k, replace=False)] = True
        out[mod] = mask
    return out
