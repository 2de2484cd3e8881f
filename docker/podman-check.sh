#!/usr/bin/env bash
# Builds the service images from docker/Dockerfile with podman and checks
# them, on a machine without a Docker engine or registry access:
#
#   docker/podman-check.sh [--serve] [service...]     (as root; default: identity gateway)
#
#  1. a Debian 12 base image, localhost/yuexiang-base:12, made with
#     debootstrap from the apt mirror this machine uses (once; kept after);
#  2. localhost/yuexiang/<service>:check for each service, built with
#     --build-arg BASE=localhost/yuexiang-base:12;
#  3. for each image: `help` exits 0, the image runs as user 10001, and its
#     EXPOSE port is the service's `.default_port` in services/<svc>/main.c.
#
# --serve also runs the images the way deploy/k8s does, against a
# throw-away PostgreSQL and Redis (scripts/stack.sh with no service binaries,
# so it starts only those two): read-only root filesystem, /tmp on tmpfs, all
# capabilities dropped, keys as files (YX_*_FILE), `migrate` before `serve`,
# the gateway in front of identity; then /healthz and /readyz answer 200
# through both, SIGTERM stops each container within its grace period, and no
# worker died from a sandbox (seccomp) violation.
#
# Images and build layers stay in podman's storage as a cache for the next
# run; `podman image prune -f --filter label=org.yuexiang.podman-check=1`
# removes this script's untagged leftovers (and so the cache).
#
# podman here needs the runc runtime, cgroupfs and no default ulimits; they
# come from a containers.conf in a temporary directory (CONTAINERS_CONF), and
# nothing under /etc is changed. Builds use the host network for apt.
set -euo pipefail

readonly BASE_IMAGE=localhost/yuexiang-base:12
readonly SUITE=bookworm
readonly STOP_GRACE=10
# On every image this script builds, so that it can remove its own untagged
# leftovers (build stages, replaced tags) and nothing else.
readonly CHECK_LABEL=org.yuexiang.podman-check=1

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
serve=0
services=()
for arg in "$@"; do
	case $arg in
	--serve) serve=1 ;;
	-h | --help)
		awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"
		exit 0
		;;
	-*)
		echo "unknown option: $arg" >&2
		exit 2
		;;
	*) services+=("$arg") ;;
	esac
done
((${#services[@]})) || services=(identity gateway)

log() { printf 'podman-check: %s\n' "$*"; }
die() {
	printf 'podman-check: %s\n' "$*" >&2
	exit 1
}
now_ms() { echo $((${EPOCHREALTIME/./} / 1000)); }
since() { echo "$((($(now_ms) - $1) / 1000)).$(((($(now_ms) - $1) % 1000) / 100))s"; }

((EUID == 0)) || die "run as root (debootstrap and rootful podman)"
PATH=$PATH:/usr/sbin:/sbin

# --- tools ------------------------------------------------------------------------
missing=()
for tool in podman:podman runc:runc debootstrap:debootstrap curl:curl openssl:openssl; do
	command -v "${tool%%:*}" >/dev/null 2>&1 || missing+=("${tool#*:}")
done
if ((${#missing[@]})); then
	log "installing ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get -q -y update >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get -q -y install "${missing[@]}" >/dev/null
fi

work=$(mktemp -d /tmp/yx-podman-check.XXXXXX)
# Traversable, so the stack's PostgreSQL (user yuexiang) keeps its data in here.
chmod 711 "$work"
containers=() # names of the containers this run started
stack_dir=

cleanup() {
	local rc=$? c m
	for c in "${containers[@]}"; do
		podman rm -f -t 0 "$c" >/dev/null 2>&1 || true
	done
	if [[ -n $stack_dir ]]; then
		BUILD=$work/no-build "$repo/scripts/stack.sh" stop "$stack_dir" >/dev/null 2>&1 || true
	fi
	# debootstrap mounts proc and sys inside the target while it works; a
	# failure may leave them there, and rm must never descend into them.
	while read -r _ m _; do
		if [[ $m == "$work"/* ]]; then
			umount -l "$m" 2>/dev/null || true
		fi
	done < <(tac /proc/mounts)
	if grep -q " $work/" /proc/mounts; then
		log "mounts remain under $work; leaving it in place"
	else
		rm -rf "$work"
	fi
	exit "$rc"
}
trap cleanup EXIT

export CONTAINERS_CONF=$work/containers.conf
cat >"$CONTAINERS_CONF" <<'EOF'
[containers]
default_ulimits = []
log_driver = "k8s-file"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF

# --- 1. the base image --------------------------------------------------------------

# The first URI of this machine's apt sources that serves <suite> (deb822
# .sources files or one-line sources.list entries).
apt_uri() {
	local suite=$1 f uri
	for f in /etc/apt/sources.list.d/*.sources; do
		[[ -f $f ]] || continue
		uri=$(awk -v suite="$suite" '
			/^[ \t]*$/ { if (u != "" && s) { print u; exit } u = ""; s = 0; next }
			/^URIs:/ { u = $2 }
			/^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) s = 1 }
			END { if (u != "" && s) print u }' "$f" | head -n 1)
		[[ -n $uri ]] && {
			echo "$uri"
			return 0
		}
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[[ -f $f ]] || continue
		uri=$(awk -v suite="$suite" '$1 == "deb" {
				for (i = 2; i < NF; i++) if ($i !~ /^\[/ && $(i + 1) == suite) { print $i; exit } }' "$f")
		[[ -n $uri ]] && {
			echo "$uri"
			return 0
		}
	done
	return 1
}

if podman image exists "$BASE_IMAGE"; then
	log "$BASE_IMAGE exists; not rebuilding it (podman rmi $BASE_IMAGE to start afresh)"
	base_time=0s
else
	mirror=${YX_DEBIAN_MIRROR:-$(apt_uri "$SUITE" || echo http://deb.debian.org/debian)}
	security=${YX_DEBIAN_SECURITY_MIRROR:-$(apt_uri "$SUITE-security" || echo http://deb.debian.org/debian-security)}
	log "debootstrap $SUITE from $mirror"
	t0=$(now_ms)
	rootfs=$work/rootfs
	if ! debootstrap --variant=minbase "$SUITE" "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1; then
		tail -n 30 "$work/debootstrap.log" >&2
		die "debootstrap failed (log above)"
	fi
	# The sources of the debian:12 image: the release, its updates and the
	# security archive, from the same mirrors.
	rm -f "$rootfs/etc/apt/sources.list"
	cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
	rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
		"$rootfs"/var/log/*.log
	tar -C "$rootfs" --numeric-owner -cf - . |
		podman import --change 'CMD ["/bin/bash"]' - "$BASE_IMAGE" >/dev/null
	rm -rf "$rootfs"
	base_time=$(since "$t0")
	log "$BASE_IMAGE imported in $base_time"
fi

# --- 2. the service images -------------------------------------------------------------
declare -A build_time=()
for svc in "${services[@]}"; do
	[[ -f $repo/services/$svc/main.c ]] || die "services/$svc/main.c: no such service"
	log "building localhost/yuexiang/$svc:check"
	t0=$(now_ms)
	if ! podman build --network host -f "$repo/docker/Dockerfile" \
		--label "$CHECK_LABEL" \
		--build-arg "BASE=$BASE_IMAGE" --build-arg "SERVICE=$svc" \
		-t "localhost/yuexiang/$svc:check" "$repo" >"$work/build-$svc.log" 2>&1; then
		tail -n 40 "$work/build-$svc.log" >&2
		die "building $svc failed (log above)"
	fi
	build_time[$svc]=$(since "$t0")
	log "built $svc in ${build_time[$svc]}"
done

# --- 3. the images' commands, user and port ------------------------------------------
for svc in "${services[@]}"; do
	image=localhost/yuexiang/$svc:check
	if ! out=$(podman run --rm --network none "$image" help 2>&1); then
		printf '%s\n' "$out" >&2
		die "$svc: '$image help' failed"
	fi
	[[ $out == *"usage: yx-$svc"* ]] || die "$svc: unexpected help text: $out"
	user=$(podman image inspect --format '{{.Config.User}}' "$image")
	[[ $user == 10001:10001 ]] || die "$svc: image user is '$user', not 10001:10001"
	want=$(sed -n 's/.*\.default_port *= *\([0-9][0-9]*\).*/\1/p' "$repo/services/$svc/main.c" | head -n 1)
	ports=$(podman image inspect --format '{{range $p, $v := .Config.ExposedPorts}}{{$p}} {{end}}' "$image")
	[[ -n $want && $ports == "$want/tcp " ]] ||
		die "$svc: image exposes '$ports' but services/$svc/main.c says port $want (docker/Dockerfile, stage service-$svc)"
	size=$(podman image inspect --format '{{.Size}}' "$image")
	log "$svc: help exits 0, user 10001, port $want, $((size / 1000000)) MB"
done

timings="base image ${base_time}"
for svc in "${services[@]}"; do
	timings+=", $svc ${build_time[$svc]}"
done
if ((serve == 0)); then
	log "ok ($timings)"
	exit 0
fi

# --- 4. --serve: run them as deploy/k8s does ---------------------------------------------
for svc in identity gateway; do
	[[ " ${services[*]} " == *" $svc "* ]] || die "--serve needs the identity and gateway images"
done

# A free TCP port from <start> on: nothing accepts on it and no socket (a
# client's, or one in TIME-WAIT) holds it. Start below the kernel's
# ephemeral range (32768-60999), where clients do not pick ports.
free_port() {
	local p=$1
	while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null ||
		[[ -n $(ss -Htan "sport = :$p" 2>/dev/null) ]]; do
		p=$((p + 1))
	done
	echo "$p"
}

t0=$(now_ms)
export YX_PG_PORT YX_REDIS_PORT
YX_PG_PORT=$(free_port 25432)
YX_REDIS_PORT=$(free_port 26379)
id_port=$(free_port 28081)
gw_port=$(free_port $((id_port + 1)))
stack_dir=$work/stack
mkdir -p "$work/no-build"
log "starting a throw-away PostgreSQL (:$YX_PG_PORT) and Redis (:$YX_REDIS_PORT)"
BUILD=$work/no-build "$repo/scripts/stack.sh" start "$stack_dir" >"$work/stack.log" 2>&1 ||
	{
		cat "$work/stack.log" >&2
		die "scripts/stack.sh start failed"
	}
stack_env() { sed -n "s/^$1='\(.*\)'\$/\1/p" "$stack_dir/stack.env"; }
secrets=$stack_dir/secrets

# Keys as the pods get them: files readable by the container's user.
keys=$work/keys
mkdir -p "$keys"
for f in internal.key cursor.key field.key index.key sms.key jwt-k1.pem jwt-k1.pub.pem; do
	cp "$secrets/$f" "$keys/$f"
done
chmod 755 "$keys"
chmod 644 "$keys"/*

# podman run as the pods run: no root filesystem writes, /tmp a tmpfs, no
# capabilities, no privilege escalation, the host network (for the stack).
run_opts=(--network host --read-only --tmpfs "/tmp:rw,size=16m,mode=1777" --cap-drop ALL
	--security-opt no-new-privileges -v "$keys:/run/secrets/yuexiang:ro"
	-e YX_WORKERS=2 -e YX_REDIS_HOST=127.0.0.1 -e "YX_REDIS_PORT=$YX_REDIS_PORT"
	-e YX_INTERNAL_KEY_FILE=/run/secrets/yuexiang/internal.key)
id_env=(-e "YX_LISTEN=127.0.0.1:$id_port"
	-e "YX_DB_DSN=$(stack_env YX_STACK_PG_DSN_IDENTITY) application_name=yx-identity"
	-e YX_REDIS_USER=yx_identity -e "YX_REDIS_PASSWORD=$(<"$secrets/redis-yx_identity.pw")"
	-e YX_CURSOR_KEY_FILE=/run/secrets/yuexiang/cursor.key
	-e YX_FIELD_KEY_FILE=/run/secrets/yuexiang/field.key
	-e YX_INDEX_KEY_FILE=/run/secrets/yuexiang/index.key
	-e YX_SMS_KEY_FILE=/run/secrets/yuexiang/sms.key
	-e YX_SMS_DRIVER=file -e YX_SMS_OUTBOX=/tmp/sms-outbox.jsonl
	-e YX_JWT_KEYS=k1=/run/secrets/yuexiang/jwt-k1.pem)
gw_env=(-e "YX_LISTEN=127.0.0.1:$gw_port"
	-e YX_REDIS_USER=yx_gateway -e "YX_REDIS_PASSWORD=$(<"$secrets/redis-yx_gateway.pw")"
	-e YX_JWT_PUBLIC_KEYS=k1=/run/secrets/yuexiang/jwt-k1.pub.pem
	-e "YX_UPSTREAM_IDENTITY=127.0.0.1:$id_port")

# The init container, twice: the second run must find nothing to do.
for attempt in 1 2; do
	if ! out=$(podman run --rm "${run_opts[@]}" "${id_env[@]}" localhost/yuexiang/identity:check migrate 2>&1); then
		printf '%s\n' "$out" >&2
		die "identity: migrate (run $attempt) failed"
	fi
done
log "identity: migrate applied services/identity/sql and is idempotent"

start_container() {
	local name=yx-podman-check-$1-$$
	shift
	podman run -d --name "$name" --stop-timeout "$STOP_GRACE" "$@" >/dev/null
	containers+=("$name")
}

# Waits until <url> answers 200, up to 30 s; shows the container's log if not.
wait_200() {
	local url=$1 name=$2 deadline=$(($(now_ms) + 30000)) code
	while :; do
		code=$(curl -s -o "$work/body" -w '%{http_code}' --max-time 2 "$url" || true)
		[[ $code == 200 ]] && return 0
		if (($(now_ms) > deadline)); then
			cat "$work/body" >&2 2>/dev/null || true
			podman logs "$name" 2>&1 | tail -n 30 >&2
			die "$url answered $code, not 200"
		fi
		sleep 0.3
	done
}

start_container identity "${run_opts[@]}" "${id_env[@]}" localhost/yuexiang/identity:check
wait_200 "http://127.0.0.1:$id_port/healthz" "${containers[-1]}"
wait_200 "http://127.0.0.1:$id_port/readyz" "${containers[-1]}"
log "identity: /healthz and /readyz (PostgreSQL and Redis up) answer 200"

start_container gateway "${run_opts[@]}" "${gw_env[@]}" localhost/yuexiang/gateway:check
wait_200 "http://127.0.0.1:$gw_port/readyz" "${containers[-1]}"
wait_200 "http://127.0.0.1:$gw_port/api/v1/auth/jwks" "${containers[-1]}"
grep -q '"kid":"k1"' "$work/body" || die "gateway: /api/v1/auth/jwks lacks key k1: $(cat "$work/body")"
log "gateway: /readyz answers 200 (identity up) and /api/v1/auth/jwks reaches identity"

# SIGTERM, as the kubelet sends it: each must be gone within the grace period.
for name in "${containers[@]}"; do
	t1=$(now_ms)
	podman stop -t "$STOP_GRACE" "$name" >/dev/null
	ms=$(($(now_ms) - t1))
	rc=$(podman inspect --format '{{.State.ExitCode}}' "$name")
	((ms < STOP_GRACE * 1000)) || die "$name needed SIGKILL (${ms} ms)"
	log "${name%-*}: stopped by SIGTERM in ${ms} ms (exit $rc)"
	# A worker the sandbox killed is restarted by Kore, so answers alone
	# would not show it.
	if podman logs "$name" 2>&1 | grep -q 'sandbox violation'; then
		podman logs "$name" 2>&1 | tail -n 30 >&2
		die "${name%-*}: a worker died from a sandbox violation"
	fi
done
serve_time=$(since "$t0")
log "ok ($timings, serve check ${serve_time})"
