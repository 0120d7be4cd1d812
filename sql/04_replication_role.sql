--
-- 04_replication_role: session_replication_role = replica would silence
-- ordinary triggers.  While the database has protected tables, every
-- statement that sets it to replica is refused unless the current user is
-- the designated owner of all of them; origin and local stay allowed.  And
-- where replica is reached anyway, the ALWAYS guard triggers still fire.
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;

CREATE ROLE regress_srr_owner;
CREATE ROLE regress_srr_other;
CREATE ROLE regress_srr_app;
CREATE SCHEMA regress_srr;
GRANT USAGE ON SCHEMA regress_srr TO PUBLIC;
SET search_path = regress_srr, public;

CREATE TABLE audit_log (id int PRIMARY KEY, note text);
INSERT INTO audit_log VALUES (1, 'one'), (2, 'two');
ALTER TABLE audit_log OWNER TO regress_srr_owner;
GRANT ALL ON audit_log TO regress_srr_app;
CREATE TABLE unguarded (id int);

-- no protected table yet: replica is an ordinary setting
SELECT count(*) AS protected_here FROM audit_guard.registry;
SET session_replication_role = replica;
RESET session_replication_role;

SELECT audit_guard.protect('audit_log');
SELECT md5(string_agg(t::text, ',' ORDER BY id)) AS before
  FROM audit_log t \gset

-- as superuser: every way of saying replica
SET session_replication_role = replica;
SET session_replication_role TO replica;
SET session_replication_role = 'replica';
SET session_replication_role = REPLICA;
SET session_replication_role = 'Replica';
SET SESSION session_replication_role = replica;
BEGIN;
SET LOCAL session_replication_role = replica;
ROLLBACK;
SHOW session_replication_role;
ALTER ROLE regress_srr_app SET session_replication_role = replica;
ALTER ROLE regress_srr_app IN DATABASE contrib_regression
	SET session_replication_role = replica;
ALTER ROLE ALL SET session_replication_role = replica;
ALTER USER regress_srr_app SET session_replication_role = replica;
ALTER DATABASE contrib_regression SET session_replication_role = replica;
ALTER SYSTEM SET session_replication_role = replica;
SELECT count(*) AS stored_settings FROM pg_db_role_setting
 WHERE array_to_string(setconfig, ',') LIKE '%session_replication_role%';

-- origin and local stay allowed, as do RESET and DEFAULT
SET session_replication_role = origin;
SET session_replication_role = local;
SET session_replication_role = DEFAULT;
RESET session_replication_role;
BEGIN;
SET LOCAL session_replication_role = local;
SHOW session_replication_role;
COMMIT;
ALTER ROLE regress_srr_app SET session_replication_role = origin;
ALTER ROLE regress_srr_app RESET session_replication_role;
SHOW session_replication_role;

-- as the table owner (the designated owner) without the right to set it,
-- and as the app role with SET granted on the parameter
SET ROLE regress_srr_owner;
SET session_replication_role = replica;
RESET ROLE;
GRANT SET ON PARAMETER session_replication_role TO regress_srr_app;
SET ROLE regress_srr_app;
SET session_replication_role = replica;
SET session_replication_role = local;
SHOW session_replication_role;
RESET session_replication_role;
RESET ROLE;

-- a function's SET clause would hand replica to every caller
CREATE FUNCTION replica_delete() RETURNS void LANGUAGE sql
	SET session_replication_role = replica
	AS $$ DELETE FROM regress_srr.audit_log $$;
CREATE FUNCTION replica_delete() RETURNS void LANGUAGE sql
	SET session_replication_role TO 'REPLICA'
	AS $$ DELETE FROM regress_srr.audit_log $$;
CREATE FUNCTION replica_delete() RETURNS void LANGUAGE sql
	AS $$ DELETE FROM regress_srr.audit_log $$;
ALTER FUNCTION replica_delete() SET session_replication_role = replica;
SELECT proconfig FROM pg_proc WHERE oid = 'replica_delete'::regproc;

-- replica reached without a SET statement: the ALWAYS triggers still fire
SELECT set_config('session_replication_role', 'replica', true) IS NOT NULL AS via_set_config;
BEGIN;
SELECT set_config('session_replication_role', 'replica', true) AS role_now;
DELETE FROM audit_log WHERE id = 1;
ROLLBACK;
BEGIN;
SELECT set_config('session_replication_role', 'replica', true) AS role_now;
UPDATE audit_log SET note = 'forged';
ROLLBACK;
BEGIN;
SELECT set_config('session_replication_role', 'replica', true) AS role_now;
TRUNCATE audit_log;
ROLLBACK;
SHOW session_replication_role;
SELECT md5(string_agg(t::text, ',' ORDER BY id)) = :'before' AS unchanged
  FROM audit_log t;

-- the designated owner of every protected table may set replica
GRANT SET ON PARAMETER session_replication_role TO regress_srr_owner;
SET ROLE regress_srr_owner;
SET session_replication_role = replica;
SHOW session_replication_role;
-- and even then the guard triggers fire
DELETE FROM audit_log WHERE id = 1;
RESET session_replication_role;
BEGIN;
SET LOCAL session_replication_role = replica;
COMMIT;
RESET ROLE;

-- ALTER SYSTEM as the designated owner, with the privilege granted
GRANT ALTER SYSTEM ON PARAMETER session_replication_role TO regress_srr_owner;
SET ROLE regress_srr_owner;
ALTER SYSTEM SET session_replication_role = replica;
ALTER SYSTEM RESET session_replication_role;
RESET ROLE;

-- a second protected table with another designated owner: now the first
-- owner is no longer the designated owner of every protected table
CREATE TABLE other_log (id int);
ALTER TABLE other_log OWNER TO regress_srr_other;
SELECT audit_guard.protect('other_log');
SET ROLE regress_srr_owner;
SET session_replication_role = replica;
SHOW session_replication_role;
RESET ROLE;
-- a role that is a member of both designated owners may
CREATE ROLE regress_srr_both IN ROLE regress_srr_owner, regress_srr_other;
GRANT SET ON PARAMETER session_replication_role TO regress_srr_both;
SET ROLE regress_srr_both;
SET session_replication_role = replica;
SHOW session_replication_role;
RESET session_replication_role;
RESET ROLE;

SELECT md5(string_agg(t::text, ',' ORDER BY id)) = :'before' AS unchanged
  FROM audit_log t;

-- once nothing is protected, replica is ordinary again
SET ROLE regress_srr_other;
SELECT audit_guard.unprotect('other_log');
SET ROLE regress_srr_owner;
SELECT audit_guard.unprotect('audit_log');
RESET ROLE;
SET session_replication_role = replica;
RESET session_replication_role;

-- clean up
REVOKE SET ON PARAMETER session_replication_role
	FROM regress_srr_app, regress_srr_owner, regress_srr_both;
REVOKE ALTER SYSTEM ON PARAMETER session_replication_role FROM regress_srr_owner;
RESET search_path;
DROP SCHEMA regress_srr CASCADE;
DROP ROLE regress_srr_owner, regress_srr_other, regress_srr_app, regress_srr_both;
SELECT count(*) AS registry_rows FROM audit_guard.registry;
