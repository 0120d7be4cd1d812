-- pgTAP, issue 8 class 4: direct writes to system catalogs, as a class.  No
-- direct write to a system catalog (UPDATE, DELETE, INSERT, TRUNCATE,
-- COPY; at top level or nested in a function; with or without
-- allow_system_table_mods) may change how a protected table, its columns,
-- triggers, rules, constraints or partitions behave, or how audit_guard's
-- own objects are found: 42501 for every role, the designated owner
-- included (here: a superuser who is not the designated owner, and a
-- superuser who is).  Each refusal: its SQLSTATE, the fingerprint unchanged,
-- the application's later INSERT landing.  Legitimate neighbour: direct
-- catalog DML on unrelated objects still works.  COPY ... FROM STDIN and an
-- extension upgrade script that edits its own catalog rows are in
-- test/cluster/40_issue8_catalog.sh.
BEGIN;
SELECT plan(292);
\ir issue8/fixture.sql

-- a predicate that runs one query of its own, as the issue's f()
CREATE FUNCTION regress_i8.one_query() RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN
	PERFORM count(*) FROM pg_catalog.pg_class;
	RETURN true;
END
$f$;
-- the same statement, one level down
CREATE FUNCTION regress_i8.nested(stmt text) RETURNS void LANGUAGE plpgsql AS $f$
BEGIN
	EXECUTE stmt;
END
$f$;
-- a rule to move onto the audit table, a default to copy, rows to point at
CREATE RULE swallow AS ON INSERT TO regress_i8.scratch DO INSTEAD NOTHING;
ALTER TABLE regress_i8.scratch ALTER COLUMN created_at SET DEFAULT '2001-09-09';
CREATE TABLE regress_i8.forged (LIKE regress_i8.audit_log);
INSERT INTO regress_i8.forged VALUES (1, '2001-09-09', 'mallory', 'forged', NULL);
-- unrelated objects, for the legitimate neighbours
CREATE FUNCTION regress_i8.unrelated() RETURNS int LANGUAGE sql AS 'SELECT 1';
CREATE TRIGGER scratch_trg AFTER INSERT ON regress_i8.scratch
	FOR EACH ROW EXECUTE FUNCTION regress_i8.return_null();
COMMENT ON TABLE regress_i8.scratch IS 'scratch';

-- a pg_trigger row that makes the allowed AFTER INSERT trigger a BEFORE
-- INSERT one under a new name, in a server-side file for COPY FROM
SELECT '/tmp/regress_i8_pg_trigger_' || pg_backend_pid() || '.copy' AS copy_file \gset
COPY (SELECT (jsonb_populate_record(t, jsonb_build_object(
		'oid', (SELECT max(oid)::int8 + 1 FROM pg_trigger), 'tgname', 'swallow', 'tgtype', 7))).*
		FROM pg_trigger t
	   WHERE tgrelid = 'regress_i8.audit_log'::regclass AND tgname = 'after_insert_ok')
	TO :'copy_file';

CREATE FUNCTION regress_i8.catalog_attacks(copy_file text) RETURNS text[] LANGUAGE sql IMMUTABLE AS $f$
	SELECT ARRAY[
		-- guard triggers deleted or disabled behind a nested query
		$$DELETE FROM pg_trigger WHERE tgname LIKE 'audit_guard%' AND regress_i8.one_query()$$,
		$$DELETE FROM pg_trigger WHERE tgrelid = 'regress_i8.audit_log'::regclass AND regress_i8.one_query()$$,
		$$UPDATE pg_trigger SET tgenabled = 'D' WHERE tgname LIKE 'audit_guard%' AND regress_i8.one_query()$$,
		-- an allowed trigger turned into a BEFORE INSERT row trigger (swallows)
		$$UPDATE pg_trigger SET tgtype = 7
		   WHERE tgrelid = 'regress_i8.audit_log'::regclass AND tgname = 'after_insert_ok'$$,
		$$UPDATE pg_trigger SET tgtype = 7, tgenabled = 'A'
		   WHERE tgrelid = 'regress_i8.audit_log'::regclass AND tgname = 'after_insert_ok';
		  UPDATE pg_class SET relhastriggers = true WHERE oid = 'regress_i8.audit_log'::regclass$$,
		-- new rows: a swallowing trigger, a swallowing rule
		$$INSERT INTO pg_trigger SELECT (jsonb_populate_record(t, jsonb_build_object(
			'oid', (SELECT max(oid)::int8 + 1 FROM pg_trigger), 'tgname', 'swallow', 'tgtype', 7))).*
			FROM pg_trigger t WHERE tgrelid = 'regress_i8.audit_log'::regclass AND tgname = 'after_insert_ok'$$,
		$$INSERT INTO pg_rewrite SELECT (jsonb_populate_record(r, jsonb_build_object(
			'oid', (SELECT max(oid)::int8 + 1 FROM pg_rewrite), 'rulename', 'swallow',
			'ev_class', 'regress_i8.audit_log'::regclass::oid))).*
			FROM pg_rewrite r WHERE ev_class = 'regress_i8.scratch'::regclass AND rulename = 'swallow';
		  UPDATE pg_class SET relhasrules = true WHERE oid = 'regress_i8.audit_log'::regclass$$,
		-- a DO INSTEAD NOTHING rule moved onto the audit table
		$$UPDATE pg_rewrite SET ev_class = 'regress_i8.audit_log'::regclass
		   WHERE ev_class = 'regress_i8.scratch'::regclass AND rulename = 'swallow';
		  UPDATE pg_class SET relhasrules = true WHERE oid = 'regress_i8.audit_log'::regclass$$,
		$$UPDATE pg_rewrite SET ev_enabled = 'D'
		   WHERE ev_class = 'regress_i8.audit_log'::regclass AND rulename = 'log_notify'$$,
		-- TRUNCATE and COPY into catalogs
		$$SET LOCAL allow_system_table_mods = on; TRUNCATE pg_trigger$$,
		$$SET LOCAL allow_system_table_mods = on; TRUNCATE pg_rewrite$$,
		$$SET LOCAL allow_system_table_mods = on; TRUNCATE pg_extension$$,
		format('COPY pg_trigger FROM %L', copy_file),
		-- audit_guard's own objects, no longer found where every backend looks
		$$UPDATE pg_extension SET extname = 'audit_guard_gone' WHERE extname = 'audit_guard'$$,
		$$DELETE FROM pg_extension WHERE extname = 'audit_guard'$$,
		$$UPDATE pg_class SET relname = 'registry_gone' WHERE oid = 'audit_guard.registry'::regclass$$,
		$$UPDATE pg_class SET relnamespace = 'regress_i8'::regnamespace
		   WHERE oid = 'audit_guard.registry'::regclass$$,
		$$UPDATE pg_namespace SET nspname = 'audit_guard_gone' WHERE nspname = 'audit_guard'$$,
		$$UPDATE pg_proc SET prosrc = 'audit_guard_registry_changed'
		   WHERE oid = 'audit_guard.reject_change'::regproc$$,
		$$UPDATE pg_proc SET proname = 'reject_nothing' WHERE oid = 'audit_guard.reject_change'::regproc$$,
		$$DELETE FROM pg_depend WHERE classid = 'pg_class'::regclass
		   AND objid = 'audit_guard.registry'::regclass AND deptype = 'e'$$,
		$$DELETE FROM pg_trigger WHERE tgrelid = 'audit_guard.registry'::regclass$$,
		-- columns, defaults, constraints, partitions, owner, storage
		$$UPDATE pg_attribute SET attname = 'action_orig'
		   WHERE attrelid = 'regress_i8.audit_log'::regclass AND attname = 'action'$$,
		$$UPDATE pg_attrdef SET adbin = (SELECT adbin FROM pg_attrdef
				WHERE adrelid = 'regress_i8.scratch'::regclass AND adnum = 2)
		   WHERE adrelid = 'regress_i8.audit_log'::regclass AND adnum = 2$$,
		$$DELETE FROM pg_constraint
		   WHERE conrelid = 'regress_i8.audit_log'::regclass AND conname = 'actor_not_empty'$$,
		$$DELETE FROM pg_inherits WHERE inhrelid = 'regress_i8.events_1'::regclass$$,
		$$UPDATE pg_class SET relowner = 'regress_i8_app'::regrole WHERE oid = 'regress_i8.audit_log'::regclass$$,
		$$UPDATE pg_class SET relfilenode = (SELECT relfilenode FROM pg_class WHERE oid = 'regress_i8.forged'::regclass)
		   WHERE oid = 'regress_i8.audit_log'::regclass$$,
		-- already refused before issue 8 (kept as controls)
		$$UPDATE pg_trigger SET tgenabled = 'D'
		   WHERE tgrelid = 'regress_i8.audit_log'::regclass AND tgname = 'audit_guard_append_only'$$,
		$$DELETE FROM pg_trigger
		   WHERE tgrelid = 'regress_i8.audit_log'::regclass AND tgname = 'audit_guard_no_truncate'$$
	]
$f$;

-- each attack as it is, and nested in a function
CREATE FUNCTION regress_i8.with_nested(attacks text[]) RETURNS text[] LANGUAGE sql IMMUTABLE AS $f$
	SELECT attacks || array_agg(format('SELECT regress_i8.nested(%L)', a) ORDER BY n)
	  FROM unnest(attacks) WITH ORDINALITY u(a, n)
$f$;

-- a superuser who is not the designated owner
SELECT * FROM regress_i8.refused_all('superuser',
	regress_i8.with_nested(regress_i8.catalog_attacks(:'copy_file')), '42501');
-- a superuser who is the designated owner: refused too
SET LOCAL ROLE regress_i8_dba;
SELECT * FROM regress_i8.refused_all('superuser and designated owner',
	regress_i8.catalog_attacks(:'copy_file'), '42501');
RESET ROLE;
SELECT is(regress_i8.state(), :'i8_before'::text[], 'class 4: everything as before after every attack');

-- legitimate neighbours: catalog DML on unrelated objects, as a superuser
SELECT * FROM regress_i8.allowed_all('superuser', ARRAY[
	$$UPDATE pg_proc SET procost = 7 WHERE oid = 'regress_i8.unrelated'::regproc$$,
	$$SELECT regress_i8.nested('UPDATE pg_proc SET procost = 7 WHERE oid = ''regress_i8.unrelated''::regproc')$$,
	$$UPDATE pg_trigger SET tgenabled = 'D'
	   WHERE tgrelid = 'regress_i8.scratch'::regclass AND tgname = 'scratch_trg'$$,
	$$UPDATE pg_class SET reloptions = '{fillfactor=90}' WHERE oid = 'regress_i8.scratch'::regclass$$,
	$$UPDATE pg_attribute SET attstattarget = 50
	   WHERE attrelid = 'regress_i8.scratch'::regclass AND attname = 'note'$$,
	$$DELETE FROM pg_description WHERE objoid = 'regress_i8.scratch'::regclass$$,
	$$UPDATE pg_rewrite SET ev_enabled = 'D'
	   WHERE ev_class = 'regress_i8.scratch'::regclass AND rulename = 'swallow'$$,
	$$SET LOCAL allow_system_table_mods = on;
	  UPDATE pg_class SET relname = 'scratch_renamed' WHERE oid = 'regress_i8.scratch'::regclass$$,
	$$SELECT count(*) FROM pg_trigger WHERE tgrelid = 'regress_i8.audit_log'::regclass$$
]);
SET LOCAL ROLE regress_i8_dba;
SELECT * FROM regress_i8.allowed('superuser and designated owner',
	$$UPDATE pg_proc SET procost = 7 WHERE oid = 'regress_i8.unrelated'::regproc$$);
RESET ROLE;
-- and the change is really made
UPDATE pg_proc SET procost = 7 WHERE oid = 'regress_i8.unrelated'::regproc;
SELECT is((SELECT procost FROM pg_proc WHERE oid = 'regress_i8.unrelated'::regproc), 7::real,
		  'superuser: the unrelated function''s cost is 7');

COPY (SELECT 1) TO PROGRAM 'cat >/dev/null; rm -f /tmp/regress_i8_pg_trigger_*.copy';
SELECT * FROM finish();
ROLLBACK;
