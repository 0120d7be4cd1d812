#!/usr/bin/env bash
# Issue 8, class 6, the parts that need committed tables or run outside a
# transaction block:
#   - ALTER SYSTEM SET shared_preload_libraries = '' (and RESET, RESET ALL)
#     would take the guard away at the next restart: refused (42501) to a
#     superuser who is not the designated owner; postgresql.auto.conf is
#     left as it was.  ALTER SYSTEM of an unrelated setting still works.
#   - pg_repack's repack.repack_swap() on a protected table, from a SELECT,
#     swaps in a heap of forged rows: refused (42501), rows unchanged.  The
#     pg_repack client on a protected table fails and changes nothing; on an
#     unprotected table it still works.
#   - VACUUM FULL of a protected table by the table owner and by a superuser
#     still works and keeps the rows.
# Each refusal is followed by an application INSERT that must land.
set -uo pipefail
source "${AG_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}/scripts/cluster.sh"
ag_cluster_attach || exit 1

db=ag_i8_storage
roles=(regress_i8s_tblowner regress_i8s_owner regress_i8s_app)
auto_conf=$AG_DATA/postgresql.auto.conf
ag_fresh_database "$db" "${roles[@]}" || exit 1
ag_psql -d "$db" >/dev/null <<'SQL' || exit 1
CREATE EXTENSION audit_guard;
GRANT regress_i8s_tblowner TO regress_i8s_owner;
CREATE TABLE audit_log (id bigint PRIMARY KEY, actor text NOT NULL, action text NOT NULL);
INSERT INTO audit_log SELECT g, 'user' || g, 'login' FROM generate_series(1, 50) g;
CREATE TABLE plain (id bigint PRIMARY KEY, note text);
INSERT INTO plain SELECT g, 'row ' || g FROM generate_series(1, 50) g;
ALTER TABLE audit_log OWNER TO regress_i8s_tblowner;
ALTER TABLE plain OWNER TO regress_i8s_tblowner;
GRANT SELECT, INSERT ON audit_log TO regress_i8s_app;
SELECT audit_guard.protect('audit_log', owner => 'regress_i8s_owner');
SQL

fingerprint="SELECT count(*) || ':' || md5(string_agg(t::text, ',' ORDER BY id)) FROM audit_log t"
guards="SELECT string_agg(tgname || '=' || tgenabled::text, ',' ORDER BY tgname) FROM pg_trigger
	WHERE tgrelid = 'audit_log'::regclass"
want=$(ag_scalar "$db" "$fingerprint")
want_guards=$(ag_scalar "$db" "$guards")
next_id=1000

# The application's INSERT lands, and is then part of what must not change.
app_insert_lands() {
	next_id=$((next_id + 1))
	ag_ok "$1: the application's next INSERT lands" \
		ag_psql -d "$db" -c "SET ROLE regress_i8s_app" \
		-c "INSERT INTO audit_log VALUES ($next_id, 'app', 'probe')"
	ag_is "$(ag_scalar "$db" "SELECT count(*) FROM audit_log WHERE id = $next_id")" 1 \
		"$1: the row is in the audit table"
	want=$(ag_scalar "$db" "$fingerprint")
}

# ALTER SYSTEM: a line the attack would remove, so that RESET ALL shows too
ag_as_owner cp "$auto_conf" "$AG_DIR/auto.conf.saved"
printf "shared_preload_libraries = 'audit_guard'\n" | ag_as_owner tee -a "$auto_conf" >/dev/null
auto_before=$(md5sum <"$auto_conf")
for stmt in "ALTER SYSTEM SET shared_preload_libraries = ''" \
	"ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'" \
	"ALTER SYSTEM RESET shared_preload_libraries" \
	"ALTER SYSTEM RESET ALL"; do
	ag_sqlstate "$db" 42501 "$stmt" "superuser: $stmt is refused with 42501"
	ag_is "$(md5sum <"$auto_conf")" "$auto_before" "superuser: $stmt leaves postgresql.auto.conf as it was"
	app_insert_lands "superuser: $stmt"
done
ag_ok "superuser: ALTER SYSTEM SET work_mem still works" \
	ag_psql -d "$db" -c "ALTER SYSTEM SET work_mem = '8MB'"
ag_ok "superuser: ALTER SYSTEM RESET work_mem still works" \
	ag_psql -d "$db" -c "ALTER SYSTEM RESET work_mem"
# whatever happened above, the next server start must still preload audit_guard
ag_as_owner cp "$AG_DIR/auto.conf.saved" "$auto_conf"

# pg_repack, when the server has it
if [ -n "$(ag_scalar "$db" "SELECT 1 FROM pg_available_extensions WHERE name = 'pg_repack'")" ] &&
	[ -x "$AG_BINDIR/pg_repack" ]; then
	ag_psql -d "$db" -c "CREATE EXTENSION pg_repack" >/dev/null
	oid=$(ag_scalar "$db" "SELECT 'audit_log'::regclass::oid")
	pkey=$(ag_scalar "$db" "SELECT 'audit_log_pkey'::regclass::oid")
	ag_psql -d "$db" >/dev/null <<-SQL
		CREATE TABLE repack.table_$oid (LIKE audit_log);
		INSERT INTO repack.table_$oid SELECT id, 'mallory', 'forged' FROM audit_log;
		CREATE UNIQUE INDEX index_$pkey ON repack.table_$oid (id);
	SQL
	ag_sqlstate "$db" 42501 "SELECT repack.repack_swap($oid)" \
		"superuser: SELECT repack.repack_swap() on the protected table is refused with 42501"
	ag_is "$(ag_scalar "$db" "$fingerprint")" "$want" "superuser: repack_swap(): the rows are unchanged"
	app_insert_lands "superuser: repack_swap()"
	ag_psql -d "$db" -c "DROP TABLE IF EXISTS repack.table_$oid" >/dev/null 2>&1
	# the client on the protected table: it must not get through
	out=$(timeout -k 5 60 "$AG_BINDIR/pg_repack" -d "$db" -t audit_log 2>&1)
	echo "# pg_repack -t audit_log: exit $?: $(tr '\n' ' ' <<<"$out" | cut -c1-300)"
	ag_is "$(ag_scalar "$db" "$fingerprint")" "$want" "superuser: pg_repack -t audit_log: the rows are unchanged"
	ag_is "$(ag_scalar "$db" "$guards")" "$want_guards" \
		"superuser: pg_repack -t audit_log: the guard triggers are unchanged"
	app_insert_lands "superuser: pg_repack -t audit_log"
	# legitimate neighbour: an unprotected table
	plain_before=$(ag_scalar "$db" "SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM plain t")
	plain_node=$(ag_scalar "$db" "SELECT relfilenode FROM pg_class WHERE oid = 'plain'::regclass")
	ag_ok "superuser: pg_repack -t plain (unprotected) works" \
		timeout -k 5 60 "$AG_BINDIR/pg_repack" -d "$db" -t plain
	ag_is "$(ag_scalar "$db" "SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM plain t")" "$plain_before" \
		"superuser: pg_repack -t plain kept its rows"
	ag_ok "superuser: pg_repack -t plain gave it new storage" \
		test "$(ag_scalar "$db" "SELECT relfilenode FROM pg_class WHERE oid = 'plain'::regclass")" != "$plain_node"
else
	echo "# pg_repack is not installed (Debian: postgresql-15-repack): skipped"
fi

# VACUUM FULL of the protected table still works, and keeps the rows
for who in regress_i8s_tblowner superuser; do
	set_role="RESET ROLE"
	[ "$who" = superuser ] || set_role="SET ROLE $who"
	ag_ok "$who: VACUUM FULL audit_log works" ag_psql -d "$db" -c "$set_role" -c "VACUUM FULL audit_log"
	ag_is "$(ag_scalar "$db" "$fingerprint")" "$want" "$who: VACUUM FULL kept the rows"
	ag_is "$(ag_scalar "$db" "$guards")" "$want_guards" "$who: VACUUM FULL kept the guard triggers"
	ag_ok "$who: VACUUM FULL ANALYZE audit_log works" \
		ag_psql -d "$db" -c "$set_role" -c "VACUUM (FULL, ANALYZE) audit_log"
	ag_sqlstate "$db" 23000 "DELETE FROM audit_log" "$who: after VACUUM FULL, DELETE is refused"
	app_insert_lands "$who: VACUUM FULL"
done

"$AG_BINDIR/psql" -X -q -d "$db" -c "SET ROLE regress_i8s_owner" \
	-c "SELECT audit_guard.unprotect('audit_log')" >/dev/null
ag_drop_database "$db" "${roles[@]}"
ag_done
