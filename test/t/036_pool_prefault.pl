# aegis.buffer_pool_prefault: an idle I/O worker maps the whole pool into
# its own page table (the first allocates it, the second maps it after) (madvise MADV_POPULATE_WRITE), so the pages it
# decompresses for scans take no page faults.  Checked from the kernel's
# side (RssShmem of the worker in /proc/PID/status), with the setting off
# at start and turned on by a reload, and the pool's contents checked
# across it: frames in use when the worker maps them keep their pages.
# The first I/O worker also loads the relation directory as it starts:
# a missing block map is rebuilt (and reported) before any statement.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use FindBin;
use lib $FindBin::RealBin;
use AegisCrash;

plan skip_all => 'needs /proc/PID/status (Linux)' unless -r "/proc/$$/status";

my $pool_kb = 64 * 1024;
my $node = PostgreSQL::Test::Cluster->new('prefault');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'aegis_storage'
aegis.buffer_pool_size = ${pool_kb}kB
aegis.buffer_pool_prefault = off
aegis.io_workers = 2
autovacuum = off
max_parallel_workers_per_gather = 0
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION aegis_storage;
	CREATE TABLE t (id int, pad text) USING aegis WITH (compression = 'lz4');
	INSERT INTO t SELECT g, md5(g::text) || repeat('p', 200) FROM generate_series(1, 40000) g;
	CHECKPOINT;
});
$node->restart;

# the two I/O workers' pids
sub worker_pids
{
	return split /\n/, $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'aegis io worker' ORDER BY pid");
}

# kB of shared memory mapped into process $pid
sub rss_shmem
{
	my ($pid) = @_;
	open(my $fh, '<', "/proc/$pid/status") or die "cannot read /proc/$pid/status: $!";
	while (my $line = <$fh>)
	{
		return $1 if $line =~ /^RssShmem:\s+(\d+) kB/;
	}
	die "no RssShmem in /proc/$pid/status";
}

# waits up to 60 s for every worker to have the whole pool mapped
sub wait_mapped
{
	my @pids = @_;
	for (1 .. 600)
	{
		return 1 if !grep { rss_shmem($_) < $pool_kb } @pids;
		usleep(100_000);
	}
	return 0;
}

my @pids = worker_pids();
is(scalar(@pids), 2, 'two aegis io workers run');

# Setting off: the worker maps only what it uses.  Fill part of the pool
# with the table's pages and remember what they hold.
my $expect = $node->safe_psql('postgres', q{
	SELECT count(*) || ' ' || sum(id) || ' ' || md5(string_agg(pad, ',' ORDER BY id)) FROM t});
my $pages = $node->safe_psql('postgres', q{SELECT pages FROM aegis_table_stats('t')});
cmp_ok($pages * 8, '<', $pool_kb / 2, "table ($pages pages) fits in half the pool");
sleep 1;
cmp_ok(rss_shmem($_), '<', $pool_kb / 2,
	"with aegis.buffer_pool_prefault off io worker $_ has under half the pool mapped") for @pids;

# Turned on by a reload: the idle worker maps every frame, the ones that
# hold the table's pages included, and changes none of them.
$node->safe_psql('postgres', q{ALTER SYSTEM SET aegis.buffer_pool_prefault = on; SELECT pg_reload_conf()});
ok(wait_mapped(@pids), 'after a reload with it on, both io workers map the whole pool');
my $m0 = $node->safe_psql('postgres', 'SELECT misses FROM aegis_buffer_stats()');
is( $node->safe_psql('postgres', q{
	SELECT count(*) || ' ' || sum(id) || ' ' || md5(string_agg(pad, ',' ORDER BY id)) FROM t}),
	$expect, 'the pages cached before the mapping read back the same');
is($node->safe_psql('postgres', 'SELECT misses FROM aegis_buffer_stats()') - $m0,
	0, 'and were read from the pool, not again from storage');

# On at start (the setting persisted by ALTER SYSTEM): a scan started
# while the worker maps the pool returns every row.
$node->restart;
@pids = worker_pids();
is( $node->safe_psql('postgres', q{
	SELECT count(*) || ' ' || sum(id) || ' ' || md5(string_agg(pad, ',' ORDER BY id)) FROM t}),
	$expect, 'a scan right after a start returns the same rows');
ok(wait_mapped(@pids), 'with it on at start, both io workers map the whole pool');
is($node->safe_psql('postgres', 'SHOW aegis.buffer_pool_prefault'), 'on', 'the setting shows on');

# A clean start without recovery: the worker loads every block map at
# once.  With t's map removed, the rebuild's WARNING is logged while no
# session has touched an aegis table yet.
my $map = aegis_files($node, 'postgres', 't') . '_map';
$node->stop;
unlink($map) or die "unlink $map: $!";
my $log_offset = -s $node->logfile;
$node->start;
my $seen = 0;
for (1 .. 600)
{
	last if ($seen = $node->log_contains(qr/aegis block map ".*_map" was missing; rebuilt it/, $log_offset));
	usleep(100_000);
}
ok($seen, 'a missing map is rebuilt as the server starts, before any statement');
ok(-f $map, 'and written again');
is( $node->safe_psql('postgres', q{
	SELECT count(*) || ' ' || sum(id) || ' ' || md5(string_agg(pad, ',' ORDER BY id)) FROM t}),
	$expect, 'the table reads the same');

$node->stop;
done_testing();
