#!/usr/bin/env bash
# Durability costs of aegis against heap, side by side in one run:
#  1. pgbench TPC-B-like (scale 10; all four tables on aegis vs on heap),
#     1 and 8 clients: TPS and the aegis/heap ratio, aegis commits per fsync;
#  2. WAL bytes per pgbench transaction: aegis WAL (plus the PostgreSQL WAL
#     the aegis run still writes: commit records, xid announcements) against
#     heap's PostgreSQL WAL;
#  3. recovery speed: the same bulk load into an aegis and a heap table, a
#     crash (pg_ctl stop -m immediate), then the time to replay it: aegis WAL
#     bytes per second from aegis_wal_stats(), and PostgreSQL's own startup
#     for heap.
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
	"aegis.buffer_pool_size = 1GB" "max_wal_size = 8GB" "aegis.max_wal_size = 8GB" \
	"checkpoint_timeout = 1h" "aegis.checkpoint_timeout = 1h" "max_connections = 50"
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
printf '%-8s %10s %10s %7s %14s %16s %16s %16s\n' clients "heap tps" "aegis tps" ratio "commits/fsync" "heap PG WAL B/tx" "aegis WAL B/tx" "aegis PG WAL B/tx"
for c in 1 8; do
	h0=$(pg_wal_lsn bench_heap)
	read -r htps htx < <(run bench_heap "$c")
	h1=$(pg_wal_lsn bench_heap)
	a0=$(pg_wal_lsn bench_aegis)
	ab0=$(wal_stat bytes); ac0=$(wal_stat commits); af0=$(wal_stat fsyncs)
	read -r atps atx < <(run bench_aegis "$c")
	a1=$(pg_wal_lsn bench_aegis)
	ab1=$(wal_stat bytes); ac1=$(wal_stat commits); af1=$(wal_stat fsyncs)
	printf '%-8s %10.0f %10.0f %7.2f %14.2f %16.0f %16.0f %16.0f\n' "$c" "$htps" "$atps" \
		"$(echo "$atps / $htps" | bc -l)" \
		"$(echo "($ac1 - $ac0) / ($af1 - $af0)" | bc -l)" \
		"$(echo "$(lsn_diff "$h1" "$h0") / $htx" | bc -l)" \
		"$(echo "($ab1 - $ab0) / $atx" | bc -l)" \
		"$(echo "$(lsn_diff "$a1" "$a0") / $atx" | bc -l)"
done
say "pgbench invariants (sum of balances equal across tables)"
for db in bench_heap bench_aegis; do
	"${PSQL[@]}" -d "$db" -Atc "SELECT '$db: ' || ((SELECT sum(abalance) FROM pgbench_accounts) = (SELECT sum(tbalance) FROM pgbench_tellers)
		AND (SELECT sum(tbalance) FROM pgbench_tellers) = (SELECT sum(bbalance) FROM pgbench_branches))"
done

say "recovery speed: about $RECOVERY_MB MB of WAL, then a crash"
rows=$((RECOVERY_MB * 1024 * 1024 / 220))
"${PSQL[@]}" -o /dev/null -c "CREATE EXTENSION IF NOT EXISTS aegis_storage" \
	-c "CREATE TABLE rec_aegis (id bigint, a int, b text) USING aegis WITH (compression = 'lz4')" \
	-c "CREATE TABLE rec_heap (id bigint, a int, b text)" -c "SELECT aegis_checkpoint()" -c "CHECKPOINT"
w0=$("${PSQL[@]}" -Atc "SELECT bytes FROM aegis_wal_stats()")
t0=$(now_ms)
"${PSQL[@]}" -c "INSERT INTO rec_aegis SELECT g, g % 1000, md5(g::text) || md5((g+1)::text) FROM generate_series(1, $rows) g"
t1=$(now_ms)
w1=$("${PSQL[@]}" -Atc "SELECT bytes FROM aegis_wal_stats()")
p0=$("${PSQL[@]}" -Atc "SELECT pg_current_wal_lsn()")
"${PSQL[@]}" -c "INSERT INTO rec_heap SELECT g, g % 1000, md5(g::text) || md5((g+1)::text) FROM generate_series(1, $rows) g"
t2=$(now_ms)
p1=$("${PSQL[@]}" -Atc "SELECT pg_current_wal_lsn()")
pgwal=$(lsn_diff "$p1" "$p0")
echo "load: aegis $((t1 - t0)) ms, $(((w1 - w0) / 1048576)) MB of aegis WAL; heap $((t2 - t1)) ms, $((pgwal / 1048576)) MB of PostgreSQL WAL"

"${RUN[@]}" $PGBIN/pg_ctl -D "$WORK/data" -m immediate -w stop >/dev/null
s0=$(now_ms)
"${RUN[@]}" $PGBIN/pg_ctl -D "$WORK/data" -l "$WORK/server.log" -w start >/dev/null
s1=$(now_ms)
"${PSQL[@]}" -Atc "SELECT count(*) FROM rec_aegis" >/dev/null	# waits for aegis recovery
read -r rms rrec rbytes < <("${PSQL[@]}" -AtF' ' -c "SELECT last_recovery_ms, last_recovery_records, last_recovery_bytes FROM aegis_wal_stats()")
echo "PostgreSQL startup after the crash (replays heap's WAL): $((s1 - s0)) ms for $((pgwal / 1048576)) MB"
printf 'aegis recovery: %d records, %.0f MB in %.0f ms = %.0f MB/s (1 GB in %.1f s; target < 10 s)\n' \
	"$rrec" "$(echo "$rbytes / 1048576" | bc -l)" "$rms" \
	"$(echo "$rbytes / 1048576 / ($rms / 1000)" | bc -l)" \
	"$(echo "1024 / ($rbytes / 1048576 / ($rms / 1000))" | bc -l)"
say "rows after recovery"
"${PSQL[@]}" -Atc "SELECT 'aegis ' || (SELECT count(*) FROM rec_aegis) || ', heap ' || (SELECT count(*) FROM rec_heap) || ', loaded $rows each'"
