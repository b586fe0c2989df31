"""Sphinx configuration: API reference from the numpydoc docstrings, and a user guide."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

project = "sklearn-contig"
author = "sklearn-contig developers"
from sklearn_contig import __version__ as release  # noqa: E402

version = release
extensions = ["sphinx.ext.autodoc", "sphinx.ext.autosummary", "numpydoc"]
autosummary_generate = True
autodoc_default_options = {
    "members": True,
    # scikit-learn's generated metadata-routing methods cite its own glossary
    "exclude-members": "set_fit_request,set_score_request,set_transform_request,"
                       "set_predict_request,set_partial_fit_request",
}
numpydoc_show_class_members = False
numpydoc_validation_checks = set()
exclude_patterns = ["_build"]
html_theme = "alabaster"
nitpicky = False
