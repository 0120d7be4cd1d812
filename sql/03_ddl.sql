--
-- 03_ddl: the DDL that would switch the guard off is refused for everyone
-- but the designated owner: the superuser, a table owner who is not the
-- designated owner, and an application role.  The designated owner's own
-- explicit steps (SET ROLE first) succeed.
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;

CREATE ROLE regress_ddl_owner;
CREATE ROLE regress_ddl_guard;
CREATE ROLE regress_ddl_app;
CREATE SCHEMA regress_ddl;
GRANT USAGE ON SCHEMA regress_ddl TO PUBLIC;
SET search_path = regress_ddl, public;

CREATE FUNCTION noop() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN RETURN NEW; END $$;

-- owned_log: owner regress_ddl_owner, designated owner regress_ddl_owner
-- guarded_log: owner regress_ddl_owner, designated owner regress_ddl_guard
CREATE TABLE owned_log (id int PRIMARY KEY, note text);
CREATE TABLE guarded_log (id int PRIMARY KEY, note text);
INSERT INTO owned_log VALUES (1, 'one'), (2, 'two');
INSERT INTO guarded_log VALUES (1, 'one'), (2, 'two');
ALTER TABLE owned_log OWNER TO regress_ddl_owner;
ALTER TABLE guarded_log OWNER TO regress_ddl_owner;
GRANT ALL ON owned_log, guarded_log TO regress_ddl_app;
SELECT audit_guard.protect('owned_log');
SELECT audit_guard.protect('guarded_log', 'regress_ddl_guard');

-- the state every refused statement must leave intact
CREATE FUNCTION state() RETURNS text LANGUAGE sql STABLE AS $$
	SELECT string_agg(tgrelid::regclass || '.' || tgname || '=' || tgenabled::text,
					  ' ' ORDER BY tgrelid::regclass::text, tgname)
		   || ' | ' || (SELECT md5(string_agg(t::text, ',' ORDER BY id))
						  FROM regress_ddl.owned_log t)
		   || ' | ' || (SELECT md5(string_agg(t::text, ',' ORDER BY id))
						  FROM regress_ddl.guarded_log t)
	  FROM pg_trigger
	 WHERE tgrelid IN ('regress_ddl.owned_log'::regclass,
					   'regress_ddl.guarded_log'::regclass)
$$;
SELECT state() AS before \gset
SELECT tgrelid::regclass, tgname, tgenabled FROM pg_trigger
 WHERE tgrelid IN ('owned_log'::regclass, 'guarded_log'::regclass)
 ORDER BY 1, 2;

-- as superuser, who is not a designated owner
ALTER TABLE owned_log DISABLE TRIGGER audit_guard_append_only;
ALTER TABLE owned_log DISABLE TRIGGER audit_guard_no_truncate;
ALTER TABLE owned_log DISABLE TRIGGER ALL;
ALTER TABLE owned_log DISABLE TRIGGER USER;
ALTER TABLE owned_log ENABLE TRIGGER audit_guard_append_only;
ALTER TABLE owned_log ENABLE REPLICA TRIGGER audit_guard_append_only;
ALTER TABLE owned_log ENABLE REPLICA TRIGGER audit_guard_no_truncate;
ALTER TABLE owned_log ENABLE TRIGGER ALL;
ALTER TABLE owned_log ENABLE TRIGGER USER;
ALTER TABLE owned_log ADD COLUMN extra int, DISABLE TRIGGER ALL;
DROP TRIGGER audit_guard_append_only ON owned_log;
DROP TRIGGER audit_guard_no_truncate ON owned_log;
DROP TRIGGER IF EXISTS audit_guard_append_only ON owned_log;
CREATE OR REPLACE TRIGGER audit_guard_append_only
	BEFORE UPDATE ON owned_log FOR EACH ROW EXECUTE FUNCTION noop();
CREATE OR REPLACE TRIGGER audit_guard_no_truncate
	BEFORE TRUNCATE ON owned_log EXECUTE FUNCTION noop();
ALTER TRIGGER audit_guard_append_only ON owned_log RENAME TO renamed;
ALTER TRIGGER audit_guard_no_truncate ON owned_log RENAME TO renamed;
ALTER TABLE guarded_log DISABLE TRIGGER ALL;
DROP TRIGGER audit_guard_append_only ON guarded_log;
SELECT state() = :'before' AS unchanged;

-- as the table owner, on the table whose designated owner is another role
SET ROLE regress_ddl_owner;
ALTER TABLE guarded_log DISABLE TRIGGER audit_guard_append_only;
ALTER TABLE guarded_log DISABLE TRIGGER audit_guard_no_truncate;
ALTER TABLE guarded_log DISABLE TRIGGER ALL;
ALTER TABLE guarded_log DISABLE TRIGGER USER;
ALTER TABLE guarded_log ENABLE TRIGGER audit_guard_append_only;
ALTER TABLE guarded_log ENABLE REPLICA TRIGGER audit_guard_append_only;
ALTER TABLE guarded_log ENABLE TRIGGER ALL;
DROP TRIGGER audit_guard_append_only ON guarded_log;
DROP TRIGGER audit_guard_no_truncate ON guarded_log;
CREATE OR REPLACE TRIGGER audit_guard_append_only
	BEFORE UPDATE ON guarded_log FOR EACH ROW EXECUTE FUNCTION noop();
ALTER TRIGGER audit_guard_append_only ON guarded_log RENAME TO renamed;
RESET ROLE;
SELECT state() = :'before' AS unchanged;

-- as the application role (audit_guard answers before the ownership check)
SET ROLE regress_ddl_app;
ALTER TABLE owned_log DISABLE TRIGGER audit_guard_append_only;
ALTER TABLE owned_log DISABLE TRIGGER ALL;
ALTER TABLE owned_log ENABLE REPLICA TRIGGER audit_guard_append_only;
DROP TRIGGER audit_guard_append_only ON owned_log;
CREATE OR REPLACE TRIGGER audit_guard_append_only
	BEFORE UPDATE ON owned_log FOR EACH ROW EXECUTE FUNCTION noop();
ALTER TRIGGER audit_guard_append_only ON owned_log RENAME TO renamed;
RESET ROLE;
SELECT state() = :'before' AS unchanged;

-- a guard trigger name on an unprotected table is not special
CREATE TABLE plain (id int);
CREATE TRIGGER audit_guard_append_only BEFORE UPDATE ON plain
	FOR EACH ROW EXECUTE FUNCTION noop();
ALTER TABLE plain DISABLE TRIGGER ALL;
DROP TRIGGER audit_guard_append_only ON plain;
DROP TABLE plain;

-- restoring the ALWAYS state (what pg_restore does) is allowed
ALTER TABLE owned_log ENABLE ALWAYS TRIGGER audit_guard_append_only;
SELECT state() = :'before' AS unchanged;

-- the designated owner's explicit steps work
SET ROLE regress_ddl_owner;
ALTER TABLE owned_log DISABLE TRIGGER audit_guard_append_only;
SELECT tgname, tgenabled FROM pg_trigger
 WHERE tgrelid = 'owned_log'::regclass ORDER BY 1;
ALTER TABLE owned_log ENABLE ALWAYS TRIGGER audit_guard_append_only;
ALTER TABLE owned_log DISABLE TRIGGER ALL;
ALTER TABLE owned_log ENABLE ALWAYS TRIGGER audit_guard_append_only;
ALTER TABLE owned_log ENABLE ALWAYS TRIGGER audit_guard_no_truncate;
ALTER TABLE owned_log ENABLE REPLICA TRIGGER audit_guard_no_truncate;
ALTER TABLE owned_log ENABLE ALWAYS TRIGGER audit_guard_no_truncate;
BEGIN;
DROP TRIGGER audit_guard_append_only ON owned_log;
ROLLBACK;
BEGIN;
CREATE OR REPLACE TRIGGER audit_guard_append_only
	BEFORE UPDATE ON owned_log FOR EACH ROW EXECUTE FUNCTION noop();
ROLLBACK;
BEGIN;
ALTER TRIGGER audit_guard_append_only ON owned_log RENAME TO renamed;
ROLLBACK;
RESET ROLE;
SELECT state() = :'before' AS unchanged;

-- designated owner of guarded_log, through SET ROLE from the superuser;
-- it needs the table owner's rights for the DDL itself
GRANT regress_ddl_owner TO regress_ddl_guard;
SET ROLE regress_ddl_guard;
ALTER TABLE guarded_log DISABLE TRIGGER USER;
ALTER TABLE guarded_log ENABLE ALWAYS TRIGGER audit_guard_append_only;
ALTER TABLE guarded_log ENABLE ALWAYS TRIGGER audit_guard_no_truncate;
BEGIN;
DROP TRIGGER audit_guard_no_truncate ON guarded_log;
ROLLBACK;
RESET ROLE;
-- membership goes one way: the table owner is still not designated
SET ROLE regress_ddl_owner;
ALTER TABLE guarded_log DISABLE TRIGGER ALL;
RESET ROLE;
REVOKE regress_ddl_owner FROM regress_ddl_guard;
SELECT state() = :'before' AS unchanged;

-- after unprotect, the triggers are gone and DDL is ordinary again
SET ROLE regress_ddl_owner;
SELECT audit_guard.unprotect('owned_log');
ALTER TABLE owned_log DISABLE TRIGGER ALL;
RESET ROLE;
SELECT tgname FROM pg_trigger WHERE tgrelid = 'owned_log'::regclass;

-- clean up
SET ROLE regress_ddl_guard;
SELECT audit_guard.unprotect('guarded_log');
RESET ROLE;
RESET search_path;
DROP SCHEMA regress_ddl CASCADE;
DROP ROLE regress_ddl_owner, regress_ddl_guard, regress_ddl_app;
SELECT count(*) AS registry_rows FROM audit_guard.registry;
