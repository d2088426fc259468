#!/usr/bin/env bash
# pg_core_suites.sh - run PostgreSQL's own core regression suite
# (src/test/regress, parallel_schedule) and isolation suite
# (src/test/isolation, isolation_schedule) twice on the same server build:
# once with heap as the default table access method (the baseline) and once
# with default_table_access_method = aegis, then report which tests give
# different output with aegis than with heap.
#
# Run as root on Debian 12 with postgresql-15 and postgresql-server-dev-15:
#
#     bash test/pg_core_suites.sh            # both suites, heap then aegis
#
# Environment (all optional):
#     OUT_DIR       where everything is written             (/tmp/aegis_core_suites)
#     PG_SRC_CACHE  cache of the `apt-get source` tree      (/tmp/pg15src)
#     AEGIS_REPO    git repository of aegis_storage         (this checkout)
#     AEGIS_REF     commit of it to build                   (HEAD)
#     PORT_BASE     first TCP port; uses PORT_BASE..+3      (54710)
#     SUITES        "regress isolation" or one of them
#     AMS           "heap aegis" (heap is the baseline); add "vanilla" for a
#                   run without the extension (not preloaded, not created),
#                   to tell its effects from those of the test sources' version
#     REGRESS_TESTS / ISOLATION_TESTS
#                   run these tests instead of the schedule (quick checks;
#                   regress tests may depend on earlier ones, e.g. test_setup)
#     ISOLATION_EXTRA specs run after isolation_schedule
#                   ("prepared-transactions prepared-transactions-cic", as
#                   the Makefile's check-prepared-txns target; "" for none)
#
# What it does:
#  1. apt: installs what is missing; enables deb-src and fetches the Debian
#     source of postgresql-15 (the installed version if the archive still has
#     its source, else the newest 15.x source it has - then it says so).
#  2. Makes a private, relocated copy of the installed PostgreSQL
#     ($OUT_DIR/priv/usr/{lib,share}/postgresql/15; PostgreSQL finds its
#     share/ and lib/ relative to its binaries), builds aegis_storage from a
#     clean clone of AEGIS_REPO and installs it into that copy only
#     (make install DESTDIR=...), so that a reinstall of the system-wide
#     extension while this runs changes nothing here.
#  3. Builds regress.so, refint.so and autoinc.so (needed by the core suite)
#     from the source tree with PGXS against the installed server headers.
#     The drivers are Debian's own pg_regress, pg_isolation_regress and
#     isolationtester shipped in lib/pgxs/src/test/ (same build as the server).
#  4. For each suite and each access method, runs the suite against a
#     temporary instance (pg_regress --temp-instance) with
#       shared_preload_libraries = 'aegis_storage', aegis.buffer_pool_size =
#       64MB, max_worker_processes = 14 (PostgreSQL's 8 plus aegis's own
#       workers), max_prepared_transactions = 10 and, for aegis only,
#       default_table_access_method = aegis;
#     the extension is created in each test database (--load-extension) in
#     both runs, so heap and aegis runs differ only in the default AM.
#     Runs are sequential, under nice -n 19 (and ionice idle).
#  5. Compares each test's output of the aegis run with that of the heap run
#     (results/<test>.out), writes one diff per test that differs, scans the
#     server logs for crashes, and prints a summary.
#
# Output: $OUT_DIR/runs/<suite>-<am>/ (pg_regress output dir: results/,
# regression.diffs = diff against PostgreSQL's expected files, log/),
# $OUT_DIR/compare/<suite>-<am>/<test>.diff (heap output -> <am> output) and
# status.txt (test, status with heap, status with <am>), and
# $OUT_DIR/summary.txt (what is printed at the end).
# Exit status: 0 when the runs completed (whatever the differences), 1 when
# setup failed or a suite could not run.

set -euo pipefail
export LC_ALL=C   # sort/join of test names, and tool messages

OUT_DIR=${OUT_DIR:-/tmp/aegis_core_suites}
PG_SRC_CACHE=${PG_SRC_CACHE:-/tmp/pg15src}
AEGIS_REPO=${AEGIS_REPO:-$(cd "$(dirname "$0")/.." && pwd)}
AEGIS_REF=${AEGIS_REF:-HEAD}
PORT_BASE=${PORT_BASE:-54710}
SUITES=${SUITES:-regress isolation}
AMS=${AMS:-heap aegis}
REGRESS_TESTS=${REGRESS_TESTS:-}
ISOLATION_TESTS=${ISOLATION_TESTS:-}
ISOLATION_EXTRA=${ISOLATION_EXTRA-prepared-transactions prepared-transactions-cic}

PGMAJOR=15
SYS_BIN=/usr/lib/postgresql/$PGMAJOR/bin
SYS_PG_CONFIG=$SYS_BIN/pg_config
PRIV=$OUT_DIR/priv
PRIV_LIB=$PRIV/usr/lib/postgresql/$PGMAJOR
PRIV_SHARE=$PRIV/usr/share/postgresql/$PGMAJOR
PRIV_BIN=$PRIV_LIB/bin
REGRESSLIB=$OUT_DIR/regresslib
RUNS=$OUT_DIR/runs
COMPARE=$OUT_DIR/compare
SUMMARY=$OUT_DIR/summary.txt
LOWPRIO=(nice -n 19)
command -v ionice >/dev/null && LOWPRIO+=(ionice -c 3)

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (apt-get, and runuser -u postgres for the server)"
mkdir -p "$OUT_DIR" "$PG_SRC_CACHE"
chmod 755 "$OUT_DIR"

# ---------------------------------------------------------------------------
# 1. Packages and the PostgreSQL source tree
# ---------------------------------------------------------------------------
need_pkgs=()
for p in postgresql-$PGMAJOR postgresql-server-dev-$PGMAJOR build-essential \
	dpkg-dev git liblz4-dev libzstd-dev; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		need_pkgs+=("$p")
done
apt_updated=0
if [ ${#need_pkgs[@]} -gt 0 ]; then
	log "apt-get install ${need_pkgs[*]}"
	apt-get update -qq && apt_updated=1
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

# Debian 12 lists its archives in deb822 format; add deb-src to each entry.
enable_deb_src() {
	local f=/etc/apt/sources.list.d/debian.sources changed=0
	if [ -f "$f" ]; then
		if grep -q '^Types: deb$' "$f"; then
			sed -i 's/^Types: deb$/Types: deb deb-src/' "$f"
			changed=1
		fi
	elif [ -f /etc/apt/sources.list ] && ! grep -q '^deb-src ' /etc/apt/sources.list; then
		sed -n 's/^deb /deb-src /p' /etc/apt/sources.list \
			>/etc/apt/sources.list.d/pg-core-suites-src.list
		changed=1
	fi
	if [ $changed = 1 ] || [ $apt_updated = 0 ]; then
		apt-get update -qq
		apt_updated=1
	fi
}

installed_ver=$(dpkg-query -W -f='${Version}' postgresql-$PGMAJOR)   # 15.20-0+deb12u1
installed_upstream=${installed_ver%%-*}                                # 15.20
server_ver=$("$SYS_BIN/postgres" --version)

# Use a cached tree if one of the installed version is there; otherwise try
# apt-get source of the installed version, then of each other 15.x version
# the archive lists (newest first).
find_src_tree() {
	local d=$PG_SRC_CACHE/postgresql-$PGMAJOR-$1
	[ -f "$d/src/test/regress/parallel_schedule" ] && echo "$d"
}
SRC_TREE=$(find_src_tree "$installed_upstream" || true)
if [ -z "$SRC_TREE" ]; then
	enable_deb_src
	mapfile -t src_versions < <(apt-cache showsrc postgresql-$PGMAJOR |
		sed -n 's/^Version: //p' | sort -rV | uniq)
	[ ${#src_versions[@]} -gt 0 ] || die "apt-cache showsrc postgresql-$PGMAJOR lists no source (deb-src not enabled?)"
	# the installed version first
	ordered=("$installed_ver")
	for v in "${src_versions[@]}"; do [ "$v" = "$installed_ver" ] || ordered+=("$v"); done
	for v in "${ordered[@]}"; do
		up=${v%%-*}
		SRC_TREE=$(find_src_tree "$up" || true)
		[ -n "$SRC_TREE" ] && break
		log "apt-get source postgresql-$PGMAJOR=$v (into $PG_SRC_CACHE)"
		if (cd "$PG_SRC_CACHE" && apt-get source -q "postgresql-$PGMAJOR=$v") \
			>"$OUT_DIR/apt-source-$v.log" 2>&1; then
			SRC_TREE=$(find_src_tree "$up" || true)
			[ -n "$SRC_TREE" ] && break
		fi
		log "  not available: $(grep -m1 -E '^(E|W): .*(404|Unable|Failed)' "$OUT_DIR/apt-source-$v.log" || tail -1 "$OUT_DIR/apt-source-$v.log")"
	done
fi
[ -n "$SRC_TREE" ] || die "could not get a postgresql-$PGMAJOR source tree (see $OUT_DIR/apt-source-*.log)"
src_upstream=${SRC_TREE##*-}
chmod -R a+rX "$SRC_TREE"
VERSION_NOTE="server: $server_ver; test sources: $SRC_TREE"
if [ "$src_upstream" != "$installed_upstream" ]; then
	VERSION_NOTE+=" -- NOTE: source $src_upstream != installed $installed_upstream (the archive has no source of the installed version)"
fi
log "$VERSION_NOTE"

# ---------------------------------------------------------------------------
# 2. Private relocated copy of the installation, with aegis_storage built
#    from a clean clone
# ---------------------------------------------------------------------------
log "private copy of PostgreSQL $PGMAJOR in $PRIV"
rm -rf "$PRIV"
mkdir -p "$PRIV/usr/lib/postgresql" "$PRIV/usr/share/postgresql"
cp -a "/usr/lib/postgresql/$PGMAJOR" "$PRIV/usr/lib/postgresql/"
cp -a "/usr/share/postgresql/$PGMAJOR" "$PRIV/usr/share/postgresql/"
# Remove the system-wide aegis files from the copy, so that only what is
# built below can be loaded.
rm -f "$PRIV_LIB/lib/aegis_storage.so" "$PRIV_SHARE"/extension/aegis_storage*
rm -rf "$PRIV_LIB/lib/bitcode/aegis_storage" "$PRIV_LIB/lib/bitcode/aegis_storage.index.bc"

for what in pkglibdir sharedir; do
	got=$("$PRIV_BIN/pg_config" --$what)
	case $got in
	"$PRIV"/*) ;;
	*) die "copied pg_config --$what gives $got, not a path under $PRIV" ;;
	esac
done

log "building aegis_storage ($AEGIS_REPO $AEGIS_REF)"
git clone -q "$AEGIS_REPO" "$PRIV/src"
git -C "$PRIV/src" checkout -q --detach "$AEGIS_REF"
AEGIS_COMMIT=$(git -C "$PRIV/src" log -1 --format='%h %s')
{
	"${LOWPRIO[@]}" make -C "$PRIV/src" PG_CONFIG="$SYS_PG_CONFIG" clean
	"${LOWPRIO[@]}" make -C "$PRIV/src" PG_CONFIG="$SYS_PG_CONFIG" -j2
	"${LOWPRIO[@]}" make -C "$PRIV/src" PG_CONFIG="$SYS_PG_CONFIG" install DESTDIR="$PRIV"
} >"$OUT_DIR/aegis-build.log" 2>&1 || die "aegis_storage build failed, see $OUT_DIR/aegis-build.log"
[ -f "$PRIV_LIB/lib/aegis_storage.so" ] || die "aegis_storage.so not installed under $PRIV_LIB/lib"
[ -f "$PRIV_SHARE/extension/aegis_storage.control" ] || die "aegis_storage.control not installed under $PRIV_SHARE/extension"
cmp -s "$PRIV/src/aegis_storage.so" "$PRIV_LIB/lib/aegis_storage.so" || die "installed aegis_storage.so is not the one just built"
log "aegis_storage $AEGIS_COMMIT -> $PRIV_LIB/lib/aegis_storage.so"

# ---------------------------------------------------------------------------
# 3. C modules of the core regression suite, and the test drivers
# ---------------------------------------------------------------------------
log "building regress.so, refint.so, autoinc.so in $REGRESSLIB"
rm -rf "$REGRESSLIB"
mkdir -p "$REGRESSLIB"
cp "$SRC_TREE/src/test/regress/regress.c" "$SRC_TREE/contrib/spi/refint.c" \
	"$SRC_TREE/contrib/spi/autoinc.c" "$REGRESSLIB/"
cat >"$REGRESSLIB/Makefile" <<'EOF'
# regress.so (src/test/regress) and refint.so, autoinc.so (contrib/spi),
# built with PGXS; REFINT_VERBOSE as in contrib/spi/Makefile (the expected
# output of the triggers test depends on it).
MODULES = regress refint autoinc
PG_CPPFLAGS = -DREFINT_VERBOSE
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)
EOF
"${LOWPRIO[@]}" make -C "$REGRESSLIB" PG_CONFIG="$SYS_PG_CONFIG" >"$OUT_DIR/regresslib-build.log" 2>&1 ||
	die "building regress.so failed, see $OUT_DIR/regresslib-build.log"
chmod -R a+rX "$REGRESSLIB"

PG_REGRESS=$PRIV_LIB/lib/pgxs/src/test/regress/pg_regress
PG_ISOLATION_REGRESS=$PRIV_LIB/lib/pgxs/src/test/isolation/pg_isolation_regress
for f in "$PG_REGRESS" "$PG_ISOLATION_REGRESS" "$PRIV_LIB/lib/pgxs/src/test/isolation/isolationtester"; do
	[ -x "$f" ] || die "missing $f (postgresql-server-dev-$PGMAJOR ships it)"
done

# ---------------------------------------------------------------------------
# 4. Runs
# ---------------------------------------------------------------------------
mkdir -p "$RUNS" "$OUT_DIR/conf" "$OUT_DIR/tmp"
chown postgres: "$RUNS" "$OUT_DIR/tmp"
for am in $AMS aegis; do
	{
		echo "# written by pg_core_suites.sh"
		echo "max_prepared_transactions = 10"
		# "vanilla": stock server, extension neither loaded nor created
		if [ "$am" != vanilla ]; then
			echo "shared_preload_libraries = 'aegis_storage'"
			echo "aegis.buffer_pool_size = 64MB"
			# room for aegis's own workers (checkpointer, two guards, an
			# I/O worker, dictionary trainers) beside PostgreSQL's default
			# 8, which select_parallel counts on
			echo "max_worker_processes = 14"
		fi
		case $am in heap | vanilla) ;; *) echo "default_table_access_method = $am" ;; esac
	} >"$OUT_DIR/conf/$am.conf"
done
chmod -R a+rX "$OUT_DIR/conf"

# Preflight: start the private copy once with the aegis configuration and
# check that the postmaster mapped the aegis_storage.so built above (not the
# system-wide one) and that CREATE TABLE makes an aegis table.
PF=$OUT_DIR/preflight
PF_PORT=$((PORT_BASE + 9))
pf_stop() {
	[ -f "$PF/data/postmaster.pid" ] &&
		runuser -u postgres -- "$PRIV_BIN/pg_ctl" -D "$PF/data" -m immediate stop >/dev/null 2>&1
	return 0
}
trap pf_stop EXIT
log "preflight instance (port $PF_PORT)"
rm -rf "$PF"
mkdir -p "$PF"
chown postgres: "$PF"
(cd "$PF" && runuser -u postgres -- env LC_ALL=C "$PRIV_BIN/initdb" -D "$PF/data" \
	--no-sync -A trust -E UTF8 --no-locale) >"$PF/initdb.log" 2>&1 ||
	die "initdb failed, see $PF/initdb.log"
{
	cat "$OUT_DIR/conf/aegis.conf"
	echo "port = $PF_PORT"
	echo "listen_addresses = ''"
	echo "unix_socket_directories = '$PF'"
} >>"$PF/data/postgresql.conf"
(cd "$PF" && runuser -u postgres -- "$PRIV_BIN/pg_ctl" -D "$PF/data" -l "$PF/server.log" -w start) \
	>/dev/null 2>&1 || die "preflight server did not start, see $PF/server.log"
pf_pid=$(head -1 "$PF/data/postmaster.pid")
mapped=$(awk '/aegis_storage\.so/ {print $6}' "/proc/$pf_pid/maps" | sort -u)
pf_am=$(runuser -u postgres -- "$PRIV_BIN/psql" -X -h "$PF" -p "$PF_PORT" -d postgres -Atq -c \
	"CREATE EXTENSION aegis_storage; CREATE TABLE pf (a int);
	 SELECT amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE relname = 'pf'" 2>&1) || true
pf_stop
[ "$mapped" = "$PRIV_LIB/lib/aegis_storage.so" ] ||
	die "preflight postmaster mapped '${mapped:-no aegis_storage.so}', expected $PRIV_LIB/lib/aegis_storage.so"
[ "$pf_am" = aegis ] || die "preflight: CREATE TABLE gave access method '$pf_am', expected aegis"
log "  postmaster loaded $mapped; default AM aegis works"

# run_suite SUITE AM PORT: one pg_regress run; its stdout in DIR/pg_regress.out
run_suite() {
	local suite=$1 am=$2 port=$3 dir=$RUNS/$1-$2 driver inputdir schedule tests
	rm -rf "$dir"
	mkdir -p "$dir"
	chown postgres: "$dir"
	if [ "$suite" = regress ]; then
		driver=$PG_REGRESS
		inputdir=$SRC_TREE/src/test/regress
		tests=$REGRESS_TESTS
		# as `make check` in src/test/regress
		set -- --dlpath="$REGRESSLIB" --max-concurrent-tests=20
	else
		driver=$PG_ISOLATION_REGRESS
		inputdir=$SRC_TREE/src/test/isolation
		tests=$ISOLATION_TESTS
		set --
	fi
	[ "$am" = vanilla ] || set -- "$@" --load-extension=aegis_storage
	if [ -n "$tests" ]; then
		schedule=
	elif [ "$suite" = regress ]; then
		schedule=$inputdir/parallel_schedule
	else
		schedule=$inputdir/isolation_schedule
		# The prepared-transaction specs are not in the schedule; the
		# Makefile's check-prepared-txns target runs them on a server with
		# max_prepared_transactions > 0, as here.
		tests=$ISOLATION_EXTRA
	fi
	log "$suite with default AM $am (port $port) -> $dir"
	local start=$SECONDS rc=0
	# runuser: initdb and postgres refuse to run as root.  TMPDIR: pg_regress
	# puts the temp instance's socket directory there.
	(cd "$dir" && "${LOWPRIO[@]}" runuser -u postgres -- env LC_ALL=C LANG=C \
		TMPDIR="$OUT_DIR/tmp" \
		"$driver" \
		--temp-instance="$dir/tmp_instance" \
		--temp-config="$OUT_DIR/conf/$am.conf" \
		--bindir="$PRIV_BIN" \
		--inputdir="$inputdir" \
		--outputdir="$dir" \
		--port="$port" \
		--no-locale --encoding=UTF8 \
		"$@" \
		${schedule:+--schedule="$schedule"} $tests) \
		>"$dir/pg_regress.out" 2>&1 || rc=$?
	echo "$rc" >"$dir/exit_code"
	echo $((SECONDS - start)) >"$dir/seconds"
	log "  exit $rc after $((SECONDS - start)) s: $(grep -E 'tests (passed|failed)|of [0-9]+ tests' "$dir/pg_regress.out" | tail -1 | tr -s ' =' ' ')"
}

port=$PORT_BASE
for suite in $SUITES; do
	for am in $AMS; do
		run_suite "$suite" "$am" "$port"
		port=$((port + 1))
	done
done

# ---------------------------------------------------------------------------
# 5. Comparison and summary
# ---------------------------------------------------------------------------
# status_of DIR: "test status" per line from pg_regress's output
# (PG 15 prints "test NAME ... ok 12 ms" and, in parallel groups,
# "     NAME ... FAILED 12 ms").
status_of() {
	sed -nE 's/^(test |     )?[[:space:]]*([^[:space:]]+)[[:space:]]+\.\.\. (ok|FAILED|failed \(ignored\)).*/\2 \3/p' \
		"$1/pg_regress.out" | sed 's/failed (ignored)/ignored/'
}

# crash signs in a run's server log and test outputs
crash_signs() {
	{
		grep -hE 'terminated by signal|was terminated by|PANIC:|TRAP:|server process .* exited with exit code [^01]|all server processes terminated' \
			"$1"/log/postmaster.log 2>/dev/null || true
		# a lost connection counts unless the expected output has one too
		# (temp-schema-cleanup terminates a session on purpose)
		local f t
		for f in $(grep -lE 'server closed the connection unexpectedly' "$1"/results/*.out 2>/dev/null); do
			t=$(basename "$f" .out)
			grep -qs 'server closed the connection unexpectedly' "$2"/expected/"$t".out "$2"/expected/"$t"_[0-9].out ||
				echo "connection lost in $f"
		done
	} | head -20
}

rm -rf "$COMPARE"
{
	echo "PostgreSQL core suites with default_table_access_method = heap and = aegis"
	echo "$VERSION_NOTE"
	echo "aegis_storage: $AEGIS_COMMIT (built from $AEGIS_REPO)"
	echo "drivers: Debian's pg_regress / pg_isolation_regress / isolationtester from $PRIV_LIB/lib/pgxs/src/test"
	echo
	for suite in $SUITES; do
		base=$RUNS/$suite-heap
		echo "=== $suite ==="
		for am in $AMS; do
			d=$RUNS/$suite-$am
			[ -f "$d/pg_regress.out" ] || continue
			st=$(status_of "$d")
			printf '%-6s %4d tests: %4d ok, %3d failed, %3d failed (ignored); exit %s, %s s; diffs vs expected: %s\n' \
				"$am" "$(grep -c . <<<"$st")" "$(grep -c ' ok$' <<<"$st" || true)" \
				"$(grep -c ' FAILED$' <<<"$st" || true)" "$(grep -c ' ignored$' <<<"$st" || true)" \
				"$(cat "$d/exit_code")" "$(cat "$d/seconds")" \
				"$( [ -s "$d/regression.diffs" ] && echo "$d/regression.diffs" || echo none)"
			cs=$(crash_signs "$d" "$SRC_TREE/src/test/$suite")
			if [ -n "$cs" ]; then
				echo "  !!! CRASH SIGNS in the $am run ($d/log/postmaster.log):"
				sed 's/^/  !!!   /' <<<"$cs"
			fi
		done
		[ -f "$base/pg_regress.out" ] || { echo; continue; }
		for am in $AMS; do
			[ "$am" = heap ] && continue
			d=$RUNS/$suite-$am
			[ -f "$d/pg_regress.out" ] || continue
			cmpdir=$COMPARE/$suite-$am
			mkdir -p "$cmpdir"
			join <(status_of "$base" | sort) <(status_of "$d" | sort) >"$cmpdir/status.txt" || true
			only=() both=() differ=()
			while read -r t hs as; do
				if [ "$hs" = ok ] && [ "$as" != ok ]; then only+=("$t"); fi
				if [ "$hs" != ok ] && [ "$as" != ok ]; then both+=("$t"); fi
				# output of the same test differs between heap and aegis?
				if ! cmp -s "$base/results/$t.out" "$d/results/$t.out"; then
					differ+=("$t")
					diff -U3 --label "heap/results/$t.out" --label "$am/results/$t.out" \
						"$base/results/$t.out" "$d/results/$t.out" >"$cmpdir/$t.diff" || true
				fi
			done <"$cmpdir/status.txt"
			echo "fail with $am, pass with heap (${#only[@]}): ${only[*]:-}"
			echo "fail with both (${#both[@]}): ${both[*]:-}"
			echo "output differs heap -> $am (${#differ[@]}), diffs in $cmpdir/:"
			for t in "${differ[@]}"; do
				printf '  %-32s %5d diff lines  %s\n' "$t" \
					"$(grep -cE '^[-+][^-+]' "$cmpdir/$t.diff" || true)" \
					"$(grep -m1 -E '^\+.*(ERROR|PANIC|FATAL|server closed)' "$cmpdir/$t.diff" | cut -c1-110 || true)"
			done
		done
		echo
	done
} | tee "$SUMMARY"
echo "summary: $SUMMARY"

# pg_regress exits 1 when tests fail, 2 when it could not run them
status=0
for d in "$RUNS"/*/; do
	[ -f "$d/exit_code" ] || continue
	if [ "$(cat "$d/exit_code")" -gt 1 ] || [ -z "$(status_of "$d")" ]; then
		echo "ERROR: ${d%/} did not run its tests, see ${d}pg_regress.out" >&2
		status=1
	fi
done
exit $status
