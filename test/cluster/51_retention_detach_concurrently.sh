#!/usr/bin/env bash
# ALTER TABLE ... DETACH PARTITION ... CONCURRENTLY of a partition under a
# retention must not let a young row escape it (issue 11).
#
# DETACH CONCURRENTLY commits after its first step and waits, in a second
# transaction, for every transaction that may still see the partition
# attached.  A check made in the first step alone (all rows past
# retention) does not hold in the second: a young row inserted into the
# partition meanwhile would leave the set with it, and the detached table,
# with no retention of its own, could then be dropped.  Whatever the guard
# does (refuse the detach, or look again before it completes), afterwards
# the young row is there, a retention applies to the table holding it,
# and its designated owner cannot drop it.
set -uo pipefail
source "${AG_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}/scripts/cluster.sh"
ag_cluster_attach || exit 1

db=ag_retention_detach
owner=regress_rdc_owner
ag_fresh_database "$db" "$owner" || exit 1
ag_psql -d "$db" <<SQL >/dev/null || exit 1
CREATE EXTENSION audit_guard;
GRANT CREATE ON SCHEMA public TO $owner;
SET ROLE $owner;
CREATE TABLE events (id bigint, at timestamptz NOT NULL, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
-- one partition from 2000 to 2100, holding one row of 2010: past retention
CREATE TABLE events_all PARTITION OF events FOR VALUES FROM ('2000-01-01') TO ('2100-01-01');
INSERT INTO events VALUES (1, '2010-01-01');
RESET ROLE;
SELECT audit_guard.protect('events');
SET ROLE $owner;
SELECT audit_guard.set_retention('events', '30 days', 'at');
SQL

# A reader that holds a snapshot of the set keeps DETACH CONCURRENTLY in
# its second step.
ag_session_open reader "$db"
ag_session_run reader "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM events;" >/dev/null
ag_session_open detacher "$db"
ag_session_send detacher "SET ROLE $owner; ALTER TABLE events DETACH PARTITION events_all CONCURRENTLY;"
# it is refused at once, or waits for the reader
for ((i = 0; i < 60; i++)); do
	[ "$(ag_scalar "$db" "SELECT coalesce(wait_event_type, '') FROM pg_stat_activity
		WHERE pid = ${AG_SESSION_BACKEND[detacher]}")" = Lock ] && break
	grep -q ERROR "$AG_DIR/session.detacher.out" && break
	sleep 0.05
done
ag_ok "a young row is inserted into the partition meanwhile" \
	ag_psql -d "$db" -c "INSERT INTO events_all VALUES (2, now())"
ag_session_run reader "COMMIT;" >/dev/null
out=$(ag_session_wait detacher 30)
echo "# DETACH CONCURRENTLY: ${out:-done}"
ag_session_close reader
ag_session_close detacher

ag_is "$(ag_scalar "$db" "SELECT count(*) FROM events_all WHERE at >= now() - interval '30 days'")" 1 \
	"the young row is there"
ag_sqlstate "$db" 23000 "BEGIN; SET ROLE $owner; DROP TABLE events_all; ROLLBACK" \
	"the designated owner may not drop the table that holds it (23000)"
ag_is "$(ag_scalar "$db" "SELECT keep FROM audit_guard.retention_of('events_all')")" "30 days" \
	"  a retention of 30 days applies to it"

ag_drop_database "$db" "$owner" >/dev/null 2>&1
ag_done
