--
-- 10_seal: tamper evidence.  seal(), verify(), digest() and
-- verify(digest): the worked example of docs/format.md, chains, each
-- problem verify() reports, each error, who may do what, and the
-- designated owner's overrides in history.
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;

CREATE ROLE regress_seal_owner;
CREATE ROLE regress_seal_keeper;
CREATE ROLE regress_seal_reader;
CREATE ROLE regress_seal_nobody;
CREATE SCHEMA regress_seal;
GRANT USAGE ON SCHEMA regress_seal TO PUBLIC;
SET search_path = regress_seal, public;

-- the worked example of docs/format.md, byte for byte
CREATE TABLE audit_log (id bigint PRIMARY KEY, actor text, note text);
INSERT INTO audit_log VALUES (1, 'alice', 'login'), (2, 'bob', NULL);
ALTER TABLE audit_log OWNER TO regress_seal_owner;
SELECT audit_guard.protect('audit_log', owner => 'regress_seal_keeper');
SELECT * FROM audit_guard.seal('audit_log');
SELECT block, columns, key_columns, row_count,
	   encode(root, 'hex') AS root, encode(prev_hash, 'hex') AS prev_hash,
	   encode(block_hash, 'hex') AS block_hash, table_name
  FROM audit_guard.seal_blocks WHERE relid = 'audit_log'::regclass;
SELECT chunk, row_count, encode(keys, 'hex') AS keys,
	   encode(substr(leaves, 1, 32), 'hex') AS leaf_1,
	   encode(substr(leaves, 33, 32), 'hex') AS leaf_2
  FROM audit_guard.seal_rows WHERE relid = 'audit_log'::regclass;
-- the same leaves from SQL, with pgcrypto-free sha256() over the send forms
SELECT encode(sha256('\x00'::bytea
		|| int4send(8) || int8send(id)
		|| int4send(length(textsend(actor))) || textsend(actor)
		|| CASE WHEN note IS NULL THEN '\xffffffff'::bytea
				ELSE int4send(length(textsend(note))) || textsend(note) END), 'hex') AS leaf
  FROM audit_log ORDER BY id;

-- nothing new, no block; a new row, a new block chained on the first
SELECT * FROM audit_guard.seal('audit_log');
INSERT INTO audit_log VALUES (3, 'carol', '');
SELECT table_name, block, "rows" FROM audit_guard.seal('audit_log');
SELECT b2.prev_hash = b1.block_hash AS chained
  FROM audit_guard.seal_blocks b1, audit_guard.seal_blocks b2
 WHERE b1.relid = 'audit_log'::regclass AND b1.block = 1
   AND b2.relid = 'audit_log'::regclass AND b2.block = 2;
SELECT * FROM audit_guard.verify('audit_log');
SELECT * FROM audit_guard.verify('regress_seal.audit_log'::regclass);
SELECT * FROM audit_guard.verify(tbl => 'audit_log');

-- the digest: chain heads of every sealed table
SELECT jsonb_typeof(d) AS digest, d ->> 'format' AS format,
	   d ? 'database' AND d ? 'system_identifier' AND d ? 'taken_at'
	   AND d ? 'server_encoding' AS described,
	   (SELECT t FROM jsonb_array_elements(d -> 'tables') t
		 WHERE t ->> 'table' = 'regress_seal.audit_log') AS audit_log
  FROM audit_guard.digest() d;
SELECT * FROM audit_guard.verify(audit_guard.digest());

-- who may seal: the designated owner (membership, as everywhere), the
-- table's owner, a superuser; nobody else
SET ROLE regress_seal_nobody;
SELECT * FROM audit_guard.seal('audit_log');
SELECT * FROM audit_guard.seal();
RESET ROLE;
INSERT INTO audit_log VALUES (4, 'dave', 'logout');
SET ROLE regress_seal_keeper;
SELECT table_name, block, "rows" FROM audit_guard.seal('audit_log');
RESET ROLE;
INSERT INTO audit_log VALUES (5, 'erin', 'login');
SET ROLE regress_seal_owner;
SELECT table_name, block, "rows" FROM audit_guard.seal('audit_log');
RESET ROLE;
SELECT block, sealed_by FROM audit_guard.seal_blocks
 WHERE relid = 'audit_log'::regclass ORDER BY block;

-- who may verify: whoever may read the whole table; the seal data shows
-- to a role only for the tables it may read
SET ROLE regress_seal_reader;
SELECT * FROM audit_guard.verify('audit_log');
SELECT count(*) AS blocks_seen FROM audit_guard.seal_blocks;
SELECT count(*) AS chunks_seen FROM audit_guard.seal_rows;
RESET ROLE;
GRANT SELECT ON audit_log TO regress_seal_reader;
SET ROLE regress_seal_reader;
SELECT * FROM audit_guard.verify('audit_log');
SELECT count(*) AS blocks_seen FROM audit_guard.seal_blocks;
RESET ROLE;

-- errors
CREATE TABLE unprotected (id int PRIMARY KEY);
CREATE TABLE no_key (id int, note text);
SELECT audit_guard.protect('no_key');
CREATE TABLE no_send (id int PRIMARY KEY, acl aclitem);
SELECT audit_guard.protect('no_send');
INSERT INTO no_send VALUES (1, 'regress_seal_owner=r/regress_seal_owner');
CREATE VIEW a_view AS SELECT * FROM audit_log;
SELECT * FROM audit_guard.seal('unprotected');
SELECT * FROM audit_guard.seal('no_key');
SELECT * FROM audit_guard.seal('no_send');
SELECT * FROM audit_guard.seal('a_view');
SELECT * FROM audit_guard.seal('no_such_table');
SELECT * FROM audit_guard.verify('a_view');
SELECT * FROM audit_guard.verify(12345::oid::regclass);
SELECT * FROM audit_guard.verify('{"tables": 1}'::jsonb);
SELECT * FROM audit_guard.verify('[]'::jsonb);
SELECT * FROM audit_guard.verify(NULL::jsonb);
-- a plain string would be ambiguous between a table and a digest, so text
-- names a table
SELECT * FROM audit_guard.verify('no_such_table');

-- the seal data is never changed, by anyone
UPDATE audit_guard.seal_blocks SET row_count = 1;
DELETE FROM audit_guard.seal_rows;
TRUNCATE audit_guard.seal_blocks;
TRUNCATE audit_guard.seal_rows;
DROP TABLE audit_guard.seal_rows;

-- tampering, made possible here by unprotecting (as the designated owner):
-- a changed row and a missing row, named by key
SET ROLE regress_seal_keeper;
SELECT audit_guard.unprotect('audit_log');
RESET ROLE;
UPDATE audit_log SET note = 'forged' WHERE id = 2;
DELETE FROM audit_log WHERE id = 4;
SELECT audit_guard.protect('audit_log', owner => 'regress_seal_keeper');
SELECT table_name, block, row_key, problem FROM audit_guard.verify('audit_log');
SELECT table_name, block, row_key, problem FROM audit_guard.verify(audit_guard.digest());

-- composite keys are printed as row literals
CREATE TABLE pairs (a text, b int, note text, PRIMARY KEY (a, b));
INSERT INTO pairs VALUES ('x y', 1, 'n'), ('z', 2, 'm'), ('', 3, 'e');
SELECT audit_guard.protect('pairs');
SELECT table_name, block, "rows" FROM audit_guard.seal('pairs');
SELECT audit_guard.unprotect('pairs');
DELETE FROM pairs WHERE b <> 2;
UPDATE pairs SET note = 'q' WHERE b = 2;
SELECT audit_guard.protect('pairs');
SELECT table_name, block, row_key, problem FROM audit_guard.verify('pairs');

-- forged seal data (INSERT stays possible, as for pg_restore): a block
-- that does not chain, one whose hash is not its header's, rows without a
-- header.  Sealing goes on after it; the damage stays reported.
CREATE TABLE forged (id int PRIMARY KEY, note text);
INSERT INTO forged VALUES (1, 'one'), (2, 'two');
SELECT audit_guard.protect('forged');
SELECT table_name, block, "rows" FROM audit_guard.seal('forged');
INSERT INTO audit_guard.seal_blocks (relid, block, columns, key_columns, row_count,
									 root, prev_hash, block_hash, table_name, sealed_by)
SELECT relid, 2, columns, key_columns, row_count, root, prev_hash, block_hash,
	   table_name, sealed_by
  FROM audit_guard.seal_blocks WHERE relid = 'forged'::regclass AND block = 1;
INSERT INTO audit_guard.seal_rows
SELECT relid, 2, chunk, row_count, keys, leaves
  FROM audit_guard.seal_rows WHERE relid = 'forged'::regclass AND block = 1;
INSERT INTO audit_guard.seal_rows
SELECT relid, 5, chunk, row_count, keys, '\x00'
  FROM audit_guard.seal_rows WHERE relid = 'forged'::regclass AND block = 1;
SELECT table_name, block, row_key, problem, detail ~ '^[a-z]' AS has_detail
  FROM audit_guard.verify('forged');
INSERT INTO forged VALUES (3, 'three');
SELECT table_name, block, "rows" FROM audit_guard.seal('forged');
SELECT block, problem FROM audit_guard.verify('forged');

-- ADD COLUMN after sealing changes nothing for the blocks sealed before;
-- the next block seals the new column too
ALTER TABLE pairs ADD COLUMN extra int DEFAULT 7;
SELECT count(*) AS problems FROM audit_guard.verify('pairs');
INSERT INTO pairs VALUES ('w', 4, 'new', 8);
SELECT table_name, block, "rows" FROM audit_guard.seal('pairs');
SELECT block, columns FROM audit_guard.seal_blocks
 WHERE relid = 'pairs'::regclass ORDER BY block;

-- a partitioned table is sealed and verified partition by partition
CREATE TABLE parted (id int PRIMARY KEY, note text) PARTITION BY RANGE (id);
CREATE TABLE parted_1 PARTITION OF parted FOR VALUES FROM (0) TO (100);
CREATE TABLE parted_2 PARTITION OF parted FOR VALUES FROM (100) TO (200);
INSERT INTO parted VALUES (1, 'a'), (2, 'b'), (150, 'c');
SELECT audit_guard.protect('parted');
SELECT table_name, block, "rows" FROM audit_guard.seal('parted');
SELECT * FROM audit_guard.verify('parted');

-- history: every change to protection with its statement, and the
-- designated owner's overrides of what the guard refuses to others (here
-- the table's owner, a member of the designated owner role)
GRANT regress_seal_keeper TO regress_seal_owner;
SET ROLE regress_seal_owner;
ALTER TABLE audit_log DISABLE TRIGGER ALL;
ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_guard_append_only;
ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_guard_no_truncate;
RESET ROLE;
-- refused to others, recorded nowhere but in the server log
ALTER TABLE audit_log DISABLE TRIGGER ALL;
SELECT action, table_name, designated_owner, performed_by, operation, statement
  FROM audit_guard.history
 WHERE table_name LIKE 'regress_seal.audit_log' ORDER BY id;
-- a failed statement leaves no record, nor one rolled back
SET ROLE regress_seal_owner;
BEGIN;
ALTER TABLE audit_log DISABLE TRIGGER ALL;
ROLLBACK;
BEGIN;
ALTER TABLE audit_log DISABLE TRIGGER ALL;
SELECT 1/0;
COMMIT;
BEGIN;
SAVEPOINT s;
ALTER TABLE audit_log DISABLE TRIGGER ALL;
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
ALTER TABLE audit_log DISABLE TRIGGER ALL, ALTER COLUMN no_such_column TYPE int;
ROLLBACK TO SAVEPOINT s;
SET LOCAL search_path = regress_seal;	-- a later utility statement
COMMIT;
RESET ROLE;
SELECT count(*) AS overrides FROM audit_guard.history
 WHERE action = 'override' AND table_name = 'regress_seal.audit_log';
-- history is sealed like a protected table, by its primary key
SELECT table_name, "rows" > 0 AS sealed FROM audit_guard.seal('audit_guard.history');
SELECT * FROM audit_guard.verify('audit_guard.history');

-- clean up (the seal data stays: nobody deletes it)
SET ROLE regress_seal_keeper;
SELECT audit_guard.unprotect('audit_log');
RESET ROLE;
SELECT audit_guard.unprotect(t) FROM unnest(ARRAY['pairs', 'forged', 'parted',
		'no_key', 'no_send']::regclass[]) t;
DROP SCHEMA regress_seal CASCADE;
DROP ROLE regress_seal_owner, regress_seal_keeper, regress_seal_reader,
	regress_seal_nobody;
