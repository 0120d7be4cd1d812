#!/usr/bin/env bash
# scripts/test-majors.sh: what `make test-majors` runs.
#
# Runs the whole suite (scripts/test.sh, as `make test` does) against each
# PostgreSQL major in AG_MAJORS (default: 15 17 18 19), then pg_upgrade from
# 15 to 18 (test/majors/pg_upgrade.sh) when 18 passed and Debian's 15 is
# installed (CI runs `make test` on 15 first, then AG_MAJORS="17 18 19").  A major's
# pg_config is, in this order:
#   - Debian's binary package: /usr/lib/postgresql/MAJOR/bin/pg_config;
#   - a complete build in /opt/ag-pg/MAJOR (AG_PG_ROOT), reused as it is;
#   - a build from Debian's source package, by scripts/pg-major.sh.
# 19 has no Debian source that downloads here: it is tested when a build of
# its REL_19_STABLE branch was installed into /opt/ag-pg/19 by hand (see
# README, "Compatibility"), and skipped otherwise.
#
# Each major is built from clean (`make clean` first): PGXS compares
# timestamps only, so objects compiled against one major would otherwise be
# linked into the library of the next, which then fails to load with an
# undefined symbol.  The tree is left clean at the end for the same reason.
#
# Each major is reported as passed, failed or skipped; skipped means its
# source could not be fetched, and is never counted as passed.  The exit
# status is non-zero when a major failed to build or failed a test.
#
# This installs audit_guard into each major's installation, including the
# system's PostgreSQL 15: run it under the lock the other suites use
# (flock /tmp/ag-pg15.lock make test-majors).

set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
export AG_PG_ROOT=${AG_PG_ROOT:-/opt/ag-pg}
majors=${AG_MAJORS:-15 17 18 19}

declare -A result=() detail=() config=()
passed=0
failed=0
skipped=0

# Print the pg_config of a major, building it when needed; return 2 when its
# source cannot be fetched.
pg_config_of() {
	local major=$1
	if [ -x "/usr/lib/postgresql/$major/bin/pg_config" ]; then
		echo "/usr/lib/postgresql/$major/bin/pg_config"
		return 0
	fi
	bash "$ROOT/scripts/pg-major.sh" "$major"
}

# Build from clean and run the suite against one major.
test_major() {
	local major=$1 pgc=$2 out rc summary
	make -s clean PG_CONFIG="$pgc" >/dev/null 2>&1
	out=$ROOT/test-majors.$major.log
	PG_CONFIG=$pgc bash "$ROOT/scripts/test.sh" 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
	detail[$major]="${summary:-no summary}"
	rm -f "$out"
	return "$rc"
}

for major in $majors; do
	printf '\n==== PostgreSQL %s ====\n' "$major"
	rc=0
	pgc=$(pg_config_of "$major") || rc=$?
	if [ $rc -eq 2 ]; then
		result[$major]=skipped
		detail[$major]="no source could be fetched (nor a build in $AG_PG_ROOT/$major)"
		skipped=$((skipped + 1))
		continue
	elif [ $rc -ne 0 ] || [ -z "$pgc" ]; then
		result[$major]=failed
		detail[$major]="PostgreSQL itself did not build"
		failed=$((failed + 1))
		continue
	fi
	config[$major]=$pgc
	echo "pg_config: $pgc ($("$pgc" --version))"
	if test_major "$major" "$pgc"; then
		result[$major]=passed
		passed=$((passed + 1))
	else
		result[$major]=failed
		failed=$((failed + 1))
	fi
done

# pg_upgrade from 15 to 18, when 18 passed its suite and 15 is installed
# (and passed, when it was tested here).
from=15
to=18
from_config=${config[$from]:-}
if [ -z "${result[$from]:-}" ] && [ -x "/usr/lib/postgresql/$from/bin/pg_config" ]; then
	from_config=/usr/lib/postgresql/$from/bin/pg_config
elif [ "${result[$from]:-}" != passed ]; then
	from_config=
fi
if [ -n "$from_config" ] && [ "${result[$to]:-}" = passed ]; then
	printf '\n==== pg_upgrade %s -> %s ====\n' "$from" "$to"
	if AG_OLD_PG_CONFIG=$from_config AG_NEW_PG_CONFIG=${config[$to]} \
		timeout -k 10 600 bash "$ROOT/test/majors/pg_upgrade.sh"; then
		result[upgrade]=passed
		passed=$((passed + 1))
	else
		result[upgrade]=failed
		failed=$((failed + 1))
	fi
	detail[upgrade]="pg_upgrade $from -> $to"
fi
make -s clean >/dev/null 2>&1

printf '\n==== summary ====\n'
for major in $majors upgrade; do
	[ -n "${result[$major]:-}" ] || continue
	printf '%-8s %-8s %s\n' "$major" "${result[$major]}" "${detail[$major]:-}"
done
echo "test-majors: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
