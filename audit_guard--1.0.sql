/* audit_guard--1.0.sql: registry, API and guard trigger functions */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION audit_guard" to load this file. \quit

-- everyone may read the registry and call the API; the functions check callers
GRANT USAGE ON SCHEMA audit_guard TO PUBLIC;

/*
 * The registry: one row per protected table.  Written only by protect(),
 * unprotect() and the partition bookkeeping of the utility hook; the
 * executor hook refuses UPDATE and DELETE here from anywhere else, for
 * every role.  INSERT stays possible so that pg_restore can load it.
 * Partitions of a protected partitioned table have rows of their own.
 */
CREATE TABLE audit_guard.registry (
	relid				regclass	PRIMARY KEY,
	designated_owner	regrole		NOT NULL,
	protected_at		timestamptz	NOT NULL DEFAULT now(),
	protected_by		name		NOT NULL DEFAULT current_user
);

/*
 * Who protected and unprotected what, and when.  Append-only: the executor
 * hook refuses UPDATE and DELETE on it for every role.
 */
CREATE TABLE audit_guard.history (
	at					timestamptz	NOT NULL DEFAULT clock_timestamp(),
	action				text		NOT NULL
		CHECK (action IN ('protect', 'unprotect', 'drop', 'partition')),
	relid				oid			NOT NULL,
	table_name			text		NOT NULL,
	designated_owner	name		NOT NULL,
	performed_by		name		NOT NULL DEFAULT current_user
);

-- dump the rows with the extension, so that a restore keeps protection
SELECT pg_catalog.pg_extension_config_dump('audit_guard.registry', '');
SELECT pg_catalog.pg_extension_config_dump('audit_guard.history', '');

REVOKE ALL ON audit_guard.registry FROM PUBLIC;
REVOKE ALL ON audit_guard.history FROM PUBLIC;
GRANT SELECT ON audit_guard.registry TO PUBLIC;
GRANT SELECT ON audit_guard.history TO PUBLIC;

/* The registry as users read it: readable by everyone. */
CREATE VIEW audit_guard.protected_tables AS
	SELECT r.relid AS table_name,
		   r.designated_owner,
		   r.protected_at,
		   r.protected_by,
		   (SELECT i.inhparent::regclass
			  FROM pg_catalog.pg_inherits i
			  JOIN audit_guard.registry p ON p.relid = i.inhparent
			 WHERE i.inhrelid = r.relid) AS protected_through
	  FROM audit_guard.registry r;
GRANT SELECT ON audit_guard.protected_tables TO PUBLIC;

/*
 * The guard trigger function: BEFORE UPDATE OR DELETE FOR EACH ROW and
 * BEFORE TRUNCATE FOR EACH STATEMENT, both ENABLE ALWAYS.
 */
CREATE FUNCTION audit_guard.reject_change()
RETURNS trigger
AS 'MODULE_PATHNAME', 'audit_guard_reject_change'
LANGUAGE C;

/* Statement trigger on the registry: tells every backend to reload it. */
CREATE FUNCTION audit_guard.registry_changed()
RETURNS trigger
AS 'MODULE_PATHNAME', 'audit_guard_registry_changed'
LANGUAGE C;

CREATE TRIGGER registry_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON audit_guard.registry
	FOR EACH STATEMENT EXECUTE FUNCTION audit_guard.registry_changed();
ALTER TABLE audit_guard.registry ENABLE ALWAYS TRIGGER registry_changed;

/*
 * protect(tbl, owner): make tbl append-only.  Not STRICT, so that a NULL
 * table gets an error rather than a silent NULL; a NULL owner means the
 * table's owner (or, when already protected, the current designated owner).
 * The function checks its caller itself: the table's owner or a superuser.
 */
CREATE FUNCTION audit_guard.protect(tbl regclass, owner regrole DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'audit_guard_protect'
LANGUAGE C VOLATILE;

/* unprotect(tbl): remove the guard; the designated owner only. */
CREATE FUNCTION audit_guard.unprotect(tbl regclass)
RETURNS void
AS 'MODULE_PATHNAME', 'audit_guard_unprotect'
LANGUAGE C VOLATILE;

/* True when this backend runs with audit_guard's hooks installed. */
CREATE FUNCTION audit_guard.hooks_active()
RETURNS boolean
AS 'MODULE_PATHNAME', 'audit_guard_hooks_active'
LANGUAGE C STABLE;

-- the trigger functions are only meaningful as triggers
REVOKE ALL ON FUNCTION audit_guard.registry_changed() FROM PUBLIC;

/* ---- Role separation checks (issue 4) ---- */

/*
 * The guard stops UPDATE, DELETE and TRUNCATE; what it cannot do is make a
 * deployment's roles sensible.  The functions below prove, on the live
 * database, that the application's runtime role cannot rewrite an audit
 * table, and that the guard itself is intact:
 *
 *   privileges(tbl)                   every role that could change the table
 *   check(tbl)                        the guard's own health
 *   append_only_problems(tbl, role)   what is wrong, one row per problem
 *   assert_append_only(tbl, role)     true, or one error listing every problem
 *   tap_is_append_only(...), tap_guard_is_intact(...)   pgTAP test lines
 *
 * They read the catalogs and the registry only, so they are SECURITY
 * INVOKER and need no privilege beyond what every role has; their
 * search_path is pinned all the same, so that no object in the caller's
 * path changes what they report (all but the tap_* helpers, which must
 * find pgTAP where the caller's tests find it).  None of them needs pgTAP
 * to install.
 */

/*
 * Every role and every role it belongs to, directly or through a chain of
 * grants, with the chain as text and how it can be used: "inherits" when
 * the member gets the target's privileges without doing anything,
 * "can_set" when it can SET ROLE to it.  Before PostgreSQL 16 a grant
 * always allows SET ROLE and passes privileges on when the member role has
 * INHERIT; from 16 each grant says so itself (inherit_option, set_option),
 * read through to_jsonb() so that one text works on every major.  Each
 * role reaches itself through an empty chain.
 */
CREATE FUNCTION audit_guard.role_paths()
RETURNS TABLE (member oid, target oid, path text, depth integer,
			   inherits boolean, can_set boolean)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
WITH RECURSIVE paths (member, target, path, oids, inherits, can_set) AS (
	SELECT r.oid, r.oid, pg_catalog.quote_ident(r.rolname),
		   ARRAY[r.oid], true, true
	  FROM pg_catalog.pg_roles r
	UNION ALL
	SELECT p.member, m.roleid,
		   p.path || ' -> ' || pg_catalog.quote_ident(g.rolname),
		   p.oids || m.roleid,
		   p.inherits AND coalesce((pg_catalog.to_jsonb(m) ->> 'inherit_option')::boolean,
								   t.rolinherit),
		   p.can_set AND coalesce((pg_catalog.to_jsonb(m) ->> 'set_option')::boolean,
								  true)
	  FROM paths p
	  JOIN pg_catalog.pg_auth_members m ON m.member = p.target
	  JOIN pg_catalog.pg_roles t ON t.oid = p.target
	  JOIN pg_catalog.pg_roles g ON g.oid = m.roleid
	 WHERE m.roleid <> ALL (p.oids)
)
SELECT member, target, path, pg_catalog.cardinality(oids) - 1, inherits, can_set
  FROM paths
$$;

/*
 * The roles that hold, by themselves, something that matters on each
 * table: its owner, its designated owner, superusers, every grantee of
 * UPDATE, DELETE, TRUNCATE, TRIGGER or REFERENCES on the table or on its
 * columns (PUBLIC as holder 0), pg_write_all_data, BYPASSRLS roles, and,
 * before PostgreSQL 16, CREATEROLE roles (they may grant themselves any
 * non-superuser role).  "reach" says how another role comes to hold it
 * too: 'any' membership (the designated-owner test), 'use' (inheriting or
 * SET ROLE) or 'set' (SET ROLE only: role attributes are not inherited).
 * "what" is a phrase about the holder, used in explanations.
 */
CREATE FUNCTION audit_guard.privilege_holders(tbl regclass DEFAULT NULL)
RETURNS TABLE (table_name regclass, holder oid, privilege text, self_via text,
			   reach text, risk text, what text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
WITH t AS (
	SELECT c.oid AS relid, c.relowner, c.relacl, c.relrowsecurity,
		   r.designated_owner
	  FROM pg_catalog.pg_class c
	  LEFT JOIN audit_guard.registry r ON r.relid = c.oid
	 WHERE CASE WHEN tbl IS NULL THEN r.relid IS NOT NULL ELSE c.oid = tbl END
),
acl AS (
	SELECT t.relid, a.grantee, a.privilege_type, NULL::name AS column_name
	  FROM t, pg_catalog.aclexplode(coalesce(t.relacl,
								pg_catalog.acldefault('r', t.relowner))) a
	 WHERE a.grantee <> t.relowner
	UNION ALL
	SELECT t.relid, a.grantee, a.privilege_type, att.attname
	  FROM t
	  JOIN pg_catalog.pg_attribute att
		ON att.attrelid = t.relid AND att.attnum > 0 AND NOT att.attisdropped
	   AND att.attacl IS NOT NULL,
		   pg_catalog.aclexplode(att.attacl) a
	 WHERE a.grantee <> t.relowner
),
grants AS (
	SELECT relid, grantee, privilege_type,
		   bool_or(column_name IS NULL) AS whole_table,
		   pg_catalog.string_agg(pg_catalog.quote_ident(column_name), ', '
								 ORDER BY column_name) AS columns
	  FROM acl
	 WHERE privilege_type IN ('UPDATE', 'DELETE', 'TRUNCATE', 'TRIGGER', 'REFERENCES')
	 GROUP BY relid, grantee, privilege_type
),
consequence (privilege, risk, phrase) AS (
	VALUES ('UPDATE', 'high', 'only audit_guard stands between it and rewriting rows'),
		   ('DELETE', 'high', 'only audit_guard stands between it and deleting rows'),
		   ('TRUNCATE', 'high', 'only audit_guard stands between it and emptying the table'),
		   ('TRIGGER', 'high', 'it can attach triggers that change rows as they are inserted'),
		   ('REFERENCES', 'medium', 'it can create foreign keys to the table, which lock its rows')
)
SELECT t.relid, t.relowner, 'OWNER', 'ownership', 'use', 'critical',
	   'owns the table: no REVOKE binds it, and it can grant any privilege on the table and alter it'
  FROM t
UNION ALL
SELECT t.relid, t.designated_owner, 'DESIGNATED OWNER', 'direct', 'any', 'critical',
	   'is its designated owner: it can switch the guard triggers off and unprotect the table'
  FROM t
 WHERE t.designated_owner IS NOT NULL
UNION ALL
SELECT t.relid, r.oid, 'SUPERUSER', 'superuser', 'set', 'critical',
	   'is a superuser: no privilege check applies to it, and it can change the server configuration audit_guard depends on'
  FROM t, pg_catalog.pg_roles r
 WHERE r.rolsuper
UNION ALL
SELECT g.relid, g.grantee, g.privilege_type, 'direct', 'use',
	   CASE WHEN g.grantee = 0 AND c.risk = 'high' THEN 'critical' ELSE c.risk END,
	   CASE WHEN g.whole_table
			THEN pg_catalog.format('holds %s on the table: %s', g.privilege_type, c.phrase)
			ELSE pg_catalog.format('holds %s on columns (%s) of the table: %s',
								   g.privilege_type, g.columns, c.phrase)
	   END
  FROM grants g
  JOIN consequence c ON c.privilege = g.privilege_type
UNION ALL
SELECT t.relid, w.oid, c.privilege, 'predefined', 'use', c.risk,
	   pg_catalog.format('holds %s on every table: %s', c.privilege, c.phrase)
  FROM t, pg_catalog.pg_roles w, consequence c
 WHERE w.rolname = 'pg_write_all_data' AND c.privilege IN ('UPDATE', 'DELETE')
UNION ALL
SELECT t.relid, r.oid, 'BYPASSRLS', 'attribute', 'set',
	   CASE WHEN t.relrowsecurity THEN 'medium' ELSE 'low' END,
	   'has BYPASSRLS: row-level security policies on the table do not apply to it'
  FROM t, pg_catalog.pg_roles r
 WHERE r.rolbypassrls AND NOT r.rolsuper
UNION ALL
SELECT t.relid, r.oid, 'CREATEROLE', 'attribute', 'set', 'high',
	   'has CREATEROLE: it can grant itself membership in the table''s owner'
  FROM t, pg_catalog.pg_roles r
 WHERE r.rolcreaterole AND NOT r.rolsuper
   AND pg_catalog.current_setting('server_version_num')::integer < 160000
$$;

/*
 * privileges(tbl): one row per protected table (or the table given, which
 * need not be protected yet) and role that could change it or switch its
 * guard off, with how it got there and how bad it is.  Roles that can only
 * SELECT and INSERT have no row.  A privilege granted to PUBLIC is one row
 * with role_name PUBLIC.  A superuser gets one SUPERUSER row (plus OWNER or
 * DESIGNATED OWNER when it is one): everything else is implied.  Predefined
 * pg_* roles appear only for privileges granted to them by name.
 */
CREATE FUNCTION audit_guard.privileges(tbl regclass DEFAULT NULL)
RETURNS TABLE (table_name regclass, role_name name, can_login boolean,
			   via text, privilege text, risk text, explanation text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
WITH by_role AS (
	SELECT DISTINCT ON (h.table_name, s.oid, h.privilege)
		   h.table_name, s.rolname, s.rolcanlogin,
		   CASE WHEN p.depth = 0 THEN h.self_via ELSE 'membership' END,
		   h.privilege, h.risk,
		   CASE WHEN p.depth = 0 THEN h.what
				WHEN p.can_set AND NOT p.inherits
				THEN pg_catalog.format('can SET ROLE %I through %s, which %s',
									   g.rolname, p.path, h.what)
				ELSE pg_catalog.format('is a member of %I through %s, which %s',
									   g.rolname, p.path, h.what)
		   END
	  FROM audit_guard.privilege_holders(tbl) h
	  JOIN audit_guard.role_paths() p ON p.target = h.holder
	  JOIN pg_catalog.pg_roles s ON s.oid = p.member
	  JOIN pg_catalog.pg_roles g ON g.oid = p.target
	 WHERE CASE h.reach
			   WHEN 'any' THEN true
			   WHEN 'use' THEN p.inherits OR p.can_set
			   ELSE p.can_set
		   END
	   -- a superuser: its own SUPERUSER row, and whether it owns the table
	   AND (NOT s.rolsuper OR h.privilege IN ('OWNER', 'DESIGNATED OWNER')
			OR (h.privilege = 'SUPERUSER' AND p.depth = 0))
	   -- predefined roles: only what was granted to them by name
	   AND (s.rolname !~ '^pg_' OR (h.self_via = 'direct' AND p.depth = 0))
	 ORDER BY h.table_name, s.oid, h.privilege, p.depth, p.inherits DESC
),
to_public AS (
	SELECT h.table_name, 'PUBLIC'::name, NULL::boolean, 'public', h.privilege,
		   h.risk, h.what || '; every role, present and future, holds what PUBLIC holds'
	  FROM audit_guard.privilege_holders(tbl) h
	 WHERE h.holder = 0
)
SELECT *
  FROM (SELECT * FROM by_role UNION ALL SELECT * FROM to_public) AS f
	   (table_name, role_name, can_login, via, privilege, risk, explanation)
 ORDER BY table_name::text,
		  pg_catalog.array_position(ARRAY['critical', 'high', 'medium', 'low'], risk),
		  role_name, privilege
$$;

/*
 * The two guard triggers of one table, checked against what protect()
 * creates: one row each, for check().
 */
CREATE FUNCTION audit_guard.guard_trigger_checks(tbl regclass)
RETURNS TABLE (check_name text, status text, detail text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	guard_fn	oid := pg_catalog.to_regprocedure('audit_guard.reject_change()');
	want		record;
	trig		record;
	problems	text[];
BEGIN
	FOR want IN
		SELECT * FROM (VALUES
			('row trigger', 'audit_guard_append_only'::name, 27,
			 'BEFORE UPDATE OR DELETE FOR EACH ROW'),
			('truncate trigger', 'audit_guard_no_truncate'::name, 34,
			 'BEFORE TRUNCATE FOR EACH STATEMENT')) AS v (label, tgname, tgtype, shape)
	LOOP
		problems := ARRAY[]::text[];
		SELECT tg.oid, tg.tgfoid, tg.tgtype::integer AS tgtype, tg.tgenabled,
			   tg.tgqual IS NOT NULL OR pg_catalog.cardinality(tg.tgattr::int2[]) > 0 AS narrowed
		  INTO trig
		  FROM pg_catalog.pg_trigger tg
		 WHERE tg.tgrelid = tbl AND tg.tgname = want.tgname;
		IF NOT FOUND THEN
			problems := problems || pg_catalog.format('trigger %I is missing', want.tgname);
		ELSE
			IF trig.tgfoid IS DISTINCT FROM guard_fn THEN
				problems := problems || pg_catalog.format('trigger %I runs %s instead of audit_guard.reject_change()',
														  want.tgname, trig.tgfoid::regprocedure);
			END IF;
			-- 127: row/statement, timing and event bits
			IF (trig.tgtype & 127) <> want.tgtype OR trig.narrowed THEN
				problems := problems || pg_catalog.format('trigger %I is not %s: %s',
														  want.tgname, want.shape,
														  pg_catalog.pg_get_triggerdef(trig.oid));
			END IF;
			IF trig.tgenabled <> 'A' THEN
				problems := problems || pg_catalog.format('trigger %I is %s instead of ENABLE ALWAYS%s',
					want.tgname,
					CASE trig.tgenabled WHEN 'O' THEN 'ENABLE (origin)'
										WHEN 'R' THEN 'ENABLE REPLICA'
										ELSE 'disabled' END,
					CASE trig.tgenabled WHEN 'O' THEN ': session_replication_role = replica silences it'
										WHEN 'R' THEN ': it fires only under session_replication_role = replica'
										ELSE '' END);
			END IF;
		END IF;
		check_name := want.label;
		IF pg_catalog.cardinality(problems) = 0 THEN
			status := 'ok';
			detail := pg_catalog.format('trigger %I: %s, ENABLE ALWAYS', want.tgname, want.shape);
		ELSE
			status := 'failed';
			detail := pg_catalog.array_to_string(problems, '; ');
		END IF;
		RETURN NEXT;
	END LOOP;
END
$$;

/*
 * A partitioned table: are all its partitions, at every level, in the
 * registry with the parent's designated owner?  One row, for check().
 */
CREATE FUNCTION audit_guard.partition_check(parent regclass, parent_owner regrole)
RETURNS TABLE (status text, detail text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
WITH parts AS (
	SELECT pt.relid::regclass AS part, r.relid IS NOT NULL AS registered,
		   r.designated_owner
	  FROM pg_catalog.pg_partition_tree(parent) pt
	  LEFT JOIN audit_guard.registry r ON r.relid = pt.relid
	 WHERE pt.relid <> parent
),
bad AS (
	SELECT pg_catalog.string_agg(part::text, ', ' ORDER BY part::text)
			   FILTER (WHERE NOT registered) AS unregistered,
		   pg_catalog.string_agg(part::text, ', ' ORDER BY part::text)
			   FILTER (WHERE registered AND designated_owner
								IS DISTINCT FROM parent_owner) AS other_owner,
		   count(*) AS n
	  FROM parts
)
SELECT CASE WHEN unregistered IS NULL AND other_owner IS NULL THEN 'ok' ELSE 'failed' END,
	   CASE WHEN unregistered IS NULL AND other_owner IS NULL
			THEN pg_catalog.format('all %s partitions are protected', n)
			ELSE pg_catalog.concat_ws('; ',
				 'partitions not protected: ' || unregistered,
				 'partitions with another designated owner: ' || other_owner)
	   END
  FROM bad
$$;

/*
 * check(tbl): the health of the guard itself, for each protected table (or
 * the one given, protected or not; with no argument also any table that
 * carries guard triggers without a registry row).  One row per table and
 * check, status 'ok' or 'failed' ('warning' when nothing is protected at
 * all, so that a CI step cannot pass on an empty database):
 *   library            audit_guard's hooks run in this backend
 *   registered         the table has a registry row whose owner role exists
 *   row trigger        audit_guard_append_only: BEFORE UPDATE OR DELETE FOR
 *                      EACH ROW, reject_change(), no WHEN or column list,
 *                      ENABLE ALWAYS
 *   truncate trigger   audit_guard_no_truncate: the same for TRUNCATE
 *   partitions         (partitioned tables) every partition is registered
 *                      with the same designated owner
 */
CREATE FUNCTION audit_guard.check(tbl regclass DEFAULT NULL)
RETURNS TABLE (table_name regclass, check_name text, status text, detail text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	guard_fn	oid := pg_catalog.to_regprocedure('audit_guard.reject_change()');
	lib_status	text := 'ok';
	lib_detail	text := 'audit_guard''s hooks are installed in this backend';
	rel			record;
	found_any	boolean := false;
BEGIN
	-- Without preloading, calling into the library fails with 55000
	BEGIN
		IF NOT audit_guard.hooks_active() THEN
			lib_status := 'failed';
			lib_detail := 'audit_guard''s hooks are not installed in this backend';
		END IF;
	EXCEPTION WHEN object_not_in_prerequisite_state THEN
		lib_status := 'failed';
		lib_detail := 'audit_guard is not loaded through shared_preload_libraries, so no backend runs its hooks';
	END;

	FOR rel IN
		SELECT cand.relid, c.relkind, r.relid IS NOT NULL AS registered,
			   r.designated_owner, o.rolname AS owner_name
		  FROM (SELECT reg.relid::oid FROM audit_guard.registry reg
				 WHERE tbl IS NULL OR reg.relid = tbl
				UNION
				SELECT tg.tgrelid FROM pg_catalog.pg_trigger tg
				 WHERE tbl IS NULL AND tg.tgfoid = guard_fn
				UNION
				SELECT tbl::oid WHERE tbl IS NOT NULL) AS cand (relid)
		  LEFT JOIN pg_catalog.pg_class c ON c.oid = cand.relid
		  LEFT JOIN audit_guard.registry r ON r.relid = cand.relid
		  LEFT JOIN pg_catalog.pg_roles o ON o.oid = r.designated_owner
		 ORDER BY cand.relid::regclass::text
	LOOP
		found_any := true;
		table_name := rel.relid;

		check_name := 'library';
		status := lib_status;
		detail := lib_detail;
		RETURN NEXT;

		check_name := 'registered';
		status := 'failed';
		IF rel.relkind IS NULL THEN
			detail := pg_catalog.format('registry row for relation %s, which no longer exists', rel.relid);
		ELSIF NOT rel.registered THEN
			detail := 'the table is not protected by audit_guard (it has no row in audit_guard.registry)';
		ELSIF rel.owner_name IS NULL THEN
			detail := pg_catalog.format('designated owner role %s no longer exists', rel.designated_owner::oid);
		ELSE
			status := 'ok';
			detail := pg_catalog.format('protected; designated owner %I', rel.owner_name);
		END IF;
		RETURN NEXT;

		CONTINUE WHEN rel.relkind IS NULL;
		RETURN QUERY SELECT rel.relid::regclass, x.check_name, x.status, x.detail
		  FROM audit_guard.guard_trigger_checks(rel.relid) x;

		IF rel.relkind = 'p' THEN
			RETURN QUERY SELECT rel.relid::regclass, 'partitions'::text, x.status, x.detail
			  FROM audit_guard.partition_check(rel.relid, rel.designated_owner) x;
		END IF;
	END LOOP;

	IF NOT found_any THEN
		table_name := NULL;
		check_name := 'registered';
		status := 'warning';
		detail := 'no table in this database is protected by audit_guard';
		RETURN NEXT;
	END IF;
END
$$;

/*
 * Everything that stops runtime_role from being a safe, append-only writer
 * of tbl, one sentence a row (no rows: all is well).  In order: the guard's
 * health (check()), every critical or high finding of privileges() for the
 * role or for PUBLIC, then what the role lacks to do its job: INSERT and
 * SELECT on the table, USAGE on its schema and on the sequences its serial
 * columns draw from.
 */
CREATE FUNCTION audit_guard.append_only_problems(tbl regclass, runtime_role regrole)
RETURNS SETOF text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	role_label	text := pg_catalog.format('role %s', runtime_role);
BEGIN
	IF tbl IS NULL OR runtime_role IS NULL THEN
		RAISE EXCEPTION 'table and runtime role must not be null'
			USING ERRCODE = 'null_value_not_allowed',
				  HINT = 'Call it as audit_guard.assert_append_only(''audit_log'', ''app_role'').';
	END IF;

	RETURN QUERY
		SELECT c.detail || '.'
		  FROM audit_guard.check(tbl) c
		 WHERE c.status = 'failed';

	RETURN QUERY
		SELECT CASE WHEN p.via = 'public' THEN 'PUBLIC ' ELSE role_label || ' ' END
			   || p.explanation || '.'
		  FROM audit_guard.privileges(tbl) p
		 WHERE p.risk IN ('critical', 'high')
		   AND (p.via = 'public' OR p.role_name = (SELECT r.rolname FROM pg_catalog.pg_roles r
													 WHERE r.oid = runtime_role));

	IF NOT pg_catalog.has_table_privilege(runtime_role, tbl, 'INSERT') THEN
		RETURN NEXT role_label || ' lacks INSERT on the table, so it cannot write the audit trail.';
	END IF;
	IF NOT pg_catalog.has_table_privilege(runtime_role, tbl, 'SELECT') THEN
		RETURN NEXT role_label || ' lacks SELECT on the table (INSERT ... RETURNING needs it).';
	END IF;
	RETURN QUERY
		SELECT pg_catalog.format('%s lacks USAGE on schema %I.', role_label, n.nspname)
		  FROM pg_catalog.pg_class c
		  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		 WHERE c.oid = tbl
		   AND NOT pg_catalog.has_schema_privilege(runtime_role, n.oid, 'USAGE');
	RETURN QUERY
		SELECT pg_catalog.format('%s lacks USAGE on sequence %s, which column %I draws from.',
								 role_label, d.objid::regclass, a.attname)
		  FROM pg_catalog.pg_depend d
		  JOIN pg_catalog.pg_class s ON s.oid = d.objid AND s.relkind = 'S'
		  JOIN pg_catalog.pg_attribute a
			ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
		 WHERE d.classid = 'pg_catalog.pg_class'::regclass
		   AND d.refclassid = 'pg_catalog.pg_class'::regclass
		   AND d.refobjid = tbl AND d.deptype = 'a'
		   -- CASE: the planner may test a row before the relkind join filters it
		   AND CASE WHEN s.relkind = 'S'
					THEN NOT pg_catalog.has_sequence_privilege(runtime_role, d.objid, 'USAGE, UPDATE')
			   END
		 ORDER BY a.attnum;
END
$$;

/*
 * assert_append_only(tbl, runtime_role): true when append_only_problems()
 * finds nothing; otherwise one error, SQLSTATE 42501
 * (insufficient_privilege), whose DETAIL lists every problem, so that a CI
 * step (psql -v ON_ERROR_STOP=1 -c "SELECT audit_guard.assert_append_only(...)")
 * fails with the whole story.
 */
CREATE FUNCTION audit_guard.assert_append_only(tbl regclass, runtime_role regrole)
RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	problems	text[] := ARRAY(SELECT audit_guard.append_only_problems(tbl, runtime_role));
	n			integer := pg_catalog.cardinality(problems);
BEGIN
	IF n = 0 THEN
		RETURN true;
	END IF;
	RAISE EXCEPTION 'table % is not append-only for role %', tbl, runtime_role
		USING ERRCODE = 'insufficient_privilege',
			  DETAIL = pg_catalog.format('%s found:', CASE WHEN n = 1 THEN 'One problem'
														  ELSE n || ' problems' END)
					   || E'\n- ' || pg_catalog.array_to_string(problems, E'\n- '),
			  HINT = pg_catalog.format('Run SELECT * FROM audit_guard.privileges(%L) for every role that can change the table; the runtime role should hold only INSERT and SELECT, and neither own the table nor belong to its owner.',
									   tbl::text);
END
$$;

/*
 * One TAP line (and diagnostics) for a test that passes when problems is
 * empty.  When pgTAP's ok(boolean, text) is in the caller's search_path it
 * does the work, so that the test is numbered and counted against plan();
 * otherwise the line is written here ("ok - ..." / "not ok - ...", which TAP
 * accepts without a number).  Not pinned to pg_catalog on purpose: pgTAP
 * is found where the caller's tests find it.
 */
CREATE FUNCTION audit_guard.tap_result(problems text[], description text)
RETURNS text
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
	passed		boolean := coalesce(pg_catalog.cardinality(problems), 0) = 0;
	tap_schema	name;
	diagnostics	text := pg_catalog.array_to_string(problems, E'\n');
	result		text;
BEGIN
	SELECT n.nspname INTO tap_schema
	  FROM pg_catalog.pg_proc p
	  JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
	 WHERE p.oid = pg_catalog.to_regprocedure('ok(boolean, text)');

	IF tap_schema IS NOT NULL THEN
		EXECUTE pg_catalog.format('SELECT %I.ok($1, $2)', tap_schema)
			INTO result USING passed, description;
		IF NOT passed THEN
			EXECUTE pg_catalog.format('SELECT %I.diag($1)', tap_schema)
				INTO diagnostics USING diagnostics;
			result := result || E'\n' || diagnostics;
		END IF;
		RETURN result;
	END IF;

	result := CASE WHEN passed THEN 'ok' ELSE 'not ok' END
		|| coalesce(' - ' || description, '');
	IF NOT passed THEN
		result := result || E'\n# ' || pg_catalog.replace(diagnostics, E'\n', E'\n# ');
	END IF;
	RETURN result;
END
$$;

/*
 * pgTAP: ok when assert_append_only(tbl, runtime_role) would pass; the
 * problems become diagnostics.  SELECT audit_guard.tap_is_append_only(
 * 'audit_log', 'app'); counts as one test in plan().
 */
CREATE FUNCTION audit_guard.tap_is_append_only(tbl regclass, runtime_role regrole,
											   description text DEFAULT NULL)
RETURNS text
LANGUAGE sql VOLATILE
AS $$
	SELECT audit_guard.tap_result(
		ARRAY(SELECT audit_guard.append_only_problems(tbl, runtime_role)),
		coalesce(description,
				 pg_catalog.format('%s is append-only for role %s', tbl, runtime_role)))
$$;

/*
 * pgTAP: ok when check(tbl) reports no failure (with no argument: for
 * every protected table, and at least one must exist).
 */
CREATE FUNCTION audit_guard.tap_guard_is_intact(tbl regclass DEFAULT NULL,
												description text DEFAULT NULL)
RETURNS text
LANGUAGE sql VOLATILE
AS $$
	SELECT audit_guard.tap_result(
		ARRAY(SELECT pg_catalog.concat_ws(': ', c.table_name::text, c.detail)
				FROM audit_guard.check(tbl) c
			   WHERE c.status <> 'ok'),
		coalesce(description,
				 CASE WHEN tbl IS NULL THEN 'every audit_guard guard is intact'
					  ELSE pg_catalog.format('audit_guard guard on %s is intact', tbl) END))
$$;
