"""Data larger than memory: a memory-mapped .npy trains exactly as the same data read into
memory, batches are gathered from the map without copying it, and `aekit data pack`."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import quick
from safetensors.torch import load_file
from sklearn.datasets import load_digits

import aekit
from aekit.data import BatchMaker, load_dataset, mapped
from aekit.data.mapped import MappedArray
from aekit.data.sources import clear_cache

# the end-of-run figures are not what these tests are about (conftest.without_end_plots)
pytestmark = pytest.mark.usefixtures("no_end_plots")


def _digits_u8(layout: str) -> tuple[np.ndarray, np.ndarray]:
    d = load_digits()
    x = np.rint(d.images * (255 / 16)).astype(np.uint8)  # (N, 8, 8)
    if layout == "nhwc":
        x = np.repeat(x[..., None], 3, axis=-1)  # (N, 8, 8, 3)
    return x, d.target


def _train(npy, runs, run_name, mmap: bool, monkeypatch, model):
    monkeypatch.setattr(mapped, "MMAP_MIN_BYTES", 0 if mmap else 2**62)
    clear_cache()
    ds = load_dataset(str(npy), split="train")
    assert isinstance(ds.x, MappedArray) == mmap
    cfg = quick(runs, data={"name": str(npy)}, run={"name": run_name}, model=model)
    run = aekit.train(cfg, report=False)
    return load_file(str(run.run_dir / "model.safetensors")), run.result


@pytest.mark.parametrize(
    "layout,model",
    [
        ("nhw", {"name": "mlp", "hidden": [32], "latent_dim": 4}),
        ("nhwc", {"name": "conv", "channels": [4, 8], "latent_dim": 4}),
        ("rows", {"name": "mlp", "hidden": [16], "latent_dim": 4}),
    ],
)
def test_mapped_and_in_memory_training_give_identical_weights(
    tmp_path, runs, monkeypatch, layout, model
):
    if layout == "rows":  # float64 table rows: min-max scaled per feature
        d = load_digits()
        x, y = d.data * 1.5 + 0.25, d.target
    else:
        x, y = _digits_u8(layout)
    npy = tmp_path / "data.npy"
    np.save(npy, x)
    np.save(tmp_path / "data_labels.npy", y)
    wa, ra = _train(npy, runs, "in-memory", False, monkeypatch, model)
    wb, rb = _train(npy, runs, "mapped", True, monkeypatch, model)
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    assert ra["val_mse"] == rb["val_mse"] and ra["pca_val_mse"] == rb["pca_val_mse"]


def test_mapped_split_is_an_index_list_into_the_map(tmp_path, monkeypatch):
    x, y = _digits_u8("nhw")
    npy = tmp_path / "d.npy"
    np.save(npy, x)
    np.save(tmp_path / "d_labels.npy", y)
    monkeypatch.setattr(mapped, "MMAP_MIN_BYTES", 0)
    clear_cache()
    train = load_dataset(str(npy), split="train")
    val = load_dataset(str(npy), split="val")
    for part in (train, val):
        assert isinstance(part.x.array, np.memmap)  # the file's map, not a copy
        assert part.x.rows is not None and len(part.x) == len(part.labels)
    rows = train.x.rows
    assert len(set(rows) | set(val.x.rows)) == len(x) and not set(rows) & set(val.x.rows)
    assert np.array_equal(train.labels.numpy(), y[rows])
    idx = torch.tensor([7, 0, 300, 7, 2])  # unsorted, repeated: the order asked for
    got = train.x.index_select(0, idx)
    assert torch.equal(got, torch.from_numpy(x[rows[idx.numpy()]][:, None]))
    batches = BatchMaker(train, torch.device("cpu"))
    xb, _ = batches(idx)
    assert torch.equal(xb, got.float() / 255)
    expect = torch.from_numpy(x[rows].astype(np.float64)).mean(0) / 255
    assert torch.allclose(batches.mean_target()[0].double(), expect, atol=1e-6)


def test_small_npy_is_read_into_memory(tmp_path):
    npy = tmp_path / "small.npy"
    np.save(npy, _digits_u8("nhw")[0])
    clear_cache()
    assert isinstance(load_dataset(str(npy), split="all").x, torch.Tensor)


def test_mapped_float_rows_with_nan_are_refused(tmp_path, monkeypatch):
    x = np.ones((50, 3))
    x[40, 1] = np.nan
    np.save(tmp_path / "nan.npy", x)
    monkeypatch.setattr(mapped, "MMAP_MIN_BYTES", 0)
    clear_cache()
    with pytest.raises(aekit.errors.DataError, match="NaN"):
        load_dataset(str(tmp_path / "nan.npy"))


def _png_folder(root, corrupt: bool = False):
    """A tiny ImageFolder: class sub-folders b/ and a/ (out of order), 8x8 grey PNGs."""
    from PIL import Image

    x, y = _digits_u8("nhw")
    for i in range(12):
        d = root / ("a" if y[i] % 2 else "b")
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(x[i]).save(d / f"{i:03d}.png")
    if corrupt:
        (root / "a" / "zz_broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot an image")
    return x[:12], y[:12]


def test_pack_writes_the_folder_as_training_reads_it(tmp_path, capsys):
    from aekit.cli.main import main

    x, y = _png_folder(tmp_path / "imgs")
    out = tmp_path / "packed.npy"
    assert main(["data", "pack", str(tmp_path / "imgs"), "--out", str(out)]) == 0
    assert "12 images, 1x8x8" in capsys.readouterr().out
    packed = np.load(out)
    assert packed.shape == (12, 1, 8, 8) and packed.dtype == np.uint8
    order = sorted(range(12), key=lambda i: ("a" if y[i] % 2 else "b", i))  # sorted paths
    assert np.array_equal(packed[:, 0], x[order])
    assert list(np.load(tmp_path / "packed_labels.npy")) == [
        "a" if y[i] % 2 else "b" for i in order
    ]
    assert not list(tmp_path.glob("*.tmp"))
    clear_cache()
    a = load_dataset(str(out), split="all")
    b = load_dataset(str(tmp_path / "imgs"), split="all")
    assert torch.equal(a.x, b.x) and torch.equal(a.labels, b.labels) and a.classes == b.classes


def test_pack_refuses_an_input_as_output_and_names_a_corrupt_image(tmp_path, capsys):
    from aekit.cli.main import main

    _png_folder(tmp_path / "imgs", corrupt=True)
    assert main(["data", "pack", str(tmp_path / "imgs"), "--out", str(tmp_path / "imgs")]) == 2
    assert "must be a .npy" in capsys.readouterr().err
    assert main(["data", "pack", str(tmp_path / "imgs"), "--out", str(tmp_path / "p.npy")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "zz_broken.png" in err
    assert not list(tmp_path.glob("p*"))  # nothing written, no .tmp left behind


def test_pack_refuses_to_overwrite_its_input_folder(tmp_path):
    from aekit.data.pack import pack_images
    from aekit.errors import DataError

    _png_folder(tmp_path / "set.npy")  # a folder that looks like an output name
    with pytest.raises(DataError, match="overwrite the input"):
        pack_images(tmp_path / "set.npy", tmp_path / "set.npy")
    assert (tmp_path / "set.npy").is_dir()


def test_pack_refuses_an_existing_output_unless_forced_and_never_a_labels_file(tmp_path, capsys):
    from aekit.cli.main import main

    _png_folder(tmp_path / "good")
    _png_folder(tmp_path / "other")
    out, labels = tmp_path / "out.npy", tmp_path / "out_labels.npy"
    assert main(["data", "pack", str(tmp_path / "good"), "--out", str(out)]) == 0
    before = out.read_bytes(), labels.read_bytes()
    for args in (["--out", str(labels)], ["--out", str(labels), "--force"], ["--out", str(out)]):
        capsys.readouterr()
        assert main(["data", "pack", str(tmp_path / "other"), *args]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "out-2.npy" in err  # a free name to use instead
    assert "labels file of" in err or "--force" in err
    assert (out.read_bytes(), labels.read_bytes()) == before  # the first pack is intact
    assert not list(tmp_path.glob("*labels_labels*")) and not list(tmp_path.glob("*.tmp"))
    assert main(["data", "pack", str(tmp_path / "other"), "--out", str(out), "--force"]) == 0
    assert len(np.load(out)) == len(np.load(labels)) == 12


def test_pack_checks_its_output_paths_before_writing_anything(tmp_path, capsys):
    from aekit.cli.main import main

    _png_folder(tmp_path / "imgs")
    (tmp_path / "isdir.npy").mkdir()
    cases = [("isdir.npy", "is a folder"), ("nodir/x.npy", "create the folder")]
    for out, expected in cases:
        assert main(["data", "pack", str(tmp_path / "imgs"), "--out", str(tmp_path / out)]) == 2
        err = capsys.readouterr().err
        assert expected in err and ".tmp" not in err  # the user's path, not the temp file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["imgs", "isdir.npy"]


def test_pack_puts_the_data_in_place_before_its_labels(tmp_path, monkeypatch):
    import os

    from aekit.data import pack

    _png_folder(tmp_path / "imgs")
    out, labels = tmp_path / "p.npy", tmp_path / "p_labels.npy"
    pack.pack_images(tmp_path / "imgs", out)
    before = out.read_bytes(), labels.read_bytes()
    replace = os.replace

    def fail_on_data(src, dst):
        if dst == out:
            raise OSError(28, "No space left on device", str(src))
        replace(src, dst)

    monkeypatch.setattr(pack.os, "replace", fail_on_data)
    with pytest.raises(aekit.errors.DataError, match="cannot write --out"):
        pack.pack_images(tmp_path / "imgs", out, image_size=(4, 4), force=True)
    assert (out.read_bytes(), labels.read_bytes()) == before  # old labels still match old data
    assert not list(tmp_path.glob("*.tmp"))


def test_pack_of_mixed_sizes_suggests_only_its_own_flag(tmp_path, capsys):
    from PIL import Image

    from aekit.cli.main import main

    (tmp_path / "imgs").mkdir()
    Image.new("L", (8, 8)).save(tmp_path / "imgs" / "a.png")
    Image.new("L", (9, 7)).save(tmp_path / "imgs" / "b.png")
    assert main(["data", "pack", str(tmp_path / "imgs"), "--out", str(tmp_path / "p.npy")]) == 2
    err = capsys.readouterr().err
    assert "--image-size H W" in err and "--set" not in err  # pack has no --set


def test_a_map_larger_than_memory_asks_for_each_batch_at_once(tmp_path, monkeypatch):
    x = np.arange(300 * 64, dtype=np.uint8).reshape(300, 8, 8)
    np.save(tmp_path / "m.npy", x)
    monkeypatch.setattr(mapped, "MMAP_MIN_BYTES", 0)
    arr = mapped.open_npy(tmp_path / "m.npy")
    assert mapped.read_ahead(arr) is None  # it fits: no hints, no per-batch cost
    monkeypatch.setattr(mapped, "memory_limit", lambda: 1000)  # the map is "larger"
    clear_cache()
    ds = load_dataset(str(tmp_path / "m.npy"), split="all")
    asked = []
    hint = ds.x.hint
    ds.x.hint = lambda rows: (asked.append(rows.copy()), hint(rows))
    got = ds.x.index_select(0, torch.tensor([299, 3, 150]))
    assert torch.equal(got, torch.from_numpy(x[[299, 3, 150]][:, None]))
    assert [list(a) for a in asked] == [[3, 150, 299]]  # sorted: file order
