#!/usr/bin/env bash
# The refusals of a retention write the refusal LOG line README.md promises
# for every refused attempt ("Refusal log lines"), like the other refusals
# (43_refusal_log.sh): DROP TABLE, DETACH PARTITION (also CONCURRENTLY) and
# unprotect() while young rows remain, lowering the retention, dropping or
# renaming its time column; each by the designated owner, SQLSTATE 23000.
set -uo pipefail
source "${AG_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}/scripts/cluster.sh"
ag_cluster_attach || exit 1

db=ag_retention_log
owner=regress_rl_owner
ag_fresh_database "$db" "$owner" || exit 1
ag_psql -d "$db" <<SQL >/dev/null || exit 1
CREATE EXTENSION audit_guard;
CREATE TABLE audit_log (id int PRIMARY KEY, at timestamptz NOT NULL);
CREATE TABLE events (id int, at timestamptz NOT NULL, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE events_all PARTITION OF events FOR VALUES FROM ('2000-01-01') TO ('2100-01-01');
ALTER TABLE audit_log OWNER TO $owner;
ALTER TABLE events OWNER TO $owner;
ALTER TABLE events_all OWNER TO $owner;
INSERT INTO audit_log VALUES (1, now());
INSERT INTO events VALUES (1, now());
SELECT audit_guard.protect('audit_log');
SELECT audit_guard.protect('events');
SET ROLE $owner;
SELECT audit_guard.set_retention('audit_log', '30 days', 'at');
SELECT audit_guard.set_retention('events', '30 days', 'at');
SQL

# The documented pattern, and its fields as "role|database|table|operation|sqlstate".
fields() {
	perl -ne '
		next unless /LOG:  audit_guard refused: /;
		if (/LOG:  audit_guard refused: role="((?:[^"\\]|\\.)*)" database="((?:[^"\\]|\\.)*)" table="((?:[^"\\]|\\.)*)" operation="((?:[^"\\]|\\.)*)" sqlstate="([0-9A-Z]{5})"$/) {
			print join("|", $1, $2, $3, $4, $5), "\n";
		} else { print "UNPARSED: $_" }'
}

offset=$(ag_log_offset)
ag_sqlstate "$db" 23000 "SET ROLE $owner; DROP TABLE audit_log" "DROP TABLE is refused"
ag_sqlstate "$db" 23000 "SET ROLE $owner; ALTER TABLE events DETACH PARTITION events_all" \
	"DETACH PARTITION is refused"
ag_sqlstate "$db" 23000 "SET ROLE $owner; ALTER TABLE events DETACH PARTITION events_all CONCURRENTLY" \
	"DETACH PARTITION CONCURRENTLY is refused"
ag_sqlstate "$db" 23000 "SET ROLE $owner; SELECT audit_guard.unprotect('audit_log')" "unprotect() is refused"
ag_sqlstate "$db" 23000 "SET ROLE $owner; SELECT audit_guard.set_retention('audit_log', '1 day', 'at')" \
	"lowering the retention is refused"
ag_sqlstate "$db" 23000 "SET ROLE $owner; ALTER TABLE audit_log DROP COLUMN at" "DROP COLUMN of the time column is refused"
ag_sqlstate "$db" 23000 "SET ROLE $owner; ALTER TABLE audit_log RENAME COLUMN at TO happened" \
	"RENAME COLUMN of the time column is refused"
sleep 0.3
log=$(ag_log_since "$offset")
ag_is "$(fields <<<"$log")" "$owner|$db|public.audit_log|DROP TABLE|23000
$owner|$db|public.events_all|DETACH PARTITION|23000
$owner|$db|public.events_all|DETACH PARTITION CONCURRENTLY|23000
$owner|$db|public.audit_log|audit_guard.unprotect()|23000
$owner|$db|public.audit_log|audit_guard.set_retention()|23000
$owner|$db|public.audit_log|DROP COLUMN|23000
$owner|$db|public.audit_log|RENAME COLUMN|23000" \
	"one parseable LOG line per refusal: role, database, table, operation, SQLSTATE"
ag_is "$(grep -c 'ERROR: ' <<<"$log")" "7" "and one ERROR each"
ag_ok "each LOG line comes right before its ERROR" \
	perl -e 'my @l = grep { /audit_guard refused|ERROR: / } split /\n/, join "", <STDIN>;
		for (my $i = 0; $i < @l; $i += 2) { exit 1 unless $l[$i] =~ /LOG:  audit_guard refused/ && $l[$i + 1] =~ /ERROR: / }' \
	<<<"$log"

ag_drop_database "$db" "$owner" >/dev/null
ag_done
