#!/usr/bin/env bash
# Role lifecycle (issue 10): a designated owner is always a role that
# exists.  protect() refuses the OID of a dropped role (42704); a DROP ROLE
# that races an open protect() naming that role waits for it and is then
# refused (2BP01), whichever of the two starts first: protect() locks the
# role it names, and DROP ROLE re-reads the registry once it holds the
# role's lock.  Without the lock, the first race used to leave a table
# whose designated owner did not exist.
set -uo pipefail
source "${AG_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}/scripts/cluster.sh"
ag_cluster_attach || exit 1

db=ag_roles
ag_fresh_database "$db" regress_role_keep || exit 1
ag_psql -d "$db" <<'SQL' >/dev/null || exit 1
CREATE EXTENSION audit_guard;
CREATE TABLE t1 (id int PRIMARY KEY);
CREATE TABLE t2 (id int PRIMARY KEY);
CREATE TABLE t3 (id int PRIMARY KEY);
SQL

# "ERROR:  <SQLSTATE>" lines of a session's output, or "ok"
errors_of() {
	local codes
	codes=$(sed -n 's/.*ERROR:  \([0-9A-Z]\{5\}\)$/\1/p' <<<"$1" | tr '\n' ' ')
	echo "${codes:-ok}" | sed 's/ $//'
}

# the OID of a dropped role, given as a number
ag_psql -d postgres -c "CREATE ROLE regress_role_gone" >/dev/null
gone=$(ag_scalar postgres "SELECT oid FROM pg_roles WHERE rolname = 'regress_role_gone'")
ag_psql -d postgres -c "DROP ROLE regress_role_gone" >/dev/null
ag_sqlstate "$db" 42704 "SELECT audit_guard.protect('t1', owner => $gone::oid::regrole)" \
	"protect(owner => OID of a dropped role) is refused (42704)"
ag_is "$(ag_scalar "$db" "SELECT count(*) FROM audit_guard.registry")" 0 "and nothing was registered"

ag_psql -d postgres -c "CREATE ROLE regress_role_race1" -c "CREATE ROLE regress_role_race2" >/dev/null
ag_session_open a "$db" || exit 1
ag_session_open b "$db" || exit 1

# Race 1: protect() open first, DROP ROLE second.  DROP ROLE's pre-check
# sees no committed row and passes; DropRole waits on the role's lock; once
# protect() commits, the post-check sees the row and refuses the drop.
ag_is "$(errors_of "$(ag_session_run a "BEGIN; SELECT audit_guard.protect('t1', owner => 'regress_role_race1')")")" ok \
	"a: protect(t1, owner => race1) in an open transaction"
ag_session_send b "DROP ROLE regress_role_race1"
ag_ok "b: DROP ROLE race1 waits for a's open protect()" ag_session_blocked b
ag_session_run a "COMMIT" >/dev/null
ag_is "$(errors_of "$(ag_session_wait b)")" 2BP01 "b: DROP ROLE is refused once a committed (2BP01)"
ag_is "$(ag_scalar "$db" "SELECT count(*) FROM pg_roles r JOIN audit_guard.registry g ON g.designated_owner = r.oid WHERE g.relid = 't1'::regclass")" 1 \
	"t1's designated owner still exists"

# Race 1b: the same, but protect() rolls back: the drop goes through.
ag_psql -d postgres -c "CREATE ROLE regress_role_race3" >/dev/null
ag_session_run a "BEGIN; SELECT audit_guard.protect('t3', owner => 'regress_role_race3')" >/dev/null
ag_session_send b "DROP ROLE regress_role_race3"
ag_ok "b: DROP ROLE race3 waits for a's open protect()" ag_session_blocked b
ag_session_run a "ROLLBACK" >/dev/null
ag_is "$(errors_of "$(ag_session_wait b)")" ok "b: DROP ROLE succeeds once a rolled back"

# Race 2: DROP ROLE open first, protect() second: protect() waits on the
# role's lock and, once the drop commits, refuses the role that is gone.
ag_is "$(errors_of "$(ag_session_run b "BEGIN; DROP ROLE regress_role_race2")")" ok \
	"b: DROP ROLE race2 in an open transaction"
race2=$(ag_scalar postgres "SELECT oid FROM pg_roles WHERE rolname = 'regress_role_race2'")
ag_session_send a "SELECT audit_guard.protect('t2', owner => $race2::oid::regrole)"
ag_ok "a: protect(t2, owner => race2) waits for b's open DROP ROLE" ag_session_blocked a
ag_session_run b "COMMIT" >/dev/null
ag_is "$(errors_of "$(ag_session_wait a)")" 42704 "a: protect() is refused once the drop committed (42704)"
ag_is "$(ag_scalar "$db" "SELECT count(*) FROM audit_guard.registry r LEFT JOIN pg_roles o ON o.oid = r.designated_owner WHERE o.oid IS NULL")" 0 \
	"no registry row names a role that does not exist"

# The refusal of an existing designated owner still comes first (pre-check).
ag_sqlstate "$db" 2BP01 "DROP ROLE regress_role_race1" "DROP ROLE of a committed designated owner is refused (2BP01)"
# Roles that own nothing still drop, alone and in a list.
ag_psql -d postgres -c "CREATE ROLE regress_role_free1" -c "CREATE ROLE regress_role_free2" >/dev/null
ag_ok "DROP ROLE of roles that are no designated owner works" \
	ag_psql -d "$db" -c "DROP ROLE IF EXISTS regress_role_free1, regress_role_free2, regress_role_never"

ag_session_close a
ag_session_close b
ag_psql -d "$db" -c "SET ROLE regress_role_race1" -c "SELECT audit_guard.unprotect('t1')" >/dev/null
ag_drop_database "$db" regress_role_keep
ag_psql -d postgres -c "DROP ROLE IF EXISTS regress_role_race1" >/dev/null
ag_done
