#!/usr/bin/env bash
# bench/callgrind.sh: what audit_guard costs, in instructions, without noise.
#
# Throughput on a shared 2-core machine moves by 10 to 40 % from one run to
# the next, far more than the 1 % the benchmark must resolve.  Instruction
# counts do not: this script runs fixed statement streams in single-user
# mode (postgres --single) under valgrind --tool=callgrind, from identical
# copies of one data directory, with the library not loaded and loaded, at
# two stream lengths.  The difference of the two lengths is the cost per
# transaction, free of start-up; what is left at the shorter length is the
# one-time cost of a backend (loading the library, building the registry
# cache).  Repeated runs agree to a few hundred instructions.
#
# Workloads: TPC-B (pgbench's five statements, fixed random values) and the
# INSERT of bench/insert.sql, each with 1 and 10,000 protected tables, and
# CREATE + DROP TABLE with 10,000.  Prints one table and the audit_guard
# functions that cost most, with the source file of each.
#
# Sealing: INSERT runs no audit_guard code whether the table is sealed or
# not (the rows above), so what sealing costs is seal()'s own work in the
# backend that calls it, measured per row: a seal() of SEAL_ROWS new rows,
# and a second seal() that finds every row sealed already.
#
# Takes about three minutes on two cores.  Not part of `make bench`.
# Environment: BENCH_INSTALL=0 uses the installed build; AG_KEEP=1 keeps
# the directory (and the callgrind.out files) afterwards; CALLGRIND_ONLY=seal
# measures seal() alone (a minute).

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PG_CONFIG=${PG_CONFIG:-pg_config}
AG_BINDIR=$("$PG_CONFIG" --bindir)
export AG_BINDIR
# shellcheck source=scripts/cluster.sh
source "$ROOT/scripts/cluster.sh"

LARGE=10000
SHORT=500
LONG=1500
SEAL_ROWS=20000

say() {
	printf '[%4ds] %s\n' "$SECONDS" "$*" >&2
}

die() {
	say "callgrind: $*"
	exit 1
}

command -v valgrind >/dev/null || die "valgrind is not installed"

if [ "${BENCH_INSTALL:-1}" != 0 ]; then
	say "build and install audit_guard"
	make -s -C "$ROOT" PG_CONFIG="$PG_CONFIG" >&2
	make -s -C "$ROOT" install PG_CONFIG="$PG_CONFIG" >&2
fi

# The statement streams, one statement a line as single-user mode wants.
# awk's srand(1) makes them the same on every run.
tpcb_stream() {
	awk -v n="$1" 'BEGIN {
		srand(1)
		for (i = 0; i < n; i++) {
			aid = int(rand() * 100000) + 1; tid = int(rand() * 10) + 1
			delta = int(rand() * 10001) - 5000
			print "BEGIN;"
			printf "UPDATE pgbench_accounts SET abalance = abalance + %d WHERE aid = %d;\n", delta, aid
			printf "SELECT abalance FROM pgbench_accounts WHERE aid = %d;\n", aid
			printf "UPDATE pgbench_tellers SET tbalance = tbalance + %d WHERE tid = %d;\n", delta, tid
			printf "UPDATE pgbench_branches SET bbalance = bbalance + %d WHERE bid = 1;\n", delta
			printf "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (%d, 1, %d, %d, CURRENT_TIMESTAMP);\n", tid, aid, delta
			print "END;"
		}
	}'
}

insert_stream() {
	awk -v n="$1" 'BEGIN {
		srand(1)
		for (i = 0; i < n; i++) {
			actor = int(rand() * 100000) + 1; octet = int(rand() * 254) + 1
			printf "INSERT INTO audit_guarded (actor, action, payload) VALUES (%d, '"'"'login'"'"', jsonb_build_object('"'"'actor'"'"', %d, '"'"'ip'"'"', '"'"'203.0.113.'"'"' || %d, '"'"'client'"'"', '"'"'pgbench'"'"', '"'"'session'"'"', md5(%d::text)));\n", actor, actor, octet, actor
		}
	}'
}

ddl_stream() {
	awk -v n="$1" 'BEGIN {
		for (i = 0; i < n; i++) {
			print "CREATE TABLE bench_ddl_0 (id integer PRIMARY KEY, note text);"
			print "DROP TABLE bench_ddl_0;"
		}
	}'
}

# seal() streams: none, one, two seal() of seal_cg (which has SEAL_ROWS rows).
seal_base_stream() {
	echo "SELECT 1;"
}

seal_once_stream() {
	echo "SELECT count(*) FROM audit_guard.seal('seal_cg');"
}

seal_twice_stream() {
	seal_once_stream
	seal_once_stream
}

# The template data directory: bench_1 and bench_10000 as run.sh makes them.
prepare() {
	say "prepare a data directory"
	ag_cluster_start || die "the cluster did not start"
	ag_psql -d postgres -c 'CREATE DATABASE bench_1'
	"$AG_BINDIR/pgbench" -i -q -s 1 bench_1 >/dev/null 2>&1 || die "pgbench -i failed"
	ag_psql -d bench_1 -f "$ROOT/bench/setup.sql" >/dev/null
	ag_psql -d bench_1 -v rows=$SEAL_ROWS >/dev/null <<-'EOF'
		CREATE TABLE seal_cg (id bigint PRIMARY KEY, at timestamptz NOT NULL,
								actor text NOT NULL, action text NOT NULL, payload jsonb);
		INSERT INTO seal_cg
		SELECT g, '2026-01-01'::timestamptz + g * interval '1 second', 'user_' || g % 1000,
			   'login', jsonb_build_object('ip', '10.0.' || g % 250 || '.' || g % 200,
										   'agent', 'Mozilla/5.0 (X11; Linux x86_64)',
										   'session', md5(g::text), 'n', g)
		  FROM generate_series(1, :rows) g;
		SELECT audit_guard.protect('seal_cg');
		VACUUM ANALYZE seal_cg;
	EOF
	# the same 20,000 rows in audit_guarded, never sealed and sealed
	ag_psql -d postgres -c "CREATE DATABASE bench_unsealed TEMPLATE bench_1"
	ag_psql -d bench_unsealed -v rows=$SEAL_ROWS >/dev/null <<-'EOF'
		INSERT INTO audit_guarded (actor, action, payload)
		SELECT g, 'login', jsonb_build_object('actor', g, 'ip', '203.0.113.' || g % 254,
											  'client', 'pgbench', 'session', md5(g::text))
		  FROM generate_series(1, :rows) g;
		VACUUM ANALYZE audit_guarded;
	EOF
	ag_psql -d postgres -c "CREATE DATABASE bench_sealed TEMPLATE bench_unsealed"
	ag_psql -d bench_sealed -c "SELECT count(*) FROM audit_guard.seal('audit_guarded')" >/dev/null
	if [ "${CALLGRIND_ONLY:-}" != seal ]; then
		ag_psql -d postgres -c "CREATE DATABASE bench_$LARGE TEMPLATE bench_1"
		ag_psql -d "bench_$LARGE" -c "CALL bench_protect_more($LARGE)"
	fi
	ag_cluster_stop
	CG=$AG_DIR/cg
	mkdir -p "$CG"
	chown --reference="$AG_DIR" "$CG"
}

# One run: ir NAME PRELOAD DB WORKLOAD COUNT; prints the instruction count.
ir() {
	local name=$1 preload=$2 db=$3 workload=$4 count=$5 data
	data=$CG/data.$name
	rm -rf "$data"
	cp -a "$AG_DATA" "$data"
	"${workload}_stream" "$count" >"$CG/$name.sql"
	ag_as_owner valgrind --tool=callgrind --callgrind-out-file="$CG/$name.out" \
		"$AG_BINDIR/postgres" --single -D "$data" \
		-c shared_preload_libraries="$preload" -c autovacuum=off "$db" \
		<"$CG/$name.sql" >"$CG/$name.log" 2>&1 || die "$name failed; see $CG/$name.log"
	rm -rf "$data"
	! grep -m 3 'ERROR' "$CG/$name.log" >&2 || die "$name: statements failed"
	sed -n 's/^==[0-9]*== Collected : \([0-9]*\)$/\1/p' "$CG/$name.log"
}

# Four runs, two at a time; prints "per-tx off, per-tx on, one-time on".
measure() {
	local db=$1 workload=$2 tag="$1.$2" a b c d
	say "$workload in $db"
	ir "$tag.off.short" '' "$db" "$workload" $SHORT >"$CG/$tag.1" &
	ir "$tag.on.short" audit_guard "$db" "$workload" $SHORT >"$CG/$tag.2"
	wait $! || die "$tag.off.short failed"
	ir "$tag.off.long" '' "$db" "$workload" $LONG >"$CG/$tag.3" &
	ir "$tag.on.long" audit_guard "$db" "$workload" $LONG >"$CG/$tag.4"
	wait $! || die "$tag.off.long failed"
	a=$(cat "$CG/$tag.1") b=$(cat "$CG/$tag.2") c=$(cat "$CG/$tag.3") d=$(cat "$CG/$tag.4")
	awk -v a="$a" -v b="$b" -v c="$c" -v d="$d" -v n=$((LONG - SHORT)) -v s=$SHORT \
		'BEGIN { off = (c - a) / n; on = (d - b) / n
				 printf "%.0f %.0f %.0f\n", off, on, (b - a) - s * (on - off) }'
}

# INSERT with the library loaded, into audit_guarded never sealed and
# sealed (the same rows): "Ir/tx unsealed, Ir/tx sealed".
measure_sealed_insert() {
	local a b c d
	say "INSERT into a table never sealed and sealed"
	ir insert.unsealed.short audit_guard bench_unsealed insert $SHORT >"$CG/ins.1" &
	ir insert.sealed.short audit_guard bench_sealed insert $SHORT >"$CG/ins.2"
	wait $! || die "insert.unsealed.short failed"
	ir insert.unsealed.long audit_guard bench_unsealed insert $LONG >"$CG/ins.3" &
	ir insert.sealed.long audit_guard bench_sealed insert $LONG >"$CG/ins.4"
	wait $! || die "insert.unsealed.long failed"
	a=$(cat "$CG/ins.1") b=$(cat "$CG/ins.2") c=$(cat "$CG/ins.3") d=$(cat "$CG/ins.4")
	awk -v a="$a" -v b="$b" -v c="$c" -v d="$d" -v n=$((LONG - SHORT)) \
		'BEGIN { printf "%.0f %.0f\n", (c - a) / n, (d - b) / n }'
}

# seal() per row: "Ir per new row sealed, Ir per sealed row re-read".
measure_seal() {
	local base once twice
	say "seal() of $SEAL_ROWS rows"
	base=$(ir seal.base audit_guard bench_1 seal_base 1)
	once=$(ir seal.once audit_guard bench_1 seal_once 1)
	twice=$(ir seal.twice audit_guard bench_1 seal_twice 1)
	awk -v a="$base" -v b="$once" -v c="$twice" -v n=$SEAL_ROWS \
		'BEGIN { printf "%.0f %.0f\n", (b - a) / n, (c - b) / n }'
}

row() {
	local label=$1 off on fixed
	read -r off on fixed
	awk -v l="$label" -v off="$off" -v on="$on" -v fixed="$fixed" 'BEGIN {
		printf "| %s | %d | %d | +%d (%.2f %%) | %.4f | %.1f M |\n",
			l, off, on, on - off, (on - off) * 100 / off, off / on, fixed / 1e6 }'
}

seal_table() {
	measure_sealed_insert | {
		read -r unsealed sealed
		echo "| INSERT jsonb, library loaded, $SEAL_ROWS rows in the table | Ir/tx |"
		echo "|---|--:|"
		echo "| never sealed | $unsealed |"
		echo "| every row sealed (seal() ran before) | $sealed |"
		awk -v u="$unsealed" -v s="$sealed" 'BEGIN { printf "| ratio never / sealed | %.4f |\n", u / s }'
	}
	echo
	measure_seal | {
		read -r new again
		echo "| seal(), per row, $SEAL_ROWS rows of about 200 bytes | Ir |"
		echo "|---|--:|"
		echo "| a new row: read, encoded, hashed, stored | $new |"
		echo "| a row sealed already: read, skipped by its inserting transaction (the previous seal saw it) | $again |"
	}
}

main() {
	local out
	prepare
	if [ "${CALLGRIND_ONLY:-}" = seal ]; then
		seal_table
		return
	fi
	out=$(
		echo "| workload | Ir/tx, library not loaded | Ir/tx, loaded | difference | ratio | one-time Ir per backend |"
		echo "|---|--:|--:|--:|--:|--:|"
		measure bench_1 tpcb | row "TPC-B, 1 protected table"
		measure "bench_$LARGE" tpcb | row "TPC-B, $LARGE protected tables"
		measure bench_1 insert | row "INSERT jsonb into an audit_guard table, 1 protected table"
		measure "bench_$LARGE" insert | row "INSERT jsonb into an audit_guard table, $LARGE protected tables"
		measure "bench_$LARGE" ddl | row "CREATE + DROP TABLE, $LARGE protected tables"
	)
	echo
	echo "$out"
	echo
	echo "Ir: instructions counted by callgrind in one single-user backend;"
	echo "ratio = Ir/tx not loaded / Ir/tx loaded (a speed ratio, as in run.sh)."
	echo "One-time: what the loaded backend executes beyond the other, apart"
	echo "from the per-transaction difference (library load, registry cache)."
	echo
	seal_table
	echo
	echo "Sealing every second at R inserts/s into a table of T rows costs, in the"
	echo "backend that calls seal(), about T x (row sealed already) + R x (new row)"
	echo "instructions a second; the INSERT backends run the same code as unsealed."
	echo
	echo "audit_guard functions by instructions, TPC-B with $LARGE protected tables ($LONG transactions):"
	top_functions "$CG/bench_$LARGE.tpcb.on.long.out"
}

# The audit_guard functions that cost most in one profile: inclusive (with
# their callees; the hooks, which include the executor or utility work they
# chain to, are left out) and exclusive.
top_functions() {
	local how
	for how in yes no; do
		[ $how = yes ] && echo "inclusive:" || echo "exclusive:"
		callgrind_annotate --auto=no --threshold=100 --inclusive=$how "$1" 2>/dev/null |
			grep 'audit_guard\.so' |
			{ [ $how = yes ] && grep -v '_Executor\(Start\|Finish\)\|_ProcessUtility \|_object_access ' || cat; } |
			head -n 8 || true
	done
}

main "$@"
