-- pgTAP, issue 8 class 6: storage and names below the statement.
--
--   * Renaming the protected table (RENAME, ALTER INDEX ... RENAME, SET
--     SCHEMA, ALTER SCHEMA ... RENAME of its schema), after which a new
--     table under its name takes every later insert: refused (42501) to the
--     table owner and to a superuser who is not the designated owner;
--     allowed to the designated owner.
--   * pg_surgery's heap_force_kill() and heap_force_freeze() edit tuples:
--     refused to a superuser (pg_repack's repack_swap() needs committed
--     tables: test/cluster/40_issue8_storage.sh).
--   * CLUSTER of a protected table by the table owner and by a superuser
--     keeps working and keeps the rows.  VACUUM FULL (which cannot run in a
--     transaction block), the pg_repack client and ALTER SYSTEM of
--     shared_preload_libraries are in test/cluster/40_issue8_storage.sh.
BEGIN;
SELECT plan(90);
\ir issue8/fixture.sql

-- renaming a schema needs CREATE on the database: give it to the table
-- owner, so that audit_guard's decision is what is tested
DO $$BEGIN
	EXECUTE format('GRANT CREATE ON DATABASE %I TO regress_i8_tblowner', current_database());
END$$;

CREATE FUNCTION regress_i8.rename_attacks() RETURNS text[] LANGUAGE sql IMMUTABLE AS $f$
	SELECT ARRAY[
		$$ALTER TABLE regress_i8.audit_log RENAME TO audit_log_old$$,
		$$ALTER TABLE regress_i8.audit_log RENAME TO audit_log_old;
		  CREATE TABLE regress_i8.audit_log (LIKE regress_i8.audit_log_old INCLUDING ALL);
		  GRANT SELECT, INSERT ON regress_i8.audit_log TO regress_i8_app$$,
		$$ALTER TABLE IF EXISTS regress_i8.audit_log RENAME TO audit_log_old$$,
		$$ALTER INDEX regress_i8.audit_log RENAME TO audit_log_old$$,
		$$ALTER TABLE regress_i8.audit_log SET SCHEMA regress_i8_other$$,
		$$ALTER TABLE regress_i8.audit_log SET SCHEMA regress_i8_other;
		  CREATE TABLE regress_i8.audit_log (LIKE regress_i8_other.audit_log INCLUDING ALL);
		  GRANT SELECT, INSERT ON regress_i8.audit_log TO regress_i8_app$$,
		$$ALTER SCHEMA regress_i8 RENAME TO regress_i8_old$$,
		$$ALTER TABLE regress_i8.events_1 RENAME TO events_1_old$$,
		$$ALTER TABLE regress_i8.events SET SCHEMA regress_i8_other$$,
		$$ALTER TABLE regress_i8.typed_log RENAME TO typed_log_old$$
	]
$f$;

SET LOCAL ROLE regress_i8_tblowner;
SELECT * FROM regress_i8.refused_all('table owner', regress_i8.rename_attacks(), '42501');
RESET ROLE;
SELECT * FROM regress_i8.refused_all('superuser', regress_i8.rename_attacks(), '42501');

SELECT is(regress_i8.state(), :'i8_before'::text[], 'class 6: everything as before after every attack');

------------------------------------------------------------------------------
-- legitimate neighbours
------------------------------------------------------------------------------
-- the designated owner renames and moves (and back, so that the
-- application's INSERT by name finds the table)
SET LOCAL ROLE regress_i8_auditowner;
SELECT * FROM regress_i8.allowed_all('designated owner', ARRAY[
	$$ALTER TABLE regress_i8.audit_log RENAME TO audit_log_old;
	  ALTER TABLE regress_i8.audit_log_old RENAME TO audit_log$$,
	$$ALTER TABLE regress_i8.audit_log SET SCHEMA regress_i8_other;
	  ALTER TABLE regress_i8_other.audit_log SET SCHEMA regress_i8$$,
	$$ALTER SCHEMA regress_i8 RENAME TO regress_i8_old; ALTER SCHEMA regress_i8_old RENAME TO regress_i8$$
]);
-- and the registry follows
ALTER TABLE regress_i8.audit_log RENAME TO audit_trail;
RESET ROLE;
SELECT is((SELECT count(*)::int FROM audit_guard.registry WHERE relid = 'regress_i8.audit_trail'::regclass), 1,
		  'designated owner: the renamed table is still registered');
SELECT throws_ok($$DELETE FROM regress_i8.audit_trail$$, '23000', NULL,
				 'designated owner: the renamed table is still protected');
SET LOCAL ROLE regress_i8_auditowner;
ALTER TABLE regress_i8.audit_trail RENAME TO audit_log;
RESET ROLE;

/*
 * CLUSTER of a protected table: it works, the fingerprint (rows included)
 * is unchanged and the application's INSERT lands.  Three results.
 */
CREATE FUNCTION regress_i8.keeps_rows(who text, stmt text) RETURNS SETOF text LANGUAGE plpgsql AS $f$
DECLARE
	before text[] := regress_i8.state();
	r record;
BEGIN
	r := regress_i8.attempt(stmt);
	RETURN NEXT ok(r.got = 'ok', format('%s: %s succeeds', who, stmt));
	IF r.got <> 'ok' THEN
		RETURN NEXT diag(format('    got: %s: %s', r.got, r.msg));
	END IF;
	RETURN NEXT ok(r.after = before, format('%s: %s keeps everything as it was', who, stmt));
	IF r.after IS DISTINCT FROM before THEN
		RETURN QUERY SELECT * FROM regress_i8.differences(before, r.after);
	END IF;
	RETURN NEXT ok(r.probe = '', format('%s: after %s the application''s INSERT lands', who, stmt));
END
$f$;
SET LOCAL ROLE regress_i8_tblowner;
SELECT * FROM regress_i8.keeps_rows('table owner', 'CLUSTER regress_i8.audit_log USING audit_log_pkey');
SELECT * FROM regress_i8.keeps_rows('table owner', 'CLUSTER regress_i8.typed_log USING typed_log_pkey');
RESET ROLE;
SELECT * FROM regress_i8.keeps_rows('superuser', 'CLUSTER regress_i8.audit_log USING audit_log_pkey');
SELECT * FROM regress_i8.keeps_rows('superuser',
	'ALTER TABLE regress_i8.audit_log CLUSTER ON audit_log_pkey; CLUSTER regress_i8.audit_log');

/*
 * pg_surgery edits tuples below every statement and is not undone by a
 * rollback: these run last, after everything else has been checked.
 */
CREATE FUNCTION regress_i8.surgery() RETURNS SETOF text LANGUAGE plpgsql AS $f$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_surgery') THEN
		RETURN NEXT skip('contrib pg_surgery is not installed', 9);
		RETURN;
	END IF;
	CREATE EXTENSION pg_surgery SCHEMA regress_i8;
	RETURN QUERY SELECT * FROM regress_i8.refused('superuser',
		$$SELECT regress_i8.heap_force_kill('regress_i8.audit_log', ARRAY['(0,1)']::tid[])$$, '42501');
	RETURN QUERY SELECT * FROM regress_i8.refused('superuser',
		$$SELECT regress_i8.heap_force_kill('regress_i8.events_1', ARRAY['(0,1)', '(0,2)']::tid[])$$, '42501');
	RETURN QUERY SELECT * FROM regress_i8.refused('superuser',
		$$SELECT regress_i8.heap_force_freeze('regress_i8.audit_log', ARRAY['(0,2)']::tid[])$$, '42501');
END
$f$;
SELECT * FROM regress_i8.surgery();

SELECT * FROM finish();
ROLLBACK;
