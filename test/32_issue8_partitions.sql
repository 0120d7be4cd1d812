-- pgTAP, issue 8 class 2: ATTACH PARTITION must not hand a protected table
-- to someone else, and every path that brings a partition under protection
-- applies the checks of protect().
--
--   * The table owner protects a partitioned table of their own with
--     themselves as its designated owner, drops its row guard (allowed: they
--     are its designated owner) and attaches the protected audit table.
--     After the fix ATTACH is refused (42501) or the audit table keeps its
--     own designated owner; either way the parent's designated owner can
--     neither unprotect it nor rewrite its rows.  The same for a superuser.
--   * A table carrying a BEFORE INSERT row trigger (or a partitioned table
--     whose partition carries one) attached to a protected table: 55000.
--   * CREATE UNLOGGED TABLE ... PARTITION OF a protected table, or ATTACH
--     of an unlogged table: 0A000, as protect() refuses unlogged tables.
BEGIN;
SELECT plan(61);
\ir issue8/fixture.sql

-- a statement whose effects stay when it works: 'ok' or its SQLSTATE
CREATE FUNCTION regress_i8.try(stmt text) RETURNS text LANGUAGE plpgsql AS $f$
BEGIN
	EXECUTE stmt;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE;
END
$f$;

-- count and md5 of the audit table's rows, wherever it is
CREATE FUNCTION regress_i8.audit_rows() RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $f$
DECLARE
	result text;
BEGIN
	EXECUTE format('SELECT count(*) || '' '' || md5(string_agg(t::text, '','' ORDER BY id)) FROM ONLY %s t',
				   (SELECT audit_log FROM regress_i8.oids)::regclass) INTO result;
	RETURN result;
END
$f$;

/*
 * The issue's scenario, as the current role, with parent_owner as the
 * parent's designated owner; rolled back.  Five results: ATTACH refused or
 * the designated owner kept; the designated owner unchanged; the parent's
 * designated owner cannot unprotect the audit table; nor rewrite its rows;
 * the rows unchanged and the application's INSERT landing.
 */
CREATE FUNCTION regress_i8.grab(who text, parent_owner text) RETURNS SETOF text
LANGUAGE plpgsql AS $f$
DECLARE
	rows_before text := regress_i8.audit_rows();
	rows_after text;
	attach text;
	msg text;
	owner_after text;
	detach text;
	unprotect text;
	rewrite text;
	probe text;
BEGIN
	BEGIN
		CREATE TABLE regress_i8.grab (LIKE regress_i8.audit_log) PARTITION BY RANGE (id);
		PERFORM audit_guard.protect('regress_i8.grab', parent_owner::regrole);
		DROP TRIGGER audit_guard_append_only ON regress_i8.grab;
		BEGIN
			ALTER TABLE regress_i8.grab ATTACH PARTITION regress_i8.audit_log FOR VALUES FROM (MINVALUE) TO (MAXVALUE);
			attach := 'ok';
		EXCEPTION WHEN OTHERS THEN
			attach := SQLSTATE;
			msg := SQLERRM;
		END;
		SELECT designated_owner::text INTO owner_after FROM audit_guard.registry
		 WHERE relid = (SELECT audit_log FROM regress_i8.oids);
		-- the parent's designated owner takes it out, unprotects, rewrites
		detach := regress_i8.try('ALTER TABLE regress_i8.grab DETACH PARTITION regress_i8.audit_log');
		unprotect := regress_i8.try(format('SELECT audit_guard.unprotect(%L)',
										   (SELECT audit_log FROM regress_i8.oids)::regclass));
		rewrite := regress_i8.try(format('UPDATE %s SET action = ''forged''',
										 (SELECT audit_log FROM regress_i8.oids)::regclass));
		rows_after := regress_i8.audit_rows();
		probe := regress_i8.app_insert();
		RAISE EXCEPTION USING ERRCODE = 'ZZ999', MESSAGE = 'undo the attempt';
	EXCEPTION WHEN SQLSTATE 'ZZ999' THEN
		NULL;
	END;
	RETURN NEXT ok(attach = '42501' OR owner_after = 'regress_i8_auditowner',
				   who || ': ATTACH of the audit table to a parent of their own is refused or keeps its designated owner');
	RETURN NEXT diag(format('    ATTACH: %s%s; then designated owner %s, DETACH %s, unprotect %s, UPDATE %s',
							attach, coalesce(' (' || msg || ')', ''), owner_after, detach, unprotect, rewrite));
	RETURN NEXT is(owner_after, 'regress_i8_auditowner', who || ': the audit table''s designated owner is unchanged');
	RETURN NEXT ok(unprotect <> 'ok', who || ': the parent''s designated owner cannot unprotect the audit table');
	RETURN NEXT is(rewrite, '23000', who || ': the parent''s designated owner cannot rewrite its rows');
	RETURN NEXT is(rows_after, rows_before, who || ': the audit table''s rows are unchanged');
	RETURN NEXT is(probe, '', who || ': the application''s INSERT lands');
END
$f$;

SET LOCAL ROLE regress_i8_tblowner;
SELECT * FROM regress_i8.grab('table owner', 'regress_i8_tblowner');
RESET ROLE;
SELECT * FROM regress_i8.grab('superuser', current_user);

-- partitions that would swallow inserts, or lose them in a crash
CREATE FUNCTION regress_i8.swallowing_partitions() RETURNS text[] LANGUAGE sql IMMUTABLE AS $f$
	SELECT ARRAY[
		$$CREATE TABLE regress_i8.sneaky (LIKE regress_i8.events);
		  CREATE TRIGGER swallow BEFORE INSERT ON regress_i8.sneaky
		  FOR EACH ROW EXECUTE FUNCTION regress_i8.return_null();
		  ALTER TABLE regress_i8.events ATTACH PARTITION regress_i8.sneaky FOR VALUES FROM (100) TO (200)$$,
		$$CREATE TABLE regress_i8.sneaky (LIKE regress_i8.events);
		  CREATE TRIGGER swallow BEFORE INSERT ON regress_i8.sneaky
		  FOR EACH ROW EXECUTE FUNCTION regress_i8.return_null();
		  ALTER TABLE regress_i8.events ATTACH PARTITION regress_i8.sneaky DEFAULT$$,
		$$CREATE TABLE regress_i8.sneaky (LIKE regress_i8.events) PARTITION BY RANGE (at);
		  CREATE TABLE regress_i8.sneaky_a PARTITION OF regress_i8.sneaky FOR VALUES FROM (100) TO (200);
		  CREATE TRIGGER swallow BEFORE INSERT ON regress_i8.sneaky_a
		  FOR EACH ROW EXECUTE FUNCTION regress_i8.return_null();
		  ALTER TABLE regress_i8.events ATTACH PARTITION regress_i8.sneaky FOR VALUES FROM (100) TO (200)$$
	]
$f$;
CREATE FUNCTION regress_i8.unlogged_partitions() RETURNS text[] LANGUAGE sql IMMUTABLE AS $f$
	SELECT ARRAY[
		$$CREATE UNLOGGED TABLE regress_i8.events_u PARTITION OF regress_i8.events FOR VALUES FROM (100) TO (200)$$,
		$$CREATE UNLOGGED TABLE regress_i8.events_u (LIKE regress_i8.events);
		  ALTER TABLE regress_i8.events ATTACH PARTITION regress_i8.events_u FOR VALUES FROM (100) TO (200)$$
	]
$f$;

SET LOCAL ROLE regress_i8_tblowner;
SELECT * FROM regress_i8.refused_all('table owner', regress_i8.swallowing_partitions(), '55000');
-- the trigger disabled while attaching, enabled once protected
SELECT * FROM regress_i8.refused('table owner',
	$$CREATE TABLE regress_i8.sneaky (LIKE regress_i8.events);
	  CREATE TRIGGER swallow BEFORE INSERT ON regress_i8.sneaky
	  FOR EACH ROW EXECUTE FUNCTION regress_i8.return_null();
	  ALTER TABLE regress_i8.sneaky DISABLE TRIGGER swallow;
	  ALTER TABLE regress_i8.events ATTACH PARTITION regress_i8.sneaky FOR VALUES FROM (100) TO (200);
	  ALTER TABLE regress_i8.sneaky ENABLE TRIGGER swallow$$, '55000|42501');
SELECT * FROM regress_i8.refused_all('table owner', regress_i8.unlogged_partitions(), '0A000');
RESET ROLE;
SELECT * FROM regress_i8.refused_all('superuser', regress_i8.swallowing_partitions(), '55000');
SELECT * FROM regress_i8.refused_all('superuser', regress_i8.unlogged_partitions(), '0A000');
SET LOCAL ROLE regress_i8_auditowner;
SELECT * FROM regress_i8.refused_all('designated owner', regress_i8.unlogged_partitions(), '0A000');
RESET ROLE;
SELECT is(regress_i8.state(), :'i8_before'::text[], 'class 2: everything as before after every attack');

-- legitimate neighbours: plain new and attached partitions, protected for
-- the parent's designated owner
SET LOCAL ROLE regress_i8_tblowner;
SELECT * FROM regress_i8.allowed_all('table owner', ARRAY[
	$$CREATE TABLE regress_i8.events_2 PARTITION OF regress_i8.events FOR VALUES FROM (100) TO (200)$$,
	$$CREATE TABLE regress_i8.events_2 (LIKE regress_i8.events);
	  ALTER TABLE regress_i8.events ATTACH PARTITION regress_i8.events_2 FOR VALUES FROM (100) TO (200)$$,
	$$CREATE TABLE regress_i8.events_2 (LIKE regress_i8.events);
	  CREATE TRIGGER after_insert AFTER INSERT ON regress_i8.events_2
	  FOR EACH ROW EXECUTE FUNCTION regress_i8.return_null();
	  ALTER TABLE regress_i8.events ATTACH PARTITION regress_i8.events_2 DEFAULT$$
]);
CREATE TABLE regress_i8.events_2 (LIKE regress_i8.events);
ALTER TABLE regress_i8.events ATTACH PARTITION regress_i8.events_2 FOR VALUES FROM (100) TO (200);
RESET ROLE;
SELECT is((SELECT designated_owner::text FROM audit_guard.registry WHERE relid = 'regress_i8.events_2'::regclass),
		  'regress_i8_auditowner', 'table owner: the attached partition is protected for the parent''s designated owner');
SET LOCAL ROLE regress_i8_app;
SELECT lives_ok($$INSERT INTO regress_i8.events VALUES (3, 150, 'three')$$,
				'app: INSERT routed to the attached partition');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM regress_i8.events_2), 1, 'the row landed in the attached partition');

SELECT * FROM finish();
ROLLBACK;
