#!/usr/bin/env bash
# A move to another tablespace gives a table new storage with its rows as
# they are, and stays allowed under a retention; the same ALTER TABLE with
# a column retyped (even to its own type, USING an expression) rewrites
# the rows on the way, and is refused to every role: 23000 to the
# designated owner, who may otherwise retype columns (issue 11).  Also
# when a statement nested in the ALTER TABLE runs after the table's new
# heap is swapped in (a SET LOCAL in the USING function of an inheritance
# child, rewritten after its parent): the check at its end judges the
# ALTER's work by every statement running (found by a red-team pass).
set -uo pipefail
source "${AG_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}/scripts/cluster.sh"
ag_cluster_attach || exit 1

db=ag_retention_tablespace
owner=regress_rts_owner
ts_dir=$AG_DIR/ts_retention
mkdir -p "$ts_dir" && chown --reference="$AG_DATA" "$ts_dir" || exit 1
ag_fresh_database "$db" "$owner" || exit 1
ag_psql -d "$db" <<SQL >/dev/null || exit 1
CREATE TABLESPACE ag_ts_retention LOCATION '$ts_dir';
GRANT CREATE ON TABLESPACE ag_ts_retention TO $owner;
CREATE EXTENSION audit_guard;
CREATE TABLE log (id int PRIMARY KEY, at timestamptz NOT NULL, note text);
INSERT INTO log VALUES (1, now(), 'written'), (2, now() - interval '1 day', 'written too');
ALTER TABLE log OWNER TO $owner;
GRANT CREATE ON SCHEMA public TO $owner;
SELECT audit_guard.protect('log');
SET ROLE $owner;
SELECT audit_guard.set_retention('log', '30 days', 'at');
CREATE TABLE kid () INHERITS (log);
INSERT INTO kid VALUES (99, now(), 'kid');
CREATE FUNCTION forge(t text) RETURNS text LANGUAGE plpgsql AS \$\$
BEGIN
	SET LOCAL application_name = 'nested';
	RETURN 'forged';
END
\$\$;
SQL

notes() {
	ag_scalar "$db" "SELECT string_agg(note, ',' ORDER BY id) FROM ONLY log"
}

ag_sqlstate "$db" 23000 "SET ROLE $owner;
	ALTER TABLE log SET TABLESPACE ag_ts_retention, ALTER COLUMN note TYPE text USING 'forged'" \
	"its designated owner's move with a column rewritten USING an expression is refused (23000)"
ag_sqlstate "$db" 42501 "ALTER TABLE log SET TABLESPACE ag_ts_retention, ALTER COLUMN note TYPE varchar(40) USING 'forged'" \
	"a superuser's, retyping the column, is refused too (42501: a column type is the designated owner's)"
ag_sqlstate "$db" 23000 "SET ROLE $owner;
	ALTER TABLE log SET TABLESPACE ag_ts_retention, ALTER COLUMN note TYPE varchar(40) USING 'forged'" \
	"its designated owner's, retyping the column, is refused (23000)"
ag_sqlstate "$db" 23000 "SET ROLE $owner;
	ALTER TABLE log SET TABLESPACE ag_ts_retention, ALTER COLUMN note TYPE text USING public.forge(note)" \
	"the same with a statement nested after the swap is refused too (23000)"
ag_is "$(notes)" "written,written too" "the rows are as written"
ag_is "$(ag_scalar "$db" "SELECT coalesce(reltablespace, 0) FROM pg_class WHERE oid = 'log'::regclass")" 0 \
	"the table did not move"

# the legitimate neighbours
ag_ok "its designated owner moves the table to the tablespace" \
	ag_psql -d "$db" -c "SET ROLE $owner; ALTER TABLE log SET TABLESPACE ag_ts_retention"
ag_ok "and VACUUM FULL rewrites it there" ag_psql -d "$db" -c "VACUUM FULL log"
ag_ok "a CLUSTER run from a DO block, too (DO changes no relation itself)" \
	ag_psql -d "$db" -c "DO \$\$ BEGIN EXECUTE 'CLUSTER log USING log_pkey'; END \$\$"
ag_is "$(notes)" "written,written too" "the rows are as written"
ag_is "$(ag_scalar "$db" "SELECT t.spcname FROM pg_class c JOIN pg_tablespace t ON t.oid = c.reltablespace WHERE c.oid = 'log'::regclass")" \
	ag_ts_retention "the table is in the tablespace"

ag_psql -d "$db" -c "REVOKE CREATE ON TABLESPACE ag_ts_retention FROM $owner" >/dev/null
ag_drop_database "$db" "$owner" >/dev/null
ag_psql -d postgres -c "DROP TABLESPACE ag_ts_retention" >/dev/null
ag_done
