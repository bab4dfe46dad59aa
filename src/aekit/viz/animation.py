"""The reconstruction grids of successive epochs as one animated GIF."""

from __future__ import annotations

from pathlib import Path


def recon_animation(frames: list[Path], out: Path, ms_per_frame: int = 600) -> Path:
    """Write the PNG ``frames`` (e.g. plots/recon_epoch_*.png, in order) as a looping GIF.

    Not a Figure: an animation is a file; frames of different sizes are padded to the largest.
    """
    from PIL import Image

    if not frames:
        raise ValueError("no frames to animate")
    imgs = [Image.open(f).convert("RGB") for f in frames]
    w = max(i.width for i in imgs)
    h = max(i.height for i in imgs)
    canvas = []
    for im in imgs:
        c = Image.new("RGB", (w, h), "white")
        c.paste(im, (0, 0))
        canvas.append(c.convert("P", palette=Image.ADAPTIVE))
    canvas[0].save(
        out, save_all=True, append_images=canvas[1:], duration=ms_per_frame, loop=0, optimize=False
    )
    return Path(out)
