#!/usr/bin/env bash
# Owns `make test` after the build: starts an isolated stack (own temporary
# directory, free ports) with scripts/stack.sh, runs every unit test binary
# in $BUILD/unit and the API tests in tests/api against it, checks the
# service logs for sanitizer reports, and always stops the stack.
#
# Prints one count line per suite and, last, "N passed, N failed" alone on a
# line. Exits non-zero on any failure, or when no test ran at all.
#   BUILD=build|build-san   binaries to test (set by make)
#   YX_KEEP_TEST_DIR=1      keep the stack's directory (logs, data) afterwards
#   YX_TEST_PYTEST_ARGS     extra pytest arguments, e.g. "-k stack -x"
# The make program built everything already; this script builds nothing.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$repo"
build=${BUILD:-build}
[[ $build == /* ]] || build=$repo/$build

passed=0 failed=0
suite_lines=()

# count <suite> <passed> <failed>
count() {
	passed=$((passed + $2))
	failed=$((failed + $3))
	suite_lines+=("$(printf '%-10s %d passed, %d failed' "$1:" "$2" "$3")")
}

finish() {
	local line
	echo
	for line in "${suite_lines[@]}"; do
		echo "$line"
	done
	echo "$passed passed, $failed failed"
	if ((failed > 0 || passed == 0)); then
		((passed + failed > 0)) || echo "test: no test ran" >&2
		exit 1
	fi
	exit 0
}

# --- an isolated stack --------------------------------------------------------------

# Under /tmp, which every user can traverse: PostgreSQL runs as user
# yuexiang when we are root and must reach its data directory here.
dir=$(mktemp -d /tmp/yx-test.XXXXXX)
chmod 711 "$dir"
stack_up=0

# shellcheck disable=SC2317 # reached through the EXIT trap only
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if ((stack_up)); then
		scripts/stack.sh stop "$dir" >/dev/null 2>&1 || true
	fi
	if [[ ${YX_KEEP_TEST_DIR:-} == 1 ]]; then
		echo "test: stack directory kept: $dir"
	else
		rm -rf "$dir"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Seven consecutive free ports from 20000-29999, away from `make run`'s
# defaults and below the kernel's ephemeral range (32768+), so another test
# run or an outgoing connection is unlikely to take one before we bind it.
pick_ports() {
	local try base p
	for try in {1..50}; do
		base=$((20000 + (RANDOM % 1000) * 10))
		for ((p = base; p < base + 7; p++)); do
			if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
				continue 2
			fi
		done
		printf '%s' "$base"
		return 0
	done
	echo "test: found no free ports in 20000-29999 after $try tries" >&2
	return 1
}
if ! base=$(pick_ports); then
	count ports 0 1
	finish
fi
export YX_PG_PORT=$base YX_REDIS_PORT=$((base + 1)) YX_GATEWAY_PORT=$((base + 2)) \
	YX_IDENTITY_PORT=$((base + 3)) YX_MALL_PORT=$((base + 4)) YX_HALL_PORT=$((base + 5)) \
	YX_WISHWALL_PORT=$((base + 6))

sanitized=0
if [[ -n ${SANITIZE:-} || $build == *-san ]]; then
	sanitized=1
	# Everything started from here inherits these: services, unit tests.
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
	export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
	# Leaks judged acceptable (in code we do not own) are listed there, each
	# with its reason; everything else LeakSanitizer finds fails the run.
	if [[ -f $repo/tests/lsan.supp ]]; then
		export LSAN_OPTIONS=suppressions=$repo/tests/lsan.supp:print_suppressions=0
	fi
fi

echo "test: stack in $dir (ports $base-$((base + 6)), binaries from ${build#"$repo"/})"
t0=${EPOCHREALTIME/./}
stack_up=1
if ! BUILD=$build scripts/stack.sh start "$dir"; then
	count stack 0 1
	finish
fi
echo "test: stack up in $(((${EPOCHREALTIME/./} - t0) / 1000)) ms"
set -a
# shellcheck source=/dev/null
. "$dir/stack.env"
set +a
# What the unit tests of the Redis and PostgreSQL helpers connect to.
export YX_TEST_REDIS_HOST=$YX_STACK_REDIS_HOST YX_TEST_REDIS_PORT=$YX_STACK_REDIS_PORT \
	YX_TEST_REDIS_USER=$YX_STACK_REDIS_ADMIN_USER YX_TEST_REDIS_PASSWORD=$YX_STACK_REDIS_ADMIN_PASSWORD \
	YX_TEST_PG_DSN=$YX_STACK_PG_DSN

# --- unit tests (cmocka) -----------------------------------------------------------

# Counts from cmocka's summary lines ("[  PASSED  ] 3 test(s).", "[  FAILED  ]
# 1 test(s), listed below:"), summed over the groups of one binary. A binary
# that fails without a FAILED line (crash, sanitizer abort, timeout) counts
# as one failure.
run_unit() {
	local t name out rc p f total_p=0 total_f=0
	for t in "$build"/unit/test_*; do
		[[ -f $t && -x $t ]] || continue
		name=${t##*/}
		out=$dir/log/unit-$name.log
		rc=0
		(cd "$dir" && CMOCKA_MESSAGE_OUTPUT=STDOUT timeout --foreground 300 "$t") >"$out" 2>&1 || rc=$?
		p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$out" | awk '{s += $1} END {print s + 0}')
		f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$out" | awk '{s += $1} END {print s + 0}')
		if ((rc != 0 && f == 0)); then
			f=1
		fi
		if ((f > 0)); then
			echo "--- $name failed (exit $rc) ---"
			tail -n 60 "$out"
		fi
		printf '  %-28s %d passed, %d failed\n' "$name" "$p" "$f"
		total_p=$((total_p + p)) total_f=$((total_f + f))
	done
	count unit "$total_p" "$total_f"
}

# --- API tests (pytest) ---------------------------------------------------------------

# Counts from pytest's JUnit XML, which stays exact whatever pytest prints.
run_api() {
	local xml=$dir/api-junit.xml rc=0 p f
	local -a extra=()
	read -r -a extra <<<"${YX_TEST_PYTEST_ARGS:-}"
	# The system interpreter: Debian's pytest, requests, psycopg2 and redis.
	# --foreground (here and for the unit tests): timeout otherwise moves the
	# test into a process group of its own, out of reach of Ctrl-C.
	timeout --foreground 600 /usr/bin/python3 -m pytest -q -p no:cacheprovider -rfE \
		--junitxml="$xml" tests/api "${extra[@]}" || rc=$?
	if [[ -f $xml ]]; then
		read -r p f < <(/usr/bin/python3 - "$xml" <<'EOF'
import sys
import xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
n = lambda key: sum(int(s.get(key, 0)) for s in suites)
bad = n("failures") + n("errors")
print(n("tests") - bad - n("skipped"), bad)
EOF
		) || true
	fi
	p=${p:-0} f=${f:-0}
	# Exit 5 is "no tests collected", counted as zero; other non-zero exits
	# without a recorded failure (usage error, interrupt, timeout) fail.
	if ((rc != 0 && rc != 5 && f == 0)); then
		f=1
	fi
	if ((f > 0)); then
		show_service_logs
	fi
	count api "$p" "$f"
}

# The end of each service's log, for failures seen only through HTTP.
show_service_logs() {
	local f
	for f in "$dir"/log/*.log; do
		case ${f##*/} in
		unit-* | initdb.log) continue ;;
		esac
		[[ -s $f ]] || continue
		echo "--- last lines of ${f##*/} ---"
		tail -n 25 "$f"
	done
	[[ ${YX_KEEP_TEST_DIR:-} == 1 ]] || echo "test: YX_KEEP_TEST_DIR=1 keeps the whole stack directory for a closer look"
}

# --- service logs ---------------------------------------------------------------------

# Sanitizer reports and Kore sandbox kills in a service do not fail any
# request by themselves (Kore restarts the worker), so the logs are read once
# the stack has stopped and flushed them.
check_logs() {
	local f bad=0 line
	local pattern='ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: UndefinedBehaviorSanitizer|sandbox violation'
	for f in "$dir"/log/*.log; do
		[[ -f $f && ${f##*/} != unit-* ]] || continue
		if grep -Eq "$pattern" "$f"; then
			echo "--- ${f##*/}: sanitizer or sandbox report ---"
			grep -E -m 5 -A 15 "$pattern" "$f"
			bad=$((bad + 1))
		fi
	done
	# Failures only: a clean log is no test, so it cannot hide that none ran.
	failed=$((failed + bad))
	line=clean
	((bad == 0)) || line="$bad with reports (counted as failures)"
	suite_lines+=("$(printf '%-10s %s' logs: "$line")")
}

echo "test: unit tests"
run_unit
echo "test: API tests"
run_api
scripts/stack.sh stop "$dir" >/dev/null
stack_up=0
check_logs
if ((sanitized)); then
	suite_lines+=("(built with ASan/UBSan: ${build#"$repo"/})")
fi
finish
