"""Link PyTorch's installed files from this environment into another one.

``make test-min`` builds a second virtual environment with the lowest declared
versions. PyTorch and torchvision are pinned to one exact version in both, and
with their CUDA libraries they take about 5 GB; linking them instead of
installing them a second time keeps the two environments within a small disk.

Run with the interpreter of the environment that has PyTorch installed::

    .venv/bin/python requirements/share_torch.py .venv-min/lib/python3.11/site-packages

Distributions linked: torch, torchvision and the heavy packages installed with
them (triton, ``nvidia-*``, ``cuda-*``). The small pure-Python requirements (sympy,
networkx, jinja2, ...) are left for pip to install at their own versions. Does
nothing when PyTorch is not installed here.
"""

import sys
from importlib import metadata
from pathlib import Path

ROOTS = ("torch", "torchvision")


def _heavy(name):
    name = name.lower().replace("_", "-")
    return name in ROOTS or name == "triton" or name.startswith(("nvidia-", "cuda-"))


def _heavy_distributions():
    """Installed torch, torchvision, triton and ``nvidia-*`` / ``cuda-*`` distributions."""
    return [dist for dist in metadata.distributions() if _heavy(dist.metadata["Name"])]


def main(target):
    target = Path(target)
    if not target.is_dir():
        raise SystemExit(f"target site-packages {target} does not exist")
    tops = set()
    for dist in _heavy_distributions():
        for file in dist.files or ():
            if ".." not in file.parts:
                tops.add((Path(dist.locate_file(file.parts[0])), file.parts[0]))
    for source, name in sorted(tops):
        link = target / name
        if source.exists() and not link.exists() and not link.is_symlink():
            link.symlink_to(source.resolve())
    print(f"linked {len(tops)} entries of torch, torchvision and their CUDA libraries into {target}")


if __name__ == "__main__":
    main(*sys.argv[1:])
