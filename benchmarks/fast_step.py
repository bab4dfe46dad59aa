"""What the autograd-free training step (training/fastpath.py) gains, and what its checks cost.

On the 784-128-64-12-3 tutorial network (ReLU, tanh output, [-1, 1] pixels, fused Adam, batch
128), in interleaved rounds (each round runs every variant, in a rotated order, so a change in
the machine's state hits them all):

- micro: ms per step of the bare step plus the optimiser, on one random batch: autograd (the
  trainer's own step: ``zero_grad``, forward, ``loss_terms``, ``backward``), the step without
  autograd as the trainer calls it (its per-step look for hooks included), and its kernels
  alone (``MLPStep.fast_step``); then the one-off cost of the checked first step (both steps
  and the comparison) against one plain step, and of the per-step look alone;
- trainer: images/second of aekit's trainer on random uint8 images, ``train.fast_mlp_step``
  on and off (median over the epochs after the first, then over the rounds).

    python benchmarks/fast_step.py [--rounds 5] [--steps 200] [--images 20000] [--threads 0]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import aekit
from aekit.config import TrainConfig
from aekit.training import fastpath
from aekit.training.optim import make_optimizer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speed import aekit_loop, cpu_name, rate  # noqa: E402

HIDDEN, LATENT = [128, 64, 12], 3


def tutorial_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return aekit.create_model(
        "mlp", (1, 28, 28), "-11", hidden=HIDDEN, latent_dim=LATENT, batchnorm=False
    )


def micro_variants(bs: int) -> dict:
    """name -> a function running one training step (step and optimiser) on a fixed batch."""
    model = tutorial_model()
    x = torch.rand(bs, 1, 28, 28) * 2 - 1
    opt = make_optimizer(list(model.parameters()), TrainConfig())
    step = fastpath.MLPStep(model, "mse")
    step(x, x)  # the checked first step, done: the later calls are the fast step

    def autograd():
        opt.zero_grad(set_to_none=True)
        sum(model.loss_terms(model(x), x, x, "mse").values()).backward()
        opt.step()

    def fast():
        step(x, x)
        opt.step()

    def kernels_only():
        step.fast_step(x, x)
        opt.step()

    assert not step.uses_autograd
    return {"autograd": autograd, "fast step": fast, "fast step, kernels only": kernels_only}


def micro(rounds: int, steps: int, bs: int) -> dict[str, list[float]]:
    """ms per step of each variant, one figure per round."""
    variants = micro_variants(bs)
    names = list(variants)
    out: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            fn = variants[name]
            for _ in range(10):  # warm-up
                fn()
            t = time.perf_counter()
            for _ in range(steps):
                fn()
            out[name].append((time.perf_counter() - t) / steps * 1e3)
    return out


def first_step_cost(repeats: int, bs: int) -> dict[str, float]:
    """Median ms of the checked first step, of a plain fast step after it, and of the
    per-step look for hooks (µs)."""
    model = tutorial_model()
    x = torch.rand(bs, 1, 28, 28) * 2 - 1
    first, plain = [], []
    for _ in range(repeats):
        step = fastpath.MLPStep(model, "mse")
        t0 = time.perf_counter()
        step(x, x)
        t1 = time.perf_counter()
        step(x, x)
        t2 = time.perf_counter()
        first.append((t1 - t0) * 1e3)
        plain.append((t2 - t1) * 1e3)
    n = 20000
    t = time.perf_counter()
    for _ in range(n):
        step._disturbed(x)
    look_us = (time.perf_counter() - t) / n * 1e6
    return {"first_ms": statistics.median(first), "plain_ms": statistics.median(plain),
            "look_us": look_us}  # fmt: skip


def trainer(rounds: int, images: int, epochs: int) -> dict[str, list[float]]:
    """img/s of aekit's trainer with the step on and off, one figure per round."""
    out: dict[str, list[float]] = {"autograd": [], "fast step": []}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "x.npy"
        np.save(data, np.random.default_rng(0).integers(0, 256, (images, 28, 28), np.uint8))
        for r in range(rounds):
            order = [True, False] if r % 2 == 0 else [False, True]
            for fast in order:
                train = {"epochs": epochs, "fast_mlp_step": fast, "log_every": 0}
                res = aekit_loop(data, None, HIDDEN, LATENT, str(data), train)
                out["fast step" if fast else "autograd"].append(rate(res))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=200, help="micro: steps per variant and round")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--images", type=int, default=20000, help="trainer: random images")
    p.add_argument("--epochs", type=int, default=3, help="trainer: epochs (first = warm-up)")
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: default)")
    p.add_argument("--skip-trainer", action="store_true")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    print(f"# {cpu_name()}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"load before {os.getloadavg()[0]:.2f}")  # fmt: skip
    res = micro(a.rounds, a.steps, a.batch_size)
    base = statistics.median(res["autograd"])
    print("\n| step (micro, ms per step) | median | rounds | autograd / this |")
    print("| --- | ---: | --- | ---: |")
    for name, ms in res.items():
        med = statistics.median(ms)
        spread = ", ".join(f"{m:.3f}" for m in ms)
        print(f"| {name} | {med:.3f} | {spread} | {base / med:.2f} |")
    cost = first_step_cost(max(5, a.rounds), a.batch_size)
    print(f"\nchecked first step {cost['first_ms']:.2f} ms against {cost['plain_ms']:.2f} ms "
          f"for a plain one (once per run); per-step look for hooks {cost['look_us']:.1f} µs")  # fmt: skip
    if not a.skip_trainer:
        tr = trainer(a.rounds, a.images, a.epochs)
        print("\n| trainer (img/s) | median | rounds |")
        print("| --- | ---: | --- |")
        for name, rates in tr.items():
            spread = ", ".join(f"{r:,.0f}" for r in rates)
            print(f"| {name} | {statistics.median(rates):,.0f} | {spread} |")
        gain = statistics.median(tr["fast step"]) / statistics.median(tr["autograd"])
        print(f"\ntrainer: fast step / autograd = {gain:.2f}")
    print(f"# load after {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
