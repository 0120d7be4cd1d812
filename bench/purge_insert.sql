-- bench/purge_insert.sql: one young audit row per transaction into the
-- table bench/purge.sh purges (about 200 bytes, like its expired rows).
-- purge.sh names the table with -D purge_table=...
\set n random(1, 1000000)
INSERT INTO :purge_table (at, actor, action, payload)
VALUES (now(), 'user_' || :n % 1000, 'login',
		jsonb_build_object('ip', '10.0.' || :n % 250 || '.' || :n % 200,
						   'agent', 'Mozilla/5.0 (X11; Linux x86_64)',
						   'session', md5(:n::text), 'n', :n));
