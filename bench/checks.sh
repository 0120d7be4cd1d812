#!/usr/bin/env bash
# bench/checks.sh: what one table's privilege checks cost with many roles.
#
# Issue 10: assert_append_only(), append_only_problems() and privileges(tbl)
# took about 190 ms each at 500 roles, because they walked the paths of
# every role in the cluster.  This script builds one role graph (BENCH_ROLES
# login roles, default 500, each a member of four of 60 group roles, which
# form a graph where group g belongs to groups g/2 and g/3, so that a role
# reaches a group near the top through many chains; one of the top five
# groups holds UPDATE on each table, so that about 500 roles can change
# it) and BENCH_TABLES protected tables
# (default 1,000), in two databases: one with extension version 1.0, one
# with 1.1, on the same throwaway cluster.  It then times each function on
# one table, BENCH_CALLS calls each (default 20), and prints the median and
# the slowest call in milliseconds.  Target: one table's check <= 10 ms at
# 500 roles.
#
# Environment: BENCH_ROLES, BENCH_TABLES, BENCH_CALLS, BENCH_INSTALL=0 (use
# the installed audit_guard), AG_KEEP=1.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export PG_CONFIG=${PG_CONFIG:-pg_config}
AG_BINDIR=$("$PG_CONFIG" --bindir)
export AG_BINDIR AG_ROOT=$ROOT
ROLES=${BENCH_ROLES:-500}
TABLES=${BENCH_TABLES:-1000}
CALLS=${BENCH_CALLS:-20}

# shellcheck source=scripts/cluster.sh
source "$ROOT/scripts/cluster.sh"
if [ "${BENCH_INSTALL:-1}" != 0 ]; then
	ag_build_install >/dev/null
fi
ag_cluster_start >/dev/null

# Roles are cluster-wide: build them once.
ag_psql -d postgres <<SQL >/dev/null
CREATE ROLE bench_owner;
CREATE ROLE bench_audit_owner;
CREATE ROLE bench_app LOGIN;
DO \$\$
BEGIN
	FOR g IN 1..60 LOOP
		EXECUTE format('CREATE ROLE bench_group_%s', g);
		IF g > 1 THEN
			EXECUTE format('GRANT bench_group_%s TO bench_group_%s', g / 2, g);
		END IF;
		IF g > 3 THEN
			EXECUTE format('GRANT bench_group_%s TO bench_group_%s', g / 3, g);
		END IF;
	END LOOP;
	FOR u IN 1..$ROLES LOOP
		EXECUTE format('CREATE ROLE bench_user_%s LOGIN', u);
		EXECUTE format('GRANT bench_group_%s, bench_group_%s, bench_group_%s, bench_group_%s TO bench_user_%s',
					   1 + u % 60, 1 + (u * 7 + 1) % 60, 1 + (u * 13 + 2) % 60, 1 + (u * 31 + 3) % 60, u);
	END LOOP;
END
\$\$;
SQL

for version in 1.0 1.1; do
	db=bench_checks_${version/./_}
	ag_psql -d postgres -c "CREATE DATABASE $db" >/dev/null
	# one transaction per table: a thousand in one would run out of locks
	ag_psql -d "$db" <<SQL >/dev/null
CREATE EXTENSION audit_guard VERSION '$version';
SELECT format('CREATE TABLE audit_%s (id bigserial PRIMARY KEY, at timestamptz DEFAULT now(), payload jsonb)', t),
	   format('ALTER TABLE audit_%s OWNER TO bench_owner', t),
	   format('GRANT SELECT, INSERT ON audit_%s TO bench_app', t),
	   format('GRANT USAGE ON SEQUENCE audit_%s_id_seq TO bench_app', t),
	   format('GRANT SELECT ON audit_%s TO bench_group_%s', t, 1 + t % 60),
	   format('GRANT UPDATE ON audit_%s TO bench_group_%s', t, 1 + t % 5),
	   format('SELECT audit_guard.protect(%L, %L)', 'audit_' || t, 'bench_audit_owner')
  FROM generate_series(1, $TABLES) AS t
\gexec
ANALYZE;
SQL
done

# Run one PL/pgSQL statement CALLS times in a fresh session (the first call
# included: a migration asserts each table once); print "median max" in ms.
# An insufficient_privilege error (a failed assertion) counts as a result.
time_calls() {
	local db=$1 stmt=$2 calls=${3:-$CALLS}
	ag_psql -d "$db" -At <<SQL
CREATE TEMP TABLE timings (ms float8);
DO \$\$
DECLARE
	t0 timestamptz;
BEGIN
	FOR i IN 1..$calls LOOP
		t0 := clock_timestamp();
		BEGIN
			$stmt;
		EXCEPTION WHEN insufficient_privilege THEN
			NULL;
		END;
		INSERT INTO timings VALUES (extract(epoch FROM clock_timestamp() - t0) * 1000);
	END LOOP;
END
\$\$;
SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 2) || ' ' ||
	   round(max(ms)::numeric, 2) FROM timings;
SQL
}

printf '%-58s %7s %10s %11s\n' "statement ($ROLES login roles, $TABLES protected tables)" version "median ms" "slowest ms"
for stmt in \
	"PERFORM audit_guard.assert_append_only('audit_50', 'bench_app')" \
	"PERFORM audit_guard.assert_append_only('audit_50', 'bench_user_5')" \
	"PERFORM audit_guard.append_only_problems('audit_50', 'bench_app')" \
	"PERFORM * FROM audit_guard.privileges('audit_50')" \
	"PERFORM * FROM audit_guard.check('audit_50')" \
	"PERFORM * FROM audit_guard.privileges()"; do
	for version in 1.0 1.1; do
		# every table at once returns about 560 rows a table: 3 calls
		calls=$CALLS
		[[ $stmt == *"privileges()"* ]] && calls=3
		read -r med max < <(time_calls "bench_checks_${version/./_}" "$stmt" "$calls")
		label=${stmt#PERFORM }
		label=${label#\* FROM }
		printf '%-58s %7s %10s %11s\n' "${label:0:58}" "$version" "$med" "$max"
	done
done
