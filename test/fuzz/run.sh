#!/usr/bin/env bash
# Build the libFuzzer targets for aegis's decoders of on-disk and WAL bytes
# and run each for SECONDS (default 20): test/fuzz/run.sh [SECONDS [TARGET...]]
# (all three targets unless some are named).
#   fuzz_block  block header + lz4/zstd payload, column-major form,
#               dictionaries, group blocks (src/block/block_format.c,
#               block_pax.c, block_dict.c, block_codec.c, block_group.c)
#   fuzz_map    block map files               (src/backend/map_format.c)
#   fuzz_wal    page redo records and deltas  (src/wal/wal_decode.c)
# Built with clang's -fsanitize=fuzzer,address,undefined.  Prints one line
# per target, "fuzz <target> ... ok" or "... FAILED" (then the crashing
# input and the sanitizer report are kept and shown).  Needs clang with
# libFuzzer (Debian: clang) and the PostgreSQL server headers.
# test/run_tests.sh runs it briefly; bench/fuzz_long.sh runs it for longer.
set -uo pipefail

secs=${1:-20}
shift $(( $# > 0 ? 1 : 0 ))
targets=${*:-fuzz_block fuzz_map fuzz_wal}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
pg_config=${PG_CONFIG:-$(command -v pg_config || echo /usr/lib/postgresql/15/bin/pg_config)}
cc=$(command -v clang || command -v clang-14 || true)
if [ -z "$cc" ]; then
	echo "fuzz: clang not found (apt-get install clang)"; exit 1
fi
if [ -n "${AEGIS_FUZZ_DIR:-}" ]; then
	out=$AEGIS_FUZZ_DIR; mkdir -p "$out"
else
	out=$(mktemp -d /tmp/aegis_fuzz.XXXXXX)
fi
inc="-I$("$pg_config" --includedir-server) -I$root/src/include -I$root/src/backend -I$here"
flags="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Wno-ignored-attributes $inc"
pgport="$("$pg_config" --pkglibdir)/libpgport.a"
[ -f "$pgport" ] || pgport="$("$pg_config" --libdir)/libpgport.a"

declare -A srcs=(
	[fuzz_block]="$root/src/block/block_format.c $root/src/block/block_pax.c $root/src/block/block_dict.c $root/src/block/block_codec.c $root/src/block/block_group.c"
	[fuzz_map]="$root/src/backend/map_format.c"
	[fuzz_wal]="$root/src/wal/wal_decode.c"
)
status=0
for t in $targets; do
	if [ -z "${srcs[$t]:-}" ]; then
		echo "fuzz $t ... FAILED (no such target)"; status=1; continue
	fi
	if ! "$cc" $flags -o "$out/$t" "$here/$t.c" "$here/fuzz_stubs.c" ${srcs[$t]} \
		"$pgport" -llz4 -lzstd >"$out/$t.build.log" 2>&1; then
		echo "fuzz $t ... FAILED (build)"; cat "$out/$t.build.log"; status=1; continue
	fi
	mkdir -p "$out/$t.corpus"
	if (cd "$out" && "./$t" -max_total_time="$secs" -max_len=20000 -print_final_stats=1 \
		-artifact_prefix="$out/$t-" "$out/$t.corpus" >"$out/$t.log" 2>&1); then
		execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$out/$t.log" | grep -o '[0-9]*$')
		echo "fuzz $t ... ok (${execs:-?} inputs in ${secs} s, $(ls "$out/$t.corpus" | wc -l) in corpus)"
	else
		echo "fuzz $t ... FAILED"; tail -40 "$out/$t.log"; ls "$out"/$t-* 2>/dev/null; status=1
	fi
done
if [ $status -eq 0 ] && [ -z "${AEGIS_FUZZ_DIR:-}" ]; then rm -rf "$out"; else echo "fuzz files kept in $out"; fi
exit $status
