#!/usr/bin/env bash
# Issue 8, class 1, two-session form: a name resolved twice.  Session A
# holds LOCK TABLE decoy IN ACCESS EXCLUSIVE MODE; session B (the table
# owner, or a superuser, neither the designated owner) runs a statement on
# "decoy" that would forge or silence an audit table, and waits for the
# lock; A, as the designated owner (who alone may rename a protected
# table), renames decoy away and audit_log to decoy, and commits.  B, woken
# up, now resolves "decoy" to the audit table: it must fail (42501 expected;
# the SQLSTATE is printed), the audit table must be unchanged (rows, columns
# and defaults, owner, persistence, triggers, rules, parents, registry row),
# and the application's next INSERT must land in it.  Each case runs in a
# fresh copy of a template database.  Legitimate neighbour: the same two
# sessions without the swap, where B's statement works on the decoy.
set -uo pipefail
source "${AG_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}/scripts/cluster.sh"
ag_cluster_attach || exit 1

tpl=ag_i8_names_tpl
db=ag_i8_names
roles=(regress_i8n_app regress_i8n_tblowner regress_i8n_auditowner regress_i8n_accomplice)
ag_psql -d postgres -c "DROP DATABASE IF EXISTS $db" || exit 1
ag_fresh_database "$tpl" "${roles[@]}" || exit 1
ag_psql -d "$tpl" <<'SQL' >/dev/null || exit 1
CREATE EXTENSION audit_guard;
GRANT regress_i8n_tblowner TO regress_i8n_auditowner;
GRANT regress_i8n_accomplice TO regress_i8n_tblowner;
GRANT CREATE ON SCHEMA public TO regress_i8n_tblowner, regress_i8n_accomplice;
SET ROLE regress_i8n_tblowner;
CREATE FUNCTION return_null() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TABLE audit_log (
	id			bigint PRIMARY KEY,
	created_at	timestamptz NOT NULL DEFAULT '2024-01-01 00:00:00+00',
	actor		text NOT NULL,
	action		text NOT NULL,
	note		text
);
INSERT INTO audit_log (id, actor, action) VALUES (1, 'alice', 'login'), (2, 'bob', 'logout');
CREATE RULE log_notify AS ON INSERT TO audit_log DO ALSO NOTIFY inserted;
CREATE TABLE decoy (LIKE audit_log INCLUDING ALL);
INSERT INTO decoy (id, actor, action) VALUES (100, 'decoy', 'decoy');
CREATE RULE log_notify AS ON INSERT TO decoy DO ALSO NOTIFY inserted;
CREATE TABLE plain_parent (LIKE audit_log);
RESET ROLE;
GRANT SELECT, INSERT ON audit_log, decoy TO regress_i8n_app;
SELECT audit_guard.protect('audit_log', owner => 'regress_i8n_auditowner');
CREATE TABLE watched AS SELECT 'audit_log'::regclass::oid AS relid;
GRANT SELECT ON watched TO PUBLIC;

-- the audit table by OID, wherever its name went: everything but its name
CREATE FUNCTION fp() RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
	r oid := (SELECT relid FROM watched);
	part text;
BEGIN
	EXECUTE format('SELECT count(*) || '' '' || md5(string_agg(t::text, '','' ORDER BY id)) FROM ONLY %s t',
				   r::regclass) INTO part;
	SELECT part || ' ' || relpersistence::text || ' owner ' || relowner::regrole
		|| ' hasrules ' || relhasrules INTO part FROM pg_class WHERE oid = r;
	SELECT part || ' cols ' || string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
		|| coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), ''), ',' ORDER BY a.attnum)
	  INTO part FROM pg_attribute a
	  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
	 WHERE a.attrelid = r AND a.attnum > 0 AND NOT a.attisdropped;
	SELECT part || ' triggers ' || coalesce(string_agg(tgname || '=' || tgenabled::text || '/' || tgtype
		|| '/' || (tgqual IS NOT NULL), ',' ORDER BY tgname), '') INTO part
	  FROM pg_trigger WHERE tgrelid = r;
	SELECT part || ' rules ' || coalesce(string_agg(rulename || '=' || ev_enabled::text || '/' || is_instead,
		',' ORDER BY rulename), '') INTO part FROM pg_rewrite WHERE ev_class = r;
	SELECT part || ' parents ' || count(*) INTO part FROM pg_inherits WHERE inhrelid = r;
	SELECT part || ' registry ' || coalesce(max(designated_owner::text), 'none') INTO part
	  FROM audit_guard.registry WHERE relid = r;
	RETURN part;
END
$f$;
SQL

# "ERROR:  <SQLSTATE>" codes in a session's output, or "ok"
errors_of() {
	local codes
	codes=$(sed -n 's/.*ERROR:  \([0-9A-Z]\{5\}\)$/\1/p' <<<"$1" | tr '\n' ' ')
	echo "${codes:-ok}" | sed 's/ $//'
}

# The application inserts into the table now called $1; the row must be in
# the audit table (by OID).
app_insert_lands() {
	local name=$1 id=$2
	ag_psql -d "$db" -c "SET ROLE regress_i8n_app" \
		-c "INSERT INTO $name (id, actor, action) VALUES ($id, 'app', 'probe')" >/dev/null 2>&1
	ag_is "$(ag_scalar "$db" "SELECT string_agg((actor, action, created_at)::text, ',')
		FROM audit_log_by_oid() WHERE id = $id" 2>&1)" \
		'(app,probe,"2024-01-01 00:00:00+00")' "$3: the application's next INSERT lands in the audit table"
}

# One case: B (as role $1, "superuser" for none) runs $2 on "decoy" while A
# holds the lock; with swap=1 A renames the tables before it commits.
run_case() {
	local who=$1 stmt=$2 swap=$3 label set_role out code want
	label="$who, $([ "$swap" = 1 ] && echo "names swapped" || echo "no swap"): $stmt"
	ag_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db TEMPLATE $tpl" >/dev/null || return 1
	# a table function that reads the audit table by OID
	ag_psql -d "$db" >/dev/null <<-'SQL' || return 1
		CREATE FUNCTION audit_log_by_oid() RETURNS SETOF audit_log LANGUAGE plpgsql AS $f$
		BEGIN
			RETURN QUERY EXECUTE format('SELECT * FROM ONLY %s', (SELECT relid FROM watched)::regclass);
		END $f$;
	SQL
	want=$(ag_scalar "$db" "SELECT fp()")
	set_role="RESET ROLE"
	[ "$who" = superuser ] || set_role="SET ROLE $who"
	ag_session_open a "$db" || return 1
	ag_session_open b "$db" || return 1
	ag_session_run a "BEGIN; LOCK TABLE decoy IN ACCESS EXCLUSIVE MODE" >/dev/null
	ag_session_send b "$set_role; $stmt"
	ag_ok "$label: B waits for A's lock" ag_session_blocked b
	if [ "$swap" = 1 ]; then
		ag_session_run a "SET LOCAL ROLE regress_i8n_auditowner;
			ALTER TABLE decoy RENAME TO decoy_away;
			ALTER TABLE audit_log RENAME TO decoy;
			COMMIT" >/dev/null
	else
		ag_session_run a "COMMIT" >/dev/null
	fi
	out=$(ag_session_wait b 20)
	code=$(errors_of "$out")
	if [ "$swap" = 1 ]; then
		if [ "$code" = 42501 ]; then
			ag_pass "$label: refused with 42501"
		else
			ag_fail "$label: refused with 42501" "got: $code" "$out"
		fi
		ag_is "$(ag_scalar "$db" "SELECT fp()")" "$want" "$label: the audit table is unchanged"
		app_insert_lands decoy 1000 "$label"
	else
		ag_is "$code" ok "$label: works on the unprotected decoy"
		ag_is "$(ag_scalar "$db" "SELECT fp()")" "$want" "$label: the audit table is unchanged"
		app_insert_lands audit_log 1000 "$label"
	fi
	ag_session_close a
	ag_session_close b
}

statements() {
	local new_owner=$1
	printf '%s\n' \
		"ALTER TABLE decoy ALTER COLUMN action TYPE text USING 'forged'" \
		"CREATE RULE swallow AS ON INSERT TO decoy DO INSTEAD NOTHING" \
		"ALTER TABLE decoy SET UNLOGGED" \
		"ALTER TABLE decoy OWNER TO $new_owner" \
		"ALTER TABLE decoy INHERIT plain_parent" \
		"ALTER TABLE decoy DISABLE RULE log_notify" \
		"CREATE OR REPLACE TRIGGER audit_guard_append_only BEFORE UPDATE OR DELETE ON decoy FOR EACH ROW WHEN (false) EXECUTE FUNCTION audit_guard.reject_change()" \
		"ALTER TABLE decoy DISABLE TRIGGER ALL" \
		"ALTER TABLE decoy ALTER COLUMN created_at SET DEFAULT '2001-09-09'" \
		"ALTER TABLE decoy RENAME COLUMN action TO action_orig" \
		"CREATE TRIGGER swallow BEFORE INSERT ON decoy FOR EACH ROW EXECUTE FUNCTION return_null()" \
		"DROP TRIGGER IF EXISTS audit_guard_append_only ON decoy"
}

# the legitimate neighbour, which also shows each statement is valid
while IFS= read -r stmt; do
	run_case regress_i8n_tblowner "$stmt" 0
done < <(statements regress_i8n_accomplice)

while IFS= read -r stmt; do
	run_case regress_i8n_tblowner "$stmt" 1
done < <(statements regress_i8n_accomplice)
while IFS= read -r stmt; do
	run_case superuser "$stmt" 1
done < <(statements regress_i8n_app)

ag_psql -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null
ag_drop_database "$tpl" "${roles[@]}"
ag_done
