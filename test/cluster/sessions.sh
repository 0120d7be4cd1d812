#!/usr/bin/env bash
# Several open sessions: protect() in one is enforced at once in another
# that was already connected (and had cached "not protected"); a rolled
# back unprotect leaves the table protected everywhere; protect, unprotect
# and INSERT racing each other end in a consistent state.
set -uo pipefail
source "${AG_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}/scripts/cluster.sh"
ag_cluster_attach || exit 1

db=ag_sessions
ag_fresh_database "$db" regress_sess_owner || exit 1
ag_psql -d "$db" <<'SQL' >/dev/null || exit 1
CREATE EXTENSION audit_guard;
CREATE TABLE t1 (id int PRIMARY KEY, note text);
CREATE TABLE t2 (id int PRIMARY KEY, note text);
CREATE TABLE t3 (id int PRIMARY KEY, note text);
INSERT INTO t1 VALUES (1, 'one'), (2, 'two');
INSERT INTO t2 VALUES (1, 'one');
INSERT INTO t3 VALUES (1, 'one');
ALTER TABLE t1 OWNER TO regress_sess_owner;
ALTER TABLE t2 OWNER TO regress_sess_owner;
ALTER TABLE t3 OWNER TO regress_sess_owner;
SQL

# "ERROR:  <SQLSTATE>" lines of a session's output, or "ok"
errors_of() {
	local codes
	codes=$(sed -n 's/.*ERROR:  \([0-9A-Z]\{5\}\)$/\1/p' <<<"$1" | tr '\n' ' ')
	echo "${codes:-ok}" | sed 's/ $//'
}

ag_session_open a "$db" || exit 1
ag_session_open b "$db" || exit 1

# b works with t1 while it is unprotected: its caches say "not protected"
ag_is "$(errors_of "$(ag_session_run b "UPDATE t1 SET note = 'warm' WHERE id = 1")")" ok \
	"b: UPDATE on the unprotected table works"
ag_is "$(errors_of "$(ag_session_run b "SET session_replication_role = replica; RESET session_replication_role")")" ok \
	"b: replica is allowed while nothing is protected"

# a protects; b, still connected, is refused at its next statement
ag_is "$(errors_of "$(ag_session_run a "SELECT audit_guard.protect('t1')")")" ok "a: protect(t1)"
ag_is "$(errors_of "$(ag_session_run b "UPDATE t1 SET note = 'x' WHERE id = 1")")" 23000 \
	"b (already open): UPDATE refused right after a's protect"
ag_is "$(errors_of "$(ag_session_run b "DELETE FROM t1")")" 23000 "b: DELETE refused"
ag_is "$(errors_of "$(ag_session_run b "TRUNCATE t1")")" 23000 "b: TRUNCATE refused"
ag_is "$(errors_of "$(ag_session_run b "ALTER TABLE t1 DISABLE TRIGGER ALL")")" 42501 \
	"b: DISABLE TRIGGER refused"
ag_is "$(errors_of "$(ag_session_run b "SET session_replication_role = replica")")" 42501 \
	"b: replica refused now that a table is protected"

# a's unprotect, rolled back, leaves b refused; b waits for a's lock
ag_session_run a "BEGIN; SET LOCAL ROLE regress_sess_owner; SELECT audit_guard.unprotect('t1')" >/dev/null
ag_session_send b "UPDATE t1 SET note = 'x' WHERE id = 1"
ag_ok "b: UPDATE waits for a's open unprotect" ag_session_blocked b
ag_session_run a "ROLLBACK" >/dev/null
ag_is "$(errors_of "$(ag_session_wait b)")" 23000 "b: refused once a rolled back"

# a's committed unprotect opens the table for b, which was waiting
ag_session_run a "BEGIN; SET LOCAL ROLE regress_sess_owner; SELECT audit_guard.unprotect('t1')" >/dev/null
ag_session_send b "UPDATE t1 SET note = 'after unprotect' WHERE id = 2"
ag_ok "b: UPDATE waits for a's open unprotect" ag_session_blocked b
ag_session_run a "COMMIT" >/dev/null
ag_is "$(errors_of "$(ag_session_wait b)")" ok "b: UPDATE works once a committed unprotect"
ag_is "$(errors_of "$(ag_session_run b "SET session_replication_role = replica; RESET session_replication_role")")" ok \
	"b: replica allowed again once nothing is protected"

# protect while b inserts: b's INSERT waits, then lands; the table is guarded
ag_session_run a "BEGIN; SELECT audit_guard.protect('t2')" >/dev/null
ag_session_send b "INSERT INTO t2 VALUES (2, 'during protect')"
ag_ok "b: INSERT waits for a's open protect" ag_session_blocked b
ag_session_run a "COMMIT" >/dev/null
ag_is "$(errors_of "$(ag_session_wait b)")" ok "b: the INSERT landed"
ag_is "$(errors_of "$(ag_session_run b "DELETE FROM t2")")" 23000 "b: DELETE on t2 refused"
ag_is "$(ag_scalar "$db" "SELECT count(*) FROM t2")" 2 "t2 has both rows"

# two sessions protect the same table at once
ag_session_run a "BEGIN; SELECT audit_guard.protect('t3')" >/dev/null
ag_session_send b "SELECT audit_guard.protect('t3')"
ag_ok "b: its protect(t3) waits for a's" ag_session_blocked b
ag_session_run a "COMMIT" >/dev/null
ag_is "$(errors_of "$(ag_session_wait b)")" ok "b: concurrent protect(t3) succeeds (idempotent)"
ag_is "$(ag_scalar "$db" "SELECT count(*) FROM audit_guard.registry WHERE relid = 't3'::regclass")" 1 \
	"t3 has one registry row"
ag_is "$(ag_scalar "$db" "SELECT count(*) FROM pg_trigger WHERE tgrelid = 't3'::regclass")" 2 \
	"t3 has two guard triggers"

# two sessions unprotect the same table at once
ag_session_run a "BEGIN; SET LOCAL ROLE regress_sess_owner; SELECT audit_guard.unprotect('t3')" >/dev/null
ag_session_send b "SET ROLE regress_sess_owner; SELECT audit_guard.unprotect('t3'); RESET ROLE"
ag_ok "b: its unprotect(t3) waits for a's" ag_session_blocked b
ag_session_run a "COMMIT" >/dev/null
ag_is "$(errors_of "$(ag_session_wait b)")" 55000 \
	"b: the second unprotect finds the table no longer protected"
ag_is "$(ag_scalar "$db" "SELECT count(*) FROM audit_guard.registry WHERE relid = 't3'::regclass")" 0 \
	"t3 is unprotected once, with no registry row left"
ag_is "$(ag_scalar "$db" "SELECT count(*) FROM pg_trigger WHERE tgrelid = 't3'::regclass")" 0 \
	"t3 has no guard trigger left"
ag_is "$(errors_of "$(ag_session_run b "DELETE FROM t3")")" ok "b: DELETE on t3 works"

ag_session_close a
ag_session_close b
"$AG_BINDIR/psql" -X -q -d "$db" -c "SET ROLE regress_sess_owner" \
	-c "SELECT audit_guard.unprotect('t2')" >/dev/null
ag_drop_database "$db" regress_sess_owner
ag_done
