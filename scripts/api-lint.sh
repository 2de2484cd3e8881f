#!/usr/bin/env bash
# Lints every OpenAPI document of api-spec/ with Redocly's CLI (from the npm
# registry, installed once into build/tools/). Errors fail; warnings print.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
readonly version=2.77.0
tools=$repo/build/tools
redocly=$tools/node_modules/.bin/redocly
if ! command -v npm >/dev/null 2>&1; then
	echo "api-lint: npm is missing (Debian package npm)" >&2
	exit 1
fi
if [[ ! -x $redocly ]] || [[ $(node -p "require('$tools/node_modules/@redocly/cli/package.json').version" 2>/dev/null) != "$version" ]]; then
	mkdir -p "$tools"
	npm install --silent --no-audit --no-fund --prefix "$tools" "@redocly/cli@$version" >/dev/null
fi
status=0
for f in "$repo"/api-spec/*.yaml; do
	# common.yaml only holds components the others refer to.
	[[ ${f##*/} == common.yaml ]] && continue
	if ! "$redocly" lint --format=summary "$f"; then
		status=1
	fi
done
((status == 0)) && echo "api-lint: clean"
exit $status
