"""A tiny digits run that SIGKILLs itself at its K-th write or step (tests/test_faults.py).

    python tests/_fault_child.py OUT_DIR NAME K     # K 0: never; prints the events counted

The events are every optimiser step and every file operation of the run and of its end-of-run
phase (safetensors and torch.save writes, text writes, renames, folder removals), so a kill can
land between any two of them: inside a checkpoint write, between a write and its rename, in the
report.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import signal
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")

import safetensors.torch  # noqa: E402
import torch  # noqa: E402

import aekit  # noqa: E402
from aekit import run as run_files  # noqa: E402
from aekit.training import checkpoint  # noqa: E402

torch.set_num_threads(1)
COUNT = [0]


def config(out: str, name: str) -> dict:
    return {
        "data": {"name": "digits", "limit": 300},
        "train": {"epochs": 2, "batch_size": 64, "recon_every": 0, "log_every": 2},
        "run": {"out_dir": out, "name": name, "after": []},
    }


def tick(kill_at: int) -> None:
    COUNT[0] += 1
    if COUNT[0] == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)


def counted(fn, kill_at: int):
    def wrapper(*a, **k):
        tick(kill_at)
        return fn(*a, **k)

    return wrapper


class Steps:
    def __init__(self, kill_at: int):
        self.kill_at = kill_at

    def on_step(self, state):
        tick(self.kill_at)


@contextlib.contextmanager
def counting(kill_at: int):
    """Count the events (and kill at the ``kill_at``-th; 0: never) while inside; then restore
    every function replaced, so that the test process can count a run of its own."""
    COUNT[0] = 0
    targets = [(run_files, "save_file"), (checkpoint.torch, "save")]  # every safetensors write
    targets += [(os, "replace"), (shutil, "rmtree"), (pathlib.Path, "write_text")]
    saved = [(obj, attr, getattr(obj, attr)) for obj, attr in targets]
    run_files.save_file = counted(safetensors.torch.save_file, kill_at)
    checkpoint.torch.save = counted(torch.save, kill_at)
    os.replace = counted(os.replace, kill_at)
    shutil.rmtree = counted(shutil.rmtree, kill_at)
    pathlib.Path.write_text = counted(pathlib.Path.write_text, kill_at)
    try:
        yield Steps(kill_at)
    finally:
        for obj, attr, real in saved:
            setattr(obj, attr, real)


def main() -> None:
    out, name, kill_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with counting(kill_at) as steps:
        aekit.train(config(out, name), [steps])
    print(COUNT[0])


if __name__ == "__main__":
    main()
