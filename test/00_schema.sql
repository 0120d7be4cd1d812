-- pgTAP: the extension's objects, their privileges, and the API's
-- argument checks with their SQLSTATEs.
BEGIN;
SELECT plan(47);

-- objects
SELECT has_extension('audit_guard', 'audit_guard is installed');
SELECT has_schema('audit_guard');
SELECT has_table('audit_guard', 'registry', 'registry table');
SELECT has_table('audit_guard', 'history', 'history table');
SELECT has_view('audit_guard', 'protected_tables', 'protected_tables view');
SELECT columns_are('audit_guard', 'registry',
	ARRAY['relid', 'designated_owner', 'protected_at', 'protected_by']);
SELECT columns_are('audit_guard', 'history',
	ARRAY['at', 'action', 'relid', 'table_name', 'designated_owner', 'performed_by',
		  'recorded_in',
		  'statement', 'operation', 'id',
		  'keep', 'time_bound', 'row_count', 'row_key', 'reason']);
SELECT columns_are('audit_guard', 'protected_tables',
	ARRAY['table_name', 'designated_owner', 'protected_at', 'protected_by',
		  'protected_through', 'retention', 'retention_column', 'rows_purged',
		  'rows_redacted']);
SELECT col_type_is('audit_guard', 'protected_tables', 'table_name', 'regclass',
	'protected_tables.table_name is regclass');
SELECT col_type_is('audit_guard', 'protected_tables', 'designated_owner', 'regrole',
	'protected_tables.designated_owner is regrole');
SELECT col_type_is('audit_guard', 'protected_tables', 'protected_through', 'regclass',
	'protected_tables.protected_through is regclass');

SELECT has_function('audit_guard', 'protect', ARRAY['regclass', 'regrole']);
SELECT has_function('audit_guard', 'unprotect', ARRAY['regclass']);
SELECT has_function('audit_guard', 'hooks_active', ARRAY[]::name[]);
SELECT has_function('audit_guard', 'reject_change', ARRAY[]::name[]);
SELECT function_returns('audit_guard', 'protect', ARRAY['regclass', 'regrole'], 'text');
SELECT function_returns('audit_guard', 'unprotect', ARRAY['regclass'], 'void');
SELECT function_returns('audit_guard', 'hooks_active', ARRAY[]::name[], 'boolean');
SELECT function_returns('audit_guard', 'reject_change', ARRAY[]::name[], 'trigger');
SELECT function_lang_is('audit_guard', 'reject_change', ARRAY[]::name[], 'c',
	'the guard trigger function is C, not PL/pgSQL');
SELECT function_lang_is('audit_guard', 'protect', ARRAY['regclass', 'regrole'], 'c');
SELECT function_lang_is('audit_guard', 'unprotect', ARRAY['regclass'], 'c');
SELECT ok(audit_guard.hooks_active(), 'hooks are active in this backend');
SELECT is((SELECT pronargdefaults::int FROM pg_proc
			WHERE oid = 'audit_guard.protect(regclass, regrole)'::regprocedure),
		  1, 'protect''s owner argument has a default');

-- every SECURITY DEFINER function pins its search_path
SELECT is_empty($$
	SELECT p.oid::regprocedure
	  FROM pg_proc p
	 WHERE p.pronamespace = 'audit_guard'::regnamespace
	   AND p.prosecdef
	   AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c
					   WHERE c ~ '^search_path=("?pg_catalog"?)(, *"?pg_temp"?)?$')
$$, 'every SECURITY DEFINER function in audit_guard sets search_path = pg_catalog, pg_temp');
-- the same for every member function of the extension, wherever it lives
SELECT is_empty($$
	SELECT p.oid::regprocedure
	  FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid
	   AND d.classid = 'pg_proc'::regclass AND d.deptype = 'e'
	 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'audit_guard')
	   AND p.prosecdef
	   AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c
					   WHERE c ~ '^search_path=("?pg_catalog"?)(, *"?pg_temp"?)?$')
$$, 'every SECURITY DEFINER member function of the extension pins search_path');

-- the registry is readable by everyone, writable by no one directly
CREATE ROLE regress_tap_nobody;
SELECT ok(has_schema_privilege('regress_tap_nobody', 'audit_guard', 'USAGE'),
		  'PUBLIC may use schema audit_guard');
SELECT ok(has_table_privilege('regress_tap_nobody', 'audit_guard.protected_tables', 'SELECT'),
		  'PUBLIC may read protected_tables');
SELECT ok(NOT has_table_privilege('regress_tap_nobody', 'audit_guard.registry',
								  'INSERT, UPDATE, DELETE, TRUNCATE'),
		  'PUBLIC may not write the registry');
SELECT ok(NOT has_table_privilege('regress_tap_nobody', 'audit_guard.history',
								  'INSERT, UPDATE, DELETE, TRUNCATE'),
		  'PUBLIC may not write the history');
SELECT is(e.extconfig::regclass[]::text[] @> ARRAY['audit_guard.registry'], true,
		  'the registry is an extension configuration table (dumped)')
  FROM pg_extension e WHERE e.extname = 'audit_guard';

-- bad inputs and their SQLSTATEs
CREATE SCHEMA regress_tap;
GRANT USAGE ON SCHEMA regress_tap TO regress_tap_nobody;
CREATE TABLE regress_tap.t (id int PRIMARY KEY);
ALTER TABLE regress_tap.t OWNER TO regress_tap_nobody;
-- a table whose owner may not even use its schema: still the superuser's
CREATE SCHEMA regress_tap_private;
CREATE TABLE regress_tap_private.t (id int);
ALTER TABLE regress_tap_private.t OWNER TO regress_tap_nobody;
CREATE VIEW regress_tap.v AS SELECT 1 AS x;
CREATE MATERIALIZED VIEW regress_tap.mv AS SELECT 1 AS x;
CREATE SEQUENCE regress_tap.s;
CREATE UNLOGGED TABLE regress_tap.u (id int);
CREATE TABLE regress_tap.p (id int);	-- owned by the superuser
CREATE TEMP TABLE tmp_t (id int);
CREATE FOREIGN DATA WRAPPER regress_tap_fdw;
CREATE SERVER regress_tap_server FOREIGN DATA WRAPPER regress_tap_fdw;
CREATE FOREIGN TABLE regress_tap.ft (id int) SERVER regress_tap_server;

SELECT throws_ok($$SELECT audit_guard.protect(NULL)$$, '22004', NULL,
				 'protect(NULL) is refused');
SELECT throws_ok($$SELECT audit_guard.protect('regress_tap.v')$$, '42809', NULL,
				 'a view is refused');
SELECT throws_ok($$SELECT audit_guard.protect('regress_tap.mv')$$, '42809', NULL,
				 'a materialized view is refused');
SELECT throws_ok($$SELECT audit_guard.protect('regress_tap.s')$$, '42809', NULL,
				 'a sequence is refused');
SELECT throws_ok($$SELECT audit_guard.protect('regress_tap.ft')$$, '42809', NULL,
				 'a foreign table is refused');
SELECT throws_ok($$SELECT audit_guard.protect('tmp_t')$$, '0A000', NULL,
				 'a temporary table is refused');
SELECT throws_ok($$SELECT audit_guard.protect('regress_tap.u')$$, '0A000', NULL,
				 'an unlogged table is refused');
SELECT throws_ok($$SELECT audit_guard.protect('pg_catalog.pg_class')$$, '0A000', NULL,
				 'a system catalog is refused');
SELECT throws_ok($$SELECT audit_guard.protect('audit_guard.registry')$$, '0A000', NULL,
				 'the registry itself is refused');
SELECT throws_ok($$SELECT audit_guard.protect('audit_guard.history')$$, '0A000', NULL,
				 'the history table is refused');
SET LOCAL ROLE regress_tap_nobody;
SELECT throws_ok($$SELECT audit_guard.protect('regress_tap.p')$$, '42501', NULL,
				 'a role that does not own the table may not protect it');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM audit_guard.registry
			WHERE relid::oid IN (SELECT oid FROM pg_class
								  WHERE relnamespace = 'regress_tap'::regnamespace)),
		  0, 'refused calls left no registry rows');
SELECT lives_ok($$SELECT audit_guard.protect('regress_tap.t')$$,
				'a superuser protects a table owned by another role');
SELECT lives_ok($$SELECT audit_guard.protect('regress_tap.t')$$, 'protect it again (idempotent)');
SELECT throws_ok($$SELECT audit_guard.unprotect('regress_tap.t')$$, '42501', NULL,
				 'a superuser is not the designated owner (the table owner is)');
SELECT lives_ok($$SELECT audit_guard.protect('regress_tap_private.t')$$,
				'a superuser protects a table whose owner lacks USAGE on its schema');

SELECT * FROM finish();
ROLLBACK;
