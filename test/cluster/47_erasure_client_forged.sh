#!/usr/bin/env bash
# audit_guard_verify and erasure blocks, on erasure data written by hand.
#
# A table is sealed twice (blocks 1 and 2).  With the preload off, the
# erasure blocks that a redaction and a purge would append are written
# directly, their hashes computed in SQL from docs/format.md alone (a third
# implementation of the format: sha256(), int8send(), textsend()):
#   block 3  redact keys 2 and 5 of block 1, reason "wrong person"
#   block 4  purge block 2 whole (its rows and its seal_rows gone)
#   block 5  a seal block that seals key 5 again (a new row), and key 8
# Then audit_guard_verify must accept it (with digests taken before, at an
# erasure block and after), list the erasures with --show-erasures, count
# them in --save-digest, and, in one copy of the database per case, name
# every edit of the erasure data: what a careless forger leaves (a hash
# not recomputed) and what a careful one does (every hash recomputed: the
# entry checks, and the digests).  verify() in the server must report the
# same lines, where it makes the same checks.
set -uo pipefail
source "${AG_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}/scripts/cluster.sh"
ag_cluster_attach || exit 1

db=ag_erasure_forged
verifier=$AG_BINDIR/audit_guard_verify
d_sealed=$AG_DIR/erasure_forged_sealed.json	# head: block 2
d_erased=$AG_DIR/erasure_forged_erased.json	# head: block 3, an erasure block
d_last=$AG_DIR/erasure_forged_last.json		# head: block 5
cases=(keys_edited key_deleted row_deleted unsealed_key unordered count whole_count
	erased_twice erasure_named whole_twice block_count rows_on_erasure stray_entry
	reason_rewritten row_changed)

ag_fresh_database "$db" || exit 1
ag_psql -d "$db" <<'SQL' >/dev/null || exit 1
CREATE EXTENSION audit_guard;
CREATE TABLE t (id bigint PRIMARY KEY, note text);
INSERT INTO t SELECT g, 'n' || g FROM generate_series(1, 6) g;
SELECT audit_guard.protect('t');
SELECT audit_guard.seal('t');
INSERT INTO t SELECT g, CASE WHEN g <> 8 THEN 'n' || g END FROM generate_series(7, 9) g;
SELECT audit_guard.seal('t');

-- the format in SQL, from docs/format.md
CREATE SCHEMA forge;
CREATE FUNCTION forge.field(v bytea) RETURNS bytea LANGUAGE sql IMMUTABLE
AS $$ SELECT CASE WHEN v IS NULL THEN '\xffffffff'::bytea ELSE int4send(length(v)) || v END $$;
CREATE FUNCTION forge.names(ns text[]) RETURNS bytea LANGUAGE sql IMMUTABLE
AS $$ SELECT int4send(cardinality(ns)) ||
			 coalesce((SELECT string_agg(forge.field(convert_to(n, 'UTF8')), ''::bytea ORDER BY o)
						 FROM unnest(ns) WITH ORDINALITY AS u (n, o)), ''::bytea) $$;
CREATE FUNCTION forge.k(id bigint) RETURNS bytea LANGUAGE sql IMMUTABLE
AS $$ SELECT forge.field(int8send(id)) $$;
CREATE FUNCTION forge.leaf(id bigint, note text) RETURNS bytea LANGUAGE sql IMMUTABLE
AS $$ SELECT sha256('\x00'::bytea || forge.field(int8send(id)) || forge.field(textsend(note))) $$;
-- a careful forger: every erasure root and every block hash recomputed
CREATE FUNCTION forge.rehash() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	b record;
	prev bytea := decode(repeat('00', 32), 'hex');
	r bytea;
	h bytea;
BEGIN
	FOR b IN SELECT * FROM audit_guard.seal_blocks WHERE relid = 't'::regclass ORDER BY block LOOP
		IF b.kind = 'seal' THEN
			r := b.root;
			h := sha256('\x02'::bytea || prev || int8send(b.block) || r || int8send(b.row_count)
						|| forge.names(b.columns) || forge.names(b.key_columns));
		ELSE
			r := sha256('\x04'::bytea || coalesce(
					(SELECT string_agg(int8send(e.sealed_block) || int8send(e.row_count)
									   || forge.field(e.keys), ''::bytea ORDER BY e.sealed_block)
					   FROM audit_guard.seal_erasures e
					  WHERE e.relid = 't'::regclass AND e.block = b.block), ''::bytea));
			h := sha256('\x03'::bytea || prev || int8send(b.block)
						|| forge.field(convert_to(b.kind, 'UTF8'))
						|| forge.field(convert_to(b.reason, 'UTF8'))
						|| int8send(b.row_count) || r);
		END IF;
		UPDATE audit_guard.seal_blocks SET root = r, prev_hash = prev, block_hash = h
		 WHERE relid = 't'::regclass AND block = b.block;
		prev := h;
	END LOOP;
END
$$;
-- audit_guard's own triggers on the seal tables call into the library,
-- which is not loaded while the forger works: off, then back on
CREATE FUNCTION forge.triggers(enable boolean) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	t text;
BEGIN
	FOREACH t IN ARRAY ARRAY['seal_blocks', 'seal_rows', 'seal_erasures'] LOOP
		IF enable THEN
			EXECUTE format('ALTER TABLE audit_guard.%I ENABLE ALWAYS TRIGGER own_table_guard', t);
			EXECUTE format('ALTER TABLE audit_guard.%I ENABLE ALWAYS TRIGGER own_table_no_truncate', t);
		ELSE
			EXECUTE format('ALTER TABLE audit_guard.%I DISABLE TRIGGER USER', t);
		END IF;
	END LOOP;
END
$$;
-- a block header; its hashes come from rehash()
CREATE FUNCTION forge.header(blk bigint, kind text, reason text, n bigint,
							 cols text[] DEFAULT '{}', keys text[] DEFAULT '{}')
RETURNS void LANGUAGE sql
AS $$ INSERT INTO audit_guard.seal_blocks (relid, block, columns, key_columns, row_count,
		  root, prev_hash, block_hash, table_name, sealed_by, kind, reason)
	  VALUES ('t', blk, cols, keys, n, '\x', '\x', '\x', 't', current_user, kind, reason) $$;
SQL

# The problems audit_guard_verify prints for table t, "block key problem:
# detail" (and its exit status last, so that a crash cannot pass).
client() {
	local out rc
	out=$("$verifier" -q "$@")
	rc=$?
	printf '%s\n' "$out" | awk -F'\t' '$1 == "public.t" { print $2 " " $3 " " $4 ": " $5 }'
	echo "exit $rc"
}

ag_ok "audit_guard_verify saves a digest of the sealed table" \
	"$verifier" -q -d "$db" --save-digest "$d_sealed"

ag_ok "restart without the preload" ag_conf_override "shared_preload_libraries = ''"
ag_ok "block 3: a redaction of keys 2 and 5, written by hand" ag_psql -d "$db" <<'SQL'
ALTER TABLE t DISABLE TRIGGER ALL;
SELECT forge.triggers(false);
DELETE FROM t WHERE id IN (2, 5);
INSERT INTO audit_guard.seal_erasures VALUES ('t', 3, 1, 2, forge.k(2) || forge.k(5));
SELECT forge.header(3, 'redact', 'wrong person', 2);
SELECT forge.rehash();
SQL
ag_is "$(client -d "$db")" "exit 0" "audit_guard_verify accepts the redaction"
ag_is "$(client -d "$db" --digest "$d_sealed")" "exit 0" "... and the digest taken before it"
ag_ok "--save-digest with an erasure block at the head" \
	"$verifier" -q -d "$db" --save-digest "$d_erased"
ag_is "$(grep -o '"block": [0-9]*, "block_hash": "[0-9a-f]*", "rows": [0-9]*, "redacted": [0-9]*' "$d_erased")" \
	"\"block\": 3, \"block_hash\": \"$(ag_scalar "$db" "SELECT encode(block_hash, 'hex')
		FROM audit_guard.seal_blocks WHERE block = 3")\", \"rows\": 9, \"redacted\": 2" \
	"the digest has block 3 with the hash computed in SQL, 9 rows sealed, 2 redacted"

ag_ok "block 4: a purge of block 2, written by hand" ag_psql -d "$db" <<'SQL'
DELETE FROM t WHERE id IN (7, 8, 9);
DELETE FROM audit_guard.seal_rows WHERE relid = 't'::regclass AND block = 2;
INSERT INTO audit_guard.seal_erasures VALUES ('t', 4, 2, 3, NULL);
SELECT forge.header(4, 'purge', NULL, 3);
SELECT forge.rehash();
SQL
ag_is "$(client -d "$db" --digest "$d_erased")" "exit 0" \
	"audit_guard_verify accepts the purge, and the digest at the erasure block"
ag_ok "new rows with erased keys 5 (redacted) and 8 (purged)" ag_psql -d "$db" \
	-c "INSERT INTO t VALUES (5, 'again'), (8, NULL)"
ag_is "$(client -d "$db")" "exit 0" "new rows with erased keys are not sealed rows"

ag_ok "block 5: keys 5 and 8 sealed again, written by hand" ag_psql -d "$db" <<'SQL'
INSERT INTO audit_guard.seal_rows VALUES ('t', 5, 0, 2, forge.k(5) || forge.k(8),
	forge.leaf(5, 'again') || forge.leaf(8, NULL));
SELECT forge.header(5, 'seal', NULL, 2, '{id,note}', '{id}');
UPDATE audit_guard.seal_blocks
   SET root = sha256('\x01'::bytea || forge.leaf(5, 'again') || forge.leaf(8, NULL))
 WHERE relid = 't'::regclass AND block = 5;
SELECT forge.rehash();
SQL
ag_is "$(client -d "$db" --digest "$d_sealed")" "exit 0" "a key erased may be sealed again"
ag_is "$(client -d "$db" --digest "$d_erased")" "exit 0" "... digest at the erasure block still holds"
ag_is "$("$verifier" -q -d "$db" --show-erasures; echo "exit $?")" \
	"public.t	3	1	redact	2	wrong person
public.t	4	2	purge	3	
exit 0" "--show-erasures: one line per erasure entry"
ag_is "$("$verifier" -d "$db" 2>&1 >/dev/null)" \
	"audit_guard_verify: 1 table, 5 blocks, 6 rows read: intact" "the summary counts the erasure blocks"
ag_ok "--save-digest after the erasures" "$verifier" -q -d "$db" --save-digest "$d_last"
ag_ok "it counts rows sealed, purged and redacted apart" \
	grep -q '"block": 5, "block_hash": "[0-9a-f]*", "rows": 11, "purged": 3, "redacted": 2, "retention": null}' "$d_last"

# One database per case, copied from this one and edited.
edit() {
	case $1 in
	keys_edited)	# a careless forger: entry edited, hashes left
		echo "UPDATE audit_guard.seal_erasures SET keys = forge.k(2) || forge.k(3) WHERE block = 3" ;;
	key_deleted)	# redacted key 5 put back, key 3 erased instead, all rehashed
		echo "UPDATE audit_guard.seal_erasures SET keys = forge.k(2) || forge.k(3) WHERE block = 3;
			  SELECT forge.rehash()" ;;
	row_deleted) echo "DELETE FROM t WHERE id = 3" ;;
	unsealed_key)
		echo "UPDATE audit_guard.seal_erasures SET keys = keys || forge.k(99), row_count = 3 WHERE block = 3;
			  UPDATE audit_guard.seal_blocks SET row_count = 3 WHERE block = 3;
			  SELECT forge.rehash()" ;;
	unordered)
		echo "UPDATE audit_guard.seal_erasures SET keys = forge.k(5) || forge.k(2) WHERE block = 3;
			  SELECT forge.rehash()" ;;
	count)
		echo "UPDATE audit_guard.seal_erasures SET row_count = 3 WHERE block = 3;
			  UPDATE audit_guard.seal_blocks SET row_count = 3 WHERE block = 3;
			  SELECT forge.rehash()" ;;
	whole_count)
		echo "UPDATE audit_guard.seal_erasures SET row_count = 2 WHERE block = 4;
			  UPDATE audit_guard.seal_blocks SET row_count = 2 WHERE block = 4;
			  SELECT forge.rehash()" ;;
	erased_twice)
		echo "INSERT INTO audit_guard.seal_erasures VALUES ('t', 4, 1, 1, forge.k(2));
			  UPDATE audit_guard.seal_blocks SET row_count = 4 WHERE block = 4;
			  SELECT forge.rehash()" ;;
	erasure_named)
		echo "INSERT INTO audit_guard.seal_erasures VALUES ('t', 4, 3, 0, NULL);
			  SELECT forge.rehash()" ;;
	whole_twice)
		echo "INSERT INTO audit_guard.seal_erasures VALUES ('t', 6, 2, 0, NULL);
			  SELECT forge.header(6, 'purge', NULL, 0);
			  SELECT forge.rehash()" ;;
	block_count)
		echo "UPDATE audit_guard.seal_blocks SET row_count = 5 WHERE block = 4;
			  SELECT forge.rehash()" ;;
	rows_on_erasure)
		echo "INSERT INTO audit_guard.seal_rows VALUES ('t', 3, 0, 1, forge.k(2), forge.leaf(2, 'n2'))" ;;
	stray_entry)
		echo "INSERT INTO audit_guard.seal_erasures VALUES ('t', 2, 1, 1, forge.k(3))" ;;
	reason_rewritten)	# consistent: only a digest taken after block 3 sees it
		echo "UPDATE audit_guard.seal_blocks SET reason = 'routine' WHERE block = 3;
			  SELECT forge.rehash()" ;;
	row_changed) echo "UPDATE t SET note = 'edited' WHERE id = 5" ;;
	esac
}
ag_ok "the seal tables' own triggers back on" ag_psql -d "$db" -c "SELECT forge.triggers(true)"
for c in "${cases[@]}"; do
	ag_psql -d postgres -c "DROP DATABASE IF EXISTS ${db}_$c" \
		-c "CREATE DATABASE ${db}_$c TEMPLATE $db" >/dev/null &&
		{ echo "SELECT forge.triggers(false);"; edit "$c"; echo ";SELECT forge.triggers(true);"; } |
		ag_psql -d "${db}_$c" >/dev/null ||
		ag_fail "case $c could not be set up"
done
ag_ok "restart with the preload" ag_conf_reset

h3=$(ag_scalar "$db" "SELECT encode(block_hash, 'hex') FROM audit_guard.seal_blocks WHERE block = 3")
r3=$(ag_scalar "$db" "SELECT encode(root, 'hex') FROM audit_guard.seal_blocks WHERE block = 3")
r3_edited=$(ag_scalar "$db" "SELECT encode(sha256('\x04'::bytea || int8send(1) || int8send(2)
	|| forge.field(forge.k(2) || forge.k(3))), 'hex')")
h3_rewritten=$(ag_scalar "${db}_reason_rewritten" "SELECT encode(block_hash, 'hex')
	FROM audit_guard.seal_blocks WHERE block = 3")
h5_rewritten=$(ag_scalar "${db}_key_deleted" "SELECT encode(block_hash, 'hex')
	FROM audit_guard.seal_blocks WHERE block = 5")
h5=$(ag_scalar "$db" "SELECT encode(block_hash, 'hex') FROM audit_guard.seal_blocks WHERE block = 5")
leaf_again=$(ag_scalar "$db" "SELECT encode(forge.leaf(5, 'again'), 'hex')")
leaf_edited=$(ag_scalar "$db" "SELECT encode(forge.leaf(5, 'edited'), 'hex')")
leaf_n5=$(ag_scalar "$db" "SELECT encode(forge.leaf(5, 'n5'), 'hex')")

ag_is "$(client -d "$db" --digest "$d_sealed")" "exit 0" "the original is still intact"
ag_is "$(client -d "${db}_keys_edited")" \
	"1 5 row changed: the row hashes to $leaf_again, but block 1 sealed $leaf_n5
3  seal data edited: the stored erasure entries give the root $r3_edited, but the block records $r3
5 5 row sealed twice: block 1 sealed this key already
exit 1" "an entry edited: its root, then key 5 back in block 1"
ag_is "$(client -d "${db}_key_deleted" --digest "$d_last")" \
	"1 5 row changed: the row hashes to $leaf_again, but block 1 sealed $leaf_n5
5 5 row sealed twice: block 1 sealed this key already
5  digest mismatch: block 5 has hash $h5_rewritten; the digest has $h5
exit 1" "the same rehashed: key 5 sealed twice, and the digest"
ag_is "$(client -d "${db}_row_deleted")" "1 3 row missing: the row sealed in block 1 is gone
exit 1" "a row not erased, deleted: row missing"
ag_is "$(client -d "${db}_unsealed_key")" \
	"1  seal data edited: an erasure removes key \\x000000080000000000000063, which the block did not seal
exit 1" "a key the block did not seal"
ag_is "$(client -d "${db}_unordered")" \
	"1 2 row missing: the row sealed in block 1 is gone
3  seal data edited: its entry for block 1 has keys that are malformed, out of key order, or not as many as its rows
exit 1" "keys out of order"
ag_is "$(client -d "${db}_count")" \
	"3  seal data edited: its entry for block 1 has keys that are malformed, out of key order, or not as many as its rows
exit 1" "an entry's row count that is not its keys'"
ag_is "$(client -d "${db}_whole_count")" \
	"4  seal data edited: its entry for block 2 erases the block whole, 2 rows, but 3 of its rows were left
exit 1" "a whole block's row count that is not the rows left"
ag_is "$(client -d "${db}_erased_twice")" \
	"1  seal data edited: two erasures remove the same row of the block
exit 1" "a key erased twice"
ag_is "$(client -d "${db}_erasure_named")" \
	"4  seal data edited: its entry for block 3 names no earlier sealed block
exit 1" "an entry naming an erasure block"
ag_is "$(client -d "${db}_whole_twice")" \
	"6  seal data edited: its entry for block 2 erases rows of a block erased whole before
exit 1" "a block erased whole twice"
ag_is "$(client -d "${db}_block_count")" \
	"4  seal data edited: the block records 5 rows erased, but its entries erase 3
exit 1" "an erasure block's row count that is not its entries'"
ag_is "$(client -d "${db}_rows_on_erasure")" \
	"3  seal data edited: rows are stored for it, but it is an erasure block
exit 1" "rows stored for an erasure block"
ag_is "$(client -d "${db}_stray_entry")" \
	"2  seal data edited: erasure entries are stored for block 2, which is no erasure block
exit 1" "erasure entries of a seal block"
ag_is "$(client -d "${db}_reason_rewritten" --digest "$d_sealed")" "exit 0" \
	"a reason rewritten consistently: a digest taken before it holds"
ag_is "$(client -d "${db}_reason_rewritten" --digest "$d_erased")" \
	"3  digest mismatch: block 3 has hash $h3_rewritten; the digest has $h3
exit 1" "... one taken at the erasure block does not: its header is hashed again"
ag_is "$(client -d "${db}_row_changed")" \
	"5 5 row changed: the row hashes to $leaf_edited, but block 5 sealed $leaf_again
exit 1" "a row sealed again is checked against its new block"

# The server's verify() makes the same checks in the same words, except
# for what only the client checks: a whole-block entry's rows against the
# rows left (whole_count), the erasure block's row count against its
# entries' (block_count), rows stored for an erasure block
# (rows_on_erasure); and erased_twice, where verify() also reports key 2
# as not sealed.
server() {
	ag_scalar "$1" "SELECT concat(block, ' ', row_key, ' ', problem, ': ', detail)
		FROM audit_guard.verify('t'::regclass)"
}
ag_is "$(server "$db")" "" "verify() finds the erasures written by hand intact too"
ag_is "$(ag_scalar "$db" "SELECT count(*) FROM audit_guard.verify(pg_read_file('$d_last')::jsonb)")" "0" \
	"verify(digest) accepts the digest audit_guard_verify saved after the erasures"
for c in keys_edited key_deleted row_deleted unsealed_key unordered count erasure_named \
	whole_twice stray_entry reason_rewritten row_changed; do
	ag_is "$(server "${db}_$c")" "$(client -d "${db}_$c" | grep -v '^exit')" \
		"$c: verify() reports the same lines"
done

for c in "${cases[@]}"; do
	ag_drop_database "${db}_$c"
done
ag_drop_database "$db"
ag_done
