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

# An index scan pins the page of its last fetch again without a page-table
# lookup (AegisBufferPinRecent) while the entries stay on that page.  A
# cursor stopped in the middle of a page whose frame the pool gave to other
# pages meanwhile (two bitmap scans of the table four times the pool visit
# every frame eight times) must see that the frame changed and read its
# page again: it returns exactly the rows of the query run whole.
$node->safe_psql('postgres', q{
CREATE FUNCTION cursor_across_eviction() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	c refcursor; r record; n int := 0; s bigint := 0; l bigint := 0;
	m0 bigint; cnt bigint;
BEGIN
	PERFORM set_config('enable_seqscan', 'off', true);
	PERFORM set_config('enable_bitmapscan', 'off', true);
	OPEN c FOR SELECT id, length(pad) AS len FROM big WHERE id <= 300 ORDER BY id;
	SELECT misses INTO m0 FROM aegis_buffer_stats();
	FOR i IN 1 .. 7 LOOP
		FETCH c INTO r; n := n + 1; s := s + r.id; l := l + r.len;
	END LOOP;
	PERFORM set_config('enable_bitmapscan', 'on', true);
	PERFORM set_config('enable_indexscan', 'off', true);
	FOR i IN 1 .. 2 LOOP
		SELECT count(*) INTO cnt FROM big WHERE id BETWEEN 1 AND 80000 AND length(pad) > 0;
	END LOOP;
	LOOP
		FETCH c INTO r; EXIT WHEN NOT FOUND; n := n + 1; s := s + r.id; l := l + r.len;
	END LOOP;
	CLOSE c;
	RETURN n || ' ' || s || ' ' || l || ' ' || ((SELECT misses FROM aegis_buffer_stats()) - m0);
END $$;});
like($node->safe_psql('postgres', q{SET enable_seqscan = off; SET enable_bitmapscan = off;
	EXPLAIN (COSTS OFF) SELECT id, length(pad) AS len FROM big WHERE id <= 300 ORDER BY id}),
	qr/Index Scan/, 'the cursor reads big by an index scan');
my ($n, $sum, $len, $misses) = split / /, $node->safe_psql('postgres', 'SELECT cursor_across_eviction()');
cmp_ok($misses, '>=', 2 * 0.9 * $big_pages, "the pool was cycled twice under the cursor ($misses misses)");
is("$n $sum $len", $node->safe_psql('postgres',
	q{SELECT count(*) || ' ' || sum(id) || ' ' || sum(length(pad)) FROM big WHERE id <= 300}),
	'the cursor returned exactly the rows of the whole query');

$node->stop;
done_testing();
