#!/usr/bin/env bash
# make bench must not rot: its smoke run (about 25 seconds, every workload,
# bench/purge.sh's too, figures meaningless) on throwaway clusters of its
# own.  Uses the library the harness installed.
set -uo pipefail
root="${AG_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
source "$root/scripts/cluster.sh"

log=$(mktemp)
if BENCH_SMOKE=1 BENCH_INSTALL=0 bash "$root/bench/run.sh" >"$log" 2>&1 &&
	grep -q '^| (5) CREATE + DROP TABLE' "$log" &&
	grep -q '^| (6) INSERT jsonb: PL/pgSQL hash-chain trigger' "$log" &&
	grep -q '^| audit_guard.verify() |' "$log" &&
	grep -q '^| .purge()., rows sealed beforehand' "$log" &&
	grep -q '^| during purge() |' "$log"; then
	ag_pass "make bench smoke run prints its table"
else
	sed 's/^/#   /' "$log" | tail -40
	ag_fail "make bench smoke run prints its table" "see the output above"
fi
rm -f "$log"
ag_done
