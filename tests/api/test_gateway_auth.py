"""Authentication at the gateway: the access JWT is verified (EdDSA only; iss,
aud, typ, exp, nbf; keys by kid), the session must not be revoked, client-sent
X-Yx-* headers never pass, and only the public auth routes go without a token.

Tokens are minted here with the stack's private key (tokens.py), so every
variant of the rejection matrix is crafted exactly. A gateway of our own sits
in front of an echo server, which shows what the services would receive; the
stack's gateway and identity show the same end to end.
"""
import json
import time
import uuid

import pytest
import requests

import idhdr
import spec
import tokens
from conftest import assert_problem
from test_gateway_proxy import (echo, gateway_bin, headers_of,  # noqa: F401 (fixtures)
                                internal_key, start_gateway)


@pytest.fixture(scope="module")
def kid(stack):
    return stack.get("YX_STACK_JWT_KID", "k1")


@pytest.fixture(scope="module")
def key(stack):
    """The stack's signing key: what identity signs with."""
    return tokens.load_private_key(stack["YX_STACK_JWT_PRIVATE_KEY"])


@pytest.fixture(scope="module")
def public_pem(stack):
    with open(stack["YX_STACK_JWT_PUBLIC_KEY"], "rb") as f:
        return f.read()


@pytest.fixture(scope="module")
def gw(start_gateway, echo):
    """identity -> the echo server."""
    gw = start_gateway(YX_UPSTREAM_IDENTITY=f"127.0.0.1:{echo.port}")
    gw.wait_health({"identity": "up"})
    return gw


def path():
    return "/api/v1/me/echo-" + uuid.uuid4().hex[:12]


def bearer(token):
    return {"Authorization": "Bearer " + token}


def seen_by_upstream(echo, p):
    return [x for x in list(echo.seen) if x["path"] == p]


def assert_invalid_token(resp):
    body = assert_problem(resp, 401, "invalid_token")
    challenge = resp.headers.get("WWW-Authenticate", "")
    assert challenge.startswith("Bearer ") and 'error="invalid_token"' in challenge, challenge
    return body


# --- valid tokens -----------------------------------------------------------------------

def test_valid_token_forwards_the_signed_identity(gw, echo, key, kid, internal_key):
    token, c = tokens.mint(key, kid=kid, roles=("resident@12", "community_staff@12"), org="12")
    rid = "auth-" + uuid.uuid4().hex[:12]
    p = path()
    r = requests.get(gw.url + p, headers={**bearer(token), "X-Request-Id": rid}, timeout=5)
    assert r.status_code == 200, r.text
    h = headers_of(r.json())
    assert h["x-yx-user"] == [c["sub"]]
    assert h["x-yx-roles"] == ["resident@12,community_staff@12"]
    assert h["x-yx-org"] == ["12"]
    assert h["x-yx-session"] == [c["sid"]]
    # The services trust the signature, never the client's credentials.
    assert "authorization" not in h
    sig = h["x-yx-sig"][0]
    t = int(sig.split(",")[0][2:])
    assert sig == idhdr.sign(internal_key, "GET", p, rid, user=c["sub"],
                             roles="resident@12,community_staff@12", org="12",
                             session=c["sid"], t=t)


def test_token_without_org_or_roles(gw, key, kid):
    token, c = tokens.mint(key, kid=kid, roles=(), org=None)
    r = requests.get(gw.url + path(), headers=bearer(token), timeout=5)
    assert r.status_code == 200, r.text
    h = headers_of(r.json())
    assert h["x-yx-user"] == [c["sub"]] and h["x-yx-session"] == [c["sid"]]
    assert "x-yx-roles" not in h and "x-yx-org" not in h


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_scheme_is_case_insensitive(gw, key, kid, scheme):
    token, _ = tokens.mint(key, kid=kid)
    r = requests.get(gw.url + path(), headers={"Authorization": f"{scheme}  {token}"}, timeout=5)
    assert r.status_code == 200, r.text


def test_a_cached_token_still_expires(gw, key, kid):
    """The second use of a token skips the signature check, not the expiry."""
    token, c = tokens.mint(key, kid=kid, ttl=2)
    assert requests.get(gw.url + path(), headers=bearer(token), timeout=5).status_code == 200
    assert requests.get(gw.url + path(), headers=bearer(token), timeout=5).status_code == 200
    time.sleep(max(0.0, c["exp"] - time.time()) + 0.05)
    body = assert_invalid_token(requests.get(gw.url + path(), headers=bearer(token), timeout=5))
    assert "过期" in body.get("detail", "")


# --- the rejection matrix ---------------------------------------------------------------

def _variants(key, kid, public_pem):
    other_key, _ = tokens.new_key_pair()
    good = tokens.claims()
    valid, _ = tokens.mint(key, kid=kid)
    now = int(time.time())
    return {
        "alg_none": tokens.alg_none(good, kid=kid),
        "hs256_with_public_key": tokens.hs256_with_public_key(public_pem, good, kid=kid),
        "wrong_iss": tokens.sign(key, tokens.claims(iss="someone-else"), kid=kid),
        "wrong_aud": tokens.sign(key, tokens.claims(aud="yuexiang-admin"), kid=kid),
        "wrong_typ_claim": tokens.sign(key, tokens.claims(typ="refresh"), kid=kid),
        "wrong_typ_header": tokens.sign(key, good, header={"alg": "EdDSA", "typ": "JWT",
                                                           "kid": kid}),
        "expired_by_1s": tokens.sign(key, tokens.claims(iat=now - 61, exp=now - 1), kid=kid),
        "not_yet_valid": tokens.sign(key, tokens.claims(nbf=now + 60), kid=kid),
        "lifetime_over_15_min": tokens.sign(key, tokens.claims(ttl=901), kid=kid),
        "unknown_kid": tokens.sign(other_key, good, kid="k-unknown"),
        "other_key_same_kid": tokens.sign(other_key, good, kid=kid),
        "tampered_payload": tokens.tamper_payload(valid, sub="1"),
        "tampered_roles": tokens.tamper_payload(valid, roles=["district_admin@1"]),
        "tampered_signature": tokens.tamper_signature(valid),
        "signature_removed": valid.rsplit(".", 1)[0] + ".",
        "jku_header": tokens.sign(key, good, header={"alg": "EdDSA", "typ": "at+jwt",
                                                     "kid": kid, "jku": "https://x/j"}),
        "missing_sid": tokens.sign(key, {k: v for k, v in good.items() if k != "sid"},
                                   kid=kid),
        "garbage": "not.a.jwt",
        "two_parts": valid.rsplit(".", 1)[0],
        "bad_characters": valid[:20] + "!" + valid[21:],
    }


REJECTIONS = ["alg_none", "hs256_with_public_key", "wrong_iss", "wrong_aud", "wrong_typ_claim",
              "wrong_typ_header", "expired_by_1s", "not_yet_valid", "lifetime_over_15_min",
              "unknown_kid", "other_key_same_kid", "tampered_payload", "tampered_roles",
              "tampered_signature", "signature_removed", "jku_header", "missing_sid", "garbage",
              "two_parts", "bad_characters"]


@pytest.mark.parametrize("variant", REJECTIONS)
def test_rejection_matrix(gw, echo, key, kid, public_pem, variant):
    token = _variants(key, kid, public_pem)[variant]
    p = path()
    r = requests.get(gw.url + p, headers=bearer(token), timeout=5)
    body = assert_invalid_token(r)
    # Nothing about keys, algorithms or claims leaks to the client.
    assert "kid" not in json.dumps(body) and "alg" not in json.dumps(body)
    assert seen_by_upstream(echo, p) == []


def test_tampered_copy_of_a_cached_token_is_refused(gw, key, kid):
    """A token verified once (and cached) does not vouch for an altered copy."""
    token, _ = tokens.mint(key, kid=kid)
    assert requests.get(gw.url + path(), headers=bearer(token), timeout=5).status_code == 200
    assert_invalid_token(requests.get(gw.url + path(), timeout=5,
                                      headers=bearer(tokens.tamper_payload(token, sub="1"))))
    assert_invalid_token(requests.get(gw.url + path(), timeout=5,
                                      headers=bearer(tokens.tamper_signature(token))))


@pytest.mark.parametrize("header", [None, "Basic dXNlcjpwYXNz", "Token abc"])
def test_no_bearer_token_is_401_unauthorized(gw, echo, header):
    p = path()
    h = {} if header is None else {"Authorization": header}
    r = requests.get(gw.url + p, headers=h, timeout=5)
    assert_problem(r, 401, "unauthorized")
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="yuexiang"'
    assert seen_by_upstream(echo, p) == []


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "Bearer a b", "Bearer " + "a" * 5000])
def test_malformed_bearer_is_invalid_token(gw, header):
    assert_invalid_token(requests.get(gw.url + path(), headers={"Authorization": header},
                                      timeout=5))


# --- forged identity headers --------------------------------------------------------------

FORGED = {"X-Yx-User": "1", "X-Yx-Roles": "district_admin@1", "x-yx-org": "1",
          "X-YX-SESSION": "forged", "X-Yx-Sig": "t=1,v1=" + "0" * 64, "X-Yx-Extra": "x"}


def test_forged_identity_headers_never_pass_with_a_token(gw, key, kid):
    token, c = tokens.mint(key, kid=kid)
    r = requests.get(gw.url + path(), headers={**bearer(token), **FORGED}, timeout=5)
    assert r.status_code == 200, r.text
    h = headers_of(r.json())
    assert h["x-yx-user"] == [c["sub"]] and h["x-yx-roles"] == ["resident@1"]
    assert h["x-yx-org"] == ["1"] and h["x-yx-session"] == [c["sid"]]
    assert "x-yx-extra" not in h and len(h["x-yx-sig"]) == 1


def test_forged_identity_headers_never_pass_anonymously(gw, internal_key):
    rid = "forged-" + uuid.uuid4().hex[:10]
    r = requests.post(gw.url + "/api/v1/auth/login", json={}, timeout=5,
                      headers={**FORGED, "X-Request-Id": rid})
    assert r.status_code == 200, r.text
    h = headers_of(r.json())
    for name in ("x-yx-user", "x-yx-roles", "x-yx-org", "x-yx-session", "x-yx-extra"):
        assert name not in h, name
    t = int(h["x-yx-sig"][0].split(",")[0][2:])
    assert h["x-yx-sig"][0] == idhdr.sign(internal_key, "POST", "/api/v1/auth/login", rid, t=t)


def test_forged_headers_alone_are_401(gw):
    assert_problem(requests.get(gw.url + path(), headers=FORGED, timeout=5), 401,
                   "unauthorized")


# --- public routes ------------------------------------------------------------------------

@pytest.mark.parametrize("method,p", [
    ("POST", "/api/v1/auth/sms-code"), ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/refresh"), ("GET", "/api/v1/auth/jwks"),
    # Other methods reach the service too, which answers 405 itself.
    ("GET", "/api/v1/auth/login"),
])
def test_public_routes_need_no_token(gw, method, p):
    r = requests.request(method, gw.url + p, json={} if method == "POST" else None, timeout=5)
    assert r.status_code == 200, r.text
    assert "x-yx-user" not in headers_of(r.json())


def test_public_route_with_a_valid_token_forwards_the_identity(gw, key, kid):
    token, c = tokens.mint(key, kid=kid)
    r = requests.post(gw.url + "/api/v1/auth/refresh", json={}, headers=bearer(token), timeout=5)
    assert headers_of(r.json())["x-yx-user"] == [c["sub"]]


def test_public_route_with_a_bad_token_goes_anonymous(gw, key, kid):
    """An app holding an expired access token must still be able to refresh."""
    now = int(time.time())
    expired = tokens.sign(key, tokens.claims(iat=now - 100, exp=now - 10), kid=kid)
    for token in (expired, "garbage"):
        r = requests.post(gw.url + "/api/v1/auth/refresh", json={}, headers=bearer(token),
                          timeout=5)
        assert r.status_code == 200, r.text
        assert "x-yx-user" not in headers_of(r.json())


@pytest.mark.parametrize("method,p", [
    ("POST", "/api/v1/auth/logout"), ("GET", "/api/v1/me"), ("GET", "/api/v1/auth/login/x"),
    ("GET", "/api/v1/auth/jwks/x"), ("GET", "/api/v1/auth"), ("DELETE", "/api/v1/me/sessions/1"),
])
def test_everything_else_needs_a_token(gw, echo, method, p):
    r = requests.request(method, gw.url + p, timeout=5)
    assert_problem(r, 401, "unauthorized")


# --- revocation ---------------------------------------------------------------------------

def test_revoked_session_is_refused_within_a_second(gw, key, kid, redis_admin):
    token, c = tokens.mint(key, kid=kid)
    other, _ = tokens.mint(key, kid=kid)
    assert requests.get(gw.url + path(), headers=bearer(token), timeout=5).status_code == 200
    marker = "pub:session:revoked:" + c["sid"]
    redis_admin.set(marker, "1", ex=900)
    try:
        t0 = time.monotonic()
        while True:
            r = requests.get(gw.url + path(), headers=bearer(token), timeout=5)
            if r.status_code == 401 or time.monotonic() - t0 > 2:
                break
            time.sleep(0.05)
        assert time.monotonic() - t0 <= 1.0
        body = assert_invalid_token(r)
        assert "退出" in body["detail"]
        # Other sessions are untouched.
        assert requests.get(gw.url + path(), headers=bearer(other), timeout=5).status_code == 200
    finally:
        redis_admin.delete(marker)


# --- end to end through the stack -----------------------------------------------------------

@pytest.fixture()
def user_row(pg_super):
    """A user row, inserted directly (identity's login is not needed here)."""
    with pg_super.cursor() as cur:
        cur.execute(
            "INSERT INTO identity.users (phone_enc, phone_idx, phone_masked, display_name)"
            " VALUES ('v1.0.AAAA', %s, '138****0000', '网关测试') RETURNING id::text",
            ("gwtest-" + uuid.uuid4().hex,))
        uid = cur.fetchone()[0]
    yield uid
    with pg_super.cursor() as cur:
        cur.execute("DELETE FROM identity.users WHERE id = %s::bigint", (uid,))


def test_me_through_the_stack_gateway(http, base_url, key, kid, user_row):
    token, _ = tokens.mint(key, kid=kid, sub=user_row, roles=("resident@1",), org="1")
    rid = "e2e-" + uuid.uuid4().hex[:12]
    r = http.get(base_url + "/api/v1/me", headers={**bearer(token), "X-Request-Id": rid})
    assert r.status_code == 200, r.text
    body = spec.check(r)
    assert body["id"] == user_row and body["display_name"] == "网关测试"
    assert r.headers["X-Request-Id"] == rid


@pytest.mark.parametrize("variant", ["expired_by_1s", "alg_none", "tampered_payload"])
def test_me_refused_by_the_stack_gateway(http, base_url, key, kid, public_pem, user_row,
                                         variant):
    token = _variants(key, kid, public_pem)[variant]
    r = http.get(base_url + "/api/v1/me", headers=bearer(token))
    spec.check(r)
    assert_invalid_token(r)
