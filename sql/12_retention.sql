--
-- 12_retention: set_retention(), purge() and redact(), and what a
-- retention refuses while rows younger than it remain, as the user reads it.
-- Everything runs in one transaction that is rolled back at the end: a
-- table holding rows younger than its retention cannot be dropped (that is
-- the point), so there would be no cleaning up after a commit.  Each error
-- is rolled back to just before its statement (ON_ERROR_ROLLBACK).
--
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
SET client_min_messages = warning;
BEGIN;
CREATE ROLE regress_ret_owner;
CREATE ROLE regress_ret_tblowner;
GRANT regress_ret_tblowner TO regress_ret_owner;
CREATE SCHEMA regress_ret AUTHORIZATION regress_ret_tblowner;
GRANT USAGE ON SCHEMA regress_ret TO PUBLIC;
SET LOCAL search_path = regress_ret, public;
SET LOCAL ROLE regress_ret_tblowner;
CREATE TABLE audit_log (
	id			int PRIMARY KEY,
	at			timestamptz NOT NULL,
	actor		text NOT NULL,
	seen		timestamptz,
	logged_at	timestamptz NOT NULL DEFAULT now()
);
INSERT INTO audit_log (id, at, actor) VALUES
	(1, now() - interval '400 days', 'alice'),
	(2, now() - interval '40 days', 'bob'),
	(3, now() - interval '1 day', 'carol'),
	(4, now() - interval '1 hour', 'dave');
CREATE TABLE events (id int NOT NULL, at timestamptz NOT NULL, PRIMARY KEY (id, at))
	PARTITION BY RANGE (at);
CREATE TABLE events_old PARTITION OF events
	FOR VALUES FROM (MINVALUE) TO ('2020-01-01 00:00:00+00');
CREATE TABLE events_default PARTITION OF events DEFAULT;
INSERT INTO events VALUES (1, '2010-01-01 00:00:00+00'), (2, now() - interval '1 day'),
	(3, now() - interval '40 days');
RESET ROLE;
SELECT audit_guard.protect('audit_log', owner => 'regress_ret_owner');
SELECT audit_guard.protect('events', owner => 'regress_ret_owner');

-- only the designated owner sets a retention; superuser status does not count
SELECT audit_guard.set_retention('audit_log', '30 days', 'at');
SET LOCAL ROLE regress_ret_owner;
-- the time column: a NOT NULL timestamptz, timestamp or date column
SELECT audit_guard.set_retention('audit_log', '30 days', 'actor');
SELECT audit_guard.set_retention('audit_log', '30 days', 'seen');
SELECT audit_guard.set_retention('audit_log', '30 days', 'happened');
SELECT audit_guard.set_retention('audit_log', '-30 days', 'at');
SELECT audit_guard.set_retention('audit_log', '30 days', 'at');
-- raised, never lowered; the time column never changes
SELECT audit_guard.set_retention('audit_log', '7 days', 'at');
SELECT audit_guard.set_retention('audit_log', '35 days', 'logged_at');
SELECT audit_guard.set_retention('audit_log', '35 days', 'at');
SELECT audit_guard.set_retention('audit_log', '35 days', 'at');
SELECT audit_guard.set_retention('events', '30 days', 'at');
SELECT action, keep, performed_by FROM audit_guard.history
 WHERE table_name = 'regress_ret.audit_log' AND action = 'retention' ORDER BY id;

-- purge: the rows older than 35 days go, the chain records it
SELECT audit_guard.purge('audit_log');
SELECT id, actor FROM audit_log ORDER BY id;
SELECT * FROM audit_guard.verify('audit_log');
SELECT action, keep, row_count, performed_by FROM audit_guard.history
 WHERE table_name = 'regress_ret.audit_log' AND action = 'purge' ORDER BY id;

-- redact: one row, whatever its age, with a reason
SELECT audit_guard.redact('audit_log', '3', ' ');
SELECT audit_guard.redact('audit_log', '99', 'erasure request 17');
SELECT audit_guard.redact('audit_log', '3', 'erasure request 17');
SELECT audit_guard.redact('audit_log', '3', 'erasure request 17');
SELECT id, actor FROM audit_log ORDER BY id;
SELECT * FROM audit_guard.verify('audit_log');
SELECT kind, sealed_block, row_count, whole_block, reason, erased_by
  FROM audit_guard.erasures WHERE table_name = 'audit_log'::regclass ORDER BY block;

-- while audit_log holds a row younger than 35 days, even its designated
-- owner cannot remove it, nor the time column
DROP TABLE audit_log;
SELECT audit_guard.unprotect('audit_log');
ALTER TABLE audit_log DROP COLUMN at;
ALTER TABLE audit_log RENAME COLUMN at TO happened_at;
ALTER TABLE audit_log ALTER COLUMN at TYPE timestamptz USING at - interval '100 years';
TRUNCATE audit_log;
DELETE FROM audit_log;
-- nor a partition holding one; a partition whose rows are all expired goes
DROP TABLE events_default;
ALTER TABLE events DETACH PARTITION events_default;
DROP TABLE events_old;
-- purge() reaches into the default partition
SELECT audit_guard.purge('events');
SELECT tableoid::regclass AS partition, id FROM events ORDER BY id;
RESET ROLE;

-- everyone else is refused as before
SELECT audit_guard.purge('audit_log');
SELECT audit_guard.redact('audit_log', '4', 'erasure request 18');
SET LOCAL ROLE regress_ret_tblowner;
DROP TABLE events_default;
RESET ROLE;

-- what an auditor sees
SELECT table_name, retention, retention_column, rows_purged, rows_redacted
  FROM audit_guard.protected_tables p JOIN pg_class c ON c.oid = p.table_name
 WHERE c.relnamespace = 'regress_ret'::regnamespace ORDER BY c.relname;
SELECT table_name, check_name, status, detail
  FROM audit_guard.check('audit_log') WHERE check_name = 'retention';
SELECT t -> 'table' AS "table", t -> 'purged' AS purged, t -> 'redacted' AS redacted,
	   t -> 'retention' AS retention
  FROM audit_guard.digest() d, jsonb_array_elements(d -> 'tables') t
 WHERE t ->> 'table' LIKE 'regress_ret.%' ORDER BY 1;
ROLLBACK;
