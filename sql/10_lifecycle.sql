--
-- 10_lifecycle: role and table lifecycle (issue 10).  A designated owner
-- must be a role that exists; the per-table checks say what is true of a
-- dropped table, OID 0, or a relation that is not a table; assert_append_only
-- tells "can rewrite history" from "cannot do its job"; role_paths_to()
-- gives privileges() the same answer as walking every role; protect()
-- says what it did; history says where each event was recorded.
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;

CREATE ROLE regress_life_owner;
CREATE ROLE regress_life_gone;
CREATE ROLE regress_life_app LOGIN;
CREATE ROLE regress_life_auditor LOGIN;
CREATE SCHEMA regress_life;
GRANT USAGE ON SCHEMA regress_life TO PUBLIC;
SET search_path = regress_life, public;

-- run sql; its error as SQLSTATE, message and detail, with OIDs as N
CREATE FUNCTION pg_temp.outcome(sql text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	msg text;
	det text;
	state text;
BEGIN
	EXECUTE sql;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, state = RETURNED_SQLSTATE;
	RETURN state || ': ' || regexp_replace(msg || coalesce(' / ' || nullif(det, ''), ''),
										   '[0-9]{4,}', 'N', 'g');
END
$$;

CREATE TABLE audit_log (id bigserial PRIMARY KEY, actor text);
ALTER TABLE audit_log OWNER TO regress_life_owner;
GRANT regress_life_owner TO regress_life_gone;
CREATE TABLE other_log (id bigint);
CREATE TYPE a_composite AS (x int);
CREATE SEQUENCE a_sequence;
CREATE VIEW a_view AS SELECT * FROM audit_log;
GRANT SELECT, INSERT ON audit_log TO regress_life_app;
GRANT USAGE ON SEQUENCE audit_log_id_seq TO regress_life_app;
GRANT SELECT ON audit_log TO regress_life_auditor;

-- protect() says what it did, in a line a migration log can show
SELECT audit_guard.protect('audit_log', owner => 'regress_life_owner');
SELECT audit_guard.protect('audit_log');
SET ROLE regress_life_owner;
SELECT audit_guard.protect('audit_log', owner => 'regress_life_gone');
SET ROLE regress_life_gone;
SELECT audit_guard.protect('audit_log', owner => 'regress_life_owner');
RESET ROLE;
SELECT pg_typeof(audit_guard.protect('audit_log'));

-- a designated owner that does not exist is refused (42704)
SELECT oid AS gone_oid FROM pg_roles WHERE rolname = 'regress_life_gone' \gset
DROP ROLE regress_life_gone;
SELECT pg_temp.outcome(format('SELECT audit_guard.protect(%L, owner => %s::oid::regrole)',
							  'other_log', :gone_oid));
\set VERBOSITY terse
SELECT audit_guard.protect('other_log', owner => 0::oid::regrole);
SELECT count(*) FROM audit_guard.registry WHERE relid = 'other_log'::regclass;

-- unprotect(): a table that is not protected, OID 0, a dropped table
\set VERBOSITY default
SELECT audit_guard.unprotect('other_log');
SELECT audit_guard.unprotect(0::regclass);
CREATE TABLE dropped_log (id int);
SELECT 'dropped_log'::regclass::oid AS dropped_oid \gset
DROP TABLE dropped_log;
SELECT pg_temp.outcome(format('SELECT audit_guard.unprotect(%s::oid::regclass)', :dropped_oid));

-- check(), privileges(), assert_append_only(): no claim of a registry row
-- that does not exist, and a relation that is not a table is said to be one
SELECT * FROM audit_guard.check(0::regclass);
\set VERBOSITY terse
SELECT pg_temp.outcome(format('SELECT audit_guard.check(%s::oid::regclass)', :dropped_oid));
SELECT * FROM audit_guard.check('audit_log_pkey');
SELECT * FROM audit_guard.check('audit_log_id_seq');
SELECT * FROM audit_guard.check('a_composite');
SELECT * FROM audit_guard.check('a_view');
SELECT * FROM audit_guard.privileges('audit_log_pkey');
SELECT * FROM audit_guard.privileges('a_sequence');
SELECT * FROM audit_guard.privileges('a_composite');
SELECT * FROM audit_guard.privileges(0::regclass);
SELECT audit_guard.assert_append_only(0::regclass, 'regress_life_app');
SELECT audit_guard.assert_append_only('a_sequence', 'regress_life_app');
SELECT pg_temp.outcome(format('SELECT audit_guard.append_only_problems(%s::oid::regclass, %L)',
							  :dropped_oid, 'regress_life_app'));
SELECT pg_temp.outcome(format('SELECT audit_guard.privileges(%s::oid::regclass)', :dropped_oid));
-- a table that exists and is not protected: its check() says so
SELECT table_name, check_name, status, detail FROM audit_guard.check('other_log')
 WHERE check_name = 'registered';

-- rewrite risk versus a writer's gap
\set VERBOSITY default
SELECT audit_guard.assert_append_only('audit_log', 'regress_life_app');
SELECT audit_guard.assert_append_only('audit_log', 'regress_life_auditor');
SELECT audit_guard.assert_cannot_rewrite('audit_log', 'regress_life_auditor');
SELECT audit_guard.assert_cannot_rewrite('audit_log', 'regress_life_app');
GRANT UPDATE ON audit_log TO regress_life_auditor;
SELECT audit_guard.assert_append_only('audit_log', 'regress_life_auditor');
SELECT audit_guard.assert_cannot_rewrite('audit_log', 'regress_life_auditor');
REVOKE UPDATE ON audit_log FROM regress_life_auditor;
SELECT audit_guard.tap_cannot_rewrite('audit_log', 'regress_life_auditor');
SELECT audit_guard.tap_cannot_rewrite('audit_log', 'regress_life_owner');
\set VERBOSITY terse
SELECT kind, problem FROM audit_guard.append_only_findings('audit_log', 'regress_life_auditor');

-- role_paths_to() gives privileges() exactly what role_paths() gave it:
-- a graph with several chains to one holder, a NOINHERIT role and a cycle
-- attempt (refused by PostgreSQL)
CREATE ROLE regress_life_g1;
CREATE ROLE regress_life_g2 IN ROLE regress_life_g1;
CREATE ROLE regress_life_g3 IN ROLE regress_life_g1, regress_life_g2;
CREATE ROLE regress_life_u1 NOINHERIT IN ROLE regress_life_g3;
CREATE ROLE regress_life_u2 IN ROLE regress_life_g2, regress_life_g3;
GRANT regress_life_owner TO regress_life_g2;
GRANT UPDATE ON audit_log TO regress_life_g1;
-- every shortest chain per (member, target, flags) of role_paths() is in
-- role_paths_to(), with the same depth, and nothing else is
WITH old AS (
	SELECT DISTINCT ON (member, target, inherits, can_set) member, target, depth, inherits, can_set
	  FROM audit_guard.role_paths()
	 WHERE target IN ('regress_life_g1'::regrole, 'regress_life_owner'::regrole)
	 ORDER BY member, target, inherits, can_set, depth
), new AS (
	SELECT member, target, depth, inherits, can_set
	  FROM audit_guard.role_paths_to(ARRAY['regress_life_g1'::regrole::oid,
										   'regress_life_owner'::regrole::oid])
)
SELECT (SELECT count(*) FROM old) AS old_rows,
	   (SELECT count(*) FROM new) AS new_rows,
	   (SELECT count(*) FROM (SELECT * FROM old EXCEPT SELECT * FROM new) d) AS missing,
	   (SELECT count(*) FROM (SELECT * FROM new EXCEPT SELECT * FROM old) d) AS extra;
SELECT role_name, via, privilege, risk, explanation FROM audit_guard.privileges('audit_log')
 WHERE role_name LIKE 'regress\_life\_%' ORDER BY role_name, privilege;
GRANT regress_life_g1 TO regress_life_u1;	-- fine: no cycle
GRANT regress_life_u1 TO regress_life_g1;	-- a cycle: refused by PostgreSQL
SELECT * FROM audit_guard.role_paths_to(ARRAY[0::oid, NULL]);
SELECT count(*) FROM audit_guard.role_paths_to(NULL);

-- history: where each event was recorded, and the table now (a rename is
-- for the designated owner: the superuser who owns the table joins it)
GRANT regress_life_owner TO CURRENT_USER;
ALTER TABLE audit_log RENAME TO audit_log_renamed;
REVOKE regress_life_owner FROM CURRENT_USER;
SELECT action, table_name, designated_owner, recorded, table_now
  FROM audit_guard.table_history
 WHERE table_name LIKE 'regress_life.%' ORDER BY at;
SELECT count(*) FILTER (WHERE recorded_in = audit_guard.database_identity()) AS recorded_here,
	   count(*) FILTER (WHERE recorded_in IS NULL) AS unknown
  FROM audit_guard.history WHERE table_name LIKE 'regress_life.%';

-- clean up
SET ROLE regress_life_owner;
SELECT audit_guard.unprotect('audit_log_renamed');
RESET ROLE;
RESET search_path;
DROP SCHEMA regress_life CASCADE;
DROP ROLE regress_life_owner, regress_life_app, regress_life_auditor,
	regress_life_u1, regress_life_u2, regress_life_g3, regress_life_g2, regress_life_g1;
