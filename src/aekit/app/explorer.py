"""The latent-space explorer's state: a run's model, a seeded sample of its codes, the 2-D plane
they are shown on, and decoding to PNG images. No HTTP here (that is `server.py`)."""

from __future__ import annotations

import io
import logging
import math
import threading
from pathlib import Path
from typing import Any

import numpy as np
import torch

import aekit
from aekit.errors import AekitError, ConfigError
from aekit.evaluation.pca import PCABaseline

log = logging.getLogger(__name__)

MAX_ABS = 1e9  # largest code value accepted: codes are O(1) to O(100)
MAX_SCALE = 32  # enlargement factor for returned images (nearest neighbour)
MAX_GRID = 30  # cells per side of a decoded grid
MAX_PIXELS = 4096  # longest side of any returned image, after scaling
BAR_HEIGHT = 40  # pixels of a table row drawn as bars


class BadRequest(AekitError, ValueError):
    """A request the explorer cannot answer; the message says what to send instead."""


class Explorer:
    """A trained run ready to explore: ``n`` codes of its data (a seeded sample) and their
    projection onto a plane.

    The plane: codes of size 2 are shown as they are, size 1 on a line (the second coordinate is
    0), larger codes in their first two principal components. ``plane_to_code(a, b)`` is
    ``mean + a * components[0] + b * components[1]``, so every point of the plot is a full code.
    For a VAE the codes are the posterior means (``model.encode``).
    """

    def __init__(
        self,
        run_dir: str | Path,
        n: int = 2000,
        seed: int = 0,
        split: str = "all",
        data: str | None = None,
        data_dir: str | None = None,
    ):
        if n < 1:
            raise ConfigError(f"n = {n} points: show at least one (e.g. --n 2000)")
        self.run = aekit.Run.load(run_dir)  # AekitError for a folder that is not a run
        self.run_dir = self.run.path
        self.split = split  # as asked: Run.data reads "test" as "val" where there is no test set
        self.model = self.run.model
        self._lock = threading.Lock()  # one model call at a time: requests come from threads
        self.dataset = self.run.data(split, data, data_dir)  # as `aekit encode` reads it
        x = self.run.unit(self.dataset)
        g = torch.Generator().manual_seed(seed)
        idx = torch.randperm(len(x), generator=g)[:n].sort().values if len(x) > n else None
        self.index = torch.arange(len(x)) if idx is None else idx  # (n,) rows of the dataset
        self.x = x if idx is None else x[idx].clone()  # (n, *input_shape) in [0, 1]
        labels = self.dataset.labels
        self.labels = None if labels is None else labels[self.index]  # (n,) class ids
        self.codes = self.run.encode(self.x).double()  # (n, L)
        self._fit_plane()
        self.xy = self.code_to_plane(self.codes)  # (n, 2)

    # -- the plane ---------------------------------------------------------------------------
    def _fit_plane(self) -> None:
        L = self.latent_dim
        self.mean = torch.zeros(L, dtype=torch.float64)
        self.components = torch.eye(2, L, dtype=torch.float64)  # (2, L) rows: the plane's axes
        self.explained: list[float] | None = None
        if L == 1:
            self.projection = "line"
        elif L == 2:
            self.projection = "codes"
        else:
            self.projection = "pca"
            pca = PCABaseline.fit(self.codes, 2)  # the same exact PCA as every run's baseline
            self.mean = pca.mean
            comps = pca.components.clone()
            if len(comps) < 2:  # a single code: no plane to fit
                comps = torch.eye(2, L, dtype=torch.float64)
            # a deterministic sign: the largest entry of each axis is positive
            big = comps.abs().argmax(1)
            comps *= torch.sign(comps[torch.arange(2), big])[:, None]
            self.components = comps
            total = float((self.codes - self.mean).square().sum()) / max(len(self.codes) - 1, 1)
            var = pca.explained_variance.tolist()
            self.explained = [v / total if total > 0 else 0.0 for v in var[:2]]
            self.explained += [0.0] * (2 - len(self.explained))

    def plane_to_code(self, ab: torch.Tensor) -> torch.Tensor:
        """Points (N, 2) of the plane -> codes (N, L): mean + a * PC1 + b * PC2."""
        return self.mean + ab.double() @ self.components

    def code_to_plane(self, z: torch.Tensor) -> torch.Tensor:
        """Codes (N, L) -> their orthogonal projection (N, 2) onto the plane."""
        return (z.double() - self.mean) @ self.components.T

    # -- what the endpoints answer -----------------------------------------------------------
    @property
    def latent_dim(self) -> int:
        return int(self.model.latent_dim)

    @property
    def is_image(self) -> bool:
        return len(self.model.input_shape) == 3

    def info(self) -> dict[str, Any]:
        """The model, the data and the plane, for the page's header and axes."""
        L = self.latent_dim
        lo, hi = self.codes.min(0).values, self.codes.max(0).values  # (L,) each
        pad = ((hi - lo) * 0.25).clamp_min(0.5)
        ab_lo, ab_hi = self.xy.min(0).values, self.xy.max(0).values  # (2,)
        ab_pad = ((ab_hi - ab_lo) * 0.05).clamp_min(0.05)
        if self.projection == "pca":
            ex = self.explained
            about = (
                f"the {L}-D codes shown in their first two principal components "
                f"({100 * ex[0]:.0f}% and {100 * ex[1]:.0f}% of the variance); a point (a, b) "
                "of the plane is the code mean + a·PC1 + b·PC2"
            )
            axes = [f"PC1 ({100 * ex[0]:.0f}%)", f"PC2 ({100 * ex[1]:.0f}%)"]
        elif self.projection == "line":
            about = "1-D codes, on the horizontal axis (the vertical one is not used)"
            axes = ["z[0]", "(not used)"]
        else:
            about = "the 2-D codes as they are"
            axes = ["z[0]", "z[1]"]
        return {
            "run": self.run_dir.name,
            "run_dir": str(self.run_dir),
            "model": self.model.registry_name,
            "latent_dim": L,
            "input_shape": list(self.model.input_shape),
            "kind": "image" if self.is_image else "table",
            "pixel_range": self.model.pixel_range,
            "data": self.dataset.name,
            "split": "all" if self.split == "all" else self.dataset.split,
            "n_points": len(self.x),
            "n_data": len(self.dataset),
            "has_labels": self.labels is not None,
            "classes": self.dataset.classes,
            "features": self.dataset.info.get("features"),  # a CSV header's column names
            "projection": {
                "kind": self.projection,
                "mean": self.mean.tolist(),
                "components": self.components.tolist(),
                "explained": self.explained,
                "axes": axes,
                "about": about,
                "bounds": [
                    [float(ab_lo[i] - ab_pad[i]), float(ab_hi[i] + ab_pad[i])] for i in (0, 1)
                ],
            },
            "code_range": [(lo - pad).tolist(), (hi + pad).tolist()],  # slider limits
            "code_mean": self.codes.mean(0).tolist(),
            "max_scale": MAX_SCALE,
        }

    def points(self) -> dict[str, Any]:
        """The sampled data points: plane positions, labels and their rows in the dataset."""
        return {
            "xy": self.xy.tolist(),
            "labels": None if self.labels is None else self.labels.tolist(),
            "index": self.index.tolist(),
        }

    def decode(self, body: Any, scale: int = 1) -> dict[str, Any]:
        """Decode ``{"z": [L numbers]}`` (a full code) or ``{"xy": [a, b]}`` (a point of the
        plane) to an image; returns the code, its plane position and the PNG bytes."""
        if not isinstance(body, dict) or ("z" in body) == ("xy" in body):
            raise BadRequest(
                f'send a JSON object {{"z": [{_count(self.latent_dim)}]}} (a code) or '
                '{"xy": [a, b]} (a point of the plot)'
            )
        if "z" in body:
            z = torch.tensor([_numbers(body["z"], self.latent_dim, "z")], dtype=torch.float64)
        else:
            ab = torch.tensor([_numbers(body["xy"], 2, "xy")], dtype=torch.float64)
            z = self.plane_to_code(ab)
        scale = _scale(body["scale"]) if "scale" in body else _scale(scale, query=True)
        unit = self._decode(z)[0]
        out = {"z": z[0].tolist(), "xy": self.code_to_plane(z)[0].tolist()}
        return out | self._picture(unit, scale)

    def grid(self, body: Any) -> dict[str, Any]:
        """Decode an ``n`` x ``n`` grid of points spread over the plane's rectangle ``x`` by ``y``
        (the classic decoded-latent-grid figure); the top row is the largest y. A 1-D code
        varies along x only: one row of ``n``."""
        if not isinstance(body, dict):
            raise BadRequest('send a JSON object {"x": [x0, x1], "y": [y0, y1], "n": 12}')
        x0, x1 = _numbers(body.get("x"), 2, "x")
        y0, y1 = _numbers(body.get("y"), 2, "y")
        if not (x0 < x1 and y0 < y1):
            raise BadRequest('"x" and "y" must be [low, high] with low < high')
        n = body.get("n", 12)
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_GRID:
            raise BadRequest(f'"n" must be a whole number from 1 to {MAX_GRID}; got {n!r}')
        scale = _scale(body.get("scale", 1))
        rows = 1 if self.latent_dim == 1 else n
        xs = torch.linspace(x0, x1, n, dtype=torch.float64)
        ys = torch.linspace(y1, y0, rows, dtype=torch.float64)  # top row first
        if rows == 1:
            ys = torch.tensor([(y0 + y1) / 2], dtype=torch.float64)
        ab = torch.stack(torch.meshgrid(ys, xs, indexing="ij")[::-1], -1).reshape(-1, 2)
        units = self._decode(self.plane_to_code(ab))  # (rows*n, *input_shape), row by row
        cells = [_pixels(u) for u in units]
        h, w = cells[0].shape[:2]
        shape = (rows * (h + 1) - 1, n * (w + 1) - 1, *cells[0].shape[2:])
        tiled = np.full(shape, 255, np.uint8)
        for k, c in enumerate(cells):
            r, col = divmod(k, n)
            tiled[r * (h + 1) : r * (h + 1) + h, col * (w + 1) : col * (w + 1) + w] = c
        return {"n": n, "xs": xs.tolist(), "ys": ys.tolist(), "image": _png(tiled, scale)}

    def item(self, i: Any, scale: Any = 1) -> dict[str, Any]:
        """Data point ``i`` (0..n_points-1): its original, its reconstruction, code and label."""
        try:
            i = int(i)
        except (TypeError, ValueError):
            raise BadRequest(f"i={i!r} must be a point number, e.g. /api/item?i=0") from None
        if not 0 <= i < len(self.x):
            raise BadRequest(
                f"i={i} is not a point; there are {len(self.x)} (0..{len(self.x) - 1})"
            )
        scale = _scale(scale, query=True)
        with self._lock:
            rec = self.run.reconstruct(self.x[i : i + 1])[0]
        label = None if self.labels is None else int(self.labels[i])
        classes = self.dataset.classes
        orig, recon = self._picture(self.x[i], scale), self._picture(rec, scale)
        return {
            "i": i,
            "index": int(self.index[i]),
            "label": label,
            "class": classes[label]
            if classes and label is not None and label < len(classes)
            else None,
            "z": self.codes[i].tolist(),
            "xy": self.xy[i].tolist(),
            "original": orig["image"],
            "reconstruction": recon["image"],
            "original_values": orig.get("values"),
            "reconstruction_values": recon.get("values"),
        }

    # -- helpers -----------------------------------------------------------------------------
    def _decode(self, z: torch.Tensor) -> torch.Tensor:
        """Codes (N, L) float64 -> samples (N, *input_shape) in [0, 1] units."""
        with self._lock:
            return self.run.decode(z.float())

    def _picture(self, unit: torch.Tensor, scale: int) -> dict[str, Any]:
        """One sample in [0, 1] units as PNG bytes; for a table row also its values in the data's
        own units (None where not finite)."""
        out: dict[str, Any] = {"image": _png(_pixels(unit), scale)}
        if not self.is_image:
            v = unit.double()
            if self.dataset.lo is not None:
                lo, hi = self.dataset.lo.double(), self.dataset.hi.double()
                v = v * (hi - lo) + lo
            out["values"] = [float(a) if math.isfinite(a) else None for a in v.tolist()]
        return out


def _numbers(value: Any, n: int, name: str) -> list[float]:
    """``value`` as a list of ``n`` finite floats, or a BadRequest saying what to send."""
    if not isinstance(value, list) or len(value) != n:
        got = f"a list of {len(value)}" if isinstance(value, list) else type(value).__name__
        raise BadRequest(f'"{name}" must be a list of {_count(n)}; got {got}')
    for k, v in enumerate(value):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise BadRequest(f'"{name}"[{k}] is {v!r}; send numbers only')
        if not math.isfinite(v):
            raise BadRequest(f'"{name}"[{k}] is {v}; send finite numbers (no NaN or infinity)')
        if abs(v) > MAX_ABS:
            raise BadRequest(f'"{name}"[{k}] is {v:g}; send numbers within ±{MAX_ABS:g}')
    return [float(v) for v in value]


def _count(n: int) -> str:
    return f"{n} number" if n == 1 else f"{n} numbers"


def _scale(value: Any, query: bool = False) -> int:
    """A request's ``scale``: a JSON integer from 1 to MAX_SCALE (2.9 or "3" is refused, not
    rounded or read); with ``query``, also the digits of a URL's ``?scale=N``."""
    if query and isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 5:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SCALE:
        raise BadRequest(f"scale={value!r} must be a whole number from 1 to {MAX_SCALE}")
    return value


def _pixels(unit: torch.Tensor) -> np.ndarray:
    """One sample in [0, 1] -> uint8 pixels: (H, W) grey, (H, W, 3) colour, bars for a row (D,).

    Images with 2 or 4+ channels show their first three as RGB (2: side by side, grey)."""
    a = (torch.nan_to_num(unit.float(), nan=0.0).clamp(0, 1) * 255).round().byte().numpy()
    if a.ndim == 3:  # (C, H, W)
        c = a.shape[0]
        if c == 1:
            return a[0]
        if c == 2:
            return np.concatenate([a[0], np.full((a.shape[1], 1), 255, np.uint8), a[1]], 1)
        return np.ascontiguousarray(a[:3].transpose(1, 2, 0))
    # a table row (D,): one bar per feature, height = value in [0, 1], on white
    d = a.reshape(-1).astype(np.int64)
    bar = max(1, min(8, 256 // max(1, len(d))))
    heights = (d * BAR_HEIGHT + 127) // 255  # (D,) pixels
    rows = np.arange(BAR_HEIGHT)[::-1, None]  # (BAR_HEIGHT, 1): 0 at the bottom
    img = np.where(rows < heights[None, :], 60, 255).astype(np.uint8)  # (BAR_HEIGHT, D)
    return np.repeat(img, bar, axis=1)


def _png(pixels: np.ndarray, scale: int = 1) -> bytes:
    """uint8 (H, W) or (H, W, 3) -> PNG bytes, enlarged ``scale`` times (nearest neighbour;
    the longest side is capped at MAX_PIXELS)."""
    from PIL import Image

    im = Image.fromarray(pixels)
    scale = max(1, min(scale, MAX_PIXELS // max(im.width, im.height)))
    if scale > 1:
        im = im.resize((im.width * scale, im.height * scale), Image.NEAREST)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()
