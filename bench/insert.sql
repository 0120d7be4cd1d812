-- bench/insert.sql: one audit row with a jsonb payload per transaction.
-- run.sh names the table with -D audit_table=...
\set actor random(1, 100000)
\set octet random(1, 254)
INSERT INTO :audit_table (actor, action, payload)
VALUES (:actor, 'login',
		jsonb_build_object('actor', :actor,
						   'ip', '203.0.113.' || :octet,
						   'client', 'pgbench',
						   'session', md5(:actor::text)));
