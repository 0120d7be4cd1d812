-- pgTAP: the attack matrix of issue 3 (and the paths of issue 2 that
-- 10_attacks.sql does not cover).  Every attack runs as an application
-- role holding every table privilege, as the tables' owner (who is not
-- their designated owner) and as the superuser where that differs; the
-- designated owner is refused row changes too.  Each attack gives two
-- results: it fails with its documented SQLSTATE, and a fingerprint of
-- every table involved (row count and md5 of all rows, column types,
-- owner, persistence, parent), of their triggers, rules and registry rows,
-- and of the guard function is the same after it as before.  The attack
-- runs in a subtransaction that is always rolled back, so a bypass that
-- works shows up once, in its own two results, and leaves the next case a
-- clean table.
--
--   23000  UPDATE / DELETE / MERGE / TRUNCATE of a protected table, every role
--   42501  DDL against the guard by a role that is not the designated owner,
--          replica mode, and direct writes to the registry or pg_trigger
--   2BP01  DROP ROLE of a designated owner
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(770);

CREATE ROLE regress_ag_app;
CREATE ROLE regress_ag_tblowner;
CREATE ROLE regress_ag_auditowner;
CREATE SCHEMA regress_ag;
GRANT USAGE ON SCHEMA regress_ag TO PUBLIC;
GRANT CREATE ON SCHEMA regress_ag TO regress_ag_tblowner;
-- a schema the table owner owns, to drop with CASCADE
CREATE SCHEMA regress_ag_drop AUTHORIZATION regress_ag_tblowner;
GRANT USAGE ON SCHEMA regress_ag_drop TO PUBLIC;

-- types owned by the table owner
CREATE TYPE regress_ag.status AS ENUM ('approved', 'rejected');
CREATE TYPE regress_ag.rec AS (id int, amount numeric);
ALTER TYPE regress_ag.status OWNER TO regress_ag_tblowner;
ALTER TYPE regress_ag.rec OWNER TO regress_ag_tblowner;

-- tables referenced by the audit table, with cascading actions
CREATE TABLE regress_ag.ref_cascade (id int PRIMARY KEY);
CREATE TABLE regress_ag.ref_setnull (id int PRIMARY KEY);
INSERT INTO regress_ag.ref_cascade VALUES (1), (2), (3);
INSERT INTO regress_ag.ref_setnull VALUES (1), (2), (3);

CREATE TABLE regress_ag.audit_log (
	id			int PRIMARY KEY,
	actor		text NOT NULL,
	amount		numeric(10, 2),
	status		regress_ag.status,
	doubled		numeric GENERATED ALWAYS AS (amount * 2) STORED,
	cascade_id	int REFERENCES regress_ag.ref_cascade ON DELETE CASCADE ON UPDATE CASCADE,
	setnull_id	int REFERENCES regress_ag.ref_setnull ON DELETE SET NULL ON UPDATE SET NULL
);
INSERT INTO regress_ag.audit_log (id, actor, amount, status, cascade_id, setnull_id) VALUES
	(1, 'alice', 10.50, 'approved', 1, 1),
	(2, 'bob', 2.25, 'rejected', 2, 2),
	(3, 'carol', NULL, NULL, 3, 3);

-- a table that references the audit table: FK checks must keep working
CREATE TABLE regress_ag.refs (id int PRIMARY KEY,
	log_id int REFERENCES regress_ag.audit_log ON DELETE CASCADE);
INSERT INTO regress_ag.refs VALUES (1, 1);

-- a typed table
CREATE TABLE regress_ag.typed_log OF regress_ag.rec (PRIMARY KEY (id));
INSERT INTO regress_ag.typed_log VALUES (1, 1.5), (2, 2.5);
-- a harmless rule to enable and disable (not on audit_log: MERGE refuses
-- tables with rules)
CREATE RULE log_notify AS ON INSERT TO regress_ag.typed_log DO ALSO NOTIFY regress_ag_inserted;

-- a partitioned table, partitions added after protect() below
CREATE TABLE regress_ag.events (id int, at int NOT NULL, note text) PARTITION BY RANGE (at);
CREATE TABLE regress_ag.events_1 PARTITION OF regress_ag.events FOR VALUES FROM (0) TO (100);
CREATE TABLE regress_ag.events_2 PARTITION OF regress_ag.events FOR VALUES FROM (100) TO (200);
INSERT INTO regress_ag.events VALUES (1, 10, 'one'), (2, 110, 'two');

-- an inheritance parent (unprotected) with a protected child
CREATE TABLE regress_ag.inh_parent (id int, note text);
CREATE TABLE regress_ag.inh_child () INHERITS (regress_ag.inh_parent);
INSERT INTO regress_ag.inh_parent VALUES (1, 'parent row');
INSERT INTO regress_ag.inh_child VALUES (2, 'child row');

-- a protected partition of an unprotected partitioned table
CREATE TABLE regress_ag.plain_parent (id int, at int NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE regress_ag.plain_part PARTITION OF regress_ag.plain_parent FOR VALUES FROM (0) TO (100);
INSERT INTO regress_ag.plain_parent VALUES (1, 1);

-- a protected table in a schema its owner owns
CREATE TABLE regress_ag_drop.doomed (id int PRIMARY KEY);
INSERT INTO regress_ag_drop.doomed VALUES (1);
ALTER TABLE regress_ag_drop.doomed OWNER TO regress_ag_tblowner;

-- an unprotected table for side effects, and one protected later
CREATE TABLE regress_ag.scratch (id int);
CREATE TABLE regress_ag.late (id int PRIMARY KEY);
INSERT INTO regress_ag.late VALUES (1), (2);

-- a function with replica mode in its SET clause, made while nothing was
-- protected; and one that deletes as the superuser who owns it
CREATE FUNCTION regress_ag.replica_delete() RETURNS void LANGUAGE sql
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	SET session_replication_role = replica
	AS $$ DELETE FROM regress_ag.audit_log $$;
CREATE FUNCTION regress_ag.definer_update() RETURNS void LANGUAGE sql
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS $$ UPDATE regress_ag.audit_log SET actor = 'mallory' $$;
CREATE FUNCTION regress_ag.sql_update() RETURNS void LANGUAGE sql
	AS $$ UPDATE regress_ag.audit_log SET amount = 0 $$;
CREATE FUNCTION regress_ag.plpgsql_delete() RETURNS void LANGUAGE plpgsql
	AS $$ BEGIN DELETE FROM regress_ag.audit_log WHERE id = 1; END $$;
CREATE FUNCTION regress_ag.return_null() RETURNS trigger LANGUAGE plpgsql
	AS $$ BEGIN RETURN NULL; END $$;
CREATE FUNCTION regress_ag.noop() RETURNS trigger LANGUAGE plpgsql
	AS $$ BEGIN RETURN NEW; END $$;
-- a trigger on the scratch table that deletes audit rows
CREATE FUNCTION regress_ag.scratch_deletes() RETURNS trigger LANGUAGE plpgsql
	AS $$ BEGIN DELETE FROM regress_ag.audit_log; RETURN NEW; END $$;
CREATE TRIGGER scratch_deletes AFTER UPDATE ON regress_ag.scratch
	FOR EACH ROW EXECUTE FUNCTION regress_ag.scratch_deletes();
INSERT INTO regress_ag.scratch VALUES (1);
-- an updatable view
CREATE VIEW regress_ag.audit_view AS SELECT id, actor FROM regress_ag.audit_log;

ALTER TABLE regress_ag.audit_log OWNER TO regress_ag_tblowner;
ALTER TABLE regress_ag.refs OWNER TO regress_ag_tblowner;
ALTER TABLE regress_ag.ref_cascade OWNER TO regress_ag_tblowner;
ALTER TABLE regress_ag.ref_setnull OWNER TO regress_ag_tblowner;
ALTER TABLE regress_ag.typed_log OWNER TO regress_ag_tblowner;
ALTER TABLE regress_ag.events OWNER TO regress_ag_tblowner;
ALTER TABLE regress_ag.events_1 OWNER TO regress_ag_tblowner;
ALTER TABLE regress_ag.events_2 OWNER TO regress_ag_tblowner;
ALTER TABLE regress_ag.inh_parent OWNER TO regress_ag_tblowner;
ALTER TABLE regress_ag.inh_child OWNER TO regress_ag_tblowner;
ALTER TABLE regress_ag.plain_parent OWNER TO regress_ag_tblowner;
ALTER TABLE regress_ag.plain_part OWNER TO regress_ag_tblowner;
ALTER TABLE regress_ag.scratch OWNER TO regress_ag_tblowner;
ALTER TABLE regress_ag.late OWNER TO regress_ag_tblowner;
ALTER VIEW regress_ag.audit_view OWNER TO regress_ag_tblowner;
ALTER FUNCTION regress_ag.return_null() OWNER TO regress_ag_tblowner;
ALTER FUNCTION regress_ag.noop() OWNER TO regress_ag_tblowner;
GRANT ALL ON ALL TABLES IN SCHEMA regress_ag, regress_ag_drop TO regress_ag_app;
GRANT ALL ON ALL TABLES IN SCHEMA regress_ag, regress_ag_drop TO regress_ag_auditowner;
GRANT SET ON PARAMETER session_replication_role TO regress_ag_app;

SELECT audit_guard.protect('regress_ag.audit_log', owner => 'regress_ag_auditowner');
SELECT audit_guard.protect('regress_ag.typed_log', owner => 'regress_ag_auditowner');
SELECT audit_guard.protect('regress_ag.events', owner => 'regress_ag_auditowner');
SELECT audit_guard.protect('regress_ag.inh_child', owner => 'regress_ag_auditowner');
SELECT audit_guard.protect('regress_ag.plain_part', owner => 'regress_ag_auditowner');
SELECT audit_guard.protect('regress_ag_drop.doomed', owner => 'regress_ag_auditowner');

-- partitions made after protect(), by the table owner: a new one, an
-- attached one, a new sub-partitioned one and an attached partitioned one
SET LOCAL ROLE regress_ag_tblowner;
CREATE TABLE regress_ag.events_3 PARTITION OF regress_ag.events FOR VALUES FROM (200) TO (300);
INSERT INTO regress_ag.events VALUES (3, 210, 'three');
CREATE TABLE regress_ag.events_4 (id int, at int NOT NULL, note text);
INSERT INTO regress_ag.events_4 VALUES (4, 310, 'four');
ALTER TABLE regress_ag.events ATTACH PARTITION regress_ag.events_4 FOR VALUES FROM (300) TO (400);
CREATE TABLE regress_ag.events_5 PARTITION OF regress_ag.events FOR VALUES FROM (400) TO (500)
	PARTITION BY RANGE (at);
CREATE TABLE regress_ag.events_5a PARTITION OF regress_ag.events_5 FOR VALUES FROM (400) TO (450);
INSERT INTO regress_ag.events VALUES (5, 410, 'five');
CREATE TABLE regress_ag.events_6 (id int, at int NOT NULL, note text) PARTITION BY RANGE (at);
CREATE TABLE regress_ag.events_6a PARTITION OF regress_ag.events_6 FOR VALUES FROM (500) TO (550);
INSERT INTO regress_ag.events_6 VALUES (6, 510, 'six');
ALTER TABLE regress_ag.events ATTACH PARTITION regress_ag.events_6 FOR VALUES FROM (500) TO (600);
RESET ROLE;
GRANT ALL ON ALL TABLES IN SCHEMA regress_ag TO regress_ag_app, regress_ag_auditowner;

-- every table whose fingerprint is watched
CREATE TABLE regress_ag.watched (relid oid PRIMARY KEY);
INSERT INTO regress_ag.watched
SELECT oid FROM pg_class
 WHERE relkind IN ('r', 'p')
   AND relnamespace IN ('regress_ag'::regnamespace, 'regress_ag_drop'::regnamespace)
   AND relname <> 'watched';

/*
 * The fingerprint, one element per watched table: its rows (count and md5
 * in a fixed order), columns and types, owner, persistence and parents,
 * its triggers and rules with their enabled state; then the registry rows
 * of the watched tables and the guard function's definition.  A vanished
 * object shows as "missing".
 */
CREATE FUNCTION regress_ag.state() RETURNS text[]
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $f$
DECLARE
	w record;
	part text;
	result text[] := '{}';
BEGIN
	FOR w IN SELECT relid FROM regress_ag.watched ORDER BY relid LOOP
		IF NOT EXISTS (SELECT 1 FROM pg_class WHERE oid = w.relid) THEN
			result := result || (w.relid || ' missing');
			CONTINUE;
		END IF;
		EXECUTE format($q$SELECT count(*) || ' rows ' ||
			md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) FROM ONLY %s t$q$,
			w.relid::regclass) INTO part;
		part := w.relid::regclass || ': ' || part;
		SELECT part || ' cols ' || string_agg(attname || ' ' || format_type(atttypid, atttypmod)
			|| CASE WHEN attgenerated <> '' THEN ' gen' ELSE '' END, ',' ORDER BY attnum)
		  INTO part FROM pg_attribute
		 WHERE attrelid = w.relid AND attnum > 0 AND NOT attisdropped;
		SELECT part || ' owner ' || relowner::regrole || ' ' || relpersistence::text
			|| ' hastriggers ' || relhastriggers || ' hasrules ' || relhasrules
		  INTO part FROM pg_class WHERE oid = w.relid;
		SELECT part || ' parents ' || coalesce(string_agg(inhparent::regclass::text, ','
			ORDER BY inhparent::regclass::text), '')
		  INTO part FROM pg_inherits WHERE inhrelid = w.relid;
		SELECT part || ' triggers ' || coalesce(string_agg(tgname || '=' || tgenabled::text
			|| '/' || tgfoid::regproc || '/' || tgtype, ',' ORDER BY tgname), '')
		  INTO part FROM pg_trigger WHERE tgrelid = w.relid;
		SELECT part || ' rules ' || coalesce(string_agg(rulename || '=' || ev_enabled::text, ','
			ORDER BY rulename), '')
		  INTO part FROM pg_rewrite WHERE ev_class = w.relid;
		result := result || part;
	END LOOP;
	IF to_regclass('audit_guard.registry') IS NULL THEN
		result := result || 'registry missing'::text;
	ELSE
		EXECUTE $q$SELECT coalesce(string_agg(relid::oid::regclass || '=' || designated_owner::oid::regrole,
			',' ORDER BY relid::oid), '') FROM audit_guard.registry
			WHERE relid::oid IN (SELECT relid FROM regress_ag.watched)$q$ INTO part;
		result := result || ('registry ' || part);
	END IF;
	SELECT 'guard ' || coalesce(string_agg(p.oid || ' ' || l.lanname || ' ' || p.prosrc
		|| ' ' || p.proowner::regrole, ','), 'missing')
	  INTO part FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
	 WHERE p.proname = 'reject_change';
	RETURN result || part;
END
$f$;

/*
 * Run one attack in a subtransaction that is always rolled back; return
 * two results: it failed with one of the SQLSTATEs in want ('23000' or
 * '23000|42501'), and the fingerprint after it equals the one before.  On
 * a failure, a diagnostic says what happened and what changed.
 */
CREATE FUNCTION regress_ag.refused(who text, attack text, want text) RETURNS SETOF text
LANGUAGE plpgsql AS $f$
DECLARE
	before text[] := regress_ag.state();
	after text[];
	got text;
	msg text;
	i int;
BEGIN
	BEGIN
		BEGIN
			EXECUTE attack;
			got := 'no error';
		EXCEPTION WHEN OTHERS THEN
			got := SQLSTATE;
			msg := SQLERRM;
		END;
		after := regress_ag.state();
		RAISE EXCEPTION USING ERRCODE = 'ZZ999', MESSAGE = 'undo the attack';
	EXCEPTION WHEN SQLSTATE 'ZZ999' THEN
		NULL;
	END;
	attack := regexp_replace(attack, '\s+', ' ', 'g');
	RETURN NEXT ok(got ~ ('^(' || want || ')$'),
				   format('%s: %s fails with %s', who, attack, want));
	IF got !~ ('^(' || want || ')$') THEN
		RETURN NEXT diag(format('    got: %s%s', got, coalesce(': ' || msg, '')));
	END IF;
	RETURN NEXT ok(after = before, format('%s: %s leaves the tables unchanged', who, attack));
	IF after <> before THEN
		FOR i IN 1 .. greatest(cardinality(before), cardinality(after)) LOOP
			IF before[i] IS DISTINCT FROM after[i] THEN
				RETURN NEXT diag(format(E'    before: %s\n    after:  %s', before[i], after[i]));
			END IF;
		END LOOP;
	END IF;
END
$f$;

-- Run every attack of a list: refused(who, attack, want) for each.
CREATE FUNCTION regress_ag.refused_all(who text, attacks text[], want text) RETURNS SETOF text
LANGUAGE plpgsql AS $f$
DECLARE
	attack text;
BEGIN
	FOREACH attack IN ARRAY attacks LOOP
		RETURN QUERY SELECT * FROM regress_ag.refused(who, attack, want);
	END LOOP;
END
$f$;

-- Row changes: refused with 23000 for every role.
CREATE FUNCTION regress_ag.dml_attacks() RETURNS text[] LANGUAGE sql IMMUTABLE AS $f$
	SELECT ARRAY[
		-- MERGE
		'MERGE INTO regress_ag.audit_log a USING (VALUES (2)) v(id) ON a.id = v.id '
			'WHEN MATCHED THEN UPDATE SET actor = ''mallory''',
		'MERGE INTO regress_ag.audit_log a USING (VALUES (2)) v(id) ON a.id = v.id '
			'WHEN MATCHED THEN DELETE',
		'MERGE INTO regress_ag.audit_log a USING (VALUES (2), (9)) v(id) ON a.id = v.id '
			'WHEN NOT MATCHED THEN INSERT (id, actor) VALUES (v.id, ''new'') '
			'WHEN MATCHED THEN DELETE',
		'MERGE INTO regress_ag.events e USING (VALUES (3)) v(id) ON e.id = v.id '
			'WHEN MATCHED THEN UPDATE SET note = ''forged''',
		-- writable CTEs
		'WITH d AS (DELETE FROM regress_ag.audit_log RETURNING id) SELECT count(*) FROM d',
		'WITH u AS (UPDATE regress_ag.audit_log SET actor = ''x'' RETURNING id) '
			'INSERT INTO regress_ag.scratch SELECT id FROM u',
		'WITH s AS (SELECT 1) UPDATE regress_ag.audit_log SET amount = amount + 1',
		-- inside functions
		'SELECT regress_ag.sql_update()',
		'SELECT regress_ag.plpgsql_delete()',
		'DO $$BEGIN UPDATE regress_ag.audit_log SET actor = ''do''; END$$',
		'SELECT regress_ag.definer_update()',
		'SELECT regress_ag.replica_delete()',
		-- foreign-key actions into the audit table
		'DELETE FROM regress_ag.ref_cascade WHERE id = 1',
		'UPDATE regress_ag.ref_cascade SET id = 10 WHERE id = 1',
		'DELETE FROM regress_ag.ref_setnull WHERE id = 2',
		'UPDATE regress_ag.ref_setnull SET id = 20 WHERE id = 2',
		'TRUNCATE regress_ag.ref_cascade CASCADE',
		-- through a view, a rule-less trigger on another table, an inheritance parent
		'UPDATE regress_ag.audit_view SET actor = ''view''',
		'DELETE FROM regress_ag.audit_view',
		'UPDATE regress_ag.scratch SET id = id',
		'DELETE FROM regress_ag.inh_parent',
		'UPDATE regress_ag.inh_parent SET note = ''forged''',
		'TRUNCATE regress_ag.inh_parent',
		-- partitions, old and new
		'UPDATE regress_ag.events SET note = ''forged''',
		'DELETE FROM regress_ag.events WHERE id = 1',
		'UPDATE regress_ag.events SET at = 150 WHERE id = 1',
		'DELETE FROM regress_ag.events_1',
		'TRUNCATE ONLY regress_ag.events_1',
		'TRUNCATE regress_ag.events_2',
		'UPDATE regress_ag.events_3 SET note = ''forged''',
		'DELETE FROM regress_ag.events_3',
		'TRUNCATE regress_ag.events_3',
		'UPDATE regress_ag.events_4 SET note = ''forged''',
		'DELETE FROM regress_ag.events_4',
		'TRUNCATE regress_ag.events_4',
		'UPDATE regress_ag.events_5a SET note = ''forged''',
		'TRUNCATE regress_ag.events_5a',
		'TRUNCATE ONLY regress_ag.events_5a',
		'DELETE FROM regress_ag.events_6',
		'TRUNCATE ONLY regress_ag.events_6a',
		'DELETE FROM regress_ag.plain_parent',
		'TRUNCATE regress_ag.plain_parent',
		'TRUNCATE ONLY regress_ag.plain_part',
		-- the typed table
		'UPDATE regress_ag.typed_log SET amount = 0',
		'DELETE FROM regress_ag.typed_log'
	]
$f$;

-- DDL that only the designated owner may run: refused with 42501.
CREATE FUNCTION regress_ag.ddl_attacks() RETURNS text[] LANGUAGE sql IMMUTABLE AS $f$
	SELECT ARRAY[
		-- row rewrites
		'ALTER TABLE regress_ag.audit_log ALTER COLUMN actor TYPE text USING ''forged''',
		'ALTER TABLE regress_ag.audit_log ALTER COLUMN amount TYPE int',
		'ALTER TABLE regress_ag.audit_log ALTER COLUMN id TYPE bigint',
		'ALTER TABLE regress_ag.events ALTER COLUMN note TYPE varchar(10) USING ''forged''',
		'ALTER TABLE regress_ag.events_3 ALTER COLUMN note SET DATA TYPE varchar(10)',
		'ALTER TABLE regress_ag.inh_parent ALTER COLUMN note TYPE text USING ''forged''',
		'ALTER TABLE regress_ag.plain_parent ALTER COLUMN id TYPE bigint USING 0',
		'ALTER TYPE regress_ag.rec ALTER ATTRIBUTE amount TYPE int CASCADE',
		'ALTER TYPE regress_ag.status RENAME VALUE ''approved'' TO ''forged''',
		'ALTER TABLE regress_ag.audit_log DROP COLUMN actor',
		'ALTER TABLE regress_ag.audit_log DROP COLUMN IF EXISTS amount CASCADE',
		'ALTER TABLE regress_ag.inh_parent DROP COLUMN note',
		'ALTER TYPE regress_ag.rec DROP ATTRIBUTE amount CASCADE',
		'DROP TYPE regress_ag.status CASCADE',
		'ALTER TABLE regress_ag.audit_log ALTER COLUMN doubled DROP EXPRESSION',
		'ALTER TABLE regress_ag.audit_log SET UNLOGGED',
		'ALTER TABLE regress_ag.events_1 SET UNLOGGED',
		-- rules and triggers that bypass or swallow writes
		'CREATE RULE forge AS ON UPDATE TO regress_ag.audit_log DO INSTEAD NOTHING',
		'CREATE RULE forge AS ON UPDATE TO regress_ag.audit_log DO INSTEAD '
			'INSERT INTO regress_ag.scratch VALUES (0)',
		'CREATE RULE swallow AS ON INSERT TO regress_ag.audit_log DO INSTEAD NOTHING',
		'CREATE OR REPLACE RULE log_notify AS ON INSERT TO regress_ag.typed_log DO INSTEAD NOTHING',
		'CREATE RULE swallow AS ON INSERT TO regress_ag.events_3 DO INSTEAD NOTHING',
		'ALTER TABLE regress_ag.typed_log DISABLE RULE log_notify',
		'ALTER TABLE regress_ag.typed_log ENABLE REPLICA RULE log_notify',
		'CREATE TRIGGER swallow BEFORE INSERT ON regress_ag.audit_log '
			'FOR EACH ROW EXECUTE FUNCTION regress_ag.return_null()',
		-- trigger state, on partitions and children too
		'ALTER TABLE regress_ag.audit_log ENABLE TRIGGER USER',
		'ALTER TABLE regress_ag.audit_log ENABLE TRIGGER audit_guard_no_truncate',
		'ALTER TABLE regress_ag.events_1 DISABLE TRIGGER USER',
		'ALTER TABLE regress_ag.events_1 DISABLE TRIGGER audit_guard_append_only',
		'ALTER TABLE regress_ag.events_3 ENABLE REPLICA TRIGGER audit_guard_no_truncate',
		'ALTER TABLE regress_ag.events DISABLE TRIGGER ALL',
		'ALTER TABLE regress_ag.inh_parent DISABLE TRIGGER ALL',
		'DROP TRIGGER audit_guard_no_truncate ON regress_ag.events_4',
		'CREATE OR REPLACE TRIGGER audit_guard_no_truncate BEFORE TRUNCATE '
			'ON regress_ag.events_3 EXECUTE FUNCTION regress_ag.noop()',
		-- ownership and inheritance
		'ALTER TABLE regress_ag.audit_log OWNER TO regress_ag_tblowner',
		'ALTER TABLE regress_ag.events_1 OWNER TO regress_ag_tblowner',
		'ALTER TABLE regress_ag.inh_child NO INHERIT regress_ag.inh_parent',
		'ALTER TABLE regress_ag.audit_log INHERIT regress_ag.inh_parent',
		-- partitions leaving their protected parent
		'ALTER TABLE regress_ag.events DETACH PARTITION regress_ag.events_1',
		'ALTER TABLE regress_ag.events DETACH PARTITION regress_ag.events_3',
		'ALTER TABLE regress_ag.events DETACH PARTITION regress_ag.events_4',
		'ALTER TABLE regress_ag.events_5 DETACH PARTITION regress_ag.events_5a',
		'ALTER TABLE regress_ag.plain_parent DETACH PARTITION regress_ag.plain_part',
		-- drops, direct and cascaded
		'DROP TABLE regress_ag.audit_log CASCADE',
		'DROP TABLE regress_ag.events_3',
		'DROP TABLE regress_ag.events CASCADE',
		'DROP TABLE regress_ag.inh_parent CASCADE',
		'DROP TABLE regress_ag.plain_parent',
		'DROP TABLE IF EXISTS regress_ag.scratch, regress_ag.typed_log',
		'DROP SCHEMA regress_ag_drop CASCADE',
		'DROP OWNED BY regress_ag_tblowner',
		'DROP OWNED BY regress_ag_tblowner CASCADE',
		-- replica mode, every way but set_config()
		'SET session_replication_role = replica',
		'SET SESSION session_replication_role = replica',
		'SET LOCAL session_replication_role = ''REPLICA''',
		'CREATE FUNCTION regress_ag.f_replica() RETURNS int LANGUAGE sql '
			'SET session_replication_role = replica AS ''SELECT 1''',
		'CREATE PROCEDURE regress_ag.p_replica() LANGUAGE sql '
			'SET session_replication_role = replica AS ''SELECT 1''',
		'ALTER FUNCTION regress_ag.noop() SET session_replication_role = replica',
		'ALTER FUNCTION regress_ag.return_null() SET session_replication_role TO ''replica'''
	]
$f$;

-- The extension itself, its tables, and the catalog (refused for everyone).
CREATE FUNCTION regress_ag.extension_attacks() RETURNS text[] LANGUAGE sql IMMUTABLE AS $f$
	SELECT ARRAY[
		'DELETE FROM audit_guard.registry',
		'DELETE FROM audit_guard.registry WHERE relid = ''regress_ag.audit_log''::regclass',
		'UPDATE audit_guard.registry SET designated_owner = ''regress_ag_app''',
		'INSERT INTO audit_guard.registry (relid, designated_owner) '
			'VALUES (''regress_ag.audit_log'', ''regress_ag_app'') '
			'ON CONFLICT (relid) DO UPDATE SET designated_owner = excluded.designated_owner',
		'TRUNCATE audit_guard.registry',
		'TRUNCATE audit_guard.history',
		'DELETE FROM audit_guard.history',
		'UPDATE audit_guard.history SET performed_by = ''nobody''',
		'ALTER TABLE audit_guard.registry DISABLE TRIGGER ALL',
		'ALTER TABLE audit_guard.registry RENAME TO registry_old',
		'DROP EXTENSION audit_guard',
		'DROP EXTENSION audit_guard CASCADE',
		'DROP EXTENSION IF EXISTS pgtap, audit_guard CASCADE',
		'DROP SCHEMA audit_guard CASCADE',
		'ALTER EXTENSION audit_guard DROP FUNCTION audit_guard.reject_change()',
		'ALTER FUNCTION audit_guard.reject_change() RENAME TO reject_nothing',
		'CREATE OR REPLACE FUNCTION audit_guard.reject_change() RETURNS trigger '
			'LANGUAGE plpgsql AS $$BEGIN RETURN NULL; END$$'
	]
$f$;

SELECT regress_ag.state() AS before \gset
SELECT ok(array_to_string(:'before'::text[], ' ') ~ 'audit_log: 3 rows .* triggers .*audit_guard_append_only=A.*audit_guard_no_truncate=A',
		  'the audit table is protected, its guard triggers ENABLE ALWAYS');
SELECT is((SELECT count(*)::int FROM audit_guard.registry r
			 JOIN regress_ag.watched w ON w.relid = r.relid::oid), 14,
		  'every table, partition and later partition is in the registry');

-- the application role
SET LOCAL ROLE regress_ag_app;
SELECT * FROM regress_ag.refused_all('app', regress_ag.dml_attacks(), '23000');
SELECT * FROM regress_ag.refused('app', $$ALTER TABLE regress_ag.audit_log DISABLE TRIGGER USER$$, '42501');
SELECT * FROM regress_ag.refused('app', $$ALTER TABLE regress_ag.audit_log ALTER COLUMN actor TYPE text USING 'x'$$, '42501');
SELECT * FROM regress_ag.refused('app', $$CREATE RULE swallow AS ON INSERT TO regress_ag.audit_log DO INSTEAD NOTHING$$, '42501');
SELECT * FROM regress_ag.refused('app', $$SET session_replication_role = replica$$, '42501');
SELECT * FROM regress_ag.refused('app', $$DROP TABLE regress_ag.audit_log$$, '42501');
SELECT * FROM regress_ag.refused('app', $$DROP ROLE regress_ag_auditowner$$, '2BP01|42501');
SELECT * FROM regress_ag.refused_all('app', regress_ag.extension_attacks(), '42501');
-- PostgreSQL's own check (the extension requires it) may answer first
SELECT * FROM regress_ag.refused('app', $$DROP FUNCTION audit_guard.reject_change() CASCADE$$, '42501|2BP01');
-- replica mode through set_config(), which is not refused: still harmless
SELECT set_config('session_replication_role', 'replica', true) AS replica_via_set_config;
SELECT * FROM regress_ag.refused('app, replica via set_config', $$UPDATE regress_ag.audit_log SET actor = 'x'$$, '23000');
SELECT * FROM regress_ag.refused('app, replica via set_config', $$DELETE FROM regress_ag.audit_log$$, '23000');
SELECT * FROM regress_ag.refused('app, replica via set_config', $$TRUNCATE regress_ag.audit_log$$, '23000');
SELECT * FROM regress_ag.refused('app, replica via set_config', $$TRUNCATE regress_ag.ref_cascade CASCADE$$, '23000');
SELECT set_config('session_replication_role', 'origin', true) AS back_to_origin;
RESET ROLE;
SELECT ok(regress_ag.state() = :'before'::text[], 'app: every table as before');

-- the table owner, who is not the designated owner
SET LOCAL ROLE regress_ag_tblowner;
SELECT * FROM regress_ag.refused_all('table owner', regress_ag.dml_attacks(), '23000');
SELECT * FROM regress_ag.refused_all('table owner', regress_ag.ddl_attacks(), '42501');
SELECT * FROM regress_ag.refused_all('table owner', regress_ag.extension_attacks(), '42501');
-- PostgreSQL's own check (the extension requires it) may answer first
SELECT * FROM regress_ag.refused('table owner', $$DROP FUNCTION audit_guard.reject_change() CASCADE$$, '42501|2BP01');
RESET ROLE;
SELECT ok(regress_ag.state() = :'before'::text[], 'table owner: every table as before');

-- the designated owner: row changes are refused for it too
SET LOCAL ROLE regress_ag_auditowner;
SELECT * FROM regress_ag.refused_all('designated owner', regress_ag.dml_attacks(), '23000');
RESET ROLE;
SELECT ok(regress_ag.state() = :'before'::text[], 'designated owner: every table as before');

-- the superuser
SELECT * FROM regress_ag.refused_all('superuser', regress_ag.dml_attacks(), '23000');
SELECT * FROM regress_ag.refused_all('superuser', regress_ag.ddl_attacks(), '42501');
SELECT * FROM regress_ag.refused_all('superuser', regress_ag.extension_attacks(), '42501');
-- PostgreSQL's own check (the extension requires it) may answer first
SELECT * FROM regress_ag.refused('superuser', $$DROP FUNCTION audit_guard.reject_change() CASCADE$$, '42501|2BP01');
SELECT * FROM regress_ag.refused('superuser', $$REASSIGN OWNED BY regress_ag_tblowner TO regress_ag_app$$, '42501');
SELECT * FROM regress_ag.refused('superuser', $$ALTER TABLE regress_ag.audit_log OWNER TO regress_ag_app$$, '42501');
SELECT * FROM regress_ag.refused('superuser', $$ALTER FUNCTION audit_guard.reject_change() OWNER TO regress_ag_app$$, '42501');
SELECT * FROM regress_ag.refused('superuser', $$ALTER ROLE regress_ag_app SET session_replication_role = replica$$, '42501');
SELECT * FROM regress_ag.refused('superuser', format('ALTER ROLE regress_ag_app IN DATABASE %I SET session_replication_role = replica', current_database()), '42501');
SELECT * FROM regress_ag.refused('superuser', $$ALTER ROLE ALL SET session_replication_role = replica$$, '42501');
SELECT * FROM regress_ag.refused('superuser', format('ALTER DATABASE %I SET session_replication_role = replica', current_database()), '42501');
SELECT * FROM regress_ag.refused('superuser', $$ALTER SYSTEM SET session_replication_role = replica$$, '42501');
-- direct catalog edits
SELECT * FROM regress_ag.refused('superuser', $$UPDATE pg_catalog.pg_trigger SET tgenabled = 'D'
	WHERE tgrelid = 'regress_ag.audit_log'::regclass AND tgname = 'audit_guard_append_only'$$, '42501');
SELECT * FROM regress_ag.refused('superuser', $$UPDATE pg_catalog.pg_trigger SET tgenabled = 'O'
	WHERE tgrelid = 'regress_ag.events_3'::regclass AND tgname = 'audit_guard_no_truncate'$$, '42501');
SELECT * FROM regress_ag.refused('superuser', $$UPDATE pg_catalog.pg_trigger SET tgfoid = 'regress_ag.noop'::regproc
	WHERE tgrelid = 'regress_ag.audit_log'::regclass AND tgname = 'audit_guard_append_only'$$, '42501');
SELECT * FROM regress_ag.refused('superuser', $$DELETE FROM pg_catalog.pg_trigger
	WHERE tgrelid = 'regress_ag.audit_log'::regclass AND tgname = 'audit_guard_append_only'$$, '42501');
SELECT * FROM regress_ag.refused('superuser', $$DELETE FROM pg_catalog.pg_trigger
	WHERE tgrelid = 'regress_ag.audit_log'::regclass AND tgname = 'audit_guard_no_truncate'$$, '42501');
SELECT * FROM regress_ag.refused('superuser', $$DELETE FROM pg_catalog.pg_trigger
	WHERE tgrelid = 'regress_ag.events_1'::regclass$$, '42501');
-- the designated owner may not be dropped
SELECT * FROM regress_ag.refused('superuser', $$DROP ROLE regress_ag_auditowner$$, '2BP01');
SELECT * FROM regress_ag.refused('superuser', $$DROP ROLE IF EXISTS regress_ag_app, regress_ag_auditowner$$, '2BP01');
-- catalog edits that silence the guard triggers do not open TRUNCATE ... CASCADE
SELECT * FROM regress_ag.refused('superuser',
	$$UPDATE pg_catalog.pg_class SET relhastriggers = false WHERE oid = 'regress_ag.audit_log'::regclass;
	  TRUNCATE regress_ag.ref_cascade CASCADE$$, '23000|42501');
SELECT * FROM regress_ag.refused('superuser',
	$$UPDATE pg_catalog.pg_proc SET prosrc = 'audit_guard_registry_changed'
	   WHERE oid = 'audit_guard.reject_change'::regproc;
	  TRUNCATE regress_ag.ref_cascade CASCADE$$, '23000|42501');
RESET ROLE;
SELECT ok(regress_ag.state() = :'before'::text[], 'superuser: every table as before');

/*
 * Known and not closed: a superuser's pg_surgery (contrib) kills heap
 * tuples below the executor.  Kept as TODO so that the gap stays visible.
 */
CREATE FUNCTION regress_ag.surgery() RETURNS SETOF text LANGUAGE plpgsql AS $f$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_surgery') THEN
		RETURN NEXT skip('contrib pg_surgery is not installed', 2);
		RETURN;
	END IF;
	PERFORM todo('pg_surgery edits the heap below every audit_guard hook', 2);
	RETURN QUERY SELECT * FROM regress_ag.refused('superuser',
		$$CREATE EXTENSION pg_surgery SCHEMA regress_ag;
		  SELECT regress_ag.heap_force_kill('regress_ag.audit_log', ARRAY['(0,1)']::tid[])$$,
		'23000|42501');
END
$f$;
SELECT * FROM regress_ag.surgery();

-- a statement planned before protect() is refused when it runs after
PREPARE late_delete AS DELETE FROM regress_ag.late;
SELECT audit_guard.protect('regress_ag.late', owner => 'regress_ag_auditowner');
SELECT * FROM regress_ag.refused('superuser', $$EXECUTE late_delete$$, '23000');
DEALLOCATE late_delete;

SELECT * FROM finish();
ROLLBACK;
