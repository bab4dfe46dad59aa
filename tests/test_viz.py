"""Every figure kind renders for an MLP and a conv run, with the expected size and panels."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from _tiny_runs import tiny_run
from PIL import Image

import aekit
from aekit.errors import ConfigError
from aekit.report import KINDS, RunFigures, write_figure
from aekit.report.figures import _pairs
from aekit.viz.grids import tile
from aekit.viz.latent import interpolation_grid

H = W = 8  # digits


def tiles_of(fig) -> np.ndarray:
    """The tiled image array of a one-image figure."""
    return fig.axes[0].images[0].get_array()


def grid_shape(rows: int, cols: int, h: int = H, w: int = W, pad: int = 1) -> tuple[int, int]:
    return rows * (h + pad) - pad, cols * (w + pad) - pad


@pytest.fixture(scope="module", params=["mlp", "conv"])
def figs(request) -> RunFigures:
    return RunFigures(tiny_run(request.param))


def test_tile_places_each_image_in_its_cell():
    imgs = torch.arange(6, dtype=torch.float32).view(6, 1, 1, 1).expand(6, 1, 2, 2) / 10
    t = tile(imgs, ncol=3, pad=1, pad_value=1.0)
    assert t.shape == (5, 8)
    assert t[0, 0] == pytest.approx(0.0) and t[3, 6] == pytest.approx(0.5)  # row 1, col 2
    assert t[2, 0] == 1.0  # the padding row


def test_every_kind_writes_its_files(figs):
    for kind in KINDS:
        paths = figs.write(kind)
        assert paths and all(p.is_file() and p.stat().st_size > 0 for p in paths), kind


def test_samples_grid_has_n_panels(figs):
    fig = figs.samples(n=16, seed=1)
    assert tiles_of(fig).shape[:2] == grid_shape(4, 4)


def test_manifold_grid_has_n_by_n_panels(figs):
    fig = figs.manifold(n=5)
    assert tiles_of(fig).shape[:2] == grid_shape(5, 5)


def test_traversal_has_one_row_per_code_unit(figs):
    fig = figs.traversal(steps=5)
    assert tiles_of(fig).shape[:2] == grid_shape(figs.model.latent_dim, 5)


def test_interpolation_has_originals_at_both_ends(figs):
    fig = figs.interpolation(pairs=3, steps=4)
    t = tiles_of(fig)
    assert t.shape[:2] == grid_shape(3, 6)
    a_idx, _ = _pairs(figs.data.labels, len(figs.images), 3)
    assert np.allclose(t[:H, :W], figs.images[a_idx[0], 0].numpy(), atol=1e-6)


def test_interpolation_endpoints_decode_the_endpoint_codes():
    figs = RunFigures(tiny_run("mlp"))
    a, b = figs.images[:1], figs.images[1:2]
    t = tiles_of(interpolation_grid(figs.model, a, b, 3))
    with torch.no_grad():
        dec_a = figs.model.decode(figs.model.encode(a))[0, 0].numpy()
        dec_b = figs.model.decode(figs.model.encode(b))[0, 0].numpy()
    assert np.allclose(t[:H, W + 1 : 2 * W + 1], dec_a, atol=1e-6)  # t = 0
    assert np.allclose(t[:H, 3 * (W + 1) : 4 * W + 3], dec_b, atol=1e-6)  # t = 1


def test_weight_images_show_first_encoder_and_last_decoder_layer(figs):
    enc = figs.weights("encoder", max_tiles=64)
    layer = next(
        m for m in figs.model.encoder.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))
    )
    w = layer.weight
    linear = isinstance(layer, torch.nn.Linear)
    n = min(64, w.shape[0] if linear else w.shape[0] * w.shape[1])  # units, or 1-channel filters
    side = int(np.ceil(np.sqrt(n)))
    h = H if linear else w.shape[-1]
    assert tiles_of(enc).shape[:2] == grid_shape(int(np.ceil(n / side)), side, h, h)
    # the decoder's first tile: its last layer's first unit's outgoing weights (a Linear
    # column over the pixels, or a transposed convolution's first filter), 0.5 = zero weight
    last = [m for m in figs.model.decoder.modules() if hasattr(m, "weight") and m.weight.dim() > 1]
    w = last[-1].weight.detach()
    first = w[:, 0].reshape(H, W) if isinstance(last[-1], torch.nn.Linear) else w[0, 0]
    want = (0.5 + 0.5 * first / first.abs().max()).numpy()
    got = tiles_of(figs.weights("decoder"))[: want.shape[0], : want.shape[1]]
    assert np.allclose(got, want, atol=1e-6)


def test_recon_grid_has_two_rows_of_n_panels(figs):
    fig = figs.recon(n=6)
    assert len(fig.axes) == 2  # one axes a row: its images side by side, 1 white pixel apart
    rows = [ax.images[0].get_array() for ax in fig.axes]
    assert all(r.shape == grid_shape(1, 6) for r in rows)
    assert [ax.get_ylabel() for ax in fig.axes] == ["original", "reconstruction"]


def test_image_rows_put_each_image_in_its_column_and_titles_over_the_first_row():
    from matplotlib.figure import Figure

    from aekit.viz.grids import image_rows

    a = np.random.default_rng(0).random((3, 4, 5))
    fig = Figure()
    image_rows(fig, [a, 1 - a], ["in", "out"], titles=["x", "y", "z"])
    top, bottom = (np.asarray(ax.images[0].get_array()) for ax in fig.axes)
    assert top.shape == (4, 3 * 6 - 1)
    np.testing.assert_allclose(top[:, 12:17], a[2], rtol=1e-6)  # the third image
    np.testing.assert_allclose(bottom[:, 6:11], 1 - a[1], rtol=1e-6)
    assert (top[:, 5] == 1).all() and (top[:, 11] == 1).all()  # white between images
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["x", "y", "z"]
    assert list(fig.axes[0].get_xticks()) == [2.0, 8.0, 14.0]  # over each image's centre


def test_denoiser_recon_grid_has_noisy_reconstruction_clean_rows():
    fig = RunFigures(tiny_run("denoise")).recon(n=5)
    assert len(fig.axes) == 3
    assert [ax.get_ylabel() for ax in fig.axes] == [
        "noisy input",
        "reconstruction",
        "clean original",
    ]


def test_latent_scatter_shows_every_validation_code(figs):
    fig = figs.latent()
    groups = fig.axes[0].collections  # one per class, in label order
    pts = np.concatenate([np.asarray(c.get_offsets()) for c in groups])
    assert len(pts) == len(figs.images)
    if figs.model.latent_dim == 2:  # the codes themselves
        order = np.argsort(figs.data.labels.numpy(), kind="stable")
        assert np.allclose(pts, figs.codes.numpy()[order], atol=1e-5)


def test_latent_classes_differ_in_colour_and_marker_and_avoid_blue_next_to_cyan():
    from matplotlib.colors import to_rgb

    from aekit.viz.palette import COLORS, class_style

    styles = [class_style(i) for i in range(100)]
    assert len(set(styles)) == 100
    assert len({c for c, _ in styles[:10]}) == len({m for _, m in styles[:10]}) == 10
    # tab10's blue (#1f77b4) and cyan (#17becf) are the pair that merged: none of that pair here
    assert not {"#1f77b4", "#17becf"} & {c.lower() for c in COLORS}
    rgb = np.array([to_rgb(c) for c in COLORS])
    dist = np.linalg.norm(rgb[:, None] - rgb[None], axis=-1) + np.eye(len(rgb))
    assert dist.min() > 0.2


@pytest.mark.parametrize("n", [1, 2, 3])
def test_latent_scatter_draws_any_number_of_codes(n):
    from aekit.viz.latent import latent_scatter

    for method in ("auto", "pca", "tsne"):
        fig = latent_scatter(torch.randn(n, 5), torch.arange(n), method=method)
        pts = np.concatenate([np.asarray(c.get_offsets()) for c in fig.axes[0].collections])
        assert pts.shape == (n, 2), method


def test_vae_loss_plot_puts_each_term_on_its_own_axis_with_units():
    from aekit.viz.curves import loss_curves

    recs = [
        {
            "epoch_end": True,
            "epoch": e,
            "train_loss": 30.0 - e,
            "train_recon": 29.0 - e,
            "train_kl": 1.0 + e / 10,
            "val_loss": 31.0 - e,
        }
        for e in range(1, 4)
    ]
    fig = loss_curves(recs, unit="nats per image")
    titles = [a.get_title() for a in fig.axes]
    assert titles == ["Total loss = sum of the terms", "Reconstruction term", "KL term"]
    kl = fig.axes[2].lines[0].get_ydata()
    assert np.allclose(kl, [1.1, 1.2, 1.3]) and fig.axes[2].get_yscale() == "linear"
    assert all(a.get_ylabel() == "nats per image" for a in fig.axes)
    plain = [{k: v for k, v in r.items() if k != "train_kl"} for r in recs]
    assert [a.get_title() for a in loss_curves(plain).axes] == ["Loss"]


def test_points_figure_draws_the_first_principal_component_through_the_mean():
    from aekit.viz.points import points_figure

    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 1, generator=g) * torch.tensor([[3.0, 1.0]]) + torch.tensor([[1.0, 2.0]])
    x += 0.05 * torch.randn(200, 2, generator=g)
    fig = points_figure(x, recon=x, curve=x[:2])
    pc = [ln for ln in fig.axes[0].lines if ln.get_label() == "1st principal component"][0]
    (x0, x1), (y0, y1) = pc.get_xdata(), pc.get_ydata()
    assert abs((y1 - y0) / (x1 - x0) - 1 / 3) < 0.02  # the direction (3, 1)
    m = x.double().mean(0).numpy()  # the line passes through the mean: zero cross product
    assert abs((x1 - x0) * (m[1] - y0) - (y1 - y0) * (m[0] - x0)) < 1e-6
    one = points_figure(x[:1])  # one point: no component to draw, no error
    assert not [ln for ln in one.axes[0].lines if "principal" in ln.get_label()]


def test_animation_has_one_frame_per_saved_epoch():
    run = tiny_run("mlp")
    (gif,) = write_figure(run, "animation")
    frames = sorted((run / "plots").glob("recon_epoch_*.png"))
    with Image.open(gif) as im:
        assert im.n_frames == len(frames) == 2


def test_decode_kind_is_deterministic_and_checks_the_code_length():
    run = tiny_run("mlp")
    (p1,) = write_figure(run, "decode:1.19,-3.36")
    a = np.asarray(Image.open(p1))
    (p2,) = write_figure(run, "decode:1.19,-3.36")
    assert np.array_equal(a, np.asarray(Image.open(p2)))
    with pytest.raises(ConfigError, match="latent size is 2"):
        write_figure(run, "decode:1,2,3")


def test_unknown_kind_lists_the_valid_ones():
    with pytest.raises(ConfigError, match="manifold"):
        write_figure(tiny_run("mlp"), "histogram")


@pytest.mark.parametrize(
    "kind, options, words",
    [
        ("samples", {"n": 100_000}, "--n must be between 1 and 4096"),
        ("samples", {"n": 0}, "--n must be between 1 and 4096"),
        ("manifold", {"n": 100_000}, "--n must be between 1 and 64"),
        ("recon", {"n": -1}, "--n must be between 1 and 64"),
        ("traversal", {"steps": 0}, "--steps must be between 2 and 64"),
        ("interpolation", {"steps": 100_000}, "--steps must be between 2 and 64"),
        ("manifold", {"dims": (1, 1)}, "two different code units"),
        ("traversal", {"dims": [0, 2]}, "out of range for a 2-D code"),
        ("latent:umap", {}, "latent:pca, latent:tsne or latent:codes"),
    ],
)
def test_out_of_range_figure_options_are_refused_before_drawing(kind, options, words):
    run = tiny_run("mlp")
    before = sorted((run / "plots").glob("*"))
    with pytest.raises(ConfigError, match=words):
        write_figure(run, kind, **options)
    assert sorted((run / "plots").glob("*")) == before


def test_figure_png_sizes_follow_the_figure_size():
    run = tiny_run("conv")
    figs = RunFigures(run)
    fig = figs.loss()
    (p,) = write_figure(run, "loss")
    w, h = fig.get_size_inches() * 100
    assert Image.open(p).size == (round(w), round(h))


def test_plain_and_own_prior_samples_are_repeatable():
    figs = RunFigures(tiny_run("conv"))
    a = figs.run.sample(8, seed=5)
    b = aekit.Run.load(figs.run_dir).sample(8, seed=5)
    assert torch.equal(a, b)
    assert not torch.equal(a, figs.run.sample(8, seed=6))


def test_plot_cli_writes_the_kinds_asked_and_rejects_unknown_ones(capsys):
    from aekit.cli.main import main

    run = tiny_run("mlp")
    assert main(["plot", str(run), "--kind", "manifold", "--n", "4", "--kind", "decode:0,0"]) == 0
    out = capsys.readouterr().out.split()
    assert out == [str(run / "plots" / "manifold.png"), str(run / "plots" / "decode_0_0.png")]
    assert main(["plot", str(run), "--kind", "histogram"]) == 2
    assert "unknown figure kind" in capsys.readouterr().err


def test_importing_aekit_and_drawing_leave_the_users_matplotlib_backend_alone(tmp_path):
    run = tiny_run("mlp")
    code = f"""
import sys
import matplotlib
matplotlib.use("svg")
import aekit, aekit.viz, aekit.report
paths = aekit.write_figure({str(run)!r}, "loss") + aekit.write_figure({str(run)!r}, "recon")
assert all(p.stat().st_size > 0 for p in paths)
print(matplotlib.get_backend(), "matplotlib.pyplot" in sys.modules)
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert out.stdout.split() == ["svg", "False"]


def test_table_rows_are_drawn_as_lines_over_named_columns():
    from aekit.viz.rows import rows_figure

    x = torch.rand(10, 5)
    fig = rows_figure(x, x * 0.9, names=list("abcde"))
    ax = fig.axes[0]
    assert len(ax.lines) == 12  # 6 originals + 6 reconstructions
    assert np.allclose(ax.lines[1].get_ydata(), x[0].numpy() * 0.9)
    assert [t.get_text() for t in ax.get_xticklabels()] == list("abcde")
    band = rows_figure(torch.rand(64, 5), data=x)
    assert len(band.axes[0].collections) == 1  # the data's percentile band
