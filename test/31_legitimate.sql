-- pgTAP: the legitimate operations on a protected table, for the roles that
-- use it every day (an application role with SELECT and INSERT, the table
-- owner who is not the designated owner, the superuser) and the designated
-- owner's explicit steps.  Each must succeed; results are checked where
-- that says more than "no error".  Statements that cannot run inside a
-- transaction block (VACUUM, CREATE INDEX CONCURRENTLY) are tested on the
-- real cluster, in test/cluster/30_outside_transaction.sh.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(110);

CREATE ROLE regress_ag_app;
CREATE ROLE regress_ag_reader;
CREATE ROLE regress_ag_tblowner;
CREATE ROLE regress_ag_auditowner;
-- the designated owner holds the owner's rights, not the other way round
GRANT regress_ag_tblowner TO regress_ag_auditowner;
CREATE SCHEMA regress_ag;
CREATE SCHEMA regress_ag_moved;
GRANT USAGE ON SCHEMA regress_ag, regress_ag_moved TO PUBLIC;
GRANT CREATE ON SCHEMA regress_ag, regress_ag_moved TO regress_ag_tblowner;

CREATE TABLE regress_ag.audit_log (
	id		bigserial PRIMARY KEY,
	at		timestamptz NOT NULL DEFAULT '2024-01-01 00:00:00+00',
	actor	text NOT NULL,
	action	text,
	payload	jsonb
);
INSERT INTO regress_ag.audit_log (actor, action) VALUES ('setup', 'one'), ('setup', 'two');
CREATE TABLE regress_ag.refs (
	id		int PRIMARY KEY,
	log_id	bigint REFERENCES regress_ag.audit_log ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE TABLE regress_ag.events (id int, at int NOT NULL, note text) PARTITION BY RANGE (at);
CREATE TABLE regress_ag.events_1 PARTITION OF regress_ag.events FOR VALUES FROM (0) TO (100);
INSERT INTO regress_ag.events VALUES (1, 10, 'one');
CREATE TABLE regress_ag.spare (id int PRIMARY KEY);
INSERT INTO regress_ag.spare VALUES (1);
ALTER TABLE regress_ag.audit_log OWNER TO regress_ag_tblowner;
ALTER TABLE regress_ag.refs OWNER TO regress_ag_tblowner;
ALTER TABLE regress_ag.events OWNER TO regress_ag_tblowner;
ALTER TABLE regress_ag.events_1 OWNER TO regress_ag_tblowner;
ALTER TABLE regress_ag.spare OWNER TO regress_ag_tblowner;
GRANT SELECT, INSERT ON regress_ag.audit_log, regress_ag.events TO regress_ag_app;
-- SELECT ... FOR UPDATE/SHARE needs an UPDATE privilege; the guard, not the
-- ACL, is what refuses the UPDATE itself
GRANT UPDATE (action) ON regress_ag.audit_log TO regress_ag_app;
GRANT USAGE ON SEQUENCE regress_ag.audit_log_id_seq TO regress_ag_app;
GRANT ALL ON regress_ag.refs TO regress_ag_app;
GRANT SET ON PARAMETER session_replication_role TO regress_ag_app, regress_ag_auditowner;

SELECT lives_ok($$SELECT audit_guard.protect('regress_ag.audit_log', owner => 'regress_ag_auditowner')$$,
				'superuser protects the audit table for its designated owner');
SELECT lives_ok($$SELECT audit_guard.protect('regress_ag.events', owner => 'regress_ag_auditowner')$$,
				'superuser protects the partitioned table');
SELECT lives_ok($$SELECT audit_guard.protect('regress_ag.spare', owner => 'regress_ag_auditowner')$$,
				'superuser protects a spare table');

-- count and checksum of the given rows, over the columns they were written with
CREATE FUNCTION regress_ag.rows_of(ids bigint[]) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
	SELECT count(*) || ' ' || md5(coalesce(string_agg((id, at, actor, action::text, payload)::text,
													  ',' ORDER BY id), ''))
	  FROM regress_ag.audit_log WHERE id = ANY (ids)
$$;
CREATE FUNCTION regress_ag.guards(tbl regclass) RETURNS text
LANGUAGE sql STABLE AS $$
	SELECT coalesce(string_agg(tgname || '=' || tgenabled::text, ',' ORDER BY tgname), 'none')
	  FROM pg_trigger WHERE tgrelid = tbl AND tgfoid = 'audit_guard.reject_change'::regproc
$$;

------------------------------------------------------------------------------
-- the application role
------------------------------------------------------------------------------
SET LOCAL ROLE regress_ag_app;
SELECT lives_ok($$INSERT INTO regress_ag.audit_log (actor, action) VALUES ('app', 'insert')$$,
				'app: INSERT');
SELECT lives_ok($$INSERT INTO regress_ag.audit_log (actor, action)
				  SELECT 'app', 'bulk ' || g FROM generate_series(1, 20) g$$,
				'app: INSERT ... SELECT');
SELECT lives_ok($$INSERT INTO regress_ag.audit_log (actor, action) VALUES ('app', 'a'), ('app', 'b')$$,
				'app: multi-row INSERT');
SELECT results_eq($$INSERT INTO regress_ag.audit_log (id, actor, action) VALUES (1000, 'app', 'returning')
					RETURNING id, actor$$,
				  $$VALUES (1000::bigint, 'app'::text)$$, 'app: INSERT ... RETURNING');
SELECT lives_ok($$INSERT INTO regress_ag.audit_log (id, actor) VALUES (1, 'dup') ON CONFLICT DO NOTHING$$,
				'app: INSERT ... ON CONFLICT DO NOTHING');
SELECT lives_ok($$INSERT INTO regress_ag.audit_log (id, actor) VALUES (1, 'dup') ON CONFLICT (id) DO NOTHING$$,
				'app: INSERT ... ON CONFLICT (id) DO NOTHING');
SELECT is((SELECT actor FROM regress_ag.audit_log WHERE id = 1), 'setup',
		  'app: the conflicting row was left alone');
SELECT lives_ok($$MERGE INTO regress_ag.audit_log a USING (VALUES (2000, 'merged')) v(id, actor)
				  ON a.id = v.id WHEN NOT MATCHED THEN INSERT (id, actor) VALUES (v.id, v.actor)$$,
				'app: MERGE with only WHEN NOT MATCHED THEN INSERT');
SELECT lives_ok($$MERGE INTO regress_ag.audit_log a USING (VALUES (2000)) v(id)
				  ON a.id = v.id WHEN MATCHED THEN DO NOTHING$$,
				'app: MERGE ... WHEN MATCHED THEN DO NOTHING');
SELECT lives_ok($$INSERT INTO regress_ag.events VALUES (2, 20, 'two')$$,
				'app: INSERT through the partitioned table');
SELECT lives_ok($$SELECT count(*) FROM regress_ag.audit_log$$, 'app: SELECT');
SELECT lives_ok($$SELECT * FROM regress_ag.audit_log WHERE id = 1 FOR UPDATE$$,
				'app: SELECT ... FOR UPDATE');
SELECT lives_ok($$SELECT * FROM regress_ag.audit_log WHERE id = 1 FOR NO KEY UPDATE$$,
				'app: SELECT ... FOR NO KEY UPDATE');
SELECT lives_ok($$SELECT * FROM regress_ag.audit_log WHERE id = 1 FOR SHARE$$,
				'app: SELECT ... FOR SHARE');
SELECT lives_ok($$SELECT * FROM regress_ag.audit_log FOR KEY SHARE SKIP LOCKED$$,
				'app: SELECT ... FOR KEY SHARE SKIP LOCKED');
SELECT lives_ok($$WITH ins AS (INSERT INTO regress_ag.audit_log (actor) VALUES ('cte') RETURNING id)
				  SELECT count(*) FROM ins$$,
				'app: INSERT in a WITH query');
-- foreign keys that reference the audit table are checked as usual
SELECT lives_ok($$INSERT INTO regress_ag.refs VALUES (1, 1), (2, 2)$$,
				'app: INSERT into a referencing table (FK check)');
SELECT throws_ok($$INSERT INTO regress_ag.refs VALUES (3, 999999)$$, '23503', NULL,
				 'app: a dangling reference is still an FK violation, not an audit_guard refusal');
SELECT lives_ok($$UPDATE regress_ag.refs SET log_id = 1 WHERE id = 2$$,
				'app: UPDATE of a referencing row (FK check)');
SELECT lives_ok($$DELETE FROM regress_ag.refs WHERE id = 2$$,
				'app: DELETE of a referencing row');
-- replica mode through set_config() is not refused, and changes nothing
SELECT lives_ok($$SELECT set_config('session_replication_role', 'replica', true)$$,
				'app: set_config(''session_replication_role'', ''replica'', true) is not refused');
SELECT is(current_setting('session_replication_role'), 'replica', 'app: replica is set');
SELECT lives_ok($$INSERT INTO regress_ag.audit_log (actor) VALUES ('replica')$$,
				'app: INSERT under replica');
SELECT throws_ok($$DELETE FROM regress_ag.audit_log$$, '23000', NULL,
				 'app: DELETE after set_config(replica) is still refused');
SELECT throws_ok($$UPDATE regress_ag.audit_log SET action = 'x'$$, '23000', NULL,
				 'app: UPDATE after set_config(replica) is still refused');
SELECT lives_ok($$SELECT set_config('session_replication_role', 'origin', true)$$,
				'app: back to origin');
SELECT lives_ok($$SET session_replication_role = local$$, 'app: SET ... = local');
SELECT lives_ok($$RESET session_replication_role$$, 'app: RESET');
SELECT is((SELECT table_name::text FROM audit_guard.protected_tables
			WHERE table_name = 'regress_ag.audit_log'::regclass),
		  'regress_ag.audit_log', 'app: reads protected_tables');
RESET ROLE;

-- COPY FROM: the way an application bulk-loads
SET LOCAL ROLE regress_ag_app;
COPY regress_ag.audit_log (actor, action, payload) FROM STDIN;
app	copy	{"via": "copy"}
app	copy	\N
\.
COPY regress_ag.audit_log (id, actor, action) FROM STDIN WITH (FORMAT csv);
3000,app,copy csv
\.
RESET ROLE;
SELECT is((SELECT count(*)::int FROM regress_ag.audit_log WHERE action LIKE 'copy%'), 3,
		  'app: COPY FROM STDIN added its three rows');
SELECT is((SELECT count(*)::int FROM regress_ag.audit_log), 32,
		  'app: every row the app wrote is there');
SELECT array_agg(id ORDER BY id) AS app_ids FROM regress_ag.audit_log \gset
SELECT regress_ag.rows_of(:'app_ids') AS app_rows \gset

------------------------------------------------------------------------------
-- the table owner, who is not the designated owner: everyday DDL
------------------------------------------------------------------------------
SET LOCAL ROLE regress_ag_tblowner;
SELECT lives_ok($$INSERT INTO regress_ag.audit_log (actor) VALUES ('owner')$$, 'table owner: INSERT');
SELECT lives_ok($$SELECT * FROM regress_ag.audit_log FOR UPDATE$$, 'table owner: SELECT ... FOR UPDATE');
SELECT lives_ok($$SELECT audit_guard.protect('regress_ag.audit_log')$$,
				'table owner: protect() again is idempotent');
SELECT is((SELECT designated_owner::text FROM audit_guard.protected_tables
			WHERE table_name = 'regress_ag.audit_log'::regclass),
		  'regress_ag_auditowner', 'table owner: protect() again kept the designated owner');
SELECT lives_ok($$CREATE INDEX audit_log_actor ON regress_ag.audit_log (actor)$$,
				'table owner: CREATE INDEX');
SELECT lives_ok($$CREATE UNIQUE INDEX audit_log_id_at ON regress_ag.audit_log (id, at)$$,
				'table owner: CREATE UNIQUE INDEX');
SELECT lives_ok($$REINDEX TABLE regress_ag.audit_log$$, 'table owner: REINDEX TABLE');
SELECT lives_ok($$ALTER TABLE regress_ag.audit_log ADD COLUMN source text DEFAULT 'unknown'$$,
				'table owner: ADD COLUMN with a constant default');
SELECT lives_ok($$ALTER TABLE regress_ag.audit_log ADD COLUMN note text$$,
				'table owner: ADD COLUMN without a default');
SELECT throws_ok($$ALTER TABLE regress_ag.audit_log ALTER COLUMN source SET DEFAULT 'app'$$,
				 '42501', NULL,
				 'table owner: ALTER COLUMN ... SET DEFAULT is for the designated owner (issue 8)');
SELECT lives_ok($$ALTER TABLE regress_ag.audit_log ALTER COLUMN action SET STATISTICS 200$$,
				'table owner: ALTER COLUMN ... SET STATISTICS');
SELECT lives_ok($$ALTER TABLE regress_ag.audit_log SET (fillfactor = 100)$$,
				'table owner: SET (storage parameter)');
SELECT lives_ok($$COMMENT ON TABLE regress_ag.audit_log IS 'append-only'$$, 'table owner: COMMENT ON TABLE');
SELECT lives_ok($$COMMENT ON COLUMN regress_ag.audit_log.actor IS 'who'$$, 'table owner: COMMENT ON COLUMN');
SELECT lives_ok($$ANALYZE regress_ag.audit_log$$, 'table owner: ANALYZE');
SELECT lives_ok($$CLUSTER regress_ag.audit_log USING audit_log_pkey$$, 'table owner: CLUSTER');
SELECT lives_ok($$GRANT SELECT ON regress_ag.audit_log TO regress_ag_reader$$, 'table owner: GRANT SELECT');
SELECT lives_ok($$GRANT INSERT ON regress_ag.audit_log TO regress_ag_reader$$, 'table owner: GRANT INSERT');
SELECT lives_ok($$REVOKE INSERT ON regress_ag.audit_log FROM regress_ag_reader$$, 'table owner: REVOKE INSERT');
SELECT lives_ok($$ALTER TABLE regress_ag.audit_log ENABLE ALWAYS TRIGGER audit_guard_append_only$$,
				'table owner: ENABLE ALWAYS on a guard trigger (what pg_restore does)');
SELECT lives_ok($$CREATE TABLE regress_ag.events_2 PARTITION OF regress_ag.events FOR VALUES FROM (100) TO (200)$$,
				'table owner: CREATE TABLE ... PARTITION OF the protected table');
SELECT lives_ok($$CREATE TABLE regress_ag.events_3 (id int, at int NOT NULL, note text)$$,
				'table owner: a table to attach');
SELECT lives_ok($$ALTER TABLE regress_ag.events ATTACH PARTITION regress_ag.events_3 FOR VALUES FROM (200) TO (300)$$,
				'table owner: ATTACH PARTITION to the protected table');
SELECT lives_ok($$INSERT INTO regress_ag.events VALUES (3, 110, 'new'), (4, 210, 'attached')$$,
				'table owner: INSERT into the new partitions');
SELECT is(regress_ag.guards('regress_ag.events_3'),
		  'audit_guard_append_only=A,audit_guard_no_truncate=A',
		  'table owner: the attached partition carries both guards, ENABLE ALWAYS');
-- rename and move: a new table under the old name would take the inserts,
-- so they are for the designated owner (issue 8); column names likewise
SELECT throws_ok($$ALTER TABLE regress_ag.audit_log RENAME TO audit_trail$$, '42501', NULL,
				 'table owner: RENAME the table is refused');
SELECT throws_ok($$ALTER TABLE regress_ag.audit_log RENAME COLUMN note TO remark$$, '42501', NULL,
				 'table owner: RENAME a column is refused');
SELECT throws_ok($$ALTER TABLE regress_ag.audit_log SET SCHEMA regress_ag_moved$$, '42501', NULL,
				 'table owner: SET SCHEMA is refused');
SELECT is((SELECT count(*)::int FROM audit_guard.protected_tables
			WHERE table_name = 'regress_ag.audit_log'::regclass),
		  1, 'table owner: the table keeps its name, schema and registry row');
SELECT throws_ok($$DELETE FROM regress_ag.audit_log$$, '23000', NULL,
				 'table owner: the table is still protected');
RESET ROLE;
SELECT is(regress_ag.rows_of(:'app_ids'), :'app_rows',
		  'table owner: the rows written before are unchanged');
SELECT is((SELECT count(*)::int FROM regress_ag.audit_log), 33,
		  'table owner: no row was lost (the owner''s INSERT added one)');

------------------------------------------------------------------------------
-- the superuser's everyday work
------------------------------------------------------------------------------
SELECT lives_ok($$INSERT INTO regress_ag.audit_log (actor) VALUES ('postgres')$$, 'superuser: INSERT');
SELECT lives_ok($$COPY regress_ag.audit_log (actor, action) FROM PROGRAM 'printf "postgres\tcopy program\n"'$$,
				'superuser: COPY FROM PROGRAM');
SELECT lives_ok($$SELECT * FROM regress_ag.audit_log FOR SHARE$$, 'superuser: SELECT ... FOR SHARE');
SELECT lives_ok($$SELECT set_config('session_replication_role', 'replica', true)$$,
				'superuser: set_config(replica) is not refused');
SELECT throws_ok($$DELETE FROM regress_ag.audit_log WHERE actor = 'postgres'$$, '23000', NULL,
				 'superuser: DELETE after set_config(replica) is still refused');
SELECT throws_ok($$TRUNCATE regress_ag.audit_log$$, '23000', NULL,
				 'superuser: TRUNCATE after set_config(replica) is still refused');
SELECT lives_ok($$SELECT set_config('session_replication_role', 'origin', true)$$,
				'superuser: back to origin');
SELECT lives_ok($$SET LOCAL session_replication_role = local$$, 'superuser: SET LOCAL ... = local');
SELECT lives_ok($$RESET session_replication_role$$, 'superuser: RESET');
SELECT is((SELECT count(*)::int FROM regress_ag.audit_log), 35, 'superuser: rows added, none lost');
SELECT is(regress_ag.rows_of(:'app_ids'), :'app_rows',
		  'superuser: the rows written before are unchanged');

------------------------------------------------------------------------------
-- the designated owner's explicit steps
------------------------------------------------------------------------------
SET LOCAL ROLE regress_ag_auditowner;
SELECT lives_ok($$ALTER TABLE regress_ag.audit_log DISABLE TRIGGER audit_guard_append_only$$,
				'designated owner: DISABLE TRIGGER audit_guard_append_only');
SELECT is(regress_ag.guards('regress_ag.audit_log'),
		  'audit_guard_append_only=D,audit_guard_no_truncate=A', 'designated owner: the row guard is disabled');
SELECT throws_ok($$UPDATE regress_ag.audit_log SET action = 'x'$$, '23000', NULL,
				 'designated owner: with the trigger disabled, UPDATE is still refused (executor hook)');
SELECT throws_ok($$DELETE FROM regress_ag.audit_log$$, '23000', NULL,
				 'designated owner: with the trigger disabled, DELETE is still refused');
SELECT lives_ok($$ALTER TABLE regress_ag.audit_log ENABLE ALWAYS TRIGGER audit_guard_append_only$$,
				'designated owner: ENABLE ALWAYS TRIGGER audit_guard_append_only');
SELECT lives_ok($$ALTER TABLE regress_ag.audit_log DISABLE TRIGGER USER$$,
				'designated owner: DISABLE TRIGGER USER');
SELECT lives_ok($$ALTER TABLE regress_ag.audit_log ENABLE TRIGGER USER$$,
				'designated owner: ENABLE TRIGGER USER');
SELECT lives_ok($$ALTER TABLE regress_ag.audit_log ENABLE ALWAYS TRIGGER audit_guard_append_only$$,
				'designated owner: ENABLE ALWAYS TRIGGER audit_guard_append_only again');
SELECT lives_ok($$ALTER TABLE regress_ag.audit_log ENABLE ALWAYS TRIGGER audit_guard_no_truncate$$,
				'designated owner: ENABLE ALWAYS TRIGGER audit_guard_no_truncate again');
SELECT is(regress_ag.guards('regress_ag.audit_log'),
		  'audit_guard_append_only=A,audit_guard_no_truncate=A', 'designated owner: both guards ALWAYS again');
SELECT lives_ok($$SET LOCAL session_replication_role = replica$$,
				'designated owner of every protected table: SET LOCAL session_replication_role = replica');
SELECT throws_ok($$DELETE FROM regress_ag.audit_log$$, '23000', NULL,
				 'designated owner: DELETE under replica is still refused');
SELECT lives_ok($$RESET session_replication_role$$, 'designated owner: RESET');
SELECT lives_ok($$ALTER TABLE regress_ag.audit_log ALTER COLUMN action TYPE varchar(200)$$,
				'designated owner: ALTER COLUMN TYPE');
SELECT lives_ok($$ALTER TABLE regress_ag.audit_log DROP COLUMN note$$,
				'designated owner: DROP COLUMN');
SELECT lives_ok($$ALTER TABLE regress_ag.events DETACH PARTITION regress_ag.events_1$$,
				'designated owner: DETACH PARTITION');
SELECT is(regress_ag.guards('regress_ag.events_1'),
		  'audit_guard_append_only=A,audit_guard_no_truncate=A',
		  'designated owner: the detached partition keeps guards of its own');
SELECT throws_ok($$DELETE FROM regress_ag.events_1$$, '23000', NULL,
				 'designated owner: the detached partition is still protected');
SELECT lives_ok($$DROP TABLE regress_ag.spare$$, 'designated owner: DROP TABLE');
SELECT is((SELECT count(*)::int FROM audit_guard.registry WHERE relid::text = 'regress_ag.spare'),
		  0, 'designated owner: the dropped table left the registry');
-- unprotect inside the transaction: the table is ordinary at once
SELECT lives_ok($$SELECT audit_guard.unprotect('regress_ag.audit_log')$$, 'designated owner: unprotect');
SELECT is(regress_ag.guards('regress_ag.audit_log'), 'none', 'designated owner: the guard triggers are gone');
SELECT is((SELECT count(*)::int FROM audit_guard.protected_tables
			WHERE table_name = 'regress_ag.audit_log'::regclass),
		  0, 'designated owner: the registry row is gone');
SELECT is((SELECT action FROM audit_guard.history
			WHERE relid = 'regress_ag.audit_log'::regclass ORDER BY at DESC LIMIT 1),
		  'unprotect', 'designated owner: the history records the unprotect');
SELECT lives_ok($$UPDATE regress_ag.audit_log SET action = 'corrected' WHERE id = 1$$,
				'designated owner: UPDATE works after unprotect');
SELECT lives_ok($$DELETE FROM regress_ag.audit_log WHERE actor = 'owner'$$,
				'designated owner: DELETE works after unprotect');
SELECT lives_ok($$SELECT audit_guard.protect('regress_ag.audit_log')$$,
				'designated owner: protect again');
SELECT is((SELECT designated_owner::text FROM audit_guard.protected_tables
			WHERE table_name = 'regress_ag.audit_log'::regclass),
		  'regress_ag_tblowner', 'designated owner: protect() without owner designates the table''s owner');
RESET ROLE;
SELECT throws_ok($$DELETE FROM regress_ag.audit_log$$, '23000', NULL,
				 'protected again: DELETE is refused');
-- the superuser acts as the designated owner only through SET ROLE
SELECT throws_ok($$SELECT audit_guard.unprotect('regress_ag.events')$$, '42501', NULL,
				 'superuser: unprotect without SET ROLE is refused');
SET LOCAL ROLE regress_ag_auditowner;
SELECT lives_ok($$SELECT audit_guard.unprotect('regress_ag.events')$$,
				'superuser through SET ROLE to the designated owner: unprotect');
RESET ROLE;
SELECT is((SELECT string_agg(r.relid::text, ',') FROM audit_guard.registry r
			WHERE r.relid::text LIKE 'regress_ag.events%'),
		  'regress_ag.events_1',
		  'the partitioned table and its partitions left the registry; the detached one stays');
SELECT lives_ok($$TRUNCATE regress_ag.events$$, 'an unprotected table truncates');

SELECT * FROM finish();
ROLLBACK;
