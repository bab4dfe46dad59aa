"""Shared fixtures: small data, temporary run folders, the real IDX files when present."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

# Tiny models gain nothing from a second thread, and OpenMP threads that spin while the other
# core is busy make a contended machine many times slower: one thread for the tests (and for
# the CLI subprocesses they start).
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"


@pytest.fixture
def runs(tmp_path) -> Path:
    return tmp_path / "runs"


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    d = SHARED / "mnist"
    if not (d / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip("full MNIST not present in ../shared/datasets/mnist")
    return d


def quick(runs: Path, **sections) -> dict:
    """A config dict for a tiny, fast run on sklearn digits (8x8)."""
    cfg = {
        "data": {"name": "digits"},
        "train": {"epochs": 2, "batch_size": 64, "recon_every": 0},
        "run": {"out_dir": str(runs)},
    }
    for k, v in sections.items():
        cfg.setdefault(k, {}).update(v)
    return cfg


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium through Playwright (the system chromium); skipped without either."""
    sync_api = pytest.importorskip("playwright.sync_api")
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("no chromium on PATH (apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe)
        yield b
        b.close()
