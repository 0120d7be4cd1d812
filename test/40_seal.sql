-- pgTAP: tamper evidence.  The objects of extension version 1.1 and their
-- privileges, the fixed interface of seal(), verify() and digest(), the
-- row encoding against the types' own send functions, the choice of rows
-- by snapshot and not by key order, and the SQLSTATE of each error.
BEGIN;
SELECT plan(44);

-- objects
SELECT has_table('audit_guard', 'seal_blocks', 'seal_blocks table');
SELECT has_table('audit_guard', 'seal_rows', 'seal_rows table');
SELECT columns_are('audit_guard', 'seal_blocks',
	ARRAY['relid', 'block', 'columns', 'key_columns', 'row_count', 'root',
		  'prev_hash', 'block_hash', 'table_name', 'sealed_at', 'sealed_by',
		  'seal_snapshot', 'kind', 'reason']);
SELECT columns_are('audit_guard', 'seal_rows',
	ARRAY['relid', 'block', 'chunk', 'row_count', 'keys', 'leaves']);
SELECT col_is_pk('audit_guard', 'seal_blocks', ARRAY['relid', 'block']::name[], 'seal_blocks is keyed by table and block');
SELECT col_is_pk('audit_guard', 'seal_rows', ARRAY['relid', 'block', 'chunk']::name[], 'seal_rows is keyed by table, block and chunk');
SELECT col_is_pk('audit_guard', 'history', 'id', 'history is keyed by id');
SELECT is(e.extconfig::regclass[]::text[] @> ARRAY['audit_guard.seal_blocks',
		  'audit_guard.seal_rows', 'audit_guard.history_id_seq'], true,
		  'seal data and the history sequence are dumped with the extension')
  FROM pg_extension e WHERE e.extname = 'audit_guard';

-- the interface the issue fixes
SELECT has_function('audit_guard', 'seal', ARRAY['regclass']);
SELECT has_function('audit_guard', 'verify', ARRAY['regclass']);
SELECT has_function('audit_guard', 'verify', ARRAY['jsonb']);
SELECT has_function('audit_guard', 'digest', ARRAY[]::name[]);
SELECT function_returns('audit_guard', 'digest', ARRAY[]::name[], 'jsonb');
SELECT is((SELECT array_agg(format('%s %s', n, format_type(t, NULL)) ORDER BY o)
			 FROM pg_proc p, unnest(p.proargnames, p.proallargtypes, p.proargmodes)
				  WITH ORDINALITY AS a (n, t, m, o)
			WHERE p.oid = 'audit_guard.seal(regclass)'::regprocedure AND m = 't'),
		  ARRAY['table_name regclass', 'block bigint', 'rows bigint', 'block_hash text'],
		  'seal() returns (table_name, block, rows, block_hash)');
SELECT is((SELECT array_agg(format('%s %s', n, format_type(t, NULL)) ORDER BY o)
			 FROM pg_proc p, unnest(p.proargnames, p.proallargtypes, p.proargmodes)
				  WITH ORDINALITY AS a (n, t, m, o)
			WHERE p.oid = 'audit_guard.verify(jsonb)'::regprocedure AND m = 't'),
		  ARRAY['table_name regclass', 'block bigint', 'row_key text', 'problem text',
				'detail text'],
		  'verify(digest) returns (table_name, block, row_key, problem, detail)');
SELECT is((SELECT pronargdefaults::int FROM pg_proc
			WHERE oid = 'audit_guard.verify(regclass)'::regprocedure),
		  1, 'verify''s table argument has a default');

-- privileges: seal data is read through row-level security, written by no one
CREATE ROLE regress_tap_sealer;
SELECT ok(NOT has_table_privilege('regress_tap_sealer', 'audit_guard.seal_blocks',
								  'INSERT, UPDATE, DELETE, TRUNCATE'),
		  'PUBLIC may not write seal_blocks');
SELECT ok(NOT has_table_privilege('regress_tap_sealer', 'audit_guard.seal_rows',
								  'INSERT, UPDATE, DELETE, TRUNCATE'),
		  'PUBLIC may not write seal_rows');
SELECT ok((SELECT bool_and(relrowsecurity) FROM pg_class
			WHERE oid IN ('audit_guard.seal_blocks'::regclass, 'audit_guard.seal_rows'::regclass)),
		  'row-level security is on for the seal data');
SELECT is((SELECT count(*)::int FROM pg_policy
			WHERE polrelid IN ('audit_guard.seal_blocks'::regclass, 'audit_guard.seal_rows'::regclass)),
		  2, 'one read policy each');

-- the row encoding: each column's send form, as the types' send functions
-- give it (the server writes some of them itself, for speed)
CREATE SCHEMA regress_tap_seal;
CREATE TYPE regress_tap_seal.mood AS ENUM ('calm', 'angry');
CREATE TABLE regress_tap_seal.kinds (
	id		bigint PRIMARY KEY,
	i2		smallint, i4 integer, b boolean, f4 real, f8 double precision,
	n		numeric, t text, vc varchar(8), bp char(4), by bytea,
	d		date, ts timestamp, tz timestamptz, u uuid, j jsonb, js json,
	a		integer[], iv interval, m regress_tap_seal.mood, o oid
);
INSERT INTO regress_tap_seal.kinds VALUES
	(1, -2, 40000, true, 1.5, -0.1, 12345.678, 'héllo', 'v', 'ab', '\x00ff',
	 '2024-02-29', '2024-01-01 12:00', '2024-01-01 12:00+02', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
	 '{"k": [1, 2]}', '{"k" : 1}', '{1,NULL,3}', '1 day 2 hours', 'angry', 42),
	(2, NULL, NULL, NULL, NULL, NULL, NULL, '', '', '', '', NULL, NULL, NULL, NULL,
	 NULL, NULL, '{}', NULL, NULL, NULL),
	(-3, 0, 0, false, 'NaN', '-Infinity', 'NaN', NULL, NULL, NULL, NULL,
	 'infinity', '-infinity', 'infinity', NULL, 'null', '[]', NULL, '0', 'calm', 0);
CREATE FUNCTION pg_temp.f(b bytea) RETURNS bytea LANGUAGE sql AS
$$ SELECT CASE WHEN b IS NULL THEN '\xffffffff'::bytea ELSE int4send(length(b)) || b END $$;
SELECT audit_guard.protect('regress_tap_seal.kinds');
SELECT is((SELECT "rows" FROM audit_guard.seal('regress_tap_seal.kinds')), 3::bigint,
		  'seal() seals the three rows');
SELECT results_eq(
	$$SELECT encode(sha256('\x00'::bytea || pg_temp.f(int8send(id)) || pg_temp.f(int2send(i2))
			|| pg_temp.f(int4send(i4)) || pg_temp.f(boolsend(b)) || pg_temp.f(float4send(f4))
			|| pg_temp.f(float8send(f8)) || pg_temp.f(numeric_send(n)) || pg_temp.f(textsend(t))
			|| pg_temp.f(varcharsend(vc)) || pg_temp.f(bpcharsend(bp)) || pg_temp.f(byteasend(by))
			|| pg_temp.f(date_send(d)) || pg_temp.f(timestamp_send(ts))
			|| pg_temp.f(timestamptz_send(tz)) || pg_temp.f(uuid_send(u))
			|| pg_temp.f(jsonb_send(j)) || pg_temp.f(json_send(js)) || pg_temp.f(array_send(a))
			|| pg_temp.f(interval_send(iv)) || pg_temp.f(enum_send(m)) || pg_temp.f(oidsend(o))),
			'hex')
		 FROM regress_tap_seal.kinds ORDER BY int8send(id)$$,
	$$SELECT encode(substr(r.leaves, 1 + 32 * (i - 1), 32), 'hex')
		FROM audit_guard.seal_rows r, generate_series(1, r.row_count) i
	   WHERE r.relid = 'regress_tap_seal.kinds'::regclass ORDER BY i$$,
	'every stored leaf is SHA-256 of 00 and the send forms, in key order');
SELECT is((SELECT encode(keys, 'hex') FROM audit_guard.seal_rows
			WHERE relid = 'regress_tap_seal.kinds'::regclass),
		  '000000080000000000000001' || '000000080000000000000002' || '00000008fffffffffffffffd',
		  'keys are stored in key order: bytes of the key encoding, so -3 comes last');
SELECT is_empty($$SELECT * FROM audit_guard.verify('regress_tap_seal.kinds')$$,
				'verify() finds every kind intact');

-- rows are chosen by snapshot, not by key order: a lower key inserted
-- after a seal goes into the next block and is no problem
CREATE TABLE regress_tap_seal.log (id int PRIMARY KEY, note text);
SELECT audit_guard.protect('regress_tap_seal.log');
INSERT INTO regress_tap_seal.log VALUES (10, 'ten'), (20, 'twenty');
SELECT is((SELECT "rows" FROM audit_guard.seal('regress_tap_seal.log')), 2::bigint,
		  'block 1 seals two rows');
INSERT INTO regress_tap_seal.log VALUES (5, 'five'), (15, 'fifteen');
SELECT results_eq($$SELECT block, "rows" FROM audit_guard.seal('regress_tap_seal.log')$$,
				  $$VALUES (2::bigint, 2::bigint)$$, 'block 2 seals the two lower keys');
SELECT is_empty($$SELECT * FROM audit_guard.seal('regress_tap_seal.log')$$,
				'a third seal finds nothing new and makes no block');
SELECT is_empty($$SELECT * FROM audit_guard.verify('regress_tap_seal.log')$$,
				'the table verifies clean');
SELECT is((SELECT (d -> 'tables') @> jsonb_build_array(jsonb_build_object(
				'table', 'regress_tap_seal.log', 'block', 2, 'rows', 4))
			 FROM audit_guard.digest() d), true,
		  'the digest has the table''s head: block 2, 4 rows');
SELECT is_empty($$SELECT * FROM audit_guard.verify(audit_guard.digest())$$,
				'verify(digest()) is clean');
SELECT results_eq(
	$$SELECT problem FROM audit_guard.verify(jsonb_build_object('tables', jsonb_build_array(
		jsonb_build_object('table', 'regress_tap_seal.log', 'block', 2, 'block_hash', repeat('0', 64)),
		jsonb_build_object('table', 'regress_tap_seal.log', 'block', 9, 'block_hash', repeat('0', 64)),
		jsonb_build_object('table', 'regress_tap_seal.gone', 'block', 1, 'block_hash', repeat('0', 64)))))$$,
	$$VALUES ('digest mismatch'), ('digest mismatch'), ('digest mismatch')$$,
	'a digest whose hash, block or table does not hold is three mismatches');
SELECT ok(EXISTS (SELECT FROM audit_guard.seal()
				   WHERE table_name = 'audit_guard.history'::regclass AND "rows" > 0),
		  'seal() with no argument seals history too (protect() wrote to it above)');
SELECT ok(EXISTS (SELECT FROM audit_guard.seal_blocks
				   WHERE relid = 'audit_guard.history'::regclass),
		  'history has seal data');

-- errors and their SQLSTATEs
CREATE TABLE regress_tap_seal.plain (id int PRIMARY KEY);
CREATE TABLE regress_tap_seal.keyless (id int);
SELECT audit_guard.protect('regress_tap_seal.keyless');
INSERT INTO regress_tap_seal.keyless VALUES (1);
CREATE VIEW regress_tap_seal.v AS SELECT 1 AS x;
GRANT USAGE ON SCHEMA regress_tap_seal TO regress_tap_sealer;
SELECT throws_ok($$SELECT * FROM audit_guard.seal('regress_tap_seal.plain')$$, '55000', NULL,
				 'sealing an unprotected table is refused');
SELECT throws_ok($$SELECT * FROM audit_guard.seal('regress_tap_seal.keyless')$$, '55000', NULL,
				 'sealing a table without a primary key is refused');
SELECT throws_ok($$SELECT * FROM audit_guard.verify('regress_tap_seal.v')$$, '42809', NULL,
				 'verifying a view is refused');
SELECT throws_ok($$SELECT * FROM audit_guard.verify('"not a digest"'::jsonb)$$, '22023', NULL,
				 'a malformed digest is refused');
SET LOCAL ROLE regress_tap_sealer;
SELECT throws_ok($$SELECT * FROM audit_guard.seal('regress_tap_seal.log')$$, '42501', NULL,
				 'a role that is neither designated owner, owner nor superuser may not seal');
SELECT throws_ok($$SELECT * FROM audit_guard.verify('regress_tap_seal.log')$$, '42501', NULL,
				 'a role that may not read the table may not verify it');
SELECT is_empty($$SELECT * FROM audit_guard.seal_blocks
				   WHERE relid = 'regress_tap_seal.log'::regclass$$,
				'nor see its seal data');
RESET ROLE;
SELECT throws_ok($$UPDATE audit_guard.seal_blocks SET row_count = 0$$, '42501', NULL,
				 'UPDATE of seal_blocks is refused to a superuser');
SELECT throws_ok($$DELETE FROM audit_guard.seal_rows$$, '42501', NULL,
				 'DELETE of seal_rows is refused to a superuser');
SELECT throws_ok($$TRUNCATE audit_guard.seal_blocks$$, '42501', NULL,
				 'TRUNCATE of seal_blocks is refused to a superuser');
SELECT throws_ok($$DELETE FROM audit_guard.history$$, '42501', NULL,
				 'DELETE of history is refused to a superuser');

SELECT * FROM finish();
ROLLBACK;
