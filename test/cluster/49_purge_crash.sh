#!/usr/bin/env bash
# A purge() of a large expired set interrupted in the middle of its DELETE
# (issue 11): once by SIGKILL of the purging backend (table "killed", not
# sealed before: purge() seals it in the same transaction), once by pg_ctl
# stop -m immediate (table "stopped", sealed before).  After recovery it is
# all or nothing: every row still there (also those the DELETE had marked),
# no seal or erasure block of the interrupted purge, no history 'purge' row,
# verify() and audit_guard_verify clean; purge() then simply runs again to
# completion, exactly the expired rows go, and both verifiers stay clean
# (also against a digest taken before).
set -uo pipefail
source "${AG_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}/scripts/cluster.sh"
ag_cluster_attach || exit 1

db=ag_purge_crash
verifier=$AG_BINDIR/audit_guard_verify
expired=${AG_PURGE_CRASH_ROWS:-1000000}
young=5000
roles=(regress_pk_purger regress_pk_owner)
ag_drop_database "$db" "${roles[@]}" >/dev/null || exit 1
ag_psql -d postgres <<SQL >/dev/null || exit 1
CREATE ROLE regress_pk_owner NOLOGIN;
CREATE ROLE regress_pk_purger LOGIN IN ROLE regress_pk_owner;
CREATE DATABASE $db;
SQL
ag_psql -d "$db" <<SQL >/dev/null || exit 1
CREATE EXTENSION audit_guard;
CREATE TABLE killed (id bigint PRIMARY KEY, at timestamptz NOT NULL, actor text NOT NULL,
					 action text NOT NULL, payload jsonb);
ALTER TABLE killed OWNER TO regress_pk_owner;
-- expired rows, about 200 bytes each, 400 days old and older
INSERT INTO killed
SELECT g, now() - interval '400 days' - g * interval '1 second', 'user_' || g % 1000, 'login',
	   jsonb_build_object('ip', '10.0.' || g % 250 || '.' || g % 200,
						  'agent', 'Mozilla/5.0 (X11; Linux x86_64)',
						  'session', md5(g::text), 'n', g)
  FROM generate_series(1, $expired) g;
-- young rows, from 300 days ago
INSERT INTO killed
SELECT g, now() - interval '300 days' + (g - $expired) * interval '1 minute', 'user_' || g % 1000, 'view',
	   jsonb_build_object('session', md5(g::text), 'n', g)
  FROM generate_series($expired + 1, $expired + $young) g;
CREATE TABLE stopped (LIKE killed INCLUDING ALL);
ALTER TABLE stopped OWNER TO regress_pk_owner;
INSERT INTO stopped SELECT * FROM killed;
SELECT audit_guard.protect('killed');
SELECT audit_guard.protect('stopped');
SET ROLE regress_pk_owner;
SELECT audit_guard.set_retention('killed', '365 days', 'at');
SELECT audit_guard.set_retention('stopped', '365 days', 'at');
SELECT audit_guard.seal('stopped');
RESET ROLE;
-- the history rows written so far, sealed now, out of the way
SELECT audit_guard.seal('audit_guard.history');
VACUUM ANALYZE killed, stopped;
CHECKPOINT;
SQL

# Every row of a table, as one fingerprint.
fingerprint() {
	ag_scalar "$db" "SELECT count(*) || ':' || md5(string_agg(t::text, ',' ORDER BY id)) FROM $1 t"
}
# The table's blocks by kind, erasure entries and history 'purge' rows.
records_of() {
	ag_scalar "$db" "SELECT (SELECT count(*) FILTER (WHERE kind = 'seal') || ' seal, '
		|| count(*) FILTER (WHERE kind <> 'seal') || ' erasure' FROM audit_guard.seal_blocks
		 WHERE relid = '$1'::regclass)
		|| ', ' || (SELECT count(*) FROM audit_guard.seal_erasures WHERE relid = '$1'::regclass) || ' entries'
		|| ', ' || (SELECT count(*) FROM audit_guard.history WHERE action = 'purge' AND relid = '$1'::regclass)
		|| ' purge in history'"
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

# Start purge($1) in session purger, as the LOGIN member of the designated
# owner, and return once its DELETE has run for a while: the backend holds
# the table's RowExclusiveLock (the seal before it takes AccessShareLock
# only), then 100 ms more.  Sets pid to the backend's.
purge_until_deleting() {
	local table=$1 i
	PGUSER=regress_pk_purger ag_session_open purger "$db"
	pid=${AG_SESSION_BACKEND[purger]}
	ag_session_send purger "SELECT audit_guard.purge('$table');"
	for ((i = 0; i < 3000; i++)); do
		if [ "$(ag_scalar "$db" "SELECT count(*) FROM pg_locks WHERE pid = $pid AND granted
				AND relation = '$table'::regclass AND mode = 'RowExclusiveLock'")" = 1 ]; then
			sleep 0.1
			return 0
		fi
		sleep 0.02
	done
	return 1
}

# audit_guard_verify of table $1 against the digest taken before both
# crashes: exit status 0, and its summary ends in "intact".
client_clean() {
	local out rc
	out=$("$verifier" -d "$db" --digest "$digest" "$1" 2>&1)
	rc=$?
	[ "$rc" -eq 0 ] || printf '%s\n' "$out" | head -n 5 | sed 's/^/#   /' >&2
	[ "$rc" -eq 0 ] && grep -q ': intact$' <<<"$out"
}

# After the interrupted purge of $1 (with $2 = its records before): all or
# nothing, then purge() runs again.
after_crash() {
	local table=$1 records=$2 rows=$3 marked
	ag_is "$(fingerprint "$table")" "$rows" "$table: every row is still there, unchanged"
	marked=$(ag_scalar "$db" "SELECT count(*) FROM $table WHERE xmax <> '0'")
	echo "# $table: $marked rows carry the xmax of the interrupted DELETE, visible again"
	ag_ok "$table: the interruption came while the DELETE ran ($marked rows marked by it)" \
		test "$marked" -gt 0
	ag_is "$(records_of "$table")" "$records" "$table: no block, entry or history row of the interrupted purge"
	ag_is "$(ag_scalar "$db" "SELECT count(*) FROM audit_guard.verify('$table')")" 0 \
		"$table: verify() finds nothing wrong"
	ag_is "$(ag_scalar "$db" "SELECT count(*) FROM audit_guard.verify()")" 0 \
		"verify() of every sealed table (history too) finds nothing wrong"
	ag_ok "$table: audit_guard_verify --digest exits 0" client_clean "$table"

	ag_is "$("$AG_BINDIR/psql" -X -q -At -U regress_pk_purger -d "$db" -c "SELECT audit_guard.purge('$table')" 2>&1)" \
		"$expired" "$table: purge() runs again, to completion: $expired rows"
	ag_is "$(ag_scalar "$db" "SELECT count(*) || ' ' || count(*) FILTER (WHERE at >= now() - interval '365 days') FROM $table")" \
		"$young $young" "$table: the $young young rows are left, no other"
	ag_is "$(records_of "$table")" "1 seal, 1 erasure, 1 entries, 1 purge in history" \
		"$table: one seal block, one erasure block, one history row"
	ag_is "$(ag_scalar "$db" "SELECT count(*) FROM audit_guard.verify('$table')")" 0 \
		"$table: verify() finds nothing wrong after the purge"
	ag_is "$(ag_scalar "$db" "SELECT count(*) FROM audit_guard.verify(pg_read_file('$digest')::jsonb)")" 0 \
		"$table: verify() of the digest taken before both crashes finds nothing wrong"
	ag_ok "$table: audit_guard_verify --digest exits 0 after the purge" client_clean "$table"
}

digest=$AG_DIR/ag_purge_crash_digest.json
ag_scalar "$db" "SELECT audit_guard.digest()" >"$digest" || exit 1

# 1. SIGKILL of the purging backend in the middle of its DELETE
rows=$(fingerprint killed)
records=$(records_of killed)
ag_is "$records" "0 seal, 0 erasure, 0 entries, 0 purge in history" "killed: not sealed before its purge"
start=$SECONDS
if purge_until_deleting killed; then
	ag_pass "purge('killed') seals, then deletes (after $((SECONDS - start)) s)"
	ag_ok "SIGKILL of the purging backend $pid" kill -9 "$pid"
else
	ag_fail "purge('killed') seals, then deletes" "no RowExclusiveLock seen in 60 s"
fi
out=$(ag_session_wait purger 30)
ag_ok "its purge() did not finish" bash -c "! grep -q '^$expired\$' <<<'$out'"
ag_session_close purger
ag_ok "the server recovers from the crash" wait_ready
after_crash killed "$records" "$rows"

# 2. pg_ctl stop -m immediate in the middle of the DELETE
rows=$(fingerprint stopped)
records=$(records_of stopped)
ag_is "$records" "1 seal, 0 erasure, 0 entries, 0 purge in history" "stopped: sealed before its purge"
start=$SECONDS
if purge_until_deleting stopped; then
	ag_pass "purge('stopped') deletes (after $((SECONDS - start)) s)"
	ag_ok "pg_ctl stop -m immediate" ag_as_owner "$AG_BINDIR/pg_ctl" stop -m immediate -D "$AG_DATA"
else
	ag_fail "purge('stopped') deletes" "no RowExclusiveLock seen in 60 s"
fi
out=$(ag_session_wait purger 30)
ag_ok "its purge() did not finish" bash -c "! grep -q '^$expired\$' <<<'$out'"
ag_session_close purger
ag_ok "the server starts and recovers" ag_pg_ctl_start
after_crash stopped "$records" "$rows"

rm -f "$digest"
ag_drop_database "$db" "${roles[@]}" >/dev/null
ag_done
