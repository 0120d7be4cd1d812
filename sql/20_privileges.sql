--
-- 20_privileges: role separation checks.  The provisioning recipe passes
-- assert_append_only(); each broken setup from the incidents, and each
-- kind of finding, fails it with the problem listed; privileges() shows
-- who could change the table and how; check() shows the guard's health;
-- the pgTAP helpers write TAP lines themselves when pgTAP is absent.
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;

-- The recipe: a NOLOGIN migration role owns schema and table, the
-- application may INSERT and SELECT (and draw ids), the auditor may SELECT.
CREATE ROLE regress_priv_migrator NOLOGIN;
CREATE ROLE regress_priv_app LOGIN;
CREATE ROLE regress_priv_auditor LOGIN;
CREATE SCHEMA regress_priv AUTHORIZATION regress_priv_migrator;
SET ROLE regress_priv_migrator;
CREATE TABLE regress_priv.audit_log (
	id		bigserial PRIMARY KEY,
	at		timestamptz NOT NULL DEFAULT now(),
	actor	text NOT NULL,
	action	text NOT NULL,
	payload	jsonb
);
GRANT USAGE ON SCHEMA regress_priv TO regress_priv_app, regress_priv_auditor;
GRANT SELECT, INSERT ON regress_priv.audit_log TO regress_priv_app;
GRANT USAGE ON SEQUENCE regress_priv.audit_log_id_seq TO regress_priv_app;
GRANT SELECT ON regress_priv.audit_log TO regress_priv_auditor;
SELECT audit_guard.protect('regress_priv.audit_log', owner => 'regress_priv_migrator');
RESET ROLE;
SET search_path = regress_priv, public;

-- the matrix restricted to this file's roles and PUBLIC (the cluster's
-- own superusers vary from one installation to the next)
CREATE FUNCTION matrix(tbl regclass)
RETURNS TABLE (role_name name, can_login boolean, via text, privilege text, risk text)
LANGUAGE sql STABLE AS $$
	SELECT p.role_name, p.can_login, p.via, p.privilege, p.risk
	  FROM audit_guard.privileges(tbl) p
	 WHERE p.role_name LIKE 'regress\_priv\_%' OR p.role_name = 'PUBLIC'
$$;

-- the recipe passes, and the application really can do its job
SELECT audit_guard.assert_append_only('audit_log', 'regress_priv_app');
SELECT * FROM matrix('audit_log');
SELECT role_name, explanation FROM audit_guard.privileges('audit_log')
 WHERE role_name LIKE 'regress\_priv\_%';
SELECT * FROM audit_guard.check('audit_log');
SET ROLE regress_priv_app;
INSERT INTO audit_log (actor, action) VALUES ('alice', 'login') RETURNING id, actor;
SELECT count(*) FROM audit_log;
RESET ROLE;
-- the auditor reads, but is no writer
SELECT audit_guard.assert_append_only('audit_log', 'regress_priv_auditor');
-- the cluster's superuser has its row
SELECT via, privilege, risk FROM audit_guard.privileges('audit_log')
 WHERE role_name = current_user;

-- incident: the application connects as the table's owner
CREATE ROLE regress_priv_owner_app LOGIN;
GRANT USAGE, CREATE ON SCHEMA regress_priv TO regress_priv_owner_app;
SET ROLE regress_priv_owner_app;
CREATE TABLE app_log (id bigint GENERATED ALWAYS AS IDENTITY, note text);
SELECT audit_guard.protect('app_log');
RESET ROLE;
SELECT audit_guard.assert_append_only('app_log', 'regress_priv_owner_app');
SELECT * FROM matrix('app_log');
-- the same mistake on the recipe's table: the migration role as runtime
SELECT audit_guard.assert_append_only('audit_log', 'regress_priv_migrator');

-- a superuser as the runtime role
CREATE ROLE regress_priv_super SUPERUSER LOGIN;
SELECT audit_guard.assert_append_only('audit_log', 'regress_priv_super');
-- and a role that can SET ROLE to it
CREATE ROLE regress_priv_sudo LOGIN;
GRANT regress_priv_super TO regress_priv_sudo;
SELECT * FROM matrix('audit_log') WHERE privilege = 'SUPERUSER';
DROP ROLE regress_priv_sudo, regress_priv_super;

-- incident: the application granted UPDATE directly
SET ROLE regress_priv_migrator;
GRANT UPDATE ON audit_log TO regress_priv_app;
RESET ROLE;
SELECT audit_guard.assert_append_only('audit_log', 'regress_priv_app');
SELECT * FROM matrix('audit_log') WHERE role_name = 'regress_priv_app';
SET ROLE regress_priv_migrator;
REVOKE UPDATE ON audit_log FROM regress_priv_app;
RESET ROLE;

-- UPDATE and DELETE through two levels of membership
CREATE ROLE regress_priv_writer NOLOGIN;
CREATE ROLE regress_priv_team NOLOGIN;
SET ROLE regress_priv_migrator;
GRANT UPDATE, DELETE ON audit_log TO regress_priv_writer;
RESET ROLE;
GRANT regress_priv_writer TO regress_priv_team;
GRANT regress_priv_team TO regress_priv_app;
SELECT audit_guard.assert_append_only('audit_log', 'regress_priv_app');
SELECT * FROM matrix('audit_log');
REVOKE regress_priv_team FROM regress_priv_app;
-- a NOINHERIT member does not inherit the grant, but can SET ROLE to it
CREATE ROLE regress_priv_noinherit LOGIN NOINHERIT;
GRANT regress_priv_team TO regress_priv_noinherit;
SELECT role_name, via, privilege, explanation FROM audit_guard.privileges('audit_log')
 WHERE role_name = 'regress_priv_noinherit';
DROP ROLE regress_priv_noinherit;

-- DELETE granted to PUBLIC
SET ROLE regress_priv_migrator;
GRANT DELETE ON audit_log TO PUBLIC;
RESET ROLE;
SELECT audit_guard.assert_append_only('audit_log', 'regress_priv_app');
SELECT * FROM matrix('audit_log') WHERE role_name = 'PUBLIC';
SET ROLE regress_priv_migrator;
REVOKE DELETE ON audit_log FROM PUBLIC;
RESET ROLE;

-- TRUNCATE granted to the application
SET ROLE regress_priv_migrator;
GRANT TRUNCATE ON audit_log TO regress_priv_app;
RESET ROLE;
SELECT audit_guard.assert_append_only('audit_log', 'regress_priv_app');
SET ROLE regress_priv_migrator;
REVOKE TRUNCATE ON audit_log FROM regress_priv_app;
RESET ROLE;

-- the application lacks INSERT, then SELECT
SET ROLE regress_priv_migrator;
REVOKE INSERT ON audit_log FROM regress_priv_app;
RESET ROLE;
SELECT audit_guard.assert_append_only('audit_log', 'regress_priv_app');
SET ROLE regress_priv_migrator;
GRANT INSERT ON audit_log TO regress_priv_app;
REVOKE SELECT ON audit_log FROM regress_priv_app;
RESET ROLE;
SELECT audit_guard.assert_append_only('audit_log', 'regress_priv_app');
SET ROLE regress_priv_migrator;
GRANT SELECT ON audit_log TO regress_priv_app;
RESET ROLE;

-- incident: the application is a member of the owner
GRANT regress_priv_migrator TO regress_priv_app;
SELECT audit_guard.assert_append_only('audit_log', 'regress_priv_app');
SELECT * FROM matrix('audit_log') WHERE role_name = 'regress_priv_app';
REVOKE regress_priv_migrator FROM regress_priv_app;

-- TRIGGER and column UPDATE fail the assertion; REFERENCES, BYPASSRLS and
-- membership in pg_write_all_data are reported at their own risk levels
CREATE ROLE regress_priv_bypass LOGIN BYPASSRLS;
CREATE ROLE regress_priv_bulk LOGIN;
GRANT pg_write_all_data TO regress_priv_bulk;
SET ROLE regress_priv_migrator;
GRANT TRIGGER, REFERENCES ON audit_log TO regress_priv_app;
GRANT UPDATE (payload, actor) ON audit_log TO regress_priv_app;
RESET ROLE;
SELECT * FROM matrix('audit_log');
SELECT role_name, privilege, explanation FROM audit_guard.privileges('audit_log')
 WHERE role_name IN ('regress_priv_app', 'regress_priv_bulk') ORDER BY 1, 2;
SELECT audit_guard.assert_append_only('audit_log', 'regress_priv_app');
SET ROLE regress_priv_migrator;
REVOKE TRIGGER, UPDATE (payload, actor) ON audit_log FROM regress_priv_app;
RESET ROLE;
-- REFERENCES alone is a medium finding: the assertion passes
SELECT audit_guard.assert_append_only('audit_log', 'regress_priv_app');
SET ROLE regress_priv_migrator;
REVOKE REFERENCES ON audit_log FROM regress_priv_app;
RESET ROLE;
DROP ROLE regress_priv_bypass, regress_priv_bulk;

-- the designated owner switches the row trigger to ENABLE (origin)
SET ROLE regress_priv_migrator;
ALTER TABLE audit_log ENABLE TRIGGER audit_guard_append_only;
RESET ROLE;
SELECT * FROM audit_guard.check('audit_log');
SELECT audit_guard.assert_append_only('audit_log', 'regress_priv_app');
SELECT audit_guard.tap_guard_is_intact('audit_log');
SET ROLE regress_priv_migrator;
ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_guard_append_only;
RESET ROLE;
SELECT audit_guard.assert_append_only('audit_log', 'regress_priv_app');

-- a table audit_guard does not protect
CREATE TABLE plain_log (id int, note text);
GRANT SELECT, INSERT ON plain_log TO regress_priv_app;
SELECT audit_guard.assert_append_only('plain_log', 'regress_priv_app');
SELECT * FROM audit_guard.check('plain_log');

-- a partitioned table: every partition is registered
CREATE TABLE events (id int, at date NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE events_2024 PARTITION OF events
	FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
ALTER TABLE events OWNER TO regress_priv_migrator;
ALTER TABLE events_2024 OWNER TO regress_priv_migrator;
SET ROLE regress_priv_migrator;
SELECT audit_guard.protect('events');
CREATE TABLE events_2025 PARTITION OF events
	FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
RESET ROLE;
SELECT * FROM audit_guard.check('events');
SELECT table_name, check_name, status FROM audit_guard.check()
 WHERE table_name::text LIKE 'events%';

-- bad input
SELECT audit_guard.assert_append_only(NULL, 'regress_priv_app');
SELECT audit_guard.assert_append_only('audit_log', NULL);

-- pgTAP helpers, with no pgTAP installed here: plain TAP lines
SELECT audit_guard.tap_is_append_only('audit_log', 'regress_priv_app');
SELECT audit_guard.tap_is_append_only('audit_log', 'regress_priv_migrator',
									  'the migration role is no runtime role');
SELECT audit_guard.tap_guard_is_intact('audit_log');

-- clean up: each table unprotected by its designated owner
SET ROLE regress_priv_migrator;
SELECT audit_guard.unprotect('audit_log');
SELECT audit_guard.unprotect('events');
SET ROLE regress_priv_owner_app;
SELECT audit_guard.unprotect('app_log');
RESET ROLE;
RESET search_path;
DROP SCHEMA regress_priv CASCADE;
DROP ROLE regress_priv_migrator, regress_priv_app, regress_priv_auditor,
	regress_priv_owner_app, regress_priv_writer, regress_priv_team;
