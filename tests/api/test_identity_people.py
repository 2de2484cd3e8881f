"""Identity's people part, on the service port with gateway-signed identity
headers: the org tree, residence and party-member requests, volunteers, role
grants within scope, the profile, profile cards and events, and the demo seed.

Every response is checked against api-spec/ (spec.check). The org tree and
the staff are made directly in PostgreSQL, in a district of this run's own,
so nothing here depends on other tests or on the demo district.
"""
import base64
import hashlib
import hmac
import json
import os
import pathlib
import secrets
import subprocess
import time
import uuid
from urllib.parse import urlencode

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import idhdr
import spec

REPO = pathlib.Path(__file__).resolve().parents[2]
PHONE_AAD = b"identity.users.phone"  # services/identity/users.h
RUN = uuid.uuid4().hex[:8]


# --- fixtures and helpers --------------------------------------------------------------

@pytest.fixture(scope="session")
def identity_url(stack):
    return stack["YX_STACK_IDENTITY_URL"].rstrip("/")


@pytest.fixture(scope="session")
def internal_key(secrets_dir):
    return (secrets_dir / "internal.key").read_text().strip()


@pytest.fixture(scope="session")
def field_keys(secrets_dir):
    return (bytes.fromhex((secrets_dir / "field.key").read_text().strip()),
            bytes.fromhex((secrets_dir / "index.key").read_text().strip()))


def protect_phone(field_keys, phone):
    """(phone_enc, phone_idx, phone_masked) as the service computes them
    (shared/yx_fieldcrypt.c): AES-256-GCM with the "v1.<key id>." prefix and
    the column name as associated data; HMAC-SHA256 blind index."""
    field_key, index_key = field_keys
    prefix = b"v1.0."
    nonce = secrets.token_bytes(12)
    blob = nonce + AESGCM(field_key).encrypt(nonce, phone.encode(), prefix + PHONE_AAD)
    enc = prefix.decode() + base64.urlsafe_b64encode(blob).rstrip(b"=").decode()
    idx = hmac.new(index_key, b"phone\x00" + phone.encode(), hashlib.sha256).hexdigest()
    return enc, idx, phone[:3] + "****" + phone[7:]


class People:
    """The world of this module: an org tree and its staff, in the database,
    and a client that calls identity as the gateway would."""

    def __init__(self, http, url, key, pg, field_keys):
        self.http, self.url, self.key, self.pg, self.field_keys = http, url, key, pg, field_keys
        self.roles = {}  # user id -> "role@org,..." as a token would carry them

    # database
    def sql(self, query, args=()):
        with self.pg.cursor() as cur:
            cur.execute(query, args)
            return cur.fetchall() if cur.description else None

    def org(self, parent, level, name):
        oid = self.sql("SELECT nextval(pg_get_serial_sequence('identity.orgs', 'id'))")[0][0]
        path = (self.sql("SELECT path FROM identity.orgs WHERE id = %s", (parent,))[0][0]
                if parent else "/") + f"{oid}/"
        self.sql("INSERT INTO identity.orgs (id, parent_id, level, name, path) OVERRIDING SYSTEM "
                 "VALUE VALUES (%s, %s, %s, %s, %s)", (oid, parent, level, f"{name}-{RUN}", path))
        return str(oid)

    def user(self, *grants, name="居民", phone=None):
        phone = phone or "139" + "".join(secrets.choice("0123456789") for _ in range(8))
        enc, idx, masked = protect_phone(self.field_keys, phone)
        uid = self.sql("INSERT INTO identity.users (phone_enc, phone_idx, phone_masked, display_name)"
                       " VALUES (%s, %s, %s, %s) RETURNING id::text", (enc, idx, masked, name))[0][0]
        for role, org in grants:
            self.grant_db(uid, role, org)
        self.roles[uid] = ",".join(f"{r}@{o}" for r, o in grants)
        self.phones = getattr(self, "phones", {})
        self.phones[uid] = phone
        return uid

    def grant_db(self, uid, role, org):
        self.sql("INSERT INTO identity.user_roles (user_id, role, org_id) VALUES (%s, %s, %s)"
                 " ON CONFLICT DO NOTHING", (uid, role, org))

    def has_role(self, uid, role, org):
        return bool(self.sql("SELECT 1 FROM identity.user_roles WHERE user_id = %s AND role = %s"
                             " AND org_id = %s", (uid, role, org)))

    # HTTP
    def call(self, method, path, user=None, body=None, query=None, data=None, headers=None,
             roles=None, check=True):
        if isinstance(query, dict):
            query = urlencode(query)
        target = path + ("?" + query if query else "")
        rid = "test-" + secrets.token_hex(8)
        h = idhdr.headers(self.key, method, target, rid, user=user or "",
                          roles=self.roles.get(user, "") if roles is None else roles)
        h.update(headers or {})
        r = self.http.request(method, self.url + target, headers=h, json=body, data=data)
        if check:
            spec.check(r)
        return r


@pytest.fixture(scope="module")
def world(identity_url, internal_key, pg_super, field_keys):
    import requests
    with requests.Session() as http:
        w = People(http, identity_url, internal_key, pg_super, field_keys)
        w.D = w.org(None, "district", "测试区")
        w.S1 = w.org(w.D, "street", "一街道")
        w.S2 = w.org(w.D, "street", "二街道")
        w.C1 = w.org(w.S1, "community", "一社区")
        w.C2 = w.org(w.S1, "community", "二社区")
        w.C3 = w.org(w.S2, "community", "三社区")
        w.G1 = w.org(w.C1, "grid", "一网格")
        w.G2 = w.org(w.C2, "grid", "二网格")
        w.G3 = w.org(w.C3, "grid", "三网格")
        w.B1 = w.org(w.G1, "building", "1号楼")
        w.B2 = w.org(w.G1, "building", "2号楼")
        w.B3 = w.org(w.G2, "building", "3号楼")
        w.B4 = w.org(w.G3, "building", "4号楼")
        w.da = w.user(("district_admin", w.D), name="区管理员")
        w.sa1 = w.user(("street_admin", w.S1), name="街道管理员")
        w.sec1 = w.user(("community_secretary", w.C1), name="书记")
        w.staff1 = w.user(("community_staff", w.C1), name="社工一")
        w.staff2 = w.user(("community_staff", w.C2), name="社工二")
        w.staff3 = w.user(("community_staff", w.C3), name="社工三")
        w.gw1 = w.user(("grid_worker", w.G1), name="网格员")
        yield w


@pytest.fixture()
def P(world, problem):
    world.problem = problem
    return world


def too_large(P, method, path, user):
    """A body over the limit is refused before any handler runs. Kore answers
    this 413 itself (no problem body), on the service as on the gateway."""
    r = P.call(method, path, user, data=b'"' + b"x" * 70000 + b'"',
               headers={"Content-Type": "application/json"}, check=False)
    assert r.status_code == 413, r.text[:200]


def ok(r, status):
    assert r.status_code == status, f"{r.request.method} {r.url}: {r.status_code} {r.text[:400]}"
    return r.json() if r.content else None


def fields(body):
    return {(e["field"], e["reason"]) for e in body.get("errors", [])}


def wait_for(pred, timeout=5.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.1)
    return pred()


# --- org tree ----------------------------------------------------------------------------

def test_org_get_shows_level_path_and_settings(P):
    u = P.user()
    body = ok(P.call("GET", f"/api/v1/orgs/{P.C1}", u), 200)
    assert body["id"] == P.C1 and body["level"] == "community" and body["parent_id"] == P.S1
    assert body["path"] == [P.D, P.S1, P.C1]
    assert body["volunteer_needs_approval"] is False
    grid = ok(P.call("GET", f"/api/v1/orgs/{P.G1}", u), 200)
    assert "volunteer_needs_approval" not in grid
    district = ok(P.call("GET", f"/api/v1/orgs/{P.D}", u), 200)
    assert district["parent_id"] is None


def test_org_get_errors(P):
    u = P.user()
    P.problem(P.call("GET", "/api/v1/orgs/999999999999", u), 404, "org_not_found")
    P.problem(P.call("GET", "/api/v1/orgs/" + "9" * 19, u), 404, "org_not_found")
    P.problem(P.call("GET", f"/api/v1/orgs/{P.C1}"), 401, "unauthorized")
    P.problem(P.call("DELETE", f"/api/v1/orgs/{P.C1}", u), 405, "method_not_allowed")


def test_org_children_paginate_in_id_order(P):
    u = P.user()
    first = ok(P.call("GET", f"/api/v1/orgs/{P.S1}/children", u, query={"limit": 1}), 200)
    assert [o["id"] for o in first["items"]] == [P.C1] and first["next_cursor"]
    second = ok(P.call("GET", f"/api/v1/orgs/{P.S1}/children", u,
                       query={"limit": 1, "cursor": first["next_cursor"]}), 200)
    assert [o["id"] for o in second["items"]] == [P.C2] and second["next_cursor"] is None
    leaf = ok(P.call("GET", f"/api/v1/orgs/{P.B1}/children", u), 200)
    assert leaf == {"items": [], "next_cursor": None}


def test_org_children_errors(P):
    u = P.user()
    path = f"/api/v1/orgs/{P.S1}/children"
    P.problem(P.call("GET", path, u, query={"cursor": "not-a-cursor"}), 400, "invalid_cursor")
    forged = base64.urlsafe_b64encode(b"\x01" + b"\x00" * 24).rstrip(b"=").decode()
    P.problem(P.call("GET", path, u, query={"cursor": forged}), 400, "invalid_cursor")
    body = P.problem(P.call("GET", path, u, query={"limit": 0}), 422, "validation_failed")
    assert ("limit", "out_of_range") in fields(body)
    P.problem(P.call("GET", path, u, query={"limit": 101}), 422, "validation_failed")
    P.problem(P.call("GET", path, u, query={"sort": "name"}), 422, "validation_failed")
    P.problem(P.call("GET", "/api/v1/orgs/999999999999/children", u), 404, "org_not_found")
    P.problem(P.call("GET", path), 401, "unauthorized")
    P.problem(P.call("POST", path, u, body={}), 405, "method_not_allowed")


def test_org_create_by_staff_in_scope(P):
    body = ok(P.call("POST", "/api/v1/orgs", P.staff1,
                     body={"parent_id": P.C1, "name": "新网格" + RUN}), 201)
    assert body["level"] == "grid" and body["parent_id"] == P.C1
    assert body["path"] == [P.D, P.S1, P.C1, body["id"]]
    street = ok(P.call("POST", "/api/v1/orgs", P.da, body={"parent_id": P.D, "name": "新街道" + RUN}),
                201)
    assert street["level"] == "street"
    P.problem(P.call("POST", "/api/v1/orgs", P.staff1,
                     body={"parent_id": P.C1, "name": "新网格" + RUN}), 409, "org_name_taken")


def test_org_create_refusals(P):
    resident = P.user(("verified_resident", P.C1))
    P.problem(P.call("POST", "/api/v1/orgs", P.staff1, body={"parent_id": P.C2, "name": "越界"}),
              403, "not_in_scope")
    P.problem(P.call("POST", "/api/v1/orgs", resident, body={"parent_id": P.C1, "name": "居民建"}),
              403, "not_in_scope")
    P.problem(P.call("POST", "/api/v1/orgs", P.gw1, body={"parent_id": P.G1, "name": "网格员建"}),
              403, "not_in_scope")
    P.problem(P.call("POST", "/api/v1/orgs", P.staff1, body={"parent_id": P.B1, "name": "楼下"}),
              422, "invalid_org_level")
    P.problem(P.call("POST", "/api/v1/orgs", P.staff1,
                     body={"parent_id": "999999999999", "name": "无"}), 404, "org_not_found")
    body = P.problem(P.call("POST", "/api/v1/orgs", P.staff1, body={"parent_id": P.C1}),
                     422, "validation_failed")
    assert ("name", "required") in fields(body)
    body = P.problem(P.call("POST", "/api/v1/orgs", P.staff1,
                            body={"parent_id": 5, "name": "x" * 101, "level": "grid"}),
                     422, "validation_failed")
    assert {("parent_id", "invalid_id"), ("name", "too_long"), ("level", "unknown")} <= fields(body)
    P.problem(P.call("POST", "/api/v1/orgs", P.staff1, data=b"{", 
                     headers={"Content-Type": "application/json"}), 400, "invalid_json")
    P.problem(P.call("POST", "/api/v1/orgs", P.staff1, data=b"x",
                     headers={"Content-Type": "text/plain"}), 415, "unsupported_media_type")
    too_large(P, "POST", "/api/v1/orgs", P.staff1)
    P.problem(P.call("POST", "/api/v1/orgs", body={"parent_id": P.C1, "name": "匿名"}),
              401, "unauthorized")
    P.problem(P.call("GET", "/api/v1/orgs", P.staff1), 405, "method_not_allowed")


def test_org_update_rename_and_settings(P):
    c = P.org(P.S1, "community", "改名社区")
    body = ok(P.call("PATCH", f"/api/v1/orgs/{c}", P.sa1,
                     body={"name": "已改名" + RUN, "volunteer_needs_approval": True}), 200)
    assert body["name"] == "已改名" + RUN and body["volunteer_needs_approval"] is True
    body = ok(P.call("PATCH", f"/api/v1/orgs/{c}", P.sa1, body={"volunteer_needs_approval": False}),
              200)
    assert body["volunteer_needs_approval"] is False and body["name"] == "已改名" + RUN


def test_org_update_refusals(P):
    P.problem(P.call("PATCH", f"/api/v1/orgs/{P.C1}", P.staff2, body={"name": "他人"}),
              403, "not_in_scope")
    P.problem(P.call("PATCH", f"/api/v1/orgs/{P.G1}", P.staff1,
                     body={"volunteer_needs_approval": True}), 422, "invalid_org_level")
    P.problem(P.call("PATCH", f"/api/v1/orgs/{P.C1}", P.sa1, body={"name": f"二社区-{RUN}"}),
              409, "org_name_taken")
    body = P.problem(P.call("PATCH", f"/api/v1/orgs/{P.C1}", P.staff1, body={}),
                     422, "validation_failed")
    assert ("body", "empty") in fields(body)
    P.problem(P.call("PATCH", f"/api/v1/orgs/{P.C1}", P.staff1,
                     body={"volunteer_needs_approval": "yes"}), 422, "validation_failed")
    P.problem(P.call("PATCH", "/api/v1/orgs/999999999999", P.staff1, body={"name": "无"}),
              404, "org_not_found")
    P.problem(P.call("PATCH", f"/api/v1/orgs/{P.C1}", P.staff1, data=b"[",
                     headers={"Content-Type": "application/json"}), 400, "invalid_json")
    P.problem(P.call("PATCH", f"/api/v1/orgs/{P.C1}", P.staff1, data=b"x",
                     headers={"Content-Type": "text/plain"}), 415, "unsupported_media_type")
    too_large(P, "PATCH", f"/api/v1/orgs/{P.C1}", P.staff1)
    P.problem(P.call("PATCH", f"/api/v1/orgs/{P.C1}", body={"name": "匿名"}), 401, "unauthorized")


# --- profile -------------------------------------------------------------------------------

def test_me_owner_sees_full_phone_and_card_is_written_when_missing(P, redis_admin):
    u = P.user(("verified_resident", P.C1), name="本人")
    redis_admin.delete(f"pub:user:{u}")
    body = ok(P.call("GET", "/api/v1/me", u), 200)
    assert body["phone"] == P.phones[u]
    card = json.loads(redis_admin.get(f"pub:user:{u}"))
    assert card["id"] == u and card["display_name"] == "本人"
    assert card["verified_communities"] == [P.C1]
    assert "phone" not in card and P.phones[u] not in json.dumps(card)
    assert redis_admin.ttl(f"pub:user:{u}") > 0


def test_me_patch_changes_name_and_avatar_and_refreshes_card(P, redis_admin):
    u = P.user(name="旧名")
    body = ok(P.call("PATCH", "/api/v1/me", u,
                     body={"display_name": "新名", "avatar_url": "https://img.example/a.png"}), 200)
    assert body["display_name"] == "新名" and body["avatar_url"] == "https://img.example/a.png"
    assert body["phone"] == P.phones[u]
    card = json.loads(redis_admin.get(f"pub:user:{u}"))
    assert card["display_name"] == "新名" and "phone" not in card
    body = ok(P.call("PATCH", "/api/v1/me", u, body={"avatar_url": None}), 200)
    assert body["avatar_url"] is None and body["display_name"] == "新名"


def test_me_patch_refuses_roles_phone_and_bad_values(P):
    u = P.user(name="不变")
    body = P.problem(P.call("PATCH", "/api/v1/me", u,
                            body={"display_name": "改", "phone": "13900000000",
                                  "roles": [{"role": "district_admin", "org_id": P.D}]}),
                     422, "validation_failed")
    assert {("phone", "read_only"), ("roles", "read_only")} <= fields(body)
    assert P.sql("SELECT display_name FROM identity.users WHERE id = %s", (u,))[0][0] == "不变"
    assert not P.has_role(u, "district_admin", P.D)
    for bad, why in (({"display_name": "x" * 41}, ("display_name", "too_long")),
                     ({"display_name": "   "}, ("display_name", "blank")),
                     ({"display_name": "a\nb"}, ("display_name", "invalid")),
                     ({"avatar_url": "javascript:alert(1)"}, ("avatar_url", "invalid_url")),
                     ({}, ("body", "empty")),
                     ({"nickname": "x"}, ("nickname", "unknown"))):
        body = P.problem(P.call("PATCH", "/api/v1/me", u, body=bad), 422, "validation_failed")
        assert why in fields(body), bad
    P.problem(P.call("PATCH", "/api/v1/me", u, data=b"{", headers={"Content-Type": "application/json"}),
              400, "invalid_json")
    P.problem(P.call("PATCH", "/api/v1/me", u, data=b"x", headers={"Content-Type": "text/plain"}),
              415, "unsupported_media_type")
    too_large(P, "PATCH", "/api/v1/me", u)
    P.problem(P.call("PATCH", "/api/v1/me", body={"display_name": "匿名"}), 401, "unauthorized")
    P.problem(P.call("PUT", "/api/v1/me", u, body={}), 405, "method_not_allowed")


def test_user_a_cannot_change_user_b(P):
    a, b = P.user(name="甲"), P.user(name="乙")
    P.problem(P.call("PATCH", "/api/v1/me", a, body={"id": b, "display_name": "被改"}),
              422, "validation_failed")
    ok(P.call("PATCH", "/api/v1/me", a, body={"display_name": "甲改"}), 200)
    assert P.sql("SELECT display_name FROM identity.users WHERE id = %s", (b,))[0][0] == "乙"
    # Headers naming B but signed for A do not verify.
    h = idhdr.headers(P.key, "PATCH", "/api/v1/me", "test-" + secrets.token_hex(8), user=a)
    h["X-Yx-User"] = b
    r = P.http.patch(P.url + "/api/v1/me", headers=h, json={"display_name": "被改"})
    P.problem(r, 401, "unauthorized")
    assert P.sql("SELECT display_name FROM identity.users WHERE id = %s", (b,))[0][0] == "乙"


# --- residence -------------------------------------------------------------------------------

def residence(P, user, building=None, unit="1单元", room="101"):
    return P.call("POST", "/api/v1/me/residence", user,
                  body={"building_id": building or P.B1, "unit": unit, "room": room})


def test_residence_request_is_pending_and_listed_for_its_owner_only(P):
    a, b = P.user(name="申请人甲"), P.user(name="申请人乙")
    req = ok(residence(P, a, room="302"), 201)
    assert req["status"] == "pending" and req["building"]["id"] == P.B1
    assert req["community"]["id"] == P.C1 and req["user"]["id"] == a
    assert req["user"]["phone"] == P.phones[a][:3] + "****" + P.phones[a][7:]
    ok(residence(P, b, building=P.B3), 201)
    mine = ok(P.call("GET", "/api/v1/me/residence", a), 200)
    assert [i["id"] for i in mine["items"]] == [req["id"]]
    theirs = ok(P.call("GET", "/api/v1/me/residence", b), 200)
    assert req["id"] not in [i["id"] for i in theirs["items"]]


def test_residence_request_errors(P):
    u = P.user()
    ok(residence(P, u), 201)
    P.problem(residence(P, u, building=P.B2), 409, "already_pending")
    v = P.user()
    P.problem(residence(P, v, building=P.C1), 422, "invalid_org_level")
    P.problem(residence(P, v, building="999999999999"), 404, "org_not_found")
    body = P.problem(P.call("POST", "/api/v1/me/residence", v, body={"building_id": P.B1}),
                     422, "validation_failed")
    assert {("unit", "required"), ("room", "required")} <= fields(body)
    P.problem(residence(P, v, unit="u" * 21), 422, "validation_failed")
    P.problem(P.call("POST", "/api/v1/me/residence", v, data=b"{",
                     headers={"Content-Type": "application/json"}), 400, "invalid_json")
    P.problem(P.call("POST", "/api/v1/me/residence", v, data=b"x",
                     headers={"Content-Type": "text/plain"}), 415, "unsupported_media_type")
    too_large(P, "POST", "/api/v1/me/residence", v)
    P.problem(residence(P, None), 401, "unauthorized")
    P.problem(P.call("GET", "/api/v1/me/residence"), 401, "unauthorized")
    P.problem(P.call("GET", "/api/v1/me/residence", v, query={"cursor": "x"}), 400, "invalid_cursor")
    P.problem(P.call("GET", "/api/v1/me/residence", v, query={"limit": "x"}), 422,
              "validation_failed")
    P.problem(P.call("DELETE", "/api/v1/me/residence", v), 405, "method_not_allowed")


def test_staff_list_shows_requests_in_scope_only(P):
    u = P.user(name="待审")
    req = ok(residence(P, u, building=P.B2), 201)

    def listed(staff, **q):
        ids, cursor = [], None
        while True:
            query = dict(q, limit=100, **({"cursor": cursor} if cursor else {}))
            page = ok(P.call("GET", "/api/v1/admin/residence-requests", staff, query=query), 200)
            ids += [i["id"] for i in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                return ids

    for staff in (P.staff1, P.sec1, P.sa1, P.da):
        assert req["id"] in listed(staff), staff
    for staff in (P.staff2, P.staff3):
        assert req["id"] not in listed(staff), staff
    assert req["id"] not in listed(P.staff1, status="approved")
    page = ok(P.call("GET", "/api/v1/admin/residence-requests", P.staff1, query={"limit": 1}), 200)
    assert len(page["items"]) == 1
    if page["next_cursor"]:
        nxt = ok(P.call("GET", "/api/v1/admin/residence-requests", P.staff1,
                        query={"limit": 1, "cursor": page["next_cursor"]}), 200)
        assert int(nxt["items"][0]["id"]) > int(page["items"][0]["id"])


def test_staff_list_errors(P):
    path = "/api/v1/admin/residence-requests"
    resident = P.user(("verified_resident", P.C1))
    P.problem(P.call("GET", path, resident), 403, "forbidden")
    P.problem(P.call("GET", path, P.gw1), 403, "forbidden")
    P.problem(P.call("GET", path, P.staff1, query={"status": "done"}), 422, "validation_failed")
    P.problem(P.call("GET", path, P.staff1, query={"cursor": "zz"}), 400, "invalid_cursor")
    P.problem(P.call("GET", path), 401, "unauthorized")
    P.problem(P.call("POST", path, P.staff1, body={}), 405, "method_not_allowed")


def test_residence_approval_verifies_publishes_event_and_card(P, redis_admin):
    u = P.user(name="新居民")
    req = ok(residence(P, u), 201)
    done = ok(P.call("POST", f"/api/v1/admin/residence-requests/{req['id']}/approve", P.staff1,
                     body={"note": "核实无误"}), 200)
    assert done["status"] == "approved" and done["decided_by"] == P.staff1
    assert done["note"] == "核实无误" and done["decided_at"]
    assert P.has_role(u, "verified_resident", P.C1)
    card = json.loads(redis_admin.get(f"pub:user:{u}"))
    assert card["verified_communities"] == [P.C1] and "phone" not in card
    assert {"role": "verified_resident", "org_id": P.C1} in card["roles"]

    rows = P.sql("SELECT event_id::text, payload FROM identity.outbox WHERE topic = 'user.verified'"
                 " AND payload->>'request_id' = %s", (req["id"],))
    assert len(rows) == 1
    event_id, payload = rows[0]
    assert payload["user_id"] == u and payload["community_id"] == P.C1
    assert payload["building_id"] == P.B1 and payload["by"] == P.staff1
    entries = wait_for(lambda: [e for e in redis_admin.xrange("events:user.verified")
                                if e[1].get("id") == event_id])
    assert len(entries) == 1, "the relay appends the event to the stream"
    assert json.loads(entries[0][1]["payload"]) == payload
    assert wait_for(lambda: P.sql("SELECT published_at IS NOT NULL FROM identity.outbox"
                                  " WHERE event_id = %s", (event_id,))[0][0])


def test_residence_rejection_grants_nothing(P):
    u = P.user()
    req = ok(residence(P, u), 201)
    done = ok(P.call("POST", f"/api/v1/admin/residence-requests/{req['id']}/reject", P.sec1,
                     body={"note": "地址不符"}), 200)
    assert done["status"] == "rejected" and done["note"] == "地址不符"
    assert not P.has_role(u, "verified_resident", P.C1)
    assert not P.sql("SELECT 1 FROM identity.outbox WHERE payload->>'request_id' = %s "
                     "AND topic = 'user.verified'", (req["id"],))
    ok(residence(P, u), 201)  # a rejected request no longer blocks a new one


def decision_errors(P, base, pending, own, staff, outsider):
    """Every refusal of POST <base>/{id}/approve and /reject: `pending` is a
    pending request in the scope of `staff` but not of `outsider`, `own` a
    pending request of `staff` themselves. Ends with `pending` approved and
    both decisions on it refused as already decided."""
    resident = P.user()
    for action in ("approve", "reject"):
        path = f"{base}/{pending}/{action}"
        P.problem(P.call("POST", path, resident), 403, "not_in_scope")
        P.problem(P.call("POST", path, outsider), 403, "not_in_scope")
        P.problem(P.call("POST", f"{base}/{own}/{action}", staff), 403, "cannot_decide_own")
        P.problem(P.call("POST", f"{base}/999999999999/{action}", staff), 404,
                  "request_not_found")
        P.problem(P.call("POST", f"{base}/{'9' * 19}/{action}", staff), 404, "request_not_found")
        body = P.problem(P.call("POST", path, staff, body={"note": "x" * 201}), 422,
                         "validation_failed")
        assert ("note", "too_long") in fields(body)
        body = P.problem(P.call("POST", path, staff, body={"note": 1, "extra": True}), 422,
                         "validation_failed")
        assert {("note", "type"), ("extra", "unknown")} <= fields(body)
        P.problem(P.call("POST", path, staff, data=b"{",
                         headers={"Content-Type": "application/json"}), 400, "invalid_json")
        P.problem(P.call("POST", path, staff, data=b"x", headers={"Content-Type": "text/plain"}),
                  415, "unsupported_media_type")
        too_large(P, "POST", path, staff)
        P.problem(P.call("POST", path), 401, "unauthorized")
        P.problem(P.call("GET", path, staff), 405, "method_not_allowed")
    assert P.sql(f"SELECT status FROM identity.{table_of(base)} WHERE id = %s", (pending,))[0][0] \
        == "pending"
    ok(P.call("POST", f"{base}/{pending}/approve", staff), 200)
    for action in ("approve", "reject"):
        P.problem(P.call("POST", f"{base}/{pending}/{action}", staff), 409, "already_decided")


def table_of(base):
    return {"residence-requests": "residence_requests", "party-membership-requests":
            "party_requests", "volunteer-applications": "volunteer_profiles"}[base.split("/")[-1]]


def test_residence_decision_errors_and_object_level_authorization(P):
    a, b = P.user(name="甲"), P.user(name="乙")
    req = ok(residence(P, b), 201)
    path = f"/api/v1/admin/residence-requests/{req['id']}"
    P.problem(P.call("POST", path + "/approve", a), 403, "not_in_scope")  # A decides for B
    P.problem(P.call("POST", path + "/approve", P.gw1), 403, "not_in_scope")  # below staff
    assert not P.has_role(b, "verified_resident", P.C1)
    own = ok(residence(P, P.staff1, room="999"), 201)
    decision_errors(P, "/api/v1/admin/residence-requests", req["id"], own["id"], P.staff1,
                    P.staff2)
    assert P.has_role(b, "verified_resident", P.C1)


def test_stale_token_roles_grant_no_power(P):
    """Authorization uses current roles: a token still claiming a revoked staff
    role, or claiming one never held, decides nothing."""
    former = P.user(("community_staff", P.C1), name="离职社工")
    P.sql("DELETE FROM identity.user_roles WHERE user_id = %s", (former,))
    req = ok(residence(P, P.user()), 201)
    r = P.call("POST", f"/api/v1/admin/residence-requests/{req['id']}/approve", former,
               roles=f"community_staff@{P.C1}")
    P.problem(r, 403, "not_in_scope")
    liar = P.user()
    r = P.call("POST", f"/api/v1/admin/residence-requests/{req['id']}/approve", liar,
               roles=f"district_admin@{P.D}")
    P.problem(r, 403, "not_in_scope")


# --- party members -----------------------------------------------------------------------------

def party(P, user, community=None):
    return P.call("POST", "/api/v1/me/party-membership", user,
                  body={"organization": "某局机关党支部", "workplace": "某局",
                        "home_community_id": community or P.C2})


def test_party_membership_flow(P, redis_admin):
    u = P.user(name="党员")
    req = ok(party(P, u), 201)
    assert req["status"] == "pending" and req["community"]["id"] == P.C2
    assert [i["id"] for i in ok(P.call("GET", "/api/v1/me/party-membership", u), 200)["items"]] \
        == [req["id"]]
    listed = ok(P.call("GET", "/api/v1/admin/party-membership-requests", P.staff2,
                       query={"limit": 100}), 200)
    assert req["id"] in [i["id"] for i in listed["items"]] or listed["next_cursor"]
    P.problem(P.call("POST", f"/api/v1/admin/party-membership-requests/{req['id']}/approve",
                     P.staff1), 403, "not_in_scope")
    done = ok(P.call("POST", f"/api/v1/admin/party-membership-requests/{req['id']}/approve",
                     P.staff2), 200)
    assert done["status"] == "approved"
    assert P.has_role(u, "party_member", P.C2)
    payload = P.sql("SELECT payload FROM identity.outbox WHERE topic = 'user.roles_changed' AND "
                    "payload->>'user_id' = %s", (u,))[0][0]
    assert payload["change"] == "granted" and payload["role"] == "party_member"
    assert payload["org_id"] == P.C2 and payload["by"] == P.staff2
    assert {"role": "party_member", "org_id": P.C2} in json.loads(
        redis_admin.get(f"pub:user:{u}"))["roles"]
    assert wait_for(lambda: [e for e in redis_admin.xrange("events:user.roles_changed")
                             if json.loads(e[1]["payload"]).get("user_id") == u])
    P.problem(party(P, u), 409, "already_has_role")
    P.problem(P.call("POST", f"/api/v1/admin/party-membership-requests/{req['id']}/reject",
                     P.staff2), 409, "already_decided")


def test_party_membership_errors(P):
    u = P.user()
    ok(party(P, u), 201)
    P.problem(party(P, u, community=P.C3), 409, "already_pending")
    v = P.user()
    P.problem(party(P, v, community=P.G1), 422, "invalid_org_level")
    P.problem(party(P, v, community="999999999999"), 404, "org_not_found")
    body = P.problem(P.call("POST", "/api/v1/me/party-membership", v,
                            body={"organization": "", "workplace": "w" * 101,
                                  "home_community_id": P.C1}), 422, "validation_failed")
    assert {("organization", "blank"), ("workplace", "too_long")} <= fields(body)
    P.problem(P.call("POST", "/api/v1/me/party-membership", v, data=b"{",
                     headers={"Content-Type": "application/json"}), 400, "invalid_json")
    P.problem(P.call("POST", "/api/v1/me/party-membership", v, data=b"x",
                     headers={"Content-Type": "text/plain"}), 415, "unsupported_media_type")
    too_large(P, "POST", "/api/v1/me/party-membership", v)
    P.problem(party(P, None), 401, "unauthorized")
    P.problem(P.call("GET", "/api/v1/me/party-membership", v, query={"cursor": "!"}), 400,
              "invalid_cursor")
    P.problem(P.call("GET", "/api/v1/me/party-membership", v, query={"limit": 1000}), 422,
              "validation_failed")
    P.problem(P.call("GET", "/api/v1/me/party-membership"), 401, "unauthorized")
    P.problem(P.call("PUT", "/api/v1/me/party-membership", v, body={}), 405, "method_not_allowed")


def test_party_admin_list_and_decision_errors(P):
    path = "/api/v1/admin/party-membership-requests"
    P.problem(P.call("GET", path, P.user()), 403, "forbidden")
    P.problem(P.call("GET", path, P.staff1, query={"status": "x"}), 422, "validation_failed")
    P.problem(P.call("GET", path, P.staff1, query={"cursor": "x"}), 400, "invalid_cursor")
    P.problem(P.call("GET", path), 401, "unauthorized")
    P.problem(P.call("DELETE", path, P.staff1), 405, "method_not_allowed")
    req = ok(party(P, P.user(), community=P.C1), 201)
    own = ok(party(P, P.staff1, community=P.C1), 201)
    decision_errors(P, path, req["id"], own["id"], P.staff1, P.staff2)
    rejected = ok(party(P, P.user(), community=P.C1), 201)
    done = ok(P.call("POST", f"{path}/{rejected['id']}/reject", P.staff1,
                     body={"note": "信息不全"}), 200)
    assert done["status"] == "rejected" and done["note"] == "信息不全"


# --- volunteers --------------------------------------------------------------------------------

def test_volunteer_sign_up_without_approval_grants_the_role(P, redis_admin):
    u = P.user(("verified_resident", P.C2))
    prof = ok(P.call("POST", "/api/v1/me/volunteer", u, body={"skills": ["理发", "义诊"]}), 201)
    assert prof["status"] == "approved" and prof["community"]["id"] == P.C2
    assert prof["skills"] == ["理发", "义诊"]
    assert P.has_role(u, "volunteer", P.C2)
    assert {"role": "volunteer", "org_id": P.C2} in json.loads(
        redis_admin.get(f"pub:user:{u}"))["roles"]
    again = ok(P.call("POST", "/api/v1/me/volunteer", u,
                      body={"skills": ["摄影"], "community_id": P.C2}), 200)
    assert again["id"] == prof["id"] and again["skills"] == ["摄影"]
    mine = ok(P.call("GET", "/api/v1/me/volunteer", u), 200)
    assert [p["id"] for p in mine["items"]] == [prof["id"]]
    n = P.sql("SELECT count(*) FROM identity.outbox WHERE topic = 'user.roles_changed' AND "
              "payload->>'user_id' = %s AND payload->>'role' = 'volunteer'", (u,))[0][0]
    assert n == 1


def test_volunteer_approval_when_the_community_asks_for_it(P):
    c = P.org(P.S2, "community", "审核社区")
    staff = P.user(("community_staff", c))
    P.sql("INSERT INTO identity.community_settings (org_id, volunteer_needs_approval) "
          "VALUES (%s, true)", (c,))
    u = P.user()
    prof = ok(P.call("POST", "/api/v1/me/volunteer", u,
                     body={"skills": ["陪伴老人"], "community_id": c}), 201)
    assert prof["status"] == "pending" and not P.has_role(u, "volunteer", c)
    listed = ok(P.call("GET", "/api/v1/admin/volunteer-applications", staff), 200)
    assert [p["id"] for p in listed["items"]] == [prof["id"]]
    P.problem(P.call("POST", f"/api/v1/admin/volunteer-applications/{prof['id']}/approve",
                     P.staff1), 403, "not_in_scope")
    done = ok(P.call("POST", f"/api/v1/admin/volunteer-applications/{prof['id']}/approve",
                     staff), 200)
    assert done["status"] == "approved" and P.has_role(u, "volunteer", c)
    P.problem(P.call("POST", f"/api/v1/admin/volunteer-applications/{prof['id']}/reject",
                     staff), 409, "already_decided")
    # A rejected applicant may apply again.
    v = P.user()
    prof = ok(P.call("POST", "/api/v1/me/volunteer", v, body={"skills": ["维修"],
                                                               "community_id": c}), 201)
    ok(P.call("POST", f"/api/v1/admin/volunteer-applications/{prof['id']}/reject", staff,
              body={"note": "名额已满"}), 200)
    again = ok(P.call("POST", "/api/v1/me/volunteer", v, body={"skills": ["维修"],
                                                                "community_id": c}), 201)
    assert again["status"] == "pending" and again["note"] is None


def test_volunteer_errors(P):
    u = P.user()
    P.problem(P.call("POST", "/api/v1/me/volunteer", u, body={"skills": ["理发"]}), 422,
              "community_required")
    P.problem(P.call("POST", "/api/v1/me/volunteer", u,
                     body={"skills": ["理发"], "community_id": P.B1}), 422, "invalid_org_level")
    P.problem(P.call("POST", "/api/v1/me/volunteer", u,
                     body={"skills": ["理发"], "community_id": "999999999999"}), 404,
              "org_not_found")
    for bad, why in (({"skills": []}, ("skills", "count")),
                     ({"skills": ["a"] * 11}, ("skills", "count")),
                     ({"skills": ["理发", "理发"]}, ("skills", "duplicate")),
                     ({"skills": ["x" * 21]}, ("skills", "invalid")),
                     ({"skills": [1]}, ("skills", "type")),
                     ({"skills": "理发"}, ("skills", "type")),
                     ({}, ("skills", "required"))):
        body = P.problem(P.call("POST", "/api/v1/me/volunteer", u, body=bad), 422,
                         "validation_failed")
        assert why in fields(body), bad
    P.problem(P.call("POST", "/api/v1/me/volunteer", u, data=b"{",
                     headers={"Content-Type": "application/json"}), 400, "invalid_json")
    P.problem(P.call("POST", "/api/v1/me/volunteer", u, data=b"x",
                     headers={"Content-Type": "text/plain"}), 415, "unsupported_media_type")
    too_large(P, "POST", "/api/v1/me/volunteer", u)
    P.problem(P.call("POST", "/api/v1/me/volunteer", body={"skills": ["a"]}), 401, "unauthorized")
    P.problem(P.call("GET", "/api/v1/me/volunteer"), 401, "unauthorized")
    P.problem(P.call("GET", "/api/v1/me/volunteer", u, query={"cursor": "x"}), 400,
              "invalid_cursor")
    P.problem(P.call("GET", "/api/v1/me/volunteer", u, query={"limit": -1}), 422,
              "validation_failed")
    P.problem(P.call("PATCH", "/api/v1/me/volunteer", u, body={}), 405, "method_not_allowed")


def test_volunteer_admin_errors(P):
    path = "/api/v1/admin/volunteer-applications"
    P.problem(P.call("GET", path, P.user()), 403, "forbidden")
    P.problem(P.call("GET", path, P.staff1, query={"status": "all"}), 422, "validation_failed")
    P.problem(P.call("GET", path, P.staff1, query={"cursor": "x"}), 400, "invalid_cursor")
    P.problem(P.call("GET", path), 401, "unauthorized")
    P.problem(P.call("POST", path, P.staff1, body={}), 405, "method_not_allowed")
    c = P.org(P.S1, "community", "志愿审核")
    P.sql("INSERT INTO identity.community_settings (org_id, volunteer_needs_approval) "
          "VALUES (%s, true)", (c,))
    staff = P.user(("community_staff", c))
    own = ok(P.call("POST", "/api/v1/me/volunteer", staff, body={"skills": ["a"], "community_id": c}),
             201)
    app = ok(P.call("POST", "/api/v1/me/volunteer", P.user(),
                    body={"skills": ["b"], "community_id": c}), 201)
    decision_errors(P, path, app["id"], own["id"], staff, P.staff3)
    ok(P.call("POST", f"{path}/{own['id']}/approve", P.sa1), 200)  # a street admin covers c


def test_volunteer_defaults_to_the_verified_community(P):
    u = P.user(("verified_resident", P.C3))
    prof = ok(P.call("POST", "/api/v1/me/volunteer", u, body={"skills": ["环境清洁"]}), 201)
    assert prof["community"]["id"] == P.C3


# --- roles within scope ------------------------------------------------------------------------

def grant(P, staff, user, role, org):
    return P.call("POST", f"/api/v1/admin/users/{user}/roles", staff,
                  body={"role": role, "org_id": org})


def revoke(P, staff, user, role, org):
    return P.call("DELETE", f"/api/v1/admin/users/{user}/roles", staff,
                  query={"role": role, "org_id": org})


@pytest.mark.parametrize("granter,role,org,outcome", [
    # community staff: residents' roles, building heads and grid workers in their community
    ("staff1", "verified_resident", "C1", 201),
    ("staff1", "volunteer", "C1", 201),
    ("staff1", "party_member", "C1", 201),
    ("staff1", "building_head", "B1", 201),
    ("staff1", "grid_worker", "G1", 201),
    ("staff1", "community_staff", "C1", "role_above_own_level"),
    ("staff1", "community_secretary", "C1", "role_above_own_level"),
    ("staff1", "volunteer", "C2", "not_in_scope"),
    ("staff1", "building_head", "B3", "not_in_scope"),
    ("staff1", "street_admin", "S1", "not_in_scope"),
    # secretary: also community staff
    ("sec1", "community_staff", "C1", 201),
    ("sec1", "community_secretary", "C1", "role_above_own_level"),
    ("sec1", "community_staff", "C2", "not_in_scope"),
    # street admin: secretaries and below in their street
    ("sa1", "community_secretary", "C2", 201),
    ("sa1", "grid_worker", "G1", 201),
    ("sa1", "street_admin", "S1", "role_above_own_level"),
    ("sa1", "community_staff", "C3", "not_in_scope"),
    ("sa1", "district_admin", "D", "not_in_scope"),
    # district admin: street admins and below in the district
    ("da", "street_admin", "S2", 201),
    ("da", "community_staff", "C3", 201),
    ("da", "district_admin", "D", "role_above_own_level"),
    # below staff: nothing
    ("gw1", "building_head", "B1", "not_in_scope"),
])
def test_role_grant_rule_table(P, granter, role, org, outcome):
    u = P.user()
    r = grant(P, getattr(P, granter), u, role, getattr(P, org))
    if outcome == 201:
        body = ok(r, 201)
        assert body["user_id"] == u
        assert {"role": role, "org_id": getattr(P, org)} in body["roles"]
        assert P.has_role(u, role, getattr(P, org))
    else:
        P.problem(r, 403, outcome)
        assert not P.has_role(u, role, getattr(P, org))


def test_role_grant_is_idempotent_and_emits_one_event(P, redis_admin):
    u = P.user()
    ok(grant(P, P.staff1, u, "grid_worker", P.G1), 201)
    body = ok(grant(P, P.staff1, u, "grid_worker", P.G1), 200)
    assert {"role": "grid_worker", "org_id": P.G1} in body["roles"]
    rows = P.sql("SELECT payload FROM identity.outbox WHERE topic = 'user.roles_changed' AND "
                 "payload->>'user_id' = %s", (u,))
    assert len(rows) == 1 and rows[0][0]["change"] == "granted" and rows[0][0]["by"] == P.staff1
    card = json.loads(redis_admin.get(f"pub:user:{u}"))
    assert {"role": "grid_worker", "org_id": P.G1} in card["roles"] and "phone" not in card


def test_role_grant_errors(P):
    u = P.user()
    P.problem(grant(P, P.staff1, P.staff1, "grid_worker", P.G1), 403, "cannot_change_own_roles")
    P.problem(grant(P, P.staff1, u, "resident", P.C1), 422, "role_not_grantable")
    P.problem(grant(P, P.staff1, u, "building_head", P.C1), 422, "invalid_org_level")
    P.problem(grant(P, P.staff1, u, "grid_worker", "999999999999"), 404, "org_not_found")
    P.problem(grant(P, P.staff1, "999999999999", "grid_worker", P.G1), 404, "user_not_found")
    body = P.problem(grant(P, P.staff1, u, "mayor", P.C1), 422, "validation_failed")
    assert ("role", "invalid") in fields(body)
    body = P.problem(P.call("POST", f"/api/v1/admin/users/{u}/roles", P.staff1, body={}), 422,
                     "validation_failed")
    assert {("role", "required"), ("org_id", "required")} <= fields(body)
    path = f"/api/v1/admin/users/{u}/roles"
    P.problem(P.call("POST", path, P.staff1, data=b"{", headers={"Content-Type": "application/json"}),
              400, "invalid_json")
    P.problem(P.call("POST", path, P.staff1, data=b"x", headers={"Content-Type": "text/plain"}),
              415, "unsupported_media_type")
    too_large(P, "POST", path, P.staff1)
    P.problem(grant(P, None, u, "grid_worker", P.G1), 401, "unauthorized")
    P.problem(P.call("PUT", path, P.staff1, body={}), 405, "method_not_allowed")


def test_role_revoke_follows_the_same_rules(P, redis_admin):
    u = P.user(("grid_worker", P.G1), ("community_staff", P.C1), ("volunteer", P.C2))
    P.problem(revoke(P, P.staff1, u, "community_staff", P.C1), 403, "role_above_own_level")
    P.problem(revoke(P, P.staff1, u, "volunteer", P.C2), 403, "not_in_scope")
    P.problem(revoke(P, P.staff2, u, "grid_worker", P.G1), 403, "not_in_scope")
    P.problem(revoke(P, P.staff1, P.staff1, "community_staff", P.C1), 403,
              "cannot_change_own_roles")
    body = ok(revoke(P, P.staff1, u, "grid_worker", P.G1), 200)
    assert {"role": "grid_worker", "org_id": P.G1} not in body["roles"]
    assert not P.has_role(u, "grid_worker", P.G1)
    payload = P.sql("SELECT payload FROM identity.outbox WHERE topic = 'user.roles_changed' AND "
                    "payload->>'user_id' = %s AND payload->>'change' = 'revoked'", (u,))[0][0]
    assert payload["role"] == "grid_worker" and payload["by"] == P.staff1
    card = json.loads(redis_admin.get(f"pub:user:{u}"))
    assert {"role": "grid_worker", "org_id": P.G1} not in card["roles"]
    P.problem(revoke(P, P.staff1, u, "grid_worker", P.G1), 404, "role_not_found")
    ok(revoke(P, P.sec1, u, "community_staff", P.C1), 200)
    ok(revoke(P, P.staff2, u, "volunteer", P.C2), 200)


def test_role_revoke_errors(P):
    u = P.user(("verified_resident", P.C1))
    path = f"/api/v1/admin/users/{u}/roles"
    P.problem(P.call("DELETE", path, P.staff1, query={"org_id": P.C1}), 422, "validation_failed")
    P.problem(P.call("DELETE", path, P.staff1, query={"role": "verified_resident"}), 422,
              "validation_failed")
    P.problem(P.call("DELETE", path, P.staff1, query={"role": "x", "org_id": "y"}), 422,
              "validation_failed")
    P.problem(revoke(P, P.staff1, u, "resident", P.D), 422, "role_not_grantable")
    P.problem(revoke(P, P.staff1, u, "verified_resident", P.G1), 422, "invalid_org_level")
    P.problem(revoke(P, P.staff1, u, "verified_resident", "999999999999"), 404, "org_not_found")
    P.problem(revoke(P, P.staff1, "999999999999", "verified_resident", P.C1), 404,
              "user_not_found")
    P.problem(revoke(P, None, u, "verified_resident", P.C1), 401, "unauthorized")
    P.problem(revoke(P, P.user(), u, "verified_resident", P.C1), 403, "not_in_scope")
    assert P.has_role(u, "verified_resident", P.C1)


def test_admin_user_shows_masked_phone_and_roles_in_scope(P):
    u = P.user(("verified_resident", P.C1), ("volunteer", P.C3), name="被查")
    body = ok(P.call("GET", f"/api/v1/admin/users/{u}", P.staff1), 200)
    assert body["phone"] == P.phones[u][:3] + "****" + P.phones[u][7:]
    assert body["roles"] == [{"role": "verified_resident", "org_id": P.C1}]
    body = ok(P.call("GET", f"/api/v1/admin/users/{u}", P.da), 200)
    assert len(body["roles"]) == 2
    P.problem(P.call("GET", f"/api/v1/admin/users/{u}", P.staff2), 404, "user_not_found")
    P.problem(P.call("GET", "/api/v1/admin/users/999999999999", P.staff1), 404, "user_not_found")
    other = P.user(("verified_resident", P.C1))
    P.problem(P.call("GET", f"/api/v1/admin/users/{u}", other), 403, "forbidden")  # A reads B
    P.problem(P.call("GET", f"/api/v1/admin/users/{u}"), 401, "unauthorized")
    P.problem(P.call("DELETE", f"/api/v1/admin/users/{u}", P.staff1), 405, "method_not_allowed")


# --- events -------------------------------------------------------------------------------------

def test_relay_publishes_a_row_whose_lease_ran_out(P, redis_admin):
    """A row claimed by a relay that died before settling is published again."""
    event_id = str(uuid.uuid4())
    payload = {"event_id": event_id, "type": "user.roles_changed", "user_id": "0", "test": RUN}
    P.sql("INSERT INTO identity.outbox (event_id, topic, payload, claimed_until) VALUES "
          "(%s, 'user.roles_changed', %s, now() - interval '1 second')",
          (event_id, json.dumps(payload)))
    entries = wait_for(lambda: [e for e in redis_admin.xrange("events:user.roles_changed", "-", "+")
                                if e[1].get("id") == event_id])
    assert len(entries) == 1 and json.loads(entries[0][1]["payload"]) == payload
    assert wait_for(lambda: P.sql("SELECT published_at IS NOT NULL AND claimed_until IS NULL "
                                  "FROM identity.outbox WHERE event_id = %s", (event_id,))[0][0])


# --- demo seed ----------------------------------------------------------------------------------

def test_seed_demo_is_idempotent(stack, secrets_dir, pg_super, tmp_path, field_keys, http,
                                 identity_url, internal_key):
    binary = REPO / os.environ.get("BUILD", "build") / "bin" / "yx-identity"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "YX_DB_DSN": stack["YX_STACK_PG_DSN_IDENTITY"],
        "YX_FIELD_KEY": (secrets_dir / "field.key").read_text().strip(),
        "YX_INDEX_KEY": (secrets_dir / "index.key").read_text().strip(),
    }

    def counts():
        with pg_super.cursor() as cur:
            cur.execute("SELECT (SELECT count(*) FROM identity.orgs), (SELECT count(*) FROM "
                        "identity.users), (SELECT count(*) FROM identity.user_roles)")
            return cur.fetchone()

    out1, out2 = tmp_path / "logins1.tsv", tmp_path / "logins2.tsv"
    first = subprocess.run([str(binary), "seed-demo", "--out", str(out1)], env=env,
                           capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    after_first = counts()
    second = subprocess.run([str(binary), "seed-demo", "--out", str(out2)], env=env,
                            capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    assert "already there" in second.stdout
    assert counts() == after_first and not out2.exists()

    with pg_super.cursor() as cur:
        cur.execute("SELECT s.name FROM identity.orgs d JOIN identity.orgs s ON s.parent_id = d.id "
                    "WHERE d.name = '莲湖区' AND d.level = 'district' ORDER BY s.name")
        streets = [r[0] for r in cur.fetchall()]
        cur.execute("SELECT o.level, count(*) FROM identity.orgs o JOIN identity.orgs d ON "
                    "starts_with(o.path, d.path) WHERE d.name = '莲湖区' AND d.level = 'district' "
                    "GROUP BY o.level")
        levels = dict(cur.fetchall())
        cur.execute("SELECT DISTINCT role FROM identity.user_roles")
        roles = {r[0] for r in cur.fetchall()}
    assert {"北院门街道", "青年路街道", "桃园路街道"} <= set(streets)
    assert levels["community"] >= 6 and levels["grid"] == 2 * levels["community"]
    assert levels["building"] == 3 * levels["grid"]
    assert {"district_admin", "street_admin", "community_secretary", "community_staff",
            "grid_worker", "building_head", "verified_resident", "volunteer",
            "party_member"} <= roles
    if "created" in first.stdout:
        assert oct(out1.stat().st_mode & 0o777) == "0o600"
        lines = [l.split("\t") for l in out1.read_text(encoding="utf-8").splitlines()
                 if l and not l.startswith("#")]
        staff = [l for l in lines if l[0] == "community_staff"]
        assert staff and all(len(l[4]) >= 10 for l in staff)
        assert all(l[4] == "-" for l in lines if l[0].startswith(("volunteer", "resident")))
        # Staff passwords are stored as argon2id hashes (OWASP parameters), others have none.
        _, idx, _ = protect_phone(field_keys, staff[0][3])
        with pg_super.cursor() as cur:
            cur.execute("SELECT id::text, password_hash FROM identity.users WHERE phone_idx = %s",
                        (idx,))
            staff_id, hashed = cur.fetchone()
            assert hashed.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
            resident = next(l for l in lines if l[0] == "volunteer")
            _, idx, _ = protect_phone(field_keys, resident[3])
            cur.execute("SELECT password_hash FROM identity.users WHERE phone_idx = %s", (idx,))
            assert cur.fetchone()[0] is None
        # The owner reads the number back (decrypted with the service's key).
        rid = "test-" + secrets.token_hex(8)
        r = http.get(identity_url + "/api/v1/me",
                     headers=idhdr.headers(internal_key, "GET", "/api/v1/me", rid, user=staff_id))
        assert spec.check(r)["phone"] == staff[0][3]
        # Phones are stored encrypted, never in clear.
        with pg_super.cursor() as cur:
            cur.execute("SELECT count(*) FROM identity.users WHERE phone_enc LIKE %s OR "
                        "phone_idx = %s", ("%" + staff[0][3] + "%", staff[0][3]))
            assert cur.fetchone()[0] == 0
