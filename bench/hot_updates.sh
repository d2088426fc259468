#!/usr/bin/env bash
# Updates of a column no index covers (HOT-eligible on heap), aegis and heap
# side by side in one run on the same rows: pgbench, 8 clients, ROUNDS rounds
# of SECS seconds each, autovacuum on.  After each round it prints TPS and
# the size of the primary-key index and of the table: HOT updates (heap's
# and aegis's) add no index entry, so the index stays flat.
#
# Usage: bash bench/hot_updates.sh [rounds, default 3] [seconds, default 20]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/bench/lib.sh"
ROUNDS=${1:-3}
SECS=${2:-20}
CLIENTS=8
ROWS=100000

bench_install postgresql-15 postgresql-server-dev-15 liblz4-dev libzstd-dev make gcc bc
bench_build "$here"
bench_start_cluster "${AEGIS_BENCH_PORT:-55435}" "shared_buffers = 256MB" \
	"aegis.buffer_pool_size = 256MB" "max_connections = 50" "autovacuum_naptime = 10s"
"${PSQL[@]}" -c "CREATE EXTENSION aegis_storage"

scripts=$(mktemp -d)
chmod 755 "$scripts"
for am in heap aegis; do
	using=""
	[ "$am" = aegis ] && using="USING aegis"
	"${PSQL[@]}" -c "CREATE TABLE acc_$am (id int PRIMARY KEY, n bigint, note text) $using" \
		-c "INSERT INTO acc_$am SELECT g, 0, md5(g::text) FROM generate_series(1, $ROWS) g"
	"${PSQL[@]}" -c "VACUUM ANALYZE acc_$am"
	cat > "$scripts/$am.sql" <<SQL
\set id random(1, $ROWS)
UPDATE acc_$am SET n = n + 1 WHERE id = :id;
SQL
	chmod 644 "$scripts/$am.sql"
done

sizes() {	# $1 = heap or aegis: "index_kB table_kB" (aegis: pages x 8 kB)
	if [ "$1" = heap ]; then
		psql_val "SELECT pg_relation_size('acc_heap_pkey') / 1024, pg_relation_size('acc_heap') / 1024" | tr '|' ' '
	else
		psql_val "SELECT pg_relation_size('acc_aegis_pkey') / 1024, pages * 8 FROM aegis_table_stats('acc_aegis')" | tr '|' ' '
	fi
}

say "$CLIENTS clients, $ROUNDS rounds of $SECS s: UPDATE of a non-indexed column"
read -r hi ht < <(sizes heap)
read -r ai at < <(sizes aegis)
printf '%-6s %10s %10s %8s %14s %14s %12s %12s\n' round "heap tps" "aegis tps" ratio \
	"heap index kB" "aegis index kB" "heap tbl kB" "aegis tbl kB"
printf '%-6s %10s %10s %8s %14s %14s %12s %12s\n' 0 - - - "$hi" "$ai" "$ht" "$at"
for r in $(seq 1 "$ROUNDS"); do
	tps=()
	for am in heap aegis; do
		out=$("${RUN[@]}" $PGBIN/pgbench -n -h "$WORK" -p "$PORT" -U postgres -c $CLIENTS -j 2 \
			-T "$SECS" -f "$scripts/$am.sql" postgres 2>&1)
		tps+=("$(echo "$out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p')")
	done
	read -r hi ht < <(sizes heap)
	read -r ai at < <(sizes aegis)
	printf '%-6s %10.0f %10.0f %8.2f %14s %14s %12s %12s\n' "$r" "${tps[0]}" "${tps[1]}" \
		"$(echo "${tps[1]} / ${tps[0]}" | bc -l)" "$hi" "$ai" "$ht" "$at"
done
say "updates applied: heap $(psql_val 'SELECT sum(n) FROM acc_heap'), aegis $(psql_val 'SELECT sum(n) FROM acc_aegis')"
rm -rf "$scripts"
