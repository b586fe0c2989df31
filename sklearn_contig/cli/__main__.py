"""``python -m sklearn_contig.cli`` runs the ``sklearn-contig`` command line."""

from ._main import console_main

console_main()
