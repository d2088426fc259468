#!/usr/bin/env bash
# Run the pg_regress and isolation suites against a build of aegis_storage
# with UndefinedBehaviorSanitizer (gcc -fsanitize=undefined, aborting on the
# first report), loaded into the stock PostgreSQL 15.  AddressSanitizer
# cannot be used this way: the stock postgres binary hangs at start (even
# "postgres -V") with libasan in LD_PRELOAD, and its runtime must be loaded
# first; test/sanitize_asan.sh builds PostgreSQL itself with ASan for that,
# and the fuzz targets (test/fuzz) run the decoders under ASan.  Not part of CI (it replaces the installed
# library while it runs).  Run as root from the repository:
#     bash test/sanitize.sh
# It builds in a copy, installs the instrumented library over the installed
# one, runs the suites as the postgres OS user, reinstalls the normal build
# (make install from this tree) and exits non-zero if a test failed or a
# sanitizer reported anything (reports are kept in the printed directory).
set -uo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
pg_config=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
[ "$(id -u)" = 0 ] || { echo "run as root (it installs into $("$pg_config" --pkglibdir))"; exit 2; }
work=$(mktemp -d /tmp/aegis_sanitize.XXXXXX)
reports=$work/reports
cp -a "$here"/. "$work/src"/ 2>/dev/null || { mkdir -p "$work/src" && cp -a "$here"/. "$work/src"/; }
mkdir -p "$reports"
chown -R postgres "$work"

san="-fsanitize=undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
restore() { make -s -C "$here" PG_CONFIG="$pg_config" install >/dev/null; }
trap restore EXIT
make -s -C "$work/src" clean PG_CONFIG="$pg_config" >/dev/null
make -s -C "$work/src" PG_CONFIG="$pg_config" with_llvm=no COPT="$san" >"$work/build.log" 2>&1 ||
	{ cat "$work/build.log"; exit 1; }
make -s -C "$work/src" PG_CONFIG="$pg_config" with_llvm=no install >/dev/null
chown -R postgres "$work"

env="UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$reports/ubsan"
cd "$work/src"
status=0
runuser -u postgres -- env $env make -s installcheck PG_CONFIG="$pg_config" ISOLATION= TAP_TESTS= \
	REGRESS_OPTS="--temp-instance=./tmp_regress --temp-config=test/regress.conf" || status=1
runuser -u postgres -- env $env make -s installcheck PG_CONFIG="$pg_config" REGRESS= TAP_TESTS= \
	ISOLATION_OPTS="--inputdir=test --outputdir=output_iso --temp-instance=./tmp_isolation --temp-config=test/regress.conf" || status=1
# UBSan writes to log_path, or to the server log when a backend has no
# stderr of its own
logs="$reports/* log/*.log output_iso/log/*.log"
n=$(cat $logs 2>/dev/null | grep -c 'runtime error:')
echo "sanitizer reports: $n (in $reports and the instances' logs)"
[ "$n" -eq 0 ] || { cat $logs 2>/dev/null | grep -A30 'runtime error:' | head -120; status=1; }
[ $status -eq 0 ] && echo "sanitize: suites passed, no sanitizer report" || echo "sanitize: FAILED (files in $work)"
exit $status
