"""Shared fixtures: small data, temporary run folders, the real IDX files when present."""

from __future__ import annotations

import contextlib
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


@contextlib.contextmanager
def without_end_plots():
    """Runs trained inside write no end-of-run figures (plots/loss.png and the last recon grid):
    for tests about something else, as matplotlib is most of a tiny run's time (~0.2-0.5 s of
    CPU against ~0.05 s of training). The figures are tested where they are the point:
    test_viz, test_report, the tiny runs (tests/_tiny_runs.py) and test_training's run-folder
    and every-model tests. Epoch figures (``train.recon_every``) are still drawn."""
    from aekit.viz.run_plots import RunPlots

    def skip(self, state) -> None:
        pass

    skip.real = _real_end_plots()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(RunPlots, "on_train_end", skip)
        yield


@contextlib.contextmanager
def with_end_plots():
    """The real end-of-run figures, even inside ``without_end_plots`` (the shared tiny runs)."""
    from aekit.viz.run_plots import RunPlots

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(RunPlots, "on_train_end", _real_end_plots())
        yield


def _real_end_plots():
    from aekit.viz.run_plots import RunPlots

    now = RunPlots.on_train_end
    return getattr(now, "real", now)  # under without_end_plots: the method it replaced


@pytest.fixture
def no_end_plots():
    """``without_end_plots`` for a whole test: ``pytestmark = usefixtures("no_end_plots")``."""
    with without_end_plots():
        yield


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
