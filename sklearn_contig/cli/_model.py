"""The model folder the ``pretrain`` stage writes, and reading it back."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from .._pretrained import _params, save_pretrained

__all__ = ["save_model", "load_model", "read_split", "holds_model", "remove_model"]

ESTIMATOR_FILE = "estimator.joblib"
ENCODER_FILE = "encoder.safetensors"
PARAMS_FILE = "params.json"
SPLIT_FILE = "split.csv"
HISTORY_FILE = "history.csv"
#: The files of a saved model that mark a folder as holding one.
MODEL_FILES = ("config.json", "model.safetensors")


def save_model(est, folder, *, metrics=None, encoder=True) -> Path:
    """Write a fitted pretrainer to ``folder``.

    The folder is :func:`sklearn_contig.save_pretrained`'s output
    (``config.json``, ``model.safetensors``, model card; nothing pickled) plus
    the image encoder as ``encoder.safetensors`` (what fine-tuning reads), the
    parameters as ``params.json`` (null for a value JSON cannot hold) and the
    training history as ``history.csv``. Every file is written anew: a model
    already in ``folder`` is replaced, its encoder included.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / PARAMS_FILE).write_text(
        json.dumps({"class": type(est).__name__, "params": _params(est)[0]}, indent=1))
    save_pretrained(est, folder, metrics=metrics, overwrite=True)
    if encoder:
        est.save_encoder(folder / ENCODER_FILE)
    history = pd.DataFrame([{k: v for k, v in h.items() if np.isscalar(v)} for h in est.history_])
    history.to_csv(folder / HISTORY_FILE, index=False)
    return folder


def holds_model(folder) -> bool:
    """Whether ``folder`` already holds a saved model (``config.json`` or ``model.safetensors``)."""
    return any((Path(folder) / name).exists() for name in MODEL_FILES)


def remove_model(folder) -> None:
    """Delete the files :func:`save_model` writes in ``folder``, and ``folder`` once empty."""
    folder = Path(folder)
    for name in MODEL_FILES + ("README.md", ENCODER_FILE, PARAMS_FILE, HISTORY_FILE):
        (folder / name).unlink(missing_ok=True)
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()


def load_model(folder):
    """Read back a fitted pretrainer written by :func:`save_model`."""
    import sklearn_contig

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"model folder {os.fspath(folder)!r} does not exist")
    if (folder / "config.json").exists() and hasattr(sklearn_contig, "load_pretrained"):
        return sklearn_contig.load_pretrained(folder)
    if (folder / ESTIMATOR_FILE).exists():
        import joblib

        return joblib.load(folder / ESTIMATOR_FILE)
    raise ValueError(f"model folder {os.fspath(folder)!r} holds no fitted pretrainer "
                     f"({ESTIMATOR_FILE} missing); write it with `sklearn-contig pretrain`")


def encoder_path(folder) -> Path:
    """The image encoder's safetensors file in a model folder."""
    if not Path(folder).is_dir():
        raise FileNotFoundError(f"model folder {os.fspath(folder)!r} does not exist")
    path = Path(folder) / ENCODER_FILE
    if not path.exists():
        raise FileNotFoundError(f"model folder {os.fspath(folder)!r} has no {ENCODER_FILE}")
    return path


def read_split(folder):
    """``individual -> "train" | "held_out"`` of a model folder, or None.

    Ids are read as written (``"NA"`` and ``"001"`` are ids, not missing or 1).
    """
    path = Path(folder) / SPLIT_FILE
    if not path.exists():
        return None
    # ids as text: an individual called "NA" stays "NA"
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    return pd.Series(table["split"].to_numpy(), index=table["individual"].to_numpy())
