#!/usr/bin/env bash
# Owns one local Yuexiang stack: a private PostgreSQL cluster and Redis, every
# built service and the gateway, with all of its state inside one directory.
#
#   scripts/stack.sh start  <dir>   (re)start the stack kept in <dir>
#   scripts/stack.sh stop   <dir>   stop everything started from <dir>
#   scripts/stack.sh status <dir>   what runs, with pids and ports
#
# `make run` uses var/, `make test` a fresh temporary directory, so two stacks
# never share a file or a port. Ports come from YX_PG_PORT, YX_REDIS_PORT and
# YX_<SERVICE>_PORT; binaries from $BUILD/bin (default build/). Everything
# binds 127.0.0.1, and only processes whose pid this script recorded are
# signalled: a system PostgreSQL or Redis on the same machine is left alone.
#
# Layout of <dir>: pg/ (cluster; a symlink when it has to live elsewhere),
# redis/ (config, ACL file, pidfile), secrets/ (generated once, then reused),
# log/<component>.log, run/<service>.pid, stack.env (facts for tests/tools).
set -euo pipefail

# Stray libpq variables (PGHOSTADDR, PGOPTIONS, ...) would bend our own psql
# calls and the services' connections; everything here is explicit.
for var in "${!PG@}"; do
	unset "$var"
done
# runuser and useradd live in sbin, which a non-login root shell may lack.
PATH=$PATH:/usr/sbin:/sbin

readonly PG_BIN=/usr/lib/postgresql/15/bin
readonly PG_SUPERUSER=postgres
readonly PG_OS_USER=yuexiang # PostgreSQL refuses to run as root
readonly PG_RELOCATE_BASE=/var/lib/yuexiang
readonly JWT_KID=k1
readonly STOP_GRACE=12 # seconds between SIGTERM and SIGKILL
# Services that get a schema, a database role and a Redis user even before
# their code exists. Any other directory under services/ (but the gateway)
# joins them without an edit here; it then needs YX_<NAME>_PORT.
readonly KNOWN_SERVICES=(identity mall hall wishwall)
declare -A DEFAULT_PORT=(
	[pg]=55432 [redis]=56379 [gateway]=8080
	[identity]=8081 [mall]=8082 [hall]=8083 [wishwall]=8084
)

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
started=() # services started by this run, in order
declare -A SECRET=()

log() { printf 'stack: %s\n' "$*"; }
die() {
	printf 'stack: %s\n' "$*" >&2
	exit 1
}

usage() {
	echo "usage: $0 start|stop|status <dir>" >&2
	exit 2
}

# --- processes, ports, files ----------------------------------------------------

# The port of a component: YX_<NAME>_PORT or its default.
port_of() {
	local name=$1 var value
	var="YX_${name^^}_PORT"
	value=${!var:-${DEFAULT_PORT[$name]:-}}
	[[ -n $value ]] || die "no port for '$name': set $var"
	if ! [[ $value =~ ^[0-9]+$ ]] || ((value == 0 || value > 65535)); then
		die "$var='$value' is not a port"
	fi
	printf '%s' "$value"
}

# True when something accepts connections on 127.0.0.1:<port>. Bash's
# /dev/tcp, because minimal images have neither ss nor netstat.
port_busy() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

require_free_port() {
	local port=$1 what=$2 var=$3
	if port_busy "$port"; then
		die "port $port ($what) is already in use on 127.0.0.1; pick another with $var=<port>"
	fi
}

# Sets REPLY to "state ppid pgrp ..." of a process: /proc/<pid>/stat after
# the command name, which may itself hold spaces. Fails when the process is
# gone. No subshell: stop scans every process in /proc several times.
proc_stat() {
	local line
	{ IFS= read -r line <"/proc/$1/stat"; } 2>/dev/null || return 1
	REPLY=${line##*) }
}

# True when <pid> exists and is not a zombie (a daemon's parent is init,
# which may reap late).
alive() {
	[[ -n $1 ]] && proc_stat "$1" && [[ ${REPLY%% *} != Z ]]
}

# True when <pid> is alive and runs a program whose argv[0] names <name>,
# before or after Kore, Redis and PostgreSQL rewrite their process titles
# ("/x/build/bin/yx-identity", "yx-identity [parent]", "redis-server 127...").
# A recycled pid that now belongs to something else does not match.
is_ours() {
	local pid=$1 name=$2 arg0=
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	alive "$pid" || return 1
	IFS= read -r -d '' arg0 <"/proc/$pid/cmdline" 2>/dev/null || [[ -n $arg0 ]] || return 1
	arg0=${arg0##*/}
	[[ $arg0 == "$name" || $arg0 == "$name "* || $arg0 == "$name:"* ]]
}

# True while process group <pgid> has a live member. Services run in a
# session of their own, so their Kore workers are found through the group
# even when the master is gone.
group_alive() {
	local pgid=$1 p state pgrp
	for p in /proc/[0-9]*; do
		proc_stat "${p#/proc/}" || continue
		read -r state _ pgrp _ <<<"$REPLY"
		if [[ $pgrp == "$pgid" && $state != Z ]]; then
			return 0
		fi
	done
	return 1
}

# The pid recorded in <file> when that process is alive and named <name>.
recorded_pid() {
	local file=$1 name=$2 pid
	[[ -f $file ]] || return 1
	IFS= read -r pid <"$file" || true
	pid=${pid//[^0-9]/}
	is_ours "$pid" "$name" || return 1
	printf '%s' "$pid"
}

# Stops the processes named by <name>=<pidfile> pairs together: SIGTERM to
# each, up to STOP_GRACE seconds for them and their process groups to go,
# then SIGKILL for what is left. Pid files are removed.
stop_processes() {
	local pair name file pid pgrp deadline
	local -a left=()
	local -A pgid_of=()
	for pair in "$@"; do
		name=${pair%%=*} file=${pair#*=}
		if pid=$(recorded_pid "$file" "$name"); then
			proc_stat "$pid"
			read -r _ _ pgrp _ <<<"$REPLY"
			pgid_of[$pid]=$pgrp
			kill -TERM "$pid" 2>/dev/null || true
		fi
		rm -f "$file"
	done
	if ((${#pgid_of[@]} == 0)); then
		return 0
	fi
	deadline=$(($(now) + STOP_GRACE))
	while :; do
		left=()
		for pid in "${!pgid_of[@]}"; do
			# A group is ours only when its leader was (setsid gave it its own).
			if alive "$pid" || { [[ ${pgid_of[$pid]} == "$pid" ]] && group_alive "$pid"; }; then
				left+=("$pid")
			fi
		done
		((${#left[@]})) || return 0
		(($(now) < deadline)) || break
		sleep 0.1
	done
	for pid in "${left[@]}"; do
		log "pid $pid did not stop within ${STOP_GRACE}s; killing it"
		if [[ ${pgid_of[$pid]} == "$pid" ]]; then
			kill -KILL -- "-$pid" 2>/dev/null || true
		else
			kill -KILL "$pid" 2>/dev/null || true
		fi
	done
}

now() { printf '%(%s)T' -1; }

show_log_tail() {
	local file=$1
	[[ -f $file ]] || return 0
	printf -- '--- last lines of %s ---\n' "$file" >&2
	tail -n 40 "$file" >&2
	printf -- '---\n' >&2
}

# Runs a PostgreSQL server program as the cluster's owner: the system user
# yuexiang when we are root (created on first use), else ourselves. From /,
# because the caller's directory may be one yuexiang cannot enter.
as_pg_user() {
	if ((EUID == 0)); then
		(cd / && runuser -u "$PG_OS_USER" -- "$@")
	else
		"$@"
	fi
}

ensure_pg_os_user() {
	((EUID == 0)) || return 0
	id -u "$PG_OS_USER" >/dev/null 2>&1 && return 0
	log "creating system user $PG_OS_USER to run PostgreSQL (it refuses to run as root)"
	useradd --system --no-create-home --shell /usr/sbin/nologin "$PG_OS_USER"
}

# --- the pieces of one stack ----------------------------------------------------

# Sets dir (absolute), build, the service lists and every port. <create> makes
# the directory; stop and status only look.
setup() {
	local d=$1 mode=$2 s name
	if [[ $mode == create ]]; then
		mkdir -p "$d"
	elif [[ ! -d $d ]]; then
		return 1
	fi
	dir=$(cd "$d" && pwd -P)
	# Paths go unquoted into postgresql.conf, redis.conf, DSNs and stack.env.
	[[ $dir =~ ^[A-Za-z0-9._/+@-]+$ ]] || die "'$dir': use a directory path without spaces or quotes"
	secrets=$dir/secrets
	build=${BUILD:-build}
	[[ $build == /* ]] || build=$repo/$build

	# Database services: the known ones plus any other service directory.
	db_services=("${KNOWN_SERVICES[@]}")
	# Services to start: directories under services/, gateway last.
	services=()
	for s in "$repo"/services/*/; do
		name=$(basename "$s")
		[[ $name == gateway ]] && continue
		if ! [[ $name =~ ^[a-z][a-z0-9_]*$ ]]; then
			log "ignoring services/$name: a service name is [a-z][a-z0-9_]* (it names a schema and roles)"
			continue
		fi
		services+=("$name")
		[[ " ${db_services[*]} " == *" $name "* ]] || db_services+=("$name")
	done
	# Start in the known order (identity first), others after.
	local -a ordered=()
	for s in "${db_services[@]}"; do
		[[ " ${services[*]} " == *" $s "* ]] && ordered+=("$s")
	done
	services=("${ordered[@]}")

	pg_port=$(port_of pg)
	redis_port=$(port_of redis)
	declare -gA port=()
	for s in "${services[@]}" gateway; do
		[[ -x $build/bin/yx-$s ]] && port[$s]=$(port_of "$s")
	done
	return 0
}

# Creates missing secrets (0600 in a 0700 directory); existing ones are
# reused, so a restarted stack keeps its data and tokens valid.
ensure_secrets() {
	local s
	mkdir -p "$secrets"
	chmod 700 "$secrets"
	if [[ -f $(pg_locate_only)/PG_VERSION && ! -s $secrets/pg-$PG_SUPERUSER.pw ]]; then
		die "$secrets lost its PostgreSQL password while the cluster exists; stop and remove $dir to start afresh"
	fi
	new_secret "pg-$PG_SUPERUSER.pw" openssl rand -hex 32
	new_secret redis-yx_admin.pw openssl rand -hex 32
	new_secret redis-yx_gateway.pw openssl rand -hex 32
	for s in "${db_services[@]}"; do
		new_secret "pg-yx_$s.pw" openssl rand -hex 32
		new_secret "redis-yx_$s.pw" openssl rand -hex 32
	done
	for s in internal field index cursor sms; do
		new_secret "$s.key" openssl rand -hex 32
	done
	new_secret "jwt-$JWT_KID.pem" openssl genpkey -algorithm ed25519
	# The public half is derived at each start, so it always matches.
	(umask 077 && openssl pkey -in "$secrets/jwt-$JWT_KID.pem" -pubout -out "$secrets/jwt-$JWT_KID.pub.pem")
}

# new_secret <file> <command...>: writes the command's output to
# secrets/<file> unless that file already has content.
new_secret() {
	local file=$secrets/$1
	shift
	[[ -s $file ]] && return 0
	(umask 077 && "$@" >"$file.tmp") || die "cannot generate $file"
	mv -f "$file.tmp" "$file"
}

# Fills SECRET[<file>] with the one-line secrets (passwords and keys).
load_secrets() {
	local f
	for f in "$secrets"/*.pw "$secrets"/*.key; do
		IFS= read -r "SECRET[${f##*/}]" <"$f" || true
	done
}

# --- PostgreSQL -------------------------------------------------------------------

# Where the cluster of this stack lives, without creating anything.
pg_locate_only() {
	if [[ -L $dir/pg ]]; then
		readlink "$dir/pg"
	else
		printf '%s' "$dir/pg"
	fi
}

# Sets pgdata. The cluster normally lives in <dir>/pg. When we are root and
# user yuexiang cannot reach <dir> (a clone under /root, mode 0700), it lives
# in /var/lib/yuexiang/<hash of dir>/pg instead, linked from <dir>/pg.
pg_locate() {
	pgdata=$(pg_locate_only)
	if [[ ! -e $dir/pg && ! -L $dir/pg ]] && ((EUID == 0)) && ! as_pg_user test -x "$dir"; then
		pgdata=$PG_RELOCATE_BASE/$(printf '%s' "$dir" | sha256sum | cut -c1-16)/pg
		ln -s "$pgdata" "$dir/pg"
	fi
	if [[ -L $dir/pg ]]; then
		log "user $PG_OS_USER cannot enter $dir, so PostgreSQL keeps its data in $pgdata (linked from $dir/pg)"
		mkdir -p "$PG_RELOCATE_BASE" "$(dirname "$pgdata")"
		chmod 755 "$PG_RELOCATE_BASE"
		chmod 700 "$(dirname "$pgdata")"
		chown "$PG_OS_USER:" "$(dirname "$pgdata")"
	fi
}

pg_init() {
	local pwfile
	[[ -f $pgdata/PG_VERSION ]] && return 0
	log "creating the PostgreSQL cluster in $pgdata"
	mkdir -p "$pgdata"
	chmod 700 "$pgdata"
	# initdb reads the superuser password from a file its user can open.
	pwfile=$(mktemp /tmp/yx-initdb.XXXXXX)
	printf '%s\n' "${SECRET[pg-$PG_SUPERUSER.pw]}" >"$pwfile"
	if ((EUID == 0)); then
		chown "$PG_OS_USER:" "$pgdata" "$pwfile"
	fi
	if ! as_pg_user "$PG_BIN/initdb" -D "$pgdata" -U "$PG_SUPERUSER" --pwfile="$pwfile" \
		-E UTF8 --locale=C.UTF-8 --auth-local=scram-sha-256 --auth-host=scram-sha-256 \
		>"$dir/log/initdb.log" 2>&1; then
		rm -f "$pwfile"
		show_log_tail "$dir/log/initdb.log"
		die "initdb failed"
	fi
	rm -f "$pwfile"
	printf "\n# Yuexiang: address, port and socket come from scripts/stack.sh at each start.\ninclude 'yuexiang.conf'\n" \
		>>"$pgdata/postgresql.conf"
}

# Settings rewritten at every start, so YX_PG_PORT may change between starts.
pg_configure() {
	local sock=$pgdata
	# A Unix socket path is limited to 107 bytes; all clients here use TCP,
	# so a deep directory simply goes without the socket.
	((${#pgdata} + 20 <= 107)) || sock=
	cat >"$pgdata/yuexiang.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $pg_port
unix_socket_directories = '$sock'
unix_socket_permissions = 0700
password_encryption = 'scram-sha-256'
max_connections = 200
log_line_prefix = '%m [%p] %q%u@%d '
EOF
	if ((EUID == 0)); then
		chown "$PG_OS_USER:" "$pgdata/yuexiang.conf"
	fi
}

pg_start() {
	require_free_port "$pg_port" PostgreSQL YX_PG_PORT
	if ! as_pg_user "$PG_BIN/pg_ctl" -D "$pgdata" -l "$pgdata/postgres.log" -w -t 30 -s start >/dev/null; then
		show_log_tail "$pgdata/postgres.log"
		die "PostgreSQL did not start"
	fi
	ln -sfn "$pgdata/postgres.log" "$dir/log/postgres.log"
}

# psql as the superuser over TCP into database <db>, script on stdin.
pg_psql() {
	PGPASSWORD=${SECRET[pg-$PG_SUPERUSER.pw]} "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 \
		"host=127.0.0.1 port=$pg_port dbname=$1 user=$PG_SUPERUSER sslmode=disable gssencmode=disable connect_timeout=5" \
		>/dev/null
}

# Database yuexiang, one login role and one schema per service. Every
# statement is idempotent, so a restart changes nothing. Passwords travel in
# the script on stdin, never on a command line.
pg_bootstrap() {
	local s
	{
		echo "SET client_min_messages = warning;"
		echo "SELECT 'CREATE DATABASE yuexiang' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'yuexiang') \\gexec"
		# Service roles reach no database but their own.
		echo "REVOKE CONNECT, TEMPORARY ON DATABASE postgres FROM PUBLIC;"
		echo "REVOKE CONNECT, TEMPORARY ON DATABASE template1 FROM PUBLIC;"
		for s in "${db_services[@]}"; do
			printf '\\set role yx_%s\n\\set pw %s\n' "$s" "${SECRET[pg-yx_$s.pw]}"
			echo "SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'role', :'pw') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \\gexec"
		done
	} | pg_psql postgres || die "PostgreSQL bootstrap (roles) failed"
	{
		echo "SET client_min_messages = warning;"
		echo "REVOKE ALL ON DATABASE yuexiang FROM PUBLIC;"
		echo "REVOKE CREATE, USAGE ON SCHEMA public FROM PUBLIC;"
		for s in "${db_services[@]}"; do
			echo "CREATE SCHEMA IF NOT EXISTS $s AUTHORIZATION yx_$s;"
			echo "ALTER ROLE yx_$s SET search_path = $s;"
			echo "GRANT CONNECT ON DATABASE yuexiang TO yx_$s;"
		done
	} | pg_psql yuexiang || die "PostgreSQL bootstrap (schemas) failed"
}

pg_stop() {
	local pid
	pgdata=$(pg_locate_only)
	[[ -f $pgdata/postmaster.pid ]] || return 0
	pid=$(head -n 1 "$pgdata/postmaster.pid")
	is_ours "$pid" postgres || return 0
	if ! as_pg_user "$PG_BIN/pg_ctl" -D "$pgdata" -m fast -w -t "$STOP_GRACE" -s stop >/dev/null; then
		log "PostgreSQL did not stop within ${STOP_GRACE}s; stopping it immediately"
		as_pg_user "$PG_BIN/pg_ctl" -D "$pgdata" -m immediate -w -t 5 -s stop >/dev/null ||
			kill -KILL "$pid" 2>/dev/null || true
	fi
}

# --- Redis ------------------------------------------------------------------------

# One ACL user per service, limited to its own prefix plus the shared pub:
# cards and events: streams and channels; admin commands, KEYS, FLUSHALL,
# CONFIG and the like refused. The default user is off. Passwords are stored
# as SHA-256 hashes only.
redis_acl() {
	local s
	echo "user default off resetpass resetkeys resetchannels -@all"
	echo "user yx_admin on $(acl_hash redis-yx_admin.pw) ~* &* +@all"
	echo "user yx_gateway on $(acl_hash redis-yx_gateway.pw) resetchannels ~gw:* ~pub:* +@all -@admin -@dangerous"
	for s in "${db_services[@]}"; do
		echo "user yx_$s on $(acl_hash "redis-yx_$s.pw") resetchannels ~$s:* ~pub:* ~events:* &events:* +@all -@admin -@dangerous"
	done
}

# The ACL form of the password in secrets/<file>: '#' and its SHA-256.
acl_hash() {
	local sum
	sum=$(printf '%s' "${SECRET[$1]}" | sha256sum)
	printf '#%s' "${sum%% *}"
}

redis_cli() {
	REDISCLI_AUTH=${SECRET[redis-yx_admin.pw]} redis-cli --no-auth-warning \
		-h 127.0.0.1 -p "$redis_port" --user yx_admin "$@"
}

redis_start() {
	local rdir=$dir/redis deadline
	mkdir -p "$rdir"
	chmod 700 "$rdir"
	(umask 077 && redis_acl >"$rdir/users.acl")
	# PostgreSQL is the authority; Redis only caches, gates and counts, so it
	# keeps nothing on disk.
	cat >"$rdir/redis.conf" <<EOF
port $redis_port
bind 127.0.0.1
protected-mode yes
daemonize yes
dir $rdir
pidfile $rdir/redis.pid
logfile $dir/log/redis.log
aclfile $rdir/users.acl
save ""
appendonly no
EOF
	require_free_port "$redis_port" Redis YX_REDIS_PORT
	[[ ! -f $dir/log/redis.log ]] || mv -f "$dir/log/redis.log" "$dir/log/redis.log.1"
	redis-server "$rdir/redis.conf" || die "redis-server did not start"
	deadline=$(($(now) + 10))
	until [[ $(redis_cli PING 2>/dev/null) == PONG ]]; do
		if (($(now) >= deadline)); then
			show_log_tail "$dir/log/redis.log"
			die "Redis did not answer on port $redis_port"
		fi
		sleep 0.1
	done
}

# --- services ---------------------------------------------------------------------

# Fills svc_env with `env` arguments for service <svc>: the caller's other
# YX_* variables pass through (tests raise limits that way), but no variable
# meant for another service or for tests does, so the JWT private key and
# the field keys reach identity alone. A caller's <NAME>_FILE is dropped
# for every NAME set here, so it cannot override the stack's value.
service_env() {
	local svc=$1 name s dsn assignment
	local -a assign
	assign=(
		"YX_SERVICE=$svc"
		"YX_LISTEN=127.0.0.1:${port[$svc]}"
		"YX_WORKERS=${YX_WORKERS:-2}"
		"YX_PIDFILE=$dir/run/$svc.pid"
		"YX_LOG_LEVEL=${YX_LOG_LEVEL:-info}"
		"YX_REDIS_HOST=127.0.0.1"
		"YX_REDIS_PORT=$redis_port"
		"YX_REDIS_USER=yx_$svc"
		"YX_REDIS_PASSWORD=${SECRET[redis-yx_$svc.pw]}"
		"YX_INTERNAL_KEY=${SECRET[internal.key]}"
		"YX_CURSOR_KEY=${SECRET[cursor.key]}"
	)
	if [[ $svc != gateway ]]; then
		pg_dsn dsn "yx_$svc"
		assign+=("YX_SQL_DIR=$repo/services/$svc/sql" "YX_DB_DSN=$dsn application_name=yx-$svc")
	fi
	case $svc in
	identity)
		assign+=(
			"YX_FIELD_KEY=${SECRET[field.key]}"
			"YX_INDEX_KEY=${SECRET[index.key]}"
			"YX_SMS_KEY=${SECRET[sms.key]}"
			"YX_JWT_KEYS=$JWT_KID=$secrets/jwt-$JWT_KID.pem"
			"YX_SMS_DRIVER=file"
			"YX_SMS_OUTBOX=$dir/sms-outbox.jsonl"
		)
		;;
	gateway)
		# Its Redis user, yx_gateway, came with the common part.
		assign+=("YX_JWT_PUBLIC_KEYS=$JWT_KID=$secrets/jwt-$JWT_KID.pub.pem")
		for s in "${started[@]}"; do
			assign+=("YX_UPSTREAM_${s^^}=127.0.0.1:${port[$s]}")
		done
		;;
	esac

	# env takes its -u options before any assignment.
	svc_env=()
	for name in $(compgen -e); do
		case $name in
		# What the stack decides itself: its keys, its files and where the
		# services are. Limits and timeouts (YX_SMS_PER_IP_HOUR,
		# YX_UPSTREAM_TIMEOUT_MS, ...) pass through, so runs can raise them.
		YX_STACK_* | YX_TEST_* | YX_DB_DSN | YX_SQL_DIR | YX_JWT_KEYS* | YX_JWT_PUBLIC_KEYS* | \
			YX_FIELD_KEY* | YX_INDEX_KEY* | YX_SMS_KEY* | YX_SMS_DRIVER | YX_SMS_OUTBOX | \
			YX_SMS_HTTP_TOKEN* | YX_UPSTREAM_IDENTITY | YX_UPSTREAM_MALL | YX_UPSTREAM_HALL | \
			YX_UPSTREAM_WISHWALL)
			svc_env+=(-u "$name")
			;;
		esac
	done
	for assignment in "${assign[@]}"; do
		name=${assignment%%=*}_FILE
		[[ -z ${!name+set} ]] || svc_env+=(-u "$name")
	done
	svc_env+=("${assign[@]}")
}

# pg_dsn <var> <role>: sets <var> to the libpq DSN of <role>.
# gssencmode=disable: Kore's seccomp sandbox kills a worker whose libpq probes
# for GSSAPI; a non-empty password keeps libpq from looking for ~/.pgpass,
# which the sandbox refuses too (see PLATFORM.md).
pg_dsn() {
	printf -v "$1" 'host=127.0.0.1 port=%s dbname=yuexiang user=%s password=%s gssencmode=disable sslmode=disable connect_timeout=3' \
		"$pg_port" "$2" "${SECRET[pg-$2.pw]}"
}

# Migrates <svc> (when it has SQL) and starts `serve` in a session of its own,
# so Ctrl-C in the terminal of `make run` reaches run.sh, which stops the
# stack in order, and so its Kore workers share a process group we can find.
# The pid recorded is the service's own: the subshell execs env, env execs
# setsid, and setsid execs the binary without forking (not a group leader).
start_service() {
	local svc=$1 bin=$build/bin/yx-$1 logf=$dir/log/$1.log
	service_env "$svc"
	# One log per start (the previous one kept), so a failure shows this
	# run's lines and var/ does not grow without bound.
	[[ ! -f $logf ]] || mv -f "$logf" "$logf.1"
	if [[ -d $repo/services/$svc/sql ]]; then
		if ! (cd "$dir" && env "${svc_env[@]}" timeout --foreground 120 "$bin" migrate) >>"$logf" 2>&1 </dev/null; then
			show_log_tail "$logf"
			die "$svc: '$bin migrate' failed"
		fi
	fi
	(cd "$dir" && exec env "${svc_env[@]}" setsid "$bin" serve) >>"$logf" 2>&1 </dev/null &
	echo "$!" >"$dir/run/$svc.pid"
	started+=("$svc")
}

# The demo district of `make run` (idempotent: a later start keeps the data
# and the logins file written the first time).
seed_demo() {
	service_env identity
	if ! (cd "$dir" && env "${svc_env[@]}" "$build/bin/yx-identity" seed-demo \
		--out "$dir/demo-logins.txt") >>"$dir/log/seed.log" 2>&1 </dev/null; then
		show_log_tail "$dir/log/seed.log"
		die "identity: seeding the demo district failed"
	fi
}

# Waits until every started service answers GET /healthz with 200, failing
# fast when one exits. YX_STACK_START_TIMEOUT seconds in all (default 20).
wait_healthy() {
	local deadline s pid pending
	deadline=$(($(now) + ${YX_STACK_START_TIMEOUT:-20}))
	pending=("$@")
	while ((${#pending[@]})); do
		local -a still=()
		for s in "${pending[@]}"; do
			pid=
			IFS= read -r pid <"$dir/run/$s.pid" || true
			pid=${pid//[^0-9]/}
			if ! alive "$pid"; then
				show_log_tail "$dir/log/$s.log"
				die "yx-$s serve exited during start-up (it has to stay in the foreground; its log is above)"
			fi
			curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:${port[$s]}/healthz" 2>/dev/null || still+=("$s")
		done
		pending=("${still[@]}")
		((${#pending[@]})) || break
		if (($(now) >= deadline)); then
			for s in "${pending[@]}"; do
				show_log_tail "$dir/log/$s.log"
			done
			die "no healthy answer from ${pending[*]} within ${YX_STACK_START_TIMEOUT:-20}s"
		fi
		sleep 0.2
	done
}

# Connection facts for tests and tools: `set -a; . stack.env; set +a`, or
# parsed as KEY='value' lines (tests/api/conftest.py).
write_stack_env() {
	local s dsn f=$dir/stack.env
	{
		echo "# Written by scripts/stack.sh start; facts about the stack in $dir."
		echo "YX_STACK_DIR='$dir'"
		echo "YX_STACK_BASE_URL='http://127.0.0.1:$(port_of gateway)'"
		echo "YX_STACK_SERVICES='${started[*]}'"
		for s in "${started[@]}"; do
			echo "YX_STACK_${s^^}_URL='http://127.0.0.1:${port[$s]}'"
		done
		echo "YX_STACK_PG_PORT='$pg_port'"
		pg_dsn dsn "$PG_SUPERUSER"
		echo "YX_STACK_PG_DSN='$dsn'"
		for s in "${db_services[@]}"; do
			pg_dsn dsn "yx_$s"
			echo "YX_STACK_PG_DSN_${s^^}='$dsn'"
		done
		echo "YX_STACK_REDIS_HOST='127.0.0.1'"
		echo "YX_STACK_REDIS_PORT='$redis_port'"
		echo "YX_STACK_REDIS_ADMIN_USER='yx_admin'"
		echo "YX_STACK_REDIS_ADMIN_PASSWORD='${SECRET[redis-yx_admin.pw]}'"
		echo "YX_STACK_SECRETS='$secrets'"
		echo "YX_STACK_JWT_KID='$JWT_KID'"
		echo "YX_STACK_JWT_PRIVATE_KEY='$secrets/jwt-$JWT_KID.pem'"
		echo "YX_STACK_JWT_PUBLIC_KEY='$secrets/jwt-$JWT_KID.pub.pem'"
		echo "YX_STACK_SMS_OUTBOX='$dir/sms-outbox.jsonl'"
		echo "YX_STACK_LOG_DIR='$dir/log'"
	} >"$f.tmp"
	chmod 600 "$f.tmp"
	mv -f "$f.tmp" "$f"
}

# --- commands ---------------------------------------------------------------------

cmd_start() {
	local t0=${EPOCHREALTIME/./} s summary
	setup "$1" create
	if [[ -n $(running_components) ]]; then
		log "already running in $dir; restarting"
	fi
	stop_all
	mkdir -p "$dir/log" "$dir/run"
	ensure_secrets
	load_secrets
	# From here on a failure stops whatever did start; the logs stay.
	trap 'start_failed' EXIT

	ensure_pg_os_user
	pg_locate
	pg_init
	pg_configure
	pg_start
	pg_bootstrap
	redis_start

	started=()
	local -a missing=()
	for s in "${services[@]}"; do
		if [[ -n ${port[$s]:-} ]]; then
			require_free_port "${port[$s]}" "yx-$s" "YX_${s^^}_PORT"
		else
			missing+=("$s")
		fi
	done
	for s in "${missing[@]}"; do
		log "not starting $s: $build/bin/yx-$s is not built"
	done
	for s in "${services[@]}"; do
		if [[ -n ${port[$s]:-} ]]; then
			start_service "$s"
			if [[ $s == identity && ${YX_STACK_SEED_DEMO:-} == 1 ]]; then
				seed_demo
			fi
		fi
	done
	wait_healthy "${started[@]}"
	if [[ -n ${port[gateway]:-} ]]; then
		require_free_port "${port[gateway]}" yx-gateway YX_GATEWAY_PORT
		start_service gateway
		wait_healthy gateway
	else
		log "not starting the gateway: $build/bin/yx-gateway is not built"
	fi

	write_stack_env
	# A new id per start: run.sh follows the stack until this changes or goes.
	printf '%s %s\n' "$(date +%s%N)" "$$" >"$dir/run/stack.id"
	trap - EXIT
	summary="PostgreSQL :$pg_port, Redis :$redis_port"
	for s in "${started[@]}"; do
		summary+=", $s :${port[$s]}"
	done
	log "up in $(((${EPOCHREALTIME/./} - t0) / 1000)) ms: $summary"
}

start_failed() {
	local rc=$?
	((rc == 0)) && return 0
	log "start failed; stopping what was started (logs stay in $dir/log)" >&2
	stop_all >/dev/null 2>&1 || true
	exit "$rc"
}

# Gateway first, so nothing new reaches services that are going away; then
# the services together, then Redis and PostgreSQL.
stop_all() {
	local f name
	local -a pairs=()
	stop_processes "yx-gateway=$dir/run/gateway.pid"
	for f in "$dir"/run/*.pid; do
		[[ -e $f ]] || continue
		name=$(basename "$f" .pid)
		pairs+=("yx-$name=$f")
	done
	if ((${#pairs[@]})); then
		stop_processes "${pairs[@]}"
	fi
	stop_processes "redis-server=$dir/redis/redis.pid"
	pg_stop
	rm -f "$dir/run/stack.id"
}

# Names of components with a live recorded process, one a line.
running_components() {
	local f pgdata_dir pid
	for f in "$dir"/run/*.pid; do
		[[ -e $f ]] || continue
		recorded_pid "$f" "yx-$(basename "$f" .pid)" >/dev/null && basename "$f" .pid
	done
	recorded_pid "$dir/redis/redis.pid" redis-server >/dev/null && echo redis
	pgdata_dir=$(pg_locate_only)
	if [[ -f $pgdata_dir/postmaster.pid ]]; then
		pid=$(head -n 1 "$pgdata_dir/postmaster.pid")
		is_ours "$pid" postgres && echo postgres
	fi
	return 0
}

cmd_stop() {
	setup "$1" look || {
		log "nothing to stop: no $1"
		return 0
	}
	if [[ -z $(running_components) ]]; then
		stop_all # still clears stale pid files
		log "nothing running in $dir"
		return 0
	fi
	stop_all
	log "stopped ($dir)"
}

cmd_status() {
	local f name pid any=0 pgdata_dir
	setup "$1" look || {
		echo "no stack in $1"
		return 1
	}
	pgdata_dir=$(pg_locate_only)
	pid=
	[[ -f $pgdata_dir/postmaster.pid ]] && pid=$(head -n 1 "$pgdata_dir/postmaster.pid")
	if is_ours "$pid" postgres; then
		printf '  %-10s pid %-7s 127.0.0.1:%s\n' postgres "$pid" "$(sed -n 4p "$pgdata_dir/postmaster.pid")"
		any=1
	else
		printf '  %-10s stopped\n' postgres
	fi
	if pid=$(recorded_pid "$dir/redis/redis.pid" redis-server); then
		printf '  %-10s pid %-7s 127.0.0.1:%s\n' redis "$pid" "$(sed -n 's/^port //p' "$dir/redis/redis.conf")"
		any=1
	else
		printf '  %-10s stopped\n' redis
	fi
	for f in "$dir"/run/*.pid; do
		[[ -e $f ]] || continue
		name=$(basename "$f" .pid)
		if pid=$(recorded_pid "$f" "yx-$name"); then
			printf '  %-10s pid %-7s %s\n' "$name" "$pid" "$(service_url "$name")"
			any=1
		else
			printf '  %-10s stopped (stale pid file)\n' "$name"
		fi
	done
	((any))
}

# The URL a running service listens on, from stack.env.
service_url() {
	local line
	line=$(grep "^YX_STACK_${1^^}_URL=" "$dir/stack.env" 2>/dev/null) || return 0
	line=${line#*=}
	printf '%s' "${line//\'/}"
}

[[ $# == 2 ]] || usage
case $1 in
start) cmd_start "$2" ;;
stop) cmd_stop "$2" ;;
status) cmd_status "$2" ;;
*) usage ;;
esac
