"""Using a trained model: generate (deterministic), encode/decode, reconstruct and denoise image
files of any size, with models trained on [0, 1] or [-1, 1] pixels."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _tiny_runs import tiny_run
from PIL import Image

import aekit
from aekit.cli.main import main


def png(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im).copy()


def test_generate_with_a_given_code_is_deterministic(tmp_path, capsys):
    run = str(tiny_run("mlp"))
    for name in ("a.png", "b.png"):
        assert main(["generate", run, "--z", "1.19,-3.36", "--out", str(tmp_path / name)]) == 0
    a, b = png(tmp_path / "a.png"), png(tmp_path / "b.png")
    assert a.shape == (8, 8) and np.array_equal(a, b)
    model = aekit.load(run)
    with torch.no_grad():
        ref = model.decode(torch.tensor([[1.19, -3.36]]))[0, 0].numpy()
    assert np.abs(a / 255.0 - ref).max() <= 0.5 / 255 + 1e-6


def test_a_code_with_negative_numbers_is_read_however_it_is_written(tmp_path):
    """--z -1.2 0.5 (argparse alone takes "-1.2,0.5" for an unknown flag)."""
    run = str(tiny_run("mlp"))
    ways = [["-1.2", "0.5"], ["-1.2,0.5"], ["=-1.2,0.5"], ["-1.2, 0.5"], ["-12e-1", ".5"]]
    for i, z in enumerate(ways):
        flag = ["--z" + z[0], *z[1:]] if z[0].startswith("=") else ["--z", *z]
        assert main(["generate", run, *flag, "--out", str(tmp_path / f"{i}.png")]) == 0, z
    first = png(tmp_path / "0.png")
    assert all(np.array_equal(first, png(tmp_path / f"{i}.png")) for i in range(len(ways)))
    with torch.no_grad():
        ref = aekit.load(run).decode(torch.tensor([[-1.2, 0.5]]))[0, 0].numpy()
    assert np.abs(first / 255.0 - ref).max() <= 0.5 / 255 + 1e-6


def test_generate_samples_repeat_with_the_seed_and_differ_without(tmp_path):
    run = str(tiny_run("conv"))
    out = [tmp_path / f"{i}.png" for i in range(3)]
    main(["generate", run, "--n", "16", "--seed", "3", "--out", str(out[0])])
    main(["generate", run, "--n", "16", "--seed", "3", "--out", str(out[1])])
    main(["generate", run, "--n", "16", "--seed", "4", "--out", str(out[2])])
    a, b, c = (png(p) for p in out)
    assert a.shape == (35, 35)  # 4 x 4 tiles of 8 x 8 with 1-pixel gaps
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_generate_with_a_wrong_code_length_is_a_one_line_error(capsys, tmp_path):
    assert (
        main(["generate", str(tiny_run("mlp")), "--z", "1,2,3", "--out", str(tmp_path / "x.png")])
        == 2
    )
    assert "aekit: error: --z has 3 numbers" in capsys.readouterr().err


def test_an_output_that_is_no_image_format_is_refused_naming_those_that_are(tmp_path, capsys):
    run = str(tiny_run("mlp"))
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "x.png")
    for cmd in (["generate", run], ["reconstruct", run, str(tmp_path / "x.png")]):
        for name in ("out.txt", "out"):
            assert main([*cmd, "--out", str(tmp_path / name)]) == 2
            err = capsys.readouterr().err
            assert err.startswith("aekit: error: --out") and err.count("\n") == 1, err
            assert "end it in one of .png, .jpg" in err
            assert not (tmp_path / name).exists()
    assert main(["generate", run, "--n", "4", "--out", str(tmp_path / "g.JPG")]) == 0
    assert png(tmp_path / "g.JPG").shape == (17, 17)  # 2 x 2 tiles of 8 x 8, a 1-pixel gap


@pytest.mark.parametrize("text", ["", '{"kind": "gaussian", "weights": [1', "[]"])
def test_a_damaged_prior_json_is_named_with_the_command_that_remakes_it(tmp_path, capsys, text):
    import shlex
    import shutil

    run = shutil.copytree(tiny_run("mlp"), tmp_path / "run")
    (run / "prior.json").write_text(text)
    assert main(["generate", str(run), "--out", str(tmp_path / "g.png")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"aekit: error: '{run / 'prior.json'}' ") and err.count("\n") == 1
    assert main(["report", str(run)]) == 0  # the samples figure says why it is missing
    assert "prior.json" in (run / "report.html").read_text()
    remake = shlex.split(err.split("remake it with `")[1].split("`")[0])
    assert remake[:2] == ["aekit", "generate"]
    assert main([*remake[1:], "--out", str(tmp_path / "g.png")]) == 0
    assert main(["generate", str(run), "--out", str(tmp_path / "g.png")]) == 0


def test_encode_saves_codes_and_labels_and_decode_inverts_the_shapes(tmp_path):
    run = str(tiny_run("conv"))
    codes = tmp_path / "codes.npy"
    assert main(["encode", run, "--out", str(codes)]) == 0
    z = np.load(codes)
    y = np.load(tmp_path / "codes_labels.npy")
    assert z.shape == (1797, 4) and y.shape == (1797,) and set(y) == set(range(10))
    model = aekit.load(run)
    x = aekit.load_dataset("digits", split="all").images()
    assert np.allclose(z[:5], model.encode(x[:5]).detach().numpy(), atol=1e-5)
    assert main(["decode", run, str(codes), "--out", str(tmp_path / "images.npz")]) == 0
    imgs = np.load(tmp_path / "images.npz")["x"]
    assert imgs.shape == (1797, 1, 8, 8) and imgs.dtype == np.uint8


def test_decode_of_an_empty_or_non_numpy_file_says_so_in_one_line(tmp_path, capsys):
    run = str(tiny_run("mlp"))
    (tmp_path / "empty.npy").write_bytes(b"")
    (tmp_path / "text.npy").write_text("0.5 1.5\n")
    for name, words in (("empty.npy", "is empty (0 bytes)"), ("text.npy", "not a NumPy .npy")):
        assert main(["decode", run, str(tmp_path / name), "--out", str(tmp_path / "d.npz")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("aekit: error:") and err.count("\n") == 1, err
        assert words in err and "allow_pickle" not in err and "np.save" in err, err
    assert not (tmp_path / "d.npz").exists()


def test_encode_and_decode_write_the_very_file_they_print(tmp_path, capsys):
    run = str(tiny_run("mlp"))
    codes, images = tmp_path / "C.NPY", tmp_path / "D.NPZ"
    assert main(["encode", run, "--out", str(codes)]) == 0
    assert main(["decode", run, str(codes), "--out", str(images)]) == 0
    printed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert printed == [str(codes), str(tmp_path / "C_labels.npy"), str(images)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["C.NPY", "C_labels.npy", "D.NPZ"]
    assert np.load(images)["x"].shape == (len(np.load(codes)), 1, 8, 8)


@pytest.mark.parametrize("name", ["mlp", "denoise"])
def test_reconstruct_any_size_image_resizes_in_and_back(tmp_path, capsys, name):
    run = tiny_run(name)
    model = aekit.load(run)
    src = aekit.load_dataset("digits", split="val").x[0, 0].numpy()  # (8, 8) uint8
    Image.fromarray(src).resize((24, 24), Image.NEAREST).save(tmp_path / "big.png")
    Image.fromarray(src).save(tmp_path / "small.png")
    assert (
        main(["reconstruct", str(run), str(tmp_path / "big.png"), str(tmp_path / "small.png")]) == 0
    )
    err = capsys.readouterr().err
    assert "big.png: 24x24 (H x W) resized to the model's 8x8" in err and "small.png" not in err
    assert png(tmp_path / "big_recon.png").shape == (24, 24)
    # the 8x8 one must equal the model's own reconstruction, scaled as the model was trained
    unit = torch.from_numpy(src).float()[None, None] / 255
    pr = model.pixel_range
    rec = aekit.data.from_range(model.reconstruct(aekit.data.to_range(unit, pr)), pr)[0, 0]
    got = png(tmp_path / "small_recon.png") / 255.0
    assert np.abs(got - rec.numpy()).max() <= 0.5 / 255 + 1e-6


def test_denoise_writes_the_named_file_and_notes_a_non_denoiser(tmp_path, capsys):
    noisy = (np.random.default_rng(0).random((8, 8)) * 255).astype(np.uint8)
    Image.fromarray(noisy).save(tmp_path / "noisy.png")
    out = tmp_path / "clean.png"
    assert (
        main(["denoise", str(tiny_run("denoise")), str(tmp_path / "noisy.png"), "--out", str(out)])
        == 0
    )
    assert png(out).shape == (8, 8)
    assert "without input noise" not in capsys.readouterr().err
    main(["denoise", str(tiny_run("mlp")), str(tmp_path / "noisy.png"), "--out", str(out)])
    assert "without input noise" in capsys.readouterr().err


def test_unreadable_image_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "bad.png").write_bytes(b"not an image")
    assert main(["reconstruct", str(tiny_run("mlp")), str(tmp_path / "bad.png")]) == 2
    assert capsys.readouterr().err.startswith("aekit: error: cannot read image")
