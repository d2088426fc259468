#!/usr/bin/env bash
# Durability costs of aegis against heap, side by side in one run:
#  1. pgbench TPC-B-like (scale 10; all four tables on aegis vs on heap),
#     1 and 8 clients: TPS and the aegis/heap ratio, each from rounds of
#     runs in the order heap, aegis, aegis, heap;
#     with the CPU time per transaction of the whole machine (pgbench
#     included; /proc/stat), steadier than TPS where TPC-B is CPU-bound;
#  2. WAL bytes per pgbench transaction, aegis vs heap (both in PostgreSQL's
#     WAL; for aegis, how much of it are aegis records), measured twice: in
#     the middle of a checkpoint cycle (every page already changed since
#     the last checkpoint: heap writes no full-page images, its best case)
#     and right after a CHECKPOINT (heap logs a full-page image of each
#     page on its first change; aegis never does);
#  3. recovery speed: a bulk load into an aegis table, a crash (pg_ctl stop
#     -m immediate), the time PostgreSQL's startup takes to replay it; then
#     the same for a heap table.
#
# Usage: bash bench/durability.sh [seconds per pgbench run, default 20]
#        [MB of WAL for the recovery test, default 1024]
#        AEGIS_BENCH_ROUNDS=N: rounds per TPS figure (default 2; a round is
#        four runs)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/bench/lib.sh"
SECS=${1:-20}
RECOVERY_MB=${2:-1024}

bench_install postgresql-15 postgresql-server-dev-15 liblz4-dev libzstd-dev make gcc bc
bench_build "$here"
bench_start_cluster "${AEGIS_BENCH_PORT:-55434}" "shared_buffers = 1GB" \
	"aegis.buffer_pool_size = 1GB" "max_wal_size = 8GB" \
	"checkpoint_timeout = 1h" "max_connections = 50"
PGB=("${RUN[@]}" $PGBIN/pgbench -h "$WORK" -p "$PORT" -U postgres)

"${PSQL[@]}" -c "CREATE DATABASE bench_heap" -c "CREATE DATABASE bench_aegis"
"${PSQL[@]}" -d bench_aegis -c "CREATE EXTENSION aegis_storage"
say "pgbench -i -s 10 on heap and on aegis"
"${PGB[@]}" -i -q -s 10 bench_heap >/dev/null 2>&1
"${RUN[@]}" env PGOPTIONS="-c default_table_access_method=aegis" \
	$PGBIN/pgbench -h "$WORK" -p "$PORT" -U postgres -i -q -s 10 bench_aegis >/dev/null 2>&1
"${PSQL[@]}" -d bench_aegis -Atc "SELECT string_agg(c.relname || '=' || a.amname, ' ' ORDER BY c.relname)
	FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE c.relname LIKE 'pgbench_%' AND c.relkind = 'r'"

pg_wal_lsn() { "${PSQL[@]}" -d "$1" -Atc "SELECT pg_current_wal_lsn()"; }
lsn_diff() { "${PSQL[@]}" -Atc "SELECT pg_wal_lsn_diff('$1', '$2')::bigint"; }
wal_stat() { "${PSQL[@]}" -d bench_aegis -Atc "SELECT $1 FROM aegis_wal_stats()"; }

# run DB CLIENTS: prints "tps transactions"
run() {
	local out
	out=$("${PGB[@]}" -n -c "$2" -j 2 -T "$SECS" "$1" 2>&1)
	echo "$(echo "$out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p') $(echo "$out" | sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p')"
}

# busy CPU time of the whole machine so far, in clock ticks (user, nice,
# system, irq, softirq of /proc/stat's cpu line)
busy_ticks() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
TICKS_MS=$(echo "1000 / $(getconf CLK_TCK)" | bc -l)

# One measurement: run DB CLIENTS after a CHECKPOINT if WHEN is after-ckpt;
# adds to the totals of DB (tps sum, transactions, WAL bytes, aegis bytes,
# busy CPU ticks).
declare -A TPS TX WAL AREC CPU
measure() {
	local db=$1 c=$2 when=$3 l0 l1 b0 b1 tps tx u0 u1
	[ "$when" = after-ckpt ] && "${PSQL[@]}" -qc CHECKPOINT
	l0=$(pg_wal_lsn "$db")
	b0=$(wal_stat bytes)
	u0=$(busy_ticks)
	read -r tps tx < <(run "$db" "$c")
	u1=$(busy_ticks)
	l1=$(pg_wal_lsn "$db")
	b1=$(wal_stat bytes)
	CPU[$db]=$((CPU[$db] + u1 - u0))
	TPS[$db]=$(echo "${TPS[$db]} + $tps" | bc -l)
	TX[$db]=$((TX[$db] + tx))
	WAL[$db]=$((WAL[$db] + $(lsn_diff "$l1" "$l0")))
	AREC[$db]=$((AREC[$db] + b1 - b0))
}

# Each figure is the sum of ROUNDS rounds run in the order heap, aegis,
# aegis, heap: the order bias of the machine (WAL segments created by
# earlier runs, the OS writing back what a checkpoint left, disk latency
# drifting over minutes) weighs on both sides equally.  Single runs on this
# kind of VM vary by 10-20%.
ROUNDS=${AEGIS_BENCH_ROUNDS:-2}
say "pgbench TPC-B-like, $SECS s per run, $ROUNDS rounds of heap, aegis, aegis, heap"
printf '%-12s %-8s %10s %10s %7s %13s %7s %14s %15s %20s\n' when clients "heap tps" "aegis tps" ratio \
	"CPU us/tx h/a" ratio "heap WAL B/tx" "aegis WAL B/tx" "of which aegis rec."
for when in mid-cycle after-ckpt; do
	for c in 1 8; do
		TPS=([bench_heap]=0 [bench_aegis]=0) TX=([bench_heap]=0 [bench_aegis]=0)
		WAL=([bench_heap]=0 [bench_aegis]=0) AREC=([bench_heap]=0 [bench_aegis]=0)
		CPU=([bench_heap]=0 [bench_aegis]=0)
		for ((r = 0; r < ROUNDS; r++)); do
			for db in bench_heap bench_aegis bench_aegis bench_heap; do
				measure "$db" "$c" "$when"
			done
		done
		n=$((2 * ROUNDS))
		hcpu=$(echo "${CPU[bench_heap]} * $TICKS_MS * 1000 / ${TX[bench_heap]}" | bc -l)
		acpu=$(echo "${CPU[bench_aegis]} * $TICKS_MS * 1000 / ${TX[bench_aegis]}" | bc -l)
		printf '%-12s %-8s %10.0f %10.0f %7.2f %6.0f /%6.0f %7.2f %14.0f %15.0f %20.0f\n' "$when" "$c" \
			"$(echo "${TPS[bench_heap]} / $n" | bc -l)" "$(echo "${TPS[bench_aegis]} / $n" | bc -l)" \
			"$(echo "${TPS[bench_aegis]} / ${TPS[bench_heap]}" | bc -l)" \
			"$hcpu" "$acpu" "$(echo "$acpu / $hcpu" | bc -l)" \
			"$(echo "${WAL[bench_heap]} / ${TX[bench_heap]}" | bc -l)" \
			"$(echo "${WAL[bench_aegis]} / ${TX[bench_aegis]}" | bc -l)" \
			"$(echo "${AREC[bench_aegis]} / ${TX[bench_aegis]}" | bc -l)"
	done
done
say "pgbench invariants (sum of balances equal across tables)"
for db in bench_heap bench_aegis; do
	"${PSQL[@]}" -d "$db" -Atc "SELECT '$db: ' || ((SELECT sum(abalance) FROM pgbench_accounts) = (SELECT sum(tbalance) FROM pgbench_tellers)
		AND (SELECT sum(tbalance) FROM pgbench_tellers) = (SELECT sum(bbalance) FROM pgbench_branches))"
done

say "recovery speed: about $RECOVERY_MB MB of WAL, then a crash; aegis, then heap"
rows=$((RECOVERY_MB * 1024 * 1024 / 220))
"${PSQL[@]}" -o /dev/null -c "CREATE EXTENSION IF NOT EXISTS aegis_storage" \
	-c "CREATE TABLE rec_aegis (id bigint, a int, b text) USING aegis WITH (compression = 'lz4')" \
	-c "CREATE TABLE rec_heap (id bigint, a int, b text)" -c "CHECKPOINT"

# load_and_crash TABLE: prints "load_ms wal_bytes startup_ms"
load_and_crash() {
	local p0 p1 t0 t1 s0 s1
	p0=$("${PSQL[@]}" -Atc "SELECT pg_current_wal_lsn()")
	t0=$(now_ms)
	"${PSQL[@]}" -c "INSERT INTO $1 SELECT g, g % 1000, md5(g::text) || md5((g+1)::text) FROM generate_series(1, $rows) g"
	t1=$(now_ms)
	p1=$("${PSQL[@]}" -Atc "SELECT pg_current_wal_lsn()")
	"${RUN[@]}" $PGBIN/pg_ctl -D "$WORK/data" -m immediate -w stop >/dev/null
	s0=$(now_ms)
	"${RUN[@]}" $PGBIN/pg_ctl -D "$WORK/data" -l "$WORK/server.log" -w start >/dev/null
	s1=$(now_ms)
	echo "$((t1 - t0)) $(lsn_diff "$p1" "$p0") $((s1 - s0))"
}
read -r al aw as < <(load_and_crash rec_aegis)
read -r rms rrec rbytes < <("${PSQL[@]}" -AtF' ' -c "SELECT last_recovery_ms, last_recovery_records, last_recovery_bytes FROM aegis_wal_stats()")
"${PSQL[@]}" -c "CHECKPOINT"
read -r hl hw hs < <(load_and_crash rec_heap)
printf '%-6s %10s %10s %14s %12s\n' table "load ms" "WAL MB" "startup ms" "replay MB/s"
printf '%-6s %10d %10.0f %14d %12.0f\n' aegis "$al" "$(echo "$aw / 1048576" | bc -l)" "$as" "$(echo "$aw / 1048576 / ($as / 1000)" | bc -l)"
printf '%-6s %10d %10.0f %14d %12.0f\n' heap "$hl" "$(echo "$hw / 1048576" | bc -l)" "$hs" "$(echo "$hw / 1048576 / ($hs / 1000)" | bc -l)"
printf 'aegis records replayed: %d (%.0f MB) in %.0f ms from start of redo\n' "$rrec" "$(echo "$rbytes / 1048576" | bc -l)" "$rms"
say "rows after recovery"
"${PSQL[@]}" -Atc "SELECT 'aegis ' || (SELECT count(*) FROM rec_aegis) || ', heap ' || (SELECT count(*) FROM rec_heap) || ', loaded $rows each'"
