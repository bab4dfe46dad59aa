"""Every shipped recipe runs (1 epoch on 200 digits), and [[variants]] run one after another."""

from __future__ import annotations

import json

import pytest

from aekit.cli.main import main
from aekit.config import Config, apply_config_dict
from aekit.recipes import list_recipes, load_recipe, recipe_variants
from aekit.training import Trainer

TINY = ["--set", "data.limit=200", "--set", "train.epochs=1", "--set", "train.batch_size=50"]
TINY_SECTIONS = {"data": {"limit": 200}, "train": {"epochs": 1, "batch_size": 50, "recon_every": 0}}
# the classic experiments (other recipes may ship too)
CLASSICS = [
    "fc-mnist",
    "conv-mnist",
    "linear-sgd",
    "sigmoid-bce",
    "under-over",
    "deep-sigmoid-l2",
    "denoise-conv",
    "convT-bn-latent2",
    "stacked-greedy",
    "sparse-kl",
    "vae-mnist",
    "contractive",
]


def test_the_classic_recipes_are_shipped():
    assert set(CLASSICS) <= set(list_recipes())


@pytest.mark.parametrize("name", CLASSICS)
def test_every_recipe_variant_trains_one_epoch_on_tiny_data(name, runs):
    """Each variant's config, model and data go through the one trainer (no figures)."""
    base = apply_config_dict(Config(), load_recipe(name)[0])
    for _, overrides in recipe_variants(name):
        cfg = apply_config_dict(apply_config_dict(base, overrides), TINY_SECTIONS)
        cfg.run.out_dir = str(runs)
        state = Trainer(cfg).run()
        result = json.loads((state.run_dir / "config.json").read_text())["result"]
        assert result["epochs"] == 1 and result["val_mse"] >= 0 and "pca_val_mse" in result


@pytest.mark.slow
@pytest.mark.parametrize("name", CLASSICS)
def test_every_recipe_runs_from_the_cli_with_its_figures(name, runs, capsys):
    rc = main(["train", "--recipe", name, *TINY, "--out", str(runs), "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    folders = sorted(runs.iterdir())
    assert len(folders) == len(recipe_variants(name))
    for f in folders:
        info = json.loads((f / "config.json").read_text())
        assert info["config"]["run"]["recipe"] == name
        assert info["result"]["epochs"] == 1


def test_every_recipe_has_a_description_and_defaults_to_mnist5k():
    for name in CLASSICS:
        assert list_recipes()[name], name
        cfg, _ = load_recipe(name)
        assert cfg.get("data", {}).get("name", "mnist5k") in ("mnist5k", "points2d"), name


def test_variants_override_the_recipe_and_set_overrides_the_variant(runs, capsys):
    rc = main(
        [
            "train",
            "--recipe",
            "under-over",
            *TINY,
            "--set",
            "model.hidden=[8]",
            "--out",
            str(runs),
            "--name",
            "uo",
            "--no-progress",
        ]
    )
    assert rc == 0
    infos = {f.name: json.loads((f / "config.json").read_text()) for f in runs.iterdir()}
    assert set(infos) == {"uo-latent30", "uo-latent500-denoising"}
    over = infos["uo-latent500-denoising"]
    assert over["model"]["latent_dim"] == 500 and over["config"]["data"]["noise"] == "gaussian"
    assert infos["uo-latent30"]["config"]["data"]["noise"] == "none"
    assert all(i["model"]["hidden"] == [8] for i in infos.values())
    assert "latent500-denoising" in capsys.readouterr().out  # the comparison table


def test_linear_sgd_recipe_is_full_batch_sgd_on_100_points():
    cfg, _ = load_recipe("linear-sgd")
    t = cfg["train"]
    assert (t["optimizer"], t["lr"], t["momentum"], t["batch_size"], t["epochs"]) == (
        "sgd",
        0.01,
        0.0,
        100,
        1000,
    )
    from aekit.data import load_dataset

    x = load_dataset("points2d", split="all").x
    assert x.shape == (100, 2) and float(torch_corr(x)) > 0.8


def torch_corr(x):
    import torch

    return torch.corrcoef(x.T)[0, 1]
