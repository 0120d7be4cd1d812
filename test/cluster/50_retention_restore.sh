#!/usr/bin/env bash
# pg_dump of a table with a retention, a purge and a redaction done, restored
# into fresh databases (custom format with pg_restore, plain format with
# psql in one transaction) (issue 11).  In each copy:
#   - the same retention (keep, time column), erasures and history;
#   - the lock holds: DROP TABLE and unprotect() by the designated owner are
#     refused (23000) while the table holds young rows, lowering the
#     retention is refused (23000), the time column cannot be dropped;
#   - verify() and audit_guard_verify, also against a digest taken before
#     the purge and one taken before the dump, are clean;
#   - the chain goes on: an expired row inserted in the copy is purged, and
#     verify() stays clean.
set -uo pipefail
source "${AG_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}/scripts/cluster.sh"
ag_cluster_attach || exit 1

src=ag_rr_src
custom=ag_rr_custom
plain=ag_rr_plain
owner=regress_rr_owner
verifier=$AG_BINDIR/audit_guard_verify
dump=$AG_DIR/rr.dump
script=$AG_DIR/rr.sql
digest_purge=$AG_DIR/rr_before_purge.json
digest_dump=$AG_DIR/rr_before_dump.json

ag_drop_database "$custom" && ag_drop_database "$plain" || exit 1
ag_fresh_database "$src" "$owner" || exit 1
ag_psql -d "$src" <<SQL >/dev/null || exit 1
CREATE EXTENSION audit_guard;
CREATE TABLE audit_log (
	id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at		timestamptz NOT NULL DEFAULT now(),
	actor	text NOT NULL,
	payload	jsonb
);
ALTER TABLE audit_log OWNER TO $owner;
-- 300 rows from 400 days ago (expired), 100 from the last days (young)
INSERT INTO audit_log (at, actor, payload)
SELECT now() - interval '400 days' + g * interval '1 hour', 'user_' || g, jsonb_build_object('n', g)
  FROM generate_series(1, 300) g;
INSERT INTO audit_log (at, actor, payload)
SELECT now() - interval '10 days' + g * interval '1 hour', 'user_' || g, jsonb_build_object('n', g)
  FROM generate_series(1, 100) g;
SELECT audit_guard.protect('audit_log', owner => '$owner');
SET ROLE $owner;
SELECT audit_guard.set_retention('audit_log', '200 days', 'at');
SELECT audit_guard.set_retention('audit_log', '250 days', 'at');
SELECT audit_guard.seal('audit_log');
RESET ROLE;
SQL
ag_scalar "$src" "SELECT audit_guard.digest()" >"$digest_purge" || exit 1
ag_psql -d "$src" <<SQL >/dev/null || exit 1
SET ROLE $owner;
SELECT audit_guard.purge('audit_log');
SELECT audit_guard.redact('audit_log', '350', 'erasure request 2026-17');
RESET ROLE;
INSERT INTO audit_log (actor) VALUES ('after the purge');
SELECT audit_guard.seal();
SQL
ag_scalar "$src" "SELECT audit_guard.digest()" >"$digest_dump" || exit 1

# What a copy must show as the source does.
retention="SELECT keep || ' ' || time_column || ' ' || set_by FROM audit_guard.retention WHERE relid = 'audit_log'::regclass"
policy="SELECT retention || ' ' || retention_column || ' ' || rows_purged || ' ' || rows_redacted
	FROM audit_guard.protected_tables WHERE table_name = 'audit_log'::regclass"
erasures="SELECT string_agg(block || ' ' || kind || ' ' || sealed_block || ' ' || row_count || ' '
	|| coalesce(reason, '-'), ', ' ORDER BY block) FROM audit_guard.erasures"
history="SELECT string_agg(action || coalesce(' ' || keep, '') || coalesce(' ' || row_count, '')
	|| coalesce(' ' || row_key, ''), ', ' ORDER BY id) FROM audit_guard.history
	WHERE action IN ('retention', 'purge', 'redact')"
rows="SELECT count(*) || ':' || md5(string_agg(a::text, ',' ORDER BY id)) FROM audit_log a"
ag_is "$(ag_scalar "$src" "$retention")" "250 days at $owner" "the source: retention of 250 days by at"
ag_is "$(ag_scalar "$src" "$policy")" "250 days at 300 1" "the source: 300 rows purged, 1 redacted"
ag_is "$(ag_scalar "$src" "SELECT count(*) FROM audit_log")" 100 "the source: 100 rows left"
want_erasures=$(ag_scalar "$src" "$erasures")
want_history=$(ag_scalar "$src" "$history")
want_rows=$(ag_scalar "$src" "$rows")
ag_is "$want_history" "retention 200 days, retention 250 days, purge 250 days 300, redact 1 350" \
	"the source: history records the retentions, the purge and the redaction"

ag_ok "pg_dump -Fc" "$AG_BINDIR/pg_dump" -Fc -d "$src" -f "$dump"
ag_ok "pg_dump (plain)" "$AG_BINDIR/pg_dump" -d "$src" -f "$script"
ag_psql -d postgres -c "CREATE DATABASE $custom" -c "CREATE DATABASE $plain" || exit 1
ag_ok "pg_restore into a fresh database" \
	"$AG_BINDIR/pg_restore" --exit-on-error -d "$custom" "$dump"
ag_ok "psql -1 restores the plain dump into a fresh database" \
	"$AG_BINDIR/psql" -X -q -1 -v ON_ERROR_STOP=1 -d "$plain" -f "$script"

for db in "$custom" "$plain"; do
	ag_is "$(ag_scalar "$db" "$retention")" "250 days at $owner" "$db: the same retention row (keep, time column)"
	ag_is "$(ag_scalar "$db" "SELECT keep || ' ' || time_column || ' ' || set_on FROM audit_guard.retention_of('audit_log')")" \
		"250 days at audit_log" "$db: retention_of() reads it on the restored table"
	ag_is "$(ag_scalar "$db" "$policy")" "250 days at 300 1" "$db: protected_tables shows the policy and the counts"
	ag_is "$(ag_scalar "$db" "$erasures")" "$want_erasures" "$db: the same erasures"
	ag_is "$(ag_scalar "$db" "$history")" "$want_history" "$db: the same history"
	ag_is "$(ag_scalar "$db" "$rows")" "$want_rows" "$db: the same rows"

	ag_is "$(ag_scalar "$db" "SELECT count(*) FROM audit_guard.verify()")" 0 "$db: verify() is clean"
	ag_is "$(ag_scalar "$db" "SELECT count(*) FROM audit_guard.verify(pg_read_file('$digest_purge')::jsonb)")" 0 \
		"$db: verify() of the digest taken before the purge is clean"
	ag_is "$(ag_scalar "$db" "SELECT count(*) FROM audit_guard.verify(pg_read_file('$digest_dump')::jsonb)")" 0 \
		"$db: verify() of the digest taken before the dump is clean"
	ag_ok "$db: audit_guard_verify --digest (before the purge, before the dump) exits 0" \
		bash -c "\"$verifier\" -q -d $db --digest $digest_purge && \"$verifier\" -q -d $db --digest $digest_dump"

	ag_sqlstate "$db" 23000 "SET ROLE $owner; DROP TABLE audit_log" \
		"$db: DROP TABLE by the designated owner is refused while young rows remain (23000)"
	ag_sqlstate "$db" 23000 "SET ROLE $owner; SELECT audit_guard.unprotect('audit_log')" \
		"$db: unprotect() by the designated owner is refused (23000)"
	ag_sqlstate "$db" 23000 "SET ROLE $owner; SELECT audit_guard.set_retention('audit_log', '200 days', 'at')" \
		"$db: lowering the retention is refused (23000)"
	ag_sqlstate "$db" 23000 "SET ROLE $owner; ALTER TABLE audit_log DROP COLUMN at" \
		"$db: the time column cannot be dropped (23000)"
	ag_sqlstate "$db" 23000 "DELETE FROM audit_log WHERE id = 400" "$db: DELETE is still refused (23000)"
	ag_sqlstate "$db" 42501 "DROP TABLE audit_log" "$db: DROP TABLE by the superuser is refused (42501)"
	ag_is "$(ag_scalar "$db" "$retention")" "250 days at $owner" "$db: the retention is unchanged"

	# the chain goes on in the copy
	ag_ok "$db: an expired row is inserted" \
		ag_psql -d "$db" -c "INSERT INTO audit_log (at, actor) VALUES (now() - interval '300 days', 'late, expired')"
	ag_is "$(ag_scalar "$db" "SET ROLE $owner; SELECT audit_guard.purge('audit_log')")" 1 \
		"$db: purge() by the designated owner deletes it, and only it"
	ag_is "$(ag_scalar "$db" "SELECT count(*) FROM audit_log")" 100 "$db: the 100 young rows are left"
	ag_is "$(ag_scalar "$db" "SELECT count(*) FROM audit_guard.verify(pg_read_file('$digest_dump')::jsonb)")" 0 \
		"$db: verify() of the digest taken before the dump stays clean"
done

rm -f "$digest_purge" "$digest_dump" "$dump" "$script"
ag_drop_database "$custom"
ag_drop_database "$plain"
ag_drop_database "$src" "$owner"
ag_done
