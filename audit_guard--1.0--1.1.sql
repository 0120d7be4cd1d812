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

/*
 * Seal protected tables into hash chains, verify them, and hand out a
 * digest to keep elsewhere.  docs/format.md specifies the format; the
 * server (src/seal.c, src/verify.c) and audit_guard_verify (client/) share
 * one implementation of it (src/seal_format.c).
 */

/*
 * history gets what sealing and accountability need: a primary key (rows
 * are named by it in the seal; existing rows are numbered in the order
 * they were stored), the statement that made each change, and one more
 * action, 'override': a statement the guard refuses to everyone but the
 * designated owner, run by the designated owner, with the operation that
 * made it one.
 */
ALTER TABLE audit_guard.history
	ADD COLUMN statement text,
	ADD COLUMN operation text,
	ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY;
ALTER TABLE audit_guard.history ADD CONSTRAINT history_pkey PRIMARY KEY (id);
ALTER TABLE audit_guard.history DROP CONSTRAINT history_action_check;
ALTER TABLE audit_guard.history ADD CONSTRAINT history_action_check
	CHECK (action IN ('protect', 'unprotect', 'drop', 'partition', 'override'));
-- a restore must go on numbering after the rows it loaded
SELECT pg_catalog.pg_extension_config_dump('audit_guard.history_id_seq', '');

/*
 * One row per sealed block: the header that its block_hash covers
 * (prev_hash, block, root, row_count, columns, key_columns), and who
 * sealed it when (not hashed).  seal_snapshot (not hashed either) is the
 * snapshot the seal took, with the cluster and database it was taken in:
 * the next seal() in the same database skips, by their inserting
 * transaction, the rows that snapshot saw (they are all sealed), instead of
 * looking every row up among the sealed keys.  Written only by seal(); the executor and
 * utility hooks refuse UPDATE, DELETE and TRUNCATE for every role.
 */
CREATE TABLE audit_guard.seal_blocks (
	relid				regclass	NOT NULL,
	block				bigint		NOT NULL,
	columns				text[]		NOT NULL,
	key_columns			text[]		NOT NULL,
	row_count			bigint		NOT NULL,
	root				bytea		NOT NULL,
	prev_hash			bytea		NOT NULL,
	block_hash			bytea		NOT NULL,
	table_name			text		NOT NULL,
	sealed_at			timestamptz	NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	sealed_by			name		NOT NULL,
	seal_snapshot		text,
	PRIMARY KEY (relid, block)
);

/*
 * The rows of each block, in chunks of up to 8192: their key encodings
 * concatenated in key order, and their 32-byte leaf hashes in the same
 * order.  Leaves do not compress; keys usually do.
 */
CREATE TABLE audit_guard.seal_rows (
	relid				regclass	NOT NULL,
	block				bigint		NOT NULL,
	chunk				integer		NOT NULL,
	row_count			integer		NOT NULL,
	keys				bytea		NOT NULL,
	leaves				bytea		NOT NULL,
	PRIMARY KEY (relid, block, chunk)
);
ALTER TABLE audit_guard.seal_rows ALTER COLUMN leaves SET STORAGE EXTERNAL;

SELECT pg_catalog.pg_extension_config_dump('audit_guard.seal_blocks', '');
SELECT pg_catalog.pg_extension_config_dump('audit_guard.seal_rows', '');

/*
 * Keys name rows, and a leaf of a short row can be guessed by hashing
 * candidates: a role sees the seal data of the tables it may read, no
 * more.  Superusers and the extension's owner are not subject to the
 * policies (pg_dump reads everything).
 */
REVOKE ALL ON audit_guard.seal_blocks, audit_guard.seal_rows FROM PUBLIC;
GRANT SELECT ON audit_guard.seal_blocks, audit_guard.seal_rows TO PUBLIC;
ALTER TABLE audit_guard.seal_blocks ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_guard.seal_rows ENABLE ROW LEVEL SECURITY;
CREATE POLICY readers ON audit_guard.seal_blocks FOR SELECT
	USING (pg_catalog.has_table_privilege(relid, 'SELECT'));
CREATE POLICY readers ON audit_guard.seal_rows FOR SELECT
	USING (pg_catalog.has_table_privilege(relid, 'SELECT'));

/*
 * Backends that were running before this script must learn the OIDs of
 * the new tables, which the guard now refuses to change: a statement on
 * the registry fires its invalidation trigger, whatever it inserts (here
 * nothing).
 */
INSERT INTO audit_guard.registry SELECT * FROM audit_guard.registry WHERE false;

/*
 * seal(tbl): one new block per table holding every committed row no
 * earlier block covered; no block when there is none.  With no argument:
 * every protected table the caller may seal, and history.  The function
 * checks its caller itself (designated owner, table owner or superuser).
 */
CREATE FUNCTION audit_guard.seal(tbl regclass DEFAULT NULL)
RETURNS TABLE (table_name regclass, block bigint, "rows" bigint, block_hash text)
AS 'MODULE_PATHNAME', 'audit_guard_seal'
LANGUAGE C VOLATILE;

/*
 * verify(tbl): one row per problem found in the sealed rows and the seal
 * data of tbl (or of every sealed table the caller may read); no rows when
 * everything is intact.
 */
CREATE FUNCTION audit_guard.verify(tbl regclass DEFAULT NULL)
RETURNS TABLE (table_name regclass, block bigint, row_key text, problem text,
			   detail text)
AS 'MODULE_PATHNAME', 'audit_guard_verify'
LANGUAGE C VOLATILE;

/*
 * verify('audit_log'): a quoted table name alone would be ambiguous between
 * verify(regclass) and verify(jsonb), so text gets an overload of its own,
 * read as a table name in the caller's search_path (which is why its own
 * is not pinned).  A digest is passed as jsonb.
 */
CREATE FUNCTION audit_guard.verify(tbl text)
RETURNS TABLE (table_name regclass, block bigint, row_key text, problem text,
			   detail text)
LANGUAGE sql VOLATILE
AS $$ SELECT * FROM audit_guard.verify(tbl::pg_catalog.regclass) $$;

/*
 * digest(): the head of every chain the caller may read, to be kept
 * outside the database.  docs/format.md describes its fields.
 */
CREATE FUNCTION audit_guard.digest()
RETURNS jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT jsonb_build_object(
		   'format', 'audit_guard digest 1',
		   'database', current_database(),
		   'system_identifier', (SELECT s.system_identifier::text
								   FROM pg_control_system() s),
		   'server_encoding', current_setting('server_encoding'),
		   'taken_at', to_char(clock_timestamp() AT TIME ZONE 'UTC',
							   'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
		   'tables', coalesce(jsonb_agg(jsonb_build_object(
								  'table', h.name,
								  'block', h.block,
								  'block_hash', encode(h.block_hash, 'hex'),
								  'rows', h.sealed_rows)
							  ORDER BY h.name), '[]'::jsonb))
  FROM (SELECT DISTINCT ON (b.relid)
			   format('%I.%I', n.nspname, c.relname) AS name,
			   b.block, b.block_hash,
			   sum(b.row_count) OVER (PARTITION BY b.relid) AS sealed_rows
		  FROM audit_guard.seal_blocks b
		  JOIN pg_class c ON c.oid = b.relid
		  JOIN pg_namespace n ON n.oid = c.relnamespace
		 ORDER BY b.relid, b.block DESC) AS h
$$;

/*
 * verify(digest): verify() of every sealed table, plus a 'digest mismatch'
 * for each table of the digest whose chain does not hold, at the digest's
 * block number, the digest's hash: a chain rewritten and re-sealed, cut
 * short, or gone.  verify() has checked that each stored block hash is the
 * hash of its block, so comparing the stored one is enough here.
 */
/*
 * A table of the digest that its designated owner dropped since (a
 * partition past retention, dropped by pg_partman): its chain ends with
 * the drop.  The digest still holds when the digest says a retention
 * applied to the table (history and the seal data can be written below
 * the guard, a digest kept outside cannot), history records the drop, and
 * the seal data kept of the dropped table has the digest's block with the
 * digest's hash.
 */
CREATE FUNCTION audit_guard.dropped_with_chain(d jsonb)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT to_regclass(d ->> 'table') IS NULL
	   AND jsonb_typeof(d -> 'retention') = 'object'
	   AND EXISTS (SELECT FROM audit_guard.history h
				    WHERE h.action = 'drop' AND h.table_name = d ->> 'table')
	   AND EXISTS (SELECT FROM audit_guard.seal_blocks b
				    WHERE b.table_name = d ->> 'table'
					  AND b.block = (d ->> 'block')::bigint
					  AND encode(b.block_hash, 'hex') = lower(d ->> 'block_hash')
					  AND NOT EXISTS (SELECT FROM pg_class c WHERE c.oid = b.relid))
$$;

CREATE FUNCTION audit_guard.verify(digest jsonb)
RETURNS TABLE (table_name regclass, block bigint, row_key text, problem text,
			   detail text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF digest IS NULL OR jsonb_typeof(digest) <> 'object'
	   OR jsonb_typeof(digest -> 'tables') IS DISTINCT FROM 'array'
	   OR EXISTS (SELECT FROM jsonb_array_elements(digest -> 'tables') d
				   WHERE jsonb_typeof(d) <> 'object'
					  OR jsonb_typeof(d -> 'table') IS DISTINCT FROM 'string'
					  OR jsonb_typeof(d -> 'block') IS DISTINCT FROM 'number'
					  OR jsonb_typeof(d -> 'block_hash') IS DISTINCT FROM 'string') THEN
		RAISE EXCEPTION 'digest is not an audit_guard digest'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'A digest is an object whose "tables" array holds objects with "table", "block" and "block_hash".',
				  HINT = 'Pass what audit_guard.digest() returned, unchanged.';
	END IF;

	RETURN QUERY SELECT * FROM audit_guard.verify(NULL::regclass);

	RETURN QUERY
		SELECT to_regclass(d ->> 'table'), (d ->> 'block')::bigint, NULL::text,
			   'digest mismatch'::text,
			   CASE
				   WHEN to_regclass(d ->> 'table') IS NULL
				   THEN format('table %s of the digest does not exist', d ->> 'table')
				   WHEN b.block IS NULL
				   THEN format('the chain has no block %s (the digest has %s at block %s; the chain ends at %s)',
							   d ->> 'block', d ->> 'block_hash', d ->> 'block',
							   coalesce((SELECT max(x.block)::text
										   FROM audit_guard.seal_blocks x
										  WHERE x.relid = to_regclass(d ->> 'table')),
										'no block'))
				   ELSE format('block %s has hash %s; the digest has %s',
							   b.block, encode(b.block_hash, 'hex'), d ->> 'block_hash')
			   END
		  FROM jsonb_array_elements(digest -> 'tables') d
		  LEFT JOIN audit_guard.seal_blocks b
			ON b.relid = to_regclass(d ->> 'table')
		   AND b.block = (d ->> 'block')::bigint
		 WHERE (b.block IS NULL
				OR encode(b.block_hash, 'hex') <> lower(d ->> 'block_hash'))
		   AND NOT audit_guard.dropped_with_chain(d)
		 ORDER BY 1, 2;
END
$$;

/* ---- Deployments: restores, partitions, roles (issue 10) ---- */

/*
 * protect() returns what it did, one line a migration log can show:
 * "protected public.audit_log; designated owner audit_owner", "... was
 * already protected ...", or the change of designated owner.  A new
 * return type needs DROP + CREATE; the argument list is the same.
 */
DROP FUNCTION audit_guard.protect(regclass, regrole);
CREATE FUNCTION audit_guard.protect(tbl regclass, owner regrole DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'audit_guard_protect'
LANGUAGE C VOLATILE;

/*
 * Ensure tbl names an existing ordinary or partitioned table, for the
 * per-table checks: an index, a sequence, a view or a composite type has
 * no rows to guard, and an OID that names nothing is said to be one.
 * function is the caller's name, for the message.
 */
CREATE FUNCTION audit_guard.require_table(tbl regclass, function text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	kind	"char";
BEGIN
	SELECT c.relkind INTO kind FROM pg_catalog.pg_class c WHERE c.oid = tbl;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'relation with OID % does not exist', tbl::oid
			USING ERRCODE = 'undefined_table',
				  DETAIL = CASE WHEN EXISTS (SELECT FROM audit_guard.registry r WHERE r.relid = tbl)
								THEN 'audit_guard.registry still has a row for it.'
								ELSE 'audit_guard.registry has no row for it either.' END,
				  HINT = pg_catalog.format('Call audit_guard.%s() on an existing table; audit_guard.check() with no argument lists every registry row.', function);
	END IF;
	IF kind NOT IN ('r', 'p') THEN
		RAISE EXCEPTION '"%" is %, not a table', tbl,
				CASE kind WHEN 'i' THEN 'an index' WHEN 'I' THEN 'a partitioned index'
						  WHEN 'S' THEN 'a sequence' WHEN 'v' THEN 'a view'
						  WHEN 'm' THEN 'a materialized view' WHEN 'c' THEN 'a composite type'
						  WHEN 'f' THEN 'a foreign table' WHEN 't' THEN 'a TOAST table'
						  ELSE 'a relation of kind ' || kind::text END
			USING ERRCODE = 'wrong_object_type',
				  DETAIL = 'audit_guard protects ordinary and partitioned tables only.',
				  HINT = pg_catalog.format('Call audit_guard.%s() on the table that holds the audit rows.', function);
	END IF;
END
$$;

/*
 * Every role that reaches one of targets, walked from the targets down
 * through pg_auth_members, breadth first (C, src/roles.c): for each role
 * and each combination of the inherits and can_set flags, the shortest
 * chain, written member first as role_paths() writes it.  privileges()
 * keeps only the shortest qualifying chain per role, so it needs no
 * other; role_paths() enumerates every chain from every role in the
 * cluster, which made one table's check take about 190 ms at 500 roles.
 */
CREATE FUNCTION audit_guard.role_paths_walk(targets oid[])
RETURNS TABLE (member oid, target oid, path text, depth integer,
			   inherits boolean, can_set boolean)
AS 'MODULE_PATHNAME', 'audit_guard_role_paths_to'
LANGUAGE C STABLE STRICT;

/*
 * role_paths_to(targets): role_paths_walk() when the library can be used.
 * Without preloading, any call into the library fails (55000), and the
 * checks must still say what is wrong: then the same rows come from a
 * recursive query (every chain, not only the shortest, so slower on a
 * dense role graph; privileges() keeps the shortest either way).
 */
CREATE FUNCTION audit_guard.role_paths_to(targets oid[])
RETURNS TABLE (member oid, target oid, path text, depth integer,
			   inherits boolean, can_set boolean)
LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	BEGIN
		PERFORM audit_guard.hooks_active();
	EXCEPTION WHEN object_not_in_prerequisite_state THEN
		RETURN QUERY
		WITH RECURSIVE paths (member, target, path, oids, inherits, can_set) AS (
			SELECT r.oid, r.oid, pg_catalog.quote_ident(r.rolname),
				   ARRAY[r.oid], true, true
			  FROM pg_catalog.pg_roles r
			 WHERE r.oid = ANY (targets)
			UNION ALL
			SELECT m.member, p.target,
				   pg_catalog.quote_ident(g.rolname) || ' -> ' || p.path,
				   m.member || p.oids,
				   p.inherits AND coalesce((pg_catalog.to_jsonb(m) ->> 'inherit_option')::boolean,
										   g.rolinherit),
				   p.can_set AND coalesce((pg_catalog.to_jsonb(m) ->> 'set_option')::boolean,
										  true)
			  FROM paths p
			  JOIN pg_catalog.pg_auth_members m ON m.roleid = p.member
			  JOIN pg_catalog.pg_roles g ON g.oid = m.member
			 WHERE m.member <> ALL (p.oids)
		)
		SELECT x.member, x.target, x.path, pg_catalog.cardinality(x.oids) - 1,
			   x.inherits, x.can_set
		  FROM paths x;
		RETURN;
	END;
	RETURN QUERY SELECT * FROM audit_guard.role_paths_walk(targets);
END
$$;

/*
 * privilege_holders(tbl), as in 1.0, but reading only the tables asked
 * about through pg_class's index (1.0's filter read pg_class whole).
 */
CREATE OR REPLACE FUNCTION audit_guard.privilege_holders(tbl regclass DEFAULT NULL)
RETURNS TABLE (table_name regclass, holder oid, privilege text, self_via text,
			   reach text, risk text, what text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
WITH t AS (
	SELECT c.oid AS relid, c.relowner, c.relacl, c.relrowsecurity,
		   r.designated_owner
	  FROM pg_catalog.pg_class c
	  LEFT JOIN audit_guard.registry r ON r.relid = c.oid
	 WHERE c.oid = ANY (CASE WHEN tbl IS NULL
							 THEN ARRAY(SELECT reg.relid::oid FROM audit_guard.registry reg)
							 ELSE ARRAY[tbl::oid] END)
),
acl AS (
	SELECT t.relid, a.grantee, a.privilege_type, NULL::name AS column_name
	  FROM t, pg_catalog.aclexplode(coalesce(t.relacl,
								pg_catalog.acldefault('r', t.relowner))) a
	 WHERE a.grantee <> t.relowner
	UNION ALL
	SELECT t.relid, a.grantee, a.privilege_type, att.attname
	  FROM t
	  JOIN pg_catalog.pg_attribute att
		ON att.attrelid = t.relid AND att.attnum > 0 AND NOT att.attisdropped
	   AND att.attacl IS NOT NULL,
		   pg_catalog.aclexplode(att.attacl) a
	 WHERE a.grantee <> t.relowner
),
grants AS (
	SELECT relid, grantee, privilege_type,
		   bool_or(column_name IS NULL) AS whole_table,
		   pg_catalog.string_agg(pg_catalog.quote_ident(column_name), ', '
								 ORDER BY column_name) AS columns
	  FROM acl
	 WHERE privilege_type IN ('UPDATE', 'DELETE', 'TRUNCATE', 'TRIGGER', 'REFERENCES')
	 GROUP BY relid, grantee, privilege_type
),
consequence (privilege, risk, phrase) AS (
	VALUES ('UPDATE', 'high', 'only audit_guard stands between it and rewriting rows'),
		   ('DELETE', 'high', 'only audit_guard stands between it and deleting rows'),
		   ('TRUNCATE', 'high', 'only audit_guard stands between it and emptying the table'),
		   ('TRIGGER', 'high', 'it can attach triggers that change rows as they are inserted'),
		   ('REFERENCES', 'medium', 'it can create foreign keys to the table, which lock its rows')
)
SELECT t.relid, t.relowner, 'OWNER', 'ownership', 'use', 'critical',
	   'owns the table: no REVOKE binds it, and it can grant any privilege on the table and alter it'
  FROM t
UNION ALL
SELECT t.relid, t.designated_owner, 'DESIGNATED OWNER', 'direct', 'any', 'critical',
	   'is its designated owner: it can switch the guard triggers off and unprotect the table'
  FROM t
 WHERE t.designated_owner IS NOT NULL
UNION ALL
SELECT t.relid, r.oid, 'SUPERUSER', 'superuser', 'set', 'critical',
	   'is a superuser: no privilege check applies to it, and it can change the server configuration audit_guard depends on'
  FROM t, pg_catalog.pg_roles r
 WHERE r.rolsuper
UNION ALL
SELECT g.relid, g.grantee, g.privilege_type, 'direct', 'use',
	   CASE WHEN g.grantee = 0 AND c.risk = 'high' THEN 'critical' ELSE c.risk END,
	   CASE WHEN g.whole_table
			THEN pg_catalog.format('holds %s on the table: %s', g.privilege_type, c.phrase)
			ELSE pg_catalog.format('holds %s on columns (%s) of the table: %s',
								   g.privilege_type, g.columns, c.phrase)
	   END
  FROM grants g
  JOIN consequence c ON c.privilege = g.privilege_type
UNION ALL
SELECT t.relid, w.oid, c.privilege, 'predefined', 'use', c.risk,
	   pg_catalog.format('holds %s on every table: %s', c.privilege, c.phrase)
  FROM t, pg_catalog.pg_roles w, consequence c
 WHERE w.rolname = 'pg_write_all_data' AND c.privilege IN ('UPDATE', 'DELETE')
UNION ALL
SELECT t.relid, r.oid, 'BYPASSRLS', 'attribute', 'set',
	   CASE WHEN t.relrowsecurity THEN 'medium' ELSE 'low' END,
	   'has BYPASSRLS: row-level security policies on the table do not apply to it'
  FROM t, pg_catalog.pg_roles r
 WHERE r.rolbypassrls AND NOT r.rolsuper
UNION ALL
SELECT t.relid, r.oid, 'CREATEROLE', 'attribute', 'set', 'high',
	   'has CREATEROLE: it can grant itself membership in the table''s owner'
  FROM t, pg_catalog.pg_roles r
 WHERE r.rolcreaterole AND NOT r.rolsuper
   AND pg_catalog.current_setting('server_version_num')::integer < 160000
$$;

/*
 * privileges(tbl): the same rows as in 1.0, now walking the role graph
 * only from the roles that hold something (role_paths_to()), once for
 * all tables asked about; and a table given must be a table.
 */
CREATE OR REPLACE FUNCTION audit_guard.privileges(tbl regclass DEFAULT NULL)
RETURNS TABLE (table_name regclass, role_name name, can_login boolean,
			   via text, privilege text, risk text, explanation text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF tbl IS NOT NULL THEN
		PERFORM audit_guard.require_table(tbl, 'privileges');
	END IF;
	RETURN QUERY
	WITH h AS MATERIALIZED (
		SELECT * FROM audit_guard.privilege_holders(tbl)
	),
	p AS MATERIALIZED (
		SELECT * FROM audit_guard.role_paths_to(ARRAY(SELECT DISTINCT h.holder FROM h))
	),
	by_role AS (
		SELECT DISTINCT ON (h.table_name, s.oid, h.privilege)
			   h.table_name, s.rolname, s.rolcanlogin,
			   CASE WHEN p.depth = 0 THEN h.self_via ELSE 'membership' END,
			   h.privilege, h.risk,
			   CASE WHEN p.depth = 0 THEN h.what
					WHEN p.can_set AND NOT p.inherits
					THEN pg_catalog.format('can SET ROLE %I through %s, which %s',
										   g.rolname, p.path, h.what)
					ELSE pg_catalog.format('is a member of %I through %s, which %s',
										   g.rolname, p.path, h.what)
			   END
		  FROM h
		  JOIN p ON p.target = h.holder
		  JOIN pg_catalog.pg_roles s ON s.oid = p.member
		  JOIN pg_catalog.pg_roles g ON g.oid = p.target
		 WHERE CASE h.reach
				   WHEN 'any' THEN true
				   WHEN 'use' THEN p.inherits OR p.can_set
				   ELSE p.can_set
			   END
		   -- a superuser: its own SUPERUSER row, and whether it owns the table
		   AND (NOT s.rolsuper OR h.privilege IN ('OWNER', 'DESIGNATED OWNER')
				OR (h.privilege = 'SUPERUSER' AND p.depth = 0))
		   -- predefined roles: only what was granted to them by name
		   AND (s.rolname !~ '^pg_' OR (h.self_via = 'direct' AND p.depth = 0))
		 ORDER BY h.table_name, s.oid, h.privilege, p.depth, p.inherits DESC
	),
	to_public AS (
		SELECT h.table_name, 'PUBLIC'::name, NULL::boolean, 'public', h.privilege,
			   h.risk, h.what || '; every role, present and future, holds what PUBLIC holds'
		  FROM h
		 WHERE h.holder = 0
	)
	SELECT f.*
	  FROM (SELECT * FROM by_role UNION ALL SELECT * FROM to_public) AS f
		   (table_name, role_name, can_login, via, privilege, risk, explanation)
	 ORDER BY f.table_name::text,
			  pg_catalog.array_position(ARRAY['critical', 'high', 'medium', 'low'], f.risk),
			  f.role_name, f.privilege;
END
$$;

/*
 * check(tbl): as in 1.0, but a table given that has no registry row must
 * be an existing table: an OID that names nothing, 0, an index, a
 * sequence, a view or a composite type gets an error saying so, instead
 * of a "registry row" that does not exist or rows about triggers such a
 * relation cannot carry.  An OID with a registry row and no relation
 * still gets its 'registered' row saying exactly that.
 */
CREATE OR REPLACE FUNCTION audit_guard.check(tbl regclass DEFAULT NULL)
RETURNS TABLE (table_name regclass, check_name text, status text, detail text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	guard_fn	oid := pg_catalog.to_regprocedure('audit_guard.reject_change()');
	lib_status	text := 'ok';
	lib_detail	text := 'audit_guard''s hooks are installed in this backend';
	rel			record;
	found_any	boolean := false;
BEGIN
	IF tbl IS NOT NULL
	   AND NOT EXISTS (SELECT FROM audit_guard.registry r WHERE r.relid = tbl) THEN
		PERFORM audit_guard.require_table(tbl, 'check');
	END IF;

	-- Without preloading, calling into the library fails with 55000
	BEGIN
		IF NOT audit_guard.hooks_active() THEN
			lib_status := 'failed';
			lib_detail := 'audit_guard''s hooks are not installed in this backend';
		END IF;
	EXCEPTION WHEN object_not_in_prerequisite_state THEN
		lib_status := 'failed';
		lib_detail := 'audit_guard is not loaded through shared_preload_libraries, so no backend runs its hooks';
	END;

	FOR rel IN
		SELECT cand.relid, c.relkind, r.relid IS NOT NULL AS registered,
			   r.designated_owner, o.rolname AS owner_name
		  FROM (SELECT reg.relid::oid FROM audit_guard.registry reg
				 WHERE tbl IS NULL
				UNION
				SELECT tg.tgrelid FROM pg_catalog.pg_trigger tg
				 WHERE tbl IS NULL AND tg.tgfoid = guard_fn
				UNION
				SELECT tbl::oid WHERE tbl IS NOT NULL) AS cand (relid)
		  LEFT JOIN pg_catalog.pg_class c ON c.oid = cand.relid
		  LEFT JOIN audit_guard.registry r ON r.relid = cand.relid
		  LEFT JOIN pg_catalog.pg_roles o ON o.oid = r.designated_owner
		 ORDER BY cand.relid::regclass::text
	LOOP
		found_any := true;
		table_name := rel.relid;

		check_name := 'library';
		status := lib_status;
		detail := lib_detail;
		RETURN NEXT;

		check_name := 'registered';
		status := 'failed';
		IF rel.relkind IS NULL THEN
			detail := pg_catalog.format('audit_guard.registry has a row for relation %s, which no longer exists', rel.relid);
		ELSIF NOT rel.registered AND EXISTS (SELECT FROM pg_catalog.pg_trigger tg
											  WHERE tg.tgrelid = rel.relid AND tg.tgfoid = guard_fn) THEN
			detail := 'the table carries audit_guard''s guard triggers, so it is protected (fail closed), but it has no row in audit_guard.registry: its designated owner is its table owner until audit_guard.protect() records one';
		ELSIF NOT rel.registered THEN
			detail := 'the table is not protected by audit_guard (it has no row in audit_guard.registry)';
		ELSIF rel.owner_name IS NULL THEN
			detail := pg_catalog.format('designated owner role %s no longer exists', rel.designated_owner::oid);
		ELSE
			status := 'ok';
			detail := pg_catalog.format('protected; designated owner %I', rel.owner_name);
		END IF;
		RETURN NEXT;

		CONTINUE WHEN rel.relkind IS NULL;
		RETURN QUERY SELECT rel.relid::regclass, x.check_name, x.status, x.detail
		  FROM audit_guard.guard_trigger_checks(rel.relid) x;

		IF rel.relkind = 'p' THEN
			RETURN QUERY SELECT rel.relid::regclass, 'partitions'::text, x.status, x.detail
			  FROM audit_guard.partition_check(rel.relid, rel.designated_owner) x;
		END IF;

		-- the retention in force, next to the data (issue 11); a partitioned
		-- table counts the rows erased from its partitions
		RETURN QUERY
		SELECT rel.relid::regclass, 'retention'::text, 'ok'::text,
			   pg_catalog.format('rows younger than %s by column %I are kept%s; %s rows purged, %s redacted',
								 k.keep, k.time_column,
								 CASE WHEN k.set_on <> rel.relid
									  THEN pg_catalog.format(' (set on %s)', k.set_on) ELSE '' END,
								 (SELECT coalesce(sum(b.row_count), 0) FROM audit_guard.seal_blocks b
								   WHERE b.kind = 'purge'
									 AND (b.relid = rel.relid OR b.relid IN (SELECT t.relid
										FROM pg_catalog.pg_partition_tree(rel.relid) t))),
								 (SELECT coalesce(sum(b.row_count), 0) FROM audit_guard.seal_blocks b
								   WHERE b.kind = 'redact'
									 AND (b.relid = rel.relid OR b.relid IN (SELECT t.relid
										FROM pg_catalog.pg_partition_tree(rel.relid) t))))
		  FROM audit_guard.retention_of(rel.relid) k;
	END LOOP;

	-- audit_guard's own triggers: reported only when one is missing or off
	IF tbl IS NULL THEN
		RETURN QUERY
		SELECT pg_catalog.to_regclass(w.tbl), 'audit_guard trigger'::text, 'failed'::text,
			   pg_catalog.format('trigger %I on %s is %s', w.tgname, w.tbl,
								 CASE WHEN t.oid IS NULL THEN 'missing'
									  ELSE 'not ENABLE ALWAYS (' || t.tgenabled::text || ')' END)
		  FROM (VALUES ('audit_guard.registry', 'registry_changed'),
					   ('audit_guard.registry', 'own_table_guard'),
					   ('audit_guard.registry', 'own_table_no_truncate'),
					   ('audit_guard.history', 'own_table_guard'),
					   ('audit_guard.history', 'own_table_no_truncate'),
					   ('audit_guard.seal_blocks', 'own_table_guard'),
					   ('audit_guard.seal_blocks', 'own_table_no_truncate'),
					   ('audit_guard.seal_rows', 'own_table_guard'),
					   ('audit_guard.seal_rows', 'own_table_no_truncate'),
					   ('audit_guard.seal_erasures', 'own_table_guard'),
					   ('audit_guard.seal_erasures', 'own_table_no_truncate'),
					   ('audit_guard.retention', 'own_table_guard'),
					   ('audit_guard.retention', 'own_table_no_truncate')) AS w (tbl, tgname)
		  LEFT JOIN pg_catalog.pg_trigger t
			ON t.tgrelid = pg_catalog.to_regclass(w.tbl) AND t.tgname = w.tgname
		 WHERE t.oid IS NULL OR t.tgenabled <> 'A';
	END IF;

	IF NOT found_any THEN
		table_name := NULL;
		check_name := 'registered';
		status := 'warning';
		detail := 'no table in this database is protected by audit_guard';
		RETURN NEXT;
	END IF;
END
$$;

/*
 * What stops runtime_role from being a safe, append-only writer of tbl,
 * one sentence a row, each with its kind:
 *   guard     the guard itself is not intact (check())
 *   rewrite   the role, or PUBLIC, holds something that could change or
 *             empty the table, or switch its guard off (privileges())
 *   job       the role lacks what an audit writer needs: INSERT and
 *             SELECT on the table, USAGE on its schema and on the
 *             sequences its serial columns draw from
 * 'guard' and 'rewrite' mean history can be rewritten; 'job' only that the
 * role cannot write the trail, which is right for a read-only role.
 */
CREATE FUNCTION audit_guard.append_only_findings(tbl regclass, runtime_role regrole)
RETURNS TABLE (kind text, problem text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	role_label	text := pg_catalog.format('role %s', runtime_role);
BEGIN
	IF tbl IS NULL OR runtime_role IS NULL THEN
		RAISE EXCEPTION 'table and runtime role must not be null'
			USING ERRCODE = 'null_value_not_allowed',
				  HINT = 'Call it as audit_guard.assert_append_only(''audit_log'', ''app_role'').';
	END IF;
	PERFORM audit_guard.require_table(tbl, 'assert_append_only');

	RETURN QUERY
		SELECT 'guard', c.detail || '.'
		  FROM audit_guard.check(tbl) c
		 WHERE c.status = 'failed';

	RETURN QUERY
		SELECT 'rewrite',
			   CASE WHEN p.via = 'public' THEN 'PUBLIC ' ELSE role_label || ' ' END
			   || p.explanation || '.'
		  FROM audit_guard.privileges(tbl) p
		 WHERE p.risk IN ('critical', 'high')
		   AND (p.via = 'public' OR p.role_name = (SELECT r.rolname FROM pg_catalog.pg_roles r
													 WHERE r.oid = runtime_role));

	kind := 'job';
	IF NOT pg_catalog.has_table_privilege(runtime_role, tbl, 'INSERT') THEN
		problem := role_label || ' lacks INSERT on the table, so it cannot write the audit trail.';
		RETURN NEXT;
	END IF;
	IF NOT pg_catalog.has_table_privilege(runtime_role, tbl, 'SELECT') THEN
		problem := role_label || ' lacks SELECT on the table (INSERT ... RETURNING needs it).';
		RETURN NEXT;
	END IF;
	RETURN QUERY
		SELECT 'job', pg_catalog.format('%s lacks USAGE on schema %I.', role_label, n.nspname)
		  FROM pg_catalog.pg_class c
		  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		 WHERE c.oid = tbl
		   AND NOT pg_catalog.has_schema_privilege(runtime_role, n.oid, 'USAGE');
	RETURN QUERY
		SELECT 'job', pg_catalog.format('%s lacks USAGE on sequence %s, which column %I draws from.',
										role_label, d.objid::regclass, a.attname)
		  FROM pg_catalog.pg_depend d
		  JOIN pg_catalog.pg_class s ON s.oid = d.objid AND s.relkind = 'S'
		  JOIN pg_catalog.pg_attribute a
			ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
		 WHERE d.classid = 'pg_catalog.pg_class'::regclass
		   AND d.refclassid = 'pg_catalog.pg_class'::regclass
		   AND d.refobjid = tbl AND d.deptype = 'a'
		   -- CASE: the planner may test a row before the relkind join filters it
		   AND CASE WHEN s.relkind = 'S'
					THEN NOT pg_catalog.has_sequence_privilege(runtime_role, d.objid, 'USAGE, UPDATE')
			   END
		 ORDER BY a.attnum;
END
$$;

/* append_only_problems(tbl, role): every finding, as in 1.0, in that order. */
CREATE OR REPLACE FUNCTION audit_guard.append_only_problems(tbl regclass, runtime_role regrole)
RETURNS SETOF text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT f.problem FROM audit_guard.append_only_findings(tbl, runtime_role) f
$$;

/*
 * assert_append_only(tbl, runtime_role): true, or one error (42501) whose
 * DETAIL lists every problem.  The headline says what is at stake: "table
 * ... is not append-only for role ..." only when history can be rewritten
 * (a 'guard' or 'rewrite' finding); a role that cannot rewrite anything
 * but lacks what a writer needs gets "role ... cannot append to table
 * ...", and a hint pointing read-only roles to assert_cannot_rewrite().
 */
CREATE OR REPLACE FUNCTION audit_guard.assert_append_only(tbl regclass, runtime_role regrole)
RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	findings	record;
	risks		text[] := ARRAY[]::text[];
	gaps		text[] := ARRAY[]::text[];
	problems	text[];
	n			integer;
BEGIN
	FOR findings IN SELECT * FROM audit_guard.append_only_findings(tbl, runtime_role) LOOP
		IF findings.kind = 'job' THEN
			gaps := gaps || findings.problem;
		ELSE
			risks := risks || findings.problem;
		END IF;
	END LOOP;
	problems := risks || gaps;
	n := pg_catalog.cardinality(problems);
	IF n = 0 THEN
		RETURN true;
	END IF;
	IF pg_catalog.cardinality(risks) > 0 THEN
		RAISE EXCEPTION 'table % is not append-only for role %', tbl, runtime_role
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = pg_catalog.format('%s found:', CASE WHEN n = 1 THEN 'One problem'
															  ELSE n || ' problems' END)
						   || E'\n- ' || pg_catalog.array_to_string(problems, E'\n- '),
				  HINT = pg_catalog.format('Run SELECT * FROM audit_guard.privileges(%L) for every role that can change the table; the runtime role should hold only INSERT and SELECT, and neither own the table nor belong to its owner.',
										   tbl::text);
	END IF;
	RAISE EXCEPTION 'role % cannot append to table %', runtime_role, tbl
		USING ERRCODE = 'insufficient_privilege',
			  DETAIL = 'The role cannot rewrite history in the table (the guard is intact and it holds nothing that could change it), but it cannot write the audit trail:'
					   || E'\n- ' || pg_catalog.array_to_string(problems, E'\n- '),
			  HINT = pg_catalog.format('Grant it what it lacks; for a role that should only read the table, assert audit_guard.assert_cannot_rewrite(%L, %L) instead.',
									   tbl::text, runtime_role::text);
END
$$;

/*
 * assert_cannot_rewrite(tbl, role): the read-only variant, for auditors
 * and reporting roles: true when the guard is intact and neither the role
 * nor PUBLIC holds anything that could change the table or switch its
 * guard off; otherwise the same error as assert_append_only().  It does
 * not ask for INSERT.
 */
CREATE FUNCTION audit_guard.assert_cannot_rewrite(tbl regclass, some_role regrole)
RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	problems	text[] := ARRAY(SELECT f.problem
								  FROM audit_guard.append_only_findings(tbl, some_role) f
								 WHERE f.kind <> 'job');
	n			integer := pg_catalog.cardinality(problems);
BEGIN
	IF n = 0 THEN
		RETURN true;
	END IF;
	RAISE EXCEPTION 'table % is not append-only for role %', tbl, some_role
		USING ERRCODE = 'insufficient_privilege',
			  DETAIL = pg_catalog.format('%s found:', CASE WHEN n = 1 THEN 'One problem'
														  ELSE n || ' problems' END)
					   || E'\n- ' || pg_catalog.array_to_string(problems, E'\n- '),
			  HINT = pg_catalog.format('Run SELECT * FROM audit_guard.privileges(%L) for every role that can change the table.',
									   tbl::text);
END
$$;

/* pgTAP: ok when assert_cannot_rewrite(tbl, some_role) would pass. */
CREATE FUNCTION audit_guard.tap_cannot_rewrite(tbl regclass, some_role regrole,
											   description text DEFAULT NULL)
RETURNS text
LANGUAGE sql VOLATILE
AS $$
	SELECT audit_guard.tap_result(
		ARRAY(SELECT f.problem FROM audit_guard.append_only_findings(tbl, some_role) f
			   WHERE f.kind <> 'job'),
		coalesce(description,
				 pg_catalog.format('role %s cannot rewrite %s', some_role, tbl)))
$$;

/*
 * History after a restore.  history.relid is the OID the table had where
 * the event was recorded; a restore into another database or cluster
 * keeps that number, which then names nothing or another relation.  From
 * 1.1 each event also records where it was recorded (recorded_in: the
 * cluster's system identifier and the database's OID), and the view
 * table_history says what stays true: the qualified name as recorded,
 * whether the event was recorded in this database, and the table now
 * (by OID when recorded here, so a renamed table is still found; by the
 * recorded name otherwise, which after a restore finds the restored
 * table).  Events from before 1.1 have no recorded_in and are found by
 * name.  The column is added without a default first so that existing
 * rows stay NULL ("unknown") instead of claiming to be local.
 */
CREATE FUNCTION audit_guard.database_identity()
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT s.system_identifier::text || '/' || d.oid::text
	  FROM pg_catalog.pg_control_system() s, pg_catalog.pg_database d
	 WHERE d.datname = pg_catalog.current_database()
$$;

ALTER TABLE audit_guard.history ADD COLUMN recorded_in text;
ALTER TABLE audit_guard.history
	ALTER COLUMN recorded_in SET DEFAULT audit_guard.database_identity();

CREATE VIEW audit_guard.table_history AS
	SELECT h.at, h.action, h.table_name, h.designated_owner, h.performed_by,
		   CASE WHEN h.recorded_in IS NULL THEN 'unknown'
				WHEN h.recorded_in = audit_guard.database_identity() THEN 'here'
				ELSE 'elsewhere' END AS recorded,
		   h.relid AS recorded_relid,
		   CASE WHEN h.recorded_in = audit_guard.database_identity()
				THEN (SELECT c.oid::pg_catalog.regclass FROM pg_catalog.pg_class c
					   WHERE c.oid = h.relid)
				ELSE pg_catalog.to_regclass(h.table_name)
		   END AS table_now
	  FROM audit_guard.history h;
GRANT SELECT ON audit_guard.table_history TO PUBLIC;

/*
 * Default partitions of protected partitioned tables.  A row in the
 * default partition blocks every new partition whose range covers it
 * (PostgreSQL refuses to create a partition the default holds rows for),
 * and moving it out is DELETE + INSERT, which the guard refuses: pg_partman
 * then fails every maintenance run.  Refusing default partitions is no
 * answer (pg_partman 4 creates one for every native set, and without one
 * an out-of-range audit row fails its INSERT, losing the event), so the
 * designated owner gets two steps that keep every row:
 *
 *   detach_default(parent)      detaches the default partition, still
 *                               protected, under a new name, and puts an
 *                               empty protected default partition in its
 *                               place; returns the detached table
 *   (create the partitions the rows need: pg_partman's maintenance or
 *    create_partition_time(), or CREATE TABLE ... PARTITION OF)
 *   move_detached_rows(parent, detached)
 *                               inserts every row of the detached table
 *                               into parent, refuses (changing nothing) if
 *                               any would land in the default partition
 *                               again, then drops the detached table;
 *                               returns the rows moved
 *
 * Both run as the caller, who must be a member of the parent's designated
 * owner (superuser status does not count) and hold what PostgreSQL asks
 * for the DDL (ownership of the tables, through membership).  history
 * records each step: the new default's 'partition', the detached table's
 * 'unprotect' and 'drop'.
 */

/* Ensure the current user may move rows of parent: its designated owner. */
CREATE FUNCTION audit_guard.require_designated_owner(parent regclass, function text)
RETURNS regrole
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	owner	regrole;
BEGIN
	PERFORM audit_guard.require_table(parent, function);
	SELECT r.designated_owner INTO owner FROM audit_guard.registry r WHERE r.relid = parent;
	IF owner IS NULL THEN
		RAISE EXCEPTION 'table % is not protected by audit_guard', parent
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'It has no row in audit_guard.registry.',
				  HINT = 'See audit_guard.protected_tables for the protected tables.';
	END IF;
	IF NOT EXISTS (SELECT FROM audit_guard.role_paths_to(ARRAY[owner::oid]) p
					WHERE p.member = (SELECT r.oid FROM pg_catalog.pg_roles r
									   WHERE r.rolname = current_user)) THEN
		RAISE EXCEPTION 'permission denied for audit_guard.%() on protected table %', function, parent
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = pg_catalog.format('Only members of its designated owner role %s may do this.', owner),
				  HINT = pg_catalog.format('Run it as role %s (SET ROLE %s); superuser status does not count as being the designated owner.', owner, owner);
	END IF;
	RETURN owner;
END
$$;

/* The default partition of parent, or NULL. */
CREATE FUNCTION audit_guard.default_partition(parent regclass)
RETURNS regclass
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT c.oid::pg_catalog.regclass
	  FROM pg_catalog.pg_inherits i
	  JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
	 WHERE i.inhparent = parent
	   AND pg_catalog.pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT'
$$;

/* Step one: see above. */
CREATE FUNCTION audit_guard.detach_default(parent regclass)
RETURNS regclass
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	def			regclass;
	def_name	name;
	nsp			name;
	holder		name;
BEGIN
	PERFORM audit_guard.require_designated_owner(parent, 'detach_default');
	def := audit_guard.default_partition(parent);
	IF def IS NULL THEN
		RAISE EXCEPTION 'table % has no default partition', parent
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	SELECT c.relname, n.nspname INTO def_name, nsp
	  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
	 WHERE c.oid = def;
	-- <default>_detached_<n>, the first n whose name is free
	SELECT pg_catalog.left(def_name, 40) || '_detached_' || n INTO holder
	  FROM pg_catalog.generate_series(1, 1000000) n
	 WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_class c
						WHERE c.relnamespace = pg_catalog.to_regnamespace(pg_catalog.quote_ident(nsp))
						  AND c.relname = pg_catalog.left(def_name, 40) || '_detached_' || n)
	 LIMIT 1;
	EXECUTE pg_catalog.format('ALTER TABLE %s DETACH PARTITION %s', parent, def);
	EXECUTE pg_catalog.format('ALTER TABLE %s RENAME TO %I', def, holder);
	EXECUTE pg_catalog.format('CREATE TABLE %I.%I PARTITION OF %s DEFAULT', nsp, def_name, parent);
	RETURN pg_catalog.format('%I.%I', nsp, holder)::pg_catalog.regclass;
END
$$;

/* Step three: see above. */
CREATE FUNCTION audit_guard.move_detached_rows(parent regclass, detached regclass)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	owner		regrole := audit_guard.require_designated_owner(parent, 'move_detached_rows');
	def			regclass := audit_guard.default_partition(parent);
	cols		text;
	n_rows		bigint;
	n_moved		bigint;
	n_before	bigint := 0;
	n_after		bigint := 0;
BEGIN
	PERFORM audit_guard.require_table(detached, 'move_detached_rows');
	IF NOT EXISTS (SELECT FROM audit_guard.registry r
					WHERE r.relid = detached AND r.designated_owner = owner)
	   OR EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid = detached AND c.relispartition)
	   OR detached = parent THEN
		RAISE EXCEPTION 'table % is not a detached table of %', detached, parent
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'Rows are moved from a protected table that is no partition and has the same designated owner, as audit_guard.detach_default() leaves it.';
	END IF;
	SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum)
	  INTO cols
	  FROM pg_catalog.pg_attribute a
	 WHERE a.attrelid = parent AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '';

	IF def IS NOT NULL THEN
		EXECUTE pg_catalog.format('SELECT count(*) FROM ONLY %s', def) INTO n_before;
	END IF;
	EXECUTE pg_catalog.format('SELECT count(*) FROM %s', detached) INTO n_rows;
	EXECUTE pg_catalog.format('INSERT INTO %s (%s) OVERRIDING SYSTEM VALUE SELECT %s FROM %s',
							  parent, cols, cols, detached);
	GET DIAGNOSTICS n_moved = ROW_COUNT;
	IF def IS NOT NULL THEN
		EXECUTE pg_catalog.format('SELECT count(*) FROM ONLY %s', def) INTO n_after;
	END IF;
	IF n_moved <> n_rows THEN
		RAISE EXCEPTION 'moved % rows of %, which holds %', n_moved, detached, n_rows
			USING ERRCODE = 'internal_error';
	END IF;
	IF n_after > n_before THEN
		RAISE EXCEPTION '% of the % rows of % would land in the default partition % again',
				n_after - n_before, n_rows, detached, def
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'Nothing was moved.',
				  HINT = pg_catalog.format('Create the partitions those rows belong to first (SELECT min(...), max(...) FROM %s shows their range), for example with pg_partman''s create_partition_time().', detached);
	END IF;
	-- its designated owner drops it protected: history records the drop
	EXECUTE pg_catalog.format('DROP TABLE %s', detached);
	RETURN n_moved;
END
$$;

/* ---- Retention, purge, redaction (issue 11) ---- */

/*
 * A table's retention: rows younger than keep, by time_column, stay.  One
 * row per table whose retention was ever set (on a partitioned table: it
 * covers every partition, at any depth).  Written only by set_retention(),
 * which raises keep and never lowers it, and removed only when the table
 * is unprotected or dropped, both of which are refused while it holds a
 * row younger than keep.
 */
CREATE TABLE audit_guard.retention (
	relid				regclass	PRIMARY KEY,
	keep				interval	NOT NULL CHECK (keep > interval '0'),
	time_column			name		NOT NULL,
	set_at				timestamptz	NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	set_by				name		NOT NULL
);
SELECT pg_catalog.pg_extension_config_dump('audit_guard.retention', '');
REVOKE ALL ON audit_guard.retention FROM PUBLIC;
GRANT SELECT ON audit_guard.retention TO PUBLIC;

/*
 * Erasure blocks.  A purge or a redaction removes sealed rows; the chain
 * records it with a block of its own (kind 'purge' or 'redact', hashed
 * with prefix 03, docs/format.md), so that a digest taken before it still
 * verifies and nobody can remove a row and claim it was erased without
 * extending the chain.  Its entries, one per sealed block it takes rows
 * from, are in seal_erasures: the keys erased, or NULL for every row of
 * that block left, whose keys and leaves then leave seal_rows.
 */
ALTER TABLE audit_guard.seal_blocks
	ADD COLUMN kind text NOT NULL DEFAULT 'seal'
		CHECK (kind IN ('seal', 'purge', 'redact')),
	ADD COLUMN reason text;

CREATE TABLE audit_guard.seal_erasures (
	relid				regclass	NOT NULL,
	block				bigint		NOT NULL,
	sealed_block		bigint		NOT NULL,
	row_count			bigint		NOT NULL,
	keys				bytea,
	PRIMARY KEY (relid, block, sealed_block)
);
SELECT pg_catalog.pg_extension_config_dump('audit_guard.seal_erasures', '');
REVOKE ALL ON audit_guard.seal_erasures FROM PUBLIC;
GRANT SELECT ON audit_guard.seal_erasures TO PUBLIC;
ALTER TABLE audit_guard.seal_erasures ENABLE ROW LEVEL SECURITY;
CREATE POLICY readers ON audit_guard.seal_erasures FOR SELECT
	USING (pg_catalog.has_table_privilege(relid, 'SELECT'));

/*
 * Every own table gets the triggers registry and history have: the
 * logical replication apply worker runs no hook, and TRUNCATE is refused
 * here too.
 */
DO $$
DECLARE
	t	text;
BEGIN
	FOREACH t IN ARRAY ARRAY['seal_blocks', 'seal_rows', 'seal_erasures', 'retention'] LOOP
		EXECUTE format('CREATE TRIGGER own_table_guard'
					   ' BEFORE INSERT OR UPDATE OR DELETE ON audit_guard.%I'
					   ' FOR EACH ROW EXECUTE FUNCTION audit_guard.own_table_guard()', t);
		EXECUTE format('CREATE TRIGGER own_table_no_truncate'
					   ' BEFORE TRUNCATE ON audit_guard.%I'
					   ' FOR EACH STATEMENT EXECUTE FUNCTION audit_guard.own_table_guard()', t);
		EXECUTE format('ALTER TABLE audit_guard.%I ENABLE ALWAYS TRIGGER own_table_guard', t);
		EXECUTE format('ALTER TABLE audit_guard.%I ENABLE ALWAYS TRIGGER own_table_no_truncate', t);
	END LOOP;
END
$$;

/*
 * history records each set_retention(), purge() and redact() with what an
 * auditor asks about it: the retention set, the time bound a purge used,
 * how many rows went, the key and reason of a redaction.
 */
ALTER TABLE audit_guard.history
	ADD COLUMN keep interval,
	ADD COLUMN time_bound timestamptz,
	ADD COLUMN row_count bigint,
	ADD COLUMN row_key text,
	ADD COLUMN reason text;
ALTER TABLE audit_guard.history DROP CONSTRAINT history_action_check;
ALTER TABLE audit_guard.history ADD CONSTRAINT history_action_check
	CHECK (action IN ('protect', 'unprotect', 'drop', 'partition', 'override',
					  'retention', 'purge', 'redact'));

/* Tell running backends about the new own tables (see issue 9's section). */
INSERT INTO audit_guard.registry SELECT * FROM audit_guard.registry WHERE false;

/*
 * set_retention(tbl, keep, time_column): for the designated owner of tbl
 * (membership; superuser status does not count).  keep may be raised
 * later, never lowered; the time column never changes.
 */
CREATE FUNCTION audit_guard.set_retention(tbl regclass, keep interval, time_column name)
RETURNS text
AS 'MODULE_PATHNAME', 'audit_guard_set_retention'
LANGUAGE C VOLATILE;

/*
 * purge(tbl): seal, then delete the rows whose time column is older than
 * now() - keep (a timestamp or date column read as UTC), and record the
 * erasure in the chain and in history.  Returns the rows deleted.
 */
CREATE FUNCTION audit_guard.purge(tbl regclass)
RETURNS bigint
AS 'MODULE_PATHNAME', 'audit_guard_purge'
LANGUAGE C VOLATILE;

/*
 * redact(tbl, row_key, reason): seal, then delete the one row whose
 * primary key reads row_key (as verify() writes keys: 17, or (17,abc) for
 * a composite key), whatever its age, and record it.
 */
CREATE FUNCTION audit_guard.redact(tbl regclass, row_key text, reason text)
RETURNS void
AS 'MODULE_PATHNAME', 'audit_guard_redact'
LANGUAGE C VOLATILE;

/*
 * The retention that applies to tbl: the longest of its own and its
 * ancestors'.  A partition whose DETACH ... CONCURRENTLY has not completed
 * is still one (pg_partition_ancestors() would stop there).
 */
CREATE FUNCTION audit_guard.retention_of(tbl regclass)
RETURNS TABLE (keep interval, time_column name, set_on regclass)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	WITH RECURSIVE t (relid, depth) AS (
		SELECT tbl::oid, 0
		UNION ALL
		SELECT i.inhparent, t.depth + 1
		  FROM t
		  JOIN pg_catalog.pg_class c ON c.oid = t.relid AND c.relispartition
		  JOIN pg_catalog.pg_inherits i ON i.inhrelid = t.relid)
	SELECT r.keep, r.time_column, r.relid
	  FROM t
	  JOIN audit_guard.retention r ON r.relid = t.relid
	 ORDER BY r.keep DESC, t.depth
	 LIMIT 1
$$;

/* The erasures of the chain: what was purged or redacted, when, by whom. */
CREATE VIEW audit_guard.erasures AS
	SELECT b.relid AS table_name, b.block, b.kind, e.sealed_block,
		   e.row_count, e.keys IS NULL AS whole_block, b.reason,
		   b.sealed_at AS erased_at, b.sealed_by AS erased_by
	  FROM audit_guard.seal_blocks b
	  JOIN audit_guard.seal_erasures e ON e.relid = b.relid AND e.block = b.block
	 WHERE b.kind <> 'seal';
GRANT SELECT ON audit_guard.erasures TO PUBLIC;

/*
 * protected_tables shows the policy next to the table.  A partitioned
 * table's rows are its partitions' rows: it counts the rows purged and
 * redacted from each of them, at any depth.
 */
CREATE OR REPLACE VIEW audit_guard.protected_tables AS
	SELECT r.relid AS table_name,
		   r.designated_owner,
		   r.protected_at,
		   r.protected_by,
		   (SELECT i.inhparent::regclass
			  FROM pg_catalog.pg_inherits i
			  JOIN audit_guard.registry p ON p.relid = i.inhparent
			 WHERE i.inhrelid = r.relid) AS protected_through,
		   k.keep AS retention,
		   k.time_column AS retention_column,
		   (SELECT coalesce(sum(b.row_count), 0) FROM audit_guard.seal_blocks b
			 WHERE b.kind = 'purge'
			   AND (b.relid = r.relid OR b.relid IN (SELECT t.relid
													FROM pg_catalog.pg_partition_tree(r.relid) t))) AS rows_purged,
		   (SELECT coalesce(sum(b.row_count), 0) FROM audit_guard.seal_blocks b
			 WHERE b.kind = 'redact'
			   AND (b.relid = r.relid OR b.relid IN (SELECT t.relid
													FROM pg_catalog.pg_partition_tree(r.relid) t))) AS rows_redacted
	  FROM audit_guard.registry r
	  LEFT JOIN LATERAL audit_guard.retention_of(r.relid) k ON true;

/*
 * digest(): as before (issue 9), with rows counting sealed rows only, and
 * per table the retention in force and the rows purged and redacted (keep
 * written in one IntervalStyle, whatever the session's, so that digests
 * compare as text).
 */
CREATE OR REPLACE FUNCTION audit_guard.digest()
RETURNS jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
SET IntervalStyle = postgres
AS $$
SELECT jsonb_build_object(
		   'format', 'audit_guard digest 1',
		   'database', current_database(),
		   'system_identifier', (SELECT s.system_identifier::text
								   FROM pg_control_system() s),
		   'server_encoding', current_setting('server_encoding'),
		   'taken_at', to_char(clock_timestamp() AT TIME ZONE 'UTC',
							   'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
		   'tables', coalesce(jsonb_agg(jsonb_build_object(
								  'table', h.name,
								  'block', h.block,
								  'block_hash', encode(h.block_hash, 'hex'),
								  'rows', h.sealed_rows,
								  'purged', h.purged,
								  'redacted', h.redacted,
								  'retention', (SELECT jsonb_build_object(
													 'keep', k.keep::text,
													 'time_column', k.time_column)
												  FROM audit_guard.retention_of(h.relid) k))
							  ORDER BY h.name), '[]'::jsonb))
  FROM (SELECT DISTINCT ON (b.relid)
			   b.relid,
			   format('%I.%I', n.nspname, c.relname) AS name,
			   b.block, b.block_hash,
			   coalesce(sum(b.row_count) FILTER (WHERE b.kind = 'seal') OVER w, 0) AS sealed_rows,
			   coalesce(sum(b.row_count) FILTER (WHERE b.kind = 'purge') OVER w, 0) AS purged,
			   coalesce(sum(b.row_count) FILTER (WHERE b.kind = 'redact') OVER w, 0) AS redacted
		  FROM audit_guard.seal_blocks b
		  JOIN pg_class c ON c.oid = b.relid
		  JOIN pg_namespace n ON n.oid = c.relnamespace
		WINDOW w AS (PARTITION BY b.relid)
		 ORDER BY b.relid, b.block DESC) AS h
$$;
