#!/usr/bin/env bash
# scripts/demo.sh: what `make demo` runs.
#
# Starts a throwaway cluster, sets up an audit table the way application
# teams do (an owner role that owns schema and table, an application role
# with INSERT and SELECT only), protects it, then tries each way of
# rewriting history as the application role and as the superuser, and the
# designated owner's explicit, logged step.  Prints attack | as | result,
# checks the rows are unchanged, cleans up, and exits non-zero if any
# attack was not refused or the owner's step did not work.

set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
# shellcheck source=scripts/cluster.sh
source "$ROOT/scripts/cluster.sh"

# AG_INSTALLED=1: use the audit_guard already installed (a package) as is
if [ "${AG_INSTALLED:-0}" = 1 ]; then
	echo "using the installed audit_guard: $("${PG_CONFIG:-pg_config}" --pkglibdir)/audit_guard.so"
else
	echo "building and installing audit_guard ..."
	ag_build_install >/dev/null || exit 1
fi
echo "starting a throwaway cluster ..."
ag_cluster_start || exit 1
export PGDATABASE=audit_demo

ag_psql -d postgres -c 'CREATE DATABASE audit_demo' || exit 1
ag_psql >/dev/null <<'SQL' || exit 1
CREATE EXTENSION audit_guard;
CREATE ROLE audit_owner NOLOGIN;
CREATE ROLE app LOGIN;
CREATE SCHEMA audit AUTHORIZATION audit_owner;
SET ROLE audit_owner;
CREATE TABLE audit.audit_log (
	id		bigserial PRIMARY KEY,
	at		timestamptz NOT NULL DEFAULT now(),
	actor	text NOT NULL,
	action	text NOT NULL,
	payload	jsonb
);
GRANT USAGE ON SCHEMA audit TO app;
GRANT SELECT, INSERT ON audit.audit_log TO app;
GRANT USAGE ON SEQUENCE audit.audit_log_id_seq TO app;
RESET ROLE;
SET ROLE app;
INSERT INTO audit.audit_log (actor, action, payload) VALUES
	('alice', 'login', '{"ip": "10.0.0.7"}'),
	('alice', 'transfer', '{"amount": 250, "to": "bob"}'),
	('bob', 'login', '{"ip": "10.0.0.9"}');
RESET ROLE;
SELECT audit_guard.protect('audit.audit_log');
SQL

fingerprint() {
	ag_scalar audit_demo "SELECT count(*) || ' ' || md5(string_agg(t::text, ',' ORDER BY id))
		FROM audit.audit_log t"
}
before=$(fingerprint)

# Run SQL as a client connected as role $1; print "REFUSED <SQLSTATE>" and
# who refused (audit_guard, or PostgreSQL's own privilege checks) for the
# first error, or "allowed".
attempt() {
	local role=$1 sql=$2 out code by
	out=$(printf '\\set VERBOSITY verbose\n%s\n' "$sql" |
		PGUSER=$role "$AG_BINDIR/psql" -X -q -At -v ON_ERROR_STOP=1 2>&1 >/dev/null)
	code=$(sed -n 's/^.*ERROR:  \([0-9A-Z]\{5\}\): .*$/\1/p' <<<"$out" | head -n 1)
	# audit_guard's refusals say so in their DETAIL
	if grep -q '^DETAIL: .*audit_guard' <<<"$out"; then
		by="by audit_guard"
	else
		by="by PostgreSQL"
	fi
	if [ -n "$code" ]; then
		echo "REFUSED $code $by"
	elif [ -n "$out" ]; then
		echo "error: $out"
	else
		echo "allowed"
	fi
}

bad=0
row() {
	printf '%-47s | %-8s | %s\n' "$1" "$2" "$3"
}

# attack (label, SQL); each runs as app and as postgres and must be refused
attacks=(
	"UPDATE a row"
	"UPDATE audit.audit_log SET actor = 'mallory' WHERE id = 2"
	"DELETE every row"
	"DELETE FROM audit.audit_log"
	"TRUNCATE"
	"TRUNCATE audit.audit_log"
	"ALTER TABLE ... DISABLE TRIGGER ALL"
	"ALTER TABLE audit.audit_log DISABLE TRIGGER ALL"
	"DROP TRIGGER audit_guard_append_only"
	"DROP TRIGGER audit_guard_append_only ON audit.audit_log"
	"SET session_replication_role = replica; DELETE"
	"SET session_replication_role = replica; DELETE FROM audit.audit_log"
	"set_config(..., 'replica'); DELETE"
	"SELECT set_config('session_replication_role', 'replica', false); DELETE FROM audit.audit_log"
	"audit_guard.unprotect()"
	"SELECT audit_guard.unprotect('audit.audit_log')"
)

echo
row "attack" "as" "result"
row "-----------------------------------------------" "--------" "--------------------------"
for ((i = 0; i < ${#attacks[@]}; i += 2)); do
	for role in app postgres; do
		result=$(attempt "$role" "${attacks[i + 1]}")
		case "$result" in
		REFUSED*) ;;
		*) bad=1 ;;
		esac
		row "${attacks[i]}" "$role" "$result"
	done
done

# the designated owner's explicit steps: SET ROLE first, then act
owner_steps=(
	"owner: DISABLE TRIGGER, then ENABLE ALWAYS"
	"SET ROLE audit_owner;
	 ALTER TABLE audit.audit_log DISABLE TRIGGER audit_guard_append_only;
	 ALTER TABLE audit.audit_log ENABLE ALWAYS TRIGGER audit_guard_append_only"
	"owner: unprotect() in a rolled-back txn"
	"BEGIN; SET LOCAL ROLE audit_owner;
	 SELECT audit_guard.unprotect('audit.audit_log'); ROLLBACK"
)
for ((i = 0; i < ${#owner_steps[@]}; i += 2)); do
	result=$(attempt postgres "${owner_steps[i + 1]}")
	[ "$result" = allowed ] || bad=1
	row "${owner_steps[i]}" "postgres" "$result"
done

after=$(fingerprint)
still=$(ag_scalar audit_demo "SELECT count(*) FROM audit_guard.protected_tables
	WHERE table_name = 'audit.audit_log'::regclass")
guards=$(ag_scalar audit_demo "SELECT string_agg(tgenabled::text, '') FROM pg_trigger
	WHERE tgrelid = 'audit.audit_log'::regclass AND tgname LIKE 'audit_guard%'")
echo
echo "rows before: ${before%% *}, after: ${after%% *}, checksum $([ "$before" = "$after" ] && echo unchanged || echo CHANGED)"
echo "still protected: $([ "$still" = 1 ] && [ "$guards" = AA ] && echo yes || echo NO), guard triggers ENABLE ALWAYS: $guards"
[ "$before" = "$after" ] || bad=1
[ "$still" = 1 ] && [ "$guards" = AA ] || bad=1

# and the application keeps working
result=$(attempt app "INSERT INTO audit.audit_log (actor, action) VALUES ('carol', 'login')")
echo "app INSERT afterwards: $result"
[ "$result" = allowed ] || bad=1

echo
if [ "$bad" -eq 0 ]; then
	echo "every attack was refused; the designated owner's steps worked"
else
	echo "SOMETHING WAS NOT REFUSED (or the owner's step failed): see above"
fi

# Role separation: the one-line CI check on this setup, then its privilege
# matrix (every role that could change the table, and how).
echo
result=$(ag_scalar audit_demo \
	"SELECT audit_guard.assert_append_only('audit.audit_log', 'app')" 2>&1)
echo "CI check: SELECT audit_guard.assert_append_only('audit.audit_log', 'app') -> $result"
[ "$result" = t ] || bad=1
echo
echo "SELECT * FROM audit_guard.privileges('audit.audit_log'):"
ag_psql -d audit_demo -c "SELECT * FROM audit_guard.privileges('audit.audit_log')" || bad=1
echo "stopping and removing the cluster"
exit "$bad"
