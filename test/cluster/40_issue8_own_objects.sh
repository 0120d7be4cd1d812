#!/usr/bin/env bash
# Issue 8, class 5, the parts a pgTAP transaction cannot show:
#   - a rule planted on audit_guard.history while nothing was protected
#     (ON INSERT DO ALSO DELETE FROM audit_guard.registry): a later
#     protect() must not empty the registry (audit_guard's exemption covers
#     its own statements only, not what a rule adds to them);
#   - logical replication: a subscription to a publisher the attacker
#     controls (another database of this cluster, with tables named
#     audit_guard.registry and audit_guard.history) replays TRUNCATE,
#     INSERT, UPDATE and DELETE into audit_guard's tables through the apply
#     worker, which calls neither the utility nor the executor hook.  After
#     each, the registry and history are unchanged, the apply worker logged
#     an error, and the application's INSERT into the protected table lands.
# Needs wal_level = logical (set here with ag_conf_override, reset at the
# end); every wait is bounded.
set -uo pipefail
source "${AG_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}/scripts/cluster.sh"
ag_cluster_attach || exit 1

sub=ag_i8_sub
pub=ag_i8_pub
roles=(regress_i8o_owner regress_i8o_app)

ag_psql -d postgres -c "DROP DATABASE IF EXISTS $pub" >/dev/null || exit 1
ag_fresh_database "$sub" "${roles[@]}" || exit 1

# 1. a rule planted while nothing was protected
ag_psql -d "$sub" >/dev/null <<'SQL' || exit 1
CREATE EXTENSION audit_guard;
CREATE TABLE t1 (id int PRIMARY KEY);
CREATE TABLE t2 (id int PRIMARY KEY);
SQL
planted=$(ag_psql -d "$sub" -c "CREATE RULE r AS ON INSERT TO audit_guard.history
	DO ALSO DELETE FROM audit_guard.registry" 2>&1 && echo planted || echo refused)
echo "# CREATE RULE on audit_guard.history with nothing protected: $planted"
ok1=$(ag_psql -d "$sub" -c "SELECT audit_guard.protect('t1', owner => 'regress_i8o_owner')" >/dev/null 2>&1 &&
	echo 1 || echo 0)
ok2=$(ag_psql -d "$sub" -c "SELECT audit_guard.protect('t2', owner => 'regress_i8o_owner')" >/dev/null 2>&1 &&
	echo 1 || echo 0)
echo "# protect(t1): $ok1, protect(t2): $ok2 (1 = succeeded)"
ag_is "$(ag_scalar "$sub" "SELECT count(*) FROM audit_guard.registry")" "$((ok1 + ok2))" \
	"planted rule: every protect() that succeeded left its registry row"
ag_is "$(ag_scalar "$sub" "SELECT count(*) FROM audit_guard.registry WHERE relid = 't1'::regclass")" "$ok1" \
	"planted rule: the second protect() did not remove the first table's row"
ag_psql -d "$sub" -c "DROP RULE IF EXISTS r ON audit_guard.history" >/dev/null 2>&1
ag_psql -d "$sub" -c "SELECT audit_guard.protect('t1', owner => 'regress_i8o_owner')" \
	-c "SELECT audit_guard.protect('t2', owner => 'regress_i8o_owner')" >/dev/null 2>&1

# 2. logical replication into audit_guard's tables
ag_conf_override "wal_level = logical" "max_replication_slots = 10" "max_wal_senders = 10" \
	"max_logical_replication_workers = 4" "wal_retrieve_retry_interval = '1s'" || exit 1
# A fresh subscriber database: audit_guard, a protected table, one unprotected.
make_sub() {
	ag_fresh_database "$sub" "${roles[@]}" >/dev/null || return 1
	ag_psql -d "$sub" >/dev/null <<-'SQL'
		CREATE EXTENSION audit_guard;
		CREATE TABLE audit_log (id int PRIMARY KEY, note text);
		INSERT INTO audit_log VALUES (1, 'one');
		GRANT SELECT, INSERT ON audit_log TO regress_i8o_app;
		SELECT audit_guard.protect('audit_log', owner => 'regress_i8o_owner');
		CREATE TABLE unprotected (id int PRIMARY KEY);
	SQL
}
ag_psql -d postgres -c "CREATE DATABASE $pub" >/dev/null || exit 1
# the attacker's publisher: same table names, text columns
ag_psql -d "$pub" >/dev/null <<'SQL' || exit 1
CREATE SCHEMA audit_guard;
CREATE TABLE audit_guard.registry (relid text PRIMARY KEY, designated_owner text NOT NULL,
	protected_at timestamptz NOT NULL DEFAULT now(), protected_by text NOT NULL DEFAULT 'mallory');
CREATE TABLE audit_guard.history (at timestamptz NOT NULL DEFAULT now(), action text NOT NULL,
	relid oid NOT NULL, table_name text NOT NULL, designated_owner text NOT NULL,
	performed_by text NOT NULL DEFAULT 'mallory');
ALTER TABLE audit_guard.history REPLICA IDENTITY FULL;
CREATE PUBLICATION p FOR TABLE audit_guard.registry, audit_guard.history;
SQL

state="SELECT (SELECT count(*) || ':' || md5(coalesce(string_agg(r::text, ',' ORDER BY relid::oid), ''))
	FROM audit_guard.registry r) || ' ' || (SELECT count(*) || ':' || md5(coalesce(string_agg(h::text, ','
	ORDER BY at, relid), '')) FROM audit_guard.history h)"
next_id=100

# One replayed statement: a fresh subscriber database, slot and
# subscription, the statement on the publisher, then wait (20 s at most)
# until the subscription has applied it or stopped on an error.
replay() {
	local n=$1 sql=$2 label offset target i disabled applied want
	label="subscription replays $(tr -s '\n\t ' ' ' <<<"$2")"
	make_sub || {
		ag_fail "$label: subscriber database made"
		return
	}
	want=$(ag_scalar "$sub" "$state")
	# the publisher's row for the audit table, before the slot exists
	ag_psql -d "$pub" -c "INSERT INTO audit_guard.registry (relid, designated_owner)
		VALUES ('public.audit_log', 'regress_i8o_owner') ON CONFLICT (relid) DO NOTHING" >/dev/null
	ag_psql -d "$pub" -c "SELECT pg_create_logical_replication_slot('i8_slot_$n', 'pgoutput')" >/dev/null || {
		ag_fail "$label: slot created"
		return
	}
	offset=$(ag_log_offset)
	ag_psql -d "$sub" -c "CREATE SUBSCRIPTION i8_sub_$n
		CONNECTION 'host=$PGHOST port=$PGPORT dbname=$pub user=postgres'
		PUBLICATION p WITH (create_slot = false, slot_name = 'i8_slot_$n', copy_data = false,
							disable_on_error = true)" >/dev/null || {
		ag_fail "$label: subscription created"
		return
	}
	ag_psql -d "$pub" -c "$sql" >/dev/null
	target=$(ag_scalar "$pub" "SELECT pg_current_wal_lsn()")
	for ((i = 0; i < 100; i++)); do
		disabled=$(ag_scalar "$sub" "SELECT NOT subenabled FROM pg_subscription WHERE subname = 'i8_sub_$n'")
		applied=$(ag_scalar "$pub" "SELECT coalesce(confirmed_flush_lsn >= '$target', false)
			FROM pg_replication_slots WHERE slot_name = 'i8_slot_$n'")
		[ "$disabled" = t ] || [ "$applied" = t ] && break
		sleep 0.2
	done
	sleep 0.5
	echo "# $label: subscription disabled=$disabled, caught up=$applied"
	ag_is "$(ag_scalar "$sub" "$state")" "$want" "$label: the registry and the history are unchanged"
	# the apply worker errors when a replayed row reaches audit_guard's
	# tables; a replayed change may also find nothing to act on (its key is
	# converted on the subscriber, quietly): then unchanged is the proof
	if ag_log_since "$offset" | grep -q 'ERROR'; then
		ag_pass "$label: the apply worker reported an error"
	elif [ "$(ag_scalar "$sub" "$state")" = "$want" ]; then
		ag_pass "$label: the apply worker changed nothing (no error logged)"
	elif false; then
		ag_pass "$label: the apply worker reported an error"
	else
		ag_fail "$label: the apply worker reported an error" "server log since the subscription:" \
			"$(ag_log_since "$offset" | tail -n 5)"
	fi
	next_id=$((next_id + 1))
	ag_psql -d "$sub" -c "SET ROLE regress_i8o_app" -c "INSERT INTO audit_log VALUES ($next_id, 'app')" \
		>/dev/null 2>&1
	ag_is "$(ag_scalar "$sub" "SELECT count(*) FROM audit_log WHERE id = $next_id")" 1 \
		"$label: the application's next INSERT lands"
	ag_sqlstate "$sub" 23000 "DELETE FROM audit_log" "$label: DELETE on the protected table is refused"
	ag_psql -d "$sub" -c "ALTER SUBSCRIPTION i8_sub_$n DISABLE" \
		-c "ALTER SUBSCRIPTION i8_sub_$n SET (slot_name = NONE)" \
		-c "DROP SUBSCRIPTION i8_sub_$n" >/dev/null 2>&1
	for ((i = 0; i < 50; i++)); do
		ag_psql -d "$pub" -c "SELECT pg_drop_replication_slot('i8_slot_$n')" >/dev/null 2>&1 && break
		sleep 0.2
	done
}

replay 1 "TRUNCATE audit_guard.registry, audit_guard.history"
replay 2 "TRUNCATE audit_guard.registry"
replay 3 "DELETE FROM audit_guard.registry WHERE relid = 'public.audit_log'"
replay 4 "UPDATE audit_guard.registry SET designated_owner = 'mallory' WHERE relid = 'public.audit_log'"
replay 5 "INSERT INTO audit_guard.registry (relid, designated_owner) VALUES ('public.unprotected', 'regress_i8o_app')"
replay 6 "INSERT INTO audit_guard.history (action, relid, table_name, designated_owner)
	VALUES ('unprotect', 1, 'public.audit_log', 'regress_i8o_owner')"

ag_psql -d postgres -c "DROP DATABASE IF EXISTS $pub" >/dev/null
ag_conf_reset
ag_drop_database "$sub" "${roles[@]}"
ag_done
