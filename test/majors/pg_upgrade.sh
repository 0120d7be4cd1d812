#!/usr/bin/env bash
# pg_upgrade of a cluster with protected tables, from one major to another
# (scripts/test-majors.sh runs it from 15 to 18).  Afterwards the same tables
# are protected by the same designated owners, the guard triggers are
# ENABLE ALWAYS, check() is clean, the rows and the history are intact, and
# the guard still refuses.  The new cluster preloads audit_guard during the
# upgrade as a DBA would have it (the library does nothing in binary-upgrade
# mode).
#
# Environment: AG_OLD_PG_CONFIG, AG_NEW_PG_CONFIG (required).  Installs
# audit_guard into both installations first (building each from clean), so
# run it under the lock of the system's PostgreSQL when one of them is it.
set -uo pipefail
ROOT=${AG_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$ROOT" || exit 1
old_config=${AG_OLD_PG_CONFIG:?set AG_OLD_PG_CONFIG}
new_config=${AG_NEW_PG_CONFIG:?set AG_NEW_PG_CONFIG}
old_bin=$("$old_config" --bindir)
new_bin=$("$new_config" --bindir)
export AG_BINDIR=$old_bin
source "$ROOT/scripts/cluster.sh"

# audit_guard in both installations, each built from clean.
for pgc in "$new_config" "$old_config"; do
	make -s clean PG_CONFIG="$pgc" >/dev/null 2>&1
	if ! make -s PG_CONFIG="$pgc" >/dev/null || ! make -s install PG_CONFIG="$pgc" >/dev/null; then
		echo "could not build and install audit_guard with $pgc" >&2
		exit 1
	fi
done
make -s clean >/dev/null 2>&1

ag_cluster_start || exit 1
old_version=$("$old_bin/postgres" --version)
new_version=$("$new_bin/postgres" --version)
echo "# from $old_version to $new_version"

db=ag_pgupgrade
ag_fresh_database "$db" regress_pgu_owner regress_pgu_app || exit 1
ag_psql -d "$db" <<'SQL' >/dev/null || exit 1
CREATE EXTENSION audit_guard;
CREATE SCHEMA audit AUTHORIZATION regress_pgu_owner;
CREATE TABLE audit.audit_log (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(),
	actor text NOT NULL, payload jsonb);
ALTER TABLE audit.audit_log OWNER TO regress_pgu_owner;
GRANT USAGE ON SCHEMA audit TO regress_pgu_app;
GRANT SELECT, INSERT ON audit.audit_log TO regress_pgu_app;
GRANT USAGE ON SEQUENCE audit.audit_log_id_seq TO regress_pgu_app;
INSERT INTO audit.audit_log (actor, payload)
	SELECT 'actor' || g, jsonb_build_object('n', g) FROM generate_series(1, 200) g;
CREATE TABLE audit.events (at date NOT NULL, id int NOT NULL, what text,
	PRIMARY KEY (at, id)) PARTITION BY RANGE (at);
CREATE TABLE audit.events_2026_01 PARTITION OF audit.events
	FOR VALUES FROM ('2026-01-01') TO ('2026-02-01');
CREATE TABLE audit.events_2026_02 PARTITION OF audit.events
	FOR VALUES FROM ('2026-02-01') TO ('2026-03-01');
INSERT INTO audit.events SELECT '2026-01-01'::date + g, g, 'event ' || g FROM generate_series(0, 58) g;
SELECT audit_guard.protect('audit.audit_log');
SELECT audit_guard.protect('audit.events', owner => 'regress_pgu_owner');
SQL

registry_q="SELECT string_agg(concat_ws(' ', relid::text, designated_owner::text, protected_at, protected_by), E'\n' ORDER BY relid::text) FROM audit_guard.registry"
history_q="SELECT string_agg(concat_ws(' ', at, action, table_name, designated_owner, performed_by), E'\n' ORDER BY at, table_name) FROM audit_guard.history"
triggers_q="SELECT string_agg(c.oid::regclass::text || '.' || t.tgname || '=' || t.tgenabled::text, ',' ORDER BY c.oid::regclass::text, t.tgname) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE t.tgname LIKE 'audit_guard%' OR t.tgname = 'registry_changed'"
rows_q="SELECT (SELECT count(*) || ':' || md5(string_agg(t::text, ',' ORDER BY id)) FROM audit.audit_log t) || ' ' || (SELECT count(*) || ':' || md5(string_agg(e::text, ',' ORDER BY at, id)) FROM audit.events e)"
check_q="SELECT string_agg(DISTINCT status, ',') FROM audit_guard.check()"
version_q="SELECT extversion FROM pg_extension WHERE extname = 'audit_guard'"
declare -A before=()
for q in registry history triggers rows check version; do
	var=${q}_q
	before[$q]=$(ag_scalar "$db" "${!var}")
done
ag_is "${before[check]}" "ok" "before: check() is clean"
ag_is "$(ag_scalar "$db" "SELECT count(*) FROM audit_guard.registry")" "4" \
	"before: four tables registered (two of them partitions)"

# PostgreSQL's back branches (seen: 15.20) record a version in every
# column's attoptions as "pg_attver=N"; a target release that predates that
# change (seen: 18.6) dumps the option and then refuses it, so pg_upgrade
# fails on any table, protected or not.  Not audit_guard's doing: strip the
# option in the old cluster when the new one does not know it, and say so.
if ! grep -qs pg_attver "$("$new_config" --includedir-server)/catalog/pg_attribute.h" &&
	[ "$(ag_scalar "$db" "SELECT count(*) FROM pg_attribute WHERE attoptions::text LIKE '%pg_attver=%'")" != 0 ]; then
	echo "# the old cluster records pg_attver in attoptions and $new_version does not know it: removed before pg_upgrade"
	for d in $(ag_scalar postgres "SELECT datname FROM pg_database WHERE datallowconn"); do
		ag_psql -d "$d" -c "UPDATE pg_attribute SET attoptions =
			nullif(array(SELECT o FROM unnest(attoptions) o WHERE o NOT LIKE 'pg_attver=%'), '{}')
			WHERE attoptions::text LIKE '%pg_attver=%'" || exit 1
	done
fi

ag_ok "stop the old cluster" ag_cluster_stop

# The new cluster: same encoding and locale, no data checksums (the old has
# none; 18's initdb turns them on by default), audit_guard preloaded.
new_data=$AG_DIR/data.new
initdb_opts=(-D "$new_data" --auth=trust -U postgres --no-sync -E UTF8 --locale=C)
if [ "$("$new_config" --version | sed 's/^PostgreSQL \([0-9]*\).*/\1/')" -ge 18 ]; then
	initdb_opts+=(--no-data-checksums)
fi
if ! ag_as_owner "$new_bin/initdb" "${initdb_opts[@]}" >"$AG_DIR/initdb.new.log" 2>&1; then
	cat "$AG_DIR/initdb.new.log" >&2
	exit 1
fi
new_port=$(ag_free_port) || exit 1
ag_as_owner tee -a "$new_data/postgresql.conf" >/dev/null <<EOF

# added by test/majors/pg_upgrade.sh
shared_preload_libraries = 'audit_guard'
listen_addresses = ''
port = $new_port
unix_socket_directories = '$AG_DIR'
fsync = off
lc_messages = 'C'
EOF

upgrade() {
	(cd "$AG_DIR" && ag_as_owner "$new_bin/pg_upgrade" -b "$old_bin" -B "$new_bin" \
		-d "$AG_DATA" -D "$new_data" -U postgres -s "$AG_DIR" \
		-p "$AG_PORT" -P "$new_port" "$@")
}
ag_ok "pg_upgrade --check" upgrade --check
ag_ok "pg_upgrade" upgrade

# From here on the harness talks to the new cluster.
AG_BINDIR=$new_bin
AG_DATA=$new_data
AG_LOG=$AG_DIR/server.new.log
AG_PORT=$new_port
export AG_BINDIR AG_DATA AG_LOG AG_PORT PGPORT=$new_port
ag_as_owner touch "$AG_LOG"
ag_ok "start the upgraded cluster" ag_pg_ctl_start

ag_is "$(ag_scalar postgres "SELECT current_setting('server_version_num')::int / 10000")" \
	"$("$new_config" --version | sed 's/^PostgreSQL \([0-9]*\).*/\1/')" "the server is the new major"
ag_is "$(ag_scalar "$db" "SELECT audit_guard.hooks_active()")" "t" "the hooks are active"
ag_is "$(ag_scalar "$db" "$version_q")" "${before[version]}" "the extension version is unchanged"
ag_is "$(ag_scalar "$db" "$registry_q")" "${before[registry]}" \
	"every registry row came through (table, designated owner, when, by whom)"
ag_is "$(ag_scalar "$db" "$history_q")" "${before[history]}" "every history row came through"
ag_is "$(ag_scalar "$db" "$triggers_q")" "${before[triggers]}" \
	"the same guard triggers, ENABLE ALWAYS"
ag_is "$(ag_scalar "$db" "SELECT string_agg(DISTINCT tgenabled::text, ',') FROM pg_trigger WHERE tgname LIKE 'audit_guard%'")" \
	"A" "... every guard trigger is ENABLE ALWAYS"
ag_is "$(ag_scalar "$db" "$check_q")" "ok" "check() is clean"
ag_is "$(ag_scalar "$db" "$rows_q")" "${before[rows]}" "the rows are intact"
for t in audit.audit_log audit.events audit.events_2026_02; do
	ag_sqlstate "$db" 23000 "UPDATE $t SET id = id" "$t: UPDATE refused (23000)"
	ag_sqlstate "$db" 23000 "DELETE FROM $t" "$t: DELETE refused (23000)"
	ag_sqlstate "$db" 23000 "TRUNCATE $t" "$t: TRUNCATE refused (23000)"
	ag_sqlstate "$db" 42501 "ALTER TABLE $t DISABLE TRIGGER ALL" \
		"$t: DISABLE TRIGGER ALL refused to the superuser (42501)"
done
ag_sqlstate "$db" 42501 "SET session_replication_role = replica" "replica refused (42501)"
ag_ok "the application role still inserts" \
	ag_psql -d "$db" -c "SET ROLE regress_pgu_app" \
	-c "INSERT INTO audit.audit_log (actor) VALUES ('after pg_upgrade')"
ag_ok "the designated owner can still unprotect" \
	ag_psql -d "$db" -c "SET ROLE regress_pgu_owner" \
	-c "SELECT audit_guard.unprotect('audit.events')" \
	-c "SELECT audit_guard.unprotect('audit.audit_log')"
ag_done
