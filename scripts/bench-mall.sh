#!/usr/bin/env bash
# Benchmarks of yx-mall against a running stack (make run, or any stack.sh
# directory), printing requests per second, p99 latency and two ratios:
#
#   redeem   POST /api/v1/mall/orders through a gateway, against pgbench -f
#            running the same SQL function (mall.redeem) directly with as many
#            clients as the mall has database connections. Target >= 0.5.
#            Both spread over 16 items: on one item every redemption waits
#            for the previous one's commit (its row lock), so both sides
#            would measure only the disk's fsync.
#   list     GET /api/v1/mall/items?community_id= (cached in Redis) through a
#            gateway, against a bare single-row handler measured in the same
#            run: GET /api/v1/mall/items/{id} on the mall's own port (one
#            SELECT by primary key, no cache). Target >= 1. Also printed, to
#            show where the time goes: the list on the mall's port and the
#            single item through the gateway.
#
#   scripts/bench-mall.sh [<stack dir or its stack.env>]   (default: var/, or $YX_STACK_ENV)
#
# The gateway is one of our own (build/bin/yx-gateway on a free port, the
# stack's keys, upstream = the stack's mall, rate limits off): one wrk client
# address would otherwise meet the per-address limits. Its pid is recorded
# and only that process is stopped. Requests carry access tokens signed with
# the stack's JWT key. If that gateway does not authenticate them (an older
# gateway forwards every caller as anonymous), redemptions are measured on the
# mall's port with gateway-signed identity headers instead, and said so.
#
# The run writes to the stack's database: a bench community with 1,000 funded
# users and one item with a large stock, and the orders the benchmark makes
# (left pending; they expire after YX_MALL_PICKUP_DAYS and are refunded).
#
# Settings: YX_BENCH_DURATION (seconds per run, 10), YX_BENCH_CONNECTIONS
# (wrk connections, 64), YX_BENCH_THREADS (wrk threads, 2),
# YX_BENCH_PG_CLIENTS (pgbench clients; default: the mall's pool, YX_WORKERS
# x YX_DB_CONNS = 8), YX_BENCH_GATEWAY_WORKERS (2).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
build=${BUILD:-build}
[[ $build == /* ]] || build=$repo/$build
duration=${YX_BENCH_DURATION:-10}
conns=${YX_BENCH_CONNECTIONS:-64}
threads=${YX_BENCH_THREADS:-2}
pg_clients=${YX_BENCH_PG_CLIENTS:-8}
gw_workers=${YX_BENCH_GATEWAY_WORKERS:-2}
users=1000
# Debian's interpreter: psycopg2 and cryptography come from its packages.
py=${PYTHON:-/usr/bin/python3}

die() {
	printf 'bench-mall: %s\n' "$*" >&2
	exit 1
}

env_file=${1:-${YX_STACK_ENV:-$repo/var/stack.env}}
[[ -d $env_file ]] && env_file=$env_file/stack.env
[[ -f $env_file ]] || die "no stack: $env_file is missing (start one with make run DETACH=1)"
set -a
# shellcheck source=/dev/null
. "$env_file"
set +a
[[ -n ${YX_STACK_MALL_URL:-} ]] || die "the stack runs no yx-mall (is build/bin/yx-mall built?)"
for tool in wrk pgbench "$py"; do
	command -v "$tool" >/dev/null || die "$tool is not installed"
done
[[ -x $build/bin/yx-gateway ]] || die "$build/bin/yx-gateway is not built"

work=$(mktemp -d /tmp/yx-bench-mall.XXXXXX)
gw_pid=
cleanup() {
	if [[ -n $gw_pid ]] && kill -0 "$gw_pid" 2>/dev/null; then
		kill -TERM "$gw_pid" 2>/dev/null || true
		for _ in $(seq 50); do
			kill -0 "$gw_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$gw_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

free_port() {
	"$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# --- our gateway -----------------------------------------------------------------------

gw_port=$(free_port)
gw_url=http://127.0.0.1:$gw_port
mall_hostport=${YX_STACK_MALL_URL#http://}
(
	cd "$work"
	exec env -u YX_DB_DSN \
		YX_LISTEN="127.0.0.1:$gw_port" YX_WORKERS="$gw_workers" YX_PIDFILE="$work/gateway.pid" \
		YX_LOG_LEVEL=warn \
		YX_INTERNAL_KEY="$(cat "$YX_STACK_SECRETS/internal.key")" \
		YX_CURSOR_KEY="$(cat "$YX_STACK_SECRETS/cursor.key")" \
		YX_REDIS_HOST="$YX_STACK_REDIS_HOST" YX_REDIS_PORT="$YX_STACK_REDIS_PORT" \
		YX_REDIS_USER=yx_gateway YX_REDIS_PASSWORD="$(cat "$YX_STACK_SECRETS/redis-yx_gateway.pw")" \
		YX_JWT_PUBLIC_KEYS="$YX_STACK_JWT_KID=$YX_STACK_JWT_PUBLIC_KEY" \
		YX_UPSTREAM_MALL="$mall_hostport" \
		YX_RL_READ_IP_PER_MIN=0 YX_RL_READ_USER_PER_MIN=0 \
		YX_RL_WRITE_IP_PER_MIN=0 YX_RL_WRITE_USER_PER_MIN=0 \
		"$build/bin/yx-gateway" serve
) >"$work/gateway.log" 2>&1 &
gw_pid=$!
for _ in $(seq 100); do
	curl -fsS -o /dev/null --max-time 1 "$gw_url/healthz" 2>/dev/null && break
	kill -0 "$gw_pid" 2>/dev/null || {
		cat "$work/gateway.log" >&2
		die "the gateway did not start"
	}
	sleep 0.1
done

# --- data, tokens and request scripts ---------------------------------------------

# prepare.py <what>: writes what the next run needs into $work; prints facts.
cat >"$work/prepare.py" <<'EOF'
import base64, json, os, secrets, sys, time, urllib.request
sys.path.insert(0, os.path.join(os.environ["REPO"], "tests", "api"))
import idhdr
import psycopg2
from cryptography.hazmat.primitives import serialization

work, what = os.environ["WORK"], sys.argv[1]
key_hex = open(os.path.join(os.environ["YX_STACK_SECRETS"], "internal.key")).read().strip()
mall = os.environ["YX_STACK_MALL_URL"]
facts_path = os.path.join(work, "facts.json")
facts = json.load(open(facts_path)) if os.path.exists(facts_path) else {}


def b64(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def token(user):
    pem = open(os.environ["YX_STACK_JWT_PRIVATE_KEY"], "rb").read()
    priv = serialization.load_pem_private_key(pem, password=None)
    now = int(time.time())
    head = {"alg": "EdDSA", "typ": "at+jwt", "kid": os.environ["YX_STACK_JWT_KID"]}
    body = {"iss": os.environ.get("YX_JWT_ISSUER", "yuexiang-identity"), "sub": user,
            "aud": os.environ.get("YX_JWT_AUDIENCE", "yuexiang-app"),
            "sid": "bench" + secrets.token_hex(6), "typ": "access", "roles": [],
            "iat": now, "exp": now + 900, "jti": secrets.token_hex(8)}
    signing = b64(json.dumps(head).encode()) + "." + b64(json.dumps(body).encode())
    return signing + "." + b64(priv.sign(signing.encode()))


def signed(method, target, user="", roles=""):
    rid = "bench-" + secrets.token_hex(8)
    return idhdr.headers(key_hex, method, target, rid, user=user, roles=roles)


def call(base, method, target, headers, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + target, data=data, method=method, headers=headers)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def lua_list(name, items):
    return name + " = {" + ",".join(json.dumps(i) for i in items) + "}\n"


if what == "setup":
    base = 900_000_000_000 + secrets.randbelow(10**10) * 10_000
    community, staff = str(base), str(base + 9999)
    items = []
    for i in range(16):
        status, item = call(mall, "POST", "/api/v1/mall/items",
                            dict(signed("POST", "/api/v1/mall/items", staff,
                                        f"community_staff@{community}"),
                                 **{"Idempotency-Key": "bench-" + secrets.token_hex(8)}),
                            {"community_id": community, "name": f"压测商品 {i}",
                             "points_price": 1, "stock": 1000000000})
        assert status == 201, (status, item)
        items.append(int(item["id"]))
    for i in range(14):  # a list worth caching: 30 items, pages of 20
        call(mall, "POST", "/api/v1/mall/items",
             dict(signed("POST", "/api/v1/mall/items", staff, f"community_staff@{community}"),
                  **{"Idempotency-Key": "bench-" + secrets.token_hex(8)}),
             {"community_id": community, "name": f"商品 {i}", "points_price": 10 + i,
              "stock": 100, "description": "社区积分超市兑换商品"})
    ids = [base + 1 + i for i in range(int(os.environ["USERS"]))]
    conn = psycopg2.connect(os.environ["YX_STACK_PG_DSN_MALL"])
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM unnest(%s::bigint[]) AS u, LATERAL award("
                    "'bench-fund-' || u, repeat('0', 64), %s, %s, u, 1000000000, 'bench',"
                    " 1000000000000) AS a", (ids, int(staff), int(community)))
    conn.close()
    facts = {"community": community, "staff": staff, "item": str(items[0]),
             "first_item": items[0], "last_item": items[-1], "base": base,
             "users": [str(i) for i in ids]}
    json.dump(facts, open(facts_path, "w"))
    print(f"community {community}, items {items[0]}..{items[-1]}, {len(ids)} funded users")

elif what == "redeem-gateway":
    tokens = [token(u) for u in facts["users"]]
    gw = os.environ["GW_URL"]
    status, body = call(gw, "POST", "/api/v1/mall/orders",
                        {"Authorization": "Bearer " + tokens[0],
                         "Idempotency-Key": "bench-probe-" + secrets.token_hex(8)},
                        {"item_id": facts["item"], "quantity": 1})
    with open(os.path.join(work, "redeem.lua"), "w") as f:
        f.write(lua_list("tokens", tokens))
    print(status)

elif what == "redeem-direct":
    hdrs = [signed("POST", "/api/v1/mall/orders", u) for u in facts["users"]]
    with open(os.path.join(work, "redeem.lua"), "w") as f:
        f.write("signed = {" + ",".join(
            "{" + ",".join(f"[{json.dumps(k)}]={json.dumps(v)}" for k, v in h.items()) + "}"
            for h in hdrs) + "}\n")
    print("ok")

elif what == "item-direct":
    h = signed("GET", f"/api/v1/mall/items/{facts['item']}")
    with open(os.path.join(work, "get.lua"), "w") as f:
        for k, v in h.items():
            f.write(f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}\n")
    print(facts["item"])

elif what == "list-direct":
    h = signed("GET", f"/api/v1/mall/items?community_id={facts['community']}")
    with open(os.path.join(work, "list-direct.lua"), "w") as f:
        for k, v in h.items():
            f.write(f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}\n")
    print("ok")

elif what == "list-gateway":
    t = token(facts["users"][0])
    with open(os.path.join(work, "list.lua"), "w") as f:
        f.write(f'wrk.headers["Authorization"] = "Bearer {t}"\n')
    status, body = call(os.environ["GW_URL"], "GET",
                        f"/api/v1/mall/items?community_id={facts['community']}",
                        {"Authorization": "Bearer " + t})
    print(status)

elif what == "facts":
    print(facts[sys.argv[2]])
EOF

prepare() {
	REPO=$repo WORK=$work USERS=$users GW_URL=$gw_url "$py" "$work/prepare.py" "$@"
}

# The redemption request: a fresh Idempotency-Key each time, users in turn.
cat >"$work/redeem-body.lua" <<'EOF'
local n, prefix = 0, ""
function setup(thread)
	thread:set("seed", math.random(1, 1000000000))
end
function init(args)
	prefix = "b" .. tostring(seed) .. "-" .. tostring(os.time()) .. "-"
	math.randomseed(seed)
	wrk.method = "POST"
	wrk.path = "/api/v1/mall/orders"
end
function request()
	n = n + 1
	local h = {["Content-Type"] = "application/json", ["Idempotency-Key"] = prefix .. n}
	if tokens ~= nil then
		h["Authorization"] = "Bearer " .. tokens[(n % #tokens) + 1]
	else
		for k, v in pairs(signed[(n % #signed) + 1]) do
			h[k] = v
		end
	end
	local item = FIRST_ITEM + math.random(0, LAST_ITEM - FIRST_ITEM)
	return wrk.format(nil, nil, h, '{"item_id":"' .. item .. '","quantity":1}')
end
EOF

# run_wrk <label> <lua> <url>: prints "<rps> <p99 ms> <non-2xx>" into $work/<label>.res
run_wrk() {
	local label=$1 lua=$2 url=$3
	wrk -t "$threads" -c "$conns" -d "${duration}s" --timeout 10s --latency -s "$lua" "$url" \
		>"$work/$label.out" 2>&1 ||
		die "wrk failed: $(cat "$work/$label.out")"
	"$py" - "$work/$label.out" >"$work/$label.res" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", text).group(1))
m = re.search(r"^\s+99%\s+([0-9.]+)(us|ms|s)\s*$", text, re.M)
p99 = float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
errs = re.search(r"Socket errors:.*", text)
print(f"{rps:.0f} {p99:.1f} {int(bad.group(1)) if bad else 0} {1 if errs else 0}")
EOF
}

show() {
	local label=$1 what=$2 rps p99 bad serr
	read -r rps p99 bad serr <"$work/$label.res"
	printf '  %-46s %8s req/s   p99 %7s ms' "$what" "$rps" "$p99"
	((bad > 0)) && printf '   (%s non-2xx)' "$bad"
	((serr > 0)) && printf '   (socket errors)'
	printf '\n'
}

echo "bench-mall: stack $env_file, ${duration}s per run, wrk -t$threads -c$conns, gateway :$gw_port"
prepare setup
item=$(prepare facts item)
first_item=$(prepare facts first_item)
last_item=$(prepare facts last_item)
base=$(prepare facts base)

# --- redemptions --------------------------------------------------------------------------

probe=$(prepare redeem-gateway)
if [[ $probe == 201 ]]; then
	redeem_url=$gw_url/api/v1/mall/orders
	redeem_what="redeem through the gateway"
else
	echo "  (the gateway answered $probe to a token: measuring redemptions on the mall's port)"
	prepare redeem-direct >/dev/null
	redeem_url=$YX_STACK_MALL_URL/api/v1/mall/orders
	redeem_what="redeem on the mall's port (signed headers)"
fi
{
	cat "$work/redeem.lua"
	printf 'FIRST_ITEM = %s\nLAST_ITEM = %s\n' "$first_item" "$last_item"
	cat "$work/redeem-body.lua"
} >"$work/redeem-run.lua"
run_wrk redeem "$work/redeem-run.lua" "$redeem_url"

cat >"$work/redeem.sql" <<EOF
\\set u random(1, $users)
\\set i random($first_item, $last_item)
SELECT r_error FROM redeem(gen_random_uuid()::text, repeat('0', 64), $base + :u, :i, 1, '14 days'::interval);
EOF
pgbench -n -M prepared -c "$pg_clients" -j "$threads" -T "$duration" -f "$work/redeem.sql" \
	"$YX_STACK_PG_DSN_MALL" >"$work/pgbench.out" 2>&1 || die "pgbench failed: $(cat "$work/pgbench.out")"
pg_tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$work/pgbench.out" | head -n 1)
pg_lat=$(sed -n 's/^latency average = \([0-9.]*\) ms.*/\1/p' "$work/pgbench.out")
pg_fail=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$work/pgbench.out")

# --- item list -------------------------------------------------------------------------------

prepare item-direct >/dev/null
run_wrk item "$work/get.lua" "$YX_STACK_MALL_URL/api/v1/mall/items/$item"
community=$(prepare facts community)
list_status=$(prepare list-gateway)
[[ $list_status == 200 ]] || echo "  (the gateway answered $list_status to the item list)"
run_wrk list "$work/list.lua" "$gw_url/api/v1/mall/items?community_id=$community"
prepare list-direct >/dev/null
run_wrk list_direct "$work/list-direct.lua" "$YX_STACK_MALL_URL/api/v1/mall/items?community_id=$community"
run_wrk item_gw "$work/list.lua" "$gw_url/api/v1/mall/items/$item"

# --- results ------------------------------------------------------------------------------------

echo
echo "results:"
show redeem "$redeem_what"
printf '  %-46s %8.0f tx/s    avg %7s ms   (%s clients%s)\n' "pgbench -f: SELECT redeem(...) directly" \
	"$pg_tps" "$pg_lat" "$pg_clients" "${pg_fail:+, $pg_fail failed}"
show item "bare handler: GET /items/{id} on the mall"
show list "cached list through the gateway"
show list_direct "  (cached list on the mall's port)"
show item_gw "  (GET /items/{id} through the gateway)"
read -r redeem_rps _ <"$work/redeem.res"
read -r item_rps _ <"$work/item.res"
read -r list_rps _ <"$work/list.res"
"$py" - "$redeem_rps" "$pg_tps" "$list_rps" "$item_rps" <<'EOF'
import sys
r, pg, l, b = map(float, sys.argv[1:])
ok = lambda v, t: "ok" if v >= t else "BELOW TARGET"
print(f"  ratio redeem / pgbench          {r / pg:5.2f}   (target >= 0.5: {ok(r / pg, 0.5)})")
print(f"  ratio cached list / bare handler {l / b:5.2f}   (target >= 1.0: {ok(l / b, 1.0)})")
EOF
