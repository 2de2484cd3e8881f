"""SIGTERM drains: the server stops accepting at once (new connections are
refused), finishes what is in flight with "connection: close", closes idle
kept-alive connections, and exits 0 within YX_SHUTDOWN_GRACE_MS; what is still
running then is dropped. Checked on gateways of our own in front of a slow
upstream (test_gateway_hardening.py has the helpers).
"""
import socket
import threading
import time

import pytest
import requests

from test_gateway_hardening import (AUTH, RecordingUpstream, get,  # noqa: F401
                                    private_gateway, read_response)

UPSTREAM_DELAY = 2.0


@pytest.fixture()
def slow():
    server = RecordingUpstream(delay=UPSTREAM_DELAY)
    yield server
    server.stop()


def refused(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def in_flight(slow, n, timeout=5):
    """Waits until the upstream has received n slow requests."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(p.startswith("/api/v1/auth/slow/") for p in slow.paths()) >= n:
            return True
        time.sleep(0.02)
    return False


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_finishes_in_flight_requests_and_exits_0(private_gateway, slow, workers):
    gw = private_gateway(YX_UPSTREAM_IDENTITY=f"127.0.0.1:{slow.port}", YX_WORKERS=workers)
    results = [None] * 20

    def call(i):
        try:
            r = requests.get(f"{gw.url}/api/v1/auth/slow/{i}", timeout=15, headers=AUTH)
            results[i] = (r.status_code, r.headers.get("Connection"), r.json()["path"])
        except requests.RequestException as e:
            results[i] = repr(e)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    assert in_flight(slow, 20)

    t0 = time.monotonic()
    gw.proc.send_signal(15)
    # New connections are refused almost at once (no listener is left open
    # in any process), while the 20 are still waiting for the upstream.
    deadline = time.monotonic() + 1.0
    while not refused(gw.port):
        assert time.monotonic() < deadline, "still accepting after SIGTERM"
        time.sleep(0.02)
    assert time.monotonic() - t0 < UPSTREAM_DELAY - 0.5
    assert all(r is None for r in results)
    for _ in range(5):
        assert refused(gw.port)

    for t in threads:
        t.join()
    assert gw.proc.wait(timeout=12) == 0
    took = time.monotonic() - t0
    for i, r in enumerate(results):
        assert r == (200, "close", f"/api/v1/auth/slow/{i}"), r
    # Exits as soon as the last one is answered, not at the end of the grace.
    assert took < UPSTREAM_DELAY + 2.0, took
    assert gw.stop() == 0


def test_idle_keep_alive_connections_do_not_hold_the_shutdown(private_gateway, slow):
    gw = private_gateway(YX_UPSTREAM_IDENTITY=f"127.0.0.1:{slow.port}")
    idle = []
    for _ in range(5):
        s = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
        s.sendall(get("/api/v1/auth/x").replace(b"Connection: close\r\n", b""))
        assert read_response(s).status == 200
        idle.append(s)
    t0 = time.monotonic()
    gw.proc.send_signal(15)
    assert gw.proc.wait(timeout=5) == 0
    assert time.monotonic() - t0 < 1.5
    for s in idle:
        assert s.recv(10) == b""  # closed by the server, no unsolicited response
        s.close()


def test_grace_period_bounds_the_drain(private_gateway):
    """A request still running when YX_SHUTDOWN_GRACE_MS is over is dropped
    and the process exits 0 all the same."""
    hung = RecordingUpstream(delay=30.0)
    try:
        gw = private_gateway(YX_UPSTREAM_IDENTITY=f"127.0.0.1:{hung.port}",
                             YX_SHUTDOWN_GRACE_MS="1500", YX_UPSTREAM_TIMEOUT_MS="60000")
        s = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
        s.sendall(get("/api/v1/auth/slow/hung"))
        assert in_flight(hung, 1)
        t0 = time.monotonic()
        gw.proc.send_signal(15)
        assert gw.proc.wait(timeout=10) == 0
        assert 1.3 <= time.monotonic() - t0 <= 4.0
        assert read_response(s) is None
        s.close()
    finally:
        hung.stop()

