#!/usr/bin/env bash
# scripts/pg-major.sh MAJOR: a PostgreSQL MAJOR with contrib and pgTAP in
# /opt/ag-pg/MAJOR, built from Debian's source packages, for the suite to
# run against (scripts/test-majors.sh).  Prints the prefix's pg_config.
#
# An earlier complete build in the prefix is reused as it is.  Otherwise the
# source package postgresql-MAJOR is fetched with apt-get source through a
# sources list of our own (deb-src for trixie and sid, at the URI the
# system's own apt sources name), never touching the system's apt state;
# the orig tarball is built with --without-icu --without-readline
# --with-openssl, installed with contrib, and pgTAP 1.3.4 (sid's source
# package pgtap) is built and installed against it.
#
# The mirror's index can name a version its pool no longer holds (seen:
# trixie's index names 17.12 while the pool holds 17.11).  Then the
# previous upstream minor releases (at most two) are tried from the same
# pool directory, by their .dsc; such a tarball is in no signed index, so
# its sha256 is checked against its .dsc only, and the output says so.
#
# Exit status: 0 built or reused; 2 the source could not be fetched (the
# caller reports the major as skipped); 1 anything else failed.
#
# Environment: AG_PG_ROOT (default /opt/ag-pg) holds one prefix per major;
# AG_PG_JOBS (default 2) for make -j.  Needs dpkg-dev, bison, flex, gcc,
# make, libssl-dev, zlib1g-dev (.ci/run installs them).  Run as root or as
# a user that can write AG_PG_ROOT.

set -uo pipefail

major=${1:?usage: pg-major.sh MAJOR}
root=${AG_PG_ROOT:-/opt/ag-pg}
prefix=$root/$major
jobs=${AG_PG_JOBS:-2}
pgtap_version=1.3.4
complete=$prefix/.ag-complete

say() {
	echo "pg-major $major: $*" >&2
}

# Reuse a build that finished (the marker is written last).
if [ -f "$complete" ] && [ -x "$prefix/bin/pg_config" ]; then
	say "reusing $prefix ($(cat "$complete"))"
	echo "$prefix/bin/pg_config"
	exit 0
fi

mkdir -p "$root" || exit 1
work=$(mktemp -d "${TMPDIR:-/tmp}/ag-pg-$major.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT

# apt with a sources list and state of our own: only deb-src lines.
apt_opts=(-o "Dir::Etc::SourceList=$work/sources.list"
	-o Dir::Etc::SourceParts=/dev/null
	-o "Dir::State::Lists=$work/lists"
	-o "Dir::Cache=$work/cache"
	-o Debug::NoLocking=1)

# Write the sources list from the system's own URI, and fetch its index.
apt_setup() {
	local uri keyring=/usr/share/keyrings/debian-archive-keyring.gpg suite
	uri=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/*.sources 2>/dev/null |
		grep -v -- '-security' | head -n 1)
	if [ -z "$uri" ]; then
		uri=$(sed -n 's/^deb \(\[[^]]*\] \)\{0,1\}\([^ ]*\) .*/\2/p' /etc/apt/sources.list 2>/dev/null |
			grep -v -- '-security' | head -n 1)
	fi
	if [ -z "$uri" ]; then
		say "no Debian URI in the system's apt sources"
		return 1
	fi
	APT_URI=${uri%/}
	mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
	: >"$work/sources.list"
	for suite in trixie sid; do
		echo "deb-src [signed-by=$keyring] $APT_URI $suite main" >>"$work/sources.list"
	done
	apt-get "${apt_opts[@]}" -q update >"$work/apt-update.log" 2>&1 || {
		cat "$work/apt-update.log" >&2
		return 1
	}
}

# Download source package $1 into the current directory with apt-get source;
# on a 404 for the version the index names, try earlier minors of the pool.
fetch_source() {
	local pkg=$1 out version dir upstream debrev minor try cand
	if out=$(apt-get "${apt_opts[@]}" -q source --download-only "$pkg" 2>&1); then
		return 0
	fi
	printf '%s\n' "$out" | tail -n 5 >&2
	version=$(apt-cache "${apt_opts[@]}" showsrc "$pkg" 2>/dev/null |
		sed -n 's/^Version: //p' | sort -V | tail -n 1)
	dir=$(apt-cache "${apt_opts[@]}" showsrc "$pkg" 2>/dev/null |
		sed -n 's/^Directory: //p' | head -n 1)
	if [ -z "$version" ] || [ -z "$dir" ]; then
		say "no index names source package $pkg"
		return 2
	fi
	if ! grep -q ' 404 ' <<<"$out"; then
		say "apt-get source $pkg failed (not a missing file)"
		return 2
	fi
	upstream=${version%%-*}
	# only the orig tarball is built: apt checked it against the index
	if ls "${pkg}_${upstream}".orig.tar.* >/dev/null 2>&1; then
		say "the pool lacks part of $pkg $version (404) but has its orig tarball: using it"
		return 0
	fi
	say "the index names $pkg $version but the pool does not have it (404)"
	debrev=${version#"$upstream"}
	minor=${upstream##*.}
	[[ $minor =~ ^[0-9]+$ ]] || return 2
	for try in 1 2; do
		[ $((minor - try)) -ge 0 ] || break
		cand=${upstream%.*}.$((minor - try))$debrev
		say "trying $pkg $cand from the pool"
		if fetch_from_pool "$pkg" "$cand" "$dir"; then
			say "using $pkg $cand: in no signed index here; sha256 checked against its .dsc only"
			return 0
		fi
	done
	return 2
}

# Fetch $1_$2.dsc from pool directory $3 and the files it lists, checking
# each against the .dsc's sha256.
fetch_from_pool() {
	local pkg=$1 version=$2 dir=$3 dsc sum size file
	dsc=${pkg}_$version.dsc
	/usr/lib/apt/apt-helper download-file "$APT_URI/$dir/$dsc" "$PWD/$dsc" >/dev/null 2>&1 ||
		return 1
	while read -r sum size file; do
		[ -n "$file" ] || continue
		/usr/lib/apt/apt-helper download-file "$APT_URI/$dir/$file" "$PWD/$file" \
			"SHA256:$sum" >/dev/null 2>&1 || return 1
	done < <(sed -n '/^Checksums-Sha256:/,/^[^ ]/{/^ /p}' "$dsc")
}

# Unpack the orig tarball of source package $1 (the current directory holds
# it) into ./$1, and print that directory.
unpack_orig() {
	local pkg=$1 tarball
	tarball=$(ls "${pkg}"_*.orig.tar.* 2>/dev/null | sort -V | tail -n 1)
	[ -n "$tarball" ] || return 1
	mkdir -p "$pkg" && tar -xf "$tarball" -C "$pkg" --strip-components=1 || return 1
	echo "$tarball" >"$pkg/.ag-tarball"
	echo "$PWD/$pkg"
}

cd "$work" || exit 1
say "fetching postgresql-$major and pgtap (Debian source packages)"
apt_setup || exit 2
rc=0
fetch_source "postgresql-$major" || rc=$?
[ $rc -eq 0 ] || exit $rc
if ! fetch_source pgtap; then
	say "pgtap source could not be fetched"
	exit 2
fi
if ! ls pgtap_"$pgtap_version".orig.tar.* >/dev/null 2>&1; then
	say "pgtap $pgtap_version is not what the index names: $(ls pgtap_*.orig.tar.* 2>/dev/null)"
fi

pgsrc=$(unpack_orig "postgresql-$major") || {
	say "no orig tarball"
	exit 1
}
tapsrc=$(unpack_orig pgtap) || exit 1
tarball=$(cat "$pgsrc/.ag-tarball")

say "building $tarball into $prefix (log: $prefix/build.log)"
rm -rf "$prefix"
mkdir -p "$prefix"
log=$prefix/build.log
# PostgreSQL's build makes its generated headers only at MAKELEVEL 0: run
# from `make test-majors`, it must not inherit the outer make's state.
# (set -e does not hold inside a subshell whose status is tested: && it is.)
(
	unset MAKELEVEL MAKEFLAGS MFLAGS MAKEOVERRIDES
	cd "$pgsrc" &&
		./configure --prefix="$prefix" --without-icu --without-readline --with-openssl &&
		make -j"$jobs" -s &&
		make -s install &&
		make -C contrib -j"$jobs" -s &&
		make -C contrib -s install &&
		cd "$tapsrc" &&
		make -s PG_CONFIG="$prefix/bin/pg_config" &&
		make -s PG_CONFIG="$prefix/bin/pg_config" install &&
		test -x "$prefix/bin/pg_config"
) >"$log" 2>&1 || {
	say "build failed; end of $log:"
	tail -n 30 "$log" >&2
	exit 1
}
echo "$tarball, $(ls "$work"/pgtap_*.orig.tar.* | xargs -n1 basename), built $(date -u +%Y-%m-%dT%H:%MZ)" >"$complete"
say "installed $("$prefix/bin/postgres" --version)"
echo "$prefix/bin/pg_config"
