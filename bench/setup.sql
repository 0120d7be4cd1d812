-- bench/setup.sql: what every benchmark database starts with (bench/run.sh).
--
-- Three audit tables of the same shape: one unprotected, one protected by
-- audit_guard, one protected the way teams do it without audit_guard (a
-- PL/pgSQL BEFORE UPDATE OR DELETE trigger that raises, plus REVOKE).
-- bench_protect_more(n) adds small protected tables until the registry
-- holds n rows, committing in batches so that no transaction needs more
-- locks than max_locks_per_transaction allows.

CREATE EXTENSION audit_guard;

CREATE TABLE audit_plain (
	id			bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at			timestamptz NOT NULL DEFAULT now(),
	actor		integer NOT NULL,
	action		text NOT NULL,
	payload		jsonb NOT NULL
);
CREATE TABLE audit_guarded (LIKE audit_plain INCLUDING ALL);
CREATE TABLE audit_plpgsql (LIKE audit_plain INCLUDING ALL);

SELECT audit_guard.protect('audit_guarded');

CREATE FUNCTION audit_forbid_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'table % is append-only', TG_TABLE_NAME;
END
$$;
CREATE TRIGGER audit_append_only
	BEFORE UPDATE OR DELETE ON audit_plpgsql
	FOR EACH ROW EXECUTE FUNCTION audit_forbid_change();
REVOKE UPDATE, DELETE, TRUNCATE ON audit_plpgsql FROM PUBLIC;

CREATE PROCEDURE bench_protect_more(target integer)
LANGUAGE plpgsql AS $$
DECLARE
	have	integer := (SELECT count(*) FROM audit_guard.registry);
BEGIN
	FOR i IN have + 1 .. target LOOP
		EXECUTE format('CREATE TABLE bench_filler_%s (id integer)', i);
		PERFORM audit_guard.protect(format('bench_filler_%s', i)::regclass);
		IF i % 500 = 0 THEN
			COMMIT;
		END IF;
	END LOOP;
END
$$;
