"""The explorer's local web server (standard library `http.server`): the page and its JSON API.

GET  /              the page (one HTML file, inline script, no network)
GET  /api/info      model, data, latent size, image shape, pixel range, the plane's projection
GET  /api/points    plane positions, labels and dataset rows of the sampled points
GET  /api/item?i=N  point N: original and reconstruction (PNG data URIs), code, label
POST /api/decode    {"z": [...]} or {"xy": [a, b]} -> the decoded PNG (?format=png: the PNG itself)
POST /api/grid      {"x": [x0, x1], "y": [y0, y1], "n": 12} -> an n x n grid of decodings

Bad requests get HTTP 400 and {"error": "what to send instead"}; the server keeps running.
A request whose Host (or Origin) is not an address this server serves on gets 403: a web page
elsewhere cannot reach it through a DNS name rebound to this machine.
"""

from __future__ import annotations

import base64
import errno
import ipaddress
import json
import logging
import socket
import socketserver
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aekit.app.explorer import MAX_ABS, BadRequest, Explorer
from aekit.errors import AekitError

log = logging.getLogger(__name__)

MAX_BODY = 1 << 20  # bytes of a POST body
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
MAX_DIGITS = 300  # of a JSON integer: a float holds no more (and int() refuses 4,300)


def page_html() -> bytes:
    """The explorer page, as shipped in the package."""
    return resources.files("aekit.app").joinpath("static/explore.html").read_bytes()


class ExploreServer(ThreadingHTTPServer):
    """A threading HTTP server that holds the :class:`Explorer` its handlers answer from."""

    daemon_threads = True  # Ctrl-C does not wait for open connections
    allow_reuse_port = False  # a second server on a busy port must fail, not share it
    request_queue_size = 256  # the listen backlog: a page's burst of requests is queued, not reset

    def __init__(self, address: tuple[str, int], explorer: Explorer | None = None):
        self.explorer = explorer
        self.page = page_html()
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, Handler)
        bound = str(self.server_address[0]).lower()
        self.wildcard = bound in ("0.0.0.0", "::")
        self.host_names = {address[0].lower().strip("[]"), bound}
        if self.wildcard or _is_loopback(bound):
            self.host_names |= LOOPBACK_NAMES

    def serves(self, netloc: str | None) -> bool:
        """Whether ``netloc`` (a Host header, an Origin's host[:port]) names this server: one of
        its addresses (or localhost on a loopback address) and its port. Listening on every
        interface, any IP address is accepted, but no other name: a name is what a DNS
        rebinding attack needs."""
        if not netloc:
            return False
        try:
            url = urlsplit("//" + netloc)
            name, port = (url.hostname or "").lower(), url.port
        except ValueError:  # a port that is not a number
            return False
        if port is not None and port != self.server_port:
            return False
        return name in self.host_names or (self.wildcard and _is_ip(name))

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # HTTPServer's would look up the host name
        self.server_name, self.server_port = self.server_address[:2]

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        if host in ("0.0.0.0", "::"):  # every interface: this machine can use localhost
            host = "127.0.0.1"
        return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _is_loopback(name: str) -> bool:
    return name == "localhost" or (_is_ip(name) and ipaddress.ip_address(name).is_loopback)


def make_server(host: str = "127.0.0.1", port: int = 8765, explorer: Explorer | None = None):
    """An :class:`ExploreServer` bound to ``host``:``port`` (0: any free port), not yet serving
    (call ``serve_forever()``). A busy port or a bad host raises AekitError with what to pass."""
    try:
        return ExploreServer((host, port), explorer)
    except socket.gaierror as e:
        raise AekitError(
            f"--host {host!r} is not an address ({e.strerror}); pass one like 127.0.0.1"
        ) from None
    except OverflowError:
        raise AekitError(f"--port {port} is not a port; pass one from 0 to 65535") from None
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise AekitError(
                f"port {port} on {host} is in use (another `aekit explore`?); pass another, "
                f"e.g. --port {port + 1}, or --port 0 for any free one"
            ) from None
        if e.errno == errno.EACCES:
            raise AekitError(
                f"port {port} needs privileges here; pass one above 1023, e.g. --port 8765"
            ) from None
        if e.errno == errno.EADDRNOTAVAIL:
            raise AekitError(
                f"--host {host} is not an address of this machine; pass 127.0.0.1"
            ) from None
        raise AekitError(f"cannot listen on {host}:{port} ({e.strerror})") from None


def _jsonable(obj: Any) -> Any:
    """PNG bytes become data URIs; everything else is already JSON."""
    if isinstance(obj, bytes):
        return "data:image/png;base64," + base64.b64encode(obj).decode("ascii")
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    return obj


def _json_int(text: str) -> int:
    """json's ``parse_int``: an integer too long to be a float is refused as it is read, rather
    than failing later where the request's numbers are used."""
    digits = len(text.lstrip("-"))
    if digits > MAX_DIGITS:
        raise BadRequest(
            f"the body has a number of {digits:,} digits; send numbers within ±{MAX_ABS:g}"
        )
    return int(text)


class Handler(BaseHTTPRequestHandler):
    server: ExploreServer
    protocol_version = "HTTP/1.1"
    #: seconds a connection may stall mid-request or sit idle between requests before it is
    #: closed: a client that promises a longer body than it sends does not hold a thread
    timeout = 30.0

    # -- routing -----------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._answer("GET")

    def do_POST(self) -> None:
        self._answer("POST")

    def _foreign(self) -> str | None:
        """Why the request does not come from a page of this server (None when it does)."""
        host, origin = self.headers.get("Host"), self.headers.get("Origin")
        if not self.server.serves(host):
            return f"Host {host!r} is not this server's address"
        if origin is not None:
            o = urlsplit(origin)
            if o.scheme != "http" or not self.server.serves(o.netloc):
                return f"a page of {origin!r} may not use this server"
        return None

    def _answer(self, method: str) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        ex = self.server.explorer
        why = self._foreign()
        if why is not None:
            self._discard_body()
            return self._error(403, f"{why}; open {self.server.url} in a browser on this machine")
        try:
            if url.path in ("/", "/index.html") and method == "GET":
                return self._send(200, self.server.page, "text/html; charset=utf-8")
            routes = {
                ("GET", "/api/info"): lambda: ex.info(),
                ("GET", "/api/points"): lambda: ex.points(),
                ("GET", "/api/item"): lambda: ex.item(query.get("i"), query.get("scale", 1)),
                ("POST", "/api/decode"): lambda: ex.decode(self._body(), query.get("scale", 1)),
                ("POST", "/api/grid"): lambda: ex.grid(self._body()),
            }
            if (method, url.path) not in routes:
                if url.path in {p for _, p in routes} | {"/"}:
                    other = "POST" if method == "GET" else "GET"
                    return self._error(405, f"{url.path} takes {other}, not {method}")
                return self._error(404, f"no {url.path} here; the page is at /")
            if ex is None:
                return self._error(503, "still loading the model and its data; try again")
            result = routes[(method, url.path)]()
            if url.path == "/api/decode" and query.get("format") == "png":
                return self._send(200, result["image"], "image/png")
            self._json(200, _jsonable(result))
        except AekitError as e:  # BadRequest included
            self._error(400, str(e))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the browser went away
        except TimeoutError:  # the body stalled (Handler.timeout): drop the connection
            self.close_connection = True
        except Exception as e:  # keep serving; the log has the traceback
            log.exception("error answering %s %s", method, self.path)
            self._error(500, f"internal error: {type(e).__name__}: {e}")

    def _discard_body(self) -> None:
        """Read the body of a request that is refused unread: closing a connection with unread
        data resets it, and the client may lose the reply."""
        try:
            n = int(self.headers.get("Content-Length", 0))
        except ValueError:
            return
        if 0 < n <= MAX_BODY:
            self.rfile.read(n)

    def _body(self) -> Any:
        try:
            n = int(self.headers.get("Content-Length", 0))
        except ValueError:
            n = -1
        if not 0 < n <= MAX_BODY:
            self.close_connection = True  # the body, if any, is left unread
            raise BadRequest(
                f"send a JSON body of 1 to {MAX_BODY} bytes with its Content-Length, "
                'e.g. {"z": [0.5, -1.0]}'
            )
        raw = self.rfile.read(n)
        try:
            return json.loads(raw, parse_int=_json_int)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise BadRequest(
                f'the body is not JSON ({e}); send e.g. {{"z": [0.5, -1.0]}}'
            ) from None
        except RecursionError:  # e.g. 100,000 nested lists
            raise BadRequest(
                'the body nests too deeply to read; send a flat object, e.g. {"z": [0.5, -1.0]}'
            ) from None

    # -- replies -----------------------------------------------------------------------------
    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        if status >= 400:  # a request body may be left unread: start afresh
            self.close_connection = True
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, obj: Any) -> None:
        self._send(status, json.dumps(obj, allow_nan=False).encode(), "application/json")

    def _error(self, status: int, message: str) -> None:
        try:
            self._json(status, {"error": message})
        except (BrokenPipeError, ConnectionResetError):
            pass

    def send_error(self, code: int, message: str | None = None, explain: str | None = None):
        """http.server's own errors (a malformed request line, an unknown method) as JSON too."""
        self._error(code, message or self.responses.get(code, ("error",))[0])

    def log_message(self, format: str, *args) -> None:
        log.debug("%s %s", self.address_string(), format % args)
