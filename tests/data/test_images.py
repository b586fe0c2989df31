import numpy as np
import pandas as pd
import pytest
from PIL import Image

from sklearn_contig.data import read_images, validate
from sklearn_contig.data._images import decode_count, reset_decode_count


def _write_pngs(folder, n, shape=(6, 5), mode="RGB"):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        value = np.full(shape + ((3,) if mode == "RGB" else ()), i % 256, np.uint8)
        Image.fromarray(value).save(folder / f"img{i:03d}.png")
    return folder


def test_lazy_folder_decodes_only_the_batch(tmp_path):
    folder = _write_pngs(tmp_path / "imgs", 200)
    reset_decode_count()
    ds = read_images(folder, image_size=4)
    assert decode_count() == 0
    assert ds["image"].shape == (200, 3, 4, 4)
    assert ds["image"].dims == ("sample", "channel", "y", "x")
    assert ds["image"].attrs["kind"] == "image"
    validate(ds)
    assert decode_count() == 0
    idx = np.random.default_rng(0).choice(200, size=16, replace=False)
    batch = ds["image"][idx].values
    assert decode_count() == 16
    assert batch.shape == (16, 3, 4, 4) and batch.dtype == np.uint8
    np.testing.assert_array_equal(batch[:, 0, 0, 0], idx % 256)
    assert ds["sample"].values[idx[0]] == f"img{idx[0]:03d}"


def test_resize_non_square_and_grayscale(tmp_path):
    folder = _write_pngs(tmp_path / "gray", 3, shape=(9, 7), mode="L")
    ds = read_images(folder, image_size=(5, 3), channels=1)
    out = ds["image"].values
    assert out.shape == (3, 1, 5, 3)
    np.testing.assert_array_equal(out[:, 0, 2, 1], [0, 1, 2])
    rgb = read_images(folder, image_size=(5, 3))
    assert rgb["image"].shape == (3, 3, 5, 3)


def test_csv_with_individuals_and_relative_paths(tmp_path):
    _write_pngs(tmp_path / "imgs", 4)
    (tmp_path / "extra.JPG").write_bytes(b"")  # not picked up by the CSV
    table = pd.DataFrame({
        "path": [f"imgs/img{i:03d}.png" for i in (3, 1, 0)],
        "sample": ["left", "right", "other"],
        "individual": [7, 7, 8],
    })
    table.to_csv(tmp_path / "images.csv", index=False)
    ds = read_images(tmp_path / "images.csv", 4)
    assert ds["sample"].values.tolist() == ["left", "right", "other"]
    assert ds["individual"].values.tolist() == ["7", "7", "8"]
    np.testing.assert_array_equal(ds["image"].values[:, 0, 0, 0], [3, 1, 0])


def test_pattern_and_jpeg(tmp_path):
    folder = _write_pngs(tmp_path / "imgs", 2)
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(folder / "z.jpeg")
    assert read_images(folder, 4)["sample"].values.tolist() == ["img000", "img001", "z"]
    assert read_images(folder, 4, pattern="*.jpeg")["sample"].values.tolist() == ["z"]


def test_empty_file_list(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty file list"):
        read_images(tmp_path / "empty", 4)


def test_unreadable_image_named_on_read_or_with_check(tmp_path):
    folder = _write_pngs(tmp_path / "imgs", 2)
    (folder / "zz_broken.png").write_bytes(b"not a png")
    ds = read_images(folder, 4)  # lazy: nothing is opened yet
    ds["image"][:2].values  # the good ones still read
    with pytest.raises(ValueError, match="cannot read image file .*zz_broken.png"):
        ds["image"].values
    reset_decode_count()
    with pytest.raises(ValueError, match="cannot read image file .*zz_broken.png"):
        read_images(folder, 4, check=True)
    assert decode_count() == 0


def test_bad_arguments(tmp_path):
    folder = _write_pngs(tmp_path / "imgs", 2)
    with pytest.raises(ValueError, match="channels must be 1 or 3"):
        read_images(folder, 4, channels=2)
    with pytest.raises(ValueError, match="image_size must be"):
        read_images(folder, (4, 0))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_images(tmp_path / "missing", 4)
    pd.DataFrame({"file": ["a.png"]}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValueError, match="needs columns 'path' and 'sample'"):
        read_images(tmp_path / "bad.csv", 4)


def test_truncated_jpeg_named_on_read(tmp_path):
    folder = _write_pngs(tmp_path / "imgs", 2)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(folder / "cut.jpg")
    data = (folder / "cut.jpg").read_bytes()
    (folder / "cut.jpg").write_bytes(data[: len(data) // 2])
    ds = read_images(folder, 8, check=True)  # the header is intact
    with pytest.raises(ValueError, match="cannot read image file .*cut.jpg"):
        ds["image"].values


def test_selections_compose_lazily_and_match_the_full_read(tmp_path):
    folder = _write_pngs(tmp_path / "imgs", 12, shape=(6, 6))
    ds = read_images(folder, 4)
    full = ds["image"].values
    reset_decode_count()
    sub = ds.isel(sample=slice(2, 11, 3)).isel(sample=[2, 0], x=slice(1, 3))
    assert decode_count() == 0
    np.testing.assert_array_equal(sub["image"].values, full[[8, 2]][..., 1:3])
    assert decode_count() == 2
    assert int(ds["image"][5, 1, 0, 0]) == 5
    np.testing.assert_array_equal(ds["image"][[7, 7, 1]].values, full[[7, 7, 1]])
    vec = ds["image"].isel(sample=("k", [3, 4]), channel=("k", [0, 2]))
    np.testing.assert_array_equal(vec.values, full[[3, 4], [0, 2]])
    assert ds["image"].chunk({"sample": 5}).chunks[0] == (5, 5, 2)


def test_pickles_as_paths_and_reads_batches_in_loader_workers(tmp_path):
    import pickle

    from sklearn_contig.data import CohortDataset, make_loader

    folder = _write_pngs(tmp_path / "imgs", 40, shape=(32, 32))
    ds = read_images(folder, 32)
    reset_decode_count()
    blob = pickle.dumps(ds)
    assert decode_count() == 0
    assert len(blob) < 40 * 32 * 32 * 3  # paths, not pixels
    back = pickle.loads(blob)
    np.testing.assert_array_equal(back["image"][[3, 39]].values, ds["image"][[3, 39]].values)
    X, _ = CohortDataset(ds).__getitems__([9, 1, 30])
    assert X["image"][:, 0, 0, 0].tolist() == [9, 1, 30]
    loader = make_loader(CohortDataset(ds), 16, num_workers=2)
    firsts = [X["image"][:, 0, 0, 0] for X, _ in loader]
    assert np.concatenate(firsts).tolist() == list(range(40))


def test_dataframe_source_with_eye(tmp_path):
    _write_pngs(tmp_path / "imgs", 3)
    table = pd.DataFrame({
        "path": [str(tmp_path / "imgs" / f"img{i:03d}.png") for i in range(3)],
        "sample": ["a_L", "a_R", "b_L"],
        "individual": ["a", "a", "b"],
        "eye": ["L", "R", "L"],
    })
    ds = read_images(table, 4)
    assert ds["eye"].values.tolist() == ["L", "R", "L"]
    assert ds["individual"].values.tolist() == ["a", "a", "b"]
    with pytest.raises(ValueError, match="needs columns 'path' and 'sample'"):
        read_images(table.drop(columns="sample"), 4)
    with pytest.raises(ValueError, match="empty file list"):
        read_images(table.iloc[:0], 4)


def test_folder_listing_takes_image_files_only(tmp_path):
    folder = _write_pngs(tmp_path / "imgs", 2)
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(folder / "UPPER.JPG", format="JPEG")
    (folder / "dir.png").mkdir()
    (folder / ".png").write_bytes(b"")
    (folder / "notes.txt").write_text("x")
    ds = read_images(folder, 4)
    assert ds["sample"].values.tolist() == ["UPPER", "img000", "img001"]
    assert ds["path"].values.tolist() == [str(folder / n) for n in ("UPPER.JPG", "img000.png", "img001.png")]


def test_decompression_bomb_is_an_unreadable_file(tmp_path, monkeypatch):
    from sklearn_contig.data._images import UnreadableImageError

    folder = _write_pngs(tmp_path / "imgs", 2, shape=(8, 8))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 16)  # 64 pixels > 2 * 16
    with pytest.raises(UnreadableImageError, match="cannot read image file .*img000.png.*decompression bomb"):
        read_images(folder, 4, check=True)
    ds = read_images(folder, 4)
    with pytest.raises(UnreadableImageError, match="cannot read image file .*img000.png"):
        ds["image"].values


def test_open_draft_decodes_a_large_jpeg_at_a_reduced_scale(tmp_path):
    from sklearn_contig.data._images import _open

    Image.fromarray(np.full((256, 320, 3), 90, np.uint8)).save(tmp_path / "big.jpg")
    Image.fromarray(np.full((256, 320, 3), 90, np.uint8)).save(tmp_path / "big.png")
    assert _open(str(tmp_path / "big.jpg"), "RGB").size == (320, 256)
    assert _open(str(tmp_path / "big.jpg"), "L", draft=(64, 64)).size == (80, 64)
    assert _open(str(tmp_path / "big.jpg"), "L", draft=(64, 64)).mode == "L"
    assert _open(str(tmp_path / "big.png"), "RGB", draft=(64, 64)).size == (320, 256)  # JPEG only


def test_csv_keeps_zero_padded_ids(tmp_path):
    _write_pngs(tmp_path, 2)
    names = sorted(p.name for p in tmp_path.glob("*.png"))
    rows = "\n".join(f"{n},00{i},0{i}" for i, n in enumerate(names))
    (tmp_path / "images.csv").write_text(f"path,sample,individual\n{rows}\n")
    ds = read_images(tmp_path / "images.csv", image_size=8)
    assert ds["sample"].values.tolist() == ["000", "001"]
    assert ds["individual"].values.tolist() == ["00", "01"]


def test_csv_with_missing_ids_or_paths_names_column_and_rows(tmp_path):
    _write_pngs(tmp_path, 4)
    names = sorted(p.name for p in tmp_path.glob("*.png"))
    csv = tmp_path / "images.csv"
    csv.write_text(
        "path,sample,individual\n"
        f"{names[0]},s1,1001\n{names[1]},s2,\n{names[2]},s3,\n{names[3]},s4,1004\n"
    )
    with pytest.raises(ValueError, match=r"images\.csv.*'individual' has missing ids .* rows \[1, 2\]"):
        read_images(csv, image_size=4)
    csv.write_text(f"path,sample\n{names[0]},s1\n{names[1]},\n")
    with pytest.raises(ValueError, match=r"images\.csv.*'sample' has missing ids .* rows \[1\]"):
        read_images(csv, image_size=4)
    csv.write_text(f"path,sample\n,s1\n{names[1]},s2\n")
    with pytest.raises(ValueError, match=r"images\.csv.*'path' has missing paths .* rows \[0\]"):
        read_images(csv, image_size=4)


def test_dataframe_source_with_missing_ids_or_paths(tmp_path):
    _write_pngs(tmp_path, 3)
    table = pd.DataFrame({
        "path": [str(p) for p in sorted(tmp_path.glob("*.png"))],
        "sample": ["a", "b", "c"],
        "individual": ["p1", None, np.nan],
    })
    with pytest.raises(ValueError, match=r"image table: .*'individual' has missing ids .* rows \[1, 2\]"):
        read_images(table, 4)
    with pytest.raises(ValueError, match=r"image table: .*'sample' has missing ids .* rows \[0\]"):
        read_images(table.assign(sample=[None, "b", "c"], individual="p"), 4)
    with pytest.raises(ValueError, match=r"image table: .*'path' has missing paths .* rows \[2\]"):
        read_images(table.assign(path=[table["path"][0], table["path"][1], None]), 4)
    ds = read_images(table.drop(columns="individual"), 4)  # individual = sample
    assert ds["individual"].values.tolist() == ["a", "b", "c"]


def test_16_bit_images_are_scaled_to_8_bits_not_clipped(tmp_path):
    a = np.full((8, 8), 30000, np.uint16)
    a[0, 0] = 65535
    Image.fromarray(a).save(tmp_path / "a.png")
    img = read_images(tmp_path, image_size=8)["image"].values
    assert img[0, :, 0, 0].tolist() == [255, 255, 255] and img[0, :, 1, 1].tolist() == [117, 117, 117]
    Image.fromarray(np.ones((8, 8), np.float32)).save(tmp_path / "f.tiff")
    with pytest.raises(ValueError, match="32-bit float images are not supported"):
        read_images(tmp_path, image_size=8, pattern="*.tiff")["image"].values
