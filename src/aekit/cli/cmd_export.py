"""`aekit export`: a trained model as ONNX or torch.export files that run without aekit."""

from __future__ import annotations

import logging


def add_parser(sub) -> list[str]:
    from aekit.exporter import ATOL, FORMATS, OPSET, PARTS

    p = sub.add_parser(
        "export",
        help="write the encoder/decoder as ONNX (or .pt2) files, checked against the model",
        description="Writes OUT/encoder.onnx (images in the run's pixel range -> codes; a VAE's "
        "posterior mean), decoder.onnx (codes -> images) and autoencoder.onnx (images -> "
        "reconstructions), each with a dynamic batch size and a .json sidecar, and checks each "
        "file against the PyTorch model on validation images. ONNX needs "
        '`pip install -e ".[export]"` (in the aekit checkout); --format pt2 (torch.export) needs only torch.',
    )
    p.add_argument("run_dir", help="a run folder made by `aekit train`")
    p.add_argument(
        "--format", default="onnx", help=f"{' or '.join(FORMATS)} (default onnx, opset {OPSET})"
    )
    p.add_argument("--part", default="all", help=f"{', '.join(PARTS)} or all (default all)")
    p.add_argument("--out", help="output folder, or a file for one --part (default RUN_DIR/export)")
    p.add_argument("--opset", type=int, default=OPSET, help=f"ONNX opset (default {OPSET})")
    p.add_argument(
        "--atol",
        type=float,
        default=ATOL,
        help=f"largest accepted difference from the PyTorch model (default {ATOL:g})",
    )
    return ["export"]


def run(args) -> int:
    import torch  # noqa: F401  (torch sets up its loggers on import; quieten them after)

    from aekit.exporter import export

    # torch.onnx warns once per torchvision operator it skips when torchvision is absent, the
    # ONNX optimiser logs each pass, and a failed opset conversion is logged with a traceback
    # before the exporter's own one-line error says so: none of it is news to the user
    for name in ("torch.onnx", "onnxscript", "onnx_ir"):
        logging.getLogger(name).setLevel(logging.ERROR)
    files = export(args.run_dir, args.out, args.format, args.part, opset=args.opset, atol=args.atol)
    for f in files:
        print(f"{f.path}  ({f.signature}; max |diff| {f.max_abs_diff:.2g} on {f.checked_on})")
    return 0
