-- pgTAP: the role separation checks as a user's own suite would use them.
-- The provisioning recipe passes; each broken setup fails with SQLSTATE
-- 42501 and the problem named; the tap_* helpers count as one test each
-- in plan() and report their problems as diagnostics.
BEGIN;
SELECT plan(39);

-- the API, and that none of it needs more than catalog access
SELECT has_function('audit_guard', 'privileges', ARRAY['regclass']);
SELECT has_function('audit_guard', 'check', ARRAY['regclass']);
SELECT has_function('audit_guard', 'assert_append_only', ARRAY['regclass', 'regrole']);
SELECT has_function('audit_guard', 'append_only_problems', ARRAY['regclass', 'regrole']);
SELECT has_function('audit_guard', 'tap_is_append_only', ARRAY['regclass', 'regrole', 'text']);
SELECT has_function('audit_guard', 'tap_guard_is_intact', ARRAY['regclass', 'text']);
SELECT function_returns('audit_guard', 'assert_append_only',
						ARRAY['regclass', 'regrole'], 'boolean');
SELECT is_empty($$
	SELECT p.oid::regprocedure FROM pg_proc p
	 WHERE p.pronamespace = 'audit_guard'::regnamespace
	   AND p.proname IN ('role_paths', 'privilege_holders', 'privileges',
						 'guard_trigger_checks', 'partition_check', 'check',
						 'append_only_problems', 'assert_append_only', 'tap_result',
						 'tap_is_append_only', 'tap_guard_is_intact')
	   AND p.prosecdef
$$, 'the role separation checks are all SECURITY INVOKER');
SELECT is((SELECT count(*)::int FROM pg_proc p
			WHERE p.pronamespace = 'audit_guard'::regnamespace
			  AND p.proname IN ('tap_result', 'tap_is_append_only', 'tap_guard_is_intact')
			  AND EXISTS (SELECT 1 FROM pg_depend d
						   WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
							 AND d.refclassid = 'pg_extension'::regclass
							 AND d.refobjid <> (SELECT oid FROM pg_extension
												 WHERE extname = 'audit_guard'))),
		  0, 'the pgTAP helpers depend on no extension but audit_guard');

-- the recipe
CREATE ROLE regress_ptap_migrator NOLOGIN;
CREATE ROLE regress_ptap_app LOGIN;
CREATE ROLE regress_ptap_auditor LOGIN;
CREATE SCHEMA regress_ptap AUTHORIZATION regress_ptap_migrator;
SET LOCAL ROLE regress_ptap_migrator;
CREATE TABLE regress_ptap.audit_log (
	id		bigserial PRIMARY KEY,
	at		timestamptz NOT NULL DEFAULT now(),
	actor	text NOT NULL,
	action	text NOT NULL,
	payload	jsonb
);
GRANT USAGE ON SCHEMA regress_ptap TO regress_ptap_app, regress_ptap_auditor;
GRANT SELECT, INSERT ON regress_ptap.audit_log TO regress_ptap_app;
GRANT USAGE ON SEQUENCE regress_ptap.audit_log_id_seq TO regress_ptap_app;
GRANT SELECT ON regress_ptap.audit_log TO regress_ptap_auditor;
SELECT lives_ok($$SELECT audit_guard.protect('regress_ptap.audit_log',
											 owner => 'regress_ptap_migrator')$$,
				'the migration role protects its table');
RESET ROLE;

SELECT ok(audit_guard.assert_append_only('regress_ptap.audit_log', 'regress_ptap_app'),
		  'assert_append_only passes on the recipe');
SELECT audit_guard.tap_is_append_only('regress_ptap.audit_log', 'regress_ptap_app');
SELECT audit_guard.tap_guard_is_intact('regress_ptap.audit_log');
SELECT is_empty($$
	SELECT * FROM audit_guard.privileges('regress_ptap.audit_log')
	 WHERE role_name IN ('regress_ptap_app', 'regress_ptap_auditor', 'PUBLIC')
$$, 'the app and auditor roles (and PUBLIC) have no row in the matrix');
SELECT set_eq($$
	SELECT role_name::text, via, privilege, risk
	  FROM audit_guard.privileges('regress_ptap.audit_log')
	 WHERE role_name LIKE 'regress\_ptap\_%'
$$, $$VALUES ('regress_ptap_migrator', 'ownership', 'OWNER', 'critical'),
			 ('regress_ptap_migrator', 'direct', 'DESIGNATED OWNER', 'critical')$$,
	'the migration role is owner and designated owner');
SELECT is_empty($$SELECT * FROM audit_guard.check('regress_ptap.audit_log')
				 WHERE status <> 'ok'$$, 'check() finds the guard intact');
SET LOCAL ROLE regress_ptap_app;
SELECT lives_ok($$INSERT INTO regress_ptap.audit_log (actor, action)
				  VALUES ('alice', 'login')$$, 'the app inserts');
RESET ROLE;

-- the CI one-liner fails with 42501 and names the table and role
SELECT throws_ok($$SELECT audit_guard.assert_append_only('regress_ptap.audit_log',
														 'regress_ptap_migrator')$$,
	'42501',
	'table regress_ptap.audit_log is not append-only for role regress_ptap_migrator',
	'owner as runtime role: refused with 42501');
SELECT set_eq($$SELECT audit_guard.append_only_problems('regress_ptap.audit_log',
														 'regress_ptap_migrator')$$,
	ARRAY['role regress_ptap_migrator owns the table: no REVOKE binds it, and it can grant any privilege on the table and alter it.',
		  'role regress_ptap_migrator is its designated owner: it can switch the guard triggers off and unprotect the table.'],
	'owner as runtime role: both problems listed');
-- a pgTAP test that fails, checked with check_test so that it does not
-- count as a failure here
SELECT * FROM check_test(
	audit_guard.tap_is_append_only('regress_ptap.audit_log', 'regress_ptap_migrator',
								   'migrator is append-only'),
	false, 'tap_is_append_only on the owner', 'migrator is append-only',
	'role regress_ptap_migrator is its designated owner: it can switch the guard triggers off and unprotect the table.
role regress_ptap_migrator owns the table: no REVOKE binds it, and it can grant any privilege on the table and alter it.');

-- a superuser runtime role
CREATE ROLE regress_ptap_super SUPERUSER LOGIN;
SELECT set_eq($$SELECT audit_guard.append_only_problems('regress_ptap.audit_log',
														 'regress_ptap_super')$$,
	ARRAY['role regress_ptap_super is a superuser: no privilege check applies to it, and it can change the server configuration audit_guard depends on.'],
	'superuser runtime role');

-- problems as rows, matched by pattern
CREATE FUNCTION pg_temp.problems() RETURNS SETOF text LANGUAGE sql AS $$
	SELECT audit_guard.append_only_problems('regress_ptap.audit_log', 'regress_ptap_app')
$$;

-- a direct UPDATE grant
SET LOCAL ROLE regress_ptap_migrator;
GRANT UPDATE ON regress_ptap.audit_log TO regress_ptap_app;
RESET ROLE;
SELECT results_eq('SELECT * FROM pg_temp.problems()',
	ARRAY['role regress_ptap_app holds UPDATE on the table: only audit_guard stands between it and rewriting rows.'],
	'direct UPDATE grant');
SET LOCAL ROLE regress_ptap_migrator;
REVOKE UPDATE ON regress_ptap.audit_log FROM regress_ptap_app;
RESET ROLE;

-- DELETE through two levels of membership
CREATE ROLE regress_ptap_writer NOLOGIN;
CREATE ROLE regress_ptap_team NOLOGIN;
GRANT DELETE ON regress_ptap.audit_log TO regress_ptap_writer;
GRANT regress_ptap_writer TO regress_ptap_team;
GRANT regress_ptap_team TO regress_ptap_app;
SELECT results_eq('SELECT * FROM pg_temp.problems()',
	ARRAY['role regress_ptap_app is a member of regress_ptap_writer through regress_ptap_app -> regress_ptap_team -> regress_ptap_writer, which holds DELETE on the table: only audit_guard stands between it and deleting rows.'],
	'DELETE through two levels of membership, chain named');
SELECT results_eq($$SELECT via, risk FROM audit_guard.privileges('regress_ptap.audit_log')
					 WHERE role_name = 'regress_ptap_app'$$,
	$$VALUES ('membership', 'high')$$, 'the matrix says membership, high');
REVOKE regress_ptap_team FROM regress_ptap_app;

-- DELETE granted to PUBLIC
GRANT DELETE ON regress_ptap.audit_log TO PUBLIC;
SELECT results_eq('SELECT * FROM pg_temp.problems()',
	ARRAY['PUBLIC holds DELETE on the table: only audit_guard stands between it and deleting rows; every role, present and future, holds what PUBLIC holds.'],
	'DELETE granted to PUBLIC');
SELECT results_eq($$SELECT via, risk FROM audit_guard.privileges('regress_ptap.audit_log')
					 WHERE role_name = 'PUBLIC'$$,
	$$VALUES ('public', 'critical')$$, 'the PUBLIC grant is critical');
REVOKE DELETE ON regress_ptap.audit_log FROM PUBLIC;

-- TRUNCATE and TRIGGER grants
GRANT TRUNCATE, TRIGGER ON regress_ptap.audit_log TO regress_ptap_app;
SELECT results_eq('SELECT * FROM pg_temp.problems()',
	ARRAY['role regress_ptap_app holds TRIGGER on the table: it can attach triggers that change rows as they are inserted.',
		  'role regress_ptap_app holds TRUNCATE on the table: only audit_guard stands between it and emptying the table.'],
	'TRUNCATE and TRIGGER grants');
REVOKE TRUNCATE, TRIGGER ON regress_ptap.audit_log FROM regress_ptap_app;

-- missing INSERT
REVOKE INSERT ON regress_ptap.audit_log FROM regress_ptap_app;
SELECT results_eq('SELECT * FROM pg_temp.problems()',
	ARRAY['role regress_ptap_app lacks INSERT on the table, so it cannot write the audit trail.'],
	'missing INSERT');
GRANT INSERT ON regress_ptap.audit_log TO regress_ptap_app;

-- the app is a member of the owner
GRANT regress_ptap_migrator TO regress_ptap_app;
SELECT set_eq($$SELECT privilege FROM audit_guard.privileges('regress_ptap.audit_log')
				 WHERE role_name = 'regress_ptap_app' AND via = 'membership'$$,
	ARRAY['OWNER', 'DESIGNATED OWNER'], 'member of the owner: OWNER and DESIGNATED OWNER');
SELECT throws_ok($$SELECT audit_guard.assert_append_only('regress_ptap.audit_log',
														 'regress_ptap_app')$$,
	'42501', NULL, 'member of the owner: refused');
REVOKE regress_ptap_migrator FROM regress_ptap_app;

-- the designated owner switches the row trigger to ENABLE (origin)
SET LOCAL ROLE regress_ptap_migrator;
ALTER TABLE regress_ptap.audit_log ENABLE TRIGGER audit_guard_append_only;
RESET ROLE;
SELECT results_eq($$SELECT status FROM audit_guard.check('regress_ptap.audit_log')
					 WHERE check_name = 'row trigger'$$,
	ARRAY['failed'], 'check() sees the trigger no longer ALWAYS');
SELECT results_eq('SELECT * FROM pg_temp.problems()',
	ARRAY['trigger audit_guard_append_only is ENABLE (origin) instead of ENABLE ALWAYS: session_replication_role = replica silences it.'],
	'trigger switched to ENABLE (origin)');
SELECT * FROM check_test(
	audit_guard.tap_guard_is_intact('regress_ptap.audit_log', 'guard intact'),
	false, 'tap_guard_is_intact on a downgraded trigger', 'guard intact',
	'regress_ptap.audit_log: trigger audit_guard_append_only is ENABLE (origin) instead of ENABLE ALWAYS: session_replication_role = replica silences it');
SET LOCAL ROLE regress_ptap_migrator;
ALTER TABLE regress_ptap.audit_log ENABLE ALWAYS TRIGGER audit_guard_append_only;
RESET ROLE;

-- and all is well again
SELECT is_empty('SELECT * FROM pg_temp.problems()', 'the recipe passes again');
SELECT audit_guard.tap_is_append_only('regress_ptap.audit_log', 'regress_ptap_app',
									  'the app role is append-only again');

SELECT * FROM finish();
ROLLBACK;
