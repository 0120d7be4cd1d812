#!/usr/bin/env bash
# ALTER EXTENSION audit_guard UPDATE from the oldest released version (1.0)
# keeps everything it protected: protections, registry rows and history
# rows come through unchanged, the guard still refuses, the version is the
# control file's, and the upgraded extension has exactly the objects (and
# function definitions) of a fresh CREATE EXTENSION, so a function added to
# a new version's script but forgotten in the upgrade script fails here.
# Functions that a later version adds get a smoke call in NEW_CALLS below.
set -uo pipefail
ROOT=${AG_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
source "$ROOT/scripts/cluster.sh"
ag_cluster_attach || exit 1

db=ag_upgrade
fresh=ag_upgrade_fresh
current=$(sed -n "s/^default_version[[:space:]]*=[[:space:]]*'\([^']*\)'.*/\1/p" "$ROOT/audit_guard.control")

# One smoke call per function a version after 1.0 added: "function name|SQL
# that must succeed in the upgraded database".  A name not in the installed
# extension is skipped, so the list can be filled as versions grow.
NEW_CALLS=(
)

ag_drop_database "$fresh" || exit 1
ag_fresh_database "$db" regress_upg_owner regress_upg_app || exit 1
ag_psql -d "$db" <<'SQL' >/dev/null || exit 1
CREATE EXTENSION audit_guard VERSION '1.0';
CREATE TABLE audit_log (id bigserial PRIMARY KEY, actor text, payload jsonb);
ALTER TABLE audit_log OWNER TO regress_upg_owner;
GRANT SELECT, INSERT ON audit_log TO regress_upg_app;
GRANT USAGE ON SEQUENCE audit_log_id_seq TO regress_upg_app;
INSERT INTO audit_log (actor, payload)
	SELECT 'actor' || g, jsonb_build_object('n', g) FROM generate_series(1, 50) g;
CREATE TABLE events (at date NOT NULL, id int NOT NULL, what text,
	PRIMARY KEY (at, id)) PARTITION BY RANGE (at);
CREATE TABLE events_2026_01 PARTITION OF events
	FOR VALUES FROM ('2026-01-01') TO ('2026-02-01');
CREATE TABLE events_2026_02 PARTITION OF events
	FOR VALUES FROM ('2026-02-01') TO ('2026-03-01');
INSERT INTO events
	SELECT '2026-01-01'::date + g, g, 'event ' || g FROM generate_series(0, 49) g;
SELECT audit_guard.protect('audit_log');
SELECT audit_guard.protect('events', owner => 'regress_upg_owner');
CREATE TABLE scratch (id int);
SELECT audit_guard.protect('scratch');
SELECT audit_guard.unprotect('scratch');
SQL

ag_is "$(ag_scalar "$db" "SELECT extversion FROM pg_extension WHERE extname = 'audit_guard'")" \
	"1.0" "CREATE EXTENSION ... VERSION '1.0' installs 1.0"

# Everything that must come through the update unchanged.
registry_q="SELECT string_agg(concat_ws(' ', relid::text, designated_owner::text, protected_at, protected_by), E'\n' ORDER BY relid::text) FROM audit_guard.registry"
history_q="SELECT string_agg(concat_ws(' ', at, action, relid, table_name, designated_owner, performed_by), E'\n' ORDER BY at, relid) FROM audit_guard.history"
triggers_q="SELECT string_agg(c.relname || '.' || t.tgname || '=' || t.tgenabled::text, ',' ORDER BY c.relname, t.tgname) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE t.tgname LIKE 'audit_guard%' OR t.tgname = 'registry_changed'"
rows_q="SELECT (SELECT count(*) || ':' || md5(string_agg(t::text, ',' ORDER BY id)) FROM audit_log t) || ' ' || (SELECT count(*) || ':' || md5(string_agg(e::text, ',' ORDER BY at, id)) FROM events e)"
declare -A before=()
for q in registry history triggers rows; do
	var=${q}_q
	before[$q]=$(ag_scalar "$db" "${!var}")
done
ag_is "$(ag_scalar "$db" "SELECT count(*) FROM audit_guard.registry")" "4" \
	"before: audit_log, events and its two partitions are registered"
ag_is "$(ag_scalar "$db" "SELECT string_agg(action, ',' ORDER BY at) FROM audit_guard.history WHERE table_name LIKE '%scratch'")" \
	"protect,unprotect" "before: history holds a protect and an unprotect"

# ALTER EXTENSION ... UPDATE runs audit_guard's own, installed script: a
# superuser may run it while tables are protected (the script cannot weaken
# the guard; other changes to the extension stay refused).
ag_ok "ALTER EXTENSION audit_guard UPDATE, as a superuser who is no designated owner" \
	ag_psql -d "$db" -c "ALTER EXTENSION audit_guard UPDATE"
ag_is "$(ag_scalar "$db" "SELECT extversion FROM pg_extension WHERE extname = 'audit_guard'")" \
	"$current" "the extension is at the control file's version ($current)"

ag_is "$(ag_scalar "$db" "$registry_q")" "${before[registry]}" \
	"every registry row is unchanged (table, owner, when, by whom)"
ag_is "$(ag_scalar "$db" "$history_q")" "${before[history]}" "every history row is unchanged"
ag_is "$(ag_scalar "$db" "$triggers_q")" "${before[triggers]}" \
	"every guard trigger is still there, in the same state (ALWAYS)"
ag_is "$(ag_scalar "$db" "$rows_q")" "${before[rows]}" "the protected rows are unchanged"
ag_is "$(ag_scalar "$db" "SELECT string_agg(DISTINCT status, ',') FROM audit_guard.check()")" \
	"ok" "check() reports nothing but ok after the update"
ag_is "$(ag_scalar "$db" "SELECT audit_guard.hooks_active()")" "t" "the hooks are active"

for t in audit_log events events_2026_01; do
	ag_sqlstate "$db" 23000 "UPDATE $t SET id = id" "$t: UPDATE is still refused (23000)"
	ag_sqlstate "$db" 23000 "DELETE FROM $t" "$t: DELETE is still refused (23000)"
	ag_sqlstate "$db" 23000 "TRUNCATE $t" "$t: TRUNCATE is still refused (23000)"
	ag_sqlstate "$db" 42501 "ALTER TABLE $t DISABLE TRIGGER ALL" \
		"$t: DISABLE TRIGGER ALL is still refused to the superuser (42501)"
done
ag_sqlstate "$db" 42501 "SELECT audit_guard.unprotect('audit_log')" \
	"unprotect() by someone other than the designated owner is still refused"
ag_ok "the application role can still INSERT" \
	ag_psql -d "$db" -c "SET ROLE regress_upg_app" \
	-c "INSERT INTO audit_log (actor) VALUES ('after update')"
ag_ok "a partition created after the update" \
	ag_psql -d "$db" -c "CREATE TABLE events_2026_03 PARTITION OF events
		FOR VALUES FROM ('2026-03-01') TO ('2026-04-01')"
ag_sqlstate "$db" 23000 "TRUNCATE events_2026_03" "... is protected like the others"
ag_ok "protect() works on a new table after the update" \
	ag_psql -d "$db" -c "CREATE TABLE audit_log2 (id int PRIMARY KEY)" \
	-c "SELECT audit_guard.protect('audit_log2')"
ag_sqlstate "$db" 23000 "DELETE FROM audit_log2" "... and guards it"

# The upgraded extension is the one a fresh CREATE EXTENSION makes.  Today
# a fresh install runs the same scripts (1.0 + 1.0--1.1); this catches the
# day a version ships a full script of its own that the upgrade path does
# not match.
objects_q="SELECT string_agg(pg_describe_object(classid, objid, 0), E'\n' ORDER BY pg_describe_object(classid, objid, 0))
	FROM pg_depend WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
	 AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'audit_guard')"
defs_q="SELECT string_agg(p.oid::regprocedure::text || ' ' || md5(pg_get_functiondef(p.oid))
		|| ' ' || p.prosecdef || ' ' || coalesce(array_to_string(p.proconfig, ';'), '')
		|| ' ' || coalesce(array_to_string(p.proacl, ';'), 'default'), E'\n' ORDER BY p.oid::regprocedure::text)
	FROM pg_proc p WHERE p.pronamespace = 'audit_guard'::regnamespace"
ag_psql -d postgres -c "CREATE DATABASE $fresh" || exit 1
ag_psql -d "$fresh" -c "CREATE EXTENSION audit_guard" || exit 1
ag_is "$(ag_scalar "$db" "$objects_q")" "$(ag_scalar "$fresh" "$objects_q")" \
	"the upgraded extension has the objects of a fresh CREATE EXTENSION"
ag_is "$(ag_scalar "$db" "$defs_q")" "$(ag_scalar "$fresh" "$defs_q")" \
	"... the same function definitions, settings and grants"

for entry in "${NEW_CALLS[@]}"; do
	fn=${entry%%|*}
	sql=${entry#*|}
	if [ "$(ag_scalar "$db" "SELECT count(*) FROM pg_proc WHERE pronamespace = 'audit_guard'::regnamespace AND proname = '$fn'")" = 0 ]; then
		echo "# $fn: not in this version, skipped"
		continue
	fi
	ag_ok "new function $fn works after the update" ag_psql -d "$db" -c "$sql"
done

ag_drop_database "$fresh"
ag_psql -d "$db" <<'SQL' >/dev/null
SET ROLE regress_upg_owner;
SELECT audit_guard.unprotect('events');
SELECT audit_guard.unprotect('audit_log');
RESET ROLE;
SELECT audit_guard.unprotect('audit_log2');
SQL
ag_drop_database "$db" regress_upg_owner regress_upg_app
ag_done
