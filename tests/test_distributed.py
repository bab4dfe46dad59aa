"""DDP on CPU (gloo): N processes at global batch B train the model one process trains at B,
and only rank 0 writes."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from conftest import quick
from safetensors.torch import load_file

import aekit
from aekit.training.trainer import Trainer, config_from_any

pytestmark = pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()),
    reason="this PyTorch build has no torch.distributed gloo backend",
)

# 581 training images at batch 64: 9 full batches of 32 + 32 rows per rank, then 5 rows, 3 on
# rank 0 and 2 on rank 1: without the shard weights DDP would average a mean of 3 and a mean of 2
# (a last batch of fewer than 2 rows per process would join the one before it, and DDP would
# then take one step fewer than one process: tests/test_data.py)
SETTINGS = {
    # no BatchNorm: it normalises each rank's rows (a batch of 1 here), not the global batch's
    "model": {"hidden": [32], "latent_dim": 4, "batchnorm": False},
    "train": {"epochs": 2, "batch_size": 64, "log_every": 3},
}


def settings(tmp: Path) -> dict:
    """SETTINGS on 645 digits saved as .npz (the processes skip importing scikit-learn)."""
    return {**SETTINGS, "data": {"name": str(tmp / "digits645.npz")}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_torchrun(rank: int, world: int, port: int) -> None:
    """This process set up as torchrun sets up one of its processes (env://)."""
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
    )
    torch.set_num_threads(1)


def _rank(rank: int, world: int, port: int, tmp: str) -> None:
    """One process of the job."""
    _as_torchrun(rank, world, port)
    out = Path(tmp) / f"runs-rank{rank}"  # rank 1 is told a folder of its own: it must stay absent
    state = Trainer(config_from_any(quick(out, **settings(Path(tmp))))).run()
    answer = {"run_dir": str(state.run_dir), "history": state.history, "rank": state.rank}
    (Path(tmp) / f"rank{rank}.json").write_text(json.dumps(answer))


def spawn(world: int, tmp: Path, timeout: float = 120.0, target=_rank) -> None:
    ctx = mp.start_processes(
        target, args=(world, free_port(), str(tmp)), nprocs=world, join=False, start_method="spawn"
    )
    deadline = time.monotonic() + timeout
    while not ctx.join(timeout=0.1):
        if time.monotonic() > deadline:
            for p in ctx.processes:
                p.kill()
            pytest.fail(f"{world} DDP processes did not finish in {timeout} s")


def _rank_with_own_epochs(rank: int, world: int, port: int, tmp: str) -> None:
    """As _rank, but rank r trains 2 + r epochs: a job started with different settings."""
    _as_torchrun(rank, world, port)
    cfg = quick(Path(tmp) / "runs", **settings(Path(tmp)))
    cfg["train"] = {**cfg["train"], "epochs": 2 + rank}
    try:
        Trainer(config_from_any(cfg)).run()
    except aekit.ConfigError as e:
        (Path(tmp) / f"rank{rank}.err").write_text(str(e))


def test_processes_started_with_different_settings_are_refused_before_any_write(tmp_path):
    """Rank 0 at 2 epochs and rank 1 at 3: rank 0 wrote a finished run and rank 1 ended in a
    gloo "Connection closed by peer" internal error."""
    digits = aekit.load_dataset("digits", split="all")
    np.savez(tmp_path / "digits645.npz", x=digits.x[:645, 0].numpy(), y=digits.labels[:645].numpy())
    spawn(2, tmp_path, target=_rank_with_own_epochs)
    said = [(tmp_path / f"rank{r}.err").read_text() for r in (0, 1)]
    assert "another rank has other settings" in said[0]
    assert "this rank (1) has other train.epochs" in said[1]
    assert not (tmp_path / "runs").exists()


def test_two_processes_match_one_process_at_the_same_global_batch_and_only_rank0_writes(
    tmp_path,
):
    digits = aekit.load_dataset("digits", split="all")
    np.savez(tmp_path / "digits645.npz", x=digits.x[:645, 0].numpy(), y=digits.labels[:645].numpy())
    spawn(2, tmp_path)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    single = aekit.train(quick(tmp_path / "single", **settings(tmp_path)), report=False)
    n_train = json.loads((single.run_dir / "config.json").read_text())["data"]["n_train"]
    assert n_train % 64 == 5  # an uneven last global batch

    ddp_dir = Path(ranks[0]["run_dir"])
    assert ranks[1]["run_dir"] == str(ddp_dir)  # every rank is told the one run folder
    assert not (tmp_path / "runs-rank1").exists()  # rank 1 wrote nothing
    assert [p.name for p in (tmp_path / "runs-rank0").iterdir()] == [ddp_dir.name]
    assert [r["rank"] for r in ranks] == [0, 1]

    # DDP averages the two ranks' gradients; with the shard weights that is the global batch's
    # gradient, so the weights follow the one-process run up to float rounding
    w_ddp = load_file(str(ddp_dir / "model.safetensors"))
    w_one = load_file(str(single.run_dir / "model.safetensors"))
    for k in w_one:
        torch.testing.assert_close(w_ddp[k], w_one[k], rtol=0, atol=2e-5)
    # epoch losses are all-reduced over both ranks' samples: the global means
    for a, b in zip(ranks[0]["history"], single.history):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-4)
    no_clock = [
        [{k: v for k, v in h.items() if k != "time_s"} for h in r["history"]] for r in ranks
    ]
    assert no_clock[0] == no_clock[1]
    info = json.loads((ddp_dir / "config.json").read_text())
    assert info["distributed"] == {"world_size": 2, "backend": "gloo"}
    ck = json.loads((ddp_dir / "checkpoint" / "state.json").read_text())
    assert ck["world_size"] == 2


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("torchrun") is None, reason="torchrun is not on PATH")
def test_torchrun_cli_resume_with_noise_gives_identical_weights(tmp_path):
    """The documented launch, with per-rank noise streams, a checkpoint and a resume."""

    def torchrun(*args):
        cmd = [
            "torchrun",
            "--standalone",
            "--nproc_per_node=2",
            "-m",
            "aekit.cli.main",
            "train",
            *args,
            "--no-progress",
        ]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
        assert r.returncode == 0, r.stderr[-3000:]
        return r

    common = [
        "--data",
        "digits",
        "--batch-size",
        "64",
        "--set",
        "data.noise=gaussian",
        "--set",
        "data.noise_level=0.3",
        "--set",
        'train.schedule="none"',
        "--set",
        "train.checkpoint_min_s=0",
        "--out",
        str(tmp_path),
    ]
    torchrun(*common, "--epochs", "4", "--name", "straight")
    r = torchrun(*common, "--epochs", "2", "--name", "resumed")
    assert r.stdout.count("final train loss") == 1  # rank 0 speaks for both
    torchrun("--resume", str(tmp_path / "resumed"), "--epochs", "4")
    a = load_file(str(tmp_path / "straight" / "model.safetensors"))
    b = load_file(str(tmp_path / "resumed" / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    # one process cannot continue a two-process checkpoint: it says how to
    r = subprocess.run(
        [sys.executable, "-m", "aekit.cli.main", "train", "--resume", str(tmp_path / "resumed")],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "--nproc_per_node=2" in r.stderr
