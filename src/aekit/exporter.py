"""Export a trained autoencoder (encoder, decoder or both) as ONNX or torch.export files that
run without aekit, each checked against the PyTorch model and described by a JSON sidecar.

ONNX (https://onnx.ai) is the interoperable format: onnxruntime, TensorRT, OpenVINO, browsers.
``.pt2`` (``torch.export``, https://docs.pytorch.org/docs/stable/export.html) needs only torch.
"""

from __future__ import annotations

import copy
import importlib.metadata
import importlib.util
import json
import logging
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from aekit.errors import AekitError, ConfigError, ExportError
from aekit.models.base import Autoencoder, eval_mode
from aekit.run import Run

log = logging.getLogger(__name__)

#: format -> file extension. ONNX uses torch's default (dynamo, torch.export-based) exporter: the
#: TorchScript-based one has been deprecated since PyTorch 2.9. The torch-only format is
#: torch.export's .pt2 rather than TorchScript because torch 2.13 deprecates torch.jit.trace and
#: torch.jit.script ("Please switch to torch.compile or torch.export") and .pt2 is the format
#: PyTorch's deployment tools (AOTInductor, ExecuTorch) start from.
FORMATS = {"onnx": ".onnx", "pt2": ".pt2"}
PARTS = ("encoder", "decoder", "autoencoder")
#: ONNX opset: torch 2.13's default for its exporter (no version conversion); onnxruntime runs it
#: from 1.17 on (https://onnxruntime.ai/docs/reference/compatibility.html)
OPSET = 20
MIN_OPSET = 18  # the oldest opset torch's (dynamo) ONNX exporter writes
ATOL = 1e-4  # largest accepted |exported - PyTorch|, in pixel-range / code units
_ONNX_PACKAGES = ("onnx", "onnxscript", "onnxruntime")
_INSTALL = 'pip install -e ".[export]"'  # aekit is installed from its checkout, not an index
_EXAMPLE_BATCH = 2  # torch.export specialises sizes 0 and 1, so the traced example has 2


@dataclass
class ExportedFile:
    """One exported part: the file, its JSON sidecar and how closely it matched the model."""

    path: Path
    sidecar: Path
    part: str  # encoder, decoder or autoencoder
    format: str  # onnx or pt2
    max_abs_diff: float  # largest |exported - PyTorch| over the check inputs
    checked_on: str  # what the check inputs were, e.g. "8 val images of digits"
    signature: str  # e.g. "images (B, 1, 8, 8) in [0, 1] -> codes (B, 2)"


# -- the three parts as modules with named tensor arguments --------------------------------------
class _Encoder(nn.Module):
    def __init__(self, ae: nn.Module):
        super().__init__()
        self.ae = ae

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.ae.encode(images)  # (B, *input_shape) -> (B, latent)


class _Decoder(nn.Module):
    def __init__(self, ae: nn.Module):
        super().__init__()
        self.ae = ae

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        return self.ae.decode(codes)  # (B, latent) -> (B, *input_shape)


class _Autoencoder(nn.Module):
    """decode(encode(x)): deterministic, so for a VAE the reconstruction of the posterior mean
    (its forward() would draw a random z)."""

    def __init__(self, ae: nn.Module):
        super().__init__()
        self.ae = ae

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.ae.decode(self.ae.encode(images))  # (B, *input_shape) -> same


_WRAPPERS = {"encoder": _Encoder, "decoder": _Decoder, "autoencoder": _Autoencoder}


def export(
    run_or_model: Any,
    path: str | Path | None = None,
    format: str = "onnx",
    part: str = "all",
    *,
    opset: int = OPSET,
    atol: float = ATOL,
    n_check: int = 8,
) -> list[ExportedFile]:
    """Write the model's encoder, decoder and/or whole autoencoder as ``format`` files, each
    with a ``<file>.json`` sidecar (shapes, pixel range, latent size, model, versions).

    ``run_or_model``: a run folder, an :class:`aekit.Run` or a model (``aekit.load``).
    ``path``: a folder (default ``RUN_DIR/export``) that gets ``encoder.onnx``... or, for one
    ``part``, a file name ending in the format's extension. ``part``: encoder (images in the
    run's pixel range -> codes; a VAE's posterior mean), decoder (codes -> images),
    autoencoder (images -> reconstructions) or all. Every file is run (onnxruntime / torch) on
    ``n_check`` of the run's validation images (random ones when the data cannot be loaded) and
    on a batch of one, and removed with an :class:`ExportError` when it differs from the
    PyTorch model by more than ``atol``. The export runs in eval mode without gradients.
    """
    fmt, parts = _check_choices(format, part)
    if fmt == "onnx" and opset < MIN_OPSET:
        raise ConfigError(
            f"opset {opset} is too old for torch's ONNX exporter; use --opset {MIN_OPSET} or newer"
        )
    if not (math.isfinite(atol) and atol >= 0):  # NaN would pass every file, -1 none
        raise ConfigError(
            f"atol must be a finite number >= 0 (the largest accepted difference); got {atol:g}; "
            "e.g. --atol 1e-4"
        )
    if n_check < 1:
        raise ConfigError(
            f"n_check must be at least 1 (inputs to check the file on); got {n_check}"
        )
    model, run = _as_model(run_or_model)  # a bad run folder is named before a missing package
    if fmt == "onnx":
        _require_onnx()
    targets = _targets(run, path, fmt, parts)

    src = model if model.device.type == "cpu" else copy.deepcopy(model).cpu()
    # eval mode: BatchNorm running statistics, no dropout; no_grad also keeps the MLPs off
    # their autograd-only fused path
    with torch.no_grad(), eval_mode(src):
        images, checked_on = _check_images(src, run, n_check)
        codes = src.encode(images)
        inputs = {"encoder": images, "decoder": codes, "autoencoder": images}
        done = []
        for p, target in zip(parts, targets):
            wrapper = _WRAPPERS[p](src).eval()
            meta = _metadata(src, run, p, fmt, opset, checked_on)
            done.append(_export_one(wrapper, inputs[p], target, fmt, p, opset, atol, meta))
    return done


# -- arguments -------------------------------------------------------------------------------
def _check_choices(format: str, part: str) -> tuple[str, list[str]]:
    fmt = str(format).lower()
    if fmt not in FORMATS:
        hint = " (TorchScript is deprecated in PyTorch 2.13; pt2 is its successor)"
        raise ConfigError(
            f"unknown export format {format!r}; choose one of: {', '.join(FORMATS)}"
            + (hint if fmt in ("torchscript", "jit", "pt", "ts") else "")
        )
    if part == "all":
        return fmt, list(PARTS)
    if part not in PARTS:
        raise ConfigError(f"unknown part {part!r}; choose one of: {', '.join(PARTS)}, all")
    return fmt, [part]


def _require_onnx() -> None:
    missing = [m for m in _ONNX_PACKAGES if importlib.util.find_spec(m) is None]
    if missing:
        raise ExportError(
            f"ONNX export needs {', '.join(missing)} (not installed); "
            f"run `{_INSTALL}`, or export with --format pt2"
        )


def _as_model(obj: Any) -> tuple[nn.Module, Run | None]:
    """The model to export and its run (None for a bare model)."""
    if isinstance(obj, (str, os.PathLike)):
        obj = Run.load(obj)  # AekitError for a missing or non-run folder
    if isinstance(obj, Run):
        return obj.model, obj
    model = obj
    if not isinstance(model, Autoencoder):
        raise ConfigError(
            f"cannot export a {type(obj).__name__}; pass a run folder, an aekit.Run or a model "
            "from aekit.load(RUN_DIR)"
        )
    return model, None


def _targets(run: Run | None, path: str | Path | None, fmt: str, parts: list[str]) -> list[Path]:
    """The file each part goes to; the folder is created and checked writable."""
    ext = FORMATS[fmt]
    if path is None:
        if run is None:
            raise ConfigError(
                "a bare model has no run folder; pass the output folder as path=, or export "
                "the run folder (aekit.export(RUN_DIR)) or its aekit.Run"
            )
        path = run.path / "export"
    path = Path(path)
    if path.suffix.lower() in {e for e in FORMATS.values()}:
        if path.suffix.lower() != ext:
            raise ConfigError(f"{str(path)!r} does not end in {ext}, the extension of {fmt}")
        if len(parts) != 1:
            raise ConfigError(
                f"{str(path)!r} is one file but part=all writes three; pass a folder, or one part"
            )
        folder, files = path.parent, [path]
    else:
        folder, files = path, [path / f"{p}{ext}" for p in parts]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".aekit-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise ConfigError(
            f"cannot write to {str(folder)!r} ({e.strerror or e}); pass an --out folder you can write to"
        ) from None
    return files


# -- inputs and metadata ---------------------------------------------------------------------
def _value_range(pixel_range: str) -> list[float]:
    return [-1.0, 1.0] if pixel_range == "-11" else [0.0, 1.0]


def _check_images(model: nn.Module, run: Run | None, n: int) -> tuple[torch.Tensor, str]:
    """n inputs in the model's pixel range: the run's first validation samples, prepared as in
    training (binarised where it was), or seeded uniform noise when the data is not at hand."""
    from aekit.data import to_range

    if run is not None:
        try:
            ds = run.data("val")
        except (AekitError, OSError) as e:
            log.info("checking on random inputs: the run's data is not at hand (%s)", e)
        else:
            if len(ds) >= 1:  # the evaluation's own conversion, on the first n samples
                first = ds.subset(torch.arange(min(n, len(ds))))
                unit = run.unit(first)
                return to_range(
                    unit, model.pixel_range
                ), f"{len(unit)} {ds.split} samples of {ds.name}"
    g = torch.Generator().manual_seed(0)
    unit = torch.rand(n, *model.input_shape, generator=g)
    return to_range(unit, model.pixel_range), f"{n} random inputs"


def _input_note(model: nn.Module) -> str:
    """How to turn raw data into the model's input, in words."""
    if len(model.input_shape) != 3:
        unit = "float32 rows (B, D), each feature min-max scaled to [0, 1] with feature_lo/hi"
    else:
        unit = "float32 images (B, C, H, W), pixel values / 255"
    return unit + (", then * 2 - 1 for [-1, 1]" if model.pixel_range == "-11" else "")


def _io(model: nn.Module, part: str) -> tuple[list[dict], list[dict]]:
    """(inputs, outputs) of a part: name, shape with "batch" first, value range."""
    data = "images" if len(model.input_shape) == 3 else "rows"  # (C, H, W) or (D,)
    lo_hi = _value_range(model.pixel_range)
    x = {"name": data, "shape": ["batch", *model.input_shape], "dtype": "float32", "range": lo_hi}
    z = {"name": "codes", "shape": ["batch", model.latent_dim], "dtype": "float32"}
    if part == "encoder":
        return [x], [z]
    if part == "decoder":
        return [z], [x]
    return [x], [{**x, "name": "reconstructions"}]


def _signature(inputs: list[dict], outputs: list[dict]) -> str:
    def one(t: dict) -> str:
        shape = ", ".join("B" if s == "batch" else str(s) for s in t["shape"])
        rng = f" in [{t['range'][0]:g}, {t['range'][1]:g}]" if "range" in t else ""
        return f"{t['name']} ({shape}){rng}"

    return f"{one(inputs[0])} -> {one(outputs[0])}"


def _metadata(
    model: nn.Module, run: Run | None, part: str, fmt: str, opset: int, checked_on: str
) -> dict:
    from aekit._version import __version__

    inputs, outputs = _io(model, part)
    info = run.info if run is not None else {}
    data = info.get("data", {})
    data_cfg = info.get("config", {}).get("data", {})
    variational = model.variational  # q(z|x): a VAE
    meta = {
        "part": part,
        "format": fmt,
        "inputs": inputs,
        "outputs": outputs,
        "batch": "dynamic: any size along the first dimension",
        "pixel_range": _value_range(model.pixel_range),
        "input_note": _input_note(model),
        "latent_dim": model.latent_dim,
        "code": "the posterior mean of q(z|x); z = mu + sigma * eps is not part of the file"
        if variational
        else "the bottleneck activation",
        "model": model.registry_name,
        "model_config": info.get("model", {}),
        "data": {
            "name": data.get("name") or data_cfg.get("name"),
            "binarize": data_cfg.get("binarize", False),
            "feature_lo": data.get("lo"),  # tables: features were min-max scaled with these
            "feature_hi": data.get("hi"),
        },
        "run": run.path.name if run is not None else None,
        "aekit_version": __version__,
        "torch_version": torch.__version__,
    }
    if fmt == "onnx":
        meta["opset"] = opset
    meta["check"] = {"inputs": checked_on}
    return meta


# -- writing and checking one file -------------------------------------------------------------
def _export_one(
    wrapper: nn.Module,
    example: torch.Tensor,
    target: Path,
    fmt: str,
    part: str,
    opset: int,
    atol: float,
    meta: dict,
) -> ExportedFile:
    # the target is replaced only once it checks out (torch.export.load wants a .pt2 name)
    tmp = target.with_name(f".{target.stem}.tmp{target.suffix}")
    sidecar = target.with_name(target.name + ".json")
    in_name = meta["inputs"][0]["name"]
    ex = example[:_EXAMPLE_BATCH]
    if len(ex) < _EXAMPLE_BATCH:  # the check data had one sample
        ex = ex.expand(_EXAMPLE_BATCH, *ex.shape[1:]).contiguous()
    _write_program(wrapper, ex, tmp, fmt, part, opset, meta)

    try:
        diff, runtime = _compare(tmp, fmt, wrapper, example, in_name)
    except Exception:
        tmp.unlink(missing_ok=True)
        raise
    if not math.isfinite(diff) or diff > atol:
        tmp.unlink(missing_ok=True)
        raise ExportError(
            f"the exported {part} differs from the PyTorch model by up to {diff:.3g} "
            f"(allowed {atol:g}) on {meta['check']['inputs']}; the file was not written"
        )
    os.replace(tmp, target)
    meta["check"].update(max_abs_diff=diff, atol=atol, runtime=runtime)
    sidecar.write_text(json.dumps(meta, indent=2) + "\n")
    log.debug("%s: max |diff| %.3g on %s", target, diff, meta["check"]["inputs"])
    return ExportedFile(
        target,
        sidecar,
        part,
        fmt,
        diff,
        meta["check"]["inputs"],
        _signature(meta["inputs"], meta["outputs"]),
    )


def _write_program(wrapper, ex, tmp: Path, fmt: str, part: str, opset: int, meta: dict) -> None:
    """Export ``wrapper`` traced on ``ex`` to ``tmp`` (removed again on any failure)."""
    in_name, out_name = meta["inputs"][0]["name"], meta["outputs"][0]["name"]
    batch = torch.export.Dim("batch")
    try:
        with warnings.catch_warnings():
            # torch's own deprecation notice about its pytree internals: nothing to act on here
            warnings.filterwarnings("ignore", message=".*LeafSpec.*", category=FutureWarning)
            if fmt == "onnx":
                program = torch.onnx.export(
                    wrapper,
                    (ex,),
                    None,
                    dynamo=True,
                    input_names=[in_name],
                    output_names=[out_name],
                    dynamic_shapes=({0: batch},),
                    opset_version=opset,
                    verbose=False,
                )
                wrote = program.model.opset_imports.get("")
                if wrote != opset:  # torch logs a failed conversion and keeps its own opset
                    raise ConfigError(
                        f"torch could not write ONNX opset {opset} (it wrote {wrote}); "
                        f"leave --opset at its default {OPSET}"
                    )
                program.model.metadata_props["aekit"] = json.dumps(meta)
                program.model.doc_string = (
                    f"aekit {meta['model']} {part}: {_signature(meta['inputs'], meta['outputs'])}"
                )
                program.save(tmp, external_data=False)
            else:
                ep = torch.export.export(wrapper, (ex,), dynamic_shapes=({0: batch},))
                torch.export.save(ep, tmp, extra_files={"aekit.json": json.dumps(meta)})
    except ConfigError:
        tmp.unlink(missing_ok=True)
        raise
    except Exception as e:  # the exporters raise many types; the first line says what failed
        tmp.unlink(missing_ok=True)
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ExportError(
            f"could not export the {meta['model']} {part} as {fmt}: {first[:300]}"
            + ("; try --format pt2" if fmt == "onnx" else "; try --format onnx")
        ) from e


def _compare(
    file: Path, fmt: str, wrapper: nn.Module, x: torch.Tensor, in_name: str
) -> tuple[float, str]:
    """Largest |file(x) - wrapper(x)| over batches of len(x) and of 1 (other than the traced
    batch of 2, so the batch dimension is shown to be dynamic); the runtime used."""
    batches = [x, x[:1]]
    if fmt == "onnx":
        import onnxruntime as ort

        sess = ort.InferenceSession(str(file), providers=["CPUExecutionProvider"])
        run = lambda b: torch.from_numpy(sess.run(None, {in_name: b.numpy()})[0])  # noqa: E731
        runtime = f"onnxruntime {importlib.metadata.version('onnxruntime')}"
    else:
        loaded = torch.export.load(file).module()
        run = loaded
        runtime = f"torch {torch.__version__}"
    diffs = []
    for b in batches:
        got, want = run(b), wrapper(b)
        if got.shape != want.shape:
            raise ExportError(
                f"the exported file gives shape {tuple(got.shape)} for a batch of {len(b)}, "
                f"the model {tuple(want.shape)}; the file was not written"
            )
        diffs.append((got.float() - want.float()).abs().max().item())
    return (math.nan if any(map(math.isnan, diffs)) else max(diffs)), runtime
