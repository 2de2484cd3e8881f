"""Rate limits at the gateway: GCRA in Redis per client address and per user
for each route class (auth, read, write), 429 with Retry-After, the limits
counted before any token is looked at, and what happens when Redis stops:
auth routes fail closed (503), ordinary limits fall back to the gateway's
in-process counter, and authenticated requests are refused (503) because a
session's revocation cannot be checked.

The stack runs with limits far above what any test reaches, so these tests
start a gateway of their own with low limits (YX_RL_*) in front of an echo
server, with a private Redis of their own (the same ACL as the stack's
gateway user) that they can empty, stop and restart. Both are stopped by pid.
"""
import re
import secrets
import signal
import subprocess
import time

import pytest
import redis
import requests

import tokens
from conftest import assert_problem
from test_gateway_proxy import (echo, free_port, gateway_bin,  # noqa: F401 (fixtures)
                                internal_key, start_gateway)


class PrivateRedis:
    """A redis-server on a free port, users default (off), yx_gateway (as in
    scripts/stack.sh) and admin; stop() and start() keep the port."""

    def __init__(self, workdir):
        self.port = free_port()
        self.dir = workdir
        self.gateway_password = secrets.token_hex(16)
        self.admin_password = secrets.token_hex(16)
        self.conf = workdir / f"redis-{self.port}.conf"
        self.conf.write_text(
            f"port {self.port}\nbind 127.0.0.1\nsave \"\"\nappendonly no\n"
            f"dir {workdir}\nlogfile {workdir}/redis-{self.port}.log\n"
            "user default off\n"
            f"user yx_gateway on >{self.gateway_password} resetchannels ~gw:* ~pub:* "
            "+@all -@admin -@dangerous\n"
            f"user admin on >{self.admin_password} ~* &* +@all\n")
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(["redis-server", str(self.conf)], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        self.admin = redis.Redis(host="127.0.0.1", port=self.port, username="admin",
                                 password=self.admin_password, decode_responses=True,
                                 socket_timeout=5)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.admin.ping()
                return
            except redis.RedisError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise AssertionError("private redis-server did not start")
                time.sleep(0.05)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)
        self.proc = None
        self.admin.close()

    def env(self):
        return {"YX_REDIS_HOST": "127.0.0.1", "YX_REDIS_PORT": str(self.port),
                "YX_REDIS_USER": "yx_gateway", "YX_REDIS_PASSWORD": self.gateway_password}


@pytest.fixture(scope="module")
def private_redis(tmp_path_factory):
    server = PrivateRedis(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


LIMITS = {
    "YX_RL_AUTH_IP_PER_MIN": "6", "YX_RL_AUTH_IP_BURST": "3",
    "YX_RL_READ_IP_PER_MIN": "60", "YX_RL_READ_IP_BURST": "20",
    "YX_RL_READ_USER_PER_MIN": "60", "YX_RL_READ_USER_BURST": "3",
    "YX_RL_WRITE_IP_PER_MIN": "600", "YX_RL_WRITE_IP_BURST": "20",
    "YX_RL_WRITE_USER_PER_MIN": "120", "YX_RL_WRITE_USER_BURST": "2",
    # Recover quickly once Redis is back.
    "YX_REDIS_BREAKER_COOLDOWN_MS": "200",
}


@pytest.fixture(scope="module")
def gw(start_gateway, echo, private_redis):
    gw = start_gateway(YX_UPSTREAM_IDENTITY=f"127.0.0.1:{echo.port}", **private_redis.env(),
                       **LIMITS)
    gw.wait_health({"identity": "up"})
    return gw


@pytest.fixture(autouse=True)
def fresh_counts(private_redis):
    """Each test starts with no limit spent."""
    if private_redis.proc is None:
        private_redis.start()
    private_redis.admin.flushall()
    yield


@pytest.fixture(scope="module")
def key(stack):
    return tokens.load_private_key(stack["YX_STACK_JWT_PRIVATE_KEY"])


@pytest.fixture()
def mint(key, stack):
    def do(**kw):
        return tokens.mint(key, kid=stack.get("YX_STACK_JWT_KID", "k1"), **kw)
    return do


def bearer(token):
    return {"Authorization": "Bearer " + token}


def retry_after(resp):
    value = resp.headers.get("Retry-After", "")
    assert re.fullmatch(r"[1-9][0-9]*", value), f"Retry-After {value!r}"
    return int(value)


def metric(gw, name, **labels):
    text = requests.get(gw.url + "/metrics", timeout=5).text
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{{want}}} "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


# --- limits with Redis ---------------------------------------------------------------------

def test_auth_routes_are_limited_per_address(gw, private_redis):
    for _ in range(3):
        r = requests.post(gw.url + "/api/v1/auth/login", json={}, timeout=5)
        assert r.status_code == 200, r.text
    r = requests.post(gw.url + "/api/v1/auth/sms-code", json={}, timeout=5)
    assert_problem(r, 429, "rate_limited")
    # 6 a minute: one every 10 s once the burst of 3 is spent.
    assert 8 <= retry_after(r) <= 10
    ttl = private_redis.admin.pttl("gw:{rl:ip:127.0.0.1}:auth")
    assert 0 < ttl <= 60000
    # Other classes have their own counts.
    assert requests.get(gw.url + "/api/v1/auth/jwks", timeout=5).status_code == 200


def test_users_are_limited_one_by_one(gw, mint, private_redis):
    alice, a = mint()
    bob, _ = mint()
    for _ in range(3):
        assert requests.get(gw.url + "/api/v1/me", headers=bearer(alice),
                            timeout=5).status_code == 200
    r = requests.get(gw.url + "/api/v1/me", headers=bearer(alice), timeout=5)
    assert_problem(r, 429, "rate_limited")
    assert retry_after(r) == 1  # 60 a minute: one a second
    assert private_redis.admin.exists("gw:{rl:user:%s}:read" % a["sub"])
    # Bob, from the same address, is not held back by Alice.
    assert requests.get(gw.url + "/api/v1/me", headers=bearer(bob), timeout=5).status_code == 200
    # Writes are counted apart from reads.
    for _ in range(2):
        assert requests.post(gw.url + "/api/v1/me/x", json={}, headers=bearer(alice),
                             timeout=5).status_code == 200
    assert_problem(requests.post(gw.url + "/api/v1/me/x", json={}, headers=bearer(alice),
                                 timeout=5), 429, "rate_limited")


def test_the_limit_lets_requests_through_again(gw, mint):
    token, _ = mint()
    for _ in range(3):
        requests.get(gw.url + "/api/v1/me", headers=bearer(token), timeout=5)
    r = requests.get(gw.url + "/api/v1/me", headers=bearer(token), timeout=5)
    assert r.status_code == 429
    time.sleep(retry_after(r) + 0.1)
    assert requests.get(gw.url + "/api/v1/me", headers=bearer(token), timeout=5).status_code == 200


def test_address_limit_comes_before_the_token_check(gw):
    """A flood of bad tokens costs one Redis call each, not a signature check
    each, once the address has spent its allowance."""
    for i in range(20):
        r = requests.get(gw.url + "/api/v1/me", headers=bearer("x.y.z"), timeout=5)
        assert r.status_code == 401, i
    r = requests.get(gw.url + "/api/v1/me", headers=bearer("x.y.z"), timeout=5)
    assert_problem(r, 429, "rate_limited")
    retry_after(r)


def test_rate_limited_requests_are_counted(gw, mint):
    before = metric(gw, "yx_gateway_rate_limited_total", **{"class": "read", "scope": "user"})
    token, _ = mint()
    for _ in range(5):
        requests.get(gw.url + "/api/v1/me", headers=bearer(token), timeout=5)
    after = metric(gw, "yx_gateway_rate_limited_total", **{"class": "read", "scope": "user"})
    assert after - before == 2


# --- Redis stopped mid-test ------------------------------------------------------------------

def test_redis_stopped_mid_test(gw, mint, private_redis):
    token, _ = mint()
    assert requests.post(gw.url + "/api/v1/auth/login", json={}, timeout=5).status_code == 200
    assert requests.get(gw.url + "/api/v1/me", headers=bearer(token), timeout=5).status_code == 200
    fallback_before = metric(gw, "yx_gateway_ratelimit_fallback_total", **{"class": "read"})

    private_redis.stop()
    time.sleep(0.6)  # past the revocation cache (500 ms)

    # Auth routes fail closed, quickly.
    t0 = time.monotonic()
    r = requests.post(gw.url + "/api/v1/auth/login", json={}, timeout=5)
    assert time.monotonic() - t0 < 1.0
    assert_problem(r, 503, "service_unavailable")
    assert retry_after(r) == 1

    # A session nobody can check is refused too (fail closed), known or new.
    other, _ = mint()
    for t in (token, other):
        r = requests.get(gw.url + "/api/v1/me", headers=bearer(t), timeout=5)
        assert_problem(r, 503, "service_unavailable")

    # Public reads go on, limited by the in-process counter instead: 20 at
    # once for the address (one worker), the two reads above included.
    codes = [requests.get(gw.url + "/api/v1/auth/jwks", timeout=5).status_code
             for _ in range(20)]
    assert codes == [200] * 18 + [429] * 2, codes
    assert metric(gw, "yx_gateway_ratelimit_fallback_total", **{"class": "read"}) \
        > fallback_before

    # Redis back: everything answers again within the breaker's cooldown.
    private_redis.start()
    deadline = time.monotonic() + 5
    while True:
        r = requests.post(gw.url + "/api/v1/auth/login", json={}, timeout=5)
        if r.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert r.status_code == 200, r.text
    assert requests.get(gw.url + "/api/v1/me", headers=bearer(token), timeout=5).status_code == 200


def test_redis_down_from_the_start(start_gateway, echo, mint):
    """A gateway whose Redis never answered still serves public reads."""
    gw = start_gateway(YX_UPSTREAM_IDENTITY=f"127.0.0.1:{echo.port}",
                       YX_REDIS_HOST="127.0.0.1", YX_REDIS_PORT=str(free_port()))
    gw.wait_health({"identity": "up"})
    assert requests.get(gw.url + "/api/v1/auth/jwks", timeout=5).status_code == 200
    assert_problem(requests.post(gw.url + "/api/v1/auth/login", json={}, timeout=5), 503,
                   "service_unavailable")
    token, _ = mint()
    assert_problem(requests.get(gw.url + "/api/v1/me", headers=bearer(token), timeout=5), 503,
                   "service_unavailable")
    assert requests.get(gw.url + "/readyz", timeout=5).status_code == 503
