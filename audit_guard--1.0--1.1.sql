/* audit_guard--1.0--1.1.sql: everything added after the 1.0 release */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "ALTER EXTENSION audit_guard UPDATE TO '1.1'" to load this file. \quit

/*
 * 1.0 is released and never edited: a new database gets 1.1 by running
 * audit_guard--1.0.sql and then this script, an existing one by ALTER
 * EXTENSION audit_guard UPDATE.  Each part below keeps to its own section.
 */

/* ---- Guard hardening (issue 8) ---- */

/*
 * audit_guard's own tables need a guard where no hook runs: the logical
 * replication apply worker fires only ENABLE ALWAYS (and REPLICA) triggers.
 * own_table_guard() refuses every write by a subscription and every
 * TRUNCATE; ordinary backends are judged by the executor hook first.
 */
CREATE FUNCTION audit_guard.own_table_guard()
RETURNS trigger
AS 'MODULE_PATHNAME', 'audit_guard_own_table_guard'
LANGUAGE C;
REVOKE ALL ON FUNCTION audit_guard.own_table_guard() FROM PUBLIC;

CREATE TRIGGER own_table_guard
	BEFORE INSERT OR UPDATE OR DELETE ON audit_guard.registry
	FOR EACH ROW EXECUTE FUNCTION audit_guard.own_table_guard();
CREATE TRIGGER own_table_no_truncate
	BEFORE TRUNCATE ON audit_guard.registry
	FOR EACH STATEMENT EXECUTE FUNCTION audit_guard.own_table_guard();
CREATE TRIGGER own_table_guard
	BEFORE INSERT OR UPDATE OR DELETE ON audit_guard.history
	FOR EACH ROW EXECUTE FUNCTION audit_guard.own_table_guard();
CREATE TRIGGER own_table_no_truncate
	BEFORE TRUNCATE ON audit_guard.history
	FOR EACH STATEMENT EXECUTE FUNCTION audit_guard.own_table_guard();
ALTER TABLE audit_guard.registry ENABLE ALWAYS TRIGGER own_table_guard;
ALTER TABLE audit_guard.registry ENABLE ALWAYS TRIGGER own_table_no_truncate;
ALTER TABLE audit_guard.history ENABLE ALWAYS TRIGGER own_table_guard;
ALTER TABLE audit_guard.history ENABLE ALWAYS TRIGGER own_table_no_truncate;

/*
 * The pgTAP helpers call pgTAP through the schema its extension lives in,
 * never through the caller's search_path: a planted public.ok() must not
 * decide a test, nor run with the rights of the CI job that called it.
 * pgTAP's own functions find each other through search_path, so it is set
 * to pgTAP's schema for the call (the function's SET clause restores it).
 * Without the pgtap extension the line is written here, unnumbered.
 */
CREATE OR REPLACE FUNCTION audit_guard.tap_result(problems text[], description text)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	passed		boolean := coalesce(pg_catalog.cardinality(problems), 0) = 0;
	tap_schema	name;
	diagnostics	text := pg_catalog.array_to_string(problems, E'\n');
	result		text;
BEGIN
	SELECT n.nspname INTO tap_schema
	  FROM pg_catalog.pg_extension e
	  JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
	 WHERE e.extname = 'pgtap';

	IF tap_schema IS NOT NULL THEN
		PERFORM pg_catalog.set_config('search_path',
			pg_catalog.format('%I, pg_catalog, pg_temp', tap_schema), true);
		EXECUTE pg_catalog.format('SELECT %I.ok($1, $2)', tap_schema)
			INTO result USING passed, description;
		IF NOT passed THEN
			EXECUTE pg_catalog.format('SELECT %I.diag($1)', tap_schema)
				INTO diagnostics USING diagnostics;
			result := result || E'\n' || diagnostics;
		END IF;
		RETURN result;
	END IF;

	result := CASE WHEN passed THEN 'ok' ELSE 'not ok' END
		|| coalesce(' - ' || description, '');
	IF NOT passed THEN
		result := result || E'\n# ' || pg_catalog.replace(diagnostics, E'\n', E'\n# ');
	END IF;
	RETURN result;
END
$$;

-- the wrappers resolve nothing through the caller's search_path either
ALTER FUNCTION audit_guard.tap_is_append_only(regclass, regrole, text)
	SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION audit_guard.tap_guard_is_intact(regclass, text)
	SET search_path = pg_catalog, pg_temp;

/* ---- Tamper evidence: seal, verify, digest (issue 9) ---- */

/* ---- Deployments: restores, partitions, roles (issue 10) ---- */

/* ---- Retention, purge, redaction (issue 11) ---- */
