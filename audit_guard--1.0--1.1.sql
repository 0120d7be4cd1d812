/* audit_guard--1.0--1.1.sql: everything added after the 1.0 release */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "ALTER EXTENSION audit_guard UPDATE TO '1.1'" to load this file. \quit

/*
 * 1.0 is released and never edited: a new database gets 1.1 by running
 * audit_guard--1.0.sql and then this script, an existing one by ALTER
 * EXTENSION audit_guard UPDATE.  Each part below keeps to its own section.
 */

/* ---- Guard hardening (issue 8) ---- */

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
 * sealed it when (not hashed).  Written only by seal(); the executor and
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
		 WHERE b.block IS NULL
			OR encode(b.block_hash, 'hex') <> lower(d ->> 'block_hash')
		 ORDER BY 1, 2;
END
$$;

/* ---- Deployments: restores, partitions, roles (issue 10) ---- */

/* ---- Retention, purge, redaction (issue 11) ---- */
