#!/usr/bin/env bash
# bench/purge.sh: the benchmark of issue 11 (retention and purge), run by
# `make bench` after bench/run.sh; `bash bench/purge.sh` runs it alone.
#
# On a throwaway cluster of its own (scripts/cluster.sh, preloading
# audit_guard and pg_stat_statements), one template database holds five
# tables of PURGE_ROWS expired rows and PURGE_ROWS / 100 young ones, about
# 200 bytes a row (bigint identity key, timestamptz, two short texts, a
# jsonb of four members, like bench/run.sh's sealing table):
#
#   p_plain     unprotected
#   p_sealed    protected, retention '30 days' by column at, its rows sealed
#               beforehand in blocks of PURGE_BLOCK rows, as a pg_cron job
#               sealing on a schedule would have left them (the young rows
#               in a block of their own)
#   p_unsealed  protected, retention set, never sealed: purge() seals first
#   p_split     the same as p_unsealed, for the timing split
#   p_insert    the same as p_sealed, for the INSERT workload
#
# Each round copies the template (CREATE DATABASE ... STRATEGY file_copy)
# and times, from a CHECKPOINT each, in an order that turns with the round:
#
#   1. DELETE FROM p_plain WHERE at < '<now() - 30 days>' (the baseline;
#      the bound a constant, as purge() passes its own), purge('p_sealed')
#      and purge('p_unsealed'), as psql's \timing sees them; a ratio is the
#      purge's rate over the DELETE's, per round (>= 0.5 is the goal);
#   2. the split: seal('p_split') alone, then purge('p_split') of the rows
#      it sealed; and for every statement above the time of the statements
#      purge() runs inside (pg_stat_statements with track = all): its
#      DELETE, the seal data it writes, the erasure block it writes (and
#      the seal data of whole erased blocks it deletes); the rest is
#      purge()'s own C: reading the seal data, the scan that seals and
#      matches, hashing and sorting;
#   3. pgbench -n -c PURGE_CLIENTS inserting one young row per transaction
#      (bench/purge_insert.sql) into p_insert: idle; then, after sealing
#      what that inserted, while purge('p_insert') runs in another session;
#      then while another session only keeps a CPU busy for as long as the
#      purge took (the control: on a small VM a busy CPU alone changes the
#      rate of one client).  The rate in the purge's time window (for the
#      idle run: the same window, as far into it) and the latencies of the
#      transactions overlapping it, from pgbench's per-transaction log.
#
# Every purge() and DELETE must remove exactly PURGE_ROWS rows; the first
# round also checks that verify() finds nothing wrong after the purges.
# Raw numbers go to bench/results/<stamp>-purge.csv, the printed tables to
# <stamp>-purge.txt.
#
# Environment:
#   BENCH_PURGE_ROUNDS   rounds (default 5)
#   BENCH_PURGE_ROWS     expired rows per table (default 1000000)
#   BENCH_PURGE_BLOCK    rows per block of the tables sealed beforehand
#                        (default 10000)
#   BENCH_PURGE_CLIENTS  pgbench clients of the INSERT workload (default 1:
#                        on a 2-CPU machine one CPU stays for the purge)
#   BENCH_SMOKE=1        1 round of 10,000 rows: exercises everything in a
#                        few seconds; its figures mean nothing
#   BENCH_INSTALL=0      use the installed audit_guard instead of building
#                        and installing this tree first
#   BENCH_STAMP          name of the results files (run.sh passes its own)
#   AG_KEEP=1            keep the cluster directory afterwards

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
cd "$ROOT"
export PG_CONFIG=${PG_CONFIG:-pg_config}
AG_BINDIR=$("$PG_CONFIG" --bindir)
export AG_BINDIR
export AG_PRELOAD=audit_guard,pg_stat_statements

# shellcheck source=scripts/cluster.sh
source "$ROOT/scripts/cluster.sh"

SMOKE=${BENCH_SMOKE:-0}
if [ "$SMOKE" = 1 ]; then
	ROUNDS=1
	ROWS=10000
	BLOCK=1000
else
	ROUNDS=${BENCH_PURGE_ROUNDS:-5}
	ROWS=${BENCH_PURGE_ROWS:-1000000}
	BLOCK=${BENCH_PURGE_BLOCK:-10000}
fi
YOUNG=$((ROWS / 100))
CLIENTS=${BENCH_PURGE_CLIENTS:-1}
KEEP='30 days'
OPS=(plain sealed unsealed split)

# as in bench/run.sh: no autovacuum or timed checkpoint in one side only
COMMON_CONF=(
	"autovacuum = off"
	"checkpoint_timeout = '1h'"
	"max_wal_size = '4GB'"
	"pg_stat_statements.track = all"
)

START=$SECONDS
STAMP=${BENCH_STAMP:-$(date +%Y%m%d-%H%M%S)}
[ "$SMOKE" = 1 ] && [ -z "${BENCH_STAMP:-}" ] && STAMP=$STAMP-smoke
mkdir -p "$BENCH/results"
CSV=$BENCH/results/$STAMP-purge.csv
TXT=$BENCH/results/$STAMP-purge.txt
echo "round,phase,what,metric,value" >"$CSV"

say() {
	printf '[%4ds] purge: %s\n' $((SECONDS - START)) "$*" >&2
}

die() {
	say "$*"
	exit 1
}

record() {
	local IFS=,
	echo "$*" >>"$CSV"
}

q() {
	ag_psql -At "$@"
}

build_and_install() {
	[ "${BENCH_INSTALL:-1}" = 0 ] && return 0
	say "build and install audit_guard"
	ag_build_install >&2 || die "build or install failed"
}

# The template database: the five tables, analyzed, vacuumed (hint bits
# and visibility map set, as on a table some days old) and checkpointed.
setup() {
	say "start a throwaway cluster"
	ag_cluster_start || die "the cluster did not start"
	ag_conf_override "${COMMON_CONF[@]}" || die "restart failed"
	q -d postgres -c "CREATE ROLE purger NOLOGIN" -c "CREATE DATABASE purge_tpl"
	say "template: $ROWS expired rows and $YOUNG young ones in each of five tables"
	q -d purge_tpl -v rows="$ROWS" -v young="$YOUNG" -v keep="$KEEP" >/dev/null <<-'EOF'
		CREATE EXTENSION audit_guard;
		CREATE EXTENSION pg_stat_statements;
		-- a CPU kept busy for ms milliseconds: the INSERT workload's control
		CREATE FUNCTION purge_bench_busy(ms float8) RETURNS bigint
		LANGUAGE plpgsql AS $f$
		DECLARE
			stop	timestamptz := clock_timestamp() + ms * interval '1 millisecond';
			n		bigint := 0;
		BEGIN
			WHILE clock_timestamp() < stop LOOP
				n := n + 1;
			END LOOP;
			RETURN n;
		END
		$f$;
		CREATE TABLE purge_source (
			id		bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
			at		timestamptz NOT NULL,
			actor	text NOT NULL,
			action	text NOT NULL,
			payload	jsonb NOT NULL);
		-- expired: a year and more ago, one a second; young: the last hours
		INSERT INTO purge_source
		SELECT g, CASE WHEN g <= :rows
					   THEN now() - interval '400 days' + g * interval '1 second'
					   ELSE now() - (:rows + :young - g) * interval '1 second' END,
			   'user_' || g % 1000, 'login',
			   jsonb_build_object('ip', '10.0.' || g % 250 || '.' || g % 200,
								  'agent', 'Mozilla/5.0 (X11; Linux x86_64)',
								  'session', md5(g::text), 'n', g)
		  FROM generate_series(1, :rows + :young) g;
		SELECT format('CREATE TABLE %1$I (LIKE purge_source INCLUDING ALL)', t),
			   format('ALTER TABLE %I ALTER COLUMN id RESTART WITH %s', t, :rows + :young + 1)
		  FROM unnest(ARRAY['p_plain', 'p_sealed', 'p_unsealed', 'p_split', 'p_insert']) t
		\gexec
		INSERT INTO p_plain SELECT * FROM purge_source ORDER BY id;
		INSERT INTO p_unsealed SELECT * FROM purge_source ORDER BY id;
		INSERT INTO p_split SELECT * FROM purge_source ORDER BY id;
		SELECT audit_guard.protect(t, 'purger')
		  FROM unnest(ARRAY['p_sealed', 'p_unsealed', 'p_split', 'p_insert']::regclass[]) t;
		SET ROLE purger;
		SELECT audit_guard.set_retention(t, :'keep', 'at')
		  FROM unnest(ARRAY['p_sealed', 'p_unsealed', 'p_split', 'p_insert']::regclass[]) t;
		RESET ROLE;
	EOF
	say "template: seal p_sealed and p_insert in blocks of $BLOCK rows, as they grow"
	q -d purge_tpl -v rows="$ROWS" -v young="$YOUNG" -v block="$BLOCK" >/dev/null <<-'EOF'
		-- each batch committed, then sealed: one block per batch
		SELECT format('INSERT INTO %I SELECT * FROM purge_source'
					  ' WHERE id > %s AND id <= %s ORDER BY id', t, b, least(b + :block, :rows)),
			   format('SELECT count(*) FROM audit_guard.seal(%L)', t)
		  FROM generate_series(0, :rows - 1, :block) b,
			   unnest(ARRAY['p_sealed', 'p_insert']) t
		 ORDER BY b, t
		\gexec
		SELECT format('INSERT INTO %I SELECT * FROM purge_source WHERE id > %s ORDER BY id', t, :rows),
			   format('SELECT count(*) FROM audit_guard.seal(%L)', t)
		  FROM unnest(ARRAY['p_sealed', 'p_insert']) t
		\gexec
		DROP TABLE purge_source;
		VACUUM ANALYZE;
		CHECKPOINT;
	EOF
	[ "$(q -d purge_tpl -c "SELECT count(*) FROM audit_guard.seal_blocks
		WHERE relid = 'p_sealed'::regclass")" = $(((ROWS + BLOCK - 1) / BLOCK + 1)) ] ||
		die "p_sealed does not have the blocks it should"
}

# psql with \timing on: prints the statements' output, then one line per
# statement timed: "ms <milliseconds>".
timed() {
	local db=$1 out
	shift
	out=$({
		printf '%s\n' '\timing on'
		printf '%s\n' "$@"
	} | "$AG_BINDIR/psql" -X -At -v ON_ERROR_STOP=1 -d "$db" 2>&1) ||
		die "failed in $db: $* -- $out"
	sed -e '/^Timing is on\.$/d' -e 's/^Time: \([0-9.]*\) ms.*/ms \1/' <<<"$out"
}

# The time each kind of statement took inside the statement timed last
# (pg_stat_statements, nested statements included), recorded per round.
record_split() {
	local round=$1 op=$2 db=$3 kind ms
	while IFS='|' read -r kind ms; do
		record "$round" split "$op" "$kind" "$ms"
	done < <(q -d "$db" <<-'EOF'
		SELECT kind, round(sum(total_exec_time)::numeric, 2)
		  FROM (SELECT total_exec_time,
					   CASE WHEN query LIKE 'SELECT audit_guard.purge(%' THEN 'total'
							WHEN query LIKE 'DELETE FROM p_plain %' THEN 'total'
							WHEN query LIKE 'DELETE FROM ONLY %' THEN 'delete'
							WHEN query LIKE 'INSERT INTO audit_guard.seal_rows %' THEN 'seal_write'
							WHEN query LIKE 'INSERT INTO audit_guard.seal_blocks %'
								 AND query NOT LIKE '%kind%' THEN 'seal_write'
							WHEN query LIKE '%audit_guard.seal_erasures %'
								 OR query LIKE 'DELETE FROM audit_guard.seal_rows %'
								 OR query LIKE 'INSERT INTO audit_guard.seal_blocks %'
								 OR query LIKE 'INSERT INTO audit_guard.history %' THEN 'erasure_write'
							ELSE 'other' END AS kind
				  FROM pg_stat_statements
				 WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())) s
		 WHERE kind <> 'other'
		 GROUP BY kind
	EOF
	)
}

# One timed statement of a round, from a CHECKPOINT and with the
# statement statistics reset; checks the rows it removed.
time_op() {
	local round=$1 op=$2 db=$3 out ms n
	q -d "$db" -c CHECKPOINT -c 'SELECT pg_stat_statements_reset()' >/dev/null
	case $op in
		plain)
			# the bound as a constant, like purge()'s parameter: no
			# now() - interval computed per row
			out=$(timed "$db" "DELETE FROM p_plain WHERE at < '$(q -d "$db" -c \
				"SELECT now() - interval '$KEEP'")';")
			n=$(sed -n 's/^DELETE \([0-9]*\)$/\1/p' <<<"$out") ;;
		sealed | unsealed | split)
			out=$(timed "$db" "SET ROLE purger;" "SELECT audit_guard.purge('p_$op');")
			n=$(grep -E '^[0-9]+$' <<<"$out" | tail -n 1) ;;
	esac
	ms=$(sed -n 's/^ms //p' <<<"$out" | tail -n 1)
	[ "$n" = "$ROWS" ] || die "$op removed ${n:-no} rows, not $ROWS: $out"
	record "$round" time "$op" ms "$ms"
	record_split "$round" "$op" "$db"
}

# The split's first half: seal() alone of the never sealed copy.
time_seal() {
	local round=$1 db=$2 out ms
	q -d "$db" -c CHECKPOINT >/dev/null
	out=$(timed "$db" "SELECT \"rows\" FROM audit_guard.seal('p_split');")
	[ "$(head -n 1 <<<"$out")" = $((ROWS + YOUNG)) ] || die "seal('p_split'): $out"
	ms=$(sed -n 's/^ms //p' <<<"$out")
	record "$round" time seal_alone ms "$ms"
}

# Epoch seconds with fractions.
now_s() {
	date +%s.%N
}

# pgbench inserting into p_insert for $3 seconds, logging every
# transaction under the prefix $4; prints the epoch it started at.
insert_run() {
	local db=$1 secs=$2 prefix=$3 started out
	started=$(now_s)
	if ! out=$("$AG_BINDIR/pgbench" -n -T "$secs" -c "$CLIENTS" -j "$CLIENTS" \
		-f "$BENCH/purge_insert.sql" -D purge_table=p_insert \
		-l --log-prefix="$prefix" "$db" 2>&1); then
		printf '%s\n' "$out" >&2
		die "pgbench failed"
	fi
	echo "$started"
}

# From pgbench's transaction logs $1.<pid>: the rate of transactions ending in
# [from, to] and the maximum and mean latency (ms) of those that overlap
# it: "tps max_ms mean_ms count".
window_stats() {
	local prefix=$1 from=$2 to=$3
	cat "$prefix".[0-9]* | awk -v from="$from" -v to="$to" '
		{
			end = $5 + $6 / 1e6; lat = $3 / 1000; start = end - lat / 1000
			if (end >= from && end <= to) n++
			if (start < to && end > from) {
				m++; sum += lat
				if (lat > max) max = lat
			}
		}
		END {
			printf "%.1f %.2f %.2f %d\n", n / (to - from), max, m ? sum / m : 0, n
		}'
}

# pgbench inserting for $4 seconds; a second in, $5 runs in another
# session (as purger) between two readings of the clock.  Records the
# window's rate and latencies as $3; prints "start p0 p1 result" (the
# epoch pgbench started at, the window, what $5 returned).
insert_beside() {
	local round=$1 db=$2 kind=$3 secs=$4 sql=$5 logs=$AG_DIR/pgbench-$1 pid out
	local p0 p1 result tps max mean n
	insert_run "$db" "$secs" "$logs/$kind" >"$logs/$kind.start" &
	pid=$!
	sleep 1
	out=$(q -d "$db" -c 'SET ROLE purger' \
		-c 'SELECT extract(epoch FROM clock_timestamp())' -c "$sql" \
		-c 'SELECT extract(epoch FROM clock_timestamp())') || die "failed beside pgbench: $sql"
	wait "$pid" || die "pgbench beside $sql failed"
	read -r p0 result p1 <<<"$(tr '\n' ' ' <<<"$out")"
	[ "$(cat "$logs/$kind".[0-9]* | awk -v p1="$p1" '$5 + $6 / 1e6 > p1' | wc -l)" -gt 0 ] ||
		say "round $round: pgbench ended before $sql did"
	read -r tps max mean n <<<"$(window_stats "$logs/$kind" "$p0" "$p1")"
	record "$round" insert "$kind" tps "$tps"
	record "$round" insert "$kind" max_ms "$max"
	record "$round" insert "$kind" mean_ms "$mean"
	record "$round" insert "$kind" window_ms \
		"$(awk -v a="$p0" -v b="$p1" 'BEGIN { printf "%.1f", (b - a) * 1000 }')"
	echo "$(cat "$logs/$kind.start") $p0 $p1 $result"
}

# The INSERT workload three times: idle; while purge() runs in another
# session; while another session only keeps a CPU busy for as long as
# that purge took.  On a small VM the last is the fair baseline: a busy
# CPU alone changes how fast one client and its backend hand over to each
# other (on the 2-vCPU VM of RESULTS.md it doubled the rate of -c 1).
measure_inserts() {
	local round=$1 db=$2 purge_ms=$3 secs logs idle_start during tps max mean n
	local start p0 p1 result
	# long enough for the purge, which starts a second in, to end inside
	secs=$(awk -v ms="$purge_ms" 'BEGIN { s = int(2 * ms / 1000) + 2; print s }')
	logs=$AG_DIR/pgbench-$round
	mkdir -p "$logs"
	q -d "$db" -c CHECKPOINT >/dev/null
	idle_start=$(insert_run "$db" "$secs" "$logs/idle")
	# seal what the idle run inserted, as the pg_cron job would have
	q -d "$db" -c "SELECT count(*) FROM audit_guard.seal('p_insert')" -c CHECKPOINT >/dev/null
	during=$(insert_beside "$round" "$db" during "$secs" "SELECT audit_guard.purge('p_insert')")
	read -r start p0 p1 result <<<"$during"
	[ "$result" = "$ROWS" ] || die "purge('p_insert') removed $result rows, not $ROWS"
	q -d "$db" -c CHECKPOINT >/dev/null
	insert_beside "$round" "$db" busy "$secs" \
		"SELECT purge_bench_busy($(awk -v a="$p0" -v b="$p1" 'BEGIN { printf "%.1f", (b - a) * 1000 }'))" >/dev/null
	# the window of the purge, as far into the idle run as it was
	read -r tps max mean n <<<"$(window_stats "$logs/idle" \
		"$(awk -v s="$idle_start" -v a="$p0" -v d="$start" 'BEGIN { printf "%.6f", s + a - d }')" \
		"$(awk -v s="$idle_start" -v b="$p1" -v d="$start" 'BEGIN { printf "%.6f", s + b - d }')")"
	record "$round" insert idle tps "$tps"
	record "$round" insert idle max_ms "$max"
	record "$round" insert idle mean_ms "$mean"
	record "$round" insert idle run_max_ms \
		"$(cat "$logs"/idle.[0-9]* | awk '$3 > m { m = $3 } END { printf "%.2f", m / 1000 }')"
	rm -rf "$logs"
}

# verify() finds nothing wrong with the purged tables.
verify_clean() {
	local db=$1 when=$2 table
	for table in p_sealed p_unsealed p_split; do
		[ "$(q -d "$db" -c "SELECT count(*) FROM audit_guard.verify('$table'::regclass)")" = 0 ] ||
			die "verify('$table') finds problems $when"
	done
}

measure_round() {
	local round=$1 db=purge_$1 i op sealed_ms
	say "round $round/$ROUNDS"
	q -d postgres -c CHECKPOINT \
		-c "CREATE DATABASE $db TEMPLATE purge_tpl STRATEGY file_copy" >/dev/null
	for ((i = 0; i < ${#OPS[@]}; i++)); do
		op=${OPS[$(((i + round - 1) % ${#OPS[@]}))]}
		[ "$op" = split ] && time_seal "$round" "$db"
		time_op "$round" "$op" "$db"
	done
	if [ "$round" = 1 ]; then
		verify_clean "$db" "after purge()"
		# the pg_cron job goes on sealing after a purge
		q -d "$db" -c "SELECT count(*) FROM audit_guard.seal('p_sealed')" \
			-c "SELECT count(*) FROM audit_guard.seal('p_unsealed')" >/dev/null
		verify_clean "$db" "after purge() and seal()"
	fi
	sealed_ms=$(awk -F , -v r="$round" '$1 == r && $3 == "sealed" && $4 == "ms" { print $5 }' "$CSV")
	measure_inserts "$round" "$db" "$sealed_ms"
	q -d postgres -c "DROP DATABASE $db" >/dev/null
}

# Means, spreads and per-round ratios, from the CSV.
summarize() {
	q -d postgres -F '|' -v rows="$ROWS" <<-EOF
		CREATE TEMP TABLE raw (round int, phase text, what text, metric text, value float8);
		\copy raw FROM '$CSV' WITH (FORMAT csv, HEADER)
		-- times: mean, sample standard deviation, min, max, rows/s at the mean
		SELECT 'time', what, count(*), round(avg(value)::numeric, 1),
			   round(coalesce(stddev_samp(value), 0)::numeric, 1),
			   round(min(value)::numeric, 1), round(max(value)::numeric, 1),
			   round(:rows / (avg(value) / 1000))
		  FROM raw WHERE phase = 'time' GROUP BY what;
		-- ratios of each round: the DELETE's time over the other's
		SELECT 'ratio', o.what, count(*), round(avg(p.value / o.value)::numeric, 3),
			   round(coalesce(stddev_samp(p.value / o.value), 0)::numeric, 3),
			   round(min(p.value / o.value)::numeric, 3), round(max(p.value / o.value)::numeric, 3)
		  FROM raw p JOIN raw o ON o.round = p.round AND o.phase = 'time' AND o.what <> 'plain'
		 WHERE p.phase = 'time' AND p.what = 'plain'
		 GROUP BY o.what;
		-- seal() alone + purge() of what it sealed, against purge() sealing itself
		SELECT 'sum', count(*), round(avg(s.value + p.value)::numeric, 1),
			   round(avg(u.value)::numeric, 1)
		  FROM raw s
		  JOIN raw p ON p.round = s.round AND p.phase = 'time' AND p.what = 'split'
		  JOIN raw u ON u.round = s.round AND u.phase = 'time' AND u.what = 'unsealed'
		 WHERE s.phase = 'time' AND s.what = 'seal_alone';
		-- what the statements inside took, means over rounds; "c_code" is
		-- the rest of the total: purge()'s own C
		SELECT 'split', what,
			   round(avg(total)::numeric, 1), round(avg(del)::numeric, 1),
			   round(avg(sw)::numeric, 1), round(avg(ew)::numeric, 1),
			   round(avg(total - del - sw - ew)::numeric, 1)
		  FROM (SELECT round, what,
					   max(value) FILTER (WHERE metric = 'total') AS total,
					   coalesce(max(value) FILTER (WHERE metric = 'delete'),
								max(value) FILTER (WHERE metric = 'total')) AS del,
					   coalesce(max(value) FILTER (WHERE metric = 'seal_write'), 0) AS sw,
					   coalesce(max(value) FILTER (WHERE metric = 'erasure_write'), 0) AS ew
				  FROM raw WHERE phase = 'split' GROUP BY round, what) r
		 GROUP BY what;
		-- inserts: each kind of run, then the per-round ratios of the rates
		SELECT 'insert', what, count(*) FILTER (WHERE metric = 'tps'),
			   round(avg(value) FILTER (WHERE metric = 'tps')::numeric, 1),
			   round(coalesce(stddev_samp(value) FILTER (WHERE metric = 'tps'), 0)::numeric, 1),
			   round(avg(value) FILTER (WHERE metric = 'mean_ms')::numeric, 3),
			   round(max(value) FILTER (WHERE metric = 'max_ms')::numeric, 2),
			   round(avg(value) FILTER (WHERE metric = 'max_ms')::numeric, 2),
			   round(max(value) FILTER (WHERE metric = 'run_max_ms')::numeric, 2),
			   round(avg(value) FILTER (WHERE metric = 'window_ms')::numeric, 1)
		  FROM raw WHERE phase = 'insert' GROUP BY what;
		SELECT 'insert_ratio', b.what, count(*), round(avg(d.value / b.value)::numeric, 3),
			   round(coalesce(stddev_samp(d.value / b.value), 0)::numeric, 3),
			   round(min(d.value / b.value)::numeric, 3), round(max(d.value / b.value)::numeric, 3)
		  FROM raw d JOIN raw b ON b.round = d.round AND b.phase = 'insert'
							   AND b.what IN ('idle', 'busy') AND b.metric = 'tps' AND b.value > 0
		 WHERE d.phase = 'insert' AND d.what = 'during' AND d.metric = 'tps'
		 GROUP BY b.what;
	EOF
}

# The summary as Markdown tables, with the goal checked.
print_tables() {
	awk -F '|' -v rows="$ROWS" -v young="$YOUNG" -v block="$BLOCK" -v clients="$CLIENTS" \
		-v smoke="$SMOKE" -v keep="'$KEEP'" '
		function commas(n,   s, r) {
			s = sprintf("%d", n); r = ""
			while (length(s) > 3) {
				r = "," substr(s, length(s) - 2) r
				s = substr(s, 1, length(s) - 3)
			}
			return s r
		}
		$1 == "time" { t[$2] = $0 }
		$1 == "ratio" { ra[$2] = $0 }
		$1 == "sum" { sum = $0 }
		$1 == "split" { sp[$2] = $0 }
		$1 == "insert" { ins[$2] = $0 }
		$1 == "insert_ratio" { ir[$2] = $0 }
		END {
			split("plain sealed unsealed seal_alone split", order, " ")
			label["plain"] = "`DELETE FROM p_plain WHERE at < $1`, $1 = now() - " keep ", unprotected (baseline)"
			label["sealed"] = "`purge()`, rows sealed beforehand in blocks of " commas(block)
			label["unsealed"] = "`purge()`, rows never sealed (it seals them first)"
			label["seal_alone"] = "split: `seal()` alone of the never sealed table"
			label["split"] = "split: then `purge()` of what that seal sealed (one block)"
			printf "%s expired rows of about 200 bytes, among %s (%s young ones stay), rounds: %d\n\n",
				commas(rows), commas(rows + young), commas(young), split(t["plain"], x, "|") ? x[3] : 0
			print "| statement | mean ms | sd | min..max ms | rows/s (at the mean) | rate / DELETE rate: mean ± sd (min..max) |"
			print "|---|--:|--:|--:|--:|--:|"
			for (i = 1; i <= 5; i++) {
				k = order[i]
				if (!(k in t)) continue
				split(t[k], f, "|")
				r = "-"
				if (k in ra) {
					split(ra[k], g, "|")
					r = sprintf("%.3f ± %.3f (%.3f..%.3f)", g[4], g[5], g[6], g[7])
				}
				printf "| %s | %.1f | %.1f | %.1f..%.1f | %s | %s |\n", label[k], f[4], f[5], f[6], f[7],
					commas(f[8]), r
			}
			split(sum, s, "|")
			printf "\nseal() alone + purge() of what it sealed: %.1f ms; purge() sealing itself: %.1f ms\n", s[3], s[4]
			print "\nInside each statement (pg_stat_statements, means in ms): the DELETE it runs,"
			print "the seal data it writes, the erasure block it writes (with the deletion of"
			print "the seal data of blocks erased whole), and the rest: the C of purge() itself"
			print "(reading the seal data, the scan that seals and matches, hashing, sorting).\n"
			print "| statement | total | DELETE | seal data written | erasure block written | purge() C |"
			print "|---|--:|--:|--:|--:|--:|"
			split("plain sealed unsealed split", o2, " ")
			for (i = 1; i <= 4; i++) {
				k = o2[i]
				if (!(k in sp)) continue
				split(sp[k], f, "|")
				if (k == "plain")
					printf "| %s | %.1f | %.1f | - | - | - |\n", label[k], f[3], f[4]
				else
					printf "| %s | %.1f | %.1f | %.1f | %.1f | %.1f |\n", label[k], f[3], f[4], f[5], f[6], f[7]
			}
			printf "\nINSERT of one row per transaction (pgbench -c %d) into a protected table of the\n", clients
			printf "same rows, idle; while purge() deletes %s of its rows in another session;\n", commas(rows)
			print "while another session keeps a CPU busy (PL/pgSQL loop) for as long as that purge"
			print "took. Figures over the time window of the purge or the loop (for the idle run:"
			print "the same window, as far into the run), means over rounds:\n"
			print "| run | window ms | INSERT tps | sd | mean latency ms | max latency ms (max, mean of rounds) |"
			print "|---|--:|--:|--:|--:|--:|"
			split("idle busy during", o4, " ")
			name["idle"] = "idle"
			name["busy"] = "beside a busy CPU"
			name["during"] = "during purge()"
			for (i = 1; i <= 3; i++) {
				if (!(o4[i] in ins)) continue
				split(ins[o4[i]], f, "|")
				printf "| %s | %s | %.1f | %.1f | %.3f | %.2f, %.2f |\n", name[o4[i]],
					(o4[i] == "idle" ? "-" : sprintf("%.1f", f[10])), f[4], f[5], f[6], f[7], f[8]
			}
			split(ins["idle"], f, "|")
			printf "\nmax latency of the idle runs over their whole length: %.2f ms\n", f[9]
			split("idle busy", o5, " ")
			for (i = 1; i <= 2; i++) {
				k = o5[i]
				if (!(k in ir)) continue
				split(ir[k], g, "|")
				printf "INSERT rate during purge() / %s: %.3f ± %.3f (%.3f..%.3f) over %d rounds\n",
					(k == "idle" ? "idle" : "beside a busy CPU"), g[4], g[5], g[6], g[7], g[3]
			}
			print ""
			if (smoke == 1) {
				print "smoke run: goal not checked"
				exit
			}
			split("sealed unsealed", o3, " ")
			for (i = 1; i <= 2; i++) {
				split(ra[o3[i]], g, "|")
				printf "goal purge rate >= 0.5 x DELETE rate, %s: %.3f ± %.3f (%.3f..%.3f), %s\n",
					(o3[i] == "sealed" ? "rows sealed beforehand" : "purge() sealing first"),
					g[4], g[5], g[6], g[7], (g[6] >= 0.5 ? "met" : g[7] < 0.5 ? "MISSED" : "not resolved")
			}
		}' <<<"$1"
}

machine() {
	echo "nproc: $(nproc)"
	echo "CPU: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
	echo "PostgreSQL: $("$AG_BINDIR/postgres" --version)"
	echo "audit_guard: $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)"
	if [ "$SMOKE" = 1 ]; then
		echo "run: smoke (BENCH_SMOKE=1): figures are meaningless"
	else
		echo "run: $ROUNDS rounds, $ROWS expired rows, blocks of $BLOCK, pgbench -c $CLIENTS"
	fi
}

main() {
	local round summary
	build_and_install
	setup
	for ((round = 1; round <= ROUNDS; round++)); do
		measure_round "$round"
	done
	summary=$(summarize)
	{
		echo "## Issue 11: purge"
		echo
		machine
		echo
		print_tables "$summary"
	} | tee "$TXT"
	say "took $((SECONDS - START)) s; raw numbers in $CSV"
}

main "$@"
