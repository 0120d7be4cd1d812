#!/usr/bin/env bash
# bench/run.sh: what `make bench` runs.
#
# Measures what audit_guard costs, as ratios against a baseline taken in the
# same run on the same throwaway cluster (scripts/cluster.sh), so that the
# figures hold on a noisy machine:
#
#   1. pgbench TPC-B with the library not loaded vs loaded;
#   2. an INSERT-only audit workload (bench/insert.sql, one row with a jsonb
#      payload per transaction) into an unprotected table, an audit_guard
#      table and a table guarded by a PL/pgSQL trigger (bench/setup.sql);
#   3. TPC-B and that INSERT workload, library not loaded vs loaded, in
#      databases with 1, 1,000 and 10,000 protected tables, and TPC-B with
#      a new connection per transaction (pgbench -C) with 1 and 10,000;
#   4. the time a refused UPDATE of a 1,000,000-row table takes to fail, as
#      psql's \timing sees it, against the same UPDATE refused by the
#      PL/pgSQL trigger;
#   5. a CREATE TABLE / DROP TABLE loop (bench/ddl.sql) on unprotected
#      tables, library not loaded vs loaded;
#   6. tamper evidence: the INSERT workload into an audit_guard table
#      sealed every second (a seal() each second, beside pgbench) vs never
#      sealed, and vs a table chained by the hand-rolled PL/pgSQL
#      hash-chain trigger (bench/setup.sql);
#   7. seal(), verify() and audit_guard_verify (over the Unix socket) on
#      BIG_ROWS rows of about 200 bytes, against a PL/pgSQL verification
#      function over the same rows and against sha256sum over the table's
#      COPY ... TO STDOUT (FORMAT binary) output: rows/s and MB/s.
#   8. then bench/purge.sh, on a cluster of its own: purge() of 1,000,000
#      expired rows against a plain DELETE of them, and INSERT during a
#      purge against INSERT without one (issue 11; see that script).
#
# Each comparison is a pair of pgbench runs back to back, every run from a
# fresh restart (the library can only be loaded or dropped by one; it takes
# a quarter of a second) and a CHECKPOINT; which side goes first turns with
# the round.  A control pair with the library loaded on neither side shows
# how far noise alone moves a ratio.  Besides tps, each run records the
# CPU time the server's client backends used per transaction (from the
# postmaster's reaped children), which other load on the machine disturbs
# less than throughput.  The table shows medians over rounds; a ratio is
# the median of the rounds' ratios, so that slow drift cancels.  Ratios are
# speed ratios: above 1 means faster with audit_guard.
#
# On a shared machine a 1 % difference is below what wall-clock figures can
# resolve (see the control row); bench/callgrind.sh counts instructions
# instead and resolves 0.05 %.
#
# Raw numbers go to bench/results/<timestamp>.csv, pgbench's output to
# <timestamp>.log and the printed table to <timestamp>.txt.
#
# Environment:
#   BENCH_SECONDS  length of one pgbench run (default 3)
#   BENCH_ROUNDS   rounds (default 6)
#   BENCH_SCALE    pgbench scale (default 4)
#   BENCH_SMOKE=1  a run of about 15 seconds that exercises every workload
#                  (fixed transaction counts, 10 and 100 protected tables,
#                  10,000 rows); its figures mean nothing
#   BENCH_INSTALL=0  use the installed audit_guard instead of building and
#                  installing this tree first
#   BENCH_PURGE=0  skip bench/purge.sh (which reads BENCH_SMOKE and its
#                  own BENCH_PURGE_* settings)
#   AG_KEEP=1      keep the cluster directory afterwards

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
cd "$ROOT"
export PG_CONFIG=${PG_CONFIG:-pg_config}
AG_BINDIR=$("$PG_CONFIG" --bindir)
export AG_BINDIR

# shellcheck source=scripts/cluster.sh
source "$ROOT/scripts/cluster.sh"

SMOKE=${BENCH_SMOKE:-0}
if [ "$SMOKE" = 1 ]; then
	ROUNDS=1
	RUN_LENGTH=(-t 10)
	SCALE=1
	SIZES=(1 10 100)
	BIG_ROWS=10000
	REFUSALS=3
else
	ROUNDS=${BENCH_ROUNDS:-6}
	RUN_LENGTH=(-T "${BENCH_SECONDS:-3}")
	SCALE=${BENCH_SCALE:-4}
	SIZES=(1 1000 10000)
	BIG_ROWS=1000000
	REFUSALS=20				# per table and round
fi
CLIENTS=(-c 2 -j 2)
SMALL=${SIZES[0]}
LARGE=${SIZES[${#SIZES[@]} - 1]}

# The same settings for both sides; only the preload differs.  No
# autovacuum or timed checkpoint may land in one side's run only.
COMMON_CONF=(
	"autovacuum = off"
	"checkpoint_timeout = '1h'"
	"max_wal_size = '4GB'"
)

START=$SECONDS
STAMP=$(date +%Y%m%d-%H%M%S)
[ "$SMOKE" = 1 ] && STAMP=$STAMP-smoke
mkdir -p "$BENCH/results"
CSV=$BENCH/results/$STAMP.csv
LOG=$BENCH/results/$STAMP.log
TXT=$BENCH/results/$STAMP.txt
echo "round,phase,config,registry,workload,value,unit" >"$CSV"
: >"$LOG"

say() {
	printf '[%4ds] %s\n' $((SECONDS - START)) "$*" >&2
}

die() {
	say "bench: $*"
	exit 1
}

# Append one raw measurement to the CSV.
record() {
	local IFS=,
	echo "$*" >>"$CSV"
}

machine() {
	echo "nproc: $(nproc)"
	echo "CPU: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
	echo "RAM: $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
	echo "PostgreSQL: $("$AG_BINDIR/postgres" --version)"
	echo "audit_guard: $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)"
	if [ "$SMOKE" = 1 ]; then
		echo "run: smoke (BENCH_SMOKE=1): figures are meaningless"
	else
		echo "run: $ROUNDS rounds of ${RUN_LENGTH[1]} s per pgbench run, scale $SCALE, ${CLIENTS[*]}"
	fi
}

build_and_install() {
	local pkglibdir sudo=()
	[ "${BENCH_INSTALL:-1}" = 0 ] && return 0
	say "build and install audit_guard"
	make -s -C "$ROOT" PG_CONFIG="$PG_CONFIG" >&2
	pkglibdir=$("$PG_CONFIG" --pkglibdir)
	if [ "$(id -u)" -ne 0 ] && [ ! -w "$pkglibdir" ]; then
		sudo=(sudo)
	fi
	"${sudo[@]}" make -s -C "$ROOT" install PG_CONFIG="$PG_CONFIG" >&2
}

q() {
	ag_psql -At "$@"
}

db_of() {
	echo "bench_$1"
}

# Restart with the library loaded (on) or not (off), and make sure of it.
# Every measurement starts from such a restart, so both sides start alike.
set_state() {
	local lines=("${COMMON_CONF[@]}")
	[ "$1" = off ] && lines+=("shared_preload_libraries = ''")
	ag_conf_override "${lines[@]}" || die "restart failed"
	if [ "$1" = off ]; then
		[ -z "$(q -d postgres -c 'SHOW shared_preload_libraries')" ] ||
			die "audit_guard still preloaded"
	else
		[ "$(q -d "$(db_of "$SMALL")" -c 'SELECT audit_guard.hooks_active()')" = t ] ||
			die "audit_guard hooks are not active"
	fi
	POSTMASTER=$(head -n 1 "$AG_DATA/postmaster.pid")
}

# Wait until the postmaster has reaped every client backend, so that their
# CPU time is in its cutime and cstime.
backends_gone() {
	local i
	for ((i = 0; i < 500; i++)); do
		pgrep -P "$POSTMASTER" -f '^postgres: postgres ' >/dev/null || return 0
		sleep 0.01
	done
	die "client backends did not exit"
}

# CPU time, in clock ticks, of the postmaster's reaped children.
reaped_cpu_ticks() {
	backends_gone
	awk '{ print $16 + $17 }' "/proc/$POSTMASTER/stat"
}

# One pgbench run: pgbench_run ROUND PHASE CONFIG REGISTRY WORKLOAD ARGS…
# Records the tps and the server's CPU time per transaction (client
# backends only: the time the postmaster's reaped children used).
pgbench_run() {
	local round=$1 phase=$2 config=$3 registry=$4 workload=$5 db out tps
	local count before after
	shift 5
	db=$(db_of "$registry")
	# what pgbench would do before TPC-B, done here so that it is not timed
	if [ "$workload" = tpcb ] || [ "$workload" = tpcb_connect ]; then
		q -d "$db" -c 'VACUUM pgbench_branches' -c 'VACUUM pgbench_tellers' \
			-c 'TRUNCATE pgbench_history'
	fi
	[ "$workload" = ddl ] && q -d "$db" -c 'DROP TABLE IF EXISTS bench_ddl_0, bench_ddl_1'
	q -d "$db" -c CHECKPOINT
	before=$(reaped_cpu_ticks)
	if ! out=$("$AG_BINDIR/pgbench" -n "${RUN_LENGTH[@]}" "${CLIENTS[@]}" "$@" "$db" 2>&1); then
		printf '%s\n' "$out" >&2
		die "pgbench failed: $workload in $db ($config)"
	fi
	after=$(reaped_cpu_ticks)
	printf '== round %s %s %s registry=%s %s\n%s\n' "$round" "$phase" \
		"$config" "$registry" "$workload" "$out" >>"$LOG"
	# "(without initial connection time)", or with -C "(including
	# reconnection times)"
	tps=$(sed -n 's/^tps = \([0-9.]*\) (\(without initial connection\|including reconnection\) times\?)$/\1/p' <<<"$out")
	count=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$out")
	if [ -z "$tps" ] || [ "${count:-0}" -eq 0 ]; then
		die "no tps in pgbench's output for $workload"
	fi
	record "$round" "$phase" "$config" "$registry" "$workload" "$tps" tps
	record "$round" "$phase" "$config" "$registry" "$workload" \
		"$(awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" -v n="$count" \
			'BEGIN { printf "%.2f", t * 1e6 / hz / n }')" cpu_us
}

# The pgbench arguments of a workload.
workload_args() {
	case $1 in
		tpcb) ;;
		tpcb_connect) echo "-C" ;;
		insert) echo "-f $BENCH/insert.sql -D audit_table=$2" ;;
		ddl) echo "-f $BENCH/ddl.sql" ;;
	esac
}

# A workload in one database, library not loaded and loaded, back to back;
# which side goes first turns with the round.
measure_pair() {
	local round=$1 workload=$2 registry=$3 state args
	# shellcheck disable=SC2207
	args=($(workload_args "$workload" audit_guarded))
	for state in off on; do
		[ $((round % 2)) -eq 0 ] && state=$([ "$state" = off ] && echo on || echo off)
		set_state "$state"
		pgbench_run "$round" preload "$state" "$registry" "$workload" "${args[@]}"
	done
}

# The control: TPC-B with the library loaded on neither side of the pair,
# measured exactly like a real pair.  How far its ratio strays from 1 is
# how far noise alone moves a ratio in this run.
measure_control() {
	local round=$1 side
	for side in a b; do
		set_state off
		pgbench_run "$round" control "$side" "$SMALL" tpcb
	done
}

# The workloads whose cost is the library itself, at every registry size.
measure_preload() {
	local round=$1 size
	say "round $round/$ROUNDS: library not loaded vs loaded"
	measure_control "$round"
	for size in "${SIZES[@]}"; do
		measure_pair "$round" tpcb "$size"
		measure_pair "$round" insert "$size"
	done
	measure_pair "$round" tpcb_connect "$SMALL"
	measure_pair "$round" tpcb_connect "$LARGE"
	measure_pair "$round" ddl "$SMALL"
	measure_pair "$round" ddl "$LARGE"
}

# INSERT into the three kinds of audit table, library loaded; the order
# turns with the round.
measure_tables() {
	local round=$1 i kinds=(unprotected audit_guard plpgsql) kind table args
	say "round $round/$ROUNDS: unprotected, audit_guard and PL/pgSQL tables"
	for i in 0 1 2; do
		kind=${kinds[$(((i + round) % 3))]}
		case $kind in
			unprotected) table=audit_plain ;;
			audit_guard) table=audit_guarded ;;
			plpgsql) table=audit_plpgsql ;;
		esac
		# shellcheck disable=SC2207
		args=($(workload_args insert "$table"))
		set_state on
		pgbench_run "$round" table "$kind" "$SMALL" insert "${args[@]}"
	done
}

# A seal() of audit_guarded every second, in the background, until the
# file $1 appears; each seal() is its own connection, so that its CPU time
# counts in the server's (reaped) CPU time of the run.
sealer() {
	local stop=$1 db
	db=$(db_of "$SMALL")
	while [ ! -e "$stop" ]; do
		q -d "$db" -c "SELECT count(*) FROM audit_guard.seal('audit_guarded')" >/dev/null ||
			say "seal() failed"
		sleep 1
	done
}

# INSERT into the audit_guard table never sealed and sealed every second,
# and into the PL/pgSQL hash-chain table; library loaded; the order turns
# with the round.
measure_sealed_inserts() {
	local round=$1 i kinds=(never every_second plpgsql_chain) kind table args stop pid
	say "round $round/$ROUNDS: INSERT never sealed, sealed every second, PL/pgSQL chain"
	for i in 0 1 2; do
		kind=${kinds[$(((i + round) % 3))]}
		table=$([ "$kind" = plpgsql_chain ] && echo audit_chain || echo audit_guarded)
		# shellcheck disable=SC2207
		args=($(workload_args insert "$table"))
		set_state on
		stop=$AG_DIR/sealer.stop
		rm -f "$stop"
		if [ "$kind" = every_second ]; then
			sealer "$stop" &
			pid=$!
		fi
		pgbench_run "$round" seal "$kind" "$SMALL" insert "${args[@]}"
		if [ "$kind" = every_second ]; then
			touch "$stop"
			wait "$pid"
		fi
	done
}

# Milliseconds a command takes (wall clock).
elapsed_ms() {
	local start end
	start=$(date +%s%N)
	"$@" >/dev/null || die "failed: $*"
	end=$(date +%s%N)
	echo $(((end - start) / 1000000))
}

# seal() of a fresh copy of the big table, verify() of it, the PL/pgSQL
# verification function, sha256sum over COPY binary, audit_guard_verify.
measure_sealing() {
	local round=$1 db table ms
	db=$(db_of "$SMALL")
	table=seal_copy_$round
	say "round $round/$ROUNDS: seal, verify, PL/pgSQL, sha256sum, audit_guard_verify on $BIG_ROWS rows"
	set_state on
	q -d "$db" >/dev/null <<-EOF
		CREATE TABLE $table (LIKE seal_source INCLUDING ALL);
		INSERT INTO $table SELECT * FROM seal_source;
		SELECT audit_guard.protect('$table');
		VACUUM ANALYZE $table;
		CHECKPOINT;
	EOF
	ms=$(elapsed_ms q -d "$db" -c "SELECT \"rows\" FROM audit_guard.seal('$table')")
	record "$round" sealing seal "$SMALL" big "$ms" ms
	ms=$(elapsed_ms q -d "$db" -c "SELECT count(*) FROM audit_guard.verify('$table'::regclass)")
	record "$round" sealing verify "$SMALL" big "$ms" ms
	ms=$(elapsed_ms q -d "$db" -c "SELECT bench_plpgsql_verify('$table')")
	record "$round" sealing plpgsql_verify "$SMALL" big "$ms" ms
	ms=$(elapsed_ms bash -c "\"$AG_BINDIR/psql\" -X -q -d $db -c 'COPY $table TO STDOUT (FORMAT binary)' | sha256sum")
	record "$round" sealing copy_sha256sum "$SMALL" big "$ms" ms
	ms=$(elapsed_ms "$AG_BINDIR/audit_guard_verify" -q -d "$db" "$table")
	record "$round" sealing client_verify "$SMALL" big "$ms" ms
	[ "$(q -d "$db" -c "SELECT count(*) FROM audit_guard.verify('$table'::regclass)")" = 0 ] ||
		die "verify() of $table found problems"
	BIG_BYTES=$("$AG_BINDIR/psql" -X -q -d "$db" -c "COPY $table TO STDOUT (FORMAT binary)" | wc -c)
	q -d "$db" -c "DROP TABLE $table" >/dev/null 2>&1 || true
}

# Time REFUSALS refused UPDATEs of a big table, as psql's \timing sees
# them, after checking that the first one is refused with the SQLSTATE.
time_refusals() {
	local round=$1 config=$2 table=$3 sqlstate=$4 db out errors ms
	db=$(db_of "$SMALL")
	out=$({
		echo '\set VERBOSITY sqlstate'
		echo "UPDATE $table SET hits = hits + 1;"
	} | "$AG_BINDIR/psql" -X -q -d "$db" 2>&1)
	[ "$out" = "ERROR:  $sqlstate" ] ||
		die "UPDATE of $table was not refused with $sqlstate: $out"
	out=$({
		printf '%s\n' '\set VERBOSITY sqlstate' '\timing on'
		for ((i = 0; i < REFUSALS; i++)); do
			echo "UPDATE $table SET hits = hits + 1;"
		done
	} | "$AG_BINDIR/psql" -X -q -d "$db" 2>&1)
	errors=$(grep -c "^ERROR:  $sqlstate\$" <<<"$out" || true)
	[ "$errors" -eq "$REFUSALS" ] ||
		die "expected $REFUSALS refusals of $table, got: $out"
	sed -n 's/^Time: \([0-9.]*\) ms$/\1/p' <<<"$out" | while read -r ms; do
		record "$round" refusal "$config" "$SMALL" update_big "$ms" ms
	done
}

measure_refusals() {
	local round=$1
	if [ $((round % 2)) -eq 1 ]; then
		time_refusals "$round" audit_guard big_guarded 23000
		time_refusals "$round" plpgsql big_plpgsql P0001
	else
		time_refusals "$round" plpgsql big_plpgsql P0001
		time_refusals "$round" audit_guard big_guarded 23000
	fi
}

setup() {
	local size prev
	say "start a throwaway cluster"
	ag_cluster_start || die "the cluster did not start"
	ag_conf_override "${COMMON_CONF[@]}" || die "restart failed"
	q -d postgres -c "CREATE DATABASE $(db_of "$SMALL")"
	say "pgbench -i -s $SCALE"
	"$AG_BINDIR/pgbench" -i -q -s "$SCALE" "$(db_of "$SMALL")" >>"$LOG" 2>&1 ||
		die "pgbench -i failed; see $LOG"
	q -d "$(db_of "$SMALL")" -f "$BENCH/setup.sql" >/dev/null
	# each larger registry starts as a copy of the previous database
	prev=$SMALL
	for size in "${SIZES[@]:1}"; do
		say "a database with $size protected tables"
		q -d postgres -c "CREATE DATABASE $(db_of "$size") TEMPLATE $(db_of "$prev")"
		q -d "$(db_of "$size")" -c "CALL bench_protect_more($size)"
		prev=$size
	done
	for size in "${SIZES[@]}"; do
		[ "$(q -d "$(db_of "$size")" -c 'SELECT count(*) FROM audit_guard.registry')" = "$size" ] ||
			die "$(db_of "$size") does not have $size protected tables"
	done
	say "two tables of $BIG_ROWS rows"
	q -d "$(db_of "$SMALL")" -v rows="$BIG_ROWS" >/dev/null <<-'EOF'
		CREATE TABLE big_guarded AS
			SELECT g AS id, 0 AS hits FROM generate_series(1, :rows) g;
		ALTER TABLE big_guarded ADD PRIMARY KEY (id);
		CREATE TABLE big_plpgsql (LIKE big_guarded INCLUDING ALL);
		INSERT INTO big_plpgsql SELECT * FROM big_guarded;
		SELECT audit_guard.protect('big_guarded');
		CREATE TRIGGER audit_append_only
			BEFORE UPDATE OR DELETE ON big_plpgsql
			FOR EACH ROW EXECUTE FUNCTION audit_forbid_change();
		VACUUM ANALYZE big_guarded, big_plpgsql;
	EOF
	say "the source of the tables seal() and verify() are timed on: $BIG_ROWS rows"
	q -d "$(db_of "$SMALL")" -v rows="$BIG_ROWS" >/dev/null <<-'EOF'
		CREATE TABLE seal_source (id bigint PRIMARY KEY, at timestamptz NOT NULL,
								  actor text NOT NULL, action text NOT NULL, payload jsonb);
		INSERT INTO seal_source
		SELECT g, '2026-01-01'::timestamptz + g * interval '1 second', 'user_' || g % 1000,
			   'login', jsonb_build_object('ip', '10.0.' || g % 250 || '.' || g % 200,
										   'agent', 'Mozilla/5.0 (X11; Linux x86_64)',
										   'session', md5(g::text), 'n', g)
		  FROM generate_series(1, :rows) g;
	EOF
}

# Medians and paired ratios, one line per comparison:
# phase|registry|workload|unit|baseline|with|ratio|order|uncertainty
# A side's figure is the median of its per-round medians; the ratio is the
# median of the per-round speed ratios (with/baseline for tps,
# baseline/with for times).  The uncertainty is two standard errors of
# that median, from the scatter of the rounds' ratios (1.2533 s / sqrt n,
# on a log scale): a difference smaller than it is not resolved.
summarize() {
	q -d postgres -F '|' <<-EOF
		CREATE TEMP TABLE raw (round int, phase text, config text,
			registry int, workload text, value float8, unit text);
		\copy raw FROM '$CSV' WITH (FORMAT csv, HEADER)
		WITH per_round AS (
			SELECT phase, config, registry, workload, round, unit,
				   percentile_cont(0.5) WITHIN GROUP (ORDER BY value) AS value
			  FROM raw GROUP BY 1, 2, 3, 4, 5, 6
		), wanted (ord, phase, base, side) AS (
			VALUES (1, 'preload', 'off', 'on'),
				   (2, 'table', 'unprotected', 'audit_guard'),
				   (3, 'table', 'plpgsql', 'audit_guard'),
				   (4, 'refusal', 'plpgsql', 'audit_guard'),
				   (5, 'control', 'a', 'b'),
				   (6, 'seal', 'never', 'every_second'),
				   (7, 'seal', 'plpgsql_chain', 'every_second')
		), pairs AS (
			SELECT b.phase, b.registry, b.workload, b.unit, x.ord,
				   b.value AS base, w.value AS side,
				   -- a CPU figure of 0 (below the clock's resolution in a smoke
				   -- run) gives no ratio rather than a zero whose log fails
				   CASE b.unit WHEN 'tps' THEN w.value / nullif(b.value, 0)
							   ELSE b.value / nullif(w.value, 0) END AS ratio
			  FROM wanted x
			  JOIN per_round b ON (b.phase, b.config) = (x.phase, x.base)
			  JOIN per_round w
				ON (w.phase, w.config, w.registry, w.workload, w.round, w.unit) =
				   (x.phase, x.side, b.registry, b.workload, b.round, b.unit)
		)
		SELECT phase, registry, workload, unit,
			   round(percentile_cont(0.5) WITHIN GROUP (ORDER BY base)::numeric, 2),
			   round(percentile_cont(0.5) WITHIN GROUP (ORDER BY side)::numeric, 2),
			   round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ratio)::numeric, 3),
			   ord,
			   round((percentile_cont(0.5) WITHIN GROUP (ORDER BY ratio) *
					  2 * 1.2533 * stddev_samp(ln(nullif(ratio, 0))) / sqrt(count(*)))::numeric, 3)
		  FROM pairs
		 GROUP BY phase, registry, workload, unit, ord;
		SELECT 'max', max(value) FILTER (WHERE config = 'plpgsql'),
			   max(value) FILTER (WHERE config = 'audit_guard')
		  FROM raw WHERE phase = 'refusal';
		-- sealing: the median time of each, and the median of the rounds'
		-- ratios against seal() and verify()
		WITH r AS (
			SELECT round, max(value) FILTER (WHERE config = 'seal') AS seal,
				   max(value) FILTER (WHERE config = 'verify') AS verify,
				   max(value) FILTER (WHERE config = 'plpgsql_verify') AS plpgsql,
				   max(value) FILTER (WHERE config = 'copy_sha256sum') AS floor,
				   max(value) FILTER (WHERE config = 'client_verify') AS client
			  FROM raw WHERE phase = 'sealing' GROUP BY round
		)
		SELECT 'sealing',
			   percentile_cont(0.5) WITHIN GROUP (ORDER BY seal),
			   percentile_cont(0.5) WITHIN GROUP (ORDER BY verify),
			   percentile_cont(0.5) WITHIN GROUP (ORDER BY plpgsql),
			   percentile_cont(0.5) WITHIN GROUP (ORDER BY floor),
			   percentile_cont(0.5) WITHIN GROUP (ORDER BY client),
			   round(percentile_cont(0.5) WITHIN GROUP (ORDER BY plpgsql / nullif(seal, 0))::numeric, 2),
			   round(percentile_cont(0.5) WITHIN GROUP (ORDER BY plpgsql / nullif(verify, 0))::numeric, 2),
			   round(percentile_cont(0.5) WITHIN GROUP (ORDER BY seal / nullif(floor, 0))::numeric, 2),
			   round(percentile_cont(0.5) WITHIN GROUP (ORDER BY verify / nullif(floor, 0))::numeric, 2),
			   round(percentile_cont(0.5) WITHIN GROUP (ORDER BY client / nullif(verify, 0))::numeric, 2)
		  FROM r;
	EOF
}

# The summary as a Markdown table, in the order of the issue's list.
print_table() {
	awk -F '|' -v small="$SMALL" -v big="$BIG_ROWS" '
		function commas(n,   s, r) {
			s = sprintf("%d", n); r = ""
			while (length(s) > 3) {
				r = "," substr(s, length(s) - 2) r
				s = substr(s, 1, length(s) - 3)
			}
			return s r
		}
		function tables(n) {
			return commas(n) " protected table" (n == 1 ? "" : "s")
		}
		function fmt(v, unit) {
			return unit == "tps" ? commas(v + 0.5) " tps" : sprintf("%.2f ms", v)
		}
		function ratio(r, hw) {
			return hw == "" ? sprintf("%.3f", r) : sprintf("%.3f ± %.3f", r, hw)
		}
		$1 == "max" || $1 == "sealing" { next }
		$4 == "cpu_us" { cpu[$1 "|" $2 "|" $3 "|" $8] = ratio($7, $9); next }
		{
			if ($1 == "control") {
				sec = 0
				label = "control: TPC-B, library loaded on neither side (the noise floor)"
			} else if ($1 == "preload" && $3 == "tpcb") {
				sec = ($2 == small) ? 1 : 3
				label = "TPC-B, library not loaded vs loaded, " tables($2)
			} else if ($1 == "preload" && $3 == "tpcb_connect") {
				sec = 3
				label = "TPC-B, a new connection per transaction, library not loaded vs loaded, " tables($2)
			} else if ($1 == "preload" && $3 == "insert") {
				sec = 3
				label = "INSERT jsonb into an audit_guard table, library not loaded vs loaded, " tables($2)
			} else if ($1 == "preload") {
				sec = 5
				label = "CREATE + DROP TABLE, library not loaded vs loaded, " tables($2)
			} else if ($1 == "table") {
				sec = 2
				label = "INSERT jsonb: " ($8 == 2 ? "unprotected" : "PL/pgSQL-trigger") \
					" table vs audit_guard table"
			} else if ($1 == "seal") {
				sec = 6
				label = "INSERT jsonb: " ($8 == 6 ? "audit_guard table never sealed" : \
					"PL/pgSQL hash-chain trigger") " vs audit_guard table sealed every second"
			} else {
				sec = 4
				label = "refused UPDATE of " commas(big) " rows, time to error: PL/pgSQL trigger vs audit_guard"
			}
			n++
			key[n] = $1 "|" $2 "|" $3 "|" $8
			line[n] = sprintf("%d %d %08d\t| (%d) %s | %s | %s | %s |", sec,
				($3 == "tpcb" ? 0 : $3 == "insert" ? 1 : 2) * 10 + $8, $2, sec, label,
				fmt($5, $4), fmt($6, $4), ratio($7, $9))
		}
		END {
			for (i = 1; i <= n; i++)
				print line[i] " " (key[i] in cpu ? cpu[key[i]] : "-") " |"
		}' <<<"$1" | sort | cut -f 2- |
		{
			echo "| workload | baseline | with audit_guard | ratio | CPU ratio |"
			echo "|---|--:|--:|--:|--:|"
			cat
		}
	echo
	echo "Figures are medians over rounds.  ratio: the median of the rounds'"
	echo "speed ratios (with/baseline for tps, baseline/with for times); above 1"
	echo "means faster with audit_guard; ± two standard errors of that median,"
	echo "from the scatter of the rounds: a smaller difference is not resolved."
	echo "CPU ratio: the same for the server's CPU time per transaction (client"
	echo "backends, baseline/with).  (0) pairs two runs without the library."
	echo "In (6) the CPU time includes the seal() backends'."
	print_sealing "$1"
}

# The timings of (7): seal(), verify(), audit_guard_verify and the two
# baselines on the big table, with rows/s and MB/s (MB of the table's COPY
# binary output: the bytes hashed).
print_sealing() {
	awk -F '|' -v rows="$BIG_ROWS" -v bytes="${BIG_BYTES:-0}" '
		function commas(n,   s, r) {
			s = sprintf("%d", n); r = ""
			while (length(s) > 3) {
				r = "," substr(s, length(s) - 2) r
				s = substr(s, 1, length(s) - 3)
			}
			return s r
		}
		function line(what, ms) {
			if (ms <= 0) ms = 1
			printf "| %s | %d ms | %s rows/s | %.0f MB/s |\n", what, ms,
				commas(rows * 1000 / ms), bytes / 1e6 * 1000 / ms
		}
		$1 == "sealing" {
			printf "\n(7) %s rows, %d bytes a row as COPY binary (%.0f MB), medians over rounds:\n\n",
				commas(rows), bytes / (rows ? rows : 1), bytes / 1e6
			print "| what | time | rows/s | MB/s |"
			print "|---|--:|--:|--:|"
			line("audit_guard.seal()", $2)
			line("audit_guard.verify()", $3)
			line("audit_guard_verify (client, Unix socket)", $6)
			line("PL/pgSQL verification function (sha256 chain over row_to_json)", $4)
			line("COPY ... TO STDOUT (FORMAT binary), piped to sha256sum", $5)
			printf "\nratios (medians of the rounds): PL/pgSQL / seal() %.2f, PL/pgSQL / verify() %.2f, ", $7, $8
			printf "seal() / sha256sum %.2f, verify() / sha256sum %.2f, audit_guard_verify / verify() %.2f\n", $9, $10, $11
		}' <<<"$1"
}

# The issue's targets for a full run: met, MISSED, or not resolved when
# the uncertainty of the figures straddles the target.
check_targets() {
	if [ "$SMOKE" = 1 ]; then
		echo "smoke run: targets not checked"
		return
	fi
	awk -F '|' -v small="$SMALL" '
		# at least: met when r - hw >= t, MISSED when r + hw < t
		function atleast(r, hw, t) {
			return r - hw >= t ? "met" : r + hw < t ? "MISSED" : "not resolved"
		}
		function show(what, k, t) {
			return sprintf("%s %.3f ± %.3f, %s", what, r[k], hw[k], atleast(r[k], hw[k], t))
		}
		$1 == "max" { pl_max = $2; ag_max = $3; next }
		$1 == "sealing" { pv_seal = $7; pv_verify = $8; fl_seal = $9; fl_verify = $10; cl_verify = $11; next }
		{ u = ($4 == "cpu_us") ? "CPU" : "tps"; k = $1 "|" $2 "|" $3 "|" $8 "|" u
		  r[k] = $7; hw[k] = $9 + 0 }
		$1 == "refusal" && u == "tps" { ms = $6 }
		$1 == "preload" && $3 != "ddl" {
			g = $3 "|" u
			if (!(g in lo) || $7 < r[lo[g]]) lo[g] = k
			if (!(g in hi) || $7 > r[hi[g]]) hi[g] = k
		}
		END {
			printf "noise: the control pair (0) gives tps %.3f ± %.3f, CPU %.3f ± %.3f\n",
				r["control|" small "|tpcb|5|tps"], hw["control|" small "|tpcb|5|tps"],
				r["control|" small "|tpcb|5|CPU"], hw["control|" small "|tpcb|5|CPU"]
			k1 = "preload|" small "|tpcb|1|"; k2 = "table|" small "|insert|2|"
			printf "target (1) TPC-B ratio >= 0.99: %s; %s\n",
				show("tps", k1 "tps", 0.99), show("CPU", k1 "CPU", 0.99)
			printf "target (2) INSERT ratio vs unprotected >= 0.99: %s; %s\n",
				show("tps", k2 "tps", 0.99), show("CPU", k2 "CPU", 0.99)
			split("tpcb insert tpcb_connect", ws, " ")
			split("TPC-B|INSERT|TPC-B with a connection per transaction", names, "|")
			for (i = 1; i <= 3; i++) {
				printf "target (3) %s flat within 2%% across registry sizes:", names[i]
				for (j = 1; j <= 2; j++) {
					u = (j == 1) ? "tps" : "CPU"; g = ws[i] "|" u
					spread = r[hi[g]] - r[lo[g]]; slack = hw[hi[g]] + hw[lo[g]]
					printf " %s %.3f..%.3f, %s%s", u, r[lo[g]], r[hi[g]],
						(spread - slack > 0.02 ? "MISSED" : spread + slack <= 0.02 ? "met" : "not resolved"),
						(j == 1 ? ";" : "\n")
				}
			}
			printf "target (4) refused UPDATE under 5 ms: median %.2f ms (max %.2f ms; PL/pgSQL trigger: max %.2f ms), %s\n",
				ms, ag_max, pl_max, (ms < 5 ? "met" : "MISSED")
			k6 = "seal|" small "|insert|6|"; k7 = "seal|" small "|insert|7|"
			printf "target (6) INSERT sealed every second vs never >= 0.99: %s; %s\n",
				show("tps", k6 "tps", 0.99), show("CPU", k6 "CPU", 0.99)
			printf "report (6) INSERT sealed every second vs PL/pgSQL hash chain: tps %.3f ± %.3f, CPU %.3f ± %.3f\n",
				r[k7 "tps"], hw[k7 "tps"], r[k7 "CPU"], hw[k7 "CPU"]
			printf "target (7) seal() >= 10x PL/pgSQL verification: %.2f, %s\n", pv_seal,
				(pv_seal >= 10 ? "met" : "MISSED")
			printf "target (7) verify() >= 10x PL/pgSQL verification: %.2f, %s\n", pv_verify,
				(pv_verify >= 10 ? "met" : "MISSED")
			printf "target (7) seal() within 3x of sha256sum over COPY binary: %.2f, %s\n", fl_seal,
				(fl_seal <= 3 ? "met" : "MISSED")
			printf "target (7) verify() within 3x of sha256sum over COPY binary: %.2f, %s\n", fl_verify,
				(fl_verify <= 3 ? "met" : "MISSED")
			printf "target (7) audit_guard_verify within 3x of verify(): %.2f, %s\n", cl_verify,
				(cl_verify <= 3 ? "met" : "MISSED")
			print "(bench/callgrind.sh resolves what this machine cannot: instructions per transaction)"
		}' <<<"$1"
}

main() {
	local round summary
	build_and_install
	setup
	for ((round = 1; round <= ROUNDS; round++)); do
		measure_preload "$round"
		measure_tables "$round"
		measure_refusals "$round"
		measure_sealed_inserts "$round"
		measure_sealing "$round"
	done
	say "done: raw numbers in $CSV"
	summary=$(summarize)
	{
		machine
		echo
		print_table "$summary"
		echo
		check_targets "$summary"
	} | tee "$TXT"
	if [ "${BENCH_PURGE:-1}" != 0 ]; then
		# its own cluster: stop this one first
		ag_cluster_cleanup
		echo | tee -a "$TXT"
		BENCH_INSTALL=0 BENCH_STAMP=$STAMP bash "$BENCH/purge.sh" | tee -a "$TXT"
	fi
	say "took $((SECONDS - START)) s; table in $TXT"
}

main "$@"
