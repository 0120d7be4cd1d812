#!/usr/bin/env bash
# Tampering below the guard, caught by the seal.
#
# 1. The server restarts without the preload; a superuser disables the
#    guard triggers, changes one sealed row, deletes another, restores the
#    triggers, and the server restarts with the preload: the guard looks
#    intact, and verify() and audit_guard_verify both name the two keys.
# 2. With the guard off again, the seal data is wiped and, back on, the
#    table re-sealed: a consistent rewrite that verify() cannot see, and a
#    digest saved before catches (verify(digest) and --digest).
# Restores the setting at the end.
set -uo pipefail
source "${AG_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}/scripts/cluster.sh"
ag_cluster_attach || exit 1

db=ag_seal_tamper
verifier=$AG_BINDIR/audit_guard_verify
digest=$AG_DIR/seal_tamper_digest.json
ag_fresh_database "$db" regress_tamper_owner || exit 1
ag_psql -d "$db" <<'SQL' >/dev/null || exit 1
CREATE EXTENSION audit_guard;
CREATE TABLE audit_log (id bigint PRIMARY KEY, at timestamptz NOT NULL,
						actor text NOT NULL, note text);
ALTER TABLE audit_log OWNER TO regress_tamper_owner;
INSERT INTO audit_log
SELECT g, '2026-01-01'::timestamptz + g * interval '1 minute', 'user_' || g % 7,
	   CASE WHEN g % 5 = 0 THEN NULL ELSE 'event ' || g END
  FROM generate_series(1, 100) g;
SELECT audit_guard.protect('audit_log');
SELECT audit_guard.seal();
SQL

# Problems as "block key problem" lines (and their count first, so that an
# error cannot pass for "no problem"), from the server and from the client.
server_problems() {
	ag_scalar "$db" "SELECT count(*) || E'\n' || coalesce(string_agg(concat_ws(' ', block, row_key, problem),
			E'\n' ORDER BY block, row_key), '')
		FROM audit_guard.verify('audit_log'::regclass) WHERE table_name = 'audit_log'::regclass"
}
client_problems() {
	"$verifier" -q -d "$db" "$@" | awk -F'\t' '$1 == "public.audit_log" {
		line = $2; if ($3 != "") line = line " " $3; print line " " $4 }' | sort -k1,1n -k2
}

ag_ok "audit_guard_verify finds the sealed table intact and saves a digest" \
	"$verifier" -q -d "$db" --save-digest "$digest"
ag_ok "the digest names the table at block 1" grep -q '"table": "public.audit_log", "block": 1' "$digest"

# 1. below the guard: no preload, triggers off, one row changed, one deleted
ag_ok "restart without the preload" ag_conf_override "shared_preload_libraries = ''"
ag_ok "a superuser rewrites history with the guard off" ag_psql -d "$db" <<'SQL'
ALTER TABLE audit_log DISABLE TRIGGER ALL;
UPDATE audit_log SET note = 'nothing happened' WHERE id = 17;
DELETE FROM audit_log WHERE id = 42;
ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_guard_append_only;
ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_guard_no_truncate;
SQL
ag_ok "restart with the preload" ag_conf_reset
ag_is "$(ag_scalar "$db" "SELECT count(*) FROM audit_guard.check('audit_log') WHERE status <> 'ok'")" \
	"0" "the guard looks intact to check()"
ag_is "$(server_problems)" "2
1 17 row changed
1 42 row missing" "verify() names both keys: 17 changed, 42 missing"
out=$("$verifier" -q -d "$db")
rc=$?
printf '%s\n' "$out" | sed 's/^/#   /'
ag_is "$rc" "1" "audit_guard_verify exits 1"
ag_is "$(client_problems)" "1 17 row changed
1 42 row missing" "audit_guard_verify names both keys, block 1"
ag_is "$(printf '%s\n' "$out" | wc -l)" "2" "one line per problem"
ag_is "$(client_problems audit_log)" "1 17 row changed
1 42 row missing" "the same when the table is named on the command line"
ag_is "$("$verifier" -d "$db" audit_log 2>&1 >/dev/null)" \
	"audit_guard_verify: 1 table, 1 block, 99 rows read: 2 problems found" \
	"a table named alone is read, and only it"

# 2. the seal data wiped with the guard off, the table re-sealed
ag_ok "restart without the preload" ag_conf_override "shared_preload_libraries = ''"
ag_ok "a superuser wipes the seal data" ag_psql -d "$db" <<'SQL'
-- audit_guard's own ALWAYS triggers call into the library, which is not
-- loaded: the attacker switches them off first, as a superuser can here
ALTER TABLE audit_guard.seal_rows DISABLE TRIGGER USER;
ALTER TABLE audit_guard.seal_blocks DISABLE TRIGGER USER;
DELETE FROM audit_guard.seal_rows WHERE relid = 'audit_log'::regclass;
DELETE FROM audit_guard.seal_blocks WHERE relid = 'audit_log'::regclass;
ALTER TABLE audit_guard.seal_rows ENABLE ALWAYS TRIGGER own_table_guard;
ALTER TABLE audit_guard.seal_rows ENABLE ALWAYS TRIGGER own_table_no_truncate;
ALTER TABLE audit_guard.seal_blocks ENABLE ALWAYS TRIGGER own_table_guard;
ALTER TABLE audit_guard.seal_blocks ENABLE ALWAYS TRIGGER own_table_no_truncate;
SQL
ag_ok "restart with the preload" ag_conf_reset
ag_ok "the table is sealed afresh" ag_psql -d "$db" -c "SELECT audit_guard.seal('audit_log')"
ag_is "$(server_problems)" "0" "verify() alone sees a consistent chain"
ag_ok "so does audit_guard_verify without a digest" "$verifier" -q -d "$db"
ag_is "$(ag_scalar "$db" "SELECT string_agg(problem || ' at block ' || block, ', ')
	FROM audit_guard.verify(pg_read_file('$digest')::jsonb) WHERE table_name = 'audit_log'::regclass")" \
	"digest mismatch at block 1" "verify(digest) catches the rewritten chain"
out=$("$verifier" -q -d "$db" --digest "$digest")
rc=$?
printf '%s\n' "$out" | sed 's/^/#   /'
ag_is "$rc" "1" "audit_guard_verify --digest exits 1"
ag_is "$(printf '%s\n' "$out" | cut -f1,2,4)" "public.audit_log	1	digest mismatch" \
	"audit_guard_verify --digest names the table and block"
ag_ok "--save-digest writes nothing when tampering was found" \
	bash -c "! \"$verifier\" -q -d $db --digest $digest --save-digest $AG_DIR/not_written.json &&
		test ! -e $AG_DIR/not_written.json"

ag_drop_database "$db" regress_tamper_owner
ag_done
