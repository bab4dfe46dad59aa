"""Training throughput: aekit against the loops people write by hand, and the hardware limit.

On the same data (full MNIST, or a random uint8 tensor of the same shape with --synthetic), the
same model and the same batch size, it times

- tutorial: a Dataset whose __getitem__ turns one uint8 image into a PIL image, then into a
  normalised float tensor (what torchvision's ToTensor() + Normalize() do per sample), a
  DataLoader(batch_size, shuffle=True), zero_grad / backward / step and loss.item() every step;
- plain: the whole dataset as one float tensor, shuffled index slices, loss.item() every step;
- pythae: pythae's TrainingPipeline on the same layers (when pythae is installed);
- aekit: aekit.train with its defaults for that model (per-epoch validation and weight saving
  included in its time);

and reports images/second (median over the epochs after a warm-up epoch), the achieved
GFLOP/s (6 x weights FLOPs per training image: forward, and the two backward matmuls) as a
fraction of the machine's float32 matmul rate (the median of a large square matmul), the
time-to-quality of aekit against the tutorial loop, and the peak resident memory.

    python benchmarks/speed.py                       # full MNIST from ../shared/datasets/mnist
    python benchmarks/speed.py --synthetic --epochs 3
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import aekit

SMALL = [128, 64, 12]  # 784-128-64-12-3: the classic tutorial network
SMALL_LATENT = 3
DEEP = [1000, 500, 250]  # 784-1000-500-250-30: Hinton & Salakhutdinov 2006
DEEP_LATENT = 30


# -- the machine -------------------------------------------------------------------------------
def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def matmul_gflops(n: int = 2048, repeats: int = 15) -> float:
    """Median float32 rate of an n x n @ n x n matmul, in GFLOP/s (2 n^3 FLOPs)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    return 2 * n**3 / statistics.median(times) / 1e9


def peak_rss_mb() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 1024 if sys.platform != "darwin" else r / 2**20


# -- data --------------------------------------------------------------------------------------
def load_images(args) -> tuple[np.ndarray, np.ndarray | None, str]:
    """(60000, 28, 28) uint8 training images, the test images (or None), a description."""
    if args.synthetic:
        g = np.random.default_rng(0)
        return g.integers(0, 256, (60000, 28, 28), dtype=np.uint8), None, "synthetic uint8"
    tr = aekit.load_dataset("mnist", args.data_dir, "train", val_fraction=0.0)
    te = aekit.load_dataset("mnist", args.data_dir, "test")
    return tr.x[:, 0].numpy(), te.x[:, 0].numpy(), f"MNIST from {args.data_dir}"


class TutorialDataset(torch.utils.data.Dataset):
    """Per-sample PIL conversion, then ToTensor() + Normalize((0.5,), (0.5,)) by hand."""

    def __init__(self, images: np.ndarray):
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i):
        from PIL import Image

        img = Image.fromarray(self.images[i], mode="L")
        # ToTensor: HWC uint8 -> CHW float in [0, 1]
        t = torch.from_numpy(np.array(img, np.uint8, copy=True)).view(28, 28, 1)
        t = t.permute(2, 0, 1).contiguous().float().div(255)
        return (t - 0.5) / 0.5, 0  # Normalize(mean=0.5, std=0.5) -> [-1, 1]


# -- models ------------------------------------------------------------------------------------
def make_model(hidden: list[int], latent: int, seed: int = 0) -> nn.Module:
    """The same layers every loop trains: aekit's mlp (ReLU, Tanh output for [-1, 1] pixels)."""
    torch.manual_seed(seed)
    return aekit.create_model(
        "mlp", (1, 28, 28), pixel_range="-11", hidden=hidden, latent_dim=latent
    )


def weights(hidden: list[int], latent: int) -> int:
    sizes = [784, *hidden, latent]
    w = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    return 2 * w  # encoder + mirrored decoder


def plain_net(model) -> nn.Module:
    """The model's own layers as a bare nn.Sequential: tensor in, tensor out."""
    return nn.Sequential(model.encoder, model.decoder)


@torch.no_grad()
def test_sse(net: nn.Module, test: np.ndarray | None) -> float | None:
    """Squared error per test image, pixels in [0, 1], summed over the 784 pixels."""
    if test is None:
        return None
    x = torch.from_numpy(test).float().div(255).unsqueeze(1)
    net.eval()
    out = torch.cat([net(x[i : i + 2000] * 2 - 1) for i in range(0, len(x), 2000)])
    net.train()
    return float(((out + 1) / 2 - x).pow(2).flatten(1).sum(1).mean())


# -- the loops ---------------------------------------------------------------------------------
def tutorial_loop(images, test, hidden, latent, bs, epochs, lr) -> dict:
    net = plain_net(make_model(hidden, latent))
    loader = torch.utils.data.DataLoader(TutorialDataset(images), batch_size=bs, shuffle=True)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    times, start = [], time.perf_counter()
    for _ in range(epochs):
        t = time.perf_counter()
        for x, _ in loader:
            opt.zero_grad()
            loss = F.mse_loss(net(x), x)
            loss.backward()
            opt.step()
            loss.item()
        times.append(time.perf_counter() - t)
    wall = time.perf_counter() - start
    return {"epoch_s": times, "n": len(images), "wall_s": wall, "test_sse": test_sse(net, test)}


def plain_epochs(net: nn.Module, images: np.ndarray, bs: int, epochs: int, lr: float) -> list:
    """The plain loop: the whole set as one float tensor, shuffled index slices, Adam, MSE,
    loss.item() every step; returns each epoch's seconds."""
    x_all = torch.from_numpy(images).float().div(255).mul(2).sub(1).unsqueeze(1)  # (N,1,28,28)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    times = []
    for _ in range(epochs):
        t = time.perf_counter()
        perm = torch.randperm(len(x_all))
        for i in range(0, len(x_all), bs):
            x = x_all[perm[i : i + bs]]
            opt.zero_grad()
            loss = F.mse_loss(net(x), x)
            loss.backward()
            opt.step()
            loss.item()
        times.append(time.perf_counter() - t)
    return times


def plain_loop(images, test, hidden, latent, bs, epochs, lr) -> dict:
    net = plain_net(make_model(hidden, latent))
    times = plain_epochs(net, images, bs, epochs, lr)
    return {"epoch_s": times, "n": len(images), "test_sse": test_sse(net, test)}


def pythae_loop(images, test, hidden, latent, bs, epochs, lr) -> dict:
    import os

    os.environ.setdefault("TQDM_DISABLE", "1")  # pythae draws a progress bar per batch
    try:
        from pythae.models import AE, AEConfig
        from pythae.models.base.base_utils import ModelOutput
        from pythae.models.nn import BaseDecoder, BaseEncoder
        from pythae.pipelines import TrainingPipeline
        from pythae.trainers import BaseTrainerConfig
        from pythae.trainers.training_callbacks import TrainingCallback
    except Exception as e:  # ImportError, or a pythae that breaks on import beside this torch
        return {"skipped": f"pythae not usable: {type(e).__name__}: {e}"}
    import logging

    logging.getLogger("pythae").setLevel(logging.WARNING)
    model = make_model(hidden, latent)

    class Enc(BaseEncoder):
        def __init__(self):
            super().__init__()
            self.net = model.encoder

        def forward(self, x):
            return ModelOutput(embedding=self.net(x))

    class Dec(BaseDecoder):
        def __init__(self):
            super().__init__()
            self.net = model.decoder

        def forward(self, z):
            return ModelOutput(reconstruction=self.net(z))

    class Clock(TrainingCallback):
        def __init__(self):
            self.marks = []

        def on_epoch_begin(self, training_config, **kw):
            self.marks.append(time.perf_counter())

        def on_epoch_end(self, training_config, **kw):
            self.marks.append(time.perf_counter())

    ae = AE(AEConfig(input_dim=(1, 28, 28), latent_dim=latent), encoder=Enc(), decoder=Dec())
    with tempfile.TemporaryDirectory() as out:
        cfg = BaseTrainerConfig(
            output_dir=out,
            per_device_train_batch_size=bs,
            num_epochs=epochs,
            learning_rate=lr,
            no_cuda=True,
        )
        clock = Clock()
        data = torch.from_numpy(images).float().div(255).mul(2).sub(1).unsqueeze(1)
        TrainingPipeline(model=ae, training_config=cfg)(train_data=data, callbacks=[clock])
    m = clock.marks
    times = [m[i + 1] - m[i] for i in range(0, len(m) - 1, 2)]
    return {"epoch_s": times, "n": len(images), "test_sse": test_sse(plain_net(model), test)}


class EpochClock:
    """aekit callback: the time of each epoch end, and the test error after each epoch (its own
    evaluation time is left out of the clock)."""

    def __init__(self, test=None):
        self.test, self.marks, self.sse, self.excluded = test, [], [], 0.0

    def on_train_start(self, state):
        self.n = len(state.train_data)
        self.marks.append(time.perf_counter())

    def on_epoch_end(self, state):
        self.marks.append(time.perf_counter() - self.excluded)
        if self.test is not None:
            t = time.perf_counter()
            self.sse.append(test_sse(plain_net(state.model), self.test))
            self.excluded += time.perf_counter() - t


def aekit_loop(images, test, hidden, latent, data_path, train: dict | None = None) -> dict:
    """aekit.train on the model with its defaults (Adam, lr 3e-3, cosine decay, batch 128, 20
    epochs), but for the keys in ``train``."""
    clock = EpochClock(test)
    with tempfile.TemporaryDirectory() as out:
        cfg = {
            "data": {"name": data_path, "pixel_range": "-11", "val_fraction": 0.01},
            "model": {"name": "mlp", "hidden": hidden, "latent_dim": latent},
            "train": {"recon_every": 0, **(train or {})},
            "run": {"out_dir": out},
        }
        run = aekit.train(cfg, callbacks=[clock])
    m = clock.marks
    times = [b - a for a, b in zip(m[:-1], m[1:])]
    n = clock.n  # 99% of the images: 1% is aekit's per-epoch validation
    return {
        "epoch_s": times,
        "n": n,
        "test_sse": clock.sse[-1] if clock.sse else None,
        "sse_by_epoch": clock.sse,
        "elapsed": [b - m[0] for b in m[1:]],
        "run": run,
    }


# -- report ------------------------------------------------------------------------------------
def rate(res: dict) -> float | None:
    """Images/second: median over the epochs after the first (the warm-up); with --rounds, the
    median of those over the rounds."""
    if "median_rate" in res:
        return res["median_rate"]
    if "epoch_s" not in res or not res["epoch_s"]:
        return None
    ts = res["epoch_s"][1:] or res["epoch_s"]
    return res["n"] / statistics.median(ts)


def print_rounds(rounds: list[dict[str, dict]], order: list[str]) -> None:
    """img/s of each loop in each round, and each round's ratios to the tutorial loop: loops
    measured minutes apart on a shared or virtual machine can see different machines."""
    others = [n for n in order if n != "tutorial"] if "tutorial" in order else []
    head = order + [f"{n} / tutorial" for n in others]
    print("| round | " + " | ".join(head) + " |")
    print("| ---: |" + " ---: |" * len(head))
    for i, rd in enumerate(rounds, 1):
        rs = {n: rate(rd[n]) for n in order}
        cells = [f"{rs[n]:,.0f}" if rs[n] else "n/a" for n in order]
        cells += [f"{rs[n] / rs['tutorial']:.2f}" if rs[n] else "" for n in others]
        print(f"| {i} | " + " | ".join(cells) + " |")
    if "aekit" in others:
        ratios = [rate(rd["aekit"]) / rate(rd["tutorial"]) for rd in rounds]
        print(
            f"\naekit / tutorial: median {statistics.median(ratios):.2f} over {len(rounds)} rounds\n"
        )


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", default="../shared/datasets/mnist")
    p.add_argument("--synthetic", action="store_true", help="random uint8 images, no files")
    p.add_argument("--epochs", type=int, default=4, help="epochs per loop (first = warm-up)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--deep-batch-size", type=int, default=1024, help="for 784-1000-500-250-30")
    p.add_argument(
        "--lr", type=float, default=1e-3, help="the hand-written loops' and pythae's Adam lr"
    )
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: default)")
    p.add_argument(
        "--loops", default="tutorial,plain,pythae,aekit,deep", help="comma-separated subset"
    )
    p.add_argument("--limit", type=int, help="use only the first N training images (smoke test)")
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run the small-model loops this many times, alternating their order; rates are "
        "medians over the rounds",
    )
    p.add_argument("--json", help="also write the numbers to this JSON file")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    loops = set(args.loops.split(","))
    images, test, source = load_images(args)
    if args.limit:
        images = images[: args.limit]
    tmp = tempfile.TemporaryDirectory()
    data_path = str(Path(tmp.name) / "train.npy")
    np.save(data_path, images)  # aekit reads the same uint8 array

    peak = matmul_gflops()  # measured again at the end; the higher median is used (load)
    print(f"# speed benchmark  {time.strftime('%Y-%m-%d %H:%M')}")
    print(f"machine: {cpu_name()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"data: {source}, {len(images)} images; batch {args.batch_size}; {args.epochs} epochs")
    print(f"float32 matmul (2048^3, median of 15): {peak:.1f} GFLOP/s at the start\n")

    small = (SMALL, SMALL_LATENT)
    w_small = weights(*small)
    common = (images, test, *small, args.batch_size, args.epochs, args.lr)
    runners = {
        "tutorial": lambda: tutorial_loop(*common),
        "plain": lambda: plain_loop(*common),
        "pythae": lambda: pythae_loop(*common),
        # its defaults but for the batch size and epochs the loops share
        "aekit": lambda: aekit_loop(
            images, test, *small, data_path, {"batch_size": args.batch_size, "epochs": args.epochs}
        ),
    }
    order = [name for name in runners if name in loops]
    rounds: list[dict[str, dict]] = []
    for r in range(args.rounds):  # odd rounds in reverse order: each loop sees the same moments
        rounds.append({name: runners[name]() for name in (order if r % 2 == 0 else order[::-1])})
    results = {name: rounds[0][name] for name in order}  # errors and time to quality: round 1
    if args.rounds > 1:
        print_rounds(rounds, order)
        for name in order:  # the table's rate: the median over the rounds
            rs = [rate(rd[name]) for rd in rounds if rate(rd[name]) is not None]
            if rs:
                results[name] = dict(results[name], median_rate=statistics.median(rs))

    again = matmul_gflops()
    peak = max(peak, again)
    print(
        f"float32 matmul again after the small-model loops: {again:.1f} GFLOP/s; using {peak:.1f}\n"
    )
    base = rate(results["tutorial"]) if "tutorial" in results else None
    print(f"## 784-128-64-12-3, batch {args.batch_size}\n")
    print("| loop | img/s | x tutorial | GFLOP/s | % of matmul | test SSE/image |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, res in results.items():
        r = rate(res)
        if r is None:
            print(f"| {name} | {res.get('skipped', 'n/a')} | | | | |")
            continue
        gf = 6 * w_small * r / 1e9
        sse = res.get("test_sse")
        print(
            f"| {name} | {r:,.0f} | {r / base if base else float('nan'):.2f} | {gf:.1f} | "
            f"{100 * gf / peak:.1f} | {'' if sse is None else f'{sse:.2f}'} |"
        )

    if "tutorial" in results and "aekit" in results and test is not None:
        target = results["tutorial"]["test_sse"]
        tut_wall = results["tutorial"]["wall_s"]
        ttq = aekit_loop(images, test, *small, data_path)  # every default, 20 epochs
        print(
            f"\ntime to quality: tutorial reaches {target:.2f} SSE/test image in {tut_wall:.1f} s "
            f"({args.epochs} epochs); aekit with every default: {fmt_ttq(ttq, target)}; "
            f"budget 1/5 = {tut_wall / 5:.1f} s"
        )
        results["aekit_defaults"] = ttq

    if "deep" in loops:
        deep = (DEEP, DEEP_LATENT)
        w_deep = weights(*deep)
        print("\n## 784-1000-500-250-30 (aekit trainer)\n")
        print("| batch | img/s | GFLOP/s | % of matmul |")
        print("| ---: | ---: | ---: | ---: |")
        deep_ep = max(2, args.epochs - 1)
        for bs in sorted({args.batch_size, args.deep_batch_size}):
            res = aekit_loop(images, None, *deep, data_path, {"batch_size": bs, "epochs": deep_ep})
            r = rate(res)
            gf = 6 * w_deep * r / 1e9
            results[f"deep_bs{bs}"] = res
            print(f"| {bs} | {r:,.0f} | {gf:.1f} | {100 * gf / peak:.1f} |")
    print(
        f"\npeak resident memory of this process: {peak_rss_mb():.0f} MB "
        f"(training set as uint8: {images.nbytes / 2**20:.0f} MB; as float32: "
        f"{4 * images.nbytes / 2**20:.0f} MB)"
    )
    if args.json:
        out = {k: {kk: vv for kk, vv in v.items() if kk != "run"} for k, v in results.items()}
        out["matmul_gflops"] = peak
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


def fmt_ttq(res: dict, target: float) -> str:
    """When (training seconds, test-error evaluation left out) and in which epoch ``res``'s test
    error first reached ``target``."""
    for e, (sse, t) in enumerate(zip(res.get("sse_by_epoch", []), res.get("elapsed", [])), 1):
        if sse <= target:
            return f"{sse:.2f} after epoch {e}, at {t:.1f} s"
    last = res.get("sse_by_epoch") or [float("nan")]
    return f"not reached in {len(last)} epochs (ends at {last[-1]:.2f})"


if __name__ == "__main__":
    sys.exit(main())
