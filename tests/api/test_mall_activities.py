"""Volunteer activities (志愿服务) of yx-mall, endpoint by endpoint: publishing,
changing and cancelling, signing up within the capacity (also under 50
concurrent sign-ups), withdrawing, checking in and out with the organizer's
rotating QR token (made here too, to show a stale or forged one is refused),
and confirming hours, which credits points exactly once (also under 20
concurrent confirmations), the ledger reconciled.

Requests go straight to the mall's port with gateway-signed identity headers
(see test_mall_common.py); fresh ids keep tests apart. Activities must start in
the future, so tests move one into the past through PostgreSQL when they need
it started or over."""
import base64
import datetime
import hashlib
import hmac
import json
import os
import secrets
import struct
import threading
import time

import psycopg2
import pytest

import spec
from conftest import assert_problem
from test_mall_common import (Mall, assert_reconciles, community, mall, mall_key,  # noqa: F401
                              mall_url, new_id, new_key, staff, staff_roles)

ACTS = "/api/v1/activities"
QR_TTL = 60
QR_LABEL = b"yx-mall activity qr key v1"


def problem(resp, status, code):
    """The response is the problem `code` with `status`, as the spec says."""
    spec.check(resp)
    return assert_problem(resp, status, code)


def fields(resp):
    return {(e["field"], e["reason"]) for e in resp.json().get("errors", [])}


def at(seconds):
    """RFC 3339 UTC time `seconds` from now, whole seconds."""
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc)


def activity_body(community, **fields_):
    body = {"community_id": community, "title": "楼道清扫", "place": "3 号楼 1 单元",
            "starts_at": at(3600), "ends_at": at(3 * 3600), "capacity": 10,
            "points_per_hour": 10}
    body.update(fields_)
    return {k: v for k, v in body.items() if v is not None}


def create(mall, community, staff, **fields_):
    return mall.ok("POST", ACTS, 201, user=staff, roles=staff_roles(community),
                   body=activity_body(community, **fields_))


def volunteer(community):
    return f"volunteer@{community}"


def sign_up(mall, aid, user, roles):
    return mall.call("POST", f"{ACTS}/{aid}/signups", user=user, roles=roles)


def signed_up_user(mall, aid, community, role="volunteer"):
    user = new_id()
    r = sign_up(mall, aid, user, f"{role}@{community}")
    assert r.status_code == 201, r.text
    spec.check(r)
    return user


def set_times(pg_super, aid, starts_in, lasts=7200):
    """Moves activity aid to start `starts_in` seconds from now (negative: in
    the past) and last `lasts` seconds."""
    with pg_super.cursor() as cur:
        cur.execute("UPDATE mall.activities SET starts_at = now() + make_interval(secs => %s),"
                    " ends_at = now() + make_interval(secs => %s) WHERE id = %s",
                    (starts_in, starts_in + lasts, int(aid)))
        assert cur.rowcount == 1


def set_attendance(pg_super, aid, user, checked_in_ago, checked_out_ago):
    """Records a check-in and a check-out that many seconds ago."""
    with pg_super.cursor() as cur:
        cur.execute("UPDATE mall.activity_signups SET state = 'checked_out',"
                    " checked_in_at = now() - make_interval(secs => %s),"
                    " checked_out_at = now() - make_interval(secs => %s)"
                    " WHERE activity_id = %s AND user_id = %s",
                    (checked_in_ago, checked_out_ago, int(aid), int(user)))
        assert cur.rowcount == 1


# --- QR tokens, made as services/mall/qr.c makes them -------------------------------------

@pytest.fixture(scope="session")
def qr_key(secrets_dir):
    """The stack's QR key: YX_QR_KEY when the stack was given one, else
    HMAC-SHA256(cursor key, label) as the service derives it."""
    given = os.environ.get("YX_QR_KEY")
    if given:
        return bytes.fromhex(given)
    cursor = bytes.fromhex((secrets_dir / "cursor.key").read_text().strip())
    return hmac.new(cursor, QR_LABEL, hashlib.sha256).digest()


def forge(key, aid, purpose, issued):
    body = struct.pack(">BBqq", 1, {"check_in": 1, "check_out": 2}[purpose], int(aid), issued)
    mac = hmac.new(key, b"yx-mall-qr-v1" + body, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(body + mac).rstrip(b"=").decode()


def qr(mall, aid, community, staff_user, purpose="check_in"):
    return mall.ok("GET", f"{ACTS}/{aid}/qr", 200, user=staff_user,
                   roles=staff_roles(community), query={"purpose": purpose})["token"]


def check(mall, aid, user, community, token, purpose="check-in"):
    return mall.call("POST", f"{ACTS}/{aid}/{purpose}", user=user, roles=volunteer(community),
                     body={"token": token})


def confirm(mall, aid, user, community, staff_user, body=None, key=None, **kw):
    return mall.call("POST", f"{ACTS}/{aid}/attendance/{user}/confirm", user=staff_user,
                     roles=staff_roles(community), body=body,
                     key=new_key() if key is None else key, **kw)


def concurrent(n, fn):
    """Runs fn(i) in n threads released together; returns the results in order."""
    barrier = threading.Barrier(n)
    results = [None] * n

    def run(i):
        barrier.wait()
        results[i] = fn(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def activity_checks(pg_as):
    """The invariants of activities (activity_checks() in 0003_activities.sql)."""
    with pg_as("mall").cursor() as cur:
        cur.execute("SELECT r_name, r_bad, r_sample FROM activity_checks()")
        rows = cur.fetchall()
    assert len(rows) == 3
    for name, bad, sample in rows:
        assert bad == 0, f"{name}: {sample}"


# --- who may call what ------------------------------------------------------------------------

ENDPOINTS = [
    ("GET", ACTS + "?community_id=1"), ("POST", ACTS), ("GET", ACTS + "/me"),
    ("GET", ACTS + "/1"), ("PATCH", ACTS + "/1"), ("POST", ACTS + "/1/cancel"),
    ("POST", ACTS + "/1/signups"), ("GET", ACTS + "/1/signups"),
    ("DELETE", ACTS + "/1/signups/me"), ("GET", ACTS + "/1/qr?purpose=check_in"),
    ("POST", ACTS + "/1/check-in"), ("POST", ACTS + "/1/check-out"),
    ("POST", ACTS + "/1/attendance/2/confirm"),
]


def _split(path):
    base, _, query = path.partition("?")
    return base, dict(p.split("=") for p in query.split("&")) if query else None


@pytest.mark.parametrize("method,path", ENDPOINTS)
def test_unsigned_requests_are_refused(mall, method, path):
    base, query = _split(path)
    r = mall.call(method, base, query=query, sign=False,
                  body={} if method in ("POST", "PATCH") else None)
    problem(r, 401, "unauthorized")


@pytest.mark.parametrize("method,path", ENDPOINTS)
def test_anonymous_callers_must_sign_in(mall, method, path):
    base, query = _split(path)
    r = mall.call(method, base, query=query, key=new_key(),
                  body={} if method in ("POST", "PATCH") else None)
    problem(r, 401, "unauthorized")


@pytest.mark.parametrize("method,path", [
    ("DELETE", ACTS), ("POST", ACTS + "/me"), ("DELETE", ACTS + "/1"), ("GET", ACTS + "/1/cancel"),
    ("PUT", ACTS + "/1/signups"), ("POST", ACTS + "/1/signups/me"), ("POST", ACTS + "/1/qr"),
    ("GET", ACTS + "/1/check-in"), ("GET", ACTS + "/1/check-out"),
    ("GET", ACTS + "/1/attendance/2/confirm"),
])
def test_other_methods_are_405(mall, method, path):
    problem(mall.call(method, path, user=new_id()), 405, "method_not_allowed")


def test_unknown_activity_routes_are_404(mall):
    for path in (ACTS + "/1/x", ACTS + "/1/signups/2", ACTS + "/1/attendance/2",
                 ACTS + "/1/attendance/02/confirm", ACTS + "/1/qr/x"):
        assert_problem(mall.call("GET", path, user=new_id()), 404, "route_not_found")
    for path in (ACTS + "/abc", ACTS + "/007", ACTS + "/1234567890123456789"):
        problem(mall.call("GET", path, user=new_id()), 404, "activity_not_found")
    assert_problem(mall.call("POST", ACTS + "/x1/cancel", user=new_id()), 404,
                   "activity_not_found")


# --- publishing ---------------------------------------------------------------------------------

def test_staff_publish_an_activity(mall, community, staff):
    body = activity_body(community, title="助老送餐", place="社区食堂",
                         description="为独居老人送午餐\n请带好健康码", capacity=12,
                         starts_at="2099-01-01T09:00:00+08:00",
                         ends_at="2099-01-01T11:30:00.123+08:00")
    r = mall.call("POST", ACTS, user=staff, roles=staff_roles(community), body=body)
    assert r.status_code == 201, r.text
    a = spec.check(r)
    assert a["community_id"] == community and a["title"] == "助老送餐"
    assert a["starts_at"] == "2099-01-01T01:00:00Z" and a["ends_at"] == "2099-01-01T03:30:00Z"
    assert a["capacity"] == 12 and a["signed_up"] == 0 and a["state"] == "open"
    assert a["points_per_hour"] == 10 and a["fixed_points"] is None
    assert a["created_by"] == staff and a["cancelled_at"] is None
    assert mall.ok("GET", f"{ACTS}/{a['id']}", 200, user=new_id()) == a

    fixed = create(mall, community, new_id(), points_per_hour=None, fixed_points=30)
    assert fixed["fixed_points"] == 30 and fixed["points_per_hour"] is None
    # A community secretary is staff too.
    r = mall.call("POST", ACTS, user=staff,
                  roles=staff_roles(community, "community_secretary"),
                  body=activity_body(community))
    assert r.status_code == 201
    spec.check(r)


def test_an_idempotency_key_on_create_replays(mall, community, staff):
    key = new_key()
    body = activity_body(community)
    first = mall.call("POST", ACTS, user=staff, roles=staff_roles(community), body=body, key=key)
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    again = mall.call("POST", ACTS, user=staff, roles=staff_roles(community), body=body, key=key)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert spec.check(again) == spec.check(first)
    r = mall.call("POST", ACTS, user=staff, roles=staff_roles(community),
                  body=dict(body, title="另一个活动"), key=key)
    problem(r, 422, "idempotency_key_mismatch")
    # Without a key every request publishes one.
    a = create(mall, community, staff)
    b = create(mall, community, staff)
    assert a["id"] != b["id"] != first.json()["id"]


@pytest.mark.parametrize("roles", [
    "", "resident@{c}", "volunteer@{c}", "party_member@{c}", "community_staff@1{c}",
    "community_staff@{other}", "street_admin@{c}", "grid_worker@{c}",
])
def test_only_staff_of_that_community_publish(mall, community, staff, roles):
    r = mall.call("POST", ACTS, user=staff, roles=roles.format(c=community, other=new_id()),
                  body=activity_body(community))
    problem(r, 403, "not_in_scope")


@pytest.mark.parametrize("change,expect", [
    ({"title": None}, ("title", "required")),
    ({"title": ""}, ("title", "invalid")),
    ({"title": "x" * 101}, ("title", "invalid")),
    ({"title": "a\nb"}, ("title", "invalid")),
    ({"place": None}, ("place", "required")),
    ({"place": 5}, ("place", "invalid")),
    ({"description": "x" * 2001}, ("description", "invalid")),
    ({"starts_at": None}, ("starts_at", "required")),
    ({"starts_at": "明天"}, ("starts_at", "invalid_time")),
    ({"ends_at": "2099-02-30T10:00:00Z"}, ("ends_at", "invalid_time")),
    ({"capacity": None}, ("capacity", "required")),
    ({"capacity": 0}, ("capacity", "out_of_range")),
    ({"capacity": 10001}, ("capacity", "out_of_range")),
    ({"capacity": 2.5}, ("capacity", "invalid")),
    ({"points_per_hour": None}, ("points_per_hour", "required")),
    ({"points_per_hour": 0}, ("points_per_hour", "out_of_range")),
    ({"points_per_hour": 10001}, ("points_per_hour", "out_of_range")),
    ({"fixed_points": 5}, ("fixed_points", "conflict")),
    ({"fixed_points": 100001, "points_per_hour": None}, ("fixed_points", "out_of_range")),
    ({"community_id": "0"}, ("community_id", "invalid")),
    ({"organizer": "me"}, ("organizer", "unknown")),
])
def test_publishing_validates_its_fields(mall, community, staff, change, expect):
    body = activity_body(community)
    for k, v in change.items():
        if v is None:
            body.pop(k, None)
        else:
            body[k] = v
    r = mall.call("POST", ACTS, user=staff, roles=staff_roles(community), body=body)
    problem(r, 422, "validation_failed")
    assert expect in fields(r)


@pytest.mark.parametrize("starts,ends", [
    (-60, 3600),             # starts in the past
    (3600, 3600 + 29 * 60),  # shorter than 30 minutes
    (3600, 3600),            # no time at all
    (7200, 3600),            # ends before it starts
    (3600, 3600 + 7 * 86400 + 1),  # longer than 7 days
])
def test_publishing_refuses_impossible_times(mall, community, staff, starts, ends):
    r = mall.call("POST", ACTS, user=staff, roles=staff_roles(community),
                  body=activity_body(community, starts_at=at(starts), ends_at=at(ends)))
    problem(r, 422, "invalid_activity_time")


def test_publishing_refuses_what_is_not_json(mall, community, staff):
    r = mall.call("POST", ACTS, user=staff, roles=staff_roles(community), raw=b"{",
                  headers={"Content-Type": "application/json"})
    problem(r, 400, "invalid_json")
    r = mall.call("POST", ACTS, user=staff, roles=staff_roles(community), raw=b"{}",
                  headers={"Content-Type": "text/plain"})
    problem(r, 415, "unsupported_media_type")


# --- reading -------------------------------------------------------------------------------------

def test_signed_in_users_list_a_communitys_activities(mall, community, staff, pg_super):
    later = create(mall, community, staff, starts_at=at(5 * 3600), ends_at=at(6 * 3600))
    soon = create(mall, community, staff, starts_at=at(3600), ends_at=at(2 * 3600))
    middle = create(mall, community, staff, starts_at=at(3 * 3600), ends_at=at(4 * 3600))
    over = create(mall, community, staff)
    set_times(pg_super, over["id"], -7200, 3600)
    create(mall, new_id(), new_id())  # another community's
    anyone = new_id()

    page = mall.ok("GET", ACTS, 200, user=anyone, query={"community_id": community, "limit": 2})
    assert [a["id"] for a in page["items"]] == [soon["id"], middle["id"]]
    assert page["next_cursor"]
    page2 = mall.ok("GET", ACTS, 200, user=anyone,
                    query={"community_id": community, "limit": 2,
                           "cursor": page["next_cursor"]})
    assert [a["id"] for a in page2["items"]] == [later["id"]]
    assert page2["next_cursor"] is None
    # `from` reaches back to activities that have ended since.
    page = mall.ok("GET", ACTS, 200, user=anyone,
                   query={"community_id": community, "from": at(-3 * 3600)})
    assert [a["id"] for a in page["items"]] == [over["id"], soon["id"], middle["id"], later["id"]]
    page = mall.ok("GET", ACTS, 200, user=anyone,
                   query={"community_id": community, "from": at(4 * 3600 + 60)})
    assert [a["id"] for a in page["items"]] == [later["id"]]
    # Cancelled activities stay on the list, marked.
    mall.ok("POST", f"{ACTS}/{middle['id']}/cancel", 200, user=staff,
            roles=staff_roles(community))
    page = mall.ok("GET", ACTS, 200, user=anyone, query={"community_id": community})
    assert [a["state"] for a in page["items"]] == ["open", "cancelled", "open"]


@pytest.mark.parametrize("query,status,code,expect", [
    ({}, 422, "validation_failed", ("community_id", "required")),
    ({"community_id": "x"}, 422, "validation_failed", ("community_id", "invalid")),
    ({"community_id": "1", "from": "yesterday"}, 422, "validation_failed", ("from", "invalid_time")),
    ({"community_id": "1", "limit": "0"}, 422, "validation_failed", ("limit", "out_of_range")),
    ({"community_id": "1", "state": "open"}, 422, "validation_failed", ("query", "unknown")),
    ({"community_id": "1", "cursor": "AAAA"}, 400, "invalid_cursor", None),
])
def test_list_arguments_are_checked(mall, query, status, code, expect):
    r = mall.call("GET", ACTS, user=new_id(), query=query)
    problem(r, status, code)
    if expect:
        assert expect in fields(r)


def test_an_unknown_activity_is_not_found(mall):
    problem(mall.call("GET", f"{ACTS}/999999999999999", user=new_id()), 404,
            "activity_not_found")


# --- changing and cancelling ----------------------------------------------------------------------

def test_staff_change_an_activity_before_it_starts(mall, community, staff, pg_super):
    a = create(mall, community, staff, description="旧说明")
    roles = staff_roles(community)
    path = f"{ACTS}/{a['id']}"
    b = mall.ok("PATCH", path, 200, user=new_id(), roles=roles,
                body={"title": "垃圾分类宣传", "description": None, "capacity": 20,
                      "starts_at": at(7200), "ends_at": at(4 * 7200)})
    assert b["title"] == "垃圾分类宣传" and b["description"] is None and b["capacity"] == 20
    assert b["place"] == a["place"] and b["points_per_hour"] == 10
    assert parse_time(b["ends_at"]) - parse_time(b["starts_at"]) == datetime.timedelta(hours=6)
    # Switching the award: one replaces the other.
    b = mall.ok("PATCH", path, 200, user=staff, roles=roles, body={"fixed_points": 50})
    assert b["fixed_points"] == 50 and b["points_per_hour"] is None
    b = mall.ok("PATCH", path, 200, user=staff, roles=roles, body={"points_per_hour": 8})
    assert b["fixed_points"] is None and b["points_per_hour"] == 8
    assert mall.ok("GET", path, 200, user=new_id()) == b

    # The capacity never goes below the sign-ups.
    for _ in range(3):
        signed_up_user(mall, a["id"], community)
    problem(mall.call("PATCH", path, user=staff, roles=roles, body={"capacity": 2}), 409,
            "capacity_below_signups")
    assert mall.ok("PATCH", path, 200, user=staff, roles=roles, body={"capacity": 3})["capacity"] == 3

    problem(mall.call("PATCH", path, user=staff, roles=roles, body={"ends_at": at(7200 + 60)}),
            422, "invalid_activity_time")
    problem(mall.call("PATCH", path, user=staff, roles=roles, body={"starts_at": at(-60)}),
            422, "invalid_activity_time")
    problem(mall.call("PATCH", path, user=staff, roles=staff_roles(new_id()),
                      body={"title": "x"}), 403, "not_in_scope")
    problem(mall.call("PATCH", path, user=staff, roles=volunteer(community), body={"title": "x"}),
            403, "not_in_scope")
    problem(mall.call("PATCH", f"{ACTS}/999999999999999", user=staff, roles=roles,
                      body={"title": "x"}), 404, "activity_not_found")
    # Once it started, it stays as announced.
    set_times(pg_super, a["id"], -60)
    problem(mall.call("PATCH", path, user=staff, roles=roles, body={"title": "x"}), 409,
            "activity_started")


@pytest.mark.parametrize("body,expect", [
    ({}, ("body", "empty")),
    ({"community_id": "5"}, ("community_id", "read_only")),
    ({"title": ""}, ("title", "invalid")),
    ({"starts_at": None}, ("starts_at", "invalid_time")),
    ({"capacity": None}, ("capacity", "invalid")),
    ({"points_per_hour": 5, "fixed_points": 5}, ("fixed_points", "conflict")),
    ({"fixed_points": None}, ("fixed_points", "invalid")),
    ({"x": 1}, ("x", "unknown")),
])
def test_changes_are_checked(mall, community, staff, body, expect):
    a = create(mall, community, staff)
    r = mall.call("PATCH", f"{ACTS}/{a['id']}", user=staff, roles=staff_roles(community),
                  body=body)
    problem(r, 422, "validation_failed")
    assert expect in fields(r)


def test_staff_cancel_an_activity(mall, community, staff):
    a = create(mall, community, staff)
    roles = staff_roles(community)
    user = signed_up_user(mall, a["id"], community)
    path = f"{ACTS}/{a['id']}/cancel"
    problem(mall.call("POST", path, user=staff, roles=staff_roles(new_id())), 403, "not_in_scope")
    problem(mall.call("POST", path, user=user, roles=volunteer(community)), 403, "not_in_scope")
    problem(mall.call("POST", path, user=staff, roles=roles, body={"reason": ""}), 422,
            "validation_failed")
    problem(mall.call("POST", path, user=staff, roles=roles, body={"why": "雨"}), 422,
            "validation_failed")
    c = mall.ok("POST", path, 200, user=staff, roles=roles, body={"reason": "暴雨预警，改期"})
    assert c["state"] == "cancelled" and c["cancel_reason"] == "暴雨预警，改期" and c["cancelled_at"]
    # Again: the same activity, unchanged.
    assert mall.ok("POST", path, 200, user=staff, roles=roles) == c
    # A cancelled activity takes no sign-ups, changes, withdrawals or QR codes.
    problem(sign_up(mall, a["id"], new_id(), volunteer(community)), 409, "activity_cancelled")
    problem(mall.call("PATCH", f"{ACTS}/{a['id']}", user=staff, roles=roles,
                      body={"title": "x"}), 409, "activity_cancelled")
    problem(mall.call("DELETE", f"{ACTS}/{a['id']}/signups/me", user=user), 409,
            "activity_cancelled")
    problem(mall.call("GET", f"{ACTS}/{a['id']}/qr", user=staff, roles=roles,
                      query={"purpose": "check_in"}), 409, "activity_cancelled")
    problem(mall.call("POST", f"{ACTS}/999999999999999/cancel", user=staff, roles=roles), 404,
            "activity_not_found")


def test_an_activity_that_ended_or_paid_cannot_be_cancelled(mall, community, staff, pg_super):
    roles = staff_roles(community)
    over = create(mall, community, staff)
    set_times(pg_super, over["id"], -7200, 3600)
    problem(mall.call("POST", f"{ACTS}/{over['id']}/cancel", user=staff, roles=roles), 409,
            "activity_not_cancellable")
    paid = create(mall, community, staff, fixed_points=5, points_per_hour=None)
    user = signed_up_user(mall, paid["id"], community)
    set_times(pg_super, paid["id"], -60)
    assert confirm(mall, paid["id"], user, community, staff).status_code == 200
    problem(mall.call("POST", f"{ACTS}/{paid['id']}/cancel", user=staff, roles=roles), 409,
            "activity_not_cancellable")


# --- signing up -----------------------------------------------------------------------------------

def test_volunteers_and_party_members_sign_up_once(mall, community, staff):
    a = create(mall, community, staff, capacity=2)
    v = new_id()
    r = sign_up(mall, a["id"], v, f"resident@{community},volunteer@{community}")
    assert r.status_code == 201, r.text
    s = spec.check(r)
    assert s["activity_id"] == a["id"] and s["user_id"] == v and s["role"] == "volunteer"
    assert s["state"] == "signed_up" and s["signed_up_at"] and s["hours"] is None
    problem(sign_up(mall, a["id"], v, volunteer(community)), 409, "already_signed_up")
    p = new_id()
    s = mall.ok("POST", f"{ACTS}/{a['id']}/signups", 201, user=p,
                roles=f"party_member@{community}", raw=b"{}",
                headers={"Content-Type": "application/json"})
    assert s["role"] == "party_member"
    problem(sign_up(mall, a["id"], new_id(), volunteer(community)), 409, "activity_full")
    assert mall.ok("GET", f"{ACTS}/{a['id']}", 200, user=v)["signed_up"] == 2


@pytest.mark.parametrize("roles", [
    "", "resident@{c}", "verified_resident@{c}", "community_staff@{c}", "volunteer@{other}",
    "party_member@{other}", "volunteer@1{c}",
])
def test_only_the_communitys_volunteers_and_party_members_sign_up(mall, community, staff, roles):
    a = create(mall, community, staff)
    r = sign_up(mall, a["id"], new_id(), roles.format(c=community, other=new_id()))
    problem(r, 403, "volunteer_role_required")


def test_sign_up_checks_its_request(mall, community, staff):
    a = create(mall, community, staff)
    r = mall.call("POST", f"{ACTS}/{a['id']}/signups", user=new_id(), roles=volunteer(community),
                  body={"note": "带工具"})
    problem(r, 422, "validation_failed")
    assert ("note", "unknown") in fields(r)
    problem(sign_up(mall, "999999999999999", new_id(), volunteer(community)), 404,
            "activity_not_found")


def test_withdraw_before_the_start_and_sign_up_again(mall, community, staff, pg_super):
    a = create(mall, community, staff, capacity=1)
    v = signed_up_user(mall, a["id"], community)
    problem(sign_up(mall, a["id"], new_id(), volunteer(community)), 409, "activity_full")
    w = mall.ok("DELETE", f"{ACTS}/{a['id']}/signups/me", 200, user=v)
    assert w["state"] == "withdrawn" and w["withdrawn_at"]
    assert mall.ok("GET", f"{ACTS}/{a['id']}", 200, user=v)["signed_up"] == 0
    problem(mall.call("DELETE", f"{ACTS}/{a['id']}/signups/me", user=v), 404, "signup_not_found")
    problem(mall.call("DELETE", f"{ACTS}/{a['id']}/signups/me", user=new_id()), 404,
            "signup_not_found")
    problem(mall.call("DELETE", f"{ACTS}/999999999999999/signups/me", user=v), 404,
            "activity_not_found")
    # The place is free again, and the same person may take it back.
    s = mall.ok("POST", f"{ACTS}/{a['id']}/signups", 201, user=v,
                roles=f"party_member@{community}")
    assert s["state"] == "signed_up" and s["withdrawn_at"] is None and s["role"] == "party_member"
    # After the start: neither signing up nor withdrawing.
    b = create(mall, community, staff)
    u = signed_up_user(mall, b["id"], community)
    set_times(pg_super, b["id"], -60)
    problem(sign_up(mall, b["id"], new_id(), volunteer(community)), 409, "signup_closed")
    problem(mall.call("DELETE", f"{ACTS}/{b['id']}/signups/me", user=u), 409,
            "withdrawal_closed")


def test_no_withdrawal_after_checking_in_early(mall, community, staff, pg_super, qr_key):
    a = create(mall, community, staff)
    v = signed_up_user(mall, a["id"], community)
    set_times(pg_super, a["id"], 10 * 60)  # check-in opens 30 minutes before
    r = check(mall, a["id"], v, community, qr(mall, a["id"], community, staff))
    assert r.status_code == 200, r.text
    problem(mall.call("DELETE", f"{ACTS}/{a['id']}/signups/me", user=v), 409,
            "withdrawal_closed")


def test_capacity_holds_under_50_concurrent_sign_ups(mall, mall_url, mall_key, community, staff,
                                                     pg_super):
    a = create(mall, community, staff, capacity=10)
    users = [new_id() for _ in range(50)]

    def go(i):
        client = Mall(mall_url, mall_key)
        try:
            r = sign_up(client, a["id"], users[i], volunteer(community))
            spec.check(r)
            return r.status_code, r.json().get("code")
        finally:
            client.session.close()

    results = concurrent(50, go)
    assert sum(1 for r in results if r == (201, None)) == 10, results
    assert sum(1 for r in results if r == (409, "activity_full")) == 40, results
    assert mall.ok("GET", f"{ACTS}/{a['id']}", 200, user=staff)["signed_up"] == 10
    with pg_super.cursor() as cur:
        cur.execute("SELECT count(*) FROM mall.activity_signups WHERE activity_id = %s"
                    " AND state <> 'withdrawn'", (int(a["id"]),))
        assert cur.fetchone()[0] == 10


def test_staff_list_the_sign_ups(mall, community, staff):
    a = create(mall, community, staff)
    users = [signed_up_user(mall, a["id"], community) for _ in range(3)]
    mall.ok("DELETE", f"{ACTS}/{a['id']}/signups/me", 200, user=users[1])
    roles = staff_roles(community)
    page = mall.ok("GET", f"{ACTS}/{a['id']}/signups", 200, user=staff, roles=roles,
                   query={"limit": 2})
    assert [s["user_id"] for s in page["items"]] == users[:2]
    assert page["items"][1]["state"] == "withdrawn"
    rest = mall.ok("GET", f"{ACTS}/{a['id']}/signups", 200, user=staff, roles=roles,
                   query={"limit": 2, "cursor": page["next_cursor"]})
    assert [s["user_id"] for s in rest["items"]] == users[2:] and rest["next_cursor"] is None
    problem(mall.call("GET", f"{ACTS}/{a['id']}/signups", user=users[0],
                      roles=volunteer(community)), 403, "not_in_scope")
    problem(mall.call("GET", f"{ACTS}/{a['id']}/signups", user=staff,
                      roles=staff_roles(new_id())), 403, "not_in_scope")
    problem(mall.call("GET", f"{ACTS}/999999999999999/signups", user=staff, roles=roles), 404,
            "activity_not_found")
    problem(mall.call("GET", f"{ACTS}/{a['id']}/signups", user=staff, roles=roles,
                      query={"state": "x"}), 422, "validation_failed")


def test_my_sign_ups_with_their_activities(mall, community, staff):
    me = new_id()
    a = create(mall, community, staff, title="活动一")
    b = create(mall, community, staff, title="活动二")
    c = create(mall, community, staff, title="活动三")
    for x in (a, b, c):
        assert sign_up(mall, x["id"], me, volunteer(community)).status_code == 201
    mall.ok("DELETE", f"{ACTS}/{b['id']}/signups/me", 200, user=me)
    page = mall.ok("GET", f"{ACTS}/me", 200, user=me, query={"limit": 2})
    assert [(s["activity"]["title"], s["state"]) for s in page["items"]] == [
        ("活动三", "signed_up"), ("活动二", "withdrawn")]
    assert page["items"][0]["activity"]["signed_up"] == 1
    rest = mall.ok("GET", f"{ACTS}/me", 200, user=me,
                   query={"limit": 2, "cursor": page["next_cursor"]})
    assert [s["activity"]["id"] for s in rest["items"]] == [a["id"]]
    assert mall.ok("GET", f"{ACTS}/me", 200, user=new_id()) == {"items": [], "next_cursor": None}
    problem(mall.call("GET", f"{ACTS}/me", user=me, query={"limit": "101"}), 422,
            "validation_failed")


# --- QR codes, check-in and check-out -----------------------------------------------------------

def test_staff_get_a_rotating_qr_token(mall, community, staff, qr_key):
    a = create(mall, community, staff)
    roles = staff_roles(community)
    before = int(time.time())
    t = mall.ok("GET", f"{ACTS}/{a['id']}/qr", 200, user=staff, roles=roles,
                query={"purpose": "check_out"})
    after = int(time.time())
    assert t["activity_id"] == a["id"] and t["purpose"] == "check_out"
    expires = int(parse_time(t["expires_at"]).timestamp())
    assert before + QR_TTL <= expires <= after + QR_TTL
    # The token is what the service makes with its key: version, purpose, activity, time, MAC.
    assert t["token"] == forge(qr_key, a["id"], "check_out", expires - QR_TTL)
    for query, expect in (({}, ("purpose", "required")), ({"purpose": "in"}, ("purpose", "invalid")),
                          ({"purpose": "check_in", "limit": "5"}, ("query", "unknown")),
                          ({"purpose": "check_in", "size": "5"}, ("query", "unknown"))):
        r = mall.call("GET", f"{ACTS}/{a['id']}/qr", user=staff, roles=roles, query=query)
        problem(r, 422, "validation_failed")
        assert expect in fields(r)
    problem(mall.call("GET", f"{ACTS}/{a['id']}/qr", user=staff, roles=staff_roles(new_id()),
                      query={"purpose": "check_in"}), 403, "not_in_scope")
    problem(mall.call("GET", f"{ACTS}/{a['id']}/qr", user=staff, roles=volunteer(community),
                      query={"purpose": "check_in"}), 403, "not_in_scope")
    problem(mall.call("GET", f"{ACTS}/999999999999999/qr", user=staff, roles=roles,
                      query={"purpose": "check_in"}), 404, "activity_not_found")


def test_check_in_and_out_with_the_organizers_qr(mall, community, staff, pg_super):
    a = create(mall, community, staff)
    v = signed_up_user(mall, a["id"], community)
    set_times(pg_super, a["id"], -60)
    token_in = qr(mall, a["id"], community, staff, "check_in")
    token_out = qr(mall, a["id"], community, staff, "check_out")

    problem(check(mall, a["id"], v, community, token_out, "check-out"), 409, "not_checked_in")
    s = spec.check(check(mall, a["id"], v, community, token_in))
    assert s["state"] == "checked_in" and s["checked_in_at"] and s["checked_out_at"] is None
    # Scanning again changes nothing: the first check-in counts.
    again = check(mall, a["id"], v, community, qr(mall, a["id"], community, staff))
    assert again.status_code == 200 and spec.check(again) == s
    # A check-in code does not check out, and the reverse.
    problem(check(mall, a["id"], v, community, token_in, "check-out"), 422, "invalid_qr_token")
    s = spec.check(check(mall, a["id"], v, community, token_out, "check-out"))
    assert s["state"] == "checked_out" and s["checked_out_at"] >= s["checked_in_at"]
    assert spec.check(check(mall, a["id"], v, community, token_out, "check-out")) == s
    assert spec.check(check(mall, a["id"], v, community, token_in)) == s
    assert mall.ok("GET", f"{ACTS}/me", 200, user=v)["items"][0]["state"] == "checked_out"


def test_check_in_needs_a_sign_up_and_a_good_token(mall, community, staff, pg_super, qr_key):
    a = create(mall, community, staff)
    other = create(mall, community, staff)
    v = signed_up_user(mall, a["id"], community)
    set_times(pg_super, a["id"], -60)
    good = qr(mall, a["id"], community, staff)
    problem(check(mall, a["id"], new_id(), community, good), 403, "not_signed_up")
    w = signed_up_user(mall, other["id"], community)
    mall.ok("DELETE", f"{ACTS}/{other['id']}/signups/me", 200, user=w)
    problem(check(mall, other["id"], w, community, qr(mall, other["id"], community, staff)), 403,
            "not_signed_up")
    # Another activity's code, a forged one, one from another key, garbage.
    for token in (qr(mall, other["id"], community, staff),
                  good[:-2] + ("AA" if good[-2:] != "AA" else "BA"),
                  forge(b"\x00" * 32, a["id"], "check_in", int(time.time())),
                  "not-a-token", "A" * 64):
        body = problem(check(mall, a["id"], v, community, token), 422, "invalid_qr_token")
        assert body.get("detail")
    for body, expect in (({}, ("token", "required")), ({"token": 5}, ("token", "invalid")),
                         ({"token": ""}, ("token", "invalid")),
                         ({"token": good, "at": 1}, ("at", "unknown"))):
        r = mall.call("POST", f"{ACTS}/{a['id']}/check-in", user=v, body=body)
        problem(r, 422, "validation_failed")
        assert expect in fields(r)
    assert check(mall, a["id"], v, community, good).status_code == 200


def test_qr_tokens_last_sixty_seconds(mall, community, staff, pg_super, qr_key):
    """Tokens forged with the stack's key for windows around now: only a
    window that began less than 60 s ago (or a few seconds ahead, for clock
    differences between instances) is accepted."""
    a = create(mall, community, staff)
    v = signed_up_user(mall, a["id"], community)
    set_times(pg_super, a["id"], -60)
    now = int(time.time())
    for issued in (now - QR_TTL - 1, now - 3600, now + 60):
        body = problem(check(mall, a["id"], v, community, forge(qr_key, a["id"], "check_in", issued)),
                       422, "invalid_qr_token")
        assert body["detail"]
    expired = problem(check(mall, a["id"], v, community,
                            forge(qr_key, a["id"], "check_in", now - 120)), 422, "invalid_qr_token")
    assert "过期" in expired["detail"]
    # A token from 50 s ago is still good.
    r = check(mall, a["id"], v, community, forge(qr_key, a["id"], "check_in", now - 50))
    assert r.status_code == 200, r.text
    assert spec.check(r)["state"] == "checked_in"


def test_a_minted_token_expires(mall, community, staff, pg_super):
    """The real thing, without forging: a token from the API stops working
    after its expires_at."""
    a = create(mall, community, staff)
    v = signed_up_user(mall, a["id"], community)
    set_times(pg_super, a["id"], -60)
    t = mall.ok("GET", f"{ACTS}/{a['id']}/qr", 200, user=staff, roles=staff_roles(community),
                query={"purpose": "check_in"})
    wait = parse_time(t["expires_at"]).timestamp() - time.time() + 1
    assert 0 < wait <= QR_TTL + 1
    time.sleep(wait)
    body = problem(check(mall, a["id"], v, community, t["token"]), 422, "invalid_qr_token")
    assert "过期" in body["detail"]


def test_check_in_and_out_keep_to_the_activitys_time(mall, community, staff, pg_super, qr_key):
    # Check-in opens 30 minutes before the start (YX_MALL_CHECKIN_EARLY_MINUTES).
    a = create(mall, community, staff)
    v = signed_up_user(mall, a["id"], community)
    set_times(pg_super, a["id"], 31 * 60)
    problem(check(mall, a["id"], v, community, qr(mall, a["id"], community, staff)), 409,
            "check_window_closed")
    set_times(pg_super, a["id"], 29 * 60)
    assert check(mall, a["id"], v, community, qr(mall, a["id"], community, staff)).status_code == 200
    # It closes at the end; check-out stays open 60 minutes longer
    # (YX_MALL_CHECKOUT_LATE_MINUTES).
    b = create(mall, community, staff)
    late = signed_up_user(mall, b["id"], community)
    done = signed_up_user(mall, b["id"], community)
    set_times(pg_super, b["id"], -3 * 3600 + 60, 2 * 3600)  # ends 59 minutes ago
    problem(check(mall, b["id"], done, community, qr(mall, b["id"], community, staff)), 409,
            "check_window_closed")
    with pg_super.cursor() as cur:
        cur.execute("UPDATE mall.activity_signups SET state = 'checked_in',"
                    " checked_in_at = now() - interval '2 hours'"
                    " WHERE activity_id = %s AND user_id = %s", (int(b["id"]), int(done)))
    problem(check(mall, b["id"], late, community, qr(mall, b["id"], community, staff)), 409,
            "check_window_closed")
    r = check(mall, b["id"], done, community, qr(mall, b["id"], community, staff, "check_out"),
              "check-out")
    assert r.status_code == 200 and spec.check(r)["state"] == "checked_out"
    c = create(mall, community, staff)
    u = signed_up_user(mall, c["id"], community)
    with pg_super.cursor() as cur:
        cur.execute("UPDATE mall.activity_signups SET state = 'checked_in',"
                    " checked_in_at = now() - interval '3 hours'"
                    " WHERE activity_id = %s AND user_id = %s", (int(c["id"]), int(u)))
    set_times(pg_super, c["id"], -4 * 3600, 2 * 3600)  # ended two hours ago
    problem(check(mall, c["id"], u, community, qr(mall, c["id"], community, staff, "check_out"),
                  "check-out"), 409, "check_window_closed")
    # A cancelled activity takes no check-ins.
    d = create(mall, community, staff)
    w = signed_up_user(mall, d["id"], community)
    token = qr(mall, d["id"], community, staff)
    mall.ok("POST", f"{ACTS}/{d['id']}/cancel", 200, user=staff, roles=staff_roles(community))
    problem(check(mall, d["id"], w, community, token), 409, "activity_cancelled")


# --- confirming hours and crediting points ---------------------------------------------------------

def test_confirming_hours_credits_points_once(mall, community, staff, pg_super, stack, pg_as):
    a = create(mall, community, staff, points_per_hour=15)
    v = signed_up_user(mall, a["id"], community)
    set_times(pg_super, a["id"], -3 * 3600, 4 * 3600)
    set_attendance(pg_super, a["id"], v, 3 * 3600, 3600 - 10 * 60)  # 2 h 10 min
    key = new_key()
    r = confirm(mall, a["id"], v, community, staff, key=key)
    assert r.status_code == 200, r.text
    s = spec.check(r)
    assert "Idempotent-Replayed" not in r.headers
    assert s["state"] == "confirmed" and s["hours"] == 2.0 and s["points"] == 30
    assert s["confirmed_by"] == staff and s["confirmed_at"] and s["txn_id"]
    assert mall.points(v) == {"user_id": v, "balance": 30, "earned": 30, "spent": 0}
    ledger = mall.ok("GET", "/api/v1/points/me/ledger", 200, user=v)["items"]
    assert [(e["kind"], e["amount"], e["ref"], e["community_id"], e["txn_id"]) for e in ledger] == [
        ("activity", 30, f"activity:{a['id']}:{v}", community, s["txn_id"])]

    # The same key again: the first answer, nothing credited.
    again = confirm(mall, a["id"], v, community, staff, key=key)
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert spec.check(again) == s
    # The same key for another request: 422. A new key: already confirmed.
    problem(confirm(mall, a["id"], v, community, staff, key=key, body={"hours": 1}), 422,
            "idempotency_key_mismatch")
    problem(confirm(mall, a["id"], v, community, staff), 409, "already_confirmed")
    problem(confirm(mall, a["id"], v, community, new_id(), body={"hours": 3}), 409,
            "already_confirmed")
    assert mall.points(v)["balance"] == 30
    # The participant's view, and the community's leaderboard.
    mine = mall.ok("GET", f"{ACTS}/me", 200, user=v)["items"][0]
    assert mine["state"] == "confirmed" and mine["points"] == 30
    board = mall.ok("GET", "/api/v1/points/leaderboard", 200, user=v,
                    query={"community_id": community})
    assert {"rank": 1, "user_id": v, "points": 30} in board["items"]
    activity_checks(pg_as)
    assert_reconciles(stack)


def test_the_organizer_may_set_the_hours(mall, community, staff, pg_super):
    a = create(mall, community, staff, points_per_hour=7)
    v = signed_up_user(mall, a["id"], community)
    w = signed_up_user(mall, a["id"], community)
    set_times(pg_super, a["id"], -60)
    s = spec.check(confirm(mall, a["id"], v, community, staff, body={"hours": 1.5}))
    assert s["hours"] == 1.5 and s["points"] == 11  # 10.5 rounded
    # Up to the whole activity (2 hours), never more.
    problem(confirm(mall, a["id"], w, community, staff, body={"hours": 2.5}), 422, "invalid_hours")
    s = spec.check(confirm(mall, a["id"], w, community, staff, body={"hours": 2}))
    assert s["hours"] == 2 and s["points"] == 14
    assert mall.points(v)["balance"] == 11 and mall.points(w)["balance"] == 14


@pytest.mark.parametrize("attended,expect_hours", [
    (74 * 60, 1.0),           # 1 h 14 min rounds down
    (75 * 60, 1.5),           # 1 h 15 min rounds up
    (5 * 3600, 2.0),          # never more than the 2-hour activity
])
def test_default_hours_round_to_half_hours_within_the_activity(mall, community, staff, pg_super,
                                                               attended, expect_hours):
    a = create(mall, community, staff, points_per_hour=10)
    v = signed_up_user(mall, a["id"], community)
    set_times(pg_super, a["id"], -6 * 3600, 2 * 3600)
    set_attendance(pg_super, a["id"], v, attended + 60, 60)
    s = spec.check(confirm(mall, a["id"], v, community, staff))
    assert s["hours"] == expect_hours and s["points"] == int(expect_hours * 10)


def test_fixed_points_need_no_hours(mall, community, staff, pg_super):
    a = create(mall, community, staff, points_per_hour=None, fixed_points=25)
    v = signed_up_user(mall, a["id"], community)
    w = signed_up_user(mall, a["id"], community, role="party_member")
    set_times(pg_super, a["id"], -60)
    s = spec.check(confirm(mall, a["id"], v, community, staff, body={}))
    assert s["hours"] is None and s["points"] == 25
    s = spec.check(confirm(mall, a["id"], w, community, staff, body={"hours": 0.5}))
    assert s["hours"] == 0.5 and s["points"] == 25


def test_confirmation_rules(mall, community, staff, pg_super):
    a = create(mall, community, staff, points_per_hour=10)
    v = signed_up_user(mall, a["id"], community)
    roles = staff_roles(community)
    path = f"{ACTS}/{a['id']}/attendance/{v}/confirm"
    problem(mall.call("POST", path, user=staff, roles=roles), 400, "idempotency_key_required")
    r = mall.call("POST", path, user=staff, roles=roles, key="k" * 129)
    problem(r, 422, "validation_failed")
    assert ("header/Idempotency-Key", "invalid") in fields(r)
    problem(confirm(mall, a["id"], v, community, staff), 409, "activity_not_started")
    set_times(pg_super, a["id"], -60)
    problem(mall.call("POST", path, user=staff, roles=volunteer(community), key=new_key()), 403,
            "not_in_scope")
    problem(mall.call("POST", path, user=staff, roles=staff_roles(new_id()), key=new_key()), 403,
            "not_in_scope")
    problem(confirm(mall, a["id"], v, community, staff), 422, "hours_required")
    problem(confirm(mall, a["id"], new_id(), community, staff, body={"hours": 1}), 404,
            "signup_not_found")
    problem(confirm(mall, "999999999999999", v, community, staff, body={"hours": 1}), 404,
            "activity_not_found")
    for body, expect in (({"hours": 0.7}, ("hours", "invalid")), ({"hours": 0}, ("hours", "out_of_range")),
                         ({"hours": 168.5}, ("hours", "out_of_range")),
                         ({"hours": "2"}, ("hours", "invalid")), ({"minutes": 30}, ("minutes", "unknown"))):
        r = confirm(mall, a["id"], v, community, staff, body=body)
        problem(r, 422, "validation_failed")
        assert expect in fields(r)
    # Ten minutes on site round to nothing: the organizer has to say.
    set_attendance(pg_super, a["id"], v, 20 * 60, 10 * 60)
    problem(confirm(mall, a["id"], v, community, staff), 422, "hours_required")
    # Staff who took part themselves do not confirm their own hours.
    both = new_id()
    assert sign_up(mall, create(mall, community, staff)["id"], both,
                   volunteer(community)).status_code == 201
    b = mall.ok("GET", f"{ACTS}/me", 200, user=both)["items"][0]["activity"]
    set_times(pg_super, b["id"], -60)
    problem(confirm(mall, b["id"], both, community, both, body={"hours": 1}), 403,
            "self_award_forbidden")
    # Nothing was credited by any of it.
    assert mall.points(v)["balance"] == 0 and mall.points(both)["balance"] == 0
    # A cancelled activity confirms nothing.
    c = create(mall, community, staff)
    u = signed_up_user(mall, c["id"], community)
    mall.ok("POST", f"{ACTS}/{c['id']}/cancel", 200, user=staff, roles=roles)
    set_times(pg_super, c["id"], -60)
    problem(confirm(mall, c["id"], u, community, staff, body={"hours": 1}), 409,
            "activity_cancelled")


def test_20_concurrent_confirmations_credit_once(mall, mall_url, mall_key, community, staff,
                                                 pg_super, pg_as, stack):
    a = create(mall, community, staff, points_per_hour=12)
    v = signed_up_user(mall, a["id"], community)
    w = signed_up_user(mall, a["id"], community)
    set_times(pg_super, a["id"], -3 * 3600, 3 * 3600)
    set_attendance(pg_super, a["id"], v, 3 * 3600, 3600)
    set_attendance(pg_super, a["id"], w, 3 * 3600, 3600)

    def confirm_with(user, key_of):
        def go(i):
            client = Mall(mall_url, mall_key)
            try:
                r = confirm(client, a["id"], user, community, staff, key=key_of(i))
                spec.check(r)
                return r.status_code, r.headers.get("Idempotent-Replayed"), r.content
            finally:
                client.session.close()
        return go

    # Twenty organizers' taps with twenty keys: one confirmation, nineteen refusals.
    results = concurrent(20, confirm_with(v, lambda i: new_key()))
    ok = [r for r in results if r[0] == 200]
    assert len(ok) == 1, results
    assert all(r[0] == 409 and json.loads(r[2])["code"] == "already_confirmed"
               for r in results if r[0] != 200)
    assert json.loads(ok[0][2])["points"] == 24
    # Twenty retries of one key: the same answer twenty times, one credit.
    key = new_key()
    results = concurrent(20, confirm_with(w, lambda i: key))
    assert all(r[0] == 200 for r in results), results
    assert len({r[2] for r in results}) == 1
    assert sum(1 for r in results if r[1] == "true") == 19

    for user in (v, w):
        assert mall.points(user) == {"user_id": user, "balance": 24, "earned": 24, "spent": 0}
    with pg_super.cursor() as cur:
        cur.execute("SELECT count(*), count(DISTINCT txn_id), sum(amount) FROM mall.journal"
                    " WHERE kind = 'activity' AND ref LIKE %s", (f"activity:{a['id']}:%",))
        assert cur.fetchone() == (4, 2, 0)
    activity_checks(pg_as)
    assert_reconciles(stack)


def test_a_confirmed_sign_up_is_final_in_the_database(mall, community, staff, pg_super, pg_as):
    a = create(mall, community, staff, points_per_hour=None, fixed_points=5)
    v = signed_up_user(mall, a["id"], community)
    set_times(pg_super, a["id"], -60)
    assert confirm(mall, a["id"], v, community, staff).status_code == 200
    conn = pg_as("mall")
    for sql in ("UPDATE activity_signups SET points = 500 WHERE user_id = %s",
                "UPDATE activity_signups SET state = 'signed_up', confirmed_at = NULL,"
                " confirmed_by = NULL, points = NULL, txn_id = NULL WHERE user_id = %s",
                "DELETE FROM activity_signups WHERE user_id = %s"):
        with conn.cursor() as cur, pytest.raises(psycopg2.Error) as err:
            cur.execute(sql, (int(v),))
        assert "signup_immutable" in str(err.value)
    with conn.cursor() as cur, pytest.raises(psycopg2.Error) as err:
        cur.execute("UPDATE activities SET signed_up = capacity + 1 WHERE id = %s", (int(a["id"]),))
    assert err.value.pgcode == "23514"  # check_violation: never above the capacity
