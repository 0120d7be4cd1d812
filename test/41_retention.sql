-- pgTAP: retention, purge and redaction (issue 11).
--
-- set_retention(), purge() and redact() for each role (application, table
-- owner, superuser without SET ROLE, designated owner, a member of the
-- designated owner), every argument they refuse, and the DDL a retention
-- refuses while rows younger than it remain: DROP TABLE, DROP and DETACH of
-- a partition, unprotect(), DROP, RENAME and ALTER TYPE of the time column.
-- Each refusal is checked three ways: refused with its SQLSTATE and the
-- start of its message, the data as it was, and the legitimate neighbour
-- working.  Then what purge() deletes, to the microsecond, for timestamptz,
-- timestamp and date columns whatever TimeZone says; partitioned tables at
-- two levels and a default partition; what verify(), history, erasures,
-- protected_tables, check() and digest() show afterwards.
--
-- now() is the start of this one transaction: every row's time and every
-- expected bound below is computed from it, so nothing depends on how long
-- the file takes.  The bound of a keep is computed in UTC, as the issue
-- says: (now() AT TIME ZONE 'UTC') - keep, a timestamp column read as UTC.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(257);

CREATE ROLE regress_ret_app;
CREATE ROLE regress_ret_tblowner;
CREATE ROLE regress_ret_owner;
CREATE ROLE regress_ret_maint;
-- the designated owner may drop what the table owner owns; its member is
-- what pg_partman's worker would run as
GRANT regress_ret_tblowner TO regress_ret_owner;
GRANT regress_ret_owner TO regress_ret_maint;
CREATE SCHEMA regress_ret AUTHORIZATION regress_ret_tblowner;
GRANT USAGE ON SCHEMA regress_ret TO PUBLIC;

-- the bound of keep, as a timestamp read as UTC and as a timestamptz
CREATE FUNCTION regress_ret.utc_bound(keep interval) RETURNS timestamp
LANGUAGE sql STABLE AS $$ SELECT (now() AT TIME ZONE 'UTC') - keep $$;
CREATE FUNCTION regress_ret.bound(keep interval) RETURNS timestamptz
LANGUAGE sql STABLE AS $$ SELECT regress_ret.utc_bound(keep) AT TIME ZONE 'UTC' $$;

/*
 * Everything a refused statement must leave as it was, for every table of
 * schema regress_ret: its name, partition parent, columns with their types,
 * the retention that applies, its registry row, and its rows (count and
 * md5); plus the number of history rows and seal blocks.
 */
CREATE FUNCTION regress_ret.state() RETURNS text[]
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $f$
DECLARE
	t record;
	line text;
	result text[] := '{}';
BEGIN
	FOR t IN SELECT c.oid, c.relname, c.relkind FROM pg_class c
			  WHERE c.relnamespace = 'regress_ret'::regnamespace AND c.relkind IN ('r', 'p')
			  ORDER BY c.relname LOOP
		SELECT t.relname || ' parent ' || coalesce((SELECT inhparent::regclass::text FROM pg_inherits
													 WHERE inhrelid = t.oid), '-')
			|| ' cols ' || (SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod)
											  || CASE WHEN attnotnull THEN ' notnull' ELSE '' END,
											  ',' ORDER BY attnum)
							  FROM pg_attribute WHERE attrelid = t.oid AND attnum > 0 AND NOT attisdropped)
			|| ' retention ' || coalesce((SELECT k.keep || ' ' || k.time_column || ' ' || k.set_on
										   FROM audit_guard.retention_of(t.oid) k), '-')
			|| ' owner ' || coalesce((SELECT designated_owner::text FROM audit_guard.registry
									   WHERE relid = t.oid), '-')
		  INTO line;
		IF t.relkind = 'r' THEN
			EXECUTE format($q$SELECT %L || ' rows ' || count(*) || ' '
							   || md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), ''))
							  FROM ONLY %s x$q$, line, t.oid::regclass) INTO line;
		END IF;
		result := result || line;
	END LOOP;
	RETURN result || ('history ' || (SELECT count(*) FROM audit_guard.history))
		|| ('blocks ' || (SELECT count(*) FROM audit_guard.seal_blocks));
END
$f$;

/*
 * Run stmt as the current role in a subtransaction that is always rolled
 * back: 'ok', or its SQLSTATE and message; and the state as the statement
 * left it (so that a statement that should have been refused and was not
 * shows as a changed state).
 */
CREATE FUNCTION regress_ret.attempt(stmt text, OUT result text, OUT state_after text[])
LANGUAGE plpgsql AS $f$
BEGIN
	BEGIN
		BEGIN
			EXECUTE stmt;
			result := 'ok';
		EXCEPTION WHEN OTHERS THEN
			result := SQLSTATE || ': ' || SQLERRM;
		END;
		state_after := regress_ret.state();
		RAISE EXCEPTION USING ERRCODE = 'ZZ999', MESSAGE = 'undo the attempt';
	EXCEPTION WHEN SQLSTATE 'ZZ999' THEN
		NULL;
	END;
END
$f$;

/*
 * Two results: stmt is refused with an error matching expected ('SQLSTATE:
 * start of the message%'), and the data is as it was before (what changed
 * is listed: "- " before, "+ " after).
 */
CREATE FUNCTION regress_ret.refused(who text, what text, stmt text, expected text)
RETURNS SETOF text LANGUAGE plpgsql AS $f$
DECLARE
	before text[] := regress_ret.state();
	a record;
BEGIN
	a := regress_ret.attempt(stmt);
	RETURN NEXT alike(a.result, expected, who || ': ' || what || ' is refused');
	RETURN NEXT is(ARRAY(SELECT x FROM (SELECT '- ' || b FROM unnest(before) b
										EXCEPT SELECT '- ' || c FROM unnest(a.state_after) c
										UNION ALL
										(SELECT '+ ' || c FROM unnest(a.state_after) c
										 EXCEPT SELECT '+ ' || b FROM unnest(before) b)) AS d (x)
						ORDER BY substr(x, 3), x),
				   '{}'::text[], who || ': ' || what || ' leaves the data as it was');
END
$f$;

-- stmt would work (rolled back)
CREATE FUNCTION regress_ret.allowed(who text, what text, stmt text)
RETURNS text LANGUAGE plpgsql AS $f$
BEGIN
	RETURN is((regress_ret.attempt(stmt)).result, 'ok', who || ': ' || what || ' is allowed');
END
$f$;

-- the rows of a table as ids, in order
CREATE FUNCTION regress_ret.ids(tbl regclass) RETURNS int[]
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $f$
DECLARE
	result int[];
BEGIN
	EXECUTE format('SELECT coalesce(array_agg(id ORDER BY id), ''{}'') FROM %s', tbl) INTO result;
	RETURN result;
END
$f$;

-- history rows of action on tbl, newest last
CREATE FUNCTION regress_ret.history(what text, tbl regclass)
RETURNS TABLE (keep interval, time_bound timestamptz, row_count bigint, row_key text,
			   reason text, performed_by name)
LANGUAGE sql STABLE AS $$
	SELECT h.keep, h.time_bound, h.row_count, h.row_key, h.reason, h.performed_by
	  FROM audit_guard.history h WHERE h.action = what AND h.relid = tbl ORDER BY h.id
$$;

------------------------------------------------------------------------------
-- the tables, all the table owner's; rows inserted by the application
------------------------------------------------------------------------------
SET LOCAL ROLE regress_ret_tblowner;
-- pair: a composite type with an attribute named like the time column
CREATE TYPE regress_ret.pair AS (at timestamptz, n int);
-- log: one column of each kind set_retention() must refuse, a second time
-- column a retention must never move to, and a column of type pair
CREATE TABLE regress_ret.log (
	id			int PRIMARY KEY,
	at			timestamptz NOT NULL,
	note		text NOT NULL DEFAULT '',
	n			integer NOT NULL DEFAULT 0,
	j			jsonb NOT NULL DEFAULT '{}',
	seen		timestamptz,
	other_at	timestamptz NOT NULL DEFAULT now(),
	pair		regress_ret.pair
);
-- people: a composite primary key, for redact()
CREATE TABLE regress_ret.people (
	region		text,
	id			int,
	at			timestamptz NOT NULL,
	PRIMARY KEY (region, id)
);
-- typed: a typed table, whose columns ALTER TYPE ... CASCADE changes
CREATE TYPE regress_ret.rec AS (id int, at timestamptz);
CREATE TABLE regress_ret.typed OF regress_ret.rec (PRIMARY KEY (id), at WITH OPTIONS NOT NULL);
-- timestamp and date columns, each purged under an extreme TimeZone
CREATE TABLE regress_ret.stamp_east (id int PRIMARY KEY, at timestamp NOT NULL);
CREATE TABLE regress_ret.stamp_west (id int PRIMARY KEY, at timestamp NOT NULL);
CREATE TABLE regress_ret.dated_east (id int PRIMARY KEY, day date NOT NULL);
CREATE TABLE regress_ret.dated_west (id int PRIMARY KEY, day date NOT NULL);
-- expired: every row past retention; noret: protected, no retention;
-- plain: not protected
CREATE TABLE regress_ret.expired (id int PRIMARY KEY, at timestamptz NOT NULL);
CREATE TABLE regress_ret.expired_2 (id int PRIMARY KEY, at timestamptz NOT NULL);
CREATE TABLE regress_ret.noret (id int PRIMARY KEY, at timestamptz NOT NULL);
CREATE TABLE regress_ret.plain (id int PRIMARY KEY, at timestamptz NOT NULL);
-- ev: two levels.  ev_old is a leaf at depth 1; ev_now is partitioned by
-- region, with leaves at depth 2: eu (young and expired rows), us and asia
-- (expired rows only), la (a retention of its own, longer than ev's)
CREATE TABLE regress_ret.ev (
	id			int NOT NULL,
	at			timestamptz NOT NULL,
	region		text NOT NULL,
	logged_at	timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (id, at, region)
) PARTITION BY RANGE (at);
CREATE TABLE regress_ret.ev_old PARTITION OF regress_ret.ev
	FOR VALUES FROM (MINVALUE) TO ('2020-01-01 00:00:00+00');
CREATE TABLE regress_ret.ev_now PARTITION OF regress_ret.ev
	FOR VALUES FROM ('2020-01-01 00:00:00+00') TO (MAXVALUE) PARTITION BY LIST (region);
CREATE TABLE regress_ret.ev_now_eu PARTITION OF regress_ret.ev_now FOR VALUES IN ('eu');
CREATE TABLE regress_ret.ev_now_us PARTITION OF regress_ret.ev_now FOR VALUES IN ('us');
CREATE TABLE regress_ret.ev_now_asia PARTITION OF regress_ret.ev_now FOR VALUES IN ('asia');
CREATE TABLE regress_ret.ev_now_la PARTITION OF regress_ret.ev_now FOR VALUES IN ('la');
-- dp: a range partition and a default partition
CREATE TABLE regress_ret.dp (id int NOT NULL, at timestamptz NOT NULL, PRIMARY KEY (id, at))
	PARTITION BY RANGE (at);
CREATE TABLE regress_ret.dp_2010 PARTITION OF regress_ret.dp
	FOR VALUES FROM ('2010-01-01 00:00:00+00') TO ('2011-01-01 00:00:00+00');
CREATE TABLE regress_ret.dp_default PARTITION OF regress_ret.dp DEFAULT;
RESET ROLE;
GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA regress_ret TO regress_ret_app;
SELECT audit_guard.protect(t, owner => 'regress_ret_owner')
  FROM unnest(ARRAY['regress_ret.log', 'regress_ret.people', 'regress_ret.stamp_east',
					'regress_ret.stamp_west', 'regress_ret.dated_east', 'regress_ret.dated_west',
					'regress_ret.expired', 'regress_ret.expired_2', 'regress_ret.noret', 'regress_ret.typed',
					'regress_ret.ev', 'regress_ret.dp']::regclass[]) t;

SET LOCAL ROLE regress_ret_app;
-- log: block 1 holds exactly the three rows older than 30 days (the last
-- one a microsecond before the bound), block 2 the others (the first one
-- exactly at the bound)
INSERT INTO regress_ret.log (id, at) VALUES
	(1, now() - interval '400 days'),
	(2, now() - interval '40 days'),
	(3, regress_ret.bound('30 days') - interval '1 microsecond');
RESET ROLE;
SELECT is((SELECT "rows" FROM audit_guard.seal('regress_ret.log')), 3::bigint,
		  'block 1 of log seals the three rows older than 30 days');
SET LOCAL ROLE regress_ret_app;
INSERT INTO regress_ret.log (id, at) VALUES
	(4, regress_ret.bound('30 days')),
	(5, now() - interval '29 days'),
	(6, now() - interval '1 hour'),
	(7, now() - interval '1 minute'),
	(8, now() + interval '1 day');
INSERT INTO regress_ret.people VALUES
	('eu', 1, now() - interval '1 day'),
	('north eu', 2, now() - interval '1 day'),
	('us', 1, now() - interval '1 day'),
	('eu', 2, now() - interval '400 days');
-- around the bound of 30 days, read as UTC: 5 hours and 1 microsecond
-- before it (purged), at it and 5 hours after it (kept)
INSERT INTO regress_ret.stamp_east
SELECT i, regress_ret.utc_bound('30 days') + d
  FROM unnest(ARRAY[interval '-5 hours', interval '-1 microsecond', interval '0', interval '5 hours'])
	   WITH ORDINALITY AS x (d, i);
INSERT INTO regress_ret.stamp_west SELECT * FROM regress_ret.stamp_east;
-- dates 40, 31, 30, 29 and 0 days before today, UTC
INSERT INTO regress_ret.dated_east
SELECT d, (now() AT TIME ZONE 'UTC')::date - d FROM unnest(ARRAY[40, 31, 30, 29, 0]) d;
INSERT INTO regress_ret.dated_west SELECT * FROM regress_ret.dated_east;
INSERT INTO regress_ret.typed VALUES (1, now() - interval '1 day');
INSERT INTO regress_ret.expired VALUES (1, now() - interval '100 days'), (2, now() - interval '31 days');
INSERT INTO regress_ret.expired_2 VALUES (1, now() - interval '100 days');
INSERT INTO regress_ret.noret VALUES (1, now() - interval '400 days');
INSERT INTO regress_ret.ev (id, at, region) VALUES
	(1, '2010-01-01 00:00:00+00', 'eu'),
	(2, '2015-06-01 00:00:00+00', 'us'),
	(3, now() - interval '40 days', 'eu'),
	(4, now() - interval '1 day', 'eu'),
	(5, now() - interval '40 days', 'us'),
	(6, now() - interval '400 days', 'us'),
	(7, now() - interval '35 days', 'asia'),
	(8, now() - interval '40 days', 'la'),
	(9, now() - interval '400 days', 'la');
INSERT INTO regress_ret.dp VALUES
	(1, '2010-06-01 00:00:00+00'),
	(2, now() - interval '40 days'),
	(3, now() - interval '1 day'),
	(4, '2000-01-01 00:00:00+00');
RESET ROLE;
SELECT is((SELECT "rows" FROM audit_guard.seal('regress_ret.log')), 5::bigint,
		  'block 2 of log seals the five others');
SELECT audit_guard.digest() AS digest_before \gset

------------------------------------------------------------------------------
-- set_retention(): who, and which arguments
------------------------------------------------------------------------------
SELECT * FROM regress_ret.refused('superuser', 'set_retention() of an unprotected table',
	$$SELECT audit_guard.set_retention('regress_ret.plain', '30 days', 'at')$$,
	'55000: cannot call audit_guard.set_retention() on table regress_ret.plain: it is not protected by audit_guard');
SET LOCAL ROLE regress_ret_app;
SELECT * FROM regress_ret.refused('app', 'set_retention()',
	$$SELECT audit_guard.set_retention('regress_ret.log', '30 days', 'at')$$,
	'42501: permission denied for audit_guard.set_retention() on protected table regress_ret.log');
SET LOCAL ROLE regress_ret_tblowner;
SELECT * FROM regress_ret.refused('table owner', 'set_retention()',
	$$SELECT audit_guard.set_retention('regress_ret.log', '30 days', 'at')$$,
	'42501: permission denied for audit_guard.set_retention() on protected table regress_ret.log');
RESET ROLE;
SELECT * FROM regress_ret.refused('superuser', 'set_retention()',
	$$SELECT audit_guard.set_retention('regress_ret.log', '30 days', 'at')$$,
	'42501: permission denied for audit_guard.set_retention() on protected table regress_ret.log');

SET LOCAL ROLE regress_ret_owner;
SELECT * FROM regress_ret.refused('designated owner', 'set_retention() with a NULL table',
	$$SELECT audit_guard.set_retention(NULL, '30 days', 'at')$$,
	'22004: argument 1 of audit_guard.set_retention() must not be NULL');
SELECT * FROM regress_ret.refused('designated owner', 'set_retention() with a NULL keep',
	$$SELECT audit_guard.set_retention('regress_ret.log', NULL, 'at')$$,
	'22004: argument 2 of audit_guard.set_retention() must not be NULL');
SELECT * FROM regress_ret.refused('designated owner', 'set_retention() with a NULL column',
	$$SELECT audit_guard.set_retention('regress_ret.log', '30 days', NULL)$$,
	'22004: argument 3 of audit_guard.set_retention() must not be NULL');
SELECT * FROM regress_ret.refused('designated owner', 'a keep of zero',
	$$SELECT audit_guard.set_retention('regress_ret.log', '0', 'at')$$,
	'22023: retention must be positive, not 00:00:00');
SELECT * FROM regress_ret.refused('designated owner', 'a negative keep',
	$$SELECT audit_guard.set_retention('regress_ret.log', '-1 day', 'at')$$,
	'22023: retention must be positive, not -1 days');
SELECT * FROM regress_ret.refused('designated owner', 'a keep that adds up to zero',
	$$SELECT audit_guard.set_retention('regress_ret.log', '1 mon -30 days', 'at')$$,
	'22023: retention must be positive, not 1 mon -30 days');
SELECT * FROM regress_ret.refused('designated owner', 'a column that does not exist',
	$$SELECT audit_guard.set_retention('regress_ret.log', '30 days', 'nope')$$,
	'42703: column "nope" of table regress_ret.log does not exist');
SELECT * FROM regress_ret.refused('designated owner', 'a text column',
	$$SELECT audit_guard.set_retention('regress_ret.log', '30 days', 'note')$$,
	'42804: column "note" of table regress_ret.log is of type text, not a time');
SELECT * FROM regress_ret.refused('designated owner', 'an integer column',
	$$SELECT audit_guard.set_retention('regress_ret.log', '30 days', 'n')$$,
	'42804: column "n" of table regress_ret.log is of type integer, not a time');
SELECT * FROM regress_ret.refused('designated owner', 'a jsonb column',
	$$SELECT audit_guard.set_retention('regress_ret.log', '30 days', 'j')$$,
	'42804: column "j" of table regress_ret.log is of type jsonb, not a time');
SELECT * FROM regress_ret.refused('designated owner', 'a nullable timestamptz column',
	$$SELECT audit_guard.set_retention('regress_ret.log', '30 days', 'seen')$$,
	'42611: column "seen" of table regress_ret.log is not NOT NULL');

-- the neighbour: the designated owner sets it
SELECT is(audit_guard.set_retention('regress_ret.log', '20 days', 'at'),
		  'retention of regress_ret.log set: rows younger than 20 days by column at are kept',
		  'designated owner: set_retention() sets 20 days by column at');
RESET ROLE;
SELECT results_eq($$SELECT relid, keep, time_column, set_by FROM audit_guard.retention
					 WHERE relid = 'regress_ret.log'::regclass$$,
				  $$VALUES ('regress_ret.log'::regclass, interval '20 days', 'at'::name,
							'regress_ret_owner'::name)$$,
				  'the retention is stored, with who set it');

-- lowering: refused for everyone who may call it at all
SET LOCAL ROLE regress_ret_owner;
SELECT * FROM regress_ret.refused('designated owner', 'lowering the retention',
	$$SELECT audit_guard.set_retention('regress_ret.log', '10 days', 'at')$$,
	'23000: cannot lower the retention of protected table regress_ret.log from 20 days to 10 days');
SET LOCAL ROLE regress_ret_maint;
SELECT * FROM regress_ret.refused('member of the designated owner', 'lowering the retention',
	$$SELECT audit_guard.set_retention('regress_ret.log', '19 days 23:59:59', 'at')$$,
	'23000: cannot lower the retention of protected table regress_ret.log from 20 days to 19 days 23:59:59');
SET LOCAL ROLE regress_ret_tblowner;
SELECT * FROM regress_ret.refused('table owner', 'lowering the retention',
	$$SELECT audit_guard.set_retention('regress_ret.log', '10 days', 'at')$$,
	'42501: permission denied for audit_guard.set_retention() on protected table regress_ret.log');
RESET ROLE;
SELECT * FROM regress_ret.refused('superuser', 'lowering the retention',
	$$SELECT audit_guard.set_retention('regress_ret.log', '10 days', 'at')$$,
	'42501: permission denied for audit_guard.set_retention() on protected table regress_ret.log');
-- changing the time column: refused, also with a higher keep
SET LOCAL ROLE regress_ret_owner;
SELECT * FROM regress_ret.refused('designated owner', 'moving the retention to another time column',
	$$SELECT audit_guard.set_retention('regress_ret.log', '20 days', 'other_at')$$,
	'55000: cannot keep rows of protected table regress_ret.log by column "other_at"');
SELECT * FROM regress_ret.refused('designated owner', 'raising the retention onto another time column',
	$$SELECT audit_guard.set_retention('regress_ret.log', '40 days', 'other_at')$$,
	'55000: cannot keep rows of protected table regress_ret.log by column "other_at"');
-- the neighbours: raising, and the same keep again
SELECT is(audit_guard.set_retention('regress_ret.log', '30 days', 'at'),
		  'retention of regress_ret.log raised from 20 days to 30 days by column at',
		  'designated owner: raising the retention to 30 days works');
SELECT is(audit_guard.set_retention('regress_ret.log', '30 days', 'at'),
		  'retention of regress_ret.log unchanged: rows younger than 30 days by column at are kept',
		  'designated owner: the same keep again changes nothing');
SELECT results_eq($$SELECT keep, time_bound, row_count, performed_by
					 FROM regress_ret.history('retention', 'regress_ret.log')$$,
				  $$VALUES (interval '20 days', NULL::timestamptz, NULL::bigint, 'regress_ret_owner'::name),
						   (interval '30 days', NULL, NULL, 'regress_ret_owner')$$,
				  'history records the setting and the raise, and not the call that changed nothing');
RESET ROLE;
SELECT results_eq($$SELECT keep, time_column, set_on FROM audit_guard.retention_of('regress_ret.log')$$,
				  $$VALUES (interval '30 days', 'at'::name, 'regress_ret.log'::regclass)$$,
				  'retention_of(log): 30 days by at');

------------------------------------------------------------------------------
-- purge()
------------------------------------------------------------------------------
SET LOCAL ROLE regress_ret_owner;
SELECT lives_ok($$SELECT audit_guard.set_retention(t, '30 days', c)
					FROM (VALUES ('regress_ret.stamp_east'::regclass, 'at'::name),
								 ('regress_ret.stamp_west', 'at'), ('regress_ret.dated_east', 'day'),
								 ('regress_ret.dated_west', 'day'), ('regress_ret.expired', 'at'),
								 ('regress_ret.expired_2', 'at'), ('regress_ret.ev', 'at'),
								 ('regress_ret.dp', 'at'), ('regress_ret.typed', 'at')) AS x (t, c)$$,
				'designated owner: retention of 30 days on the other tables');
SET LOCAL ROLE regress_ret_app;
SELECT * FROM regress_ret.refused('app', 'purge()', $$SELECT audit_guard.purge('regress_ret.log')$$,
	'42501: permission denied for audit_guard.purge() on protected table regress_ret.log');
SET LOCAL ROLE regress_ret_tblowner;
SELECT * FROM regress_ret.refused('table owner', 'purge()', $$SELECT audit_guard.purge('regress_ret.log')$$,
	'42501: permission denied for audit_guard.purge() on protected table regress_ret.log');
RESET ROLE;
SELECT * FROM regress_ret.refused('superuser', 'purge()', $$SELECT audit_guard.purge('regress_ret.log')$$,
	'42501: permission denied for audit_guard.purge() on protected table regress_ret.log');
SET LOCAL ROLE regress_ret_owner;
SELECT * FROM regress_ret.refused('designated owner', 'purge() of a table without retention',
	$$SELECT audit_guard.purge('regress_ret.noret')$$,
	'55000: cannot purge protected table regress_ret.noret: it has no retention');
SELECT * FROM regress_ret.refused('designated owner', 'purge() of an unprotected table',
	$$SELECT audit_guard.purge('regress_ret.plain')$$,
	'55000: cannot call audit_guard.purge() on table regress_ret.plain: it is not protected by audit_guard');
SELECT * FROM regress_ret.refused('designated owner', 'purge(NULL)',
	$$SELECT audit_guard.purge(NULL)$$,
	'22004: argument 1 of audit_guard.purge() must not be NULL');
SELECT * FROM regress_ret.refused('designated owner', 'DELETE of the expired rows',
	$$DELETE FROM regress_ret.log WHERE at < now() - interval '30 days'$$,
	'23000: cannot delete rows from protected table regress_ret.log');

-- the neighbour: purge() by the designated owner, under a TimeZone of its own
SELECT is(ARRAY(SELECT id FROM regress_ret.log WHERE at < regress_ret.bound('30 days') ORDER BY id),
		  ARRAY[1, 2, 3], 'log: rows 1, 2 and 3 are older than 30 days, row 4 is exactly at the bound');
SET LOCAL TimeZone = 'America/New_York';
SELECT is(audit_guard.purge('regress_ret.log'), 3::bigint,
		  'designated owner: purge(log) deletes the three rows older than 30 days and says so');
RESET TimeZone;
SELECT is(regress_ret.ids('regress_ret.log'), ARRAY[4, 5, 6, 7, 8],
		  'log: the row at the bound and every younger row are left');
SELECT is_empty($$SELECT * FROM audit_guard.verify('regress_ret.log')$$,
				'verify(log) is clean after the purge');
SELECT is_empty(format('SELECT * FROM audit_guard.verify(%L::jsonb)', :'digest_before'),
				'verify() of a digest taken before the purge is clean');
SELECT results_eq($$SELECT keep, time_bound, row_count, row_key, reason, performed_by
					 FROM regress_ret.history('purge', 'regress_ret.log')$$,
				  $$VALUES (interval '30 days', regress_ret.bound('30 days'), 3::bigint, NULL::text,
							NULL::text, 'regress_ret_owner'::name)$$,
				  'history records the purge: keep, the bound used, 3 rows, by the designated owner');
SELECT results_eq($$SELECT block, kind, row_count FROM audit_guard.seal_blocks
					 WHERE relid = 'regress_ret.log'::regclass ORDER BY block$$,
				  $$VALUES (1::bigint, 'seal', 3::bigint), (2, 'seal', 5), (3, 'purge', 3)$$,
				  'the chain of log: two seal blocks and the purge''s erasure block; block 1 keeps its header');
SELECT results_eq($$SELECT DISTINCT block FROM audit_guard.seal_rows
					 WHERE relid = 'regress_ret.log'::regclass ORDER BY block$$,
				  $$VALUES (2::bigint)$$,
				  'block 1, erased whole, has no seal rows left; block 2 keeps its rows');
SELECT results_eq($$SELECT block, kind, sealed_block, row_count, whole_block, reason, erased_by
					 FROM audit_guard.erasures WHERE table_name = 'regress_ret.log'::regclass$$,
				  $$VALUES (3::bigint, 'purge', 1::bigint, 3::bigint, true, NULL::text,
							'regress_ret_owner'::name)$$,
				  'erasures: block 3 erased sealed block 1 whole');
SELECT is(audit_guard.purge('regress_ret.log'), 0::bigint, 'a second purge finds nothing');
SELECT is((SELECT count(*)::int FROM audit_guard.seal_blocks WHERE relid = 'regress_ret.log'::regclass),
		  3, '... and writes no block');
SELECT is((SELECT count(*)::int FROM regress_ret.history('purge', 'regress_ret.log')), 1,
		  '... and no history row');

-- timestamp and date columns are read as UTC, whatever TimeZone says: at
-- UTC+14 a timestamp read as local time would make row 4 expired, at
-- UTC-12 row 1 young; a date's midnight moves by as much.  The days
-- expected, by their UTC midnight, before the purges:
SELECT count(*) FILTER (WHERE day < regress_ret.utc_bound('30 days')) AS dated_expired,
	   array_agg(id ORDER BY id) FILTER (WHERE NOT day < regress_ret.utc_bound('30 days')) AS dated_kept
  FROM regress_ret.dated_east \gset
SET LOCAL TimeZone = 'Etc/GMT-14';
SELECT is(audit_guard.purge('regress_ret.stamp_east'), 2::bigint,
		  'timestamp, TimeZone UTC+14: purge deletes the two rows before the UTC bound');
SELECT is(regress_ret.ids('regress_ret.stamp_east'), ARRAY[3, 4],
		  'timestamp, TimeZone UTC+14: the row at the bound and the one 5 hours after it are left');
SELECT is(audit_guard.purge('regress_ret.dated_east'), :'dated_expired'::bigint,
		  'date, TimeZone UTC+14: purge deletes the days whose UTC midnight is before the bound');
SELECT is(regress_ret.ids('regress_ret.dated_east'), :'dated_kept'::int[],
		  'date, TimeZone UTC+14: the days left are those whose UTC midnight is at or after the bound');
SET LOCAL TimeZone = 'Etc/GMT+12';
SELECT is(audit_guard.purge('regress_ret.stamp_west'), 2::bigint,
		  'timestamp, TimeZone UTC-12: purge deletes the same two rows');
SELECT is(regress_ret.ids('regress_ret.stamp_west'), ARRAY[3, 4],
		  'timestamp, TimeZone UTC-12: the same rows are left');
SELECT is(audit_guard.purge('regress_ret.dated_west'), :'dated_expired'::bigint,
		  'date, TimeZone UTC-12: purge deletes the same days');
SELECT is(regress_ret.ids('regress_ret.dated_west'), regress_ret.ids('regress_ret.dated_east'),
		  'date, TimeZone UTC-12: the same days are left');
RESET TimeZone;
SELECT ok(regress_ret.ids('regress_ret.dated_west') @> ARRAY[29, 0]
		  AND NOT regress_ret.ids('regress_ret.dated_west') && ARRAY[40, 31],
		  'date: 29 days ago and today are kept, 31 and 40 days ago are purged');
SELECT results_eq($$SELECT time_bound FROM regress_ret.history('purge', 'regress_ret.stamp_east')
					UNION ALL
					SELECT time_bound FROM regress_ret.history('purge', 'regress_ret.stamp_west')$$,
				  $$VALUES (regress_ret.bound('30 days')), (regress_ret.bound('30 days'))$$,
				  'history: both purges used the same bound, now() - 30 days in UTC');
SELECT is_empty($$SELECT * FROM audit_guard.verify() WHERE table_name::text LIKE 'regress_ret.%'$$,
				'verify() is clean for every purged table');

------------------------------------------------------------------------------
-- redact()
------------------------------------------------------------------------------
SET LOCAL ROLE regress_ret_app;
SELECT * FROM regress_ret.refused('app', 'redact()',
	$$SELECT audit_guard.redact('regress_ret.log', '7', 'erasure request 42')$$,
	'42501: permission denied for audit_guard.redact() on protected table regress_ret.log');
SET LOCAL ROLE regress_ret_tblowner;
SELECT * FROM regress_ret.refused('table owner', 'redact()',
	$$SELECT audit_guard.redact('regress_ret.log', '7', 'erasure request 42')$$,
	'42501: permission denied for audit_guard.redact() on protected table regress_ret.log');
RESET ROLE;
SELECT * FROM regress_ret.refused('superuser', 'redact()',
	$$SELECT audit_guard.redact('regress_ret.log', '7', 'erasure request 42')$$,
	'42501: permission denied for audit_guard.redact() on protected table regress_ret.log');
SET LOCAL ROLE regress_ret_owner;
SELECT * FROM regress_ret.refused('designated owner', 'redact() with an empty reason',
	$$SELECT audit_guard.redact('regress_ret.log', '7', '')$$,
	'22023: the reason for a redaction must not be empty');
SELECT * FROM regress_ret.refused('designated owner', 'redact() with a blank reason',
	$$SELECT audit_guard.redact('regress_ret.log', '7', E' \t\n ')$$,
	'22023: the reason for a redaction must not be empty');
SELECT * FROM regress_ret.refused('designated owner', 'redact() with a NULL reason',
	$$SELECT audit_guard.redact('regress_ret.log', '7', NULL)$$,
	'22004: argument 3 of audit_guard.redact() must not be NULL');
SELECT * FROM regress_ret.refused('designated owner', 'redact() of a key no row has',
	$$SELECT audit_guard.redact('regress_ret.log', '999', 'erasure request 42')$$,
	'22023: protected table regress_ret.log has no row with key 999');
SELECT * FROM regress_ret.refused('designated owner', 'redact() of a row purged already',
	$$SELECT audit_guard.redact('regress_ret.log', '1', 'erasure request 42')$$,
	'22023: protected table regress_ret.log has no row with key 1');

-- the neighbour: a row one minute old goes, whatever the retention says
SELECT lives_ok($$SELECT audit_guard.redact('regress_ret.log', '7', 'erasure request 42')$$,
				'designated owner: redact() of a row one minute old');
SELECT is(regress_ret.ids('regress_ret.log'), ARRAY[4, 5, 6, 8], 'log: row 7 is gone, the others stay');
SELECT is_empty($$SELECT * FROM audit_guard.verify('regress_ret.log')$$,
				'verify(log) is clean after the redaction');
SELECT is_empty(format('SELECT * FROM audit_guard.verify(%L::jsonb)', :'digest_before'),
				'verify() of the digest taken before purge and redaction is clean');
SELECT results_eq($$SELECT keep, time_bound, row_count, row_key, reason, performed_by
					 FROM regress_ret.history('redact', 'regress_ret.log')$$,
				  $$VALUES (NULL::interval, NULL::timestamptz, 1::bigint, '7'::text,
							'erasure request 42'::text, 'regress_ret_owner'::name)$$,
				  'history records the redaction: key, reason, one row, who');
SELECT results_eq($$SELECT block, kind, sealed_block, row_count, whole_block, reason, erased_by
					 FROM audit_guard.erasures WHERE table_name = 'regress_ret.log'::regclass
					ORDER BY block$$,
				  $$VALUES (3::bigint, 'purge', 1::bigint, 3::bigint, true, NULL::text,
							'regress_ret_owner'::name),
						   (4, 'redact', 2, 1, false, 'erasure request 42', 'regress_ret_owner')$$,
				  'erasures: the redaction, with its reason, took one row of block 2');
SELECT * FROM regress_ret.refused('designated owner', 'redacting the same key twice',
	$$SELECT audit_guard.redact('regress_ret.log', '7', 'erasure request 42')$$,
	'22023: protected table regress_ret.log has no row with key 7');

-- a composite key, written as verify() writes it: a row literal
SELECT * FROM regress_ret.refused('designated owner', 'redact() of a composite key not in row literal form',
	$$SELECT audit_guard.redact('regress_ret.people', '(eu, 1)', 'request 7')$$,
	'22023: protected table regress_ret.people has no row with key (eu, 1)');
SELECT lives_ok($$SELECT audit_guard.redact('regress_ret.people', '(eu,1)', 'request 7')$$,
				'designated owner: redact() of composite key (eu,1)');
SELECT lives_ok(format($$SELECT audit_guard.redact('regress_ret.people', %L, 'request 8')$$,
					   ROW('north eu', 2)::text),
				'designated owner: redact() of composite key ("north eu",2), quoted as a row literal');
SELECT results_eq($$SELECT region, id FROM regress_ret.people ORDER BY region, id$$,
				  $$VALUES ('eu', 2), ('us', 1)$$,
				  'people: the two rows named are gone, (eu,2) and (us,1) stay');
SELECT is_empty($$SELECT * FROM audit_guard.verify('regress_ret.people')$$,
				'verify(people) is clean after the two redactions');
SELECT results_eq($$SELECT row_key, reason FROM regress_ret.history('redact', 'regress_ret.people')$$,
				  $$VALUES ('(eu,1)', 'request 7'), ('("north eu",2)', 'request 8')$$,
				  'history records each composite key as verify() writes it');
RESET ROLE;

------------------------------------------------------------------------------
-- DDL while young rows remain (log holds rows 4, 5, 6 and 8)
------------------------------------------------------------------------------
SET LOCAL ROLE regress_ret_owner;
SELECT * FROM regress_ret.refused('designated owner', 'DROP TABLE with young rows',
	$$DROP TABLE regress_ret.log$$,
	'23000: cannot drop protected table regress_ret.log: it holds rows younger than its retention');
SELECT * FROM regress_ret.refused('designated owner', 'unprotect() with young rows',
	$$SELECT audit_guard.unprotect('regress_ret.log')$$,
	'23000: cannot unprotect protected table regress_ret.log: it holds rows younger than its retention');
SELECT * FROM regress_ret.refused('designated owner', 'DROP SCHEMA ... CASCADE over young rows',
	$$DROP SCHEMA regress_ret CASCADE$$,
	'23000: cannot drop protected table regress_ret.%: it holds rows younger than its retention');
SELECT * FROM regress_ret.refused('designated owner', 'DROP OWNED BY the tables'' owner over young rows',
	$$DROP OWNED BY regress_ret_tblowner CASCADE$$,
	'23000: cannot drop protected table regress_ret.%: it holds rows younger than its retention');
-- a SECURITY DEFINER function of the designated owner, called by the app:
-- the DROP inside runs as the designated owner, and is still refused
RESET ROLE;
CREATE FUNCTION regress_ret.drop_log() RETURNS void LANGUAGE sql SECURITY DEFINER
	AS $$ DROP TABLE regress_ret.log $$;
ALTER FUNCTION regress_ret.drop_log() OWNER TO regress_ret_owner;
GRANT EXECUTE ON FUNCTION regress_ret.drop_log() TO regress_ret_app;
SET LOCAL ROLE regress_ret_app;
SELECT * FROM regress_ret.refused('app', 'DROP TABLE inside a SECURITY DEFINER function of the designated owner',
	$$SELECT regress_ret.drop_log()$$,
	'23000: cannot drop protected table regress_ret.log: it holds rows younger than its retention');
SET LOCAL ROLE regress_ret_owner;
SELECT * FROM regress_ret.refused('designated owner', 'DROP COLUMN of the time column',
	$$ALTER TABLE regress_ret.log DROP COLUMN at$$,
	'23000: cannot drop column "at" of protected table regress_ret.log: it is the time column of the table''s retention');
SELECT * FROM regress_ret.refused('designated owner', 'RENAME COLUMN of the time column',
	$$ALTER TABLE regress_ret.log RENAME COLUMN at TO happened_at$$,
	'23000: cannot rename column "at" of protected table regress_ret.log: it is the time column of the table''s retention');
-- the time column's values and type are the retention: a rewrite that
-- ages the rows would let them be dropped
SELECT * FROM regress_ret.refused('designated owner', 'ALTER COLUMN TYPE ... USING of the time column',
	$$ALTER TABLE regress_ret.log ALTER COLUMN at TYPE timestamptz USING at - interval '100 years'$$,
	'23000: cannot % "at" of protected table regress_ret.log: it is the time column of the table''s retention');
SELECT * FROM regress_ret.refused('designated owner', 'ALTER COLUMN TYPE text of the time column',
	$$ALTER TABLE regress_ret.log ALTER COLUMN at TYPE text$$,
	'23000: cannot % "at" of protected table regress_ret.log: it is the time column of the table''s retention');
-- a rewrite could age the rows whatever column it names: refused for
-- everyone under a retention (the post-statement check, not the names)
SELECT * FROM regress_ret.refused('designated owner', 'ALTER COLUMN TYPE ... USING of another column (a rewrite)',
	$$ALTER TABLE regress_ret.log ALTER COLUMN note TYPE varchar(200) USING note || ''$$,
	'23000: cannot allow rewriting the rows of a table with a retention on protected table regress_ret.log%');
SELECT * FROM regress_ret.refused('designated owner', 'ADD COLUMN with a volatile default (a rewrite)',
	$$ALTER TABLE regress_ret.log ADD COLUMN stamp timestamptz NOT NULL DEFAULT clock_timestamp()$$,
	'23000: cannot allow rewriting the rows of a table with a retention on protected table regress_ret.log%');
SELECT * FROM regress_ret.refused('designated owner', 'TRUNCATE',
	$$TRUNCATE regress_ret.log$$,
	'23000: cannot truncate protected table regress_ret.log');
SET LOCAL ROLE regress_ret_tblowner;
SELECT * FROM regress_ret.refused('table owner', 'DROP TABLE',
	$$DROP TABLE regress_ret.log$$,
	'42501: permission denied for DROP TABLE on protected table regress_ret.log');
SELECT * FROM regress_ret.refused('table owner', 'unprotect()',
	$$SELECT audit_guard.unprotect('regress_ret.log')$$,
	'42501: permission denied for % on protected table regress_ret.log');
RESET ROLE;
SELECT * FROM regress_ret.refused('superuser', 'DROP TABLE',
	$$DROP TABLE regress_ret.log$$,
	'42501: permission denied for DROP TABLE on protected table regress_ret.log');
SELECT * FROM regress_ret.refused('superuser', 'DROP COLUMN of the time column',
	$$ALTER TABLE regress_ret.log DROP COLUMN at$$,
	'42501: permission denied for DROP COLUMN on protected table regress_ret.log');
-- the neighbours: another column (added after the seals, so that verify()
-- has nothing to say about it) changes, the application inserts
SET LOCAL ROLE regress_ret_owner;
SELECT lives_ok($$ALTER TABLE regress_ret.log ADD COLUMN extra timestamptz$$,
				'designated owner: ADD COLUMN works');
SELECT lives_ok($$ALTER TABLE regress_ret.log RENAME COLUMN extra TO extra_at$$,
				'designated owner: RENAME COLUMN of another column works');
SELECT lives_ok($$ALTER TABLE regress_ret.log ALTER COLUMN extra_at TYPE timestamp$$,
				'designated owner: ALTER COLUMN TYPE of another column works');
SELECT lives_ok($$ALTER TABLE regress_ret.log DROP COLUMN extra_at$$,
				'designated owner: DROP COLUMN of another column works');
SET LOCAL ROLE regress_ret_app;
SELECT lives_ok($$INSERT INTO regress_ret.log (id, at) VALUES (9, now())$$,
				'app: INSERT still lands');
RESET ROLE;

-- a typed table's columns change through its type
SET LOCAL ROLE regress_ret_owner;
SELECT * FROM regress_ret.refused('designated owner', 'ALTER TYPE ... RENAME ATTRIBUTE of the time column',
	$$ALTER TYPE regress_ret.rec RENAME ATTRIBUTE at TO happened_at CASCADE$$,
	'23000: cannot rename % "at" of protected table regress_ret.typed: it is the time column of the table''s retention');
SELECT * FROM regress_ret.refused('designated owner', 'ALTER TYPE ... ALTER ATTRIBUTE TYPE of the time column',
	$$ALTER TYPE regress_ret.rec ALTER ATTRIBUTE at TYPE timestamp CASCADE$$,
	'23000: cannot % "at" of protected table regress_ret.typed: it is the time column of the table''s retention');
SELECT * FROM regress_ret.refused('designated owner', 'ALTER TYPE ... DROP ATTRIBUTE of the time column',
	$$ALTER TYPE regress_ret.rec DROP ATTRIBUTE at CASCADE$$,
	'23000: cannot drop column "at" of protected table regress_ret.typed: it is the time column of the table''s retention');
SELECT lives_ok($$ALTER TYPE regress_ret.rec ADD ATTRIBUTE note text CASCADE$$,
				'designated owner: ALTER TYPE ... ADD ATTRIBUTE works');
SELECT lives_ok($$ALTER TYPE regress_ret.pair RENAME ATTRIBUTE at TO happened_at CASCADE$$,
				'designated owner: renaming attribute at of a type that log only uses in a column works');
RESET ROLE;

-- a table whose rows are all past retention: the time column stays
-- guarded, TRUNCATE stays refused, DROP and unprotect() are the designated
-- owner's again
SET LOCAL ROLE regress_ret_owner;
SELECT * FROM regress_ret.refused('designated owner', 'DROP COLUMN of the time column of an expired table',
	$$ALTER TABLE regress_ret.expired DROP COLUMN at$$,
	'23000: cannot drop column "at" of protected table regress_ret.expired: it is the time column of the table''s retention');
SELECT * FROM regress_ret.refused('designated owner', 'RENAME COLUMN of the time column of an expired table',
	$$ALTER TABLE regress_ret.expired RENAME at TO happened_at$$,
	'23000: cannot rename column "at" of protected table regress_ret.expired: it is the time column of the table''s retention');
SELECT * FROM regress_ret.refused('designated owner', 'TRUNCATE of an expired table',
	$$TRUNCATE regress_ret.expired$$,
	'23000: cannot truncate protected table regress_ret.expired');
SET LOCAL ROLE regress_ret_tblowner;
SELECT * FROM regress_ret.refused('table owner', 'DROP TABLE of an expired table',
	$$DROP TABLE regress_ret.expired$$,
	'42501: permission denied for DROP TABLE on protected table regress_ret.expired');
SELECT * FROM regress_ret.refused('table owner', 'unprotect() of an expired table',
	$$SELECT audit_guard.unprotect('regress_ret.expired')$$,
	'42501: permission denied for % on protected table regress_ret.expired');
RESET ROLE;
SELECT * FROM regress_ret.refused('superuser', 'DROP TABLE of an expired table',
	$$DROP TABLE regress_ret.expired$$,
	'42501: permission denied for DROP TABLE on protected table regress_ret.expired');
SELECT * FROM regress_ret.refused('superuser', 'unprotect() of an expired table',
	$$SELECT audit_guard.unprotect('regress_ret.expired')$$,
	'42501: permission denied for % on protected table regress_ret.expired');
SET LOCAL ROLE regress_ret_owner;
SELECT lives_ok($$SELECT audit_guard.unprotect('regress_ret.expired')$$,
				'designated owner: unprotect() of a table whose rows are all expired');
SELECT is_empty($$SELECT * FROM audit_guard.retention_of('regress_ret.expired')$$,
				'... its retention goes with the protection');
SELECT lives_ok($$DROP TABLE regress_ret.expired_2$$,
				'designated owner: DROP TABLE of a table whose rows are all expired');
SELECT is_empty($$SELECT * FROM audit_guard.retention WHERE relid::oid NOT IN (SELECT oid FROM pg_class)$$,
				'... and no retention row is left behind');
RESET ROLE;

------------------------------------------------------------------------------
-- two levels of partitions: ev's retention covers every leaf
------------------------------------------------------------------------------
SELECT results_eq($$SELECT t::text, k.keep, k.time_column, k.set_on
					 FROM unnest(ARRAY['regress_ret.ev_old', 'regress_ret.ev_now', 'regress_ret.ev_now_eu',
									   'regress_ret.ev_now_us']::regclass[]) t,
						  audit_guard.retention_of(t) k$$,
				  $$VALUES ('regress_ret.ev_old', interval '30 days', 'at'::name, 'regress_ret.ev'::regclass),
						   ('regress_ret.ev_now', '30 days', 'at', 'regress_ret.ev'),
						   ('regress_ret.ev_now_eu', '30 days', 'at', 'regress_ret.ev'),
						   ('regress_ret.ev_now_us', '30 days', 'at', 'regress_ret.ev')$$,
				  'retention_of(): ev''s retention applies at depth 1 and 2');
SET LOCAL ROLE regress_ret_owner;
SELECT * FROM regress_ret.refused('designated owner', 'a partition''s retention below its parent''s',
	$$SELECT audit_guard.set_retention('regress_ret.ev_now_la', '20 days', 'at')$$,
	'23000: cannot lower the retention of protected table regress_ret.ev_now_la from 30 days to 20 days');
SELECT * FROM regress_ret.refused('designated owner', 'a partition''s retention by another time column',
	$$SELECT audit_guard.set_retention('regress_ret.ev_now', '40 days', 'logged_at')$$,
	'55000: cannot keep rows of protected table regress_ret.ev_now by column "logged_at"');
SELECT is(audit_guard.set_retention('regress_ret.ev_now_la', '60 days', 'at'),
		  'retention of regress_ret.ev_now_la set: rows younger than 60 days by column at are kept',
		  'designated owner: a partition may keep its rows longer than its parent');

SELECT * FROM regress_ret.refused('designated owner', 'DROP of a young leaf at depth 2',
	$$DROP TABLE regress_ret.ev_now_eu$$,
	'23000: cannot drop protected table regress_ret.ev_now_eu: it holds rows younger than its retention');
SELECT * FROM regress_ret.refused('designated owner', 'DETACH of a young leaf at depth 2',
	$$ALTER TABLE regress_ret.ev_now DETACH PARTITION regress_ret.ev_now_eu$$,
	'23000: cannot detach protected table regress_ret.ev_now_eu: it holds rows younger than its retention');
SELECT * FROM regress_ret.refused('designated owner', 'DETACH of a partitioned partition holding a young leaf',
	$$ALTER TABLE regress_ret.ev DETACH PARTITION regress_ret.ev_now$$,
	'23000: cannot detach protected table regress_ret.ev_now: it holds rows younger than its retention');
SELECT * FROM regress_ret.refused('designated owner', 'DROP of a partitioned partition holding a young leaf',
	$$DROP TABLE regress_ret.ev_now$$,
	'23000: cannot drop protected table regress_ret.ev_now_%: it holds rows younger than its retention');
SELECT * FROM regress_ret.refused('designated owner', 'DROP of the root',
	$$DROP TABLE regress_ret.ev$$,
	'23000: cannot drop protected table regress_ret.ev_%: it holds rows younger than its retention');
SELECT * FROM regress_ret.refused('designated owner', 'unprotect() of the root',
	$$SELECT audit_guard.unprotect('regress_ret.ev')$$,
	'23000: cannot unprotect protected table regress_ret.ev_now_%: it holds rows younger than its retention');
SELECT * FROM regress_ret.refused('designated owner', 'RENAME COLUMN of the time column of the root',
	$$ALTER TABLE regress_ret.ev RENAME COLUMN at TO happened_at$$,
	'23000: cannot rename column "at" of protected table regress_ret.ev: it is the time column of the table''s retention');
SELECT * FROM regress_ret.refused('designated owner', 'TRUNCATE of an expired leaf',
	$$TRUNCATE regress_ret.ev_now_us$$,
	'23000: cannot truncate protected table regress_ret.ev_now_us');
SET LOCAL ROLE regress_ret_tblowner;
SELECT * FROM regress_ret.refused('table owner', 'DROP of an expired leaf',
	$$DROP TABLE regress_ret.ev_now_us$$,
	'42501: permission denied for DROP TABLE on protected table regress_ret.ev_now_us');
SELECT * FROM regress_ret.refused('table owner', 'DETACH of an expired leaf',
	$$ALTER TABLE regress_ret.ev_now DETACH PARTITION regress_ret.ev_now_asia$$,
	'42501: permission denied for DETACH PARTITION on protected table regress_ret.ev_now%');
RESET ROLE;
SELECT * FROM regress_ret.refused('superuser', 'DROP of an expired leaf',
	$$DROP TABLE regress_ret.ev_now_us$$,
	'42501: permission denied for DROP TABLE on protected table regress_ret.ev_now_us');
SELECT * FROM regress_ret.refused('superuser', 'DETACH of an expired leaf',
	$$ALTER TABLE regress_ret.ev_now DETACH PARTITION regress_ret.ev_now_asia$$,
	'42501: permission denied for DETACH PARTITION on protected table regress_ret.ev_now%');
-- the neighbours: expired leaves go, as pg_partman's retention does it
SET LOCAL ROLE regress_ret_owner;
SELECT regress_ret.allowed('designated owner', 'DETACH of a leaf at depth 2 whose rows are all expired',
	$$ALTER TABLE regress_ret.ev_now DETACH PARTITION regress_ret.ev_now_us$$);
SELECT lives_ok($$DROP TABLE regress_ret.ev_now_us$$,
				'designated owner: DROP of a leaf at depth 2 whose rows are all expired');
SET LOCAL ROLE regress_ret_maint;
SELECT lives_ok($$ALTER TABLE regress_ret.ev_now DETACH PARTITION regress_ret.ev_now_asia$$,
				'member of the designated owner: DETACH of a leaf at depth 2 whose rows are all expired');
SELECT lives_ok($$DROP TABLE regress_ret.ev_now_asia$$,
				'member of the designated owner: DROP of the detached table');
SET LOCAL ROLE regress_ret_owner;

-- purge() of the root reaches the leaves at both depths, each by the
-- retention that applies to it
SELECT is(audit_guard.purge('regress_ret.ev'), 4::bigint,
		  'purge(ev): 2 rows from ev_old (depth 1), 1 from ev_now_eu, 1 from ev_now_la (depth 2)');
SELECT results_eq($$SELECT tableoid::regclass::text, id FROM regress_ret.ev ORDER BY id$$,
				  $$VALUES ('regress_ret.ev_now_eu', 4), ('regress_ret.ev_now_la', 8)$$,
				  'ev: the young eu row and the la row younger than la''s 60 days are left');
SELECT results_eq($$SELECT h.relid::regclass::text, h.keep, h.time_bound, h.row_count
					 FROM audit_guard.history h
					WHERE h.action = 'purge' AND h.table_name LIKE 'regress_ret.ev%' ORDER BY h.table_name$$,
				  $$VALUES ('regress_ret.ev_now_eu', interval '30 days', regress_ret.bound('30 days'), 1::bigint),
						   ('regress_ret.ev_now_la', '60 days', regress_ret.bound('60 days'), 1),
						   ('regress_ret.ev_old', '30 days', regress_ret.bound('30 days'), 2)$$,
				  'history: one purge per leaf, each with its keep and bound');
SELECT is_empty($$SELECT * FROM audit_guard.verify() WHERE table_name::text LIKE 'regress_ret.ev%'$$,
				'verify() is clean for every leaf of ev');
-- a partitioned table's rows are its partitions' rows: so are its counts
SELECT results_eq($$SELECT table_name::text, retention, rows_purged::bigint, rows_redacted::bigint
					  FROM audit_guard.protected_tables
					 WHERE table_name::text LIKE 'regress_ret.ev%' ORDER BY 1$$,
				  $$VALUES ('regress_ret.ev', interval '30 days', 4::bigint, 0::bigint),
						   ('regress_ret.ev_now', '30 days', 2, 0),
						   ('regress_ret.ev_now_eu', '30 days', 1, 0),
						   ('regress_ret.ev_now_la', '60 days', 1, 0),
						   ('regress_ret.ev_old', '30 days', 2, 0)$$,
				  'protected_tables: each partition''s retention, and a partitioned table counts the rows purged from its partitions');
SELECT results_eq($$SELECT status, detail FROM audit_guard.check('regress_ret.ev')
					 WHERE check_name = 'retention'$$,
				  $$VALUES ('ok', 'rows younger than 30 days by column at are kept; 4 rows purged, 0 redacted')$$,
				  'check(ev): the retention row counts the rows purged from its partitions');
SELECT lives_ok($$DROP TABLE regress_ret.ev_old$$,
				'designated owner: DROP of the leaf at depth 1 that purge() emptied');
-- a young row redacted through the root: its leaf may go
SELECT lives_ok(format($$SELECT audit_guard.redact('regress_ret.ev', %L, 'request 9')$$,
					   (SELECT ROW(id, at, region)::text FROM regress_ret.ev WHERE id = 4)),
				'designated owner: redact() through the root of a young row at depth 2');
SELECT is_empty($$SELECT * FROM audit_guard.verify('regress_ret.ev_now_eu')$$,
				'verify(ev_now_eu) is clean after the redaction');
SELECT lives_ok($$DROP TABLE regress_ret.ev_now_eu$$,
				'designated owner: DROP of the leaf whose young row was redacted');
SELECT * FROM regress_ret.refused('designated owner', 'DROP of the root while la holds a young row',
	$$DROP TABLE regress_ret.ev$$,
	'23000: cannot drop protected table regress_ret.ev_now_la: it holds rows younger than its retention');
RESET ROLE;

------------------------------------------------------------------------------
-- a default partition
------------------------------------------------------------------------------
SET LOCAL ROLE regress_ret_owner;
SELECT * FROM regress_ret.refused('designated owner', 'DROP of a default partition holding young rows',
	$$DROP TABLE regress_ret.dp_default$$,
	'23000: cannot drop protected table regress_ret.dp_default: it holds rows younger than its retention');
SELECT * FROM regress_ret.refused('designated owner', 'DETACH of a default partition holding young rows',
	$$ALTER TABLE regress_ret.dp DETACH PARTITION regress_ret.dp_default$$,
	'23000: cannot detach protected table regress_ret.dp_default: it holds rows younger than its retention');
SELECT * FROM regress_ret.refused('designated owner', 'detach_default() while the default holds young rows',
	$$SELECT audit_guard.detach_default('regress_ret.dp')$$,
	'23000: cannot detach protected table regress_ret.dp_default: it holds rows younger than its retention');
SELECT is(audit_guard.purge('regress_ret.dp'), 3::bigint,
		  'purge(dp): the expired row of dp_2010 and the two of the default partition');
SELECT results_eq($$SELECT tableoid::regclass::text, id FROM regress_ret.dp ORDER BY id$$,
				  $$VALUES ('regress_ret.dp_default', 3)$$,
				  'dp: only the young row of the default partition is left');
SELECT results_eq($$SELECT status, detail FROM audit_guard.check('regress_ret.dp')
					 WHERE check_name = 'retention'$$,
				  $$VALUES ('ok', 'rows younger than 30 days by column at are kept; 3 rows purged, 0 redacted')$$,
				  'check(dp): the retention row counts the rows purged from its partitions');
SELECT is_empty($$SELECT * FROM audit_guard.verify() WHERE table_name::text LIKE 'regress_ret.dp%'$$,
				'verify() is clean for dp''s partitions');
SELECT * FROM regress_ret.refused('designated owner', 'DROP of the default partition after the purge',
	$$DROP TABLE regress_ret.dp_default$$,
	'23000: cannot drop protected table regress_ret.dp_default: it holds rows younger than its retention');
SELECT lives_ok($$DROP TABLE regress_ret.dp_2010$$,
				'designated owner: DROP of the partition purge() emptied');
RESET ROLE;

------------------------------------------------------------------------------
-- what an auditor sees
------------------------------------------------------------------------------
SELECT results_eq($$SELECT table_name::text, retention, retention_column, rows_purged::bigint,
						   rows_redacted::bigint
					  FROM audit_guard.protected_tables
					 WHERE table_name::text IN ('regress_ret.log', 'regress_ret.people',
												'regress_ret.noret', 'regress_ret.stamp_east')
					 ORDER BY 1$$,
				  $$VALUES ('regress_ret.log', interval '30 days', 'at'::name, 3::bigint, 1::bigint),
						   ('regress_ret.noret', NULL, NULL, 0, 0),
						   ('regress_ret.people', NULL, NULL, 0, 2),
						   ('regress_ret.stamp_east', '30 days', 'at', 2, 0)$$,
				  'protected_tables: retention, its column, rows purged and redacted');
SELECT results_eq($$SELECT status, detail FROM audit_guard.check('regress_ret.log')
					 WHERE check_name = 'retention'$$,
				  $$VALUES ('ok', 'rows younger than 30 days by column at are kept; 3 rows purged, 1 redacted')$$,
				  'check(log): the retention row');
SELECT is_empty($$SELECT * FROM audit_guard.check('regress_ret.noret') WHERE check_name = 'retention'$$,
				'check(noret): no retention row');
SELECT is((SELECT t - 'block' - 'block_hash'
			 FROM audit_guard.digest() d, jsonb_array_elements(d -> 'tables') t
			WHERE t ->> 'table' = 'regress_ret.log'),
		  '{"table": "regress_ret.log", "rows": 8, "purged": 3, "redacted": 1,
			"retention": {"keep": "30 days", "time_column": "at"}}'::jsonb,
		  'digest(): log has 8 rows sealed, 3 purged, 1 redacted and its retention');
SELECT is((SELECT t -> 'retention'
			 FROM audit_guard.digest() d, jsonb_array_elements(d -> 'tables') t
			WHERE t ->> 'table' = 'regress_ret.people'),
		  'null'::jsonb, 'digest(): people has no retention');
SELECT is((SELECT t -> 'retention'
			 FROM audit_guard.digest() d, jsonb_array_elements(d -> 'tables') t
			WHERE t ->> 'table' = 'regress_ret.ev_now_la'),
		  '{"keep": "60 days", "time_column": "at"}'::jsonb, 'digest(): ev_now_la has its own, longer retention');
SELECT is_empty($$SELECT * FROM audit_guard.verify()$$, 'in the end verify() finds no problem anywhere');

-- purge()'s own DELETE runs without the guard trigger (it would only hand
-- the rows back); a BEFORE DELETE trigger of the table's own still runs
RESET ROLE;
CREATE TABLE regress_ret.trig (id int PRIMARY KEY, at timestamptz NOT NULL);
CREATE TABLE regress_ret.trig_log (id int);
CREATE FUNCTION regress_ret.note_delete() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
	INSERT INTO regress_ret.trig_log VALUES (OLD.id);
	RETURN OLD;
END
$f$;
INSERT INTO regress_ret.trig SELECT g, now() - g * interval '10 days' FROM generate_series(1, 6) g;
SELECT lives_ok($$SELECT audit_guard.protect('regress_ret.trig', 'regress_ret_owner')$$,
				'trig is protected');
SET LOCAL ROLE regress_ret_owner;
SELECT lives_ok($$SELECT audit_guard.set_retention('regress_ret.trig', '25 days', 'at')$$,
				'trig gets a retention');
SELECT is(audit_guard.purge('regress_ret.trig'), 4::bigint,
		  'purge() of a table whose only BEFORE DELETE trigger is the guard');
RESET ROLE;
CREATE TRIGGER note_delete BEFORE DELETE ON regress_ret.trig
	FOR EACH ROW EXECUTE FUNCTION regress_ret.note_delete();
INSERT INTO regress_ret.trig VALUES (7, now() - interval '70 days');
SET LOCAL ROLE regress_ret_owner;
SELECT is(audit_guard.purge('regress_ret.trig'), 1::bigint,
		  'purge() of a table with a BEFORE DELETE trigger of its own');
RESET ROLE;
SELECT is(ARRAY(SELECT id FROM regress_ret.trig_log), ARRAY[7],
		  '... which ran for the row purged');
SELECT throws_like($$DELETE FROM regress_ret.trig$$, '%cannot delete rows from protected table regress_ret.trig%',
				   'a DELETE of the table is still refused after purges');
-- a BEFORE DELETE trigger that skips a row: nothing is erased
CREATE FUNCTION regress_ret.keep_row() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
	RETURN NULL;
END
$f$;
CREATE TRIGGER keep_row BEFORE DELETE ON regress_ret.trig
	FOR EACH ROW EXECUTE FUNCTION regress_ret.keep_row();
INSERT INTO regress_ret.trig VALUES (8, now() - interval '80 days');
SET LOCAL ROLE regress_ret_owner;
SELECT throws_ok($$SELECT audit_guard.purge('regress_ret.trig')$$, '55000',
				 'cannot erase rows of protected table regress_ret.trig: 0 of the 1 rows sealed to erase were deleted',
				 'purge() refuses when a trigger of the table skips a row');
RESET ROLE;
SELECT is((SELECT count(*) FROM regress_ret.trig WHERE id = 8), 1::bigint,
		  '... and the row is still there');
DROP TRIGGER keep_row ON regress_ret.trig;
SELECT is_empty($$SELECT * FROM audit_guard.verify('regress_ret.trig')$$,
				'verify() of it finds no problem');

SELECT * FROM finish();
ROLLBACK;
