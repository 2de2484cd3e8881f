"""yx-mall under contention: a flash sale (2,000 users, 10,000 redemptions over
200 connections for 50 units), the same with the stack's Redis hung halfway
through, and 100 concurrent replays of one Idempotency-Key. PostgreSQL is the
authority: whatever Redis does, no unit is sold twice, no point is lost, no
request gets a 5xx, and `yx-mall reconcile` stays clean."""
import http.client
import json
import os
import random
import secrets
import signal
import threading
import time
from urllib.parse import urlparse

import pytest
import requests

import idhdr
import spec
from test_mall_common import (assert_reconciles, community, mall, mall_key, mall_url,  # noqa: F401
                              new_id, new_key, staff, staff_roles)

ORDERS = "/api/v1/mall/orders"
USERS = 2000
REQUESTS = 10000
CONNECTIONS = 200
STOCK = 50
TIME_LIMIT = 60  # seconds for one flash sale, setup included


def fund_users(pg_as, community, staff, users, points):
    """Awards points to many users in one statement through mall.award, the
    function behind POST /api/v1/points/awards (the daily cap raised)."""
    conn = pg_as("mall")
    with conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM unnest(%s::bigint[]) AS u,"
            " LATERAL award('fund-' || u, repeat('0', 64), %s, %s, u, %s, '压力测试准备',"
            " 1000000000) AS a",
            ([int(u) for u in users], int(staff), int(community), points))
        assert cur.fetchone()[0] == len(users)


class Client(threading.Thread):
    """One keep-alive connection sending its share of the redemptions."""

    def __init__(self, url, key_hex, item, jobs, on_answer):
        super().__init__(daemon=True)
        self.host, self.port = url.hostname, url.port
        self.key_hex, self.item, self.jobs, self.on_answer = key_hex, item, jobs, on_answer
        self.answers = []

    def run(self):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        body = json.dumps({"item_id": self.item, "quantity": 1}).encode()
        for user in self.jobs:
            rid = "flash-" + secrets.token_hex(8)
            h = idhdr.headers(self.key_hex, "POST", ORDERS, rid, user=user)
            h["Idempotency-Key"] = new_key()
            h["Content-Type"] = "application/json"
            try:
                conn.request("POST", ORDERS, body=body, headers=h)
                resp = conn.getresponse()
                data = resp.read()
                self.answers.append((resp.status, data))
            except (OSError, http.client.HTTPException) as e:
                self.answers.append((None, repr(e).encode()))
                conn.close()
                conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            self.on_answer()
        conn.close()


def flash_sale(mall, mall_url, mall_key, community, staff, pg_as, halfway=None):
    """Runs the sale; returns (answers, item id, seconds). `halfway` is called
    once, by the client that sees the REQUESTS/2-th answer."""
    started = time.time()
    item = mall.create_item(community, staff, name="限量大米", points_price=10, stock=STOCK,
                            monthly_limit=1)["id"]
    users = [new_id() for _ in range(USERS)]
    fund_users(pg_as, community, staff, users, 100)
    jobs = [users[i % USERS] for i in range(REQUESTS)]
    random.shuffle(jobs)

    lock = threading.Lock()
    done = [0]

    def on_answer():
        with lock:
            done[0] += 1
            fire = halfway is not None and done[0] == REQUESTS // 2
        if fire:
            halfway()

    url = urlparse(mall_url)
    clients = [Client(url, mall_key, item, jobs[i::CONNECTIONS], on_answer)
               for i in range(CONNECTIONS)]
    for c in clients:
        c.start()
    for c in clients:
        c.join(TIME_LIMIT)
        assert not c.is_alive(), "a client did not finish in time"
    answers = [a for c in clients for a in c.answers]
    return answers, item, time.time() - started


def judge(answers, sold_exactly):
    """Counts the answers; asserts no 5xx and that every refusal is a 409."""
    assert len(answers) == REQUESTS
    created = [a for a in answers if a[0] == 201]
    errors = [a for a in answers if a[0] is None or a[0] >= 500]
    assert not errors, f"{len(errors)} failures, e.g. {errors[:3]}"
    refused = [a for a in answers if a[0] != 201]
    assert all(a[0] == 409 for a in refused), {a[0] for a in refused}
    codes = {json.loads(a[1])["code"] for a in refused}
    assert codes <= {"out_of_stock", "limit_exceeded"}, codes
    if sold_exactly:
        assert len(created) == STOCK
    else:
        assert len(created) <= STOCK
    orders = [json.loads(a[1]) for a in created]
    assert len({o["id"] for o in orders}) == len(orders)
    assert len({o["user_id"] for o in orders}) == len(orders)  # monthly limit 1
    return orders


def db_facts(pg_super, item):
    with pg_super.cursor() as cur:
        cur.execute("SELECT stock FROM mall.items WHERE id = %s", (item,))
        stock = cur.fetchone()[0]
        cur.execute("SELECT count(*), coalesce(sum(quantity), 0) FROM mall.orders"
                    " WHERE item_id = %s", (item,))
        n, units = cur.fetchone()
    return stock, n, units


def test_flash_sale_sells_exactly_the_stock(mall, mall_url, mall_key, community, staff, pg_as,
                                           pg_super, stack):
    answers, item, took = flash_sale(mall, mall_url, mall_key, community, staff, pg_as)
    orders = judge(answers, sold_exactly=True)
    assert db_facts(pg_super, item) == (0, STOCK, STOCK)
    assert mall.ok("GET", f"/api/v1/mall/items/{item}", 200)["stock"] == 0
    assert all(o["state"] == "pending" and o["points"] == 10 for o in orders)
    assert took < TIME_LIMIT, f"the sale took {took:.1f} s"
    print(f"flash sale: {REQUESTS} requests, {len(orders)} orders in {took:.1f} s")
    assert_reconciles(stack)


def redis_pid(stack):
    with open(os.path.join(stack["YX_STACK_DIR"], "redis", "redis.pid"), encoding="ascii") as f:
        return int(f.read().strip())


def test_flash_sale_with_redis_hung_halfway(mall, mall_url, mall_key, community, staff, pg_as,
                                           pg_super, stack, redis_admin):
    """Redis stops answering (SIGSTOP: connections hang, as on a wedged
    server) after half the answers; the mall keeps selling through
    PostgreSQL alone and never oversells."""
    pid = redis_pid(stack)
    stopped = threading.Event()

    def hang_redis():
        os.kill(pid, signal.SIGSTOP)
        stopped.set()

    try:
        answers, item, took = flash_sale(mall, mall_url, mall_key, community, staff, pg_as,
                                         halfway=hang_redis)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert stopped.is_set()
    orders = judge(answers, sold_exactly=False)
    stock, n, units = db_facts(pg_super, item)
    assert n == len(orders) == units and stock == STOCK - n
    assert took < TIME_LIMIT, f"the sale took {took:.1f} s"
    print(f"flash sale, Redis hung halfway: {len(orders)} orders in {took:.1f} s")
    assert_reconciles(stack)
    # Redis is back for everyone, and so is the mall's view of it.
    assert redis_admin.ping()
    deadline = time.time() + 10
    while time.time() < deadline:
        r = mall.call("GET", "/readyz", sign=False)
        if r.status_code == 200:
            break
        time.sleep(0.2)
    assert r.status_code == 200, r.text


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


def test_concurrent_replays_of_one_key_order_once(mall, mall_url, mall_key, community, staff,
                                                  pg_super, stack):
    item = mall.create_item(community, staff, points_price=7, stock=10)["id"]
    user = new_id()
    mall.award(community, staff, user, 100)
    key = new_key()
    url = urlparse(mall_url)
    body = json.dumps({"item_id": item, "quantity": 2}).encode()

    def send(i):
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        h = idhdr.headers(mall_key, "POST", ORDERS, f"replay-{i:04d}-{secrets.token_hex(4)}",
                          user=user)
        h.update({"Idempotency-Key": key, "Content-Type": "application/json"})
        conn.request("POST", ORDERS, body=body, headers=h)
        resp = conn.getresponse()
        out = (resp.status, resp.read(), resp.getheader("Idempotent-Replayed"))
        conn.close()
        return out

    results = concurrent(100, send)
    assert all(r is not None and r[0] == 201 for r in results), [r for r in results if r[0] != 201][:2]
    assert len({r[1] for r in results}) == 1, "every replay answers the same bytes"
    assert sum(1 for r in results if r[2] == "true") == 99
    order = json.loads(results[0][1])
    with pg_super.cursor() as cur:
        cur.execute("SELECT count(*) FROM mall.orders WHERE user_id = %s", (int(user),))
        assert cur.fetchone()[0] == 1
        cur.execute("SELECT count(DISTINCT txn_id), count(*) FROM mall.journal"
                    " WHERE ref = %s", (f"order:{order['id']}",))
        assert cur.fetchone() == (1, 2)
    assert mall.points(user)["balance"] == 86
    assert mall.ok("GET", f"/api/v1/mall/items/{item}", 200)["stock"] == 8
    assert_reconciles(stack)


def test_concurrent_replays_of_one_award_award_once(mall, mall_url, mall_key, community, staff,
                                                   stack):
    user = new_id()
    key = new_key()
    url = urlparse(mall_url)
    path = "/api/v1/points/awards"
    body = json.dumps({"user_id": user, "community_id": community, "points": 15,
                       "reason": "重复提交"}).encode()

    def send(i):
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        h = idhdr.headers(mall_key, "POST", path, f"award-{i:04d}-{secrets.token_hex(4)}",
                          user=staff, roles=staff_roles(community))
        h.update({"Idempotency-Key": key, "Content-Type": "application/json"})
        conn.request("POST", path, body=body, headers=h)
        resp = conn.getresponse()
        out = (resp.status, resp.read())
        conn.close()
        return out

    results = concurrent(100, send)
    assert all(r is not None and r[0] == 201 for r in results)
    assert len({r[1] for r in results}) == 1
    assert mall.points(user) == {"user_id": user, "balance": 15, "earned": 15, "spent": 0}
    assert_reconciles(stack)


@pytest.mark.parametrize("n", [20])
def test_one_user_racing_for_the_last_units_gets_what_they_can_pay(mall, community, staff, n,
                                                                   pg_super, stack):
    """Many redemptions of one user at once: the user's lock makes the balance
    and the stock both hold."""
    item = mall.create_item(community, staff, points_price=30, stock=5)["id"]
    user = new_id()
    mall.award(community, staff, user, 100)  # pays for 3

    def send(i):
        with requests.Session() as session:
            return mall.call("POST", ORDERS, user=user, body={"item_id": item}, key=new_key(),
                             session=session)

    results = concurrent(n, send)
    codes = sorted(r.status_code for r in results)
    assert codes.count(201) == 3 and codes.count(409) == n - 3
    for r in results:
        spec.check(r)
    assert mall.points(user)["balance"] == 10
    assert db_facts(pg_super, item) == (2, 3, 3)
    assert_reconciles(stack)
