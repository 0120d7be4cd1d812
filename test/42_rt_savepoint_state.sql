-- pgTAP (issue 11, found by a red-team pass): the post-statement check must not trust
-- what a statement rolled back to a savepoint left in its memory.
--
-- postcheck.c keeps, for the whole transaction, the relations a statement
-- dropped (`dropped`, consulted by cannot_matter(): such a relation is
-- never checked again) and the relations found empty before a TRUNCATE
-- (`empty_truncated`: their storage may change).  Neither list is undone
-- by ROLLBACK TO SAVEPOINT (nor by a PL/pgSQL exception block) until now: each note now goes with
-- the subtransaction that made it.  Before:
--
-- 1. the designated owner drops an empty partition of a table under a
--    retention (allowed: it holds no young row), rolls the drop back, and
--    from then on every change to that partition passes unchecked: once
--    young rows arrive (the rollback released the partition's locks, so
--    the application's inserts go on), DETACH takes them out of the
--    retention, unprotect() and DROP follow;
-- 2. the same for the rows of an ordinary table: after a rolled-back DROP
--    of it, ALTER COLUMN ... TYPE ... USING rewrites young rows;
-- 3. a TRUNCATE of an empty table, refused by the guard trigger and rolled
--    back to a savepoint, leaves the table in `empty_truncated`: a later
--    ALTER COLUMN ... TYPE ... USING rewrites young rows.
--
-- Each case first shows the same statement refused without the savepoint
-- (23000), then the statement after the savepoint, refused as well.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(12);

CREATE ROLE regress_rtsp_owner;
CREATE SCHEMA regress_rtsp AUTHORIZATION regress_rtsp_owner;
SET ROLE regress_rtsp_owner;
CREATE TABLE regress_rtsp.events (id bigint, at timestamptz NOT NULL, note text,
								  PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE regress_rtsp.ev_old PARTITION OF regress_rtsp.events
	FOR VALUES FROM ('2000-01-01') TO ('2020-01-01');
-- the partition of the current time, still empty (pg_partman's premake)
CREATE TABLE regress_rtsp.ev_cur PARTITION OF regress_rtsp.events
	FOR VALUES FROM ('2020-01-01') TO ('2200-01-01');
CREATE TABLE regress_rtsp.ev_cur2 PARTITION OF regress_rtsp.events
	FOR VALUES FROM ('2200-01-01') TO ('2300-01-01');
INSERT INTO regress_rtsp.events VALUES (1, '2010-01-01', 'old');
-- ordinary tables: one with an expired row only, one empty
CREATE TABLE regress_rtsp.old_log (id bigint PRIMARY KEY, at timestamptz NOT NULL, note text);
INSERT INTO regress_rtsp.old_log VALUES (1, '2001-01-01', 'old');
CREATE TABLE regress_rtsp.new_log (id bigint PRIMARY KEY, at timestamptz NOT NULL, note text);
CREATE TABLE regress_rtsp.base_log (id bigint PRIMARY KEY, at timestamptz NOT NULL, note text);
INSERT INTO regress_rtsp.base_log VALUES (1, now(), 'written');
RESET ROLE;
SELECT audit_guard.protect('regress_rtsp.events');
SELECT audit_guard.protect('regress_rtsp.old_log');
SELECT audit_guard.protect('regress_rtsp.new_log');
SELECT audit_guard.protect('regress_rtsp.base_log');
SET ROLE regress_rtsp_owner;
SELECT audit_guard.set_retention('regress_rtsp.events', '30 days', 'at');
SELECT audit_guard.set_retention('regress_rtsp.old_log', '30 days', 'at');
SELECT audit_guard.set_retention('regress_rtsp.new_log', '30 days', 'at');
SELECT audit_guard.set_retention('regress_rtsp.base_log', '30 days', 'at');

-- 1. DETACH of a partition of young rows, after a rolled-back DROP of it
INSERT INTO regress_rtsp.events VALUES (2, '2250-01-01', 'young, in ev_cur2');
SELECT throws_ok($$ALTER TABLE regress_rtsp.events DETACH PARTITION regress_rtsp.ev_cur2$$,
				 '23000', NULL,
				 'without a savepoint: DETACH of a partition of young rows is refused');

SAVEPOINT before_drop;
SELECT lives_ok($$DROP TABLE regress_rtsp.ev_cur$$,
				'the designated owner may drop the empty partition ev_cur');
ROLLBACK TO SAVEPOINT before_drop;
-- young rows arrive (from the application, once the rollback released the lock)
INSERT INTO regress_rtsp.events VALUES (3, now(), 'young, in ev_cur');
SELECT throws_ok($$ALTER TABLE regress_rtsp.events DETACH PARTITION regress_rtsp.ev_cur$$,
				 '23000', NULL,
				 'after a DROP of it rolled back to a savepoint: DETACH of the partition of young rows is refused');
SELECT is((SELECT count(*)::int FROM regress_rtsp.events), 3,
		  'every row is still under the retention of events');
SELECT ok((SELECT relispartition FROM pg_class WHERE oid = 'regress_rtsp.ev_cur'::regclass),
		  'ev_cur is still a partition');

-- 2. a rewrite of young rows, after a rolled-back DROP of the table
SELECT throws_ok($$ALTER TABLE regress_rtsp.base_log ALTER COLUMN note TYPE text USING 'forged'$$,
				 '23000', NULL,
				 'without a savepoint: a rewrite of the young rows of base_log is refused');
SAVEPOINT before_drop_log;
SELECT lives_ok($$DROP TABLE regress_rtsp.old_log$$,
				'the designated owner may drop old_log while it holds no young row');
ROLLBACK TO SAVEPOINT before_drop_log;
INSERT INTO regress_rtsp.old_log VALUES (2, now(), 'written');
SELECT throws_ok($$ALTER TABLE regress_rtsp.old_log ALTER COLUMN note TYPE text USING 'forged'$$,
				 '23000', NULL,
				 'after a DROP of it rolled back to a savepoint: a rewrite of its young rows is refused');
SELECT is((SELECT array_agg(note ORDER BY id) FROM regress_rtsp.old_log),
		  '{old,written}'::text[], 'the rows of old_log are as written');

-- 3. a rewrite of young rows, after a refused TRUNCATE of the empty table
SAVEPOINT before_truncate;
SELECT throws_ok($$TRUNCATE regress_rtsp.new_log$$, '23000', NULL,
				 'TRUNCATE of the protected table new_log is refused (by its guard trigger)');
ROLLBACK TO SAVEPOINT before_truncate;
INSERT INTO regress_rtsp.new_log VALUES (1, now(), 'written');
SELECT throws_ok($$ALTER TABLE regress_rtsp.new_log ALTER COLUMN note TYPE text USING 'forged'$$,
				 '23000', NULL,
				 'after that TRUNCATE rolled back to a savepoint: a rewrite of its young rows is refused');
SELECT is((SELECT array_agg(note ORDER BY id) FROM regress_rtsp.new_log),
		  '{written}'::text[], 'the row of new_log is as written');

RESET ROLE;
SELECT * FROM finish();
ROLLBACK;
