--
-- 05_partitions: protecting a partitioned table protects every partition,
-- present and future; each partition gets its own registry row and its own
-- TRUNCATE trigger (statement triggers are not cloned to partitions).
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;

CREATE ROLE regress_part_owner;
CREATE ROLE regress_part_app;
CREATE SCHEMA regress_part;
GRANT USAGE ON SCHEMA regress_part TO PUBLIC;
SET search_path = regress_part, public;

CREATE TABLE events (id int, at date NOT NULL, note text)
	PARTITION BY RANGE (at);
CREATE TABLE events_2023 PARTITION OF events
	FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
CREATE TABLE events_2024 PARTITION OF events
	FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')
	PARTITION BY LIST (note);
CREATE TABLE events_2024_rest PARTITION OF events_2024 DEFAULT;
ALTER TABLE events OWNER TO regress_part_owner;
ALTER TABLE events_2023 OWNER TO regress_part_owner;
ALTER TABLE events_2024 OWNER TO regress_part_owner;
ALTER TABLE events_2024_rest OWNER TO regress_part_owner;
INSERT INTO events VALUES (1, '2023-05-01', 'a'), (2, '2024-05-01', 'b');
GRANT ALL ON events, events_2023, events_2024, events_2024_rest
	TO regress_part_app;

SET ROLE regress_part_owner;
SELECT audit_guard.protect('events');
RESET ROLE;

CREATE FUNCTION state() RETURNS text LANGUAGE sql STABLE AS $$
	SELECT count(*) || ' rows, ' || md5(string_agg(t::text, ',' ORDER BY id))
	  FROM regress_part.events t
$$;
SELECT state() AS before \gset

-- every partition is in the registry, through the root
SELECT table_name, designated_owner, protected_through
  FROM audit_guard.protected_tables ORDER BY table_name::text;
SELECT tgrelid::regclass, tgname, tgenabled
  FROM pg_trigger
 WHERE tgrelid IN (SELECT relid FROM audit_guard.registry)
 ORDER BY tgrelid::regclass::text, tgname;

-- DML through the root and on each partition directly
UPDATE events SET note = 'x';
DELETE FROM events WHERE id = 1;
UPDATE events_2023 SET note = 'x';
DELETE FROM events_2024_rest;
UPDATE events SET at = '2024-06-01' WHERE id = 1;
TRUNCATE events;
TRUNCATE events_2023;
TRUNCATE ONLY events_2024_rest;
SET ROLE regress_part_app;
UPDATE events_2023 SET note = 'x';
DELETE FROM events_2024;
TRUNCATE events_2024_rest;
RESET ROLE;
-- DDL on a partition's cloned trigger
ALTER TABLE events_2023 DISABLE TRIGGER USER;
ALTER TABLE events_2023 DISABLE TRIGGER audit_guard_append_only;
ALTER TABLE events_2024_rest ENABLE REPLICA TRIGGER audit_guard_no_truncate;
DROP TRIGGER audit_guard_no_truncate ON events_2023;
SELECT state() = :'before' AS unchanged;

-- INSERT through the root and into a partition still works
INSERT INTO events VALUES (3, '2023-07-01', 'c');
INSERT INTO events_2024_rest VALUES (4, '2024-07-01', 'd');
SELECT * FROM events ORDER BY id;
SELECT state() AS before \gset

-- future partitions are protected on creation and on ATTACH
CREATE TABLE events_2025 PARTITION OF events
	FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE events_2026 (id int, at date NOT NULL, note text);
INSERT INTO events_2026 VALUES (5, '2026-01-01', 'e');
ALTER TABLE events ATTACH PARTITION events_2026
	FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
SELECT table_name, protected_through
  FROM audit_guard.protected_tables
 WHERE table_name::text IN ('events_2025', 'events_2026');
SELECT tgrelid::regclass, tgname, tgenabled
  FROM pg_trigger
 WHERE tgrelid IN ('events_2025'::regclass, 'events_2026'::regclass)
 ORDER BY 1, 2;
DELETE FROM events_2026;
TRUNCATE events_2025;
UPDATE events SET note = 'x' WHERE id = 5;
SELECT count(*) FROM events_2026;

-- a partition protected through its root is unprotected through the root
SET ROLE regress_part_owner;
SELECT audit_guard.unprotect('events_2023');
SELECT audit_guard.unprotect('events');
RESET ROLE;
SELECT count(*) AS registry_rows FROM audit_guard.registry;
SELECT count(*) AS guard_triggers FROM pg_trigger
 WHERE tgfoid = 'audit_guard.reject_change'::regproc;

-- clean up
RESET search_path;
DROP SCHEMA regress_part CASCADE;
DROP ROLE regress_part_owner, regress_part_app;
