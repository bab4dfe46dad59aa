"""Milliseconds per training step of aekit's default conv model: the plain loop of speed.py
(NCHW, PyTorch's Adam, F.mse_loss, loss.item()) against aekit's own step (the trainer's
build_model and model_step: channels-last, the fast transposed convolutions, the copy-free
bottleneck, fused Adam), in interleaved rounds on one random batch stream; each round runs
every variant, odd rounds in reverse order. ``--without relu,bn`` adds aekit's step on the same
model with those layers replaced by Identity: how much of the step they take. ``--bf16`` adds
both steps under bf16 autocast (aekit's default for conv models on a CPU with native bfloat16).
``--data-dir`` times real MNIST batches after ``--warmup`` training steps (a trained model's
step costs more than a fresh one's on random pixels).

    python benchmarks/conv_step.py [--threads 1] [--rounds 20] [--steps 20] [--without relu,bn]
    python benchmarks/conv_step.py --bf16 --data-dir ../shared/datasets/mnist --warmup 300

Wall clock; the median of each variant's per-round ms and of the per-round ratios plain / this.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from speed import conv_model, plain_net  # noqa: E402

from aekit.config import Config  # noqa: E402
from aekit.training.optim import make_optimizer  # noqa: E402
from aekit.training.setup import build_model  # noqa: E402
from aekit.training.step import Precision, model_step  # noqa: E402

CPU = torch.device("cpu")
DROP = {"relu": nn.ReLU, "bn": nn.BatchNorm2d}


def plain_step(bf16: bool = False):
    net = plain_net(conv_model())
    opt = torch.optim.Adam(net.parameters(), lr=Config().train.lr)

    def step(x):
        opt.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = F.mse_loss(net(x), x)
        loss.backward()
        opt.step()
        loss.item()

    return step


def aekit_step(drop: tuple[str, ...] = (), precision: str = "fp32"):
    model = conv_model()
    for kind in drop:
        for mod in list(model.modules()):
            for name, child in mod.named_children():
                if isinstance(child, DROP[kind]):
                    setattr(mod, name, nn.Identity())
    cfg = Config()
    model = build_model(cfg, model, None, CPU)
    opt = make_optimizer(list(model.parameters()), cfg.train)
    inner = model_step(model, model, opt, cfg.train, Precision(precision, CPU), False)

    def step(x):
        x = x.contiguous(memory_format=torch.channels_last)  # as aekit's batches come
        inner(x, x)

    return step


def batches_of(data_dir: str | None, warmup: int, steps: int):
    """(warm-up batches, timed batches) of 128 images in [-1, 1]: random pixels, or shuffled
    MNIST training images."""
    g = torch.Generator().manual_seed(0)
    n = (warmup + steps) * 128
    if data_dir is None:
        x = torch.rand(n, 1, 28, 28, generator=g) * 2 - 1
    else:
        from aekit.data.idx import read_idx

        images = torch.from_numpy(read_idx(Path(data_dir) / "train-images-idx3-ubyte.gz"))
        idx = torch.randperm(len(images), generator=g)[:n]
        x = images[idx].float().div(255).mul(2).sub(1).unsqueeze(1)
    b = x.split(128)
    return b[:warmup], b[warmup:]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--steps", type=int, default=20, help="steps per variant per round")
    p.add_argument("--without", default="", help="comma-separated: relu, bn (ablations)")
    p.add_argument("--bf16", action="store_true", help="add both steps under bf16 autocast")
    p.add_argument("--data-dir", help="MNIST's IDX files: real batches instead of random pixels")
    p.add_argument("--warmup", type=int, default=3, help="training steps before the timing")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    drops = [d for d in a.without.split(",") if d]
    variants = {"plain": plain_step(), "aekit": aekit_step()}
    if a.bf16:
        variants["plain bf16"] = plain_step(bf16=True)
        variants["aekit bf16"] = aekit_step(precision="bf16")
    for d in drops:
        variants[f"aekit without {d}"] = aekit_step((d,))
    if len(drops) > 1:
        variants["aekit without " + " and ".join(drops)] = aekit_step(tuple(drops))
    warm, batches = batches_of(a.data_dir, a.warmup, a.steps)
    for step in variants.values():  # warm-up: oneDNN primitives, the fast layers' self-check
        for b in warm:
            step(b)
    ms = {k: [] for k in variants}
    names = list(variants)
    for r in range(a.rounds):
        for k in names if r % 2 == 0 else names[::-1]:
            t = time.perf_counter()
            for b in batches:
                variants[k](b)
            ms[k].append((time.perf_counter() - t) / len(batches) * 1e3)
    print(f"threads {a.threads}, {a.rounds} rounds x {a.steps} steps, batch 128\n")
    print("| step | ms per step (median) | plain / this (median of rounds) |")
    print("| --- | ---: | ---: |")
    for k, v in ms.items():
        r = statistics.median(b / m for b, m in zip(ms["plain"], v))
        print(f"| {k} | {statistics.median(v):.2f} | {r:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
