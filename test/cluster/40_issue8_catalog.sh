#!/usr/bin/env bash
# Issue 8, class 4, the parts a pgTAP transaction cannot show:
#   - COPY pg_trigger FROM STDIN (psql) with a row that adds a swallowing
#     BEFORE INSERT trigger to the audit table, and UPDATE pg_trigger turning
#     its allowed AFTER INSERT trigger into a BEFORE INSERT one: refused
#     (42501) to a superuser, and the application's INSERT from a new
#     session (which builds its relcache afresh, so that a catalog edit that
#     got through would take effect there) lands.
#   - legitimate neighbour: an extension whose upgrade script edits its own
#     catalog rows (a throwaway extension written into the server's
#     extension directory for this scenario and removed afterwards) still
#     installs and upgrades while tables are protected.
set -uo pipefail
source "${AG_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}/scripts/cluster.sh"
ag_cluster_attach || exit 1

db=ag_i8_catalog
roles=(regress_i8c_tblowner regress_i8c_owner regress_i8c_app)
extdir=$("${PG_CONFIG:-pg_config}" --sharedir)/extension
ext=regress_i8_catalog_ext
trap 'rm -f "$extdir/$ext".control "$extdir/$ext"--*.sql; ag_cluster_cleanup' EXIT

ag_fresh_database "$db" "${roles[@]}" || exit 1
ag_psql -d "$db" >/dev/null <<'SQL' || exit 1
CREATE EXTENSION audit_guard;
CREATE FUNCTION return_null() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TABLE audit_log (id bigint PRIMARY KEY, actor text NOT NULL, action text NOT NULL);
INSERT INTO audit_log VALUES (1, 'alice', 'login'), (2, 'bob', 'logout');
CREATE TRIGGER after_insert_ok AFTER INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION return_null();
ALTER TABLE audit_log OWNER TO regress_i8c_tblowner;
GRANT SELECT, INSERT ON audit_log TO regress_i8c_app;
SELECT audit_guard.protect('audit_log', owner => 'regress_i8c_owner');
SQL

fingerprint="SELECT (SELECT count(*) || ':' || md5(string_agg(t::text, ',' ORDER BY id)) FROM audit_log t)
	|| ' ' || (SELECT string_agg(tgname || '=' || tgenabled::text || '/' || tgtype, ',' ORDER BY tgname)
			   FROM pg_trigger WHERE tgrelid = 'audit_log'::regclass)"
want=$(ag_scalar "$db" "$fingerprint")
next_id=1000

# A new session of the application inserts; the row must be there.
app_insert_lands() {
	next_id=$((next_id + 1))
	ag_psql -d "$db" -c "SET ROLE regress_i8c_app" \
		-c "INSERT INTO audit_log VALUES ($next_id, 'app', 'probe')" >/dev/null 2>&1
	ag_is "$(ag_scalar "$db" "SELECT count(*) FROM audit_log WHERE id = $next_id")" 1 \
		"$1: the application's next INSERT, in a new session, lands"
	want=$(ag_scalar "$db" "$fingerprint")
}

# COPY pg_trigger FROM STDIN: the allowed trigger's row as a BEFORE INSERT one
row=$(ag_scalar "$db" "COPY (SELECT (jsonb_populate_record(t, jsonb_build_object(
		'oid', (SELECT max(oid)::int8 + 1 FROM pg_trigger), 'tgname', 'swallow', 'tgtype', 7))).*
		FROM pg_trigger t WHERE tgrelid = 'audit_log'::regclass AND tgname = 'after_insert_ok') TO STDOUT")
out=$(printf '\\set VERBOSITY sqlstate\nCOPY pg_catalog.pg_trigger FROM STDIN;\n%s\n\\.\n' "$row" |
	"$AG_BINDIR/psql" -X -q -d "$db" 2>&1)
if [[ $out == *"ERROR:  42501"* ]]; then
	ag_pass "superuser: COPY pg_trigger FROM STDIN is refused with 42501"
else
	ag_fail "superuser: COPY pg_trigger FROM STDIN is refused with 42501" "got: ${out:-no error}"
fi
ag_is "$(ag_scalar "$db" "$fingerprint")" "$want" "superuser: COPY pg_trigger FROM STDIN changed nothing"
app_insert_lands "superuser: COPY pg_trigger FROM STDIN"

# UPDATE pg_trigger: the allowed AFTER INSERT trigger becomes BEFORE INSERT
ag_sqlstate "$db" 42501 "UPDATE pg_catalog.pg_trigger SET tgtype = 7
	WHERE tgrelid = 'audit_log'::regclass AND tgname = 'after_insert_ok'" \
	"superuser: UPDATE pg_trigger SET tgtype (AFTER INSERT to BEFORE INSERT) is refused with 42501"
ag_is "$(ag_scalar "$db" "$fingerprint")" "$want" "superuser: UPDATE pg_trigger SET tgtype changed nothing"
app_insert_lands "superuser: UPDATE pg_trigger SET tgtype"

# a rule moved onto the audit table through pg_rewrite
ag_psql -d "$db" >/dev/null <<'SQL'
CREATE TABLE scratch (LIKE audit_log);
CREATE RULE swallow AS ON INSERT TO scratch DO INSTEAD NOTHING;
SQL
ag_sqlstate "$db" 42501 "UPDATE pg_catalog.pg_rewrite SET ev_class = 'audit_log'::regclass
	WHERE ev_class = 'scratch'::regclass AND rulename = 'swallow';
	UPDATE pg_catalog.pg_class SET relhasrules = true WHERE oid = 'audit_log'::regclass" \
	"superuser: moving a DO INSTEAD NOTHING rule onto the audit table in pg_rewrite is refused with 42501"
ag_is "$(ag_scalar "$db" "SELECT count(*) FROM pg_rewrite WHERE ev_class = 'audit_log'::regclass")" 0 \
	"superuser: the audit table has no rule"
app_insert_lands "superuser: UPDATE pg_rewrite SET ev_class"

# legitimate neighbour: an extension upgrade that edits its own catalog rows
cat >"$extdir/$ext.control" <<'EOF'
comment = 'audit_guard test: an upgrade script that edits its own catalog rows'
default_version = '1.1'
relocatable = false
schema = public
EOF
cat >"$extdir/$ext--1.0.sql" <<'EOF'
CREATE FUNCTION regress_i8_catalog_ext_f() RETURNS int LANGUAGE sql AS 'SELECT 1';
CREATE TABLE regress_i8_catalog_ext_t (id int, note text);
EOF
cat >"$extdir/$ext--1.0--1.1.sql" <<'EOF'
UPDATE pg_catalog.pg_proc SET procost = 7
 WHERE oid = 'regress_i8_catalog_ext_f()'::pg_catalog.regprocedure;
UPDATE pg_catalog.pg_attribute SET attstattarget = 50
 WHERE attrelid = 'regress_i8_catalog_ext_t'::pg_catalog.regclass AND attname = 'note';
UPDATE pg_catalog.pg_class SET reloptions = '{fillfactor=90}'
 WHERE oid = 'regress_i8_catalog_ext_t'::pg_catalog.regclass;
EOF
chmod 644 "$extdir/$ext".control "$extdir/$ext"--*.sql
ag_ok "superuser: CREATE EXTENSION $ext VERSION '1.0' works" \
	ag_psql -d "$db" -c "CREATE EXTENSION $ext VERSION '1.0'"
ag_ok "superuser: ALTER EXTENSION $ext UPDATE (editing its own catalog rows) works" \
	ag_psql -d "$db" -c "ALTER EXTENSION $ext UPDATE TO '1.1'"
ag_is "$(ag_scalar "$db" "SELECT procost || ' ' || (SELECT attstattarget FROM pg_attribute
		WHERE attrelid = 'regress_i8_catalog_ext_t'::regclass AND attname = 'note')
		|| ' ' || (SELECT reloptions::text FROM pg_class WHERE oid = 'regress_i8_catalog_ext_t'::regclass)
	FROM pg_proc WHERE oid = 'regress_i8_catalog_ext_f()'::regprocedure")" "7 50 {fillfactor=90}" \
	"superuser: the upgrade script's catalog edits are in place"
ag_ok "superuser: DROP EXTENSION $ext works" ag_psql -d "$db" -c "DROP EXTENSION $ext"
ag_is "$(ag_scalar "$db" "$fingerprint")" "$want" "the audit table is as it was"
app_insert_lands "after the extension upgrade"

"$AG_BINDIR/psql" -X -q -d "$db" -c "SET ROLE regress_i8c_owner" \
	-c "SELECT audit_guard.unprotect('audit_log')" >/dev/null
ag_drop_database "$db" "${roles[@]}"
ag_done
