#!/usr/bin/env bash
# Contended workloads on aegis and on heap, side by side in one run: hot-row
# updates, upserts (INSERT ... ON CONFLICT DO UPDATE), a SKIP LOCKED job
# queue, and foreign keys (child inserts, whose checks take FOR KEY SHARE on
# 10 parent rows, half and half with non-key updates of those parents), 8
# clients each (pgbench with custom scripts).  Prints TPS, the
# aegis/heap ratio and failed transactions (serialization failures and
# deadlocks are retried up to 10 times and counted, as pgbench does).
# Each workload runs ROUNDS times on each access method, heap first in odd
# rounds and aegis first in even ones: this VM's throughput drifts by up to
# 2x between runs a minute apart, more than between heap and aegis in one
# round.  TPS are medians over the rounds; the ratio is the median of the
# rounds' aegis/heap ratios.
#
# Usage: bash bench/contention.sh [seconds per run, default 10] [rounds, default 5]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/bench/lib.sh"
SECS=${1:-10}
ROUNDS=${2:-5}
CLIENTS=8

bench_install postgresql-15 postgresql-server-dev-15 liblz4-dev libzstd-dev make gcc bc
bench_build "$here"
bench_start_cluster "${AEGIS_BENCH_PORT:-55433}" "shared_buffers = 256MB" \
	"aegis.buffer_pool_size = 256MB" "max_connections = 50"
"${PSQL[@]}" -c "CREATE EXTENSION aegis_storage"

scripts=$(mktemp -d)
chmod 755 "$scripts"
cat > "$scripts/hot.sql" <<'SQL'
\set k random(1, 10)
UPDATE hot_%AM% SET n = n + 1 WHERE k = :k;
SQL
cat > "$scripts/upsert.sql" <<'SQL'
\set k random(1, 1000)
INSERT INTO kv_%AM% VALUES (:k, 1) ON CONFLICT (k) DO UPDATE SET v = kv_%AM%.v + 1;
SQL
cat > "$scripts/queue.sql" <<'SQL'
UPDATE jobs_%AM% SET state = 'done', done_at = now()
WHERE id = (SELECT id FROM jobs_%AM% WHERE state = 'new' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED);
SQL
cat > "$scripts/fk.sql" <<'SQL'
\set p random(1, 10)
\set r random(1, 2)
\if :r = 1
UPDATE parent_%AM% SET n = n + 1 WHERE id = :p;
\else
INSERT INTO child_%AM% (pid) VALUES (:p);
\endif
SQL

setup() {	# $1 = heap or aegis
	local using=""
	[ "$1" = aegis ] && using="USING aegis"
	"${PSQL[@]}" -c "CREATE TABLE hot_$1 (k int PRIMARY KEY, n bigint) $using" \
		-c "INSERT INTO hot_$1 SELECT g, 0 FROM generate_series(1, 10) g" \
		-c "CREATE TABLE kv_$1 (k int PRIMARY KEY, v bigint) $using" \
		-c "CREATE TABLE jobs_$1 (id int PRIMARY KEY, state text, done_at timestamptz) $using" \
		-c "INSERT INTO jobs_$1 SELECT g, 'new', NULL FROM generate_series(1, 2000000) g" \
		-c "CREATE INDEX ON jobs_$1 (id) WHERE state = 'new'" \
		-c "CREATE TABLE parent_$1 (id int PRIMARY KEY, n bigint) $using" \
		-c "INSERT INTO parent_$1 SELECT g, 0 FROM generate_series(1, 10) g" \
		-c "CREATE TABLE child_$1 (id bigserial PRIMARY KEY, pid int REFERENCES parent_$1) $using" \
		-c "VACUUM ANALYZE hot_$1, kv_$1, jobs_$1, parent_$1, child_$1"
}

run() {	# $1 = workload, $2 = heap or aegis; prints "tps failed"
	local f="$scripts/$1_$2.sql" out
	sed "s/%AM%/$2/g" "$scripts/$1.sql" > "$f"
	chmod 644 "$f"
	out=$("${RUN[@]}" $PGBIN/pgbench -n -h "$WORK" -p "$PORT" -U postgres -c $CLIENTS -j 2 \
		-T "$SECS" --max-tries=10 -f "$f" postgres 2>&1)
	echo "$(echo "$out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p') $(echo "$out" | sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p')"
}

say "setting up hot rows, key-value pairs and a 2M-job queue on heap and on aegis"
setup heap
setup aegis

median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

say "running $CLIENTS clients for $SECS s per workload, $ROUNDS rounds"
printf '%-10s %12s %8s %12s %8s %8s  %s\n' workload "heap tps" failed "aegis tps" failed ratio "rounds (heap/aegis tps)"
for w in hot upsert queue fk; do
	declare -A tps=() failed=() last=()
	rounds=""
	ratios=""
	for ((r = 1; r <= ROUNDS; r++)); do
		order="heap aegis"
		((r % 2 == 0)) && order="aegis heap"
		for am in $order; do
			read -r t f < <(run "$w" "$am")
			tps[$am]+="$t "
			last[$am]=$t
			failed[$am]=$(( ${failed[$am]:-0} + ${f:-0} ))
		done
		rounds+="$(printf '%.0f/%.0f' "${last[heap]}" "${last[aegis]}") "
		ratios+="$(echo "${last[aegis]} / ${last[heap]}" | bc -l) "
	done
	ht=$(median <<< "${tps[heap]}")
	at=$(median <<< "${tps[aegis]}")
	printf '%-10s %12.0f %8s %12.0f %8s %8.2f  %s\n' "$w" "$ht" "${failed[heap]}" "$at" "${failed[aegis]}" \
		"$(median <<< "$ratios")" "$rounds"
	unset tps failed last
done

say "results agree"
"${PSQL[@]}" -At -c "SELECT 'hot rows: heap ' || (SELECT sum(n) FROM hot_heap) || ', aegis ' || (SELECT sum(n) FROM hot_aegis)" \
	-c "SELECT 'upserted keys: heap ' || (SELECT count(*) FROM kv_heap) || ', aegis ' || (SELECT count(*) FROM kv_aegis)" \
	-c "SELECT 'jobs done once: heap ' || (SELECT count(*) FROM jobs_heap WHERE state = 'done') || ', aegis ' || (SELECT count(*) FROM jobs_aegis WHERE state = 'done')" \
	-c "SELECT 'children without a parent: heap ' || (SELECT count(*) FROM child_heap c WHERE NOT EXISTS (SELECT FROM parent_heap p WHERE p.id = c.pid)) || ', aegis ' || (SELECT count(*) FROM child_aegis c WHERE NOT EXISTS (SELECT FROM parent_aegis p WHERE p.id = c.pid))"
rm -rf "$scripts"
