"""The gateway's forwarding core: routing by path prefix, the request it sends
upstream (request id, X-Forwarded-For, signed identity, no client-forged X-Yx-*
or hop-by-hop headers), the response it relays, and how it fails when an
upstream is down, hung, broken or the client leaves.

The stack's gateway is used where the real services suffice. Everything that
needs a special upstream starts a gateway of its own (build/bin/yx-gateway on
a free port) in front of small Python servers on 127.0.0.1, and stops it by
pid afterwards. Requests to the test upstreams carry an access token minted
with the stack's key (tests/api/tokens.py), since only the public auth routes
pass without one (test_gateway_auth.py covers authentication itself).
"""
import json
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

import idhdr
import tokens
from conftest import REPO, assert_problem

HEX32 = set("0123456789abcdef")
# The Authorization header of this module's requests (set by api_token).
AUTH = {}


class _Api:
    """requests' calls with the module's access token added."""

    def request(self, method, url, headers=None, **kw):
        h = dict(AUTH)
        h.update(headers or {})
        return requests.request(method, url, headers=h, **kw)

    def get(self, url, **kw):
        return self.request("GET", url, **kw)

    def head(self, url, **kw):
        return self.request("HEAD", url, **kw)

    def post(self, url, **kw):
        return self.request("POST", url, **kw)


api = _Api()


# --- helpers --------------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EchoHandler(BaseHTTPRequestHandler):
    """An upstream that answers what it received, with a few special paths."""
    protocol_version = "HTTP/1.1"

    def _reply(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        self.server.seen.append({"method": self.command, "path": self.path,
                                 "headers": list(self.headers.items()), "body": body,
                                 "client_port": self.client_address[1]})
        if self.path == "/healthz":
            return self._send(200, b'{"status":"ok"}')
        if self.path.startswith("/api/v1/auth/status/"):
            return self._send(int(self.path.rsplit("/", 1)[1]), b'{"teapot":true}',
                              extra=[("X-Upstream", "yes"), ("Connection", "X-Private"),
                                     ("X-Private", "hop"), ("Keep-Alive", "timeout=5"),
                                     ("Proxy-Thing", "1"), ("X-Request-Id", "upstream-own-id")])
        if self.path.startswith("/api/v1/auth/big"):
            return self._send(200, b"x" * int(self.path.split("=", 1)[1]))
        out = json.dumps({"method": self.command, "path": self.path,
                          "headers": list(self.headers.items()),
                          "body": body.decode("utf-8", "replace")}).encode()
        if self.path.startswith("/api/v1/auth/chunked"):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(out), 5):
                piece = out[i:i + 5]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\nX-Trailer: t\r\n\r\n")
            return None
        return self._send(200, out)

    def _send(self, status, body, extra=()):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        return None

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _reply

    def log_message(self, *args):
        pass


class EchoServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the gateway may open many connections at once

    def __init__(self):
        self.seen = []
        super().__init__(("127.0.0.1", 0), EchoHandler)
        self.port = self.server_address[1]
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def stop(self):
        self.shutdown()
        self.server_close()


class RawServer:
    """A TCP server whose connections are handled by `handler(conn, server)`
    in a thread each; records accepted connections."""

    def __init__(self, handler):
        self.handler = handler
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.requests = []
        self.closed = []
        self.lock = threading.Lock()
        self.running = True
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.conns.append(conn)
            threading.Thread(target=self.handler, args=(conn, self), daemon=True).start()

    def stop(self):
        self.running = False
        self.sock.close()
        with self.lock:
            for c in self.conns:
                try:
                    c.close()
                except OSError:
                    pass


def read_request(conn):
    """One HTTP/1.1 request (head + Content-Length body) from conn, or None at EOF."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(rest) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        rest += chunk
    return head.split(b"\r\n")[0].decode()


def hang_handler(conn, server):
    """Accept, read, never answer; note the request line of each connection
    the gateway closes."""
    data = b""
    try:
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
    except OSError:
        return
    with server.lock:
        server.closed.append(data.split(b"\r\n", 1)[0].decode(errors="replace"))


def garbage_handler(conn, server):
    """Answer every request with something that is not HTTP."""
    if read_request(conn) is not None:
        conn.sendall(b"SMTP ready\r\n\r\n")
    conn.close()


def stale_handler(conn, server):
    """Answer the first request of a connection (keep-alive), then read the
    next one and close without answering, as a server that has just timed
    out an idle connection does."""
    first = read_request(conn)
    if first is None:
        return
    with server.lock:
        server.requests.append(first)
    body = b'{"ok":true}'
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    second = read_request(conn)
    if second is not None:
        with server.lock:
            server.requests.append(second)
    conn.close()


@pytest.fixture(scope="module")
def gateway_bin():
    path = REPO / os.environ.get("BUILD", "build") / "bin" / "yx-gateway"
    if not path.is_file():
        pytest.skip(f"{path} is not built")
    return path


@pytest.fixture(scope="module")
def internal_key(secrets_dir):
    return (secrets_dir / "internal.key").read_text().strip()


class Gateway:
    """A yx-gateway of our own on a free port, stopped by pid."""

    def __init__(self, binary, workdir, stack, secrets_dir, internal_key, env):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"gateway-{self.port}.log"
        full = {k: v for k, v in os.environ.items()
                if not k.startswith("YX_") and k not in ("LD_PRELOAD",)}
        full.update({
            "YX_LISTEN": f"127.0.0.1:{self.port}",
            "YX_WORKERS": "1",
            "YX_PIDFILE": str(workdir / f"gateway-{self.port}.pid"),
            "YX_INTERNAL_KEY": internal_key,
            "YX_REDIS_HOST": stack.get("YX_STACK_REDIS_HOST", "127.0.0.1"),
            "YX_REDIS_PORT": stack.get("YX_STACK_REDIS_PORT", "6379"),
            "YX_REDIS_USER": "yx_gateway",
            "YX_REDIS_PASSWORD": (secrets_dir / "redis-yx_gateway.pw").read_text().strip(),
            "YX_HEALTH_INTERVAL_MS": "500",
            "YX_JWT_PUBLIC_KEYS": "%s=%s" % (stack.get("YX_STACK_JWT_KID", "k1"),
                                             stack.get("YX_STACK_JWT_PUBLIC_KEY",
                                                       secrets_dir / "jwt-k1.pub.pem")),
        })
        full.update(env)
        with open(self.log, "ab") as logf:
            self.proc = subprocess.Popen([str(binary), "serve"], env=full, stdout=logf,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        deadline = time.monotonic() + 10
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"gateway exited: {self.log.read_text()[-2000:]}")
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError("gateway did not answer /healthz")
            time.sleep(0.05)

    def wait_health(self, want, timeout=5):
        """Wait until /healthz reports the upstream states in `want`."""
        deadline = time.monotonic() + timeout
        while True:
            got = requests.get(self.url + "/healthz", timeout=2).json()["upstreams"]
            if all(got.get(k) == v for k, v in want.items()) or time.monotonic() > deadline:
                return got
            time.sleep(0.1)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        assert "sandbox violation" not in self.log.read_text(errors="replace")


@pytest.fixture(scope="module")
def start_gateway(gateway_bin, tmp_path_factory, stack, secrets_dir, internal_key):
    """start_gateway(YX_UPSTREAM_IDENTITY=..., ...) -> a running Gateway."""
    workdir = tmp_path_factory.mktemp("gateway")
    started = []

    def start(**env):
        gw = Gateway(gateway_bin, workdir, stack, secrets_dir, internal_key, env)
        started.append(gw)
        return gw

    yield start
    for gw in started:
        gw.stop()


@pytest.fixture(scope="module", autouse=True)
def api_token(stack):
    """A valid access token for this module's requests; its claims."""
    key = tokens.load_private_key(stack["YX_STACK_JWT_PRIVATE_KEY"])
    token, claims = tokens.mint(key, kid=stack.get("YX_STACK_JWT_KID", "k1"), ttl=900,
                                roles=("resident@1", "volunteer@2"), org="1")
    AUTH["Authorization"] = "Bearer " + token
    yield claims
    AUTH.clear()


@pytest.fixture(scope="module")
def echo():
    server = EchoServer()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def hang():
    server = RawServer(hang_handler)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gw(start_gateway, echo, hang):
    """identity -> the echo server, mall -> a closed port, hall -> a server
    that never answers, wishwall not deployed."""
    gw = start_gateway(YX_UPSTREAM_IDENTITY=f"127.0.0.1:{echo.port}",
                       YX_UPSTREAM_MALL=f"127.0.0.1:{free_port()}",
                       YX_UPSTREAM_HALL=f"127.0.0.1:{hang.port}",
                       YX_UPSTREAM_TIMEOUT_MS="1500",
                       YX_HEALTH_INTERVAL_MS="200",
                       YX_HEALTH_TIMEOUT_MS="300")
    gw.wait_health({"identity": "up"})
    return gw


def headers_of(seen):
    """name (lower case) -> [values] of one recorded upstream request."""
    out = {}
    for k, v in seen["headers"]:
        out.setdefault(k.lower(), []).append(v)
    return out


def auth_line():
    """The module's Authorization header as a raw header line."""
    return "".join(f"{k}: {v}\r\n" for k, v in AUTH.items())


def raw_request(port, text, timeout=10):
    """Send `text` as is (no client-side path clean-up), with the module's
    Authorization header after the request line; return (status, body)."""
    first, _, rest = text.partition("\r\n")
    text = first + "\r\n" + auth_line() + rest
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(text.encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep:
                length = [int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:")]
                if length and len(body) >= length[0]:
                    break
    return int(data.split(b" ", 2)[1]), body


# --- through the stack's gateway ----------------------------------------------------

def test_forwards_to_identity(http, base_url):
    r = http.get(base_url + "/api/v1/auth/jwks")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    assert isinstance(r.json()["keys"], list)


def test_request_id_accepted_generated_and_returned(http, base_url):
    rid = "gw-" + uuid.uuid4().hex[:16]
    r = http.get(base_url + "/api/v1/auth/jwks", headers={"X-Request-Id": rid})
    assert r.headers["X-Request-Id"] == rid

    for bad in (None, "short", "bad id with spaces", "x" * 65):
        h = {} if bad is None else {"X-Request-Id": bad}
        r = http.get(base_url + "/api/v1/auth/jwks", headers=h)
        assert r.status_code == 200
        got = r.headers["X-Request-Id"]
        assert got != bad and len(got) == 32 and set(got) <= HEX32


@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/v1/authx", "/api/v1/mallx/1",
                                  "/api/v2/auth/jwks", "/nothing/here"])
def test_unknown_prefix_is_404_problem(http, base_url, path):
    assert_problem(http.get(base_url + path), 404, "route_not_found")


def test_healthz_reports_upstreams(http, base_url, started_services):
    body = http.get(base_url + "/healthz").json()
    assert body["status"] == "ok" and body["service"] == "gateway"
    assert set(body["upstreams"]) == {"identity", "mall", "hall", "wishwall"}
    for name, state in body["upstreams"].items():
        assert state == ("up" if name in started_services else "not_deployed"), body


# --- a gateway of our own in front of test upstreams ----------------------------------

def test_request_sent_upstream(gw, echo, internal_key, api_token):
    rid = "fwd-" + uuid.uuid4().hex[:12]
    r = api.get(gw.url + "/api/v1/auth/echo/1?a=1&b=%E6%82%A6", timeout=5, headers={
        "X-Request-Id": rid,
        "X-Custom": "kept",
        # Forged identity, in every spelling: none of it may reach the service.
        "X-Yx-User": "1", "x-yx-roles": "admin@1", "X-YX-ORG": "9",
        "X-Yx-Session": "s", "X-Yx-Sig": "t=1,v1=00", "X-Yx-Anything": "x",
        # Hop-by-hop, and what the gateway sets itself.
        "Connection": "keep-alive, X-Private", "X-Private": "hop", "Keep-Alive": "300",
        "TE": "trailers", "Proxy-Authorization": "Basic eA==",
        "X-Forwarded-For": "6.6.6.6", "X-Real-IP": "6.6.6.6", "Forwarded": "for=6.6.6.6",
    })
    assert r.status_code == 200, r.text
    seen = r.json()
    h = headers_of({"headers": seen["headers"]})
    assert seen["method"] == "GET"
    assert seen["path"] == "/api/v1/auth/echo/1?a=1&b=%E6%82%A6"
    assert h["host"] == [f"127.0.0.1:{echo.port}"]
    assert h["x-custom"] == ["kept"]
    assert h["x-request-id"] == [rid]
    assert h["x-forwarded-for"] == ["127.0.0.1"]
    # The caller's identity is the token's, whatever the client claimed.
    me = api_token
    assert h["x-yx-user"] == [me["sub"]]
    assert h["x-yx-roles"] == ["resident@1,volunteer@2"]
    assert h["x-yx-org"] == ["1"]
    assert h["x-yx-session"] == [me["sid"]]
    for name in ("x-yx-anything", "authorization", "connection", "x-private", "keep-alive",
                 "te", "proxy-authorization", "x-real-ip", "forwarded"):
        assert name not in h, name
    # Signed by the gateway: the services can verify it.
    assert len(h["x-yx-sig"]) == 1
    t = int(h["x-yx-sig"][0].split(",")[0][2:])
    assert h["x-yx-sig"][0] == idhdr.sign(internal_key, "GET",
                                          "/api/v1/auth/echo/1?a=1&b=%E6%82%A6", rid,
                                          user=me["sub"], roles="resident@1,volunteer@2",
                                          org="1", session=me["sid"], t=t)
    assert abs(t - time.time()) < 60
    assert r.headers["X-Request-Id"] == rid


def test_empty_query_is_dropped_and_signature_matches(gw, internal_key, api_token):
    status, body = raw_request(gw.port, "GET /api/v1/auth/echo/2? HTTP/1.1\r\nHost: x\r\n"
                                        "X-Request-Id: emptyq-123456\r\nConnection: close\r\n\r\n")
    assert status == 200
    seen = json.loads(body)
    assert seen["path"] == "/api/v1/auth/echo/2"
    sig = headers_of(seen)["x-yx-sig"][0]
    t = int(sig.split(",")[0][2:])
    me = api_token
    assert sig == idhdr.sign(internal_key, "GET", "/api/v1/auth/echo/2", "emptyq-123456",
                             user=me["sub"], roles="resident@1,volunteer@2", org="1",
                             session=me["sid"], t=t)


def test_generated_request_id_travels_upstream(gw):
    r = api.get(gw.url + "/api/v1/auth/echo", headers={"X-Request-Id": "bad id"}, timeout=5)
    h = headers_of({"headers": r.json()["headers"]})
    assert h["x-request-id"] == [r.headers["X-Request-Id"]]
    assert len(r.headers["X-Request-Id"]) == 32


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_methods_and_bodies(gw, method):
    body = json.dumps({"悦享": "积分", "n": 1}).encode() if method in ("POST", "PUT", "PATCH") else None
    r = api.request(method, gw.url + "/api/v1/auth/echo", data=body, timeout=5,
                         headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    seen = r.json()
    assert seen["method"] == method
    h = headers_of({"headers": seen["headers"]})
    if body is not None:
        assert seen["body"].encode() == body
        assert h["content-length"] == [str(len(body))]
    else:
        assert "content-length" not in h and seen["body"] == ""


def test_empty_post_body(gw):
    r = api.post(gw.url + "/api/v1/auth/echo", data=b"", timeout=5)
    seen = r.json()
    assert headers_of({"headers": seen["headers"]})["content-length"] == ["0"]


def test_response_relayed(gw):
    r = api.get(gw.url + "/api/v1/auth/status/418", timeout=5,
                     headers={"X-Request-Id": "relay-123456"})
    assert r.status_code == 418
    assert r.json() == {"teapot": True}
    assert r.headers["X-Upstream"] == "yes"
    assert r.headers["X-Request-Id"] == "relay-123456"
    for name in ("X-Private", "Proxy-Thing"):
        assert name not in r.headers
    assert "timeout=5" not in r.headers.get("Keep-Alive", "")  # Kore writes its own
    assert r.headers["Content-Length"] == str(len(r.content))


def test_chunked_response_is_decoded(gw):
    r = api.get(gw.url + "/api/v1/auth/chunked?x=1", timeout=5)
    assert r.status_code == 200
    assert r.json()["path"] == "/api/v1/auth/chunked?x=1"
    assert "Transfer-Encoding" not in r.headers
    assert "X-Trailer" not in r.headers


def test_head_keeps_upstream_length(gw):
    r = api.head(gw.url + "/api/v1/auth/big?n=12345", timeout=5)
    assert r.status_code == 200
    assert r.headers["Content-Length"] == "12345"
    assert r.content == b""


def test_large_body_within_limit(gw):
    r = api.get(gw.url + "/api/v1/auth/big?n=3000000", timeout=10)
    assert r.status_code == 200 and len(r.content) == 3000000


def test_keep_alive_connections_are_reused(gw, echo):
    path = "/api/v1/auth/echo/reuse-" + uuid.uuid4().hex[:8]
    for _ in range(20):
        assert api.get(gw.url + path, timeout=5).status_code == 200
    ports = {x["client_port"] for x in list(echo.seen) if x["path"] == path}
    assert 1 <= len(ports) <= 2, ports


def test_path_with_dot_segments_is_refused(gw):
    for path in ("/api/v1/auth/../admin/x", "/api/v1/auth/%2e%2e/admin", "/api/v1/auth/./x"):
        status, body = raw_request(gw.port, f"GET {path} HTTP/1.1\r\nHost: x\r\n"
                                            "Connection: close\r\n\r\n")
        assert status == 400, path
        assert json.loads(body)["code"] == "bad_request"


def test_not_deployed_upstream_is_503(gw):
    r = api.get(gw.url + "/api/v1/wishes", timeout=5)
    assert_problem(r, 503, "service_unavailable")


def test_upstream_down_is_502_quickly(gw):
    t0 = time.monotonic()
    r = api.get(gw.url + "/api/v1/mall/items", timeout=5)
    assert time.monotonic() - t0 < 1.0
    assert_problem(r, 502, "upstream_unavailable")
    r = api.post(gw.url + "/api/v1/points/x", json={}, timeout=5)
    assert_problem(r, 502, "upstream_unavailable")


def test_hung_upstream_times_out_while_others_answer(gw):
    result = {}

    def slow():
        t0 = time.monotonic()
        result["resp"] = api.get(gw.url + "/api/v1/hall/topics", timeout=10)
        result["took"] = time.monotonic() - t0

    threads = [threading.Thread(target=slow) for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    # The hung route must not slow down the others.
    for _ in range(10):
        t0 = time.monotonic()
        r = api.get(gw.url + "/api/v1/auth/echo", timeout=5)
        assert r.status_code == 200
        assert time.monotonic() - t0 < 1.0
    for t in threads:
        t.join()
    assert_problem(result["resp"], 504, "upstream_timeout")
    assert 1.4 <= result["took"] <= 1.5 + 2.0, result["took"]


def test_client_leaving_cancels_the_upstream_call(gw, hang):
    path = "/api/v1/hall/leave-" + uuid.uuid4().hex[:8]
    s = socket.create_connection(("127.0.0.1", gw.port))
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n{auth_line()}\r\n".encode())
    time.sleep(0.3)
    s.close()
    # The upstream connection must close well before the 1.5 s response
    # timeout would close it (Kore frees the request on its next loop turn,
    # at the latest at the next timer: the 200 ms health probe here).
    deadline = time.monotonic() + 0.9
    while time.monotonic() < deadline:
        with hang.lock:
            if f"GET {path} HTTP/1.1" in hang.closed:
                break
        time.sleep(0.02)
    with hang.lock:
        assert f"GET {path} HTTP/1.1" in hang.closed
    assert api.get(gw.url + "/api/v1/auth/echo", timeout=5).status_code == 200


def test_health_and_readiness_follow_the_upstreams(gw):
    got = gw.wait_health({"identity": "up", "mall": "down", "hall": "down"})
    assert got == {"identity": "up", "mall": "down", "hall": "down",
                   "wishwall": "not_deployed"}
    r = api.get(gw.url + "/readyz", timeout=5)
    body = assert_problem(r, 503, "service_unavailable")
    assert "mall" in body["detail"] and "hall" in body["detail"]


def test_ready_when_every_deployed_upstream_is_up(start_gateway, echo):
    gw = start_gateway(YX_UPSTREAM_IDENTITY=f"127.0.0.1:{echo.port}")
    gw.wait_health({"identity": "up"})
    r = api.get(gw.url + "/readyz", timeout=5)
    assert r.status_code == 200, r.text
    assert r.json()["upstreams"]["identity"] == "up"
    assert r.json()["redis"] == "up"


def test_malformed_or_oversized_upstream_response_is_502(start_gateway, echo):
    garbage = RawServer(garbage_handler)
    try:
        gw = start_gateway(YX_UPSTREAM_IDENTITY=f"127.0.0.1:{echo.port}",
                           YX_UPSTREAM_MALL=f"127.0.0.1:{garbage.port}",
                           YX_UPSTREAM_BODY_MAX="100000")
        assert_problem(api.get(gw.url + "/api/v1/mall/x", timeout=5), 502, "bad_gateway")
        r = api.get(gw.url + "/api/v1/auth/big?n=100001", timeout=5)
        assert_problem(r, 502, "bad_gateway")
        assert api.get(gw.url + "/api/v1/auth/big?n=100000", timeout=5).status_code == 200
    finally:
        garbage.stop()


def test_stale_keep_alive_connection(start_gateway):
    """A GET that meets a connection the upstream just dropped is repeated on a
    fresh one; a POST is not (the upstream may have acted on it)."""
    stale = RawServer(stale_handler)
    try:
        gw = start_gateway(YX_UPSTREAM_IDENTITY=f"127.0.0.1:{stale.port}",
                           YX_HEALTH_INTERVAL_MS="600000")
        time.sleep(0.3)  # the start-up health probe used (and spent) one connection
        with stale.lock:
            stale.requests.clear()
        s = requests.Session()
        s.headers.update(AUTH)
        # Each GET first meets the connection the upstream drops, then is
        # repeated on a fresh one.
        assert s.get(gw.url + "/api/v1/auth/a", timeout=5).status_code == 200
        r = s.get(gw.url + "/api/v1/auth/b", timeout=5)
        assert r.status_code == 200, r.text
        with stale.lock:
            assert [x.split()[1] for x in stale.requests] == \
                ["/api/v1/auth/a", "/api/v1/auth/a", "/api/v1/auth/b", "/api/v1/auth/b"]
            stale.requests.clear()
        r = s.post(gw.url + "/api/v1/auth/c", json={}, timeout=5)
        assert_problem(r, 502, "upstream_unavailable")
        with stale.lock:
            assert [x.split()[1] for x in stale.requests] == ["/api/v1/auth/c"]
    finally:
        stale.stop()


def test_request_target_must_be_visible_ascii(gw):
    status, body = raw_request(gw.port, "GET /api/v1/auth/echo?q=\x01 HTTP/1.1\r\nHost: x\r\n"
                                        "Connection: close\r\n\r\n")
    assert status == 400 and json.loads(body)["code"] == "bad_request"


def test_slow_upstream_after_idle_keep_alive_is_not_cut_short(gw):
    """Kore times a client connection from the end of its previous response;
    a request whose body came in pieces must still get the upstream's answer
    (here the 504 of the hung upstream), not Kore's own 408."""
    with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as s:
        s.sendall(f"GET /api/v1/auth/echo HTTP/1.1\r\nHost: x\r\n{auth_line()}\r\n".encode())
        assert s.recv(65536).startswith(b"HTTP/1.1 200")
        time.sleep(9.0)
        s.sendall(f"POST /api/v1/hall/x HTTP/1.1\r\nHost: x\r\n{auth_line()}"
                  "Content-Length: 2\r\n\r\n".encode())
        time.sleep(0.1)
        s.sendall(b"{}")
        data = s.recv(65536)
    assert data.startswith(b"HTTP/1.1 504"), data[:80]


# --- an upstream killed mid-test --------------------------------------------------------

UPSTREAM_PROGRAM = r"""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = b'{"ok":true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass

ThreadingHTTPServer.allow_reuse_address = True
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def start_upstream_process(port):
    """A keep-alive HTTP upstream in a process of its own (so it can be killed)."""
    proc = subprocess.Popen(["python3", "-c", UPSTREAM_PROGRAM, str(port)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise AssertionError("upstream process did not start")
            time.sleep(0.05)


def test_upstream_killed_mid_test(start_gateway, echo):
    port = free_port()
    proc = start_upstream_process(port)
    try:
        # The limits are not under test: this traffic must not spend the
        # shared per-address count of the stack's Redis either.
        gw = start_gateway(YX_UPSTREAM_IDENTITY=f"127.0.0.1:{echo.port}",
                           YX_UPSTREAM_MALL=f"127.0.0.1:{port}", YX_HEALTH_INTERVAL_MS="200",
                           YX_RL_READ_IP_PER_MIN="0", YX_RL_READ_USER_PER_MIN="0")
        gw.wait_health({"identity": "up", "mall": "up"})
        results, stop = [], threading.Event()

        def traffic():
            # Keep-alive connections to the gateway and from it to the upstream.
            s = requests.Session()
            s.headers.update(AUTH)
            while not stop.is_set():
                t0 = time.monotonic()
                r = s.get(gw.url + "/api/v1/mall/items", timeout=10)
                results.append((r.status_code, time.monotonic() - t0))
                time.sleep(0.01)

        threads = [threading.Thread(target=traffic, daemon=True) for _ in range(4)]
        for t in threads:
            t.start()
        try:
            time.sleep(0.5)
            proc.kill()  # SIGKILL: connections die without a goodbye
            proc.wait(timeout=5)
            killed_at = len(results)
            # Other routes are untouched while mall fails.
            for _ in range(10):
                assert api.get(gw.url + "/api/v1/auth/echo", timeout=5).status_code == 200
            time.sleep(0.5)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=15)
        assert results[:killed_at] and all(code == 200 for code, _ in results[:killed_at // 2])
        after = results[killed_at:]
        assert after and {code for code, _ in after} <= {200, 502}, after
        assert any(code == 502 for code, _ in after)
        assert max(took for _, took in after) < 2.0  # never a hang
        assert_problem(api.get(gw.url + "/api/v1/mall/items", timeout=5), 502,
                       "upstream_unavailable")
        assert gw.wait_health({"mall": "down"})["mall"] == "down"

        # Back on the same port: the gateway reconnects.
        proc = start_upstream_process(port)
        deadline = time.monotonic() + 5
        while api.get(gw.url + "/api/v1/mall/items", timeout=5).status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        proc.kill()
        proc.wait(timeout=5)


# --- CORS ------------------------------------------------------------------------------

WEB = "https://h5.yuexiang.example"


@pytest.fixture(scope="module")
def cors_gw(start_gateway, echo):
    gw = start_gateway(YX_UPSTREAM_IDENTITY=f"127.0.0.1:{echo.port}",
                       YX_CORS_ORIGINS=f" {WEB} , http://127.0.0.1:5173", YX_CORS_MAX_AGE="300")
    gw.wait_health({"identity": "up"})
    return gw


def test_cors_preflight_is_answered_by_the_gateway(cors_gw, echo):
    path = "/api/v1/me/cors-" + uuid.uuid4().hex[:8]
    r = requests.options(cors_gw.url + path, timeout=5, headers={
        "Origin": WEB, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, idempotency-key"})
    assert r.status_code == 204 and r.content == b""
    assert r.headers["Access-Control-Allow-Origin"] == WEB
    methods = {m.strip() for m in r.headers["Access-Control-Allow-Methods"].split(",")}
    assert {"GET", "POST", "PUT", "PATCH", "DELETE"} <= methods
    allowed = {h.strip().lower() for h in r.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type", "idempotency-key", "x-request-id"} <= allowed
    assert r.headers["Access-Control-Max-Age"] == "300"
    assert "Origin" in r.headers["Vary"]
    assert r.headers["X-Request-Id"]
    # No token needed, and nothing reached the service.
    assert not [x for x in list(echo.seen) if x["path"] == path]


def test_cors_headers_on_answers(cors_gw):
    r = api.get(cors_gw.url + "/api/v1/auth/echo", headers={"Origin": WEB}, timeout=5)
    assert r.status_code == 200
    assert r.headers["Access-Control-Allow-Origin"] == WEB
    exposed = {h.strip().lower() for h in r.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"x-request-id", "retry-after"} <= exposed
    assert "Origin" in r.headers["Vary"]
    # Caches must keep answers apart by Origin, also for requests without one.
    r = api.get(cors_gw.url + "/api/v1/auth/echo", timeout=5)
    assert "Origin" in r.headers["Vary"] and "Access-Control-Allow-Origin" not in r.headers
    # The gateway's own problems carry them too, so the web view can read them.
    r = requests.get(cors_gw.url + "/api/v1/me", headers={"Origin": WEB}, timeout=5)
    assert_problem(r, 401, "unauthorized")
    assert r.headers["Access-Control-Allow-Origin"] == WEB


def test_cors_other_origins_get_nothing(cors_gw):
    for origin in ("https://evil.example", WEB + ".evil.example", WEB.upper(), "null"):
        r = requests.options(cors_gw.url + "/api/v1/me", timeout=5, headers={
            "Origin": origin, "Access-Control-Request-Method": "GET"})
        assert_problem(r, 403, "forbidden")
        assert "Access-Control-Allow-Origin" not in r.headers
        r = api.get(cors_gw.url + "/api/v1/auth/echo", headers={"Origin": origin}, timeout=5)
        assert r.status_code == 200 and "Access-Control-Allow-Origin" not in r.headers


def test_cors_headers_from_upstream_are_dropped(cors_gw, echo):
    """CORS is the gateway's alone: an OPTIONS that is not a preflight is
    forwarded like any request."""
    r = api.request("OPTIONS", cors_gw.url + "/api/v1/auth/echo", timeout=5)
    assert r.status_code == 200 and r.json()["method"] == "OPTIONS"
