-- test/issue8/fixture.sql: what every test/32_issue8_*.sql file starts from.
-- Included with \ir inside the file's transaction, after plan(); not a test
-- file of its own (run_tap runs test/*.sql only).
--
-- Roles:
--   regress_i8_app         the application: SELECT and INSERT, nothing else
--   regress_i8_tblowner    owns the tables and their schema; not their
--                          designated owner
--   regress_i8_auditowner  the designated owner (a member of the table owner,
--                          so that PostgreSQL's own ownership checks pass)
--   regress_i8_accomplice  a role the table owner belongs to (OWNER TO target)
--   regress_i8_dba         a superuser who is also a designated owner (member
--                          of regress_i8_auditowner)
--   the session user       a superuser who is not a designated owner
--
-- Tables (schema regress_i8, owned by the table owner; protected for the
-- designated owner): audit_log (with a harmless ON INSERT DO ALSO rule, an
-- allowed AFTER INSERT row trigger and a CHECK constraint), events
-- (partitioned) with events_1, typed_log (a typed table).  Unprotected
-- neighbours: decoy (audit_log's twin, for the name swaps of class 1),
-- scratch (audit_log's twin, for rules and triggers to move), plain_parent
-- (an inheritance parent that fits audit_log).
--
-- regress_i8.state() fingerprints every watched relation (the protected
-- tables and audit_guard's registry and history) by OID, and audit_guard's
-- schema, extension, functions and view; regress_i8.refused() runs one
-- attack in a subtransaction that is always rolled back and reports three
-- results: its SQLSTATE, the fingerprint unchanged, and an INSERT by the
-- application, by the table's name, landing in the protected table;
-- regress_i8.allowed() is the same for a legitimate statement.

SET LOCAL client_min_messages = warning;

CREATE ROLE regress_i8_app;
CREATE ROLE regress_i8_tblowner;
CREATE ROLE regress_i8_auditowner;
CREATE ROLE regress_i8_accomplice;
CREATE ROLE regress_i8_dba SUPERUSER;
GRANT regress_i8_tblowner TO regress_i8_auditowner;
GRANT regress_i8_accomplice TO regress_i8_tblowner;
GRANT regress_i8_auditowner TO regress_i8_dba;

CREATE SCHEMA regress_i8 AUTHORIZATION regress_i8_tblowner;
CREATE SCHEMA regress_i8_other AUTHORIZATION regress_i8_tblowner;
GRANT USAGE ON SCHEMA regress_i8, regress_i8_other TO PUBLIC;
GRANT CREATE ON SCHEMA regress_i8, regress_i8_other TO regress_i8_accomplice;

-- everything below is the table owner's
SET LOCAL ROLE regress_i8_tblowner;
CREATE DOMAIN regress_i8.actor_name AS text;
CREATE TYPE regress_i8.rec AS (id int, amount numeric);
CREATE FUNCTION regress_i8.return_null() RETURNS trigger LANGUAGE plpgsql
	AS $$ BEGIN RETURN NULL; END $$;

CREATE TABLE regress_i8.audit_log (
	id			bigint PRIMARY KEY,
	created_at	timestamptz NOT NULL DEFAULT '2024-01-01 00:00:00+00',
	actor		regress_i8.actor_name NOT NULL,
	action		text NOT NULL,
	note		text,
	CONSTRAINT actor_not_empty CHECK (actor <> '')
);
INSERT INTO regress_i8.audit_log (id, actor, action, note) VALUES
	(1, 'alice', 'login', 'first'),
	(2, 'bob', 'logout', NULL),
	(3, 'carol', 'login', 'third');
-- a harmless rule (to ENABLE/DISABLE) and an allowed AFTER INSERT trigger
CREATE RULE log_notify AS ON INSERT TO regress_i8.audit_log DO ALSO NOTIFY regress_i8_inserted;
CREATE TRIGGER after_insert_ok AFTER INSERT ON regress_i8.audit_log
	FOR EACH ROW EXECUTE FUNCTION regress_i8.return_null();

CREATE TABLE regress_i8.events (id bigint NOT NULL, at int NOT NULL, note text) PARTITION BY RANGE (at);
CREATE TABLE regress_i8.events_1 PARTITION OF regress_i8.events FOR VALUES FROM (0) TO (100);
INSERT INTO regress_i8.events VALUES (1, 10, 'one'), (2, 20, 'two');

CREATE TABLE regress_i8.typed_log OF regress_i8.rec (PRIMARY KEY (id));
INSERT INTO regress_i8.typed_log VALUES (1, 1.5), (2, 2.5);

CREATE TABLE regress_i8.decoy (LIKE regress_i8.audit_log INCLUDING ALL);
INSERT INTO regress_i8.decoy (id, actor, action) VALUES (100, 'decoy', 'decoy');
CREATE RULE log_notify AS ON INSERT TO regress_i8.decoy DO ALSO NOTIFY regress_i8_inserted;
CREATE TABLE regress_i8.scratch (LIKE regress_i8.audit_log INCLUDING DEFAULTS);
CREATE TABLE regress_i8.plain_parent (LIKE regress_i8.audit_log);
RESET ROLE;

GRANT SELECT, INSERT ON regress_i8.audit_log, regress_i8.events, regress_i8.typed_log,
	regress_i8.decoy TO regress_i8_app;
CREATE SEQUENCE regress_i8.probe_seq START 1000000;
GRANT USAGE ON SEQUENCE regress_i8.probe_seq TO regress_i8_app;

SELECT audit_guard.protect('regress_i8.audit_log', owner => 'regress_i8_auditowner');
SELECT audit_guard.protect('regress_i8.events', owner => 'regress_i8_auditowner');
SELECT audit_guard.protect('regress_i8.typed_log', owner => 'regress_i8_auditowner');

-- the objects the fingerprint follows, by OID (names are what attacks change)
CREATE TABLE regress_i8.watched (relid oid PRIMARY KEY, label text NOT NULL);
INSERT INTO regress_i8.watched VALUES
	('regress_i8.audit_log'::regclass, 'audit_log'),
	('regress_i8.events'::regclass, 'events'),
	('regress_i8.events_1'::regclass, 'events_1'),
	('regress_i8.typed_log'::regclass, 'typed_log'),
	('audit_guard.registry'::regclass, 'registry'),
	('audit_guard.history'::regclass, 'history');
CREATE TABLE regress_i8.oids AS
SELECT (SELECT oid FROM pg_extension WHERE extname = 'audit_guard') AS ext,
	   'audit_guard'::regnamespace::oid AS nsp,
	   'audit_guard.protected_tables'::regclass::oid AS view,
	   'regress_i8.audit_log'::regclass::oid AS audit_log;

/*
 * The fingerprint: for each watched relation its name, rows (count and md5),
 * columns with types, defaults, NOT NULL and generation, owner, kind,
 * persistence, flags, parents and children, triggers (enabled state,
 * function, type, WHEN clause, column list), rules, policies and
 * constraints; then audit_guard's schema, extension, functions and view.
 * Each part is computed on its own, so that a catalog an attack broke shows
 * as "error: ..." in that part instead of aborting the whole check.
 */
CREATE FUNCTION regress_i8.state() RETURNS text[]
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $f$
DECLARE
	w record;
	o record;
	part text;
	result text[] := '{}';
BEGIN
	SELECT * INTO o FROM regress_i8.oids;
	FOR w IN SELECT relid, label FROM regress_i8.watched ORDER BY label LOOP
		BEGIN
			IF NOT EXISTS (SELECT 1 FROM pg_class WHERE oid = w.relid) THEN
				result := result || (w.label || ': missing');
				CONTINUE;
			END IF;
			EXECUTE format($q$SELECT count(*) || ' rows ' ||
				md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) FROM ONLY %s t$q$,
				w.relid::regclass) INTO part;
			SELECT w.label || ': ' || n.nspname || '.' || c.relname || ' ' || part
				|| ' kind ' || c.relkind::text || c.relpersistence::text
				|| ' owner ' || c.relowner::regrole
				|| ' flags ' || c.relhastriggers || c.relhasrules || c.relrowsecurity
				|| c.relforcerowsecurity || c.relispartition
				|| ' partbound ' || coalesce(pg_get_expr(c.relpartbound, c.oid), '-')
			  INTO part
			  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			 WHERE c.oid = w.relid;
			SELECT part || ' cols ' || string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
				|| CASE WHEN a.attnotnull THEN ' notnull' ELSE '' END
				|| CASE WHEN a.attgenerated <> '' THEN ' gen' ELSE '' END
				|| CASE WHEN a.attidentity <> '' THEN ' ident' ELSE '' END
				|| coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
				|| coalesce(' typdefault ' || t.typdefault, ''), ',' ORDER BY a.attnum)
			  INTO part
			  FROM pg_attribute a
			  JOIN pg_type t ON t.oid = a.atttypid
			  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
			 WHERE a.attrelid = w.relid AND a.attnum > 0 AND NOT a.attisdropped;
			SELECT part || ' parents ' || coalesce(string_agg(inhparent::text, ',' ORDER BY inhparent), '')
			  INTO part FROM pg_inherits WHERE inhrelid = w.relid;
			SELECT part || ' children ' || coalesce(string_agg(inhrelid::text, ',' ORDER BY inhrelid), '')
			  INTO part FROM pg_inherits WHERE inhparent = w.relid;
			SELECT part || ' triggers ' || coalesce(string_agg(tgname || '=' || tgenabled::text
				|| '/' || tgfoid || '/' || tgtype || '/' || (tgqual IS NOT NULL) || '/' || tgattr::text,
				',' ORDER BY tgname), '')
			  INTO part FROM pg_trigger WHERE tgrelid = w.relid;
			SELECT part || ' rules ' || coalesce(string_agg(rulename || '=' || ev_enabled::text
				|| '/' || ev_type::text || '/' || is_instead, ',' ORDER BY rulename), '')
			  INTO part FROM pg_rewrite WHERE ev_class = w.relid;
			SELECT part || ' policies ' || coalesce(string_agg(polname::text, ',' ORDER BY polname), '')
			  INTO part FROM pg_policy WHERE polrelid = w.relid;
			SELECT part || ' constraints ' || coalesce(string_agg(conname || '=' || contype::text
				|| '/' || convalidated || '/' || md5(pg_get_constraintdef(oid)), ',' ORDER BY conname), '')
			  INTO part FROM pg_constraint WHERE conrelid = w.relid;
			result := result || part;
		EXCEPTION WHEN OTHERS THEN
			result := result || (w.label || ': error: ' || SQLERRM);
		END;
	END LOOP;
	BEGIN
		SELECT 'extension ' || coalesce(max(e.extname || ' in ' || e.extnamespace || ' ' || e.extversion
			|| ' config ' || coalesce(e.extconfig::text, '-')), 'missing')
		  INTO part FROM pg_extension e WHERE e.oid = o.ext;
		result := result || part;
		SELECT 'schema ' || coalesce(max(nspname || ' owner ' || nspowner::regrole), 'missing')
		  INTO part FROM pg_namespace WHERE oid = o.nsp;
		result := result || part;
		SELECT 'functions ' || count(*) || ' ' || md5(coalesce(string_agg(p.oid || ' ' || p.proname || '('
			|| pg_get_function_identity_arguments(p.oid) || ') ' || coalesce(p.prosrc, '') || ' '
			|| coalesce(p.probin, '') || ' ' || p.proowner || ' ' || p.prosecdef || ' '
			|| coalesce(p.proconfig::text, ''), ',' ORDER BY p.oid), ''))
		  INTO part FROM pg_proc p WHERE p.pronamespace = o.nsp;
		result := result || part;
		SELECT 'members ' || count(*) INTO part
		  FROM pg_depend WHERE refclassid = 'pg_extension'::regclass AND refobjid = o.ext;
		result := result || part;
		SELECT 'view ' || coalesce(max(c.relname || ' ' || md5(pg_get_viewdef(c.oid))), 'missing')
		  INTO part FROM pg_class c WHERE c.oid = o.view;
		result := result || part;
	EXCEPTION WHEN OTHERS THEN
		result := result || ('audit_guard objects: error: ' || SQLERRM);
	END;
	RETURN result;
END
$f$;

/*
 * The application's INSERT, by the audit table's name (as the application
 * writes it), and whether the row landed in the protected table (found by
 * OID, wherever it now is) reading what was written, with the fixture's
 * defaults in the columns it left out.  '' when it did, else what happened.
 */
CREATE FUNCTION regress_i8.app_insert() RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $f$
DECLARE
	new_id bigint := nextval('regress_i8.probe_seq');
	found text;
BEGIN
	BEGIN
		EXECUTE 'INSERT INTO regress_i8.audit_log (id, actor, action) VALUES ($1, ''app'', ''probe'')'
			USING new_id;
	EXCEPTION WHEN OTHERS THEN
		RETURN 'the application''s INSERT failed: ' || SQLSTATE || ': ' || SQLERRM;
	END;
	BEGIN
		EXECUTE format('SELECT string_agg((actor, action, created_at)::text, '','') '
					   'FROM ONLY %s WHERE id = $1',
					   (SELECT audit_log FROM regress_i8.oids)::regclass)
			INTO found USING new_id;
	EXCEPTION WHEN OTHERS THEN
		RETURN 'the protected table cannot be read: ' || SQLSTATE || ': ' || SQLERRM;
	END;
	IF found IS NULL THEN
		RETURN 'the application''s INSERT succeeded but its row is not in the protected table';
	END IF;
	-- what the application wrote, and the fixture's defaults for the rest
	IF found <> '(app,probe,"2024-01-01 00:00:00+00")' THEN
		RETURN 'the application''s row landed but reads ' || found;
	END IF;
	RETURN '';
END
$f$;
GRANT SELECT ON regress_i8.oids TO PUBLIC;
ALTER FUNCTION regress_i8.app_insert() OWNER TO regress_i8_app;

/*
 * Run one statement in a subtransaction that is always rolled back, as the
 * current role; return the SQLSTATE (or 'ok'), its message, the fingerprint
 * after it and what the application's later INSERT found.
 */
CREATE FUNCTION regress_i8.attempt(stmt text, OUT got text, OUT msg text,
								   OUT after text[], OUT probe text)
LANGUAGE plpgsql AS $f$
BEGIN
	BEGIN
		BEGIN
			EXECUTE stmt;
			got := 'ok';
		EXCEPTION WHEN OTHERS THEN
			got := SQLSTATE;
			msg := SQLERRM;
		END;
		-- an attack that renamed this schema leaves these functions unfound
		BEGIN
			after := regress_i8.state();
		EXCEPTION WHEN OTHERS THEN
			after := ARRAY['the fingerprint cannot be taken: ' || SQLERRM];
		END;
		BEGIN
			probe := regress_i8.app_insert();
		EXCEPTION WHEN OTHERS THEN
			probe := 'the application''s INSERT cannot be tried: ' || SQLERRM;
		END;
		RAISE EXCEPTION USING ERRCODE = 'ZZ999', MESSAGE = 'undo the attempt';
	EXCEPTION WHEN SQLSTATE 'ZZ999' THEN
		NULL;
	END;
END
$f$;

-- The elements of two fingerprints that differ, as diagnostics.
CREATE FUNCTION regress_i8.differences(before text[], after text[]) RETURNS SETOF text
LANGUAGE plpgsql AS $f$
DECLARE
	i int;
BEGIN
	FOR i IN 1 .. greatest(cardinality(before), cardinality(after)) LOOP
		IF before[i] IS DISTINCT FROM after[i] THEN
			RETURN NEXT diag(format(E'    before: %s\n    after:  %s', before[i], after[i]));
		END IF;
	END LOOP;
END
$f$;

-- A statement as a test names it: on one line, without the arming of a swap.
CREATE FUNCTION regress_i8.label(stmt text) RETURNS text LANGUAGE sql IMMUTABLE AS $f$
	SELECT regexp_replace(regexp_replace(stmt, '\s+', ' ', 'g'),
						  '^SELECT set_config\(''[a-z0-9_.]+'', ''on'', true\); ', '')
$f$;

/*
 * An attack: three results.  It fails with one of the SQLSTATEs in want
 * ('42501' or '42501|55000'), the fingerprint is unchanged, and a later
 * INSERT by the application lands in the protected table.
 */
CREATE FUNCTION regress_i8.refused(who text, attack text, want text) RETURNS SETOF text
LANGUAGE plpgsql AS $f$
DECLARE
	before text[] := regress_i8.state();
	r record;
	label text := regress_i8.label(attack);
BEGIN
	r := regress_i8.attempt(attack);
	RETURN NEXT ok(r.got ~ ('^(' || want || ')$'), format('%s: %s fails with %s', who, label, want));
	IF r.got !~ ('^(' || want || ')$') THEN
		RETURN NEXT diag(format('    got: %s%s', r.got, coalesce(': ' || r.msg, '')));
	ELSIF want LIKE '%|%' THEN
		RETURN NEXT diag(format('    got %s', r.got));
	END IF;
	RETURN NEXT ok(r.after = before, format('%s: %s leaves everything unchanged', who, label));
	IF r.after IS DISTINCT FROM before THEN
		RETURN QUERY SELECT * FROM regress_i8.differences(before, r.after);
	END IF;
	RETURN NEXT ok(r.probe = '', format('%s: after %s the application''s INSERT lands', who, label));
	IF r.probe <> '' THEN
		RETURN NEXT diag('    ' || r.probe);
	END IF;
END
$f$;

-- Every attack of a list: refused(who, attack, want) for each.
CREATE FUNCTION regress_i8.refused_all(who text, attacks text[], want text) RETURNS SETOF text
LANGUAGE plpgsql AS $f$
DECLARE
	attack text;
BEGIN
	FOREACH attack IN ARRAY attacks LOOP
		RETURN QUERY SELECT * FROM regress_i8.refused(who, attack, want);
	END LOOP;
END
$f$;

/*
 * A legitimate statement: two results.  It succeeds, and a later INSERT by
 * the application lands in the protected table.
 */
CREATE FUNCTION regress_i8.allowed(who text, stmt text) RETURNS SETOF text
LANGUAGE plpgsql AS $f$
DECLARE
	r record;
	label text := regress_i8.label(stmt);
BEGIN
	r := regress_i8.attempt(stmt);
	RETURN NEXT ok(r.got = 'ok', format('%s: %s succeeds', who, label));
	IF r.got <> 'ok' THEN
		RETURN NEXT diag(format('    got: %s: %s', r.got, r.msg));
	END IF;
	RETURN NEXT ok(r.probe = '', format('%s: after %s the application''s INSERT lands', who, label));
	IF r.probe <> '' THEN
		RETURN NEXT diag('    ' || r.probe);
	END IF;
END
$f$;

-- Every statement of a list: allowed(who, stmt) for each.
CREATE FUNCTION regress_i8.allowed_all(who text, stmts text[]) RETURNS SETOF text
LANGUAGE plpgsql AS $f$
DECLARE
	stmt text;
BEGIN
	FOREACH stmt IN ARRAY stmts LOOP
		RETURN QUERY SELECT * FROM regress_i8.allowed(who, stmt);
	END LOOP;
END
$f$;

SELECT regress_i8.state() AS i8_before \gset
