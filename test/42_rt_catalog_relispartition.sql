-- pgTAP (issue 11, found by a red-team pass): a superuser's edit of
-- pg_class.relispartition must not take a partition out of its parent's
-- retention.
--
-- The post-statement check compares, after a direct catalog write, the
-- fields of pg_class that definition.c's compare_class() lists;
-- relispartition was not one of them, so `UPDATE pg_class SET
-- relispartition = false` on a partition of young rows passed, and
-- retention.c, which walks up only while relispartition is true, found no
-- retention: its designated owner dropped it, young rows and all.  Now the
-- catalog edit is refused (42501), as an edit of pg_inherits is.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(4);

CREATE ROLE regress_rtcr_owner;
CREATE SCHEMA regress_rtcr AUTHORIZATION regress_rtcr_owner;
SET ROLE regress_rtcr_owner;
CREATE TABLE regress_rtcr.events (id bigint, at timestamptz NOT NULL,
								  PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE regress_rtcr.ev_old PARTITION OF regress_rtcr.events
	FOR VALUES FROM ('2000-01-01') TO ('2020-01-01');
CREATE TABLE regress_rtcr.ev_new PARTITION OF regress_rtcr.events
	FOR VALUES FROM ('2020-01-01') TO ('2200-01-01');
INSERT INTO regress_rtcr.events VALUES (1, '2010-01-01'), (2, now());
RESET ROLE;
SELECT audit_guard.protect('regress_rtcr.events');
SET ROLE regress_rtcr_owner;
SELECT audit_guard.set_retention('regress_rtcr.events', '30 days', 'at');
RESET ROLE;

SELECT throws_ok($$DELETE FROM pg_inherits WHERE inhrelid = 'regress_rtcr.ev_new'::regclass$$,
				 '42501', NULL, 'a superuser''s DELETE of the partition''s pg_inherits row is refused');
SELECT throws_ok($$UPDATE pg_class SET relispartition = false WHERE oid = 'regress_rtcr.ev_new'::regclass$$,
				 '42501', NULL, 'a superuser''s UPDATE of the partition''s relispartition is refused');
SET ROLE regress_rtcr_owner;
SELECT throws_ok($$DROP TABLE regress_rtcr.ev_new$$, '23000', NULL,
				 'the designated owner''s DROP of the partition of young rows is refused');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM regress_rtcr.events), 2, 'the young row is still there');

SELECT * FROM finish();
ROLLBACK;
