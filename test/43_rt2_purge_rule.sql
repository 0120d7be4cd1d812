-- pgTAP (issue 11, found by a second red-team pass): purge() and redact()
-- refuse a table with a rule on DELETE.
--
-- They delete through SPI and check the count the DELETE reports.  The
-- designated owner may create rules on a protected table; an ON DELETE DO
-- INSTEAD rule deleting from another table with the same keys made the
-- DELETE report the expected count while the audit table kept every row:
-- the chain and history recorded rows as erased that were still there,
-- and a redaction (an Art. 17 request) as done while the person's row
-- stayed.  Now both refuse (55000) while a rule applies to the table's
-- DELETE, and nothing is erased.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(4);

CREATE ROLE regress_rt2pr_owner;
CREATE SCHEMA regress_rt2pr AUTHORIZATION regress_rt2pr_owner;
SET ROLE regress_rt2pr_owner;
CREATE TABLE regress_rt2pr.log (id int PRIMARY KEY, at timestamptz NOT NULL, note text);
INSERT INTO regress_rt2pr.log VALUES (1, '2001-01-01', 'old'), (2, now(), 'young'),
	(3, now(), 'a person''s row');
CREATE TABLE regress_rt2pr.decoy (id int);
INSERT INTO regress_rt2pr.decoy VALUES (1), (3);
RESET ROLE;
SELECT audit_guard.protect('regress_rt2pr.log');
SET ROLE regress_rt2pr_owner;
SELECT audit_guard.set_retention('regress_rt2pr.log', '30 days', 'at');
CREATE RULE keep_them AS ON DELETE TO regress_rt2pr.log
	DO INSTEAD DELETE FROM regress_rt2pr.decoy WHERE decoy.id = old.id;

SELECT throws_ok($$SELECT audit_guard.purge('regress_rt2pr.log')$$, '55000', NULL,
				 'purge() refuses a table whose DELETE a rule diverts');
SELECT throws_ok($$SELECT audit_guard.redact('regress_rt2pr.log', '3', 'erasure request 7')$$,
				 '55000', NULL,
				 'redact() refuses a table whose DELETE a rule diverts');
SELECT is((SELECT count(*)::int FROM audit_guard.erasures
		   WHERE table_name = 'regress_rt2pr.log'::regclass), 0,
		  'no erasure is recorded');
SELECT is((SELECT count(*)::int FROM audit_guard.verify('regress_rt2pr.log')), 0,
		  'verify() reports no problem');

SELECT * FROM finish();
ROLLBACK;
