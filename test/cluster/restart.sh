#!/usr/bin/env bash
# Protection survives a server restart: new backends load the hooks from
# shared_preload_libraries and read the registry afresh.
set -uo pipefail
source "${AG_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}/scripts/cluster.sh"
ag_cluster_attach || exit 1

db=ag_restart
ag_fresh_database "$db" regress_restart_owner || exit 1
ag_psql -d "$db" <<'SQL' >/dev/null || exit 1
CREATE EXTENSION audit_guard;
CREATE TABLE audit_log (id int PRIMARY KEY, note text);
ALTER TABLE audit_log OWNER TO regress_restart_owner;
INSERT INTO audit_log VALUES (1, 'one'), (2, 'two');
SELECT audit_guard.protect('audit_log');
SQL
fingerprint="SELECT count(*) || ':' || md5(string_agg(t::text, ',' ORDER BY id)) FROM audit_log t"
want=$(ag_scalar "$db" "$fingerprint")

ag_ok "pg_ctl restart" ag_cluster_restart

ag_is "$(ag_scalar "$db" "SELECT audit_guard.hooks_active()")" "t" \
	"hooks are active in a new backend after restart"
ag_is "$(ag_scalar "$db" "SELECT count(*) FROM audit_guard.protected_tables")" "1" \
	"the registry survived"
ag_is "$(ag_scalar "$db" "SELECT string_agg(tgname || '=' || tgenabled::text, ',' ORDER BY tgname) FROM pg_trigger WHERE tgrelid = 'audit_log'::regclass")" \
	"audit_guard_append_only=A,audit_guard_no_truncate=A" "guard triggers are still ENABLE ALWAYS"
# the first statement of a fresh backend must already be guarded
ag_sqlstate "$db" 23000 "UPDATE audit_log SET note = 'x'" "first statement after restart: UPDATE refused"
ag_sqlstate "$db" 23000 "DELETE FROM audit_log" "DELETE refused after restart"
ag_sqlstate "$db" 23000 "TRUNCATE audit_log" "TRUNCATE refused after restart"
ag_sqlstate "$db" 42501 "ALTER TABLE audit_log DISABLE TRIGGER ALL" \
	"DISABLE TRIGGER ALL refused after restart"
ag_sqlstate "$db" 42501 "SET session_replication_role = replica" \
	"first statement of a fresh backend: replica refused"
ag_is "$(ag_scalar "$db" "$fingerprint")" "$want" "rows unchanged"

# an immediate (crash) stop and start as well
ag_ok "crash stop" ag_as_owner "$AG_BINDIR/pg_ctl" stop -m immediate -D "$AG_DATA"
ag_ok "start after the crash" ag_pg_ctl_start
ag_sqlstate "$db" 23000 "DELETE FROM audit_log" "DELETE refused after crash recovery"
ag_is "$(ag_scalar "$db" "$fingerprint")" "$want" "rows unchanged after crash recovery"

"$AG_BINDIR/psql" -X -q -d "$db" -c "SET ROLE regress_restart_owner" \
	-c "SELECT audit_guard.unprotect('audit_log')" >/dev/null
ag_drop_database "$db" regress_restart_owner
ag_done
