"""The prepared GPU check runs end to end on CPU (``--smoke``) and reports every stage."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "device_check.py"

STAGE_FIELDS = {
    "install": ["python", "torch", "torchvision", "cuda", "gpu", "cpu_count", "imports", "wheels_missing_here",
                "package_install"],
    "data": ["n_images", "image_size", "unique_rendered", "processes", "seconds", "genetics"],
    "throughput": ["device", "image_encoder", "batch_size", "num_workers", "timing", "configs"],
    "decode": ["n_files", "decode_jpeg_device", "decode_jpeg_images_per_s", "pil_workers_images_per_s",
               "pil_one_core_images_per_s"],
    "table1": ["config", "methods", "rows", "skipped", "seconds", "cohort_seconds", "markdown"],
}
CONFIG_FIELDS = ["name", "precision", "channels_last", "compile", "contig_images_per_s",
                 "contig_images_per_s_in_epoch", "bare_images_per_s", "ratio", "timed_steps", "skipped"]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("device_check")
    env = {**os.environ, "OUT": str(out), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(SCRIPT), "--smoke"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads((out / "device_check.json").read_text()), (out / "device_check.md").read_text()


def test_smoke_json_has_every_stage(smoke):
    result, _ = smoke
    assert result["meta"]["mode"] == "smoke"
    for stage, fields in STAGE_FIELDS.items():
        assert result.get(stage), f"stage {stage} missing"
        assert not result.get(stage + "_error"), result.get(stage + "_error")
        for field in fields:
            assert field in result[stage], f"{stage}.{field} missing"
        assert stage in result["meta"]["stage_seconds"]


def test_smoke_measures(smoke):
    result, _ = smoke
    assert result["install"]["imports"]["sklearn_contig"] and not str(
        result["install"]["imports"]["sklearn_contig"]).startswith("MISSING")
    assert result["data"]["n_images"] == 32
    configs = {c["name"]: c for c in result["throughput"]["configs"]}
    assert set(configs) == {"fp32", "bf16", "bf16_compile"}
    for c in configs.values():
        assert all(f in c for f in CONFIG_FIELDS)
    for name in ("fp32", "bf16"):
        c = configs[name]
        assert c["skipped"] is None
        assert c["contig_images_per_s"] > 0 and c["bare_images_per_s"] > 0 and c["timed_steps"] > 0
        assert c["ratio"] == pytest.approx(c["contig_images_per_s"] / c["bare_images_per_s"], rel=0.01)
    assert "CPU" in configs["bf16_compile"]["skipped"]  # compile is not run on CPU
    assert result["decode"]["decode_jpeg_images_per_s"] > 0 and result["decode"]["pil_workers_images_per_s"] > 0
    t1 = result["table1"]
    assert t1["methods"] == ["scratch", "contig_pgs", "simclr"]
    assert set(t1["rows"]) | set(t1["skipped"]) == set(t1["methods"])
    assert "scratch" in t1["rows"]  # the smoke budget leaves time for at least the first row
    assert set(t1["rows"]["scratch"]) == {"grade QWK", "disease AUC", "disc Dice", "risk MSE", "risk AUC"}


def test_smoke_markdown_has_every_stage(smoke):
    _, md = smoke
    for stage in STAGE_FIELDS:
        assert f"## {stage}" in md
    assert "| fp32 |" in md and "| bf16_compile |" in md
    assert "decode_jpeg" in md and "| scratch |" in md
    assert "## errors" not in md


def test_timed_rates_excludes_the_first_epoch():
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import device_check
    finally:
        sys.path.remove(str(SCRIPT.parent))
    # epoch 1: slow warm-up; epochs 2 and 3: 4 batches of 8 each, 1 s apart, 2 s gap between epochs
    records = [(1, 0.0, 8), (1, 50.0, 8)]
    records += [(2, 52.0 + i, 8) for i in range(4)] + [(3, 57.0 + i, 8) for i in range(4)]
    across, in_epoch, steps = device_check.timed_rates(records)
    assert steps == 8
    assert across == pytest.approx(64 / (60.0 - 50.0))
    assert in_epoch == pytest.approx(8.0)
    assert device_check.timed_rates([(1, 0.0, 8), (1, 1.0, 8)]) == (None, None, 0)
