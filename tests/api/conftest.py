"""Fixtures of the black-box tests: where the stack under test is, and clients
for its HTTP front door, its PostgreSQL and its Redis.

scripts/test.sh starts an isolated stack (scripts/stack.sh) and exports the
facts it wrote to <dir>/stack.env as YX_STACK_* variables. Run by hand,
`python3 -m pytest tests/api` reads var/stack.env of the `make run` stack, or
the file named by YX_STACK_ENV.
"""

import json
import os
import pathlib
import re

import psycopg2
import pytest
import redis
import requests

REPO = pathlib.Path(__file__).resolve().parents[2]
# Services with a schema, a database role and a Redis user (scripts/stack.sh).
DB_SERVICES = ("identity", "mall", "hall", "wishwall")
HTTP_TIMEOUT = 10  # seconds; a hung request fails its test instead of the run
_CJK = re.compile(r"[\u4e00-\u9fff]")


def _read_stack_env(path):
    """KEY='value' lines as written by scripts/stack.sh."""
    env = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        if len(value) >= 2 and value[0] == value[-1] == "'":
            value = value[1:-1]
        env[key] = value
    return env


@pytest.fixture(scope="session")
def stack():
    """The facts of the stack under test: a dict of YX_STACK_* values."""
    if "YX_STACK_BASE_URL" in os.environ:
        return {k: v for k, v in os.environ.items() if k.startswith("YX_STACK_")}
    path = pathlib.Path(os.environ.get("YX_STACK_ENV", REPO / "var" / "stack.env"))
    if not path.is_file():
        pytest.exit(f"no stack to test: {path} is missing (use `make test`, "
                    "or start one with `make run DETACH=1`)", returncode=2)
    return _read_stack_env(path)


@pytest.fixture(scope="session")
def started_services(stack):
    """Names of the services the stack runs (the gateway included)."""
    return stack.get("YX_STACK_SERVICES", "").split()


@pytest.fixture(scope="session")
def base_url(stack):
    """The gateway, e.g. http://127.0.0.1:8080 (no trailing slash)."""
    return stack["YX_STACK_BASE_URL"].rstrip("/")


class _Session(requests.Session):
    """A requests session whose calls time out unless told otherwise."""

    def request(self, method, url, **kwargs):
        kwargs.setdefault("timeout", HTTP_TIMEOUT)
        return super().request(method, url, **kwargs)


@pytest.fixture()
def http():
    """A fresh HTTP session per test (cookies and keep-alive do not leak)."""
    with _Session() as session:
        yield session


@pytest.fixture(scope="session")
def secrets_dir(stack):
    return pathlib.Path(stack["YX_STACK_SECRETS"])


@pytest.fixture(scope="session")
def redis_admin(stack):
    """Redis as yx_admin: every key and command (set up and inspect state)."""
    client = redis.Redis(host=stack["YX_STACK_REDIS_HOST"], port=int(stack["YX_STACK_REDIS_PORT"]),
                         username=stack["YX_STACK_REDIS_ADMIN_USER"],
                         password=stack["YX_STACK_REDIS_ADMIN_PASSWORD"],
                         decode_responses=True, socket_timeout=5)
    yield client
    client.close()


@pytest.fixture(scope="session")
def redis_as(stack, secrets_dir):
    """redis_as("yx_identity"): a Redis client logged in as that ACL user."""
    clients = []

    def connect(user, password=None):
        if password is None:
            password = (secrets_dir / f"redis-{user}.pw").read_text().strip()
        client = redis.Redis(host=stack["YX_STACK_REDIS_HOST"], port=int(stack["YX_STACK_REDIS_PORT"]),
                             username=user, password=password, decode_responses=True,
                             socket_timeout=5)
        clients.append(client)
        return client

    yield connect
    for client in clients:
        client.close()


@pytest.fixture(scope="session")
def pg_super(stack):
    """psycopg2 connection to database yuexiang as the superuser, autocommit."""
    conn = psycopg2.connect(stack["YX_STACK_PG_DSN"])
    conn.autocommit = True
    yield conn
    conn.close()


@pytest.fixture()
def pg_as(stack):
    """pg_as("identity"): a new autocommit connection as role yx_identity,
    closed after the test."""
    conns = []

    def connect(service):
        conn = psycopg2.connect(stack[f"YX_STACK_PG_DSN_{service.upper()}"])
        conn.autocommit = True
        conns.append(conn)
        return conn

    yield connect
    for conn in conns:
        conn.close()


@pytest.fixture(scope="session")
def sms_outbox(stack):
    """Path of the JSON-lines file where identity's `file` SMS driver writes
    each message it would have sent (it may not exist before the first)."""
    return pathlib.Path(stack["YX_STACK_SMS_OUTBOX"])


@pytest.fixture()
def sms_messages(sms_outbox):
    """sms_messages(): the messages written so far, oldest first, each the
    decoded JSON object of one line."""

    def read():
        if not sms_outbox.exists():
            return []
        lines = sms_outbox.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    return read


def assert_problem(resp, status, code):
    """Asserts `resp` is an RFC 9457 error of the project's form: status
    `status`, Content-Type application/problem+json, body with that status,
    the stable `code`, a zh-CN `title`, a `type` and the `request_id` (equal
    to the X-Request-Id header when present). Returns the decoded body."""
    where = f"{resp.request.method} {resp.url} -> {resp.status_code}: {resp.text[:500]}"
    assert resp.status_code == status, where
    ctype = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
    assert ctype == "application/problem+json", where
    body = resp.json()
    assert body.get("status") == status, where
    assert body.get("code") == code, where
    title = body.get("title")
    assert isinstance(title, str) and _CJK.search(title), f"title is not zh-CN: {where}"
    assert isinstance(body.get("type"), str) and body["type"], where
    request_id = body.get("request_id")
    assert isinstance(request_id, str) and request_id, where
    header_id = resp.headers.get("X-Request-Id")
    if header_id is not None:
        assert header_id == request_id, where
    return body


@pytest.fixture(scope="session")
def problem():
    """problem(resp, 404, "not_found") -> body: see assert_problem."""
    return assert_problem
