"""What the gateway tells its operators: /metrics in Prometheus text format
(requests by route class and status, a latency histogram, upstream errors,
rate-limited and authentication counts) with the totals of every worker, who
may read it, the JSON access log, and the request id in every line of a
request and in every answer.

A gateway of our own with two workers sits in front of an echo server (and a
closed port for "mall"); the stack's gateway is checked for the same format.
"""
import json
import re
import socket
import time
import uuid

import pytest
import requests

import spec
import tokens
from conftest import assert_problem
from test_gateway_proxy import (echo, free_port, gateway_bin,  # noqa: F401 (fixtures)
                                internal_key, start_gateway)

LINE = re.compile(r'^([a-z_:][a-z0-9_:]*)(\{([^}]*)\})? (-?[0-9.e+]+|\+Inf|NaN)$')
METRICS_TOKEN = "metrics-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def gw(start_gateway, echo):
    gw = start_gateway(YX_UPSTREAM_IDENTITY=f"127.0.0.1:{echo.port}",
                       YX_UPSTREAM_MALL=f"127.0.0.1:{free_port()}", YX_WORKERS="2")
    gw.wait_health({"identity": "up"})
    return gw


@pytest.fixture(scope="module")
def token(stack):
    key = tokens.load_private_key(stack["YX_STACK_JWT_PRIVATE_KEY"])
    return tokens.mint(key, kid=stack.get("YX_STACK_JWT_KID", "k1"), ttl=900)


@pytest.fixture(scope="module")
def key(stack):
    return tokens.load_private_key(stack["YX_STACK_JWT_PRIVATE_KEY"])


def parse(text):
    """{(name, ((label, value), ...)): value} of an exposition; checks every line."""
    out, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
            continue
        m = LINE.match(line)
        assert m, f"not an exposition line: {line!r}"
        labels = tuple(sorted(re.findall(r'([a-z_]+)="([^"]*)"', m.group(3) or "")))
        out[(m.group(1), labels)] = float(m.group(4))
    return out, types


def scrape(gw):
    r = requests.get(gw.url + "/metrics", timeout=5)
    assert r.status_code == 200, r.text
    return parse(r.text)[0]


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def log_lines(gw, request_id, wait_for=None, timeout=3):
    """The gateway's log lines of one request (waiting for an event to show)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = []
        for raw in gw.log.read_text(errors="replace").splitlines():
            try:
                obj = json.loads(raw)
            except ValueError:
                continue
            if obj.get("request_id") == request_id:
                lines.append(obj)
        if wait_for is None or any(x.get("event") == wait_for for x in lines) or \
                time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


# --- /metrics ---------------------------------------------------------------------------------

def test_format_and_families(gw):
    r = requests.get(gw.url + "/metrics", timeout=5)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert r.headers["X-Request-Id"]
    _, types = parse(r.text)
    assert types == {
        "yx_gateway_requests_total": "counter",
        "yx_gateway_request_duration_seconds": "histogram",
        "yx_gateway_upstream_errors_total": "counter",
        "yx_gateway_rate_limited_total": "counter",
        "yx_gateway_ratelimit_fallback_total": "counter",
        "yx_gateway_auth_failures_total": "counter",
        "yx_gateway_token_cache_total": "counter",
    }


def burst_of_connections(gw, tok, n):
    """n requests on n connections opened at once, so that both workers
    accept some (a Kore worker hands the listener over after 16 at a time)."""
    socks = [socket.create_connection(("127.0.0.1", gw.port), timeout=10) for _ in range(n)]
    try:
        req = (f"GET /api/v1/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tok}\r\n"
               "Connection: close\r\n\r\n").encode()
        for s in socks:
            s.sendall(req)
        for s in socks:
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            assert data.startswith(b"HTTP/1.1 200"), data[:100]
    finally:
        for s in socks:
            s.close()


def access_pids(gw):
    pids = set()
    for raw in gw.log.read_text(errors="replace").splitlines():
        if '"event":"access"' in raw and '"path":"/api/v1/me"' in raw:
            pids.add(json.loads(raw)["pid"])
    return pids


def test_requests_are_counted_across_workers(gw, token):
    tok, _ = token
    before = value(scrape(gw), "yx_gateway_requests_total", **{"class": "read", "code": "200"})
    sent = 0
    for _ in range(5):
        burst_of_connections(gw, tok, 40)
        sent += 40
        time.sleep(0.2)  # access lines are written as requests end
        if len(access_pids(gw)) == 2:
            break
    assert len(access_pids(gw)) == 2, "both workers should have answered some"
    seen = set()
    for _ in range(8):  # whichever worker renders, the totals are the gateway's
        samples = scrape(gw)
        seen.add(value(samples, "yx_gateway_requests_total", **{"class": "read", "code": "200"}))
    assert seen == {before + sent}, seen


def test_status_classes_and_codes(gw):
    before = scrape(gw)
    assert requests.get(gw.url + "/api/v1/me", timeout=5).status_code == 401
    assert requests.post(gw.url + "/api/v1/auth/login", json={}, timeout=5).status_code == 200
    assert requests.get(gw.url + "/nowhere", timeout=5).status_code == 404
    after = scrape(gw)
    for cls, code in (("read", "401"), ("auth", "200"), ("none", "404")):
        key = ("yx_gateway_requests_total", (("class", cls), ("code", code)))
        assert after.get(key, 0) - before.get(key, 0) == 1, key


def test_latency_histogram_is_consistent(gw):
    samples = scrape(gw)
    for cls in ("auth", "read", "write", "ops", "none"):
        bounds = ["0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5",
                  "1", "2.5", "5", "10", "+Inf"]
        counts = [value(samples, "yx_gateway_request_duration_seconds_bucket",
                        **{"class": cls, "le": b}) for b in bounds]
        assert counts == sorted(counts), (cls, counts)
        assert counts[-1] == value(samples, "yx_gateway_request_duration_seconds_count",
                                   **{"class": cls})
        assert (("yx_gateway_request_duration_seconds_sum", (("class", cls),)) in samples)
    assert value(samples, "yx_gateway_request_duration_seconds_count", **{"class": "ops"}) > 0


def test_upstream_errors_are_counted(gw, token):
    tok, _ = token
    labels = {"upstream": "mall", "kind": "unavailable"}
    before = value(scrape(gw), "yx_gateway_upstream_errors_total", **labels)
    r = requests.get(gw.url + "/api/v1/mall/items", timeout=5,
                     headers={"Authorization": "Bearer " + tok})
    assert_problem(r, 502, "upstream_unavailable")
    assert value(scrape(gw), "yx_gateway_upstream_errors_total", **labels) == before + 1
    for up in ("identity", "mall", "hall", "wishwall"):
        assert ("yx_gateway_upstream_errors_total",
                (("kind", "timeout"), ("upstream", up))) in scrape(gw)


def test_auth_failures_and_token_cache_are_counted(gw, key, stack):
    now = int(time.time())
    expired = tokens.sign(key, tokens.claims(iat=now - 100, exp=now - 5),
                          kid=stack.get("YX_STACK_JWT_KID", "k1"))
    before = scrape(gw)
    requests.get(gw.url + "/api/v1/me", headers={"Authorization": "Bearer " + expired},
                 timeout=5)
    requests.get(gw.url + "/api/v1/me", timeout=5)
    after = scrape(gw)
    for reason in ("expired", "missing"):
        k = ("yx_gateway_auth_failures_total", (("reason", reason),))
        assert after[k] - before[k] == 1, reason
    hits = ("yx_gateway_token_cache_total", (("result", "hit"),))
    assert after[hits] >= 1  # the 40 requests above reused one token


def test_stack_gateway_metrics(http, base_url):
    r = http.get(base_url + "/metrics")
    assert r.status_code == 200
    samples, _ = parse(r.text)
    assert value(samples, "yx_gateway_requests_total", **{"class": "ops", "code": "200"}) >= 1


def test_metrics_token(start_gateway, echo):
    gw = start_gateway(YX_UPSTREAM_IDENTITY=f"127.0.0.1:{echo.port}",
                       YX_METRICS_TOKEN=METRICS_TOKEN)
    for h in ({}, {"Authorization": "Bearer wrong-" + METRICS_TOKEN},
              {"Authorization": "Bearer " + METRICS_TOKEN[:-1]}, {"Authorization": METRICS_TOKEN}):
        r = requests.get(gw.url + "/metrics", headers=h, timeout=5)
        spec.check(r)
        assert_problem(r, 403, "forbidden")
    r = requests.get(gw.url + "/metrics", headers={"Authorization": "Bearer " + METRICS_TOKEN},
                     timeout=5)
    assert r.status_code == 200
    parse(r.text)


def test_metrics_refuses_other_methods(gw):
    r = requests.post(gw.url + "/metrics", timeout=5)
    spec.check(r)
    assert_problem(r, 405, "method_not_allowed")


# --- access log and request ids ---------------------------------------------------------------

def test_access_log_line(gw, token):
    tok, c = token
    rid = "log-" + uuid.uuid4().hex[:12]
    r = requests.get(gw.url + "/api/v1/me?x=1", timeout=5,
                     headers={"Authorization": "Bearer " + tok, "X-Request-Id": rid})
    assert r.status_code == 200
    lines = log_lines(gw, rid, wait_for="access")
    access = [x for x in lines if x.get("event") == "access"]
    assert len(access) == 1, lines
    a = access[0]
    assert a["svc"] == "gateway" and a["level"] == "info"
    assert a["method"] == "GET" and a["path"] == "/api/v1/me" and a["status"] == 200
    assert a["class"] == "read" and a["upstream"] == "identity" and a["user"] == c["sub"]
    assert isinstance(a["upstream_ms"], int) and isinstance(a["duration_us"], int)
    assert a["client"] == "127.0.0.1"


def test_refused_requests_say_why_in_the_log(gw):
    rid = "logauth-" + uuid.uuid4().hex[:10]
    r = requests.get(gw.url + "/api/v1/me", timeout=5,
                     headers={"Authorization": "Bearer a.b.c", "X-Request-Id": rid})
    body = assert_problem(r, 401, "invalid_token")
    assert body["request_id"] == rid and r.headers["X-Request-Id"] == rid
    a = [x for x in log_lines(gw, rid, wait_for="access") if x.get("event") == "access"][0]
    assert a["status"] == 401 and a["auth"] == "malformed" and "user" not in a


def test_request_id_in_every_line_of_a_failed_call(gw, token):
    tok, _ = token
    rid = "logfail-" + uuid.uuid4().hex[:10]
    r = requests.get(gw.url + "/api/v1/mall/x", timeout=5,
                     headers={"Authorization": "Bearer " + tok, "X-Request-Id": rid})
    body = assert_problem(r, 502, "upstream_unavailable")
    assert body["request_id"] == rid
    events = {x["event"] for x in log_lines(gw, rid, wait_for="access")}
    assert {"upstream_failed", "access"} <= events


def test_generated_request_id_is_logged_and_returned(gw):
    r = requests.get(gw.url + "/api/v1/me", headers={"X-Request-Id": "no"}, timeout=5)
    rid = r.headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{32}", rid) and r.json()["request_id"] == rid
    assert [x["event"] for x in log_lines(gw, rid, wait_for="access")] == ["access"]
