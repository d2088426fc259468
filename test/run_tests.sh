#!/usr/bin/env bash
# Run every aegis_storage test against the installed extension (make install
# first): pg_regress files (sql/), isolation specs (test/specs), TAP tests
# (test/t) and a short run of the fuzz targets (test/fuzz).  PostgreSQL refuses to run as root, so as root the tree is copied
# to a temporary directory owned by the postgres OS user and run from there;
# as root it also mounts a 48 MB tmpfs for the full-disk test (skipped
# without one).
# Ends with one line "tests: N passed, N failed"; exits non-zero on failure.
set -uo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
if [ "$(id -u)" = 0 ]; then
	work=$(mktemp -d /tmp/aegis_tests.XXXXXX)
	cp -a "$here"/. "$work"/
	chown -R postgres "$work"
	# a small real filesystem for the full-disk test (test/t/015_full_disk.pl)
	smallfs=$(mktemp -d /tmp/aegis_smallfs.XXXXXX)
	if mount -t tmpfs -o size=48m,mode=0700 tmpfs "$smallfs" 2>/dev/null; then
		chown postgres "$smallfs"
		export AEGIS_TEST_SMALLFS=$smallfs
	fi
	runuser -u postgres -- bash "$work/test/run_tests.sh"
	rc=$?
	if [ -n "${AEGIS_TEST_SMALLFS:-}" ]; then
		umount "$smallfs" 2>/dev/null || umount -l "$smallfs"
	fi
	rmdir "$smallfs" 2>/dev/null
	if [ $rc -eq 0 ]; then
		rm -rf "$work"
	else
		echo "test files kept in $work (regression.diffs, output_iso/, tmp_check/log/)"
	fi
	exit $rc
fi

cd "$here"
export PATH="$(pg_config --bindir):$PATH"
out=$(mktemp)
status=0

echo "== pg_regress (sql/, expected/) =="
make -s installcheck ISOLATION= TAP_TESTS= \
	REGRESS_OPTS="--temp-instance=./tmp_regress --temp-config=test/regress.conf" \
	2>&1 | tee "$out" || status=1
[ -f regression.diffs ] && { echo "--- regression.diffs ---"; head -c 20000 regression.diffs; }

echo "== isolation (test/specs, test/expected) =="
make -s installcheck REGRESS= TAP_TESTS= \
	ISOLATION_OPTS="--inputdir=test --outputdir=output_iso --temp-instance=./tmp_isolation --temp-config=test/regress.conf" \
	2>&1 | tee -a "$out" || status=1
[ -f output_iso/regression.diffs ] && { echo "--- isolation diffs ---"; head -c 20000 output_iso/regression.diffs; }

echo "== TAP (test/t) =="
make -s installcheck REGRESS= ISOLATION= PROVE_FLAGS="--timer" 2>&1 | tee -a "$out" || status=1

echo "== fuzz (test/fuzz: decoders of on-disk and WAL bytes, ${AEGIS_FUZZ_SECONDS:-15} s each) =="
bash test/fuzz/run.sh "${AEGIS_FUZZ_SECONDS:-15}" 2>&1 | tee -a "$out" || status=1

# pg_regress/isolation: "test name ... ok"; prove: "test/t/x.pl .. ok"
passed=$(grep -cE '\.\.\. ok|\.pl \.+ ok' "$out")
failed=$(grep -cE '\.\.\. FAILED|\.\.\. failed|^Dubious, test returned' "$out")
rm -f "$out"
[ "$failed" -gt 0 ] && status=1
echo "tests: $passed passed, $failed failed"
exit $status
