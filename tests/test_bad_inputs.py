"""Bad input, tried as a hostile new user would: every case is one line on stderr, exit code 2,
no traceback, and nothing created or changed in the folders it touches.

Each case is a command line run in-process against a small trained run and a folder of broken
files; the folder (and the run) are snapshotted before and after.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest

from aekit.cli.main import main

RUN = "RUN"  # stands for the trained run in a case's argv
W = "W"  # stands for the work folder of broken files


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    args = ["train", "--data", "digits", "--epochs", "1", "--out", str(out), "--name", "r"]
    assert main([*args, "--no-progress", "--set", "train.recon_every=0"]) == 0
    return out / "r"


def make_files(w: Path) -> None:
    """The broken (and a few good) inputs the cases point at."""
    from PIL import Image

    (w / "empty.npy").write_bytes(b"")
    (w / "text.npy").write_text("0.5 1.5\n")
    np.save(w / "zero_rows.npy", np.zeros((0, 8, 8), np.float32))
    np.save(w / "five_d.npy", np.zeros((2, 1, 1, 8, 8), np.float32))
    np.save(w / "complex.npy", np.zeros((4, 8, 8), np.complex64))
    np.save(w / "objects.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    np.savez(w / "pickled.npz", x=np.array([[1, 2], None], dtype=object))
    np.save(w / "codes_wide.npy", np.zeros((3, 99), np.float32))
    np.save(w / "codes_nan.npy", np.full((3, 16), np.nan, np.float32))
    np.save(w / "codes16.npy", np.zeros((3, 16), np.float32))
    np.savez(w / "codes.npz", z=np.zeros((3, 16), np.float32))
    np.save(w / "good.npy", np.random.default_rng(0).random((20, 8, 8), dtype=np.float32))
    (w / "empty.csv").write_text("")
    (w / "header_only.csv").write_text("a,b,c\n")
    (w / "ragged.csv").write_text("a,b,c\n1,2,3\n4,5\n6,7,8\n")
    (w / "label_only.csv").write_text("label\n1\n2\n3\n")
    (w / "strings.csv").write_text("a,b\n1,2\n2,3\n3,x\n4,5\n")  # a word among numbers
    (w / "bad.toml").write_text("[train\nepochs = 3\n")
    (w / "wrong_shape.toml").write_text("train = 3\n")
    (w / "unknown_section.toml").write_text("[trian]\nepochs = 3\n")
    (w / "empty_dir").mkdir()
    corrupt = w / "corrupt_dir"
    corrupt.mkdir()
    (corrupt / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n not a png")
    (w / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not a png")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(w / "x.png")
    (w / "not_a_run").mkdir()
    (w / "a_file").write_text("not a folder\n")


TRAIN = ["train", "--data", "digits", "--epochs", "1", "--no-progress", "--out", f"{W}/runs"]

CASES = {
    # -- train: names, numbers and choices ---------------------------------------------------
    "train: data path that does not exist": ["train", "--data", f"{W}/nope.npy"],
    "train: unknown dataset name": ["train", "--data", "mnsit"],
    "train: unknown model": [*TRAIN, "--model", "nope"],
    "train: unknown loss": [*TRAIN, "--loss", "mde"],
    "train: zero epochs": [*TRAIN[:4], "0", *TRAIN[5:]],
    "train: negative epochs": [*TRAIN[:4], "-1", *TRAIN[5:]],
    "train: zero batch size": [*TRAIN, "--batch-size", "0"],
    "train: batch size above the data": [*TRAIN, "--batch-size", "100000"],
    "train: lr nan": [*TRAIN, "--set", "train.lr=nan"],
    "train: lr inf": [*TRAIN, "--set", "train.lr=inf"],
    "train: negative lr": [*TRAIN, "--set", "train.lr=-1"],
    "train: negative momentum": [*TRAIN, "--set", "train.momentum=-0.5"],
    "train: a run name that climbs out of --out": [*TRAIN, "--name", "../escape"],
    "train: a run name with a slash": [*TRAIN, "--name", "a/b"],
    "train: an absolute run name": [*TRAIN, "--name", f"{W}/abs"],
    "eval: a likelihood for a model without one": ["eval", RUN, "--nll-samples", "5"],
    "eval: negative likelihood samples": ["eval", RUN, "--nll-samples", "-1"],
    "train: image size for a built-in array": [*TRAIN, "--image-size", "16", "16"],
    "train: grayscale for a built-in array": [*TRAIN, "--set", "data.grayscale=true"],
    "train: val_fraction 1": [*TRAIN, "--set", "data.val_fraction=1"],
    "train: val_fraction leaving no sample": [*TRAIN, "--set", "data.val_fraction=0.9999"],
    "train: image size 0": [*TRAIN, "--set", "data.image_size=[0, 0]"],
    "train: unknown optimizer": [*TRAIN, "--set", "train.optimizer=adamx"],
    "train: unknown schedule": [*TRAIN, "--set", "train.schedule=cos"],
    "train: unknown section": [*TRAIN, "--set", "trian.epochs=1"],
    "train: unknown key": [*TRAIN, "--set", "train.epoch=1"],
    "train: a word for a number": [*TRAIN, "--set", "train.epochs=two"],
    "train: --set without =": [*TRAIN, "--set", "train.epochs"],
    "train: zero latent": [*TRAIN, "--latent-dim", "0"],
    "train: zero hidden width": [*TRAIN, "--set", "model.hidden=[0]"],
    "train: unknown noise": [*TRAIN, "--set", "data.noise=gauss"],
    "train: negative noise level": [*TRAIN, "--set", "data.noise_level=-1"],
    "train: unknown precision": [*TRAIN, "--set", "train.precision=fp8"],
    "train: unknown device": [*TRAIN, "--set", "train.device=gpu"],
    "train: bad thread count": [*TRAIN, "--set", "train.threads=0"],
    "train: unknown figure kind after": [*TRAIN, "--set", "run.after=['lose']"],
    "train: bce with -11 pixels": [*TRAIN, "--loss", "bce", "--set", "data.pixel_range=-11"],
    "train: missing config file": [*TRAIN, "--config", f"{W}/nope.toml"],
    "train: config that is not TOML": [*TRAIN, "--config", f"{W}/bad.toml"],
    "train: config of the wrong shape": [*TRAIN, "--config", f"{W}/wrong_shape.toml"],
    "train: config with a misspelt section": [*TRAIN, "--config", f"{W}/unknown_section.toml"],
    "train: unknown recipe": [*TRAIN, "--recipe", "vae-mnsit"],
    "train: resume of a missing folder": ["train", "--resume", f"{W}/nope"],
    "train: resume of a folder that is no run": ["train", "--resume", f"{W}/not_a_run"],
    "train: unknown option": [*TRAIN, "--epoch", "3"],
    "train: output folder is a file": [*TRAIN[:-1], f"{W}/a_file"],
    # -- train: data files ---------------------------------------------------------------------
    "data: empty .npy": ["train", "--data", f"{W}/empty.npy"],
    "data: .npy with no rows": ["train", "--data", f"{W}/zero_rows.npy"],
    "data: 5-D array": ["train", "--data", f"{W}/five_d.npy"],
    "data: complex array": ["train", "--data", f"{W}/complex.npy"],
    "data: .npy of objects (pickle)": ["train", "--data", f"{W}/objects.npy"],
    "data: .npz of objects (pickle)": ["train", "--data", f"{W}/pickled.npz"],
    "data: empty CSV": ["train", "--data", f"{W}/empty.csv"],
    "data: header-only CSV": ["train", "--data", f"{W}/header_only.csv"],
    "data: ragged CSV": ["train", "--data", f"{W}/ragged.csv"],
    "data: CSV with only a label column": ["train", "--data", f"{W}/label_only.csv"],
    "data: CSV with words in a number column": ["train", "--data", f"{W}/strings.csv"],
    "data: empty image folder": ["train", "--data", f"{W}/empty_dir"],
    "data: folder with a corrupt image": ["train", "--data", f"{W}/corrupt_dir"],
    # -- using a run ---------------------------------------------------------------------------
    "eval: missing run": ["eval", f"{W}/nope"],
    "eval: folder that is no run": ["eval", f"{W}/not_a_run"],
    "eval: data that does not exist": ["eval", RUN, "--data", f"{W}/nope.npy"],
    "eval: data of another shape": ["eval", RUN, "--data", "mnist5k"],
    "generate: n 0": ["generate", RUN, "--n", "0", "--out", f"{W}/g.png"],
    "generate: n negative": ["generate", RUN, "--n", "-5", "--out", f"{W}/g.png"],
    "generate: n too large": ["generate", RUN, "--n", "1000000000", "--out", f"{W}/g.png"],
    "generate: scale too large": ["generate", RUN, "--scale", "100000", "--out", f"{W}/g.png"],
    "generate: scale 0": ["generate", RUN, "--scale", "0", "--out", f"{W}/g.png"],
    "generate: code of nan": [
        "generate",
        RUN,
        "--z",
        ",".join(["nan"] * 16),
        "--out",
        f"{W}/g.png",
    ],
    "generate: code of the wrong length": ["generate", RUN, "--z", "1,2", "--out", f"{W}/g.png"],
    "generate: code that is not numbers": ["generate", RUN, "--z", "a,b", "--out", f"{W}/g.png"],
    "generate: zero mixture components": [
        "generate",
        RUN,
        "--prior",
        "gmm",
        "--components",
        "0",
        "--out",
        f"{W}/g.png",
    ],  # fmt: skip
    "generate: output of an unknown type": ["generate", RUN, "--out", f"{W}/g.txt"],
    "generate: output without an extension": ["generate", RUN, "--out", f"{W}/g"],
    "reconstruct: output of an unknown type": [
        "reconstruct",
        RUN,
        f"{W}/x.png",
        "--out",
        f"{W}/o.txt",
    ],
    "decode: codes in an .npz": ["decode", RUN, f"{W}/codes.npz", "--out", f"{W}/d.npz"],
    "decode: empty codes file": ["decode", RUN, f"{W}/empty.npy", "--out", f"{W}/d.npz"],
    "decode: codes file of text": ["decode", RUN, f"{W}/text.npy", "--out", f"{W}/d.npz"],
    "decode: missing codes file": ["decode", RUN, f"{W}/nope.npy", "--out", f"{W}/d.npz"],
    "decode: codes of the wrong width": [
        "decode",
        RUN,
        f"{W}/codes_wide.npy",
        "--out",
        f"{W}/d.npz",
    ],
    "decode: codes of nan": ["decode", RUN, f"{W}/codes_nan.npy", "--out", f"{W}/d.npz"],
    "encode: output over its input data": [
        "encode",
        RUN,
        "--data",
        f"{W}/good.npy",
        "--split",
        "all",
        "--out",
        f"{W}/good.npy",
    ],  # fmt: skip
    "encode: output over the run's weights": ["encode", RUN, "--out", f"{RUN}/model.safetensors"],
    "encode: output not .npy": ["encode", RUN, "--out", f"{W}/codes.txt"],
    "decode: output neither .npz nor .png": [
        "decode",
        RUN,
        f"{W}/codes16.npy",
        "--out",
        f"{W}/dec.jpg",
    ],
    "decode: output over its codes": [
        "decode",
        RUN,
        f"{W}/codes_nan.npy",
        "--out",
        f"{W}/codes_nan.npy",
    ],
    "eval: weights of NaN": ["eval", "NANRUN"],
    "encode: unknown data": ["encode", RUN, "--data", "mnsit", "--out", f"{W}/c.npy"],
    "encode: unknown split": ["encode", RUN, "--split", "tset", "--out", f"{W}/c.npy"],
    "reconstruct: missing image": ["reconstruct", RUN, f"{W}/nope.png", "--out", f"{W}/o.png"],
    "reconstruct: corrupt image": ["reconstruct", RUN, f"{W}/corrupt.png", "--out", f"{W}/o.png"],
    "reconstruct: output over its input": ["reconstruct", RUN, f"{W}/x.png", "--out", f"{W}/x.png"],
    "plot: unknown figure kind": ["plot", RUN, "--kind", "lose"],
    "plot: missing run": ["plot", f"{W}/nope"],
    "plot: samples n too large": ["plot", RUN, "--kind", "samples", "--n", "100000"],
    "plot: samples n 0": ["plot", RUN, "--kind", "samples", "--n", "0"],
    "plot: manifold n too large": ["plot", RUN, "--kind", "manifold", "--n", "100000"],
    "plot: recon n negative": ["plot", RUN, "--kind", "recon", "--n", "-1"],
    "plot: all with n too large": ["plot", RUN, "--kind", "all", "--n", "100000"],
    "plot: traversal steps 0": ["plot", RUN, "--kind", "traversal", "--steps", "0"],
    "plot: traversal steps negative": ["plot", RUN, "--kind", "traversal", "--steps", "-1"],
    "plot: interpolation steps too large": [
        "plot",
        RUN,
        "--kind",
        "interpolation",
        "--steps",
        "100000",
    ],
    "plot: unknown latent projection": ["plot", RUN, "--kind", "latent:umap"],
    "plot: manifold over one unit twice": ["plot", RUN, "--kind", "manifold", "--dims", "3", "3"],
    "plot: manifold dims negative": ["plot", RUN, "--kind", "manifold", "--dims", "-1", "0"],
    "plot: traversal dims out of range": ["plot", RUN, "--kind", "traversal", "--dims", "0", "99"],
    "report: missing run": ["report", f"{W}/nope"],
    "export: unknown format": ["export", RUN, "--format", "tflite"],
    "export: missing run": ["export", f"{W}/nope"],
    "score: unknown rule": ["score", RUN, "--threshold", "top5", "--out", f"{W}/s.csv"],
    "score: rate out of range": ["score", RUN, "--threshold", "fpr:0.7", "--out", f"{W}/s.csv"],
    "score: output over its input": [
        "score",
        RUN,
        "--data",
        f"{W}/good.npy",
        "--out",
        f"{W}/good.npy",
    ],
    "explore: port out of range": ["explore", RUN, "--port", "99999", "--no-browser"],
    "explore: missing run": ["explore", f"{W}/nope", "--no-browser"],
    "summary: missing run": ["summary", f"{W}/nope"],
    "summary: unknown model": ["summary", "nope"],
    "summary: a training setting": ["summary", "--data", "digits", "--set", "train.lr=1"],
    "train: an empty recipe name": [*TRAIN, "--recipe", ""],
    "train: two recipes": [*TRAIN, "--recipe", "quickstart", "--recipe", "fc-mnist"],
    "bench: --out under a file": ["bench", "--quick", "--out", f"{W}/a_file/b.md"],
    "bench: --out is a folder": ["bench", "--quick", "--out", f"{W}/not_a_run"],
    "bench: data it has no rows for": ["bench", "--data", "digits"],
    "bench oneclass: a class the set lacks": ["bench", "--task", "oneclass", "--classes", "11"],
    "bench oneclass: --out is a folder": ["bench", "--task", "oneclass", "--out", f"{W}/not_a_run"],
    "unknown command": ["trian"],
}


def snapshot(*folders: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for folder in folders:
        for p in sorted(folder.rglob("*")):
            st = p.stat()
            out[str(p)] = (st.st_size, st.st_mtime_ns) if p.is_file() else (-1, 0)
    return out


@pytest.fixture
def work(tmp_path) -> Path:
    make_files(tmp_path)
    return tmp_path


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_exit_2_and_changes_nothing(case, work, trained, capsys, monkeypatch):
    monkeypatch.chdir(work)  # a default output name (codes.npy, scores.csv) lands here
    argv = [a.replace(W, str(work)) if a.startswith(W) else a for a in CASES[case]]
    argv = [str(trained) + a[len(RUN) :] if a.split("/")[0] == RUN else a for a in argv]
    if "NANRUN" in argv:  # a copy of the run whose weights went NaN
        nan_run = work / "nan_run"
        shutil.copytree(trained, nan_run)
        from safetensors.torch import load_file, save_file

        state = load_file(nan_run / "model.safetensors")
        save_file({k: v * float("nan") for k, v in state.items()}, nan_run / "model.safetensors")
        argv = [str(nan_run) if a == "NANRUN" else a for a in argv]
    before = snapshot(work, trained)
    try:
        code = main(argv)
    except SystemExit as e:  # argparse
        code = e.code
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("INFO:")]
    assert code == 2, f"exit {code}: {err[-600:]}"
    assert "Traceback" not in err, err
    assert len(lines) == 1 and lines[0].startswith("aekit"), err
    assert snapshot(work, trained) == before


def test_there_are_at_least_80_cases():
    assert len(CASES) >= 80


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_run_folder_is_one_line(trained, tmp_path, capsys):
    ro = tmp_path / "ro"
    shutil.copytree(trained, ro)
    for p in [ro, *ro.rglob("*")]:
        p.chmod(p.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    try:
        assert main(["eval", str(ro)]) == 2
        assert capsys.readouterr().err.count("\n") == 1
    finally:
        for p in [ro, *ro.rglob("*")]:
            p.chmod(p.stat().st_mode | stat.S_IWUSR)


def test_a_config_json_of_the_wrong_shape_is_one_line(trained, tmp_path, capsys):
    bad = tmp_path / "bad"
    shutil.copytree(trained, bad)
    (bad / "config.json").write_text(json.dumps([1, 2, 3]))
    assert main(["eval", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("aekit: error:") and err.count("\n") == 1
