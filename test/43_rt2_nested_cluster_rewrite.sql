-- pgTAP (issue 11, found by a second red-team pass): a CLUSTER nested in
-- an ALTER TABLE that rewrites a table with a retention must not approve
-- the rewrite.
--
-- Only VACUUM FULL and CLUSTER may give a protected table new storage.
-- The check at the end of a nested CLUSTER compares every relation
-- invalidated so far, not only the one it clustered: a rewrite the
-- enclosing statement already made was judged "rewriting the table",
-- allowed, and marked checked.  Now a rewrite is allowed only while every
-- utility statement running is VACUUM FULL or CLUSTER (utility.c,
-- audit_guard_storage_rewrite_running()): both rewrites are refused.
--
-- The CLUSTER runs after the protected table's new heap is swapped in:
-- ALTER TABLE ... ALTER COLUMN ... TYPE recurses into an inheritance child
-- (outside the retention, unprotected), rewritten after its parent, whose
-- USING expression calls a function that runs CLUSTER on a scratch table.
-- No superuser is needed: the designated owner owns the table.
--
-- (1) The rows of the retention's table are rewritten (a column forged).
-- (2) With a superuser's ddl_command_start event trigger that renames the
--     protected table into the name the ALTER gave after the early name
--     check (the designated owner alone can get the same with a second
--     session holding the lock), the time column is rewritten to the same
--     type USING at - 10 years: no type change for the post-statement
--     check to see, and purge() then deletes the young row.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(6);

CREATE ROLE regress_rt2nc_owner;
CREATE SCHEMA regress_rt2nc AUTHORIZATION regress_rt2nc_owner;
SET ROLE regress_rt2nc_owner;
CREATE TABLE regress_rt2nc.log (id int PRIMARY KEY, at timestamptz NOT NULL, note text);
INSERT INTO regress_rt2nc.log VALUES (1, '2001-01-01', 'old'), (2, now(), 'young');
RESET ROLE;
SELECT audit_guard.protect('regress_rt2nc.log');
SET ROLE regress_rt2nc_owner;
SELECT audit_guard.set_retention('regress_rt2nc.log', '30 days', 'at');

-- the designated owner's tools: a scratch table to CLUSTER, an
-- inheritance child of the log (not a partition: outside the retention),
-- and functions for USING that run the CLUSTER
CREATE TABLE regress_rt2nc.scratch (id int PRIMARY KEY);
CREATE TABLE regress_rt2nc.kid () INHERITS (regress_rt2nc.log);
INSERT INTO regress_rt2nc.kid VALUES (99, now(), 'kid');
CREATE TABLE regress_rt2nc.decoy (id int, at timestamptz NOT NULL, note text);
CREATE FUNCTION regress_rt2nc.forge(t text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	CLUSTER regress_rt2nc.scratch USING scratch_pkey;
	RETURN 'forged';
END
$$;
CREATE FUNCTION regress_rt2nc.age_it(t timestamptz) RETURNS timestamptz LANGUAGE plpgsql AS $$
BEGIN
	CLUSTER regress_rt2nc.scratch USING scratch_pkey;
	RETURN t - interval '10 years';
END
$$;

SELECT throws_ok($$ALTER TABLE regress_rt2nc.log ALTER COLUMN note TYPE text USING 'forged'$$,
				 '23000', NULL,
				 'control: the designated owner''s rewrite of the rows is refused (23000)');
SELECT throws_ok($$ALTER TABLE regress_rt2nc.log ALTER COLUMN note TYPE text
					 USING regress_rt2nc.forge(note)$$,
				 '23000', NULL,
				 'the same rewrite with a CLUSTER nested after the swap is refused too (23000)');
SELECT is((SELECT string_agg(note, ',' ORDER BY id) FROM ONLY regress_rt2nc.log),
		  'old,young', 'the rows are as written');

-- (2) a superuser's event trigger renames the log into the name the ALTER
-- gave, after the utility hook looked that name up
RESET ROLE;
CREATE FUNCTION regress_rt2nc.swap_names() RETURNS event_trigger LANGUAGE plpgsql AS $$
BEGIN
	IF current_setting('regress_rt2nc.swap', true) = 'on' THEN
		PERFORM set_config('regress_rt2nc.swap', 'off', true);
		ALTER TABLE regress_rt2nc.decoy RENAME TO decoy_old;
		ALTER TABLE regress_rt2nc.log RENAME TO decoy;
	END IF;
END
$$;
CREATE EVENT TRIGGER regress_rt2nc_swap ON ddl_command_start WHEN TAG IN ('ALTER TABLE')
	EXECUTE FUNCTION regress_rt2nc.swap_names();
-- the designated owner's whole sequence: age the time column, put the
-- names back, purge
CREATE FUNCTION regress_rt2nc.age_and_purge() RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
	PERFORM set_config('regress_rt2nc.swap', 'on', true);
	ALTER TABLE regress_rt2nc.decoy ALTER COLUMN at TYPE timestamptz
		USING regress_rt2nc.age_it(at);
	ALTER TABLE regress_rt2nc.decoy RENAME TO log;
	ALTER TABLE regress_rt2nc.decoy_old RENAME TO decoy;
	RETURN audit_guard.purge('regress_rt2nc.log');
END
$$;
SET ROLE regress_rt2nc_owner;
SELECT throws_ok($$ALTER TABLE regress_rt2nc.log ALTER COLUMN at TYPE timestamptz
					 USING regress_rt2nc.age_it(at)$$,
				 '23000', NULL,
				 'control: rewriting the time column by its name is refused (23000)');
SELECT throws_ok($$SELECT regress_rt2nc.age_and_purge()$$, '23000', NULL,
				 'rewriting the time column through the renamed table, with a CLUSTER nested, is refused (23000)');
RESET ROLE;
DROP EVENT TRIGGER regress_rt2nc_swap;
SELECT is((SELECT count(*)::int FROM ONLY regress_rt2nc.log WHERE at > now() - interval '30 days'),
		  1, 'the young row is still there, with its time');

SELECT * FROM finish();
ROLLBACK;
