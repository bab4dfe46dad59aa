"""The benchmark scripts under benchmarks/ still run (slow: they train on 60,000 images)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from aekit.training.step import native_bf16

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.slow
def test_speed_benchmark_reports_every_loop_the_conv_loops_and_the_deep_mlp(tmp_path):
    out = tmp_path / "speed.json"
    args = ["--synthetic", "--limit", "3000", "--epochs", "2", "--deep-batch-size", "512"]
    args += ["--loops", "tutorial,plain,aekit,conv,deep", "--json", str(out)]
    proc = subprocess.run(
        [sys.executable, str(BENCH / "speed.py"), *args], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "| aekit |" in proc.stdout and "784-1000-500-250-30" in proc.stdout
    assert "| x plain |" in proc.stdout and "| aekit_conv |" in proc.stdout
    res = json.loads(out.read_text())
    assert res["matmul_gflops"] > 0
    loops = ["tutorial", "plain", "aekit", "plain_conv", "aekit_conv", "deep_bs128", "deep_bs512"]
    if native_bf16():  # aekit's conv default is bf16 here: both precisions, both loops
        loops += ["aekit_conv_fp32", "plain_conv_bf16"]
        assert res["aekit_conv"]["precision"] == res["plain_conv_bf16"]["precision"] == "bf16"
    assert res["aekit_conv_fp32" if native_bf16() else "aekit_conv"]["precision"] == "fp32"
    for loop in loops:
        assert len(res[loop]["epoch_s"]) >= 2 and all(t > 0 for t in res[loop]["epoch_s"])


@pytest.mark.slow
def test_conv_step_benchmark_times_plain_aekit_and_the_ablations():
    args = ["--rounds", "2", "--steps", "2", "--without", "relu,bn", "--bf16"]
    proc = subprocess.run(
        [sys.executable, str(BENCH / "conv_step.py"), *args], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| ")][2:]
    names = [r.split("|")[1].strip() for r in rows]
    assert names == [
        "plain",
        "aekit",
        "plain bf16",
        "aekit bf16",
        "aekit without relu",
        "aekit without bn",
        "aekit without relu and bn",
    ]
    assert all(float(r.split("|")[2]) > 0 for r in rows)
