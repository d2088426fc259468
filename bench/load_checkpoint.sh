#!/usr/bin/env bash
# The checkpoint after a bulk load's first read, aegis (lz4, zstd) and heap
# side by side in one run on the same rows.  The first read of freshly
# loaded rows sets hint bits on every page; heap's next checkpoint writes
# those pages again, and so did aegis's (recompressing each one), until
# hint-only pages were left to eviction.  Per table, in turn: load, CHECKPOINT
# (the load's pages), first count(*) (sets the hints), the CHECKPOINT after
# it (timed, with the pages it wrote), a second count(*).  Each table is
# done alone, so each checkpoint writes only its pages.
#
# Usage: bash bench/load_checkpoint.sh [rows, default 3000000]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/bench/lib.sh"
ROWS=${1:-3000000}

bench_install postgresql-15 postgresql-server-dev-15 liblz4-dev libzstd-dev make gcc bc
bench_build "$here"
bench_start_cluster "${AEGIS_BENCH_PORT:-55435}" "shared_buffers = 1GB" \
	"aegis.buffer_pool_size = 1GB" "max_parallel_workers_per_gather = 0" "autovacuum = off" \
	"checkpoint_timeout = 1h" "max_wal_size = 10GB"
"${PSQL[@]}" -c "CREATE EXTENSION aegis_storage"

# run SQL $1, print its wall time in ms
timed() {
	local t0 t1
	t0=$(now_ms)
	"${PSQL[@]}" -c "$1" >/dev/null
	t1=$(now_ms)
	echo $((t1 - t0))
}
# pages written by checkpoints so far: heap's buffers and aegis's pages
ckpt_pages() {
	psql_val "SELECT (SELECT buffers_checkpoint FROM pg_stat_bgwriter) + (SELECT checkpoint_pages FROM aegis_wal_stats())"
}

declare -A LOAD CK1 SCAN1 CK2 PAGES SCAN2
for t in heap:heap lz4:aegis zstd:aegis; do
	name=${t%%:*}
	am=${t##*:}
	with=""
	[ "$am" = aegis ] && with="WITH (compression = $name)"
	say "$name: load $ROWS rows"
	"${PSQL[@]}" -c "CREATE TABLE l_$name (id int, k int, v numeric, note text) USING $am $with"
	LOAD[$name]=$(timed "INSERT INTO l_$name SELECT g, g % 1000, g * 1.5, md5(g::text) FROM generate_series(1, $ROWS) g")
	CK1[$name]=$(timed "CHECKPOINT")
	SCAN1[$name]=$(timed "SELECT count(*) FROM l_$name")
	p0=$(ckpt_pages)
	CK2[$name]=$(timed "CHECKPOINT")
	PAGES[$name]=$(( $(ckpt_pages) - p0 ))
	SCAN2[$name]=$(timed "SELECT count(*) FROM l_$name")
	"${PSQL[@]}" -c "DROP TABLE l_$name"
	"${PSQL[@]}" -c "CHECKPOINT"
done

say "wall times in ms (ratio to heap)"
printf '%-34s %10s %18s %18s\n' step heap "aegis lz4" "aegis zstd"
row() {
	local label=$1
	local -n arr=$2
	local h=${arr[heap]} l=${arr[lz4]} z=${arr[zstd]}
	printf '%-34s %10s %10s (%s) %10s (%s)\n' "$label" "$h" "$l" \
		"$(echo "scale=2; $l / ($h + 0.001)" | bc -l)x" "$z" "$(echo "scale=2; $z / ($h + 0.001)" | bc -l)x"
}
row "load (INSERT ... SELECT)" LOAD
row "CHECKPOINT after the load" CK1
row "first count(*) (sets hint bits)" SCAN1
row "CHECKPOINT after the first read" CK2
row "pages that checkpoint wrote" PAGES
row "second count(*)" SCAN2
