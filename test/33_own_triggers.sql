-- pgTAP: audit_guard's own triggers (issue 10): check() reports one that is
-- disabled, and re-enabling it ALWAYS is allowed to anyone who may alter
-- the table, while disabling it stays for the designated owner of every
-- protected table.
BEGIN;
SELECT plan(6);

CREATE ROLE regress_own_owner;
CREATE TABLE public.own_trg_log (id int PRIMARY KEY, what text);
ALTER TABLE public.own_trg_log OWNER TO regress_own_owner;
SELECT audit_guard.protect('public.own_trg_log');

SELECT is((SELECT count(*)::int FROM audit_guard.check() WHERE check_name = 'audit_guard trigger'),
		  0, 'all of audit_guard''s own triggers in place: check() adds no row');
SELECT throws_ok($$ALTER TABLE audit_guard.registry DISABLE TRIGGER registry_changed$$,
				 '42501', NULL,
				 'a superuser who is no designated owner cannot disable registry_changed');

-- the designated owner of every protected table may
GRANT regress_own_owner TO CURRENT_USER;
SELECT lives_ok($$ALTER TABLE audit_guard.registry DISABLE TRIGGER registry_changed$$,
				'a member of every designated owner may disable it');
REVOKE regress_own_owner FROM CURRENT_USER;
SELECT is((SELECT status || ': ' || detail FROM audit_guard.check()
			WHERE check_name = 'audit_guard trigger'),
		  'failed: trigger registry_changed on audit_guard.registry is not ENABLE ALWAYS (D)',
		  'check() reports the disabled trigger');
SELECT lives_ok($$ALTER TABLE audit_guard.registry ENABLE ALWAYS TRIGGER registry_changed$$,
				'anyone who may alter the table may re-enable it ALWAYS: it weakens nothing');
SELECT is((SELECT count(*)::int FROM audit_guard.check() WHERE check_name = 'audit_guard trigger'),
		  0, 'and check() is clean again');

SELECT * FROM finish();
ROLLBACK;
