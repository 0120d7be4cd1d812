--
-- 01_api: protect() and unprotect() arguments, idempotence, the registry
-- view and its history, and who may call what.
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;

SELECT extname, extversion, extnamespace::regnamespace
  FROM pg_extension WHERE extname = 'audit_guard';
SELECT audit_guard.hooks_active();

CREATE ROLE regress_api_owner;
CREATE ROLE regress_api_other;
CREATE ROLE regress_api_app LOGIN;
CREATE SCHEMA regress_api;
GRANT USAGE ON SCHEMA regress_api TO PUBLIC;
SET search_path = regress_api, public;

CREATE TABLE audit_log (id bigint PRIMARY KEY, actor text, payload jsonb);
ALTER TABLE audit_log OWNER TO regress_api_owner;
CREATE TABLE second_log (id bigint PRIMARY KEY, note text);
ALTER TABLE second_log OWNER TO regress_api_owner;
CREATE TABLE plain (id int);
CREATE VIEW a_view AS SELECT * FROM audit_log;
CREATE MATERIALIZED VIEW a_matview AS SELECT * FROM audit_log;
CREATE SEQUENCE a_sequence;
CREATE UNLOGGED TABLE an_unlogged (id int);
CREATE TEMP TABLE a_temp (id int);
CREATE TYPE a_composite AS (x int);
CREATE INDEX audit_log_actor ON audit_log (actor);
CREATE FOREIGN DATA WRAPPER regress_api_fdw;
CREATE SERVER regress_api_server FOREIGN DATA WRAPPER regress_api_fdw;
CREATE FOREIGN TABLE a_foreign (id int) SERVER regress_api_server;

-- bad inputs
SELECT audit_guard.protect(NULL);
SELECT audit_guard.protect(NULL, 'regress_api_owner');
SELECT audit_guard.protect('no_such_table');
SELECT audit_guard.protect('audit_log', 'regress_no_such_role');
SELECT audit_guard.protect('a_view');
SELECT audit_guard.protect('a_matview');
SELECT audit_guard.protect('a_sequence');
SELECT audit_guard.protect('a_foreign');
SELECT audit_guard.protect('a_composite');
SELECT audit_guard.protect('audit_log_actor');
-- (the message names the session's pg_temp_N schema: show the SQLSTATE)
\set VERBOSITY sqlstate
SELECT audit_guard.protect('a_temp');
\set VERBOSITY default
SELECT audit_guard.protect('an_unlogged');
SELECT audit_guard.protect('pg_catalog.pg_class');
SELECT audit_guard.protect('pg_catalog.pg_trigger');
SELECT audit_guard.protect('audit_guard.registry');
SELECT audit_guard.protect('audit_guard.history');
SELECT audit_guard.protect('audit_guard.protected_tables');
SELECT audit_guard.unprotect(NULL);
SELECT audit_guard.unprotect('plain');
-- none of that left anything behind
SELECT count(*) AS registry_rows FROM audit_guard.registry;
SELECT count(*) AS guard_triggers FROM pg_trigger
 WHERE tgfoid = 'audit_guard.reject_change'::regproc;

-- only the table's owner (or a superuser) may protect it
SET ROLE regress_api_other;
SELECT audit_guard.protect('audit_log');
SET ROLE regress_api_app;
SELECT audit_guard.protect('audit_log');
SELECT audit_guard.protect('audit_log', 'regress_api_app');
RESET ROLE;
SELECT count(*) AS registry_rows FROM audit_guard.registry;

-- the table's owner protects it; the designated owner defaults to the owner
SET ROLE regress_api_owner;
SELECT audit_guard.protect('audit_log');
RESET ROLE;
SELECT table_name, designated_owner, protected_by, protected_through,
       protected_at IS NOT NULL AS has_time
  FROM audit_guard.protected_tables ORDER BY table_name::text;
SELECT tgname, tgenabled, tgfoid::regproc,
       (tgtype & 1) <> 0 AS for_each_row, (tgtype & 2) <> 0 AS before,
       (tgtype & 8) <> 0 AS on_delete, (tgtype & 16) <> 0 AS on_update,
       (tgtype & 32) <> 0 AS on_truncate, (tgtype & 4) <> 0 AS on_insert
  FROM pg_trigger WHERE tgrelid = 'audit_log'::regclass ORDER BY tgname;

-- idempotent: a migration may run it twice, as owner or as superuser
SET ROLE regress_api_owner;
SELECT audit_guard.protect('audit_log');
RESET ROLE;
SELECT audit_guard.protect('audit_log');
SELECT audit_guard.protect('regress_api.audit_log', NULL);
SELECT count(*) AS registry_rows FROM audit_guard.registry;
SELECT count(*) AS guard_triggers FROM pg_trigger
 WHERE tgrelid = 'audit_log'::regclass;

-- everyone may read the registry view
SET ROLE regress_api_app;
SELECT table_name, designated_owner FROM audit_guard.protected_tables;
SELECT audit_guard.hooks_active();
RESET ROLE;

-- a superuser protects a table for another designated owner
SELECT audit_guard.protect('second_log', owner => 'regress_api_other');
SELECT table_name, designated_owner, protected_by, protected_through
  FROM audit_guard.protected_tables ORDER BY table_name::text;

-- changing the designated owner: only the current designated owner
SELECT audit_guard.protect('second_log', 'regress_api_owner');
SET ROLE regress_api_owner;
SELECT audit_guard.protect('second_log', 'regress_api_owner');
SET ROLE regress_api_app;
SELECT audit_guard.protect('audit_log', 'regress_api_app');
RESET ROLE;
-- NULL owner on a protected table keeps the designated owner
SELECT audit_guard.protect('second_log');
SELECT table_name, designated_owner
  FROM audit_guard.protected_tables ORDER BY table_name::text;
SET ROLE regress_api_owner;
SELECT audit_guard.protect('audit_log', 'regress_api_other');
RESET ROLE;
SELECT table_name, designated_owner
  FROM audit_guard.protected_tables ORDER BY table_name::text;

-- unprotect: the designated owner only; superuser status does not count
SELECT audit_guard.unprotect('audit_log');
SET ROLE regress_api_owner;
SELECT audit_guard.unprotect('audit_log');
SET ROLE regress_api_app;
SELECT audit_guard.unprotect('audit_log');
RESET ROLE;
SELECT count(*) AS registry_rows FROM audit_guard.registry;
-- a refused unprotect in a transaction leaves nothing changed either
BEGIN;
SELECT audit_guard.unprotect('second_log');
ROLLBACK;
SELECT count(*) AS guard_triggers FROM pg_trigger
 WHERE tgfoid = 'audit_guard.reject_change'::regproc;

SET ROLE regress_api_other;
SELECT audit_guard.unprotect('audit_log');
SELECT audit_guard.unprotect('second_log');
RESET ROLE;
SELECT count(*) AS registry_rows FROM audit_guard.registry;
SELECT count(*) AS guard_triggers FROM pg_trigger
 WHERE tgfoid = 'audit_guard.reject_change'::regproc;

-- the history keeps who did what
SELECT action, table_name, designated_owner, performed_by
  FROM audit_guard.history ORDER BY at, action;

-- the registry and history are written through the functions only
SET ROLE regress_api_app;
INSERT INTO audit_guard.registry (relid, designated_owner)
  VALUES ('regress_api.audit_log', 'regress_api_app');
DELETE FROM audit_guard.history;
RESET ROLE;
SELECT count(*) AS registry_rows FROM audit_guard.registry;

-- clean up
RESET search_path;
DROP SCHEMA regress_api CASCADE;
DROP SERVER regress_api_server;
DROP FOREIGN DATA WRAPPER regress_api_fdw;
DROP ROLE regress_api_owner, regress_api_other, regress_api_app;
