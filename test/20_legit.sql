-- pgTAP: what must keep working on a protected table, for the roles that
-- use it every day, and the designated owner's explicit steps.
BEGIN;
SELECT plan(37);

CREATE ROLE regress_tap_owner;
CREATE ROLE regress_tap_app;
CREATE SCHEMA regress_tap;
GRANT USAGE ON SCHEMA regress_tap TO PUBLIC;
GRANT CREATE ON SCHEMA regress_tap TO regress_tap_owner;
CREATE TABLE regress_tap.audit_log (
	id		bigserial PRIMARY KEY,
	at		timestamptz NOT NULL DEFAULT now(),
	actor	text,
	action	text,
	payload	jsonb
);
ALTER TABLE regress_tap.audit_log OWNER TO regress_tap_owner;
GRANT SELECT, INSERT ON regress_tap.audit_log TO regress_tap_app;
GRANT USAGE ON SEQUENCE regress_tap.audit_log_id_seq TO regress_tap_app;
CREATE TABLE regress_tap.refs (id int PRIMARY KEY,
	log_id bigint REFERENCES regress_tap.audit_log);
GRANT ALL ON regress_tap.refs TO regress_tap_app;
INSERT INTO regress_tap.audit_log (actor, action) VALUES ('setup', 'seed');
SELECT lives_ok($$SELECT audit_guard.protect('regress_tap.audit_log')$$,
				'superuser protects the table');

-- the application role (allowed to set session_replication_role)
GRANT SET ON PARAMETER session_replication_role TO regress_tap_app;
SET LOCAL ROLE regress_tap_app;
SELECT lives_ok($$INSERT INTO regress_tap.audit_log (actor, action) VALUES ('app', 'insert')$$,
				'app: INSERT');
SELECT lives_ok($$INSERT INTO regress_tap.audit_log (actor, action)
				  SELECT 'app', 'bulk ' || g FROM generate_series(1, 50) g$$,
				'app: INSERT ... SELECT');
SELECT lives_ok($$INSERT INTO regress_tap.audit_log (actor) VALUES ('app') RETURNING id$$,
				'app: INSERT ... RETURNING');
SELECT lives_ok($$INSERT INTO regress_tap.audit_log (id, actor) VALUES (1, 'dup')
				  ON CONFLICT DO NOTHING$$,
				'app: INSERT ... ON CONFLICT DO NOTHING');
SELECT lives_ok($$SELECT count(*) FROM regress_tap.audit_log$$, 'app: SELECT');
SELECT lives_ok($$INSERT INTO regress_tap.refs VALUES (1, 1)$$,
				'app: a foreign key referencing the table is checked');
SELECT lives_ok($$DELETE FROM regress_tap.refs$$,
				'app: deleting the referencing row is fine');
SELECT lives_ok($$SET session_replication_role = origin$$, 'app: SET ... = origin');
SELECT lives_ok($$SET session_replication_role = local$$, 'app: SET ... = local');
SELECT lives_ok($$RESET session_replication_role$$, 'app: RESET');
SELECT is((SELECT count(*)::int FROM regress_tap.audit_log), 53, 'app: rows were added');
SELECT is((SELECT table_name::text FROM audit_guard.protected_tables
			WHERE table_name = 'regress_tap.audit_log'::regclass),
		  'regress_tap.audit_log', 'app: can read protected_tables');
RESET ROLE;

-- the table owner, who is the designated owner
SET LOCAL ROLE regress_tap_owner;
SELECT lives_ok($$INSERT INTO regress_tap.audit_log (actor) VALUES ('owner')$$, 'owner: INSERT');
SELECT lives_ok($$SELECT * FROM regress_tap.audit_log WHERE id = 1 FOR UPDATE$$,
				'owner: SELECT ... FOR UPDATE');
SELECT lives_ok($$SELECT audit_guard.protect('regress_tap.audit_log')$$,
				'owner: protect again (idempotent)');
SELECT lives_ok($$CREATE INDEX ON regress_tap.audit_log (actor)$$, 'owner: CREATE INDEX');
SELECT lives_ok($$COMMENT ON TABLE regress_tap.audit_log IS 'append-only'$$, 'owner: COMMENT');
SELECT lives_ok($$ANALYZE regress_tap.audit_log$$, 'owner: ANALYZE');
SELECT lives_ok($$GRANT SELECT ON regress_tap.audit_log TO PUBLIC$$, 'owner: GRANT SELECT');
SELECT lives_ok($$ALTER TABLE regress_tap.audit_log ADD COLUMN note text DEFAULT 'n/a'$$,
				'owner: ADD COLUMN with a constant default');
-- explicit steps of the designated owner
SELECT lives_ok($$ALTER TABLE regress_tap.audit_log DISABLE TRIGGER audit_guard_append_only$$,
				'designated owner: DISABLE TRIGGER');
SELECT lives_ok($$ALTER TABLE regress_tap.audit_log ENABLE ALWAYS TRIGGER audit_guard_append_only$$,
				'designated owner: ENABLE ALWAYS TRIGGER');
SELECT lives_ok($$ALTER TABLE regress_tap.audit_log DISABLE TRIGGER USER$$,
				'designated owner: DISABLE TRIGGER USER');
SELECT lives_ok($$ALTER TABLE regress_tap.audit_log ENABLE ALWAYS TRIGGER audit_guard_append_only;
				  ALTER TABLE regress_tap.audit_log ENABLE ALWAYS TRIGGER audit_guard_no_truncate$$,
				'designated owner: ENABLE ALWAYS TRIGGER on both again');
SELECT is((SELECT string_agg(tgenabled::text, '' ORDER BY tgname) FROM pg_trigger
			WHERE tgrelid = 'regress_tap.audit_log'::regclass
			  AND tgname LIKE 'audit_guard%'),
		  'AA', 'guard triggers are ALWAYS again');
RESET ROLE;

-- the superuser's everyday work
SELECT lives_ok($$INSERT INTO regress_tap.audit_log (actor) VALUES ('postgres')$$,
				'superuser: INSERT');
SELECT lives_ok($$SELECT * FROM regress_tap.audit_log WHERE id = 1 FOR SHARE$$,
				'superuser: SELECT ... FOR SHARE');
SELECT lives_ok($$SET session_replication_role = origin$$, 'superuser: SET ... = origin');
SELECT lives_ok($$SET LOCAL session_replication_role = local$$,
				'superuser: SET LOCAL ... = local');
SELECT lives_ok($$RESET session_replication_role$$, 'superuser: RESET');
SELECT lives_ok($$ALTER TABLE regress_tap.audit_log ENABLE ALWAYS TRIGGER audit_guard_no_truncate$$,
				'superuser: ENABLE ALWAYS on a guard trigger (what pg_restore does)');

-- the designated owner unprotects; then the table is ordinary
SET LOCAL ROLE regress_tap_owner;
SELECT lives_ok($$SELECT audit_guard.unprotect('regress_tap.audit_log')$$,
				'designated owner: unprotect');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM pg_trigger
			WHERE tgrelid = 'regress_tap.audit_log'::regclass
			  AND tgname LIKE 'audit_guard%'),
		  0, 'guard triggers are gone');
SELECT lives_ok($$DELETE FROM regress_tap.audit_log WHERE actor = 'app'$$,
				'DELETE works again after unprotect');
SELECT lives_ok($$SET LOCAL session_replication_role = replica$$,
				'replica may be set once nothing is protected');
SELECT lives_ok($$SELECT audit_guard.protect('regress_tap.audit_log')$$,
				'protect again after unprotect');

SELECT * FROM finish();
ROLLBACK;
