#!/usr/bin/env bash
# pg_partman with protected partition sets (issue 10): the README recipe.
#
#   - create_parent() and protect() by the migration role, the designated
#     owner (NOLOGIN);
#   - pg_partman's background worker, running as a LOGIN role that is a
#     member of the designated owner, creates new partitions (protected in
#     the same statement, handed to the designated owner by
#     inherit_privileges) and drops partitions past retention;
#   - a row in the default partition makes maintenance fail, and since
#     run_maintenance() does every set in one transaction, an unprotected
#     set is not maintained either; automatic_maintenance = 'off' for the
#     protected set, maintained by a call of its own, keeps the others going;
#   - detach_default() and move_detached_rows() get the row out, keeping
#     every row, and maintenance works again.
# Skipped (passes) when pg_partman is not installed.
set -uo pipefail
source "${AG_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}/scripts/cluster.sh"
ag_cluster_attach || exit 1

if [ ! -e "$("${PG_CONFIG:-pg_config}" --pkglibdir)/pg_partman_bgw.so" ]; then
	echo "ok - # SKIP pg_partman is not installed (postgresql-15-partman)"
	exit 0
fi

db=ag_partman
ag_drop_database "$db" regress_pm_maint regress_pm_app regress_pm_owner >/dev/null
ag_psql -d postgres <<SQL >/dev/null || exit 1
CREATE ROLE regress_pm_owner NOLOGIN;
CREATE ROLE regress_pm_maint LOGIN IN ROLE regress_pm_owner;
CREATE ROLE regress_pm_app LOGIN;
CREATE DATABASE $db;
SQL
ag_psql -d "$db" <<'SQL' >/dev/null || exit 1
CREATE EXTENSION audit_guard;
CREATE SCHEMA partman;
CREATE EXTENSION pg_partman SCHEMA partman;
-- pg_partman's documented grants, to the designated owner (the worker's
-- role inherits them)
GRANT ALL ON SCHEMA partman TO regress_pm_owner;
GRANT ALL ON ALL TABLES IN SCHEMA partman TO regress_pm_owner;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA partman TO regress_pm_owner;
GRANT EXECUTE ON ALL PROCEDURES IN SCHEMA partman TO regress_pm_owner;
CREATE SCHEMA audit AUTHORIZATION regress_pm_owner;
GRANT USAGE ON SCHEMA audit TO regress_pm_app;

-- the migration, as the designated owner
SET ROLE regress_pm_owner;
CREATE TABLE audit.events (
	id		bigint GENERATED ALWAYS AS IDENTITY,
	at		timestamptz NOT NULL DEFAULT now(),
	what	text
) PARTITION BY RANGE (at);
SELECT partman.create_parent('audit.events', 'at', 'native', 'daily',
							 p_premake := 2,
							 p_start_partition := (now() - interval '10 days')::text);
UPDATE partman.part_config
   SET inherit_privileges = true, retention = '7 days', retention_keep_table = false
 WHERE parent_table = 'audit.events';
SELECT audit_guard.protect('audit.events');
GRANT SELECT, INSERT ON audit.events TO regress_pm_app;
RESET ROLE;

-- an unprotected set beside it, of the same owner
CREATE SCHEMA stats AUTHORIZATION regress_pm_owner;
SET ROLE regress_pm_owner;
CREATE TABLE stats.metrics (at timestamptz NOT NULL, v int) PARTITION BY RANGE (at);
SELECT partman.create_parent('stats.metrics', 'at', 'native', 'daily', p_premake := 2);
RESET ROLE;
-- make partitions ahead even while no row is newer than the last one
UPDATE partman.part_config SET infinite_time_partitions = true;
SQL

# one row a day, for the last ten days and the next two
ag_psql -d "$db" -U regress_pm_app -c "INSERT INTO audit.events (at, what)
	SELECT now() - make_interval(days => d), 'day ' || d FROM generate_series(-2, 9) d" >/dev/null || exit 1
rows_kept="SELECT count(*) || ':' || md5(string_agg(e::text, ',' ORDER BY id)) FROM audit.events e WHERE at >= date_trunc('day', now()) - interval '7 days'"
want_kept=$(ag_scalar "$db" "$rows_kept")
ag_is "$(ag_scalar "$db" "SELECT count(*) FROM audit.events_default")" 0 "no row in the default partition"
ag_is "$(ag_scalar "$db" "SELECT count(*) FROM audit_guard.check('audit.events') WHERE status <> 'ok'")" 0 \
	"create_parent + protect: check() is clean"

# The background worker, as the LOGIN member of the designated owner.
ag_psql -d "$db" -c "UPDATE partman.part_config SET premake = 5 WHERE parent_table = 'audit.events'" >/dev/null
ag_conf_override "shared_preload_libraries = 'audit_guard,pg_partman_bgw'" \
	"pg_partman_bgw.dbname = '$db'" "pg_partman_bgw.role = 'regress_pm_maint'" \
	"pg_partman_bgw.interval = 1" "pg_partman_bgw.analyze = off" "pg_partman_bgw.jobmon = off" || exit 1
ahead="SELECT count(*) FROM partman.show_partitions('audit.events') p,
	partman.show_partition_info(p.partition_schemaname || '.' || p.partition_tablename) i
	WHERE i.child_start_time >= date_trunc('day', now()) + interval '5 days'"
behind="SELECT count(*) FROM partman.show_partitions('audit.events') p,
	partman.show_partition_info(p.partition_schemaname || '.' || p.partition_tablename) i
	WHERE i.child_end_time <= date_trunc('day', now()) - interval '7 days'"
for ((i = 0; i < 120; i++)); do
	[ "$(ag_scalar "$db" "$ahead")" -ge 1 ] && [ "$(ag_scalar "$db" "$behind")" -eq 0 ] && break
	sleep 0.5
done
ag_ok "the worker created the partition five days ahead" test "$(ag_scalar "$db" "$ahead")" -ge 1
ag_is "$(ag_scalar "$db" "$behind")" 0 "the worker dropped every partition past the 7-day retention"
ag_is "$(ag_scalar "$db" "SELECT count(*) FROM audit.events WHERE at < date_trunc('day', now()) - interval '7 days'")" 0 \
	"  with their rows"
ag_is "$(ag_scalar "$db" "$rows_kept")" "$want_kept" "every row within retention is kept"
ag_is "$(ag_scalar "$db" "SELECT coalesce(string_agg(table_name::text || ' ' || check_name || ': ' || detail, '; '), 'clean') FROM audit_guard.check('audit.events') WHERE status <> 'ok'")" \
	clean "every partition, new ones included, is protected: check() is clean"
ag_is "$(ag_scalar "$db" "SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'audit.events'::regclass AND c.relowner <> 'regress_pm_owner'::regrole")" \
	0 "the worker's partitions were handed to the designated owner (inherit_privileges)"
ag_ok "history: protection of the new partitions, by the worker's role" \
	test "$(ag_scalar "$db" "SELECT count(*) FROM audit_guard.history WHERE action = 'partition' AND performed_by = 'regress_pm_maint'")" -ge 3
ag_ok "history: the retention drops, by the worker's role" \
	test "$(ag_scalar "$db" "SELECT count(*) FROM audit_guard.history WHERE action = 'drop' AND performed_by = 'regress_pm_maint'")" -ge 3
ag_sqlstate "$db" 23000 "UPDATE audit.events SET what = 'forged'" "UPDATE is still refused (23000)"
ag_sqlstate "$db" 42501 "BEGIN; ALTER TABLE audit.events DETACH PARTITION audit.events_default; ROLLBACK" \
	"a superuser who is no designated owner may not detach a partition (42501)"
ag_conf_reset || exit 1

# True when sql, run by the worker's role, fails because the default
# partition holds a row of the partition to be made (pg_partman re-raises
# PostgreSQL's 23514 as P0001 with the same message).
maintenance_fails() {
	local out
	out=$("$AG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -d "$db" -c "SET ROLE regress_pm_maint" -c "$1" 2>&1) && return 1
	grep -q 'updated partition constraint for default partition .* would be violated' <<<"$out"
}

# A row in the default partition: the next partition cannot be made.
ag_psql -d "$db" -U regress_pm_app \
	-c "INSERT INTO audit.events (at, what) VALUES (now() + interval '20 days', 'early')" >/dev/null
ag_is "$(ag_scalar "$db" "SELECT count(*) FROM audit.events_default")" 1 "a row lands in the default partition"
want_all=$(ag_scalar "$db" "$rows_kept")
ag_psql -d "$db" -c "UPDATE partman.part_config SET premake = 25" >/dev/null
metrics_parts="SELECT count(*) FROM partman.show_partitions('stats.metrics')"
metrics_before=$(ag_scalar "$db" "$metrics_parts")
ag_ok "run_maintenance() fails on the protected set's default partition" \
	maintenance_fails "SELECT partman.run_maintenance()"
ag_is "$(ag_scalar "$db" "$metrics_parts")" "$metrics_before" \
	"  and the unprotected set was not maintained either (one transaction for every set)"
ag_sqlstate "$db" 23000 "SET ROLE regress_pm_maint; SELECT partman.partition_data_time('audit.events')" \
	"pg_partman's partition_data_time() cannot move the row out: its DELETE is refused (23000)"

# The configuration that keeps the other sets going.
ag_psql -d "$db" -c "UPDATE partman.part_config SET automatic_maintenance = 'off' WHERE parent_table = 'audit.events'" >/dev/null
ag_ok "with automatic_maintenance off for the protected set, run_maintenance() works" \
	ag_psql -d "$db" -c "SET ROLE regress_pm_maint" -c "SELECT partman.run_maintenance()"
ag_ok "  and maintains the other set" test "$(ag_scalar "$db" "$metrics_parts")" -gt "$metrics_before"
ag_ok "the protected set's own call still fails, alone" \
	maintenance_fails "SELECT partman.run_maintenance('audit.events')"

# The designated owner's way out, keeping every row.
ag_ok "detach_default(), by the LOGIN member of the designated owner" \
	ag_psql -d "$db" -c "SET ROLE regress_pm_maint" -c "SELECT audit_guard.detach_default('audit.events')"
ag_ok "maintenance of the protected set works again" \
	ag_psql -d "$db" -c "SET ROLE regress_pm_maint" -c "SELECT partman.run_maintenance('audit.events')"
ag_is "$(ag_scalar "$db" "SET ROLE regress_pm_maint; SELECT audit_guard.move_detached_rows('audit.events', 'audit.events_default_detached_1')")" \
	1 "move_detached_rows() moves the row into its new partition"
ag_is "$(ag_scalar "$db" "$rows_kept")" "$want_all" "every row kept"
ag_is "$(ag_scalar "$db" "SELECT tableoid::regclass FROM audit.events WHERE what = 'early'")" \
	"audit.events_p$(date -u -d '+20 days' +%Y_%m_%d)" "  in the partition of its day"
ag_is "$(ag_scalar "$db" "SELECT count(*) FROM audit.events_default")" 0 "the default partition is empty"
ag_is "$(ag_scalar "$db" "SELECT coalesce(string_agg(table_name::text || ' ' || check_name || ': ' || detail, '; '), 'clean') FROM audit_guard.check('audit.events') WHERE status <> 'ok'")" \
	clean "check() is clean"
ag_is "$(ag_scalar "$db" "SELECT action || ' by ' || performed_by FROM audit_guard.history WHERE table_name = 'audit.events_default_detached_1' AND action <> 'override'")" \
	"drop by regress_pm_maint" "history records the drop of the emptied detached table"

ag_psql -d "$db" -c "SET ROLE regress_pm_owner" -c "SELECT audit_guard.unprotect('audit.events')" >/dev/null
ag_drop_database "$db" regress_pm_maint regress_pm_app regress_pm_owner >/dev/null
ag_done
