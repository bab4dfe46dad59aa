"""Every figure kind of a run folder, by name: ``write_figure(run_dir, kind)`` -> plots/*.png.

The glue between a run folder (model, data splits, metrics, fitted prior) and the plain
figure functions of :mod:`aekit.viz`, which take tensors and models and return Figures.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

import torch

from aekit.errors import AekitError, ConfigError
from aekit.evaluation.evaluate import has_own_prior
from aekit.run import PLOTS, Run, as_run
from aekit.viz._mpl import Figure

log = logging.getLogger(__name__)

KINDS = (
    "loss",
    "recon",
    "animation",
    "latent",
    "manifold",
    "traversal",
    "interpolation",
    "weights",
    "samples",
)
DPI = 100
#: the range of each kind's counts: a figure of more images than `aekit generate --n` draws
#: (4096) takes gigabytes (a 100000-image grid was killed for memory) and shows nothing more
SIZES = {
    "samples": {"n": (1, 4096)},
    "recon": {"n": (1, 64)},
    "manifold": {"n": (1, 64)},
    "traversal": {"steps": (2, 64)},
    "interpolation": {"steps": (2, 64), "pairs": (1, 64)},
}


class RunFigures:
    """A run folder with its model, validation images and codes loaded once, for many figures."""

    def __init__(self, run: Run | str | Path, model=None):
        self.run = as_run(run, model)
        self.run_dir = self.run.path
        self.info = self.run.info

    @property
    def model(self):
        return self.run.model

    @functools.cached_property
    def data(self):
        return self.run.data("val")

    @functools.cached_property
    def images(self) -> torch.Tensor:
        """Validation images in [0, 1]."""
        return self.run.unit(self.data)

    @functools.cached_property
    def codes(self) -> torch.Tensor:
        return self.run.encode(self.images)

    @property
    def is_image(self) -> bool:
        return self.run.is_image

    def need_images(self, kind: str) -> None:
        if not self.is_image:
            raise AekitError(
                f"the {kind!r} figure shows images, and this run's data are rows of "
                f"{self.info['input_shape'][0]} features; try --kind loss or latent"
            )

    # -- one method per kind -------------------------------------------------------------------
    @property
    def is_points(self) -> bool:
        """Rows of two numbers: drawn as points in the plane, not as 1 x 2 "images"."""
        return list(self.info["input_shape"]) == [2]

    def loss(self, log_scale: bool = True) -> Figure:
        from aekit.viz.curves import loss_curves

        return loss_curves(self.run.metrics(), log_scale=log_scale, unit=loss_unit(self.run))

    def points(self, title: str, samples: torch.Tensor | None = None) -> Figure:
        """The 2-D points with their reconstructions, the decoder's line and the first PC."""
        from aekit.viz.points import points_figure

        z = self.codes
        lo, hi = z[:, 0].min(), z[:, 0].max()
        pad = 0.25 * float(hi - lo) + 1e-3
        line = z.mean(0).repeat(101, 1)  # the other code units (if any) held at their mean
        line[:, 0] = torch.linspace(float(lo) - pad, float(hi) + pad, 101)
        feats = self.info["data"].get("features") or ["x[0]", "x[1]"]
        scaled = " (scaled to [0, 1])" if self.info["data"].get("lo") else ""
        names = (f"{feats[0]}{scaled}", f"{feats[1]}{scaled}")
        recon = None if samples is not None else self.run.reconstruct(self.images)
        curve = self.run.decode(line)
        return points_figure(self.images, recon, curve, names, title, samples)

    def rows(self, x: torch.Tensor, recon: bool = False, title: str = "") -> Figure:
        """Table rows ``x`` as lines over the columns: with their reconstructions (``recon``),
        or (samples) over the band of the validation rows."""
        from aekit.viz.rows import rows_figure

        scaled = self.info["data"].get("lo") is not None
        kw = dict(
            names=self.info["data"].get("features"), ylabel="value" + " (scaled to [0, 1])" * scaled
        )
        if recon:
            title = "Validation rows (solid) and their reconstructions (dashed)"
            return rows_figure(x, self.run.reconstruct(x), title=title, **kw)
        return rows_figure(x, title=title, data=self.images, **kw)

    def recon(self, n: int = 10) -> Figure:
        from aekit.data import corrupt, spread_indices
        from aekit.viz.grids import recon_grid

        if self.is_points:
            return self.points("Points, their reconstructions and the learned line")
        if not self.is_image:
            return self.rows(self.images[spread_indices(len(self.images), 6)], recon=True)
        d = self.run.data_config
        x = self.images[spread_indices(len(self.images), n)]
        if d.get("noise", "none") != "none" and d.get("noise_level", 0) > 0:
            g = torch.Generator().manual_seed(self.run.seed)
            noisy = corrupt(x, d["noise"], d["noise_level"], g)
            return recon_grid(x, self.run.reconstruct(noisy), noisy, title="validation")
        return recon_grid(x, self.run.reconstruct(x), title="validation")

    def latent(self, method: str = "auto", max_points: int = 5000) -> Figure:
        from aekit.viz.latent import latent_scatter

        return latent_scatter(
            self.codes, self.data.labels, self.data.classes, method, max_points=max_points
        )

    def manifold(self, dims: tuple[int, int] = (0, 1), n: int = 15) -> Figure:
        from aekit.viz.latent import manifold_grid

        self.need_images("manifold")
        check_options("manifold", {"dims": dims})
        z = self.codes.double()
        L = z.shape[1]
        dims = tuple(int(d) for d in dims) if L >= 2 else (0, 0)
        if max(dims) >= L:
            raise ConfigError(f"dims {dims} out of range for a {L}-D code; use 0..{L - 1}")
        lo, hi = torch.quantile(z, 0.01, dim=0), torch.quantile(z, 0.99, dim=0)
        ranges = (
            (float(lo[dims[0]]), float(hi[dims[0]])),
            (float(lo[dims[1]]), float(hi[dims[1]])),
        )
        return manifold_grid(self.model, dims, n, ranges, base=z.mean(0).float())

    def traversal(self, steps: int = 9, span: float = 2.5, dims: list[int] | None = None) -> Figure:
        from aekit.viz.latent import traversal_grid

        self.need_images("traversal")
        z = self.codes
        if dims is not None and not all(0 <= d < z.shape[1] for d in dims):
            raise ConfigError(
                f"dims {list(dims)} out of range for a {z.shape[1]}-D code; use 0..{z.shape[1] - 1}"
            )
        scale = z.std(0) if len(z) > 1 else torch.ones(z.shape[1])  # one code: no spread
        return traversal_grid(self.model, z.mean(0), scale, dims, steps, span)

    def interpolation(self, pairs: int = 4, steps: int = 8) -> Figure:
        from aekit.viz.latent import interpolation_grid

        self.need_images("interpolation")
        a_idx, b_idx = _pairs(self.data.labels, len(self.images), pairs)
        return interpolation_grid(self.model, self.images[a_idx], self.images[b_idx], steps)

    def weights(self, which: str = "encoder", max_tiles: int = 64) -> Figure:
        from aekit.viz.weights import weight_images

        self.need_images("weights")
        try:
            return weight_images(self.model, which, max_tiles)
        except ValueError as e:
            raise AekitError(f"no weight images for this model: {e}") from None

    def samples(self, n: int = 64, seed: int = 0) -> Figure:
        from aekit.viz.grids import mosaic

        x = self.run.sample(n, seed)
        own = "prior" if has_own_prior(self.model) else "Gaussian fitted to the training codes"
        if self.is_points:
            return self.points(f"{n} samples ({own}) among the data", samples=x)
        if not self.is_image:
            return self.rows(x, title=f"{n} samples ({own}) over the data")
        return mosaic(x, title=f"{n} samples ({own}), seed {seed}")

    def decode(self, z: list[float]) -> Figure:
        from aekit.viz.latent import decoded_image

        if len(z) != self.model.latent_dim:
            raise ConfigError(
                f"the code has {len(z)} numbers but this model's latent size is "
                f"{self.model.latent_dim}; give {self.model.latent_dim} comma-separated values"
            )
        return decoded_image(self.model, torch.tensor(z, dtype=torch.float32))

    def animation(self, ms_per_frame: int = 600) -> Path:
        from aekit.viz.animation import recon_animation

        frames = sorted((self.run_dir / PLOTS).glob("recon_epoch_*.png"))
        if not frames:
            raise AekitError(
                "no plots/recon_epoch_*.png to animate; train with --set train.recon_every=1"
            )
        return recon_animation(frames, self.run_dir / PLOTS / "recon.gif", ms_per_frame)

    # -- writing ------------------------------------------------------------------------------
    def write(self, kind: str, **options: Any) -> list[Path]:
        """Write one figure kind to plots/; returns the files written."""
        name, opts = parse_kind(kind)
        opts.update(options)
        check_options(name, opts)
        plots = self.run_dir / PLOTS
        plots.mkdir(exist_ok=True)
        if name == "animation":
            return [self.animation(**opts)]
        if name == "decode":
            z = opts.pop("z")
            stem = "decode_" + "_".join(f"{v:g}" for v in z)
            return [_save(self.decode(z), plots / f"{stem}.png")]
        if name == "weights" and "which" not in opts:
            out = [_save(self.weights("encoder", **opts), plots / "weights_encoder.png")]
            try:
                out.append(_save(self.weights("decoder", **opts), plots / "weights_decoder.png"))
            except AekitError as e:
                log.info("%s", e)
            return out
        fig = getattr(self, name)(**opts)
        suffix = ""
        if name == "latent" and opts.get("method") == "tsne":
            suffix = "_tsne"
        if name == "weights":
            suffix = f"_{opts['which']}"
        return [_save(fig, plots / f"{name}{suffix}.png")]


def parse_kind(kind: str) -> tuple[str, dict[str, Any]]:
    """ "latent" -> ("latent", {}); "decode:1.19,-3.36" -> ("decode", {"z": [1.19, -3.36]});
    "latent:tsne" -> ("latent", {"method": "tsne"})."""
    name, _, arg = kind.partition(":")
    name = name.strip()
    if name == "decode":
        try:
            return name, {"z": [float(v) for v in arg.split(",") if v.strip()]}
        except ValueError:
            raise ConfigError(
                f"cannot read the code in {kind!r}; write it like decode:1.19,-3.36,2.06"
            ) from None
    if name not in KINDS:
        raise ConfigError(
            f"unknown figure kind {kind!r}; choose one of: {', '.join(KINDS)}, decode:Z1,Z2,..."
        )
    if arg and name == "latent":
        from aekit.viz.latent import PROJECTIONS

        if arg not in PROJECTIONS:
            raise ConfigError(
                f"unknown projection in {kind!r}; write latent:pca, latent:tsne or latent:codes"
            )
        return name, {"method": arg}
    if arg and name == "weights":
        return name, {"which": arg}
    return name, {}


def check_options(name: str, opts: dict[str, Any]) -> None:
    """Raise ConfigError on a count of figure ``name`` out of its range (:data:`SIZES`) or on a
    manifold over one code unit twice; before any work, so nothing is written."""
    for key, (lo, hi) in SIZES.get(name, {}).items():
        v = opts.get(key)
        if v is not None and not lo <= v <= hi:
            raise ConfigError(f"--kind {name}: --{key} must be between {lo} and {hi}; got {v}")
    dims = opts.get("dims")
    if name == "manifold" and dims is not None:
        if min(dims) < 0:
            raise ConfigError(
                f"--dims {' '.join(map(str, dims))}: code units are numbered from 0, e.g. --dims 0 1"
            )
        if len(set(dims)) < 2:
            raise ConfigError(
                f"--dims {' '.join(map(str, dims))}: the manifold needs two different code "
                "units, one per axis, e.g. --dims 0 1"
            )


def check_kinds(kinds: list[str]) -> None:
    """Raise ConfigError on a ``run.after`` entry that names no figure kind. The config checks
    only the form (it sits below report); this runs before a run folder is written."""
    for kind in kinds:
        try:
            parse_kind(kind)
        except ConfigError as e:
            raise ConfigError(f"run.after: {e}") from None


def write_figure(run_dir: Run | str | Path, kind: str, model=None, **options: Any) -> list[Path]:
    """Write figure ``kind`` of a run folder to run_dir/plots/ and return the files written.

    Kinds: loss, recon, animation (GIF), latent (latent:tsne), manifold, traversal,
    interpolation, weights (weights:encoder / weights:decoder), samples, decode:Z1,Z2,...
    """
    return RunFigures(run_dir, model).write(kind, **options)


def loss_unit(run: Run) -> str:
    """What the training loss measures, from the model's reduction and the configured loss."""
    model = run.model
    if model.variational:
        return "nats per image"
    per = "per image" if model.loss_reduction == "sum" else "per value"
    per = "per pixel" if per == "per value" and run.is_image else per
    loss = run.info["config"]["train"].get("loss", "mse")
    names = {"bce": f"cross-entropy {per} (nats)", "l1": f"absolute error {per}"}
    return names.get(loss, f"squared error {per}" if loss == "mse" else f"{loss} loss {per}")


def _save(fig: Figure, path: Path) -> Path:
    fig.savefig(path, dpi=DPI)
    return path


def _pairs(labels: torch.Tensor | None, n: int, pairs: int) -> tuple[list[int], list[int]]:
    """Index pairs of images to interpolate between: different classes when labelled."""
    pairs = min(pairs, max(1, n // 2))
    if labels is None:
        return list(range(pairs)), list(range(n - 1, n - 1 - pairs, -1))
    firsts = {}
    for i, y in enumerate(labels.tolist()):
        firsts.setdefault(y, i)
    ids = list(firsts.values())
    if len(ids) < 2:
        return list(range(pairs)), list(range(n - 1, n - 1 - pairs, -1))
    a = [ids[i % len(ids)] for i in range(pairs)]
    b = [ids[(i + 1) % len(ids)] for i in range(pairs)]
    return a, b
