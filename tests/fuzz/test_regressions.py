"""Input-validation bugs the properties of this folder found, one plain test each.

Each input below used to be accepted silently, or to fail with an exception that
did not say which argument was wrong (a TypeError from ``np.unique``, a
RuntimeError from a torch convolution, a LAPACK error), sometimes after training
had begun.
"""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from sklearn_contig.data import align, from_arrays, read_pgs, write_plink
from sklearn_contig.downstream import ContIGClassifier, ContIGRegressor, ContIGSegmenter
from sklearn_contig.gwas import GWASTransformer
from sklearn_contig.pretraining import ContIGPretrainer, SimCLRPretrainer

from .strategies import TrainingProbe

pytestmark = pytest.mark.usefixtures("one_thread")

RNG = np.random.default_rng(0)
FLAT = RNG.normal(size=(8, 5)).astype(np.float32)
IMAGES = RNG.integers(0, 256, (8, 3, 16, 16), dtype=np.uint8)
PGS = RNG.normal(size=(8, 3))
TINY = dict(max_epochs=1, batch_size=4, device="cpu", verbose=0, random_state=0)


def _refused_before_training(model, X, y=None, *, error=ValueError, match):
    probe = TrainingProbe()
    model.set_params(callbacks=[("probe", probe)])
    with pytest.raises(error, match=match):
        model.fit(X, y)
    assert not probe.began and not hasattr(model, "net_")


# ----------------------------------------------------------------- data layer
def test_from_arrays_names_a_modality_without_rows():
    with pytest.raises(TypeError, match="modality 'pgs' must be a 2-D array"):
        from_arrays(IMAGES, pgs=1.5)  # was: object of type 'float' has no len()


def test_from_arrays_names_a_ragged_image():
    with pytest.raises(ValueError, match="image must be an array of equal-sized rows"):
        from_arrays([[1, 2], [3]], pgs=np.ones((2, 1)))


@pytest.mark.parametrize("grade", [3, [0, 1, 2]], ids=["scalar", "short"])
def test_from_arrays_names_a_label_of_the_wrong_length(grade):
    with pytest.raises(ValueError, match=r"label 'grade' must have one entry per sample \(8\)"):
        from_arrays(IMAGES, pgs=PGS, labels={"grade": grade})


@pytest.mark.parametrize("name", ["channel", "x", "feature", "pgs_id"])
def test_from_arrays_refuses_a_modality_named_like_a_dimension(name):
    # "channel" was taken as a coordinate and then reported as an unknown modality
    with pytest.raises(ValueError, match=f"modality '{name}' has the name of a dimension"):
        from_arrays(IMAGES, pgs=PGS, **{name: PGS})


def test_from_arrays_refuses_feature_names_of_absent_modalities():
    with pytest.raises(ValueError, match=r"feature_names names modalities that are not given: \['snp'\]"):
        from_arrays(IMAGES, pgs=PGS, feature_names={"snp": ["rs1"]})


def test_from_arrays_refuses_ids_that_are_not_one_per_sample():
    with pytest.raises(ValueError, match=r"sample_ids must hold one id per sample \(8\), got shape \(4, 2\)"):
        from_arrays(IMAGES, pgs=PGS, sample_ids=np.arange(8).reshape(4, 2))


@pytest.mark.parametrize("missing", [None, np.nan], ids=["None", "NaN"])
@pytest.mark.parametrize("coord", ["sample", "individual"])
def test_validate_refuses_missing_ids(coord, missing):
    ids = np.array([f"i{k}" for k in range(8)], dtype=object)
    ids[3] = missing
    with pytest.raises(ValueError, match=rf"coordinate '{coord}' has missing ids \(None or NaN\) at positions \[3\]"):
        from_arrays(IMAGES, pgs=PGS, **{f"{coord}_ids": ids})


@pytest.mark.parametrize("image", [IMAGES[:, :0], IMAGES[:, :, :0], FLAT[:, :0]], ids=["channels", "rows", "flat"])
def test_validate_refuses_an_empty_image(image):
    with pytest.raises(ValueError, match="variable 'image' is empty along a dimension"):
        from_arrays(image, pgs=PGS)


def test_validate_says_a_modality_has_no_feature():
    # was: "modality 'pgs' is missing for every sample (all rows NaN)"
    with pytest.raises(ValueError, match=r"modality 'pgs' has no feature \(shape \(8, 0\)\)"):
        from_arrays(IMAGES, pgs=np.zeros((8, 0)))


def test_align_refuses_missing_individual_ids():
    pgs = xr.DataArray(PGS[:3], dims=("individual", "pgs_id"), coords={"individual": ["a", None, "c"]})
    with pytest.raises(ValueError, match=r"modality 'pgs' has missing individual ids \(None or NaN\) at rows \[1\]"):
        align(pgs=pgs)  # was: a row for the individual "None"


def test_read_pgs_refuses_missing_ids():
    table = pd.DataFrame({"IID": ["a", np.nan, "c"], "PGS000001": [0.1, 0.2, 0.3]})
    with pytest.raises(ValueError, match=r"table: id column 'IID' has missing ids \(None or NaN\) in rows \[1\]"):
        read_pgs(table)  # was: a row for the individual "nan"


def test_write_plink_refuses_missing_iids(tmp_path):
    with pytest.raises(ValueError, match=r"iid has missing ids \(None or NaN\) at positions \[0\]"):
        write_plink(tmp_path / "g", np.zeros((2, 2)), iid=np.array([None, "b"], dtype=object))


def test_inputs_of_a_refused_cohort_are_unchanged():
    image, pgs = IMAGES.copy(), pd.DataFrame(PGS)
    with pytest.raises(ValueError):
        from_arrays(image, pgs=pgs, labels={"grade": [1, 2]})
    np.testing.assert_array_equal(image, IMAGES)
    pd.testing.assert_frame_equal(pgs, pd.DataFrame(PGS))


# ----------------------------------------------------------------- estimators
def test_contig_refuses_missing_individual_ids_before_training():
    ds = from_arrays(FLAT, pgs=PGS, individual_ids=[None] * 8, validate_result=False)
    # was: TypeError: '<' not supported between instances of 'NoneType' and 'NoneType'
    _refused_before_training(ContIGPretrainer("mlp", hidden_dim=8, projection_dim=4, **TINY), ds,
                             match="coordinate 'individual' has missing ids")


def test_downstream_refuses_empty_images_before_training():
    # was: a torch "Expected non-zero, positive output size" from inside the network
    model = ContIGClassifier(image_encoder="resnet18", **TINY)
    _refused_before_training(model, IMAGES[:, :0], np.arange(8) % 2, match=r"X must be images .* none of them empty")
    # a Dataset whose flat image has no feature used to train a network on nothing
    ds = from_arrays(FLAT[:, :0], validate_result=False)
    model = ContIGClassifier(image_encoder="mlp", **TINY)
    _refused_before_training(model, ds, np.arange(8) % 2, match="variable 'image' is empty along a dimension")


def test_classifier_names_y_in_label_errors():
    model = ContIGClassifier(image_encoder="mlp", **TINY)
    mixed = np.array(["a", 1] * 4, dtype=object)  # was: TypeError "'<' not supported" from np.unique
    _refused_before_training(model, FLAT, mixed, error=TypeError, match=r"y mixes label types \['int', 'str'\]")
    _refused_before_training(model, FLAT, np.linspace(0, 1, 8), match="^y: Unknown label type: continuous")


def test_regressor_names_y_in_target_errors():
    model = ContIGRegressor(image_encoder="mlp", **TINY)
    _refused_before_training(model, FLAT, np.zeros((8, 0)), match=r"^y: Found array with 0 feature\(s\)")
    _refused_before_training(model, FLAT, np.array(list("abcdefgh")), match="^y: could not convert string")


def test_segmenter_refuses_masks_without_channel():
    # was: RuntimeError from a convolution with 0 output channels
    model = ContIGSegmenter(image_encoder="resnet18", **TINY)
    _refused_before_training(model, IMAGES, np.zeros((8, 0, 16, 16), np.uint8), match="masks have no channel")


@pytest.mark.parametrize("cls", [ContIGPretrainer, SimCLRPretrainer], ids=lambda c: c.__name__)
def test_pretrainer_refuses_a_dataset_without_image(cls):
    ds = from_arrays(None, pgs=PGS)
    _refused_before_training(cls("mlp", hidden_dim=8, projection_dim=4, **TINY), ds, match="'image'")


# ------------------------------------------------------------------------ GWAS
EMB = RNG.normal(size=(10, 6))


@pytest.mark.parametrize("missing", [None, np.nan], ids=["None", "NaN"])
def test_gwas_refuses_missing_individual_ids(missing):
    ids = np.array([missing, *range(9)], dtype=object)
    # was: "'list' argument must have no negative elements" from np.bincount
    with pytest.raises(ValueError, match=r"individual ids are missing \(None or NaN\) for rows \[0\] of X"):
        GWASTransformer(n_components=2).fit(EMB, individual=ids)


def test_gwas_refuses_infinite_covariates():
    cov = pd.DataFrame({"age": np.r_[np.inf, np.arange(9.0)]})
    # was: LinAlgError "SVD did not converge in Linear Least Squares" and LAPACK noise
    with pytest.raises(ValueError, match=r"covariates have infinite values in columns \['age'\]"):
        GWASTransformer(n_components=2, covariates=cov).fit(EMB)


def test_gwas_refuses_covariates_without_column():
    cov = pd.DataFrame(index=range(10))
    with pytest.raises(ValueError, match="covariates has no column"):  # was: "No objects to concatenate"
        GWASTransformer(n_components=2, covariates=cov).fit(EMB)


def test_gwas_refuses_covariates_that_drop_every_individual():
    cov = pd.DataFrame({"age": [np.nan] * 9 + [1.0]})
    model = GWASTransformer(n_components=2, covariates=cov, covariates_missing="drop")
    with pytest.warns(UserWarning, match="dropping 9 individuals"):
        with pytest.raises(ValueError, match=r"covariates leave 1 individual\(s\) with complete covariates"):
            model.fit(EMB)  # was: "n_components=2 exceeds min(n_individuals, ...) = min(1, 6)"


def test_gwas_names_x_in_array_errors():
    with pytest.raises(ValueError, match=r"^X: Found array with dim 3"):
        GWASTransformer(n_components=1).fit(EMB[:, :, None])
