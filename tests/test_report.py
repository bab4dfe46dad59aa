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
    files = set(re.findall(r"<span class='file'>plots/([^<]+)</span>", html))
    for kind in KINDS:
        expected = {"animation": "recon.gif", "weights": "weights_encoder.png"}.get(
            kind, f"{kind}.png"
        )
        assert expected in files, kind
    assert html.count('src="data:image/') == len(files) == html.count("<figure")
    ev = json.loads((run / "eval.json").read_text())
    assert f"{ev['model']['sse_per_image']:.4g}" in html
    assert f"{ev['pca']['sse_per_image']:.4g}" in html and "PCA (4 comp.)" in html
    assert "Training log: 2 epochs" in html and "loss (validation)" in html
    assert "Model summary" in html and "total parameters" in html
    assert '"latent_dim": 4' in html  # the config


def test_every_figure_has_a_title_and_a_reading_not_a_file_name():
    html = (tiny_run("conv") / "report.html").read_text()
    captions = re.findall(r"<figcaption><b>([^<]+)</b>([^<]+)<", html)
    assert len(captions) == html.count("<figure") > 8
    for title, text in captions:
        assert not title.endswith((".png", ".gif")) and len(text.split()) >= 12, title
    assert "What the first encoder layer looks for" in html
    assert "Reconstructions of validation images" in html


def test_headline_says_the_ratio_to_pca_in_words():
    run = tiny_run("mlp")
    ev = json.loads((run / "eval.json").read_text())
    html = (run / "report.html").read_text()
    assert f"Reconstruction error is {ev['ratio_to_pca']:.2f}× that of PCA with the same 2 " in html
    assert "below 1 is better than PCA" in html
    assert "What is this model?" in html and "code of 2 numbers" in html
    assert "takes each 8×8 image (64 numbers)" in html
    intro = html.split("What is this model?")[1].split("</p>")[0]
    assert "This one is <code>mlp</code>" in intro and "`" not in intro


def test_long_training_logs_are_folded():
    from aekit.report.html import _training_log

    short = _training_log([{"epoch_end": True, "epoch": 1, "train_loss": 1.0}])
    long = _training_log([{"epoch_end": True, "epoch": e, "train_loss": 1.0} for e in range(1000)])
    assert short.startswith("<details open>") and "1 epoch " in short
    assert long.startswith("<details>") and "1000 epochs" in long


def test_the_training_log_has_readable_headers():
    from aekit.report.html import training_log_rows

    rec = {"epoch_end": True, "epoch": 1, "step": 9, "lr": 0.001, "time_s": 0.5}
    rec |= {"train_loss": 1.0, "train_recon": 0.8, "train_kl": 0.2, "val_recon": 0.9}
    head = training_log_rows([rec])[0]
    assert head == ["epoch", "step", "loss (training)", "reconstruction (training)",
                    "KL (training)", "reconstruction (validation)", "learning rate",
                    "time (s)"]  # fmt: skip
    assert not any("_" in h for h in head)


def test_vae_metrics_have_readable_names_and_the_elbo_adds_up():
    from aekit.report.html import readable_metrics
    from aekit.report.texts import headline

    ev = {
        "dataset": "digits",
        "split": "val",
        "n_images": 10,
        "model": {"mse": 0.05},
        "model_metrics": {
            "recon_nats": 28.0,
            "kl_nats": 2.5,
            "neg_elbo_nats": 30.5,
            "nll_is100_nats": 30.1,
            "nll_images": 10,
        },
    }
    names = [r[0] for r in readable_metrics(ev)]
    assert "negative ELBO = reconstruction + KL (nats per image)" in names
    assert "negative log-likelihood, 100 importance samples (nats per image)" in names
    assert not any("_nats" in n for n in names)
    words = " ".join(headline(ev, {"input_shape": [1, 8, 8]}))
    assert "30.5 nats per image = 28 (reconstruction term) + 2.5 (KL term)" in words
    assert "100 samples per image, on 10 images" in words


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
    assert "Denoising: noisy input, output, clean original" in html
    assert "Denoising takes the PSNR from" in html


def test_report_and_plot_read_a_training_log_cut_short_by_a_kill(tmp_path, capsys):
    import shutil

    run = shutil.copytree(tiny_run("mlp"), tmp_path / "run")
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"broken\n')
    assert main(["report", str(run)]) == 0
    assert main(["plot", str(run), "--kind", "loss"]) == 0
    assert capsys.readouterr().err == ""


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
    assert "Rows and their reconstructions" in html and "decoded into rows" in html


def test_every_figure_works_with_a_one_sample_validation_split(tmp_path):
    from aekit.report import write_report

    run = aekit.train(
        {
            "data": {"name": "digits", "limit": 20, "val_fraction": 0.05},
            "model": {"name": "mlp", "hidden": [8], "latent_dim": 4},
            "train": {"epochs": 1, "batch_size": 8, "recon_every": 1},
            "run": {"out_dir": str(tmp_path)},
        },
        report=False,
    )
    assert run.info["data"]["n_val"] == 1
    html = write_report(run).read_text()
    for f in ("latent", "manifold", "traversal", "interpolation", "samples", "recon"):
        assert f"plots/{f}.png" in html, f
    assert "Not drawn" not in html


def test_two_column_data_is_drawn_as_points_with_the_line_and_the_first_component(tmp_path):
    import numpy as np

    from aekit.report import write_report

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 1)) * [[2.0, 1.0]] + 0.1 * rng.normal(size=(60, 2))
    np.save(tmp_path / "p.npy", x.astype(np.float32))
    run = aekit.train(
        {
            "data": {"name": str(tmp_path / "p.npy"), "val_fraction": 0.05},
            "model": {"name": "linear", "latent_dim": 1},
            "train": {"epochs": 2},
            "run": {"out_dir": str(tmp_path / "runs")},
        },
        report=False,
    )
    html = write_report(run).read_text()
    assert "The points, their reconstructions and the learned line" in html
    assert "Samples among the data" in html
