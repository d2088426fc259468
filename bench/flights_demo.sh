#!/usr/bin/env bash
# The main job: build and install aegis_storage, start a throw-away
# PostgreSQL 15 with the extension preloaded, load the U.S. flights data set
# (3,000,000 real rows, vega-datasets on npm) into a heap table and into an
# aegis table per codec, check that the same queries give identical answers
# on all of them, and print load time, scan time and size side by side.
#
# Usage (as root on Debian 12, or as a user with sudo rights for apt):
#   bash bench/flights_demo.sh
# Leaves nothing running; the data set is cached in ~/.cache/aegis_flights.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/bench/lib.sh"
CACHE=${AEGIS_DEMO_CACHE:-$HOME/.cache/aegis_flights}

say "installing build and data tools (apt)"
bench_install postgresql-15 postgresql-server-dev-15 liblz4-dev libzstd-dev make gcc bc
bench_install_node

say "building and installing aegis_storage"
bench_build "$here"

say "fetching the flights data set (vega-datasets 3.2.1, flights-3m.parquet)"
mkdir -p "$CACHE"
if [ ! -s "$CACHE/flights.csv" ]; then
	(
		cd "$CACHE"
		npm pack --silent vega-datasets@3.2.1 >/dev/null
		tar xzf vega-datasets-3.2.1.tgz package/data/flights-3m.parquet
		npm install --silent --no-save --no-audit --no-fund hyparquet@1.31.5 hyparquet-compressors@1.1.2 >/dev/null
		cp "$here/bench/flights_to_csv.mjs" .
		node flights_to_csv.mjs package/data/flights-3m.parquet > flights.csv.tmp
		mv flights.csv.tmp flights.csv
	)
fi
rows=$(($(wc -l < "$CACHE/flights.csv") - 1))
echo "flights.csv: $rows rows"

PORT=${AEGIS_DEMO_PORT:-55432}
say "starting a throw-away PostgreSQL 15 (port $PORT)"
bench_start_cluster "$PORT" "shared_buffers = 512MB" "aegis.buffer_pool_size = 512MB" "max_wal_size = 4GB"
cp "$CACHE/flights.csv" "$WORK/flights.csv"
chmod 644 "$WORK/flights.csv"

"${PSQL[@]}" -c "CREATE EXTENSION aegis_storage"
TABLES=(flights_heap flights_none flights_lz4 flights_zstd)
declare -A USING=(
	[flights_heap]=""
	[flights_none]="USING aegis WITH (compression = 'none')"
	[flights_lz4]="USING aegis WITH (compression = 'lz4')"
	[flights_zstd]="USING aegis WITH (compression = 'zstd')"
)
declare -A LOAD SIZE SCAN_COLD SCAN_WARM WAL

say "loading $rows rows into each table (COPY)"
for t in "${TABLES[@]}"; do
	"${PSQL[@]}" -c "CREATE TABLE $t (date timestamp, delay int, distance int, origin text, destination text) ${USING[$t]}"
	"${PSQL[@]}" -c "CHECKPOINT"
	pg0=$(psql_val "SELECT pg_current_wal_insert_lsn()")
	t0=$(now_ms)
	"${PSQL[@]}" -c "COPY $t FROM '$WORK/flights.csv' (FORMAT csv, HEADER)"
	LOAD[$t]=$(( $(now_ms) - t0 ))
	# WAL written by the load (aegis records travel in PostgreSQL's WAL)
	WAL[$t]=$(psql_val "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '$pg0')::bigint")
	echo "$t: $(psql_val "SELECT count(*) FROM $t") rows in ${LOAD[$t]} ms"
done

say "full-table aggregate: first run after a restart (cold pools), then best of three (warm)"
AGG="SELECT count(*), sum(delay), sum(distance), avg(distance) FROM"
"${PSQL[@]}" -c "CHECKPOINT"
bench_restart_cluster
for t in "${TABLES[@]}"; do
	t0=$(now_ms); psql_val "SET max_parallel_workers_per_gather = 0; $AGG $t" >/dev/null; SCAN_COLD[$t]=$(( $(now_ms) - t0 ))
done
for t in "${TABLES[@]}"; do
	best=999999
	for i in 1 2 3; do
		t0=$(now_ms); psql_val "SET max_parallel_workers_per_gather = 0; $AGG $t" >/dev/null; d=$(( $(now_ms) - t0 ))
		[ $d -lt $best ] && best=$d
	done
	SCAN_WARM[$t]=$best
done
echo "serial scans (no parallel workers), including psql start-up"

say "same queries on every table must give identical results"
QUERIES=(
	"SELECT count(*), sum(delay), sum(distance), min(date), max(date) FROM %s"
	"SELECT origin, count(*), round(avg(delay), 4) FROM %s GROUP BY origin ORDER BY count(*) DESC, origin LIMIT 10"
	"SELECT date_trunc('month', date) m, count(*), sum(delay) FILTER (WHERE delay > 60) FROM %s GROUP BY m ORDER BY m"
	"SELECT destination, max(distance) FROM %s WHERE origin = 'SFO' GROUP BY destination ORDER BY destination"
)
for t in "${TABLES[@]}"; do
	"${PSQL[@]}" -c "CREATE INDEX ${t}_origin_date ON $t (origin, date)" -c "ANALYZE $t"
done
ok=1
check_same() {
	local label=$1 sql=$2 ref="" out
	for t in "${TABLES[@]}"; do
		out=$(psql_val "$(printf "$sql" "$t")" | md5sum)
		if [ -z "$ref" ]; then ref=$out; elif [ "$out" != "$ref" ]; then ok=0; echo "MISMATCH: $label on $t"; fi
	done
	printf '  %-58s identical on %d tables\n' "$label" "${#TABLES[@]}"
}
for q in "${QUERIES[@]}"; do check_same "${q:0:58}" "$q"; done
check_same "indexed lookup (origin, date)" \
	"SET enable_seqscan = off; SELECT origin, date, delay, destination FROM %s WHERE origin = 'ORD' AND date BETWEEN '2001-03-01' AND '2001-03-01 06:00' ORDER BY 1, 2, 3, 4"
for t in "${TABLES[@]}"; do
	"${PSQL[@]}" -c "UPDATE $t SET delay = delay + 1 WHERE origin = 'JFK'" \
		-c "DELETE FROM $t WHERE delay > 300"
done
check_same "after UPDATE (JFK delays +1) and DELETE (delay > 300)" \
	"SELECT count(*), sum(delay), sum(distance) FROM %s"
check_same "index scan after UPDATE/DELETE" \
	"SET enable_seqscan = off; SELECT count(*), sum(delay) FROM %s WHERE origin = 'JFK' AND date < '2001-02-01'"
[ $ok = 1 ] || { echo "results differ between heap and aegis" >&2; exit 1; }

say "size on disk after VACUUM and a checkpoint"
for t in "${TABLES[@]}"; do "${PSQL[@]}" -c "VACUUM $t"; done
"${PSQL[@]}" -c "CHECKPOINT" -c "SELECT aegis_checkpoint()" >/dev/null
SIZE[flights_heap]=$(psql_val "SELECT pg_relation_size('flights_heap')")
for t in flights_none flights_lz4 flights_zstd; do
	SIZE[$t]=$(psql_val "SELECT file_bytes FROM aegis_table_stats('$t')")
done

say "results ($rows rows of U.S. flights, 2 cores; ratios are aegis / heap)"
printf '%-14s %10s %7s %9s %7s %10s %7s %11s %7s %11s %7s\n' table "load ms" ratio "WAL MB" ratio "size MB" ratio "scan cold" ratio "scan warm" ratio
hb=${LOAD[flights_heap]}; hs=${SIZE[flights_heap]}; hc=${SCAN_COLD[flights_heap]}; hw=${SCAN_WARM[flights_heap]}
hl=${WAL[flights_heap]}
for t in "${TABLES[@]}"; do
	printf '%-14s %10d %7.2f %9.1f %7.2f %10.1f %7.2f %11d %7.2f %11d %7.2f\n' "$t" \
		"${LOAD[$t]}" "$(echo "${LOAD[$t]} / $hb" | bc -l)" \
		"$(echo "${WAL[$t]} / 1048576" | bc -l)" "$(echo "${WAL[$t]} / $hl" | bc -l)" \
		"$(echo "${SIZE[$t]} / 1048576" | bc -l)" "$(echo "${SIZE[$t]} / $hs" | bc -l)" \
		"${SCAN_COLD[$t]}" "$(echo "${SCAN_COLD[$t]} / $hc" | bc -l)" \
		"${SCAN_WARM[$t]}" "$(echo "${SCAN_WARM[$t]} / $hw" | bc -l)"
done
echo
"${PSQL[@]}" -c "SELECT table_name, compression, pages, stored_blocks, pg_size_pretty(raw_bytes) AS raw, pg_size_pretty(stored_bytes) AS stored, round(compression_ratio::numeric, 2) AS ratio FROM aegis_tables ORDER BY 1"
"${PSQL[@]}" -c "SELECT frames, hits, misses, evictions, writebacks, round(hit_ratio::numeric, 4) AS hit_ratio FROM aegis_buffer_stats()"

say "crash: kill -9 of the server (pg_ctl stop -m immediate), then start"
SUMS="SELECT count(*), sum(delay), sum(distance), min(date), max(date) FROM %s"
declare -A BEFORE
for t in "${TABLES[@]}"; do
	"${PSQL[@]}" -c "UPDATE $t SET delay = delay + 1 WHERE origin = 'ORD'"	# not yet checkpointed
	BEFORE[$t]=$(psql_val "$(printf "$SUMS" "$t")")
done
"${RUN[@]}" $PGBIN/pg_ctl -D "$WORK/data" -m immediate -w stop >/dev/null
"${RUN[@]}" $PGBIN/pg_ctl -D "$WORK/data" -l "$WORK/server.log" -w start >/dev/null
for t in "${TABLES[@]}"; do
	[ "$(psql_val "$(printf "$SUMS" "$t")")" = "${BEFORE[$t]}" ] || { echo "MISMATCH after the crash: $t" >&2; exit 1; }
done
psql_val "SELECT 'every committed row is back; aegis recovery replayed ' || last_recovery_records || ' WAL records (' || pg_size_pretty(last_recovery_bytes) || ') in ' || round(last_recovery_ms) || ' ms' FROM aegis_wal_stats()"
echo "all query results identical on heap and aegis (none, lz4, zstd), before and after the crash"
