-- A protected table's partitions must be local: rows routed to a foreign
-- partition would live on another server, outside the guard.  Refused for
-- CREATE FOREIGN TABLE ... PARTITION OF, ATTACH PARTITION and protect().
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE EXTENSION file_fdw;
CREATE SERVER regress_fs FOREIGN DATA WRAPPER file_fdw;
CREATE SCHEMA regress_fp;
SET search_path = regress_fp;

CREATE TABLE events (id int, at int) PARTITION BY RANGE (at);
CREATE TABLE events_local PARTITION OF events FOR VALUES FROM (0) TO (10);
SELECT audit_guard.protect('events');

CREATE FOREIGN TABLE events_remote PARTITION OF events
	FOR VALUES FROM (10) TO (20) SERVER regress_fs OPTIONS (filename '/dev/null');
CREATE FOREIGN TABLE loose (id int, at int) SERVER regress_fs OPTIONS (filename '/dev/null');
ALTER TABLE events ATTACH PARTITION loose FOR VALUES FROM (20) TO (30);
SELECT count(*) AS partitions FROM pg_inherits WHERE inhparent = 'events'::regclass;

-- a local partition is still welcome, and protected
CREATE TABLE events_more PARTITION OF events FOR VALUES FROM (30) TO (40);
SELECT table_name, protected_through FROM audit_guard.protected_tables
 WHERE table_name IN (SELECT oid FROM pg_class
					   WHERE relnamespace = 'regress_fp'::regnamespace)
 ORDER BY table_name::text;

-- protect() of a partitioned table that already has a foreign partition
CREATE TABLE mixed (id int, at int) PARTITION BY RANGE (at);
ALTER TABLE mixed ATTACH PARTITION loose FOR VALUES FROM (0) TO (10);
SELECT audit_guard.protect('mixed');
SELECT count(*) AS registered FROM audit_guard.registry WHERE relid = 'mixed'::regclass;

SELECT audit_guard.unprotect('events');
RESET search_path;
DROP SCHEMA regress_fp CASCADE;
DROP SERVER regress_fs;
DROP EXTENSION file_fdw;
