"""The trainer and the run folder: files written, config resolution, schedules, bad input."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F
from conftest import quick, without_end_plots
from safetensors.torch import load_file

import aekit
from aekit.config import Config, apply_config_dict, parse_set
from aekit.losses import LOSSES
from aekit.losses.reconstruction import BCE_EPS


def train(cfg, callbacks=()):
    """aekit.train without the end-of-run report and figures (their own tests cover them)."""
    with without_end_plots():
        return aekit.train(cfg, callbacks, report=False)


def test_run_folder_has_every_file_and_loads_alone(runs):
    run = aekit.train(quick(runs, train={"epochs": 2, "recon_every": 1, "log_every": 5}))
    d = run.run_dir
    for f in (
        "config.json",
        "model.safetensors",
        "metrics.jsonl",
        "summary.txt",
        "model_summary.txt",
        "plots/loss.png",
        "plots/recon_epoch_001.png",
        "plots/recon_epoch_002.png",
    ):
        assert (d / f).is_file(), f
    lines = [json.loads(x) for x in (d / "metrics.jsonl").read_text().splitlines()]
    assert sum("epoch_end" in r for r in lines) == 2
    assert any("step" in r and "epoch_end" not in r for r in lines)
    m = aekit.load(d)
    x = aekit.load_dataset("digits", split="val").images()[:4]
    assert torch.allclose(m.reconstruct(x), run.model.cpu().reconstruct(x))
    info = json.loads((d / "config.json").read_text())
    assert (
        info["model"]["name"] == "mlp" and info["data"]["n_train"] + info["data"]["n_val"] == 1797
    )


def test_training_lowers_validation_loss(runs):
    run = train(quick(runs, train={"epochs": 5, "lr": 3e-3, "schedule": "none"}))
    assert run.history[-1]["val_loss"] < 0.7 * run.history[0]["val_loss"]


def test_same_seed_gives_identical_weights(runs):
    a = train(quick(runs, run={"name": "a"}))
    b = train(quick(runs, run={"name": "b"}))
    wa, wb = (
        load_file(str(a.run_dir / "model.safetensors")),
        load_file(str(b.run_dir / "model.safetensors")),
    )
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_existing_run_folder_is_never_overwritten(runs):
    a = train(quick(runs, run={"name": "same"}))
    before = (a.run_dir / "model.safetensors").read_bytes()
    b = train(quick(runs, run={"name": "same"}, train={"seed": 3}))
    assert b.run_dir != a.run_dir and (a.run_dir / "model.safetensors").read_bytes() == before


@pytest.mark.parametrize("opt", ["sgd", "adam", "adamw"])
@pytest.mark.parametrize(
    "sched,extra",
    [
        ("none", {}),
        ("step", {"milestones": [0.5]}),
        ("exponential", {"gamma": 0.9}),
        ("cosine", {}),
        ("onecycle", {}),
    ],
)
def test_optimisers_and_schedules_train(runs, opt, sched, extra):
    run = train(
        quick(
            runs,
            train={
                "optimizer": opt,
                "schedule": sched,
                "momentum": 0.9 if opt == "sgd" else 0.0,
                "lr": 0.05 if opt == "sgd" else 1e-3,
                "epochs": 3,
                **extra,
            },
        )
    )
    assert run.history[-1]["train_loss"] < run.history[0]["train_loss"]


def test_step_schedule_milestones_as_fractions(runs):
    run = train(
        quick(runs, train={"epochs": 4, "schedule": "step", "milestones": [0.25, 0.5], "lr": 1e-2})
    )
    assert [round(r["lr"], 6) for r in run.history] == [1e-3, 1e-4, 1e-4, 1e-4]


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("fast", [True, False])
def test_each_loss_is_the_one_minimised_and_reported(runs, loss, fast):
    run = train(quick(runs, train={"loss": loss, "fast_mlp_step": fast}))
    val = aekit.load_dataset("digits", split="val").images()
    with torch.no_grad():
        recon = run.model.cpu().eval()(val).recon
    oracle = {  # torch.nn.functional on the final weights and the validation images
        "mse": lambda: F.mse_loss(recon, val),
        "l1": lambda: F.l1_loss(recon, val),
        "bce": lambda: F.binary_cross_entropy(recon.clamp(BCE_EPS, 1 - BCE_EPS), val),
    }[loss]()
    assert run.history[-1]["val_loss"] == pytest.approx(oracle.item(), rel=1e-5)
    assert run.history[-1]["train_loss"] < run.history[0]["train_loss"]


def test_tanh_output_with_minus_one_to_one_pixels(runs):
    run = train(quick(runs, data={"pixel_range": "-11"}))
    m = aekit.load(run.run_dir)
    assert isinstance(m.decoder[1], torch.nn.Tanh) and run.info["pixel_range"] == "-11"


@pytest.mark.parametrize("name", aekit.list_models())
def test_every_model_trains_end_to_end_and_loads_back(runs, name):
    # with the end-of-run figures: every family's loss terms and reconstructions get drawn
    run = aekit.train(quick(runs, model={"name": name, "latent_dim": 4}), report=False)
    assert math.isfinite(run.history[-1]["val_loss"])
    m = aekit.load(run.run_dir)
    assert m.registry_name == name
    x = aekit.load_dataset("digits", split="val").images()[:4]
    # the same weights (a conv model trains channels-last: the same sums in another order)
    torch.testing.assert_close(m.reconstruct(x), run.model.cpu().reconstruct(x))


def test_grad_clip_and_nan_loss_keeps_saved_weights(runs):
    cfg = quick(runs, train={"lr": 1e30, "optimizer": "sgd", "epochs": 3})
    with pytest.raises(aekit.TrainingDiverged, match="lower the learning rate"):
        train(cfg)


def test_config_precedence_file_then_set(tmp_path):
    (tmp_path / "run.toml").write_text(
        '[train]\nepochs = 7\nlr = 0.5\n[model]\nname = "conv"\nlatent_dim = 5\n'
    )
    from aekit.config import load_config_file

    cfg = apply_config_dict(Config(), load_config_file(tmp_path / "run.toml"))
    cfg = apply_config_dict(cfg, parse_set(["train.lr=0.01", "model.channels=[8,16]"]))
    assert cfg.train.epochs == 7 and cfg.train.lr == 0.01
    assert cfg.model == {"name": "conv", "latent_dim": 5, "channels": [8, 16]}


@pytest.mark.parametrize(
    "bad,match",
    [
        ({"train": {"nope": 1}}, "valid keys: epochs"),
        ({"train": {"epochs": "many"}}, "must be an integer"),
        ({"model": {"name": "mlp", "hiden": [3]}}, "valid keys: hidden"),
        ({"oops": {}}, "valid sections"),
    ],
)
def test_bad_config_keys_and_types_are_errors(bad, match):
    with pytest.raises(aekit.ConfigError, match=match):
        apply_config_dict(Config(), bad)


def test_batch_larger_than_data_is_an_error(runs):
    with pytest.raises(aekit.ConfigError, match="batch size"):
        train(quick(runs, train={"batch_size": 100000}))


def test_overcomplete_without_regulariser_warns(runs, caplog):
    train(quick(runs, model={"latent_dim": 100}, train={"epochs": 1}))
    assert "learn the identity" in caplog.text and "at most 63 (--latent-dim" in caplog.text
    assert "--model sparse" in caplog.text


def test_the_tabular_models_overcomplete_warning_gives_only_the_fix_that_applies(caplog):
    """Noise and --model sparse are for images and plain rows, not the tabular model."""
    from aekit.training.setup import overcomplete_warning

    model = aekit.create_model("tabular", (3,), "01", latent_dim=8)
    overcomplete_warning(model, Config())
    assert "learn the identity" in caplog.text and "sparse" not in caplog.text


def test_denoising_input_is_corrupted_target_clean(runs, monkeypatch):
    seen = []  # (input, target) of every training and validation batch the model saw
    cls = type(aekit.create_model("mlp"))
    real = cls.loss_terms  # replaced on the class: the autograd-free step refuses the model

    def loss_terms(self, out, x, target, loss="mse"):
        seen.append((x.detach().clone(), target.detach().clone()))
        return real(self, out, x, target, loss)

    monkeypatch.setattr(cls, "loss_terms", loss_terms)
    cfg = {"noise": "gaussian", "noise_level": 0.3}
    run = aekit.train(quick(runs, data=cfg, train={"recon_every": 1, "epochs": 1}), report=False)
    assert (run.run_dir / "plots" / "recon_epoch_001.png").is_file()  # the end-of-run grid
    clean = aekit.load_dataset("digits", split="all").images().flatten(1)  # (1797, 64)
    assert len(seen) >= 2
    for x, target in seen:
        x, target = x.flatten(1), target.flatten(1)
        # every target is a clean image, exactly; no input is
        assert (target[:, None] == clean[None]).all(-1).any(1).all()
        assert (torch.cdist(x, clean).min(1).values > 0.5).all()
        noise = x - target  # sigma 0.3, then clipped to [0, 1]: about 0.22
        assert 0.15 < noise.std().item() < 0.3


def test_tensorboard_gets_the_same_scalars_and_images(runs):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = train(quick(runs, train={"epochs": 2, "tensorboard": True}))
    acc = EventAccumulator(str(run.run_dir / "tensorboard"))
    acc.Reload()
    tags = acc.Tags()
    assert {"train/loss", "val/loss", "lr"} <= set(tags["scalars"])
    assert "reconstruction" in tags["images"]
    val = [e.value for e in acc.Scalars("val/loss")]
    assert val == pytest.approx([r["val_loss"] for r in run.history], rel=1e-6)


def test_bf16_autocast_trains_close_to_float32_and_keeps_float32_weights(runs):
    const = {"epochs": 5, "lr": 3e-3, "schedule": "none"}
    full = train(quick(runs, train=const, run={"name": "fp32"}))
    half = train(quick(runs, train={**const, "precision": "bf16"}, run={"name": "bf16"}))
    weights = load_file(str(half.run_dir / "model.safetensors"))
    # (BatchNorm's step counters are int64)
    assert all(w.dtype == torch.float32 for w in weights.values() if w.is_floating_point())
    v32, v16 = full.history[-1]["val_loss"], half.history[-1]["val_loss"]
    assert v16 < 0.7 * half.history[0]["val_loss"]  # it learns
    assert abs(v16 - v32) < 0.1 * v32  # and lands where float32 does (bf16: 8 mantissa bits)


@pytest.mark.parametrize(
    "precision, match",
    [("fp8", "train.precision must be one of fp32, bf16, fp16"), ("fp16", "needs a CUDA device")],
)
def test_bad_precision_is_an_error_before_anything_is_written(runs, precision, match):
    with pytest.raises(aekit.ConfigError, match=match):
        train(quick(runs, train={"precision": precision, "device": "cpu"}))
    assert not runs.exists() or not any(runs.iterdir())


@pytest.mark.parametrize(
    "pixel_range, binarize", [("01", False), ("-11", False), ("01", "threshold")]
)
def test_mean_target_is_the_mean_training_target(pixel_range, binarize):
    data = aekit.load_dataset("digits", split="train")
    batches = aekit.data.BatchMaker(data, torch.device("cpu"), pixel_range, binarize)
    _, target = batches(torch.arange(len(data)))
    torch.testing.assert_close(batches.mean_target(chunk=100), target.mean(0))


class OutputBias:
    """Records the output layer's bias and the mean training image when training starts."""

    def on_train_start(self, state):
        self.bias = state.model.decoder[0][-1].bias.detach().clone()
        data = state.train_data
        self.mean = (data.x.float() / 255).mean(0).reshape(-1)


@pytest.mark.parametrize("pixel_range", ["01", "-11"])
def test_output_bias_starts_at_the_mean_image_and_speeds_up_the_first_epoch(runs, pixel_range):
    seen = OutputBias()
    data = {"pixel_range": pixel_range}
    hist = train(quick(runs, data=data), callbacks=[seen]).history
    y = torch.tanh(seen.bias) if pixel_range == "-11" else torch.sigmoid(seen.bias)
    mean = seen.mean * 2 - 1 if pixel_range == "-11" else seen.mean
    lo, hi = (-0.99, 0.99) if pixel_range == "-11" else (0.005, 0.995)
    torch.testing.assert_close(y, mean.clamp(lo, hi))
    plain = train(quick(runs, data=data, model={"name": "mlp", "output_bias": "torch"})).history
    assert hist[0]["train_loss"] < 0.8 * plain[0]["train_loss"]


def test_unknown_output_bias_is_an_error(runs):
    with pytest.raises(aekit.ConfigError, match="output_bias"):
        train(quick(runs, model={"name": "mlp", "output_bias": "zeros"}))


@pytest.mark.parametrize("channels_last", [True, False])
def test_conv_trains_channels_last_on_cpu_and_saves_plain_weights(runs, channels_last):
    model = {"name": "conv", "channels": [8, 16], "latent_dim": 4}
    train_cfg = {"epochs": 1, "channels_last": channels_last}
    run = train(quick(runs, model=model, train=train_cfg))
    convs = [m for m in run.model.modules() if isinstance(m, torch.nn.Conv2d)]
    w = next(c.weight for c in convs if c.in_channels > 1)  # 1 channel: both layouts agree
    assert w.is_contiguous(memory_format=torch.channels_last) == channels_last
    saved = load_file(run.run_dir / "model.safetensors")
    assert all(t.is_contiguous() for t in saved.values())  # the file holds the usual layout
    x = torch.rand(5, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(aekit.load(run.run_dir)(x).recon, run.model(x).recon)


def test_one_sample_without_a_validation_split_trains_to_the_end(tmp_path, no_end_plots):
    """PCA of one sample has no component: the end-of-run comparison leaves the angles out
    (it raised on the empty list)."""
    run = aekit.train(
        {
            "data": {"name": "digits", "limit": 1, "val_fraction": 0.0},
            "train": {"epochs": 1},
            "run": {"out_dir": str(tmp_path)},
        },
        report=False,
    )
    assert "pca_max_principal_angle_deg" not in run.result and run.result["epochs"] == 1
