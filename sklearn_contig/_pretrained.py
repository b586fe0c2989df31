"""Fitted models as shareable folders: ``save_pretrained`` and ``load_pretrained``.

A folder holds three files and no pickle:

- ``config.json``: the estimator class, its JSON-able parameters, the package
  version, the image encoder's configuration (architecture, channels, image
  size, normalisation) and the fitted attributes (label classes, target
  standardisation, each genetic modality's feature names, standardisation and
  fill values, ...);
- ``model.safetensors``: the state dict of the whole fitted network
  (``module_``), e.g. image encoder, genetic encoders and projection heads;
- ``README.md``: a model card (training data, held-out metrics when given,
  intended use, limitations).

:func:`load_pretrained` rebuilds the network from the configuration, loads the
state dict and sets the fitted attributes, so ``transform`` / ``predict`` work
as on the estimator that was saved. Only classes of this package are rebuilt.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

FORMAT = "sklearn_contig.pretrained"
FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
CARD_NAME = "README.md"

#: Fitted attributes kept out of config.json (the network and its wrapper are
#: rebuilt; the device is chosen on loading).
_NOT_SAVED = {"net_", "module_", "device_"}

#: Private attributes a task's predict needs (set in ``fit``).
_PRIVATE_FITTED = ("_masks_3d", "_y_1d")


def _classes() -> dict:
    from .downstream import ContIGClassifier, ContIGRegressor, ContIGSegmenter
    from .pretraining import (
        BarlowTwinsPretrainer,
        BYOLPretrainer,
        ContIGPretrainer,
        NNCLRPretrainer,
        SimCLRPretrainer,
        SimSiamPretrainer,
    )

    return {c.__name__: c for c in (
        ContIGPretrainer, SimCLRPretrainer, BYOLPretrainer, BarlowTwinsPretrainer, SimSiamPretrainer,
        NNCLRPretrainer, ContIGClassifier, ContIGRegressor, ContIGSegmenter,
    )}


# --------------------------------------------------------------------- JSON
def to_json(value):
    """A JSON-able form of ``value``; raises ``TypeError`` for anything else.

    numpy arrays become ``{"__ndarray__": data, "dtype", "shape"}`` (NaN as
    null), tuples ``{"__tuple__": [...]}``; dict keys must be strings.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, np.bool_):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biufUO":
            raise TypeError(f"arrays of dtype {value.dtype} are not saved")
        data = value.astype(np.float64).tolist() if value.dtype.kind == "f" else value.tolist()
        if value.dtype.kind == "f":
            data = _nan_to_none(data)
        elif value.dtype.kind == "O":
            data = to_json(list(value.ravel()))
        return {"__ndarray__": data, "dtype": value.dtype.str if value.dtype.kind != "O" else "object",
                "shape": list(value.shape)}
    if isinstance(value, tuple):
        return {"__tuple__": [to_json(v) for v in value]}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError("dicts with non-string keys are not saved")
        return {k: to_json(v) for k, v in value.items()}
    raise TypeError(f"{type(value).__name__} is not saved")


def _nan_to_none(data):
    if isinstance(data, list):
        return [_nan_to_none(v) for v in data]
    return None if isinstance(data, float) and math.isnan(data) else data


def from_json(value):
    """Inverse of :func:`to_json`."""
    if isinstance(value, list):
        return [from_json(v) for v in value]
    if isinstance(value, dict):
        if "__ndarray__" in value:
            dtype = np.dtype(object) if value["dtype"] == "object" else np.dtype(value["dtype"])
            data = value["__ndarray__"]
            if dtype.kind == "O":
                arr = np.empty(len(data), dtype=object)
                for i, v in enumerate(data):
                    arr[i] = from_json(v)
                return arr.reshape(value["shape"])
            if dtype.kind == "f":
                data = _none_to_nan(data)
            return np.asarray(data, dtype=dtype).reshape(value["shape"])
        if "__tuple__" in value:
            return tuple(from_json(v) for v in value["__tuple__"])
        return {k: from_json(v) for k, v in value.items()}
    return value


def _none_to_nan(data):
    if isinstance(data, list):
        return [_none_to_nan(v) for v in data]
    return float("nan") if data is None else data


# --------------------------------------------------------------------- save
def unique_state_dict(module) -> dict:
    """``module.state_dict()`` with each shared tensor once, under its first name.

    A U-Net shares the encoder's backbone, for instance: the same weights
    appear under ``encoder.backbone.*`` and ``head.backbone.*``; safetensors
    stores a tensor once, and loading the first name fills both.
    """
    seen, out = set(), {}
    for name, t in module.state_dict().items():
        if t.numel():
            key = (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), tuple(t.stride()))
            if key in seen:
                continue
            seen.add(key)
        out[name] = t
    return out


def _params(estimator) -> tuple[dict, list]:
    params, dropped = {}, []
    for name, value in estimator.get_params(deep=False).items():
        try:
            params[name] = to_json(value)
        except TypeError:
            params[name] = None
            dropped.append(name)
    return params, dropped


def _fitted(estimator) -> dict:
    out = {}
    for name, value in vars(estimator).items():
        keep = (name.endswith("_") and not name.startswith("_")) or name in _PRIVATE_FITTED
        if not keep or name in _NOT_SAVED:
            continue
        try:
            out[name] = to_json(value)
        except TypeError:
            continue
    return out


def _encoder_of(estimator):
    module = estimator.module_
    return module.image_encoder if hasattr(module, "image_encoder") else module.encoder


def _encoder_config(encoder) -> dict:
    return {
        **encoder.config(),
        "out_dim": int(encoder.out_dim),
        "mean": encoder.mean.detach().cpu().flatten().tolist(),
        "std": encoder.std.detach().cpu().flatten().tolist(),
    }


def _metric_lines(metrics) -> str:
    if not metrics:
        return "Not recorded when the model was saved (pass `metrics=` to `save_pretrained`)."
    return "\n".join(f"- {k}: {v:.4g}" if isinstance(v, float) else f"- {k}: {v}" for k, v in metrics.items())


def _model_card(config: dict, metrics) -> str:
    est = config["class"]
    params = config["params"]
    fitted = config["fitted"]
    enc = config["image_encoder"]
    modalities = fitted.get("modalities_") or []
    is_pretrainer = config["kind"] == "pretrainer"
    size = enc["image_size"]
    if enc["name"] == "mlp":
        image = f"flat image-derived features ({enc['in_channels']})"
    else:
        image = f"{enc['in_channels']}-channel images at {size} x {size} px" if size else "images at their own size"
    data_lines = [
        f"- samples used in training: {fitted.get('n_train_samples_')} "
        f"(+ {fitted.get('n_valid_samples_')} held out for early stopping)",
        f"- individuals: {fitted.get('n_individuals_', 'not recorded')}",
        f"- image input: {image}, normalised with mean {[round(v, 4) for v in enc['mean']]} "
        f"and std {[round(v, 4) for v in enc['std']]}",
    ]
    if modalities:
        features = fitted.get("modality_features_") or {}
        widths = {m: len(from_json(v)) for m, v in features.items()}
        listed = ", ".join(f"{m} ({widths.get(m, '?')} features)" for m in modalities)
        data_lines.append("- genetic modalities: " + listed)
    if params.get("pretrained_weights"):
        data_lines.append(f"- started from published weights: `{params['pretrained_weights']}`")
    if "classes_" in fitted:
        classes = from_json(fitted["classes_"]).tolist()
        data_lines.append(f"- task: {fitted.get('task_', '')}, classes {classes}")
    use = (
        "Image embeddings (`transform`) for downstream fine-tuning "
        "(`ContIGClassifier(encoder=...)`), linear evaluation or a GWAS on the embeddings "
        "(`GWASTransformer`, on individuals held out of pretraining)."
        if is_pretrainer
        else "Predictions for the task it was trained on, for images like its training images."
    )
    return f"""---
library_name: sklearn-contig
tags:
- sklearn-contig
- {est}
- {enc['name']}
---

# {est} ({enc['name']})

Saved with sklearn-contig {config['package_version']} on {config['saved']}. Load it with

```python
from sklearn_contig import load_pretrained
model = load_pretrained("path/to/this/folder")
```

Nothing is unpickled: `config.json` holds the configuration and fitted attributes,
`model.safetensors` the network's weights.

## Training data

{chr(10).join(data_lines)}

## Held-out metrics

{_metric_lines(metrics)}

## Intended use

{use}

## Limitations

- Trained on the cohort above only: images from other devices, populations or
  preprocessing (crop, resolution) may shift the embeddings and predictions.
- Input must match the training input: {image}; other sizes are resized.
- Genetic associations found with these embeddings are associations, not causal
  effects; individuals used in pretraining should be kept out of a GWAS on them.
- Not a medical device; not validated for clinical decisions.
"""


def save_pretrained(estimator, folder, *, metrics=None, overwrite=False) -> Path:
    """Write a fitted estimator to ``folder``: config.json, model.safetensors, README.md.

    Parameters
    ----------
    estimator : fitted pretrainer or downstream estimator of this package
    folder : str or Path
        Created if needed.
    metrics : dict of str to float, default=None
        Held-out metrics to record in the model card and config (e.g.
        ``{"test_qwk": 0.61}``).
    overwrite : bool, default=False
        Replace the files of an existing model folder.

    Returns
    -------
    folder : Path

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_contig import ContIGClassifier, load_pretrained, save_pretrained
    >>> X = np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32)
    >>> clf = ContIGClassifier(image_encoder="mlp", max_epochs=2, random_state=0).fit(X, X[:, 0] > 0)
    >>> folder = save_pretrained(clf, "my_model")
    >>> sorted(p.name for p in folder.iterdir())
    ['README.md', 'config.json', 'model.safetensors']
    >>> bool((load_pretrained(folder).predict(X) == clf.predict(X)).all())
    True
    """
    from safetensors.torch import save_file

    from . import __version__
    from .pretraining import BasePretrainer

    classes = _classes()
    if type(estimator).__name__ not in classes or not isinstance(estimator, classes[type(estimator).__name__]):
        raise TypeError(f"save_pretrained saves this package's estimators, got {type(estimator).__name__}")
    check_is_fitted(estimator, "net_")
    if metrics is not None and not isinstance(metrics, dict):
        raise TypeError(f"metrics must be a dict of str to number, got {type(metrics).__name__}")
    folder = Path(folder)
    if (folder / CONFIG_NAME).exists() and not overwrite:
        raise FileExistsError(f"{str(folder)!r} already holds a saved model; pass overwrite=True to replace it")
    folder.mkdir(parents=True, exist_ok=True)
    params, dropped = _params(estimator)
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "class": type(estimator).__name__,
        "kind": "pretrainer" if isinstance(estimator, BasePretrainer) else "downstream",
        "package_version": __version__,
        "torch_version": torch.__version__.split("+")[0],
        "saved": datetime.date.today().isoformat(),
        "params": params,
        "params_not_saved": dropped,
        "image_encoder": _encoder_config(_encoder_of(estimator)),
        "fitted": _fitted(estimator),
        "metrics": to_json(metrics or {}),
    }
    state = {k: v.detach().cpu().contiguous() for k, v in unique_state_dict(estimator.module_).items()}
    save_file(state, str(folder / WEIGHTS_NAME), metadata={"format": FORMAT})
    (folder / CONFIG_NAME).write_text(json.dumps(config, indent=2, allow_nan=False) + "\n")
    (folder / CARD_NAME).write_text(_model_card(config, metrics))
    return folder


# --------------------------------------------------------------------- load
class _Sized:
    """Stands in for the training data where only its length is asked."""

    def __init__(self, n):
        self.n = int(n)

    def __len__(self):
        return self.n


def _resolve_folder(source) -> Path:
    folder = Path(source)
    if folder.is_dir():
        return folder
    text = str(source)
    if not folder.exists() and text.count("/") == 1 and not text.startswith((".", "/")):
        try:
            from huggingface_hub import snapshot_download
        except ImportError:
            raise FileNotFoundError(
                f"{text!r} is not a folder; loading a Hugging Face Hub repository needs huggingface_hub "
                "(pip install sklearn-contig[hub])"
            ) from None
        return Path(snapshot_download(repo_id=text, allow_patterns=[CONFIG_NAME, WEIGHTS_NAME, CARD_NAME]))
    raise FileNotFoundError(f"{text!r} is not a folder written by save_pretrained")


def _build_module(est, encoder):
    from .models import ContIGModule
    from .pretraining import ContIGPretrainer

    if isinstance(est, ContIGPretrainer):
        dims = {m: len(loc) for m, (loc, _) in est.genetic_scaling_.items()}
        kinds = est.genetic_encoder
        if isinstance(kinds, dict):
            kinds = {m: kinds.get(m, "H1") for m in dims}
        module = ContIGModule(encoder, dims, kinds, hidden_dim=est.hidden_dim, projection_dim=est.projection_dim)
        return module
    return est._build_module(encoder, None)


def load_pretrained(source, *, device=None):
    """Rebuild a fitted estimator from a folder written by :func:`save_pretrained`.

    Parameters
    ----------
    source : str or Path
        The folder, or a Hugging Face Hub repository id ``"owner/name"`` (needs
        ``huggingface_hub``).
    device : str, default=None
        Where the network runs; the saved ``device`` parameter (``"auto"``: a GPU
        when one is visible) when None.

    Returns
    -------
    estimator : fitted estimator
        ``transform`` / ``predict`` / ``score`` work; ``history_`` is empty (the
        training history is not saved).
    """
    from safetensors.torch import load_file

    from .models import ImageEncoder
    from .training._estimator import resolve_device, resolve_precision

    folder = _resolve_folder(source)
    config_path, weights_path = folder / CONFIG_NAME, folder / WEIGHTS_NAME
    if not config_path.is_file() or not weights_path.is_file():
        raise FileNotFoundError(f"{str(folder)!r} lacks {CONFIG_NAME} or {WEIGHTS_NAME}")
    config = json.loads(config_path.read_text())
    if config.get("format") != FORMAT:
        raise ValueError(f"{str(config_path)!r} was not written by save_pretrained")
    if int(config.get("format_version", 0)) > FORMAT_VERSION:
        raise ValueError(
            f"{str(folder)!r} uses format version {config['format_version']}; this sklearn-contig reads "
            f"up to {FORMAT_VERSION} (upgrade the package)"
        )
    classes = _classes()
    if config.get("class") not in classes:
        raise ValueError(f"unknown estimator class {config.get('class')!r} in {str(config_path)!r}")
    cls = classes[config["class"]]
    valid = set(cls().get_params(deep=False))
    unknown = sorted(set(config["params"]) - valid)
    if unknown:
        warnings.warn(
            f"{str(config_path)!r} has parameters this {cls.__name__} does not know, ignored: {unknown} "
            f"(saved with sklearn-contig {config.get('package_version', '?')})",
            UserWarning,
            stacklevel=2,
        )
    params = {k: from_json(v) for k, v in config["params"].items() if k in valid}
    if device is not None:
        params["device"] = device
    est = cls(**params)
    for name, value in config["fitted"].items():
        setattr(est, name, from_json(value))

    enc_cfg = config["image_encoder"]
    encoder = ImageEncoder(enc_cfg["name"], in_channels=enc_cfg["in_channels"], image_size=enc_cfg["image_size"])
    module = _build_module(est, encoder)
    device_ = resolve_device(est.device)
    est._set_augment(module, est._augment_module(None if encoder.flat else encoder.image_size))
    state = load_file(str(weights_path))
    missing, unexpected = module.load_state_dict(state, strict=False)
    missing = [k for k in missing if k in unique_state_dict(module)]  # shared tensors are saved once
    if missing or unexpected:
        raise ValueError(
            f"{str(weights_path)!r} does not match the {config['class']} network rebuilt from config.json "
            f"(missing {missing[:5]}, unexpected {unexpected[:5]})"
        )
    module.autocast_dtype = resolve_precision(est.precision, device_)
    est.accelerator = None
    net = est._make_net(module, est._build_criterion(), _Sized(est.n_train_samples_), None, device_)
    net.initialize()
    net.module_.eval()
    est.net_ = net
    est.module_ = net.module_
    est.device_ = device_
    return est


def push_to_hub(estimator, repo_id, *, metrics=None, private=True, token=None, commit_message=None):
    """Save ``estimator`` with :func:`save_pretrained` and upload it to the Hugging Face Hub.

    Needs ``huggingface_hub`` (``pip install sklearn-contig[hub]``) and a login.
    Returns the URL of the commit.
    """
    import tempfile

    try:
        from huggingface_hub import HfApi
    except ImportError:
        raise ImportError("push_to_hub needs huggingface_hub: pip install sklearn-contig[hub]") from None
    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = save_pretrained(estimator, Path(tmp) / "model", metrics=metrics)
        info = api.upload_folder(repo_id=repo_id, folder_path=str(folder),
                                 commit_message=commit_message or f"Upload {type(estimator).__name__}")
    return str(info)
