# Read-ahead for sequential scans (src/tam/tam_readahead.c): the
# "aegis read-ahead" background worker reads and decompresses the chunk of
# pages after the one a scan reads itself, into the aegis buffer pool, and
# the scan returns exactly what it returns without read-ahead;
# aegis.read_ahead_workers = 0 starts none.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('read_ahead');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'aegis_storage'
aegis.buffer_pool_size = 64MB
autovacuum = off
max_parallel_workers_per_gather = 0
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION aegis_storage;
	CREATE TABLE r_heap AS
		SELECT g AS id, md5(g::text) AS a, g % 97 AS b FROM generate_series(1, 200000) g;
	CREATE TABLE r_lz4 USING aegis WITH (compression = 'lz4') AS SELECT * FROM r_heap;
	SELECT aegis_checkpoint();
});
my $pages = $node->safe_psql('postgres', "SELECT pages FROM aegis_table_stats('r_lz4')");
cmp_ok($pages, '>', 200, "the table has $pages pages");
my $want = $node->safe_psql('postgres',
	"SELECT count(*) || ':' || md5(string_agg(r::text, ',' ORDER BY id)) FROM r_heap r");

is($node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'aegis read-ahead'"),
	'1', 'one read-ahead worker runs by default');

# the scan reads its first page; the worker reads the next chunk (pages
# 16-31) while the cursor waits
sub frames_after_one_row
{
	my ($n) = @_;
	$n->restart;
	return $n->safe_psql('postgres', q{
		BEGIN;
		DECLARE c CURSOR FOR SELECT * FROM r_lz4;
		FETCH 1 FROM c;
		SELECT pg_sleep(0.1);
		DO $$
		BEGIN
			FOR i IN 1 .. 300 LOOP
				EXIT WHEN (SELECT frames_used FROM aegis_buffer_stats()) >= 17;
				PERFORM pg_sleep(0.1);
			END LOOP;
		END $$;
		SELECT frames_used FROM aegis_buffer_stats();
		COMMIT;
	});
}
my $frames = (split /\n/, frames_after_one_row($node))[-1];
is($frames, '17', 'one page read by the scan, 16 read ahead by the worker');
is($node->safe_psql('postgres',
		"SELECT count(*) || ':' || md5(string_agg(r::text, ',' ORDER BY id)) FROM r_lz4 r"),
	$want, 'a whole scan after a restart returns the rows');

# off: the scan reads its pages alone
$node->append_conf('postgresql.conf', "aegis.read_ahead_workers = 0");
$node->restart;
$frames = (split /\n/, $node->safe_psql('postgres', q{
	BEGIN;
	DECLARE c CURSOR FOR SELECT * FROM r_lz4;
	FETCH 1 FROM c;
	SELECT pg_sleep(1);
	SELECT frames_used FROM aegis_buffer_stats();
	COMMIT;
}))[-1];
is($frames, '1', 'aegis.read_ahead_workers = 0: only the page the scan read');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'aegis read-ahead'"),
	'0', 'and no worker');
is($node->safe_psql('postgres',
		"SELECT count(*) || ':' || md5(string_agg(r::text, ',' ORDER BY id)) FROM r_lz4 r"),
	$want, 'the scan returns the same rows');

$node->stop;
done_testing();
