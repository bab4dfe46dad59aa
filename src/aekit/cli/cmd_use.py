"""`aekit generate | encode | decode | reconstruct | denoise`: put a trained model to use."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

from aekit.cli.flags import RUN_DIR, add_run_and_data


def add_parser(sub) -> list[str]:
    g = sub.add_parser(
        "generate",
        help="decode a given code (--z) or draw --n samples to an image grid",
        description="Plain autoencoders sample from a Gaussian fitted to their training codes "
        "(stored in RUN_DIR/prior.json; --prior gmm refits a mixture); VAEs from their prior.",
    )
    g.add_argument("run_dir", help=RUN_DIR)
    g.add_argument(
        "--z",
        nargs="+",
        metavar="Z",
        help="a code to decode: its numbers, e.g. --z 1.19 -3.36 2.06 (or 1.19,-3.36,2.06)",
    )
    g.add_argument("--n", type=int, default=64, help="samples to draw (without --z)")
    g.add_argument("--seed", type=int, default=0, help="random seed: same seed, same images")
    g.add_argument("--prior", choices=["gaussian", "gmm"], help="refit the code prior so")
    g.add_argument("--components", type=int, default=10, help="--prior gmm: mixture components")
    g.add_argument("--scale", type=int, default=1, help="enlarge the image by this factor")
    g.add_argument("--out", default="generated.png", help="image file to write (.png, .jpg, ...)")

    e = sub.add_parser("encode", help="codes of a dataset to a .npy file (labels beside)")
    add_run_and_data(e, "all", "which data to encode (default all)")
    e.add_argument("--out", default="codes.npy", help=".npy file for the codes (N, latent)")

    d = sub.add_parser("decode", help="decode codes from a .npy file to images (.npz or .png)")
    d.add_argument("run_dir", help=RUN_DIR)
    d.add_argument("codes", help=".npy file of codes (N, latent)")
    d.add_argument("--out", default="images.npz", help=".npz (uint8 x) or .png grid")

    for name, help_ in (
        ("reconstruct", "reconstruct image files of any size (written as NAME_recon.png)"),
        ("denoise", "denoise image files of any size with a denoising autoencoder"),
    ):
        r = sub.add_parser(name, help=help_)
        r.add_argument("run_dir", help=RUN_DIR)
        r.add_argument("images", nargs="+", help="PNG/JPEG/... files")
        r.add_argument("--out", help="output file (one input) or folder (several)")
    return ["generate", "encode", "decode", "reconstruct", "denoise"]


def note(msg: str) -> None:
    print(f"aekit: note: {msg}", file=sys.stderr)


def save_png(unit, path: Path, scale: int = 1) -> None:
    """One image (C, H, W) in [0, 1] as a PNG (grey or RGB)."""
    from PIL import Image

    a = (unit.clamp(0, 1).numpy() * 255).round().astype(np.uint8)
    im = Image.fromarray(a[0]) if a.shape[0] == 1 else Image.fromarray(a[:3].transpose(1, 2, 0))
    if scale > 1:
        im = im.resize((im.width * scale, im.height * scale), Image.NEAREST)
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path)


def save_grid(images, path: Path, scale: int = 1) -> None:
    import torch

    from aekit.viz.grids import tile

    t = torch.from_numpy(tile(images, pad=1))  # (H', W') or (H', W', 3)
    t = t[None] if t.dim() == 2 else t.permute(2, 0, 1)
    save_png(t, path, scale)


def run(args) -> int:
    from aekit.run import Run

    run_ = Run.load(args.run_dir)
    return {
        "generate": generate,
        "encode": encode,
        "decode": decode,
        "reconstruct": reconstruct,
        "denoise": reconstruct,
    }[args.command](args, run_)


def _need_images(model, what: str) -> None:
    from aekit.errors import DataError

    if len(model.input_shape) != 3:
        raise DataError(
            f"this model works on rows of {model.input_shape[0]} features, not images; "
            f"{what} needs an image model (use `aekit decode ... --out x.npz` for tables)"
        )


def generate(args, run) -> int:
    import torch

    from aekit.errors import ConfigError
    from aekit.evaluation.evaluate import has_own_prior

    model = run.model
    _need_images(model, "generate")
    check_sizes(args, model.input_shape)
    out = check_image_suffix(Path(args.out))
    if args.z is not None:
        text = " ".join(args.z)
        try:
            z = [float(v) for v in text.replace(",", " ").split()]
        except ValueError:
            raise ConfigError(f"--z {text!r} must be numbers, e.g. --z 1.19 -3.36 2.06") from None
        if len(z) != model.latent_dim:
            raise ConfigError(f"--z has {len(z)} numbers; this model's code has {model.latent_dim}")
        z = check_codes(torch.tensor([z]), model.latent_dim, "--z")
        save_png(run.decode(z)[0], out, args.scale)
    else:
        if args.prior:
            if has_own_prior(model):
                note(f"{model.registry_name} samples from its own prior; --prior is ignored")
            else:
                run.fit_prior(args.prior, args.components)
        save_grid(run.sample(args.n, args.seed), out, args.scale)
    print(out)
    return 0


#: the most images `generate` draws, the largest --scale and the largest PNG it writes
MAX_N, MAX_SCALE, MAX_PIXELS = 4096, 32, 64_000_000
#: the most codes `decode` takes at once
MAX_CODES = 1_000_000
#: the image files `generate`, `reconstruct` and `denoise` write (PIL picks the format by them)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def check_image_suffix(out: Path) -> Path:
    """``out`` when its extension names an image format written here; else a one-line error
    (before any work) naming those that are."""
    from aekit.errors import ConfigError

    if out.suffix.lower() not in IMAGE_SUFFIXES:
        what = f"{out.suffix!r} is not an image format" if out.suffix else "no extension"
        raise ConfigError(f"--out {out}: {what}; end it in one of {', '.join(IMAGE_SUFFIXES)}")
    return out


def refuse_overwrite(out: Path, *inputs) -> None:
    """A one-line error when ``out`` (or a file written beside it) is one of the inputs."""
    from aekit.errors import ConfigError

    for i in inputs:
        if i and Path(i).exists() and Path(i).resolve() == out.resolve():
            raise ConfigError(f"--out {out} is an input of this command; write elsewhere")


def output_paths(files: list[Path], out: str | None, suffix: str) -> list[Path]:
    """Where each reconstruction goes; refused (before any work) when one would overwrite an
    input or another output."""
    from aekit.errors import ConfigError

    if out and len(files) == 1:
        outs = [check_image_suffix(Path(out))]
    elif out:
        outs = [Path(out) / f"{f.stem}{suffix}.png" for f in files]
    else:
        outs = [f.with_name(f"{f.stem}{suffix}.png") for f in files]
    inputs = {f.resolve() for f in files}
    for o in outs:
        if o.resolve() in inputs:
            raise ConfigError(f"{o} is one of the input images; pass --out another file or folder")
    if len({o.resolve() for o in outs}) < len(outs):
        raise ConfigError("two inputs share a file name; pass them from one folder each")
    return outs


def check_sizes(args, shape) -> None:
    """--n, --scale and --components within bounds that fit in memory."""
    from aekit.errors import ConfigError

    if not 1 <= args.n <= MAX_N:
        raise ConfigError(f"--n must be between 1 and {MAX_N}; got {args.n}")
    if not 1 <= args.scale <= MAX_SCALE:
        raise ConfigError(f"--scale must be between 1 and {MAX_SCALE}; got {args.scale}")
    if args.components < 1:
        raise ConfigError(f"--components must be at least 1; got {args.components}")
    side = math.ceil(math.sqrt(1 if args.z is not None else args.n))
    pixels = (side * (shape[1] + 1) * args.scale) * (side * (shape[2] + 1) * args.scale)
    if pixels > MAX_PIXELS:
        raise ConfigError(
            f"the image would have {pixels:,} pixels (over {MAX_PIXELS:,}); lower --n or --scale"
        )


def check_codes(z, latent: int, what: str):
    """Codes (N, latent), finite and not too many; one line naming what is wrong."""
    import torch

    from aekit.errors import DataError

    if z.dim() != 2 or z.shape[1] != latent:
        raise DataError(
            f"{what} must have shape (N, {latent}) for this model; got {tuple(z.shape)}"
        )
    if not 1 <= len(z) <= MAX_CODES:
        raise DataError(f"{what}: between 1 and {MAX_CODES:,} codes at a time; got {len(z)}")
    if not torch.isfinite(z).all():
        raise DataError(f"{what} holds NaN or infinite values; codes must be finite numbers")
    return z


def check_suffix(out: Path, suffixes: tuple[str, ...], what: str) -> Path:
    """``out`` when it ends in one of ``suffixes``; else a one-line error before any work
    (NumPy would append its own extension: codes.txt.npy, and a run's model.safetensors.npy)."""
    from aekit.errors import ConfigError

    if out.suffix.lower() not in suffixes:
        raise ConfigError(f"--out {out}: {what}; end it in {' or '.join(suffixes)}")
    return out


def encode(args, run) -> int:
    out = check_suffix(Path(args.out), (".npy",), "the codes are written as a .npy array")
    refuse_overwrite(out, args.data, out.with_name(out.stem + "_labels.npy"), args.data)
    data = run.data(args.split, args.data, args.data_dir)
    codes = run.encode(run.unit(data))
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as f:  # this very name: np.save(path) appends .npy to codes.NPY
        np.save(f, codes.numpy())
    print(f"{out}  ({len(codes)} codes of size {codes.shape[1]} from {data.name} {data.split})")
    if data.labels is not None:
        lab = out.with_name(out.stem + "_labels.npy")
        np.save(lab, data.labels.numpy())
        print(lab)
    return 0


def decode(args, run) -> int:
    import torch

    from aekit.errors import DataError

    model = run.model
    what = "the images are written as an .npz of arrays or a .png grid"
    out = check_suffix(Path(args.out), (".npz", ".png"), what)
    if out.suffix.lower() == ".png":
        _need_images(model, "a .png grid")
    refuse_overwrite(out, args.codes)
    try:
        with open(args.codes, "rb") as f:
            magic = f.read(6)
        z = np.load(args.codes, allow_pickle=False) if magic == b"\x93NUMPY" else None
    except (OSError, ValueError, EOFError) as e:
        raise DataError(f"cannot read codes from {args.codes!r} ({e}); pass a .npy file") from None
    if not magic:
        raise DataError(f"{args.codes!r} is empty (0 bytes); pass codes saved with np.save")
    if z is None:  # a text file, an .npz, ...: np.load's own error speaks of allow_pickle=
        raise DataError(
            f"{args.codes!r} is not a NumPy .npy file (no .npy header); "
            "save the codes with np.save, e.g. by `aekit encode`"
        )
    if not isinstance(z, np.ndarray) or not np.issubdtype(z.dtype, np.number):
        raise DataError(f"{args.codes!r} is not one array of numbers; save the codes with np.save")
    if np.iscomplexobj(z):
        raise DataError(f"{args.codes!r} holds complex numbers; codes are real")
    z = check_codes(torch.as_tensor(np.asarray(z, dtype=np.float32)), model.latent_dim, "codes")
    x = run.decode(z)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".png":
        save_grid(x, out)
    elif len(model.input_shape) == 3:
        x8 = (x.clamp(0, 1) * 255).round().to(torch.uint8).numpy()
        with open(out, "wb") as f:  # this very name (np.savez_compressed(path) appends .npz)
            np.savez_compressed(f, x=x8)
    else:  # table rows: back to the original feature units
        d = run.info["data"]
        if d.get("lo") is not None:
            lo, hi = torch.tensor(d["lo"]), torch.tensor(d["hi"])
            x = x * (hi - lo) + lo
        names = {"features": np.array(d["features"])} if d.get("features") else {}
        with open(out, "wb") as f:
            np.savez_compressed(f, x=x.numpy(), **names)
    print(f"{out}  ({len(x)} samples)")
    return 0


def reconstruct(args, run) -> int:
    from PIL import Image

    from aekit.data.sources import load_images

    model = run.model
    _need_images(model, args.command)
    c, h, w = model.input_shape
    files = [Path(f) for f in args.images]
    outs = output_paths(files, args.out, "_recon" if args.command == "reconstruct" else "_clean")
    if args.command == "denoise" and run.data_config.get("noise") == "none":
        note("this model was trained without input noise; it reconstructs, it may not denoise")
    if args.out and len(files) > 1:
        Path(args.out).mkdir(parents=True, exist_ok=True)
    for f, out in zip(files, outs):
        ds = load_images([f], grayscale=(c == 1), name=f.stem)  # DataError if unreadable
        orig = ds.x[0]  # (C, H0, W0) uint8
        h0, w0 = orig.shape[1:]
        if (h0, w0) != (h, w):
            note(f"{f.name}: {h0}x{w0} (H x W) resized to the model's {h}x{w} and back")
            ds = load_images([f], image_size=(h, w), grayscale=(c == 1), name=f.stem)
        unit = ds.to_unit(ds.x)  # (1, C, H, W) in [0, 1]
        rec = run.reconstruct(unit)[0].clamp(0, 1)
        save_png(rec, out)
        if (h0, w0) != (h, w):
            with Image.open(out) as im:
                im.resize((w0, h0), Image.BICUBIC).save(out)
        print(out)
    return 0
