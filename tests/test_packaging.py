"""The lowest supported dependency versions are declared once, tested once.

``requirements/minimum.txt`` pins every lower bound of ``pyproject.toml``
(runtime and ``test`` extras) exactly; ``make test-min`` installs those pins
into ``.venv-min`` and runs the fast tests against them. A floor raised in one
file but not in the other would test versions the package does not declare.
"""

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
MINIMUM = ROOT / "requirements" / "minimum.txt"


def _floor(requirement: str) -> tuple[str, Version]:
    req = Requirement(requirement)
    bounds = [s for s in req.specifier if s.operator in (">=", "==")]
    assert len(bounds) == 1, f"{requirement!r}: expected one '>=' or '==' bound"
    return canonicalize_name(req.name), Version(bounds[0].version)


def _declared() -> dict[str, Version]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + project["optional-dependencies"]["test"]
    return dict(_floor(r) for r in requirements)


def _pinned() -> dict[str, Version]:
    pins = {}
    for line in MINIMUM.read_text().splitlines():
        line = re.sub(r"#.*", "", line).strip()
        if line:
            req = Requirement(line)
            (spec,) = req.specifier
            assert spec.operator == "==", f"{line!r}: minimum.txt pins with '=='"
            pins[canonicalize_name(req.name)] = Version(spec.version)
    return pins


def test_minimum_pins_equal_the_declared_floors():
    declared, pinned = _declared(), _pinned()
    missing = sorted(set(declared) - set(pinned))
    extra = sorted(set(pinned) - set(declared))
    assert not missing, f"add to requirements/minimum.txt at their floor: {missing}"
    assert not extra, f"not declared in pyproject.toml: {extra}"
    differ = {n: (str(declared[n]), str(pinned[n])) for n in declared if declared[n] != pinned[n]}
    assert not differ, f"pyproject floor vs minimum.txt pin: {differ}"


def test_floor_parser_reads_bounds():
    assert _floor("scikit-learn>=1.6") == ("scikit-learn", Version("1.6.0"))
    assert _floor("torch==2.14.1") == ("torch", Version("2.14.1"))
    assert _floor("Pillow>=10") == ("pillow", Version("10"))
