"""`aekit data pack DIR --out data.npy`: an image folder packed once into a memory-mappable .npy."""

from __future__ import annotations

import sys


def add_parser(sub) -> list[str]:
    p = sub.add_parser("data", help="prepare data: `aekit data pack DIR --out data.npy`")
    dsub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    pk = dsub.add_parser(
        "pack",
        help="pack an image folder into one uint8 .npy that training memory-maps",
        description="Decodes every image under DIR once (as training on the folder would) and "
        "writes them as one (N, C, H, W) uint8 .npy in sorted path order, and the class of each "
        "(its sub-folder) as NAME_labels.npy beside it. Train on it with `aekit train --data "
        "data.npy`: a file of 256 MiB or more is memory-mapped, so it may be larger than memory.",
    )
    pk.add_argument("folder", metavar="DIR", help="folder of images (class sub-folders optional)")
    pk.add_argument("--out", required=True, help="the .npy to write, e.g. data.npy")
    pk.add_argument(
        "--force",
        action="store_true",
        help="replace an existing --out and its NAME_labels.npy (default: refuse)",
    )
    pk.add_argument(
        "--image-size", type=int, nargs=2, metavar=("H", "W"), help="resize images to H W"
    )
    colour = pk.add_mutually_exclusive_group()
    colour.add_argument(
        "--grayscale",
        dest="grayscale",
        action="store_true",
        default=None,
        help="store one grey channel (default: grey when every image is grey)",
    )
    colour.add_argument("--rgb", dest="grayscale", action="store_false", help="store 3 channels")
    return ["data"]


def run(args) -> int:
    from tqdm.auto import tqdm

    from aekit.data.pack import pack_images

    bars = []  # made at the first image: a refused input is one line on stderr, no empty bar

    def progress(done: int, total: int) -> None:
        if not bars:
            bars.append(tqdm(total=total, unit="img", file=sys.stderr, desc="packing"))
        bars[0].update(done - bars[0].n)

    try:
        packed = pack_images(
            args.folder, args.out, args.image_size, args.grayscale, progress, force=args.force
        )
    finally:
        for bar in bars:
            bar.close()
    n, c, h, w = packed.shape
    what = f"{n} images, {c}x{h}x{w} uint8, {n * c * h * w / 2**20:,.2f} MiB"
    print(f"{packed.out}  ({what})")
    if packed.labels is not None:
        print(
            f"{packed.labels}  ({len(packed.classes)} classes: {', '.join(packed.classes[:8])}"
            f"{', ...' if len(packed.classes) > 8 else ''})"
        )
    print(f"train on it: aekit train --data {packed.out}")
    return 0
