-- pgTAP (issue 11, found by a red-team pass): a partition attached with a
-- retention of its own on another time column must not escape the
-- retention of its new parent.
--
-- set_retention() refuses a time column other than the one a related
-- retention uses, but ATTACH PARTITION did not check it.  A protected
-- table cannot be attached while its guard row trigger bears the parent's
-- guard name (PostgreSQL's clone would clash), but its designated owner may
-- rename it.  Then, with events kept 30 days by "at" and x 1 year by
-- "created", retention_of(x) kept only the largest keep with its column,
-- so a row of events in x, young by "at", went with purge(events) and DROP
-- TABLE x once its "created" was a year old.  Now the ATTACH is refused
-- (23000, decided after the statement on the table it attached); a table
-- kept by the same column joins.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(5);

CREATE ROLE regress_rtac_owner;
CREATE SCHEMA regress_rtac AUTHORIZATION regress_rtac_owner;
SET ROLE regress_rtac_owner;
CREATE TABLE regress_rtac.events (id bigint, at timestamptz NOT NULL, created timestamptz NOT NULL,
								  PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE regress_rtac.ev_old PARTITION OF regress_rtac.events
	FOR VALUES FROM ('2000-01-01') TO ('2020-01-01');
CREATE TABLE regress_rtac.x (id bigint, at timestamptz NOT NULL, created timestamptz NOT NULL,
							 PRIMARY KEY (id, at));
RESET ROLE;
SELECT audit_guard.protect('regress_rtac.events');
SELECT audit_guard.protect('regress_rtac.x');
SET ROLE regress_rtac_owner;
SELECT audit_guard.set_retention('regress_rtac.events', '30 days', 'at');
SELECT audit_guard.set_retention('regress_rtac.x', '1 year', 'created');
ALTER TRIGGER audit_guard_append_only ON regress_rtac.x RENAME TO x_guard;

SELECT throws_ok($$ALTER TABLE regress_rtac.events ATTACH PARTITION regress_rtac.x
					FOR VALUES FROM ('2020-01-01') TO ('2200-01-01')$$,
				 '23000', NULL,
				 'ATTACH of a table kept by another time column to a table with a retention is refused');
-- whether or not it was: a partition for the current time, and a row of
-- events in it, young by "at" (its "created" is old)
DO $$
BEGIN
	IF NOT (SELECT relispartition FROM pg_class WHERE oid = 'regress_rtac.x'::regclass) THEN
		CREATE TABLE regress_rtac.ev_new PARTITION OF regress_rtac.events
			FOR VALUES FROM ('2020-01-01') TO ('2200-01-01');
	END IF;
END
$$;
INSERT INTO regress_rtac.events VALUES (1, now(), '2001-01-01');
SAVEPOINT before_drop;
SELECT throws_ok(format('DROP TABLE %s',
						(SELECT c.oid::regclass FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
						  WHERE i.inhparent = 'regress_rtac.events'::regclass
							AND c.relname IN ('x', 'ev_new'))),
				 '23000', NULL,
				 'DROP TABLE of the partition holding a row younger than 30 days by "at" is refused');
ROLLBACK TO SAVEPOINT before_drop;
SELECT is(audit_guard.purge('regress_rtac.events'), 0::bigint,
		  'purge(events) deletes no row younger than 30 days by "at"');
SELECT is((SELECT count(*)::int FROM regress_rtac.events), 1, 'the young row is still there');

-- the legitimate neighbour: a table kept by the same column
CREATE TABLE regress_rtac.y (id bigint, at timestamptz NOT NULL, created timestamptz NOT NULL,
							 PRIMARY KEY (id, at));
RESET ROLE;
SELECT audit_guard.protect('regress_rtac.y');
SET ROLE regress_rtac_owner;
SELECT audit_guard.set_retention('regress_rtac.y', '1 year', 'at');
ALTER TRIGGER audit_guard_append_only ON regress_rtac.y RENAME TO y_guard;
SELECT lives_ok($$ALTER TABLE regress_rtac.events ATTACH PARTITION regress_rtac.y
				   FOR VALUES FROM ('1990-01-01') TO ('2000-01-01')$$,
				'ATTACH of a table kept by the same time column is allowed');

RESET ROLE;
SELECT * FROM finish();
ROLLBACK;
