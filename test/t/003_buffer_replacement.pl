# Clock-sweep replacement behaves like LRU on a scan-plus-hot-set workload:
# while a table four times the pool is read chunk by chunk, a small table
# that is used between the chunks stays in the pool (no misses), and pages
# read once are the ones evicted (re-reading the first chunk misses again).
# Pages that only hint bits changed are written on eviction, not by
# checkpoints.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('lru');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'aegis_storage'
aegis.buffer_pool_size = 8MB
autovacuum = off
max_parallel_workers_per_gather = 0
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION aegis_storage;
	CREATE TABLE hot (id int, v int) USING aegis WITH (compression = 'none');
	INSERT INTO hot SELECT g, g FROM generate_series(1, 10000) g;
	CREATE TABLE big (id int, pad text) USING aegis WITH (compression = 'none');
	INSERT INTO big SELECT g, repeat('x', 400) FROM generate_series(1, 80000) g;
	CREATE INDEX ON big (id);
	SELECT aegis_checkpoint();
});
my $frames = $node->safe_psql('postgres', 'SELECT frames FROM aegis_buffer_stats()');
my $big_pages = $node->safe_psql('postgres', "SELECT pages FROM aegis_table_stats('big')");
my $hot_pages = $node->safe_psql('postgres', "SELECT pages FROM aegis_table_stats('hot')");
cmp_ok($big_pages, '>=', 4 * $frames, "big table ($big_pages pages) is at least 4x the pool ($frames frames)");
cmp_ok($hot_pages, '<', $frames / 10, "hot table ($hot_pages pages) is small");

sub misses { return $node->safe_psql('postgres', 'SELECT misses FROM aegis_buffer_stats()'); }
my $hot_q = 'SELECT sum(v) FROM hot';
my $chunk_q = 'SET enable_seqscan = off; SET enable_indexscan = off; SELECT count(*), sum(length(pad)) FROM big WHERE id BETWEEN %d AND %d';

# warm the hot set
$node->safe_psql('postgres', $hot_q) for 1 .. 5;

my $hot_misses = 0;
my $chunk_misses = 0;
my $chunks = 10;
my $per = int(80000 / $chunks);
for my $c (0 .. $chunks - 1)
{
	my $m0 = misses();
	$node->safe_psql('postgres', sprintf($chunk_q, $c * $per + 1, ($c + 1) * $per));
	my $m1 = misses();
	$node->safe_psql('postgres', $hot_q);
	my $m2 = misses();
	$chunk_misses += $m1 - $m0;
	$hot_misses += $m2 - $m1;
}
cmp_ok($chunk_misses, '>=', 0.9 * $big_pages, "the scan read the big table from storage ($chunk_misses misses)");
is($hot_misses, 0, 'the hot set stayed in the pool during the scan');

my $m0 = misses();
$node->safe_psql('postgres', sprintf($chunk_q, 1, $per));
my $again = misses() - $m0;
cmp_ok($again, '>=', 0.9 * $big_pages / $chunks, "pages read once were evicted ($again misses re-reading the first chunk)");

# Hint bits: the first read of new rows hints every page, but a checkpoint
# writes only pages with logged changes; the hinted pages are written when
# they are evicted, so the hints are not lost on the way.
sub ckpt_pages { return $node->safe_psql('postgres', 'SELECT checkpoint_pages FROM aegis_wal_stats()'); }
sub writebacks { return $node->safe_psql('postgres', 'SELECT writebacks FROM aegis_buffer_stats()'); }
$node->safe_psql('postgres', q{
	CREATE TABLE hinted (id int, pad text) USING aegis;
	INSERT INTO hinted SELECT g, repeat('h', 50) FROM generate_series(1, 20000) g;
	CHECKPOINT;});
my $hinted_pages = $node->safe_psql('postgres', "SELECT pages FROM aegis_table_stats('hinted')");
my $p0 = ckpt_pages();
$node->safe_psql('postgres', 'SELECT count(*) FROM hinted');
$node->safe_psql('postgres', 'CHECKPOINT');
is(ckpt_pages() - $p0, 0, "the checkpoint after the first read writes none of the $hinted_pages hinted pages");
my $w0 = writebacks();
$node->safe_psql('postgres', sprintf($chunk_q, 1, 80000));
cmp_ok(writebacks() - $w0, '>=', $hinted_pages, 'evicting the hinted pages writes them');
$node->safe_psql('postgres', 'SELECT count(*) FROM hinted');
$node->safe_psql('postgres', sprintf($chunk_q, 1, 80000));
$w0 = writebacks();
$node->safe_psql('postgres', 'SELECT count(*) FROM hinted');
$node->safe_psql('postgres', sprintf($chunk_q, 1, 80000));
is(writebacks() - $w0, 0, 'once written, the hints stay: reading the pages again dirties nothing');

$node->stop;
done_testing();
