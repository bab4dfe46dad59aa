"""`aekit explore`: the latent-space page's JSON API answers with the model's own codes and
decodings, maps the plot's plane back to full codes, and turns bad input into clear errors."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import re
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request

import numpy as np
import pytest
import torch
from conftest import without_end_plots
from PIL import Image

import aekit
from aekit.app import Explorer, make_server
from aekit.app.server import Handler
from aekit.cli.main import main

HALF_LEVEL = 0.5 / 255 + 1e-6  # a PNG holds [0, 1] to within half a grey level


@contextlib.contextmanager
def serving(run_dir, **kw):
    """A server for ``run_dir`` on a free port, serving in a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, Explorer(run_dir, **kw))
    t = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    t.start()
    try:
        yield server.url.rstrip("/")
    finally:
        server.shutdown()
        server.server_close()


def call(url: str, body=None) -> tuple[int, bytes, str]:
    """(status, body, content type) of a GET, or of a POST when ``body`` is given (bytes as
    they are, anything else as JSON)."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read(), r.headers["Content-Type"]
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers["Content-Type"]


def get_json(url: str, body=None) -> dict:
    status, raw, ctype = call(url, body)
    assert status == 200 and ctype == "application/json", (status, raw)
    return json.loads(raw)


def png(data) -> np.ndarray:
    """A PNG (bytes or a data URI) as an array, (H, W) grey or (H, W, 3)."""
    if isinstance(data, str):
        head, b64 = data.split(",", 1)
        assert head == "data:image/png;base64"
        data = base64.b64decode(b64)
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "PNG"
        return np.asarray(im).copy()


def decoded(model, z) -> np.ndarray:
    """The oracle: model.decode of codes (N, L), in [0, 1]."""
    with torch.no_grad():
        x = model.decode(torch.as_tensor(np.asarray(z), dtype=torch.float32))
    return (x + 1) / 2 if model.pixel_range == "-11" else x


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Quick runs of each kind the page handles (one or two epochs, no report or figures: about a second
    in all): 2-D codes, 4-D codes of a conv net, a VAE, and a table of 5 features."""
    out = tmp_path_factory.mktemp("runs")
    rows = np.random.default_rng(0).normal(size=(200, 5)).astype(np.float32) * 10 + 3  # (N, D)
    np.save(out / "table.npy", rows)
    specs = {
        "mlp": ("digits", {"name": "mlp", "hidden": [32], "latent_dim": 2}),
        "conv": ("digits", {"name": "conv", "channels": [8, 16], "latent_dim": 4}),
        "vae": ("digits", {"name": "vae", "hidden": [16], "latent_dim": 3}),
        "table": (str(out / "table.npy"), {"name": "mlp", "hidden": [8], "latent_dim": 1}),
    }
    with without_end_plots():
        return {
            name: aekit.train(
                {
                    "data": {"name": data},
                    "model": model,
                    "train": {"epochs": 2, "batch_size": 64, "lr": 3e-3},
                    "run": {"out_dir": str(out), "name": name},
                },
                report=False,
            ).run_dir
            for name, (data, model) in specs.items()
        }


@pytest.fixture(scope="module")
def mlp(runs):
    with serving(runs["mlp"], n=300) as url:
        yield url, aekit.load(runs["mlp"])


@pytest.fixture(scope="module")
def conv(runs):
    with serving(runs["conv"], n=300) as url:
        yield url, aekit.load(runs["conv"])


def test_info_describes_the_model_and_its_plane(mlp):
    url, model = mlp
    info = get_json(url + "/api/info")
    assert info["model"] == "mlp" and info["latent_dim"] == 2
    assert info["input_shape"] == [1, 8, 8] and info["pixel_range"] == "01"
    assert info["data"] == "digits" and info["split"] == "all" and info["has_labels"]
    assert info["n_points"] == 300 and info["n_data"] == 1797  # a sample of the whole dataset
    p = info["projection"]
    assert p["kind"] == "codes" and p["mean"] == [0, 0] and p["components"] == [[1, 0], [0, 1]]


def test_points_are_the_codes_that_aekit_encode_writes(runs, mlp, tmp_path, capsys):
    url, _ = mlp
    pts = get_json(url + "/api/points")
    assert main(["encode", str(runs["mlp"]), "--out", str(tmp_path / "c.npy")]) == 0
    codes, labels = np.load(tmp_path / "c.npy"), np.load(tmp_path / "c_labels.npy")
    idx = np.array(pts["index"])
    assert len(idx) == 300 and len(set(idx)) == 300 and np.all(np.diff(idx) > 0)
    np.testing.assert_array_equal(np.array(pts["xy"]), codes[idx])  # 2-D codes: shown as they are
    np.testing.assert_array_equal(np.array(pts["labels"]), labels[idx])
    assert get_json(url + "/api/points")["index"] == pts["index"]  # a seeded sample


def test_decoding_a_points_code_through_the_api_equals_model_decode(mlp):
    url, model = mlp
    pts = get_json(url + "/api/points")
    for i in (0, 123, 299):
        z = pts["xy"][i]
        got = png(get_json(url + "/api/decode", {"z": z})["image"]) / 255.0
        assert got.shape == (8, 8)
        assert np.abs(got - decoded(model, [z])[0, 0].numpy()).max() <= HALF_LEVEL


def test_decoded_png_has_the_image_shape_enlarged_by_scale(mlp):
    url, model = mlp
    z = [0.3, -0.7]
    one = png(get_json(url + "/api/decode", {"z": z})["image"])
    big = png(get_json(url + "/api/decode", {"z": z, "scale": 5})["image"])
    assert one.shape == (8, 8) and big.shape == (40, 40)
    np.testing.assert_array_equal(big[::5, ::5], one)  # nearest neighbour: each pixel a 5x5 block
    status, raw, ctype = call(url + "/api/decode?format=png", {"z": z})
    assert status == 200 and ctype == "image/png"
    np.testing.assert_array_equal(png(raw), one)


def test_pca_plane_maps_a_points_position_back_to_a_code_that_decodes_the_same(
    runs, conv, tmp_path, capsys
):
    url, model = conv
    info, pts = get_json(url + "/api/info"), get_json(url + "/api/points")
    p = info["projection"]
    mean, comps = np.array(p["mean"]), np.array(p["components"])  # (4,), (2, 4)
    assert p["kind"] == "pca" and "principal components" in p["about"]
    assert main(["encode", str(runs["conv"]), "--out", str(tmp_path / "c.npy")]) == 0
    codes = np.load(tmp_path / "c.npy")[pts["index"]].astype(np.float64)  # (300, 4)
    assert get_json(url + "/api/item?i=9")["z"] == codes[9].tolist()
    # oracle: the top two eigenvectors of the codes' covariance, up to sign
    evals, evecs = np.linalg.eigh(np.cov(codes.T))
    for k in range(2):
        assert abs(abs(evecs[:, -1 - k] @ comps[k]) - 1) < 1e-6
    np.testing.assert_allclose(p["explained"], evals[::-1][:2] / evals.sum(), rtol=1e-6)
    np.testing.assert_allclose(mean, codes.mean(0), atol=1e-9)
    np.testing.assert_allclose(np.array(pts["xy"]), (codes - mean) @ comps.T, atol=1e-9)
    i = 7
    a, b = pts["xy"][i]
    r = get_json(url + "/api/decode", {"xy": [a, b]})
    z = mean + a * comps[0] + b * comps[1]
    np.testing.assert_allclose(r["z"], z, atol=1e-9)
    np.testing.assert_allclose(r["xy"], [a, b], atol=1e-9)
    got = png(r["image"]) / 255.0
    assert np.abs(got - decoded(model, [z])[0, 0].numpy()).max() <= HALF_LEVEL


def test_item_shows_a_points_original_and_its_reconstruction(mlp):
    url, model = mlp
    pts = get_json(url + "/api/points")
    r = get_json(url + "/api/item?i=5&scale=2")
    assert r["index"] == pts["index"][5] and r["label"] == pts["labels"][5]
    assert r["class"] == str(r["label"]) and r["z"] == pts["xy"][5]
    x = aekit.load_dataset("digits", split="all")
    orig = x.to_unit(x.x[r["index"]])[0].numpy()  # (8, 8) in [0, 1]
    assert np.abs(png(r["original"])[::2, ::2] / 255.0 - orig).max() <= HALF_LEVEL
    with torch.no_grad():
        rec = model.reconstruct(torch.from_numpy(orig)[None, None])[0, 0].numpy()
    assert np.abs(png(r["reconstruction"])[::2, ::2] / 255.0 - rec).max() <= HALF_LEVEL


def test_grid_tiles_decodings_over_the_requested_rectangle(mlp):
    url, model = mlp
    r = get_json(url + "/api/grid", {"x": [-2, 2], "y": [-1, 3], "n": 3})
    g = png(r["image"]) / 255.0
    assert g.shape == (3 * 9 - 1, 3 * 9 - 1)  # 3 x 3 cells of 8 x 8, 1-pixel gaps
    assert r["xs"] == [-2, 0, 2] and r["ys"] == [3, 1, -1]  # the top row is the largest y
    ref = decoded(model, [[-2, 3], [2, -1]])[:, 0].numpy()  # the top-left and bottom-right cells
    assert np.abs(g[:8, :8] - ref[0]).max() <= HALF_LEVEL
    assert np.abs(g[-8:, -8:] - ref[1]).max() <= HALF_LEVEL


@pytest.mark.parametrize(
    "path,body,expected",
    [
        ("/api/decode", {"z": [1.0, 2.0, 3.0]}, "list of 2 numbers; got a list of 3"),
        ("/api/decode", b'{"z": [NaN, 1.0]}', "finite"),
        ("/api/decode", {"z": [1e400, 1.0]}, "finite"),
        ("/api/decode", {"z": [1e300, 1.0]}, "within"),
        ("/api/decode", {"z": ["a", 1.0]}, "numbers only"),
        ("/api/decode", b"z=1,2", "not JSON"),
        ("/api/decode", b"", "JSON body"),
        ("/api/decode", {"code": [1, 2]}, '{"z": [2 numbers]}'),
        ("/api/decode", {"z": [1, 2], "scale": 1000}, "scale"),
        # integers too long for a float (400 digits) or for int() itself (5,000)
        pytest.param("/api/decode", b'{"z": [1%s, 1]}' % (b"0" * 400), "within", id="z-big"),
        pytest.param("/api/decode", b'{"z": [1%s, 1]}' % (b"0" * 5000), "within", id="z-huge"),
        pytest.param(
            "/api/grid", b'{"x": [0, 1%s], "y": [0, 1]}' % (b"0" * 400), "within", id="x-big"
        ),
        ("/api/grid", b'{"x": [0, 1], "y": [0, 1], "scale": 1e400}', "scale=inf"),
        ("/api/decode", {"z": [1, 2], "scale": 2.9}, "scale=2.9"),  # not rounded down
        ("/api/decode", {"z": [1, 2], "scale": "3"}, "whole number"),  # not read as text
        ("/api/item?i=5&scale=2.5", None, "whole number"),
        ("/api/grid", {"x": [1, -1], "y": [0, 1]}, "low < high"),
        ("/api/grid", {"x": [-1, 1], "y": [0, 1], "n": 500}, "1 to 30"),
        ("/api/item?i=300", None, "0..299"),
        ("/api/item?i=x", None, "point number"),
    ],
)
def test_bad_requests_get_400_with_a_message_and_the_server_keeps_serving(
    mlp, path, body, expected
):
    url, _ = mlp
    status, raw, ctype = call(url + path, body)
    assert status == 400 and ctype == "application/json"
    assert expected in json.loads(raw)["error"]
    assert get_json(url + "/api/info")["latent_dim"] == 2


def test_unknown_paths_and_methods_get_json_errors_not_pages(mlp):
    url, _ = mlp
    status, raw, _ = call(url + "/nosuch")
    assert status == 404 and "the page is at /" in json.loads(raw)["error"]
    status, raw, _ = call(url + "/api/decode")
    assert status == 405 and "POST" in json.loads(raw)["error"]


def test_page_is_one_self_contained_html_file(mlp):
    url, _ = mlp
    status, raw, ctype = call(url + "/")
    html = raw.decode()
    assert status == 200 and ctype.startswith("text/html")
    assert "<canvas" in html and "/api/decode" in html and "/api/grid" in html
    assert not re.search(r"<(script|link|img)[^>]*(src|href)=\"?https?:", html)  # no CDN
    assert "https://" not in html and "http://" not in html


def test_vae_codes_are_posterior_means_and_decode_like_the_model(runs):
    model = aekit.load(runs["vae"])
    with serving(runs["vae"], n=50) as url:
        r = get_json(url + "/api/item?i=0")
        ds = aekit.load_dataset("digits", split="all")
        with torch.no_grad():
            mu = model.posterior(ds.to_unit(ds.x[r["index"] : r["index"] + 1]))[0][0]
        np.testing.assert_allclose(r["z"], mu.numpy(), atol=1e-6)
        got = png(get_json(url + "/api/decode", {"z": r["z"]})["image"]) / 255.0
        assert np.abs(got - decoded(model, [r["z"]])[0, 0].numpy()).max() <= HALF_LEVEL
        assert get_json(url + "/api/info")["projection"]["kind"] == "pca"  # 3-D codes


def test_table_rows_decode_to_bars_and_values_in_the_datas_units(runs):
    model = aekit.load(runs["table"])
    with serving(runs["table"]) as url:
        info = get_json(url + "/api/info")
        assert info["kind"] == "table" and info["projection"]["kind"] == "line"
        r = get_json(url + "/api/decode", {"xy": [0.4, 123.0]})  # a line: the second is unused
        assert r["z"] == [0.4]
        d = aekit.Run.load(runs["table"]).info["data"]
        lo, hi = np.array(d["lo"]), np.array(d["hi"])
        np.testing.assert_allclose(
            r["values"], decoded(model, [[0.4]])[0].numpy() * (hi - lo) + lo, rtol=1e-5
        )
        assert png(r["image"]).shape == (40, 5 * 8)  # five bars, 8 pixels wide, 40 high
        item = get_json(url + "/api/item?i=0")
        assert len(item["original_values"]) == 5 and len(item["reconstruction_values"]) == 5
        g = get_json(url + "/api/grid", {"x": [-1.0, 1.0], "y": [0.0, 1.0], "n": 4})
        assert len(g["ys"]) == 1  # a 1-D code varies along x only: one row, not 4 equal ones
        assert png(g["image"]).shape == (40, 4 * (5 * 8 + 1) - 1)


def test_explore_on_a_missing_run_dir_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["explore", str(tmp_path / "nope"), "--no-browser", "--port", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("aekit: error:") and "\n" not in err and "not a run folder" in err


def test_explore_on_a_busy_port_is_one_line_and_exit_2(runs, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert main(["explore", str(runs["mlp"]), "--no-browser", "--port", str(port)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("aekit: error:") and "\n" not in err and "in use" in err
    assert f"--port {port + 1}" in err


def test_explore_prints_the_url_serves_and_stops_on_ctrl_c(runs, monkeypatch, capsys):
    import webbrowser

    from aekit.app.server import ExploreServer

    monkeypatch.setattr(webbrowser, "open", lambda *a, **k: pytest.fail("opened a browser"))
    serve, seen = ExploreServer.serve_forever, {}

    def serve_then_ctrl_c(server):
        t = threading.Thread(target=serve, args=(server, 0.02))
        t.start()
        seen["info"] = get_json(server.url + "api/info")
        server.shutdown()
        t.join()
        raise KeyboardInterrupt

    monkeypatch.setattr(ExploreServer, "serve_forever", serve_then_ctrl_c)
    assert main(["explore", str(runs["mlp"]), "--no-browser", "--port", "0", "--n", "40"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^http://127\.0\.0\.1:\d+/ ", out, re.M)
    assert seen["info"]["n_points"] == 40


def raw_request(url: str, head: str, body: bytes = b"") -> int:
    """The status of one hand-written request (``head``: the request line and headers)."""
    host, port = urllib.parse.urlsplit(url).hostname, urllib.parse.urlsplit(url).port
    with socket.create_connection((host, port), timeout=30) as s:
        s.sendall(head.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        return int(s.makefile("rb").readline().split()[1])


def test_a_foreign_host_or_origin_gets_403_and_the_servers_own_names_do_not(mlp):
    url, _ = mlp
    port = urllib.parse.urlsplit(url).port
    get = "GET /api/info HTTP/1.1\r\nHost: {}\r\n"
    assert raw_request(url, get.format("evil.example.com")) == 403  # DNS rebinding
    assert raw_request(url, get.format(f"evil.example.com:{port}")) == 403
    assert raw_request(url, get.format(f"127.0.0.1:{port + 1}")) == 403  # another port
    assert raw_request(url, "GET / HTTP/1.0\r\n") == 403  # no Host at all
    for ok in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost"):
        assert raw_request(url, get.format(ok)) == 200, ok
    post = "POST /api/decode HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nOrigin: {}\r\n"
    body = json.dumps({"z": [0.0, 0.0]}).encode()
    assert raw_request(url, post.format(port, "http://evil.example.com"), body) == 403
    assert raw_request(url, post.format(port, "null"), body) == 403
    assert raw_request(url, post.format(port, f"http://localhost:{port}"), body) == 200
    status, raw, _ = call(url + "/api/info")  # and the page's own requests are served
    assert status == 200 and "run_dir" in json.loads(raw)


def test_a_server_on_every_interface_accepts_ip_addresses_but_no_other_name():
    server = make_server("0.0.0.0", 0)
    try:
        port = server.server_port
        assert server.serves(f"127.0.0.1:{port}") and server.serves(f"10.1.2.3:{port}")
        assert server.serves(f"localhost:{port}") and not server.serves(f"evil.example:{port}")
        assert not server.serves(f"10.1.2.3:{port + 1}") and not server.serves("x:port")
    finally:
        server.server_close()


def test_200_simultaneous_requests_are_all_served(mlp):
    url, _ = mlp
    n = 200
    barrier = threading.Barrier(n)
    status = [None] * n

    def one(i: int) -> None:
        barrier.wait()
        try:
            status[i] = call(url + "/api/info")[0]
        except OSError as e:  # a reset connection
            status[i] = repr(e)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert status == [200] * n, [s for s in status if s != 200][:5]


def test_a_deeply_nested_json_body_is_a_400_not_a_500(mlp):
    url, _ = mlp
    status, raw, _ = call(url + "/api/decode", b"[" * 100_000 + b"]" * 100_000)
    assert status == 400 and "nests too deeply" in json.loads(raw)["error"]
    assert call(url + "/api/info")[0] == 200  # still serving


def test_a_client_that_sends_less_body_than_it_promised_is_dropped_not_waited_for(mlp, monkeypatch):
    url, _ = mlp
    assert 0 < Handler.timeout <= 60  # a stalled client is dropped within a minute
    monkeypatch.setattr(Handler, "timeout", 0.5)  # here within half a second
    host, port = urllib.parse.urlsplit(url).hostname, urllib.parse.urlsplit(url).port
    with socket.create_connection((host, port), timeout=20) as s:
        head = f"POST /api/decode HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: 100\r\n\r\n"
        s.sendall(head.encode() + b'{"z": [0')  # 8 of the 100 bytes, then silence
        assert s.recv(1000) == b""  # the server closed it (without: recv times out, raising)
    assert call(url + "/api/info")[0] == 200  # and it serves the next client
