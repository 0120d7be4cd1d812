#!/usr/bin/env bash
# A retention raised while a purge() runs (issue 11, found by a red-team
# pass).  purge() read the keep once and took no lock set_retention()
# waits for: a raise to 10 years (a legal hold) committed at once while a
# purge with keep 30 days ran, and the purge then deleted rows the raise,
# committed before it, keeps.  Now purge() locks the retentions it reads:
#
# 1. a raise waits for the purge running, which is ordered before it;
# 2. a purge after a raise committed deletes by the raised keep.
set -uo pipefail
source "${AG_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}/scripts/cluster.sh"
ag_cluster_attach || exit 1

db=ag_retention_purge_raise
owner=regress_rtpr_owner
ag_fresh_database "$db" "$owner" || exit 1
ag_psql -d "$db" <<SQL >/dev/null || exit 1
CREATE EXTENSION audit_guard;
GRANT CREATE ON SCHEMA public TO $owner;
SET ROLE $owner;
CREATE TABLE log (id bigint PRIMARY KEY, at timestamptz NOT NULL, note text);
INSERT INTO log VALUES (1, '2001-01-01', 'expired'),
	(2, now() - interval '60 days', 'kept by the raised retention'),
	(3, now(), 'young');
RESET ROLE;
SELECT audit_guard.protect('log');
SET ROLE $owner;
SELECT audit_guard.set_retention('log', '30 days', 'at');
SQL

ag_session_open purger "$db"
ag_session_open raiser "$db"
out=$(ag_session_run purger "SET ROLE $owner; BEGIN; SELECT audit_guard.purge('log');")
ag_is "$(tail -n 1 <<<"$out")" 2 "the purge (keep 30 days) matched the two rows older than 30 days"

ag_session_send raiser "SET ROLE $owner; SELECT audit_guard.set_retention('log', '10 years', 'at');"
ag_ok "the raise to 10 years waits for the purge" ag_session_blocked raiser
ag_session_run purger "COMMIT;" >/dev/null
raise_out=$(ag_session_wait raiser 30)
printf '%s\n' "$raise_out" | sed 's/^/#   /'
ag_ok "the raise completes after it" grep -q 'raised from 30 days to 10 years' <<<"$raise_out"
ag_session_close purger
ag_session_close raiser
ag_is "$(ag_scalar "$db" "SELECT string_agg(id::text, ',' ORDER BY id) FROM log")" 3 \
	"the purge, ordered first, deleted rows 1 and 2"

# 2. the raise first: a purge then keeps what the raised retention keeps
ag_psql -d "$db" -c "SET ROLE $owner; INSERT INTO log VALUES (4, now() - interval '60 days', 'kept'), (5, '2001-01-01', 'expired')" >/dev/null
ag_is "$(ag_scalar "$db" "SET ROLE $owner; SELECT audit_guard.purge('log')")" 1 \
	"a purge after the raise deletes the one row older than 10 years"
ag_is "$(ag_scalar "$db" "SELECT string_agg(id::text, ',' ORDER BY id) FROM log")" "3,4" \
	"the 60-day-old row is kept"

ag_drop_database "$db" "$owner" >/dev/null
ag_done
