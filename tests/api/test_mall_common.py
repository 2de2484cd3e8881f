"""Shared helpers and fixtures of the mall's API tests (imported by the other
test_mall_*.py files; it holds no tests itself).

The tests call yx-mall directly on its port, with identity headers signed as
the gateway signs them (idhdr.py). The mall does not own users: user and
community ids are numbers the tests make up, far from any real ones, and
each test takes fresh ones so tests never see each other's points or stock.
"""
import json
import os
import secrets
import subprocess
import uuid
from urllib.parse import urlencode

import pytest
import requests

import idhdr
import spec
from conftest import HTTP_TIMEOUT, REPO

_ID_BASE = 900_000_000_000


def new_id():
    """A fresh id as text, unique across runs of the tests."""
    return str(_ID_BASE + secrets.randbelow(10**11))


def new_key():
    return "test-" + uuid.uuid4().hex


def staff_roles(community, role="community_staff"):
    return f"{role}@{community}"


class Mall:
    """Calls yx-mall directly, as the gateway would: every request signed."""

    def __init__(self, url, key_hex):
        self.url = url.rstrip("/")
        self.key_hex = key_hex
        self.session = requests.Session()

    def call(self, method, path, *, user="", roles="", body=None, raw=None, key=None,
             query=None, headers=None, sign=True, session=None):
        """One request; body is sent as JSON, raw as bytes; key is the
        Idempotency-Key. Returns the requests.Response."""
        target = path + ("?" + urlencode(query) if query else "")
        rid = "t-" + secrets.token_hex(8)
        h = {}
        if sign:
            h.update(idhdr.headers(self.key_hex, method, target, rid, user=user, roles=roles))
        else:
            h["X-Request-Id"] = rid
        if key is not None:
            h["Idempotency-Key"] = key
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        if headers:
            h.update(headers)
        s = session or self.session
        return s.request(method, self.url + target, data=data, headers=h, timeout=HTTP_TIMEOUT)

    def ok(self, method, path, status, **kw):
        """call(), asserting the status and the spec; returns the body."""
        r = self.call(method, path, **kw)
        assert r.status_code == status, f"{method} {path}: {r.status_code} {r.text[:500]}"
        return spec.check(r)

    # --- steps most tests take ---------------------------------------------------

    def create_item(self, community, staff, **fields):
        body = {"community_id": community, "name": "大米 5kg", "points_price": 100,
                "stock": 10}
        body.update(fields)
        return self.ok("POST", "/api/v1/mall/items", 201, user=staff,
                       roles=staff_roles(community), body=body, key=new_key())

    def award(self, community, staff, user, points, reason="志愿服务"):
        return self.ok("POST", "/api/v1/points/awards", 201, user=staff,
                       roles=staff_roles(community),
                       body={"user_id": user, "community_id": community, "points": points,
                             "reason": reason}, key=new_key())

    def redeem(self, user, item_id, quantity=1, key=None):
        return self.call("POST", "/api/v1/mall/orders", user=user,
                         body={"item_id": item_id, "quantity": quantity},
                         key=key or new_key())

    def points(self, user):
        return self.ok("GET", "/api/v1/points/me", 200, user=user)


@pytest.fixture(scope="session")
def mall_url(stack, started_services):
    if "mall" not in started_services:
        pytest.skip("yx-mall is not part of this stack (build/bin/yx-mall missing)")
    return stack["YX_STACK_MALL_URL"].rstrip("/")


@pytest.fixture(scope="session")
def mall_key(secrets_dir):
    return (secrets_dir / "internal.key").read_text().strip()


@pytest.fixture()
def mall(mall_url, mall_key):
    client = Mall(mall_url, mall_key)
    yield client
    client.session.close()


@pytest.fixture()
def community():
    return new_id()


@pytest.fixture()
def staff():
    return new_id()


def mall_binary():
    return REPO / os.environ.get("BUILD", "build") / "bin" / "yx-mall"


def run_mall_command(stack, *args, timeout=120):
    """Runs build/bin/yx-mall <args> with the stack's database and Redis
    settings; returns the CompletedProcess (stdout and stderr as text)."""
    secrets_dir = stack["YX_STACK_SECRETS"]
    with open(os.path.join(secrets_dir, "redis-yx_mall.pw"), encoding="utf-8") as f:
        redis_pw = f.read().strip()
    env = {k: v for k, v in os.environ.items() if not k.startswith("YX_")}
    env.update({
        "YX_DB_DSN": stack["YX_STACK_PG_DSN_MALL"],
        "YX_REDIS_HOST": stack["YX_STACK_REDIS_HOST"],
        "YX_REDIS_PORT": stack["YX_STACK_REDIS_PORT"],
        "YX_REDIS_USER": "yx_mall",
        "YX_REDIS_PASSWORD": redis_pw,
        "YX_LOG_LEVEL": "warn",
    })
    return subprocess.run([str(mall_binary()), *args], env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)


def assert_reconciles(stack):
    """`yx-mall reconcile` exits 0 and says every check passed."""
    res = run_mall_command(stack, "reconcile")
    assert res.returncode == 0, f"reconcile failed:\n{res.stdout}\n{res.stderr}"
    assert "FAIL" not in res.stdout
    return res.stdout
