# Shared by the bench/ scripts: install build dependencies, build and
# install the extension, and run a throw-away PostgreSQL 15 cluster owned by
# the postgres OS user (initdb refuses root).  Source it, then call
# bench_install, bench_build and bench_start_cluster; the cluster is stopped
# and removed on exit.  Sets: PGBIN, WORK, PORT, RUN (command prefix that
# runs as the cluster owner), PSQL (array), psql_val.
PGBIN=/usr/lib/postgresql/15/bin
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo

say() { printf '\n== %s\n' "$*"; }
now_ms() { date +%s%3N; }

# bench_install PKG...: apt-get install the Debian packages that are missing
bench_install() {
	local need=() p
	for p in "$@"; do
		dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
	done
	if [ ${#need[@]} -gt 0 ]; then
		$SUDO apt-get update -qq
		DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
	fi
}

# bench_install_node: Node.js and npm (for the data converters), unless
# the commands exist already (they may come from another vendor's package)
bench_install_node() {
	command -v node >/dev/null 2>&1 || bench_install nodejs
	command -v npm >/dev/null 2>&1 || bench_install npm
}

# bench_build DIR: build and install the extension from DIR
bench_build() {
	make -s -C "$1" PG_CONFIG=$PGBIN/pg_config >/dev/null
	$SUDO make -s -C "$1" PG_CONFIG=$PGBIN/pg_config install >/dev/null
}

# bench_start_cluster PORT [postgresql.conf lines...]
bench_start_cluster() {
	PORT=$1
	shift
	WORK=$(mktemp -d /tmp/aegis_bench.XXXXXX)
	chmod 755 "$WORK"
	RUN=()
	if [ "$(id -u)" = 0 ]; then
		chown -R postgres "$WORK"
		RUN=(runuser -u postgres --)
	fi
	trap bench_stop_cluster EXIT
	"${RUN[@]}" $PGBIN/initdb -D "$WORK/data" -A trust -U postgres >/dev/null
	{
		echo "shared_preload_libraries = 'aegis_storage'"
		echo "port = $PORT"
		echo "listen_addresses = ''"
		echo "unix_socket_directories = '$WORK'"
		printf '%s\n' "$@"
	} >> "$WORK/data/postgresql.conf"
	"${RUN[@]}" $PGBIN/pg_ctl -D "$WORK/data" -l "$WORK/server.log" -w start >/dev/null
	PSQL=("${RUN[@]}" $PGBIN/psql -X -q -h "$WORK" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1)
}

bench_restart_cluster() {
	"${RUN[@]}" $PGBIN/pg_ctl -D "$WORK/data" -l "$WORK/server.log" -m fast -w restart >/dev/null
	bench_wait_settled
}

# bench_wait_settled: after a start, wait (60 s at most) until the aegis
# I/O workers have stopped mapping the buffer pool (aegis.buffer_pool_prefault:
# their shared memory stays the same for three polls), so that a cold
# measurement, heap's too, does not share the cores with it
bench_wait_settled() {
	local pm pids p last="" cur stable=0 i
	pm=$(head -1 "$WORK/data/postmaster.pid" 2>/dev/null) || return 0
	for i in $(seq 1 300); do
		pids=$(pgrep -P "$pm" -f 'aegis io worker' | tr '\n' ' ')
		cur=""
		for p in $pids; do
			cur+="$(awk '/^RssShmem:/ {print $2}' /proc/$p/status 2>/dev/null) "
		done
		if [ -n "$pids" ] && [ "$cur" = "$last" ]; then
			stable=$((stable + 1))
			[ $stable -ge 3 ] && return 0
		else
			stable=0
		fi
		last=$cur
		sleep 0.2
	done
}

bench_stop_cluster() {
	"${RUN[@]}" $PGBIN/pg_ctl -D "$WORK/data" -m fast -w stop >/dev/null 2>&1 || true
	rm -rf "$WORK"
}

psql_val() { "${PSQL[@]}" -Atc "$1"; }
