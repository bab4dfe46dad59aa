"""How many CPU threads a run uses: the cores other processes leave free, re-checked as it runs.

PyTorch starts one OpenMP thread per core. When another process holds one of those cores, the
threads of each parallel op wait for the one that is not running, spinning, and a small model
trains many times slower than with one thread (benchmarks/RESULTS.md, "Speed beside a
neighbour": the default run took 22x its quiet time on 2 cores beside one busy process, 3x with
one thread). ``train.threads = "auto"`` measures the CPU time other processes used on this
process's cores (Linux ``/proc/stat``) and gives PyTorch the cores left free, at least one; it
checks again about once a second while training, so a neighbour that starts or stops later is
followed. A number fixes the count; so does ``OMP_NUM_THREADS`` in the environment (the user's
explicit choice wins over "auto").

Thread counts change the order of some float reductions: sums over the batch that ATen splits
over the threads. The autograd-free MLP step and the validation loss take theirs on one thread
(:func:`one_thread`), so the MLPs train and validate bit for bit the same at any count; for
other models (convolutions, VAEs) that must repeat bit for bit whatever else the machine does,
set ``train.threads`` to a number.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from aekit.errors import ConfigError

log = logging.getLogger(__name__)

#: seconds between two looks at the other processes' CPU use while training
RECHECK_S = 1.0
#: a core counts as free when the others use at most this much of it (their use flickers)
SLACK = 0.25
#: the shortest look at the others' use before the first choice (10 ms CPU-time ticks)
FIRST_LOOK_S = 0.1


def parse_threads(value: int | str) -> int | None:
    """``train.threads`` as a count, or None for "auto"."""
    if value == "auto":
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    if isinstance(value, str) and value.isdigit() and int(value) >= 1:
        return int(value)
    raise ConfigError(f"train.threads must be 'auto' or a whole number >= 1; got {value!r}")


def usable_cores() -> list[int]:
    """The CPUs this process may run on."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return list(range(os.cpu_count() or 1))


class CpuMeter:
    """Cores busy with other processes, measured between two calls (None where unknown)."""

    def __init__(self, cores: list[int]):
        self.cores = {f"cpu{c}" for c in cores}
        self.hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.mark = self._read()

    def _read(self) -> tuple[float, float, float] | None:
        """(wall s, CPU s busy on our cores by anyone, CPU s used by this process)."""
        try:
            with open("/proc/stat") as f:
                lines = [ln.split() for ln in f if ln.startswith("cpu")]
        except OSError:
            return None
        busy = 0
        for parts in lines:
            if parts[0] in self.cores:
                # user nice system idle iowait irq softirq steal ...
                v = [int(x) for x in parts[1:9]]
                busy += v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
        own = os.times()
        return time.monotonic(), busy / self.hz, own.user + own.system

    def others(self) -> tuple[float, float] | None:
        """(cores used by others, seconds measured) since the last call."""
        now = self._read()
        if now is None or self.mark is None:
            return None
        (t0, b0, o0), (t1, b1, o1) = self.mark, now
        self.mark = now
        if t1 - t0 <= 0:
            return None
        return max(0.0, ((b1 - b0) - (o1 - o0)) / (t1 - t0)), t1 - t0


class ThreadPolicy:
    """A trainer callback that sets ``torch.set_num_threads`` (logging each change) and puts the
    caller's count back at the end."""

    def __init__(self, setting: int | str = "auto"):
        self.fixed = parse_threads(setting)
        if self.fixed is None and os.environ.get("OMP_NUM_THREADS", "").isdigit():
            self.fixed = max(1, int(os.environ["OMP_NUM_THREADS"]))
        self.cores = usable_cores()
        self.meter = CpuMeter(self.cores) if self.fixed is None else None
        self.saved = torch.get_num_threads()
        self.last_check = time.monotonic()

    def choose(self) -> int:
        """The count to use now: the fixed one, or the cores the others leave free."""
        if self.fixed is not None:
            return self.fixed
        waited = time.monotonic() - self.meter.mark[0] if self.meter.mark else FIRST_LOOK_S
        if waited < FIRST_LOOK_S:
            time.sleep(FIRST_LOOK_S - waited)
        seen = self.meter.others()
        if seen is None:
            return torch.get_num_threads()
        free = len(self.cores) - seen[0]
        return max(1, min(len(self.cores), int(free + SLACK)))

    def apply(self, quiet: bool = False) -> None:
        """Set the count; a change while training is logged (INFO), the first one not."""
        n = self.choose()
        self.last_check = time.monotonic()
        if n != torch.get_num_threads():
            why = "train.threads" if self.fixed is not None else "cores other processes leave free"
            level = logging.DEBUG if quiet else logging.INFO
            log.log(level, "using %d CPU thread%s (%s)", n, "s" * (n > 1), why)
            torch.set_num_threads(n)

    def on_train_start(self, state) -> None:
        self.apply(quiet=True)

    def on_step(self, state) -> None:
        if self.meter is not None and time.monotonic() - self.last_check >= RECHECK_S:
            self.apply()

    on_epoch_end = on_step

    def on_train_end(self, state) -> None:
        torch.set_num_threads(self.saved)


@contextmanager
def one_thread() -> Iterator[None]:
    """Run the block on one thread. ATen splits a sum over the batch (BatchNorm's statistics,
    a loss) over the threads and adds the parts, so its rounding, and through BatchNorm the
    whole run, would depend on the thread count, which ``train.threads = "auto"`` changes with
    the machine's load; on one thread it is the same at every count, and the MLP step within 2%
    of its speed (benchmarks/RESULTS.md, "The autograd-free step at any thread count")."""
    n = torch.get_num_threads()
    if n == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)
