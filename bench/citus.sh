#!/usr/bin/env bash
# aegis tables under Citus 13.2: a coordinator and two workers on this
# machine (PostgreSQL 15, shared_preload_libraries = 'citus,aegis_storage').
# Checks that create_distributed_table and create_reference_table on aegis
# tables make aegis shards carrying the table's options (pg_class.relam,
# aegis_table_stats, reloptions), that the rows are all there, that
# TRUNCATE and DROP work, and that a shard move with
# shard_transfer_mode => 'block_writes' keeps every row and the shard's
# options.  Prints PASS/FAIL lines and a summary; exits 1 on any FAIL.
# Not part of CI: Citus is not packaged for Debian, and this script does
# not build it.
#
# It needs a PostgreSQL 15 installation in which Citus 13.2 and
# aegis_storage are both installed: CITUS_PGBIN names its bin directory
# (postgres finds lib/ and share/ relative to it).  Without one it prints
# SKIP and exits 0.
#
# Usage (as root or a user that can run initdb):
#   CITUS_PGBIN=/path/to/usr/lib/postgresql/15/bin bash bench/citus.sh
#   PORT_BASE=55400  coordinator's port; workers on +1 and +2 (127.0.0.1)
#   WORKDIR=/tmp/aegis-citus  clusters and logs
#   KEEP=1           leave the clusters running and WORKDIR in place
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/bench/lib.sh"
PORT_BASE=${PORT_BASE:-55400}
WORKDIR=${WORKDIR:-/tmp/aegis-citus}
KEEP=${KEEP:-0}
NODES=(coord worker1 worker2)
declare -A NODE_PORT=([coord]=$PORT_BASE [worker1]=$((PORT_BASE + 1)) [worker2]=$((PORT_BASE + 2)))
HOST=127.0.0.1
T0=$(now_ms)

RUN=()
[ "$(id -u)" = 0 ] && RUN=(runuser -u postgres --)
PBIN=${CITUS_PGBIN:-}
stop_nodes() {
	local n
	for n in "${NODES[@]}"; do
		[ -f "$WORKDIR/$n/postmaster.pid" ] &&
			"${RUN[@]}" "$PBIN/pg_ctl" -D "$WORKDIR/$n" -m fast -w stop >/dev/null 2>&1 || true
	done
}
teardown() {
	if [ "$KEEP" = 1 ]; then
		echo "KEEP=1: clusters left running in $WORKDIR (ports ${NODE_PORT[coord]}-${NODE_PORT[worker2]}); psql -h $WORKDIR -p ${NODE_PORT[coord]} -U postgres"
		return
	fi
	stop_nodes
	rm -rf "$WORKDIR"
}

if [ -z "$PBIN" ] || [ ! -f "$PBIN/../lib/citus.so" ] || [ ! -f "$PBIN/../lib/aegis_storage.so" ]; then
	echo "SKIP: set CITUS_PGBIN to the bin directory of a PostgreSQL 15 installation with Citus 13.2 and aegis_storage installed"
	exit 0
fi
# a previous KEEP=1 run's clusters
stop_nodes
rm -rf "$WORKDIR"
mkdir -p "$WORKDIR"
chmod 755 "$WORKDIR"
trap teardown EXIT
SHARE=$("$PBIN/pg_config" --sharedir)
CITUS_VERSION=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$SHARE/extension/citus.control")
echo "citus $CITUS_VERSION, aegis_storage $(sed -n "s/^default_version = '\(.*\)'/\1/p" "$SHARE/extension/aegis_storage.control") in $PBIN"

say "starting a coordinator and two workers"
[ "$(id -u)" = 0 ] && chown -R postgres "$WORKDIR"
for n in "${NODES[@]}"; do
	"${RUN[@]}" "$PBIN/initdb" -D "$WORKDIR/$n" -A trust -U postgres >/dev/null
	cat >> "$WORKDIR/$n/postgresql.conf" <<EOF
shared_preload_libraries = 'citus,aegis_storage'
port = ${NODE_PORT[$n]}
listen_addresses = '$HOST'
unix_socket_directories = '$WORKDIR'
max_prepared_transactions = 50
wal_level = logical
max_connections = 100
shared_buffers = 128MB
aegis.buffer_pool_size = 64MB
citus.local_hostname = '$HOST'
EOF
	"${RUN[@]}" "$PBIN/pg_ctl" -D "$WORKDIR/$n" -l "$WORKDIR/$n.log" -w start >/dev/null
	echo "$n: port ${NODE_PORT[$n]}"
done

# q NODE SQL: run SQL on NODE, print the result unaligned (| between
# fields); shard tables are visible (Citus hides them on workers otherwise)
q() {
	"${RUN[@]}" env PGOPTIONS="-c citus.override_table_visibility=off" \
		"$PBIN/psql" -X -q -At -h "$WORKDIR" -p "${NODE_PORT[$1]}" -U postgres -d postgres \
		-v ON_ERROR_STOP=1 -c "$2" 2>&1
}
node_of_port() {
	local n
	for n in "${NODES[@]}"; do [ "${NODE_PORT[$n]}" = "$1" ] && echo "$n"; done
}

npass=0
nfail=0
FAILED=()
pass() { npass=$((npass + 1)); echo "PASS  $1"; }
fail() {
	nfail=$((nfail + 1))
	FAILED+=("$1")
	echo "FAIL  $1"
	[ -n "${2:-}" ] && printf '      %s\n' "$2" | head -20
	return 0
}
# expect NAME WANT NODE SQL: PASS when SQL on NODE prints exactly WANT
expect() {
	local got
	if got=$(q "$3" "$4") && [ "$got" = "$2" ]; then
		pass "$1"
	else
		fail "$1" "want: $2 | got: $got"
	fi
}
# do_sql NAME NODE SQL: PASS when SQL on NODE succeeds
do_sql() {
	local out
	if out=$(q "$2" "$3"); then pass "$1"; else fail "$1" "$out"; fi
}

# placements TABLE: "shardid shard_name node" per placement of TABLE
placements() {
	q coord "SELECT shardid, shard_name, nodeport FROM citus_shards
	         WHERE table_name = '$1'::regclass ORDER BY shardid, nodeport" |
		while IFS='|' read -r id name port; do echo "$id $name $(node_of_port "$port")"; done || true
}
# shard_options NODE SHARD: "amname|backend|codec|level|reloptions" of one shard
shard_options() {
	q "$1" "SELECT a.amname, s.storage_backend, s.compression, s.compression_level,
	               array_to_string(c.reloptions, ',')
	        FROM pg_class c JOIN pg_am a ON a.oid = c.relam,
	             aegis_table_stats(c.oid) s
	        WHERE c.oid = '$2'::regclass"
}
# shard_size NODE SHARD: CHECKPOINT on NODE, print the shard's aegis figures
shard_size() {
	q "$1" "CHECKPOINT" >/dev/null || true
	q "$1" "SELECT '  $2@$1: ' || pages || ' pages, ' || raw_bytes || ' raw bytes, ' || stored_bytes
	               || ' stored (' || compression || '/' || compression_level || ', ratio '
	               || coalesce(round(compression_ratio::numeric, 2)::text, '-') || ')'
	        FROM aegis_table_stats('$2')" || true
}
# check_shards NAME TABLE WANT: every placement of TABLE is an aegis table
# whose aegis_table_stats and reloptions are WANT ("aegis|local|zstd|5|...")
check_shards() {
	local id name node got bad="" n=0 nodes=""
	while read -r id name node; do
		n=$((n + 1))
		nodes="$nodes $node"
		got=$(shard_options "$node" "$name") || true
		[ "$got" = "$3" ] || bad="$bad $name@$node: $got;"
	done < <(placements "$2")
	nodes=$(echo $nodes | tr ' ' '\n' | sort | uniq -c | awk '{printf "%s%s x%s", sep, $2, $1; sep=", "}')
	if [ "$n" -gt 0 ] && [ -z "$bad" ]; then
		pass "$1 ($n placements: $nodes)"
	else
		fail "$1" "want $3 on every placement; got ${n} placements;$bad"
	fi
}
# shard_rows TABLE: sum of count(*) read directly from every placement
shard_rows() {
	local id name node total=0 c
	while read -r id name node; do
		c=$(q "$node" "SELECT count(*) FROM $name") || { echo "error: $c"; return; }
		total=$((total + c))
	done < <(placements "$1")
	echo "$total"
}

say "extensions and nodes"
for n in "${NODES[@]}"; do
	do_sql "CREATE EXTENSION citus, aegis_storage on $n" "$n" \
		"CREATE EXTENSION citus; CREATE EXTENSION aegis_storage"
done
do_sql "citus_set_coordinator_host, citus_add_node for worker1 and worker2" coord \
	"SELECT citus_set_coordinator_host('$HOST', ${NODE_PORT[coord]});
	 SELECT citus_add_node('$HOST', ${NODE_PORT[worker1]});
	 SELECT citus_add_node('$HOST', ${NODE_PORT[worker2]})"
expect "two active workers" "${NODE_PORT[worker1]},${NODE_PORT[worker2]}" coord \
	"SELECT string_agg(node_port::text, ',' ORDER BY node_port) FROM citus_get_active_worker_nodes()"

ROWS=200000
DIST_OPTS="aegis|local|zstd|5|compression=zstd,compression_level=5"
REF_OPTS="aegis|local|lz4|9|compression=lz4,compression_level=9"
GEN="SELECT g::bigint AS id, 'row ' || g || ' ' || repeat(chr(97 + g % 26), 40) AS v, (g * 7) % 1000 AS n
     FROM generate_series(1, $ROWS) g"
CHECKSUM="count(*) || ' ' || sum(n) || ' ' || md5(string_agg(id || ':' || v || ':' || n, ',' ORDER BY id))"

say "create_distributed_table on an aegis table (zstd, level 5), $ROWS rows"
do_sql "CREATE TABLE dist USING aegis WITH (compression = 'zstd', compression_level = 5)" coord \
	"CREATE TABLE dist (id bigint PRIMARY KEY, v text, n int) USING aegis
	 WITH (compression = 'zstd', compression_level = 5)"
do_sql "create_distributed_table('dist', 'id', shard_count := 8)" coord \
	"SELECT create_distributed_table('dist', 'id', shard_count := 8)"
check_shards "dist shards are aegis with zstd/5 (relam, aegis_table_stats, reloptions)" dist "$DIST_OPTS"
expect "dist shards are on both workers" "worker1 worker2" coord \
	"SELECT string_agg(CASE nodeport WHEN ${NODE_PORT[worker1]} THEN 'worker1' WHEN ${NODE_PORT[worker2]} THEN 'worker2'
	                   ELSE nodeport::text END, ' ' ORDER BY nodeport)
	 FROM (SELECT DISTINCT nodeport FROM citus_shards WHERE table_name = 'dist'::regclass) x"
do_sql "INSERT INTO dist through the coordinator" coord "INSERT INTO dist $GEN"
WANT=$(q coord "SELECT $CHECKSUM FROM ($GEN) x") || true
expect "dist: count, sum and md5 of all rows match what was inserted" "$WANT" coord "SELECT $CHECKSUM FROM dist"
got=$(shard_rows dist)
if [ "$got" = "$ROWS" ]; then pass "dist: shard tables on the workers hold $got rows"; else fail "dist: shard tables on the workers hold all rows" "want $ROWS, got $got"; fi
expect "dist: point lookup by id through the coordinator" "$(( (12345 * 7) % 1000 ))" coord "SELECT n FROM dist WHERE id = 12345"
echo "two shards after a CHECKPOINT (aegis_table_stats):"
while read -r id name node; do shard_size "$node" "$name"; done < <(placements dist | head -2)

say "create_reference_table on an aegis table with rows (lz4, level 9)"
do_sql "CREATE TABLE ref USING aegis WITH (compression = 'lz4', compression_level = 9) and 1000 rows" coord \
	"CREATE TABLE ref (k int PRIMARY KEY, label text) USING aegis WITH (compression = 'lz4', compression_level = 9);
	 INSERT INTO ref SELECT g, 'label ' || g FROM generate_series(1, 1000) g"
do_sql "create_reference_table('ref')" coord \
	"SET client_min_messages = warning; SELECT create_reference_table('ref');
	 SELECT truncate_local_data_after_distributing_table('ref')"
check_shards "ref placements are aegis with lz4/9 (relam, aegis_table_stats, reloptions)" ref "$REF_OPTS"
bad=""
while read -r id name node; do
	c=$(q "$node" "SELECT count(*) || ' ' || sum(k) FROM $name") || true
	[ "$c" = "1000 500500" ] || bad="$bad $name@$node: $c;"
	nrefs=$(( ${nrefs:-0} + 1 ))
done < <(placements ref)
if [ -z "$bad" ]; then pass "ref: every placement holds the 1000 rows (${nrefs:-0} placements)"; else fail "ref: every placement holds the 1000 rows" "$bad"; fi
expect "ref: a join of dist and ref through the coordinator" "$ROWS" coord \
	"SELECT count(*) FROM dist d JOIN ref r ON r.k = d.n + 1"
do_sql "ref: INSERT through the coordinator (replicated to every placement)" coord \
	"INSERT INTO ref VALUES (1001, 'label 1001')"
expect "ref: the new row is on every placement" "$(placements ref | wc -l)" coord \
	"SELECT count(*) FROM run_command_on_placements('ref', 'SELECT count(*) FROM %s WHERE k = 1001') WHERE success AND result = '1'"

say "citus_move_shard_placement with shard_transfer_mode => 'block_writes'"
read -r MOVE_ID MOVE_NAME MOVE_FROM < <(placements dist | awk '$3 == "worker1"' | head -1) || true
: "${MOVE_ID:=0}" "${MOVE_NAME:=none}" "${MOVE_FROM:=worker1}"
MOVE_TO=worker2
BEFORE=$(q coord "SELECT $CHECKSUM FROM dist") || true
SHARD_BEFORE=$(q "$MOVE_FROM" "SELECT $CHECKSUM FROM $MOVE_NAME") || true
echo "moving shard $MOVE_NAME from $MOVE_FROM to $MOVE_TO: $SHARD_BEFORE"
M0=$(now_ms)
do_sql "citus_move_shard_placement($MOVE_ID, $MOVE_FROM -> $MOVE_TO, 'block_writes')" coord \
	"SELECT citus_move_shard_placement($MOVE_ID, '$HOST', ${NODE_PORT[$MOVE_FROM]}, '$HOST', ${NODE_PORT[$MOVE_TO]},
	                                   shard_transfer_mode => 'block_writes')"
echo "move took $(( $(now_ms) - M0 )) ms"
expect "the shard's placement is now on $MOVE_TO" "${NODE_PORT[$MOVE_TO]}" coord \
	"SELECT string_agg(nodeport::text, ',') FROM citus_shards WHERE shardid = $MOVE_ID"
expect "moved shard on $MOVE_TO is aegis with zstd/5 (relam, aegis_table_stats, reloptions)" "$DIST_OPTS" "$MOVE_TO" \
	"SELECT a.amname, s.storage_backend, s.compression, s.compression_level, array_to_string(c.reloptions, ',')
	 FROM pg_class c JOIN pg_am a ON a.oid = c.relam, aegis_table_stats(c.oid) s WHERE c.oid = '$MOVE_NAME'::regclass"
expect "moved shard on $MOVE_TO: count, sum and md5 as before the move" "$SHARD_BEFORE" "$MOVE_TO" \
	"SELECT $CHECKSUM FROM $MOVE_NAME"
expect "dist after the move: count, sum and md5 as before" "$BEFORE" coord "SELECT $CHECKSUM FROM dist"
shard_size "$MOVE_TO" "$MOVE_NAME"
do_sql "citus_cleanup_orphaned_resources()" coord "CALL citus_cleanup_orphaned_resources()"
expect "the shard's old copy is gone from $MOVE_FROM" "" "$MOVE_FROM" "SELECT to_regclass('$MOVE_NAME')"
do_sql "dist after the move: UPDATE and INSERT through the coordinator" coord \
	"UPDATE dist SET n = n + 1 WHERE id % 10 = 0; INSERT INTO dist VALUES ($ROWS + 1, 'one more', 1)"
expect "dist after UPDATE and INSERT: count and sum" "$((ROWS + 1)) $(q coord "SELECT sum(n) + $ROWS / 10 + 1 FROM ($GEN) x")" coord \
	"SELECT count(*) || ' ' || sum(n) FROM dist"
check_shards "dist shards after the move are still aegis with zstd/5" dist "$DIST_OPTS"

say "TRUNCATE and DROP"
do_sql "TRUNCATE dist" coord "TRUNCATE dist"
expect "dist is empty through the coordinator" "0" coord "SELECT count(*) FROM dist"
got=$(shard_rows dist)
if [ "$got" = 0 ]; then pass "dist: every shard is empty"; else fail "dist: every shard is empty" "got $got rows"; fi
check_shards "dist shards after TRUNCATE are still aegis with zstd/5" dist "$DIST_OPTS"
do_sql "INSERT into dist after TRUNCATE" coord "INSERT INTO dist $GEN"
expect "dist after TRUNCATE and INSERT: count, sum and md5" "$WANT" coord "SELECT $CHECKSUM FROM dist"
do_sql "TRUNCATE ref" coord "TRUNCATE ref"
expect "ref is empty on every placement" "$(placements ref | wc -l)" coord \
	"SELECT count(*) FROM run_command_on_placements('ref', 'SELECT count(*) FROM %s') WHERE success AND result = '0'"
DIST_SHARDS=$(placements dist)
REF_SHARDS=$(placements ref)
do_sql "DROP TABLE dist, ref" coord "DROP TABLE dist, ref"
bad=""
while read -r id name node; do
	[ -z "$id" ] && continue
	r=$(q "$node" "SELECT coalesce(to_regclass('$name')::text, 'gone')") || true
	[ "$r" = gone ] || bad="$bad $name@$node: $r;"
done <<< "$DIST_SHARDS
$REF_SHARDS"
if [ -z "$bad" ]; then pass "every shard of dist and ref is dropped on its node"; else fail "every shard of dist and ref is dropped on its node" "$bad"; fi
for n in "${NODES[@]}"; do
	expect "no aegis tables left on $n (aegis_tables)" "0" "$n" "SELECT count(*) FROM aegis_tables"
done
expect "no Citus metadata left for the tables" "0" coord "SELECT count(*) FROM pg_dist_shard"

say "server logs"
for n in "${NODES[@]}"; do
	c=$(grep -cE 'PANIC|TRAP|terminated by signal|server process .* was terminated' "$WORKDIR/$n.log" || true)
	if [ "$c" = 0 ]; then pass "$n: no crash in the server log"; else fail "$n: no crash in the server log" "$(grep -E 'PANIC|TRAP|terminated by signal' "$WORKDIR/$n.log" | head -5)"; fi
done

say "summary"
echo "$npass passed, $nfail failed (citus $CITUS_VERSION, $(( ($(now_ms) - T0) / 1000 )) s in all)"
for f in "${FAILED[@]}"; do echo "  FAIL  $f"; done
[ "$nfail" = 0 ]
