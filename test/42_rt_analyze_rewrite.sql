-- pgTAP (issue 11, found by a red-team pass): a rewrite of young rows,
-- nested in ANALYZE.
--
-- postcheck.c let any relation's storage change while a VACUUM or CLUSTER
-- statement ran (for every relation, not only the ones it rewrites), and
-- every VacuumStmt counted, plain ANALYZE included, which runs inside a
-- transaction block.  ANALYZE evaluates the expression indexes of the
-- table it analyzes: an IMMUTABLE PL/pgSQL function there may call a
-- VOLATILE one, which runs ALTER TABLE ... ALTER COLUMN ... TYPE ... USING
-- on the audit table.  Now only VACUUM FULL and CLUSTER count, and not for
-- the statements nested in them: the rewrite is refused, 23000.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(3);

CREATE ROLE regress_rtan_owner;
CREATE SCHEMA regress_rtan AUTHORIZATION regress_rtan_owner;
SET ROLE regress_rtan_owner;
CREATE TABLE regress_rtan.log (id int PRIMARY KEY DEFAULT 1, at timestamptz NOT NULL, note text);
INSERT INTO regress_rtan.log (at, note) VALUES (now(), $$written$$);
RESET ROLE;
SELECT audit_guard.protect('regress_rtan.log');
SET ROLE regress_rtan_owner;
SELECT audit_guard.set_retention('regress_rtan.log', '30 days', 'at');

SELECT throws_ok($$ALTER TABLE regress_rtan.log ALTER COLUMN note TYPE text USING 'forged'$$,
				 '23000', NULL, 'a rewrite of the young rows of log is refused');

-- a table of its own, with an expression index that rewrites log
CREATE FUNCTION regress_rtan.rewrite() RETURNS int LANGUAGE plpgsql VOLATILE AS $$
BEGIN
	EXECUTE 'ALTER TABLE regress_rtan.log ALTER COLUMN note TYPE text USING ''forged''';
	RETURN 1;
END
$$;
CREATE FUNCTION regress_rtan.f(int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	IF current_setting('regress_rtan.go', true) = 'on' THEN
		PERFORM regress_rtan.rewrite();
	END IF;
	RETURN $1;
END
$$;
CREATE TABLE regress_rtan.helper (x int);
INSERT INTO regress_rtan.helper VALUES (1);
CREATE INDEX ON regress_rtan.helper (regress_rtan.f(x));
SET LOCAL regress_rtan.go = 'on';
SELECT throws_ok($$ANALYZE regress_rtan.helper$$, '23000', NULL,
				 'the same rewrite, run by an expression index during ANALYZE, is refused');
RESET regress_rtan.go;
SELECT is((SELECT array_agg(note) FROM regress_rtan.log), '{written}'::text[],
		  'the rows of log are as written');

RESET ROLE;
SELECT * FROM finish();
ROLLBACK;
