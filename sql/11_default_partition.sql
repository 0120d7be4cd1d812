--
-- 11_default_partition: a row in the default partition of a protected
-- partitioned table blocks the partition it belongs to; the designated
-- owner detaches the default (detach_default), creates the partition,
-- and moves the rows back (move_detached_rows), keeping every row.
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;

CREATE ROLE regress_dp_owner;
CREATE ROLE regress_dp_other;
CREATE SCHEMA regress_dp AUTHORIZATION regress_dp_owner;
GRANT USAGE ON SCHEMA regress_dp TO PUBLIC;
SET search_path = regress_dp, public;
SET ROLE regress_dp_owner;
CREATE TABLE events (id bigint GENERATED ALWAYS AS IDENTITY, at date NOT NULL, what text)
	PARTITION BY RANGE (at);
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE events_default PARTITION OF events DEFAULT;
SELECT audit_guard.protect('events');
INSERT INTO events (at, what) VALUES ('2024-05-01', 'in range'), ('2025-03-01', 'early'),
	('2025-07-01', 'early too'), ('2026-02-01', 'later');
RESET ROLE;
SELECT count(*) AS rows_before, md5(string_agg(e::text, ',' ORDER BY id)) AS fingerprint_before
  FROM events e \gset

-- the partition for 2025 cannot be made while the default holds its rows,
-- and the rows cannot be moved out of the default
SET ROLE regress_dp_owner;
CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
DELETE FROM events_default WHERE at < '2026-01-01';
RESET ROLE;

-- only the designated owner may detach the default this way
SET ROLE regress_dp_other;
SELECT audit_guard.detach_default('events');
RESET ROLE;
SELECT audit_guard.detach_default('events');
SELECT audit_guard.detach_default('events_2024');
SELECT audit_guard.detach_default('pg_class');

-- the designated owner: detach, make the partition, move the rows back
SET ROLE regress_dp_owner;
SELECT audit_guard.detach_default('events') AS detached \gset
SELECT :'detached';
SELECT relid::regclass = :'detached'::regclass AS still_protected
  FROM audit_guard.registry WHERE relid = :'detached'::regclass;
SELECT count(*) AS rows_held FROM :detached;
SELECT count(*) AS new_default_rows FROM events_default;
-- moving now would put 2025's rows into the new default again: refused
SELECT audit_guard.move_detached_rows('events', :'detached');
CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
-- 2026's row has no partition yet either
SELECT audit_guard.move_detached_rows('events', :'detached');
CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
SELECT audit_guard.move_detached_rows('events', :'detached');
RESET ROLE;
SELECT to_regclass(:'detached') IS NULL AS detached_dropped;

-- every row kept, each in its partition; every partition protected
SELECT count(*) = :rows_before AS same_count,
	   md5(string_agg(e::text, ',' ORDER BY id)) = :'fingerprint_before' AS same_rows
  FROM events e;
SELECT tableoid::regclass AS partition, count(*) FROM events GROUP BY 1 ORDER BY 1;
SELECT check_name, status FROM audit_guard.check('events') ORDER BY check_name;
SELECT action, table_name, performed_by
  FROM audit_guard.history WHERE table_name LIKE 'regress_dp.%' ORDER BY at;
UPDATE events SET what = 'x';

-- a plain protected table is no detached table of events
SET ROLE regress_dp_owner;
CREATE TABLE lone (id bigint GENERATED ALWAYS AS IDENTITY, at date NOT NULL, what text);
SELECT audit_guard.protect('lone');
SELECT audit_guard.move_detached_rows('events', 'events_2024');
SELECT audit_guard.move_detached_rows('events', 'events');
SELECT audit_guard.unprotect('lone');
SELECT audit_guard.unprotect('events');
RESET ROLE;
RESET search_path;
DROP SCHEMA regress_dp CASCADE;
DROP ROLE regress_dp_owner, regress_dp_other;
