# A sequential scan of a table larger than a quarter of the pool reads
# through a ring once the pool is full, as heap's BAS_BULKREAD strategy:
# a small hot table stays in the pool across scans of a table eight times
# the pool, and across the first scans of a fresh table, which hint every
# page.  While the pool still has room, such a scan keeps its pages
# (aegis's second level costs decompression, heap's a copy).  A table
# under a quarter of the pool is cached as before.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('ring');
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
	CREATE TABLE mid (id int, pad text) USING aegis WITH (compression = 'none');
	INSERT INTO mid SELECT g, repeat('y', 400) FROM generate_series(1, 6000) g;
	CREATE TABLE small (id int, pad text) USING aegis WITH (compression = 'none');
	INSERT INTO small SELECT g, repeat('z', 400) FROM generate_series(1, 2000) g;
	CREATE TABLE big (id int, pad text) USING aegis WITH (compression = 'lz4');
	INSERT INTO big SELECT g, md5(g::text) || repeat('x', 400) FROM generate_series(1, 150000) g;
	VACUUM hot, mid, small, big;
	SELECT aegis_checkpoint();
	-- no VACUUM, no read: its first scan sets hint bits on every page
	CREATE TABLE fresh (id int, pad text) USING aegis WITH (compression = 'lz4');
	INSERT INTO fresh SELECT g, md5(g::text) || repeat('w', 400) FROM generate_series(1, 80000) g;
	CHECKPOINT;
});
my $frames = $node->safe_psql('postgres', 'SELECT frames FROM aegis_buffer_stats()');
my %pages = map { $_ => $node->safe_psql('postgres', "SELECT pages FROM aegis_table_stats('$_')") }
  qw(hot mid small big fresh);
cmp_ok($pages{big}, '>=', 8 * $frames, "big table ($pages{big} pages) is at least 8x the pool ($frames frames)");
cmp_ok($pages{fresh}, '>=', 4 * $frames, "fresh table ($pages{fresh} pages) is at least 4x the pool");
cmp_ok($pages{mid}, '>', $frames / 4, "mid table ($pages{mid} pages) is over a quarter of the pool");
cmp_ok($pages{mid}, '<', $frames / 2, 'and under half of it');
cmp_ok($pages{small}, '<', $frames / 4, "small table ($pages{small} pages) is under a quarter");
cmp_ok($pages{hot}, '<', $frames / 10, "hot table ($pages{hot} pages) is small");

sub misses { return $node->safe_psql('postgres', 'SELECT misses FROM aegis_buffer_stats()'); }
sub misses_of
{
	my ($q) = @_;
	my $m0 = misses();
	$node->safe_psql('postgres', $q);
	return misses() - $m0;
}

# A fresh pool: a scan over a quarter of it keeps its pages while frames are free.
$node->restart;
cmp_ok(misses_of('SELECT count(*), sum(length(pad)) FROM mid'), '>=', $pages{mid},
	'first scan of mid reads it');
is(misses_of('SELECT count(*), sum(length(pad)) FROM mid'), 0,
	'while the pool has free frames, a scan over a quarter of it stays cached');

# Fill the pool, then make the hot set hot.
misses_of('SELECT count(*), sum(length(pad)) FROM big');
my $free = $node->safe_psql('postgres', 'SELECT frames - frames_used FROM aegis_buffer_stats()');
is($free, 0, 'the pool is full after a scan of big');
misses_of('SELECT sum(v) FROM hot') for 1 .. 5;
is(misses_of('SELECT sum(v) FROM hot'), 0, 'hot table cached');

my ($hot_misses, $big_misses) = (0, 0);
for my $round (1 .. 3)
{
	$big_misses += misses_of('SELECT count(*), sum(length(pad)) FROM big');
	$big_misses += misses_of('SELECT count(*), sum(length(pad)) FROM big');
	$hot_misses += misses_of('SELECT sum(v) FROM hot');
}
cmp_ok($big_misses, '>=', 6 * 0.9 * $pages{big}, "big was read from storage by each scan ($big_misses misses)");
is($hot_misses, 0, 'the hot table stayed in the pool across six scans of a table 8x the pool');

# A table whose rows the scan hints: its ring frames are reused all the same
# (the hints dropped), and the rows are the same the second time.
my $fresh_q = 'SELECT count(*), sum(id), sum(length(pad)) FROM fresh';
my $fresh1 = $node->safe_psql('postgres', $fresh_q);
$hot_misses = misses_of('SELECT sum(v) FROM hot');
my $fresh2 = $node->safe_psql('postgres', $fresh_q);
$hot_misses += misses_of('SELECT sum(v) FROM hot');
is($hot_misses, 0, 'the hot table stayed in the pool across the scans that hinted fresh');
is($fresh2, $fresh1, 'fresh gives the same rows again');
is($fresh1, $node->safe_psql('postgres', 'SELECT count(*), sum(g), sum(32 + 400) FROM generate_series(1, 80000) g'),
	'and all of them');

# ANALYZE (all of big's pages are in its sample) and a sample scan read
# through a ring too.
misses_of('SELECT sum(v) FROM hot');
$hot_misses = 0;
cmp_ok(misses_of('ANALYZE big'), '>=', 0.9 * $pages{big}, 'ANALYZE read big from storage');
$hot_misses += misses_of('SELECT sum(v) FROM hot');
cmp_ok(misses_of('SELECT count(*), sum(length(pad)) FROM big TABLESAMPLE SYSTEM (100)'), '>=', 0.9 * $pages{big},
	'a sample scan read big from storage');
$hot_misses += misses_of('SELECT sum(v) FROM hot');
is($hot_misses, 0, 'the hot table stayed in the pool across ANALYZE and a sample scan of big');

# Under a quarter of the pool: no ring, a second scan hits.
misses_of('SELECT count(*), sum(length(pad)) FROM small');
is(misses_of('SELECT count(*), sum(length(pad)) FROM small'), 0, 'a table under a quarter of the pool is cached by its scan');

# The same answers as without the ring (a cursor that turns around too).
is($node->safe_psql('postgres', 'SELECT count(*), sum(id), sum(length(pad)) FROM big'),
	$node->safe_psql('postgres', 'SELECT count(*), sum(g), sum(32 + 400) FROM generate_series(1, 150000) g'),
	'ring scan returns every row');
my $cursor = q{
	BEGIN;
	DECLARE c SCROLL CURSOR FOR %s;
	MOVE FORWARD ALL IN c;
	MOVE BACKWARD 10 IN c;
	FETCH FORWARD 3 FROM c;
	FETCH BACKWARD 2 FROM c;
	COMMIT;
};
is($node->safe_psql('postgres', sprintf($cursor, 'SELECT id FROM big')),
	$node->safe_psql('postgres', sprintf($cursor, 'SELECT g FROM generate_series(1, 150000) g')),
	'scroll cursor over a ring scan turns around');

$node->stop;
done_testing();
