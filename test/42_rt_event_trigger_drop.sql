-- pgTAP (issue 11, found by a red-team pass): DETACH and DROP of young rows in one
-- statement, through an event trigger.
--
-- A plain DETACH is decided after the statement, on the table it detached
-- (postcheck.c, audit_guard_check_retention_left()).  But a
-- ddl_command_end event trigger runs inside the ALTER TABLE statement,
-- before that check: if it drops the table just detached, the DROP's own
-- check (object_access.c) finds no retention (the table is no partition
-- any more), and the DETACH's check then skips the table because it was
-- dropped (cannot_matter(): `dropped`).  The young rows are gone.  (The
-- trigger must drop before it runs any query: the end of a query that
-- follows user code runs the post-statement check, which would still see
-- the detached table.)
--
-- Creating an event trigger needs a superuser; the promise holds for
-- superusers too, and here the DETACH itself is issued by the designated
-- owner.  Now a relation about to be dropped is first checked for what
-- earlier statements did to it: the DROP inside the DETACH is refused,
-- 23000.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(3);

CREATE ROLE regress_rtet_owner;
CREATE SCHEMA regress_rtet AUTHORIZATION regress_rtet_owner;
SET ROLE regress_rtet_owner;
CREATE TABLE regress_rtet.events (id bigint, at timestamptz NOT NULL,
								  PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE regress_rtet.ev_old PARTITION OF regress_rtet.events
	FOR VALUES FROM ('2000-01-01') TO ('2020-01-01');
CREATE TABLE regress_rtet.ev_new PARTITION OF regress_rtet.events
	FOR VALUES FROM ('2020-01-01') TO ('2200-01-01');
INSERT INTO regress_rtet.events VALUES (1, '2010-01-01'), (2, now());
RESET ROLE;
SELECT audit_guard.protect('regress_rtet.events');
SET ROLE regress_rtet_owner;
SELECT audit_guard.set_retention('regress_rtet.events', '30 days', 'at');
RESET ROLE;

-- a superuser's event trigger: after an ALTER TABLE, drop the table named
-- in regress_rtet.victim
CREATE FUNCTION regress_rtet.drop_victim() RETURNS event_trigger LANGUAGE plpgsql AS $$
DECLARE
	victim text := current_setting('regress_rtet.victim', true);
BEGIN
	IF coalesce(victim, '') <> '' THEN
		-- first: a query here would end with a post-statement check
		EXECUTE format('DROP TABLE %s', victim);
		PERFORM set_config('regress_rtet.victim', '', true);
	END IF;
END
$$;
CREATE EVENT TRIGGER regress_rtet_drop ON ddl_command_end WHEN TAG IN ('ALTER TABLE')
	EXECUTE FUNCTION regress_rtet.drop_victim();

SET ROLE regress_rtet_owner;
SELECT throws_ok($$ALTER TABLE regress_rtet.events DETACH PARTITION regress_rtet.ev_new$$,
				 '23000', NULL, 'without the event trigger acting: DETACH of ev_new (young) is refused');
SET LOCAL regress_rtet.victim = 'regress_rtet.ev_new';
SELECT throws_ok($$ALTER TABLE regress_rtet.events DETACH PARTITION regress_rtet.ev_new$$,
				 '23000', NULL,
				 'DETACH of ev_new, which the event trigger drops in the same statement, is refused');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM regress_rtet.events), 2, 'the young row is still there');

SELECT * FROM finish();
ROLLBACK;
