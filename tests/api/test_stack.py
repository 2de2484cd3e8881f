"""The local stack itself (scripts/stack.sh): each service's database role
touches only its own schema, each Redis user only its own keys, secrets are
private, and the gateway and services answer /healthz."""

import itertools
import stat
import uuid

import psycopg2
import psycopg2.errors
import pytest
import redis

from conftest import DB_SERVICES

OTHER_PAIRS = list(itertools.permutations(DB_SERVICES, 2))
# redis-py 4.3 (Debian 12) reports WRONGPASS as a plain ResponseError, later
# versions as AuthenticationError; NOAUTH is AuthenticationError in both.
AUTH_REFUSED = (redis.exceptions.AuthenticationError, redis.exceptions.ResponseError)


def _probe_name():
    return "yx_stack_probe_" + uuid.uuid4().hex[:12]


def _fetch1(conn, sql, args=None):
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchone()[0]


def _execute(conn, sql, args=None):
    with conn.cursor() as cur:
        cur.execute(sql, args)


# --- PostgreSQL ---------------------------------------------------------------------

def test_service_roles_have_no_special_powers(pg_super):
    with pg_super.cursor() as cur:
        cur.execute("SELECT rolname, rolsuper, rolcreatedb, rolcreaterole, rolreplication,"
                    " rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname = ANY(%s)",
                    ([f"yx_{s}" for s in DB_SERVICES],))
        rows = {r[0]: r[1:] for r in cur.fetchall()}
    assert sorted(rows) == sorted(f"yx_{s}" for s in DB_SERVICES)
    for name, (superuser, createdb, createrole, replication, bypassrls, login) in rows.items():
        assert login, name
        assert not (superuser or createdb or createrole or replication or bypassrls), name


@pytest.mark.parametrize("service", DB_SERVICES)
def test_role_works_in_its_own_schema(pg_as, service):
    conn = pg_as(service)
    assert _fetch1(conn, "SHOW search_path") == service
    table = _probe_name()
    # Unqualified names land in the service's schema (its search_path).
    _execute(conn, f"CREATE TABLE {table} (id bigint PRIMARY KEY, note text)")
    try:
        assert _fetch1(conn, "SELECT schemaname FROM pg_tables WHERE tablename = %s",
                       (table,)) == service
        _execute(conn, f"INSERT INTO {service}.{table} VALUES (1, '悦享')")
        assert _fetch1(conn, f"SELECT note FROM {table} WHERE id = 1") == "悦享"
        _execute(conn, f"CREATE FUNCTION {table}_f() RETURNS int LANGUAGE sql AS 'SELECT 1'")
        _execute(conn, f"DROP FUNCTION {table}_f()")
    finally:
        _execute(conn, f"DROP TABLE {service}.{table}")


@pytest.mark.parametrize("service,other", OTHER_PAIRS)
def test_role_cannot_touch_another_schema(pg_as, service, other):
    owner = pg_as(other)
    table = _probe_name()
    _execute(owner, f"CREATE TABLE {other}.{table} (id bigint)")
    try:
        conn = pg_as(service)
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            _execute(conn, f"CREATE TABLE {other}.{_probe_name()} (id bigint)")
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            _execute(conn, f"SELECT * FROM {other}.{table}")
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            _execute(conn, f"INSERT INTO {other}.{table} VALUES (1)")
    finally:
        _execute(owner, f"DROP TABLE {other}.{table}")


@pytest.mark.parametrize("sql", [
    "CREATE TABLE public.{name} (id bigint)",
    "CREATE SCHEMA {name}",
    "CREATE TEMP TABLE {name} (id bigint)",
])
def test_role_cannot_create_outside_its_schema(pg_as, sql):
    conn = pg_as(DB_SERVICES[0])
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        _execute(conn, sql.format(name=_probe_name()))


@pytest.mark.parametrize("database", ["postgres", "template1"])
def test_role_cannot_connect_to_other_databases(stack, database):
    dsn = stack["YX_STACK_PG_DSN_IDENTITY"].replace("dbname=yuexiang", f"dbname={database}")
    with pytest.raises(psycopg2.OperationalError, match="permission denied"):
        psycopg2.connect(dsn).close()


def test_postgres_listens_on_loopback_with_passwords(pg_super):
    assert _fetch1(pg_super, "SHOW listen_addresses") == "127.0.0.1"
    assert _fetch1(pg_super, "SHOW password_encryption") == "scram-sha-256"
    with pg_super.cursor() as cur:
        cur.execute("SELECT DISTINCT auth_method FROM pg_hba_file_rules")
        methods = {r[0] for r in cur.fetchall()}
    assert methods == {"scram-sha-256"}


def test_wrong_role_password_is_refused(stack):
    dsn = stack["YX_STACK_PG_DSN_IDENTITY"]
    bad = " ".join("password=wrong" if p.startswith("password=") else p for p in dsn.split())
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(bad).close()


# --- Redis --------------------------------------------------------------------------

@pytest.fixture()
def redis_keys(redis_admin):
    """A unique key suffix; every key ending in it is removed afterwards."""
    suffix = uuid.uuid4().hex[:12]
    yield suffix
    keys = list(redis_admin.scan_iter(match=f"*{suffix}*", count=1000))
    if keys:
        redis_admin.delete(*keys)


@pytest.mark.parametrize("service", DB_SERVICES)
def test_redis_user_reaches_own_and_shared_keys(redis_as, redis_keys, service):
    r = redis_as(f"yx_{service}")
    assert r.set(f"{service}:x:{redis_keys}", "1")
    assert r.get(f"{service}:x:{redis_keys}") == "1"
    # Cluster-style hash tags stay within the prefix.
    assert r.set(f"{service}:{{item:{redis_keys}}}:stock", "5")
    assert r.set(f"pub:user:{redis_keys}", "card")
    assert r.xadd(f"events:test:{redis_keys}", {"type": "probe"})
    assert r.publish(f"events:test:{redis_keys}", "hello") >= 0


@pytest.mark.parametrize("service,other", OTHER_PAIRS)
def test_redis_user_cannot_reach_other_prefixes(redis_as, redis_keys, service, other):
    r = redis_as(f"yx_{service}")
    for key in (f"{other}:x:{redis_keys}", f"gw:x:{redis_keys}", f"other:{redis_keys}"):
        with pytest.raises(redis.exceptions.NoPermissionError):
            r.set(key, "1")
        with pytest.raises(redis.exceptions.NoPermissionError):
            r.get(key)
    with pytest.raises(redis.exceptions.NoPermissionError):
        r.publish(f"{other}:chan", "hello")


@pytest.mark.parametrize("user", [f"yx_{s}" for s in DB_SERVICES] + ["yx_gateway"])
@pytest.mark.parametrize("command", [
    ("KEYS", "*"), ("FLUSHALL",), ("FLUSHDB",), ("CONFIG", "GET", "*"),
    ("DEBUG", "SLEEP", "0"), ("SHUTDOWN",), ("ACL", "LIST"), ("MONITOR",),
])
def test_redis_service_users_cannot_run_dangerous_commands(redis_as, user, command):
    r = redis_as(user)
    # DEBUG is also off server-wide, which Redis checks before the ACL.
    with pytest.raises(redis.exceptions.ResponseError, match="no permissions|DEBUG command not allowed"):
        r.execute_command(*command)


def test_redis_gateway_user_is_limited_to_gw_and_pub(redis_as, redis_keys):
    r = redis_as("yx_gateway")
    assert r.set(f"gw:rl:{redis_keys}", "1")
    assert r.get(f"pub:user:{redis_keys}") is None
    for key in (f"identity:x:{redis_keys}", f"events:x:{redis_keys}", f"mall:x:{redis_keys}"):
        with pytest.raises(redis.exceptions.NoPermissionError):
            r.set(key, "1")


def test_redis_default_user_is_off(stack):
    host, port = stack["YX_STACK_REDIS_HOST"], int(stack["YX_STACK_REDIS_PORT"])
    anonymous = redis.Redis(host=host, port=port, socket_timeout=5)
    with pytest.raises(redis.exceptions.AuthenticationError, match="(?i)auth"):
        anonymous.ping()
    anonymous.close()
    as_default = redis.Redis(host=host, port=port, username="default", password="x",
                             socket_timeout=5)
    with pytest.raises(AUTH_REFUSED, match="WRONGPASS"):
        as_default.ping()
    as_default.close()


def test_redis_wrong_password_is_refused(redis_as):
    with pytest.raises(AUTH_REFUSED, match="WRONGPASS"):
        redis_as("yx_identity", password="wrong").ping()


def test_redis_listens_on_loopback_only(redis_admin):
    assert redis_admin.config_get("bind")["bind"] == "127.0.0.1"
    assert redis_admin.config_get("protected-mode")["protected-mode"] == "yes"


# --- files and HTTP -----------------------------------------------------------------

def test_secrets_are_private(stack, secrets_dir):
    assert stat.S_IMODE(secrets_dir.stat().st_mode) == 0o700
    files = list(secrets_dir.iterdir())
    assert files
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    stack_env = secrets_dir.parent / "stack.env"
    assert stat.S_IMODE(stack_env.stat().st_mode) == 0o600


def test_gateway_healthz(http, base_url, started_services):
    if "gateway" not in started_services:
        pytest.skip("the gateway is not built yet, so the stack runs without it")
    resp = http.get(f"{base_url}/healthz")
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"].startswith("application/json")
    assert isinstance(resp.json(), dict)


def test_each_service_healthz(http, stack, started_services):
    services = [s for s in started_services if s != "gateway"]
    if not services:
        pytest.skip("no service is built yet")
    for service in services:
        resp = http.get(stack[f"YX_STACK_{service.upper()}_URL"] + "/healthz")
        assert resp.status_code == 200, (service, resp.text)
        assert resp.headers["Content-Type"].startswith("application/json"), service
        assert isinstance(resp.json(), dict), service
