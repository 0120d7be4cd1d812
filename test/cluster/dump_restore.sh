#!/usr/bin/env bash
# pg_dump -> pg_restore into a fresh database keeps a table protected: the
# registry row comes back (an extension configuration table), the guard
# triggers come back ENABLE ALWAYS, and UPDATE is still refused.
set -uo pipefail
source "${AG_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}/scripts/cluster.sh"
ag_cluster_attach || exit 1

src=ag_dump_src
dump=$AG_DIR/ag_dump.custom
plain=$AG_DIR/ag_dump.sql

ag_drop_database ag_dump_custom && ag_drop_database ag_dump_plain || exit 1
ag_fresh_database "$src" regress_dump_owner regress_dump_app || exit 1
ag_psql -d "$src" <<'SQL' >/dev/null || exit 1
CREATE EXTENSION audit_guard;
CREATE TABLE audit_log (id bigserial PRIMARY KEY, actor text, payload jsonb);
ALTER TABLE audit_log OWNER TO regress_dump_owner;
GRANT SELECT, INSERT ON audit_log TO regress_dump_app;
INSERT INTO audit_log (actor, payload) VALUES
	('alice', '{"a": 1}'), ('bob', '{"b": 2}'), ('carol', NULL);
CREATE TABLE plain_table (id int);
INSERT INTO plain_table VALUES (1);
SELECT audit_guard.protect('audit_log');
SQL

fingerprint="SELECT count(*) || ':' || md5(string_agg(t::text, ',' ORDER BY id)) FROM audit_log t"
want_rows=$(ag_scalar "$src" "$fingerprint")

ag_ok "pg_dump -Fc of a database with a protected table" \
	"$AG_BINDIR/pg_dump" -Fc -d "$src" -f "$dump"
ag_ok "pg_dump (plain SQL) of the same database" \
	"$AG_BINDIR/pg_dump" -d "$src" -f "$plain"
ag_ok "the plain dump re-enables the guard triggers ALWAYS" \
	grep -q 'ENABLE ALWAYS TRIGGER audit_guard_append_only' "$plain"

ag_psql -d postgres -c 'CREATE DATABASE ag_dump_custom' -c 'CREATE DATABASE ag_dump_plain' || exit 1
ag_ok "pg_restore into a fresh database" \
	"$AG_BINDIR/pg_restore" --exit-on-error -d ag_dump_custom "$dump"
ag_ok "psql restores the plain dump into a fresh database" \
	"$AG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -d ag_dump_plain -f "$plain"

for db in ag_dump_custom ag_dump_plain; do
	ag_is "$(ag_scalar "$db" "SELECT table_name || ' ' || designated_owner FROM audit_guard.protected_tables")" \
		"audit_log regress_dump_owner" "$db: the registry row is back, same designated owner"
	ag_is "$(ag_scalar "$db" "SELECT string_agg(tgname || '=' || tgenabled::text, ',' ORDER BY tgname) FROM pg_trigger WHERE tgrelid = 'audit_log'::regclass")" \
		"audit_guard_append_only=A,audit_guard_no_truncate=A" "$db: both guard triggers, ENABLE ALWAYS"
	ag_is "$(ag_scalar "$db" "SELECT count(*) FROM audit_guard.registry")" "1" \
		"$db: the registry row is not duplicated"
	ag_is "$(ag_scalar "$db" "$fingerprint")" "$want_rows" "$db: the rows came back"
	ag_sqlstate "$db" 23000 "UPDATE audit_log SET actor = 'mallory'" \
		"$db: UPDATE is still refused (23000)"
	ag_sqlstate "$db" 23000 "DELETE FROM audit_log" "$db: DELETE is still refused (23000)"
	ag_sqlstate "$db" 23000 "TRUNCATE audit_log" "$db: TRUNCATE is still refused (23000)"
	ag_sqlstate "$db" 42501 "ALTER TABLE audit_log DISABLE TRIGGER ALL" \
		"$db: DISABLE TRIGGER is still refused to the superuser (42501)"
	ag_sqlstate "$db" 42501 "SET session_replication_role = replica" \
		"$db: replica is still refused (42501)"
	ag_ok "$db: INSERT still works" \
		ag_scalar "$db" "INSERT INTO audit_log (actor) VALUES ('after restore') RETURNING id"
	ag_ok "$db: the designated owner can still unprotect" \
		"$AG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -d "$db" \
		-c "SET ROLE regress_dump_owner" -c "SELECT audit_guard.unprotect('audit_log')"
	ag_is "$(ag_scalar "$db" "SELECT count(*) FROM audit_guard.registry")" "0" \
		"$db: and the registry is empty then"
done

# A data-only dump with --disable-triggers cannot be loaded into a protected
# table: the DISABLE TRIGGER ALL it emits is refused (README says so).
ag_ok "pg_dump --data-only --disable-triggers" \
	"$AG_BINDIR/pg_dump" -d "$src" --data-only --disable-triggers -t audit_log -f "$AG_DIR/data_only.sql"
ag_ok "the data-only dump disables triggers" grep -q 'DISABLE TRIGGER ALL' "$AG_DIR/data_only.sql"
ag_sqlstate "$src" 42501 "\\i $AG_DIR/data_only.sql" \
	"loading it into the protected table is refused at DISABLE TRIGGER ALL (42501)"
ag_is "$(ag_scalar "$src" "$fingerprint")" "$want_rows" "the source table is unchanged"

"$AG_BINDIR/psql" -X -q -d "$src" -c "SET ROLE regress_dump_owner" \
	-c "SELECT audit_guard.unprotect('audit_log')" >/dev/null
ag_drop_database ag_dump_custom
ag_drop_database ag_dump_plain
ag_drop_database "$src" regress_dump_owner regress_dump_app
ag_done
