"""Where one training step of aekit's trainer spends its time (torch.profiler, CPU).

Trains the 784-128-64-12-3 tutorial network (ReLU, Tanh output, [-1, 1] pixels, Adam, batch
128), or with ``--model conv`` aekit's default conv model, with aekit's Trainer on random uint8
images (60,000; ``--images``) and profiles every step of the second epoch (the first warms up;
its end-of-epoch validation and weight saving are in the profile). Prints the operators by self
CPU time (with ``--shapes``, per input shape) and the time per step. The profiler times wall
clock: on a loaded machine every operator looks slower at random; profile on a quiet one.

    python benchmarks/profile_step.py [--threads 1] [--batch-size 128]
    python benchmarks/profile_step.py --model conv --images 12000 --shapes
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile

import aekit
from aekit.training.trainer import Trainer

MLP = {"name": "mlp", "hidden": [128, 64, 12], "latent_dim": 3, "batchnorm": False}  # as profiled


class EpochProfiler:
    """Trainer callback: profile every step of the second epoch (the first warms up)."""

    def __init__(self, shapes: bool = False):
        self.prof, self.steps, self.shapes = None, 0, shapes

    def on_epoch_end(self, state):
        if state.epoch == 1:
            self.prof = profile(activities=[ProfilerActivity.CPU], record_shapes=self.shapes)
            self.prof.__enter__()
        elif state.epoch == 2:
            self.prof.__exit__(None, None, None)
            self.steps = state.steps_per_epoch


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: default)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--rows", type=int, default=25)
    p.add_argument("--model", choices=["mlp", "conv"], default="mlp")
    p.add_argument("--images", type=int, default=60000)
    p.add_argument("--shapes", action="store_true", help="group the operators by input shape")
    a = p.parse_args(argv)
    model = {"name": "conv"} if a.model == "conv" else MLP
    if a.threads:
        torch.set_num_threads(a.threads)
    prof = EpochProfiler(a.shapes)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "x.npy"
        np.save(data, np.random.default_rng(0).integers(0, 256, (a.images, 28, 28), np.uint8))
        cfg = aekit.Config.from_dict(
            {
                "data": {"name": str(data), "pixel_range": "-11", "val_fraction": 0.01},
                "model": model,
                "train": {
                    "epochs": 3,
                    "batch_size": a.batch_size,
                    "log_every": 0,
                    "recon_every": 0,
                },
                "run": {"out_dir": tmp},
            }
        )
        Trainer(cfg, [prof]).run()
    events = prof.prof.key_averages(group_by_input_shape=a.shapes)
    print(
        f"# {a.model}: {prof.steps} steps, batch {a.batch_size}, {torch.get_num_threads()} threads\n"
    )
    print(events.table(sort_by="self_cpu_time_total", row_limit=a.rows, max_shapes_column_width=80))
    total = sum(e.self_cpu_time_total for e in events) / 1e3
    print(f"self CPU time in all operators: {total:.1f} ms = {total / prof.steps:.3f} ms/step")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
