#!/usr/bin/env bash
# A hot set across large sequential scans, heap and aegis side by side in one
# run: pgbench select-only (scale 10: pgbench_accounts, 1 M rows, is the hot
# set, cached) alone, then while another session scans a table larger than
# the pool (shared_buffers for heap, aegis.buffer_pool_size for aegis, the
# same size) over and over.  A scan of a table over a quarter of the pool
# reads through a ring once the pool is full (heap: BAS_BULKREAD; aegis:
# its own ring, src/buffer/README), so the hot set should stay cached: the
# blocks of pgbench_accounts read from outside the pool during the run
# (pg_statio_user_tables.heap_blks_read, which aegis counts too) should stay
# near 0, and pgbench's TPS should drop only by the CPU the scans take.
# Prints TPS alone and with scans, the hot set's misses, and the scans done;
# ratios aegis / heap.
#
# Usage: bash bench/hot_set.sh [seconds per run, default 15]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/bench/lib.sh"
SECS=${1:-15}
ROWS=${HOT_SET_BIG_ROWS:-4000000}

bench_install postgresql-15 postgresql-server-dev-15 liblz4-dev libzstd-dev make gcc bc
bench_build "$here"
bench_start_cluster "${AEGIS_BENCH_PORT:-55437}" "shared_buffers = 256MB" \
	"aegis.buffer_pool_size = 256MB" "max_parallel_workers_per_gather = 0" \
	"autovacuum = off" "max_wal_size = 8GB" "checkpoint_timeout = 1h"
PGB=("${RUN[@]}" $PGBIN/pgbench -h "$WORK" -p "$PORT" -U postgres)
"${PSQL[@]}" -c "CREATE DATABASE hs_heap" -c "CREATE DATABASE hs_aegis"
"${PSQL[@]}" -d hs_aegis -c "CREATE EXTENSION aegis_storage"

declare -A TPS_ALONE TPS_SCANS MISS_ALONE MISS_SCANS SCANS BIGMB
for e in heap aegis; do
	db=hs_$e
	say "$e: pgbench -i -s 10, a $ROWS-row table to scan, VACUUM"
	if [ $e = heap ]; then
		"${PGB[@]}" -i -q -s 10 $db >/dev/null 2>&1
		using="USING heap"
	else
		"${RUN[@]}" env PGOPTIONS="-c default_table_access_method=aegis" \
			$PGBIN/pgbench -h "$WORK" -p "$PORT" -U postgres -i -q -s 10 $db >/dev/null 2>&1
		using="USING aegis WITH (compression = 'lz4')"
	fi
	"${PSQL[@]}" -d $db -c "CREATE TABLE big (id int, k int, v numeric, note text) $using" \
		-c "INSERT INTO big SELECT g, g % 1000, g * 1.5, md5(g::text) FROM generate_series(1, $ROWS) g" \
		-c "VACUUM (ANALYZE)" -c "CHECKPOINT"
	[ $e = aegis ] && "${PSQL[@]}" -d $db -c "SELECT aegis_checkpoint()" >/dev/null
	# pages as PostgreSQL pages (aegis: the pages of its pool, not its compressed file)
	BIGMB[$e]=$("${PSQL[@]}" -d $db -Atc "SELECT round(relpages * 8192 / 1048576.0) FROM pg_class WHERE relname = 'big'")
	echo "big: ${BIGMB[$e]} MB of pages; accounts: $("${PSQL[@]}" -d $db -Atc "SELECT round(relpages * 8192 / 1048576.0) FROM pg_class WHERE relname = 'pgbench_accounts'") MB; pool 256 MB"
done

# reads of pgbench_accounts from outside the pool so far
reads() { "${PSQL[@]}" -d "hs_$1" -Atc "SELECT pg_stat_force_next_flush(); SELECT heap_blks_read FROM pg_statio_user_tables WHERE relname = 'pgbench_accounts'" | tail -1; }
pgb_tps() { "${PGB[@]}" -S -n -c 2 -j 2 -T "$SECS" "$1" 2>/dev/null | awk '/^tps/ {printf "%.0f", $3}'; }

for e in heap aegis; do
	db=hs_$e
	say "$e: fill the pool (a scan of big), warm the hot set, then pgbench -S alone and with scans of big"
	"${PSQL[@]}" -d $db -Atc "SELECT count(*) FROM big" >/dev/null
	"${PGB[@]}" -S -n -c 2 -j 2 -T 10 $db >/dev/null 2>&1
	r0=$(reads $e)
	TPS_ALONE[$e]=$(pgb_tps $db)
	r1=$(reads $e)
	MISS_ALONE[$e]=$((r1 - r0))
	# scans of big for as long as pgbench runs
	stop=$WORK/stop_$e
	rm -f "$stop"
	(
		n=0
		while [ ! -e "$stop" ]; do
			"${PSQL[@]}" -d $db -Atc "SELECT count(*) FROM big" >/dev/null
			n=$((n + 1))
		done
		echo $n > "$WORK/scans_$e"
	) &
	scanner=$!
	TPS_SCANS[$e]=$(pgb_tps $db)
	touch "$stop"
	wait $scanner
	SCANS[$e]=$(cat "$WORK/scans_$e")
	r2=$(reads $e)
	MISS_SCANS[$e]=$((r2 - r1))
	echo "$e: ${TPS_ALONE[$e]} tps alone (${MISS_ALONE[$e]} misses), ${TPS_SCANS[$e]} tps with ${SCANS[$e]} scans of big (${MISS_SCANS[$e]} misses)"
done

ratio() { if [ "$2" = 0 ]; then echo "-"; else printf '%.2f' "$(echo "$1 / $2" | bc -l)"; fi; }
say "results (pgbench -S, 2 clients, $SECS s; misses: blocks of pgbench_accounts read from outside the pool)"
printf '%-32s %10s %10s %8s\n' "" heap aegis ratio
printf '%-32s %10s %10s %8s\n' "TPS alone" "${TPS_ALONE[heap]}" "${TPS_ALONE[aegis]}" "$(ratio "${TPS_ALONE[aegis]}" "${TPS_ALONE[heap]}")"
printf '%-32s %10s %10s %8s\n' "TPS while big is scanned" "${TPS_SCANS[heap]}" "${TPS_SCANS[aegis]}" "$(ratio "${TPS_SCANS[aegis]}" "${TPS_SCANS[heap]}")"
printf '%-32s %10s %10s\n' "hot set misses, alone" "${MISS_ALONE[heap]}" "${MISS_ALONE[aegis]}"
printf '%-32s %10s %10s\n' "hot set misses, with scans" "${MISS_SCANS[heap]}" "${MISS_SCANS[aegis]}"
printf '%-32s %10s %10s %8s\n' "scans of big done meanwhile" "${SCANS[heap]}" "${SCANS[aegis]}" "$(ratio "${SCANS[aegis]}" "${SCANS[heap]}")"
