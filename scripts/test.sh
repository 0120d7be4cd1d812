#!/usr/bin/env bash
# scripts/test.sh: what `make test` runs.
#
# Builds and installs audit_guard, starts a throwaway cluster that preloads
# it (scripts/cluster.sh), then runs against that cluster:
#   1. the pg_regress suites (sql/, expected/) through `make installcheck`;
#   2. the pgTAP suites (test/*.sql) with pg_prove, one file at a time, in a
#      database that has pgtap and audit_guard installed;
#   3. the real-cluster scenarios (test/cluster/*.sh): restart, dump and
#      restore, missing preload, several sessions.
# The cluster is always stopped and removed.  Every pg_regress test, pgTAP
# file and scenario counts as one suite; the last line is
# "N passed, N failed" and the exit status is non-zero on any failure.
#
# Environment: PG_CONFIG (default pg_config); AG_WERROR (default 1: build
# with -Werror; 0 warns only); AG_KEEP=1 keeps the cluster
# directory after the run; AG_ONLY=regress|tap|cluster runs one kind only,
# AG_SCENARIO=<glob> only the cluster scenarios whose names match.

set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
export PG_CONFIG=${PG_CONFIG:-pg_config}
# the tests build with -Werror (the default build warns only)
export AG_WERROR=${AG_WERROR:-1}
AG_BINDIR=$("$PG_CONFIG" --bindir)
export AG_ROOT=$ROOT AG_BINDIR

# shellcheck source=scripts/cluster.sh
source "$ROOT/scripts/cluster.sh"

passed=0
failed=0
failures=()

# Count one suite's result.
record() {
	local name=$1 rc=$2
	if [ "$rc" -eq 0 ]; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		failures+=("$name")
	fi
}

# Print the summary and leave; the EXIT trap removes the cluster.
finish() {
	local f
	echo
	if [ ${#failures[@]} -gt 0 ]; then
		echo "failed:"
		for f in "${failures[@]}"; do
			echo "  $f"
		done
	fi
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
	exit $?
}

section() {
	printf '\n== %s ==\n' "$*"
}

wants() {
	[ -z "${AG_ONLY:-}" ] || [ "$AG_ONLY" = "$1" ]
}

section "build and install"
if ! ag_build_install; then
	record build-install 1
	finish
fi

section "start a throwaway cluster"
if ! ag_cluster_start; then
	record cluster-start 1
	finish
fi
echo "cluster: $AG_DIR, port $PGPORT"

# 1. pg_regress, through PGXS, against the running cluster.
run_regress() {
	local out rc line name
	section "pg_regress (sql/)"
	rm -rf results regression.diffs regression.out
	out=$(timeout -k 10 300 make -s installcheck PG_CONFIG="$PG_CONFIG" 2>&1)
	rc=$?
	printf '%s\n' "$out"
	# one suite per test: "test 01_api ... ok" / "... FAILED" (up to 15),
	# "ok 1 - 01_api" / "not ok 1 - 01_api" (16 and later)
	local counted=0
	while IFS= read -r line; do
		if [[ $line =~ ^(ok|not\ ok)\ [0-9]+[[:space:]]+-[[:space:]]+([A-Za-z0-9_]+) ]]; then
			counted=$((counted + 1))
			record "pg_regress ${BASH_REMATCH[2]}" $([ "${BASH_REMATCH[1]}" = ok ] && echo 0 || echo 1)
		elif [[ $line =~ ^(test|[[:space:]]+)[[:space:]]*([A-Za-z0-9_]+)[[:space:]]+\.\.\.[[:space:]]+(ok|FAILED|failed) ]]; then
			name=${BASH_REMATCH[2]}
			counted=$((counted + 1))
			if [ "${BASH_REMATCH[3]}" = ok ]; then
				record "pg_regress $name" 0
			else
				record "pg_regress $name" 1
			fi
		fi
	done <<<"$out"
	if [ "$rc" -ne 0 ]; then
		[ "$counted" -gt 0 ] || record "pg_regress" 1
		if [ -f regression.diffs ]; then
			section "regression.diffs"
			cat regression.diffs
		fi
	fi
}

# 2. pgTAP: each test/*.sql file is a suite, in a database of its own kind.
run_tap() {
	local f files=()
	section "pgTAP (test/*.sql)"
	for f in test/*.sql; do
		[ -e "$f" ] && files+=("$f")
	done
	if [ ${#files[@]} -eq 0 ]; then
		echo "no pgTAP files"
		return
	fi
	if ! ag_psql -d postgres -c 'CREATE DATABASE ag_tap' ||
		! ag_psql -d ag_tap -c 'CREATE EXTENSION pgtap' \
			-c 'CREATE EXTENSION audit_guard'; then
		record "pgTAP setup" 1
		return
	fi
	for f in "${files[@]}"; do
		timeout -k 10 120 pg_prove --psql-bin "$AG_BINDIR/psql" --ext .sql -d ag_tap "$f"
		record "pgTAP $f" $?
	done
}

# 3. Real-cluster scenarios, each a bash script run against this cluster.
run_cluster_scripts() {
	local s rc
	section "cluster scenarios (test/cluster/*.sh)"
	for s in test/cluster/${AG_SCENARIO:-*}.sh; do
		[ -e "$s" ] || continue
		echo "-- $s"
		timeout -k 10 180 bash "$s"
		rc=$?
		echo "-- $s: $([ $rc -eq 0 ] && echo ok || echo "FAILED (exit $rc)")"
		record "cluster $s" $rc
		# leave the next scenario a running cluster with the usual settings
		if [ -e "$AG_DATA/override.conf" ] || ! ag_cluster_running; then
			echo "-- restoring the cluster after $s"
			ag_as_owner rm -f "$AG_DATA/override.conf"
			ag_cluster_stop >/dev/null 2>&1
			ag_pg_ctl_start || {
				record "cluster restore after $s" 1
				return
			}
		fi
	done
}

wants regress && run_regress
wants tap && run_tap
wants cluster && run_cluster_scripts
finish
