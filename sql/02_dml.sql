--
-- 02_dml: UPDATE, DELETE, TRUNCATE and MERGE are refused on a protected
-- table for the superuser, the table owner (who is its designated owner)
-- and an application role that holds every table privilege; the rows are
-- unchanged after each attempt.  INSERT, SELECT and COPY FROM keep working.
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;

CREATE ROLE regress_dml_owner;
CREATE ROLE regress_dml_app;
CREATE SCHEMA regress_dml;
GRANT USAGE ON SCHEMA regress_dml TO PUBLIC;
SET search_path = regress_dml, public;

CREATE TABLE audit_log (
	id		bigint PRIMARY KEY,
	at		timestamptz NOT NULL DEFAULT '2024-01-01 00:00:00+00',
	actor	text,
	action	text,
	payload	jsonb
);
ALTER TABLE audit_log OWNER TO regress_dml_owner;
-- privileges do not matter: the app may do everything an ACL can grant
GRANT ALL ON audit_log TO regress_dml_app;
CREATE TABLE scratch (id int);
ALTER TABLE scratch OWNER TO regress_dml_owner;
GRANT ALL ON scratch TO regress_dml_app;
CREATE TABLE refs (id int PRIMARY KEY, log_id bigint REFERENCES audit_log);
GRANT ALL ON refs TO regress_dml_app;

INSERT INTO audit_log (id, actor, action, payload) VALUES
	(1, 'alice', 'login', '{"ip": "10.0.0.1"}'),
	(2, 'bob', 'transfer', '{"amount": 100}'),
	(3, 'alice', 'logout', NULL);
INSERT INTO scratch VALUES (1), (2);

-- a fingerprint of every row: count and checksum
CREATE FUNCTION fingerprint() RETURNS text LANGUAGE sql STABLE AS $$
	SELECT count(*) || ' rows, ' || md5(coalesce(string_agg(t::text, ',' ORDER BY id), ''))
	  FROM regress_dml.audit_log t
$$;
SELECT fingerprint() AS before \gset

SELECT audit_guard.protect('audit_log');

-- as superuser
UPDATE audit_log SET actor = 'mallory' WHERE id = 2;
UPDATE audit_log SET payload = NULL;
DELETE FROM audit_log WHERE id = 2;
DELETE FROM audit_log;
UPDATE audit_log SET actor = 'mallory' WHERE id = 2 RETURNING id;
WITH d AS (DELETE FROM audit_log RETURNING *) SELECT count(*) FROM d;
WITH u AS (UPDATE audit_log SET actor = 'x' RETURNING *) SELECT count(*) FROM u;
MERGE INTO audit_log a USING (VALUES (2)) v(id) ON a.id = v.id
	WHEN MATCHED THEN UPDATE SET actor = 'mallory';
MERGE INTO audit_log a USING (VALUES (2)) v(id) ON a.id = v.id
	WHEN MATCHED THEN DELETE;
INSERT INTO audit_log (id, actor) VALUES (2, 'mallory')
	ON CONFLICT (id) DO UPDATE SET actor = excluded.actor;
TRUNCATE audit_log;
TRUNCATE ONLY audit_log;
TRUNCATE TABLE regress_dml.audit_log RESTART IDENTITY;
TRUNCATE audit_log, refs CASCADE;
SELECT fingerprint() = :'before' AS unchanged;

-- several tables, one of them protected: nothing is truncated
TRUNCATE scratch, audit_log;
TRUNCATE audit_log, scratch;
SELECT count(*) AS scratch_rows FROM scratch;

-- as the table owner, who is the designated owner
SET ROLE regress_dml_owner;
UPDATE audit_log SET actor = 'mallory' WHERE id = 2;
DELETE FROM audit_log WHERE id = 2;
WITH d AS (DELETE FROM audit_log RETURNING *) SELECT count(*) FROM d;
MERGE INTO audit_log a USING (VALUES (2)) v(id) ON a.id = v.id
	WHEN MATCHED THEN DELETE;
TRUNCATE audit_log;
TRUNCATE scratch, audit_log;
RESET ROLE;
SELECT fingerprint() = :'before' AS unchanged;
SELECT count(*) AS scratch_rows FROM scratch;

-- as the application role, with every privilege granted
SET ROLE regress_dml_app;
UPDATE audit_log SET actor = 'mallory' WHERE id = 2;
UPDATE audit_log SET payload = NULL;
DELETE FROM audit_log WHERE id = 2;
DELETE FROM audit_log;
WITH d AS (DELETE FROM audit_log RETURNING *) SELECT count(*) FROM d;
MERGE INTO audit_log a USING (VALUES (2)) v(id) ON a.id = v.id
	WHEN MATCHED THEN UPDATE SET actor = 'mallory';
INSERT INTO audit_log (id, actor) VALUES (2, 'mallory')
	ON CONFLICT (id) DO UPDATE SET actor = excluded.actor;
TRUNCATE audit_log;
TRUNCATE scratch, audit_log;
RESET ROLE;
SELECT fingerprint() = :'before' AS unchanged;
SELECT count(*) AS scratch_rows FROM scratch;

-- a refusal inside a transaction: the transaction is aborted, data intact
BEGIN;
INSERT INTO audit_log (id, actor, action) VALUES (99, 'tx', 'insert');
DELETE FROM audit_log WHERE id = 1;
COMMIT;
SELECT fingerprint() = :'before' AS unchanged;

-- what keeps working: INSERT, SELECT, COPY FROM, locking reads, FK checks
SET ROLE regress_dml_app;
INSERT INTO audit_log (id, actor, action) VALUES (4, 'app', 'insert');
INSERT INTO audit_log (id, actor, action) VALUES (5, 'app', 'returning')
	RETURNING id, actor;
INSERT INTO audit_log (id, actor) VALUES (1, 'dup') ON CONFLICT DO NOTHING;
COPY audit_log (id, actor, action, payload) FROM STDIN;
6	app	copy	{"via": "copy"}
7	app	copy	\N
\.
SELECT id, actor, action FROM audit_log WHERE id = 6 FOR UPDATE;
SELECT id FROM audit_log WHERE id = 7 FOR SHARE;
INSERT INTO refs VALUES (1, 1), (2, 7);
SELECT count(*) FROM audit_log;
RESET ROLE;
SET ROLE regress_dml_owner;
INSERT INTO audit_log (id, actor, action) VALUES (8, 'owner', 'insert');
RESET ROLE;
INSERT INTO audit_log (id, actor, action) VALUES (9, 'postgres', 'insert');
COPY audit_log (id, actor, action) FROM STDIN WITH (FORMAT csv);
10,postgres,copy
\.
SELECT id, actor, action, payload FROM audit_log ORDER BY id;
SELECT fingerprint() AS before \gset

-- referencing rows do not open the referenced table: deleting a referenced
-- row is refused before the FK would even complain
DELETE FROM audit_log WHERE id = 7;
DELETE FROM refs WHERE id = 2;
SELECT fingerprint() = :'before' AS unchanged;

-- clean up: only the designated owner can unprotect
SET ROLE regress_dml_owner;
SELECT audit_guard.unprotect('audit_log');
RESET ROLE;
RESET search_path;
DROP SCHEMA regress_dml CASCADE;
DROP ROLE regress_dml_owner, regress_dml_app;
SELECT count(*) AS registry_rows FROM audit_guard.registry;
