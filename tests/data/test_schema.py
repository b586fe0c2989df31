"""from_arrays / validate, and the catalogue of bad inputs across the data layer."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from sklearn_contig.data import (
    align,
    column_fill,
    from_arrays,
    impute_partial,
    presence,
    read_images,
    read_pgs,
    validate,
)

RNG = np.random.default_rng(0)


def _image(n=4):
    return RNG.integers(0, 255, (n, 1, 3, 3), dtype=np.uint8)


def test_from_arrays_layout():
    pgs = pd.DataFrame(RNG.normal(size=(4, 2)), columns=["PGS000001", "PGS000002"],
                       index=["a", "b", "c", "d"])
    ds = from_arrays(_image(), pgs=pgs, snp=RNG.integers(0, 3, (4, 5)),
                     individual_ids=["p", "p", "q", "r"], labels={"y": [0, 1, 0, 1]})
    assert ds["image"].dims == ("sample", "channel", "y", "x")
    assert ds["sample"].values.tolist() == ["a", "b", "c", "d"]  # from the DataFrame index
    assert ds["pgs_id"].values.tolist() == ["PGS000001", "PGS000002"]
    assert ds["snp"].dims == ("sample", "snp_id") and ds["snp"].dtype == np.float32
    assert ds["y"].attrs["kind"] == "label"
    assert validate(ds) == ["pgs", "snp"]
    assert validate(ds, ["pgs"], require_genetics=True) == ["pgs"]
    flat = from_arrays(RNG.normal(size=(3, 6)), burden=np.ones((3, 2)))
    assert flat["image"].dims == ("sample", "feature")


def test_presence_and_partial_imputation():
    values = np.array([[0, np.nan], [np.nan, np.nan], [2, 2], [2, 1]], dtype=np.float32)
    ds = from_arrays(_image(), snp=values)
    assert presence(ds)["snp"].tolist() == [True, False, True, True]
    filled = impute_partial(values, "mode")
    assert filled[0].tolist() == [0, 1]  # mode of column 2 over present rows: tie -> 1
    assert np.isnan(filled[1]).all()
    np.testing.assert_allclose(column_fill(values, "mean"), [4 / 3, 1.5])


def test_inputs_never_modified():
    image = _image()
    pgs = pd.DataFrame({"PGS1": [0.1, np.nan, 0.3, 0.4]})
    snp = np.array([[0, 1], [np.nan, 2], [1, 1], [2, 0]])
    copies = image.copy(), pgs.copy(), snp.copy()
    ds = from_arrays(image, pgs=pgs, snp=snp)
    ds["image"].values[:] = 0
    ds["snp"].values[:] = 0
    np.testing.assert_array_equal(image, copies[0])
    pd.testing.assert_frame_equal(pgs, copies[1])
    np.testing.assert_array_equal(snp, copies[2])
    ds2 = from_arrays(image, pgs=pgs)
    before = ds2.copy(deep=True)
    validate(ds2)
    align(ds2.drop_vars("pgs"), pgs=read_pgs(pgs.rename_axis("IID").reset_index().astype({"IID": str})))
    xr.testing.assert_identical(ds2, before)
    pd.testing.assert_frame_equal(pgs, copies[1])


# --- bad inputs: each error names the variable and the problem -------------------


def test_duplicate_sample_ids():
    with pytest.raises(ValueError, match="coordinate 'sample' has duplicate ids"):
        from_arrays(_image(3), sample_ids=["a", "b", "a"])


def test_image_with_wrong_number_of_dims():
    with pytest.raises(ValueError, match="image must have shape .* got 3 dims"):
        from_arrays(np.zeros((4, 3, 3)))
    ds = xr.Dataset({"image": (("sample", "a", "b"), np.zeros((2, 1, 1)))},
                    coords={"sample": ["a", "b"], "individual": ("sample", ["a", "b"])})
    with pytest.raises(ValueError, match="variable 'image' must have dims"):
        validate(ds)


def test_non_finite_image_values():
    image = np.zeros((3, 1, 2, 2))
    image[1, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="variable 'image' has non-finite values"):
        from_arrays(image)


def test_modality_missing_for_every_sample():
    with pytest.raises(ValueError, match="modality 'pgs' is missing for every sample"):
        from_arrays(_image(3), pgs=np.full((3, 2), np.nan))


def test_unknown_modality_name():
    ds = from_arrays(_image(3), pgs=np.ones((3, 2)))
    with pytest.raises(ValueError, match="unknown modality 'burden'"):
        validate(ds, modalities=["burden"])
    with pytest.raises(ValueError, match="unknown modality 'snp'"):
        ds.contig.validate("snp")


def test_align_ids_without_overlap():
    images = from_arrays(_image(2), sample_ids=["a", "b"])
    pgs = read_pgs(pd.DataFrame({"IID": ["x", "y"], "PGS1": [1.0, 2.0]}))
    with pytest.raises(ValueError, match="modality 'pgs' shares no individual id"):
        align(images, pgs=pgs)


def test_genotypes_outside_0_1_2():
    with pytest.raises(ValueError, match="modality 'snp' must hold genotype dosages"):
        from_arrays(_image(3), snp=np.array([[0, 1], [2, 3], [1, 0.5]]))


def test_string_typed_modality():
    # a type problem: TypeError (not ValueError), still naming the modality
    with pytest.raises(TypeError, match="modality 'pgs' must hold numbers"):
        from_arrays(_image(2), pgs=np.array([["a", "b"], ["c", "d"]]))
    ds = from_arrays(_image(2), pgs=np.ones((2, 1)))
    ds["pgs"] = ds["pgs"].astype(str)
    with pytest.raises(TypeError, match="modality 'pgs' must be numeric"):
        validate(ds)


def test_fewer_than_two_samples():
    with pytest.raises(ValueError, match="ds has 1 samples; at least 2 are needed"):
        from_arrays(_image(1), pgs=np.ones((1, 2)))


def test_empty_file_list(tmp_path):
    with pytest.raises(ValueError, match=r"no image files found .*\(empty file list\)"):
        read_images(tmp_path, 8)


def test_unreadable_image_file(tmp_path):
    (tmp_path / "a.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(ValueError, match="cannot read image file .*a.png"):
        read_images(tmp_path, 8, check=True)


def test_pgs_table_without_id_column():
    with pytest.raises(ValueError, match="no id column found"):
        read_pgs(pd.DataFrame({"score": [1.0, 2.0]}))


def test_modality_row_count_mismatch():
    with pytest.raises(ValueError, match="modality 'pgs' has 2 rows but the image"):
        from_arrays(_image(3), pgs=np.ones((2, 2)))


def test_validate_rejects_non_dataset_and_missing_pieces():
    with pytest.raises(TypeError, match="ds must be an xarray.Dataset"):
        validate(np.zeros((2, 2)))
    ds = from_arrays(_image(2), pgs=np.ones((2, 1)))
    with pytest.raises(ValueError, match="no 'individual' coordinate"):
        validate(ds.drop_vars("individual"))
    with pytest.raises(ValueError, match="ds has no 'image' variable"):
        validate(ds.drop_vars("image"))
    with pytest.raises(ValueError, match="ds has no genetic modality"):
        validate(ds.drop_vars("pgs"), require_genetics=True)


def test_nan_column_mean_is_the_mean_fill_and_the_scaling_location():
    from sklearn_contig.data._schema import nan_column_mean
    from sklearn_contig.data._torch import column_scaling

    values = np.array([[1.0, np.nan, 2.0], [3.0, np.nan, np.nan], [np.nan, np.nan, 4.0]])
    mean, counts = nan_column_mean(values)
    np.testing.assert_array_equal(mean, [2.0, 0.0, 3.0])
    np.testing.assert_array_equal(counts, [2, 0, 2])
    np.testing.assert_array_equal(column_fill(values, "mean"), mean.astype(np.float32))
    np.testing.assert_array_equal(column_scaling(values)[0], mean.astype(np.float32))


def _ids_frame(values, index, column="BRCA1"):
    return pd.DataFrame({column: values}, index=list(index))


def test_from_arrays_matches_indexed_inputs_by_id():
    pgs = _ids_frame([1.0, 2.0, 3.0], "ABC", "PGS1")
    burden = _ids_frame([30.0, 10.0, 20.0], "CAB")
    grade = pd.Series([3, 1, 2], index=list("CAB"))
    ds = from_arrays(_image(3), pgs=pgs, burden=burden, labels={"grade": grade})
    assert ds["sample"].values.tolist() == ["A", "B", "C"]
    assert ds["burden"].sel(sample="A").item() == 10.0  # not 30: rows follow the ids
    assert ds["burden"].values.ravel().tolist() == [10.0, 20.0, 30.0]
    assert ds["grade"].values.tolist() == [1, 2, 3]
    assert ds["pgs"].values.ravel().tolist() == [1.0, 2.0, 3.0]
    # explicit sample_ids order every indexed input, here a DataArray and a label frame
    snp = xr.DataArray([[0.0], [1.0], [2.0]], dims=("sample", "snp_id"), coords={"sample": list("BCA")})
    masks = pd.DataFrame({"m": [1, 2, 3]}, index=list("BCA"))
    ds = from_arrays(_image(3), sample_ids=["C", "B", "A"], snp=snp, burden=burden,
                     labels={"masks": masks})
    assert ds["snp"].values.ravel().tolist() == [1.0, 0.0, 2.0]
    assert ds["burden"].values.ravel().tolist() == [30.0, 20.0, 10.0]
    assert ds["masks"].values.ravel().tolist() == [2, 1, 3]
    # a label may name the rows when no modality does; numpy inputs stay positional
    ds = from_arrays(_image(3), pgs=np.arange(3.0)[:, None], labels={"grade": grade})
    assert ds["sample"].values.tolist() == ["C", "A", "B"]
    assert ds["pgs"].values.ravel().tolist() == [0.0, 1.0, 2.0]
    # a MultiIndex gives its 'sample' level
    index = pd.MultiIndex.from_arrays([list("CAB"), ["p", "p", "q"]], names=["sample", "individual"])
    ds = from_arrays(_image(3), pgs=pgs, burden=burden.set_axis(index))
    assert ds["burden"].values.ravel().tolist() == [10.0, 20.0, 30.0]


def test_from_arrays_range_index_is_positional():
    burden = pd.DataFrame({"BRCA1": [30.0, 10.0, 20.0]})  # RangeIndex: no ids
    grade = pd.Series([3, 1, 2])
    ds = from_arrays(_image(3), sample_ids=["x", "y", "z"], burden=burden, labels={"grade": grade})
    assert ds["burden"].values.ravel().tolist() == [30.0, 10.0, 20.0]
    assert ds["grade"].values.tolist() == [3, 1, 2]
    ds = from_arrays(_image(3), pgs=_ids_frame([1.0, 2.0, 3.0], "CAB"), burden=burden.iloc[::-1])
    assert ds["sample"].values.tolist() == ["C", "A", "B"]  # the RangeIndex frame does not name rows
    assert ds["burden"].values.ravel().tolist() == [20.0, 10.0, 30.0]


def test_from_arrays_refuses_indexed_inputs_with_other_ids():
    pgs = _ids_frame([1.0, 2.0, 3.0], "ABC", "PGS1")
    with pytest.raises(ValueError, match=r"modality 'burden' is indexed by other ids than the sample "
                                         r"ids \(from the index of modality 'pgs'\): 1 sample ids .*\['C'\].*\['D'\]"):
        from_arrays(_image(3), pgs=pgs, burden=_ids_frame([1.0, 2.0, 3.0], "ABD"))
    with pytest.raises(ValueError, match=r"label 'grade' is indexed by other ids .*from sample_ids"):
        from_arrays(_image(3), sample_ids=["a", "b", "c"], labels={"grade": pd.Series([1, 2, 3], index=list("ABC"))})
    with pytest.raises(ValueError, match=r"modality 'burden' is indexed by other ids .*\['C'\].*\['B'\]"):
        from_arrays(_image(2), sample_ids=["A", "C"], burden=_ids_frame([1.0, 2.0], "AB"))
    with pytest.raises(ValueError, match=r"modality 'burden' has 2 rows"):  # lacks a sample
        from_arrays(_image(3), pgs=pgs, burden=_ids_frame([1.0, 2.0], "AB"))
    snp = xr.DataArray([[0.0], [1.0], [2.0]], dims=("sample", "snp_id"), coords={"sample": list("ABX")})
    with pytest.raises(ValueError, match=r"modality 'snp' is indexed by other ids .*\['X'\]"):
        from_arrays(_image(3), pgs=pgs, snp=snp)


def test_from_arrays_refuses_duplicate_or_missing_index_ids():
    pgs = _ids_frame([1.0, 2.0, 3.0], "ABC", "PGS1")
    with pytest.raises(ValueError, match=r"modality 'burden' has duplicate ids in its index: \['A'\]"):
        from_arrays(_image(3), pgs=pgs, burden=_ids_frame([1.0, 2.0, 3.0], "AAB"))
    with pytest.raises(ValueError, match=r"label 'grade' has duplicate ids in its index: \['B'\]"):
        from_arrays(_image(3), pgs=pgs, labels={"grade": pd.Series([1, 2, 3], index=list("BBC"))})
    with pytest.raises(ValueError, match=r"modality 'pgs' has duplicate ids in its index"):
        from_arrays(_image(3), pgs=_ids_frame([1.0, 2.0, 3.0], "ABA"))
    with pytest.raises(ValueError, match=r"modality 'pgs' has missing ids \(None or NaN\) in its index at rows \[1\]"):
        from_arrays(_image(3), pgs=pd.DataFrame({"PGS1": [1.0, 2.0, 3.0]}, index=["A", None, "C"]))
    index = pd.MultiIndex.from_arrays([list("ABC"), list("pqr")], names=["a", "b"])
    with pytest.raises(ValueError, match=r"modality 'pgs' has a MultiIndex without a 'sample' level"):
        from_arrays(_image(3), pgs=pgs.set_axis(index))
