"""The public door's HTTP limits, each checked over a raw socket: head size,
header lines, URI and body limits (global and per route), the framing rules
(Content-Length, Transfer-Encoding, Host) under which nothing ambiguous is ever
forwarded, slow clients (timeouts, and slowhttptest in slowloris and slow-body
modes), JSON depth, and that every error Kore answers by itself is a
problem+json with a request id.

Most tests run against a gateway of their own (build/bin/yx-gateway on a free
port) whose identity upstream is a recording echo server, so that "never
forwarded" can be checked; the helpers here are shared with
test_gateway_tls.py and test_shutdown.py.
"""
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from conftest import REPO, assert_problem

try:
    import tokens
except ImportError:  # a gateway without access tokens
    tokens = None

HEAD_MAX = 8192  # http_header_max in services/gateway/gateway.conf
HEADER_LINES_MAX = 50  # YX_HTTP_MAX_HEADER_LINES default
URI_MAX = 2048  # YX_HTTP_MAX_URI default
BODY_MAX = 65536  # YX_BODY_MAX default
HEADER_TIMEOUT = 10  # http_header_timeout, seconds
BODY_TIMEOUT = 10  # http_body_timeout, seconds


# --- helpers shared with test_gateway_tls.py and test_shutdown.py ------------------------

# "Authorization: Bearer ..." for requests the gateway forwards (set by the
# private_gateway fixture): every API route but the public auth ones needs it.
AUTH = {}


def auth_line():
    """The Authorization header line for raw requests ("" without one)."""
    return "".join(f"{k}: {v}\r\n" for k, v in AUTH.items())

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RecordingHandler(BaseHTTPRequestHandler):
    """An upstream that records each request and answers with what it got;
    paths under /api/v1/auth/slow/ answer after server.delay seconds."""
    protocol_version = "HTTP/1.1"

    def _reply(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        with self.server.lock:
            self.server.seen.append({"method": self.command, "path": self.path,
                                     "headers": list(self.headers.items()), "body": body})
        if self.path.startswith("/api/v1/auth/slow/"):
            time.sleep(self.server.delay)
        out = json.dumps({"method": self.command, "path": self.path, "length": len(body),
                          "headers": list(self.headers.items())}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _reply

    def log_message(self, *args):
        pass


class RecordingUpstream(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, delay=2.0):
        self.seen = []
        self.delay = delay
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), RecordingHandler)
        self.port = self.server_address[1]
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def paths(self):
        with self.lock:
            return [x["path"] for x in self.seen]

    def stop(self):
        self.shutdown()
        self.server_close()


def gateway_binary():
    path = REPO / os.environ.get("BUILD", "build") / "bin" / "yx-gateway"
    if not path.is_file():
        pytest.skip(f"{path} is not built")
    return path


class PrivateGateway:
    """A yx-gateway of our own on a free port (HTTPS when env carries
    YX_TLS_CERT), stopped by its pid."""

    def __init__(self, workdir, stack, secrets_dir, env, cafile=None):
        self.port = free_port()
        self.scheme = "https" if env.get("YX_TLS_CERT") else "http"
        self.url = f"{self.scheme}://localhost:{self.port}"
        self.verify = str(cafile) if cafile else True
        self.log = workdir / f"gateway-{self.port}.log"
        full = {k: v for k, v in os.environ.items()
                if not k.startswith("YX_") and k not in ("LD_PRELOAD",)}
        full.update({
            "YX_LISTEN": f"127.0.0.1:{self.port}",
            "YX_WORKERS": "1",
            "YX_PIDFILE": str(workdir / f"gateway-{self.port}.pid"),
            "YX_INTERNAL_KEY": (secrets_dir / "internal.key").read_text().strip(),
            "YX_REDIS_HOST": stack.get("YX_STACK_REDIS_HOST", "127.0.0.1"),
            "YX_REDIS_PORT": stack.get("YX_STACK_REDIS_PORT", "6379"),
            "YX_REDIS_USER": "yx_gateway",
            "YX_REDIS_PASSWORD": (secrets_dir / "redis-yx_gateway.pw").read_text().strip(),
            "YX_HEALTH_INTERVAL_MS": "500",
            "YX_JWT_PUBLIC_KEYS": "%s=%s" % (stack.get("YX_STACK_JWT_KID", "k1"),
                                             stack.get("YX_STACK_JWT_PUBLIC_KEY",
                                                       secrets_dir / "jwt-k1.pub.pem")),
        })
        # These tests send far more than a client may: rate limits off.
        for cls in ("AUTH", "READ", "WRITE"):
            for scope in ("IP", "USER"):
                full[f"YX_RL_{cls}_{scope}_PER_MIN"] = "0"
        full.update(env)
        with open(self.log, "ab") as logf:
            self.proc = subprocess.Popen([str(gateway_binary()), "serve"], env=full,
                                         stdout=logf, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 10
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"gateway exited: {self.log_text()[-2000:]}")
            try:
                if requests.get(self.url + "/healthz", timeout=1,
                                verify=self.verify).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError("gateway did not answer /healthz: "
                                     + self.log_text()[-2000:])
            time.sleep(0.05)

    def log_text(self):
        return self.log.read_text(errors="replace")

    def stop(self, timeout=15):
        """SIGTERM, wait; SIGKILL the group if it hangs. Returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        log = self.log_text()
        assert "sandbox violation" not in log
        assert "ERROR: AddressSanitizer" not in log and "runtime error:" not in log, log[-3000:]
        return self.proc.returncode


def start_fails(env, timeout=10):
    """Runs `yx-gateway serve` with env (no other YX_*), expecting it to refuse
    to start; returns (exit code, stderr). A gateway that starts after all is
    stopped with its workers."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("YX_")}
    full.update(env)
    proc = subprocess.Popen([str(gateway_binary()), "serve"], env=full, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise AssertionError(f"the gateway started with {env}")
    return proc.returncode, err


@pytest.fixture(scope="module")
def private_gateway(tmp_path_factory, stack, secrets_dir):
    """private_gateway(YX_...=...) -> a running PrivateGateway; all are
    stopped at the end of the module. Sets AUTH to a valid access token
    minted with the stack's key."""
    workdir = tmp_path_factory.mktemp("gateway")
    started = []
    AUTH.clear()
    if tokens is not None and stack.get("YX_STACK_JWT_PRIVATE_KEY"):
        key = tokens.load_private_key(stack["YX_STACK_JWT_PRIVATE_KEY"])
        # Tokens live 15 minutes at most, longer than any module here runs.
        token, _ = tokens.mint(key, kid=stack.get("YX_STACK_JWT_KID", "k1"), ttl=900,
                               roles=("resident@1",), org="1")
        AUTH["Authorization"] = "Bearer " + token

    def start(cafile=None, **env):
        gw = PrivateGateway(workdir, stack, secrets_dir, env, cafile=cafile)
        started.append(gw)
        return gw

    yield start
    for gw in started:
        gw.stop()


class Response:
    """One HTTP/1.1 response read off a raw socket."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # name (lower case) -> value
        self.body = body

    def json(self):
        return json.loads(self.body)


def read_response(sock):
    """Reads one response (Content-Length framed) from sock; None when the
    connection closed before a status line."""
    data = b""
    while b"\r\n\r\n" not in data:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, socket.timeout):
            chunk = b""
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        body += chunk
    return Response(status, headers, body[:length])


def raw(port, data, timeout=15, host="127.0.0.1"):
    """Sends data as is on a new connection and reads one response."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the gateway may answer and close before all was sent
        return read_response(s)


def check_problem(resp, status, code):
    """resp (a raw Response) is the project's problem+json for code."""
    assert resp is not None, "connection closed without a response"
    where = f"{resp.status}: {resp.body[:300]!r}"
    assert resp.status == status, where
    assert resp.headers.get("content-type", "").startswith("application/problem+json"), where
    body = resp.json()
    assert body["status"] == status and body["code"] == code, where
    assert re.search(r"[\u4e00-\u9fff]", body["title"]), where
    assert body["type"] == "urn:yuexiang:problem:" + code
    assert re.fullmatch(r"[0-9a-f]{32}", resp.headers.get("x-request-id", "")), where
    assert body["request_id"] == resp.headers["x-request-id"]
    return body


# --- fixtures ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def upstream():
    server = RecordingUpstream()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gw(private_gateway, upstream):
    gw = private_gateway(YX_UPSTREAM_IDENTITY=f"127.0.0.1:{upstream.port}",
                         YX_BODY_MAX_ROUTES="/api/v1/auth/big=131072,/api/v1/auth/small=16")
    return gw


def marker():
    return "/api/v1/auth/m-" + uuid.uuid4().hex[:12]


def not_forwarded(upstream, path):
    """True when, a moment later, the upstream has still seen no request for path."""
    time.sleep(0.2)
    return not any(p.startswith(path) for p in upstream.paths())


def get(path, extra="", version="HTTP/1.1"):
    return (f"GET {path} {version}\r\nHost: x\r\n{auth_line()}{extra}"
            "Connection: close\r\n\r\n").encode()


# --- head: bytes, lines, URI -------------------------------------------------------------

def head_of_size(path, size):
    """A GET head of exactly `size` bytes (final CRLFCRLF included)."""
    start = f"GET {path} HTTP/1.1\r\nHost: x\r\n{auth_line()}Connection: close\r\nX-Pad: "
    pad = size - len(start) - 4
    assert pad > 0
    return (start + "p" * pad + "\r\n\r\n").encode()


def test_head_of_8_kib_is_forwarded(gw, upstream):
    path = marker()
    r = raw(gw.port, head_of_size(path, HEAD_MAX))
    assert r.status == 200, r.body
    assert path in upstream.paths()


def test_head_over_8_kib_is_431(gw, upstream):
    path = marker()
    check_problem(raw(gw.port, head_of_size(path, HEAD_MAX + 1)), 431, "header_too_large")
    assert not_forwarded(upstream, path)


def test_50_header_lines_pass_51_are_431(gw, upstream):
    path = marker()
    # Host, Connection and Authorization count too.
    own = 2 + len(AUTH)
    lines = "".join(f"X-H{i}: {i}\r\n" for i in range(HEADER_LINES_MAX - own))
    r = raw(gw.port, get(path, lines))
    assert r.status == 200, r.body
    path2 = marker()
    lines = "".join(f"X-H{i}: {i}\r\n" for i in range(HEADER_LINES_MAX - own + 1))
    check_problem(raw(gw.port, get(path2, lines)), 431, "header_too_large")
    assert not_forwarded(upstream, path2)


def test_many_tiny_header_lines_are_not_silently_dropped(gw, upstream):
    """Kore used to keep the first 24 lines and ignore the rest, so a
    Transfer-Encoding on line 60 was seen by a proxy in front, not by us."""
    path = marker()
    lines = "".join(f"A{i}: 1\r\n" for i in range(60)) + "Transfer-Encoding: chunked\r\n"
    check_problem(raw(gw.port, get(path, lines)), 431, "header_too_large")
    assert not_forwarded(upstream, path)


def test_uri_of_2048_passes_2049_is_414(gw, upstream):
    base = marker() + "/"
    path = base + "u" * (URI_MAX - len(base))
    assert len(path) == URI_MAX
    assert raw(gw.port, get(path)).status == 200
    assert path in upstream.paths()
    path = base + "v" * (URI_MAX + 1 - len(base))
    check_problem(raw(gw.port, get(path)), 414, "uri_too_long")
    assert not_forwarded(upstream, base + "v")


def test_uri_with_query_counts_whole_target(gw, upstream):
    base = marker()
    target = base + "?q=" + "x" * (URI_MAX + 1 - len(base) - 3)
    check_problem(raw(gw.port, get(target)), 414, "uri_too_long")
    assert not_forwarded(upstream, base)


def test_request_line_longer_than_the_head_buffer_is_414(gw, upstream):
    path = marker() + "/" + "w" * (HEAD_MAX + 100)
    check_problem(raw(gw.port, f"GET {path} HTTP/1.1\r\n".encode()), 414, "uri_too_long")


# --- bodies ----------------------------------------------------------------------------

def post(path, body, extra=""):
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
            f"{auth_line()}Content-Length: {len(body)}\r\n{extra}Connection: close\r\n"
            "\r\n").encode() + body


def test_body_of_64_kib_is_forwarded(gw, upstream):
    path = marker()
    r = raw(gw.port, post(path, b"b" * BODY_MAX))
    assert r.status == 200, r.body
    assert r.json()["length"] == BODY_MAX


def test_body_over_64_kib_is_413_before_it_is_sent(gw, upstream):
    path = marker()
    head = (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {BODY_MAX + 1}\r\n"
            "\r\n").encode()
    # The head alone is enough: the answer comes before any body byte.
    check_problem(raw(gw.port, head), 413, "body_too_large")
    assert not_forwarded(upstream, path)


def test_body_limit_per_route(gw, upstream):
    """YX_BODY_MAX_ROUTES: /api/v1/auth/big takes 128 KiB, /api/v1/auth/small
    16 bytes; the rest keeps YX_BODY_MAX. Prefixes match whole segments."""
    r = raw(gw.port, post("/api/v1/auth/big/x", b"b" * 100000))
    assert r.status == 200 and r.json()["length"] == 100000
    check_problem(raw(gw.port, post("/api/v1/auth/big/x", b"b" * 131073)), 413,
                  "body_too_large")
    assert raw(gw.port, post("/api/v1/auth/small", b"s" * 16)).status == 200
    check_problem(raw(gw.port, post("/api/v1/auth/small/1", b"s" * 17)), 413, "body_too_large")
    check_problem(raw(gw.port, post("/api/v1/auth/bigger", b"b" * 100000)), 413,
                  "body_too_large")


def test_bad_body_limit_routes_stop_start_up(tmp_path):
    for bad in ("api=1", "/api=x", "/api=-1", "/api", f"/api={64 * 1024 * 1024}"):
        code, err = start_fails({"YX_BODY_MAX_ROUTES": bad, "YX_INTERNAL_KEY": "00" * 32,
                                 "YX_LISTEN": f"127.0.0.1:{free_port()}",
                                 "YX_PIDFILE": str(tmp_path / "p.pid")})
        assert code == 2 and b"YX_BODY_MAX_ROUTES" in err, (bad, err)


def test_json_depth_is_limited(http, base_url):
    """The services parse bodies with a depth limit of 16 (yx_json)."""
    url = base_url + "/api/v1/auth/login"
    hdrs = {"Content-Type": "application/json"}
    ok = '{"a":' + "[" * 15 + "]" * 15 + "}"
    r = http.post(url, data=ok, headers=hdrs)
    assert r.status_code != 400 or r.json()["code"] != "invalid_json", r.text
    deep = '{"a":' + "[" * 16 + "]" * 16 + "}"
    body = assert_problem(http.post(url, data=deep, headers=hdrs), 400, "invalid_json")
    assert "deep" in body["detail"]
    huge = "[" * 60000 + "]" * 60000
    assert_problem(http.post(url, data=huge, headers=hdrs), 413, "body_too_large")


# --- framing: never forwarded ------------------------------------------------------------

FRAMING = [
    # (id, extra header lines, body, status, code)
    ("cl-and-te", "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n", 400,
     "bad_request"),
    ("te-and-cl", "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", b"0\r\n\r\n", 400,
     "bad_request"),
    ("two-equal-cl", "Content-Length: 2\r\nContent-Length: 2\r\n", b"{}", 400, "bad_request"),
    ("two-cl", "Content-Length: 2\r\nContent-Length: 3\r\n", b"{}x", 400, "bad_request"),
    ("cl-list", "Content-Length: 2, 2\r\n", b"{}", 400, "bad_request"),
    ("cl-plus", "Content-Length: +2\r\n", b"{}", 400, "bad_request"),
    ("cl-negative", "Content-Length: -1\r\n", b"", 400, "bad_request"),
    ("cl-hex", "Content-Length: 0x2\r\n", b"{}", 400, "bad_request"),
    ("cl-letters", "Content-Length: 2a\r\n", b"{}", 400, "bad_request"),
    ("cl-inner-space", "Content-Length: 1 2\r\n", b"{}", 400, "bad_request"),
    ("cl-empty", "Content-Length:\r\n", b"", 400, "bad_request"),
    ("cl-overflow", "Content-Length: 99999999999999999999999\r\n", b"", 400, "bad_request"),
    ("cl-int64-overflow", "Content-Length: 9223372036854775808\r\n", b"", 400, "bad_request"),
    ("te-chunked", "Transfer-Encoding: chunked\r\n", b"2\r\n{}\r\n0\r\n\r\n", 411,
     "length_required"),
    ("te-gzip", "Transfer-Encoding: gzip\r\n", b"", 501, "not_implemented"),
    ("te-chunked-twice-in-list", "Transfer-Encoding: chunked, chunked\r\n", b"", 501,
     "not_implemented"),
    ("te-xchunked", "Transfer-Encoding: xchunked\r\n", b"", 501, "not_implemented"),
    ("te-two-headers", "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", b"", 400,
     "bad_request"),
    ("te-empty", "Transfer-Encoding:\r\n", b"", 501, "not_implemented"),
    ("no-length", "", b"", 411, "length_required"),
]


@pytest.mark.parametrize("extra,body,status,code", [x[1:] for x in FRAMING],
                         ids=[x[0] for x in FRAMING])
def test_post_framing(gw, upstream, extra, body, status, code):
    path = marker()
    data = (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{extra}"
            "\r\n").encode() + body
    check_problem(raw(gw.port, data), status, code)
    assert not_forwarded(upstream, path)


@pytest.mark.parametrize("method", ["GET", "HEAD", "DELETE", "OPTIONS"])
def test_body_on_a_bodyless_method_is_400(gw, upstream, method):
    """Kore reads no body for these: the bytes would become the next request."""
    path = marker()
    smuggled = f"GET {path}-smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
    data = (f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(smuggled)}\r\n"
            f"\r\n{smuggled}").encode()
    with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as s:
        s.sendall(data)
        r = read_response(s)
        if method != "HEAD":
            check_problem(r, 400, "bad_request")
        else:
            assert r.status == 400
        assert read_response(s) is None  # closed: the smuggled request is never read
    assert not_forwarded(upstream, path)


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_transfer_encoding_on_a_bodyless_method_is_400(gw, upstream, method):
    path = marker()
    data = (f"{method} {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            "0\r\n\r\n").encode()
    check_problem(raw(gw.port, data), 400, "bad_request")
    assert not_forwarded(upstream, path)


def test_zero_content_length_on_get_is_fine(gw, upstream):
    path = marker()
    assert raw(gw.port, get(path, "Content-Length: 0\r\n")).status == 200
    assert path in upstream.paths()


def test_smuggling_attempt_with_cl_and_te_gets_one_answer(gw, upstream):
    """The classic CL.TE request: refused whole, the connection closed, the
    hidden request neither answered nor forwarded."""
    path = marker()
    hidden = f"GET {path}-hidden HTTP/1.1\r\nHost: x\r\n\r\n"
    body = f"0\r\n\r\n{hidden}"
    data = (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
            f"Transfer-Encoding: chunked\r\n\r\n{body}").encode()
    with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as s:
        s.sendall(data)
        check_problem(read_response(s), 400, "bad_request")
        assert read_response(s) is None
    assert not_forwarded(upstream, path)


HEADS = [
    ("two-hosts", "GET {p} HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
    ("no-host", "GET {p} HTTP/1.1\r\nX-A: 1\r\n\r\n"),
    ("host-prefix-only", "GET {p} HTTP/1.1\r\nHostile: a\r\n\r\n"),
    ("empty-host", "GET {p} HTTP/1.1\r\nHost:\r\n\r\n"),
    ("bare-cr", "GET {p} HTTP/1.1\r\nHost: a\r\nX-A: 1\rTransfer-Encoding: chunked\r\n\r\n"),
    ("nul", "GET {p} HTTP/1.1\r\nHost: a\r\nX-A: 1\x00 2\r\n\r\n"),
    ("obs-fold", "GET {p} HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n folded\r\n\r\n"),
    ("space-before-colon", "GET {p} HTTP/1.1\r\nHost: a\r\nContent-Length : 0\r\n\r\n"),
    ("no-colon", "GET {p} HTTP/1.1\r\nHost: a\r\nJustAName\r\n\r\n"),
    ("empty-name", "GET {p} HTTP/1.1\r\nHost: a\r\n: value\r\n\r\n"),
    ("bad-request-line", "GET {p}\r\nHost: a\r\n\r\n"),
    ("unknown-method", "BREW {p} HTTP/1.1\r\nHost: a\r\n\r\n"),
]


@pytest.mark.parametrize("template", [x[1] for x in HEADS], ids=[x[0] for x in HEADS])
def test_malformed_heads_are_400(gw, upstream, template):
    path = marker()
    check_problem(raw(gw.port, template.format(p=path).encode("latin-1")), 400, "bad_request")
    assert not_forwarded(upstream, path)


def test_head_ends_at_the_first_empty_line(gw, upstream):
    """Bare LF line ends are accepted (RFC 9112 2.2), and the head ends at the
    first empty line of either kind: a later CRLF CRLF must not pull the
    lines after an LF LF into this request."""
    path = marker()
    auth = auth_line().replace("\r\n", "\n")
    data = f"GET {path} HTTP/1.1\nHost: a\n{auth}\nX-Hidden: 1\r\n\r\n".encode()
    assert raw(gw.port, data).status == 200
    seen = [x for x in upstream.seen if x["path"] == path][0]
    assert "x-hidden" not in {k.lower() for k, _ in seen["headers"]}


def test_http_version_and_method_errors_are_problems(gw):
    check_problem(raw(gw.port, get("/api/v1/auth/x", version="HTTP/2.0")), 505,
                  "http_version_not_supported")
    check_problem(raw(gw.port, b"PUT /api/v1/auth/x HTTP/1.0\r\nHost: x\r\n"
                               b"Content-Length: 0\r\n\r\n"), 405, "method_not_allowed")


def test_empty_header_values_are_accepted_and_forwarded(gw, upstream):
    """RFC 9110 5.5 allows an empty field value, and clients send them; Kore
    used to refuse the whole request."""
    path = marker()
    r = raw(gw.port, get(path, "X-Empty:\r\nX-Also-Empty:   \r\n"))
    assert r.status == 200, r.body
    seen = [x for x in upstream.seen if x["path"] == path][0]
    got = {k.lower(): v for k, v in seen["headers"]}
    assert got["x-empty"] == "" and got["x-also-empty"] == ""


def test_request_limit_answers_503_problem(private_gateway, tmp_path):
    """At http_request_limit requests in flight, Kore answers 503 at once."""
    slow = RecordingUpstream(delay=3.0)
    try:
        gw = private_gateway(YX_UPSTREAM_IDENTITY=f"127.0.0.1:{slow.port}",
                             YX_HTTP_REQUEST_LIMIT="2")
        socks = []
        for i in range(2):
            s = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
            s.sendall(f"GET /api/v1/auth/slow/{i} HTTP/1.1\r\nHost: x\r\n{auth_line()}"
                      "\r\n".encode())
            socks.append(s)
        time.sleep(0.5)
        t0 = time.monotonic()
        check_problem(raw(gw.port, get("/api/v1/auth/x")), 503, "service_unavailable")
        assert time.monotonic() - t0 < 1.0
        for s in socks:
            assert read_response(s).status == 200
            s.close()
    finally:
        slow.stop()


# --- slow clients -----------------------------------------------------------------------

def test_header_timeout_counts_from_the_first_byte(gw):
    """A head trickled one byte a second is cut off with a 408 at
    http_header_timeout, however steady the trickle."""
    with socket.create_connection(("127.0.0.1", gw.port), timeout=30) as s:
        t0 = time.monotonic()
        s.sendall(b"GET /api/v1/auth/x HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        sent = 0
        while time.monotonic() - t0 < HEADER_TIMEOUT + 5:
            if select.select([s], [], [], 1.0)[0]:
                break
            try:
                s.sendall(b"s")
                sent += 1
            except (BrokenPipeError, ConnectionResetError):
                break
        r = read_response(s)
        took = time.monotonic() - t0
    assert sent >= HEADER_TIMEOUT - 2
    check_problem(r, 408, "request_timeout")
    assert HEADER_TIMEOUT - 0.5 <= took <= HEADER_TIMEOUT + 2.5, took


def test_body_timeout(gw, upstream):
    path = marker()
    with socket.create_connection(("127.0.0.1", gw.port), timeout=30) as s:
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\n{auth_line()}Content-Length: 100\r\n"
                  "\r\n0123456789".encode())
        t0 = time.monotonic()
        r = read_response(s)
        took = time.monotonic() - t0
    check_problem(r, 408, "request_timeout")
    assert BODY_TIMEOUT - 0.5 <= took <= BODY_TIMEOUT + 2.5, took
    assert not_forwarded(upstream, path)


def test_silent_connection_is_closed_without_a_408(gw):
    """A connection that never sends a byte (a browser's preconnect) is
    closed at the header timeout with no unsolicited response."""
    with socket.create_connection(("127.0.0.1", gw.port), timeout=30) as s:
        t0 = time.monotonic()
        assert s.recv(100) == b""
        assert HEADER_TIMEOUT - 0.5 <= time.monotonic() - t0 <= HEADER_TIMEOUT + 2.5


def test_idle_keep_alive_waits_for_the_next_request(gw, upstream):
    """The header timeout starts with the next request's first byte, not when
    the previous response left: a kept-alive connection idle longer than it
    still serves."""
    with socket.create_connection(("127.0.0.1", gw.port), timeout=30) as s:
        s.sendall(get(marker(), "").replace(b"Connection: close\r\n", b""))
        assert read_response(s).status == 200
        time.sleep(HEADER_TIMEOUT + 1)
        s.sendall(get(marker(), ""))
        assert read_response(s).status == 200


def _slowhttptest():
    path = shutil.which("slowhttptest")
    if path is None and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-q", "slowhttptest"],
                       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
        path = shutil.which("slowhttptest")
    if path is None:
        pytest.skip("slowhttptest is not installed and could not be installed "
                    "(Debian package slowhttptest, see scripts/deps.sh)")
    return path


@pytest.mark.parametrize("mode", ["-H", "-B"], ids=["slowloris", "slow-body"])
def test_slowhttptest_does_not_take_the_gateway_down(private_gateway, upstream, tmp_path, mode):
    """slowhttptest holds 400 connections open, trickling heads (-H) or bodies
    (-B); the gateway cuts each off at its timeout and keeps answering
    everyone else quickly meanwhile."""
    tool = _slowhttptest()
    gw = private_gateway(YX_UPSTREAM_IDENTITY=f"127.0.0.1:{upstream.port}", YX_WORKERS="2")
    out = tmp_path / "slow"
    proc = subprocess.Popen(
        [tool, mode, "-c", "400", "-r", "200", "-i", "2", "-s", "8192", "-l", "25", "-p", "3",
         "-u", f"http://127.0.0.1:{gw.port}/api/v1/auth/slowtest", "-g", "-o", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    latencies, failures = [], []
    try:
        time.sleep(3)  # let it open its connections
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            t0 = time.monotonic()
            try:
                r = requests.get(gw.url + "/api/v1/auth/jwks", timeout=5)
                if r.status_code != 200:
                    failures.append(r.status_code)
            except requests.RequestException as e:
                failures.append(repr(e))
            latencies.append(time.monotonic() - t0)
            time.sleep(0.2)
        output, _ = proc.communicate(timeout=45)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = re.sub(rb"\x1b\[[0-9;]*m", b"", output).decode(errors="replace")
    assert not failures, failures
    assert max(latencies) < 1.0, max(latencies)
    assert "service available:   NO" not in text, text[-2000:]
    rows = [line.split(",") for line in (tmp_path / "slow.csv").read_text().splitlines()[1:]]
    connected = max(int(r[3]) for r in rows)
    closed = max(int(r[1]) for r in rows)
    assert connected >= 300, text[-2000:]
    # The gateway, not the end of the test, closed them, at its timeout:
    # slowhttptest stops early, well before its 25 s, when none is left.
    assert "No open connections left" in text, text[-2000:]
    assert closed >= connected // 2, rows
    first_closed = min(int(r[0]) for r in rows if int(r[1]) > 0)
    assert HEADER_TIMEOUT - 1 <= first_closed <= HEADER_TIMEOUT + 3, rows
    assert int(rows[-1][0]) <= HEADER_TIMEOUT + 8, rows
    assert "408" in gw.log_text()
