#!/usr/bin/env bash
# purge() of 1,000,000 expired rows (about 200 bytes each) while the
# application goes on inserting (issue 11).
#
# The table: 500,000 expired rows and 20,000 young ones sealed (a digest is
# taken then), 500,000 more expired rows not sealed yet, so that purge()
# both seals and deletes.  A LOGIN member of the designated owner purges
# while a writer, the application's role, inserts one row per statement
# without pause, each statement timed (psql \timing).  Checked:
#   - purge() returns exactly the expired count, and no expired row is left;
#   - no young row is lost: the young rows of before are unchanged, and
#     young before + inserted during = young after; every row the writer
#     was told it inserted (RETURNING id) is there;
#   - inserts went on during the purge, none took longer than the bound,
#     and the table never went that long without a new row: 1000 ms
#     (AG_PURGE_INSERT_BOUND_MS).  purge() takes no lock that INSERT waits
#     for: its seal lock conflicts only with another seal, its DELETE takes
#     row locks on expired rows nobody else touches; single INSERTs measure
#     well under 10 ms during a purge, and a purge that locked the table
#     for even part of its run (1.5 to 4 s here) would exceed the bound;
#   - verify() and audit_guard_verify, also against the digest taken before
#     the purge, are clean.
# Prints the figures: purge seconds, rows/s, inserts during the purge, the
# maximum single INSERT latency.
set -uo pipefail
source "${AG_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}/scripts/cluster.sh"
ag_cluster_attach || exit 1

db=ag_purge_concurrent
half=${AG_PURGE_ROWS:-1000000}
half=$((half / 2))
expired=$((2 * half))
young=20000
bound_ms=${AG_PURGE_INSERT_BOUND_MS:-1000}
verifier=$AG_BINDIR/audit_guard_verify
work=$(mktemp -d "${TMPDIR:-/tmp}/ag_purge_concurrent.XXXXXX") || exit 1
chmod 755 "$work"
trap 'rm -rf "$work"; ag_cluster_cleanup' EXIT

roles=(regress_pc_purger regress_pc_app regress_pc_owner)
ag_drop_database "$db" "${roles[@]}" >/dev/null || exit 1
ag_psql -d postgres <<SQL >/dev/null || exit 1
CREATE ROLE regress_pc_owner NOLOGIN;
CREATE ROLE regress_pc_purger LOGIN IN ROLE regress_pc_owner;
CREATE ROLE regress_pc_app LOGIN;
CREATE DATABASE $db;
SQL

# rows of about 200 bytes, $1 of them from $2 on, at $3 - n seconds
rows_sql() {
	cat <<-SQL
		INSERT INTO audit_log (at, actor, action, payload)
		SELECT $3 - g * interval '1 second', 'user_' || g % 1000, 'login',
			   jsonb_build_object('ip', '10.0.' || g % 250 || '.' || g % 200,
								  'agent', 'Mozilla/5.0 (X11; Linux x86_64)',
								  'session', md5(g::text), 'n', g)
		  FROM generate_series($2, $2 + $1 - 1) g;
	SQL
}

ag_psql -d "$db" <<SQL >/dev/null || exit 1
CREATE EXTENSION audit_guard;
CREATE TABLE audit_log (
	id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at		timestamptz NOT NULL DEFAULT now(),
	actor	text NOT NULL,
	action	text NOT NULL,
	payload	jsonb
);
ALTER TABLE audit_log OWNER TO regress_pc_owner;
GRANT SELECT, INSERT ON audit_log TO regress_pc_app;
$(rows_sql "$half" 1 "now() - interval '400 days'")
-- young: from 300 days ago, one a minute (the retention is 365 days)
INSERT INTO audit_log (at, actor, action, payload)
SELECT now() - interval '300 days' + g * interval '1 minute', 'user_' || g % 1000, 'view',
	   jsonb_build_object('ip', '10.1.' || g % 250 || '.' || g % 200,
						  'agent', 'Mozilla/5.0 (X11; Linux x86_64)',
						  'session', md5(g::text), 'n', g)
  FROM generate_series(1, $young) g;
SELECT audit_guard.protect('audit_log');
SET ROLE regress_pc_owner;
SELECT audit_guard.set_retention('audit_log', '365 days', 'at');
SELECT audit_guard.seal('audit_log');
RESET ROLE;
SQL
ag_scalar "$db" "SELECT audit_guard.digest()" >"$work/before.json" || exit 1
ag_psql -d "$db" <<SQL >/dev/null || exit 1
$(rows_sql "$half" "$((half + 1))" "now() - interval '400 days'")
VACUUM ANALYZE audit_log;
CHECKPOINT;
SQL
echo "# row size: $(ag_scalar "$db" "SELECT round(avg(pg_column_size(a.*))) FROM audit_log a TABLESAMPLE SYSTEM (1)") bytes"

young_rows="SELECT count(*) || ':' || md5(string_agg(a::text, ',' ORDER BY id)) FROM audit_log a
	WHERE at >= now() - interval '365 days' AND actor <> 'writer'"
young_before=$(ag_scalar "$db" "$young_rows")
ag_is "$(ag_scalar "$db" "SELECT count(*) FILTER (WHERE at < now() - interval '365 days') || ' ' || count(*) FROM audit_log")" \
	"$expired $((expired + young))" "$expired expired rows and $young young ones, half of the expired sealed"

# The writer: one INSERT per statement, as fast as it goes, each timed, until
# $work/stop exists (or 150 s at most).  Output: "id|epoch" per row, and
# "Time: x ms" per statement.
writer() {
	local n=0 end=$((SECONDS + 120))
	printf '%s\n' '\timing on'
	while [ ! -e "$work/stop" ] && [ $SECONDS -lt $end ]; do
		n=$((n + 1))
		echo "INSERT INTO audit_log (actor, action, payload) VALUES ('writer', 'insert', '{\"n\": $n}')
			RETURNING id, extract(epoch FROM clock_timestamp());"
	done
}
writer | "$AG_BINDIR/psql" -X -q -At -v ON_ERROR_STOP=1 -U regress_pc_app -d "$db" \
	>"$work/writer.out" 2>&1 &
writer_pid=$!
sleep 1

# The purge, as the LOGIN member of the designated owner, between two clock readings.
"$AG_BINDIR/psql" -X -q -At -v ON_ERROR_STOP=1 -U regress_pc_purger -d "$db" \
	-c "SELECT extract(epoch FROM clock_timestamp())" \
	-c "SELECT audit_guard.purge('audit_log')" \
	-c "SELECT extract(epoch FROM clock_timestamp())" >"$work/purge.out" 2>&1
purge_rc=$?
sleep 1
touch "$work/stop"
wait "$writer_pid"
writer_rc=$?

[ "$purge_rc" -eq 0 ] || sed 's/^/#   /' "$work/purge.out"
ag_is "$purge_rc" 0 "purge() ran as regress_pc_purger, a LOGIN member of the designated owner"
ag_is "$(sed -n 2p "$work/purge.out")" "$expired" "purge() returns exactly the $expired expired rows"
[ "$writer_rc" -eq 0 ] || grep -v '^[0-9]\|^Time:' "$work/writer.out" | head -n 5 | sed 's/^/#   /'
ag_is "$writer_rc" 0 "the writer saw no error"

t0=$(sed -n 1p "$work/purge.out")
t1=$(sed -n 3p "$work/purge.out")
grep '^[0-9]*|' "$work/writer.out" >"$work/rows" || true
cut -d'|' -f1 "$work/rows" >"$work/ids"
inserted=$(wc -l <"$work/ids")
during=$(awk -F'|' -v a="$t0" -v b="$t1" '$2 >= a && $2 <= b' "$work/rows" | wc -l)
timed=$(grep -c '^Time: ' "$work/writer.out")
max_ms=$(awk '/^Time: / { if ($2 + 0 > m) m = $2 + 0 } END { printf "%.1f", m }' "$work/writer.out")
# the longest the table went without a new row during the purge
gap_ms=$(awk -F'|' -v a="$t0" -v b="$t1" '$2 >= a && $2 <= b { if (p && $2 - p > g) g = $2 - p; p = $2 }
	END { printf "%.1f", g * 1000 }' "$work/rows")
seconds=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
echo "# purge: $expired rows in $seconds s ($(awk -v n="$expired" -v s="$seconds" 'BEGIN { printf "%.0f", n / s }') rows/s, sealing half of them first)"
echo "# inserts: $inserted in all, $during during the purge ($(awk -v n="$during" -v s="$seconds" 'BEGIN { printf "%.0f", n / s }')/s); max single INSERT latency $max_ms ms (bound $bound_ms ms), longest gap between two rows during the purge $gap_ms ms"

ag_is "$timed" "$inserted" "every INSERT the writer sent returned its row and was timed"
ag_ok "inserts went on during the purge ($during rows)" test "$during" -ge 100
ag_ok "no INSERT took longer than $bound_ms ms (max $max_ms ms)" \
	awk -v m="$max_ms" -v b="$bound_ms" 'BEGIN { exit !(m < b) }'
ag_ok "the table never went $bound_ms ms without a new row during the purge (longest gap $gap_ms ms)" \
	awk -v m="$gap_ms" -v b="$bound_ms" 'BEGIN { exit !(m < b) }'

# Nothing young lost, everything inserted there.
ag_is "$(ag_scalar "$db" "SELECT count(*) FROM audit_log WHERE at < now() - interval '365 days'")" 0 \
	"no expired row is left"
ag_is "$(ag_scalar "$db" "$young_rows")" "$young_before" "the young rows of before are all there, unchanged"
ag_is "$(ag_scalar "$db" "SELECT count(*) FROM audit_log")" "$((young + inserted))" \
	"young before ($young) + inserted ($inserted) = rows after"
ag_is "$(ag_psql -At -d "$db" -c "CREATE TEMP TABLE ids (id bigint)" \
	-c "\\copy ids FROM '$work/ids'" \
	-c "SELECT count(DISTINCT ids.id) || ' ' || count(a.id) FROM ids LEFT JOIN audit_log a USING (id)")" \
	"$inserted $inserted" "every row the writer inserted (RETURNING id) is there"

# The chain and the records.
ag_is "$(ag_scalar "$db" "SELECT count(*) FROM audit_guard.verify('audit_log')")" 0 \
	"verify() finds nothing wrong after the purge"
ag_is "$(ag_scalar "$db" "SELECT count(*) FROM audit_guard.verify(pg_read_file('$work/before.json')::jsonb)")" 0 \
	"verify() of the digest taken before the purge finds nothing wrong"
out=$("$verifier" -d "$db" --digest "$work/before.json" audit_log 2>&1)
rc=$?
[ "$rc" -eq 0 ] || printf '%s\n' "$out" | head -n 5 | sed 's/^/#   /'
ag_is "$rc" 0 "audit_guard_verify --digest (taken before the purge) exits 0"
ag_ok "  reading the rows left: $(tail -n 1 <<<"$out")" grep -q ': intact$' <<<"$out"
ag_is "$(ag_scalar "$db" "SELECT kind || ' ' || row_count || ' by ' || sealed_by FROM audit_guard.seal_blocks
	WHERE relid = 'audit_log'::regclass ORDER BY block DESC LIMIT 1")" \
	"purge $expired by regress_pc_purger" "the chain ends with the erasure block of the purge"
ag_is "$(ag_scalar "$db" "SELECT string_agg(sealed_block || ':' || row_count || ':' || whole_block, ',' ORDER BY sealed_block)
	FROM audit_guard.erasures WHERE table_name = 'audit_log'::regclass")" \
	"1:$half:false,2:$half:false" "  erasing $half rows of each of the two blocks, which keep their young rows"
ag_is "$(ag_scalar "$db" "SELECT performed_by || ' ' || keep || ' ' || row_count FROM audit_guard.history WHERE action = 'purge'")" \
	"regress_pc_purger 365 days $expired" "history records the purge: who, the retention, the count"
ag_is "$(ag_scalar "$db" "SELECT rows_purged FROM audit_guard.protected_tables WHERE table_name = 'audit_log'::regclass")" \
	"$expired" "protected_tables shows the rows purged"
ag_is "$(ag_scalar "$db" "SELECT count(*) FROM audit_guard.seal('audit_log')")" 1 \
	"the rows inserted after the purge's seal are sealed next"
ag_is "$(ag_scalar "$db" "SELECT count(*) FROM audit_guard.verify('audit_log')")" 0 \
	"and verify() stays clean"

ag_drop_database "$db" "${roles[@]}" >/dev/null
ag_done
