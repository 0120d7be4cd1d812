#!/usr/bin/env bash
# DETACH PARTITION decides on the table its name gives under the lock, not
# before (issue 11): while a DETACH of the expired partition "ev_old" waits
# for its lock, a second session renames ev_old away and gives its name to
# the partition holding young rows.  DETACH then acts on that partition;
# the retention check must have looked at it, not at the table the name
# gave before the wait.
set -uo pipefail
source "${AG_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}/scripts/cluster.sh"
ag_cluster_attach || exit 1

db=ag_retention_detach_rename
owner=regress_rdr_owner
ag_fresh_database "$db" "$owner" || exit 1
ag_psql -d "$db" <<SQL >/dev/null || exit 1
CREATE EXTENSION audit_guard;
GRANT CREATE ON SCHEMA public TO $owner;
SET ROLE $owner;
CREATE TABLE events (id bigint, at timestamptz NOT NULL, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE ev_old PARTITION OF events FOR VALUES FROM ('2000-01-01') TO ('2020-01-01');
CREATE TABLE ev_new PARTITION OF events FOR VALUES FROM ('2020-01-01') TO ('2100-01-01');
INSERT INTO events VALUES (1, '2010-01-01'), (2, now());
RESET ROLE;
SELECT audit_guard.protect('events');
SET ROLE $owner;
SELECT audit_guard.set_retention('events', '30 days', 'at');
SQL

young_oid=$(ag_scalar "$db" "SELECT 'ev_new'::regclass::oid")

# the renamer holds ev_old locked, so that the DETACH waits for it
ag_session_open renamer "$db"
ag_session_run renamer "SET ROLE $owner; BEGIN; LOCK TABLE ev_old IN ACCESS EXCLUSIVE MODE;" >/dev/null
ag_session_open detacher "$db"
ag_session_run detacher "SET ROLE $owner;" >/dev/null
ag_session_send detacher "ALTER TABLE events DETACH PARTITION ev_old;"
ag_ok "the DETACH of ev_old waits for its lock" ag_session_blocked detacher
ag_session_run renamer "ALTER TABLE ev_old RENAME TO ev_was_old; ALTER TABLE ev_new RENAME TO ev_old; COMMIT;" >/dev/null
out=$(ag_session_wait detacher 30)
printf '%s\n' "$out" | sed 's/^/#   /'
ag_ok "the DETACH is refused (23000): the name now gives the partition of young rows" \
	grep -q '^ERROR:  23000' <<<"$out"
ag_session_close renamer
ag_session_close detacher

ag_is "$(ag_scalar "$db" "SELECT count(*) FROM pg_inherits WHERE inhrelid = $young_oid")" 1 \
	"the partition of young rows is still attached"
ag_is "$(ag_scalar "$db" "SELECT count(*) FROM events")" 2 "every row is still in the set"

# the legitimate neighbour: the expired partition, named as it is now
ag_ok "its designated owner detaches the expired partition" \
	ag_psql -d "$db" -c "SET ROLE $owner; ALTER TABLE events DETACH PARTITION ev_was_old"

ag_drop_database "$db" "$owner" >/dev/null
ag_done
