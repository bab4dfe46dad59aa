"""Every shipped recipe runs (1 epoch on 200 digits), and [[variants]] run one after another."""

from __future__ import annotations

import json
import math

import pytest

import aekit
from aekit.cli.main import main
from aekit.config import Config
from aekit.recipes import layered_config, list_recipes, load_recipe, recipe_configs, recipe_variants
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
    for _, cfg in recipe_configs(name, TINY_SECTIONS, {"run": {"out_dir": str(runs)}}):
        state = Trainer(cfg).run()
        result = json.loads((state.run_dir / "config.json").read_text())["result"]
        assert (
            result["epochs"] == 1 and 0 < result["val_mse"] < math.inf and "pca_val_mse" in result
        )


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


@pytest.mark.usefixtures("no_end_plots")  # names and configs, not figures
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


def test_each_variant_gets_its_own_config_and_run_name():
    """Variants built from one base share no section: naming one run names no other."""
    cfgs = recipe_configs("under-over", {"run": {"name": "uo"}})
    assert [c.run.name for _, c in cfgs] == ["uo-latent30", "uo-latent500-denoising"]
    assert [c.model["latent_dim"] for _, c in cfgs] == [30, 500]
    assert len({id(c.run) for _, c in cfgs}) == len({id(c.data) for _, c in cfgs}) == 2
    unnamed = recipe_configs("under-over")
    assert [n.split("-")[:2] for n in (c.run.name for _, c in unnamed)] == [
        ["under", "over"],
        ["under", "over"],
    ]
    assert unnamed[0][1].run.name != unnamed[1][1].run.name


def test_layers_apply_in_order_and_the_result_is_checked():
    cfg = layered_config(
        {"train": {"epochs": 3}}, {"train": {"epochs": 4}}, recipe="sparse-kl", variant={}
    )
    assert (
        cfg.train.epochs == 4 and cfg.model["name"] == load_recipe("sparse-kl")[0]["model"]["name"]
    )
    base = Config()
    layered_config({"run": {"name": "x"}}, base=base)
    assert base.run.name is None  # the base is not changed
    with pytest.raises(aekit.ConfigError, match="BCE needs targets"):
        layered_config({"train": {"loss": "bce"}}, {"data": {"pixel_range": "-11"}})


@pytest.mark.usefixtures("no_end_plots")  # names and configs, not figures
def test_train_recipe_writes_one_run_folder_per_variant_named_after_it(runs, monkeypatch):
    """aekit.train_recipe once gave every variant's run the last variant's name (the variants
    shared one RunConfig when the keyword sections had no [run]), so no [run] here."""
    runs.mkdir(exist_ok=True)
    monkeypatch.chdir(runs)  # the default run.out_dir "runs" lands here
    out = aekit.train_recipe(
        "under-over",
        report=False,
        data={"limit": 200},
        train={"epochs": 1, "batch_size": 50, "recon_every": 0, "log_every": 0},
        model={"hidden": [8]},
    )
    names = [r.run_dir.name for r in out]
    assert names[0].startswith("under-over-latent30-mnist5k-")
    assert names[1].startswith("under-over-latent500-denoising-mnist5k-")
    assert sorted(p.name for p in (runs / "runs").iterdir()) == sorted(names)
    infos = [json.loads((r.run_dir / "config.json").read_text()) for r in out]
    assert [i["model"]["latent_dim"] for i in infos] == [30, 500]
    assert [i["config"]["data"]["noise"] for i in infos] == ["none", "gaussian"]
    assert [i["config"]["run"]["name"] for i in infos] == names
