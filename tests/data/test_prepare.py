import json
import os

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from PIL import Image

from sklearn_contig.data import _prepare, align, open_zarr, prepare_images, validate


def _fundus(centre=(30, 40), radius=20, shape=(60, 80), level=150):
    """A bright disc on black, with a darker spot left of centre."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    disc = (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius**2
    img = np.zeros(shape + (3,), np.uint8)
    img[disc] = (level, level // 2, level // 3)
    img[(yy - centre[0]) ** 2 + (xx - centre[1] + radius // 2) ** 2 <= 9] = 40
    return img


def _folder(tmp_path, n_good=6):
    folder = tmp_path / "raw"
    folder.mkdir()
    for i in range(n_good):
        Image.fromarray(_fundus(level=100 + 10 * i)).save(folder / f"good{i}.png")
    Image.fromarray(_fundus()).save(folder / "cut.jpg")
    data = (folder / "cut.jpg").read_bytes()
    (folder / "cut.jpg").write_bytes(data[: len(data) // 2])
    (folder / "notes.jpg").write_text("not an image")
    Image.fromarray(np.zeros((60, 80, 3), np.uint8)).save(folder / "black.png")
    return folder


def _chunk_mtimes(store):
    return {
        os.path.join(root, f): os.stat(os.path.join(root, f)).st_mtime_ns
        for root, _, names in os.walk(store) for f in names
    }


def test_bad_files_are_listed_and_good_ones_stored(tmp_path):
    folder = _folder(tmp_path)
    store = tmp_path / "cohort.zarr"
    out = prepare_images(folder, store, 16, samples_per_chunk=3, progress=False)
    reasons = dict(zip(out.rejected["sample"], out.rejected["reason"]))
    assert sorted(reasons) == ["black", "cut", "notes"]
    assert reasons["black"].startswith("no field of view")
    assert reasons["cut"].startswith("unreadable") and "truncated" in reasons["cut"].lower()
    assert reasons["notes"].startswith("unreadable")
    table = pd.read_csv(tmp_path / "cohort_rejected.csv")
    assert table["sample"].tolist() == out.rejected["sample"].tolist()
    assert table["reason"].tolist() == out.rejected["reason"].tolist()
    assert table["path"].str.endswith(("black.png", "cut.jpg", "notes.jpg")).all()

    ds = open_zarr(store)
    assert ds["image"].shape == (6, 3, 16, 16) and ds["image"].dtype == np.uint8
    assert ds["image"].attrs["kind"] == "image"
    assert ds["sample"].values.tolist() == [f"good{i}" for i in range(6)]
    assert ds["individual"].values.tolist() == ds["sample"].values.tolist()
    assert ds["image"].chunks[0] == (3, 3)
    validate(ds)
    # brighter source images stay brighter
    assert np.all(np.diff(ds["brightness"].values) > 0)
    assert np.all(np.diff(ds["image"].values[:, 0].mean((1, 2))) > 0)
    xr.testing.assert_identical(out.dataset.load(), ds.load())


def test_second_run_does_no_work(tmp_path):
    folder = _folder(tmp_path)
    store = tmp_path / "cohort.zarr"
    prepare_images(folder, store, 16, samples_per_chunk=3, progress=False)
    before = _chunk_mtimes(store)
    csv_before = os.stat(tmp_path / "cohort_rejected.csv").st_mtime_ns
    again = prepare_images(folder, store, 16, samples_per_chunk=3, progress=False)
    assert again.n_processed == 0
    assert _chunk_mtimes(store) == before
    assert os.stat(tmp_path / "cohort_rejected.csv").st_mtime_ns == csv_before
    assert sorted(again.rejected["sample"]) == ["black", "cut", "notes"]
    assert again.dataset.sizes["sample"] == 6


def test_interrupted_run_resumes_from_the_first_unfinished_chunk(tmp_path, monkeypatch):
    folder = _folder(tmp_path)
    ref = prepare_images(folder, tmp_path / "ref.zarr", 16, samples_per_chunk=2, progress=False)
    store = tmp_path / "cohort.zarr"
    original, calls = _prepare._prepare_chunk, []

    def stop_at_third(*args):
        calls.append(args[0])
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(*args)

    monkeypatch.setattr(_prepare, "_prepare_chunk", stop_at_third)
    with pytest.raises(KeyboardInterrupt):
        prepare_images(folder, store, 16, samples_per_chunk=2, progress=False)
    monkeypatch.setattr(_prepare, "_prepare_chunk", original)
    record = json.loads((tmp_path / "cohort_progress.json").read_text())
    assert record["chunks_done"] == 2
    out = prepare_images(folder, store, 16, samples_per_chunk=2, progress=False)
    assert out.n_processed == 9 - 4
    xr.testing.assert_identical(out.dataset.load(), ref.dataset.load())
    pd.testing.assert_frame_equal(out.rejected, ref.rejected)
    on_disk = pd.read_csv(tmp_path / "cohort_rejected.csv")
    assert on_disk.values.tolist() == ref.rejected.values.tolist()


def test_crash_between_append_and_record_is_cut_back(tmp_path, monkeypatch):
    folder = _folder(tmp_path)
    reference = prepare_images(folder, tmp_path / "ref.zarr", 16, samples_per_chunk=2,
                               progress=False).dataset.load()
    store = tmp_path / "cohort.zarr"
    original, writes = _prepare._write_json, []

    def crash_on_third(path, record):  # chunk 0 holds two rejects, chunks 1 and 2 two images each
        writes.append(path)
        if len(writes) == 3:
            raise OSError("disk full")
        original(path, record)

    monkeypatch.setattr(_prepare, "_write_json", crash_on_third)
    with pytest.raises(OSError, match="disk full"):
        prepare_images(folder, store, 16, samples_per_chunk=2, progress=False)
    monkeypatch.setattr(_prepare, "_write_json", original)
    assert json.loads((tmp_path / "cohort_progress.json").read_text())["n_written"] == 2
    assert xr.open_zarr(store, consolidated=False).sizes["sample"] == 4  # one append unrecorded
    out = prepare_images(folder, store, 16, samples_per_chunk=2, progress=False)
    xr.testing.assert_identical(out.dataset.load(), reference)


def test_fundus_crop_centres_a_shifted_circle(tmp_path):
    folder = tmp_path / "raw"
    folder.mkdir()
    Image.fromarray(_fundus(centre=(18, 58), radius=15)).save(folder / "shifted.png")
    Image.fromarray(_fundus(centre=(30, 40), radius=15)).save(folder / "centred.png")
    img = prepare_images(folder, tmp_path / "c.zarr", 32, progress=False).dataset["image"].values
    for one in img:
        mask = one[0] > 50
        yy, xx = np.nonzero(mask)
        assert abs(yy.mean() - 15.5) < 1.0 and abs(xx.mean() - 15.5) < 1.0
        assert yy.min() <= 1 and yy.max() >= 30 and xx.min() <= 1 and xx.max() >= 30
    np.testing.assert_allclose(img[0].astype(float), img[1].astype(float), atol=2)
    # without the crop the shifted disc stays off-centre
    plain = prepare_images(folder, tmp_path / "p.zarr", 32, crop=None, progress=False)
    yy, xx = np.nonzero(plain.dataset["image"].values[1, 0] > 50)
    assert xx.mean() > 20


def test_wide_field_of_view_keeps_its_aspect():
    from sklearn_contig.data._prepare import _pad_to_aspect, fundus_crop

    img = np.zeros((50, 70), np.uint8)
    img[10:20, 10:50] = 200  # 10 x 40 field of view
    crop = fundus_crop(img)
    assert crop.shape == (10, 40)
    square = _pad_to_aspect(crop, (32, 32))
    assert square.shape == (40, 40)
    assert (square[15:25] == 200).all() and (square[:15] == 0).all() and (square[25:] == 0).all()
    assert _pad_to_aspect(crop, (8, 32)).shape == (10, 40)


def test_csv_with_individuals_and_eyes_aligns(tmp_path):
    folder = tmp_path / "raw"
    folder.mkdir()
    for name in ("a_l", "a_r", "b_l"):
        Image.fromarray(_fundus()).save(folder / f"{name}.png")
    pd.DataFrame({
        "path": ["raw/a_l.png", "raw/a_r.png", "raw/b_l.png"],
        "sample": ["a_l", "a_r", "b_l"],
        "individual": ["1", "1", "2"],
        "eye": ["left", "right", "left"],
    }).to_csv(tmp_path / "images.csv", index=False)
    out = prepare_images(tmp_path / "images.csv", tmp_path / "c.zarr", 8, channels=1,
                         progress=False)
    ds = open_zarr(tmp_path / "c.zarr")
    assert ds["image"].shape == (3, 1, 8, 8)
    assert ds["individual"].values.tolist() == ["1", "1", "2"]
    assert ds["eye"].values.tolist() == ["left", "right", "left"]
    assert out.rejected.empty
    pgs = xr.DataArray([[0.5], [1.5]], dims=("individual", "pgs_id"),
                       coords={"individual": ["1", "2"], "pgs_id": ["PGS000001"]})
    cohort = align(ds, pgs=pgs)
    assert cohort["pgs"].values.ravel().tolist() == [0.5, 0.5, 1.5]


def test_brightness_limits_reject_with_reasons(tmp_path):
    folder = tmp_path / "raw"
    folder.mkdir()
    for name, level in (("dim", 30), ("mid", 120), ("glare", 250)):
        Image.fromarray(_fundus(level=level)).save(folder / f"{name}.png")
    out = prepare_images(folder, tmp_path / "c.zarr", 8, min_brightness=20, max_brightness=100,
                         progress=False)
    assert out.dataset["sample"].values.tolist() == ["mid"]
    reasons = dict(zip(out.rejected["sample"], out.rejected["reason"]))
    assert reasons["dim"].startswith("too dark: mean intensity")
    assert reasons["glare"].startswith("too bright: mean intensity")


def test_processes_give_the_same_store(tmp_path):
    folder = _folder(tmp_path)
    one = prepare_images(folder, tmp_path / "one.zarr", 16, samples_per_chunk=2, progress=False)
    two = prepare_images(folder, tmp_path / "two.zarr", 16, samples_per_chunk=2, n_jobs=2,
                         progress=False)
    xr.testing.assert_identical(one.dataset.load(), two.dataset.load())
    assert one.rejected.equals(two.rejected)


def test_existing_store_with_other_settings_needs_overwrite(tmp_path):
    folder = _folder(tmp_path)
    store = tmp_path / "cohort.zarr"
    prepare_images(folder, store, 16, progress=False)
    with pytest.raises(ValueError, match="overwrite=True"):
        prepare_images(folder, store, 12, progress=False)
    out = prepare_images(folder, store, 12, progress=False, overwrite=True)
    assert out.dataset["image"].shape == (6, 3, 12, 12) and out.n_processed == 9
    (tmp_path / "other.zarr").mkdir()
    with pytest.raises(ValueError, match="overwrite=True"):
        prepare_images(folder, tmp_path / "other.zarr", 16, progress=False)


def test_nothing_accepted_raises_after_listing(tmp_path):
    folder = tmp_path / "raw"
    folder.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / "black.png")
    with pytest.raises(ValueError, match="no image of source was accepted"):
        prepare_images(folder, tmp_path / "c.zarr", 8, progress=False)
    assert pd.read_csv(tmp_path / "c_rejected.csv")["sample"].tolist() == ["black"]


@pytest.mark.parametrize("kwargs, match", [
    ({"image_size": 0}, "image_size"),
    ({"channels": 2}, "channels"),
    ({"crop": "circle"}, "crop"),
    ({"fov_threshold": 300}, "fov_threshold"),
    ({"min_brightness": -1}, "min_brightness"),
    ({"max_brightness": "high"}, "max_brightness"),
    ({"min_brightness": 100, "max_brightness": 50}, "min_brightness must be below"),
    ({"samples_per_chunk": 0}, "samples_per_chunk"),
    ({"n_jobs": 0}, "n_jobs"),
    ({"progress": "yes"}, "progress"),
    ({"overwrite": 1}, "overwrite"),
    ({"store": 3}, "store"),
])
def test_bad_arguments_name_the_argument(tmp_path, kwargs, match):
    folder = _folder(tmp_path)
    params = {"source": folder, "store": tmp_path / "c.zarr", "image_size": 8, "progress": False}
    params.update(kwargs)
    with pytest.raises(ValueError, match=match):
        prepare_images(**params)
    assert not (tmp_path / "c.zarr").exists()


def test_bad_sources(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty file list"):
        prepare_images(tmp_path / "empty", tmp_path / "c.zarr", 8, progress=False)
    table = pd.DataFrame({"path": ["a.png", "b.png"], "sample": ["x", "x"]})
    with pytest.raises(ValueError, match="duplicate sample ids"):
        prepare_images(table, tmp_path / "c.zarr", 8, progress=False)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        prepare_images(tmp_path / "missing", tmp_path / "c.zarr", 8, progress=False)


def test_decompression_bomb_is_listed_not_fatal(tmp_path, monkeypatch):
    folder = tmp_path / "raw"
    folder.mkdir()
    for i in range(2):
        Image.fromarray(_fundus(level=120 + 10 * i)).save(folder / f"good{i}.png")
    Image.fromarray(_fundus(shape=(120, 160))).save(folder / "huge.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 5000)  # 60 * 80 < 5000, 120 * 160 > 2 * 5000
    out = prepare_images(folder, tmp_path / "c.zarr", 16, progress=False)
    reasons = dict(zip(out.rejected["sample"], out.rejected["reason"]))
    assert list(reasons) == ["huge"]
    assert reasons["huge"].startswith("unreadable: DecompressionBombError: ")
    assert open_zarr(tmp_path / "c.zarr")["sample"].values.tolist() == ["good0", "good1"]


def test_an_error_that_is_not_a_bad_file_is_raised(tmp_path, monkeypatch):
    folder = _folder(tmp_path)

    def broken(path, mode, draft=None):
        raise RuntimeError("not a file problem")

    monkeypatch.setattr(_prepare, "_open", broken)
    with pytest.raises(RuntimeError, match="not a file problem"):
        prepare_images(folder, tmp_path / "c.zarr", 16, progress=False)


def test_overwrite_never_deletes_a_folder_that_is_not_a_store(tmp_path):
    folder = _folder(tmp_path)
    before = sorted(p.name for p in folder.iterdir())
    with pytest.raises(ValueError, match="is a folder that is not a zarr store"):
        prepare_images(folder, folder, 16, progress=False, overwrite=True)
    assert sorted(p.name for p in folder.iterdir()) == before
