"""Fault injection: runs SIGKILLed at seeded random moments (between any two steps or file
operations: inside checkpoint writes, between a write and its rename, in the end-of-run phase),
then resumed or finished as a user would, end bit-identical to a run never stopped."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from _fault_child import COUNT, config, counting

import aekit
from aekit.errors import AekitError

CHILD = str(Path(__file__).with_name("_fault_child.py"))
SRC = str(Path(aekit.__file__).resolve().parents[1])


def child(out: Path, name: str, kill_at: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
    args = [sys.executable, CHILD, str(out), name, str(kill_at)]
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)


def complete(out: Path, name: str) -> None:
    """What a user does after a kill: resume; nothing to resume: start again; complete: done."""
    run = out / name
    if not (run / "checkpoint" / "state.json").is_file():
        shutil.rmtree(run, ignore_errors=True)
        aekit.train(config(str(out), name))
        return
    try:
        aekit.train(resume=run)
    except AekitError as e:
        assert "already trained" in str(e), e


def fingerprint(run: Path) -> dict:
    info = json.loads((run / "config.json").read_text())
    result = {k: v for k, v in info["result"].items() if k != "train_seconds"}
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return {
        "weights": (run / "model.safetensors").read_bytes(),
        "metrics": [{k: v for k, v in r.items() if k != "time_s"} for r in lines],
        "result": result,
        "finished": bool(info["finished"]),
        "files": sorted(p.name for p in run.iterdir() if p.name != "summary.txt"),
        "tmp": sorted(str(p) for p in run.rglob("*.tmp")),
    }


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The run never stopped, and how many steps and file operations it makes; trained in this
    process (the killed runs are children, then resumed here as well)."""
    out = tmp_path_factory.mktemp("faults")
    with counting(0) as steps:
        aekit.train(config(str(out), "straight"), [steps])
    return out, COUNT[0], fingerprint(out / "straight")


def kills(n: int, events: int, seed: int) -> list[int]:
    return sorted(random.Random(seed).sample(range(1, events + 1), n))


def check_kill(reference, k: int) -> None:
    out, _, want = reference
    name = f"killed_at_{k}"
    r = child(out, name, k)
    assert r.returncode == -signal.SIGKILL, (k, r.returncode, r.stderr[-2000:])
    complete(out, name)
    got = fingerprint(out / name)
    assert got == want, k


def test_runs_killed_at_random_moments_resume_bit_identical(reference):
    _, events, _ = reference
    assert events > 25  # steps, checkpoint writes, renames, the report's writes
    for k in kills(1, events, seed=0):
        check_kill(reference, k)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_many_runs_killed_at_random_moments_resume_bit_identical(reference, seed):
    _, events, _ = reference
    for k in kills(3, events, seed):
        check_kill(reference, k)
