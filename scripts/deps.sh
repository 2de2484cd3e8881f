#!/usr/bin/env bash
# Owns the Debian packages that building, running and testing Yuexiang need:
# installs the missing ones, says nothing when all are present (`make run` and
# `make test` call it every time).
set -euo pipefail

packages=(
	# build: Kore's source, the libraries the services link, the compilers
	kore libhiredis-dev libpq-dev libssl-dev libargon2-dev libcmocka-dev
	make gcc clang libclang-rt-14-dev
	# the local stack (PostgreSQL 15, Redis 7) and what scripts/stack.sh calls
	postgresql redis-server openssl util-linux curl
	# tests, lint and benchmarks
	python3 python3-pytest python3-requests python3-psycopg2 python3-redis
	python3-jsonschema python3-yaml python3-cryptography wrk slowhttptest clang-format cppcheck
)

# One dpkg-query for all (it is called on every make run/test). Unknown,
# half-installed or removed-but-configured packages count as missing.
declare -A installed=()
while read -r name status; do
	[[ $status == installed ]] && installed[$name]=1
done < <(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${packages[@]}" 2>/dev/null || true)
missing=()
for pkg in "${packages[@]}"; do
	[[ -n ${installed[$pkg]:-} ]] || missing+=("$pkg")
done
if ((${#missing[@]} == 0)); then
	exit 0
fi

echo "deps: installing ${missing[*]}"
as_root=()
if ((EUID != 0)); then
	if ! command -v sudo >/dev/null 2>&1; then
		echo "deps: not root and no sudo; install as root: apt-get install ${missing[*]}" >&2
		exit 1
	fi
	as_root=(sudo)
fi
# On a server with systemd this also starts the system's own PostgreSQL (5432)
# and Redis (6379). The project's stack runs its own instances on other ports
# and never touches those, so they are left as the package set them up.
# The lock timeout rides out a boot-time unattended-upgrades run. Recommends
# stay on: gcc only recommends libc6-dev, without which nothing compiles.
apt_opts=(-q -y -o DPkg::Lock::Timeout=300)
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" update
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" install "${missing[@]}"
