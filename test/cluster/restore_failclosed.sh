#!/usr/bin/env bash
# Restores that leave guard triggers without registry rows (issue 10).
#
# EXPECTED TO FAIL until audit_guard fails closed (the lead's part of issue
# 10): a table that carries audit_guard's guard triggers is protected
# whether or not its registry row exists, its designated owner being the
# table's owner until protect() names another; audit_guard's own triggers
# may be re-enabled.  Each case says what it expects:
#
#   window   after --schema-only, before --data-only: the tables refuse
#            changes and DISABLE TRIGGER (superuser too); check() reports
#            the missing registry rows
#   split-dt --schema-only, then --data-only --disable-triggers: the end
#            state is the source's (registry, ALWAYS triggers, registry
#            trigger enabled, check() clean, every row), and any refusal
#            along the way is reported as an error, not a downgrade
#   table    -t audit.audit_log into a database that has audit_guard: the
#            table is protected without its row; check() says so; the
#            table's owner registers it with protect()
#   managed  a non-superuser restores into a database where the superuser
#            created audit_guard first: pg_restore reports the registry rows
#            it could not write; the tables are protected all the same; the
#            restorer, now their owner, registers them with protect()
set -uo pipefail
ROOT=${AG_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
source "$ROOT/scripts/cluster.sh"
source "$ROOT/test/cluster/restore_lib.bash"
ag_cluster_attach || exit 1

rm_make_source || exit 1
rm_source_state
B=$AG_BINDIR
D=$AG_DIR/rmfc
ag_ok "pg_dump --schema-only" "$B/pg_dump" -Fc --schema-only -d "$RM_SRC" -f "$D.schema"
ag_ok "pg_dump --data-only --disable-triggers" \
	"$B/pg_dump" -Fc --data-only --disable-triggers -d "$RM_SRC" -f "$D.data_dt"
ag_ok "pg_dump, custom" "$B/pg_dump" -Fc -d "$RM_SRC" -f "$D.custom"
ag_ok "pg_dump -t audit.audit_log" "$B/pg_dump" -Fc -t audit.audit_log -d "$RM_SRC" -f "$D.table"

# The registered check of one table: 'ok' or its detail.
registered() {
	ag_scalar "$1" "SELECT CASE status WHEN 'ok' THEN 'ok' ELSE detail END
		FROM audit_guard.check('$2') WHERE check_name = 'registered'"
}

# window: schema-only restored, data not yet
rm_target ag_fc_split
rm_run "$B/pg_restore" --exit-on-error -d ag_fc_split "$D.schema"
ag_is "$RM_RC" 0 "window: the --schema-only part restores"
ag_is "$(ag_scalar ag_fc_split "SELECT count(*) FROM audit_guard.registry")" 0 \
	"window: no registry row yet (a schema-only dump has none)"
ag_is "$(ag_scalar ag_fc_split "$RM_TRIGGERS")" "$RM_WANT_TRIGGERS" "window: the guard triggers are there, ALWAYS"
rm_verify_refused ag_fc_split window
ag_is "$(registered ag_fc_split audit.audit_log)" \
	"the table carries audit_guard's guard triggers, so it is protected (fail closed), but it has no row in audit_guard.registry: its designated owner is its table owner until audit_guard.protect() records one" \
	"window: check() reports audit_log's missing registry row"

# split-dt: then the data, with --disable-triggers
rm_run "$B/pg_restore" -d ag_fc_split "$D.data_dt"
if [ "$RM_RC" -ne 0 ]; then
	ag_ok "split-dt: what pg_restore could not do is an error it reports" \
		grep -q 'permission denied\|ERROR' <<<"$RM_OUT"
fi
rm_verify_same ag_fc_split "split-dt"

# table: -t into a database that has audit_guard
rm_target ag_fc_table with-extension with-schema
rm_run "$B/pg_restore" -d ag_fc_table "$D.table"
ag_is "$RM_RC" 0 "table: pg_restore -t restores"
ag_is "$(ag_scalar ag_fc_table "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'audit.audit_log'::regclass AND tgfoid = 'audit_guard.reject_change()'::regprocedure AND tgenabled = 'A'")" \
	2 "table: both guard triggers, ALWAYS"
ag_sqlstate ag_fc_table 23000 "BEGIN; UPDATE audit.audit_log SET actor = 'mallory'; ROLLBACK" "table: UPDATE refused (23000)"
ag_sqlstate ag_fc_table 42501 "BEGIN; ALTER TABLE audit.audit_log DISABLE TRIGGER ALL; ROLLBACK" \
	"table: DISABLE TRIGGER ALL refused to the superuser (42501)"
ag_sqlstate ag_fc_table 42501 "BEGIN; ALTER TABLE audit.audit_log ENABLE TRIGGER audit_guard_append_only; ROLLBACK" \
	"table: downgrading a guard trigger to ENABLE (origin) refused to the superuser (42501)"
ag_sqlstate ag_fc_table 42501 "BEGIN; DROP TRIGGER audit_guard_append_only ON audit.audit_log; ROLLBACK" \
	"table: DROP TRIGGER refused to the superuser (42501)"
ag_is "$(registered ag_fc_table audit.audit_log)" \
	"the table carries audit_guard's guard triggers, so it is protected (fail closed), but it has no row in audit_guard.registry: its designated owner is its table owner until audit_guard.protect() records one" \
	"table: check() reports the missing registry row"
ag_ok "table: the table's owner registers it, naming the designated owner" \
	ag_psql -d ag_fc_table -c "SET ROLE regress_rm_owner" \
	-c "SELECT audit_guard.protect('audit.audit_log', owner => 'regress_rm_audit')"
ag_is "$(registered ag_fc_table audit.audit_log)" ok "table: then check() is clean"

# managed: a non-superuser restores into a pre-created extension
rm_target ag_fc_managed with-extension
rm_run "$B/pg_restore" --no-owner -U regress_rm_restorer -d ag_fc_managed "$D.custom"
ag_ok "managed: pg_restore reports an error" test "$RM_RC" -ne 0
ag_ok "managed: it says the registry could not be written" \
	grep -q 'permission denied for table registry' <<<"$RM_OUT"
ag_is "$(ag_scalar ag_fc_managed "$RM_DATA")" "$RM_WANT_DATA" "managed: every row of the tables is there"
ag_is "$(ag_scalar ag_fc_managed "$RM_TRIGGERS")" "$RM_WANT_TRIGGERS" "managed: the guard triggers are there, ALWAYS"
rm_verify_refused ag_fc_managed managed
ag_is "$(registered ag_fc_managed audit.events)" \
	"the table carries audit_guard's guard triggers, so it is protected (fail closed), but it has no row in audit_guard.registry: its designated owner is its table owner until audit_guard.protect() records one" \
	"managed: check() reports the missing registry rows"
ag_ok "managed: the restorer, the tables' owner now, registers them" \
	ag_psql -d ag_fc_managed -U regress_rm_restorer \
	-c "SELECT audit_guard.protect('audit.audit_log', owner => 'regress_rm_audit')" \
	-c "SELECT audit_guard.protect('audit.events', owner => 'regress_rm_audit')"
ag_is "$(ag_scalar ag_fc_managed "$RM_REGISTRY")" "$RM_WANT_REGISTRY" \
	"managed: then the same tables are protected, with the same designated owners"
ag_is "$(ag_scalar ag_fc_managed "SELECT count(*) FROM audit_guard.check() WHERE status <> 'ok'")" 0 \
	"managed: and check() is clean"

for db in ag_fc_split ag_fc_table ag_fc_managed "$RM_SRC"; do
	ag_drop_database "$db" >/dev/null
done
ag_psql -d postgres -c "DROP ROLE regress_rm_owner, regress_rm_audit, regress_rm_app, regress_rm_restorer" >/dev/null
ag_done
