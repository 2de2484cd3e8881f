#!/usr/bin/env bash
# Owns `make bench` after the build: the cost of the gateway, measured with
# wrk on one light authenticated endpoint (GET /api/v1/me, one primary-key
# SELECT in identity) called through the gateway and directly on identity,
# then a table of requests per second, p50 and p99 of both, and their ratio.
#
# The stack: the one named by YX_STACK_ENV (a stack.env, as for the API
# tests), else the one `make run` started (var/) when its gateway answers,
# else a temporary one on free ports in a temporary directory, stopped
# afterwards. Either way the gateway measured is one this script starts
# itself from $BUILD/bin (same settings as the stack's, in front of the same
# identity and Redis), because the stack's per-user limits (600 reads a
# minute) would refuse a benchmark: here every limit is raised out of reach
# but still counted in Redis, so its cost is in the figures.
#
# Direct calls carry the identity headers the gateway would add, signed by
# this script (tests/api/idhdr.py) just before each run; the signature's
# timestamp stays valid for identity's YX_IDENTITY_MAX_SKEW (30 s), longer
# than one run, so identity needs no special setting.
#
#   BENCH_DURATION      seconds per measured run (10)
#   BENCH_CONNECTIONS   wrk connections (64), BENCH_THREADS wrk threads (2)
#   BENCH_WARMUP        seconds of warm-up before each run (2)
#   BENCH_ROUNDS        rounds of direct-then-gateway runs (3); the table
#                       shows medians, so a neighbour's burst of load on a
#                       shared machine skews one round, not the result
#   BENCH_SINGLE_DURATION  seconds of the one-connection latency runs (3)
#
# Besides the loaded runs (64 connections, where p50 is mostly queueing and
# follows throughput), each round measures both paths with one connection,
# one request at a time: the latency the gateway itself adds.
#
# Targets on a 2-core machine: the gateway reaches at least 60% of the direct
# throughput and adds at most 0.3 ms to p50. The script reports; it exits
# non-zero only when it cannot measure (missing tools, more than 1% of the
# requests failing).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$repo"
build=${BUILD:-build}
[[ $build == /* ]] || build=$repo/$build
readonly py=/usr/bin/python3
duration=${BENCH_DURATION:-10}
connections=${BENCH_CONNECTIONS:-64}
threads=${BENCH_THREADS:-2}
warmup=${BENCH_WARMUP:-2}
rounds=${BENCH_ROUNDS:-3}
single=${BENCH_SINGLE_DURATION:-3}

die() {
	echo "bench: $*" >&2
	exit 1
}

command -v wrk >/dev/null || die "wrk is not installed (make deps)"
[[ -x $build/bin/yx-gateway && -x $build/bin/yx-identity ]] ||
	die "$build/bin/yx-gateway and yx-identity must be built"

work=$(mktemp -d /tmp/yx-bench.XXXXXX)
chmod 711 "$work"
temp_stack=0
gw_pid=
user_id=

# shellcheck disable=SC2317 # reached through the EXIT trap only
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [[ -n $gw_pid ]] && kill -0 "$gw_pid" 2>/dev/null; then
		kill -TERM "$gw_pid" 2>/dev/null || true
		wait "$gw_pid" 2>/dev/null || true
	fi
	if [[ -n $user_id ]]; then
		"$py" "$work/helper.py" drop-user "$user_id" >/dev/null 2>&1 || true
	fi
	if ((temp_stack)); then
		scripts/stack.sh stop "$work/stack" >/dev/null 2>&1 || true
	fi
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the stack ------------------------------------------------------------------------

answers() {
	curl -fsS -m 2 -o /dev/null "$1/healthz" 2>/dev/null
}

stack_env=
if [[ -n ${YX_STACK_ENV:-} ]]; then
	# As for the API tests: the stack whose facts that file holds.
	[[ -f $YX_STACK_ENV ]] || die "YX_STACK_ENV=$YX_STACK_ENV: no such file"
	stack_env=$(cd "$(dirname "$YX_STACK_ENV")" && pwd -P)/$(basename "$YX_STACK_ENV")
	echo "bench: using the stack of $stack_env"
elif [[ -f var/stack.env ]]; then
	url=$(sed -n "s/^YX_STACK_BASE_URL='\(.*\)'$/\1/p" var/stack.env)
	if [[ -n $url ]] && answers "$url"; then
		stack_env=$repo/var/stack.env
		echo "bench: using the running stack (var/)"
	fi
fi
if [[ -z $stack_env ]]; then
	# Seven consecutive free ports in 30000-31999, away from make run and make test.
	base=
	for _ in {1..50}; do
		b=$((30000 + (RANDOM % 200) * 10))
		for ((p = b; p < b + 7; p++)); do
			if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
				continue 2
			fi
		done
		base=$b
		break
	done
	[[ -n $base ]] || die "no free ports for a temporary stack"
	export YX_PG_PORT=$base YX_REDIS_PORT=$((base + 1)) YX_GATEWAY_PORT=$((base + 2)) \
		YX_IDENTITY_PORT=$((base + 3)) YX_MALL_PORT=$((base + 4)) YX_HALL_PORT=$((base + 5)) \
		YX_WISHWALL_PORT=$((base + 6))
	mkdir -p "$work/stack"
	echo "bench: starting a temporary stack in $work/stack"
	temp_stack=1
	BUILD=$build scripts/stack.sh start "$work/stack" >"$work/stack-start.log" 2>&1 ||
		{
			cat "$work/stack-start.log" >&2
			die "the temporary stack did not start"
		}
	stack_env=$work/stack/stack.env
fi
set -a
# shellcheck source=/dev/null
. "$stack_env"
set +a
identity_url=${YX_STACK_IDENTITY_URL%/}
answers "$identity_url" || die "identity does not answer at $identity_url"

# --- helpers: user row, token, signed direct headers, free port ------------------------

cat >"$work/helper.py" <<'EOF'
import base64, json, os, secrets, socket, sys, time, uuid

sys.path.insert(0, os.path.join(os.environ["BENCH_REPO"], "tests", "api"))


def db():
    import psycopg2
    conn = psycopg2.connect(os.environ["YX_STACK_PG_DSN"])
    conn.autocommit = True
    return conn


cmd = sys.argv[1]
if cmd == "port":
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])
elif cmd == "add-user":
    with db() as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO identity.users (phone_enc, phone_idx, phone_masked, display_name)"
                    " VALUES ('v1.0.AAAA', %s, '138****0000', 'bench') RETURNING id::text",
                    ("bench-" + uuid.uuid4().hex,))
        print(cur.fetchone()[0])
elif cmd == "drop-user":
    with db() as conn, conn.cursor() as cur:
        cur.execute("DELETE FROM identity.users WHERE id = %s::bigint", (sys.argv[2],))
elif cmd == "token":
    import tokens
    key = tokens.load_private_key(os.environ["YX_STACK_JWT_PRIVATE_KEY"])
    token, c = tokens.mint(key, kid=os.environ.get("YX_STACK_JWT_KID", "k1"), sub=sys.argv[2],
                           roles=("resident@1",), org="1", ttl=900)
    print("Authorization: Bearer " + token)
elif cmd == "direct":
    import idhdr
    key = open(os.path.join(os.environ["YX_STACK_SECRETS"], "internal.key")).read().strip()
    h = idhdr.headers(key, "GET", "/api/v1/me", "bench-direct-0001", user=sys.argv[2],
                      roles="resident@1", org="1", session="bench-session")
    print("\n".join(f"{k}: {v}" for k, v in h.items()))
EOF
export BENCH_REPO=$repo
user_id=$("$py" "$work/helper.py" add-user)

# wrk: headers from BENCH_HEADERS ("Name: value" lines); one line of results.
cat >"$work/bench.lua" <<'EOF'
for line in string.gmatch(os.getenv("BENCH_HEADERS") or "", "[^\n]+") do
	local name, value = string.match(line, "^([^:]+):%s*(.*)$")
	if name then wrk.headers[name] = value end
end

done = function(summary, latency, requests)
	local e = summary.errors
	io.write(string.format("BENCH %d %d %d %d %d %d\n", summary.requests, summary.duration,
		latency:percentile(50), latency:percentile(99),
		e.connect + e.read + e.write + e.timeout, e.status))
end
EOF

# run <url> <headers> <threads> <connections> <seconds>: "requests duration_us p50_us p99_us errors non2xx"
run() {
	local out
	out=$(BENCH_HEADERS=$2 wrk -t"$3" -c"$4" -d"$5s" --timeout 5s -s "$work/bench.lua" "$1") ||
		die "wrk failed: $out"
	sed -n 's/^BENCH //p' <<<"$out"
}

# --- the measured gateway --------------------------------------------------------------

gw_port=$("$py" "$work/helper.py" port)
huge=1000000000
limits=()
for c in AUTH READ WRITE; do
	for s in IP USER; do
		limits+=("YX_RL_${c}_${s}_PER_MIN=$huge" "YX_RL_${c}_${s}_BURST=1000000")
	done
done
env -u YX_UPSTREAM_MALL -u YX_UPSTREAM_HALL -u YX_UPSTREAM_WISHWALL \
	YX_LISTEN="127.0.0.1:$gw_port" YX_WORKERS="${YX_WORKERS:-2}" \
	YX_PIDFILE="$work/gateway.pid" YX_LOG_LEVEL=info \
	YX_INTERNAL_KEY_FILE="$YX_STACK_SECRETS/internal.key" \
	YX_REDIS_HOST="$YX_STACK_REDIS_HOST" YX_REDIS_PORT="$YX_STACK_REDIS_PORT" \
	YX_REDIS_USER=yx_gateway YX_REDIS_PASSWORD="$(<"$YX_STACK_SECRETS/redis-yx_gateway.pw")" \
	YX_JWT_PUBLIC_KEYS="$YX_STACK_JWT_KID=$YX_STACK_JWT_PUBLIC_KEY" \
	YX_UPSTREAM_IDENTITY="${identity_url#http://}" "${limits[@]}" \
	setsid "$build/bin/yx-gateway" serve >"$work/gateway.log" 2>&1 </dev/null &
gw_pid=$!
gw_url=http://127.0.0.1:$gw_port
for _ in {1..100}; do
	answers "$gw_url" && break
	kill -0 "$gw_pid" 2>/dev/null || die "the gateway exited: $(tail -5 "$work/gateway.log")"
	sleep 0.1
done
answers "$gw_url" || die "the gateway did not answer"

token_header=$("$py" "$work/helper.py" token "$user_id")
code=$(curl -s -o /dev/null -w '%{http_code}' -H "$token_header" "$gw_url/api/v1/me")
[[ $code == 200 ]] || die "GET /api/v1/me through the gateway answered $code"
direct_headers=$("$py" "$work/helper.py" direct "$user_id")
mapfile -t dh <<<"$direct_headers"
curl_args=()
for h in "${dh[@]}"; do curl_args+=(-H "$h"); done
code=$(curl -s -o /dev/null -w '%{http_code}' "${curl_args[@]}" "$identity_url/api/v1/me")
[[ $code == 200 ]] || die "GET /api/v1/me on identity answered $code"

echo "bench: GET /api/v1/me, wrk -t$threads -c$connections -d${duration}s, $rounds round(s)" \
	"of direct then gateway, each run after ${warmup}s of warm-up"
measure() { # <url> <headers> <threads> <connections> <seconds>
	((warmup == 0)) || run "$1" "$2" "$3" "$4" "$warmup" >/dev/null
	run "$1" "$2" "$3" "$4" "$5"
}
# Each line: "<kind> <round> requests duration_us p50_us p99_us errors non2xx".
results=$work/results
: >"$results"
for ((round = 1; round <= rounds; round++)); do
	# Signed afresh per round: the timestamp must stay within identity's skew.
	direct_headers=$("$py" "$work/helper.py" direct "$user_id")
	line=$(measure "$identity_url/api/v1/me" "$direct_headers" "$threads" "$connections" "$duration")
	[[ -n $line ]] || die "a wrk run gave no result"
	echo "direct $round $line" >>"$results"
	line=$(measure "$gw_url/api/v1/me" "$token_header" "$threads" "$connections" "$duration")
	[[ -n $line ]] || die "a wrk run gave no result"
	echo "gateway $round $line" >>"$results"
	# Added latency without queueing: one connection, one request at a time.
	direct_headers=$("$py" "$work/helper.py" direct "$user_id")
	line=$(measure "$identity_url/api/v1/me" "$direct_headers" 1 1 "$single")
	[[ -n $line ]] || die "a wrk run gave no result"
	echo "direct1 $round $line" >>"$results"
	line=$(measure "$gw_url/api/v1/me" "$token_header" 1 1 "$single")
	[[ -n $line ]] || die "a wrk run gave no result"
	echo "gateway1 $round $line" >>"$results"
done

"$py" - "$results" "$connections" <<'EOF'
import statistics
import sys

runs = {}
for line in open(sys.argv[1]):
    kind, _, *nums = line.split()
    req, dur, p50, p99, err, bad = (int(x) for x in nums)
    runs.setdefault(kind, []).append({"rps": req / (dur / 1e6), "p50": p50 / 1000.0,
                                      "p99": p99 / 1000.0, "err": err, "bad": bad, "req": req})
conns = int(sys.argv[2])


def med(kind, field):
    return statistics.median(r[field] for r in runs[kind])


print()
print(f"{'':26}{'rps':>9}{'p50 ms':>9}{'p99 ms':>9}{'failed':>8}   (medians of "
      f"{len(runs['direct'])} round(s); failed: errors + non-2xx, all rounds)")
for kind, name in (("direct", f"direct (identity), c={conns}"), ("gateway", f"gateway, c={conns}"),
                   ("direct1", "direct, c=1"), ("gateway1", "gateway, c=1")):
    failed = sum(r["err"] + r["bad"] for r in runs[kind])
    print(f"{name:26}{med(kind, 'rps'):9.0f}{med(kind, 'p50'):9.2f}{med(kind, 'p99'):9.2f}"
          f"{failed:8d}")
ratio = med("gateway", "rps") / med("direct", "rps")
rounds = ", ".join(f"{g['rps'] / d['rps']:.2f}" for d, g in zip(runs["direct"], runs["gateway"]))
print()
print(f"throughput gateway/direct: {ratio:.2f}   (target >= 0.60; per round: {rounds})")
print(f"p50 added by the gateway: {med('gateway', 'p50') - med('direct', 'p50'):+.2f} ms at "
      f"c={conns}, {med('gateway1', 'p50') - med('direct1', 'p50'):+.2f} ms at c=1   "
      "(target <= +0.30 ms)")
total = sum(r["req"] for rs in runs.values() for r in rs)
failed = sum(r["err"] + r["bad"] for rs in runs.values() for r in rs)
if failed * 100 > total:
    print(f"bench: {failed} of {total} requests failed; the figures are not comparable",
          file=sys.stderr)
    sys.exit(1)
if failed:
    print(f"bench: {failed} of {total} requests failed (under 1%)")
EOF
