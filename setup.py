"""Thin shim so that ``pip install -e .`` works with old tooling; see pyproject.toml."""
from setuptools import setup

setup()
