#!/usr/bin/env bash
# Without audit_guard in shared_preload_libraries, CREATE EXTENSION fails
# with SQLSTATE 55000 and a hint naming the setting, and a table protected
# before the setting was removed still refuses UPDATE (the guard trigger
# cannot run without the library).  Restores the setting at the end.
set -uo pipefail
source "${AG_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}/scripts/cluster.sh"
ag_cluster_attach || exit 1

ag_fresh_database ag_nopreload && ag_fresh_database ag_nopreload_prot || exit 1
ag_psql -d ag_nopreload_prot <<'SQL' >/dev/null || exit 1
CREATE EXTENSION audit_guard;
CREATE TABLE audit_log (id int PRIMARY KEY, note text);
INSERT INTO audit_log VALUES (1, 'one'), (2, 'two');
SELECT audit_guard.protect('audit_log');
SQL
fingerprint="SELECT count(*) || ':' || md5(string_agg(t::text, ',' ORDER BY id)) FROM audit_log t"
want=$(ag_scalar ag_nopreload_prot "$fingerprint")

ag_ok "restart with shared_preload_libraries = ''" \
	ag_conf_override "shared_preload_libraries = ''"
ag_is "$(ag_scalar postgres "SHOW shared_preload_libraries")" "" "the library is not preloaded"

ag_sqlstate ag_nopreload 55000 "CREATE EXTENSION audit_guard" \
	"CREATE EXTENSION without preload fails with 55000"
out=$("$AG_BINDIR/psql" -X -q -d ag_nopreload -c "CREATE EXTENSION audit_guard" 2>&1)
echo "$out" | sed 's/^/#   /'
case "$out" in
*"HINT:"*"shared_preload_libraries"*"audit_guard"*)
	ag_pass "the error has a hint naming shared_preload_libraries and audit_guard" ;;
*)
	ag_fail "the error has a hint naming shared_preload_libraries and audit_guard" "$out" ;;
esac
ag_is "$(ag_scalar ag_nopreload "SELECT count(*) FROM pg_extension WHERE extname = 'audit_guard'")" \
	"0" "no extension was created"
ag_sqlstate ag_nopreload 55000 "LOAD 'audit_guard'" "LOAD of the library is refused too"

# a table protected before the preload was removed
out=$("$AG_BINDIR/psql" -X -q -d ag_nopreload_prot -v VERBOSITY=verbose \
	-c "UPDATE audit_log SET note = 'x'" 2>&1)
echo "$out" | sed 's/^/#   /'
case "$out" in
*ERROR:*) ag_pass "UPDATE on a protected table still fails without preload" ;;
*) ag_fail "UPDATE on a protected table still fails without preload" "$out" ;;
esac
"$AG_BINDIR/psql" -X -q -d ag_nopreload_prot -c "DELETE FROM audit_log" >/dev/null 2>&1
ag_is "$(ag_scalar ag_nopreload_prot "$fingerprint")" "$want" "rows unchanged without preload"

# the CI checks say so, rather than pass on a paper-only guard
ag_is "$(ag_scalar ag_nopreload_prot "SELECT status FROM audit_guard.check('audit_log') WHERE check_name = 'library'")" \
	"failed" "check() reports the library as not loaded"
ag_sqlstate ag_nopreload_prot 42501 \
	"SELECT audit_guard.assert_append_only('audit_log', 'pg_monitor')" \
	"assert_append_only() fails without preload"

ag_ok "restart with the setting restored" ag_conf_reset
ag_is "$(ag_scalar postgres "SHOW shared_preload_libraries")" "audit_guard" "preloaded again"
ag_ok "CREATE EXTENSION works once preloaded" \
	ag_psql -d ag_nopreload -c "CREATE EXTENSION audit_guard"
ag_sqlstate ag_nopreload_prot 23000 "UPDATE audit_log SET note = 'x'" \
	"the protected table refuses UPDATE with 23000 again"

"$AG_BINDIR/psql" -X -q -d ag_nopreload_prot -c "SELECT audit_guard.unprotect('audit_log')" >/dev/null
ag_drop_database ag_nopreload
ag_drop_database ag_nopreload_prot
ag_done
