#!/usr/bin/env bash
# Durability costs of aegis against heap, side by side in one run:
#  1. pgbench TPC-B-like (scale 10; all four tables on aegis vs on heap),
#     1 and 8 clients: TPS and the aegis/heap ratio;
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

say "pgbench TPC-B-like, $SECS s per run"
printf '%-12s %-8s %10s %10s %7s %14s %15s %20s\n' when clients "heap tps" "aegis tps" ratio "heap WAL B/tx" "aegis WAL B/tx" "of which aegis rec."
for when in mid-cycle after-ckpt; do
	for c in 1 8; do
		[ "$when" = after-ckpt ] && "${PSQL[@]}" -qc CHECKPOINT
		h0=$(pg_wal_lsn bench_heap)
		read -r htps htx < <(run bench_heap "$c")
		h1=$(pg_wal_lsn bench_heap)
		[ "$when" = after-ckpt ] && "${PSQL[@]}" -qc CHECKPOINT
		a0=$(pg_wal_lsn bench_aegis)
		ab0=$(wal_stat bytes)
		read -r atps atx < <(run bench_aegis "$c")
		a1=$(pg_wal_lsn bench_aegis)
		ab1=$(wal_stat bytes)
		printf '%-12s %-8s %10.0f %10.0f %7.2f %14.0f %15.0f %20.0f\n' "$when" "$c" "$htps" "$atps" \
			"$(echo "$atps / $htps" | bc -l)" \
			"$(echo "$(lsn_diff "$h1" "$h0") / $htx" | bc -l)" \
			"$(echo "$(lsn_diff "$a1" "$a0") / $atx" | bc -l)" \
			"$(echo "($ab1 - $ab0) / $atx" | bc -l)"
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
