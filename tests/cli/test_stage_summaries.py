"""What the pretrain and explain stages record for the report, on a tiny cohort."""

import json

import numpy as np
import pytest

from sklearn_contig.cli._stages import explain, pretrain, synthetic


@pytest.fixture(scope="module")
def stages(tmp_path_factory):
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        tmp = tmp_path_factory.mktemp("stages")
        paths = synthetic(tmp / "syn", n_individuals=24, image_size=16, eyes=2, masks=False, n_snps=30,
                          n_pgs=5, n_genes=5, simulator="independent")
        cohort = {"images": paths["images"], "pgs": paths["pgs"], "image_size": 16}
        # the encoder works at 32 px, twice the stored images
        pre = pretrain(tmp / "model", cohort=cohort,
                       params={"hidden_dim": 16, "projection_dim": 8, "batch_size": 8, "max_epochs": 1,
                               "image_size": 32, "validation_fraction": 0, "verbose": 0})
        exp = explain(tmp / "model", tmp / "explain", cohort=cohort, n_explain=3, truth=paths["truth"],
                      params={"attribute_image": True, "n_steps": 4, "n_reference": 50})
    finally:
        torch.set_num_threads(threads)
    (tmp / "manifest.json").write_text(json.dumps({"stages": {"pretrain": "model", "explain": "explain"}}))
    return tmp, pre, exp


def test_pretrain_records_the_rows_per_individual(stages):
    _, pre, _ = stages
    for scores in pre["held_out"].values():
        rows = scores["rows_per_individual"]["pgs"]
        # two eyes per person, everyone has the polygenic scores
        assert rows == {"2": pre["cohort"]["n_held_out_individuals"]}
        assert sum(int(s) * c for s, c in rows.items()) == scores["n"]


def test_explain_records_the_method_and_the_fitted_reference_size(stages):
    tmp, _, exp = stages
    assert exp["method"] == "integrated_gradients"
    # one sample per individual: fewer than the requested samples
    assert exp["n_reference"] < exp["n_reference_requested"]
    assert json.loads((tmp / "explain" / "summary.json").read_text())["n_reference"] == exp["n_reference"]


def test_report_of_the_stages(stages):
    from sklearn_contig.report import build_report

    tmp, pre, exp = stages
    maps = np.load(tmp / "explain" / "image_maps.npz")
    assert maps["image"].shape[-2:] == (16, 16) and maps["attribution"].shape[-2:] == (32, 32)
    html = build_report(tmp).read_text()
    assert (f"Integrated-gradients attributions of {exp['n_explained']} held-out samples against a "
            f"reference batch of {exp['n_reference']} individuals (one sample each; "
            f"{exp['n_reference_requested']} requested)") in html
    assert "expected score of random embeddings given the images per individual" in html
