"""yx-mall's API, endpoint by endpoint: every success and every error, each
response checked against api-spec/mall.yaml, and the ledger reconciled.

Requests go straight to the mall's port with gateway-signed identity headers
(see test_mall_common.py); fresh ids keep tests apart."""
import json
import time

import psycopg2
import pytest

import spec
from conftest import assert_problem
from test_mall_common import (Mall, assert_reconciles, community, mall, mall_key,  # noqa: F401
                              mall_url, new_id, new_key, run_mall_command, staff, staff_roles)

ITEMS = "/api/v1/mall/items"
ORDERS = "/api/v1/mall/orders"
AWARDS = "/api/v1/points/awards"


def problem(resp, status, code):
    """The response is the problem `code` with `status`, as the spec says."""
    spec.check(resp)
    return assert_problem(resp, status, code)


def fields(resp):
    return {(e["field"], e["reason"]) for e in resp.json().get("errors", [])}


def rich_user(mall, community, staff, points=1000):
    user = new_id()
    mall.award(community, staff, user, points)
    return user


# --- service basics ---------------------------------------------------------------------

def test_health_and_readiness(mall):
    r = mall.call("GET", "/healthz", sign=False)
    assert r.status_code == 200 and r.json() == {"status": "ok", "service": "mall"}
    r = mall.call("GET", "/readyz", sign=False)
    assert r.status_code == 200
    assert r.json()["checks"] == {"postgres": "up", "redis": "up"}


@pytest.mark.parametrize("method,path", [
    ("GET", "/api/v1/points/me"), ("GET", "/api/v1/points/me/ledger"),
    ("GET", ITEMS + "?community_id=1"), ("GET", ITEMS + "/1"), ("POST", ORDERS),
    ("GET", ORDERS + "/me"), ("POST", AWARDS),
])
def test_unsigned_requests_are_refused(mall, method, path):
    r = mall.call(method, path, sign=False, body={} if method == "POST" else None)
    problem(r, 401, "unauthorized")


@pytest.mark.parametrize("method,path", [
    ("GET", "/api/v1/points/me"), ("GET", "/api/v1/points/me/ledger"), ("POST", ORDERS),
    ("GET", ORDERS + "/me"), ("GET", ORDERS + "/1"), ("POST", ORDERS + "/1/cancel"),
    ("POST", AWARDS), ("GET", "/api/v1/points/leaderboard?community_id=1"),
])
def test_anonymous_callers_must_sign_in(mall, method, path):
    """Signed by the gateway but without a user: everything but the catalogue needs one."""
    r = mall.call(method, path, body={} if method == "POST" else None, key=new_key())
    problem(r, 401, "unauthorized")


@pytest.mark.parametrize("method,path", [
    ("POST", "/api/v1/points/me"), ("DELETE", "/api/v1/points/me/ledger"),
    ("POST", "/api/v1/points/leaderboard"), ("GET", AWARDS), ("DELETE", ITEMS),
    ("POST", ITEMS + "/1"), ("GET", ORDERS), ("POST", ORDERS + "/me"),
    ("DELETE", ORDERS + "/1"), ("GET", ORDERS + "/1/cancel"), ("PUT", ORDERS + "/1/fulfil"),
])
def test_other_methods_are_405(mall, method, path):
    r = mall.call(method, path, user=new_id())
    problem(r, 405, "method_not_allowed")


def test_unknown_routes_are_404(mall):
    for path in ("/api/v1/mall", "/api/v1/mall/items/1/x", "/api/v1/points/awards/1",
                 "/api/v1/points"):
        r = mall.call("GET", path, user=new_id())
        assert_problem(r, 404, "route_not_found")


# --- items ------------------------------------------------------------------------------

def test_staff_create_an_item_and_a_replay_returns_it(mall, community, staff):
    key = new_key()
    body = {"community_id": community, "name": "洗衣液", "description": "2 升\n家用",
            "image_url": "https://img.example.cn/a.png", "points_price": 120, "stock": 30,
            "monthly_limit": 2, "sale_starts_at": "2020-01-01T00:00:00+08:00",
            "sale_ends_at": "2099-12-31T23:59:59Z", "listed": True}
    r = mall.call("POST", ITEMS, user=staff, roles=staff_roles(community), body=body, key=key)
    assert r.status_code == 201, r.text
    item = spec.check(r)
    assert item["name"] == "洗衣液" and item["stock"] == 30 and item["points_price"] == 120
    assert item["community_id"] == community and item["monthly_limit"] == 2
    assert item["sale_starts_at"] == "2019-12-31T16:00:00Z"
    assert "Idempotent-Replayed" not in r.headers

    again = mall.call("POST", ITEMS, user=staff, roles=staff_roles(community), body=body, key=key)
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert spec.check(again) == item

    other = dict(body, name="洗洁精")
    r = mall.call("POST", ITEMS, user=staff, roles=staff_roles(community), body=other, key=key)
    problem(r, 422, "idempotency_key_mismatch")
    # The key belongs to the caller: another staff member may use the same one.
    r = mall.call("POST", ITEMS, user=new_id(), roles=staff_roles(community), body=other, key=key)
    assert r.status_code == 201 and spec.check(r)["id"] != item["id"]


def test_community_secretary_is_staff_too(mall, community, staff):
    r = mall.call("POST", ITEMS, user=staff, roles=staff_roles(community, "community_secretary"),
                  body={"community_id": community, "name": "毛巾", "points_price": 5, "stock": 1},
                  key=new_key())
    assert r.status_code == 201
    spec.check(r)


def test_item_create_needs_an_idempotency_key(mall, community, staff):
    body = {"community_id": community, "name": "毛巾", "points_price": 5, "stock": 1}
    r = mall.call("POST", ITEMS, user=staff, roles=staff_roles(community), body=body)
    problem(r, 400, "idempotency_key_required")
    r = mall.call("POST", ITEMS, user=staff, roles=staff_roles(community), body=body,
                  key="k" * 129)
    problem(r, 422, "validation_failed")
    assert ("header/Idempotency-Key", "invalid") in fields(r)


@pytest.mark.parametrize("roles", [
    "", "resident@{c}", "volunteer@{c}", "community_staff@1{c}", "community_staff@{other}",
    "street_admin@{c}", "district_admin@{c}", "grid_worker@{c}",
])
def test_only_staff_of_that_community_create_items(mall, community, staff, roles):
    roles = roles.format(c=community, other=new_id())
    r = mall.call("POST", ITEMS, user=staff, roles=roles, key=new_key(),
                  body={"community_id": community, "name": "毛巾", "points_price": 5, "stock": 1})
    problem(r, 403, "not_in_scope")


@pytest.mark.parametrize("change,expect", [
    ({"name": None}, ("name", "required")),
    ({"name": ""}, ("name", "invalid")),
    ({"name": "   "}, ("name", "invalid")),
    ({"name": "x" * 61}, ("name", "invalid")),
    ({"name": "a\u0001b"}, ("name", "invalid")),
    ({"points_price": 0}, ("points_price", "out_of_range")),
    ({"points_price": 1.5}, ("points_price", "invalid")),
    ({"points_price": "10"}, ("points_price", "invalid")),
    ({"stock": -1}, ("stock", "out_of_range")),
    ({"stock": 1000000001}, ("stock", "out_of_range")),
    ({"monthly_limit": 0}, ("monthly_limit", "out_of_range")),
    ({"image_url": "ftp://x/y"}, ("image_url", "invalid_url")),
    ({"image_url": "https://a b"}, ("image_url", "invalid_url")),
    ({"sale_starts_at": "2025-02-30T00:00:00Z"}, ("sale_starts_at", "invalid_time")),
    ({"sale_ends_at": "tomorrow"}, ("sale_ends_at", "invalid_time")),
    ({"listed": "yes"}, ("listed", "invalid")),
    ({"colour": "red"}, ("colour", "unknown")),
    ({"community_id": 12}, ("community_id", "invalid")),
])
def test_item_create_validates_its_fields(mall, community, staff, change, expect):
    body = {"community_id": community, "name": "毛巾", "points_price": 5, "stock": 1}
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None}
    r = mall.call("POST", ITEMS, user=staff, roles=staff_roles(community), body=body,
                  key=new_key())
    problem(r, 422, "validation_failed")
    assert expect in fields(r)


def test_item_create_refuses_a_window_that_ends_before_it_starts(mall, community, staff):
    r = mall.call("POST", ITEMS, user=staff, roles=staff_roles(community), key=new_key(),
                  body={"community_id": community, "name": "毛巾", "points_price": 5, "stock": 1,
                        "sale_starts_at": "2030-01-02T00:00:00Z",
                        "sale_ends_at": "2030-01-01T00:00:00Z"})
    problem(r, 422, "invalid_sale_window")


def test_item_create_refuses_what_is_not_json(mall, community, staff):
    r = mall.call("POST", ITEMS, user=staff, roles=staff_roles(community), key=new_key(),
                  raw=b"name=x", headers={"Content-Type": "application/x-www-form-urlencoded"})
    problem(r, 415, "unsupported_media_type")
    r = mall.call("POST", ITEMS, user=staff, roles=staff_roles(community), key=new_key(),
                  raw=b"{\"name\":", headers={"Content-Type": "application/json"})
    problem(r, 400, "invalid_json")


def test_anyone_reads_an_item(mall, community, staff):
    item = mall.create_item(community, staff)
    got = mall.ok("GET", f"{ITEMS}/{item['id']}", 200)
    assert got == item
    problem(mall.call("GET", f"{ITEMS}/999999999999999999"), 404, "item_not_found")
    for bad in ("abc", "0", "01", "1234567890123456789", "-1"):
        problem(mall.call("GET", f"{ITEMS}/{bad}"), 404, "item_not_found")


def test_staff_change_an_item(mall, community, staff, stack):
    item = mall.create_item(community, staff, stock=5, description="旧", monthly_limit=3)
    path = f"{ITEMS}/{item['id']}"
    roles = staff_roles(community)
    got = mall.ok("PATCH", path, 200, user=staff, roles=roles,
                  body={"name": "新米", "points_price": 80, "stock": 12, "description": None,
                        "monthly_limit": None, "listed": True})
    assert got["name"] == "新米" and got["points_price"] == 80 and got["stock"] == 12
    assert got["description"] is None and got["monthly_limit"] is None
    assert mall.ok("GET", path, 200) == got
    # A change is the same request sent again: no key needed, same result.
    again = mall.ok("PATCH", path, 200, user=staff, roles=roles, body={"stock": 12})
    assert again["stock"] == 12
    assert_reconciles(stack)


def test_item_changes_are_checked(mall, community, staff):
    item = mall.create_item(community, staff)
    path = f"{ITEMS}/{item['id']}"
    roles = staff_roles(community)
    problem(mall.call("PATCH", path, user=staff, roles=staff_roles(new_id()),
                      body={"stock": 1}), 403, "not_in_scope")
    problem(mall.call("PATCH", path, user=staff, roles="resident@1", body={"stock": 1}),
            403, "not_in_scope")
    problem(mall.call("PATCH", f"{ITEMS}/999999999999999998", user=staff, roles=roles,
                      body={"stock": 1}), 404, "item_not_found")
    r = mall.call("PATCH", path, user=staff, roles=roles, body={})
    problem(r, 422, "validation_failed")
    assert ("body", "empty") in fields(r)
    r = mall.call("PATCH", path, user=staff, roles=roles, body={"community_id": "1"})
    problem(r, 422, "validation_failed")
    assert ("community_id", "read_only") in fields(r)
    r = mall.call("PATCH", path, user=staff, roles=roles, body={"stock": -3})
    assert ("stock", "out_of_range") in fields(r)
    problem(mall.call("PATCH", path, user=staff, roles=roles,
                      body={"sale_starts_at": "2031-01-01T00:00:00Z",
                            "sale_ends_at": "2030-01-01T00:00:00Z"}), 422, "invalid_sale_window")
    # The window is checked against what the item already has, too.
    mall.ok("PATCH", path, 200, user=staff, roles=roles,
            body={"sale_ends_at": "2030-01-01T00:00:00Z"})
    problem(mall.call("PATCH", path, user=staff, roles=roles,
                      body={"sale_starts_at": "2030-06-01T00:00:00Z"}), 422,
            "invalid_sale_window")


def test_item_list_pages_and_is_cached_until_a_change(mall, community, staff, redis_admin):
    made = [mall.create_item(community, staff, name=f"商品{i}") for i in range(5)]
    hidden = mall.create_item(community, staff, name="下架", listed=False)
    ended = mall.create_item(community, staff, name="已结束",
                             sale_starts_at="2020-01-01T00:00:00Z",
                             sale_ends_at="2020-02-01T00:00:00Z")
    first = mall.ok("GET", ITEMS, 200, query={"community_id": community, "limit": 3})
    assert [i["id"] for i in first["items"]] == [m["id"] for m in made[::-1][:3]]
    assert first["next_cursor"]
    second = mall.ok("GET", ITEMS, 200, query={"community_id": community, "limit": 3,
                                               "cursor": first["next_cursor"]})
    assert [i["id"] for i in second["items"]] == [m["id"] for m in made[::-1][3:]]
    assert second["next_cursor"] is None
    ids = {i["id"] for i in first["items"] + second["items"]}
    assert hidden["id"] not in ids and ended["id"] not in ids

    pages = f"mall:{{items:{community}}}:pages"
    assert redis_admin.hexists(pages, "3:")
    assert redis_admin.ttl(pages) > 0
    # Served from the cache: a page edited in Redis is what comes back.
    edited = dict(first, items=[dict(first["items"][0], name="缓存里的")] + first["items"][1:])
    redis_admin.hset(pages, "3:", json.dumps(edited, ensure_ascii=False))
    cached = mall.ok("GET", ITEMS, 200, query={"community_id": community, "limit": 3})
    assert cached == edited

    # Any change of the community's items drops the cached pages.
    mall.ok("PATCH", f"{ITEMS}/{made[-1]['id']}", 200, user=staff,
            roles=staff_roles(community), body={"name": "改名了"})
    assert not redis_admin.exists(pages)
    fresh = mall.ok("GET", ITEMS, 200, query={"community_id": community, "limit": 3})
    assert fresh["items"][0]["name"] == "改名了"


def test_item_list_stock_follows_redemptions(mall, community, staff):
    item = mall.create_item(community, staff, stock=3, points_price=10)
    before = mall.ok("GET", ITEMS, 200, query={"community_id": community})
    assert before["items"][0]["stock"] == 3
    user = rich_user(mall, community, staff, 100)
    assert mall.redeem(user, item["id"]).status_code == 201
    after = mall.ok("GET", ITEMS, 200, query={"community_id": community})
    assert after["items"][0]["stock"] == 2


def test_item_list_arguments_are_checked(mall):
    problem(mall.call("GET", ITEMS), 422, "validation_failed")
    for q in ({"community_id": "x"}, {"community_id": "0"}, {"community_id": "1", "limit": 0},
              {"community_id": "1", "limit": 101}, {"community_id": "1", "sort": "name"}):
        problem(mall.call("GET", ITEMS, query=q), 422, "validation_failed")
    problem(mall.call("GET", ITEMS, query={"community_id": "1", "cursor": "forged"}), 400,
            "invalid_cursor")


# --- awards ---------------------------------------------------------------------------------

def test_staff_award_points(mall, community, staff, stack):
    user = new_id()
    key = new_key()
    body = {"user_id": user, "community_id": community, "points": 50, "reason": "参加社区清洁"}
    r = mall.call("POST", AWARDS, user=staff, roles=staff_roles(community), body=body, key=key)
    assert r.status_code == 201, r.text
    award = spec.check(r)
    assert award["user_id"] == user and award["points"] == 50
    assert award["awarded_by"] == staff and award["reason"] == "参加社区清洁"
    assert mall.points(user) == {"user_id": user, "balance": 50, "earned": 50, "spent": 0}
    # A replay awards nothing more.
    again = mall.call("POST", AWARDS, user=staff, roles=staff_roles(community), body=body, key=key)
    assert again.status_code == 201 and spec.check(again) == award
    assert again.headers["Idempotent-Replayed"] == "true"
    assert mall.points(user)["balance"] == 50
    r = mall.call("POST", AWARDS, user=staff, roles=staff_roles(community),
                  body=dict(body, points=51), key=key)
    problem(r, 422, "idempotency_key_mismatch")
    assert_reconciles(stack)


def test_awards_stop_at_the_daily_cap(mall, community, staff):
    user = new_id()
    mall.award(community, staff, user, 9000)
    r = mall.call("POST", AWARDS, user=staff, roles=staff_roles(community), key=new_key(),
                  body={"user_id": new_id(), "community_id": community, "points": 1001,
                        "reason": "超额"})
    problem(r, 409, "daily_cap_exceeded")
    mall.award(community, staff, new_id(), 1000)  # exactly the cap is fine
    r = mall.call("POST", AWARDS, user=staff, roles=staff_roles(community), key=new_key(),
                  body={"user_id": user, "community_id": community, "points": 1,
                        "reason": "超额"})
    problem(r, 409, "daily_cap_exceeded")
    # Another community has its own cap.
    other = new_id()
    mall.award(other, staff, user, 10000)
    assert mall.points(user)["balance"] == 19000


def test_awards_are_for_staff_of_the_community_and_not_for_themselves(mall, community, staff):
    body = {"user_id": new_id(), "community_id": community, "points": 5, "reason": "x"}
    for roles in ("", f"volunteer@{community}", f"community_staff@{new_id()}",
                  f"street_admin@{community}"):
        problem(mall.call("POST", AWARDS, user=staff, roles=roles, body=body, key=new_key()),
                403, "not_in_scope")
    problem(mall.call("POST", AWARDS, user=staff, roles=staff_roles(community), key=new_key(),
                      body=dict(body, user_id=staff)), 403, "self_award_forbidden")
    problem(mall.call("POST", AWARDS, user=staff, roles=staff_roles(community), body=body),
            400, "idempotency_key_required")


@pytest.mark.parametrize("change,expect", [
    ({"points": 0}, ("points", "out_of_range")),
    ({"points": 1000001}, ("points", "out_of_range")),
    ({"points": "5"}, ("points", "invalid")),
    ({"reason": ""}, ("reason", "invalid")),
    ({"reason": "x" * 201}, ("reason", "invalid")),
    ({"reason": None}, ("reason", "required")),
    ({"user_id": "abc"}, ("user_id", "invalid")),
    ({"user_id": None}, ("user_id", "required")),
    ({"bonus": True}, ("bonus", "unknown")),
])
def test_awards_validate_their_fields(mall, community, staff, change, expect):
    body = {"user_id": new_id(), "community_id": community, "points": 5, "reason": "服务"}
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None}
    r = mall.call("POST", AWARDS, user=staff, roles=staff_roles(community), body=body,
                  key=new_key())
    problem(r, 422, "validation_failed")
    assert expect in fields(r)


# --- points -----------------------------------------------------------------------------------

def test_a_new_user_has_no_points(mall):
    user = new_id()
    assert mall.points(user) == {"user_id": user, "balance": 0, "earned": 0, "spent": 0}
    page = mall.ok("GET", "/api/v1/points/me/ledger", 200, user=user)
    assert page == {"items": [], "next_cursor": None}


def test_the_ledger_pages_through_the_users_own_rows(mall, community, staff):
    user = new_id()
    for p in (10, 20, 30):
        mall.award(community, staff, user, p)
    mall.award(community, staff, new_id(), 99)  # someone else's
    first = mall.ok("GET", "/api/v1/points/me/ledger", 200, user=user, query={"limit": 2})
    assert [e["amount"] for e in first["items"]] == [30, 20]
    assert all(e["kind"] == "award" and e["ref"].startswith("award:") for e in first["items"])
    rest = mall.ok("GET", "/api/v1/points/me/ledger", 200, user=user,
                   query={"limit": 2, "cursor": first["next_cursor"]})
    assert [e["amount"] for e in rest["items"]] == [10] and rest["next_cursor"] is None
    problem(mall.call("GET", "/api/v1/points/me/ledger", user=user, query={"cursor": "x"}),
            400, "invalid_cursor")
    problem(mall.call("GET", "/api/v1/points/me/ledger", user=user, query={"limit": "many"}),
            422, "validation_failed")


def test_leaderboard_from_redis_and_from_the_journal(mall, community, staff, stack, redis_admin):
    a, b, c = new_id(), new_id(), new_id()
    mall.award(community, staff, a, 30)
    mall.award(community, staff, b, 50)
    mall.award(community, staff, c, 10)
    mall.award(community, staff, a, 25)
    want = [{"rank": 1, "user_id": a, "points": 55}, {"rank": 2, "user_id": b, "points": 50},
            {"rank": 3, "user_id": c, "points": 10}]
    board = mall.ok("GET", "/api/v1/points/leaderboard", 200, user=a,
                    query={"community_id": community})
    assert board["items"] == want and board["source"] == "cache" and board["period"] == "month"
    year = mall.ok("GET", "/api/v1/points/leaderboard", 200, user=a,
                   query={"community_id": community, "period": "year", "limit": 2})
    assert year["items"] == want[:2] and len(year["label"]) == 4

    # Redis lost the boards: the journal answers, and a rebuild writes them back.
    key = f"mall:{{lb:{community}:month:{board['label']}}}"
    assert redis_admin.zscore(key, a) == 55
    redis_admin.delete(key)
    lost = mall.ok("GET", "/api/v1/points/leaderboard", 200, user=a,
                   query={"community_id": community})
    assert lost["items"] == want and lost["source"] == "journal"
    res = run_mall_command(stack, "rebuild-leaderboard")
    assert res.returncode == 0, res.stderr
    assert redis_admin.zscore(key, a) == 55 and redis_admin.ttl(key) > 0
    back = mall.ok("GET", "/api/v1/points/leaderboard", 200, user=a,
                   query={"community_id": community})
    assert back["items"] == want and back["source"] == "cache"


def test_leaderboard_arguments_are_checked(mall):
    user = new_id()
    lb = "/api/v1/points/leaderboard"
    for q in ({}, {"community_id": "x"}, {"community_id": "1", "period": "week"},
              {"community_id": "1", "limit": 500}):
        problem(mall.call("GET", lb, user=user, query=q), 422, "validation_failed")
    empty = mall.ok("GET", lb, 200, user=user, query={"community_id": new_id()})
    assert empty["items"] == [] and empty["source"] == "journal"


# --- orders -------------------------------------------------------------------------------------

def test_redeem_an_item(mall, community, staff, stack):
    item = mall.create_item(community, staff, points_price=30, stock=5)
    user = rich_user(mall, community, staff, 100)
    r = mall.redeem(user, item["id"], quantity=2)
    assert r.status_code == 201, r.text
    order = spec.check(r)
    assert order["state"] == "pending" and order["points"] == 60 and order["unit_price"] == 30
    assert order["quantity"] == 2 and order["user_id"] == user
    assert order["item_name"] == item["name"] and order["community_id"] == community
    assert len(order["pickup_code"]) == 6 and order["closed_at"] is None
    assert mall.points(user) == {"user_id": user, "balance": 40, "earned": 100, "spent": 60}
    assert mall.ok("GET", f"{ITEMS}/{item['id']}", 200)["stock"] == 3
    ledger = mall.ok("GET", "/api/v1/points/me/ledger", 200, user=user)
    assert ledger["items"][0]["amount"] == -60
    assert ledger["items"][0]["ref"] == f"order:{order['id']}"
    assert_reconciles(stack)


def test_a_replayed_redemption_orders_once(mall, community, staff):
    item = mall.create_item(community, staff, points_price=10, stock=5)
    user = rich_user(mall, community, staff, 100)
    key = new_key()
    first = mall.redeem(user, item["id"], key=key)
    again = mall.redeem(user, item["id"], key=key)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json() and again.headers["Idempotent-Replayed"] == "true"
    assert mall.points(user)["balance"] == 90
    problem(mall.redeem(user, item["id"], quantity=2, key=key), 422, "idempotency_key_mismatch")
    # A request that failed stored nothing: with the same key it is tried again.
    empty = mall.create_item(community, staff, points_price=10, stock=0)
    key = new_key()
    problem(mall.redeem(user, empty["id"], key=key), 409, "out_of_stock")
    mall.ok("PATCH", f"{ITEMS}/{empty['id']}", 200, user=staff, roles=staff_roles(community),
            body={"stock": 1})
    assert mall.redeem(user, empty["id"], key=key).status_code == 201


def test_a_replay_after_the_sell_out_still_gets_its_order(mall, community, staff, redis_admin):
    """The sold-out gate answers from Redis, but never over a stored answer."""
    item = mall.create_item(community, staff, points_price=1, stock=1)
    user = rich_user(mall, community, staff, 10)
    key = new_key()
    first = mall.redeem(user, item["id"], key=key)
    assert first.status_code == 201
    assert redis_admin.hget(f"mall:{{item:{item['id']}}}:gate", "s") == "0"
    problem(mall.redeem(rich_user(mall, community, staff), item["id"]), 409, "out_of_stock")
    again = mall.redeem(user, item["id"], key=key)
    assert again.status_code == 201 and spec.check(again) == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    problem(mall.redeem(user, item["id"], quantity=2, key=key), 422, "idempotency_key_mismatch")
    assert mall.points(user)["balance"] == 9


def test_a_stale_sold_out_copy_never_refuses_what_the_database_accepts(mall, community, staff,
                                                                      redis_admin):
    item = mall.create_item(community, staff, points_price=1, stock=3)
    user = rich_user(mall, community, staff, 10)
    gate = f"mall:{{item:{item['id']}}}:gate"
    redis_admin.hset(gate, mapping={"v": 10**9, "s": 0})
    time.sleep(1.2)  # the workers' own copies are a second old at most
    r = mall.redeem(user, item["id"])
    assert r.status_code == 201, r.text
    assert mall.ok("GET", f"{ITEMS}/{item['id']}", 200)["stock"] == 2


def test_redeem_needs_enough_points(mall, community, staff):
    item = mall.create_item(community, staff, points_price=30, stock=5)
    problem(mall.redeem(new_id(), item["id"]), 409, "insufficient_points")
    user = rich_user(mall, community, staff, 50)
    problem(mall.redeem(user, item["id"], quantity=2), 409, "insufficient_points")
    assert mall.redeem(user, item["id"]).status_code == 201
    problem(mall.redeem(user, item["id"]), 409, "insufficient_points")
    assert mall.points(user)["balance"] == 20


def test_redeem_needs_stock(mall, community, staff):
    item = mall.create_item(community, staff, points_price=1, stock=2)
    user = rich_user(mall, community, staff, 100)
    problem(mall.redeem(user, item["id"], quantity=3), 409, "out_of_stock")
    assert mall.redeem(user, item["id"], quantity=2).status_code == 201
    problem(mall.redeem(user, item["id"]), 409, "out_of_stock")
    # And again, now that the sold-out gate in Redis knows.
    problem(mall.redeem(user, item["id"]), 409, "out_of_stock")
    assert mall.points(user)["balance"] == 98


def test_redeem_keeps_the_monthly_limit(mall, community, staff):
    item = mall.create_item(community, staff, points_price=1, stock=10, monthly_limit=2)
    user = rich_user(mall, community, staff, 100)
    assert mall.redeem(user, item["id"]).status_code == 201
    problem(mall.redeem(user, item["id"], quantity=2), 409, "limit_exceeded")
    second = mall.redeem(user, item["id"])
    assert second.status_code == 201
    problem(mall.redeem(user, item["id"]), 409, "limit_exceeded")
    # A cancelled order does not count.
    mall.ok("POST", f"{ORDERS}/{second.json()['id']}/cancel", 200, user=user, key=new_key())
    assert mall.redeem(user, item["id"]).status_code == 201
    # The limit is per user.
    assert mall.redeem(rich_user(mall, community, staff), item["id"]).status_code == 201


def test_redeem_needs_a_listed_item_on_sale(mall, community, staff):
    user = rich_user(mall, community, staff)
    problem(mall.redeem(user, "999999999999999997"), 404, "item_not_found")
    hidden = mall.create_item(community, staff, listed=False)
    problem(mall.redeem(user, hidden["id"]), 404, "item_not_found")
    later = mall.create_item(community, staff, sale_starts_at="2099-01-01T00:00:00Z")
    problem(mall.redeem(user, later["id"]), 409, "item_not_on_sale")
    over = mall.create_item(community, staff, sale_starts_at="2020-01-01T00:00:00Z",
                            sale_ends_at="2020-01-02T00:00:00Z")
    problem(mall.redeem(user, over["id"]), 409, "item_not_on_sale")
    assert mall.points(user)["balance"] == 1000


def test_redeem_checks_its_request(mall):
    user = new_id()
    problem(mall.call("POST", ORDERS, user=user, body={"item_id": "1"}), 400,
            "idempotency_key_required")
    for body, expect in (({}, ("item_id", "required")), ({"item_id": 5}, ("item_id", "invalid")),
                         ({"item_id": "1", "quantity": 0}, ("quantity", "out_of_range")),
                         ({"item_id": "1", "quantity": 101}, ("quantity", "out_of_range")),
                         ({"item_id": "1", "note": "x"}, ("note", "unknown"))):
        r = mall.call("POST", ORDERS, user=user, body=body, key=new_key())
        problem(r, 422, "validation_failed")
        assert expect in fields(r)


def test_the_owner_cancels_before_pickup(mall, community, staff, stack):
    item = mall.create_item(community, staff, points_price=20, stock=3)
    user = rich_user(mall, community, staff, 100)
    order = mall.redeem(user, item["id"], quantity=2).json()
    path = f"{ORDERS}/{order['id']}/cancel"
    problem(mall.call("POST", path, user=new_id(), key=new_key()), 404, "order_not_found")
    problem(mall.call("POST", path, user=user), 400, "idempotency_key_required")
    r = mall.call("POST", path, user=user, key=new_key(), body={"why": "x"})
    problem(r, 422, "validation_failed")
    key = new_key()
    done = mall.ok("POST", path, 200, user=user, key=key, body={})
    assert done["state"] == "cancelled" and done["closed_at"]
    assert mall.points(user) == {"user_id": user, "balance": 100, "earned": 100, "spent": 0}
    assert mall.ok("GET", f"{ITEMS}/{item['id']}", 200)["stock"] == 3
    again = mall.call("POST", path, user=user, key=key, body={})
    assert again.status_code == 200 and again.json() == done
    problem(mall.call("POST", path, user=user, key=new_key()), 409, "order_not_cancellable")
    problem(mall.call("POST", f"{ORDERS}/999999999999999996/cancel", user=user, key=new_key()),
            404, "order_not_found")
    problem(mall.call("POST", f"{ORDERS}/x1/cancel", user=user, key=new_key()), 404,
            "order_not_found")
    assert_reconciles(stack)


def test_staff_hand_over_an_order_with_its_pickup_code(mall, community, staff, stack):
    item = mall.create_item(community, staff, points_price=20, stock=3)
    user = rich_user(mall, community, staff, 100)
    order = mall.redeem(user, item["id"]).json()
    path = f"{ORDERS}/{order['id']}/fulfil"
    roles = staff_roles(community)
    wrong = "000000" if order["pickup_code"] != "000000" else "111111"
    problem(mall.call("POST", path, user=staff, roles=roles, key=new_key(),
                      body={"pickup_code": wrong}), 422, "invalid_pickup_code")
    for bad in ({}, {"pickup_code": "12345"}, {"pickup_code": 123456}):
        problem(mall.call("POST", path, user=staff, roles=roles, key=new_key(), body=bad), 422,
                "validation_failed")
    problem(mall.call("POST", path, user=staff, roles=staff_roles(new_id()), key=new_key(),
                      body={"pickup_code": order["pickup_code"]}), 403, "not_in_scope")
    problem(mall.call("POST", path, user=user, key=new_key(),
                      body={"pickup_code": order["pickup_code"]}), 403, "not_in_scope")
    problem(mall.call("POST", path, user=staff, roles=roles,
                      body={"pickup_code": order["pickup_code"]}), 400, "idempotency_key_required")
    problem(mall.call("POST", f"{ORDERS}/999999999999999995/fulfil", user=staff, roles=roles,
                      key=new_key(), body={"pickup_code": "123456"}), 404, "order_not_found")

    key = new_key()
    done = mall.ok("POST", path, 200, user=staff, roles=roles, key=key,
                   body={"pickup_code": order["pickup_code"]})
    assert done["state"] == "fulfilled" and "pickup_code" not in done
    again = mall.call("POST", path, user=staff, roles=roles, key=key,
                      body={"pickup_code": order["pickup_code"]})
    assert again.status_code == 200 and again.json() == done
    problem(mall.call("POST", path, user=staff, roles=roles, key=new_key(),
                      body={"pickup_code": order["pickup_code"]}), 409, "order_not_pending")
    problem(mall.call("POST", f"{ORDERS}/{order['id']}/cancel", user=user, key=new_key()), 409,
            "order_not_cancellable")
    # Handed over: the points stay spent, the stock stays taken.
    assert mall.points(user)["spent"] == 20
    assert mall.ok("GET", f"{ITEMS}/{item['id']}", 200)["stock"] == 2
    assert_reconciles(stack)


def test_an_order_is_seen_by_its_owner_and_its_staff_only(mall, community, staff):
    item = mall.create_item(community, staff, points_price=5)
    user = rich_user(mall, community, staff, 100)
    order = mall.redeem(user, item["id"]).json()
    path = f"{ORDERS}/{order['id']}"
    assert mall.ok("GET", path, 200, user=user) == order
    seen = mall.ok("GET", path, 200, user=staff, roles=staff_roles(community))
    assert "pickup_code" not in seen and seen["id"] == order["id"]
    problem(mall.call("GET", path, user=new_id()), 404, "order_not_found")
    problem(mall.call("GET", path, user=staff, roles=staff_roles(new_id())), 404,
            "order_not_found")
    problem(mall.call("GET", f"{ORDERS}/999999999999999994", user=user), 404, "order_not_found")
    problem(mall.call("GET", f"{ORDERS}/0", user=user), 404, "order_not_found")


def test_my_orders_page_and_filter(mall, community, staff):
    item = mall.create_item(community, staff, points_price=1, stock=10)
    user = rich_user(mall, community, staff, 100)
    orders = [mall.redeem(user, item["id"]).json() for _ in range(3)]
    mall.ok("POST", f"{ORDERS}/{orders[0]['id']}/cancel", 200, user=user, key=new_key())
    mall.redeem(rich_user(mall, community, staff), item["id"])  # someone else's
    first = mall.ok("GET", f"{ORDERS}/me", 200, user=user, query={"limit": 2})
    assert [o["id"] for o in first["items"]] == [orders[2]["id"], orders[1]["id"]]
    rest = mall.ok("GET", f"{ORDERS}/me", 200, user=user,
                   query={"limit": 2, "cursor": first["next_cursor"]})
    assert [o["id"] for o in rest["items"]] == [orders[0]["id"]]
    assert rest["items"][0]["state"] == "cancelled"
    pending = mall.ok("GET", f"{ORDERS}/me", 200, user=user, query={"state": "pending"})
    assert [o["id"] for o in pending["items"]] == [orders[2]["id"], orders[1]["id"]]
    problem(mall.call("GET", f"{ORDERS}/me", user=user, query={"state": "lost"}), 422,
            "validation_failed")
    problem(mall.call("GET", f"{ORDERS}/me", user=user, query={"cursor": "AAAA"}), 400,
            "invalid_cursor")


def test_orders_not_picked_up_expire_and_refund(mall, community, staff, pg_super, stack):
    item = mall.create_item(community, staff, points_price=25, stock=4)
    user = rich_user(mall, community, staff, 100)
    order = mall.redeem(user, item["id"], quantity=2).json()
    late = mall.redeem(user, item["id"]).json()
    assert mall.points(user)["balance"] == 25
    with pg_super.cursor() as cur:
        cur.execute("UPDATE mall.orders SET expires_at = now() - interval '1 second'"
                    " WHERE id IN (%s, %s)", (order["id"], late["id"]))
    # Past its time, an order is not handed over even before expiry ran.
    r = mall.call("POST", f"{ORDERS}/{late['id']}/fulfil", user=staff,
                  roles=staff_roles(community), key=new_key(),
                  body={"pickup_code": late["pickup_code"]})
    problem(r, 409, "order_not_pending")
    deadline = time.time() + 20  # YX_MALL_EXPIRE_INTERVAL_MS is 5 s by default
    while time.time() < deadline:
        got = mall.ok("GET", f"{ORDERS}/{order['id']}", 200, user=user)
        if got["state"] == "expired":
            break
        time.sleep(0.5)
    assert got["state"] == "expired" and got["closed_at"]
    assert mall.ok("GET", f"{ORDERS}/{late['id']}", 200, user=user)["state"] == "expired"
    assert mall.points(user) == {"user_id": user, "balance": 100, "earned": 100, "spent": 0}
    assert mall.ok("GET", f"{ITEMS}/{item['id']}", 200)["stock"] == 4
    problem(mall.call("POST", f"{ORDERS}/{order['id']}/cancel", user=user, key=new_key()), 409,
            "order_not_cancellable")
    assert_reconciles(stack)


# --- the ledger itself -------------------------------------------------------------------------------

def test_the_journal_cannot_be_changed(mall, community, staff, pg_as, pg_super):
    mall.award(community, staff, new_id(), 5)
    conn = pg_as("mall")
    for sql in ("UPDATE journal SET amount = amount WHERE id = (SELECT max(id) FROM journal)",
                "DELETE FROM journal WHERE id = (SELECT max(id) FROM journal)",
                "TRUNCATE journal"):
        with conn.cursor() as cur, pytest.raises(psycopg2.Error) as err:
            cur.execute(sql)
        assert err.value.pgcode == "42501"  # insufficient_privilege
    # Even the superuser, who passes every privilege check, meets the trigger.
    for sql in ("UPDATE mall.journal SET amount = amount WHERE id = (SELECT max(id) FROM mall.journal)",
                "DELETE FROM mall.journal WHERE id = (SELECT max(id) FROM mall.journal)",
                "UPDATE mall.awards SET points = points + 1"):
        with pg_super.cursor() as cur, pytest.raises(psycopg2.Error) as err:
            cur.execute(sql)
        assert "append_only" in str(err.value)


def test_balances_never_go_negative_in_the_database(pg_as):
    conn = pg_as("mall")
    with conn.cursor() as cur, pytest.raises(psycopg2.Error) as err:
        cur.execute("INSERT INTO accounts (kind, owner, balance) VALUES ('user', %s, -1)",
                    (int(new_id()),))
    assert err.value.pgcode == "23514"  # check_violation


def test_reconcile_finds_a_tampered_balance(mall, community, staff, pg_super, stack):
    user = new_id()
    mall.award(community, staff, user, 40)
    out = assert_reconciles(stack)
    assert "the balances of all accounts sum to zero" in out and "checks passed" in out
    with pg_super.cursor() as cur:
        cur.execute("UPDATE mall.accounts SET balance = balance + 1"
                    " WHERE kind = 'user' AND owner = %s", (int(user),))
    try:
        res = run_mall_command(stack, "reconcile")
        assert res.returncode == 1, res.stdout + res.stderr
        assert "FAIL  the balances of all accounts sum to zero" in res.stdout
        assert "FAIL  every balance equals the sum of its journal rows" in res.stdout
    finally:
        with pg_super.cursor() as cur:
            cur.execute("UPDATE mall.accounts SET balance = balance - 1"
                        " WHERE kind = 'user' AND owner = %s", (int(user),))
    assert_reconciles(stack)
