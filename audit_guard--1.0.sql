/* audit_guard--1.0.sql: registry, API and guard trigger functions */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION audit_guard" to load this file. \quit

-- everyone may read the registry and call the API; the functions check callers
GRANT USAGE ON SCHEMA audit_guard TO PUBLIC;

/*
 * The registry: one row per protected table.  Written only by protect(),
 * unprotect() and the partition bookkeeping of the utility hook; the
 * executor hook refuses UPDATE and DELETE here from anywhere else, for
 * every role.  INSERT stays possible so that pg_restore can load it.
 * Partitions of a protected partitioned table have rows of their own.
 */
CREATE TABLE audit_guard.registry (
	relid				regclass	PRIMARY KEY,
	designated_owner	regrole		NOT NULL,
	protected_at		timestamptz	NOT NULL DEFAULT now(),
	protected_by		name		NOT NULL DEFAULT current_user
);

/*
 * Who protected and unprotected what, and when.  Append-only: the executor
 * hook refuses UPDATE and DELETE on it for every role.
 */
CREATE TABLE audit_guard.history (
	at					timestamptz	NOT NULL DEFAULT clock_timestamp(),
	action				text		NOT NULL
		CHECK (action IN ('protect', 'unprotect', 'drop', 'partition')),
	relid				oid			NOT NULL,
	table_name			text		NOT NULL,
	designated_owner	name		NOT NULL,
	performed_by		name		NOT NULL DEFAULT current_user
);

-- dump the rows with the extension, so that a restore keeps protection
SELECT pg_catalog.pg_extension_config_dump('audit_guard.registry', '');
SELECT pg_catalog.pg_extension_config_dump('audit_guard.history', '');

REVOKE ALL ON audit_guard.registry FROM PUBLIC;
REVOKE ALL ON audit_guard.history FROM PUBLIC;
GRANT SELECT ON audit_guard.registry TO PUBLIC;
GRANT SELECT ON audit_guard.history TO PUBLIC;

/* The registry as users read it: readable by everyone. */
CREATE VIEW audit_guard.protected_tables AS
	SELECT r.relid AS table_name,
		   r.designated_owner,
		   r.protected_at,
		   r.protected_by,
		   (SELECT i.inhparent::regclass
			  FROM pg_catalog.pg_inherits i
			  JOIN audit_guard.registry p ON p.relid = i.inhparent
			 WHERE i.inhrelid = r.relid) AS protected_through
	  FROM audit_guard.registry r;
GRANT SELECT ON audit_guard.protected_tables TO PUBLIC;

/*
 * The guard trigger function: BEFORE UPDATE OR DELETE FOR EACH ROW and
 * BEFORE TRUNCATE FOR EACH STATEMENT, both ENABLE ALWAYS.
 */
CREATE FUNCTION audit_guard.reject_change()
RETURNS trigger
AS 'MODULE_PATHNAME', 'audit_guard_reject_change'
LANGUAGE C;

/* Statement trigger on the registry: tells every backend to reload it. */
CREATE FUNCTION audit_guard.registry_changed()
RETURNS trigger
AS 'MODULE_PATHNAME', 'audit_guard_registry_changed'
LANGUAGE C;

CREATE TRIGGER registry_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON audit_guard.registry
	FOR EACH STATEMENT EXECUTE FUNCTION audit_guard.registry_changed();
ALTER TABLE audit_guard.registry ENABLE ALWAYS TRIGGER registry_changed;

/*
 * protect(tbl, owner): make tbl append-only.  Not STRICT, so that a NULL
 * table gets an error rather than a silent NULL; a NULL owner means the
 * table's owner (or, when already protected, the current designated owner).
 * The function checks its caller itself: the table's owner or a superuser.
 */
CREATE FUNCTION audit_guard.protect(tbl regclass, owner regrole DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'audit_guard_protect'
LANGUAGE C VOLATILE;

/* unprotect(tbl): remove the guard; the designated owner only. */
CREATE FUNCTION audit_guard.unprotect(tbl regclass)
RETURNS void
AS 'MODULE_PATHNAME', 'audit_guard_unprotect'
LANGUAGE C VOLATILE;

/* True when this backend runs with audit_guard's hooks installed. */
CREATE FUNCTION audit_guard.hooks_active()
RETURNS boolean
AS 'MODULE_PATHNAME', 'audit_guard_hooks_active'
LANGUAGE C STABLE;

-- the trigger functions are only meaningful as triggers
REVOKE ALL ON FUNCTION audit_guard.registry_changed() FROM PUBLIC;
