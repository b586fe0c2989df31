"""Manhattan and QQ plots (no PLINK needed: results from the numpy association)."""

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from sklearn_contig.gwas import (
    genomic_inflation,
    linear_association,
    manhattan_plot,
    qq_plot,
)


@pytest.fixture(scope="module")
def results(cohort):
    return linear_association(cohort.pheno[["planted", "null1", "null2"]], cohort.prefix)


def _is_png(path):
    return path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_manhattan_plot(results, cohort, tmp_path):
    path = tmp_path / "manhattan.png"
    ax = manhattan_plot(results, path=path, highlight=[cohort.planted])
    assert _is_png(path)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2"]
    assert "3 phenotypes" in ax.get_title()
    # highest point is the planted SNP (min p across phenotypes x 3)
    highlighted = ax.collections[-1].get_offsets()
    assert len(highlighted) == 1
    p = results.loc[results["SNP"] == cohort.planted, "P"].min() * 3
    assert highlighted[0, 1] == pytest.approx(-np.log10(p))
    assert ax.get_lines()[0].get_ydata()[0] == pytest.approx(-np.log10(5e-8))


def test_qq_plot_on_given_axes(results, tmp_path):
    ax = Figure().add_subplot()
    null = results[results["phenotype"] != "planted"]
    out = qq_plot(null, path=tmp_path / "qq.png", ax=ax)
    assert out is ax and _is_png(tmp_path / "qq.png")
    assert f"{genomic_inflation(null):.3f}" in ax.get_title()
    with pytest.raises(ValueError, match="no p-values"):
        qq_plot(pd.DataFrame({"P": [np.nan]}))


def test_genomic_inflation_values():
    p = np.array([1.0, 0.5, 0.5, 0.5, 0.0])
    # median chi2 of p=0.5 is the chi2(1) median: lambda = 1
    assert genomic_inflation(p) == pytest.approx(1.0)
    assert genomic_inflation([0.01] * 3) > 10
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        genomic_inflation([1.5])
