"""The sklearn-contig command line: help of every subcommand, bad input exits 2."""

import os
import subprocess
import sys

import pytest

from sklearn_contig.cli import build_parser, main

SUBCOMMANDS = ["prepare-images", "pretrain", "embed", "finetune", "explain", "gwas", "run", "report"]


def test_every_stage_has_a_subcommand():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert sorted(sub.choices) == sorted(SUBCOMMANDS)


def test_top_level_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in SUBCOMMANDS:
        assert name in out


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_subcommand_help(name, capsys):
    with pytest.raises(SystemExit) as exc:
        main([name, "--help"])
    assert exc.value.code == 0
    assert f"usage: sklearn-contig {name}" in capsys.readouterr().out


def test_estimator_parameters_are_flags_named_as_in_the_api(capsys):
    with pytest.raises(SystemExit):
        main(["pretrain", "--help"])
    out = capsys.readouterr().out
    for flag in ("--max-epochs", "--max_epochs", "--image-encoder", "--checkpoint-dir", "--batch-size"):
        assert flag in out


def _error(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def test_missing_model_folder_exits_2(tmp_path, capsys):
    err = _error(capsys, ["embed", str(tmp_path / "nope"), "--images", str(tmp_path), "--out", "e.csv"])
    assert "sklearn-contig embed: error: model folder" in err and "does not exist" in err


def test_finetune_without_model_folder_exits_2(tmp_path, capsys):
    err = _error(capsys, ["finetune", str(tmp_path / "nope"), "--images", "x", "--out", "o",
                          "--labels", "l.csv", "--target", "grade"])
    assert "model folder" in err and "does not exist" in err


def test_finetune_needs_target_and_masks(tmp_path, capsys):
    (tmp_path / "m").mkdir()
    assert "needs target" in _error(capsys, ["finetune", str(tmp_path / "m"), "--images", "x",
                                             "--out", "o", "--labels", "l.csv"])
    assert "needs masks" in _error(capsys, ["finetune", str(tmp_path / "m"), "--images", "x",
                                            "--out", "o", "--task", "segmentation"])


def test_missing_images_exit_2(tmp_path, capsys):
    err = _error(capsys, ["pretrain", "--images", str(tmp_path / "none"), "--image-size", "32",
                          "--out", str(tmp_path / "m")])
    assert "images" in err and "does not exist" in err


def test_unknown_estimator_value_is_the_api_error(tmp_path, capsys, monkeypatch):
    # a bad parameter value fails with the estimator's own ValueError
    from sklearn_contig.datasets import make_imaging_genetics, write_image_folder

    ds, _ = make_imaging_genetics(12, image_size=16, simulator="independent", n_snps=30,
                                  n_pgs=5, n_genes=5)
    write_image_folder(ds, tmp_path / "img")
    pgs = ds["pgs"].to_pandas()
    pgs.index = ds["individual"].values
    pgs.index.name = "IID"
    pgs.to_csv(tmp_path / "pgs.csv")
    err = _error(capsys, ["pretrain", "--images", str(tmp_path / "img"), "--image-size", "16",
                          "--pgs", str(tmp_path / "pgs.csv"), "--out", str(tmp_path / "m"),
                          "--temperature", "-1"])
    assert "temperature" in err


def test_bad_config_exits_2(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[pretrain]\nmax_epoch = 3\n[cohort]\nimages = 'x'\n")
    err = _error(capsys, ["run", str(cfg)])
    assert "unknown option 'max_epoch'" in err and "max_epochs" in err
    cfg.write_text("[pretrain\n")
    assert "not valid TOML" in _error(capsys, ["run", str(cfg)])
    cfg.write_text("outptu = 'x'\n")
    assert "unknown configuration key 'outptu'" in _error(capsys, ["run", str(cfg)])
    assert "does not exist" in _error(capsys, ["run", str(tmp_path / "none.toml")])


def test_embeddings_suffix_checked_before_work(tmp_path, capsys):
    (tmp_path / "m").mkdir()
    err = _error(capsys, ["embed", str(tmp_path / "m"), "--images", "x", "--out", "e.txt"])
    assert ".parquet or .csv" in err


def test_bad_input_in_a_process_has_no_traceback(tmp_path):
    """The console entry point itself: exit status 2, one message line, no traceback."""
    proc = subprocess.run(
        [sys.executable, "-m", "sklearn_contig.cli", "-q", "gwas", str(tmp_path / "e.parquet"),
         "--genotypes", "g.bed", "--out", str(tmp_path / "o")],
        capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "sklearn-contig gwas: error: embeddings" in proc.stderr


def test_prepare_images_writes_a_zarr_store(tmp_path):
    from sklearn_contig.data import open_zarr
    from sklearn_contig.datasets import make_imaging_genetics, write_image_folder

    ds, _ = make_imaging_genetics(5, image_size=24, simulator="independent", n_snps=30,
                                  n_pgs=5, n_genes=5)
    write_image_folder(ds, tmp_path / "img")
    store = tmp_path / "images.zarr"
    assert main(["-q", "prepare-images", str(tmp_path / "img"), str(store), "--image-size", "16",
                 "--crop", "none"]) == 0
    opened = open_zarr(store)
    assert opened["image"].shape == (5, 3, 16, 16)
    assert sorted(map(str, opened["sample"].values)) == sorted(map(str, ds["sample"].values))


def test_synthetic_stage_with_two_eyes_reads_back_with_its_genetics(tmp_path):
    from sklearn_contig.cli._cohort import load_cohort
    from sklearn_contig.cli._stages import synthetic

    p = synthetic(tmp_path / "syn", n_individuals=10, image_size=16, eyes=2, masks=False, n_snps=30, n_pgs=5,
                  n_genes=5, simulator="independent")
    ds = load_cohort(p["images"], image_size=16, pgs=p["pgs"])
    assert ds.sizes["sample"] == 20 and len(set(ds["individual"].values.tolist())) == 10
