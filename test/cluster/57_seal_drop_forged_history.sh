#!/usr/bin/env bash
# A sealed table without a retention, dropped below the guard with a 'drop'
# row written into audit_guard.history, fails a saved digest (issue 9,
# found by a red-team pass).
#
# A digest is taken with table t sealed.  With the preload off, a superuser
# drops t, removes its registry row and inserts the history row a
# legitimate drop by the designated owner would have written.  Both
# verifiers accepted the table as dropped with its chain: nothing in that
# evidence is out of the attacker's reach.  Now a drop is accepted only for
# a table the digest (kept outside) says a retention applied to: here both
# report a digest mismatch for public.t.  (partman_retention.sh shows the
# drop of partitions past retention accepted.)  And a digest whose object
# has a key twice, which the client and jsonb would read differently, is
# refused by the client (exit 2).
set -uo pipefail
source "${AG_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}/scripts/cluster.sh"
ag_cluster_attach || exit 1

db=ag_seal_drop_forged
verifier=$AG_BINDIR/audit_guard_verify
digest=$AG_DIR/seal_drop_forged_digest.json
ag_fresh_database "$db" || exit 1
ag_psql -d "$db" <<'SQL' >/dev/null || exit 1
CREATE EXTENSION audit_guard;
CREATE TABLE t (id bigint PRIMARY KEY, note text);
INSERT INTO t SELECT g, 'n' || g FROM generate_series(1, 5) g;
SELECT audit_guard.protect('t');
SELECT audit_guard.seal();
SQL
ag_ok "audit_guard_verify saves a digest with public.t" \
	"$verifier" -q -d "$db" --save-digest "$digest"
ag_ok "the digest names public.t, without a retention" \
	grep -q '"table": "public.t".*"retention": null' "$digest"

ag_ok "restart without the preload" ag_conf_override "shared_preload_libraries = ''"
ag_ok "t dropped, registry row removed, a 'drop' history row written" ag_psql -d "$db" <<'SQL'
ALTER TABLE audit_guard.history DISABLE TRIGGER USER;
ALTER TABLE audit_guard.registry DISABLE TRIGGER USER;
INSERT INTO audit_guard.history (action, relid, table_name, designated_owner, statement)
SELECT 'drop', relid, 'public.t', designated_owner::name, 'DROP TABLE t'
  FROM audit_guard.registry WHERE relid = 't'::regclass;
DELETE FROM audit_guard.registry WHERE relid = 't'::regclass;
DROP TABLE t;
ALTER TABLE audit_guard.history ENABLE ALWAYS TRIGGER own_table_guard;
ALTER TABLE audit_guard.history ENABLE ALWAYS TRIGGER own_table_no_truncate;
ALTER TABLE audit_guard.registry ENABLE ALWAYS TRIGGER own_table_guard;
ALTER TABLE audit_guard.registry ENABLE ALWAYS TRIGGER own_table_no_truncate;
ALTER TABLE audit_guard.registry ENABLE ALWAYS TRIGGER registry_changed;
SQL
ag_ok "restart with the preload" ag_conf_reset
ag_ok "history is sealed as usual" ag_psql -d "$db" -c "SELECT audit_guard.seal()"
ag_is "$(ag_scalar "$db" "SELECT to_regclass('public.t') IS NULL")" "t" "table t is gone"

ag_is "$(ag_scalar "$db" "SELECT coalesce(string_agg(problem, ','), 'clean')
	FROM audit_guard.verify(pg_read_file('$digest')::jsonb)")" "digest mismatch" \
	"verify(digest) reports the vanished table"
out=$("$verifier" -q -d "$db" --digest "$digest")
rc=$?
printf '%s\n' "$out" | sed 's/^/#   /'
ag_is "$rc $(printf '%s\n' "$out" | cut -f1,4 | tr '\t' ' ')" "1 public.t digest mismatch" \
	"audit_guard_verify --digest reports public.t and exits 1"

# a digest read one way by the client and another by jsonb is refused
dup=$AG_DIR/seal_drop_forged_dup.json
printf '{"tables": [], "tables": %s}\n' "$(ag_scalar "$db" "SELECT audit_guard.digest() -> 'tables'")" >"$dup"
out=$("$verifier" -q -d "$db" --digest "$dup" 2>&1)
rc=$?
printf '%s\n' "$out" | sed 's/^/#   /'
ag_is "$rc" 2 "a digest with a key twice in one object: audit_guard_verify exits 2"
ag_ok "and says why" grep -q 'a key appears twice' <<<"$out"

ag_drop_database "$db"
ag_done
