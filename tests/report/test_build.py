"""The HTML report: one self-contained page with every section and figure."""

import base64
import json
import re
import shutil

import numpy as np
import pandas as pd
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


def _copy_run(run_dir, tmp_path, stages):
    run = tmp_path / "run"
    for stage in stages.values():
        shutil.copytree(run_dir / stage, run / stage)
    (run / "manifest.json").write_text(json.dumps({"stages": stages}))
    return run


@pytest.mark.parametrize("sizes", [{1: 20}, {2: 10}, {1: 7, 2: 4, 3: 3}])
def test_retrieval_chance_is_the_score_of_random_embeddings(sizes):
    from sklearn_contig.evaluation import top_k_retrieval
    from sklearn_contig.report._figures import retrieval_chance

    groups = np.concatenate([np.repeat(np.arange(c) + 100 * s, s) for s, c in sizes.items()])
    rng = np.random.default_rng(0)
    scores = [top_k_retrieval(rng.normal(size=(len(groups), 4)), rng.normal(size=(len(groups), 4)),
                              k=10, groups=groups) for _ in range(400)]
    assert np.mean(scores) == pytest.approx(retrieval_chance(sizes, k=10), abs=0.02)
    assert retrieval_chance({"1": 20}, 10) == pytest.approx(0.5)
    assert retrieval_chance({"2": 10}, 10) == pytest.approx(1 - 90 / 380)
    assert np.isnan(retrieval_chance({"3": 1}, 10))


def test_retrieval_chance_from_the_rows_per_individual(run_dir, tmp_path):
    run = _copy_run(run_dir, tmp_path, {"pretrain": "model"})
    summary = json.loads((run / "model" / "summary.json").read_text())
    old = build_report(run).read_text()
    assert "chance (dashed) assumes one image per individual" in old
    for scores in summary["held_out"].values():
        scores["rows_per_individual"] = {"snp": {"2": 15}, "pgs": {"1": 10, "2": 10}}
    (run / "model" / "summary.json").write_text(json.dumps(summary))
    html = build_report(run).read_text()
    assert "expected score of random embeddings given the images per individual" in html
    # a chance row in the retrieval table: top-10 of 30 rows, two per individual
    row = re.search(r"<th>chance</th>(.*?)</tr>", html, re.S).group(1)
    assert f"{1 - 20 * 19 / (30 * 29):.3f}" in row


def test_image_maps_are_resized_to_the_image():
    from sklearn_contig.report._figures import image_maps

    rng = np.random.default_rng(0)
    for images in (rng.integers(0, 255, (2, 3, 12, 20), dtype=np.uint8),
                   rng.integers(0, 255, (2, 1, 16, 16), dtype=np.uint8)):
        fig = image_maps(images, rng.normal(size=(2, 32, 32)))
        overlays = [ax for ax in fig.axes if len(ax.get_images()) == 2]
        assert len(overlays) == 2
        for ax in overlays:
            image, attr = ax.get_images()
            assert attr.get_array().shape == image.get_array().shape[:2] == images.shape[2:]


def test_explanation_names_its_method_reference_and_text_features(run_dir, tmp_path, monkeypatch):
    from sklearn_contig.report import _figures

    run = _copy_run(run_dir, tmp_path, {"explain": "explain"})
    summary = json.loads((run / "explain" / "summary.json").read_text())
    summary.update(method="deeplift", n_reference=5, n_reference_requested=10)
    (run / "explain" / "summary.json").write_text(json.dumps(summary))
    pd.DataFrame({"feature": ["NA", "007", "x"], "attribution": [0.3, 0.2, np.nan], "rank": [1, 2, 3],
                  "causal": [True, False, False]}).to_csv(run / "explain" / "global_pgs.csv", index=False)
    seen = {}
    draw = _figures.top_features

    def top_features(tables, **kwargs):
        seen.update(tables)
        return draw(tables, **kwargs)

    monkeypatch.setattr(_figures, "top_features", top_features)
    html = build_report(run).read_text()
    assert "Integrated-gradients" not in html
    assert ("DeepLIFT attributions of 10 held-out samples against a reference batch of 5 individuals "
            "(one sample each; 10 requested)") in html
    assert seen["pgs"]["feature"].tolist() == ["NA", "007", "x"]
    assert seen["pgs"]["attribution"].dtype == float and np.isnan(seen["pgs"]["attribution"].iloc[2])
