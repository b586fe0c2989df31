"""`sklearn-contig run examples/quickstart.toml` in an empty folder: every output is there."""

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from sklearn_contig.cli import main

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart.toml"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.plink,
    pytest.mark.skipif(shutil.which("plink2") is None or shutil.which("plink1.9") is None,
                       reason="plink2/plink1.9 not installed (make test installs them via apt)"),
]


def test_quickstart_runs_the_whole_chain(tmp_path, monkeypatch, one_thread):
    monkeypatch.chdir(tmp_path)
    assert main(["-q", "run", str(QUICKSTART)]) == 0
    out = tmp_path / "quickstart_output"
    # the model folder: encoder weights, parameters, split of individuals, history
    model = out / "model"
    for name in ("encoder.safetensors", "split.csv", "history.csv", "summary.json"):
        assert (model / name).is_file(), name
    split = pd.read_csv(model / "split.csv")
    assert set(split["split"]) == {"train", "held_out"}
    # embeddings of the held-out individuals only, indexed by sample and individual
    emb = pd.read_parquet(out / "embeddings.parquet")
    assert emb.index.names == ["sample", "individual"]
    held = set(split.loc[split["split"] == "held_out", "individual"].astype(str))
    assert set(emb.index.get_level_values("individual")) == held
    assert emb.shape[1] == 512
    # fine-tuning: both tasks, ContIG and scratch scored
    for task in ("grade", "disc"):
        s = json.loads((out / "finetune" / task / "summary.json").read_text())
        assert set(s["scores"]) == {"ContIG", "scratch"}
    # explanation tables with the planted features marked
    g = pd.read_csv(out / "explain" / "global_pgs.csv")
    assert {"feature", "attribution", "rank", "causal"} <= set(g.columns) and g["causal"].any()
    # GWAS: one row per SNP x component, regions, summary with the planted loci
    res = pd.read_csv(out / "gwas" / "results.tsv", sep="\t")
    summary = json.loads((out / "gwas" / "summary.json").read_text())
    assert len(res) == summary["n_snps"] * summary["n_components"]
    assert (out / "gwas" / "regions.csv").is_file() and summary["planted"]["n"] > 0
    # the report: one page, every figure embedded
    html = (out / "report.html").read_text()
    assert html.count('src="data:image/png;base64,') >= 8
    for section in ("cohort", "pretraining", "finetuning", "explanation", "gwas"):
        assert f'id="{section}"' in html
