#!/usr/bin/env bash
# Peer comparison on four public data sets: heap and aegis (lz4, zstd; add
# "none" with PEERS_VARIANTS) side by side in one cluster, with the Citus
# columnar ratios recorded in ../shared/peers/README.md printed beside ours
# (the column store is not packaged for Debian and is not run here).
#
#   flights          3 M rows x 5 columns: npm vega-datasets 3.2.1, flights-3m.parquet
#                    (read with npm hyparquet + hyparquet-compressors)
#   flights_wide     the same rows x 15 columns, joined with that package's airports.csv
#   gcide            one row per dictionary entry of Debian's dict-gcide (apt-get download)
#   debian_packages  one row per stanza of apt's bookworm main amd64 Packages index
#
# Per data set and variant: COPY from CSV and the first CHECKPOINT after it
# (each table loaded alone), the first count(*) and the CHECKPOINT after it,
# CREATE INDEX (one btree on a natural key), VACUUM (ANALYZE) and the
# CHECKPOINT after it (aegis writes the pages VACUUM made all-visible at
# aegis.cold_compression_level), then aegis_checkpoint() (waits for the
# aegis checkpointer to put those pages in group blocks, which it does in
# the background after a checkpoint, and checkpoints again; heap: two
# CHECKPOINTs), sizes (table: heap pg_table_size, aegis
# aegis_table_stats().file_bytes + its TOAST table; index), then warm
# queries (a warm-up, then the median of PEERS_REPS runs, variants
# interleaved): count(*) by a sequential scan, a 2-column aggregate, a
# whole-row scan, point lookups (2000 random keys in one query, btree index
# scan), a 1% key range by the index (each run a new session, as a client
# without a connection pool; then count, aggregate, lookups and range again
# as the median of PEERS_REPS runs in one session per variant after a
# warm-up run, which leaves out what a new backend pays once); a cold
# count(*) per variant, by a sequential scan and by the planner's plan (an
# index-only scan on gcide and debian_packages), each after a restart (once
# the I/O workers have mapped the pool: bench_wait_settled) with the OS page
# cache dropped (root only; median of PEERS_COLD_REPS rounds, 3); a bulk
# UPDATE of 10% of the rows and the VACUUM after it.  Times are psql's
# \timing (server round trip), serial plans (max_parallel_workers_per_gather
# = 0), jit off.  Timings are only printed, never judged; query results
# that differ between variants are reported.
#
# Usage (as root on Debian 12, or a user with sudo rights for apt):
#   bash bench/peers.sh [flights flights_wide gcide debian_packages]
# Environment: PEERS_ROWS_LIMIT=N loads only the first N rows of each data set
# (a quick run); PEERS_PORT (55436); PEERS_REPS (5); PEERS_VARIANTS
# ("heap lz4 zstd"; heap first); PEERS_COLD_REPS (3); PEERS_CACHE
# (downloads and CSVs, ~/.cache/aegis_peers).  A full default run takes
# about 13 minutes on 2 cores.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/bench/lib.sh"
T_START=$(now_ms)
DATASETS=("$@")
[ ${#DATASETS[@]} -gt 0 ] || DATASETS=(flights flights_wide gcide debian_packages)
LIMIT=${PEERS_ROWS_LIMIT:-${ROWS_LIMIT:-}}
REPS=${PEERS_REPS:-5}
COLD_REPS=${PEERS_COLD_REPS:-3}
read -r -a VARIANTS <<< "${PEERS_VARIANTS:-heap lz4 zstd}"
CACHE=${PEERS_CACHE:-$HOME/.cache/aegis_peers}
for ds in "${DATASETS[@]}"; do
	case $ds in flights | flights_wide | gcide | debian_packages) ;;
	*) echo "unknown data set: $ds (flights flights_wide gcide debian_packages)" >&2; exit 2 ;;
	esac
done
[ "${VARIANTS[0]}" = heap ] || { echo "PEERS_VARIANTS must start with heap" >&2; exit 2; }

# Ratios to heap recorded on 2026-11-30 (2 cores, PostgreSQL 15, Citus
# columnar built from source), copied from ../shared/peers/README.md:
# "aegis|columnar" per data set and row.  size: lz4 / zstd (no indexes);
# times: zstd, run 1 / run 2; lookups: aegis zstd / columnar zstd, best of 6
# in a third run, the range over the four data sets.
declare -A REC=(
	[flights:size]="0.45 / 0.31|0.25 / 0.14"
	[flights_wide:size]="0.42 / 0.36|0.29 / 0.16"
	[gcide:size]="0.62 / 0.46|0.54 / 0.34"
	[debian_packages:size]="0.53 / 0.38|0.43 / 0.26"
	[flights:copy]="1.13 / 1.28|1.10 / 1.16"
	[flights_wide:copy]="1.41 / 1.09|1.24 / 1.35"
	[gcide:copy]="1.25 / 1.33|0.87 / 1.23"
	[debian_packages:copy]="1.28 / 0.83|1.27 / 1.24"
	[flights:count]="1.37 / 1.31|1.20 / 1.13"
	[flights_wide:count]="2.06 / 2.38|1.02 / 0.99"
	[gcide:count]="2.63 / 2.96|0.80 / 0.94"
	[debian_packages:count]="2.75 / 3.09|0.70 / 0.73"
	[flights:agg]="1.15 / 1.14|1.24 / 1.24"
	[flights_wide:agg]="1.16 / 1.29|0.92 / 0.89"
	[gcide:agg]="0.92 / 0.92|1.41 / 1.51"
	[debian_packages:agg]="0.69 / 0.68|0.32 / 0.31"
	[flights:row]="0.89 / 0.99|1.17 / 1.08"
	[flights_wide:row]="0.98 / 1.12|1.27 / 1.28"
	[gcide:row]="0.98 / 1.20|1.24 / 1.70"
	[debian_packages:row]="0.95 / 0.97|1.06 / 1.25"
	[flights:cold]="2.03 / 1.72|0.65 / 0.61"
	[flights_wide:cold]="1.31 / 1.34|0.28 / 0.44"
	[gcide:cold]="1.84 / 1.30|1.52 / 1.16"
	[debian_packages:cold]="1.91 / 2.18|0.26 / 0.29"
	[any:point]="0.78-1.08|12-766"
	[any:range]="0.75-1.11|1.1-43"
	[any:update]="-|fails (not supported)"
)

say "installing build and data tools (apt)"
bench_install postgresql-15 postgresql-server-dev-15 liblz4-dev libzstd-dev make gcc bc
bench_install_node

say "building and installing aegis_storage"
bench_build "$here"

# ---- data: Debian and npm packages only, converted to CSV once in $CACHE
mkdir -p "$CACHE"
want() { local d; for d in "${DATASETS[@]}"; do [ "$d" = "$1" ] && return 0; done; return 1; }
fetch_vega() {
	[ -s "$CACHE/flights.csv" ] && [ -s "$CACHE/package/data/airports.csv" ] && return
	say "fetching npm vega-datasets 3.2.1 (flights-3m.parquet, airports.csv), hyparquet"
	(
		cd "$CACHE"
		npm pack --silent vega-datasets@3.2.1 >/dev/null
		tar xzf vega-datasets-3.2.1.tgz package/data/flights-3m.parquet package/data/airports.csv
		npm install --silent --no-save --no-audit --no-fund hyparquet@1.31.5 hyparquet-compressors@1.1.2 >/dev/null
		cp "$here/bench/flights_to_csv.mjs" .
		node flights_to_csv.mjs package/data/flights-3m.parquet > flights.csv.tmp
		mv flights.csv.tmp flights.csv
	)
}
if want flights; then fetch_vega; fi
if want flights_wide; then
	fetch_vega
	if [ ! -s "$CACHE/flights_wide.csv" ]; then
		node "$here/bench/peers_to_csv.mjs" wide "$CACHE/flights.csv" "$CACHE/package/data/airports.csv" > "$CACHE/flights_wide.csv.tmp"
		mv "$CACHE/flights_wide.csv.tmp" "$CACHE/flights_wide.csv"
	fi
fi
if want gcide && [ ! -s "$CACHE/gcide.csv" ]; then
	say "fetching Debian dict-gcide (apt-get download)"
	(
		cd "$CACHE"
		rm -rf dict-gcide_*.deb gcide
		out=$(apt-get download dict-gcide 2>&1) || { echo "$out" >&2; exit 1; }
		dpkg-deb -x dict-gcide_*.deb gcide
		node "$here/bench/peers_to_csv.mjs" gcide gcide/usr/share/dictd/gcide.index gcide/usr/share/dictd/gcide.dict.dz > gcide.csv.tmp
		mv gcide.csv.tmp gcide.csv
	)
fi
if want gcide; then echo "gcide: $(cd "$CACHE" && ls dict-gcide_*.deb)"; fi
if want debian_packages && [ ! -s "$CACHE/debian_packages.csv" ]; then
	say "reading apt's bookworm main amd64 Packages index"
	shopt -s nullglob
	lists=(/var/lib/apt/lists/*_dists_bookworm_main_binary-amd64_Packages*)
	if [ ${#lists[@]} -eq 0 ]; then
		$SUDO apt-get update -qq
		lists=(/var/lib/apt/lists/*_dists_bookworm_main_binary-amd64_Packages*)
	fi
	shopt -u nullglob
	[ ${#lists[@]} -gt 0 ] || { echo "no bookworm main amd64 Packages index in /var/lib/apt/lists" >&2; exit 1; }
	echo "${lists[0]}"
	/usr/lib/apt/apt-helper cat-file "${lists[0]}" > "$CACHE/Packages"
	node "$here/bench/peers_to_csv.mjs" packages < "$CACHE/Packages" > "$CACHE/debian_packages.csv.tmp"
	mv "$CACHE/debian_packages.csv.tmp" "$CACHE/debian_packages.csv"
fi

# ---- per data set: columns, index key, queries (%T is the table)
declare -A DDL KEY AGG UPD UPDWHERE
DDL[flights]="date timestamp, delay int, distance int, origin text, destination text"
DDL[flights_wide]="${DDL[flights]}, origin_name text, origin_city text, origin_state text,
	origin_latitude float8, origin_longitude float8, destination_name text, destination_city text,
	destination_state text, destination_latitude float8, destination_longitude float8"
DDL[gcide]="id int, headword text, headwords text, definition text"
DDL[debian_packages]="package text, version text, architecture text, maintainer text,
	installed_size text, depends text, pre_depends text, recommends text, suggests text,
	breaks text, replaces text, conflicts text, provides text, homepage text, source text,
	section text, priority text, multi_arch text, tag text, built_using text, description text,
	description_md5 text, filename text, size text, sha256 text"
KEY=([flights]=date [flights_wide]=date [gcide]=id [debian_packages]=package)
AGG[flights]="SELECT origin, sum(delay) FROM %T GROUP BY origin ORDER BY origin"
AGG[flights_wide]="SELECT origin_state, sum(delay) FROM %T GROUP BY origin_state ORDER BY origin_state"
AGG[gcide]="SELECT left(headword, 1) h, sum(length(definition)) FROM %T GROUP BY h ORDER BY h"
AGG[debian_packages]="SELECT section, sum(installed_size::bigint) FROM %T GROUP BY section ORDER BY section"
# the UPDATE's 10%: rows spread over the whole table
UPD=([flights]="delay = delay + 1" [flights_wide]="delay = delay + 1"
	[gcide]="headwords = headwords || ';'" [debian_packages]="version = version || '+1'")
UPDWHERE=([flights]="extract(minute FROM date)::int % 10 = 3" [flights_wide]="extract(minute FROM date)::int % 10 = 3"
	[gcide]="id % 10 = 3" [debian_packages]="abs(hashtext(package)) % 10 = 3")
NOSCAN="SET enable_seqscan = off; SET enable_bitmapscan = off;"
# count(*) rows measure a sequential scan of the table: once the key's index
# exists the planner counts a VACUUMed table by an index-only scan where the
# index is much smaller (gcide, debian_packages), which reads the index and
# the visibility map, not the table
SEQ="SET enable_indexscan = off; SET enable_indexonlyscan = off; SET enable_bitmapscan = off;"

PORT=${PEERS_PORT:-55436}
say "starting a throw-away PostgreSQL 15 (port $PORT)"
bench_start_cluster "$PORT" "shared_buffers = 2GB" "aegis.buffer_pool_size = 2GB" \
	"max_parallel_workers_per_gather = 0" "jit = off" "autovacuum = off" \
	"checkpoint_timeout = 1h" "max_wal_size = 20GB"
"${PSQL[@]}" -c "CREATE EXTENSION aegis_storage"

CAN_DROP=0
if [ "$(id -u)" = 0 ] && [ -w /proc/sys/vm/drop_caches ] && (sync && echo 3 > /proc/sys/vm/drop_caches) 2>/dev/null; then
	CAN_DROP=1
fi

# sql SETUP SQL: run SETUP, then SQL under \timing; sets TIME (ms) and OUT (SQL's result)
sql() {
	local all
	all=$(printf '%s\n\\timing on\n%s;\n' "$1" "$2" | "${PSQL[@]}" -At)
	TIME=$(grep '^Time: ' <<< "$all" | tail -1 | awk '{print $2}')
	OUT=$(grep -v '^Time: ' <<< "$all" || true)
}
using() { [ "$1" = heap ] && echo "USING heap" || echo "USING aegis WITH (compression = '$1')"; }
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
mb() { printf '%.1f' "$(echo "$1 / 1048576" | bc -l)"; }

declare -A R	# R[ds:row:variant] = ms or MB
declare -A ROWS_OF PLAN
MISMATCH=0

# warm QUERY NAME SETUP SQL: warm-up round (results compared), then REPS
# interleaved rounds; R[ds:NAME:v] = median ms
warm() {
	local name=$1 setup=$2 q=$3 v i ref=""
	declare -A times=()
	for v in "${VARIANTS[@]}"; do
		sql "$setup" "${q//%T/${ds}_$v}"
		if [ -z "$ref" ]; then ref=$OUT; elif [ "$OUT" != "$ref" ]; then
			echo "MISMATCH: $ds $name on ${ds}_$v differs from heap" >&2; MISMATCH=1
		fi
	done
	for ((i = 0; i < REPS; i++)); do
		for v in "${VARIANTS[@]}"; do
			sql "$setup" "${q//%T/${ds}_$v}"
			times[$v]+="$TIME "
		done
	done
	for v in "${VARIANTS[@]}"; do R[$ds:$name:$v]=$(tr ' ' '\n' <<< "${times[$v]}" | grep . | median); done
}

# session NAME SETUP SQL: per variant one session that runs SETUP, SQL
# once (warm-up) and then PEERS_REPS times; R[ds:NAME:v] = median ms.  Unlike
# warm (a new session per run, as a client without a pool connects), it
# leaves out what a backend pays once: mapping the shared memory it touches
# (shared_buffers, the aegis buffer pool and page table) and loading the
# catalogs, which on this VM's page tables cost a new backend milliseconds.
session() {
	local name=$1 setup=$2 q=$3 v i all
	for v in "${VARIANTS[@]}"; do
		all=$( { printf '%s\n%s;\n\\timing on\n' "$setup" "${q//%T/${ds}_$v}"
			for ((i = 0; i < REPS; i++)); do printf '%s;\n' "${q//%T/${ds}_$v}"; done; } |
			"${PSQL[@]}" -At)
		R[$ds:$name:$v]=$(grep '^Time: ' <<< "$all" | awk '{print $2}' | median)
	done
}

run_dataset() {
	local ds=$1 v t q ref key=${KEY[$1]} csv="$WORK/$1.csv" toast lo hi
	say "$ds: preparing the CSV"
	if [ -n "$LIMIT" ]; then
		node "$here/bench/peers_to_csv.mjs" head "$LIMIT" < "$CACHE/$ds.csv" > "$csv"
	else
		cp "$CACHE/$ds.csv" "$csv"
	fi
	chmod 644 "$csv"
	cat "$csv" > /dev/null

	for v in "${VARIANTS[@]}"; do
		t=${ds}_$v
		say "$ds: $v: COPY, CHECKPOINT, first count(*), CHECKPOINT, CREATE INDEX, VACUUM"
		"${PSQL[@]}" -c "CREATE TABLE $t (${DDL[$ds]}) $(using "$v")" -c "CHECKPOINT"
		sql "" "COPY $t FROM '$csv' (FORMAT csv, HEADER)"; R[$ds:copy:$v]=$TIME
		sql "" "CHECKPOINT"; R[$ds:ckpt:$v]=$TIME
		R[$ds:copyck:$v]=$(echo "${R[$ds:copy:$v]} + $TIME" | bc -l)
		sql "" "SELECT count(*) FROM $t"; R[$ds:first:$v]=$TIME; ROWS_OF[$ds]=$OUT
		sql "" "CHECKPOINT"; R[$ds:ckpt2:$v]=$TIME
		sql "" "CREATE INDEX ${t}_key ON $t ($key)"; R[$ds:cindex:$v]=$TIME
		# VACUUM makes the pages all-visible: aegis writes them at
		# aegis.cold_compression_level in this checkpoint
		sql "" "VACUUM (ANALYZE) $t"
		sql "" "CHECKPOINT"; R[$ds:ckpt3:$v]=$TIME
		# aegis groups them after the checkpoint, in the background
		sql "" "SELECT aegis_checkpoint()"; R[$ds:group:$v]=$TIME
		toast=$(psql_val "SELECT coalesce(pg_total_relation_size(nullif(reltoastrelid, 0)), 0) FROM pg_class WHERE oid = '$t'::regclass")
		if [ "$v" = heap ]; then
			R[$ds:size:$v]=$(psql_val "SELECT pg_table_size('$t')")
		else
			R[$ds:size:$v]=$(( $(psql_val "SELECT file_bytes FROM aegis_table_stats('$t')") + toast ))
		fi
		R[$ds:isize:$v]=$(psql_val "SELECT pg_relation_size('${t}_key')")
		echo "${ROWS_OF[$ds]} rows; COPY $(printf '%.0f' "${R[$ds:copy:$v]}") ms; table $(mb "${R[$ds:size:$v]}") MB (TOAST $(mb "$toast") MB)"
	done

	say "$ds: warm queries (warm-up, then median of $REPS)"
	psql_val "SELECT setseed(0.5); CREATE TABLE ${ds}_keys AS SELECT $key AS k FROM ${ds}_heap ORDER BY random() LIMIT 2000" >/dev/null
	lo=$(psql_val "SELECT quote_literal(percentile_disc(0.45) WITHIN GROUP (ORDER BY $key)) FROM ${ds}_heap")
	hi=$(psql_val "SELECT quote_literal(percentile_disc(0.46) WITHIN GROUP (ORDER BY $key)) FROM ${ds}_heap")
	warm count "$SEQ" "SELECT count(*) FROM %T"
	warm agg "" "${AGG[$ds]}"
	warm row "" "SELECT count(*), sum(length(t::text)) FROM %T t"
	warm point "$NOSCAN" "SELECT count(*), sum(length(t::text)) FROM %T t WHERE $key = ANY (ARRAY(SELECT k FROM ${ds}_keys))"
	warm range "$NOSCAN" "SELECT count(*), sum(length(t::text)) FROM %T t WHERE $key >= $lo AND $key < $hi"
	session count_s "$SEQ" "SELECT count(*) FROM %T"
	session agg_s "" "${AGG[$ds]}"
	session point_s "$NOSCAN" "SELECT count(*), sum(length(t::text)) FROM %T t WHERE $key = ANY (ARRAY(SELECT k FROM ${ds}_keys))"
	session range_s "$NOSCAN" "SELECT count(*), sum(length(t::text)) FROM %T t WHERE $key >= $lo AND $key < $hi"
	# the plans, once: a btree index scan on every variant
	for q in "$key = ANY (ARRAY(SELECT k FROM ${ds}_keys))" "$key >= $lo AND $key < $hi"; do
		for v in "${VARIANTS[@]}"; do
			psql_val "$NOSCAN EXPLAIN (COSTS OFF) SELECT * FROM ${ds}_$v t WHERE $q" | grep -q 'Index Scan' ||
				echo "note: no index scan on ${ds}_$v for: $q"
		done
	done

	if [ $CAN_DROP = 1 ]; then
		say "$ds: cold count(*), a sequential scan and the planner's plan: restart, OS page cache dropped, per variant; median of $COLD_REPS rounds"
		declare -A ctimes=() itimes=()
		for ((i = 0; i < COLD_REPS; i++)); do
			for v in "${VARIANTS[@]}"; do
				for q in seq plan; do
					"${PSQL[@]}" -c "CHECKPOINT"
					bench_restart_cluster
					sync
					echo 3 > /proc/sys/vm/drop_caches
					if [ $q = seq ]; then
						sql "$SEQ" "SELECT count(*) FROM ${ds}_$v"; ctimes[$v]+="$TIME "
					else
						sql "" "SELECT count(*) FROM ${ds}_$v"; itimes[$v]+="$TIME "
					fi
				done
			done
		done
		for v in "${VARIANTS[@]}"; do
			R[$ds:cold:$v]=$(tr ' ' '\n' <<< "${ctimes[$v]}" | grep . | median)
			R[$ds:coldplan:$v]=$(tr ' ' '\n' <<< "${itimes[$v]}" | grep . | median)
		done
		PLAN[$ds]=$(psql_val "EXPLAIN (COSTS OFF) SELECT count(*) FROM ${ds}_heap" | grep -o 'Index Only Scan\|Seq Scan' | head -1)
		unset ctimes itimes
	else
		echo "cold scan skipped: cannot drop caches"
	fi

	say "$ds: UPDATE of 10% of the rows, then VACUUM"
	for v in "${VARIANTS[@]}"; do
		sql "" "UPDATE ${ds}_$v SET ${UPD[$ds]} WHERE ${UPDWHERE[$ds]}"; R[$ds:update:$v]=$TIME
		sql "" "VACUUM ${ds}_$v"; R[$ds:vacuum:$v]=$TIME
		sql "" "SELECT count(*), sum(length(t::text)) FROM ${ds}_$v t"
		if [ "$v" = heap ]; then ref=$OUT; elif [ "$OUT" != "$ref" ]; then
			echo "MISMATCH: $ds after the UPDATE on ${ds}_$v differs from heap" >&2; MISMATCH=1
		fi
	done
	for v in "${VARIANTS[@]}"; do "${PSQL[@]}" -c "DROP TABLE ${ds}_$v"; done
	"${PSQL[@]}" -c "DROP TABLE ${ds}_keys" -c "CHECKPOINT"
	rm -f "$csv"
}

for ds in "${DATASETS[@]}"; do run_dataset "$ds"; done

# ---- the tables: absolute value (ratio to heap), recorded ratios beside
print_row() {
	local ds=$1 key=$2 label=$3 unit=$4 v h x rec a c line
	h=${R[$ds:$key:heap]:-}
	[ -n "$h" ] || { printf '%-30s %s\n' "$label" "-"; return; }
	line=$(printf '%-30s' "$label")
	for v in "${VARIANTS[@]}"; do
		x=${R[$ds:$key:$v]}
		if [ "$unit" = MB ]; then x=$(mb "$x"); else x=$(printf '%.1f' "$x"); fi
		if [ "$v" = heap ]; then
			line+=$(printf ' %10s' "$x")
		else
			line+=$(printf ' %10s (%5.2f)' "$x" "$(echo "${R[$ds:$key:$v]} / (${R[$ds:$key:heap]} + 0.0001)" | bc -l)")
		fi
	done
	rec=${REC[$ds:$key]:-${REC[any:$key]:-}}
	a=${rec%%|*}
	c=${rec#*|}
	[ -n "$rec" ] || { a="-"; c="-"; }
	printf '%s   %-13s %s\n' "$line" "$a" "$c"
}
say "results: ms or MB (ratio to heap); recorded ratios from ../shared/peers/README.md"
echo "recorded: sizes lz4 / zstd; times zstd, run 1 / run 2; lookups over all four data sets"
echo "columnar = Citus columnar (not packaged for Debian, not run here)"
for ds in "${DATASETS[@]}"; do
	echo
	hdr=$(printf '%-30s %10s' "$ds (${ROWS_OF[$ds]} rows)" heap)
	for v in "${VARIANTS[@]:1}"; do hdr+=$(printf ' %18s' "aegis $v"); done
	printf '%s   %-13s %s\n' "$hdr" "rec. aegis" "rec. columnar"
	print_row "$ds" size "table size MB" MB
	print_row "$ds" isize "index size MB (${KEY[$ds]})" MB
	print_row "$ds" copy "COPY ms" ms
	print_row "$ds" ckpt "first CHECKPOINT after load" ms
	print_row "$ds" copyck "COPY + that CHECKPOINT" ms
	print_row "$ds" first "first count(*) (hint bits)" ms
	print_row "$ds" ckpt2 "CHECKPOINT after first read" ms
	print_row "$ds" cindex "CREATE INDEX" ms
	print_row "$ds" ckpt3 "CHECKPOINT after VACUUM" ms
	print_row "$ds" group "then aegis_checkpoint()" ms
	print_row "$ds" count "warm count(*), sequential" ms
	print_row "$ds" agg "2-column aggregate" ms
	print_row "$ds" row "whole-row scan" ms
	print_row "$ds" cold "cold count(*), sequential" ms
	print_row "$ds" coldplan "  planner's plan: ${PLAN[$ds]:-?}" ms
	print_row "$ds" point "point lookups (2000 keys)" ms
	print_row "$ds" range "1% range by index" ms
	print_row "$ds" count_s "  the same in one session: count" ms
	print_row "$ds" agg_s "  aggregate" ms
	print_row "$ds" point_s "  point lookups" ms
	print_row "$ds" range_s "  1% range" ms
	print_row "$ds" update "UPDATE 10%" ms
	print_row "$ds" vacuum "VACUUM after it" ms
done
[ $CAN_DROP = 1 ] || echo "cold scan skipped: cannot drop caches"
[ $MISMATCH = 0 ] || echo "WARNING: query results differed between heap and aegis (see MISMATCH above)"
echo
echo "run time: $(( ($(now_ms) - T_START) / 1000 )) s"
