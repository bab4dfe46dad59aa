"""Configs are checked when they are built: choices, ranges, one line naming the key; nothing
is written before every check has passed."""

from __future__ import annotations

import dataclasses
import math
import typing

import pytest

import aekit
from aekit._registry import list_models, model_entry
from aekit.cli.main import main
from aekit.config import (
    Config,
    DataConfig,
    RunConfig,
    TrainConfig,
    apply_config_dict,
    dataclass_doc,
    describe,
)
from aekit.errors import ConfigError

SECTIONS = {"data": DataConfig, "train": TrainConfig, "run": RunConfig}


def literal_choices(tp) -> tuple | None:
    """The Literal choices inside an annotation (through Annotated / Union), or None."""
    if typing.get_origin(tp) is typing.Literal:
        return typing.get_args(tp)
    for a in typing.get_args(tp):
        if not isinstance(a, type) or typing.get_origin(a):
            found = literal_choices(a)
            if found:
                return found
    return None


def choice_fields():
    """(section, model name or None, key, choices) for every config key with fixed choices."""
    out = []
    for section, cls in SECTIONS.items():
        hints = typing.get_type_hints(cls, include_extras=True)
        for f in dataclasses.fields(cls):
            if (choices := literal_choices(hints[f.name])) is not None:
                out.append((section, None, f.name, choices))
    for name in list_models():
        cls = model_entry(name).config_cls
        hints = typing.get_type_hints(cls, include_extras=True)
        for f in dataclasses.fields(cls):
            if (choices := literal_choices(hints[f.name])) is not None:
                out.append(("model", name, f.name, choices))
    return out


CHOICES = choice_fields()


def test_every_choice_key_of_the_issue_is_a_literal():
    keys = {(s, k) for s, _, k, _ in CHOICES}
    expected = {
        ("train", "loss"),
        ("train", "optimizer"),
        ("train", "schedule"),
        ("train", "precision"),
        ("data", "pixel_range"),
        ("data", "noise"),
        ("data", "binarize"),
        ("model", "activation"),
        ("model", "latent_activation"),
        ("model", "output_activation"),
        ("model", "output_bias"),
        ("model", "likelihood"),
        ("model", "penalty"),
        ("model", "jacobian"),
    }
    assert expected <= keys, expected - keys


@pytest.mark.parametrize(
    "section, model, key, choices", CHOICES, ids=[f"{s}-{m}-{k}" for s, m, k, _ in CHOICES]
)
def test_a_typo_in_any_choice_is_refused_when_the_config_is_built(section, model, key, choices):
    typo = f"{choices[-1]}x"
    d = {section: {key: typo}}
    if model:
        d["model"]["name"] = model
    with pytest.raises(ConfigError) as e:
        apply_config_dict(Config(), d)
    msg = str(e.value)
    assert "\n" not in msg
    assert f"{section}.{key} must be" in msg and repr(typo) in msg
    assert all(str(c) in msg for c in choices)
    # and each listed choice is accepted
    for c in choices:
        ok = {section: {key: c}}
        if model:
            ok["model"]["name"] = model
        if (key, c) == ("latent_activation", "none") and model == "sparse":
            ok["model"]["penalty"] = "l1"  # the KL penalty needs sigmoid codes
        apply_config_dict(Config(), ok)


@pytest.mark.parametrize(
    "d, message",
    [
        ({"train": {"loss": "mde"}}, "train.loss must be one of mse, bce, l1; got 'mde'"),
        ({"train": {"lr": math.nan}}, "train.lr must be a finite number > 0; got nan"),
        ({"train": {"lr": math.inf}}, "train.lr must be a finite number > 0; got inf"),
        ({"train": {"lr": 0}}, "train.lr must be a finite number > 0; got 0"),
        ({"train": {"momentum": -0.9}}, "train.momentum must be a finite number >= 0; got -0.9"),
        ({"train": {"epochs": 0}}, "train.epochs must be an integer >= 1; got 0"),
        ({"train": {"batch_size": -1}}, "train.batch_size must be an integer >= 1; got -1"),
        ({"train": {"weight_decay": -1e-4}}, "train.weight_decay must be a finite number >= 0"),
        ({"train": {"device": "gpu"}}, "train.device must be one of auto, cpu, cuda or cuda:N"),
        ({"data": {"val_fraction": 1.0}}, "data.val_fraction must be a finite number >= 0 and < 1"),
        ({"data": {"image_size": [0, 28]}}, "data.image_size must be a list of 2 integers >= 1"),
        ({"data": {"image_size": [28]}}, "data.image_size must be a list of 2 integers >= 1"),
        ({"data": {"noise_level": -0.1}}, "data.noise_level must be a finite number >= 0"),
        ({"data": {"limit": 0}}, "data.limit must be an integer >= 1 or none"),
        ({"model": {"latent_dim": 0}}, "model.latent_dim must be an integer >= 1; got 0"),
        ({"model": {"hidden": [64, 0]}}, "model.hidden must be a list of integers >= 1"),
        ({"model": {"dropout": 1.5}}, "model.dropout must be a finite number >= 0 and < 1"),
        (
            {"model": {"name": "sparse", "rho": 1.0}},
            "model.rho must be a finite number > 0 and < 1",
        ),
        ({"model": {"name": "vae", "sigma": 0}}, "model.sigma must be a finite number > 0"),
        ({"run": {"after": ["loss", "Recno!"]}}, "run.after must be a list of values (one of loss"),
    ],
)
def test_numbers_out_of_range_are_refused_in_one_line_naming_the_key(d, message):
    with pytest.raises(ConfigError) as e:
        apply_config_dict(Config(), d)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_config_dataclasses_check_themselves_when_built_from_python():
    with pytest.raises(ConfigError, match="train.lr must be a finite number > 0"):
        TrainConfig(lr=-1.0)
    with pytest.raises(ConfigError, match="data.pixel_range must be one of 01, -11"):
        DataConfig(pixel_range="0-1")
    with pytest.raises(ConfigError, match="model.latent_dim"):
        aekit.create_model("mlp", latent_dim=0)
    with pytest.raises(ConfigError, match="input_shape"):
        aekit.create_model("mlp", (0, 8, 8))
    # ints widen to floats; --set data.pixel_range=-11 parses as an integer and is accepted
    assert TrainConfig(lr=1).lr == 1.0 and isinstance(TrainConfig(lr=1).lr, float)
    assert apply_config_dict(Config(), {"data": {"pixel_range": -11}}).data.pixel_range == "-11"


def test_checks_across_keys_run_on_the_finished_config():
    """A layer may set what a later layer undoes, so these run once all layers are applied."""
    bce = apply_config_dict(Config(), {"train": {"loss": "bce"}})
    both = apply_config_dict(bce, {"data": {"pixel_range": "-11"}})  # building is fine...
    with pytest.raises(ConfigError, match="BCE needs targets in"):
        both.check()  # ...the finished config is not
    apply_config_dict(both, {"train": {"loss": "mse"}}).check()
    with pytest.raises(ConfigError, match="needs train.milestones"):
        apply_config_dict(Config(), {"train": {"schedule": "step"}}).check()
    with pytest.raises(ConfigError, match="noise_level is the fraction"):
        apply_config_dict(Config(), {"data": {"noise": "masking", "noise_level": 2.0}}).check()
    with pytest.raises(ConfigError, match="KL sparsity penalty needs"):
        Config(model={"name": "sparse", "latent_activation": "relu"}).check()


def test_the_literals_agree_with_the_tables_that_implement_them():
    from aekit.config import Loss, Noise, Optimizer, Precision, Schedule
    from aekit.data.dataset import BINARIZE
    from aekit.data.noise import NOISES
    from aekit.layers import Activation
    from aekit.layers.blocks import _ACTIVATIONS
    from aekit.losses import LOSSES
    from aekit.training.optim import OPTIMIZERS, SCHEDULES
    from aekit.training.trainer import PRECISIONS

    assert set(typing.get_args(Loss)) == set(LOSSES)
    assert set(typing.get_args(Noise)) == set(NOISES)
    assert set(typing.get_args(Optimizer)) == set(OPTIMIZERS)
    assert set(typing.get_args(Schedule)) == set(SCHEDULES)
    assert set(typing.get_args(Precision)) == set(PRECISIONS)
    assert set(typing.get_args(Activation)) == set(_ACTIVATIONS)
    assert set(literal_choices(typing.get_type_hints(DataConfig)["binarize"])) == set(BINARIZE)
    from aekit.report import KINDS

    for kind in KINDS:  # every figure kind the report draws is accepted in run.after
        RunConfig(after=[kind])
    RunConfig(after=["latent:tsne", "weights:decoder", "decode:1.19,-3.36,2.06"])


def test_run_after_form_is_checked_by_the_config_and_names_by_train(tmp_path):
    """config.py checks the form only (it sits below report, so it cannot list the kinds);
    aekit.train checks the names against aekit.report.KINDS before writing a run folder."""
    import aekit

    with pytest.raises(ConfigError, match="run.after"):
        RunConfig(after=["Loss!"])
    RunConfig(after=["lossx"])  # well formed: its name is checked where it is used
    cfg = {"data": {"name": "digits"}, "train": {"epochs": 1}, "run": {"out_dir": str(tmp_path)}}
    with pytest.raises(ConfigError, match="unknown figure kind 'lossx'"):
        aekit.train({**cfg, "run": {**cfg["run"], "after": ["lossx"]}})
    assert list(tmp_path.iterdir()) == []


def test_every_config_field_has_a_comment_and_its_allowed_values_for_the_reference():
    classes = [*SECTIONS.values(), *(model_entry(n).config_cls for n in list_models())]
    for cls in classes:
        for key, allowed, _, comment in dataclass_doc(cls):
            assert comment, f"{cls.__name__}.{key} has no comment"
            assert allowed, f"{cls.__name__}.{key}"
    assert (
        describe(
            TrainConfig.__annotations__
            and typing.get_type_hints(TrainConfig, include_extras=True)["loss"]
        )
        == "one of mse, bce, l1"
    )


def snapshot(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize(
    "args, message",
    [
        (["--set", "train.lr=nan"], "train.lr must be a finite number > 0; got nan"),
        (["--lr", "inf"], "train.lr must be a finite number > 0; got inf"),
        (["--set", "train.momentum=-0.5"], "train.momentum must be a finite number >= 0"),
        (["--set", "data.val_fraction=1"], "data.val_fraction must be a finite number >= 0"),
        (["--image-size", "0", "0"], "data.image_size must be a list of 2 integers >= 1"),
        (["--loss", "mde"], "train.loss must be one of mse, bce, l1; got 'mde'"),
        (["--set", "model.activation=relu6"], "model.activation must be one of relu"),
        (["--set", "train.schedule=step"], "needs train.milestones"),
        # data-dependent: checked after reading the data, before any folder exists
        (
            ["--set", "data.limit=5", "--set", "data.val_fraction=0.95"],
            "leaving none to train on; try --set data.val_fraction=0.1",
        ),
        (  # one sample: no fraction holds one out and leaves one, so not 0.1 again
            ["--set", "data.limit=1"],
            "leaving none to train on; try --set data.val_fraction=0 (no validation split)",
        ),
        (["--batch-size", "100000"], "batch size 100000 must be between 1 and the"),
    ],
)
def test_bad_settings_exit_2_in_one_line_and_create_no_run_folder(tmp_path, capsys, args, message):
    before = snapshot(tmp_path)
    out = tmp_path / "runs"
    argv = ["train", "--data", "digits", "--epochs", "1", "--out", str(out), "--no-progress"]
    assert main([*argv, *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err
    assert err.startswith("aekit: error: ") and message in err
    assert snapshot(tmp_path) == before


def test_a_setting_given_at_its_default_is_remembered_but_not_saved():
    cfg = apply_config_dict(Config(), {"train": {"lr": TrainConfig().lr}})
    assert cfg.is_given("train.lr") and not cfg.is_given("train.epochs")
    assert not Config().is_given("train.lr")
    cfg = apply_config_dict(cfg, {"train": {"epochs": 3}})  # layers add up; copies keep it
    assert cfg.given == {"train.lr", "train.epochs"}
    assert dataclasses.replace(cfg).given == cfg.given
    assert "given" not in cfg.to_dict() and Config.from_dict(cfg.to_dict()) == cfg
