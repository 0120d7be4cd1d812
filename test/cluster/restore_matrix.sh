#!/usr/bin/env bash
# Restore matrix (issue 10): every dump and restore form a DBA uses, each
# ending in the same protection as the source (same tables protected, same
# designated owners, guard triggers ENABLE ALWAYS, check() clean, every row
# there, changes refused) or in a clear error; never a silent downgrade.
# The cases that depend on failing closed (guard triggers without a
# registry row) are in restore_failclosed.sh.
set -uo pipefail
ROOT=${AG_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
source "$ROOT/scripts/cluster.sh"
source "$ROOT/test/cluster/restore_lib.bash"
ag_cluster_attach || exit 1

rm_make_source || exit 1
rm_source_state
B=$AG_BINDIR
D=$AG_DIR/rm
rm -rf "$D.dir"
ag_ok "pg_dump, plain" "$B/pg_dump" -d "$RM_SRC" -f "$D.sql"
ag_ok "pg_dump, custom" "$B/pg_dump" -Fc -d "$RM_SRC" -f "$D.custom"
ag_ok "pg_dump, directory" "$B/pg_dump" -Fd -d "$RM_SRC" -f "$D.dir"
ag_ok "pg_dump --schema-only" "$B/pg_dump" -Fc --schema-only -d "$RM_SRC" -f "$D.schema"
ag_ok "pg_dump --data-only" "$B/pg_dump" -Fc --data-only -d "$RM_SRC" -f "$D.data"
ag_ok "pg_dump -t audit.audit_log" "$B/pg_dump" -Fc -t audit.audit_log -d "$RM_SRC" -f "$D.table"

# What pg_dump emits for the extension: its schema as an object of its own
# (PostgreSQL refuses to make the schema that contains an extension a member
# of it), then CREATE EXTENSION IF NOT EXISTS ... WITH SCHEMA audit_guard.
ag_ok "the plain dump creates schema audit_guard itself" grep -qx 'CREATE SCHEMA audit_guard;' "$D.sql"
ag_ok "and then the extension, if it does not exist" \
	grep -qx 'CREATE EXTENSION IF NOT EXISTS audit_guard WITH SCHEMA audit_guard;' "$D.sql"
ag_ok "the registry's rows are in the dump" grep -q '^COPY audit_guard.registry ' "$D.sql"

# plain, custom, directory into a database without the extension
rm_target ag_rm_plain
rm_run "$B/psql" -X -q -1 -v ON_ERROR_STOP=1 -d ag_rm_plain -f "$D.sql"
ag_is "$RM_RC" 0 "plain: psql -1 -v ON_ERROR_STOP=1 restores"
rm_verify_same ag_rm_plain plain

rm_target ag_rm_custom
rm_run "$B/pg_restore" --exit-on-error --single-transaction -d ag_rm_custom "$D.custom"
ag_is "$RM_RC" 0 "custom: pg_restore --exit-on-error --single-transaction restores"
rm_verify_same ag_rm_custom custom
# history keeps the source's OIDs; table_history says what stays true
ag_is "$(ag_scalar ag_rm_custom "SELECT count(*) FROM audit_guard.table_history WHERE recorded = 'elsewhere' AND table_now::text = table_name")" \
	"$(ag_scalar "$RM_SRC" "SELECT count(*) FROM audit_guard.history")" \
	"custom: every history event is marked as recorded elsewhere, and finds its table by name"
ag_is "$(ag_scalar ag_rm_custom "SELECT count(*) FROM audit_guard.table_history h WHERE h.table_now IS DISTINCT FROM to_regclass(h.table_name) OR h.recorded_relid = h.table_now::oid")" \
	0 "custom: no event points at a table by its source OID"

# (pg_restore -j, in parallel, is restore_parallel.sh)
rm_target ag_rm_dir
rm_run "$B/pg_restore" --exit-on-error -d ag_rm_dir "$D.dir"
ag_is "$RM_RC" 0 "directory: pg_restore restores"
rm_verify_same ag_rm_dir directory

# --no-owner: the restoring superuser owns everything; the designated
# owners are roles, so they are the same
rm_target ag_rm_noowner
rm_run "$B/pg_restore" --exit-on-error --no-owner -d ag_rm_noowner "$D.custom"
ag_is "$RM_RC" 0 "--no-owner: pg_restore restores"
rm_verify_same ag_rm_noowner no-owner

# --schema-only, then --data-only (no --disable-triggers): the end state
# (the window between the two is in restore_failclosed.sh)
rm_target ag_rm_split
rm_run "$B/pg_restore" --exit-on-error -d ag_rm_split "$D.schema"
ag_is "$RM_RC" 0 "split: the --schema-only part restores"
rm_run "$B/pg_restore" --exit-on-error -d ag_rm_split "$D.data"
ag_is "$RM_RC" 0 "split: the --data-only part restores (INSERT needs no trigger disabled)"
rm_verify_same ag_rm_split "schema-only + data-only"

# Into a database where the superuser created audit_guard already.
# PostgreSQL 15 cannot make schema audit_guard a member of the extension
# (it contains the extension), so every dump creates it, and that fails.
rm_target ag_rm_pre with-extension
rm_run "$B/psql" -X -q -1 -v ON_ERROR_STOP=1 -d ag_rm_pre -f "$D.sql"
ag_ok "pre-created extension, plain dump in one transaction: a clear error" \
	test "$RM_RC" -ne 0
ag_ok "  naming the schema that exists" grep -q 'schema "audit_guard" already exists' <<<"$RM_OUT"
ag_is "$(ag_scalar ag_rm_pre "SELECT to_regnamespace('audit') IS NULL")" t \
	"  and nothing restored (schema audit absent)"
#    without -1: the one error is reported, the rest is restored
rm_target ag_rm_pre2 with-extension
rm_run "$B/pg_restore" -d ag_rm_pre2 "$D.custom"
ag_ok "pre-created extension, pg_restore without --exit-on-error: exit status 1" test "$RM_RC" -eq 1
ag_ok "  with the CREATE SCHEMA error alone" \
	bash -c 'grep -q "errors ignored on restore: 1$" <<<"$1"' _ "$RM_OUT"
rm_verify_same ag_rm_pre2 "pre-created extension, pg_restore"
#    the clean way (README): leave the schema's entry out of the list
rm_target ag_rm_pre3 with-extension
"$B/pg_restore" -l "$D.custom" | grep -v ' SCHEMA - audit_guard ' >"$D.list"
rm_run "$B/pg_restore" --exit-on-error --single-transaction -L "$D.list" -d ag_rm_pre3 "$D.custom"
ag_is "$RM_RC" 0 "pre-created extension, pg_restore -L without the schema entry: restores cleanly"
rm_verify_same ag_rm_pre3 "pre-created extension, pg_restore -L"
#    and a plain script made from that list works with psql -1 too
"$B/pg_restore" -L "$D.list" -f "$D.nosch.sql" "$D.custom"
rm_target ag_rm_pre4 with-extension
rm_run "$B/psql" -X -q -1 -v ON_ERROR_STOP=1 -d ag_rm_pre4 -f "$D.nosch.sql"
ag_is "$RM_RC" 0 "pre-created extension, plain script from that list: psql -1 restores"
rm_verify_same ag_rm_pre4 "pre-created extension, plain from list"

# -t into a database without the extension: the guard triggers cannot
# be created (their function does not exist), which pg_restore reports
rm_target ag_rm_table_fresh fresh with-schema
rm_run "$B/pg_restore" -d ag_rm_table_fresh "$D.table"
ag_ok "-t into a database without audit_guard: pg_restore fails" test "$RM_RC" -ne 0
ag_ok "  saying that schema audit_guard (of the trigger function) does not exist" \
	grep -q 'schema "audit_guard" does not exist' <<<"$RM_OUT"

# A non-superuser restoring into a database without the extension:
# CREATE EXTENSION needs a superuser, and pg_restore says so
rm_target ag_rm_nosuper_fresh
rm_run "$B/pg_restore" --no-owner -U regress_rm_restorer -d ag_rm_nosuper_fresh "$D.custom"
ag_ok "non-superuser, no extension: pg_restore fails" test "$RM_RC" -ne 0
ag_ok "  saying it may not create extension audit_guard" \
	grep -q 'permission denied to create extension "audit_guard"' <<<"$RM_OUT"

for db in ag_rm_plain ag_rm_custom ag_rm_dir ag_rm_noowner ag_rm_split ag_rm_pre ag_rm_pre2 \
	ag_rm_pre3 ag_rm_pre4 ag_rm_table_fresh ag_rm_nosuper_fresh "$RM_SRC"; do
	ag_drop_database "$db" >/dev/null
done
ag_psql -d postgres -c "DROP ROLE regress_rm_owner, regress_rm_audit, regress_rm_app, regress_rm_restorer" >/dev/null
ag_done
