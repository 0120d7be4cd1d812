#!/usr/bin/env bash
# Issue 8, class 7: the pgTAP helpers must not run the caller's ok().  The
# table owner plants ok(boolean, text) and diag(text) that always pass and,
# as a side effect, call audit_guard.unprotect() (and note that they ran).
# The designated owner's CI job then calls tap_guard_is_intact() and
# tap_is_append_only() with the planted functions first in its search_path.
# The planted functions must not run (the table stays protected, nothing
# noted), and the helpers must report the real result: "ok" for an intact
# guard, "not ok" when the runtime role can DELETE.  Three set-ups: pgTAP in
# its own schema (tap) with the decoy in public; no pgTAP at all with the
# decoy in public; pgTAP in public with the decoy in a schema of the table
# owner's put first in the path.
set -uo pipefail
source "${AG_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}/scripts/cluster.sh"
ag_cluster_attach || exit 1

db=ag_i8_tap_helpers
roles=(regress_i8t_tblowner regress_i8t_owner regress_i8t_app)

# A fresh database: pgTAP installed in $1 ("" for none), the decoy in $2.
setup() {
	local tap_schema=$1 decoy_schema=$2
	ag_fresh_database "$db" "${roles[@]}" || return 1
	ag_psql -d "$db" >/dev/null <<-SQL || return 1
		CREATE EXTENSION audit_guard;
		$([ -n "$tap_schema" ] && [ "$tap_schema" != public ] && echo "CREATE SCHEMA $tap_schema; GRANT USAGE ON SCHEMA $tap_schema TO PUBLIC;")
		$([ -n "$tap_schema" ] && echo "CREATE EXTENSION pgtap SCHEMA $tap_schema;")
		GRANT regress_i8t_tblowner TO regress_i8t_owner;
		CREATE SCHEMA IF NOT EXISTS $decoy_schema;
		GRANT CREATE, USAGE ON SCHEMA $decoy_schema TO regress_i8t_tblowner;
		CREATE TABLE t (id int PRIMARY KEY, note text);
		INSERT INTO t VALUES (1, 'one');
		ALTER TABLE t OWNER TO regress_i8t_tblowner;
		GRANT SELECT, INSERT ON t TO regress_i8t_app;
		SELECT audit_guard.protect('t', owner => 'regress_i8t_owner');
		-- where the decoys note that they ran
		CREATE TABLE public.planted_calls (at timestamptz DEFAULT clock_timestamp(), by name DEFAULT current_user);
		GRANT INSERT ON public.planted_calls TO PUBLIC;
		-- the table owner plants the decoys
		SET ROLE regress_i8t_tblowner;
		CREATE FUNCTION $decoy_schema.ok(boolean, text) RETURNS text LANGUAGE plpgsql AS \$\$
		BEGIN
			INSERT INTO public.planted_calls DEFAULT VALUES;
			BEGIN
				PERFORM audit_guard.unprotect('public.t');
			EXCEPTION WHEN OTHERS THEN
				NULL;
			END;
			RETURN 'ok 1 - planted';
		END \$\$;
		CREATE FUNCTION $decoy_schema.diag(text) RETURNS text LANGUAGE plpgsql AS \$\$
		BEGIN
			INSERT INTO public.planted_calls DEFAULT VALUES;
			RETURN '# planted';
		END \$\$;
		GRANT EXECUTE ON FUNCTION $decoy_schema.ok(boolean, text), $decoy_schema.diag(text) TO PUBLIC;
	SQL
}

# The designated owner's CI job, with search_path $1: the helpers' output.
ci_job() {
	local path=$1 plan="" finish=""
	if [ -n "$2" ]; then
		plan="SELECT $2.plan(2);"
		# finish() itself calls diag() through the job's search_path: the
		# job resets it first, so that only the helpers are under test
		finish="SET search_path = $2, pg_catalog; SELECT * FROM $2.finish();"
	fi
	"$AG_BINDIR/psql" -X -q -At -d "$db" 2>&1 <<-SQL
		SET ROLE regress_i8t_owner;
		SET search_path = $path;
		$plan
		SELECT audit_guard.tap_guard_is_intact('public.t');
		SELECT audit_guard.tap_is_append_only('public.t', 'regress_i8t_app');
		$finish
	SQL
}

check_setup() {
	local label=$1 path=$2 tap=$3 out
	out=$(ci_job "$path" "$tap")
	ag_is "$(ag_scalar "$db" "SELECT count(*) FROM public.planted_calls")" 0 \
		"$label: the planted ok()/diag() never ran"
	ag_is "$(ag_scalar "$db" "SELECT count(*) FROM audit_guard.registry WHERE relid = 'public.t'::regclass")" 1 \
		"$label: the table is still protected"
	if grep -q planted <<<"$out" || ! grep -q '^ok .*audit_guard guard on public.t is intact' <<<"$out"; then
		ag_fail "$label: tap_guard_is_intact() reports the real pass" "$out"
	else
		ag_pass "$label: tap_guard_is_intact() reports the real pass"
	fi
	# a real problem: the runtime role may DELETE
	ag_psql -d "$db" -c "GRANT DELETE ON t TO regress_i8t_app" >/dev/null
	out=$(ci_job "$path" "$tap")
	if grep -q '^not ok .*append-only' <<<"$out" && ! grep -q planted <<<"$out"; then
		ag_pass "$label: tap_is_append_only() reports the real failure"
	else
		ag_fail "$label: tap_is_append_only() reports the real failure" "$out"
	fi
	ag_is "$(ag_scalar "$db" "SELECT count(*) FROM public.planted_calls")" 0 \
		"$label: the planted functions still never ran"
	ag_sqlstate "$db" 23000 "DELETE FROM t" "$label: DELETE is still refused"
}

setup tap public || exit 1
check_setup "pgTAP in schema tap, decoy in public" "public, tap" tap
setup "" public || exit 1
check_setup "no pgTAP, decoy in public" "public" ""
setup public decoy || exit 1
check_setup "pgTAP in public, decoy in a schema first in the path" "decoy, public" public

ag_drop_database "$db" "${roles[@]}"
ag_done
