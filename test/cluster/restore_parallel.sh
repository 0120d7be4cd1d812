#!/usr/bin/env bash
# Parallel restore, pg_restore -j (issue 10).
#
# In parallel mode pg_restore loads each table it created in the same run
# inside a transaction that starts with TRUNCATE TABLE ONLY
# (pg_backup_archiver.c, restore_toc_entry), so that the COPY need not be
# WAL-logged.  The data items run in any order, so the registry's rows may
# be loaded first: the table is then protected when its own data item
# truncates it.  audit_guard lets TRUNCATE through on a protected table
# that holds no block, checked under the lock TRUNCATE takes (it removes
# nothing).  Seen failing in about one run in six with -j 4 before that.
set -uo pipefail
ROOT=${AG_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
source "$ROOT/scripts/cluster.sh"
source "$ROOT/test/cluster/restore_lib.bash"
ag_cluster_attach || exit 1

rm_make_source || exit 1
rm_source_state
rm -rf "$AG_DIR/rmpar.dir"
ag_ok "pg_dump, directory" "$AG_BINDIR/pg_dump" -Fd -d "$RM_SRC" -f "$AG_DIR/rmpar.dir"

failures=0
for run in 1 2 3 4 5 6 7 8 9 10 11 12; do
	rm_target ag_rm_par >/dev/null
	RM_OUT=$("$AG_BINDIR/pg_restore" --exit-on-error -j 4 -d ag_rm_par "$AG_DIR/rmpar.dir" 2>&1)
	if [ $? -ne 0 ] || [ "$(ag_scalar ag_rm_par "$RM_DATA" 2>/dev/null)" != "$RM_WANT_DATA" ]; then
		failures=$((failures + 1))
		[ "$failures" -eq 1 ] && printf '%s\n' "$RM_OUT" | head -n 8 | sed 's/^/#   /'
	fi
done
ag_is "$failures" 0 "pg_restore -j 4, twelve times: every run restores every row"
rm_verify_same ag_rm_par "pg_restore -j 4"

ag_drop_database ag_rm_par >/dev/null
ag_drop_database "$RM_SRC" >/dev/null
ag_psql -d postgres -c "DROP ROLE regress_rm_owner, regress_rm_audit, regress_rm_app, regress_rm_restorer" >/dev/null
ag_done
