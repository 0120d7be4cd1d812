-- pgTAP, issue 8 class 1: names resolved twice.  The utility hook looked a
-- table up by name without a lock; PostgreSQL resolves the name again
-- later.  A ddl_command_start event trigger runs between the two: here it
-- renames the unprotected decoy away and the protected audit table to the
-- decoy's name (as the designated owner, through a SECURITY DEFINER
-- function: after the fix only the designated owner may rename a protected
-- table), so a statement that names "decoy" acts on the audit table.  The
-- decision must be taken on the relation PostgreSQL acts on: each statement
-- is refused (42501) for the table owner and for a superuser who is not the
-- designated owner, everything stays as it was, and the application's later
-- INSERT lands.  The two-session form (a lock instead of an event trigger)
-- is test/cluster/40_issue8_names_twice.sh.
--
-- Also here: a replaced or new guard trigger must be the whole guard (its
-- events, no WHEN clause, no column list, ENABLE ALWAYS), for the
-- designated owner too.
BEGIN;
SELECT plan(202);
\ir issue8/fixture.sql

/*
 * The swap, once per statement that sets regress_i8.swap: run by the
 * designated owner, who may rename the protected table.
 */
CREATE FUNCTION regress_i8.swap_names() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $f$
BEGIN
	IF current_setting('regress_i8.swap', true) = 'on' THEN
		PERFORM set_config('regress_i8.swap', 'off', true);
		ALTER TABLE regress_i8.decoy RENAME TO decoy_away;
		ALTER TABLE regress_i8.audit_log RENAME TO decoy;
	END IF;
END
$f$;
ALTER FUNCTION regress_i8.swap_names() OWNER TO regress_i8_auditowner;
CREATE EVENT TRIGGER regress_i8_swap ON ddl_command_start
	EXECUTE FUNCTION regress_i8.swap_names();

-- statements on "decoy" that would forge or silence the audit table
CREATE FUNCTION regress_i8.decoy_statements(new_owner text) RETURNS text[] LANGUAGE sql IMMUTABLE AS $f$
	SELECT ARRAY[
		$$ALTER TABLE regress_i8.decoy ALTER COLUMN action TYPE text USING 'forged'$$,
		$$CREATE RULE swallow AS ON INSERT TO regress_i8.decoy DO INSTEAD NOTHING$$,
		$$ALTER TABLE regress_i8.decoy SET UNLOGGED$$,
		format('ALTER TABLE regress_i8.decoy OWNER TO %I', new_owner),
		$$ALTER TABLE regress_i8.decoy INHERIT regress_i8.plain_parent$$,
		$$ALTER TABLE regress_i8.decoy DISABLE RULE log_notify$$,
		$$ALTER TABLE regress_i8.decoy ENABLE REPLICA RULE log_notify$$,
		$$CREATE OR REPLACE TRIGGER audit_guard_append_only BEFORE UPDATE OR DELETE ON regress_i8.decoy
		  FOR EACH ROW WHEN (false) EXECUTE FUNCTION audit_guard.reject_change()$$,
		$$ALTER TABLE regress_i8.decoy DISABLE TRIGGER ALL$$,
		$$CREATE TRIGGER swallow BEFORE INSERT ON regress_i8.decoy
		  FOR EACH ROW EXECUTE FUNCTION regress_i8.return_null()$$,
		$$ALTER TABLE regress_i8.decoy ALTER COLUMN created_at SET DEFAULT '2001-09-09'$$,
		$$ALTER TABLE regress_i8.decoy RENAME COLUMN action TO action_orig$$,
		$$ALTER TABLE regress_i8.decoy ADD COLUMN forged text DEFAULT random()::text$$,
		$$ALTER TABLE regress_i8.decoy DROP COLUMN note$$
	]
$f$;

-- each statement, preceded by arming the swap
CREATE FUNCTION regress_i8.swapped(stmts text[]) RETURNS text[] LANGUAGE sql IMMUTABLE AS $f$
	SELECT array_agg($$SELECT set_config('regress_i8.swap', 'on', true); $$ || s ORDER BY n)
	  FROM unnest(stmts) WITH ORDINALITY u(s, n)
$f$;

-- legitimate neighbour: without the swap, each statement works on the
-- unprotected decoy (which also shows that every statement is valid)
SET LOCAL ROLE regress_i8_tblowner;
SELECT * FROM regress_i8.allowed_all('table owner, no swap',
	regress_i8.decoy_statements('regress_i8_accomplice'));
RESET ROLE;

-- the event-trigger form
SET LOCAL ROLE regress_i8_tblowner;
SELECT * FROM regress_i8.refused_all('table owner, names swapped by an event trigger',
	regress_i8.swapped(regress_i8.decoy_statements('regress_i8_accomplice')), '42501');
RESET ROLE;
SELECT * FROM regress_i8.refused_all('superuser, names swapped by an event trigger',
	regress_i8.swapped(regress_i8.decoy_statements('regress_i8_app')), '42501');

-- legitimate neighbour: the designated owner renames the protected table
SET LOCAL ROLE regress_i8_auditowner;
SELECT * FROM regress_i8.allowed('designated owner',
	$$ALTER TABLE regress_i8.audit_log RENAME TO audit_trail;
	  ALTER TABLE regress_i8.audit_trail RENAME TO audit_log$$);
RESET ROLE;
SELECT is(regress_i8.state(), :'i8_before'::text[], 'class 1: everything as before after every attack');

------------------------------------------------------------------------------
-- a replaced or new guard trigger must be the whole guard
------------------------------------------------------------------------------
CREATE FUNCTION regress_i8.partial_guards() RETURNS text[] LANGUAGE sql IMMUTABLE AS $f$
	SELECT ARRAY[
		$$CREATE OR REPLACE TRIGGER audit_guard_append_only BEFORE UPDATE OR DELETE ON regress_i8.audit_log
		  FOR EACH ROW WHEN (false) EXECUTE FUNCTION audit_guard.reject_change()$$,
		$$CREATE OR REPLACE TRIGGER audit_guard_append_only BEFORE UPDATE OR DELETE ON regress_i8.audit_log
		  FOR EACH ROW WHEN (OLD.actor = 'nobody') EXECUTE FUNCTION audit_guard.reject_change()$$,
		$$CREATE OR REPLACE TRIGGER audit_guard_append_only BEFORE UPDATE OF actor OR DELETE ON regress_i8.audit_log
		  FOR EACH ROW EXECUTE FUNCTION audit_guard.reject_change()$$,
		$$CREATE OR REPLACE TRIGGER audit_guard_append_only BEFORE DELETE ON regress_i8.audit_log
		  FOR EACH ROW EXECUTE FUNCTION audit_guard.reject_change()$$,
		$$CREATE OR REPLACE TRIGGER audit_guard_append_only AFTER UPDATE OR DELETE ON regress_i8.audit_log
		  FOR EACH ROW EXECUTE FUNCTION audit_guard.reject_change()$$,
		$$CREATE OR REPLACE TRIGGER audit_guard_no_truncate AFTER TRUNCATE ON regress_i8.audit_log
		  FOR EACH STATEMENT EXECUTE FUNCTION audit_guard.reject_change()$$,
		$$CREATE OR REPLACE TRIGGER audit_guard_append_only BEFORE UPDATE OR DELETE ON regress_i8.events
		  FOR EACH ROW WHEN (false) EXECUTE FUNCTION audit_guard.reject_change()$$,
		-- dropped (allowed to the designated owner) and created again, partial
		$$DROP TRIGGER audit_guard_append_only ON regress_i8.audit_log;
		  CREATE TRIGGER audit_guard_append_only BEFORE UPDATE OR DELETE ON regress_i8.audit_log
		  FOR EACH ROW WHEN (false) EXECUTE FUNCTION audit_guard.reject_change()$$,
		$$DROP TRIGGER audit_guard_append_only ON regress_i8.audit_log;
		  CREATE TRIGGER audit_guard_append_only BEFORE DELETE ON regress_i8.audit_log
		  FOR EACH ROW EXECUTE FUNCTION audit_guard.reject_change()$$
	]
$f$;

SET LOCAL ROLE regress_i8_tblowner;
SELECT * FROM regress_i8.refused_all('table owner', regress_i8.partial_guards(), '42501');
RESET ROLE;
SELECT * FROM regress_i8.refused_all('superuser', regress_i8.partial_guards(), '42501');
SET LOCAL ROLE regress_i8_auditowner;
SELECT * FROM regress_i8.refused_all('designated owner', regress_i8.partial_guards(), '42501|55000');
RESET ROLE;

/*
 * The whole guard, replaced by the designated owner: either refused, or
 * accepted and still the whole guard, ENABLE ALWAYS (CREATE OR REPLACE
 * TRIGGER resets a trigger to ENABLE ORIGIN).  Two results.
 */
CREATE FUNCTION regress_i8.whole_or_refused(who text, stmt text, trigger_state text) RETURNS SETOF text
LANGUAGE plpgsql AS $f$
DECLARE
	before text[] := regress_i8.state();
	r record;
	label text := regress_i8.label(stmt);
	whole boolean;
BEGIN
	r := regress_i8.attempt(stmt);
	whole := array_to_string(r.after, ' ') LIKE '%' || trigger_state || '%';
	RETURN NEXT ok(r.got IN ('42501', '55000') OR (r.got = 'ok' AND whole),
				   format('%s: %s is refused or leaves the whole guard, ENABLE ALWAYS', who, label));
	RETURN NEXT diag(format('    got %s%s; guard %s', r.got, coalesce(': ' || r.msg, ''),
							CASE WHEN whole THEN 'whole' ELSE 'not whole' END));
	IF r.got <> 'ok' THEN
		RETURN NEXT ok(r.after = before, format('%s: %s leaves everything unchanged', who, label));
		IF r.after IS DISTINCT FROM before THEN
			RETURN QUERY SELECT * FROM regress_i8.differences(before, r.after);
		END IF;
	ELSE
		RETURN NEXT ok(r.probe = '', format('%s: after %s the application''s INSERT lands', who, label));
	END IF;
END
$f$;

SELECT format('audit_guard_append_only=A/%s/27/false/', 'audit_guard.reject_change'::regproc::oid) AS row_guard,
	   format('audit_guard_no_truncate=A/%s/34/false/', 'audit_guard.reject_change'::regproc::oid) AS truncate_guard \gset
SET LOCAL ROLE regress_i8_auditowner;
SELECT * FROM regress_i8.whole_or_refused('designated owner',
	$$CREATE OR REPLACE TRIGGER audit_guard_append_only BEFORE UPDATE OR DELETE ON regress_i8.audit_log
	  FOR EACH ROW EXECUTE FUNCTION audit_guard.reject_change()$$, :'row_guard');
SELECT * FROM regress_i8.whole_or_refused('designated owner',
	$$CREATE OR REPLACE TRIGGER audit_guard_no_truncate BEFORE TRUNCATE ON regress_i8.audit_log
	  FOR EACH STATEMENT EXECUTE FUNCTION audit_guard.reject_change()$$, :'truncate_guard');
SELECT * FROM regress_i8.whole_or_refused('designated owner',
	$$DROP TRIGGER audit_guard_append_only ON regress_i8.audit_log;
	  CREATE TRIGGER audit_guard_append_only BEFORE UPDATE OR DELETE ON regress_i8.audit_log
	  FOR EACH ROW EXECUTE FUNCTION audit_guard.reject_change()$$, :'row_guard');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
