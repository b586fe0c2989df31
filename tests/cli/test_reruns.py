"""Stages re-run into the same folders: every output belongs to the run that wrote it last."""

import warnings

import numpy as np
import pandas as pd
import pytest

from sklearn_contig.cli import build_parser, main
from sklearn_contig.cli._run import run_config
from sklearn_contig.cli._stages import explain, finetune, pretrain, synthetic

PARAMS = {"hidden_dim": 16, "projection_dim": 8, "batch_size": 8, "max_epochs": 1, "image_size": 32,
          "validation_fraction": 0, "verbose": 0}


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reruns")
    paths = synthetic(tmp / "syn", n_individuals=24, image_size=16, eyes=2, masks=False, n_snps=30,
                      n_pgs=5, n_genes=5, simulator="independent")
    return tmp, paths, {"images": paths["images"], "pgs": paths["pgs"], "genotypes": paths["genotypes"],
                        "image_size": 16}


@pytest.fixture
def one_torch_thread():
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _tensors(path):
    from safetensors.torch import load_file

    return load_file(str(path))


def _same_tensors(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)


def test_pretrain_rerun_replaces_model_encoder_and_split(cohort, one_torch_thread):
    from sklearn_contig.cli._model import load_model
    from sklearn_contig.pretraining import ContIGPretrainer

    tmp, paths, data = cohort
    model = tmp / "model"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pretrain(model, cohort=data, params=PARAMS, traits=paths["traits"], random_state=0)
    assert not [w for w in caught if "already holds a model" in str(w.message)]
    assert (model / "trait_probes.csv").is_file()
    first_encoder = _tensors(model / "encoder.safetensors")
    first_split = (model / "split.csv").read_text()

    # another split, no traits: a warning names the folder, every file is the new model's
    with pytest.warns(UserWarning, match=f"pretrain: output folder '{model}' already holds a model"):
        pretrain(model, cohort=data, params=PARAMS, random_state=1)
    second_split = (model / "split.csv").read_text()
    assert second_split != first_split
    encoder = _tensors(model / "encoder.safetensors")
    assert not _same_tensors(encoder, first_encoder)
    load_model(model).save_encoder(tmp / "reloaded.safetensors")
    assert _same_tensors(encoder, _tensors(tmp / "reloaded.safetensors"))
    assert not (model / "trait_probes.csv").exists()
    assert (model / "summary.json").is_file()

    # a run that fails in the fit leaves the model and its split as they were
    def fail(self, X, y=None):
        raise RuntimeError("interrupted")

    before = {name: (model / name).read_bytes() for name in ("model.safetensors", "encoder.safetensors")}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ContIGPretrainer, "fit", fail)
        with pytest.warns(UserWarning, match="already holds a model"), pytest.raises(RuntimeError):
            pretrain(model, cohort=data, params=PARAMS, random_state=2)
    assert (model / "split.csv").read_text() == second_split
    assert {name: (model / name).read_bytes() for name in before} == before
    assert not (model / "split.csv.part").exists()


def test_traits_lacking_held_out_individuals_fail_before_training(cohort, monkeypatch):
    from sklearn_contig.pretraining import ContIGPretrainer

    tmp, paths, data = cohort
    traits = pd.read_csv(paths["traits"], dtype={"individual": str}).iloc[:3]
    traits.to_csv(tmp / "few_traits.csv", index=False)

    def fit(self, X, y=None):
        raise AssertionError("trained before checking the traits")

    monkeypatch.setattr(ContIGPretrainer, "fit", fit)
    with pytest.raises(ValueError, match="traits '.*few_traits.csv': the table lacks .* held-out individuals"):
        pretrain(tmp / "no_model", cohort=data, params=PARAMS, traits=tmp / "few_traits.csv")
    assert not (tmp / "no_model").exists()


def test_explain_rerun_removes_the_outputs_it_does_not_write(cohort, one_torch_thread):
    tmp, _, data = cohort
    model = tmp / "explained_model"
    pretrain(model, cohort=data, params=PARAMS)
    out = tmp / "explain"
    explain(model, out, cohort=data, n_explain=3, params={"attribute_image": True, "n_steps": 2})
    assert {"image_maps.npz", "global_snp.csv", "local_snp.csv"} <= {p.name for p in out.iterdir()}
    (out / "notes.csv").write_text("kept\n")
    explain(model, out, cohort=data, n_explain=3, params={"n_steps": 2, "modalities": ["pgs"]})
    names = {p.name for p in out.iterdir()}
    assert not names & {"image_maps.npz", "global_snp.csv", "local_snp.csv"}
    assert {"global_pgs.csv", "local_pgs.csv", "summary.json", "notes.csv"} <= names


def test_finetune_rerun_removes_the_outputs_it_does_not_write(cohort, one_torch_thread):
    tmp, paths, data = cohort
    model = tmp / "finetuned_model"
    pretrain(model, cohort=data, params=PARAMS)
    out = tmp / "finetune"
    # what a segmentation run with the scratch comparison left
    (out / "scratch").mkdir(parents=True)
    for name in ("config.json", "model.safetensors", "README.md", "params.json", "history.csv"):
        (out / "scratch" / name).write_text("old")
    np.savez_compressed(out / "examples.npz", image=np.zeros(1))
    summary = finetune(model, out, cohort={"images": paths["images"], "image_size": 16}, target="grade",
                       labels=paths["labels"], compare_scratch=False,
                       params={"max_epochs": 1, "batch_size": 8, "image_size": 32,
                               "validation_fraction": 0, "verbose": 0})
    assert list(summary["scores"]) == ["ContIG"]
    assert not (out / "scratch").exists() and not (out / "examples.npz").exists()
    assert (out / "ContIG" / "model.safetensors").is_file()


@pytest.mark.parametrize("flag", ["--encoder", "--image-encoder", "--image_encoder"])
def test_finetune_refuses_an_encoder_flag(tmp_path, capsys, flag):
    argv = ["finetune", str(tmp_path / "model"), "--images", "x", "--out", str(tmp_path / "o"),
            "--labels", "l.csv", "--target", "grade", flag, "resnet50"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    name = flag.lstrip("-").replace("-", "_")
    assert f"sklearn-contig finetune: error: finetune: {name!r} (--{name.replace('_', '-')}) cannot be set" in err
    assert "model folder's encoder (encoder.safetensors)" in err and "model folder's architecture" in err


def test_finetune_help_leaves_out_the_refused_flags(capsys):
    with pytest.raises(SystemExit):
        main(["finetune", "--help"])
    out = capsys.readouterr().out
    assert " --encoder" not in out and "--image-encoder" not in out and "--freeze-encoder" in out


def test_finetune_table_with_an_encoder_is_refused(tmp_path):
    config = {"output": str(tmp_path / "run"), "cohort": {"images": "x"},
              "finetune": {"grade": {"target": "grade", "encoder": "other.safetensors"}}}
    with pytest.raises(ValueError, match=r"finetune: 'encoder' \(--encoder\) cannot be set"):
        run_config(config)


@pytest.mark.parametrize("argv, flag", [
    (["pretrain", "--out", "m", "--max-epoch", "2"], "--max-epoch"),
    (["pretrain", "--out", "m", "--temp", "0.1"], "--temp"),
    (["explain", "m", "--out", "e", "--n-exp", "5"], "--n-exp"),
    (["--qui", "report", "d"], "--qui"),
])
def test_abbreviated_flags_are_refused(argv, flag, capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(argv)
    assert exc.value.code == 2
    assert f"unrecognized arguments: {flag}" in capsys.readouterr().err


def test_full_flags_still_parse():
    ns = build_parser().parse_args(["-q", "pretrain", "--out", "m", "--max-epochs", "2", "--max_epochs", "3",
                                    "--temperature", "0.1", "--test-size", "0.2"])
    assert ns.quiet and ns.test_size == 0.2
    assert vars(ns)["param:max_epochs"] == 3 and vars(ns)["param:temperature"] == 0.1
