# A table at least four times larger than the buffer pool: loads, scans,
# index lookups, updates and deletes give heap's answers while pages are
# evicted and written back, and concurrent sessions share the pool.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $node = PostgreSQL::Test::Cluster->new('large');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'aegis_storage'
aegis.buffer_pool_size = 4MB
max_parallel_workers_per_gather = 0
});
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION aegis_storage;
	CREATE TABLE big_heap (id int, k int, payload text);
	CREATE TABLE big_aegis (id int, k int, payload text) USING aegis WITH (compression = 'none');
	INSERT INTO big_heap SELECT g, g % 1000, repeat(md5(g::text), 3) FROM generate_series(1, 150000) g;
	INSERT INTO big_aegis SELECT * FROM big_heap;
	CREATE INDEX ON big_aegis (id);
	CREATE INDEX ON big_heap (id);
});
my $pages = $node->safe_psql('postgres', 'SELECT pages FROM aegis_table_stats(\'big_aegis\')');
my $frames = $node->safe_psql('postgres', 'SELECT frames FROM aegis_buffer_stats()');
cmp_ok($pages, '>=', 4 * $frames, "table ($pages pages) is at least 4x the pool ($frames frames)");

my $agg = 'SELECT count(*), sum(id), sum(length(payload)), count(DISTINCT k) FROM ';
is($node->safe_psql('postgres', $agg . 'big_aegis'), $node->safe_psql('postgres', $agg . 'big_heap'),
	'full scan equals heap');
my $ev = $node->safe_psql('postgres', 'SELECT evictions > 0 AND writebacks > 0 FROM aegis_buffer_stats()');
is($ev, 't', 'pages were evicted and written back');

for my $t (qw(big_heap big_aegis))
{
	$node->safe_psql('postgres', qq{
		UPDATE $t SET payload = 'u' || id WHERE id % 7 = 0;
		DELETE FROM $t WHERE id % 11 = 0;
	});
}
is($node->safe_psql('postgres', $agg . 'big_aegis'), $node->safe_psql('postgres', $agg . 'big_heap'),
	'after updates and deletes');
my $look = 'SET enable_seqscan = off; SET enable_bitmapscan = off; SELECT sum(id), string_agg(payload, \',\' ORDER BY id) FROM %s WHERE id IN (1, 7, 77, 7777, 77777, 149996)';
is($node->safe_psql('postgres', sprintf($look, 'big_aegis')), $node->safe_psql('postgres', sprintf($look, 'big_heap')),
	'index lookups across the table');

# four sessions scan and update at once; each updates its own rows
my @h;
for my $i (0 .. 3)
{
	push @h, IPC::Run::start(
		[ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-v', 'ON_ERROR_STOP=1',
		  '-c', "UPDATE big_aegis SET k = k + 1 WHERE id % 4 = $i",
		  '-c', 'SELECT count(*) FROM big_aegis' ],
		'>', \my $out, '2>', \my $err);
}
ok($_->finish, 'concurrent session finished') for @h;
$node->safe_psql('postgres', 'UPDATE big_heap SET k = k + 1');
is($node->safe_psql('postgres', 'SELECT sum(k), count(*) FROM big_aegis'),
	$node->safe_psql('postgres', 'SELECT sum(k), count(*) FROM big_heap'),
	'concurrent updates through a small pool lose nothing');

$node->restart;
is($node->safe_psql('postgres', $agg . 'big_aegis'), $node->safe_psql('postgres', $agg . 'big_heap'),
	'equal after restart');
$node->stop;
done_testing();
