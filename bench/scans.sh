#!/usr/bin/env bash
# Scans that the visibility map speeds up, aegis (lz4, zstd) and heap side
# by side in one run on the same rows: after a load and VACUUM, an
# index-only scan over 10% of the keys (aegis: Heap Fetches 0, as heap), a
# warm count(*) (per-tuple visibility checks skipped on all-visible pages,
# as heapgetpage does) and a 2-column aggregate.  Each query runs 7 times;
# the median time is printed with the aegis/heap ratio.
#
# Usage: bash bench/scans.sh [rows, default 3000000]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/bench/lib.sh"
ROWS=${1:-3000000}

bench_install postgresql-15 postgresql-server-dev-15 liblz4-dev libzstd-dev make gcc
bench_build "$here"
bench_start_cluster "${AEGIS_BENCH_PORT:-55434}" "shared_buffers = 1GB" \
	"aegis.buffer_pool_size = 1GB" "max_parallel_workers_per_gather = 0" "autovacuum = off"
"${PSQL[@]}" -c "CREATE EXTENSION aegis_storage"

say "load $ROWS rows into heap, aegis lz4 and aegis zstd; VACUUM"
for t in heap:heap lz4:aegis zstd:aegis; do
	name=${t%%:*}
	am=${t##*:}
	with=""
	[ "$am" = aegis ] && with="WITH (compression = $name)"
	"${PSQL[@]}" -c "CREATE TABLE s_$name (id int PRIMARY KEY, k int, v numeric, note text) USING $am $with;
		INSERT INTO s_$name SELECT g, g % 1000, g * 1.5, md5(g::text) FROM generate_series(1, $ROWS) g;"
	"${PSQL[@]}" -c "VACUUM (ANALYZE) s_$name"
done
"${PSQL[@]}" -c "SELECT relname, relpages, relallvisible FROM pg_class WHERE relname LIKE 's\_%' AND relkind = 'r' ORDER BY 1"

# median of 7 runs of query $2 on table $1, in ms (EXPLAIN ANALYZE's execution time)
median_ms() {
	local q=${2//%T%/s_$1} i
	for i in 1 2 3 4 5 6 7; do
		psql_val "$3 EXPLAIN (ANALYZE, FORMAT JSON) $q" |
			grep -o '"Execution Time": [0-9.]*' | grep -o '[0-9.]*$'
	done | sort -n | sed -n 4p
}

range=$((ROWS / 10))
declare -A Q=(
	[index_only]="SELECT count(id) FROM %T% WHERE id <= $range"
	[count]="SELECT count(*) FROM %T%"
	[aggregate]="SELECT k, sum(v) FROM %T% GROUP BY k"
)
say "median of 7 warm runs, ms (ratio to heap)"
printf '%-12s %10s %18s %18s\n' query heap "aegis lz4" "aegis zstd"
for q in index_only count aggregate; do
	set_=""
	[ "$q" = index_only ] && set_="SET enable_seqscan = off; SET enable_bitmapscan = off;"
	h=$(median_ms heap "${Q[$q]}" "$set_")
	l=$(median_ms lz4 "${Q[$q]}" "$set_")
	z=$(median_ms zstd "${Q[$q]}" "$set_")
	printf '%-12s %10.1f %10.1f (%.2fx) %10.1f (%.2fx)\n' "$q" "$h" "$l" \
		"$(echo "$l / $h" | bc -l)" "$z" "$(echo "$z / $h" | bc -l)"
done
for t in heap lz4 zstd; do
	printf 'index-only scan on s_%s: %s\n' "$t" \
		"$(psql_val "SET enable_seqscan = off; SET enable_bitmapscan = off;
			EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) SELECT count(id) FROM s_$t WHERE id <= $range" |
			grep -E 'Index Only Scan|Heap Fetches' | tr -s ' ' | paste -sd ';')"
done
