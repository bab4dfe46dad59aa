"""aekit.Run: the one object that reads a run folder (config, model, data, metrics, results)."""

from __future__ import annotations

import json

import pytest
import torch
from _tiny_runs import tiny_run

import aekit
from aekit import run as run_files
from aekit.errors import AekitError

# the end-of-run figures are not what these tests are about (conftest.without_end_plots)
pytestmark = pytest.mark.usefixtures("no_end_plots")


def test_run_load_reads_the_folder_aekit_train_wrote():
    d = tiny_run("mlp")
    run = aekit.Run.load(d)
    info = json.loads((d / "config.json").read_text())
    assert run.path == d and run.info == info
    assert isinstance(run.config, aekit.Config) and run.config.model["latent_dim"] == 2
    assert run.result["val_loss"] == info["result"]["val_loss"]
    epochs = [r for r in run.metrics() if r.get("epoch_end")]
    assert len(epochs) == 2 and run.history == epochs
    assert run.evaluation() == json.loads((d / "eval.json").read_text())


def test_every_file_a_run_writes_has_its_name_in_one_place():
    d = tiny_run("mlp")  # a plain autoencoder: prior.json too
    for name in (
        run_files.CONFIG,
        run_files.WEIGHTS,
        run_files.METRICS,
        run_files.EVAL,
        run_files.PRIOR,
        run_files.REPORT,
        run_files.CARD,
        run_files.SUMMARY,
        run_files.MODEL_SUMMARY,
    ):
        assert (d / name).is_file(), name
    assert (d / run_files.PLOTS).is_dir()


def test_aekit_train_returns_the_same_run_class_load_gives(tmp_path):
    run = aekit.train(
        data={"name": "digits", "limit": 200},
        model={"name": "linear", "latent_dim": 3},
        train={"epochs": 1},
        run={"out_dir": str(tmp_path), "name": "lin"},
        report=False,
    )
    assert type(run) is aekit.Run
    again = aekit.Run.load(run.path)
    assert again.result == run.result and again.history == run.history
    x = torch.rand(5, 1, 8, 8)
    torch.testing.assert_close(again.encode(x), run.encode(x))


def test_loaded_models_carry_no_run_attributes_and_encode_to_plain_tensors():
    model = aekit.load(tiny_run("conv"))
    assert not hasattr(model, "run_info") and not hasattr(model, "run_dir")
    x = torch.rand(3, 1, 8, 8)
    z = model.encode(x)
    assert not z.requires_grad
    assert z.numpy().shape == (3, 4)  # raised "Can't call numpy() on a tensor that requires grad"
    x.requires_grad_(True)  # gradients with respect to the input still flow when asked for
    model.decode(model.encode(x)).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_run_encode_decode_sample_work_in_unit_pixels_and_keep_the_models_mode():
    run = aekit.Run.load(tiny_run("denoise"))  # pixels in [-1, 1]
    x = run.unit(run.data("val"))[:6]
    run.model.train()
    z = run.encode(x)
    rec = run.decode(z)
    assert run.model.training  # restored, not left in eval mode
    assert z.shape == (6, 8) and rec.shape == x.shape
    assert rec.min() >= 0 and rec.max() <= 1  # [0, 1] units, not the model's [-1, 1]
    torch.testing.assert_close(run.reconstruct(x), rec)
    run.model.eval()
    s = run.sample(4, seed=1)
    assert s.shape == (4, 1, 8, 8) and torch.equal(s, run.sample(4, seed=1))


def test_run_encode_takes_arrays_and_refuses_what_is_not_the_models_input_in_one_line():
    """An array, float64, a single sample, 0..255 pixels or NaN gave AttributeError, a dtype
    mismatch, a matmul shape error or silently wrong codes."""
    import numpy as np

    from aekit.errors import DataError

    run = aekit.Run.load(tiny_run("denoise"))
    x = run.unit(run.data("val"))[:4]
    torch.testing.assert_close(run.encode(x.numpy()), run.encode(x))
    torch.testing.assert_close(run.encode(x.double()), run.encode(x))
    bad = {
        "shape \\(N, 1, 8, 8\\).*x\\[None\\]": x[0],
        "shape \\(N, 1, 8, 8\\)": torch.rand(4, 1, 28, 28),
        "divide by 255": x * 255,
        "uint8": (x * 255).to(torch.uint8),
        "NaN": x * float("nan"),
        "array of numbers": np.array(["a", "b"]),
    }
    for match, value in bad.items():
        with pytest.raises(DataError, match=match):
            run.encode(value)
    with pytest.raises(DataError, match="NaN"):
        run.decode(torch.full((2, 8), float("nan")))
    with pytest.raises(DataError, match="n >= 1"):
        run.sample(0)


def test_run_data_is_the_split_training_used():
    run = aekit.Run.load(tiny_run("mlp"))
    val = run.data("test")  # digits have no test split: the validation split
    assert val.split == "val" and len(val) == run.info["data"]["n_val"]
    assert len(run.data("train")) == run.info["data"]["n_train"]


def test_a_folder_that_is_not_a_run_is_named_in_one_line(tmp_path):
    with pytest.raises(AekitError, match="not a run folder.*config.json"):
        aekit.Run.load(tmp_path)
    (tmp_path / "config.json").write_text("[1, 2]")
    with pytest.raises(AekitError, match="not a run config"):
        aekit.Run.load(tmp_path)
    (tmp_path / "config.json").write_text('{"model": {"name": "mlp"}}')
    with pytest.raises(AekitError, match="does not describe a model"):
        _ = aekit.Run.load(tmp_path).model


def test_weights_of_another_architecture_are_named_in_one_line(tmp_path):
    import shutil

    mlp, conv = tiny_run("mlp"), tiny_run("conv")
    shutil.copy(mlp / "config.json", tmp_path / "config.json")
    shutil.copy(conv / "model.safetensors", tmp_path / "model.safetensors")
    with pytest.raises(AekitError, match="does not fit the model") as e:
        _ = aekit.Run.load(tmp_path).model
    assert "\n" not in str(e.value)


def test_the_old_read_functions_are_still_importable():
    from aekit.training.run_dir import load_model, read_metrics, read_run_config

    d = tiny_run("mlp")
    assert read_run_config(d) == aekit.Run.load(d).info
    assert read_metrics(d) == aekit.Run.load(d).metrics()
    assert load_model(d).latent_dim == 2


def test_a_metrics_line_cut_short_at_the_end_is_left_out_and_one_before_it_is_named(tmp_path):
    import shutil

    d = shutil.copytree(tiny_run("mlp"), tmp_path / "run")
    log = d / run_files.METRICS
    whole = run_files.read_metrics(d)
    log.write_text(log.read_text() + '{"broken\n')  # training killed mid-write
    assert run_files.read_metrics(d) == whole
    log.write_bytes(log.read_bytes()[:-2] + b"\xc3")  # no newline, a character cut in two
    assert run_files.read_metrics(d) == whole
    lines = [json.dumps(r) for r in whole]
    log.write_text("\n".join([lines[0], '{"broken', *lines[1:]]) + "\n")
    with pytest.raises(AekitError, match="metrics.jsonl' line 2 is not a JSON record"):
        run_files.read_metrics(d)


@pytest.mark.parametrize("name", aekit.list_models())
def test_model_helpers_give_back_the_train_eval_mode_they_found(name):
    from aekit.evaluation.evaluate import decode_unit, encode_unit, reconstruct_unit

    model = aekit.create_model(name, (1, 8, 8))
    x = torch.rand(4, 1, 8, 8)
    model.train()
    next(model.children()).eval()  # a mixed state, given back exactly
    modes = [m.training for m in model.modules()]
    model.reconstruct(x)
    model.val_metrics(x, x)
    aekit.model_summary(model)
    decode_unit(model, encode_unit(model, x))
    reconstruct_unit(model, x)
    try:
        model.sample(2)
    except NotImplementedError:
        pass
    assert [m.training for m in model.modules()] == modes


def test_eval_mode_restores_the_mode_also_on_error():
    from aekit.models import eval_mode

    model = aekit.create_model("mlp", (1, 8, 8)).train()
    with pytest.raises(RuntimeError), eval_mode(model):
        assert not any(m.training for m in model.modules())
        raise RuntimeError("inside")
    assert all(m.training for m in model.modules())


def test_the_weights_are_as_readable_as_the_rest_of_the_run():
    """safetensors writes its files 0600: a shared run's config and report were readable to
    others and its weights not."""
    run = tiny_run("denoise")
    mode = (run / "config.json").stat().st_mode & 0o777
    weights = [run / "model.safetensors", *run.glob("checkpoint/*/*.safetensors")]
    assert len(weights) >= 3
    assert {w.stat().st_mode & 0o777 for w in weights} == {mode}
