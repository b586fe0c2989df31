"""The checkpoint folder of a fit: atomic checkpoints, their fingerprint, and its lock.

Layout of ``checkpoint_dir``::

    lock                      JSON: pid, host and start time of the fit using the folder
    latest/                   the last complete checkpoint
        last_module.safetensors   weights after the last step saved
        best_module.safetensors   weights of the best epoch so far (with a validation split)
        last_optimizer.pt         optimizer state
        last_rng.pt               torch RNG states, and the position in the epoch
                                  (for a checkpoint written mid-epoch)
        history.json              skorch history (a mid-epoch one ends in a partial row)
        fingerprint.json          what the fit was: parameters and data

A checkpoint is written whole into ``latest.tmp/`` and then swapped in by two
renames (``latest`` -> ``latest.old``, ``latest.tmp`` -> ``latest``): whatever
stops the process (a kill, a full disk), one complete checkpoint remains, and
:func:`checkpoint_folder` finds it.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import socket
import time
from pathlib import Path

import numpy as np
import torch

PARAMS = "last_module.safetensors"
BEST = "best_module.safetensors"
OPTIMIZER = "last_optimizer.pt"
RNG = "last_rng.pt"
HISTORY = "history.json"
FINGERPRINT = "fingerprint.json"
LATEST = "latest"
LOCK = "lock"

#: Estimator parameters a resumed fit may change: how long and where it runs,
#: what it prints, how it treats faults; none of them changes what is learned
#: step by step.
RESUMABLE_PARAMS = frozenset({
    "max_epochs", "patience", "verbose", "num_workers", "device", "precision", "compile", "callbacks",
    "resume", "checkpoint_dir", "checkpoint_every", "accelerator", "on_nonfinite", "on_bad_image",
})


def _state(module) -> dict:
    return {k: v.detach().cpu().clone().contiguous() for k, v in module.state_dict().items()}


def save_state_file(module_or_state, path) -> None:
    """Write a module's (or a state dict's) tensors as safetensors."""
    from safetensors.torch import save_file

    state = module_or_state if isinstance(module_or_state, dict) else _state(module_or_state)
    save_file(state, str(path))


def load_state_file(path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path))


def _complete(folder: Path) -> bool:
    return all((folder / f).is_file() for f in (PARAMS, OPTIMIZER, RNG, HISTORY))


def checkpoint_folder(dirname) -> Path | None:
    """The folder of the last complete checkpoint in ``dirname``, or None."""
    d = Path(dirname)
    for name in (LATEST, LATEST + ".old"):
        if _complete(d / name):
            return d / name
    return None


def has_checkpoint(dirname) -> bool:
    """Whether ``dirname`` holds a complete resumable checkpoint."""
    return dirname is not None and checkpoint_folder(dirname) is not None


def rng_state() -> dict:
    """The torch random number generator states (CPU, and every visible GPU)."""
    state = {"cpu": torch.random.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.random.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def write_checkpoint(dirname, *, module_state, optimizer, history, best_state=None, position=None,
                     fingerprint=None) -> Path:
    """Write one complete checkpoint into ``dirname/latest``, replacing the previous one whole.

    ``best_state`` is a state dict, or None to carry the previous checkpoint's
    best weights over. ``position`` (mid-epoch checkpoints) is the epoch's
    sample order and the samples consumed. An error while writing (a full
    disk) leaves the previous checkpoint as it was and is raised as an
    ``OSError`` that says so.
    """
    d = Path(dirname)
    tmp, latest, old = d / (LATEST + ".tmp"), d / LATEST, d / (LATEST + ".old")
    previous = checkpoint_folder(d)
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        save_state_file(module_state, tmp / PARAMS)
        if best_state is not None:
            save_state_file(best_state, tmp / BEST)
        elif previous is not None and (previous / BEST).is_file():
            shutil.copyfile(previous / BEST, tmp / BEST)
        torch.save(optimizer.state_dict(), tmp / OPTIMIZER)
        torch.save({"rng": rng_state(), "position": position}, tmp / RNG)
        if fingerprint is not None:
            (tmp / FINGERPRINT).write_text(json.dumps(fingerprint, indent=1, sort_keys=True))
        history.to_file(str(tmp / HISTORY))
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        kept = f"the previous checkpoint in {previous} is intact" if previous else "no checkpoint was kept"
        raise OSError(exc.errno or errno.EIO, f"could not write a checkpoint to {d} ({exc}); {kept}") from exc
    shutil.rmtree(old, ignore_errors=True)
    if latest.exists():
        os.replace(latest, old)
    os.replace(tmp, latest)
    shutil.rmtree(old, ignore_errors=True)
    return latest


def read_checkpoint(dirname) -> dict:
    """Files of the last complete checkpoint: paths, the RNG/position record and the fingerprint."""
    folder = checkpoint_folder(dirname)
    if folder is None:
        raise FileNotFoundError(f"no complete checkpoint in {dirname}")
    record = torch.load(folder / RNG, weights_only=True)
    if "rng" not in record:  # an RNG state alone
        record = {"rng": record, "position": None}
    fingerprint = None
    if (folder / FINGERPRINT).is_file():
        fingerprint = json.loads((folder / FINGERPRINT).read_text())
    return {"folder": folder, "rng": record["rng"], "position": record.get("position"),
            "fingerprint": fingerprint}


# ----------------------------------------------------------------- fingerprint
def _describe(value):
    """A JSON value that stands for a parameter value (objects by their type)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, dict):
        return {str(k): _describe(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_describe(v) for v in value]
    if isinstance(value, np.ndarray) and value.size <= 64:
        return value.tolist()
    return f"<{type(value).__name__}>"


def _digest(values) -> str:
    h = hashlib.sha256()
    for v in np.asarray(values).ravel().tolist():
        h.update(str(v).encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def fingerprint(estimator, ds, rows, modalities, y=None) -> dict:
    """What a checkpoint was trained on: the estimator's parameters that shape the
    model, loss and split (``RESUMABLE_PARAMS`` left out) and the data (sample and
    individual ids, modality names and widths, labels)."""
    params = {k: _describe(v) for k, v in estimator.get_params(deep=False).items() if k not in RESUMABLE_PARAMS}
    rows = np.asarray(rows)
    image = ds["image"]
    data = {
        "n_samples": int(len(rows)),
        "samples": _digest(np.asarray(ds["sample"].values)[rows]),
        "individuals": _digest(np.asarray(ds["individual"].values)[rows]),
        "image_shape": [int(s) for s in image.shape[1:]],
        "modalities": {m: int(ds[m].shape[1]) for m in modalities},
    }
    if y is not None:
        data["labels"] = _digest(np.asarray(y)[rows])
    return {"estimator": type(estimator).__name__, "params": params, "data": data}


def fingerprint_differences(saved: dict, current: dict) -> list[str]:
    """Human-readable differences between two fingerprints (empty when they agree)."""
    out = []
    if saved.get("estimator") != current.get("estimator"):
        out.append(f"estimator: {saved.get('estimator')} in the checkpoint, {current.get('estimator')} now")
    for group in ("params", "data"):
        old, new = saved.get(group, {}), current.get(group, {})
        for key in sorted(set(old) | set(new)):
            if old.get(key) != new.get(key):
                if key in ("samples", "individuals", "labels"):
                    out.append(f"{key}: other ids/values than in the checkpoint")
                else:
                    out.append(f"{key}: {old.get(key)!r} in the checkpoint, {new.get(key)!r} now")
    return out


def check_fingerprint(dirname, current: dict) -> None:
    """Raise a ValueError when the checkpoint in ``dirname`` was written by another fit."""
    saved = read_checkpoint(dirname)["fingerprint"]
    if saved is None:
        return
    diff = fingerprint_differences(saved, current)
    if diff:
        raise ValueError(
            f"cannot resume from the checkpoint in {dirname}: it was written by a different fit "
            f"({'; '.join(diff)}). Fit with the same parameters and data, or use another "
            "checkpoint_dir (or resume=False to start over)."
        )


# ------------------------------------------------------------------------ lock
def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class FolderLock:
    """Exclusive use of a checkpoint folder by one fit (a ``lock`` file in it).

    A second fit on the folder is refused with a ``RuntimeError`` naming the
    process that holds it; a lock left by a dead process on this host is taken
    over. Use as a context manager.
    """

    def __init__(self, dirname):
        self.path = Path(dirname) / LOCK
        self.held = False

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                try:
                    owner = json.loads(self.path.read_text())
                except (OSError, ValueError):
                    owner = {}
                stale = owner.get("host") == me["host"] and isinstance(owner.get("pid"), int) \
                    and owner["pid"] != me["pid"] and not _alive(owner["pid"])
                if stale:
                    self.path.unlink(missing_ok=True)
                    continue
                raise RuntimeError(
                    f"checkpoint_dir {self.path.parent} is in use by another fit (process "
                    f"{owner.get('pid', '?')} on {owner.get('host', '?')}, since {owner.get('started', '?')}). "
                    f"Use another checkpoint_dir; if no fit is running there, delete {self.path}."
                ) from None
            with os.fdopen(fd, "w") as f:
                json.dump(me, f)
            self.held = True
            return

    def release(self) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()
