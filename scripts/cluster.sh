# scripts/cluster.sh: a throwaway PostgreSQL cluster for tests and the demo.
#
# Source it, then call ag_cluster_start.  The cluster lives in a fresh
# mktemp directory, listens on 127.0.0.1 on a free port and on a Unix socket
# in that directory, preloads audit_guard, and is stopped and removed by an
# EXIT/INT/TERM trap however the caller ends.  Clients (psql, pg_regress,
# pg_prove, pg_dump) run as the calling user with PGHOST, PGPORT and
# PGUSER=postgres exported; the server itself runs as OS user postgres when
# the caller is root (PostgreSQL refuses to run as root), else as the caller.
#
# Scenario scripts started from a harness that already runs a cluster call
# ag_cluster_attach instead: it reuses the exported cluster, or starts one of
# its own when run alone.
#
# Functions:
#   ag_cluster_start        initdb + start; exports PG* and AG_* variables
#   ag_cluster_attach       reuse an exported cluster, or ag_cluster_start
#   ag_cluster_stop         pg_ctl stop (fast), leaves the files
#   ag_cluster_restart      stop + start, waiting for both
#   ag_cluster_running      true when the server answers
#   ag_cluster_cleanup      stop and remove everything (runs from the trap)
#   ag_conf_override LINE…  write override.conf (read after the harness's
#                           settings) and restart
#   ag_conf_reset           remove override.conf and restart
#   ag_log_offset           byte size of the server log now
#   ag_log_since OFFSET     the server log written after OFFSET
#   ag_psql ARGS…           psql, quiet (no notices) and stopping on error
#   ag_session_open NAME [DB]   an open psql session fed through a fifo;
#                               errors print as "ERROR:  <SQLSTATE>"
#   ag_session_run NAME SQL     run SQL there, wait, print its output
#   ag_session_send NAME SQL    send SQL without waiting (it may block)
#   ag_session_wait NAME [SEC]  wait for what was sent, print its output
#   ag_session_blocked NAME     true once the session waits for a lock
#   ag_session_close NAME
#
# Assertions for scenario scripts (TAP-like lines, counted):
#   ag_ok DESCRIPTION CMD…        passes when CMD exits 0
#   ag_is GOT WANT DESCRIPTION    passes when GOT = WANT
#   ag_sqlstate DB SQLSTATE SQL [DESCRIPTION]
#                                 passes when SQL fails with that SQLSTATE
#   ag_scalar DB SQL              prints the single value SQL returns
#   ag_done                       prints the count; non-zero on any failure
#   ag_fresh_database DB [ROLE…]  (re)create DB and the (NOLOGIN) roles
#   ag_drop_database DB [ROLE…]   drop them again
#
# And for the entry points:
#   ag_build_install        make, then make install (with sudo only when
#                           not root and the install directories are not
#                           writable); PG_CONFIG picks the server
#
# Settings (environment, read by ag_cluster_start):
#   AG_PRELOAD   shared_preload_libraries value (default: audit_guard)
#   AG_KEEP=1    leave the directory behind for a look after a failure

AG_BINDIR=${AG_BINDIR:-$("${PG_CONFIG:-pg_config}" --bindir)}
export AG_BINDIR

# Build and install the extension from the repository in the current
# directory.
ag_build_install() {
	local pg_config=${PG_CONFIG:-pg_config} sudo=()
	make -s PG_CONFIG="$pg_config" || return 1
	if [ "$(id -u)" -ne 0 ] &&
		{ [ ! -w "$("$pg_config" --pkglibdir)" ] ||
			[ ! -w "$("$pg_config" --sharedir)/extension" ]; }; then
		sudo=(sudo)
	fi
	"${sudo[@]}" make -s install PG_CONFIG="$pg_config"
}

# Run a server-side command as the cluster's OS owner.
ag_as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# True when something already listens on 127.0.0.1:$1.
ag_port_busy() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Print a port in 20000..59999 that nothing listens on (never 5432).
ag_free_port() {
	local port tries=0
	while [ $tries -lt 200 ]; do
		port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
		tries=$((tries + 1))
		if ! ag_port_busy "$port" && [ ! -e "/tmp/.s.PGSQL.$port" ]; then
			echo "$port"
			return 0
		fi
	done
	echo "cluster.sh: no free port found" >&2
	return 1
}

# Start the server in $AG_DATA, logging to $AG_LOG.
ag_pg_ctl_start() {
	ag_as_owner "$AG_BINDIR/pg_ctl" start -w -t 60 -D "$AG_DATA" \
		-l "$AG_LOG" >/dev/null
}

# initdb a throwaway cluster, configure it and start it.
ag_cluster_start() {
	local attempt
	if [ "$(id -u)" -eq 0 ]; then
		# postgres must be able to reach the directory: stay out of $TMPDIR
		AG_DIR=$(mktemp -d /tmp/audit_guard.XXXXXX) || return 1
		chown postgres: "$AG_DIR"
	else
		AG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/audit_guard.XXXXXX") || return 1
	fi
	chmod 700 "$AG_DIR"
	AG_DATA=$AG_DIR/data
	AG_LOG=$AG_DIR/server.log
	export AG_DIR AG_DATA AG_LOG
	AG_CLUSTER_OWNED=1
	trap ag_cluster_cleanup EXIT
	trap 'ag_cluster_cleanup; exit 130' INT
	trap 'ag_cluster_cleanup; exit 143' TERM

	if ! ag_as_owner "$AG_BINDIR/initdb" -D "$AG_DATA" --auth=trust \
		-U postgres --no-sync -E UTF8 --locale=C >"$AG_DIR/initdb.log" 2>&1; then
		cat "$AG_DIR/initdb.log" >&2
		return 1
	fi
	ag_as_owner touch "$AG_LOG"

	# Harness settings in an included file, so override.conf can win.
	ag_as_owner tee -a "$AG_DATA/postgresql.conf" >/dev/null <<-EOF

		# added by scripts/cluster.sh
		include 'harness.conf'
		include_if_exists 'override.conf'
	EOF

	for attempt in 1 2 3 4 5; do
		AG_PORT=$(ag_free_port) || return 1
		ag_as_owner tee "$AG_DATA/harness.conf" >/dev/null <<-EOF
			shared_preload_libraries = '${AG_PRELOAD-audit_guard}'
			listen_addresses = '127.0.0.1'
			port = $AG_PORT
			unix_socket_directories = '$AG_DIR'
			fsync = off
			synchronous_commit = off
			full_page_writes = off
			max_connections = 40
			log_line_prefix = '%m [%p] %q%u@%d '
			log_min_messages = warning
			lc_messages = 'C'
		EOF
		if ag_pg_ctl_start; then
			break
		fi
		if [ $attempt -eq 5 ] || ! grep -q 'could not bind\|could not create lock file' "$AG_LOG"; then
			echo "cluster.sh: the server did not start; its log:" >&2
			cat "$AG_LOG" >&2
			return 1
		fi
	done

	export PGHOST=$AG_DIR PGPORT=$AG_PORT PGUSER=postgres PGDATABASE=postgres
	export AG_PORT
	unset PGPASSWORD PGSERVICE PGOPTIONS PGHOSTADDR PGSSLMODE
}

# Reuse the cluster a harness exported, or start one for a standalone run.
ag_cluster_attach() {
	if [ -n "${AG_DATA:-}" ] && [ -d "${AG_DATA:-}" ] && [ -n "${PGPORT:-}" ]; then
		AG_CLUSTER_OWNED=0
		trap ag_cluster_cleanup EXIT
		return 0
	fi
	ag_cluster_start
}

# True when the server accepts connections.
ag_cluster_running() {
	"$AG_BINDIR/pg_isready" -q -h "$PGHOST" -p "$PGPORT" -t 5
}

ag_cluster_stop() {
	ag_as_owner "$AG_BINDIR/pg_ctl" stop -w -t 60 -m fast -D "$AG_DATA" >/dev/null
}

ag_cluster_restart() {
	ag_cluster_stop || return 1
	if ! ag_pg_ctl_start; then
		echo "cluster.sh: restart failed; end of the server log:" >&2
		tail -n 20 "$AG_LOG" >&2
		return 1
	fi
}

# Replace override.conf with the given lines (one setting each) and restart.
ag_conf_override() {
	printf '%s\n' "$@" | ag_as_owner tee "$AG_DATA/override.conf" >/dev/null
	ag_cluster_restart
}

ag_conf_reset() {
	ag_as_owner rm -f "$AG_DATA/override.conf"
	ag_cluster_restart
}

ag_log_offset() {
	stat -c %s "$AG_LOG"
}

ag_log_since() {
	tail -c +"$(($1 + 1))" "$AG_LOG"
}

ag_psql() {
	PGOPTIONS='-c client_min_messages=warning' \
		"$AG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 "$@"
}

# Stop the server (immediately if fast stop fails) and remove its files.
ag_cluster_cleanup() {
	local name
	trap '' PIPE
	for name in "${!AG_SESSION_FD[@]}"; do
		ag_session_close "$name"
	done
	[ "${AG_CLUSTER_OWNED:-0}" = 1 ] || return 0
	AG_CLUSTER_OWNED=0
	if [ -f "$AG_DATA/postmaster.pid" ]; then
		ag_cluster_stop 2>/dev/null ||
			ag_as_owner "$AG_BINDIR/pg_ctl" stop -m immediate -D "$AG_DATA" >/dev/null 2>&1
	fi
	if [ "${AG_KEEP:-0}" = 1 ]; then
		echo "cluster.sh: kept $AG_DIR" >&2
	else
		rm -rf "$AG_DIR"
	fi
}

# Open sessions: psql reads a fifo we keep open, and writes to a file.
declare -gA AG_SESSION_FD=() AG_SESSION_PID=() AG_SESSION_BACKEND=()

ag_session_open() {
	local name=$1 db=${2:-$PGDATABASE} fifo="$AG_DIR/session.$1" fd
	rm -f "$fifo" "$fifo.out"
	mkfifo "$fifo"
	: >"$fifo.out"
	"$AG_BINDIR/psql" -X -q -At -v ON_ERROR_STOP=0 -d "$db" \
		<"$fifo" >"$fifo.out" 2>&1 &
	AG_SESSION_PID[$name]=$!
	exec {fd}>"$fifo"
	AG_SESSION_FD[$name]=$fd
	echo 0 >"$AG_DIR/session.$name.seq"
	# wait until it is connected
	AG_SESSION_BACKEND[$name]=$(ag_session_run "$name" '\set VERBOSITY sqlstate
SELECT pg_backend_pid();')
}

# Send SQL to an open session without waiting for it (it may block on a
# lock); ag_session_wait collects its output.  A final semicolon is added
# when missing, so the marker is not swallowed.
ag_session_send() {
	local name=$1 sql=$2 seq
	# state in files, so that $(ag_session_run …) keeps it
	seq=$(($(cat "$AG_DIR/session.$name.seq") + 1))
	echo "$seq" >"$AG_DIR/session.$name.seq"
	stat -c %s "$AG_DIR/session.$name.out" >"$AG_DIR/session.$name.start"
	if ! kill -0 "${AG_SESSION_PID[$name]}" 2>/dev/null; then
		echo "cluster.sh: session $name has ended" >&2
		return 1
	fi
	case "$sql" in *";") ;; *) sql="$sql;" ;; esac
	# in a subshell: a write to a fifo nobody reads raises SIGPIPE
	if ! (printf '%s\n\\echo __ag_done_%s__\n' "$sql" "$seq" \
		>&"${AG_SESSION_FD[$name]}") 2>/dev/null; then
		echo "cluster.sh: session $name does not read" >&2
		return 1
	fi
}

# Wait (up to $2 seconds, default 30) for the last SQL sent to a session;
# print its output.  Returns 2 on a time-out, leaving it pending.
ag_session_wait() {
	local name=$1 limit=${2:-30} out="$AG_DIR/session.$1.out" seq start i
	seq=$(cat "$AG_DIR/session.$name.seq")
	start=$(cat "$AG_DIR/session.$name.start")
	for ((i = 0; i < limit * 20; i++)); do
		if grep -q "^__ag_done_${seq}__\$" "$out"; then
			tail -c +"$((start + 1))" "$out" |
				grep -v "^__ag_done_${seq}__\$"
			return 0
		fi
		if ! kill -0 "${AG_SESSION_PID[$name]}" 2>/dev/null; then
			echo "cluster.sh: session $name ended" >&2
			return 1
		fi
		sleep 0.05
	done
	[ "$limit" -lt 30 ] || echo "cluster.sh: session $name did not answer in $limit s" >&2
	return 2
}

# Run SQL in an open session and print its output.
ag_session_run() {
	ag_session_send "$1" "$2" && ag_session_wait "$1"
}

# Wait up to 10 s until the session's backend waits for a lock.
ag_session_blocked() {
	local i
	for ((i = 0; i < 200; i++)); do
		[ "$(ag_scalar postgres "SELECT wait_event_type FROM pg_stat_activity
			WHERE pid = ${AG_SESSION_BACKEND[$1]}")" = Lock ] && return 0
		sleep 0.05
	done
	return 1
}

ag_session_close() {
	local name=$1 fd=${AG_SESSION_FD[$1]:-}
	[ -n "$fd" ] || return 0
	local pid=${AG_SESSION_PID[$name]} i
	(printf '\\q\n' >&"$fd") 2>/dev/null
	exec {fd}>&-
	# a session blocked on a lock would not read \q: end it after 5 s
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	unset "AG_SESSION_FD[$name]" "AG_SESSION_PID[$name]" "AG_SESSION_BACKEND[$name]"
}

# Assertions for scenario scripts.
AG_CHECKS=0
AG_FAILED=0

ag_pass() {
	AG_CHECKS=$((AG_CHECKS + 1))
	echo "ok $AG_CHECKS - $1"
}

ag_fail() {
	AG_CHECKS=$((AG_CHECKS + 1))
	AG_FAILED=$((AG_FAILED + 1))
	echo "not ok $AG_CHECKS - $1"
	shift
	[ $# -eq 0 ] || printf '#   %s\n' "$@"
}

ag_ok() {
	local desc=$1 out
	shift
	if out=$("$@" 2>&1); then
		ag_pass "$desc"
	else
		ag_fail "$desc" "command: $*" "$out"
	fi
}

ag_is() {
	if [ "$1" = "$2" ]; then
		ag_pass "$3"
	else
		ag_fail "$3" "got:  $1" "want: $2"
	fi
}

ag_scalar() {
	"$AG_BINDIR/psql" -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "$2"
}

# SQL must fail with the SQLSTATE; psql prints "ERROR:  <code>" in
# VERBOSITY sqlstate mode.
ag_sqlstate() {
	local db=$1 want=$2 sql=$3 desc=${4:-"$3 fails with $2"} out got
	out=$(printf '\\set VERBOSITY sqlstate\n%s\n' "$sql" |
		"$AG_BINDIR/psql" -X -q -At -v ON_ERROR_STOP=1 -d "$db" 2>&1)
	got=$(printf '%s\n' "$out" | sed -n 's/.*ERROR:  \([0-9A-Z]\{5\}\)$/\1/p' | head -n 1)
	if [ "$got" = "$want" ]; then
		ag_pass "$desc"
	else
		ag_fail "$desc" "want SQLSTATE $want, got: ${got:-no error}" "$out"
	fi
}

ag_done() {
	echo "# $((AG_CHECKS - AG_FAILED)) of $AG_CHECKS checks passed"
	[ "$AG_FAILED" -eq 0 ] && [ "$AG_CHECKS" -gt 0 ]
}

# A scenario's own database and roles, made afresh (left over from an
# interrupted run or not).
ag_fresh_database() {
	local db=$1 role sql
	shift
	ag_drop_database "$db" "$@" || return 1
	sql="CREATE DATABASE $db;"
	for role in "$@"; do
		sql="CREATE ROLE $role; $sql"
	done
	ag_psql -d postgres <<<"$sql"
}

ag_drop_database() {
	local db=$1 role sql
	shift
	sql="DROP DATABASE IF EXISTS $db;"
	for role in "$@"; do
		sql="$sql DROP ROLE IF EXISTS $role;"
	done
	ag_psql -d postgres <<<"$sql"
}
