# test/cluster/restore_lib.bash: the source database and the checks shared
# by the restore scenarios (restore_matrix.sh, restore_failclosed.sh).
# Sourced, not run: test.sh runs only test/cluster/*.sh.
#
# The source: a protected table, a protected partitioned table with two
# partitions, an unprotected table, rows in each, history rows, and four
# roles: the tables' owner, a NOLOGIN designated owner, the application, and
# a LOGIN non-superuser that restores (the managed-service pattern).

RM_ROLES="regress_rm_owner regress_rm_audit regress_rm_app regress_rm_restorer"
RM_SRC=ag_rm_src

# Create the source database; dumps go to $AG_DIR/rm.*.
rm_make_source() {
	local r
	for r in $RM_ROLES; do
		ag_psql -d postgres -c "DROP ROLE IF EXISTS $r" >/dev/null 2>&1
	done
	ag_fresh_database "$RM_SRC" || return 1
	ag_psql -d postgres <<-'SQL' >/dev/null || return 1
		CREATE ROLE regress_rm_owner;
		CREATE ROLE regress_rm_audit;
		CREATE ROLE regress_rm_app LOGIN;
		CREATE ROLE regress_rm_restorer LOGIN;
	SQL
	ag_psql -d "$RM_SRC" <<-'SQL' >/dev/null || return 1
		CREATE EXTENSION audit_guard;
		CREATE SCHEMA audit AUTHORIZATION regress_rm_owner;
		SET ROLE regress_rm_owner;
		CREATE TABLE audit.audit_log (id bigserial PRIMARY KEY, actor text, payload jsonb);
		CREATE TABLE audit.events (id bigint, at date NOT NULL, what text)
			PARTITION BY RANGE (at);
		CREATE TABLE audit.events_2024 PARTITION OF audit.events
			FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
		CREATE TABLE audit.events_2025 PARTITION OF audit.events
			FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
		CREATE TABLE audit.scratch (id int);
		GRANT USAGE ON SCHEMA audit TO regress_rm_app;
		GRANT SELECT, INSERT ON audit.audit_log, audit.events TO regress_rm_app;
		INSERT INTO audit.audit_log (actor, payload)
			SELECT 'actor ' || i, jsonb_build_object('i', i) FROM generate_series(1, 200) i;
		INSERT INTO audit.events
			SELECT i, date '2024-06-01' + i, 'event ' || i FROM generate_series(1, 300) i;
		INSERT INTO audit.scratch SELECT generate_series(1, 10);
		RESET ROLE;
		SELECT audit_guard.protect('audit.audit_log', owner => 'regress_rm_audit');
		SELECT audit_guard.protect('audit.events', owner => 'regress_rm_audit');
	SQL
}

# The protected tables and their designated owners, by name.
RM_REGISTRY="SELECT string_agg(relid::text || '=' || designated_owner::text, ',' ORDER BY relid::text) FROM audit_guard.registry"
# Every row of every table, as one fingerprint.
RM_DATA="SELECT (SELECT count(*) || ':' || md5(string_agg(t::text, ',' ORDER BY id)) FROM audit.audit_log t)
	|| '/' || (SELECT count(*) || ':' || md5(string_agg(t::text, ',' ORDER BY id)) FROM audit.events t)
	|| '/' || (SELECT count(*) FROM audit.scratch)"
# Guard triggers: how many, and how many are not ENABLE ALWAYS.
RM_TRIGGERS="SELECT count(*) || ' guard triggers, ' || count(*) FILTER (WHERE tgenabled <> 'A') || ' not ALWAYS'
	FROM pg_trigger WHERE tgfoid = 'audit_guard.reject_change()'::regprocedure"
# audit_guard's own trigger on the registry.
RM_OWN_TRIGGER="SELECT string_agg(tgname || '=' || tgenabled::text, ',' ORDER BY tgname) FROM pg_trigger
	WHERE tgrelid = 'audit_guard.registry'::regclass"

rm_source_state() {
	RM_WANT_REGISTRY=$(ag_scalar "$RM_SRC" "$RM_REGISTRY")
	RM_WANT_DATA=$(ag_scalar "$RM_SRC" "$RM_DATA")
	RM_WANT_TRIGGERS=$(ag_scalar "$RM_SRC" "$RM_TRIGGERS")
}

# A fresh target database owned by the restorer role; with the extension
# created by the superuser first when $2 = with-extension; with schema audit
# when $3 = with-schema (pg_dump -t dumps no schema).
rm_target() {
	local db=$1 kind=${2:-fresh} schema=${3:-}
	ag_drop_database "$db" || return 1
	ag_psql -d postgres -c "CREATE DATABASE $db OWNER regress_rm_restorer" >/dev/null || return 1
	if [ "$kind" = with-extension ]; then
		ag_psql -d "$db" -c "CREATE EXTENSION audit_guard" >/dev/null || return 1
	fi
	if [ "$schema" = with-schema ]; then
		ag_psql -d "$db" -c "CREATE SCHEMA audit AUTHORIZATION regress_rm_restorer" \
			-c "GRANT USAGE ON SCHEMA audit TO PUBLIC" >/dev/null || return 1
	fi
}

# After a restore that reported success: everything as in the source.
rm_verify_same() {
	local db=$1 label=$2
	ag_is "$(ag_scalar "$db" "$RM_REGISTRY")" "$RM_WANT_REGISTRY" \
		"$label: the same tables protected, the same designated owners"
	ag_is "$(ag_scalar "$db" "$RM_TRIGGERS")" "$RM_WANT_TRIGGERS" \
		"$label: every guard trigger back, ENABLE ALWAYS"
	ag_is "$(ag_scalar "$db" "$RM_OWN_TRIGGER")" \
		"own_table_guard=A,own_table_no_truncate=A,registry_changed=A" \
		"$label: audit_guard's own registry trigger enabled"
	ag_is "$(ag_scalar "$db" "SELECT coalesce(string_agg(table_name::text || ' ' || check_name || ': ' || detail, '; '), 'clean') FROM audit_guard.check() WHERE status <> 'ok'")" \
		clean "$label: check() is clean"
	ag_is "$(ag_scalar "$db" "$RM_DATA")" "$RM_WANT_DATA" "$label: every row is there"
	rm_verify_refused "$db" "$label"
}

# Whatever the registry says: the guarded tables refuse changes, for the
# superuser too.  Each attempt runs in a transaction rolled back, so that
# one that is wrongly allowed does not change what later checks see.
rm_verify_refused() {
	local db=$1 label=$2
	ag_sqlstate "$db" 23000 "BEGIN; UPDATE audit.audit_log SET actor = 'mallory'; ROLLBACK" \
		"$label: UPDATE of audit_log refused (23000)"
	ag_sqlstate "$db" 23000 "BEGIN; DELETE FROM audit.events_2024; ROLLBACK" \
		"$label: DELETE from a partition refused (23000)"
	ag_sqlstate "$db" 42501 "BEGIN; ALTER TABLE audit.audit_log DISABLE TRIGGER ALL; ROLLBACK" \
		"$label: DISABLE TRIGGER ALL refused to the superuser (42501)"
	ag_sqlstate "$db" 42501 "BEGIN; ALTER TABLE audit.events_2025 DISABLE TRIGGER USER; ROLLBACK" \
		"$label: DISABLE TRIGGER on a partition refused to the superuser (42501)"
}

# Run a restore command; record its status and output for the checks, and
# show the output when it failed.
rm_run() {
	RM_OUT=$("$@" 2>&1)
	RM_RC=$?
	if [ "$RM_RC" -ne 0 ]; then
		printf '%s\n' "$RM_OUT" | head -n 20 | sed 's/^/#   /'
	fi
}
