import warnings

import numpy as np
import pytest
import xarray as xr
from PIL import Image

from sklearn_contig.data import from_arrays, open_zarr, read_images, to_zarr, validate
from sklearn_contig.data._images import decode_count, reset_decode_count


def _cohort():
    rng = np.random.default_rng(0)
    ds = from_arrays(
        rng.integers(0, 255, (5, 3, 4, 4), dtype=np.uint8),
        sample_ids=["s1", "s2", "s3", "s4", "s5"],
        individual_ids=["p1", "p1", "p2", "p3", "p4"],
        feature_names={"snp": ["rs1", "rs22", "rs333"], "pgs": ["PGS000001", "PGS000002"]},
        labels={"grade": np.array([0, 1, 2, 1, 0])},
        snp=rng.integers(0, 3, (5, 3)),
        pgs=np.vstack([rng.normal(size=(4, 2)), np.full((1, 2), np.nan)]),
    )
    ds = ds.assign_coords(chromosome=("snp_id", ["1", "X", "22"]))
    ds.attrs["cohort"] = "unit test"
    ds["snp"].attrs["source"] = "toy.bed"
    return ds


def test_round_trip_keeps_values_strings_and_attrs(tmp_path):
    ds = _cohort()
    before = ds.copy(deep=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no zarr 3 string-dtype or consolidation warnings
        path = to_zarr(ds, tmp_path / "cohort.zarr")
        back = open_zarr(path)
    xr.testing.assert_identical(ds, before)  # the input is not modified
    assert back["image"].chunks[0] == (1,) * 5  # lazy, chunked by sample
    assert back["snp"].chunks is not None
    for name in ("sample", "individual", "snp_id", "pgs_id", "chromosome"):
        assert back[name].dtype.kind == "U", name
        assert back[name].values.tolist() == ds[name].values.tolist()
    assert back.attrs == {"cohort": "unit test"}
    assert back["snp"].attrs == {"kind": "genetic", "source": "toy.bed"}
    assert back["grade"].attrs == {"kind": "label"}
    xr.testing.assert_identical(back.load(), ds)
    assert validate(back) == ["snp", "pgs"]
    assert back.contig.presence()["pgs"].tolist() == [True] * 4 + [False]


def test_lazy_images_written_chunk_by_chunk_and_reopened_lazily(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(6):
        Image.fromarray(np.full((5, 5, 3), 10 * i, np.uint8)).save(folder / f"{i}.png")
    ds = read_images(folder, 3)
    reset_decode_count()
    path = to_zarr(ds, tmp_path / "imgs.zarr", samples_per_chunk=4)
    assert decode_count() == 6
    back = open_zarr(path)
    assert back["image"].chunks[0] == (4, 2)
    np.testing.assert_array_equal(back["image"].values[:, 0, 0, 0], 10 * np.arange(6))
    assert back["path"].values.tolist() == ds["path"].values.tolist()
    # a re-opened store can be written again with other chunks
    again = open_zarr(to_zarr(back, tmp_path / "again.zarr"))
    assert again["image"].chunks[0] == (1,) * 6


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        open_zarr(tmp_path / "nothing.zarr")
    with pytest.raises(TypeError, match="must be an xarray.Dataset"):
        to_zarr(np.zeros(3), tmp_path / "x.zarr")
    with pytest.raises(ValueError, match="samples_per_chunk"):
        to_zarr(_cohort(), tmp_path / "x.zarr", samples_per_chunk=0)
