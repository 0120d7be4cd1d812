#!/usr/bin/env bash
# scripts/test-package.sh: what `make test-package` runs (CI's last step).
#
# Builds the Debian package the way PostgreSQL's extension packages are
# built (debian/, pg_buildext, `dpkg-buildpackage -us -uc -b`) from a copy
# of this tree (the committed files plus uncommitted changes to them), so
# that nothing is written next to the checkout.  Then installs
# postgresql-15-audit-guard, checks that the files PostgreSQL loads are the
# package's, runs the demo (scripts/demo.sh) in a fresh cluster against the
# installed files, and removes the package again.
#
# Installing the package replaces the library that `make test` installed
# into the system's PostgreSQL: run it last, and under the lock the other
# suites use (flock /tmp/ag-pg15.lock make test-package).  Needs root,
# debhelper, postgresql-server-dev-all and dpkg-dev (.ci/run installs them).

set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
major=${AG_PACKAGE_MAJOR:-15}
pg_config=/usr/lib/postgresql/$major/bin/pg_config
pkg=postgresql-$major-audit-guard
passed=0
failed=0

check() {
	local desc=$1
	shift
	if "$@"; then
		echo "ok - $desc"
		passed=$((passed + 1))
	else
		echo "not ok - $desc"
		failed=$((failed + 1))
	fi
}

finish() {
	echo "package: $passed passed, $failed failed"
	[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
	exit $?
}

work=$(mktemp -d /tmp/ag-package.XXXXXX) || exit 1
installed=0
cleanup() {
	[ "$installed" = 1 ] && dpkg -r "$pkg" >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT

# the tree as committed, with uncommitted changes to tracked files
rev=$(git stash create 2>/dev/null)
mkdir "$work/src"
git archive "${rev:-HEAD}" | tar -x -C "$work/src" || exit 1

echo "== dpkg-buildpackage -us -uc -b =="
if ! (cd "$work/src" && dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1; then
	tail -n 40 "$work/build.log"
	check "dpkg-buildpackage -us -uc -b" false
	finish
fi
deb=$(ls "$work"/"$pkg"_*.deb 2>/dev/null | head -n 1)
check "dpkg-buildpackage produced $pkg" test -n "$deb"
[ -n "$deb" ] || finish
grep -E 'warning:' "$work/build.log" && echo "(compiler warnings above)"
dpkg-deb -c "$deb" | awk '{print $NF}' | grep -E '\.so$|\.control$|\.sql$'

echo "== install =="
check "dpkg -i $(basename "$deb")" dpkg -i "$deb"
installed=1
lib=$("$pg_config" --pkglibdir)/audit_guard.so
share=$("$pg_config" --sharedir)/extension
check "the library PostgreSQL loads belongs to $pkg" \
	test "$(dpkg -S "$lib" 2>/dev/null | cut -d: -f1)" = "$pkg"
check "the control file belongs to $pkg" \
	test "$(dpkg -S "$share/audit_guard.control" 2>/dev/null | cut -d: -f1)" = "$pkg"
check "every SQL script of the tree is in the package" \
	bash -c 'for f in audit_guard--*.sql; do dpkg -S "'"$share"'/$f" >/dev/null 2>&1 || exit 1; done'
check "the installed library is the package's file, unchanged" \
	dpkg --verify "$pkg"

echo "== the demo against the installed files =="
check "scripts/demo.sh in a fresh cluster" \
	env AG_INSTALLED=1 PG_CONFIG="$pg_config" timeout -k 10 300 bash scripts/demo.sh

echo "== remove =="
check "dpkg -r $pkg" dpkg -r "$pkg"
installed=0
check "the library is gone with the package" test ! -e "$lib"
finish
