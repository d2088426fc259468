#!/usr/bin/env bash
# Run every aegis suite (pg_regress, isolation, TAP) under AddressSanitizer
# and UndefinedBehaviorSanitizer with assertions on, PostgreSQL included:
# the stock postgres binary cannot take libasan through LD_PRELOAD (it hangs
# at start), so this builds PostgreSQL 15 itself with
# -fsanitize=address,undefined --enable-cassert into its own prefix, then
# aegis with the same flags against it.  Not part of CI (about 6 minutes to
# build PostgreSQL on 2 cores, once; then about 5 minutes of tests).
# Run as root from the repository:   bash test/sanitize_asan.sh [WORKDIR]
# WORKDIR (default /tmp/aegis_asan) keeps the PostgreSQL build for the next
# run.  Exits non-zero if a test failed or a sanitizer or assertion reported
# anything.  It touches nothing outside WORKDIR: it builds from the upstream
# tarball, not from Debian's patched tree, whose install paths are
# hard-wired to /usr/lib/postgresql.
set -uo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-/tmp/aegis_asan}
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
[ "$(id -u)" = 0 ] || { echo "run as root"; exit 2; }
export ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1
mkdir -p "$work"
pg=$work/pg
P=$pg/bin/pg_config

if [ ! -x "$P" ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq dpkg-dev zlib1g-dev liblz4-dev libzstd-dev libipc-run-perl >/dev/null
	(cd "$work" && apt-get source --download-only -qq postgresql-15) || { echo "apt-get source failed (deb-src needed)"; exit 1; }
	tarball=$(ls "$work"/postgresql-15_*.orig.tar.* | head -1)
	rm -rf "$work/pgsrc" && mkdir "$work/pgsrc" && tar xf "$tarball" -C "$work/pgsrc" --strip-components=1
	(cd "$work/pgsrc" &&
		./configure --prefix="$pg" --enable-cassert --enable-debug --enable-tap-tests \
			--without-llvm --without-icu --without-readline --with-lz4 --with-zstd \
			CFLAGS="-O1 -g $san" LDFLAGS="-fsanitize=address,undefined" >"$work/configure.log" 2>&1 &&
		make -j2 -s >"$work/build.log" 2>&1 && make -s install >>"$work/build.log" 2>&1 &&
		make -s -C contrib/test_decoding install >>"$work/build.log" 2>&1 &&
		make -s -C contrib/pg_walinspect install >>"$work/build.log" 2>&1) ||
		{ echo "building PostgreSQL failed: see $work/configure.log, $work/build.log"; exit 1; }
fi

rm -rf "$work/aegis" && cp -a "$here" "$work/aegis"
(cd "$work/aegis" && make -s clean PG_CONFIG="$P" >/dev/null 2>&1 &&
	make -s PG_CONFIG="$P" with_llvm=no COPT="$san" >"$work/aegis_build.log" 2>&1 &&
	make -s PG_CONFIG="$P" with_llvm=no install >>"$work/aegis_build.log" 2>&1) ||
	{ echo "building aegis failed: see $work/aegis_build.log"; exit 1; }
chown -R postgres "$work"

run() { runuser -u postgres -- env ASAN_OPTIONS=$ASAN_OPTIONS UBSAN_OPTIONS=$UBSAN_OPTIONS "$@"; }
cd "$work/aegis"
status=0
run make -s installcheck PG_CONFIG="$P" ISOLATION= TAP_TESTS= \
	REGRESS_OPTS="--temp-instance=./tmp_regress --temp-config=test/regress.conf" || status=1
run make -s installcheck PG_CONFIG="$P" REGRESS= TAP_TESTS= \
	ISOLATION_OPTS="--inputdir=test --outputdir=output_iso --temp-instance=./tmp_isolation --temp-config=test/regress.conf" || status=1
run make -s installcheck PG_CONFIG="$P" REGRESS= ISOLATION= PROVE_FLAGS=--timer || status=1

pattern='ERROR: AddressSanitizer|runtime error:|TRAP: FailedAssertion'
n=$(cat log/*.log output_iso/log/*.log tmp_check/log/*.log 2>/dev/null | grep -cE "$pattern")
echo "sanitizer and assertion reports: $n"
[ "$n" -eq 0 ] || { cat log/*.log output_iso/log/*.log tmp_check/log/*.log 2>/dev/null | grep -E -A25 "$pattern" | head -150; status=1; }
[ $status -eq 0 ] && echo "sanitize_asan: every suite passed, no report" || echo "sanitize_asan: FAILED (files in $work)"
exit $status
