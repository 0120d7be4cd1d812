#!/usr/bin/env bash
# Sealing scheduled from pg_cron, the way README.md documents it: the job
# belongs to a LOGIN role that is a member of the (NOLOGIN) designated
# owner role, and runs SELECT audit_guard.seal() every minute (every
# second where pg_cron supports it, 1.5 and later).  Waits at most 75
# seconds for a run.  Skipped, as a pass, when pg_cron is not installed.
# Restores the setting at the end.
set -uo pipefail
source "${AG_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}/scripts/cluster.sh"
ag_cluster_attach || exit 1

if [ ! -e "$("${PG_CONFIG:-pg_config}" --sharedir)/extension/pg_cron.control" ]; then
	ag_pass "# SKIP pg_cron is not installed (apt-get install postgresql-15-cron)"
	ag_done
	exit
fi

db=ag_seal_cron
ag_fresh_database "$db" regress_cron_owner || exit 1
ag_psql -d postgres -c "DROP ROLE IF EXISTS regress_cron_sealer" \
	-c "CREATE ROLE regress_cron_sealer LOGIN IN ROLE regress_cron_owner" >/dev/null || exit 1
ag_ok "restart with pg_cron preloaded, its jobs in $db, connecting over the socket" \
	ag_conf_override "shared_preload_libraries = 'audit_guard,pg_cron'" \
	"cron.database_name = '$db'" "cron.host = '$AG_DIR'"
ag_psql -d "$db" <<'SQL' >/dev/null || exit 1
CREATE EXTENSION audit_guard;
CREATE EXTENSION pg_cron;
GRANT USAGE ON SCHEMA cron TO regress_cron_sealer;
CREATE TABLE audit_log (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(),
						actor text NOT NULL);
INSERT INTO audit_log (actor) SELECT 'user_' || g FROM generate_series(1, 500) g;
SELECT audit_guard.protect('audit_log', owner => 'regress_cron_owner');
SQL

# the job, as the LOGIN member of the designated owner role
schedule=$(ag_scalar "$db" "SET ROLE regress_cron_sealer;
	SELECT cron.schedule('audit_guard seal', '1 seconds', 'SELECT audit_guard.seal()')" 2>/dev/null ||
	ag_scalar "$db" "SET ROLE regress_cron_sealer;
	SELECT cron.schedule('audit_guard seal', '* * * * *', 'SELECT audit_guard.seal()')")
ag_ok "regress_cron_sealer schedules SELECT audit_guard.seal() (job $schedule)" test -n "$schedule"
ag_is "$(ag_scalar "$db" "SELECT username FROM cron.job WHERE jobname = 'audit_guard seal'")" \
	"regress_cron_sealer" "the job runs as regress_cron_sealer"

ran=0
for ((i = 0; i < 750; i++)); do
	if [ "$(ag_scalar "$db" "SELECT count(*) FROM audit_guard.seal_blocks WHERE relid = 'audit_log'::regclass")" != 0 ]; then
		ran=1
		break
	fi
	sleep 0.1
done
ag_is "$ran" "1" "the job sealed the table within 75 seconds"
ag_is "$(ag_scalar "$db" "SELECT sealed_by || ' ' || row_count FROM audit_guard.seal_blocks
	WHERE relid = 'audit_log'::regclass AND block = 1")" "regress_cron_sealer 500" \
	"block 1: 500 rows, sealed by the job's role"
ag_is "$(ag_scalar "$db" "SELECT status FROM cron.job_run_details ORDER BY start_time LIMIT 1")" \
	"succeeded" "pg_cron records the run as succeeded"
ag_is "$(ag_scalar "$db" "SELECT count(*) FROM audit_guard.verify()")" "0" "verify() finds the table intact"

ag_ok "the job is unscheduled by its owner" ag_psql -d "$db" -c "SET ROLE regress_cron_sealer" \
	-c "SELECT cron.unschedule('audit_guard seal')"
ag_ok "restart without pg_cron" ag_conf_reset
ag_drop_database "$db"
ag_psql -d postgres -c "DROP ROLE regress_cron_sealer" -c "DROP ROLE regress_cron_owner" >/dev/null
ag_done
