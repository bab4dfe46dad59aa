"""Speed beside a neighbour: each training loop alone and beside one CPU-bound process, in one run.

Users' machines are busy: a second training, a notebook, a browser. On a machine with few
cores, PyTorch's default of one OpenMP thread per core makes a small model many times slower
as soon as another process holds a core (threads spin waiting for the one that is not
running). This benchmark times, in fresh processes (as a user's would be),

- loops: tutorial (per-sample PIL + DataLoader), plain (in-memory tensor, shuffled slices) and
  aekit (``aekit.train`` with its defaults, ``train.threads = "auto"``; aekit_fp32: the same
  with ``train.precision = "fp32"``, for conv models on a bf16 CPU), on the seed MLP
  784-128-64-12-3 and on aekit's default conv model (``conv``: the plain loop trains the same
  layers);
- neighbours: none; ``train``, another plain PyTorch training with PyTorch's default threads;
  ``matmul``, a NumPy float32 matmul loop with NumPy's default threads;

interleaved (for each loop: alone, then beside each neighbour), and prints the median epoch time
(after a warm-up epoch) and the slowdown factor against alone. With 2 cores and one neighbour
that wants every core, a fair share is 2x.

    python benchmarks/contention.py                      # full MNIST images, first 12,000
    python benchmarks/contention.py --models mlp --loops plain,aekit --epochs 3
    python benchmarks/contention.py --models conv --loops aekit,aekit_fp32 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


# -- the neighbours ------------------------------------------------------------------------------
def neighbour_train() -> None:
    """Another user's training: a plain PyTorch MLP loop on random data, default threads."""
    import torch
    from torch import nn

    net = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 784))
    opt = torch.optim.Adam(net.parameters())
    x = torch.rand(256, 784)
    while True:
        opt.zero_grad()
        nn.functional.mse_loss(net(x), x).backward()
        opt.step()


def neighbour_matmul() -> None:
    """A NumPy job: float32 matmuls, NumPy's default threads."""
    import numpy as np

    a = np.random.default_rng(0).random((768, 768), dtype=np.float32)
    while True:
        b = a @ a
        a = b / np.abs(b).max()


NEIGHBOURS = {"train": neighbour_train, "matmul": neighbour_matmul}


# -- the workers (one fresh process per measurement) -------------------------------------------
def conv_layers():
    """aekit's default conv model, for the plain loop: the same layers."""
    import aekit

    return aekit.create_model("conv", (1, 28, 28), pixel_range="-11")


def plain_conv_loop(images, bs: int, epochs: int, lr: float) -> dict:
    import speed
    import torch

    model = conv_layers()
    net = torch.nn.Sequential(model.encoder, model.decoder)
    return {"epoch_s": speed.plain_epochs(net, images, bs, epochs, lr), "n": len(images)}


def aekit_run(data_path: str, model: dict, epochs: int, train: dict | None = None) -> dict:
    import speed

    import aekit

    clock = speed.EpochClock()
    with tempfile.TemporaryDirectory() as out:
        cfg = {
            "data": {"name": data_path, "pixel_range": "-11", "val_fraction": 0.01},
            "model": model,
            "train": {"recon_every": 0, "epochs": epochs, **(train or {})},
            "run": {"out_dir": out},
        }
        aekit.train(cfg, callbacks=[clock])
    m = clock.marks
    return {"epoch_s": [b - a for a, b in zip(m[:-1], m[1:])], "n": clock.n}


def worker(loop: str, model: str, data_path: str, epochs: int) -> dict:
    import numpy as np
    import speed

    images = np.load(data_path)
    bs, lr = 128, 3e-3
    if loop in ("aekit", "aekit_fp32"):  # aekit_fp32: --precision fp32 (conv: bf16 by default)
        spec = speed.mlp_spec(speed.SMALL, speed.SMALL_LATENT, batchnorm=False)  # plain's layers
        train = {"precision": "fp32"} if loop == "aekit_fp32" else {}
        return aekit_run(data_path, spec if model == "mlp" else {"name": "conv"}, epochs, train)
    if model == "conv":
        if loop != "plain":
            raise SystemExit("the conv model is timed with the plain and aekit loops")
        return plain_conv_loop(images, bs, epochs, lr)
    fn = {"tutorial": speed.tutorial_loop, "plain": speed.plain_loop}[loop]
    return fn(images, None, speed.SMALL, speed.SMALL_LATENT, bs, epochs, lr)


# -- the driver --------------------------------------------------------------------------------
def measure(loop, model, data_path, epochs, neighbour: str | None) -> float:
    """Median seconds per epoch after the first, in a fresh process, beside ``neighbour``."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    side = None
    if neighbour:
        side = subprocess.Popen([sys.executable, __file__, "--neighbour", neighbour], env=env)
        time.sleep(1.0)  # let it reach its steady state
    try:
        cmd = [sys.executable, __file__, "--worker", loop, model, data_path, str(epochs)]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    finally:
        if side is not None:
            side.kill()
            side.wait()
    res = json.loads(out.strip().splitlines()[-1])
    return statistics.median(res["epoch_s"][1:] or res["epoch_s"])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", default="../shared/datasets/mnist")
    p.add_argument("--limit", type=int, default=12000, help="training images per epoch")
    p.add_argument("--epochs", type=int, default=3, help="epochs per measurement (1st: warm-up)")
    p.add_argument("--loops", default="tutorial,plain,aekit")
    p.add_argument("--models", default="mlp,conv")
    p.add_argument("--neighbours", default="train,matmul")
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure each loop alone and beside each neighbour this many times, interleaved; "
        "cells: median seconds, and the median of the rounds' slowdown factors",
    )
    p.add_argument("--neighbour", help=argparse.SUPPRESS)
    p.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.neighbour:
        NEIGHBOURS[args.neighbour]()
        return 0
    if args.worker:
        loop, model, path, epochs = args.worker
        print(json.dumps(worker(loop, model, path, int(epochs))))
        return 0

    import numpy as np
    import torch

    import aekit

    tr = aekit.load_dataset("mnist", args.data_dir, "train", val_fraction=0.0)
    images = tr.x[: args.limit, 0].numpy()
    print(f"# {time.strftime('%Y-%m-%d %H:%M')}  load {os.getloadavg()[0]:.2f}  ", end="")
    print(f"cores {len(os.sched_getaffinity(0))}  torch {torch.__version__}  n={len(images)}")
    neighbours = [None, *args.neighbours.split(",")]
    head = ["alone", *(f"beside {n}" for n in neighbours[1:])]
    print("| model | loop | " + " | ".join(f"{h} (s/epoch)" for h in head), end=" | ")
    print(" | ".join(f"x {n}" for n in neighbours[1:]) + " |")
    print("| --- | --- |" + " ---: |" * (2 * len(neighbours) - 1))
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "images.npy")
        np.save(path, images)
        for model in args.models.split(","):
            for loop in args.loops.split(","):
                if model == "conv" and loop == "tutorial":
                    continue
                runs = [
                    [measure(loop, model, path, args.epochs, n) for n in neighbours]
                    for _ in range(args.rounds)
                ]
                t = [statistics.median(r[i] for r in runs) for i in range(len(neighbours))]
                x = [statistics.median(r[i] / r[0] for r in runs) for i in range(1, len(t))]
                cells = [f"{v:.3f}" for v in t] + [f"{v:.2f}" for v in x]
                print(f"| {model} | {loop} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
