#!/usr/bin/env bash
# Owns `make run` after the build: starts the local stack under var/ on the
# fixed local ports (scripts/stack.sh), says where it answers and what runs,
# then follows the service logs in the foreground. Ctrl-C here or `make stop`
# elsewhere stops it; with YX_DETACH=1 (`make run DETACH=1`) it returns at
# once and the stack keeps running until `make stop`.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
readonly stack_dir=var
# `make SANITIZE=1 run` exports SANITIZE but not the Makefile's BUILD.
if [[ -z ${BUILD:-} ]]; then
	BUILD=build
	[[ -z ${SANITIZE:-} ]] || BUILD=build-san
fi
export BUILD

YX_STACK_SEED_DEMO=1 scripts/stack.sh start "$stack_dir"

base_url=$(sed -n "s/^YX_STACK_BASE_URL='\(.*\)'$/\1/p" "$stack_dir/stack.env")
echo
echo "Yuexiang is running at $base_url  (API under $base_url/api/v1/)"
scripts/stack.sh status "$stack_dir" || true
if [[ -s $stack_dir/demo-logins.txt ]]; then
	echo
	echo "Demo logins (all of them in $stack_dir/demo-logins.txt):"
	head -n 12 "$stack_dir/demo-logins.txt" | sed 's/^/  /'
fi
echo
echo "Logs: $stack_dir/log/   Connection facts: $stack_dir/stack.env"

if [[ ${YX_DETACH:-${DETACH:-}} == 1 ]]; then
	echo "Stop it with: make stop"
	exit 0
fi
echo "Following the logs; Ctrl-C (or make stop in another terminal) stops the stack."
echo

# The stack is ours to stop until `make stop` or another `make run` replaces
# run/stack.id, which every start writes afresh and stop removes.
stack_id=$(<"$stack_dir/run/stack.id")
tail_pid=

stop_stack() {
	trap '' INT TERM # a second Ctrl-C must not cut the stop short
	[[ -z $tail_pid ]] || kill "$tail_pid" 2>/dev/null || true
	echo
	scripts/stack.sh stop "$stack_dir"
	exit 0
}
trap stop_stack INT TERM

logs=()
for f in "$stack_dir"/log/*.log; do
	case ${f##*/} in
	initdb.log | postgres.log | redis.log) ;;
	*) logs+=("$f") ;;
	esac
done
if ((${#logs[@]})); then
	# --pid: tail goes with this script even if it is killed outright.
	tail -n 0 -F --pid=$$ "${logs[@]}" &
	tail_pid=$!
fi

while [[ -f $stack_dir/run/stack.id && $(<"$stack_dir/run/stack.id") == "$stack_id" ]]; do
	# In the background, so a signal runs the trap at once, not after sleep.
	sleep 1 &
	wait $! || true
done
[[ -z $tail_pid ]] || kill "$tail_pid" 2>/dev/null || true
echo "run: the stack in $stack_dir was stopped or restarted elsewhere; leaving"
