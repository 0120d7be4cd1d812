#!/usr/bin/env bash
# protect(), unprotect() and INSERT racing each other, many times over, in
# several sessions at once: three writers insert (single rows, COPY batches,
# multi-statement transactions) while two sessions protect the table and a
# third unprotects it, and an observer repeatedly locks the table and checks
# that what the registry says, what pg_trigger says and what the hooks do
# agree (refused while protected, allowed while not).  At the end: no
# writer saw an error, no inserted row is missing, and registry, triggers,
# history and behaviour agree.  (An open session seeing protect() done
# elsewhere, and lock waits between two sessions, are in sessions.sh.)
set -uo pipefail
source "${AG_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}/scripts/cluster.sh"
ag_cluster_attach || exit 1

db=ag_concurrency
roles=(regress_conc_tblowner regress_conc_owner regress_conc_app)
work=$(mktemp -d "${TMPDIR:-/tmp}/ag_concurrency.XXXXXX") || exit 1
trap 'rm -rf "$work"; ag_cluster_cleanup' EXIT

ag_fresh_database "$db" "${roles[@]}" || exit 1
ag_psql -d "$db" <<'SQL' >/dev/null || exit 1
CREATE EXTENSION audit_guard;
GRANT regress_conc_tblowner TO regress_conc_owner;
CREATE TABLE t (id bigserial PRIMARY KEY, who text NOT NULL, n int NOT NULL);
ALTER TABLE t OWNER TO regress_conc_tblowner;
GRANT SELECT, INSERT ON t TO regress_conc_app;
GRANT USAGE ON SEQUENCE t_id_seq TO regress_conc_app;
SELECT audit_guard.protect('t', owner => 'regress_conc_owner');

-- Run sql in a subtransaction that is always rolled back: 'ok' or its SQLSTATE.
CREATE FUNCTION try(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	result text;
BEGIN
	BEGIN
		EXECUTE sql;
		result := 'ok';
		RAISE EXCEPTION USING ERRCODE = 'ZZ999';
	EXCEPTION WHEN OTHERS THEN
		result := coalesce(result, SQLSTATE);
	END;
	RETURN result;
END
$$;

-- With protect/unprotect held off by the lock: registry rows, ALWAYS guard
-- triggers, and what UPDATE, DELETE, replica mode, DISABLE TRIGGER (as the
-- table owner, not the designated owner) and TRUNCATE do.
CREATE FUNCTION probe() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	registered int;
	guards int;
BEGIN
	LOCK TABLE t IN SHARE ROW EXCLUSIVE MODE;
	SELECT count(*) INTO registered FROM audit_guard.registry WHERE relid = 't'::regclass;
	SELECT count(*) INTO guards FROM pg_trigger
	 WHERE tgrelid = 't'::regclass AND tgenabled = 'A'
	   AND tgfoid = 'audit_guard.reject_change'::regproc;
	RETURN concat_ws(' ', registered, guards,
		try('UPDATE t SET n = n WHERE false'),
		try('DELETE FROM t WHERE false'),
		try('SET LOCAL session_replication_role = replica'),
		try('SET LOCAL ROLE regress_conc_tblowner; ALTER TABLE t DISABLE TRIGGER USER'),
		try('TRUNCATE t'));
END
$$;
SQL

writes=400		# rows per writer
cycles=60		# protect() calls per protector, unprotect() calls
probes=150

# the scripts each session runs
{
	echo "SET ROLE regress_conc_app;"
	for ((i = 1; i <= writes; i++)); do
		echo "INSERT INTO t (who, n) VALUES ('single', $i);"
		((i % 10 == 0)) && echo "SELECT pg_sleep(0.01);"
	done
} >"$work/single.sql"
{
	echo "SET ROLE regress_conc_app;"
	for ((i = 1; i <= writes; i += 10)); do
		echo "COPY t (who, n) FROM STDIN;"
		for ((j = i; j < i + 10; j++)); do
			printf 'copy\t%d\n' "$j"
		done
		echo '\.'
		echo "SELECT pg_sleep(0.01);"
	done
} >"$work/copy.sql"
{
	echo "SET ROLE regress_conc_app;"
	for ((i = 1; i <= writes; i += 4)); do
		echo "BEGIN;"
		for ((j = i; j < i + 4; j++)); do
			echo "INSERT INTO t (who, n) VALUES ('tx', $j);"
		done
		echo "SELECT count(*) FROM t WHERE who = 'tx';"
		echo "COMMIT;"
		echo "SELECT pg_sleep(0.005);"
	done
} >"$work/tx.sql"
{
	echo "SET ROLE regress_conc_owner;"
	for ((i = 1; i <= cycles; i++)); do
		echo "SELECT audit_guard.protect('t', owner => 'regress_conc_owner');"
		echo "SELECT pg_sleep(0.01);"
	done
} >"$work/protect.sql"
{
	echo "SET ROLE regress_conc_owner;"
	for ((i = 1; i <= cycles; i++)); do
		echo "SELECT pg_sleep(0.007);"
		echo "SELECT audit_guard.unprotect('t');"
	done
} >"$work/unprotect.sql"
{
	for ((i = 1; i <= probes; i++)); do
		echo "SELECT 'probe ' || probe();"
		echo "SELECT pg_sleep(0.003);"
	done
} >"$work/probe.sql"

# run them all at once (the sleeps spread each over the others' time);
# errors print as "ERROR:  <SQLSTATE>"
sessions=(single copy tx protect protect unprotect probe)
pids=()
for ((k = 0; k < ${#sessions[@]}; k++)); do
	name=${sessions[$k]}
	timeout -k 5 120 "$AG_BINDIR/psql" -X -q -At -v ON_ERROR_STOP=0 \
		-v VERBOSITY=sqlstate -d "$db" \
		-f "$work/$name.sql" >"$work/out.$k" 2>&1 &
	pids+=($!)
done
for ((k = 0; k < ${#pids[@]}; k++)); do
	wait "${pids[$k]}"
	ag_is "$?" 0 "session ${sessions[$k]} ($k) ran to the end"
done

# The SQLSTATEs a session's output shows, counted: "none" or "N×CODE ...".
errors_in() {
	local codes
	codes=$(sed -n 's/.*ERROR:  \([0-9A-Z]\{5\}\)$/\1/p' "$1" | sort | uniq -c |
		awk '{printf "%s%s×%s", (NR > 1 ? " " : ""), $1, $2}')
	echo "${codes:-none}"
}

ag_is "$(errors_in "$work/out.0")" none "single-row writer: no error"
ag_is "$(errors_in "$work/out.1")" none "COPY writer: no error"
ag_is "$(errors_in "$work/out.2")" none "transaction writer: no error"
ag_is "$(errors_in "$work/out.3")" none "first protector: no error"
ag_is "$(errors_in "$work/out.4")" none "second protector: no error"
unprotect_errors=$(errors_in "$work/out.5")
if [[ $unprotect_errors =~ ^(none|[0-9]+×55000)$ ]]; then
	ag_pass "unprotector: no error but 55000 (not protected at that moment): $unprotect_errors"
else
	ag_fail "unprotector: no error but 55000" "got: $unprotect_errors"
fi
ag_is "$(errors_in "$work/out.6")" none "observer: no error"

# every probe saw one of the two consistent states
protected_state="1 2 23000 23000 42501 42501 23000"
open_state="0 0 ok ok ok ok ok"
seen=$(grep -c '^probe ' "$work/out.6")
ag_is "$seen" "$probes" "observer: every probe answered"
odd=$(grep '^probe ' "$work/out.6" | sed 's/^probe //' |
	grep -v -x -e "$protected_state" -e "$open_state" | sort | uniq -c)
if [ -z "$odd" ]; then
	ag_pass "observer: registry, triggers and refusals always agreed"
else
	ag_fail "observer: registry, triggers and refusals always agreed" \
		"want \"$protected_state\" or \"$open_state\"; also saw:" "$odd"
fi
echo "# probes: $(grep -c -x "probe $protected_state" "$work/out.6") protected," \
	"$(grep -c -x "probe $open_state" "$work/out.6") unprotected"

# no inserted row is missing, none doubled
ag_is "$(ag_scalar "$db" "SELECT string_agg(who || '=' || c || '/' || d, ' ' ORDER BY who)
	FROM (SELECT who, count(*) c, count(DISTINCT n) d FROM t GROUP BY who) s")" \
	"copy=$writes/$writes single=$writes/$writes tx=$writes/$writes" \
	"every row each writer inserted is there, once"

# the final state agrees with itself
registered=$(ag_scalar "$db" "SELECT count(*) FROM audit_guard.registry WHERE relid = 't'::regclass")
guards=$(ag_scalar "$db" "SELECT string_agg(tgname || '=' || tgenabled::text, ',' ORDER BY tgname)
	FROM pg_trigger WHERE tgrelid = 't'::regclass")
if [ "$registered" = 1 ]; then
	ag_is "$guards" "audit_guard_append_only=A,audit_guard_no_truncate=A" \
		"protected at the end: both guard triggers, ENABLE ALWAYS"
	ag_sqlstate "$db" 23000 "DELETE FROM t" "protected at the end: DELETE refused"
else
	ag_is "$registered:${guards:-none}" "0:none" "unprotected at the end: no registry row, no trigger"
fi
# history: protect and unprotect alternate, starting with protect, and
# their balance is the registry's row count
ag_is "$(ag_scalar "$db" "SELECT count(*) FROM (
	SELECT action, lag(action) OVER (ORDER BY at) AS prev
	  FROM audit_guard.history WHERE table_name = 'public.t') h
	WHERE action = prev")" 0 "history: protect and unprotect strictly alternate"
ag_is "$(ag_scalar "$db" "SELECT action FROM audit_guard.history
	WHERE table_name = 'public.t' ORDER BY at LIMIT 1")" protect "history: starts with protect"
ag_is "$(ag_scalar "$db" "SELECT count(*) FILTER (WHERE action = 'protect')
	- count(*) FILTER (WHERE action = 'unprotect') FROM audit_guard.history
	WHERE table_name = 'public.t'")" "$registered" "history: its balance is the registry's row count"
echo "# history: $(ag_scalar "$db" "SELECT count(*) FROM audit_guard.history WHERE table_name = 'public.t'") events"

ag_drop_database "$db" "${roles[@]}"
ag_done
