"""The gateway's forwarding core: routing by path prefix, the request it sends
upstream (request id, X-Forwarded-For, signed identity, no client-forged X-Yx-*
or hop-by-hop headers), the response it relays, and how it fails when an
upstream is down, hung, broken or the client leaves.

The stack's gateway is used where the real services suffice. Everything that
needs a special upstream starts a gateway of its own (build/bin/yx-gateway on
a free port) in front of small Python servers on 127.0.0.1, and stops it by
pid afterwards.
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
from conftest import REPO, assert_problem

HEX32 = set("0123456789abcdef")


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


def raw_request(port, text, timeout=10):
    """Send `text` as is (no client-side path clean-up); return (status, body)."""
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

def test_request_sent_upstream(gw, echo, internal_key):
    rid = "fwd-" + uuid.uuid4().hex[:12]
    r = requests.get(gw.url + "/api/v1/auth/echo/1?a=1&b=%E6%82%A6", timeout=5, headers={
        "X-Request-Id": rid,
        "X-Custom": "kept",
        "Authorization": "Bearer abc",
        # Forged identity, in every spelling: none of it may reach the service.
        "X-Yx-User": "1", "x-yx-roles": "admin@1", "X-YX-ORG": "1",
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
    assert h["x-custom"] == ["kept"] and h["authorization"] == ["Bearer abc"]
    assert h["x-request-id"] == [rid]
    assert h["x-forwarded-for"] == ["127.0.0.1"]
    for name in ("x-yx-user", "x-yx-roles", "x-yx-org", "x-yx-session", "x-yx-anything",
                 "connection", "x-private", "keep-alive", "te", "proxy-authorization",
                 "x-real-ip", "forwarded"):
        assert name not in h, name
    # Anonymous, signed by the gateway: the services can verify it.
    assert len(h["x-yx-sig"]) == 1
    t = int(h["x-yx-sig"][0].split(",")[0][2:])
    assert h["x-yx-sig"][0] == idhdr.sign(internal_key, "GET",
                                          "/api/v1/auth/echo/1?a=1&b=%E6%82%A6", rid, t=t)
    assert abs(t - time.time()) < 60
    assert r.headers["X-Request-Id"] == rid


def test_empty_query_is_dropped_and_signature_matches(gw, internal_key):
    status, body = raw_request(gw.port, "GET /api/v1/auth/echo/2? HTTP/1.1\r\nHost: x\r\n"
                                        "X-Request-Id: emptyq-123456\r\nConnection: close\r\n\r\n")
    assert status == 200
    seen = json.loads(body)
    assert seen["path"] == "/api/v1/auth/echo/2"
    sig = headers_of(seen)["x-yx-sig"][0]
    t = int(sig.split(",")[0][2:])
    assert sig == idhdr.sign(internal_key, "GET", "/api/v1/auth/echo/2", "emptyq-123456", t=t)


def test_generated_request_id_travels_upstream(gw):
    r = requests.get(gw.url + "/api/v1/auth/echo", headers={"X-Request-Id": "bad id"}, timeout=5)
    h = headers_of({"headers": r.json()["headers"]})
    assert h["x-request-id"] == [r.headers["X-Request-Id"]]
    assert len(r.headers["X-Request-Id"]) == 32


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_methods_and_bodies(gw, method):
    body = json.dumps({"悦享": "积分", "n": 1}).encode() if method in ("POST", "PUT", "PATCH") else None
    r = requests.request(method, gw.url + "/api/v1/auth/echo", data=body, timeout=5,
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
    r = requests.post(gw.url + "/api/v1/auth/echo", data=b"", timeout=5)
    seen = r.json()
    assert headers_of({"headers": seen["headers"]})["content-length"] == ["0"]


def test_response_relayed(gw):
    r = requests.get(gw.url + "/api/v1/auth/status/418", timeout=5,
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
    r = requests.get(gw.url + "/api/v1/auth/chunked?x=1", timeout=5)
    assert r.status_code == 200
    assert r.json()["path"] == "/api/v1/auth/chunked?x=1"
    assert "Transfer-Encoding" not in r.headers
    assert "X-Trailer" not in r.headers


def test_head_keeps_upstream_length(gw):
    r = requests.head(gw.url + "/api/v1/auth/big?n=12345", timeout=5)
    assert r.status_code == 200
    assert r.headers["Content-Length"] == "12345"
    assert r.content == b""


def test_large_body_within_limit(gw):
    r = requests.get(gw.url + "/api/v1/auth/big?n=3000000", timeout=10)
    assert r.status_code == 200 and len(r.content) == 3000000


def test_keep_alive_connections_are_reused(gw, echo):
    path = "/api/v1/auth/echo/reuse-" + uuid.uuid4().hex[:8]
    for _ in range(20):
        assert requests.get(gw.url + path, timeout=5).status_code == 200
    ports = {x["client_port"] for x in list(echo.seen) if x["path"] == path}
    assert 1 <= len(ports) <= 2, ports


def test_path_with_dot_segments_is_refused(gw):
    for path in ("/api/v1/auth/../admin/x", "/api/v1/auth/%2e%2e/admin", "/api/v1/auth/./x"):
        status, body = raw_request(gw.port, f"GET {path} HTTP/1.1\r\nHost: x\r\n"
                                            "Connection: close\r\n\r\n")
        assert status == 400, path
        assert json.loads(body)["code"] == "bad_request"


def test_not_deployed_upstream_is_503(gw):
    r = requests.get(gw.url + "/api/v1/wishes", timeout=5)
    assert_problem(r, 503, "service_unavailable")


def test_upstream_down_is_502_quickly(gw):
    t0 = time.monotonic()
    r = requests.get(gw.url + "/api/v1/mall/items", timeout=5)
    assert time.monotonic() - t0 < 1.0
    assert_problem(r, 502, "upstream_unavailable")
    r = requests.post(gw.url + "/api/v1/points/x", json={}, timeout=5)
    assert_problem(r, 502, "upstream_unavailable")


def test_hung_upstream_times_out_while_others_answer(gw):
    result = {}

    def slow():
        t0 = time.monotonic()
        result["resp"] = requests.get(gw.url + "/api/v1/hall/topics", timeout=10)
        result["took"] = time.monotonic() - t0

    threads = [threading.Thread(target=slow) for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    # The hung route must not slow down the others.
    for _ in range(10):
        t0 = time.monotonic()
        r = requests.get(gw.url + "/api/v1/auth/echo", timeout=5)
        assert r.status_code == 200
        assert time.monotonic() - t0 < 1.0
    for t in threads:
        t.join()
    assert_problem(result["resp"], 504, "upstream_timeout")
    assert 1.4 <= result["took"] <= 1.5 + 2.0, result["took"]


def test_client_leaving_cancels_the_upstream_call(gw, hang):
    path = "/api/v1/hall/leave-" + uuid.uuid4().hex[:8]
    s = socket.create_connection(("127.0.0.1", gw.port))
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
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
    assert requests.get(gw.url + "/api/v1/auth/echo", timeout=5).status_code == 200


def test_health_and_readiness_follow_the_upstreams(gw):
    got = gw.wait_health({"identity": "up", "mall": "down", "hall": "down"})
    assert got == {"identity": "up", "mall": "down", "hall": "down",
                   "wishwall": "not_deployed"}
    r = requests.get(gw.url + "/readyz", timeout=5)
    body = assert_problem(r, 503, "service_unavailable")
    assert "mall" in body["detail"] and "hall" in body["detail"]


def test_ready_when_every_deployed_upstream_is_up(start_gateway, echo):
    gw = start_gateway(YX_UPSTREAM_IDENTITY=f"127.0.0.1:{echo.port}")
    gw.wait_health({"identity": "up"})
    r = requests.get(gw.url + "/readyz", timeout=5)
    assert r.status_code == 200, r.text
    assert r.json()["upstreams"]["identity"] == "up"
    assert r.json()["redis"] == "up"


def test_malformed_or_oversized_upstream_response_is_502(start_gateway, echo):
    garbage = RawServer(garbage_handler)
    try:
        gw = start_gateway(YX_UPSTREAM_IDENTITY=f"127.0.0.1:{echo.port}",
                           YX_UPSTREAM_MALL=f"127.0.0.1:{garbage.port}",
                           YX_UPSTREAM_BODY_MAX="100000")
        assert_problem(requests.get(gw.url + "/api/v1/mall/x", timeout=5), 502, "bad_gateway")
        r = requests.get(gw.url + "/api/v1/auth/big?n=100001", timeout=5)
        assert_problem(r, 502, "bad_gateway")
        assert requests.get(gw.url + "/api/v1/auth/big?n=100000", timeout=5).status_code == 200
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
        s.sendall(b"GET /api/v1/auth/echo HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(65536).startswith(b"HTTP/1.1 200")
        time.sleep(9.0)
        s.sendall(b"POST /api/v1/hall/x HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n")
        time.sleep(0.1)
        s.sendall(b"{}")
        data = s.recv(65536)
    assert data.startswith(b"HTTP/1.1 504"), data[:80]
