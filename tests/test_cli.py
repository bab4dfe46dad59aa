"""The command line: the main job, listings, and one clear line + exit 2 for each bad input."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest
from _tiny_runs import tiny_run

import aekit
from aekit.cli.main import main

TINY = ["--data", "digits", "--epochs", "1", "--no-progress"]


def test_train_main_job_writes_run_and_prints_summary(tmp_path, capsys):
    assert main(["train", *TINY, "--out", str(tmp_path), "--name", "r"]) == 0
    out = capsys.readouterr().out
    assert "final validation loss" in out and str(tmp_path / "r") in out
    assert (tmp_path / "r" / "model.safetensors").is_file()


def test_console_script_runs_as_a_process(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "aekit.cli.main", "train", *TINY, "--out", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert "final train loss" in r.stdout


@pytest.mark.parametrize(
    "cmd,expected",
    [
        (["models"], "mlp"),
        (["datasets"], "mnist5k"),
        (["recipes"], "quickstart"),
        (["summary", "--model", "conv", "--data", "digits"], "total parameters"),
    ],
)
def test_listings(capsys, cmd, expected):
    assert main(cmd) == 0
    assert expected in capsys.readouterr().out


def test_every_argument_of_every_command_has_help():
    """`aekit CMD --help` and the generated CLI reference explain every flag and positional."""
    import argparse

    from aekit.cli.main import build_parser

    def missing(parser, path):
        for a in parser._actions:
            if isinstance(a, argparse._SubParsersAction):
                for name, sub in a.choices.items():
                    yield from missing(sub, f"{path} {name}")
            elif not a.help and not isinstance(a, argparse._HelpAction):
                yield f"{path} {'/'.join(a.option_strings) or a.dest}"

    parser = build_parser()[0]
    assert list(missing(parser, "aekit")) == []
    parser._actions[-1].choices["train"].add_argument("--probe-without-help")
    assert list(missing(parser, "aekit")) == ["aekit train --probe-without-help"]


def test_summary_of_a_run_folder(capsys):
    """A loaded run's weights are frozen for inference; the summary still says what trained."""
    run_dir = tiny_run("mlp")
    assert main(["summary", str(run_dir)]) == 0
    out = capsys.readouterr().out
    total = sum(p.numel() for p in aekit.Run.load(run_dir).model.parameters())
    assert f"total parameters: {total:,}  trainable: {total:,}" in out


def bad_inputs(tmp):
    (tmp / "corrupt.npy").write_bytes(b"not numpy")
    (tmp / "mixed").mkdir()
    from PIL import Image

    Image.new("L", (8, 8)).save(tmp / "mixed" / "a.png")
    Image.new("L", (9, 8)).save(tmp / "mixed" / "b.png")
    (tmp / "idx").mkdir()
    for f in (
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ):
        (tmp / "idx" / f).write_bytes(b"\x1f\x8b broken gzip")
    return [
        (["--data", "nosuch"], "unknown dataset"),
        (["--model", "nosuch"], "unknown model"),
        (["--optimizer", "nosuch"], "train.optimizer must be one of sgd, adam, adamw"),
        (["--loss", "nosuch"], "train.loss must be one of mse, bce, l1"),
        (["--schedule", "nosuch"], "train.schedule must be one of"),
        (["--data", str(tmp / "corrupt.npy")], "cannot read"),
        (["--data", str(tmp / "mixed")], "--image-size"),
        (["--data", "mnist", "--data-dir", str(tmp / "idx")], "gzip"),
        (["--latent-dim", "0"], "model.latent_dim must be an integer >= 1"),
        (["--latent-dim", "-3"], "model.latent_dim must be an integer >= 1"),
        (["--set", "train.nosuch=1"], "valid keys"),
        (["--set", "train.epochs=abc"], "must be an integer"),
        (["--batch-size", "999999"], "batch size"),
        (["--config", str(tmp / "missing.toml")], "not found"),
        (["--recipe", "nosuch"], "unknown recipe"),
    ]


def test_each_bad_input_is_one_line_exit_2_no_traceback(tmp_path, capsys):
    for args, match in bad_inputs(tmp_path):
        code = main(
            [
                "train",
                "--data",
                "digits",
                "--epochs",
                "1",
                "--no-progress",
                "--out",
                str(tmp_path / "runs"),
                *args,
            ]
        )
        err = capsys.readouterr().err.strip()
        assert code == 2, (args, err)
        assert match in err and "Traceback" not in err, (args, err)
        assert len([ln for ln in err.splitlines() if ln.startswith("aekit: error")]) == 1, err


def test_bad_input_leaves_earlier_runs_untouched(tmp_path, capsys):
    shutil.copytree(tiny_run("mlp"), tmp_path / "keep")  # a finished run, every file in it
    before = {p.name: p.read_bytes() for p in (tmp_path / "keep").iterdir() if p.is_file()}
    assert (
        main(["train", *TINY, "--out", str(tmp_path), "--name", "keep", "--model", "nosuch"]) == 2
    )
    after = {p.name: p.read_bytes() for p in (tmp_path / "keep").iterdir() if p.is_file()}
    assert before == after


def test_a_misspelt_figure_kind_stops_before_any_run_folder(tmp_path, capsys):
    """run.after's names are checked against the report's kinds (config checks only the form)."""
    out = tmp_path / "runs"
    for bad in ("run.after=['lossx']", "run.after=['loss', 'latnet:tsne']"):
        assert main(["train", *TINY, "--out", str(out), "--set", bad]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("aekit: error: run.after: unknown figure kind") and "\n" not in err
        assert "loss, recon" in err  # says what to type instead
        assert not out.exists() or not any(out.iterdir())
    assert main(["train", *TINY, "--out", str(out), "--recipe", "under-over", "--set", bad]) == 2
    assert not out.exists() or not any(out.iterdir())  # no variant trained before the check


def test_a_setting_given_equal_to_its_default_is_not_refitted_to_a_table(tmp_path):
    """Table defaults (lr 1e-2, batch ~N/10, >= 2000 steps) change only settings not given."""
    import json

    from aekit.config import TrainConfig

    d = TrainConfig()
    x = np.random.default_rng(0).normal(size=(300, 5))
    np.savetxt(tmp_path / "t.csv", x, delimiter=",", header="a,b,c,d,e", comments="")
    common = ["train", "--data", str(tmp_path / "t.csv"), "--no-progress", "--out", str(tmp_path)]
    given = ["--set", f"train.lr={d.lr}", "--batch-size", str(d.batch_size)]
    assert main([*common, "--name", "given", *given, "--epochs", str(d.epochs)]) == 0
    assert main([*common, "--name", "fitted", "--set", "train.recon_every=0"]) == 0
    runs = {n: json.loads((tmp_path / n / "config.json").read_text()) for n in ("given", "fitted")}
    t = runs["given"]["config"]["train"]
    assert (t["lr"], t["batch_size"], t["epochs"]) == (d.lr, d.batch_size, d.epochs)
    assert runs["given"]["result"]["epochs"] == d.epochs
    fitted = runs["fitted"]["config"]["train"]
    assert fitted["lr"] != d.lr and fitted["batch_size"] != d.batch_size
    assert fitted["epochs"] > d.epochs


def test_npy_user_data_trains(tmp_path):
    np.save(
        tmp_path / "x.npy", np.random.default_rng(0).integers(0, 256, (64, 10, 10), dtype=np.uint8)
    )
    assert (
        main(
            [
                "train",
                "--data",
                str(tmp_path / "x.npy"),
                "--epochs",
                "1",
                "--batch-size",
                "16",
                "--no-progress",
                "--out",
                str(tmp_path / "runs"),
            ]
        )
        == 0
    )
