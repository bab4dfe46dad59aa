"""Training on data larger than memory: a memory-mapped uint8 .npy under a memory limit.

Two measurements in one run, each training in a fresh process (aekit's default MLP, batch 128,
1% validation, no end-of-run report):

1. **fits**: a .npy small enough to read into memory (page cache warm), trained read into memory
   and memory-mapped, interleaved (in-memory, mapped, in-memory, mapped, ...); the median
   images/s of the epochs after the first, per path.
2. **larger than memory**: a .npy ``--factor`` (4) times the memory limit, trained mapped inside
   a memory limit of ``--limit-mib``; each epoch's peak resident memory (VmHWM, reset at every
   epoch start through /proc/self/clear_refs), its anonymous and file-backed parts at the
   epoch's end, and images/s. A control run reads the same file into memory under the same
   limit (it is expected to be killed). The file's pages are dropped from the page cache
   before, so that the limited process is charged for every page it reads.

The memory limit is the first that works of: ``systemd-run --scope -p MemoryMax=``, a cgroup v2
folder, a cgroup v1 memory folder (both created under /sys/fs/cgroup and removed after), and
``prlimit --as`` (address space: it also counts the map, so it cannot show this). The samples
are MNIST's training images tiled (or random bytes without ``--mnist``).

    python benchmarks/bigdata.py                          # 1 GiB limit, 4 GiB file, 3 epochs
    python benchmarks/bigdata.py --limit-mib 256 --epochs 2 --fit-n 60000 --rounds 1
    python benchmarks/bigdata.py --skip fits --nproc 2 --epochs 2 --no-control

With ``--nproc N`` the large run is ``torchrun --nproc_per_node N``, each rank in its own cgroup
of ``--limit-mib`` (the file is ``--factor`` times one process's allowance) and each writing
its own per-epoch figures.
The training child stops right after its last epoch (``os._exit``): the end-of-run metrics pass
over the map a chunk at a time too, but their float64 PCA over millions of rows takes minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROW = (1, 28, 28)  # one sample: 784 bytes


# -- the training child ------------------------------------------------------------------------
def status() -> dict[str, int]:
    """This process's memory figures from /proc/self/status, in MiB."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, val = line.partition(":")
        if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
            out[key] = int(val.split()[0]) // 1024
    return out


def reset_peak() -> None:
    """Make VmHWM start again from the current RSS (Linux >= 4.0)."""
    Path("/proc/self/clear_refs").write_text("5")


class Recorder:
    def __init__(self, out: Path, epochs: int):
        self.out, self.epochs, self.rows = out, epochs, []

    def on_train_start(self, state) -> None:
        self.n = len(state.train_data)
        self.mapped = type(state.train_data.x).__name__ == "MappedArray"
        reset_peak()
        self.t = time.perf_counter()

    def on_epoch_end(self, state) -> None:
        now = time.perf_counter()
        mem = status()
        self.rows.append({"epoch": state.epoch, "s": now - self.t, **mem})
        self.rows[-1]["img_s"] = self.n / self.rows[-1]["s"]
        if state.epoch == self.epochs:
            rank = os.environ.get("RANK")
            out = self.out if rank is None else self.out.with_suffix(f".rank{rank}.json")
            out.write_text(json.dumps({"n": self.n, "mapped": self.mapped, "epochs": self.rows}))
            os._exit(0)  # skip the end-of-run metrics (see the module docstring)
        reset_peak()
        self.t = time.perf_counter()


def child(npy: str, mmap: str, epochs: int, out: str) -> None:
    import aekit
    from aekit.data import mapped

    mapped.MMAP_MIN_BYTES = 0 if mmap == "always" else 2**62
    with tempfile.TemporaryDirectory() as runs:
        aekit.train(
            data={"name": npy, "val_fraction": 0.01},
            train={"epochs": epochs, "recon_every": 0},
            run={"out_dir": runs},
            callbacks=[Recorder(Path(out), epochs)],
            report=False,
        )


# -- the parent --------------------------------------------------------------------------------
def generate(path: Path, n: int, mnist: bool, drop_cache: bool) -> None:
    """(n, 1, 28, 28) uint8 written a chunk at a time: MNIST's images tiled, or random bytes."""
    import numpy as np

    src = None
    if mnist:
        from aekit.data import read_idx

        src = read_idx("/work/shared/datasets/mnist/train-images-idx3-ubyte.gz")[:, None]
    rng = np.random.default_rng(0)
    x = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(n, *ROW))
    chunk = 60000
    for i in range(0, n, chunk):
        k = min(chunk, n - i)
        x[i : i + k] = src[:k] if src is not None else rng.integers(0, 256, (k, *ROW), np.uint8)
    x.flush()
    del x
    with open(path, "rb") as f:
        os.fsync(f.fileno())
        if drop_cache:  # the limited child must read (and be charged for) every page itself
            os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        else:
            while f.read(1 << 24):  # page cache warm
                pass


def limiter(limit: int):
    """(argv prefix, cleanup, method, peak-reader) for running a command within ``limit`` bytes."""
    if shutil.which("systemd-run"):
        probe = ["systemd-run", "--scope", "--quiet", "-p", f"MemoryMax={limit}", "true"]
        if subprocess.run(probe, capture_output=True).returncode == 0:
            pre = ["systemd-run", "--scope", "--quiet", "-p", f"MemoryMax={limit}"]
            return pre, lambda: None, "systemd-run --scope -p MemoryMax", lambda: None
    cg = Path("/sys/fs/cgroup")
    tries = []
    v2 = cg / "cgroup.controllers"
    if v2.exists() and "memory" in v2.read_text().split():
        tries.append((cg / "aekit-bigdata", "memory.max", "memory.peak", "cgroup v2"))
    v1 = (cg / "memory" / "aekit-bigdata", "memory.limit_in_bytes", "memory.max_usage_in_bytes")
    tries.append((*v1, "cgroup v1 memory"))
    for folder, knob, peak, name in tries:
        try:
            folder.mkdir(exist_ok=True)
            (folder / knob).write_text(str(limit))
        except OSError:
            continue
        pre = ["sh", "-c", f'echo $$ > {folder / "cgroup.procs"} && exec "$@"', "sh"]
        peak_file = folder / peak
        return (
            pre,
            folder.rmdir,
            f"{name} ({folder}/{knob})",
            lambda f=peak_file: int(f.read_text()) // 2**20,
        )
    pre = ["prlimit", f"--as={limit}"]
    return pre, lambda: None, "prlimit --as (counts the map: expect failure)", lambda: None


def rank_limiter(limit: int, nproc: int):
    """(argv prefix, cleanup, method, peak-reader): ``torchrun`` whose every rank first moves
    itself (writing 0 to cgroup.procs: torchrun turns "$$" into "$") into a cgroup of its own
    (cgroup v2 or v1 memory folder ``aekit-bigdata-<rank>``) limited to ``limit``; the
    peak-reader gives each rank's cgroup peak (only rank 0 runs the callbacks)."""
    cg = Path("/sys/fs/cgroup")
    v2 = cg / "cgroup.controllers"
    if v2.exists() and "memory" in v2.read_text().split():
        base, knob, peak = cg, "memory.max", "memory.peak"
    else:
        base, knob, peak = cg / "memory", "memory.limit_in_bytes", "memory.max_usage_in_bytes"
    d = f"{base}/aekit-bigdata-$LOCAL_RANK"
    script = f'mkdir -p {d} && echo {limit} > {d}/{knob} && echo 0 > {d}/cgroup.procs && exec "$@"'
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    pre = [*torchrun, f"--nproc_per_node={nproc}", "--no-python", "sh", "-c", script, "sh"]
    folders = [base / f"aekit-bigdata-{r}" for r in range(nproc)]

    def cleanup():
        for f in folders:
            if f.is_dir():
                f.rmdir()

    def peaks():
        return [int((f / peak).read_text()) // 2**20 for f in folders if (f / peak).exists()]

    method = f"torchrun x{nproc}, each rank in its own cgroup ({base}/aekit-bigdata-R/{knob})"
    return pre, cleanup, method, peaks


def run_child(npy: Path, mmap: str, epochs: int, prefix=(), nproc: int = 1) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = Path(f.name)
    cmd = [*prefix, sys.executable, __file__, "--child", str(npy), mmap, str(epochs), str(out)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if nproc > 1:
        ranks = [out.with_suffix(f".rank{r}.json") for r in range(nproc)]
        res = {"ranks": [json.loads(p.read_text()) for p in ranks if p.exists()]}
        for p in ranks:
            p.unlink(missing_ok=True)
        res["epochs"] = res["ranks"][0]["epochs"] if res["ranks"] else []
    else:
        res = json.loads(out.read_text()) if out.stat().st_size else {}
    out.unlink()
    res.update(rc=proc.returncode, stderr_tail=proc.stderr[-3000:] if proc.returncode else "")
    return res


def load() -> str:
    return Path("/proc/loadavg").read_text().split()[:3].__str__()


def fits(args, tmp: Path) -> dict:
    npy = tmp / "fits.npy"
    generate(npy, args.fit_n, args.mnist, drop_cache=False)
    ips = {"in-memory": [], "mapped": []}
    for r in range(args.rounds):
        for name, mmap in (("in-memory", "never"), ("mapped", "always")):
            res = run_child(npy, mmap, args.epochs)
            assert res["rc"] == 0 and res["mapped"] == (mmap == "always"), res
            ips[name] += [e["img_s"] for e in res["epochs"][1:]]
            print(
                f"fits round {r + 1} {name}: {[round(e['img_s']) for e in res['epochs']]} img/s"
                f"  peak RSS {[e['VmHWM'] for e in res['epochs']]} MiB  load {load()}",
                flush=True,
            )
    npy.unlink()
    med = {k: statistics.median(v) for k, v in ips.items()}
    return {
        "n": args.fit_n,
        "median_img_s": med,
        "mapped_over_in_memory": med["mapped"] / med["in-memory"],
    }


def larger(args, tmp: Path) -> dict:
    limit = args.limit_mib * 2**20
    n = int(args.factor * limit) // (ROW[0] * ROW[1] * ROW[2])
    npy = tmp / "big.npy"
    generate(npy, n, args.mnist, drop_cache=True)
    prefix, cleanup, method, peak = (
        limiter(limit) if args.nproc == 1 else rank_limiter(limit, args.nproc)
    )
    print(
        f"limit {args.limit_mib} MiB by {method}; file {npy.stat().st_size / 2**30:.2f} GiB",
        flush=True,
    )
    try:
        res = run_child(npy, "always", args.epochs, prefix, args.nproc)
        cg_peak = peak()
        control = run_child(npy, "never", 1, prefix) if args.control else {}
    finally:
        cleanup()
        npy.unlink()
    for r, rank in enumerate(res.get("ranks", [res])):
        for e in rank.get("epochs", []):
            print(
                f"  rank {r} epoch {e['epoch']}: {e['img_s']:,.0f} img/s (the job's), peak RSS "
                f"{e['VmHWM']} MiB (end: anon {e['RssAnon']}, file {e['RssFile']})",
                flush=True,
            )
    print(res.get("stderr_tail", ""))
    print(f"  rc {res['rc']}; cgroup peak {cg_peak} MiB; in-memory control rc {control.get('rc')}")
    return {
        "limit_mib": args.limit_mib,
        "method": method,
        "n": n,
        "file_gib": n * 784 / 2**30,
        "run": res,
        "cgroup_peak_mib": cg_peak,
        "in_memory_control_rc": control.get("rc"),
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        npy, mmap, epochs, out = sys.argv[2:6]
        return child(npy, mmap, int(epochs), out)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--limit-mib", type=int, default=1024, help="memory limit of the large run")
    ap.add_argument("--factor", type=float, default=4, help="file size / memory limit")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--fit-n", type=int, default=300_000, help="samples in the 'fits' file")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved in-memory/mapped pairs")
    ap.add_argument("--skip", choices=["fits", "larger"], help="leave one measurement out")
    ap.add_argument("--no-control", dest="control", action="store_false")
    ap.add_argument("--random", dest="mnist", action="store_false", help="random bytes, no MNIST")
    ap.add_argument("--tmp", default=None, help="folder for the generated files (default /tmp)")
    ap.add_argument("--nproc", type=int, default=1, help="the large run under torchrun, N ranks")
    ap.add_argument("--json", help="write the figures here too")
    args = ap.parse_args()
    import torch

    print(f"torch {torch.__version__}; {os.cpu_count()} CPUs; load {load()}", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="aekit-bigdata-", dir=args.tmp))
    out = {"torch": torch.__version__, "load_start": load()}
    try:
        if args.skip != "fits":
            out["fits"] = fits(args, tmp)
            print(json.dumps(out["fits"]), flush=True)
        if args.skip != "larger":
            out["larger"] = larger(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out["load_end"] = load()
    print(f"load at the end {out['load_end']}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
