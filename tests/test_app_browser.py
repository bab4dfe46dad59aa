"""`aekit explore` in a real (headless) browser: the page's script runs without errors, draws
every point the API sends, and each control shows the decodings the JSON API gives for the codes
it picks. Slow, and skipped without Playwright (`pip install playwright`) and a system chromium
(`apt-get install chromium`; `playwright install` is not needed)."""

from __future__ import annotations

import threading

import pytest
from test_app import get_json, serving

import aekit
from aekit.app import Explorer, make_server

pytestmark = pytest.mark.slow

LATENT = 3  # codes larger than 2-D: the page maps its plane through the PCA projection
N = 300
DEC_SCALE = 224 // 8  # the page asks for 8 x 8 digits enlarged to fit 224 pixels
ITEM_SCALE = 112 // 8
GRID_N, GRID_SCALE = 8, 640 // (8 * 9)  # 8 x 8 cells of 8 + 1 pixels, to fit 640 pixels


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return aekit.train(
        {
            "data": {"name": "digits"},
            "model": {"name": "mlp", "hidden": [32], "latent_dim": LATENT},
            "train": {"epochs": 2, "batch_size": 64, "lr": 3e-3},
            "run": {"out_dir": str(out), "name": "mlp3"},
        },
        report=False,
    ).run_dir


class Watched:
    """A page with its JavaScript errors, console errors and failed requests collected."""

    def __init__(self, browser):
        self.page = browser.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        self.page.on(
            "console",
            lambda m: self.errors.append(f"console: {m.text}") if m.type == "error" else None,
        )
        self.page.on("requestfailed", lambda r: self.errors.append(f"failed: {r.url}"))
        self.page.on(
            "response",
            lambda r: self.errors.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None,
        )

    def open(self, url: str):
        self.page.goto(url)
        self.page.wait_for_function("$('dec').naturalWidth > 0", timeout=15000)
        return self.page


def shows(page, img_id: str, data_uri: str) -> None:
    """Wait until <img id=img_id> shows exactly this PNG (the server's PNGs are deterministic)."""
    page.wait_for_function(
        "([id, src]) => $(id).src === src && $(id).complete", arg=[img_id, data_uri], timeout=10000
    )


def test_explore_page_in_a_browser_draws_the_points_and_decodes_what_each_control_picks(
    browser, run_dir
):
    with serving(run_dir, n=N) as url:
        info, pts = get_json(url + "/api/info"), get_json(url + "/api/points")

        def dec(z, scale=DEC_SCALE):
            return get_json(url + "/api/decode", {"z": z, "scale": scale})["image"]

        w = Watched(browser)
        page = w.open(url)
        assert f"code size {LATENT}" in page.text_content("#meta")
        assert page.locator("#legend span").count() == len(set(pts["labels"])) == 10
        assert page.locator("#sliders input[type=range]").count() == LATENT

        # every point is painted: the canvas is not transparent at each point's centre
        drawn = page.evaluate(
            """() => {
              const d = window.devicePixelRatio, px = ctx.getImageData(0, 0, canvas.width,
                canvas.height).data;
              const alpha = (x, y) =>
                px[4 * (Math.round(y * d) * canvas.width + Math.round(x * d)) + 3];
              return [PTS.xy.length, PTS.xy.filter(([a, b]) => alpha(sx(a), sy(b)) > 0).length];
            }"""
        )
        assert drawn == [N, N]

        # it starts on the mean code, decoded 8 x 8 enlarged to 224 pixels
        shows(page, "dec", dec(info["code_mean"]))
        assert page.eval_on_selector("#dec", "e => [e.naturalWidth, e.naturalHeight]") == [
            8 * DEC_SCALE,
            8 * DEC_SCALE,
        ]

        box = page.locator("#plot").bounding_box()
        x0 = box["x"] + page.evaluate("canvas.clientLeft")  # the drawing, inside the border
        y0 = box["y"] + page.evaluate("canvas.clientTop")

        # hovering over an isolated point shows its original and reconstruction
        i, (px, py) = page.evaluate(
            """() => {
              const s = PTS.xy.map(([a, b]) => [sx(a), sy(b)]);
              const i = s.findIndex(([x, y], i) => x > 60 && x < 540 && y > 20 && y < 520 &&
                s.every(([u, v], j) => j === i || (u - x) ** 2 + (v - y) ** 2 > 100));
              return [i, s[i]];
            }"""
        )
        assert i >= 0
        page.mouse.move(x0 + px, y0 + py)
        page.wait_for_function(
            "i => !$('pointbox').hidden && $('pointcap').textContent.includes(`point ${i} (`)",
            arg=i,
        )
        item = get_json(url + f"/api/item?i={i}&scale={ITEM_SCALE}")
        shows(page, "orig", item["original"])
        shows(page, "recon", item["reconstruction"])
        assert page.eval_on_selector("#orig", "e => e.naturalWidth") == 8 * ITEM_SCALE

        # a click picks the code exactly under the cursor and decodes it
        cx, cy = round(x0 + 300), round(y0 + 250)  # whole viewport pixels, as events report
        page.mouse.click(cx, cy)
        page.wait_for_function("$('deccap').textContent.startsWith('picked at')")
        at = page.evaluate(
            "(() => { const [a, b] = codeToPlane(selected); return [sx(a), sy(b)]; })()"
        )
        assert at == pytest.approx([cx - x0, cy - y0], abs=1e-6)
        picked = page.evaluate("selected")
        shows(page, "dec", dec(picked))
        for k, (lo, hi) in enumerate(zip(*info["code_range"])):  # a slider snaps to its step
            assert abs(float(page.input_value(f"#z{k}")) - picked[k]) <= (hi - lo) / 400

        # a slider edits one dimension of that code
        page.eval_on_selector(
            "#z1", "s => { s.value = s.max; s.dispatchEvent(new Event('input')); }"
        )
        edited = page.evaluate("selected")
        assert edited[0] == picked[0] and edited[2] == picked[2] and edited[1] != picked[1]
        assert edited[1] == float(page.input_value("#z1"))
        shows(page, "dec", dec(edited))

        # dragging pans (and picks nothing), the wheel zooms about the cursor, reset goes home
        v = page.evaluate("view")
        page.mouse.move(cx, cy)
        page.mouse.down()
        page.mouse.move(cx + 50, cy + 20, steps=5)
        page.mouse.up()
        moved = page.evaluate("view")  # the plot: 560 - 58 by 560 - 40 pixels inside margins
        assert moved["x0"] == pytest.approx(v["x0"] - 50 * (v["x1"] - v["x0"]) / (560 - 58))
        assert moved["y0"] == pytest.approx(v["y0"] + 20 * (v["y1"] - v["y0"]) / (560 - 40))
        assert page.evaluate("selected") == edited
        page.mouse.wheel(0, -100)
        page.wait_for_function("v => view.x1 - view.x0 < v", arg=moved["x1"] - moved["x0"])
        zoomed = page.evaluate("view")
        assert (moved["x1"] - moved["x0"]) / (zoomed["x1"] - zoomed["x0"]) == pytest.approx(1.15)
        page.click("#reset")
        (bx0, bx1), (by0, by1) = info["projection"]["bounds"]
        assert page.evaluate("view") == {"x0": bx0, "x1": bx1, "y0": by0, "y1": by1}

        # the grid button decodes an 8 x 8 grid over the visible plane
        page.select_option("#gridn", str(GRID_N))
        page.click("#gridbtn")
        grid = get_json(
            url + "/api/grid",
            {"x": [bx0, bx1], "y": [by0, by1], "n": GRID_N, "scale": GRID_SCALE},
        )
        shows(page, "grid", grid["image"])
        assert not page.eval_on_selector("#gridbox", "e => e.hidden")
        assert (
            page.eval_on_selector("#grid", "e => e.naturalWidth") == (GRID_N * 9 - 1) * GRID_SCALE
        )

        # "Mean code" goes back to the mean
        page.click("#tomean")
        shows(page, "dec", dec(info["code_mean"]))
        assert page.eval_on_selector("#status", "e => e.className") != "bad"
        page.close()
        assert w.errors == []


class ManyPoints:
    """An explorer whose sample is its points repeated to ``n``: the page's start on a large
    labelled sample (`--n 150000`), without encoding one."""

    def __init__(self, explorer: Explorer, n: int):
        self.ex, self.n = explorer, n

    def info(self):
        return self.ex.info() | {"n_points": self.n}

    def points(self):
        p = self.ex.points()
        reps = -(-self.n // len(p["xy"]))
        return {k: (v * reps)[: self.n] for k, v in p.items()}

    def __getattr__(self, name):
        return getattr(self.ex, name)


def test_explore_page_starts_on_150000_labelled_points(browser, run_dir):
    server = make_server("127.0.0.1", 0, ManyPoints(Explorer(run_dir, n=N), 150_000))
    t = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    t.start()
    try:
        w = Watched(browser)
        page = w.open(server.url)
        assert page.evaluate("[PTS.xy.length, INFO.n_classes]") == [150_000, 10]
        assert "150000 of 1797 samples" in page.text_content("#meta")
        page.close()
        assert w.errors == []
    finally:
        server.shutdown()
        server.server_close()
