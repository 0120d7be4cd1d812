#!/usr/bin/env bash
# A seal() of 1,000,000 rows (about 200 bytes each) interrupted: once by
# SIGKILL of its backend while it writes the block, once by pg_ctl stop -m
# immediate while it reads the rows.  After recovery no partial block
# exists, the chain verifies, and seal() simply runs again.
set -uo pipefail
source "${AG_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}/scripts/cluster.sh"
ag_cluster_attach || exit 1

db=ag_seal_crash
verifier=$AG_BINDIR/audit_guard_verify
rows=${AG_CRASH_ROWS:-1000000}
ag_fresh_database "$db" || exit 1
ag_psql -d "$db" <<SQL >/dev/null || exit 1
CREATE EXTENSION audit_guard;
CREATE TABLE killed (id bigint PRIMARY KEY, at timestamptz NOT NULL, actor text NOT NULL,
					 action text NOT NULL, payload jsonb);
INSERT INTO killed
SELECT g, '2026-01-01'::timestamptz + g * interval '1 second', 'user_' || g % 1000,
	   'login', jsonb_build_object('ip', '10.0.' || g % 250 || '.' || g % 200,
								   'agent', 'Mozilla/5.0 (X11; Linux x86_64)',
								   'session', md5(g::text), 'n', g)
  FROM generate_series(1, $rows) g;
CREATE TABLE stopped (LIKE killed INCLUDING ALL);
INSERT INTO stopped SELECT * FROM killed;
SELECT audit_guard.protect('killed');
SELECT audit_guard.protect('stopped');
-- the history rows protect() wrote, sealed now, out of the way
SELECT audit_guard.seal('audit_guard.history');
CHECKPOINT;
SQL
echo "# row size: $(ag_scalar "$db" "SELECT round(avg(pg_column_size(k.*))) FROM killed k TABLESAMPLE SYSTEM (1)") bytes"

seal_data_size="SELECT pg_total_relation_size('audit_guard.seal_rows') + pg_total_relation_size('audit_guard.seal_blocks')"

# The seal data of a table: "blocks chunks".
seal_data_of() {
	ag_scalar "$db" "SELECT (SELECT count(*) FROM audit_guard.seal_blocks WHERE relid = '$1'::regclass)
		|| ' ' || (SELECT count(*) FROM audit_guard.seal_rows WHERE relid = '$1'::regclass)"
}

# Wait up to 60 s for the server to accept connections again.
wait_ready() {
	local i
	for ((i = 0; i < 600; i++)); do
		"$AG_BINDIR/pg_isready" -q -h "$PGHOST" -p "$PGPORT" && return 0
		sleep 0.1
	done
	return 1
}

# After an interrupted seal of $1: nothing of it, verifies, seals again.
after_crash() {
	local table=$1 out rc
	ag_is "$(seal_data_of "$table")" "0 0" "$table: no block and no rows of the interrupted seal"
	ag_is "$(ag_scalar "$db" "SELECT count(*) FROM audit_guard.verify('$table'::regclass)")" "0" \
		"$table: verify() finds nothing wrong"
	ag_is "$(ag_scalar "$db" "SELECT block || ' ' || \"rows\" FROM audit_guard.seal('$table')")" \
		"1 $rows" "$table: seal() runs again: block 1 of $rows rows"
	ag_is "$(seal_data_of "$table")" "1 $(((rows + 8191) / 8192))" "$table: one block, its rows in chunks"
	ag_is "$(ag_scalar "$db" "SELECT count(*) FROM audit_guard.verify('$table'::regclass)")" "0" \
		"$table: verify() finds the new block intact"
	out=$("$verifier" -d "$db" "$table" 2>&1)
	rc=$?
	ag_is "$rc $out" "0 audit_guard_verify: 1 table, 1 block, $rows rows read: intact" \
		"$table: audit_guard_verify reads every row and finds them intact"
}

# 1. SIGKILL of the backend while it writes the block (the seal data grows)
base=$(ag_scalar "$db" "$seal_data_size")
ag_session_open sealer "$db"
pid=${AG_SESSION_BACKEND[sealer]}
ag_session_send sealer "SELECT block, \"rows\" FROM audit_guard.seal('killed');"
killed=0
for ((i = 0; i < 1200; i++)); do
	if [ "$(ag_scalar "$db" "$seal_data_size")" -gt "$base" ]; then
		kill -9 "$pid" && killed=1
		break
	fi
	sleep 0.02
done
ag_is "$killed" "1" "the backend was killed while it wrote the block"
out=$(ag_session_wait sealer 30)
ag_ok "its seal() did not finish" bash -c "! grep -q '^1|' <<<'$out'"
ag_session_close sealer
ag_ok "the server recovers from the crash" wait_ready
after_crash killed

# 2. pg_ctl stop -m immediate while seal() reads the rows
ag_session_open sealer "$db"
pid=${AG_SESSION_BACKEND[sealer]}
ag_session_send sealer "SELECT block, \"rows\" FROM audit_guard.seal('stopped');"
running=0
for ((i = 0; i < 200; i++)); do
	if [ "$(ag_scalar "$db" "SELECT count(*) FROM pg_stat_activity WHERE pid = $pid AND state = 'active'
			AND now() - query_start > interval '300 ms'")" = 1 ]; then
		running=1
		break
	fi
	sleep 0.02
done
ag_is "$running" "1" "seal() of stopped has run for 300 ms"
ag_ok "pg_ctl stop -m immediate in the middle of it" \
	ag_as_owner "$AG_BINDIR/pg_ctl" stop -m immediate -D "$AG_DATA"
out=$(ag_session_wait sealer 30)
ag_ok "its seal() did not finish" bash -c "! grep -q '^1|' <<<'$out'"
ag_session_close sealer
ag_ok "the server starts and recovers" ag_pg_ctl_start
after_crash stopped

ag_drop_database "$db"
ag_done
