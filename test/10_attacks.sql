-- pgTAP: the refusal matrix.  Each attack runs as the superuser, as the
-- table owner and as an application role holding every table privilege;
-- each must fail with its documented SQLSTATE, and after each role's turn
-- the rows and the guard triggers must be exactly as before.
--
--   23000  UPDATE / DELETE / TRUNCATE / MERGE on a protected table
--   42501  DDL against the guard by a role that is not the designated owner,
--          and session_replication_role = replica
BEGIN;
SELECT plan(91);

CREATE ROLE regress_tap_owner;
CREATE ROLE regress_tap_guard;
CREATE ROLE regress_tap_app;
CREATE SCHEMA regress_tap;
GRANT USAGE ON SCHEMA regress_tap TO PUBLIC;
CREATE FUNCTION regress_tap.noop() RETURNS trigger LANGUAGE plpgsql
	AS $$ BEGIN RETURN NEW; END $$;

-- audit_log: owner and designated owner regress_tap_owner
-- guarded: owner regress_tap_owner, designated owner regress_tap_guard
CREATE TABLE regress_tap.audit_log (id int PRIMARY KEY, actor text, payload jsonb);
INSERT INTO regress_tap.audit_log VALUES
	(1, 'alice', '{"a": 1}'), (2, 'bob', '{"b": 2}'), (3, 'carol', NULL);
CREATE TABLE regress_tap.guarded (id int PRIMARY KEY, note text);
INSERT INTO regress_tap.guarded VALUES (1, 'one'), (2, 'two');
CREATE TABLE regress_tap.scratch (id int);
INSERT INTO regress_tap.scratch VALUES (1), (2), (3);
ALTER TABLE regress_tap.audit_log OWNER TO regress_tap_owner;
ALTER TABLE regress_tap.guarded OWNER TO regress_tap_owner;
ALTER TABLE regress_tap.scratch OWNER TO regress_tap_owner;
GRANT ALL ON ALL TABLES IN SCHEMA regress_tap TO regress_tap_app;
SELECT audit_guard.protect('regress_tap.audit_log');
SELECT audit_guard.protect('regress_tap.guarded', 'regress_tap_guard');

-- rows of both tables, the scratch count, and the guard triggers with their enabled state
CREATE FUNCTION regress_tap.state() RETURNS text LANGUAGE sql STABLE AS $$
	SELECT (SELECT count(*) || ':' || md5(string_agg(t::text, ',' ORDER BY id))
			  FROM regress_tap.audit_log t)
		|| ' ' || (SELECT count(*) || ':' || md5(string_agg(t::text, ',' ORDER BY id))
					 FROM regress_tap.guarded t)
		|| ' ' || (SELECT count(*) FROM regress_tap.scratch)
		|| ' ' || (SELECT string_agg(tgrelid::regclass || '.' || tgname || '=' || tgenabled::text,
									 ',' ORDER BY tgrelid::regclass::text, tgname)
					 FROM pg_trigger
					WHERE tgrelid IN ('regress_tap.audit_log'::regclass,
									  'regress_tap.guarded'::regclass))
$$;
SELECT regress_tap.state() AS before \gset
SELECT is(:'before' ~ 'audit_guard_append_only=A.*audit_guard_no_truncate=A', true,
		  'guard triggers are ENABLE ALWAYS');

-- The DML attacks, run once per role below.
CREATE FUNCTION regress_tap.dml_attacks(who text) RETURNS SETOF text
LANGUAGE plpgsql AS $f$
DECLARE
	attack text;
BEGIN
	FOREACH attack IN ARRAY ARRAY[
		'UPDATE regress_tap.audit_log SET actor = ''mallory'' WHERE id = 2',
		'UPDATE regress_tap.audit_log SET payload = NULL',
		'DELETE FROM regress_tap.audit_log WHERE id = 2',
		'DELETE FROM regress_tap.audit_log',
		'WITH d AS (DELETE FROM regress_tap.audit_log RETURNING 1) SELECT count(*) FROM d',
		'MERGE INTO regress_tap.audit_log a USING (VALUES (2)) v(id) ON a.id = v.id '
			'WHEN MATCHED THEN UPDATE SET actor = ''mallory''',
		'MERGE INTO regress_tap.audit_log a USING (VALUES (2)) v(id) ON a.id = v.id '
			'WHEN MATCHED THEN DELETE',
		'INSERT INTO regress_tap.audit_log VALUES (2, ''mallory'') '
			'ON CONFLICT (id) DO UPDATE SET actor = excluded.actor',
		'TRUNCATE regress_tap.audit_log',
		'TRUNCATE ONLY regress_tap.audit_log',
		'TRUNCATE regress_tap.scratch, regress_tap.audit_log',
		'UPDATE regress_tap.guarded SET note = ''x''',
		'DELETE FROM regress_tap.guarded',
		'TRUNCATE regress_tap.guarded'
	]
	LOOP
		RETURN NEXT throws_ok(attack, '23000', NULL, who || ': ' || attack);
	END LOOP;
END
$f$;

-- The DDL attacks on a table whose designated owner the role is not.
CREATE FUNCTION regress_tap.ddl_attacks(who text, tbl text) RETURNS SETOF text
LANGUAGE plpgsql AS $f$
DECLARE
	attack text;
BEGIN
	FOREACH attack IN ARRAY ARRAY[
		'ALTER TABLE %1$s DISABLE TRIGGER audit_guard_append_only',
		'ALTER TABLE %1$s DISABLE TRIGGER audit_guard_no_truncate',
		'ALTER TABLE %1$s DISABLE TRIGGER ALL',
		'ALTER TABLE %1$s DISABLE TRIGGER USER',
		'ALTER TABLE %1$s ENABLE TRIGGER audit_guard_append_only',
		'ALTER TABLE %1$s ENABLE REPLICA TRIGGER audit_guard_append_only',
		'ALTER TABLE %1$s ENABLE REPLICA TRIGGER audit_guard_no_truncate',
		'ALTER TABLE %1$s ENABLE TRIGGER ALL',
		'DROP TRIGGER audit_guard_append_only ON %1$s',
		'DROP TRIGGER audit_guard_no_truncate ON %1$s',
		'CREATE OR REPLACE TRIGGER audit_guard_append_only BEFORE UPDATE ON %1$s '
			'FOR EACH ROW EXECUTE FUNCTION regress_tap.noop()',
		'ALTER TRIGGER audit_guard_append_only ON %1$s RENAME TO renamed'
	]
	LOOP
		RETURN NEXT throws_ok(format(attack, tbl), '42501', NULL,
							  who || ': ' || format(attack, tbl));
	END LOOP;
END
$f$;

-- superuser
SELECT * FROM regress_tap.dml_attacks('superuser');
SELECT * FROM regress_tap.ddl_attacks('superuser', 'regress_tap.audit_log');
SELECT throws_ok($$SET session_replication_role = replica$$, '42501', NULL,
				 'superuser: SET session_replication_role = replica');
SELECT throws_ok($$SET LOCAL session_replication_role = replica$$, '42501', NULL,
				 'superuser: SET LOCAL session_replication_role = replica');
SELECT throws_ok($$ALTER ROLE regress_tap_app SET session_replication_role = replica$$,
				 '42501', NULL, 'superuser: ALTER ROLE ... SET session_replication_role');
SELECT throws_ok(format('ALTER DATABASE %I SET session_replication_role = replica',
						current_database()),
				 '42501', NULL, 'superuser: ALTER DATABASE ... SET session_replication_role');
SELECT is(regress_tap.state(), :'before', 'superuser: rows and triggers unchanged');

-- table owner (designated owner of audit_log, not of guarded)
SET LOCAL ROLE regress_tap_owner;
SELECT * FROM regress_tap.dml_attacks('owner');
SELECT * FROM regress_tap.ddl_attacks('owner', 'regress_tap.guarded');
RESET ROLE;
SELECT is(regress_tap.state(), :'before', 'owner: rows and triggers unchanged');

-- application role, allowed to set the parameter
GRANT SET ON PARAMETER session_replication_role TO regress_tap_app;
SET LOCAL ROLE regress_tap_app;
SELECT * FROM regress_tap.dml_attacks('app');
SELECT throws_ok($$ALTER TABLE regress_tap.audit_log DISABLE TRIGGER ALL$$, '42501', NULL,
				 'app: DISABLE TRIGGER ALL');
SELECT throws_ok($$DROP TRIGGER audit_guard_append_only ON regress_tap.audit_log$$,
				 '42501', NULL, 'app: DROP TRIGGER');
SELECT throws_ok($$SET session_replication_role = replica$$, '42501', NULL,
				 'app with SET granted: SET session_replication_role = replica');
RESET ROLE;
SELECT is(regress_tap.state(), :'before', 'app: rows and triggers unchanged');
SELECT is(current_setting('session_replication_role'), 'origin',
		  'session_replication_role is still origin');

-- replica reached by set_config(): the ALWAYS triggers still fire
SELECT set_config('session_replication_role', 'replica', true) IS NOT NULL AS set;
SELECT throws_ok($$DELETE FROM regress_tap.audit_log$$, '23000', NULL,
				 'DELETE under replica (via set_config) is still refused');
SELECT throws_ok($$UPDATE regress_tap.audit_log SET actor = 'x'$$, '23000', NULL,
				 'UPDATE under replica (via set_config) is still refused');
SELECT throws_ok($$TRUNCATE regress_tap.audit_log$$, '23000', NULL,
				 'TRUNCATE under replica (via set_config) is still refused');
SELECT set_config('session_replication_role', 'origin', true) IS NOT NULL AS reset;
SELECT is(regress_tap.state(), :'before', 'replica: rows and triggers unchanged');

-- the registry and the guard's catalog rows cannot be edited directly
SELECT throws_ok($$DELETE FROM audit_guard.registry$$, '42501', NULL,
				 'superuser: DELETE FROM audit_guard.registry');
SELECT throws_ok($$UPDATE audit_guard.registry SET designated_owner = 'regress_tap_app'$$,
				 '42501', NULL, 'superuser: UPDATE audit_guard.registry');
SELECT throws_ok($$UPDATE pg_catalog.pg_trigger SET tgenabled = 'D'
				   WHERE tgrelid = 'regress_tap.audit_log'::regclass$$,
				 '42501', NULL, 'superuser: UPDATE pg_trigger of a protected table');
SELECT is(regress_tap.state(), :'before', 'catalog: rows and triggers unchanged');

-- unprotect by anyone but the designated owner
SELECT throws_ok($$SELECT audit_guard.unprotect('regress_tap.audit_log')$$, '42501', NULL,
				 'superuser: unprotect');
SET LOCAL ROLE regress_tap_owner;
SELECT throws_ok($$SELECT audit_guard.unprotect('regress_tap.guarded')$$, '42501', NULL,
				 'owner, not designated: unprotect');
SELECT throws_ok($$SELECT audit_guard.protect('regress_tap.guarded', 'regress_tap_owner')$$,
				 '42501', NULL, 'owner, not designated: take over the designation');
RESET ROLE;
SET LOCAL ROLE regress_tap_app;
SELECT throws_ok($$SELECT audit_guard.unprotect('regress_tap.audit_log')$$, '42501', NULL,
				 'app: unprotect');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM audit_guard.protected_tables
			WHERE table_name::text LIKE 'regress_tap.%'), 2, 'both tables still protected');

SELECT * FROM finish();
ROLLBACK;
