"""`aekit bench`: rows are data, PCA rows are exact, the table is complete."""

from __future__ import annotations

import pytest
import torch

import aekit
from aekit.bench import ROWS, BenchRow, markdown_table, row_config, run_bench
from aekit.cli.main import main
from aekit.evaluation.pca import PCABaseline
from aekit.training import step as step_module


def test_row_config_applies_recipe_then_row_then_quick(tmp_path):
    deep = next(r for r in ROWS if r.recipe == "deep-hinton")
    full = row_config(deep, "mnist", "/data", quick=False, out_dir=str(tmp_path))
    quick = row_config(deep, "mnist", "/data", quick=True, out_dir=str(tmp_path))
    assert full.model["hidden"] == [1000, 500, 250] and full.model["latent_dim"] == 30
    assert full.data.data_dir == "/data" and full.data.limit is None
    assert quick.train.epochs == deep.quick["train"]["epochs"] < full.train.epochs
    assert quick.data.limit is not None and quick.train.loss == full.train.loss


def test_every_row_resolves_to_a_valid_config(tmp_path):
    for row in ROWS:
        cfg = row_config(row, "mnist", None, quick=True, out_dir=str(tmp_path))
        if not row.pca:
            assert cfg.model.get("latent_dim") == row.latent, row


def test_pca_row_equals_the_exact_pca_and_linear_ae_comes_close(tmp_path):
    rows = [
        BenchRow("PCA", 6, pca=True),
        BenchRow(
            "linear AE",
            6,
            config={
                "model": {"name": "linear", "latent_dim": 6},
                "train": {"epochs": 40, "batch_size": 64, "lr": 1e-2, "schedule": "cosine"},
            },
        ),
    ]
    pca_row, lin = run_bench(rows, "digits", out_dir=str(tmp_path))
    train = aekit.load_dataset("digits", split="train")
    test = aekit.load_dataset("digits", split="test")
    x = test.to_unit(test.x)
    pca = PCABaseline.fit(train.to_unit(train.x), 6)
    assert pca_row["sse_per_image"] == pytest.approx(pca.errors(x)["sse_per_image"], rel=1e-6)
    # Eckart-Young: no rank-6 linear map beats PCA on the training data; on test it is close
    assert lin["pca_sse"] == pytest.approx(pca_row["sse_per_image"], rel=1e-6)
    assert lin["sse_per_image"] < 1.1 * lin["pca_sse"]
    table = markdown_table([pca_row, lin])
    assert table.count("\n") == 3 and "| PCA | 6 |" in table and "| linear AE | 6 | 40 |" in table


def test_unknown_only_filter_is_a_one_line_error(capsys):
    assert main(["bench", "--only", "no-such-row"]) == 2
    assert "matches no row" in capsys.readouterr().err


@pytest.mark.slow
def test_quick_bench_on_mnist_writes_every_row(mnist_dir, tmp_path):
    out = tmp_path / "bench.md"
    args = ["bench", "--quick", "--data-dir", str(mnist_dir), "--out", str(out)]
    assert main([*args, "--runs", str(tmp_path / "runs")]) == 0
    lines = [ln for ln in out.read_text().splitlines() if ln.startswith("| ") and "---" not in ln]
    assert len(lines) == len(ROWS) + 1  # header + one per row
    pca = {int(ln.split("|")[2]): float(ln.split("|")[5]) for ln in lines if ln.startswith("| PCA")}
    assert pca[2] > pca[16] > pca[30] > 10  # more components, less error; 13.87 at 30 (60k)
    assert torch.get_num_threads() >= 1


def test_quick_rows_are_labelled_unconverged_without_published_figures(tmp_path):
    row = BenchRow(
        "linear AE",
        4,
        config={"model": {"name": "linear", "latent_dim": 4}, "train": {"epochs": 5}},
        quick={"train": {"epochs": 1}},
        published="PCA at 4 (Eckart-Young optimum)",
        published_data="digits",
    )
    full, quick = (run_bench([row], "digits", quick=q, out_dir=str(tmp_path))[0] for q in (0, 1))
    assert full["published"] and "unconverged" not in full.get("extra", "")
    assert quick["published"] == "" and "unconverged smoke run" in quick["extra"]
    assert quick["epochs"] == 1


@pytest.mark.parametrize("native", [True, False])
def test_a_row_trained_in_bf16_says_so(tmp_path, monkeypatch, native):
    monkeypatch.setattr(step_module, "native_bf16", lambda: native)
    conv = {"model": {"name": "conv", "channels": [4, 8]}, "train": {"epochs": 1}}
    row = BenchRow("conv AE", 4, config=conv)
    (res,) = run_bench([row], "digits", out_dir=str(tmp_path))
    assert ("trained in bf16 autocast" in res.get("extra", "")) == native
