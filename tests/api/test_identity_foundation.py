"""Identity's first endpoints end to end: through the gateway, and directly on
the service port to prove it trusts only identity headers the gateway signed."""
import base64
import secrets
import time
import uuid

import pytest
from cryptography.hazmat.primitives import serialization

import idhdr
import spec


@pytest.fixture(scope="session")
def identity_url(stack):
    return stack["YX_STACK_IDENTITY_URL"].rstrip("/")


@pytest.fixture(scope="session")
def internal_key(secrets_dir):
    return (secrets_dir / "internal.key").read_text().strip()


@pytest.fixture()
def user_id(pg_super):
    """A user row, inserted directly (login arrives with the identity service)."""
    with pg_super.cursor() as cur:
        cur.execute(
            "INSERT INTO identity.users (phone_enc, phone_idx, phone_masked, display_name)"
            " VALUES ('v1.0.AAAA', %s, '138****0000', '测试用户') RETURNING id::text",
            ("test-" + uuid.uuid4().hex,))
        uid = cur.fetchone()[0]
    yield uid
    with pg_super.cursor() as cur:
        cur.execute("DELETE FROM identity.users WHERE id = %s::bigint", (uid,))


def test_jwks_through_gateway_publishes_the_signing_key(http, base_url, secrets_dir, stack):
    r = http.get(base_url + "/api/v1/auth/jwks")
    assert r.status_code == 200
    body = spec.check(r)
    pub = serialization.load_pem_public_key(
        (secrets_dir / f"jwt-{stack['YX_STACK_JWT_KID']}.pub.pem").read_bytes())
    raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    assert [k["x"] for k in body["keys"]] == [x]
    assert body["keys"][0]["kid"] == stack["YX_STACK_JWT_KID"]


def test_jwks_refuses_other_methods(http, base_url):
    r = http.post(base_url + "/api/v1/auth/jwks", json={})
    assert r.status_code == 405
    body = spec.check(r)
    assert body["code"] == "method_not_allowed"


def test_me_without_token_is_401_problem(http, base_url):
    r = http.get(base_url + "/api/v1/me")
    assert r.status_code == 401
    body = spec.check(r)
    assert body["code"] in ("unauthorized", "invalid_token")
    assert body["request_id"] == r.headers["X-Request-Id"]


def test_request_id_is_kept_end_to_end(http, base_url):
    rid = "test-" + secrets.token_hex(8)
    r = http.get(base_url + "/api/v1/auth/jwks", headers={"X-Request-Id": rid})
    assert r.headers["X-Request-Id"] == rid


def test_service_readiness_checks_postgres_and_redis(http, identity_url):
    r = http.get(identity_url + "/readyz")
    assert r.status_code == 200
    assert r.json()["checks"] == {"postgres": "up", "redis": "up"}


def test_me_with_gateway_signature_is_the_user(http, identity_url, internal_key, user_id):
    rid = "test-" + secrets.token_hex(8)
    h = idhdr.headers(internal_key, "GET", "/api/v1/me", rid, user=user_id,
                      roles="resident@1", session="s1")
    r = http.get(identity_url + "/api/v1/me", headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == user_id
    assert body["display_name"] == "测试用户"
    assert body["roles"] == [{"role": "resident", "org_id": "1"}]


@pytest.mark.parametrize("forgery", [
    "no_signature", "wrong_key", "other_user", "other_path", "other_method", "stale",
    "garbage",
])
def test_forged_identity_headers_are_refused(http, identity_url, internal_key, user_id, forgery):
    rid = "test-" + secrets.token_hex(8)
    key = internal_key
    signed_user, method, target, t = user_id, "GET", "/api/v1/me", None
    if forgery == "wrong_key":
        key = secrets.token_hex(32)
    elif forgery == "other_user":
        signed_user = str(int(user_id) + 1)
    elif forgery == "other_path":
        target = "/api/v1/auth/jwks"
    elif forgery == "other_method":
        method = "POST"
    elif forgery == "stale":
        t = int(time.time()) - 3600
    h = idhdr.headers(key, method, target, rid, user=signed_user, t=t)
    h["X-Yx-User"] = user_id
    if forgery == "no_signature":
        del h["X-Yx-Sig"]
    elif forgery == "garbage":
        h["X-Yx-Sig"] = "t=1,v1=zz"
    r = http.get(identity_url + "/api/v1/me", headers=h)
    assert r.status_code == 401
    assert r.headers["Content-Type"].startswith("application/problem+json")
    assert r.json()["code"] == "unauthorized"
