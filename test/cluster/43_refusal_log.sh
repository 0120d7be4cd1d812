#!/usr/bin/env bash
# Accountability.  Every refused attempt leaves one LOG line in the fixed
# form README.md documents, before its ERROR:
#   audit_guard refused: role="..." database="..." table="..." operation="..." sqlstate="....."
# and every statement a designated owner runs that the guard refuses to
# others is recorded in audit_guard.history, which is sealed like the rest.
set -uo pipefail
source "${AG_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}/scripts/cluster.sh"
ag_cluster_attach || exit 1

db=ag_refusal_log
ag_fresh_database "$db" regress_log_owner || exit 1
ag_psql -d "$db" <<'SQL' >/dev/null || exit 1
CREATE EXTENSION audit_guard;
CREATE TABLE audit_log (id int PRIMARY KEY, note text);
CREATE TABLE "odd ""name" (id int PRIMARY KEY);
ALTER TABLE audit_log OWNER TO regress_log_owner;
ALTER TABLE "odd ""name" OWNER TO regress_log_owner;
INSERT INTO audit_log VALUES (1, 'one');
SELECT audit_guard.protect('audit_log');
SELECT audit_guard.protect('"odd ""name"');
-- (PostgreSQL 15: a non-superuser may be allowed replica mode)
GRANT SET ON PARAMETER session_replication_role TO regress_log_owner;
SQL

# The documented pattern, and its fields as "role|database|table|operation|sqlstate".
fields() {
	perl -ne '
		next unless /LOG:  audit_guard refused: /;
		if (/LOG:  audit_guard refused: role="((?:[^"\\]|\\.)*)" database="((?:[^"\\]|\\.)*)" table="((?:[^"\\]|\\.)*)" operation="((?:[^"\\]|\\.)*)" sqlstate="([0-9A-Z]{5})"$/) {
			my @f = ($1, $2, $3, $4, $5);
			s/\\(["\\])/$1/g, s/\\n/\n/g for @f;
			print join("|", @f), "\n";
		} else { print "UNPARSED: $_" }'
}

offset=$(ag_log_offset)
ag_sqlstate "$db" 23000 "UPDATE audit_log SET note = 'x'" "UPDATE is refused"
ag_sqlstate "$db" 23000 "TRUNCATE audit_log" "TRUNCATE is refused"
ag_sqlstate "$db" 42501 "ALTER TABLE audit_log DISABLE TRIGGER ALL" "DISABLE TRIGGER is refused to the superuser"
ag_sqlstate "$db" 42501 "SET session_replication_role = replica" "replica mode is refused"
ag_sqlstate "$db" 42501 "DELETE FROM audit_guard.seal_rows" "DELETE of seal data is refused"
ag_sqlstate "$db" 42501 'DROP TABLE "odd ""name"' "DROP TABLE is refused"
sleep 0.3
log=$(ag_log_since "$offset")
ag_is "$(fields <<<"$log")" 'postgres|ag_refusal_log|public.audit_log|UPDATE|23000
postgres|ag_refusal_log|public.audit_log|TRUNCATE|23000
postgres|ag_refusal_log|public.audit_log|DISABLE TRIGGER ALL/USER|42501
postgres|ag_refusal_log|public.audit_log|SET session_replication_role = replica with SET|42501
postgres|ag_refusal_log|audit_guard.seal_rows|DELETE|42501
postgres|ag_refusal_log|public."odd ""name"|DROP TABLE|42501' \
	"one parseable LOG line per refusal: role, database, table, operation, SQLSTATE"
ag_is "$(grep -c 'ERROR: ' <<<"$log")" "6" "and one ERROR each"
ag_ok "each LOG line comes right before its ERROR" \
	perl -e 'my @l = grep { /audit_guard refused|ERROR: / } split /\n/, join "", <STDIN>;
		for (my $i = 0; $i < @l; $i += 2) { exit 1 unless $l[$i] =~ /LOG:  audit_guard refused/ && $l[$i + 1] =~ /ERROR: / }' \
	<<<"$log"

# the designated owner's overrides: allowed, recorded, not logged as refusals
offset=$(ag_log_offset)
ag_ok "the designated owner disables and re-enables the guard, and uses replica mode" \
	ag_psql -d "$db" <<'SQL'
SET ROLE regress_log_owner;
ALTER TABLE audit_log DISABLE TRIGGER ALL;
ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_guard_append_only;
ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_guard_no_truncate;
SET session_replication_role = replica;
RESET session_replication_role;
ALTER TABLE audit_log ADD COLUMN extra int;
ALTER TABLE audit_log DROP COLUMN extra;
SQL
ag_is "$(ag_log_since "$offset" | grep -c 'audit_guard refused')" "0" "no refusal is logged for them"
ag_is "$(ag_scalar "$db" "SELECT string_agg(concat_ws(' | ', table_name, designated_owner, performed_by, operation, statement), E'\n' ORDER BY id)
	FROM audit_guard.history WHERE action = 'override'")" \
	"public.audit_log | regress_log_owner | regress_log_owner | DISABLE TRIGGER ALL/USER | ALTER TABLE audit_log DISABLE TRIGGER ALL;
(every protected table) | regress_log_owner | regress_log_owner | SET session_replication_role = replica with SET | SET session_replication_role = replica;
public.audit_log | regress_log_owner | regress_log_owner | DROP COLUMN | ALTER TABLE audit_log DROP COLUMN extra;" \
	"history records each override with role, operation and statement (ADD COLUMN is no override)"

# history is sealed like any protected table
ag_ok "seal() seals history with the overrides" ag_psql -d "$db" -c "SELECT audit_guard.seal()"
ag_is "$(ag_scalar "$db" "SELECT sum(row_count) FROM audit_guard.seal_blocks WHERE relid = 'audit_guard.history'::regclass")" \
	"$(ag_scalar "$db" "SELECT count(*) FROM audit_guard.history")" "every history row is sealed"
ag_is "$(ag_scalar "$db" "SELECT count(*) FROM audit_guard.verify('audit_guard.history'::regclass)")" "0" \
	"history verifies clean"
ag_ok "audit_guard_verify finds history intact" "$AG_BINDIR/audit_guard_verify" -q -d "$db" audit_guard.history

ag_psql -d "$db" -c "SET ROLE regress_log_owner" -c "SELECT audit_guard.unprotect('audit_log')" \
	-c "SELECT audit_guard.unprotect('\"odd \"\"name\"')" -c "RESET ROLE" \
	-c "REVOKE SET ON PARAMETER session_replication_role FROM regress_log_owner" >/dev/null
ag_drop_database "$db" regress_log_owner
ag_done
