"""Login and tokens: SMS codes and their limits, code and password login, refresh
rotation with reuse detection, logout, the session list, `bootstrap-admin`, and
that no plaintext phone number reaches the database or the service log.

Public endpoints (sms-code, login, refresh) are called through the gateway.
Endpoints that need a signed-in caller are called directly on identity's port
with identity headers signed as the gateway will sign them once it turns access
tokens into identities (tests/api/idhdr.py), from the claims of a real access
token. Direct calls also carry an X-Forwarded-For of their own, so per-address
SMS limits of one test do not touch another's.

The stack's YX_* settings are the defaults: 1 code per number per minute, 5 per
hour, 10 per day, 30 per address per hour. Tests reset the counters they fill
through the admin Redis connection instead of waiting.
"""
import base64
import hashlib
import hmac
import json
import os
import pathlib
import random
import re
import secrets
import signal
import socket
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from cryptography.hazmat.primitives import serialization

import idhdr
import spec
from conftest import REPO

# Every phone number a test uses; the last test looks for them in pg_dump and the log.
USED_PHONES = []
GATEWAY_IP = "127.0.0.1"


# --- helpers ---------------------------------------------------------------------------

def new_phone():
    phone = "1" + random.choice("3456789") + "".join(random.choice("0123456789") for _ in range(9))
    USED_PHONES.append(phone)
    return phone


def new_ip():
    return "10.%d.%d.%d" % (random.randrange(256), random.randrange(256), random.randrange(1, 255))


def rid():
    return "test-" + secrets.token_hex(8)


def b64url_json(part):
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


@pytest.fixture(scope="session")
def identity_url(stack):
    return stack["YX_STACK_IDENTITY_URL"].rstrip("/")


@pytest.fixture(scope="session")
def internal_key(secrets_dir):
    return (secrets_dir / "internal.key").read_text().strip()


@pytest.fixture(scope="session")
def index_key(secrets_dir):
    return bytes.fromhex((secrets_dir / "index.key").read_text().strip())


@pytest.fixture(scope="session")
def sms_key(secrets_dir):
    return bytes.fromhex((secrets_dir / "sms.key").read_text().strip())


@pytest.fixture(scope="session")
def phone_idx(index_key):
    """phone_idx("13800000000"): the blind index identity keeps (yx_blind_index)."""
    def idx(phone):
        return hmac.new(index_key, b"phone\x00" + phone.encode(), hashlib.sha256).hexdigest()
    return idx


@pytest.fixture(autouse=True)
def fresh_gateway_address(redis_admin):
    """Requests through the gateway all come from 127.0.0.1: give each test its
    own hourly allowance of codes for that address."""
    redis_admin.delete("identity:{smsip:%s}:h" % GATEWAY_IP)
    yield


@pytest.fixture()
def clear_limits(redis_admin, phone_idx):
    """clear_limits(phone, windows="mhd"): forget the number's sent-code counters."""
    def clear(phone, windows="mhd"):
        idx = phone_idx(phone)
        redis_admin.delete(*["identity:{sms:%s}:%s" % (idx, w) for w in windows])
    return clear


@pytest.fixture()
def direct(http, identity_url, internal_key):
    """direct(method, path, identity=None, query=None, xff=None, **kw): a request
    straight to identity, signed as the gateway signs it. identity is a dict
    with user, roles, org, session (see as_identity)."""
    def call(method, path, identity=None, query=None, xff=None, **kw):
        target = path + ("?" + query if query else "")
        ident = identity or {}
        h = idhdr.headers(internal_key, method, target, rid(), **ident)
        h["X-Forwarded-For"] = xff or new_ip()
        h.update(kw.pop("headers", {}))
        return http.request(method, identity_url + target, headers=h, **kw)
    return call


def as_identity(tokens):
    """The identity headers the gateway derives from an access token."""
    claims = b64url_json(tokens["access_token"].split(".")[1])
    return {"user": claims["sub"], "roles": ",".join(claims["roles"]),
            "org": claims.get("org", ""), "session": claims["sid"]}


@pytest.fixture()
def send_code(http, base_url, sms_messages, clear_limits):
    """send_code(phone): asks for a code through the gateway (clearing the
    number's counters first) and returns the code the outbox received."""
    def send(phone):
        clear_limits(phone)
        before = len(sms_messages())
        r = http.post(base_url + "/api/v1/auth/sms-code", json={"phone": phone})
        assert r.status_code == 202, r.text
        spec.check(r)
        sent = [m for m in sms_messages()[before:] if m["phone"] == phone]
        assert len(sent) == 1
        return sent[0]["code"]
    return send


@pytest.fixture()
def login(http, base_url, send_code):
    """login(phone=None): a fresh code login; returns the token pair body."""
    def do(phone=None):
        phone = phone or new_phone()
        code = send_code(phone)
        r = http.post(base_url + "/api/v1/auth/login", json={"phone": phone, "code": code})
        assert r.status_code == 200, r.text
        body = spec.check(r)
        body["_phone"] = phone
        return body
    return do


def wrong_code(code):
    return "%06d" % ((int(code) + 1) % 1000000)


def refresh(http, base_url, token):
    return http.post(base_url + "/api/v1/auth/refresh", json={"refresh_token": token})


def marker_ttl(redis_admin, sid):
    return redis_admin.ttl("pub:session:revoked:" + sid)


@pytest.fixture(scope="session")
def identity_bin():
    path = REPO / os.environ.get("BUILD", "build") / "bin" / "yx-identity"
    if not path.exists():
        pytest.skip(f"{path} is not built")
    return path


@pytest.fixture()
def bootstrap_admin(stack, secrets_dir, identity_bin):
    """bootstrap_admin(phone, password, *extra) -> CompletedProcess of the command,
    run with the stack's identity DSN and field keys only."""
    def run(phone, password, *extra):
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
               "YX_DB_DSN": stack["YX_STACK_PG_DSN_IDENTITY"],
               "YX_FIELD_KEY_FILE": str(secrets_dir / "field.key"),
               "YX_INDEX_KEY_FILE": str(secrets_dir / "index.key")}
        return subprocess.run([str(identity_bin), "bootstrap-admin", "--phone", phone,
                               "--password", password, *extra],
                              env=env, capture_output=True, text=True, timeout=30)
    return run


# --- POST /api/v1/auth/sms-code ----------------------------------------------------------

def test_sms_code_writes_one_line_to_the_outbox_and_keeps_only_an_hmac(
        http, base_url, sms_messages, clear_limits, pg_super, phone_idx, sms_key):
    phone = new_phone()
    clear_limits(phone)
    before = len(sms_messages())
    r = http.post(base_url + "/api/v1/auth/sms-code", json={"phone": "+86" + phone})
    assert r.status_code == 202, r.text
    assert spec.check(r) == {"expires_in": 300}
    sent = sms_messages()[before:]
    assert [m["phone"] for m in sent] == [phone]
    assert re.fullmatch(r"[0-9]{6}", sent[0]["code"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", sent[0]["sent_at"])
    idx = phone_idx(phone)
    with pg_super.cursor() as cur:
        cur.execute("SELECT code_hmac, expires_at - created_at, attempts, used_at"
                    " FROM identity.sms_codes WHERE phone_idx = %s", (idx,))
        code_hmac, ttl, attempts, used_at = cur.fetchone()
    expected = hmac.new(sms_key, f"{idx}:{sent[0]['code']}".encode(), hashlib.sha256).hexdigest()
    assert code_hmac == expected
    assert ttl.total_seconds() == 300 and attempts == 0 and used_at is None


def test_codes_expired_a_day_ago_are_dropped(send_code, pg_super):
    stale = "test-stale-" + secrets.token_hex(8)
    with pg_super.cursor() as cur:
        cur.execute("INSERT INTO identity.sms_codes (phone_idx, code_hmac, expires_at)"
                    " VALUES (%s, 'x', now() - interval '2 days')", (stale,))
    send_code(new_phone())
    with pg_super.cursor() as cur:
        cur.execute("SELECT count(*) FROM identity.sms_codes WHERE phone_idx = %s", (stale,))
        assert cur.fetchone()[0] == 0


@pytest.mark.parametrize("body,field,reason", [
    ({}, "phone", "required"),
    ({"phone": 13800000000}, "phone", "required"),
    ({"phone": "12345"}, "phone", "invalid"),
    ({"phone": "1280000000x"}, "phone", "invalid"),
    ({"phone": "138 0000 0000"}, "phone", "invalid"),
    ({"phone": "1" * 30}, "phone", "invalid"),
])
def test_sms_code_refuses_a_bad_phone(http, base_url, problem, body, field, reason):
    r = http.post(base_url + "/api/v1/auth/sms-code", json=body)
    spec.check(r)
    p = problem(r, 422, "validation_failed")
    assert p["errors"] == [{"field": field, "reason": reason}]


def test_sms_code_refuses_other_methods_and_bodies(http, base_url, problem):
    r = http.get(base_url + "/api/v1/auth/sms-code")
    spec.check(r)
    problem(r, 405, "method_not_allowed")
    r = http.post(base_url + "/api/v1/auth/sms-code", data="phone=13800000000",
                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    spec.check(r)
    problem(r, 415, "unsupported_media_type")
    r = http.post(base_url + "/api/v1/auth/sms-code", data="{",
                  headers={"Content-Type": "application/json"})
    spec.check(r)
    problem(r, 400, "invalid_json")


def test_requests_not_signed_by_the_gateway_are_refused(http, identity_url, problem):
    for path, body in (("/api/v1/auth/sms-code", {"phone": new_phone()}),
                       ("/api/v1/auth/login", {"phone": new_phone(), "code": "123456"}),
                       ("/api/v1/auth/refresh", {"refresh_token": "x" * 43})):
        r = http.post(identity_url + path, json=body, headers={"X-Forwarded-For": new_ip()})
        spec.check(r)
        problem(r, 401, "unauthorized")


def test_one_code_per_number_per_minute(http, base_url, clear_limits, problem, sms_messages):
    phone = new_phone()
    clear_limits(phone)
    assert http.post(base_url + "/api/v1/auth/sms-code", json={"phone": phone}).status_code == 202
    before = len(sms_messages())
    r = http.post(base_url + "/api/v1/auth/sms-code", json={"phone": phone})
    spec.check(r)
    problem(r, 429, "sms_rate_limited")
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    assert len(sms_messages()) == before


def test_five_codes_per_number_per_hour(http, base_url, clear_limits, problem):
    phone = new_phone()
    clear_limits(phone)
    for _ in range(5):
        clear_limits(phone, "m")
        r = http.post(base_url + "/api/v1/auth/sms-code", json={"phone": phone})
        assert r.status_code == 202, r.text
    clear_limits(phone, "m")
    r = http.post(base_url + "/api/v1/auth/sms-code", json={"phone": phone})
    spec.check(r)
    problem(r, 429, "sms_rate_limited")
    assert 60 < int(r.headers["Retry-After"]) <= 3600


def test_ten_codes_per_number_per_day(http, base_url, clear_limits, problem, redis_admin):
    phone = new_phone()
    clear_limits(phone)
    for _ in range(10):
        clear_limits(phone, "mh")
        redis_admin.delete("identity:{smsip:%s}:h" % GATEWAY_IP)
        r = http.post(base_url + "/api/v1/auth/sms-code", json={"phone": phone})
        assert r.status_code == 202, r.text
    clear_limits(phone, "mh")
    r = http.post(base_url + "/api/v1/auth/sms-code", json={"phone": phone})
    spec.check(r)
    problem(r, 429, "sms_rate_limited")
    assert 3600 < int(r.headers["Retry-After"]) <= 86400


def test_thirty_codes_per_client_address_per_hour(direct, redis_admin, problem, clear_limits):
    ip = new_ip()
    phone = new_phone()
    clear_limits(phone)
    r = direct("POST", "/api/v1/auth/sms-code", xff=ip, json={"phone": phone})
    assert r.status_code == 202, r.text
    key = "identity:{smsip:%s}:h" % ip
    assert redis_admin.get(key) == "1"
    assert 3500 < redis_admin.ttl(key) <= 3600
    # The address has used up its hour; other numbers from it are refused too.
    redis_admin.set(key, 30, ex=1800)
    other = new_phone()
    clear_limits(other)
    r = direct("POST", "/api/v1/auth/sms-code", xff=ip, json={"phone": other})
    spec.check(r)
    problem(r, 429, "sms_rate_limited")
    assert 1700 < int(r.headers["Retry-After"]) <= 1800
    # A refusal by address spends nothing of the number's own allowance.
    r = direct("POST", "/api/v1/auth/sms-code", xff=new_ip(), json={"phone": other})
    assert r.status_code == 202, r.text


def test_sms_code_fails_closed_when_the_limits_cannot_be_counted(
        direct, redis_admin, problem, sms_messages, clear_limits):
    phone = new_phone()
    clear_limits(phone)
    before = len(sms_messages())
    # Identity's Redis user loses the scripting commands the limits run on.
    redis_admin.execute_command("ACL", "SETUSER", "yx_identity", "-eval", "-evalsha")
    try:
        r = direct("POST", "/api/v1/auth/sms-code", json={"phone": phone})
    finally:
        redis_admin.execute_command("ACL", "SETUSER", "yx_identity", "+eval", "+evalsha")
    spec.check(r)
    problem(r, 503, "service_unavailable")
    assert len(sms_messages()) == before
    r = direct("POST", "/api/v1/auth/sms-code", json={"phone": phone})
    assert r.status_code == 202, r.text


# --- POST /api/v1/auth/login with a code ---------------------------------------------------

def test_code_login_creates_a_resident_account(http, base_url, send_code, pg_super, phone_idx,
                                               stack, secrets_dir):
    phone = new_phone()
    code = send_code(phone)
    r = http.post(base_url + "/api/v1/auth/login", json={"phone": phone, "code": code})
    assert r.status_code == 200, r.text
    body = spec.check(r)
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["refresh_expires_in"] == 30 * 86400
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", body["refresh_token"])
    user = body["user"]
    assert user["phone"] == phone and user["roles"] == []

    header_b64, payload_b64, sig_b64 = body["access_token"].split(".")
    assert b64url_json(header_b64) == {"alg": "EdDSA", "typ": "at+jwt",
                                       "kid": stack["YX_STACK_JWT_KID"]}
    claims = b64url_json(payload_b64)
    assert claims["sub"] == user["id"] and claims["sid"] == body["session_id"]
    assert claims["iss"] == "yuexiang-identity" and claims["aud"] == "yuexiang-app"
    assert claims["typ"] == "access" and claims["roles"] == []
    assert 0 < claims["exp"] - claims["iat"] <= 900 and len(claims["jti"]) >= 16
    pub = serialization.load_pem_public_key(
        (secrets_dir / f"jwt-{stack['YX_STACK_JWT_KID']}.pub.pem").read_bytes())
    pub.verify(base64.urlsafe_b64decode(sig_b64 + "=="), f"{header_b64}.{payload_b64}".encode())

    with pg_super.cursor() as cur:
        cur.execute("SELECT id::text, phone_enc, phone_masked, password_hash FROM identity.users"
                    " WHERE phone_idx = %s", (phone_idx(phone),))
        uid, enc, masked, pw = cur.fetchone()
        cur.execute("SELECT refresh_hash, login_method, client_ip IS NOT NULL"
                    " FROM identity.sessions WHERE family_id = %s", (body["session_id"],))
        rows = cur.fetchall()
    assert uid == user["id"] and phone not in enc and pw is None
    assert masked == phone[:3] + "****" + phone[-4:]
    assert rows == [(hashlib.sha256(body["refresh_token"].encode()).hexdigest(), "code", True)]


def test_code_login_of_a_known_number_is_the_same_account(login):
    first = login()
    again = login(first["_phone"])
    assert again["user"]["id"] == first["user"]["id"]
    assert again["session_id"] != first["session_id"]


def test_a_code_works_once(http, base_url, send_code, problem):
    phone = new_phone()
    code = send_code(phone)
    assert http.post(base_url + "/api/v1/auth/login",
                     json={"phone": phone, "code": code}).status_code == 200
    r = http.post(base_url + "/api/v1/auth/login", json={"phone": phone, "code": code})
    spec.check(r)
    problem(r, 401, "invalid_code")


def test_a_code_dies_after_five_wrong_tries(http, base_url, send_code, problem):
    phone = new_phone()
    code = send_code(phone)
    for _ in range(5):
        r = http.post(base_url + "/api/v1/auth/login",
                      json={"phone": phone, "code": wrong_code(code)})
        spec.check(r)
        problem(r, 401, "invalid_code")
    r = http.post(base_url + "/api/v1/auth/login", json={"phone": phone, "code": code})
    spec.check(r)
    problem(r, 401, "code_attempts_exceeded")
    # A new code has all its tries again.
    code = send_code(phone)
    r = http.post(base_url + "/api/v1/auth/login", json={"phone": phone, "code": code})
    assert r.status_code == 200, r.text


def test_a_new_code_replaces_the_previous_one(http, base_url, send_code, problem):
    phone = new_phone()
    first = send_code(phone)
    second = send_code(phone)
    if first != second:
        r = http.post(base_url + "/api/v1/auth/login", json={"phone": phone, "code": first})
        problem(r, 401, "invalid_code")
    r = http.post(base_url + "/api/v1/auth/login", json={"phone": phone, "code": second})
    assert r.status_code == 200, r.text


def test_an_expired_code_is_refused(http, base_url, send_code, pg_super, phone_idx, problem):
    phone = new_phone()
    code = send_code(phone)
    with pg_super.cursor() as cur:
        cur.execute("UPDATE identity.sms_codes SET expires_at = now() - interval '1 second'"
                    " WHERE phone_idx = %s", (phone_idx(phone),))
    r = http.post(base_url + "/api/v1/auth/login", json={"phone": phone, "code": code})
    spec.check(r)
    problem(r, 401, "code_expired")


def test_a_code_for_a_number_that_got_none_is_refused(http, base_url, problem):
    r = http.post(base_url + "/api/v1/auth/login", json={"phone": new_phone(), "code": "123456"})
    spec.check(r)
    problem(r, 401, "invalid_code")


@pytest.mark.parametrize("body,errors", [
    ({"phone": "13800000000"}, [{"field": "code", "reason": "one_required"},
                                {"field": "password", "reason": "one_required"}]),
    ({"phone": "13800000000", "code": "123456", "password": "x" * 12},
     [{"field": "code", "reason": "exclusive"}, {"field": "password", "reason": "exclusive"}]),
    ({"phone": "13800000000", "code": "12345a"}, [{"field": "code", "reason": "invalid"}]),
    ({"phone": "13800000000", "code": 123456}, [{"field": "code", "reason": "invalid"}]),
    ({"phone": "13800000000", "password": ""}, [{"field": "password", "reason": "invalid"}]),
    ({"phone": "13800000000", "password": "p" * 129},
     [{"field": "password", "reason": "invalid"}]),
    ({"code": "123456"}, [{"field": "phone", "reason": "required"}]),
    ({"phone": "23800000000", "code": "123456"}, [{"field": "phone", "reason": "invalid"}]),
])
def test_login_validates_its_body(http, base_url, problem, body, errors):
    r = http.post(base_url + "/api/v1/auth/login", json=body)
    spec.check(r)
    assert problem(r, 422, "validation_failed")["errors"] == errors


def test_login_refuses_other_methods(http, base_url, login, problem):
    for path in ("/api/v1/auth/login", "/api/v1/auth/refresh"):
        r = http.get(base_url + path)
        spec.check(r)
        problem(r, 405, "method_not_allowed")
    # Logout is not a public route: the gateway asks for a token first.
    r = http.get(base_url + "/api/v1/auth/logout")
    spec.check(r)
    problem(r, 401, "unauthorized")
    tokens = login()
    r = http.get(base_url + "/api/v1/auth/logout",
                 headers={"Authorization": "Bearer " + tokens["access_token"]})
    spec.check(r)
    problem(r, 405, "method_not_allowed")


def test_a_disabled_account_cannot_sign_in_or_refresh(http, base_url, login, send_code, pg_super,
                                                      problem, redis_admin):
    tokens = login()
    with pg_super.cursor() as cur:
        cur.execute("UPDATE identity.users SET status = 'disabled' WHERE id = %s::bigint",
                    (tokens["user"]["id"],))
    code = send_code(tokens["_phone"])
    r = http.post(base_url + "/api/v1/auth/login", json={"phone": tokens["_phone"], "code": code})
    spec.check(r)
    problem(r, 403, "account_disabled")
    r = refresh(http, base_url, tokens["refresh_token"])
    spec.check(r)
    problem(r, 403, "account_disabled")
    assert 0 < marker_ttl(redis_admin, tokens["session_id"]) <= 900


# --- POST /api/v1/auth/refresh -------------------------------------------------------------

def test_refresh_rotates_the_pair_within_the_session(http, base_url, login):
    tokens = login()
    for _ in range(3):
        r = refresh(http, base_url, tokens["refresh_token"])
        assert r.status_code == 200, r.text
        nxt = spec.check(r)
        assert nxt["session_id"] == tokens["session_id"]
        assert nxt["user"]["id"] == tokens["user"]["id"]
        assert nxt["refresh_token"] != tokens["refresh_token"]
        assert nxt["access_token"] != tokens["access_token"]
        assert b64url_json(nxt["access_token"].split(".")[1])["sid"] == tokens["session_id"]
        tokens = nxt


def test_reusing_a_rotated_token_revokes_the_whole_family(http, base_url, login, problem,
                                                          redis_admin, pg_super):
    tokens = login()
    r = refresh(http, base_url, tokens["refresh_token"])
    assert r.status_code == 200
    newer = r.json()
    r = refresh(http, base_url, tokens["refresh_token"])
    spec.check(r)
    problem(r, 401, "refresh_reused")
    assert 0 < marker_ttl(redis_admin, tokens["session_id"]) <= 900
    r = refresh(http, base_url, newer["refresh_token"])
    spec.check(r)
    problem(r, 401, "session_revoked")
    with pg_super.cursor() as cur:
        cur.execute("SELECT count(*), count(revoked_at), min(revoke_reason)"
                    " FROM identity.sessions WHERE family_id = %s", (tokens["session_id"],))
        assert cur.fetchone() == (2, 2, "reuse")


@pytest.mark.parametrize("token", ["not-a-token", "A" * 44, "A" * 42 + "=", "A" * 42 + "B"])
def test_refresh_refuses_what_is_not_a_token(http, base_url, problem, token):
    r = refresh(http, base_url, token)
    spec.check(r)
    problem(r, 401, "invalid_refresh_token")


def test_refresh_refuses_an_unknown_token_and_a_missing_one(http, base_url, problem):
    unknown = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    r = refresh(http, base_url, unknown)
    spec.check(r)
    problem(r, 401, "invalid_refresh_token")
    r = http.post(base_url + "/api/v1/auth/refresh", json={})
    spec.check(r)
    assert problem(r, 422, "validation_failed")["errors"] == [
        {"field": "refresh_token", "reason": "required"}]


def test_an_expired_refresh_token_is_refused(http, base_url, login, pg_super, problem):
    tokens = login()
    with pg_super.cursor() as cur:
        cur.execute("UPDATE identity.sessions SET expires_at = now() - interval '1 second'"
                    " WHERE family_id = %s", (tokens["session_id"],))
    r = refresh(http, base_url, tokens["refresh_token"])
    spec.check(r)
    problem(r, 401, "refresh_expired")


def test_of_twenty_concurrent_refreshes_exactly_one_wins(base_url, login):
    tokens = login()
    n = 20
    barrier = threading.Barrier(n)
    results = [None] * n

    def worker(i):
        with requests.Session() as s:
            barrier.wait()
            r = s.post(base_url + "/api/v1/auth/refresh",
                       json={"refresh_token": tokens["refresh_token"]}, timeout=30)
            results[i] = (r.status_code, r.json().get("code"))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    statuses = sorted(s for s, _ in results)
    assert statuses.count(200) == 1, results
    assert statuses.count(401) == n - 1, results
    assert {c for s, c in results if s == 401} <= {"refresh_reused", "session_revoked"}


# --- POST /api/v1/auth/logout --------------------------------------------------------------

def test_logout_revokes_the_session_everywhere(http, base_url, direct, login, problem,
                                               redis_admin):
    tokens = login()
    me = as_identity(tokens)
    r = direct("POST", "/api/v1/auth/logout", identity=me)
    assert r.status_code == 204, r.text
    spec.check(r)
    # The gateway's revocation marker: set before the answer, for an access token's life.
    assert redis_admin.get("pub:session:revoked:" + tokens["session_id"]) == "1"
    assert 890 <= marker_ttl(redis_admin, tokens["session_id"]) <= 900
    r = refresh(http, base_url, tokens["refresh_token"])
    spec.check(r)
    problem(r, 401, "session_revoked")
    # Signing out again is no error.
    assert direct("POST", "/api/v1/auth/logout", identity=me).status_code == 204


def test_logout_needs_a_signed_in_session(direct, problem):
    r = direct("POST", "/api/v1/auth/logout")
    spec.check(r)
    problem(r, 401, "unauthorized")
    r = direct("POST", "/api/v1/auth/logout", identity={"user": "1"})
    spec.check(r)
    problem(r, 401, "unauthorized")


# --- /api/v1/me/sessions -------------------------------------------------------------------

def test_session_list_shows_the_callers_live_sessions(direct, login, http, base_url, problem):
    first = login()
    phone = first["_phone"]
    second = login(phone)
    third = login(phone)
    r = refresh(http, base_url, third["refresh_token"])
    assert r.status_code == 200
    other_user = login()
    me = as_identity(second)

    r = direct("GET", "/api/v1/me/sessions", identity=me)
    assert r.status_code == 200, r.text
    body = spec.check(r)
    ids = [s["id"] for s in body["items"]]
    assert ids == [third["session_id"], second["session_id"], first["session_id"]]
    assert body["next_cursor"] is None
    assert [s["current"] for s in body["items"]] == [False, True, False]
    assert other_user["session_id"] not in ids
    item = body["items"][0]
    assert item["login_method"] == "code" and item["client_ip"] == GATEWAY_IP
    assert item["user_agent"].startswith("python-requests")
    assert item["last_used_at"] >= item["created_at"]

    # One at a time, with the cursor.
    seen, query = [], "limit=1"
    while True:
        r = direct("GET", "/api/v1/me/sessions", identity=me, query=query)
        assert r.status_code == 200, r.text
        page = spec.check(r)
        assert len(page["items"]) == 1
        seen.append(page["items"][0]["id"])
        if page["next_cursor"] is None:
            break
        query = "limit=1&cursor=" + page["next_cursor"]
    assert seen == ids

    r = direct("GET", "/api/v1/me/sessions", identity=me, query="cursor=AAAA")
    spec.check(r)
    problem(r, 400, "invalid_cursor")
    for bad in ("limit=0", "limit=101", "limit=x"):
        r = direct("GET", "/api/v1/me/sessions", identity=me, query=bad)
        spec.check(r)
        assert problem(r, 422, "validation_failed")["errors"] == [
            {"field": "limit", "reason": "invalid"}]


def test_session_list_needs_a_signed_in_user(direct, problem):
    r = direct("GET", "/api/v1/me/sessions")
    spec.check(r)
    problem(r, 401, "unauthorized")
    r = direct("POST", "/api/v1/me/sessions", identity={"user": "1"})
    spec.check(r)
    problem(r, 405, "method_not_allowed")


def test_deleting_a_session_revokes_it(direct, login, http, base_url, problem, redis_admin):
    mine = login()
    phone = mine["_phone"]
    other_device = login(phone)
    me = as_identity(mine)
    r = direct("DELETE", "/api/v1/me/sessions/" + other_device["session_id"], identity=me)
    assert r.status_code == 204, r.text
    spec.check(r)
    assert 0 < marker_ttl(redis_admin, other_device["session_id"]) <= 900
    r = refresh(http, base_url, other_device["refresh_token"])
    problem(r, 401, "session_revoked")
    body = direct("GET", "/api/v1/me/sessions", identity=me).json()
    assert [s["id"] for s in body["items"]] == [mine["session_id"]]
    # Again: the session is the caller's, so this succeeds (and republishes).
    r = direct("DELETE", "/api/v1/me/sessions/" + other_device["session_id"], identity=me)
    assert r.status_code == 204


def test_another_users_session_is_not_found(direct, login, http, base_url, problem):
    mine = login()
    theirs = login()
    me = as_identity(mine)
    for sid in (theirs["session_id"], "00000000-0000-4000-8000-000000000000", "nope",
                theirs["session_id"].upper()):
        r = direct("DELETE", "/api/v1/me/sessions/" + sid, identity=me)
        spec.check(r)
        problem(r, 404, "not_found")
    # Their session is untouched.
    assert refresh(http, base_url, theirs["refresh_token"]).status_code == 200
    r = direct("GET", "/api/v1/me/sessions/" + theirs["session_id"], identity=me)
    spec.check(r)
    problem(r, 405, "method_not_allowed")
    r = direct("DELETE", "/api/v1/me/sessions/" + theirs["session_id"])
    spec.check(r)
    problem(r, 401, "unauthorized")


# --- passwords and bootstrap-admin ---------------------------------------------------------

def test_bootstrap_admin_then_password_login(http, base_url, bootstrap_admin, pg_super,
                                             phone_idx, problem):
    phone = new_phone()
    password = "pw-" + secrets.token_hex(8)
    done = bootstrap_admin(phone, password)
    assert done.returncode == 0, done.stderr
    uid = done.stdout.strip()
    assert uid.isdigit()
    assert password not in done.stdout + done.stderr and phone not in done.stdout + done.stderr

    with pg_super.cursor() as cur:
        cur.execute("SELECT u.password_hash, r.role, o.level, o.name FROM identity.users u"
                    " JOIN identity.user_roles r ON r.user_id = u.id"
                    " JOIN identity.orgs o ON o.id = r.org_id WHERE u.id = %s::bigint", (uid,))
        rows = cur.fetchall()
    assert [r[1:] for r in rows] == [("district_admin", "district", "莲湖区")]
    assert rows[0][0].startswith("$argon2id$v=19$m=19456,t=2,p=1$")

    r = http.post(base_url + "/api/v1/auth/login", json={"phone": phone, "password": password})
    assert r.status_code == 200, r.text
    body = spec.check(r)
    assert body["user"]["id"] == uid and body["user"]["phone"] == phone
    assert [g["role"] for g in body["user"]["roles"]] == ["district_admin"]
    claims = b64url_json(body["access_token"].split(".")[1])
    assert claims["roles"] == ["district_admin@" + body["user"]["roles"][0]["org_id"]]

    # Idempotent on the phone: the same account, the new password.
    newer = password + "-2"
    again = bootstrap_admin(phone, newer)
    assert again.returncode == 0 and again.stdout.strip() == uid
    r = http.post(base_url + "/api/v1/auth/login", json={"phone": phone, "password": password})
    spec.check(r)
    problem(r, 401, "invalid_credentials")
    r = http.post(base_url + "/api/v1/auth/login", json={"phone": phone, "password": newer})
    assert r.status_code == 200, r.text
    with pg_super.cursor() as cur:
        cur.execute("SELECT count(*) FROM identity.orgs WHERE level = 'district' AND name = '莲湖区'")
        assert cur.fetchone()[0] == 1


def test_bootstrap_admin_refuses_bad_input(bootstrap_admin):
    short = bootstrap_admin(new_phone(), "short")
    assert short.returncode != 0 and "short" not in short.stdout
    bad = bootstrap_admin("12345", "long enough password")
    assert bad.returncode != 0 and bad.stdout == ""


def test_bootstrap_admin_names_its_district(bootstrap_admin, pg_super):
    name = "测试区" + secrets.token_hex(3)
    done = bootstrap_admin(new_phone(), "pw-" + secrets.token_hex(8), "--district", name)
    assert done.returncode == 0, done.stderr
    with pg_super.cursor() as cur:
        cur.execute("SELECT o.level, o.parent_id, o.path = '/' || o.id || '/'"
                    " FROM identity.user_roles r JOIN identity.orgs o ON o.id = r.org_id"
                    " WHERE r.user_id = %s::bigint", (done.stdout.strip(),))
        assert cur.fetchall() == [("district", None, True)]
        cur.execute("SELECT count(*) FROM identity.orgs WHERE name = %s", (name,))
        assert cur.fetchone()[0] == 1


def test_wrong_password_and_numbers_without_password_are_refused_alike(
        http, base_url, login, problem):
    resident = login()  # has no password
    for phone in (resident["_phone"], new_phone()):
        r = http.post(base_url + "/api/v1/auth/login",
                      json={"phone": phone, "password": "guess-" + secrets.token_hex(4)})
        spec.check(r)
        problem(r, 401, "invalid_credentials")


def test_failed_password_logins_back_off_exponentially(http, base_url, bootstrap_admin,
                                                       pg_super, phone_idx, problem):
    phone = new_phone()
    password = "pw-" + secrets.token_hex(8)
    assert bootstrap_admin(phone, password).returncode == 0
    url = base_url + "/api/v1/auth/login"
    for _ in range(5):
        r = http.post(url, json={"phone": phone, "password": "wrong-password"})
        spec.check(r)
        problem(r, 401, "invalid_credentials")
    # Locked now: even the right password waits.
    r = http.post(url, json={"phone": phone, "password": password})
    spec.check(r)
    problem(r, 429, "login_locked")
    first_wait = int(r.headers["Retry-After"])
    assert 25 <= first_wait <= 30

    def unlock():
        with pg_super.cursor() as cur:
            cur.execute("UPDATE identity.login_failures SET locked_until = now()"
                        " WHERE phone_idx = %s", (phone_idx(phone),))

    unlock()
    r = http.post(url, json={"phone": phone, "password": "wrong-password"})
    problem(r, 401, "invalid_credentials")
    r = http.post(url, json={"phone": phone, "password": "wrong-password"})
    spec.check(r)
    problem(r, 429, "login_locked")
    assert 55 <= int(r.headers["Retry-After"]) <= 60
    unlock()
    r = http.post(url, json={"phone": phone, "password": "wrong-password"})
    problem(r, 401, "invalid_credentials")
    r = http.post(url, json={"phone": phone, "password": password})
    problem(r, 429, "login_locked")
    assert 115 <= int(r.headers["Retry-After"]) <= 120

    # A success clears the count.
    unlock()
    r = http.post(url, json={"phone": phone, "password": password})
    assert r.status_code == 200, r.text
    with pg_super.cursor() as cur:
        cur.execute("SELECT count(*) FROM identity.login_failures WHERE phone_idx = %s",
                    (phone_idx(phone),))
        assert cur.fetchone()[0] == 0


def test_unknown_numbers_back_off_too(http, base_url, problem):
    phone = new_phone()
    for _ in range(5):
        r = http.post(base_url + "/api/v1/auth/login",
                      json={"phone": phone, "password": "whatever-it-is"})
        problem(r, 401, "invalid_credentials")
    r = http.post(base_url + "/api/v1/auth/login", json={"phone": phone, "password": "another"})
    spec.check(r)
    problem(r, 429, "login_locked")


def test_password_checks_do_not_block_the_service(base_url, bootstrap_admin):
    """While argon2id runs on the task threads, other requests are answered."""
    phone = new_phone()
    password = "pw-" + secrets.token_hex(8)
    assert bootstrap_admin(phone, password).returncode == 0
    results = []

    def hash_once():
        r = requests.post(base_url + "/api/v1/auth/login",
                          json={"phone": phone, "password": password}, timeout=30)
        results.append(r.status_code)

    threads = [threading.Thread(target=hash_once) for _ in range(8)]
    for t in threads:
        t.start()
    slowest = 0.0
    for _ in range(10):
        t0 = time.monotonic()
        assert requests.get(base_url + "/api/v1/auth/jwks", timeout=5).status_code == 200
        slowest = max(slowest, time.monotonic() - t0)
    for t in threads:
        t.join(60)
    assert results == [200] * 8
    assert slowest < 1.0


# --- the http SMS driver ----------------------------------------------------------------

class ProviderServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # refused TLS handshakes and clients that left are expected here


class Provider(BaseHTTPRequestHandler):
    """An SMS provider: records each POST, then answers as server.mode says."""
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.seen.append({"path": self.path, "headers": dict(self.headers),
                                 "body": json.loads(body)})
        if self.server.mode == "hang":
            time.sleep(2)
        status = 500 if self.server.mode == "fail" else 200
        try:
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting, as the hang mode means it to

    def log_message(self, *args):
        pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def provider():
    server = ProviderServer(("127.0.0.1", 0), Provider)
    server.seen, server.mode = [], "ok"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def tls_provider(tmp_path_factory):
    """The same provider over HTTPS, with a certificate for localhost that no
    system CA signed; yields (server, path of the certificate)."""
    work = tmp_path_factory.mktemp("provider-tls")
    cert, key = work / "cert.pem", work / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost"],
                   check=True, capture_output=True, timeout=30)
    server = ProviderServer(("127.0.0.1", 0), Provider)
    server.seen, server.mode = [], "ok"
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, cert
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def start_identity(identity_bin, stack, secrets_dir, tmp_path_factory):
    """start_identity(**env) -> URL of a second yx-identity on the stack's
    database and Redis with the http SMS driver set by env; every one is
    stopped by pid at the end, and its log must show no sandbox violation."""
    started = []

    def secret(name):
        return (secrets_dir / name).read_text().strip()

    def start(**extra):
        work = tmp_path_factory.mktemp("identity-http")
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("YX_")}
        env.update({
            "YX_LISTEN": f"127.0.0.1:{port}", "YX_WORKERS": "1",
            "YX_PIDFILE": str(work / "identity.pid"),
            "YX_DB_DSN": stack["YX_STACK_PG_DSN_IDENTITY"],
            "YX_REDIS_HOST": stack["YX_STACK_REDIS_HOST"],
            "YX_REDIS_PORT": stack["YX_STACK_REDIS_PORT"],
            "YX_REDIS_USER": "yx_identity", "YX_REDIS_PASSWORD": secret("redis-yx_identity.pw"),
            "YX_INTERNAL_KEY": secret("internal.key"), "YX_CURSOR_KEY": secret("cursor.key"),
            "YX_FIELD_KEY": secret("field.key"), "YX_INDEX_KEY": secret("index.key"),
            "YX_SMS_KEY": secret("sms.key"),
            "YX_JWT_KEYS": f"{stack['YX_STACK_JWT_KID']}={stack['YX_STACK_JWT_PRIVATE_KEY']}",
            "YX_SMS_DRIVER": "http", "YX_SMS_HTTP_TIMEOUT_MS": "500",
        })
        env.update(extra)
        log = work / "identity.log"
        with open(log, "ab") as logf:
            proc = subprocess.Popen([str(identity_bin), "serve"], env=env, stdout=logf,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        started.append((proc, log))
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        while True:
            assert proc.poll() is None, log.read_text()[-2000:]
            try:
                if requests.get(url + "/healthz", timeout=1).status_code == 200:
                    return url
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "identity did not answer /healthz"
            time.sleep(0.05)

    yield start
    for proc, log in started:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        text = log.read_text(errors="replace")
        assert "sandbox violation" not in text and "Fatal" not in text, text[-2000:]


@pytest.fixture(scope="module")
def http_driver_identity(start_identity, provider):
    """The http driver pointed at the provider by name, so the resolver runs
    in the worker sandbox."""
    return start_identity(
        YX_SMS_HTTP_URL=f"http://localhost:{provider.server_address[1]}/v1/sms?x=1",
        YX_SMS_HTTP_TOKEN="provider-token")


def ask_code(http, url, internal_key, phone):
    h = idhdr.headers(internal_key, "POST", "/api/v1/auth/sms-code", rid())
    h["X-Forwarded-For"] = new_ip()
    return http.post(url + "/api/v1/auth/sms-code", json={"phone": phone}, headers=h)


def test_http_driver_posts_the_code_to_the_provider(http, base_url, http_driver_identity,
                                                    provider, internal_key, clear_limits):
    phone = new_phone()
    clear_limits(phone)
    provider.mode = "ok"
    before = len(provider.seen)
    r = ask_code(http, http_driver_identity, internal_key, phone)
    assert r.status_code == 202, r.text
    spec.check(r)
    got = provider.seen[before:]
    assert len(got) == 1
    assert got[0]["path"] == "/v1/sms?x=1"
    assert got[0]["headers"]["Authorization"] == "Bearer provider-token"
    assert got[0]["headers"]["Content-Type"] == "application/json"
    assert got[0]["body"]["phone"] == phone and got[0]["body"]["ttl_seconds"] == 300
    # The code it carried is the one stored: it signs in on the stack's own identity.
    r = http.post(base_url + "/api/v1/auth/login",
                  json={"phone": phone, "code": got[0]["body"]["code"]})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("mode", ["fail", "hang"])
def test_http_driver_reports_a_failed_delivery(http, http_driver_identity, provider,
                                               internal_key, clear_limits, problem, mode):
    phone = new_phone()
    clear_limits(phone)
    provider.mode = mode
    t0 = time.monotonic()
    r = ask_code(http, http_driver_identity, internal_key, phone)
    spec.check(r)
    problem(r, 502, "sms_delivery_failed")
    assert time.monotonic() - t0 < 1.5
    # Meanwhile the worker answered other requests: its event loop never waited.
    assert requests.get(http_driver_identity + "/healthz", timeout=2).status_code == 200
    provider.mode = "ok"


def test_http_driver_over_tls_checks_the_certificate(http, start_identity, tls_provider,
                                                    internal_key, clear_limits, problem):
    server, cert = tls_provider
    url = f"https://localhost:{server.server_address[1]}/sms"
    trusting = start_identity(YX_SMS_HTTP_URL=url, YX_SMS_HTTP_CA_FILE=str(cert))
    phone = new_phone()
    clear_limits(phone)
    before = len(server.seen)
    r = ask_code(http, trusting, internal_key, phone)
    assert r.status_code == 202, r.text
    assert [m["body"]["phone"] for m in server.seen[before:]] == [phone]
    # Without the CA the certificate is not trusted and nothing is sent.
    untrusting = start_identity(YX_SMS_HTTP_URL=url)
    phone = new_phone()
    clear_limits(phone)
    before = len(server.seen)
    r = ask_code(http, untrusting, internal_key, phone)
    spec.check(r)
    problem(r, 502, "sms_delivery_failed")
    assert server.seen[before:] == []


# --- no plaintext phone at rest or in logs (keep this test last) ----------------------------

def test_no_plaintext_phone_in_pg_dump_or_the_service_log(stack, pg_super):
    assert USED_PHONES, "the tests above used phone numbers"
    with pg_super.cursor() as cur:
        cur.execute("SELECT count(*) FROM identity.users")
        assert cur.fetchone()[0] > 0
    dump = subprocess.run(["/usr/lib/postgresql/15/bin/pg_dump", "--schema=identity",
                           "--dbname=" + stack["YX_STACK_PG_DSN"]],
                          capture_output=True, text=True, timeout=120)
    assert dump.returncode == 0, dump.stderr
    assert "CREATE TABLE identity.sessions" in dump.stdout
    log = (pathlib.Path(stack["YX_STACK_LOG_DIR"]) / "identity.log").read_text(errors="replace")
    for phone in USED_PHONES:
        assert phone not in dump.stdout, f"{phone} in pg_dump"
        assert phone not in log, f"{phone} in identity.log"
    # The log names numbers by their masked form only.
    assert any(p[:3] + "****" + p[-4:] in log for p in USED_PHONES)
