#!/usr/bin/env bash
# A primary key widened between seals by the designated owner: a new row
# legal under the new key that shares the old key of a sealed row is no
# duplicate (issue 9, found by a second red-team pass).  Table log is
# sealed under PRIMARY KEY (id); the key becomes (id, ts); (3, 30) is
# inserted and sealed by the next seal() (the previous seal's snapshot
# tells it new).  Both verifiers report nothing (a second row under one
# key set is still 'row duplicated': 54_seal_forged_below_guard.sh).
set -uo pipefail
source "${AG_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}/scripts/cluster.sh"
ag_cluster_attach || exit 1

db=ag_seal_key_widened
owner=regress_skw_owner
verifier=$AG_BINDIR/audit_guard_verify
ag_fresh_database "$db" "$owner" || exit 1
ag_psql -d "$db" <<SQL >/dev/null || exit 1
CREATE EXTENSION audit_guard;
GRANT CREATE ON SCHEMA public TO $owner;
CREATE TABLE log (id int, ts int, note text, PRIMARY KEY (id));
INSERT INTO log SELECT g, g, 'n' || g FROM generate_series(1, 5) g;
ALTER TABLE log OWNER TO $owner;
SELECT audit_guard.protect('log');
SET ROLE $owner;
SELECT audit_guard.seal('log');
SQL
ag_ok "its designated owner widens the primary key to (id, ts)" ag_psql -d "$db" \
	-c "SET ROLE $owner; ALTER TABLE log DROP CONSTRAINT log_pkey, ADD PRIMARY KEY (id, ts)"
ag_psql -d "$db" -c "SET ROLE $owner; INSERT INTO log VALUES (3, 30, 'a second 3, legal under (id, ts)')" >/dev/null
ag_is "$(ag_scalar "$db" "SET ROLE $owner; SELECT block || ':' || rows FROM audit_guard.seal('log')")" "2:1" \
	"the next seal() seals the new row as block 2"
ag_is "$(ag_scalar "$db" "SELECT coalesce(string_agg(row_key || ' ' || problem, ','), 'clean') FROM audit_guard.verify('log'::regclass)")" \
	clean "verify() reports nothing"
out=$("$verifier" -q -d "$db" log)
ag_is "$? $out" "0 " "audit_guard_verify reports nothing"

ag_drop_database "$db" "$owner" >/dev/null
ag_done
