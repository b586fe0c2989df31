"""The HTML report: one self-contained page with every section and figure."""

import base64
import json
import re
import shutil

import pytest

from sklearn_contig.report import SECTIONS, build_report

PNG = b"\x89PNG\r\n\x1a\n"


def test_report_has_every_section_and_embedded_figures(run_dir, report):
    path = report
    assert path == run_dir / "report.html"
    html = path.read_text()
    for section in SECTIONS:
        assert f'<section id="{section}">' in html
    images = re.findall(r'<img[^>]*src="data:image/png;base64,([^"]+)"', html)
    assert len(images) >= 8
    for b64 in images:
        assert base64.b64decode(b64).startswith(PNG)
    # self-contained: nothing is fetched from elsewhere
    assert not re.search(r'(src|href)="(?!data:)', html)
    assert "<script" not in html
    # numbers from every stage's summary reach the page
    assert "quadratic weighted kappa" in html and "Dice" in html
    assert "lambda_GC 1.02" in html and "Planted loci found: 1 of 2" in html


def test_missing_stages_are_stated(run_dir, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(run_dir / "model", run / "model")
    (run / "manifest.json").write_text(json.dumps({"stages": {"pretrain": "model"}}))
    html = build_report(run).read_text()
    assert "No GWAS stage in this run." in html and "No explanation stage in this run." in html
    assert "No fine-tuning stage in this run." in html


def test_not_a_run_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="manifest.json"):
        build_report(tmp_path)


def test_report_subcommand(run_dir, tmp_path):
    from sklearn_contig.cli import main

    run = tmp_path / "run"
    shutil.copytree(run_dir / "model", run / "model")
    (run / "manifest.json").write_text(json.dumps({"stages": {"pretrain": "model"}}))
    out = tmp_path / "page.html"
    assert main(["-q", "report", str(run), "--out", str(out)]) == 0
    assert out.read_text().count("data:image/png;base64,") >= 4
    assert main(["-q", "report", str(tmp_path / "nothing")]) == 2
