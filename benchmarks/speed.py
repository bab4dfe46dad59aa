"""Training throughput: aekit against the loops people write by hand, and the hardware limit.

On the same data (full MNIST, or a random uint8 tensor of the same shape with --synthetic), the
same model and the same batch size, it times

- tutorial: a Dataset whose __getitem__ turns one uint8 image into a PIL image, then into a
  normalised float tensor (what torchvision's ToTensor() + Normalize() do per sample), a
  DataLoader(batch_size, shuffle=True), zero_grad / backward / step and loss.item() every step;
- plain: the whole dataset as one float tensor, shuffled index slices, loss.item() every step;
- pythae: pythae's TrainingPipeline on the same layers (when pythae is installed);
- aekit: aekit.train with its defaults for that model but BatchNorm (off: the same layers as
  the others; per-epoch validation and weight saving included in its time);
- conv: aekit's default conv model (``conv``: Conv2d+BatchNorm encoder, ConvTranspose2d
  decoder) in the plain loop (its own modules as one nn.Sequential, NCHW, Adam at aekit's
  default lr) and in aekit.train with its default precision (bf16 autocast on a CPU with
  native bfloat16, float32 elsewhere); on such a CPU also aekit in float32 and the plain loop
  under bf16 autocast, so that each precision has its like-for-like pair;

and reports images/second (median over the epochs after a warm-up epoch) with its ratio to the
plain loop (the headline: what a competent PyTorch user writes) and to the tutorial loop, the
achieved GFLOP/s (6 x weights FLOPs per training image: forward, and the two backward matmuls)
as a fraction of the machine's float32 matmul rate (the median of a large square matmul), the
time to quality (issue 14: with every default, aekit reaches the tutorial loop's 10-epoch test
error in at most 1/10 of the tutorial's wall time and 1/3 of the plain loop's), and the peak
resident memory.

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
from aekit.training.step import native_bf16

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
    """The same layers every loop trains: aekit's mlp (ReLU, Tanh output for [-1, 1] pixels),
    without the BatchNorm aekit's default puts in (the tutorial's network has none)."""
    torch.manual_seed(seed)
    return aekit.create_model(
        "mlp", (1, 28, 28), pixel_range="-11", hidden=hidden, latent_dim=latent, batchnorm=False
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


def plain_epochs(
    net: nn.Module, images: np.ndarray, bs: int, epochs: int, lr: float, bf16: bool = False
) -> list:
    """The plain loop: the whole set as one float tensor, shuffled index slices, Adam, MSE,
    loss.item() every step (``bf16``: the forward and loss under bf16 autocast, as PyTorch's
    AMP recipe writes it); returns each epoch's seconds."""
    x_all = torch.from_numpy(images).float().div(255).mul(2).sub(1).unsqueeze(1)  # (N,1,28,28)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    times = []
    for _ in range(epochs):
        t = time.perf_counter()
        perm = torch.randperm(len(x_all))
        for i in range(0, len(x_all), bs):
            x = x_all[perm[i : i + bs]]
            opt.zero_grad()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = F.mse_loss(net(x), x)
            loss.backward()
            opt.step()
            loss.item()
        times.append(time.perf_counter() - t)
    return times


def plain_loop(images, test, hidden, latent, bs, epochs, lr) -> dict:
    net = plain_net(make_model(hidden, latent))
    start = time.perf_counter()
    times = plain_epochs(net, images, bs, epochs, lr)
    wall = time.perf_counter() - start
    return {"epoch_s": times, "n": len(images), "wall_s": wall, "test_sse": test_sse(net, test)}


def conv_model(seed: int = 0) -> nn.Module:
    """aekit's default conv model for [-1, 1] pixels (the layers both conv loops train)."""
    torch.manual_seed(seed)
    return aekit.create_model("conv", (1, 28, 28), pixel_range="-11")


def plain_conv_loop(images, test, bs, epochs, bf16: bool = False) -> dict:
    """The plain loop on aekit's default conv model: its own modules as one nn.Sequential (NCHW,
    PyTorch's default layout), Adam at aekit's default lr, MSE, loss.item() every step."""
    net = plain_net(conv_model())
    start = time.perf_counter()
    times = plain_epochs(net, images, bs, epochs, aekit.TrainConfig().lr, bf16)
    wall = time.perf_counter() - start
    res = {"epoch_s": times, "n": len(images), "wall_s": wall, "test_sse": test_sse(net, test)}
    return {**res, "precision": "bf16" if bf16 else "fp32"}


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
        self.called = time.perf_counter()  # aekit.train called: setup_s = start - this

    def on_train_start(self, state):
        self.n = len(state.train_data)
        self.marks.append(time.perf_counter())
        self.setup_s = self.marks[0] - self.called

    def on_epoch_end(self, state):
        self.marks.append(time.perf_counter() - self.excluded)
        if self.test is not None:
            t = time.perf_counter()
            self.sse.append(test_sse(plain_net(state.model), self.test))
            self.excluded += time.perf_counter() - t


#: --threads N: aekit's trainer too (its own default, train.threads = "auto", picks the free cores)
THREADS: dict = {}


def aekit_loop(
    model: dict, data_path: str, test=None, train: dict | None = None, data: dict | None = None
) -> dict:
    """aekit.train on ``model`` (a [model] table) with its defaults (Adam, lr 3e-3, cosine decay,
    batch 128, 20 epochs) but for the keys in ``train`` and ``data`` (pixels in [-1, 1])."""
    clock = EpochClock(test)
    with tempfile.TemporaryDirectory() as out:
        cfg = {
            "data": {"name": data_path, "pixel_range": "-11", **(data or {})},
            "model": model,
            "train": {**THREADS, **(train or {})},
            "run": {"out_dir": out},
        }
        run = aekit.train(cfg, callbacks=[clock], report=False)
    m = clock.marks
    times = [b - a for a, b in zip(m[:-1], m[1:])]
    return {
        "epoch_s": times,
        "n": clock.n,  # the training split: the rest is aekit's per-epoch validation
        "test_sse": clock.sse[-1] if clock.sse else None,
        "sse_by_epoch": clock.sse,
        "precision": run.config.train.precision,
        "elapsed": [b - m[0] for b in m[1:]],
        "setup_s": clock.setup_s,
        "config": cfg,
        "run": run,
    }


def mlp_spec(hidden: list[int], latent: int, **kw) -> dict:
    return {"name": "mlp", "hidden": hidden, "latent_dim": latent, **kw}


def throughput_run(
    model: dict, data_path: str, test, bs: int, epochs: int, precision: str | None = "fp32"
) -> dict:
    """aekit at the loops' batch size and epochs; 1% validation (the plain loops train on
    every image) and no figures, its other defaults as they are (``precision`` None: aekit's
    own choice)."""
    train = {"batch_size": bs, "epochs": epochs, "recon_every": 0}
    if precision is not None:
        train["precision"] = precision
    return aekit_loop(model, data_path, test, train, {"val_fraction": 0.01})


def conv_runners(images, test, data_path: str, bs: int, ep: int) -> dict:
    """The conv loops: plain float32 and aekit's default; where aekit's default is bf16 (a CPU
    with native bfloat16), also aekit in float32 and the plain loop under bf16 autocast."""
    conv = {"name": "conv"}
    runners = {
        "plain_conv": lambda: plain_conv_loop(images, test, bs, ep),
        "aekit_conv": lambda: throughput_run(conv, data_path, test, bs, ep, precision=None),
    }
    if native_bf16():
        runners["aekit_conv_fp32"] = lambda: throughput_run(conv, data_path, test, bs, ep)
        runners["plain_conv_bf16"] = lambda: plain_conv_loop(images, test, bs, ep, bf16=True)
    return runners


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


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}" if a and b else ""


def print_rounds(rounds: list[dict[str, dict]], order: list[str], base: str) -> None:
    """img/s of each loop in each round, and each round's ratios to ``base`` (the plain loop):
    loops measured minutes apart on a shared or virtual machine can see different machines."""
    others = [n for n in order if n != base] if base in order else []
    head = order + [f"{n} / {base}" for n in others]
    print("| round | " + " | ".join(head) + " |")
    print("| ---: |" + " ---: |" * len(head))
    for i, rd in enumerate(rounds, 1):
        rs = {n: rate(rd[n]) for n in order}
        cells = [f"{rs[n]:,.0f}" if rs[n] else "n/a" for n in order]
        cells += [ratio(rs[n], rs[base]) for n in others]
        print(f"| {i} | " + " | ".join(cells) + " |")
    for n in others:
        if n.startswith("aekit"):
            rs = [rate(rd[n]) / rate(rd[base]) for rd in rounds]
            print(f"\n{n} / {base}: median {statistics.median(rs):.2f} over {len(rounds)} rounds")
    print()


def run_rounds(runners: dict, rounds: int) -> dict[str, dict]:
    """Run every loop ``rounds`` times, odd rounds in reverse order (each loop sees the same
    moments); errors and time to quality from round 1, rates the median over the rounds."""
    order = list(runners)
    if not order:
        return {}
    done = []
    for r in range(rounds):
        done.append({name: runners[name]() for name in (order if r % 2 == 0 else order[::-1])})
    results = {name: done[0][name] for name in order}
    if rounds > 1:
        base = "plain" if "plain" in order else "plain_conv"
        print_rounds(done, order, base)
        for name in order:
            rs = [rate(rd[name]) for rd in done if rate(rd[name]) is not None]
            if rs:
                results[name] = dict(results[name], median_rate=statistics.median(rs))
    return results


def print_small_table(results: dict, bs: int, w_small: int, peak: float) -> None:
    """The 784-128-64-12-3 table: img/s, x plain (the headline), x tutorial, GFLOP/s."""
    plain = rate(results["plain"]) if "plain" in results else None
    tut = rate(results["tutorial"]) if "tutorial" in results else None
    print(f"## 784-128-64-12-3, batch {bs}\n")
    print("| loop | img/s | x plain | x tutorial | GFLOP/s | % of matmul | test SSE/image |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, res in results.items():
        r = rate(res)
        if r is None:
            print(f"| {name} | {res.get('skipped', 'n/a')} | | | | | |")
            continue
        gf = 6 * w_small * r / 1e9
        sse = res.get("test_sse")
        print(
            f"| {name} | {r:,.0f} | {ratio(r, plain)} | {ratio(r, tut)} | {gf:.1f} | "
            f"{100 * gf / peak:.1f} | {'' if sse is None else f'{sse:.2f}'} |"
        )


def print_conv_table(results: dict, bs: int) -> None:
    base = rate(results.get("plain_conv", {}))
    print(f"\n## conv (aekit's default conv model), batch {bs}\n")
    print("| loop | precision | img/s | x plain conv | test SSE/image |")
    print("| --- | --- | ---: | ---: | ---: |")
    for name, res in results.items():
        r, sse, prec = rate(res), res.get("test_sse"), res.get("precision", "")
        sse_s = "" if sse is None else f"{sse:.2f}"
        print(f"| {name} | {prec} | {r:,.0f} | {ratio(r, base)} | {sse_s} |")


def when_reached(res: dict, target: float) -> tuple[int, float] | None:
    """(epoch, training seconds, test-error evaluation left out) when ``res``'s test error first
    reached ``target``; None if it never did."""
    for e, (sse, t) in enumerate(zip(res.get("sse_by_epoch", []), res.get("elapsed", [])), 1):
        if sse <= target:
            return e, t
    return None


def time_to_quality(small, common, results: dict, data_path: str, test, ref_epochs: int) -> dict:
    """Issue 14: with every default, aekit reaches the tutorial loop's ``ref_epochs``-epoch test
    error in <= 1/10 of the tutorial's wall time and <= 1/3 of the plain loop's (same model, same
    data). The reference loops run ``ref_epochs`` epochs (reused from the table when it ran as
    many); aekit runs with every default but the model and the [-1, 1] pixels."""
    images, _, hidden, latent, bs, epochs, lr = common
    ref = {}
    for name, fn in (("tutorial", tutorial_loop), ("plain", plain_loop)):
        res = results.get(name)
        if res is None or epochs != ref_epochs:
            res = fn(images, test, hidden, latent, bs, ref_epochs, lr)
        ref[name] = {"test_sse": res["test_sse"], "wall_s": res["wall_s"]}
    ttq = aekit_loop(mlp_spec(*small), data_path, test)  # every default
    out = {"ref_epochs": ref_epochs, "reference": ref, "aekit_defaults": ttq}
    tw, pw = ref["tutorial"]["wall_s"], ref["plain"]["wall_s"]
    print(f"\n## Time to quality ({ref_epochs}-epoch references; aekit with every default)\n")
    for name in ("tutorial", "plain"):
        r = ref[name]
        print(
            f"- {name}: {r['test_sse']:.2f} SSE/test image after {ref_epochs} epochs, "
            f"{r['wall_s']:.1f} s"
        )
    print(
        f"- aekit: setup {ttq['setup_s']:.1f} s, then per epoch: "
        + " ".join(f"{v:.2f}" for v in ttq["sse_by_epoch"])
    )
    for name in ("tutorial", "plain"):
        target = ref[name]["test_sse"]
        hit = when_reached(ttq, target)
        key = f"reach_{name}"
        if hit is None:
            out[key] = None
            print(
                f"- aekit does not reach the {name} loop's {target:.2f} in "
                f"{len(ttq['sse_by_epoch'])} epochs"
            )
            continue
        e, t = hit
        out[key] = {"epoch": e, "train_s": t, "of_tutorial_wall": t / tw, "of_plain_wall": t / pw}
        print(
            f"- aekit reaches the {name} loop's {target:.2f} after epoch {e}, at {t:.2f} s of "
            f"training: 1/{tw / t:.1f} of the tutorial's {tw:.1f} s (target 1/10), "
            f"1/{pw / t:.1f} of the plain loop's {pw:.1f} s (target 1/3)"
        )
    return out


def deep_table(images, data_path, bs_list, epochs, peak) -> dict:
    deep = (DEEP, DEEP_LATENT)
    w_deep = weights(*deep)
    print("\n## 784-1000-500-250-30 (aekit trainer)\n")
    print("| batch | img/s | GFLOP/s | % of matmul |")
    print("| ---: | ---: | ---: | ---: |")
    out = {}
    for bs in bs_list:
        res = throughput_run(mlp_spec(*deep, batchnorm=False), data_path, None, bs, epochs)
        r = rate(res)
        gf = 6 * w_deep * r / 1e9
        out[f"deep_bs{bs}"] = res
        print(f"| {bs} | {r:,.0f} | {gf:.1f} | {100 * gf / peak:.1f} |")
    return out


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", default="../shared/datasets/mnist")
    p.add_argument("--synthetic", action="store_true", help="random uint8 images, no files")
    p.add_argument("--epochs", type=int, default=4, help="epochs per loop (first = warm-up)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--deep-batch-size", type=int, default=1024, help="for 784-1000-500-250-30")
    p.add_argument(
        "--lr", type=float, default=1e-3, help="the hand-written MLP loops' and pythae's Adam lr"
    )
    p.add_argument(
        "--threads",
        type=int,
        default=0,
        help="threads for every loop, aekit's train.threads too (0: each loop's default)",
    )
    p.add_argument(
        "--loops",
        default="tutorial,plain,pythae,aekit,conv,ttq,deep",
        help="comma-separated subset; conv: the plain and aekit conv loops (conv_bf16: the "
        "same); ttq: time to quality",
    )
    p.add_argument("--ttq-epochs", type=int, default=10, help="the reference loops' epochs")
    p.add_argument("--limit", type=int, help="use only the first N training images (smoke test)")
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run the small-model and conv loops this many times, alternating their order; "
        "rates are medians over the rounds",
    )
    p.add_argument("--json", help="also write the numbers to this JSON file")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
        THREADS["threads"] = args.threads
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
    print(f"load average at the start: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    print(f"data: {source}, {len(images)} images; batch {args.batch_size}; {args.epochs} epochs")
    print(f"float32 matmul (2048^3, median of 15): {peak:.1f} GFLOP/s at the start\n")

    small = (SMALL, SMALL_LATENT)
    bs, ep = args.batch_size, args.epochs
    common = (images, test, *small, bs, ep, args.lr)
    runners = {
        "plain": lambda: plain_loop(*common),
        "tutorial": lambda: tutorial_loop(*common),
        "pythae": lambda: pythae_loop(*common),
        # its defaults but for the batch size and epochs the loops share
        "aekit": lambda: throughput_run(mlp_spec(*small, batchnorm=False), data_path, test, bs, ep),
    }
    results = run_rounds({k: v for k, v in runners.items() if k in loops}, args.rounds)
    conv = {}
    if "conv" in loops or "conv_bf16" in loops:
        conv = run_rounds(conv_runners(images, test, data_path, bs, ep), args.rounds)
    again = matmul_gflops()
    peak = max(peak, again)
    print(f"float32 matmul again after the loops: {again:.1f} GFLOP/s; using {peak:.1f}\n")
    if results:
        print_small_table(results, bs, weights(*small), peak)
    if conv:
        print_conv_table(conv, bs)
        results.update(conv)
    if "ttq" in loops and test is not None:
        results["time_to_quality"] = time_to_quality(
            small, common, results, data_path, test, args.ttq_epochs
        )
    if "deep" in loops:
        bs_list = sorted({bs, args.deep_batch_size})
        results.update(deep_table(images, data_path, bs_list, max(2, ep - 1), peak))
    print(
        f"\npeak resident memory of this process: {peak_rss_mb():.0f} MB "
        f"(training set as uint8: {images.nbytes / 2**20:.0f} MB; as float32: "
        f"{4 * images.nbytes / 2**20:.0f} MB)"
    )
    if args.json:
        out = {"matmul_gflops": peak, "load_start": Path("/proc/loadavg").read_text().split()[:3]}
        out.update(results)
        Path(args.json).write_text(json.dumps(strip_runs(out), indent=1, default=str))
    return 0


def strip_runs(d):
    """The results without the Run objects (JSON)."""
    if isinstance(d, dict):
        return {k: strip_runs(v) for k, v in d.items() if k != "run"}
    return d


if __name__ == "__main__":
    sys.exit(main())
