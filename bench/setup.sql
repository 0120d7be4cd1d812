-- bench/setup.sql: what every benchmark database starts with (bench/run.sh).
--
-- Four audit tables of the same shape: one unprotected, one protected by
-- audit_guard, one protected the way teams do it without audit_guard (a
-- PL/pgSQL BEFORE UPDATE OR DELETE trigger that raises, plus REVOKE), and
-- one chained the way teams make it tamper-evident without audit_guard (a
-- PL/pgSQL BEFORE INSERT trigger that hashes each row with the previous
-- row's hash, held in a one-row chain head).  bench_plpgsql_verify(tbl)
-- is the matching hand-rolled verification: the same chain recomputed over
-- every row of a table in key order.
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

CREATE TABLE audit_chain (LIKE audit_plain INCLUDING ALL,
						  prev_hash bytea, row_hash bytea);
CREATE TABLE audit_chain_head (id integer PRIMARY KEY CHECK (id = 1), hash bytea NOT NULL);
INSERT INTO audit_chain_head VALUES (1, '\x');

CREATE FUNCTION audit_chain_link() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
	prev	bytea;
BEGIN
	-- every insert waits here for the one before it to commit
	SELECT hash INTO prev FROM audit_chain_head WHERE id = 1 FOR UPDATE;
	NEW.prev_hash := prev;
	NEW.row_hash := sha256(prev || convert_to(row_to_json(NEW)::text, 'UTF8'));
	UPDATE audit_chain_head SET hash = NEW.row_hash WHERE id = 1;
	RETURN NEW;
END
$$;
CREATE TRIGGER audit_chain_link
	BEFORE INSERT ON audit_chain
	FOR EACH ROW EXECUTE FUNCTION audit_chain_link();

CREATE FUNCTION bench_plpgsql_verify(tbl regclass) RETURNS bytea
LANGUAGE plpgsql AS $$
DECLARE
	r		record;
	h		bytea := '\x';
BEGIN
	FOR r IN EXECUTE format('SELECT t AS r FROM %s t ORDER BY id', tbl) LOOP
		h := sha256(h || convert_to(row_to_json(r.r)::text, 'UTF8'));
	END LOOP;
	RETURN h;
END
$$;

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
