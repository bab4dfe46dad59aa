"""Exported files reproduce the PyTorch model at any batch size, and bad input is one line."""

from __future__ import annotations

import json

import pytest
import torch
from _tiny_runs import SPECS, tiny_run

import aekit
from aekit.cli.main import main
from aekit.errors import ConfigError, ExportError

TOL = 1e-4


def digits(n: int, pixel_range: str = "01") -> torch.Tensor:
    """n real validation images (n, 1, 8, 8): not the exporter's own check inputs."""
    return aekit.load_dataset("digits", split="val").images(pixel_range)[-n:]


def oracle(model, part: str, x: torch.Tensor) -> torch.Tensor:
    """What the PyTorch model gives for ``part`` (eval mode, no gradients)."""
    with torch.no_grad():
        return {
            "encoder": model.encode,
            "decoder": model.decode,
            "autoencoder": lambda t: model.decode(model.encode(t)),
        }[part](x)


def part_inputs(model, n: int) -> dict[str, torch.Tensor]:
    x = digits(n, model.pixel_range)
    return {"encoder": x, "decoder": oracle(model, "encoder", x), "autoencoder": x}


def source(name: str):
    """What to export for model ``name`` and the model itself: the trained tiny run where
    there is one (mlp, conv), else a freshly built 8x8 model of that family."""
    if name in SPECS:
        run = tiny_run(name)
        return run, aekit.load(run)
    torch.manual_seed(0)
    model = aekit.create_model(name, (1, 8, 8), latent_dim=4).eval()
    return model, model


# Each kind of graph once in the fast suite: MLP layers (mlp), conv and transposed-conv layers
# with a posterior mean (conv_vae), a table's columns (tabular); ONNX export is ~2 s a model.
# pt2 (~0.5 s a model) also takes the plain conv net and the MLP VAE fast. The families built
# from the same layers (contractive, sparse, stacked, linear, convspec; and for ONNX conv and
# vae) run with -m slow, which keeps every registered model exported to both and checked.
FAST_ONNX = {"mlp", "conv_vae", "tabular"}
FAST_PT2 = FAST_ONNX | {"conv", "vae"}


def fast(names: set[str]) -> list:
    """Every registered model; those not in ``names`` marked slow."""
    return [
        n if n in names else pytest.param(n, marks=pytest.mark.slow) for n in aekit.list_models()
    ]


@pytest.mark.parametrize("name", fast(FAST_ONNX))
def test_onnx_parts_match_the_model_at_any_batch_size(tmp_path, name):
    ort = pytest.importorskip("onnxruntime")
    run, model = source(name)
    files = aekit.export(run, tmp_path, format="onnx")
    assert [f.part for f in files] == ["encoder", "decoder", "autoencoder"]
    names = {"encoder": ("images", "codes"), "decoder": ("codes", "images")}
    for f in files:
        sess = ort.InferenceSession(str(f.path), providers=["CPUExecutionProvider"])
        (inp,), (out,) = sess.get_inputs(), sess.get_outputs()
        assert (inp.name, out.name) == names.get(f.part, ("images", "reconstructions"))
        assert inp.shape[0] == out.shape[0] == "batch"  # symbolic, not the traced 2
        for n in (5, 1):
            x = part_inputs(model, n)[f.part]
            got = torch.from_numpy(sess.run(None, {inp.name: x.numpy()})[0])
            want = oracle(model, f.part, x)
            assert got.shape == want.shape
            assert (got - want).abs().max().item() <= TOL
        embedded = json.loads(sess.get_modelmeta().custom_metadata_map["aekit"])
        assert embedded["latent_dim"] == model.latent_dim and embedded["opset"] == 20
        assert 0 <= f.max_abs_diff <= TOL


def test_an_opset_torch_cannot_write_is_refused_not_mislabelled(tmp_path):
    pytest.importorskip("onnxruntime")
    with pytest.raises(ConfigError, match="could not write ONNX opset 99"):
        aekit.export(tiny_run("mlp"), tmp_path, part="encoder", opset=99)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("name", fast(FAST_PT2))
def test_pt2_parts_match_the_model_at_any_batch_size(tmp_path, name):
    run, model = source(name)
    files = aekit.export(run, tmp_path, format="pt2")
    for f in files:
        extra = {"aekit.json": ""}
        loaded = torch.export.load(f.path, extra_files=extra).module()  # torch only, no aekit
        for n in (5, 1):
            x = part_inputs(model, n)[f.part]
            with torch.no_grad():
                assert (loaded(x) - oracle(model, f.part, x)).abs().max().item() <= TOL
        meta = json.loads(extra["aekit.json"])
        assert meta["part"] == f.part and meta["model"] == name


def test_sidecar_describes_shapes_range_and_check(tmp_path):
    run = tiny_run("mlp")
    (f,) = aekit.export(run, tmp_path / "enc.pt2", format="pt2", part="encoder")
    assert f.path == tmp_path / "enc.pt2" and f.sidecar == tmp_path / "enc.pt2.json"
    meta = json.loads(f.sidecar.read_text())
    assert meta["inputs"][0]["shape"] == ["batch", 1, 8, 8]
    assert meta["outputs"][0]["shape"] == ["batch", 2]
    assert meta["pixel_range"] == [0.0, 1.0] and meta["latent_dim"] == 2
    assert meta["model"] == "mlp" and meta["aekit_version"] == aekit.__version__
    assert meta["check"]["inputs"] == "8 val samples of digits"
    assert meta["check"]["max_abs_diff"] <= TOL


def test_export_runs_in_eval_mode_and_restores_the_training_flag(tmp_path):
    # dropout 0.5 in train mode would make every call differ; BatchNorm would use batch stats
    model = aekit.create_model(
        "mlp", (1, 8, 8), hidden=[16], latent_dim=3, dropout=0.5, batchnorm=True
    ).train()
    (f,) = aekit.export(model, tmp_path, format="pt2", part="autoencoder")
    assert model.training
    x = digits(4)
    got = torch.export.load(f.path).module()(x)
    assert (got - model.eval().reconstruct(x)).abs().max().item() <= TOL


def test_vae_encoder_exports_the_posterior_mean(tmp_path):
    model = aekit.create_model("vae", (1, 8, 8), latent_dim=2)
    (f,) = aekit.export(model, tmp_path, format="pt2", part="encoder")
    x = digits(3)
    mu, _ = model.posterior(x)
    with torch.no_grad():
        assert (torch.export.load(f.path).module()(x) - mu).abs().max().item() <= TOL
    assert "posterior mean" in json.loads(f.sidecar.read_text())["code"]


def test_a_file_that_does_not_match_is_refused_and_nothing_is_replaced(tmp_path, monkeypatch):
    import aekit.exporter

    (tmp_path / "decoder.pt2").write_bytes(b"an earlier export")
    monkeypatch.setattr(aekit.exporter, "_compare", lambda *a: (0.5, "torch"))
    with pytest.raises(ExportError, match="differs from the PyTorch model by up to 0.5"):
        aekit.export(tiny_run("mlp"), tmp_path, format="pt2", part="decoder")
    assert (tmp_path / "decoder.pt2").read_bytes() == b"an earlier export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["decoder.pt2"]


def test_missing_onnx_packages_name_the_extra_to_install(tmp_path, monkeypatch, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda m, *a: None if m == "onnxruntime" else real(m, *a)
    )
    assert main(["export", str(tiny_run("mlp")), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and 'pip install -e ".[export]"' in err
    assert not any(tmp_path.iterdir())


def test_cli_export_writes_checked_files_and_prints_them(tmp_path, capsys):
    out = tmp_path / "dec.pt2"
    args = ["export", str(tiny_run("conv")), "--format", "pt2", "--part", "decoder"]
    assert main([*args, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert str(out) in printed and "codes (B, 4) -> images (B, 1, 8, 8)" in printed
    assert json.loads((tmp_path / "dec.pt2.json").read_text())["check"]["max_abs_diff"] <= TOL


def test_aekit_export_stays_the_function_after_the_cli_imports_the_module():
    import aekit.cli.cmd_export  # noqa: F401
    import aekit.exporter

    assert aekit.export is aekit.exporter.export


def test_unknown_format_or_part_is_refused_before_loading(tmp_path):
    with pytest.raises(ConfigError, match="pt2 is its successor"):
        aekit.export(tmp_path / "nowhere", format="torchscript")
    with pytest.raises(ConfigError, match="choose one of: encoder, decoder, autoencoder, all"):
        aekit.export(tmp_path / "nowhere", part="vae")
    for atol in (float("nan"), float("inf"), -1.0):  # NaN passed every file, -1 none
        with pytest.raises(ConfigError, match="atol must be a finite number >= 0"):
            aekit.export(tmp_path / "nowhere", atol=atol)


def bad_cli_inputs(tmp):
    (tmp / "empty").mkdir()
    (tmp / "a-file").write_text("")
    run = str(tiny_run("mlp"))
    return [
        (["export", str(tmp / "missing")], "is not a run folder"),
        (["export", str(tmp / "empty")], "is not a run folder"),
        (["export", run, "--format", "tflite"], "unknown export format 'tflite'"),
        (["export", run, "--part", "middle"], "unknown part 'middle'"),
        (["export", run, "--opset", "17"], "use --opset 18 or newer"),
        (["export", run, "--atol", "nan"], "atol must be a finite number >= 0"),
        (["export", run, "--atol", "-1"], "atol must be a finite number >= 0"),
        # pt2: these need no optional package
        (["export", run, "--format", "pt2", "--out", str(tmp / "a-file" / "sub")], "cannot write"),
        (["export", run, "--format", "pt2", "--out", str(tmp / "x.onnx")], "does not end in .pt2"),
        (["export", run, "--format", "pt2", "--out", str(tmp / "x.pt2")], "pass a folder"),
    ]


def test_bad_cli_input_is_one_line_and_exit_code_2(tmp_path, capsys):
    for argv, expected in bad_cli_inputs(tmp_path):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("aekit: error:") and err.count("\n") == 1, err
        assert expected in err, (argv, err)
