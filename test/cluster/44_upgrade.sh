#!/usr/bin/env bash
# ALTER EXTENSION audit_guard UPDATE from 1.0 to 1.1 on a database with
# protected tables and rows keeps every protection; history gets its key
# (existing rows numbered in the order they were written), a backend open
# across the update guards the new seal tables too, and sealing works.  A
# database left at 1.0 keeps working with the 1.1 library.
set -uo pipefail
source "${AG_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}/scripts/cluster.sh"
ag_cluster_attach || exit 1

db=ag_upgrade
old=ag_upgrade_old
ag_fresh_database "$db" regress_upgrade_owner || exit 1
ag_fresh_database "$old" || exit 1
for d in "$db" "$old"; do
	ag_psql -d "$d" <<'SQL' >/dev/null || exit 1
CREATE EXTENSION audit_guard VERSION '1.0';
CREATE TABLE audit_log (id int PRIMARY KEY, note text);
INSERT INTO audit_log SELECT g, 'row ' || g FROM generate_series(1, 50) g;
SELECT audit_guard.protect('audit_log', owner => 'regress_upgrade_owner');
CREATE TABLE other_log (id int PRIMARY KEY);
SELECT audit_guard.protect('other_log');
SELECT audit_guard.unprotect('other_log');
SELECT audit_guard.protect('other_log');
SQL
done
history_order="SELECT string_agg(action || ':' || table_name, ',' ORDER BY at) FROM audit_guard.history"
want_history=$(ag_scalar "$db" "$history_order")

ag_session_open before "$db"
ag_is "$(ag_session_run before "UPDATE audit_log SET note = 'x';")" "ERROR:  23000" \
	"a backend opened before the update: UPDATE refused"

# the update runs audit_guard's own installed script: a superuser may run it
# (other ALTER EXTENSION audit_guard forms stay for the designated owners)
ag_ok "ALTER EXTENSION audit_guard UPDATE TO '1.1', as a superuser" \
	ag_psql -d "$db" -c "ALTER EXTENSION audit_guard UPDATE TO '1.1'"
ag_is "$(ag_scalar "$db" "SELECT extversion FROM pg_extension WHERE extname = 'audit_guard'")" "1.1" \
	"the extension is at 1.1"
ag_is "$(ag_scalar "$db" "SELECT string_agg(table_name::text, ',' ORDER BY table_name::text) FROM audit_guard.protected_tables")" \
	"audit_log,other_log" "both tables are still protected"
ag_is "$(ag_scalar "$db" "SELECT string_agg(tgname || '=' || tgenabled::text, ',' ORDER BY tgname) FROM pg_trigger WHERE tgrelid = 'audit_log'::regclass")" \
	"audit_guard_append_only=A,audit_guard_no_truncate=A" "the guard triggers are still ENABLE ALWAYS"
ag_sqlstate "$db" 23000 "UPDATE audit_log SET note = 'x'" "UPDATE is refused after the update"
ag_sqlstate "$db" 23000 "TRUNCATE audit_log" "TRUNCATE is refused after the update"
ag_sqlstate "$db" 42501 "ALTER TABLE audit_log DISABLE TRIGGER ALL" "DISABLE TRIGGER is refused after the update"
ag_is "$(ag_scalar "$db" "SELECT string_agg(id::text, ',' ORDER BY at) FROM audit_guard.history WHERE id <= 4")" "1,2,3,4" \
	"history rows are numbered in the order they were written"
ag_is "$(ag_scalar "$db" "$history_order WHERE id <= 4")" "$want_history" "history is otherwise unchanged"
ag_is "$(ag_scalar "$db" "SELECT count(*) FROM audit_guard.history WHERE id > 4")" \
	"0" "the update adds no history row (it changes no protection)"
ag_is "$(ag_session_run before "UPDATE audit_guard.seal_blocks SET row_count = 0;")" "ERROR:  42501" \
	"the backend opened before the update refuses to change the new seal data"
ag_is "$(ag_session_run before "UPDATE audit_log SET note = 'x';")" "ERROR:  23000" \
	"and still refuses UPDATE"
ag_session_close before

ag_is "$(ag_scalar "$db" "SELECT string_agg(table_name::text || ':' || \"rows\", ',' ORDER BY table_name::text) FROM audit_guard.seal()")" \
	"audit_guard.history:4,audit_log:50" "seal() seals the table and history"
ag_is "$(ag_scalar "$db" "SELECT count(*) FROM audit_guard.verify()")" "0" "verify() finds them intact"
ag_ok "audit_guard_verify finds them intact" "$AG_BINDIR/audit_guard_verify" -q -d "$db"
ag_ok "a new history row gets the next number" ag_psql -d "$db" \
	-c "SELECT audit_guard.unprotect('other_log')"
ag_is "$(ag_scalar "$db" "SELECT id || ' ' || statement FROM audit_guard.history ORDER BY id DESC LIMIT 1")" \
	"5 SELECT audit_guard.unprotect('other_log')" "with its statement"

# a database left at 1.0, with the 1.1 library
ag_ok "1.0 database: protect and unprotect still work" ag_psql -d "$old" \
	-c "SELECT audit_guard.unprotect('other_log')" -c "SELECT audit_guard.protect('other_log')"
ag_ok "1.0 database: a designated owner's override works (history cannot take it)" \
	ag_psql -d "$old" -c "ALTER TABLE other_log DISABLE TRIGGER ALL" \
	-c "ALTER TABLE other_log ENABLE ALWAYS TRIGGER audit_guard_append_only" \
	-c "ALTER TABLE other_log ENABLE ALWAYS TRIGGER audit_guard_no_truncate"
ag_sqlstate "$old" 23000 "DELETE FROM audit_log" "1.0 database: DELETE is still refused"
ag_is "$(ag_scalar "$old" "SELECT count(*) FROM audit_guard.history")" "6" \
	"1.0 database: history has its 1.0 rows"

ag_drop_database "$old"
ag_drop_database "$db" regress_upgrade_owner
ag_done
