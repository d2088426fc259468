#!/bin/bash
# upgrade_from_previous.sh -- does a cluster of the previous aegis_storage
# version (own WAL under pg_aegis/wal, control file pg_aegis/aegis_control;
# commit 89892f4, extension 0.1) start with this one (aegis WAL in
# PostgreSQL's WAL stream; this checkout's working tree, extension 0.4)?
#
#   Scenario 1: clean shutdown by the old build -> new build takes over,
#               same rows, codecs kept, old wal/ + aegis_control removed,
#               crash recovery and clean restart under the new build work.
#   Scenario 2: old build crashed -> new build refuses with
#               "... was not shut down cleanly by the previous version ...";
#               after old build recovers + clean stop, new build takes over.
#
# Both builds are installed into private relocated copies of the PostgreSQL
# installation under $UPGRADE_WORK (default /tmp/aegis_upgrade; nothing
# under /usr/lib/postgresql is touched, nothing in the checkout is
# modified).  Needs the git history of the checkout.  Ports 54720-54721.
# Not part of CI (it builds the previous version).  Run as root from the
# checkout: bash test/upgrade_from_previous.sh
set -u
renice -n 10 -p $$ >/dev/null 2>&1 || true

REPO=${REPO:-$(cd "$(dirname "$0")/.." && pwd)}
H=${UPGRADE_WORK:-/tmp/aegis_upgrade}
OLD_COMMIT=${OLD_COMMIT:-89892f4}	# override: OLD_COMMIT=<rev> bash upgrade_test.sh
PRIV_OLD=$H/priv_old
PRIV_NEW=$H/priv_new
SRC_OLD=$H/src_old
SRC_NEW=$H/src_new
SYS_PGCONFIG=/usr/lib/postgresql/15/bin/pg_config
OLD_BIN=$PRIV_OLD/usr/lib/postgresql/15/bin
NEW_BIN=$PRIV_NEW/usr/lib/postgresql/15/bin
PSQL_BIN=$OLD_BIN/psql
LOGS=$H/logs
D1=$H/data
D2=$H/data2
P1=54720
P2=54721
T0=$(date +%s)

PASS=0
FAIL=0
FAILED_CHECKS=()
check() {	# check NAME CONDITION-RESULT(0=ok) DETAILS
	local name=$1 rc=$2 det=${3:-}
	if [ "$rc" -eq 0 ]; then
		PASS=$((PASS + 1)); echo "PASS  $name${det:+  [$det]}"
	else
		FAIL=$((FAIL + 1)); FAILED_CHECKS+=("$name"); echo "FAIL  $name${det:+  [$det]}"
	fi
}
info() { echo "      $*"; }
die() { echo "FATAL: $*"; exit 2; }

# ---------------------------------------------------------------- servers
STARTED_DIRS=()
pm_pid() { [ -f "$1/postmaster.pid" ] && head -1 "$1/postmaster.pid"; }
pm_alive() { local p; p=$(pm_pid "$1") && [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }
start_server() {	# start_server BIN DATADIR LOGFILE -> rc of pg_ctl
	local bin=$1 d=$2 log=$3
	STARTED_DIRS+=("$d")
	runuser -u postgres -- "$bin/pg_ctl" -D "$d" -l "$log" -w -t 120 start >>"$LOGS/pg_ctl.out" 2>&1
}
stop_server() {	# stop_server BIN DATADIR [mode]
	runuser -u postgres -- "$1/pg_ctl" -D "$2" -w -t 120 stop -m "${3:-fast}" >>"$LOGS/pg_ctl.out" 2>&1
}
crash_server() {	# kill -9 the postmaster; wait for all its children to exit
	local d=$1 pm kids i
	pm=$(pm_pid "$d")
	kids=$(ps -o pid= --ppid "$pm" | tr '\n' ' ')
	kill -9 "$pm"
	for i in $(seq 1 600); do
		local alive=0
		kill -0 "$pm" 2>/dev/null && alive=1
		for k in $kids; do kill -0 "$k" 2>/dev/null && alive=1; done
		[ $alive -eq 0 ] && return 0
		sleep 0.1
	done
	echo "children of killed postmaster $pm still alive after 60 s: $kids"
	return 1
}
loaded_so() {	# path of aegis_storage.so mapped by the postmaster
	grep -o '/[^ ]*aegis_storage\.so' "/proc/$(pm_pid "$1")/maps" 2>/dev/null | sort -u | tr '\n' ' '
}
cleanup() {
	local d
	for d in "${STARTED_DIRS[@]}"; do
		if pm_alive "$d"; then
			echo "cleanup: stopping server in $d"
			runuser -u postgres -- "$OLD_BIN/pg_ctl" -D "$d" -w -t 60 stop -m immediate >/dev/null 2>&1 ||
				kill -9 "$(pm_pid "$d")"
		fi
	done
}
trap cleanup EXIT

q() {	# q PORT SQL... -> tuples only, unaligned; stderr to stdout
	local port=$1; shift
	"$PSQL_BIN" -X -q -At -v ON_ERROR_STOP=1 -h $H -p "$port" -U postgres -d postgres "$@" 2>&1
}
qdb() {	# qdb PORT DB SQL...
	local port=$1 db=$2; shift 2
	"$PSQL_BIN" -X -q -At -v ON_ERROR_STOP=1 -h $H -p "$port" -U postgres -d "$db" "$@" 2>&1
}

FIGQ="count(*)||' '||coalesce(sum(id),0)||' '||coalesce(sum(k),0)||' '||coalesce(md5(string_agg(id||':'||k||':'||v, ',' ORDER BY id)),'-')"
figs() {	# figs PORT TABLE MODE(seq|idx|kidx) -> "count sum(id) sum(k) md5"
	local port=$1 t=$2 mode=$3
	case $mode in
	seq) q "$port" -c "SET enable_indexscan=off; SET enable_bitmapscan=off; SET enable_indexonlyscan=off" \
		-c "SELECT $FIGQ FROM $t" ;;
	idx) q "$port" -c "SET enable_seqscan=off; SET enable_bitmapscan=off" \
		-c "SELECT $FIGQ FROM $t WHERE id >= -2147483648" ;;
	kidx) q "$port" -c "SET enable_seqscan=off; SET enable_bitmapscan=off" \
		-c "SELECT $FIGQ FROM $t WHERE k >= -2147483648" ;;
	esac
}
plan_uses() {	# plan_uses PORT TABLE MODE INDEXNAME -> 0 if the plan scans that index
	local port=$1 t=$2 mode=$3 ix=$4 where
	[ "$mode" = idx ] && where="id >= -2147483648" || where="k >= -2147483648"
	q "$port" -c "SET enable_seqscan=off; SET enable_bitmapscan=off" \
		-c "EXPLAIN (COSTS OFF) SELECT $FIGQ FROM $t WHERE $where" | grep -q "Index Scan using $ix "
}
stats() {	# codec/level/backend of a table per aegis_table_stats
	q "$1" -c "SELECT storage_backend||' '||compression||' '||compression_level FROM aegis_table_stats('$2')"
}
ctl_state() {	# magic version state of pg_aegis/aegis_control, or "absent"
	local f=$1/pg_aegis/aegis_control
	[ -f "$f" ] && od -An -tx4 -N12 "$f" | xargs || echo absent
}
elapsed() { echo "$(($(date +%s) - T0)) s"; }

# ================================================================ build
echo "== build ($(date -u +%FT%TZ))"
[ "$(id -u)" -eq 0 ] || die "run as root (runuser to postgres is used for the servers)"
for p in $P1 $P2; do
	if "$PSQL_BIN" -h $H -p $p -U postgres -c 'select 1' >/dev/null 2>&1 || [ -e "$H/.s.PGSQL.$p" ]; then
		die "something already listens on port $p in $H"
	fi
done
rm -rf "$PRIV_OLD" "$PRIV_NEW" "$SRC_OLD" "$SRC_NEW" "$LOGS" "$D1" "$D2"
mkdir -p "$LOGS" "$SRC_OLD"
chown postgres:postgres "$H" "$LOGS"
chmod 755 "$H"

for PRIV in "$PRIV_OLD" "$PRIV_NEW"; do
	mkdir -p "$PRIV/usr/lib/postgresql" "$PRIV/usr/share/postgresql"
	cp -a /usr/lib/postgresql/15 "$PRIV/usr/lib/postgresql/15"
	cp -a /usr/share/postgresql/15 "$PRIV/usr/share/postgresql/15"
	# the system copy may hold an aegis build: remove it so only ours is there
	rm -rf "$PRIV"/usr/lib/postgresql/15/lib/aegis_storage.so \
		"$PRIV"/usr/lib/postgresql/15/lib/bitcode/aegis_storage \
		"$PRIV"/usr/lib/postgresql/15/lib/bitcode/aegis_storage.index.bc \
		"$PRIV"/usr/share/postgresql/15/extension/aegis_storage*
done

git -C "$REPO" archive $OLD_COMMIT | tar -x -C "$SRC_OLD" || die "git archive failed"
cp -a "$REPO" "$SRC_NEW" || die "cp -a $REPO failed"
info "new source: $REPO HEAD $(git -C "$REPO" rev-parse --short HEAD) + working tree;" \
	"diff vs HEAD md5 $(git -C "$SRC_NEW" diff HEAD | md5sum | cut -c1-12)," \
	"$(git -C "$SRC_NEW" status --short | wc -l) changed paths"
(cd "$SRC_NEW" && make PG_CONFIG=$SYS_PGCONFIG clean >/dev/null 2>&1)

build_ok=0
(cd "$SRC_OLD" && make -j2 PG_CONFIG=$SYS_PGCONFIG >"$LOGS/build_old.log" 2>&1 &&
	make PG_CONFIG=$SYS_PGCONFIG install DESTDIR="$PRIV_OLD" >>"$LOGS/build_old.log" 2>&1) || build_ok=1
check "build+install old ($OLD_COMMIT) into $PRIV_OLD" $build_ok "log $LOGS/build_old.log"
build_ok=0
(cd "$SRC_NEW" && make -j2 PG_CONFIG=$SYS_PGCONFIG >"$LOGS/build_new.log" 2>&1 &&
	make PG_CONFIG=$SYS_PGCONFIG install DESTDIR="$PRIV_NEW" >>"$LOGS/build_new.log" 2>&1) || build_ok=1
check "build+install new (working tree) into $PRIV_NEW" $build_ok "log $LOGS/build_new.log"
[ $FAIL -eq 0 ] || die "build failed"
info "warnings: old $(grep -c 'warning:' "$LOGS/build_old.log"), new $(grep -c 'warning:' "$LOGS/build_new.log")"

for which in old new; do
	if [ $which = old ]; then PRIV=$PRIV_OLD; SRC=$SRC_OLD; V=0.1; else PRIV=$PRIV_NEW; SRC=$SRC_NEW; V=0.4; fi
	pkglib=$("$PRIV/usr/lib/postgresql/15/bin/pg_config" --pkglibdir)
	share=$("$PRIV/usr/lib/postgresql/15/bin/pg_config" --sharedir)
	[ "$pkglib" = "$PRIV/usr/lib/postgresql/15/lib" ] && [ "$share" = "$PRIV/usr/share/postgresql/15" ]
	check "$which pg_config points inside its copy" $? "pkglibdir=$pkglib sharedir=$share"
	cmp -s "$pkglib/aegis_storage.so" "$SRC/aegis_storage.so"
	check "$which aegis_storage.so in pkglibdir is the one built from $SRC" $? "md5 $(md5sum <"$pkglib/aegis_storage.so" | cut -c1-12)"
	dv=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$share/extension/aegis_storage.control")
	[ "$dv" = "$V" ]
	check "$which extension control default_version=$V" $? "$dv; files: $(cd "$share/extension" && ls aegis_storage* | tr '\n' ' ')"
done
# the binaries themselves tell which design they are
grep -q "aegis_control" "$PRIV_OLD/usr/lib/postgresql/15/lib/aegis_storage.so" &&
	! grep -q "took over the data directory" "$PRIV_OLD/usr/lib/postgresql/15/lib/aegis_storage.so"
check "old .so is the own-WAL design" $?
grep -q "took over the data directory" "$PRIV_NEW/usr/lib/postgresql/15/lib/aegis_storage.so"
check "new .so is the PG-WAL design" $?
info "build done at $(elapsed)"

initcluster() {	# initcluster DATADIR PORT
	runuser -u postgres -- "$OLD_BIN/initdb" -D "$1" --auth=trust -U postgres >"$LOGS/initdb_$(basename "$1").log" 2>&1 ||
		die "initdb failed"
	cat >>"$1/postgresql.conf" <<EOF
port = $2
listen_addresses = ''
unix_socket_directories = '$H'
shared_preload_libraries = 'aegis_storage'
aegis.buffer_pool_size = 16MB
wal_level = replica
max_wal_senders = 0
EOF
}

# ================================================================ scenario 1
echo
echo "== scenario 1: clean shutdown by the old build, then the new build"
initcluster "$D1" $P1
start_server "$OLD_BIN" "$D1" "$LOGS/s1_1_old.log"
check "s1 old build starts" $? "log $LOGS/s1_1_old.log"
so=$(loaded_so "$D1")
[ "$so" = "$PRIV_OLD/usr/lib/postgresql/15/lib/aegis_storage.so " ]
check "s1 postmaster mapped the old .so" $? "$so"

TABLES="t_lz4 t_zstd t_none t_unlogged t_idx"
LOGGED="t_lz4 t_zstd t_none t_idx"
out=$(q $P1 <<'EOF'
CREATE EXTENSION aegis_storage;
CREATE TABLE t_lz4  (id int PRIMARY KEY, k int, v text) USING aegis WITH (compression = 'lz4');
CREATE TABLE t_zstd (id int PRIMARY KEY, k int, v text) USING aegis WITH (compression = 'zstd', compression_level = 5);
CREATE TABLE t_none (id int PRIMARY KEY, k int, v text) USING aegis WITH (compression = 'none');
CREATE UNLOGGED TABLE t_unlogged (id int PRIMARY KEY, k int, v text) USING aegis WITH (compression = 'zstd');
CREATE TABLE t_idx  (id int PRIMARY KEY, k int, v text) USING aegis WITH (compression = 'lz4', compression_level = 9);
CREATE INDEX t_idx_k ON t_idx (k);
EOF
)
check "s1 old: CREATE EXTENSION + 5 aegis tables" $? "$out"
for t in $TABLES; do
	out=$(q $P1 <<EOF
INSERT INTO $t SELECT i, i % 1000,
  CASE WHEN i % 5000 = 0 THEN (SELECT string_agg(md5((i * 1000 + j)::text), '') FROM generate_series(1, 128) j)
       ELSE md5(i::text) || repeat('abc', i % 50) END
  FROM generate_series(1, 50000) i;
UPDATE $t SET k = k + 1, v = v || 'u' WHERE id % 10 = 0;
DELETE FROM $t WHERE id % 17 = 0;
EOF
)
	[ -z "$out" ]; check "s1 old: load/update/delete $t" $? "$out"
done
out=$(q $P1 -c "SELECT aegis_checkpoint()")
check "s1 old: aegis_checkpoint()" $? "$out"
for t in $TABLES; do
	out=$(q $P1 <<EOF
INSERT INTO $t SELECT i, i % 777, 'after-ckpt-' || i FROM generate_series(50001, 55000) i;
UPDATE $t SET k = k + 2, v = v || 'w' WHERE id % 7 = 0;
DELETE FROM $t WHERE id % 23 = 0;
EOF
)
	[ -z "$out" ]; check "s1 old: changes after the checkpoint on $t" $? "$out"
done

declare -A EXP ST
for t in $TABLES; do
	EXP[$t]=$(figs $P1 $t seq)
	fi=$(figs $P1 $t idx)
	[ "$fi" = "${EXP[$t]}" ]; check "s1 old: $t seq scan = index scan" $? "${EXP[$t]}"
	ST[$t]=$(stats $P1 $t)
	info "$t: $(q $P1 -c "SELECT 'stats: '||storage_backend||' '||compression||' '||compression_level||' pages='||pages||' blocks='||stored_blocks FROM aegis_table_stats('$t')")"
done
EXP_K=$(figs $P1 t_idx kidx)
[ "$EXP_K" = "${EXP[t_idx]}" ]; check "s1 old: t_idx k-index scan = seq scan" $? "$EXP_K"
info "old extversion $(q $P1 -c "SELECT extversion FROM pg_extension WHERE extname='aegis_storage'")"
info "old running: aegis_control $(ctl_state "$D1") (magic version state); wal/: $(ls "$D1/pg_aegis/wal" 2>/dev/null | tr '\n' ' ')"
stop_server "$OLD_BIN" "$D1" fast
check "s1 old build stops (-m fast)" $?
info "PG checkpoint after the old build's stop: $("$OLD_BIN/pg_controldata" "$D1" | grep -E "REDO location|Latest checkpoint location" | tr -s " " | tr "\n" ";")"
st=$(ctl_state "$D1")
[ "$(echo "$st" | awk '{print $1, $3}')" = "43474541 00000001" ] && [ -d "$D1/pg_aegis/wal" ]
check "s1 precondition: old left aegis_control in state SHUTDOWN(1) and a wal/ dir" $? "control: $st; wal/: $(ls "$D1/pg_aegis/wal" 2>/dev/null | tr '\n' ' ')"
info "scenario 1 old part done at $(elapsed)"

# ---- new build on the same data directory
start_server "$NEW_BIN" "$D1" "$LOGS/s1_2_new.log"
check "s1 new build starts on the old data dir" $? "log $LOGS/s1_2_new.log"
so=$(loaded_so "$D1")
[ "$so" = "$PRIV_NEW/usr/lib/postgresql/15/lib/aegis_storage.so " ]
check "s1 postmaster mapped the new .so" $? "$so"
sleep 1
info "right after start (no query yet): aegis_control $(ctl_state "$D1"); wal/ $( [ -d "$D1/pg_aegis/wal" ] && echo present || echo absent)"
out=$(q $P1 -c "ALTER EXTENSION aegis_storage UPDATE" -c "SELECT extversion FROM pg_extension WHERE extname='aegis_storage'")
[ "$out" = "0.4" ]; check "s1 new: ALTER EXTENSION aegis_storage UPDATE -> 0.4 (through 0.2, 0.3)" $? "$out"
out=$(q $P1 -c "SELECT records IS NOT NULL FROM aegis_wal_stats()")
[ "$out" = "t" ]; check "s1 new: aegis_wal_stats() works after the update" $? "$out"

for t in $TABLES; do
	f=$(figs $P1 $t seq)
	[ "$f" = "${EXP[$t]}" ]; check "s1 new: $t seq scan = old figures" $? "$f"
	f=$(figs $P1 $t idx)
	plan_uses $P1 $t idx "${t}_pkey"; pu=$?
	[ "$f" = "${EXP[$t]}" ] && [ $pu -eq 0 ]; check "s1 new: $t index scan (${t}_pkey) = old figures" $? "$f; plan uses ${t}_pkey: $([ $pu -eq 0 ] && echo yes || echo NO)"
	s=$(stats $P1 $t)
	[ "$s" = "${ST[$t]}" ]; check "s1 new: aegis_table_stats($t) backend/codec/level kept" $? "old '${ST[$t]}' new '$s'"
	# the 0.3 -> 0.4 update records the options in pg_class.reloptions (pg_dump reads them there)
	r=$(q $P1 -c "SELECT s.storage_backend = o.v1 AND s.compression = o.v2 AND s.compression_level::text = o.v3
		FROM aegis_table_stats('$t') s,
		(SELECT max(option_value) FILTER (WHERE option_name = 'storage_backend') v1,
		        max(option_value) FILTER (WHERE option_name = 'compression') v2,
		        max(option_value) FILTER (WHERE option_name = 'compression_level') v3
		 FROM pg_class c, pg_options_to_table(c.reloptions) WHERE c.oid = '$t'::regclass) o")
	[ "$r" = "t" ]; check "s1 new: extension update recorded $t's options in pg_class.reloptions" $? "$r"
done
f=$(figs $P1 t_idx kidx); plan_uses $P1 t_idx kidx t_idx_k; pu=$?
[ "$f" = "$EXP_K" ] && [ $pu -eq 0 ]; check "s1 new: t_idx k-index scan (t_idx_k) = old figures" $? "$f"
[ ! -e "$D1/pg_aegis/wal" ] && [ ! -e "$D1/pg_aegis/aegis_control" ]
check "s1 new: pg_aegis/wal and pg_aegis/aegis_control removed" $? "pg_aegis: $(ls "$D1/pg_aegis" | tr '\n' ' ')"
grep -q "took over the data directory of the previous version" "$LOGS/s1_2_new.log"
check "s1 new: log says 'took over the data directory of the previous version'" $? \
	"$(grep -m1 "took over" "$LOGS/s1_2_new.log" | cut -c1-160)"


# ---- more writes under the new build (touching old pages), then kill -9
for t in $TABLES; do
	out=$(q $P1 <<EOF
INSERT INTO $t SELECT i, i % 333, 'new-build-' || i FROM generate_series(60001, 70000) i;
UPDATE $t SET k = k + 7, v = v || 'n' WHERE id % 11 = 0;
DELETE FROM $t WHERE id % 13 = 0 AND id <= 55000;
EOF
)
	[ -z "$out" ]; check "s1 new: insert/update/delete on $t" $? "$out"
done
out=$(q $P1 <<'EOF'
CREATE TABLE t_new (id int PRIMARY KEY, k int, v text) USING aegis WITH (compression = 'zstd');
INSERT INTO t_new SELECT i, i % 10, repeat(md5(i::text), 3) FROM generate_series(1, 20000) i;
EOF
)
[ -z "$out" ]; check "s1 new: a table created by the new build" $? "$out"
# a transaction in flight at the crash: its rows must not come back
"$PSQL_BIN" -X -q -h $H -p $P1 -U postgres -d postgres >"$LOGS/s1_inflight.out" 2>&1 <<'EOF' &
BEGIN;
INSERT INTO t_lz4 SELECT i, -1, 'uncommitted' FROM generate_series(900001, 905000) i;
UPDATE t_zstd SET v = 'uncommitted' WHERE id % 3 = 0;
SELECT pg_sleep(300);
EOF
INFLIGHT=$!
for i in $(seq 1 300); do
	[ "$(q $P1 -c "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep'")" = 1 ] && break
	sleep 0.1
done
ALL1="$TABLES t_new"
for t in $ALL1; do EXP[$t]=$(figs $P1 $t seq); done
EXP_K=$(figs $P1 t_idx kidx)
info "t_unlogged before the crash: ${EXP[t_unlogged]}"
info "PG checkpoint before the crash: $("$NEW_BIN/pg_controldata" "$D1" | grep -E "REDO location|Latest checkpoint location" | tr -s " " | tr "\n" ";")"
crash_server "$D1"
check "s1 new: kill -9 of the postmaster, all children exited" $?
wait $INFLIGHT 2>/dev/null

start_server "$NEW_BIN" "$D1" "$LOGS/s1_3_new_after_crash.log"
check "s1 new: restart after kill -9" $? "log $LOGS/s1_3_new_after_crash.log"
info "log: $(grep -E "redo starts|redo done|aegis recovery|database system is ready" "$LOGS/s1_3_new_after_crash.log" | sed 's/^.*LOG: *//' | tr '\n' '|' | cut -c1-400)"
for t in $LOGGED t_new; do
	f=$(figs $P1 $t seq)
	[ "$f" = "${EXP[$t]}" ]; check "s1 new after crash: $t seq = committed figures" $? "$f"
	f=$(figs $P1 $t idx)
	[ "$f" = "${EXP[$t]}" ]; check "s1 new after crash: $t pkey index scan = committed figures" $? "$f"
done
f=$(figs $P1 t_idx kidx)
[ "$f" = "$EXP_K" ]; check "s1 new after crash: t_idx k-index scan = committed figures" $? "$f"
f=$(q $P1 -c "SELECT count(*) FROM t_lz4 WHERE id > 900000 OR k = -1")
[ "$f" = 0 ]; check "s1 new after crash: no row of the in-flight transaction" $? "count $f"
f=$(figs $P1 t_unlogged seq)
[ "${f%% *}" = 0 ]; check "s1 new after crash: t_unlogged is empty (as PG unlogged tables)" $? "$f"
out=$(q $P1 -c "INSERT INTO t_unlogged SELECT i, i, 'x' || i FROM generate_series(1, 1000) i" -c "INSERT INTO t_lz4 VALUES (999999, 5, 'after-crash')")
[ -z "$out" ]; check "s1 new after crash: writes work" $? "$out"
for t in $ALL1; do EXP[$t]=$(figs $P1 $t seq); done
EXP_K=$(figs $P1 t_idx kidx)

stop_server "$NEW_BIN" "$D1" fast
check "s1 new: clean stop" $?
start_server "$NEW_BIN" "$D1" "$LOGS/s1_4_new_clean_restart.log"
check "s1 new: clean restart" $? "log $LOGS/s1_4_new_clean_restart.log"
for t in $ALL1; do
	f=$(figs $P1 $t seq); g=$(figs $P1 $t idx)
	[ "$f" = "${EXP[$t]}" ] && [ "$g" = "${EXP[$t]}" ]
	check "s1 new after clean restart: $t seq and index scans = figures before" $? "$f"
done
f=$(figs $P1 t_idx kidx)
[ "$f" = "$EXP_K" ]; check "s1 new after clean restart: t_idx k-index scan" $? "$f"
# (after the crash test: CREATE DATABASE forces a checkpoint)
# object list of the updated extension = that of a fresh 0.4 install
EXTOBJ="SELECT md5(string_agg(x, E'\n' ORDER BY x)) FROM (
  SELECT pg_describe_object(d.classid, d.objid, 0) || coalesce(' -> ' || pg_get_function_result(d.objid) || ' (' || pg_get_function_arguments(d.objid) || ')', '') AS x
  FROM pg_depend d LEFT JOIN pg_proc p ON d.classid = 'pg_proc'::regclass AND p.oid = d.objid
  WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
    AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'aegis_storage')) s"
q $P1 -c "CREATE DATABASE fresh" >/dev/null
qdb $P1 fresh -c "CREATE EXTENSION aegis_storage" >/dev/null
a=$(q $P1 -c "$EXTOBJ"); b=$(qdb $P1 fresh -c "$EXTOBJ")
[ "$a" = "$b" ] && [ -n "$a" ]; check "s1 new: updated extension objects = fresh 0.4 install" $? "updated $a, fresh $b"
q $P1 -c "DROP DATABASE fresh" >/dev/null
stop_server "$NEW_BIN" "$D1" fast
check "s1 new: final clean stop" $?
n=$(grep -cE "(WARNING|ERROR|FATAL|PANIC):" "$LOGS"/s1_2_new.log "$LOGS"/s1_3_new_after_crash.log "$LOGS"/s1_4_new_clean_restart.log | awk -F: '{s+=$2} END {print s}')
info "WARNING/ERROR/FATAL/PANIC lines in the new-build logs of scenario 1: $n"
grep -hE "(WARNING|ERROR|FATAL|PANIC):" "$LOGS"/s1_2_new.log "$LOGS"/s1_3_new_after_crash.log "$LOGS"/s1_4_new_clean_restart.log | head -10 | sed 's/^/        /'
info "scenario 1 done at $(elapsed)"

# ================================================================ scenario 2
echo
echo "== scenario 2: the old build crashed, then the new build"
initcluster "$D2" $P2
start_server "$OLD_BIN" "$D2" "$LOGS/s2_1_old.log"
check "s2 old build starts" $? "log $LOGS/s2_1_old.log"
out=$(q $P2 <<'EOF'
CREATE EXTENSION aegis_storage;
CREATE TABLE s2 (id int PRIMARY KEY, k int, v text) USING aegis WITH (compression = 'lz4');
INSERT INTO s2 SELECT i, i % 100, md5(i::text) FROM generate_series(1, 20000) i;
SELECT aegis_checkpoint();
INSERT INTO s2 SELECT i, i % 100, 'after-ckpt-' || i FROM generate_series(20001, 30000) i;
UPDATE s2 SET k = k + 1, v = v || 'u' WHERE id % 10 = 0;
DELETE FROM s2 WHERE id % 17 = 0;
EOF
)
check "s2 old: create, insert, checkpoint, more changes" $? "$(echo "$out" | tr '\n' ' ')"
"$PSQL_BIN" -X -q -h $H -p $P2 -U postgres -d postgres >"$LOGS/s2_inflight.out" 2>&1 <<'EOF' &
BEGIN;
INSERT INTO s2 SELECT i, -1, 'uncommitted' FROM generate_series(900001, 901000) i;
SELECT pg_sleep(300);
EOF
INFLIGHT=$!
for i in $(seq 1 300); do
	[ "$(q $P2 -c "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep'")" = 1 ] && break
	sleep 0.1
done
EXP2=$(figs $P2 s2 seq)
info "s2 committed figures: $EXP2"
crash_server "$D2"
check "s2 old: kill -9 of the postmaster, all children exited" $?
wait $INFLIGHT 2>/dev/null
st=$(ctl_state "$D2")
[ "$(echo "$st" | awk '{print $3}')" != "00000001" ] && [ "$st" != absent ] && [ -d "$D2/pg_aegis/wal" ]
check "s2 precondition: aegis_control present, not SHUTDOWN; wal/ present" $? "control: $st; wal/: $(ls "$D2/pg_aegis/wal" 2>/dev/null | tr '\n' ' ')"

# ---- new build on the crashed old data directory
MSG="was not shut down cleanly by the previous version of aegis_storage"
HINT="Start the server once more with the previous version, let it recover, shut it down cleanly, then install this version."
start_server "$NEW_BIN" "$D2" "$LOGS/s2_2_new_refused.log"; rc=$?
if [ $rc -eq 0 ] && pm_alive "$D2"; then
	info "the new build STARTED on the crashed old cluster (pg_ctl rc 0)"
	for attempt in 1 2; do
		out=$("$PSQL_BIN" -X -At -h $H -p $P2 -U postgres -d postgres -c "SELECT count(*) FROM s2" 2>&1)
		echo "$out" | grep -q "$MSG" && echo "$out" | grep -qF "HINT:  $HINT"
		check "s2 new: SELECT on an aegis table fails with the message and hint (attempt $attempt)" $? "$(echo "$out" | tr '\n' '|' | cut -c1-300)"
	done
	out=$("$PSQL_BIN" -X -At -h $H -p $P2 -U postgres -d postgres -c "INSERT INTO s2 VALUES (888888, 1, 'x')" 2>&1)
	echo "$out" | grep -q "$MSG"; check "s2 new: INSERT into an aegis table fails with the message" $? "$(echo "$out" | head -1)"
	out=$("$PSQL_BIN" -X -At -h $H -p $P2 -U postgres -d postgres -c "CREATE TABLE s2b (a int) USING aegis" 2>&1)
	echo "$out" | grep -q "$MSG"; check "s2 new: CREATE TABLE USING aegis fails with the message" $? "$(echo "$out" | head -1)"
	stop_server "$NEW_BIN" "$D2" fast; check "s2 new: stops" $?
else
	info "the new build did NOT start on the crashed old cluster (pg_ctl rc $rc)"
	pm_alive "$D2" && { info "but a postmaster is alive; stopping it"; stop_server "$NEW_BIN" "$D2" immediate; }
	grep -q "$MSG" "$LOGS/s2_2_new_refused.log" && grep -qF "HINT:  $HINT" "$LOGS/s2_2_new_refused.log"
	check "s2 new: server log has the message and the hint" $? ""
fi
info "log of the new build on the crashed cluster:"
grep -vE "^\s*$" "$LOGS/s2_2_new_refused.log" | sed 's/^[0-9-]* [0-9:.]* [A-Z]* \[[0-9]*\] //' | head -25 | sed 's/^/        /'
st2=$(ctl_state "$D2")
[ "$st2" = "$st" ] && [ -d "$D2/pg_aegis/wal" ]
check "s2 new: left aegis_control and wal/ of the old build in place" $? "control: $st2; wal/: $(ls "$D2/pg_aegis/wal" 2>/dev/null | tr '\n' ' ')"

# ---- what the hint says: start the old build, let it recover, stop cleanly
start_server "$OLD_BIN" "$D2" "$LOGS/s2_3_old_recovers.log"
check "s2 old build starts again" $? "log $LOGS/s2_3_old_recovers.log"
for i in $(seq 1 100); do grep -q "aegis recovery complete" "$LOGS/s2_3_old_recovers.log" && break; sleep 0.1; done
info "old log: $(grep -E "aegis (redo|recovery)" "$LOGS/s2_3_old_recovers.log" | sed 's/^.*LOG: *//' | tr '\n' '|')"
stop_server "$OLD_BIN" "$D2" fast
check "s2 old build stops (-m fast), no query run" $?
st=$(ctl_state "$D2")
[ "$(echo "$st" | awk '{print $3}')" = "00000001" ]
check "s2 old: aegis_control now in state SHUTDOWN(1)" $? "$st"
if [ "$(echo "$st" | awk '{print $3}')" != "00000001" ]; then
	info "starting the old build once more with a query to make it recover"
	start_server "$OLD_BIN" "$D2" "$LOGS/s2_3b_old_recovers.log"
	q $P2 -c "SELECT count(*) FROM s2"
	stop_server "$OLD_BIN" "$D2" fast
fi

start_server "$NEW_BIN" "$D2" "$LOGS/s2_4_new.log"
check "s2 new build starts after the old build's clean stop" $? "log $LOGS/s2_4_new.log"
f=$(figs $P2 s2 seq); g=$(figs $P2 s2 idx); plan_uses $P2 s2 idx s2_pkey; pu=$?
[ "$f" = "$EXP2" ] && [ "$g" = "$EXP2" ] && [ $pu -eq 0 ]
check "s2 new: every committed row there (seq and index scan)" $? "seq $f; idx $g"
f=$(q $P2 -c "SELECT count(*) FROM s2 WHERE id > 900000 OR k = -1")
[ "$f" = 0 ]; check "s2 new: no row of the in-flight transaction" $? "count $f"
grep -q "took over the data directory of the previous version" "$LOGS/s2_4_new.log"
check "s2 new: log says it took over" $?
[ ! -e "$D2/pg_aegis/wal" ] && [ ! -e "$D2/pg_aegis/aegis_control" ]
check "s2 new: old wal/ and aegis_control removed" $? "pg_aegis: $(ls "$D2/pg_aegis" | tr '\n' ' ')"
out=$(q $P2 -c "ALTER EXTENSION aegis_storage UPDATE" -c "INSERT INTO s2 VALUES (777777, 1, 'new')" -c "SELECT count(*) FROM s2 WHERE id = 777777")
[ "$out" = 1 ]; check "s2 new: update extension and write" $? "$out"
stop_server "$NEW_BIN" "$D2" fast
check "s2 new: clean stop" $?

echo
echo "== summary: $PASS passed, $FAIL failed, $(elapsed)"
for c in "${FAILED_CHECKS[@]}"; do echo "   failed: $c"; done
echo "   logs in $LOGS"
[ $FAIL -eq 0 ]
