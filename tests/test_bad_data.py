"""Bad data, tried as a hostile user would: each is one DataError line saying what to do (the
CLI: exit 2, nothing written), or is converted correctly, never silently cast."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import aekit
from aekit.cli.main import main
from aekit.data import write_idx
from aekit.data.sources import clear_cache


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_cache()


def refused(path_or_name, match: str, **kw) -> str:
    with pytest.raises(aekit.DataError, match=match) as e:
        aekit.load_dataset(str(path_or_name), split="all", **kw)
    msg = str(e.value)
    assert "\n" not in msg
    return msg


# -- images ----------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16_bit_grey_images_are_scaled_to_8_bits_not_clipped(tmp_path, suffix):
    a = (np.arange(256 * 16).reshape(64, 64) * 16).astype(np.uint16)  # 0..65520 in 4,096 levels
    Image.fromarray(a).save(tmp_path / f"g{suffix}")
    d = aekit.load_dataset(str(tmp_path / f"g{suffix}"), split="all")
    got = d.x[0, 0].numpy()
    assert np.array_equal(got, np.rint(a / 257.0).astype(np.uint8))
    assert len(np.unique(got)) == 256  # PIL's convert("L") gave 17 levels (clipped at 255)


def test_16_bit_images_become_rgb_when_mixed_with_colour(tmp_path):
    Image.fromarray(np.full((4, 4), 65535, np.uint16)).save(tmp_path / "a.png")
    Image.new("RGB", (4, 4), (0, 0, 255)).save(tmp_path / "b.png")
    d = aekit.load_dataset(str(tmp_path), split="all")
    assert d.sample_shape == (3, 4, 4) and int(d.x[0].min()) == 255


def test_float_tiff_in_unit_range_is_scaled_to_255(tmp_path):
    Image.fromarray(np.full((4, 4), 0.5, np.float32)).save(tmp_path / "f.tif")
    assert int(aekit.load_dataset(str(tmp_path / "f.tif"), split="all").x.max()) == 128


def test_mixed_sizes_are_printed_h_by_w_like_image_size(tmp_path):
    Image.new("L", (10, 12)).save(tmp_path / "a.png")  # PIL: (W, H) = (10, 12)
    Image.new("L", (11, 12)).save(tmp_path / "b.png")
    msg = refused(tmp_path, "--image-size H W")
    assert "12x10" in msg and "12x11" in msg


@pytest.mark.parametrize("size", [[0, 0], [0, 8], [8], [8, 8, 8], [100000, 100000]])
def test_image_size_out_of_range_is_refused(tmp_path, size):
    Image.new("L", (8, 8)).save(tmp_path / "a.png")
    refused(tmp_path, "--image-size 28 28", image_size=size)


def test_a_decompression_bomb_is_refused_before_it_is_decoded(tmp_path, monkeypatch):
    from PIL import ImageFile

    Image.new("L", (200, 200)).save(tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100 * 100)
    decoded = []
    real_load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda im: decoded.append(1) or real_load(im))
    refused(tmp_path, "too large to load")
    assert not decoded


def test_pils_own_bomb_error_is_one_line(tmp_path, monkeypatch):
    Image.new("L", (300, 300)).save(tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 300 * 300 // 3)  # PIL raises over 2x this
    refused(tmp_path / "bomb.png", "decompression bomb")


# -- arrays ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "array, match",
    [
        (np.zeros((0, 5), np.float32), "empty"),
        (np.zeros((5, 0), np.float32), "empty"),
        (np.zeros((2, 2, 2, 2, 2), np.uint8), r"must be \(N, D\)"),
        (np.zeros(5, np.float32), r"must be \(N, D\)"),
        (np.ones((4, 3), np.complex64), "complex"),
        (np.ones((4, 3), bool), "numbers"),
        (np.array([[1.0, np.nan], [2.0, 3.0]]), "NaN"),
        (np.array([[1.0, np.inf], [2.0, 3.0]]), "infinite"),
        (np.array([[1e300, 1.0], [2.0, 3.0]]), "beyond float32"),
    ],
    ids=["no-rows", "no-columns", "5-d", "1-d", "complex", "bool", "nan", "inf", "float64-huge"],
)
def test_bad_arrays_are_refused(tmp_path, array, match):
    np.save(tmp_path / "x.npy", array)
    msg = refused(tmp_path / "x.npy", match)
    assert "NaN" not in msg or match == "NaN"  # inf is not called NaN


def test_pickled_object_arrays_are_never_loaded(tmp_path):
    obj = np.array([{"a": 1}, None], dtype=object)
    np.savez(tmp_path / "p.npz", x=obj)
    refused(tmp_path / "p.npz", "pickled")
    np.save(tmp_path / "p.npy", obj, allow_pickle=True)
    refused(tmp_path / "p.npy", "pickled")
    np.savez(tmp_path / "q.npz", x=np.zeros((4, 2)), y=obj[:1].repeat(4))
    refused(tmp_path / "q.npz", "pickled")


def test_corrupt_npz_is_one_line(tmp_path):
    (tmp_path / "c.npz").write_bytes(b"PK\x03\x04 not a zip")
    refused(tmp_path / "c.npz", "cannot read")


def test_nan_labels_are_refused_not_turned_into_huge_ids(tmp_path):
    np.savez(tmp_path / "a.npz", x=np.zeros((3, 2)), y=np.array([0.0, np.nan, 1.0]))
    refused(tmp_path / "a.npz", "label nan of sample 1 is not a whole number")
    np.savez(tmp_path / "b.npz", x=np.zeros((3, 2)), y=np.array([0.0, 0.5, 1.0]))
    refused(tmp_path / "b.npz", "not a whole number")


def test_text_labels_become_class_names(tmp_path):
    np.savez(tmp_path / "a.npz", x=np.zeros((4, 2)), y=np.array(["dog", "cat", "dog", "eel"]))
    d = aekit.load_dataset(str(tmp_path / "a.npz"), split="all")
    assert d.classes == ["cat", "dog", "eel"] and d.labels.tolist() == [1, 0, 1, 2]


def test_negative_labels_map_to_class_ids(tmp_path):
    np.savez(tmp_path / "a.npz", x=np.zeros((4, 2)), y=np.array([-1, 1, 1, -1]))
    d = aekit.load_dataset(str(tmp_path / "a.npz"), split="all")
    assert d.classes == ["-1", "1"] and d.labels.tolist() == [0, 1, 1, 0]


def test_float_idx_images_are_refused_not_cast(tmp_path):
    write_idx(tmp_path / "train-images-idx3-ubyte", np.full((4, 28, 28), 0.5, np.float32))
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(4, np.uint8))
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((2, 28, 28), np.uint8))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(2, np.uint8))
    with pytest.raises(aekit.DataError, match="float32.*unsigned bytes"):
        aekit.load_dataset("mnist", str(tmp_path))


# -- the named sets are the named sets -------------------------------------------------------


def _fake_set(folder, seed):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for prefix, n in (("train", 20), ("t10k", 10)):
        write_idx(
            folder / f"{prefix}-images-idx3-ubyte.gz",
            rng.integers(0, 256, (n, 28, 28)).astype(np.uint8),
        )
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", (np.arange(n) % 10).astype(np.uint8))


def test_fashion_mnist_pointed_at_the_mnist_files_is_refused(tmp_path, monkeypatch):
    from aekit.data import idx_sources
    from aekit.data.idx_sources import IDX_SETS, md5_of

    _fake_set(tmp_path / "m", 0)
    official = {f.name: md5_of(f) for f in (tmp_path / "m").iterdir()}  # stand-in "official" md5s
    monkeypatch.setitem(
        IDX_SETS,
        "mnist",
        IDX_SETS["mnist"].__class__(**{**IDX_SETS["mnist"].__dict__, "md5": official}),
    )
    assert len(aekit.load_dataset("mnist", str(tmp_path / "m"), "all")) == 20
    with pytest.raises(aekit.DataError, match="is mnist's .*not fashion-mnist's; use --data mnist"):
        aekit.load_dataset("fashion-mnist", str(tmp_path / "m"))
    assert idx_sources.which_set("0" * 32) is None


def test_real_mnist_folder_is_not_fashion_mnist(mnist_dir):
    with pytest.raises(aekit.DataError, match="use --data mnist"):
        aekit.load_dataset("fashion-mnist", str(mnist_dir))


def test_own_idx_files_in_mnist_format_load_with_a_note(tmp_path, caplog):
    _fake_set(tmp_path, 1)
    assert len(aekit.load_dataset("mnist", str(tmp_path), "test")) == 10
    assert "not the official ones" in caplog.text


# -- CSV -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, match",
    [
        ("", "is empty"),
        ("a,b,c\n", "header but no data rows"),
        ("label\n1\n0\n", "only a label column"),
        ("a,b\n1,2\n3\n", "ragged: row 3 has 1 values but the header has 2"),
        ("1,2\n3,4,5\n", "ragged: row 2 has 3 values but the first row has 2"),
        ("a,b\n1,\n3,\n", "column 'b' has no values"),
        ("a,b\n1,2\n3,4\n5,x\n", "column 'b' holds numbers but row 3 is 'x'"),
        ("a,label\n1,0\n2,nan\n", "not a whole number"),
    ],
    ids=[
        "empty",
        "header-only",
        "label-only",
        "ragged",
        "ragged-no-header",
        "blank",
        "text",
        "nan",
    ],
)
def test_bad_csvs_say_what_is_wrong(tmp_path, text, match):
    (tmp_path / "t.csv").write_text(text)
    refused(tmp_path / "t.csv", match)


def test_csv_text_labels_and_column_names(tmp_path):
    rows = ["height,width,class"] + [f"{i},{2 * i},{'ab'[i % 2]}" for i in range(6)]
    (tmp_path / "t.csv").write_text("\ufeff" + "\n".join(rows))  # with a BOM, as Excel saves
    d = aekit.load_dataset(str(tmp_path / "t.csv"), split="all")
    assert d.info["features"] == ["height", "width"] and d.classes == ["a", "b"]
    assert d.labels.tolist() == [0, 1, 0, 1, 0, 1] and d.sample_shape == (2,)


# -- through the CLI: one line, exit 2, no run folder ----------------------------------------


def test_bad_data_on_the_command_line_is_one_line_and_writes_nothing(tmp_path, capsys):
    (tmp_path / "label.csv").write_text("label\n1\n0\n")
    np.save(tmp_path / "c.npy", np.ones((4, 3), np.complex64))
    Image.fromarray(np.zeros((4, 4), np.uint16)).save(tmp_path / "one.png")
    (tmp_path / "semi.csv").write_text("a;b;label\n" + "0.5;1.5;0\n" * 20)  # Excel, Europe
    (tmp_path / "tabs.csv").write_text("a\tb\n" + "0.5\t1.5\n" * 20)
    cases = [
        ([str(tmp_path / "label.csv")], "only a label column"),
        ([str(tmp_path / "semi.csv")], "seems separated by ';' (its header reads as the one"),
        ([str(tmp_path / "tabs.csv")], "seems separated by tabs"),
        ([str(tmp_path / "c.npy")], "complex"),
        ([str(tmp_path / "one.png"), "--image-size", "0", "0"], "image_size"),
    ]
    runs = tmp_path / "runs"
    for args, match in cases:
        code = main(
            ["train", "--no-progress", "--epochs", "1", "--out", str(runs), "--data", *args]
        )
        err = capsys.readouterr().err.strip()
        assert code == 2 and match in err and "Traceback" not in err, (args, err)
        assert len(err.splitlines()) == 1, err
        assert not runs.exists() or not any(runs.iterdir())
