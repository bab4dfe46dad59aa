"""report.html holds every figure and the metrics, needs no network; README.md is a model card."""

from __future__ import annotations

import json
import re

from _tiny_runs import tiny_run

import aekit
from aekit.cli.main import main
from aekit.report import KINDS


def test_train_writes_report_card_eval_and_after_figures():
    run = tiny_run("mlp")
    for f in ("report.html", "README.md", "eval.json", "prior.json", "config.json"):
        assert (run / f).is_file(), f
    assert (run / "plots" / "decode_0.5_-0.5.png").is_file()  # from run.after


def test_report_embeds_every_figure_and_the_metrics():
    run = tiny_run("conv")
    html = (run / "report.html").read_text()
    captions = set(re.findall(r"<figcaption>([^<]+)</figcaption>", html))
    for kind in KINDS:
        expected = {"animation": "recon.gif", "weights": "weights_encoder.png"}.get(
            kind, f"{kind}.png"
        )
        assert expected in captions, kind
    assert html.count('src="data:image/') == len(captions)
    ev = json.loads((run / "eval.json").read_text())
    assert f"{ev['model']['sse_per_image']:.4g}" in html
    assert f"{ev['pca']['sse_per_image']:.4g}" in html and "PCA (4 comp.)" in html
    assert "Training log" in html and "val_loss" in html
    assert "Model summary" in html and "total parameters" in html
    assert '"latent_dim": 4' in html  # the config


def test_report_is_self_contained():
    html = (tiny_run("conv") / "report.html").read_text()
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", html)
    assert "<script" not in html


def test_model_card_has_metadata_metrics_and_how_to_load():
    run = tiny_run("mlp")
    card = (run / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: aekit\n")
    assert "datasets: [digits]" in card
    assert "| squared error per image |" in card
    assert 'aekit.load("mlp")' in card
    # the folder is what the card says: loadable with config.json + model.safetensors
    model = aekit.load(run)
    assert model.latent_dim == 2


def test_report_cli_rewrites_report_and_card(capsys):
    run = tiny_run("denoise")
    (run / "report.html").unlink()
    assert main(["report", str(run)]) == 0
    out = capsys.readouterr().out
    assert "report.html" in out and "README.md" in out
    html = (run / "report.html").read_text()
    assert "noisy input -&gt; denoised" in html


def test_tabular_runs_report_what_does_not_apply(tmp_path):
    import numpy as np

    rng = np.random.default_rng(0)
    np.save(tmp_path / "t.npy", rng.normal(size=(200, 5)).astype(np.float32))
    run = aekit.train(
        {
            "data": {"name": str(tmp_path / "t.npy")},
            "model": {"name": "mlp", "hidden": [8], "latent_dim": 2},
            "train": {"epochs": 1, "batch_size": 50, "recon_every": 0},
            "run": {"out_dir": str(tmp_path / "runs")},
        }
    )
    html = (run.run_dir / "report.html").read_text()
    assert "latent.png" in html and "loss.png" in html
    assert "shows images" in html  # manifold etc. say why they are absent
