-- pgTAP, issue 8 class 5: audit_guard's own objects.  While tables are
-- protected, rules, triggers, policies, row-level security, constraint
-- drops, column defaults and other DDL on audit_guard's registry and
-- history, new or replaced objects in its schema, and renaming or handing
-- away its schema are refused (42501) to a superuser who is not the
-- designated owner (and to the table owner, whom PostgreSQL's own checks
-- may answer first).  Each refusal: its SQLSTATE, the fingerprint unchanged
-- (the registry and history are watched relations, and audit_guard's
-- schema, extension, functions and view are part of it), the application's
-- later INSERT landing.  A rule planted while nothing was protected, and
-- the logical-replication subscription that replays TRUNCATE, INSERT,
-- UPDATE and DELETE into them, are in test/cluster/40_issue8_own_objects.sh.
BEGIN;
SELECT plan(120);
\ir issue8/fixture.sql

-- an inheritance parent that fits the history
CREATE TABLE regress_i8.history_parent (LIKE audit_guard.history);
-- a trigger function that empties the registry
CREATE FUNCTION regress_i8.wipe_registry() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
	DELETE FROM audit_guard.registry;
	RETURN NULL;
END
$f$;

CREATE FUNCTION regress_i8.own_object_attacks() RETURNS text[] LANGUAGE sql IMMUTABLE AS $f$
	SELECT ARRAY[
		-- rules: the issue's example, and ones that swallow the bookkeeping
		$$CREATE RULE r AS ON INSERT TO audit_guard.history DO ALSO DELETE FROM audit_guard.registry$$,
		$$CREATE RULE r AS ON INSERT TO audit_guard.history DO INSTEAD NOTHING$$,
		$$CREATE RULE r AS ON INSERT TO audit_guard.registry DO INSTEAD NOTHING$$,
		$$CREATE RULE r AS ON DELETE TO audit_guard.registry DO INSTEAD NOTHING$$,
		-- triggers
		$$CREATE TRIGGER t AFTER INSERT ON audit_guard.history
		  FOR EACH STATEMENT EXECUTE FUNCTION regress_i8.wipe_registry()$$,
		$$CREATE TRIGGER t BEFORE INSERT ON audit_guard.history
		  FOR EACH ROW EXECUTE FUNCTION regress_i8.return_null()$$,
		$$CREATE TRIGGER t BEFORE INSERT OR UPDATE ON audit_guard.registry
		  FOR EACH ROW EXECUTE FUNCTION regress_i8.return_null()$$,
		$$ALTER TABLE audit_guard.registry ENABLE TRIGGER registry_changed$$,
		$$ALTER TABLE audit_guard.registry DISABLE TRIGGER registry_changed$$,
		$$DROP TRIGGER registry_changed ON audit_guard.registry$$,
		-- row-level security and policies
		$$ALTER TABLE audit_guard.registry ENABLE ROW LEVEL SECURITY$$,
		$$ALTER TABLE audit_guard.registry FORCE ROW LEVEL SECURITY$$,
		$$ALTER TABLE audit_guard.history ENABLE ROW LEVEL SECURITY$$,
		$$CREATE POLICY p ON audit_guard.registry USING (false)$$,
		$$CREATE POLICY p ON audit_guard.history FOR SELECT USING (action <> 'unprotect')$$,
		-- constraints, defaults, columns
		$$ALTER TABLE audit_guard.registry DROP CONSTRAINT registry_pkey$$,
		$$ALTER TABLE audit_guard.history DROP CONSTRAINT history_action_check$$,
		$$ALTER TABLE audit_guard.registry ALTER COLUMN designated_owner SET DEFAULT 'regress_i8_app'::text::regrole$$,
		$$ALTER TABLE audit_guard.registry ALTER COLUMN protected_by SET DEFAULT 'nobody'$$,
		$$ALTER TABLE audit_guard.history ALTER COLUMN performed_by SET DEFAULT 'nobody'$$,
		$$ALTER TABLE audit_guard.history ALTER COLUMN at DROP DEFAULT$$,
		$$ALTER TABLE audit_guard.history ALTER COLUMN performed_by DROP NOT NULL$$,
		-- (ALTER COLUMN ... TYPE: PostgreSQL itself refuses it while the
		-- audit_guard.table_history view reads every column)
		$$ALTER TABLE audit_guard.history ADD COLUMN forged text DEFAULT random()::text$$,
		$$ALTER TABLE audit_guard.history RENAME COLUMN action TO action_orig$$,
		-- the tables themselves
		$$ALTER TABLE audit_guard.history RENAME TO history_old$$,
		$$ALTER TABLE audit_guard.registry SET SCHEMA public$$,
		$$ALTER TABLE audit_guard.registry OWNER TO regress_i8_app$$,
		$$ALTER TABLE audit_guard.history SET UNLOGGED$$,
		$$ALTER TABLE audit_guard.history INHERIT regress_i8.history_parent$$,
		-- the schema, and what is found in it
		$$ALTER SCHEMA audit_guard RENAME TO audit_guard_old$$,
		$$ALTER SCHEMA audit_guard OWNER TO regress_i8_app$$,
		$$CREATE FUNCTION audit_guard.check(tbl text)
		  RETURNS TABLE (table_name regclass, check_name text, status text, detail text)
		  LANGUAGE sql AS 'SELECT NULL::regclass, ''guard'', ''ok'', ''forged'''$$,
		$$CREATE OR REPLACE VIEW audit_guard.protected_tables AS
		  SELECT * FROM audit_guard.protected_tables WHERE false$$,
		$$ALTER VIEW audit_guard.protected_tables RENAME TO protected_tables_old$$
	]
$f$;

-- the table owner (PostgreSQL's ownership checks may answer first)
SET LOCAL ROLE regress_i8_tblowner;
SELECT * FROM regress_i8.refused_all('table owner', ARRAY[
	$$CREATE RULE r AS ON INSERT TO audit_guard.history DO ALSO DELETE FROM audit_guard.registry$$,
	$$CREATE FUNCTION audit_guard.check(tbl text) RETURNS int LANGUAGE sql AS 'SELECT 1'$$,
	$$ALTER SCHEMA audit_guard RENAME TO audit_guard_old$$
], '42501');
RESET ROLE;

-- a superuser who is not the designated owner
SELECT * FROM regress_i8.refused_all('superuser', regress_i8.own_object_attacks(), '42501');
SELECT is(regress_i8.state(), :'i8_before'::text[], 'class 5: everything as before after every attack');

-- legitimate neighbours: reading, and protect() as the table owner
SET LOCAL ROLE regress_i8_tblowner;
SELECT * FROM regress_i8.allowed_all('table owner', ARRAY[
	$$SELECT * FROM audit_guard.protected_tables$$,
	$$SELECT * FROM audit_guard.check()$$,
	$$CREATE TABLE regress_i8.more (id int PRIMARY KEY); SELECT audit_guard.protect('regress_i8.more')$$
]);
RESET ROLE;
SELECT * FROM regress_i8.allowed('superuser', $$COMMENT ON TABLE regress_i8.scratch IS 'unrelated'$$);

SELECT * FROM finish();
ROLLBACK;
