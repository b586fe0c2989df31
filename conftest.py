"""pytest configuration for the whole tree (the package's doctests and tests/)."""

import pytest


@pytest.fixture(autouse=True)
def _doctest_tmpdir(request, tmp_path, monkeypatch):
    """Doctests run in a temporary working directory, so the files they write never land in the tree."""
    if isinstance(request.node, pytest.DoctestItem):
        monkeypatch.chdir(tmp_path)
    yield
