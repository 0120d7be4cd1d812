-- pgTAP (issue 11, found by a red-team pass): purge() and redact() must
-- not run the table's own triggers as a superuser.
--
-- Their DELETE ran as the extension's owner (the bootstrap superuser).  A
-- BEFORE DELETE row trigger of the audit table stays allowed to whoever
-- owns the table (the application, often), and PostgreSQL runs a SECURITY
-- INVOKER trigger function as the current user: the application role
-- planted a trigger, and the designated owner's purge() ran it as a
-- superuser.  The DELETE now runs as the table's owner, in a restricted
-- operation: the trigger runs with the rights of a role that could write
-- it, and the application role stays what it was.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(6);

CREATE ROLE regress_rtpt_app;			-- owns the table, as applications often do
CREATE ROLE regress_rtpt_owner;			-- the designated owner
CREATE SCHEMA regress_rtpt AUTHORIZATION regress_rtpt_app;
GRANT USAGE ON SCHEMA regress_rtpt TO regress_rtpt_owner;

SET ROLE regress_rtpt_app;
CREATE TABLE regress_rtpt.log (id bigint PRIMARY KEY, at timestamptz NOT NULL, note text);
INSERT INTO regress_rtpt.log VALUES (1, '2001-01-01', 'expired'), (2, '2002-01-01', 'expired'),
	(3, now(), 'young');
CREATE TABLE regress_rtpt.seen (who name, super bool);
GRANT INSERT ON regress_rtpt.seen TO PUBLIC;
-- the application's trigger: note who runs it, and try to become superuser
CREATE FUNCTION regress_rtpt.spy() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO regress_rtpt.seen
		SELECT current_user, rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user;
	BEGIN
		EXECUTE 'ALTER ROLE regress_rtpt_app SUPERUSER';
	EXCEPTION WHEN insufficient_privilege THEN
		NULL;
	END;
	RETURN OLD;
END
$$;
RESET ROLE;
SELECT audit_guard.protect('regress_rtpt.log', owner => 'regress_rtpt_owner');
SET ROLE regress_rtpt_app;
SELECT lives_ok($$CREATE TRIGGER spy BEFORE DELETE ON regress_rtpt.log
				  FOR EACH ROW EXECUTE FUNCTION regress_rtpt.spy()$$,
				'the table owner may add a BEFORE DELETE trigger to its protected table');

SET ROLE regress_rtpt_owner;
SELECT audit_guard.set_retention('regress_rtpt.log', '30 days', 'at');
SELECT is(audit_guard.purge('regress_rtpt.log'), 2::bigint, 'purge() deletes the two expired rows');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM regress_rtpt.seen WHERE super), 0,
		  'the table''s trigger never ran as a superuser during purge()');
SELECT is((SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_rtpt_app'), false,
		  'the application role is not a superuser after purge()');

SET ROLE regress_rtpt_owner;
SELECT lives_ok($$SELECT audit_guard.redact('regress_rtpt.log', '3', 'erasure request 1')$$,
				'redact() deletes the young row');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM regress_rtpt.seen WHERE super), 0,
		  'the table''s trigger never ran as a superuser during redact()');

SELECT * FROM finish();
ROLLBACK;
