#!/usr/bin/env bash
# Legitimate work leaves both verifiers clean: ADD COLUMN, VACUUM FULL,
# CLUSTER, a row that commits late with a lower key, INSERTs running during
# seal(), two seal() at once, and pg_dump + pg_restore into a fresh
# database checked against a digest taken before the dump.
set -uo pipefail
source "${AG_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}/scripts/cluster.sh"
ag_cluster_attach || exit 1

db=ag_seal_legit
copy=ag_seal_legit_copy
verifier=$AG_BINDIR/audit_guard_verify
digest=$AG_DIR/seal_legit_digest.json
dump=$AG_DIR/seal_legit.dump
ag_drop_database "$copy" || exit 1
ag_fresh_database "$db" regress_legit_owner || exit 1
ag_psql -d "$db" <<'SQL' >/dev/null || exit 1
CREATE EXTENSION audit_guard;
CREATE TABLE audit_log (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(),
						actor text NOT NULL, payload jsonb, amount numeric);
ALTER TABLE audit_log OWNER TO regress_legit_owner;
INSERT INTO audit_log (actor, payload, amount)
SELECT 'user_' || g % 13, jsonb_build_object('n', g, 'tags', ARRAY['a', 'b']), g / 3.0
  FROM generate_series(1, 2000) g;
SELECT audit_guard.protect('audit_log');
SELECT audit_guard.seal();
SQL

# Both verifiers, over every sealed table: the count of problems each finds.
server_count() {
	ag_scalar "$1" "SELECT count(*) FROM audit_guard.verify()"
}
both_clean() {
	local label=$1 out rc
	ag_is "$(server_count "$db")" "0" "$label: verify() finds nothing"
	out=$("$verifier" -q -d "$db" 2>&1)
	rc=$?
	[ -z "$out" ] || printf '%s\n' "$out" | sed 's/^/#   /'
	ag_is "$rc" "0" "$label: audit_guard_verify exits 0"
}
both_clean "after the first seal"

# ADD COLUMN: earlier blocks keep their columns, later blocks seal the new one
ag_ok "ADD COLUMN with a default, rows inserted, sealed" ag_psql -d "$db" <<'SQL'
ALTER TABLE audit_log ADD COLUMN source text DEFAULT 'web';
INSERT INTO audit_log (actor, source) VALUES ('late', 'api'), ('later', NULL);
SELECT audit_guard.seal('audit_log');
SQL
ag_is "$(ag_scalar "$db" "SELECT string_agg(array_length(columns, 1)::text, ',' ORDER BY block)
	FROM audit_guard.seal_blocks WHERE relid = 'audit_log'::regclass")" "5,6" \
	"block 1 sealed 5 columns, block 2 sealed 6"
both_clean "after ADD COLUMN"

# rewrites that keep the rows
ag_ok "VACUUM FULL" ag_psql -d "$db" -c "VACUUM FULL audit_log"
both_clean "after VACUUM FULL"
ag_ok "CLUSTER on the actor" ag_psql -d "$db" \
	-c "CREATE INDEX audit_log_actor ON audit_log (actor)" -c "CLUSTER audit_log USING audit_log_actor"
both_clean "after CLUSTER"

# a row that commits after a seal, with a key lower than rows already sealed
ag_session_open late "$db"
ag_session_open other "$db"
ag_session_run late "BEGIN; INSERT INTO audit_log (id, actor) VALUES (1000000, 'placeholder') RETURNING 1;" >/dev/null
ag_session_run other "INSERT INTO audit_log (id, actor) VALUES (1000001, 'higher key, committed first');" >/dev/null
ag_is "$(ag_scalar "$db" "SELECT string_agg(\"rows\"::text, ',') FROM audit_guard.seal('audit_log')")" \
	"1" "a seal takes the committed row only"
ag_session_run late "INSERT INTO audit_log (id, actor) VALUES (999999, 'lower key, committed late'); COMMIT;" >/dev/null
ag_is "$(ag_scalar "$db" "SELECT string_agg(\"rows\"::text, ',') FROM audit_guard.seal('audit_log')")" \
	"2" "the next seal takes the two late rows, lower keys included"
both_clean "after a late commit with a lower key"

# two seal() at once: the second waits for the first, then seals only what is new
ag_session_run late "INSERT INTO audit_log (actor) SELECT 'batch' FROM generate_series(1, 100);" >/dev/null
ag_session_run late "BEGIN; SELECT \"rows\" FROM audit_guard.seal('audit_log');" >/dev/null
ag_session_send other "SELECT coalesce(sum(\"rows\"), 0) FROM audit_guard.seal('audit_log');"
ag_ok "a second seal() of the table waits for the first" ag_session_blocked other
ag_ok "INSERT does not wait for a seal()" ag_psql -d "$db" -c "INSERT INTO audit_log (actor) VALUES ('during a seal')"
ag_session_run late "COMMIT;" >/dev/null
ag_is "$(ag_session_wait other)" "1" "then it seals the one row the first did not"
ag_session_close late
ag_session_close other
both_clean "after two concurrent seals"

# INSERTs running while seal() runs again and again
cat >"$AG_DIR/seal_legit_insert.sql" <<'SQL'
INSERT INTO audit_log (actor, payload) VALUES ('pgbench', '{"k": 1}');
SQL
"$AG_BINDIR/pgbench" -n -T 4 -c 3 -j 3 -f "$AG_DIR/seal_legit_insert.sql" "$db" \
	>"$AG_DIR/seal_legit_pgbench.log" 2>&1 &
bench=$!
seals=0
while kill -0 "$bench" 2>/dev/null; do
	ag_psql -d "$db" -c "SELECT audit_guard.seal('audit_log')" >/dev/null && seals=$((seals + 1))
	sleep 0.1
done
wait "$bench"
rc=$?
[ "$rc" -eq 0 ] || sed 's/^/#   /' "$AG_DIR/seal_legit_pgbench.log"
ag_is "$rc" "0" "pgbench inserted for 4 seconds"
ag_ok "seal() ran during the inserts ($seals times)" test "$seals" -gt 5
ag_psql -d "$db" -c "SELECT audit_guard.seal()" >/dev/null
ag_is "$(ag_scalar "$db" "SELECT (SELECT sum(row_count) FROM audit_guard.seal_blocks
	WHERE relid = 'audit_log'::regclass) = (SELECT count(*) FROM audit_log)")" "t" \
	"every row is sealed, once"
both_clean "after inserts during seals"

# pg_dump and pg_restore into a fresh database, checked against a digest
# taken before the dump
ag_ok "a digest is saved, then the database dumped" \
	bash -c "\"$verifier\" -q -d $db --save-digest $digest &&
		\"$AG_BINDIR/pg_dump\" -Fc -d $db -f $dump"
ag_ok "and restored into a fresh database" bash -c \
	"\"$AG_BINDIR/createdb\" $copy && \"$AG_BINDIR/pg_restore\" --exit-on-error -d $copy $dump"
ag_is "$(ag_scalar "$copy" "SELECT count(*) FROM audit_guard.verify(pg_read_file('$digest')::jsonb)")" \
	"0" "the copy: verify(digest) finds nothing"
out=$("$verifier" -q -d "$copy" --digest "$digest" 2>&1)
rc=$?
[ -z "$out" ] || printf '%s\n' "$out" | sed 's/^/#   /'
ag_is "$rc" "0" "the copy: audit_guard_verify --digest exits 0"
ag_is "$(ag_scalar "$copy" "SELECT count(*) FROM audit_guard.seal()")" "0" \
	"the copy: nothing is left to seal"
ag_ok "the copy: history goes on numbering after the rows it restored" \
	ag_psql -d "$copy" -c "SET ROLE regress_legit_owner" -c "SELECT audit_guard.unprotect('audit_log')" \
		-c "SELECT audit_guard.protect('audit_log')"
ag_is "$(ag_scalar "$copy" "SELECT count(*) = count(DISTINCT id) FROM audit_guard.history")" "t" \
	"the copy: history ids stay unique"
ag_sqlstate "$copy" 42501 "DELETE FROM audit_guard.seal_rows" "the copy: seal data is still guarded"

ag_drop_database "$copy"
ag_drop_database "$db" regress_legit_owner
ag_done
