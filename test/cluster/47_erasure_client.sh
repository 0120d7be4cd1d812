#!/usr/bin/env bash
# audit_guard_verify after purge() and redact().
#
# A table sealed in two blocks: block 1 all past retention, block 2 partly.
# A digest is taken (digest() and --save-digest); the designated owner sets
# a retention, purges (block 3: block 1 whole, ten keys of block 2) and
# redacts one row with a reason (block 4).  audit_guard_verify must accept
# the chain, also against both digests taken before, list the erasures
# with --show-erasures, and agree with digest() on the new head; a
# redacted key inserted again is a new row, and sealed again (block 5).
# Then, with the preload off, a superuser deletes a row that was not
# erased and edits the redaction's keys: audit_guard_verify exits 1 and
# names both, as verify() does.
# Restores the setting at the end.
set -uo pipefail
source "${AG_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}/scripts/cluster.sh"
ag_cluster_attach || exit 1

db=ag_erasure_client
owner=regress_erasure_owner
verifier=$AG_BINDIR/audit_guard_verify
d_server=$AG_DIR/erasure_client_server.json
d_client=$AG_DIR/erasure_client_client.json
d_after=$AG_DIR/erasure_client_after.json
ag_fresh_database "$db" "$owner" || exit 1
ag_psql -d "$db" <<SQL >/dev/null || exit 1
CREATE EXTENSION audit_guard;
CREATE TABLE audit_log (id bigint PRIMARY KEY, at timestamptz NOT NULL,
						actor text NOT NULL, note text);
ALTER TABLE audit_log OWNER TO $owner;
INSERT INTO audit_log
SELECT g, now() - interval '400 days' + g * interval '1 hour', 'user_' || g % 7,
	   CASE WHEN g % 5 = 0 THEN NULL ELSE 'event ' || g END
  FROM generate_series(1, 30) g;
SELECT audit_guard.protect('audit_log');
SELECT audit_guard.seal('audit_log');
INSERT INTO audit_log
SELECT g, CASE WHEN g <= 40 THEN now() - interval '390 days' ELSE now() - (100 - g) * interval '1 hour' END,
	   'user_' || g % 7, CASE WHEN g % 5 = 0 THEN NULL ELSE 'event ' || g END
  FROM generate_series(31, 100) g;
SELECT audit_guard.seal('audit_log');
SQL

# Problems as "block key problem" lines for audit_log, and the exit status
# last (so that a crash cannot pass for "no problem"); the server's the
# same way, without the status.
client() {
	local out rc
	out=$("$verifier" -q -d "$db" "$@")
	rc=$?
	printf '%s\n' "$out" | awk -F'\t' '$1 == "public.audit_log" { print $2 " " $3 " " $4 }'
	echo "exit $rc"
}
server() {
	ag_scalar "$db" "SELECT concat(block, ' ', row_key, ' ', problem)
		FROM audit_guard.verify('audit_log'::regclass)"
}
# block, block_hash, rows, purged, redacted of audit_log in a digest
head_of() {
	ag_scalar "$db" "SELECT concat_ws(' ', d ->> 'block', d ->> 'block_hash', d ->> 'rows',
			coalesce(d ->> 'purged', '0'), coalesce(d ->> 'redacted', '0'))
		FROM jsonb_array_elements(($1)::jsonb -> 'tables') d WHERE d ->> 'table' = 'public.audit_log'"
}

ag_scalar "$db" "SELECT audit_guard.digest()" >"$d_server"
ag_is "$(head_of "pg_read_file('$d_server')" | cut -d' ' -f1,3-)" "2 100 0 0" \
	"digest() before the erasures: block 2, 100 rows sealed"
ag_ok "--save-digest before the erasures" "$verifier" -q -d "$db" --save-digest "$d_client"

ag_is "$(ag_psql -d "$db" -At <<SQL
SET ROLE $owner;
SELECT audit_guard.set_retention('audit_log', '365 days', 'at') IS NOT NULL;
SELECT audit_guard.purge('audit_log');
SELECT audit_guard.redact('audit_log', '77', E'GDPR request 17\tticket 4711');
SQL
)" "t
40" "the designated owner sets a retention, purges 40 rows and redacts row 77"
ag_is "$(ag_scalar "$db" "SELECT string_agg(concat_ws(' ', block, kind, row_count), ', ' ORDER BY block)
	FROM audit_guard.seal_blocks WHERE relid = 'audit_log'::regclass")" \
	"1 seal 30, 2 seal 70, 3 purge 40, 4 redact 1" "the chain: two seal blocks, a purge, a redaction"
ag_is "$(ag_scalar "$db" "SELECT count(*) FROM audit_guard.seal_rows WHERE relid = 'audit_log'::regclass AND block = 1")" \
	"0" "block 1, purged whole, has no stored rows left"

ag_is "$(client)" "exit 0" "audit_guard_verify accepts the purge and the redaction"
ag_is "$(client --digest "$d_server")" "exit 0" "... and the digest() taken before them"
ag_is "$(client --digest "$d_client")" "exit 0" "... and its own digest taken before them"
ag_is "$(server)" "" "verify() agrees"
ag_is "$("$verifier" -d "$db" 2>&1 >/dev/null)" \
	"audit_guard_verify: 1 table, 4 blocks, 59 rows read: intact" "59 rows are left to read"
ag_is "$("$verifier" -q -d "$db" --show-erasures; echo "exit $?")" \
	"public.audit_log	3	1	purge	30	
public.audit_log	3	2	purge	10	
public.audit_log	4	2	redact	1	GDPR request 17\\tticket 4711
exit 0" "--show-erasures: block 1 whole and 10 rows of block 2 purged, row 77 redacted with its reason"

ag_ok "a new row with the redacted key, and one more" ag_psql -d "$db" \
	-c "INSERT INTO audit_log VALUES (77, now(), 'user_0', 'again'), (101, now(), 'user_3', NULL)"
ag_is "$(client)" "exit 0" "a new row with an erased key is not a sealed row"
ag_ok "sealed again" ag_psql -d "$db" -c "SELECT audit_guard.seal('audit_log')"
ag_is "$(client --digest "$d_server")" "exit 0" "key 77 sealed again in block 5: intact"
ag_is "$(server)" "" "verify() agrees"
ag_ok "--save-digest after the erasures" "$verifier" -q -d "$db" --save-digest "$d_after"
ag_is "$(head_of "pg_read_file('$d_after')")" "$(head_of "audit_guard.digest()")" \
	"its head, rows, purged and redacted are digest()'s"
ag_is "$(head_of "pg_read_file('$d_after')" | cut -d' ' -f1,3-)" "5 102 40 1" \
	"block 5; 102 rows sealed, 40 purged, 1 redacted"

# below the guard: a row not erased deleted, the redaction's keys edited
ag_ok "restart without the preload" ag_conf_override "shared_preload_libraries = ''"
ag_ok "a superuser deletes row 50 and makes the redaction name row 78" ag_psql -d "$db" <<'SQL'
ALTER TABLE audit_log DISABLE TRIGGER ALL;
ALTER TABLE audit_guard.seal_erasures DISABLE TRIGGER USER;
DELETE FROM audit_log WHERE id = 50;
UPDATE audit_guard.seal_erasures SET keys = int4send(8) || int8send(78)
 WHERE relid = 'audit_log'::regclass AND block = 4;
ALTER TABLE audit_guard.seal_erasures ENABLE ALWAYS TRIGGER own_table_guard;
ALTER TABLE audit_guard.seal_erasures ENABLE ALWAYS TRIGGER own_table_no_truncate;
ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_guard_append_only;
ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_guard_no_truncate;
SQL
ag_ok "restart with the preload" ag_conf_reset
out=$("$verifier" -q -d "$db")
printf '%s\n' "$out" | sed 's/^/#   /'
ag_is "$(client)" "2 50 row missing
2 77 row changed
4  seal data edited
5 77 row sealed twice
exit 1" "audit_guard_verify exits 1: row 50 missing, block 4's entries edited, key 77 back in block 2"
ag_ok "the edited entry is named by its root" \
	bash -c "printf '%s\n' \"\$1\" | grep -q \$'^public.audit_log\t4\t\tseal data edited\tthe stored erasure entries give the root '" _ "$out"
# verify() also sees row 78, which the last seal saw and the edited
# redaction now claims erased: the client reads no transaction ids
ag_is "$(server)" "$(client | grep -v '^exit')
5 78 row not sealed" "verify() names the same problems, and row 78 not sealed"

ag_drop_database "$db" "$owner"
ag_done
