"""report.html in a real (headless) browser, for an MLP, a conv, a VAE, a denoiser, a table and
a run scored with `aekit score --report` (its Anomaly scores section):
no console errors, every figure decodes (naturalWidth > 0), each has a title and a reading, and
the page uses the width (figures side by side). Slow, and skipped without Playwright
(`pip install playwright`) and a system chromium (`apt-get install chromium`)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from _tiny_runs import tiny_run

import aekit
from aekit.cli.main import main

pytestmark = pytest.mark.slow


def _train(out, name: str, data: dict, model: dict):
    cfg = {
        "data": data,
        "model": model,
        "train": {"epochs": 2, "batch_size": 64, "recon_every": 1, "lr": 3e-3},
        "run": {"out_dir": str(out), "name": name},
    }
    return aekit.train(cfg).run_dir


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(200, 2)) @ rng.normal(size=(2, 6)) + 0.1 * rng.normal(size=(200, 6))
    csv = out / "table.csv"
    header = ",".join(f"c{i}" for i in range(6))
    np.savetxt(csv, rows, delimiter=",", header=header, comments="")
    vae = {"name": "vae", "hidden": [32], "latent_dim": 2}
    scored = shutil.copytree(tiny_run("mlp"), out / "scored")
    assert (
        main(["score", str(scored), "--normal", "0", "--report", "--out", str(out / "s.csv")]) == 0
    )
    return {
        "scored": scored,
        "mlp": tiny_run("mlp"),
        "conv": tiny_run("conv"),
        "denoise": tiny_run("denoise"),
        "vae": _train(out, "vae", {"name": "digits"}, vae),
        "table": _train(out, "table", {"name": str(csv)}, {"name": "mlp", "latent_dim": 2}),
    }


@pytest.mark.parametrize("name", ["mlp", "conv", "vae", "denoise", "table", "scored"])
def test_report_loads_with_every_figure_and_no_console_error(browser, reports, name):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("requestfailed", lambda r: errors.append(f"failed: {r.url}"))
    page.goto((reports[name] / "report.html").as_uri())
    page.wait_for_load_state("load")
    widths = page.evaluate("[...document.images].map(i => i.complete ? i.naturalWidth : 0)")
    captions = page.evaluate(
        "[...document.querySelectorAll('figure')].map(f => f.querySelector('figcaption b')"
        "?.textContent || '')"
    )
    tops = page.evaluate("[...document.querySelectorAll('figure')].map(f => f.offsetTop)")
    ids = page.evaluate("[...document.querySelectorAll('figure')].map(f => f.id)")
    page.close()
    if name == "scored":  # the histogram, the ROC and both grids, drawn in the page
        assert {f"fig-scores_{k}" for k in ("hist", "roc", "normal", "anomalous")} <= set(ids)
    assert errors == []
    assert len(widths) >= 4 and all(w > 0 for w in widths), widths
    assert len(captions) == len(widths) and all(captions), captions
    assert len(set(tops)) < len(tops)  # at 1,400 px, some figures share a row


def test_detector_report_loads_with_every_figure_side_by_side(browser, tmp_path):
    from sklearn.datasets import load_digits

    from aekit.sklearn import AutoencoderAnomalyDetector

    d = load_digits()
    x, y = d.images[:300] / 16, (d.target[:300] == 1).astype(int)
    det = AutoencoderAnomalyDetector(epochs=2, hidden=[32], latent_dim=4).fit(x)
    path = det.report(x, y, tmp_path / "det.html")
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    widths = page.evaluate("[...document.images].map(i => i.complete ? i.naturalWidth : 0)")
    tops = page.evaluate("[...document.querySelectorAll('figure')].map(f => f.offsetTop)")
    page.close()
    assert errors == [] and len(widths) == 4 and all(w > 0 for w in widths), widths
    assert tops[0] == tops[1]  # the histogram and the ROC curve share a row at 1,400 px
