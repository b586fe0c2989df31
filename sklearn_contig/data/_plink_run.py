"""Find and run the PLINK binaries (``plink2``, ``plink1.9``).

Used by every part of the package that calls PLINK (here :func:`compute_pgs`).
A run that fails raises a :class:`RuntimeError` with the end of PLINK's log.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

#: How to install PLINK; ends every "binary not found" message.
INSTALL_HINT = (
    "Install PLINK 2 and PLINK 1.9 (Debian/Ubuntu: `apt-get install plink2 "
    "plink1.9`; `make plink` does this), or download them from "
    "https://www.cog-genomics.org/plink/2.0/ and "
    "https://www.cog-genomics.org/plink/1.9/ "
    "and pass the binary's path"
)


def find_binary(name, param):
    """The full path of PLINK binary ``name``; ``param`` names the argument that sets it."""
    found = shutil.which(os.fspath(name))
    if found is None:
        raise RuntimeError(
            f"PLINK binary {os.fspath(name)!r} not found (looked on PATH). "
            f"{INSTALL_HINT} as {param}=..."
        )
    return found


def run_plink(cmd, out_prefix: Path, what: str):
    """Run ``cmd``; on failure raise RuntimeError with the tail of PLINK's log."""
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        log = Path(str(out_prefix) + ".log")
        tail = []
        if log.is_file():
            tail = log.read_text(errors="replace").splitlines()[-25:]
        err = (proc.stderr or proc.stdout or "").strip().splitlines()[-10:]
        raise RuntimeError(
            f"{what} failed (exit code {proc.returncode}): {' '.join(map(str, cmd))}\n"
            + ("--- end of " + str(log) + " ---\n" + "\n".join(tail) if tail else "")
            + ("\n--- output ---\n" + "\n".join(err) if err and not tail else "")
        )
    return proc
