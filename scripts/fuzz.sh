#!/usr/bin/env bash
# Runs each libFuzzer driver given on the command line for a bounded time,
# starting from its seed corpus in tests/fuzz/corpus/<driver>/ (new inputs go
# to tests/fuzz/corpus-run/, never into the committed seeds). A crash fails
# the run and leaves the reproducer in build-fuzz/.
set -euo pipefail
seconds=${FUZZ_SECONDS:-30}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
status=0
for bin in "$@"; do
	name=$(basename "$bin")
	seeds=$repo/tests/fuzz/corpus/$name
	work=$repo/tests/fuzz/corpus-run/$name
	mkdir -p "$work"
	args=(-max_total_time="$seconds" -artifact_prefix="$repo/build-fuzz/$name-" -print_final_stats=1)
	case $name in
	fuzz_json) args+=(-dict="$repo/tests/fuzz/json.dict") ;;
	fuzz_gw_http1) args+=(-dict="$repo/tests/fuzz/http1.dict") ;;
	esac
	echo "fuzz: $name for ${seconds}s"
	if ! "$bin" "${args[@]}" "$work" "$seeds" >"$repo/build-fuzz/$name.log" 2>&1; then
		echo "fuzz: $name FAILED (see build-fuzz/$name.log)"
		status=1
	else
		grep -E "stat::number_of_executed_units" "$repo/build-fuzz/$name.log" || true
	fi
done
exit $status
