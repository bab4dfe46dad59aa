"""Issue 14 section 1: are aekit's "two modes" of epoch time (0.64-0.70 s or 0.82-0.90 s, seen
earlier) its thread policy? Per-epoch seconds and torch's thread count in each epoch, with
``train.threads = "auto"`` (the default) and a fixed 2, interleaved; run it on a quiet machine.

    python benchmarks/epoch_modes.py --data-dir ../shared/datasets/mnist --json modes.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
import speed  # noqa: E402

import aekit  # noqa: E402


class Clock:
    """Callback: the wall time at the start and at each epoch's end, and torch's threads."""

    def __init__(self):
        self.t, self.threads = [], []

    def on_train_start(self, state):
        self.t.append(time.perf_counter())

    def on_epoch_end(self, state):
        self.t.append(time.perf_counter())
        self.threads.append(torch.get_num_threads())


def run(path: str, threads, epochs: int) -> dict:
    """The speed table's aekit row (784-128-64-12-3, batch 128, 1% validation, no figures)."""
    clock = Clock()
    model = speed.mlp_spec(speed.SMALL, speed.SMALL_LATENT, batchnorm=False)
    train = {"epochs": epochs, "batch_size": 128, "recon_every": 0, "threads": threads}
    with tempfile.TemporaryDirectory() as out:
        cfg = {
            "data": {"name": path, "pixel_range": "-11", "val_fraction": 0.01},
            "model": model,
            "train": train,
            "run": {"out_dir": out},
        }
        aekit.train(cfg, callbacks=[clock], report=False, figures=False)
    epoch_s = [round(b - a, 3) for a, b in zip(clock.t[:-1], clock.t[1:])]
    return {"epoch_s": epoch_s, "threads": clock.threads}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", default="../shared/datasets/mnist")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--json", help="also write the numbers to this JSON file")
    a = p.parse_args()
    images, _, source = speed.load_images(speed.parse_args(["--data-dir", a.data_dir]))
    out = {}
    with tempfile.TemporaryDirectory() as d:
        path = str(Path(d) / "train.npy")
        np.save(path, images)
        print(f"{source}; load {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
        for rnd in range(a.rounds):
            for threads in ("auto", 2):
                r = run(path, threads, a.epochs)
                out[f"round {rnd + 1}, threads {threads}"] = r
                after = r["epoch_s"][1:]  # the first epoch warms up
                print(
                    f"round {rnd + 1} threads={threads}: epochs 2-{a.epochs} median "
                    f"{statistics.median(after):.3f} s (min {min(after):.3f}, max "
                    f"{max(after):.3f}); torch threads per epoch {sorted(set(r['threads']))}",
                    flush=True,
                )
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
