#!/usr/bin/env bash
# pg_partman with an audit_guard retention (issue 11): the README recipe,
# with set_retention() on the protected parent.
#
#   - a daily partition set, created by the designated owner (NOLOGIN) with
#     pg_partman, protected, audit_guard retention 7 days on the parent,
#     sealed;
#   - as the LOGIN member of the designated owner: DROP TABLE of a partition
#     whose rows are all past retention succeeds, of one holding a younger
#     row fails (23000), as does its DETACH and the DROP of the parent;
#     a superuser who is no member may drop neither (42501);
#   - pg_partman's retention shorter than audit_guard's: run_maintenance()
#     fails on the first partition holding a young row, and drops nothing
#     (one transaction);
#   - pg_partman's retention equal to audit_guard's: run_maintenance() drops
#     every partition past it, each drop recorded for the member's role,
#     every row within retention kept, verify() clean; purge() then deletes
#     the expired rows of the partition on the boundary.
# Skipped (passes) when pg_partman is not installed.
set -uo pipefail
source "${AG_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}/scripts/cluster.sh"
ag_cluster_attach || exit 1

if [ ! -e "$("${PG_CONFIG:-pg_config}" --pkglibdir)/pg_partman_bgw.so" ]; then
	echo "ok - # SKIP pg_partman is not installed (postgresql-15-partman)"
	exit 0
fi

db=ag_partman_retention
maint=regress_pmr_maint
roles=(regress_pmr_maint regress_pmr_app regress_pmr_owner)
ag_drop_database "$db" "${roles[@]}" >/dev/null || exit 1
ag_psql -d postgres <<SQL >/dev/null || exit 1
CREATE ROLE regress_pmr_owner NOLOGIN;
CREATE ROLE $maint LOGIN IN ROLE regress_pmr_owner;
CREATE ROLE regress_pmr_app LOGIN;
CREATE DATABASE $db;
SQL
ag_psql -d "$db" <<'SQL' >/dev/null || exit 1
CREATE EXTENSION audit_guard;
CREATE SCHEMA partman;
CREATE EXTENSION pg_partman SCHEMA partman;
GRANT ALL ON SCHEMA partman TO regress_pmr_owner;
GRANT ALL ON ALL TABLES IN SCHEMA partman TO regress_pmr_owner;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA partman TO regress_pmr_owner;
GRANT EXECUTE ON ALL PROCEDURES IN SCHEMA partman TO regress_pmr_owner;
CREATE SCHEMA audit AUTHORIZATION regress_pmr_owner;
GRANT USAGE ON SCHEMA audit TO regress_pmr_app;

-- the migration, as the designated owner
SET ROLE regress_pmr_owner;
CREATE TABLE audit.events (
	id		bigint GENERATED ALWAYS AS IDENTITY,
	at		timestamptz NOT NULL DEFAULT now(),
	what	text,
	PRIMARY KEY (id, at)
) PARTITION BY RANGE (at);
SELECT partman.create_parent('audit.events', 'at', 'native', 'daily',
							 p_premake := 2,
							 p_start_partition := (now() - interval '12 days')::text);
UPDATE partman.part_config
   SET inherit_privileges = true, retention = '7 days', retention_keep_table = false,
	   infinite_time_partitions = true, automatic_maintenance = 'off'
 WHERE parent_table = 'audit.events';
SELECT audit_guard.protect('audit.events');
SELECT audit_guard.set_retention('audit.events', '7 days', 'at');
GRANT SELECT, INSERT ON audit.events TO regress_pmr_app;
RESET ROLE;
SQL

# four rows a day, every 6 hours, from 2 days ahead to 11.75 days back
ag_psql -d "$db" -U regress_pmr_app -c "INSERT INTO audit.events (at, what)
	SELECT now() - h * interval '6 hours', 'h' || h FROM generate_series(-8, 47) h" >/dev/null || exit 1
ag_ok "the LOGIN member of the designated owner seals the set" \
	ag_psql -d "$db" -U "$maint" -c "SELECT audit_guard.seal('audit.events')"
# a digest of every partition's chain, before pg_partman drops some
ag_scalar "$db" "SELECT audit_guard.digest()" >"$AG_DIR/pmr_digest_sealed.json" || exit 1

# partitions whose day is $1 days back (a name), and the counts that matter
partition() {
	ag_scalar "$db" "SELECT 'audit.events_p' || to_char(now() - interval '$1 days', 'YYYY_MM_DD')"
}
partitions="SELECT count(*) FROM partman.show_partitions('audit.events')"
behind="SELECT count(*) FROM partman.show_partitions('audit.events') p,
	partman.show_partition_info(p.partition_schemaname || '.' || p.partition_tablename) i
	WHERE i.child_end_time <= now() - interval '7 days'"
young_rows="SELECT count(*) || ':' || md5(string_agg(e::text, ',' ORDER BY id)) FROM audit.events e
	WHERE at >= now() - interval '7 days'"
all_rows="SELECT count(*) || ':' || md5(string_agg(e::text, ',' ORDER BY id)) FROM audit.events e"
want_young=$(ag_scalar "$db" "$young_rows")
ag_is "$(ag_scalar "$db" "SELECT count(*) FROM audit.events_default")" 0 "no row in the default partition"
ag_is "$(ag_scalar "$db" "SELECT keep || ' ' || time_column || ' ' || set_on FROM audit_guard.retention_of('$(partition 1)')")" \
	"7 days at audit.events" "the parent's retention covers its partitions"
ag_ok "partitions past retention, holding rows, are there" \
	test "$(ag_scalar "$db" "$behind")" -ge 4

# Directly, as the LOGIN member of the designated owner.
oldest=$(partition 11)
young=$(partition 1)
ag_is "$(ag_scalar "$db" "SELECT count(*) || ' ' || count(*) FILTER (WHERE at < now() - interval '7 days') FROM $oldest")" \
	"4 4" "$oldest holds 4 rows, all past retention"
ag_sqlstate "$db" 42501 "DROP TABLE $oldest" \
	"a superuser who is no member of the designated owner may not drop it (42501)"
ag_ok "the LOGIN member of the designated owner drops it" \
	ag_psql -d "$db" -U "$maint" -c "DROP TABLE $oldest"
ag_is "$(ag_scalar "$db" "SELECT performed_by FROM audit_guard.history WHERE action = 'drop' AND table_name = '$oldest'")" \
	"$maint" "  history records the drop, by the member's role"
ag_sqlstate "$db" 23000 "SET ROLE $maint; DROP TABLE $young" \
	"the member may not drop $young, which holds rows younger than the retention (23000)"
ag_sqlstate "$db" 23000 "SET ROLE $maint; ALTER TABLE audit.events DETACH PARTITION $young" \
	"  nor detach it (23000)"
ag_sqlstate "$db" 23000 "SET ROLE $maint; DROP TABLE audit.events" \
	"  nor drop the parent (23000)"
ag_sqlstate "$db" 23000 "SET ROLE $maint; SELECT audit_guard.unprotect('audit.events')" \
	"  nor unprotect the set (23000)"
ag_sqlstate "$db" 42501 "DROP TABLE $young" "a superuser who is no member may not drop it either (42501)"

# pg_partman's retention shorter than audit_guard's: refused, nothing dropped.
before_parts=$(ag_scalar "$db" "$partitions")
before_rows=$(ag_scalar "$db" "$all_rows")
ag_psql -d "$db" -c "UPDATE partman.part_config SET retention = '2 days' WHERE parent_table = 'audit.events'" >/dev/null
out=$("$AG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -U "$maint" -d "$db" \
	-c "SELECT partman.run_maintenance('audit.events', p_analyze := false)" 2>&1)
rc=$?
ag_is "$rc" 1 "run_maintenance() with a 2-day pg_partman retention fails"
ag_ok "  on a partition holding rows younger than audit_guard's retention" \
	grep -q 'cannot drop protected table audit.events_p.*: it holds rows younger than its retention' <<<"$out"
ag_is "$(ag_scalar "$db" "$partitions")" "$before_parts" "  and drops no partition (one transaction)"
ag_is "$(ag_scalar "$db" "$all_rows")" "$before_rows" "  every row is still there"

# pg_partman's retention equal to audit_guard's: every partition past it goes.
ag_psql -d "$db" -c "UPDATE partman.part_config SET retention = '7 days' WHERE parent_table = 'audit.events'" >/dev/null
drops="SELECT count(*) FROM audit_guard.history WHERE action = 'drop' AND performed_by = '$maint'"
want_drops=$(($(ag_scalar "$db" "$drops") + $(ag_scalar "$db" "$behind")))
ag_ok "run_maintenance() with a 7-day pg_partman retention, as the LOGIN member" \
	ag_psql -d "$db" -U "$maint" -c "SELECT partman.run_maintenance('audit.events', p_analyze := false)"
ag_is "$(ag_scalar "$db" "$behind")" 0 "it dropped every partition past retention"
ag_is "$(ag_scalar "$db" "$drops")" "$want_drops" "  history records each drop, by the member's role"
ag_is "$(ag_scalar "$db" "$young_rows")" "$want_young" "every row within retention is kept"
ag_is "$(ag_scalar "$db" "SELECT coalesce(string_agg(table_name::text || ' ' || check_name || ': ' || detail, '; '), 'clean') FROM audit_guard.check('audit.events') WHERE status <> 'ok'")" \
	clean "check() is clean"
ag_is "$(ag_scalar "$db" "SELECT count(*) FROM audit_guard.verify()")" 0 "verify() is clean after the drops"
ag_is "$(ag_scalar "$db" "SELECT count(*) FROM audit_guard.verify(pg_read_file('$AG_DIR/pmr_digest_sealed.json')::jsonb)")" 0 \
	"verify() of a digest taken before the drops is clean: history records each drop, the chains end there"
ag_ok "  so does audit_guard_verify --digest" \
	"$AG_BINDIR/audit_guard_verify" -q -d "$db" --digest "$AG_DIR/pmr_digest_sealed.json"
# the same digest with another hash for the dropped $oldest
ag_scalar "$db" "SELECT jsonb_set(d, '{tables}', (SELECT jsonb_agg(CASE WHEN t ->> 'table' = '$oldest'
		THEN t || jsonb_build_object('block_hash', repeat('0', 64)) ELSE t END)
		FROM jsonb_array_elements(d -> 'tables') t))
	FROM (SELECT pg_read_file('$AG_DIR/pmr_digest_sealed.json')::jsonb AS d) x" >"$AG_DIR/pmr_digest_bad.json"
ag_is "$(ag_scalar "$db" "SELECT string_agg(coalesce(table_name::text, '-') || ' ' || problem, ', ')
	FROM audit_guard.verify(pg_read_file('$AG_DIR/pmr_digest_bad.json')::jsonb)")" \
	"- digest mismatch" "  a digest with another hash for a dropped table is a mismatch (the table has no name now)"
ag_ok "  audit_guard_verify --digest exits 1 on it" bash -c "
	'$AG_BINDIR/audit_guard_verify' -q -d '$db' --digest '$AG_DIR/pmr_digest_bad.json' >/dev/null 2>&1
	test \$? -eq 1"
rm -f "$AG_DIR/pmr_digest_sealed.json" "$AG_DIR/pmr_digest_bad.json"

# purge() of what is left past retention: the partition on the boundary.
expired=$(ag_scalar "$db" "SELECT count(*) FROM audit.events WHERE at < now() - interval '7 days'")
ag_ok "partitions kept by pg_partman still hold expired rows ($expired)" test "$expired" -gt 0
ag_scalar "$db" "SELECT audit_guard.digest()" >"$AG_DIR/pmr_digest.json" || exit 1
ag_is "$(ag_scalar "$db" "SET ROLE $maint; SELECT audit_guard.purge('audit.events')")" "$expired" \
	"purge() of the parent by the member deletes them"
ag_is "$(ag_scalar "$db" "$all_rows")" "$want_young" "only the rows within retention are left, all of them"
ag_is "$(ag_scalar "$db" "SELECT count(*) FROM audit_guard.verify(pg_read_file('$AG_DIR/pmr_digest.json')::jsonb)")" 0 \
	"verify() of the digest taken before the purge is clean"
rm -f "$AG_DIR/pmr_digest.json"

ag_drop_database "$db" "${roles[@]}" >/dev/null
ag_done
