import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from PIL import Image

from sklearn_contig.data import align, from_arrays, read_images, read_pgs
from sklearn_contig.data._images import decode_count, reset_decode_count


def _images(individuals=("1", "1", "2", "3")):
    n = len(individuals)
    return from_arrays(
        np.zeros((n, 1, 2, 2), np.uint8),
        sample_ids=[f"s{i}" for i in range(n)],
        individual_ids=list(individuals),
        labels={"y": np.arange(n)},
    )


def _pgs(ids, values=None):
    values = np.arange(len(ids) * 2, dtype=float).reshape(-1, 2) if values is None else values
    return xr.DataArray(
        values, dims=("sample", "pgs_id"),
        coords={"sample": list(ids), "individual": ("sample", list(ids)),
                "pgs_id": ["PGS000001", "PGS000002"]},
        name="pgs", attrs={"kind": "genetic"},
    )


def _snp(ids):
    g = np.array([[0, 1, 2], [2, 2, 0], [1, 0, 1]], dtype=float)[: len(ids)]
    return xr.DataArray(
        g, dims=("individual", "snp_id"),
        coords={"individual": list(ids), "snp_id": ["rs1", "rs2", "rs3"],
                "chromosome": ("snp_id", ["1", "1", "2"])},
    )


def test_images_repeat_rows_and_missing_becomes_nan():
    images = _images()
    ds = align(images, pgs=_pgs([2, 1]), snp=_snp([3, 1]))  # ids compared as strings
    assert ds["sample"].values.tolist() == ["s0", "s1", "s2", "s3"]
    np.testing.assert_array_equal(ds["pgs"].values[:3], [[2, 3], [2, 3], [0, 1]])
    assert np.isnan(ds["pgs"].values[3]).all()
    np.testing.assert_array_equal(ds["snp"].values[[0, 1, 3]], [[2, 2, 0], [2, 2, 0], [0, 1, 2]])
    assert np.isnan(ds["snp"].values[2]).all()
    assert ds["snp"].dims == ("sample", "snp_id") and ds["snp"].dtype == np.float32
    assert ds["chromosome"].values.tolist() == ["1", "1", "2"]
    assert ds.contig.modalities == ["pgs", "snp"]
    assert ds.contig.presence()["snp"].tolist() == [True, True, False, True]
    assert ds.contig.individuals.tolist() == ["1", "2", "3"]
    assert ds["y"].attrs["kind"] == "label"
    assert ds.contig.validate() == ["pgs", "snp"]


def test_genetics_without_image_dropped_with_warning():
    with pytest.warns(UserWarning, match=r"2 individual\(s\) of modality 'pgs' have no image"):
        ds = align(_images(), pgs=_pgs(["1", "x", "y"], np.ones((3, 2))))
    assert ds.sizes["sample"] == 4


def test_outer_join_without_image():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = align(pgs=_pgs(["a", "b"]), snp=_snp(["b", "c", "d"]))
    assert ds["sample"].values.tolist() == ["a", "b", "c", "d"]
    assert (ds["sample"].values == ds["individual"].values).all()
    assert ds.contig.presence()["pgs"].tolist() == [True, True, False, False]
    assert ds.contig.presence()["snp"].tolist() == [False, True, True, True]
    assert "image" not in ds


def test_no_overlap_names_the_modality():
    with pytest.raises(ValueError, match="modality 'snp' shares no individual id"):
        align(_images(), pgs=_pgs(["1"], np.ones((1, 2))), snp=_snp(["7", "8"]))


def test_other_errors():
    with pytest.raises(ValueError, match="modality 'pgs' has several rows for individuals"):
        align(_images(), pgs=_pgs(["1", "1"]))
    with pytest.raises(TypeError, match="modality 'pgs' must be an xarray.DataArray"):
        align(_images(), pgs=np.ones((4, 2)))
    with pytest.raises(ValueError, match="needs an image Dataset or at least one modality"):
        align()
    with pytest.raises(ValueError, match="modality 'y' is already a variable"):
        align(_images(), y=_pgs(["1"], np.ones((1, 2))))


def test_inputs_not_modified():
    images, pgs = _images(), _pgs(["3", "1"], np.array([[1.0, np.nan], [2.0, 3.0]]))
    images_before, pgs_before = images.copy(deep=True), pgs.copy(deep=True)
    align(images, pgs=pgs)
    xr.testing.assert_identical(images, images_before)
    xr.testing.assert_identical(pgs, pgs_before)
    table = pd.DataFrame({"IID": ["1", "3"], "PGS1": [0.5, np.nan]})
    table_before = table.copy()
    align(images, pgs=read_pgs(table))
    pd.testing.assert_frame_equal(table, table_before)


def test_lazy_images_stay_lazy(tmp_path):
    for i in range(3):
        Image.fromarray(np.full((4, 4, 3), i, np.uint8)).save(tmp_path / f"{i}.png")
    reset_decode_count()
    ds = align(read_images(tmp_path, 2), pgs=_pgs(["0", "2"]))
    assert decode_count() == 0
    assert not isinstance(ds["image"].variable._data, np.ndarray)  # still file-backed
    np.testing.assert_array_equal(ds["pgs"].values[1], [np.nan, np.nan])


def test_samples_without_a_modality_are_counted_in_the_log(caplog):
    with caplog.at_level("INFO", logger="sklearn_contig.data._align"):
        align(_images(), pgs=_pgs([2, 1]))
    assert "modality 'pgs' is missing for 1 of 4 samples" in caplog.text
