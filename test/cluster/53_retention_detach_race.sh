#!/usr/bin/env bash
# DETACH PARTITION decides on the tables it actually detached, not on those
# its names gave before it waited for its locks (issue 11):
#
# 1. while a DETACH of the expired partition "ev_old" waits for its lock, a
#    second session renames ev_old away and gives its name to the
#    partition holding young rows; DETACH then acts on that partition.
# 2. the names of a DETACH give unprotected tables when it starts (the
#    check before the statement sees nothing to protect); a second session
#    holds the decoy parent locked, so that the DETACH waits, and gives
#    both names to the protected parent and its partition of young rows.
#    Plain DETACH and DETACH ... CONCURRENTLY (and its FINALIZE, and a
#    DROP of the partition it leaves pending) are each refused, 23000.
set -uo pipefail
source "${AG_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}/scripts/cluster.sh"
ag_cluster_attach || exit 1

db=ag_retention_detach_race
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

# race LOCKED DETACH RENAMES: a second session holds LOCKED, so that the
# DETACH statement waits for it, runs RENAMES and commits; the DETACH must
# then be refused, 23000
race() {
	local locked=$1 what=$2 renames=$3 out
	ag_session_open renamer "$db"
	ag_session_run renamer "SET ROLE $owner; BEGIN; LOCK TABLE $locked IN ACCESS EXCLUSIVE MODE;" >/dev/null
	ag_session_open detacher "$db"
	ag_session_run detacher "SET ROLE $owner;" >/dev/null
	ag_session_send detacher "$what"
	ag_ok "$what waits for the lock of $locked" ag_session_blocked detacher
	ag_session_run renamer "$renames COMMIT;" >/dev/null
	out=$(ag_session_wait detacher 60)
	printf '%s\n' "$out" | sed 's/^/#   /'
	ag_ok "it is refused (23000): it detached the partition of young rows" \
		grep -q '^ERROR:  23000' <<<"$out"
	ag_session_close renamer
	ag_session_close detacher
}

# 1. the name of the expired partition given to the young one
race ev_old "ALTER TABLE events DETACH PARTITION ev_old;" \
	"ALTER TABLE ev_old RENAME TO ev_was_old; ALTER TABLE ev_new RENAME TO ev_old;"

ag_is "$(ag_scalar "$db" "SELECT count(*) FROM pg_inherits WHERE inhrelid = $young_oid")" 1 \
	"the partition of young rows is still attached"
ag_is "$(ag_scalar "$db" "SELECT count(*) FROM events")" 2 "every row is still in the set"

# the legitimate neighbour: the expired partition, named as it is now
ag_ok "its designated owner detaches the expired partition" \
	ag_psql -d "$db" -c "SET ROLE $owner; ALTER TABLE events DETACH PARTITION ev_was_old"
ag_psql -d "$db" -c "SET ROLE $owner; ALTER TABLE ev_old RENAME TO ev_new" >/dev/null || exit 1

# 2. run_race WHAT: a DETACH of decoy_p from decoy, as given by WHAT, while
# the names go over to events and ev_new
run_race() {
	ag_psql -d "$db" <<SQL >/dev/null || return 1
SET ROLE $owner;
CREATE TABLE decoy (id bigint, at timestamptz NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE decoy_p PARTITION OF decoy FOR VALUES FROM ('2000-01-01') TO ('2100-01-01');
SQL
	race decoy "$1" "ALTER TABLE decoy RENAME TO decoy_was; ALTER TABLE decoy_p RENAME TO decoy_p_was;
		ALTER TABLE events RENAME TO decoy; ALTER TABLE ev_new RENAME TO decoy_p;"
	# the names back, the decoys gone
	ag_psql -d "$db" <<SQL >/dev/null || return 1
SET ROLE $owner;
ALTER TABLE decoy RENAME TO events;
ALTER TABLE decoy_p RENAME TO ev_new;
DROP TABLE decoy_was;
SQL
}

run_race "ALTER TABLE decoy DETACH PARTITION decoy_p;"
ag_is "$(ag_scalar "$db" "SELECT inhdetachpending FROM pg_inherits WHERE inhrelid = $young_oid")" f \
	"the partition of young rows is still attached"
ag_is "$(ag_scalar "$db" "SELECT count(*) FROM events")" 1 "the young row is still in the set"

run_race "ALTER TABLE decoy DETACH PARTITION decoy_p CONCURRENTLY;"
# its first transaction committed: the partition waits, detach pending
ag_is "$(ag_scalar "$db" "SELECT inhdetachpending FROM pg_inherits WHERE inhrelid = $young_oid")" t \
	"the partition of young rows is still a partition (detach pending)"
ag_is "$(ag_scalar "$db" "SELECT count(*) FROM ev_new")" 1 "its young row is still there"
ag_sqlstate "$db" 23000 "SET ROLE $owner; ALTER TABLE events DETACH PARTITION ev_new FINALIZE" \
	"FINALIZE of that detach is refused (23000)"
ag_is "$(ag_scalar "$db" "SELECT count(*) FROM pg_inherits WHERE inhrelid = $young_oid")" 1 \
	"and it stays a partition"
ag_is "$(ag_scalar "$db" "SELECT retention FROM audit_guard.protected_tables WHERE table_name = 'ev_new'::regclass")" "30 days" \
	"under the retention of events"

ag_sqlstate "$db" 23000 "SET ROLE $owner; DROP TABLE ev_new" \
	"nor may its designated owner drop it (23000)"
ag_is "$(ag_scalar "$db" "SELECT count(*) FROM ev_new")" 1 "its young row is still there"

ag_drop_database "$db" "$owner" >/dev/null
ag_done
