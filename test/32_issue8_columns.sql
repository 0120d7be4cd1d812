-- pgTAP, issue 8 class 3: column-level forgery.  A column default changed,
-- dropped or added, or a column renamed (so that a new column with a
-- constant default takes the readers' name), forges every later or every
-- existing row without touching one.  Refused (42501) to the table owner,
-- the application and a superuser who is not the designated owner; allowed
-- to the designated owner.  ADD COLUMN with a constant default (stored
-- once, for old rows, in a column nobody read before) stays allowed; ADD
-- COLUMN whose default forces a rewrite is refused.  Each refusal: its
-- SQLSTATE, the fingerprint of test/issue8/fixture.sql unchanged (rows,
-- columns, defaults, triggers, rules, registry), and a later INSERT by the
-- application landing in the protected table.
BEGIN;
SELECT plan(167);
\ir issue8/fixture.sql

CREATE FUNCTION regress_i8.column_attacks() RETURNS text[] LANGUAGE sql IMMUTABLE AS $f$
	SELECT ARRAY[
		-- defaults: every later insert that leaves the column out is forged
		$$ALTER TABLE regress_i8.audit_log ALTER COLUMN created_at SET DEFAULT '2001-09-09'$$,
		$$ALTER TABLE regress_i8.audit_log ALTER created_at SET DEFAULT now() - interval '1 year'$$,
		$$ALTER TABLE regress_i8.audit_log ALTER COLUMN created_at DROP DEFAULT$$,
		$$ALTER TABLE regress_i8.audit_log ALTER COLUMN note SET DEFAULT 'forged'$$,
		$$ALTER TABLE regress_i8.events ALTER COLUMN note SET DEFAULT 'forged'$$,
		$$ALTER TABLE ONLY regress_i8.events ALTER COLUMN note SET DEFAULT 'forged'$$,
		$$ALTER TABLE regress_i8.events_1 ALTER COLUMN note SET DEFAULT 'forged'$$,
		$$ALTER TABLE regress_i8.typed_log ALTER COLUMN amount SET DEFAULT 0$$,
		-- a default that does not name the table: the column's domain
		$$ALTER DOMAIN regress_i8.actor_name SET DEFAULT 'forged'$$,
		-- renames: readers see another column under the old name
		$$ALTER TABLE regress_i8.audit_log RENAME COLUMN action TO action_orig$$,
		$$ALTER TABLE regress_i8.audit_log RENAME action TO action_orig$$,
		$$ALTER TABLE IF EXISTS regress_i8.audit_log RENAME COLUMN note TO remark$$,
		$$ALTER TABLE regress_i8.audit_log RENAME COLUMN action TO action_orig;
		  ALTER TABLE regress_i8.audit_log ADD COLUMN action text NOT NULL DEFAULT 'login'$$,
		$$ALTER TABLE regress_i8.events RENAME COLUMN note TO note_orig$$,
		$$ALTER TYPE regress_i8.rec RENAME ATTRIBUTE amount TO amount_orig CASCADE$$,
		-- ADD COLUMN whose default rewrites the table
		$$ALTER TABLE regress_i8.audit_log ADD COLUMN forged text DEFAULT random()::text$$,
		$$ALTER TABLE regress_i8.audit_log ADD COLUMN forged timestamptz NOT NULL DEFAULT clock_timestamp()$$,
		$$ALTER TABLE regress_i8.audit_log ADD COLUMN forged bigserial$$,
		$$ALTER TABLE regress_i8.audit_log ADD COLUMN forged int GENERATED ALWAYS AS IDENTITY$$,
		$$ALTER TABLE regress_i8.events ADD COLUMN forged text DEFAULT gen_random_uuid()::text$$
	]
$f$;

-- the application (PostgreSQL's ownership check may answer first)
SET LOCAL ROLE regress_i8_app;
SELECT * FROM regress_i8.refused('app',
	$$ALTER TABLE regress_i8.audit_log ALTER COLUMN created_at SET DEFAULT '2001-09-09'$$, '42501');
SELECT * FROM regress_i8.refused('app',
	$$ALTER TABLE regress_i8.audit_log RENAME COLUMN action TO action_orig$$, '42501');
RESET ROLE;

-- the table owner, who is not the designated owner
SET LOCAL ROLE regress_i8_tblowner;
SELECT * FROM regress_i8.refused_all('table owner', regress_i8.column_attacks(), '42501');
RESET ROLE;

-- a superuser who is not the designated owner
SELECT * FROM regress_i8.refused_all('superuser', regress_i8.column_attacks(), '42501');

SELECT is(regress_i8.state(), :'i8_before'::text[], 'class 3: everything as before after every attack');

------------------------------------------------------------------------------
-- legitimate neighbours
------------------------------------------------------------------------------
-- the table owner: new columns with a constant (or once-evaluated) default
-- and column settings that change no stored or inserted value
SET LOCAL ROLE regress_i8_tblowner;
SELECT * FROM regress_i8.allowed_all('table owner', ARRAY[
	$$ALTER TABLE regress_i8.audit_log ADD COLUMN source text DEFAULT 'unknown'$$,
	$$ALTER TABLE regress_i8.audit_log ADD COLUMN source text NOT NULL DEFAULT 'unknown'$$,
	$$ALTER TABLE regress_i8.audit_log ADD COLUMN extra jsonb$$,
	$$ALTER TABLE regress_i8.audit_log ADD COLUMN seen_at timestamptz DEFAULT now()$$,
	$$ALTER TABLE regress_i8.events ADD COLUMN source text DEFAULT 'unknown'$$,
	$$ALTER TABLE regress_i8.audit_log ALTER COLUMN note SET STATISTICS 100$$,
	$$ALTER TABLE regress_i8.audit_log ALTER COLUMN note SET STORAGE EXTERNAL$$,
	$$COMMENT ON COLUMN regress_i8.audit_log.note IS 'free text'$$
]);
RESET ROLE;

-- what ADD COLUMN with a constant default does to the rows written before:
-- their old columns read as before, the new column reads the constant
SET LOCAL ROLE regress_i8_tblowner;
SELECT md5(string_agg((id, created_at, actor, action, note)::text, ',' ORDER BY id)) AS old_rows
  FROM regress_i8.audit_log \gset
SELECT lives_ok($$ALTER TABLE regress_i8.audit_log ADD COLUMN source text DEFAULT 'unknown'$$,
				'table owner: ADD COLUMN source text DEFAULT ''unknown''');
SELECT is(md5(string_agg((id, created_at, actor, action, note)::text, ',' ORDER BY id)), :'old_rows',
		  'table owner: after ADD COLUMN, the old columns of the old rows read as before')
  FROM regress_i8.audit_log;
SELECT is((SELECT string_agg(DISTINCT source, ',') FROM regress_i8.audit_log), 'unknown',
		  'table owner: the new column reads its constant in the old rows');
RESET ROLE;
SELECT is(regress_i8.app_insert(), '', 'table owner: after ADD COLUMN the application''s INSERT lands');
SET LOCAL ROLE regress_i8_auditowner;
ALTER TABLE regress_i8.audit_log DROP COLUMN source;
RESET ROLE;

-- the designated owner may change defaults and names
SET LOCAL ROLE regress_i8_auditowner;
SELECT * FROM regress_i8.allowed_all('designated owner', ARRAY[
	$$ALTER TABLE regress_i8.audit_log ALTER COLUMN created_at SET DEFAULT '2024-01-01 00:00:00+00'$$,
	$$ALTER TABLE regress_i8.audit_log ALTER COLUMN note DROP DEFAULT$$,
	$$ALTER TABLE regress_i8.audit_log RENAME COLUMN action TO action_orig;
	  ALTER TABLE regress_i8.audit_log RENAME COLUMN action_orig TO action$$,
	$$ALTER TABLE regress_i8.audit_log RENAME COLUMN note TO remark$$,
	$$ALTER TABLE regress_i8.events RENAME COLUMN note TO remark$$,
	$$ALTER TABLE regress_i8.events ALTER COLUMN note SET DEFAULT 'n/a'$$,
	$$ALTER TABLE regress_i8.audit_log ADD COLUMN forged text DEFAULT random()::text$$
]);
RESET ROLE;
-- a superuser who is a designated owner too
SET LOCAL ROLE regress_i8_dba;
SELECT * FROM regress_i8.allowed_all('superuser and designated owner', ARRAY[
	$$ALTER TABLE regress_i8.audit_log ALTER COLUMN note SET DEFAULT 'n/a'$$,
	$$ALTER TABLE regress_i8.audit_log RENAME COLUMN note TO remark$$
]);
RESET ROLE;

-- the designated owner's change really happened
SET LOCAL ROLE regress_i8_auditowner;
SELECT lives_ok($$ALTER TABLE regress_i8.audit_log ALTER COLUMN note SET DEFAULT 'n/a'$$,
				'designated owner: SET DEFAULT');
RESET ROLE;
SELECT is((SELECT pg_get_expr(adbin, adrelid) FROM pg_attrdef
			WHERE adrelid = 'regress_i8.audit_log'::regclass
			  AND adnum = (SELECT attnum FROM pg_attribute WHERE attrelid = 'regress_i8.audit_log'::regclass
							  AND attname = 'note')),
		  $$'n/a'::text$$, 'designated owner: the new default is in place');

SELECT * FROM finish();
ROLLBACK;
