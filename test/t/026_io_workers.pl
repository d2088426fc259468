# The buffer pool's I/O workers (src/buffer/buffer_io.c): the "aegis io
# worker" reads and decompresses, into the pool, the chunk of pages after
# the one a sequential scan reads itself, and the scan returns exactly what
# it returns without it; it writes some of an aegis checkpoint's pages, and
# a crash after that checkpoint loses nothing; it writes back the pages an
# insert left behind, and a crash after that insert loses nothing;
# aegis.io_workers = 0 starts none.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('io_workers');
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
	CREATE TABLE r_ck USING aegis WITH (compression = 'zstd') AS SELECT * FROM r_heap;
	SELECT aegis_checkpoint();
});
my $pages = $node->safe_psql('postgres', "SELECT pages FROM aegis_table_stats('r_lz4')");
cmp_ok($pages, '>', 200, "the table has $pages pages");
my $want = $node->safe_psql('postgres',
	"SELECT count(*) || ':' || md5(string_agg(r::text, ',' ORDER BY id)) FROM r_heap r");

is($node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'aegis io worker'"),
	'1', 'one I/O worker runs by default');

# the scan reads its first page; the worker reads the three chunks after
# the scan's first (pages 16-63) while the cursor waits
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
				EXIT WHEN (SELECT frames_used FROM aegis_buffer_stats()) >= 49;
				PERFORM pg_sleep(0.1);
			END LOOP;
		END $$;
		SELECT frames_used FROM aegis_buffer_stats();
		COMMIT;
	});
}
my $frames = (split /\n/, frames_after_one_row($node))[-1];
is($frames, '49', 'one page read by the scan, 48 read ahead by the worker');
is($node->safe_psql('postgres',
		"SELECT count(*) || ':' || md5(string_agg(r::text, ',' ORDER BY id)) FROM r_lz4 r"),
	$want, 'a whole scan after a restart returns the rows');

# a checkpoint: the worker writes chunks of frames from the first on while
# the checkpoint goes from the last; each page write pauses 2 ms so that
# both have work (aegis.debug_writeback_delay)
$node->append_conf('postgresql.conf', "aegis.debug_writeback_delay = 2\nlog_min_messages = debug1");
$node->restart;
$node->safe_psql('postgres', "UPDATE r_ck SET b = b + 1");
my $log_offset = -s $node->logfile;
$node->safe_psql('postgres', "SELECT aegis_checkpoint()");
ok($node->log_contains('aegis io worker wrote [0-9]+ pages of frames [0-9]+-[0-9]+ for a checkpoint',
		$log_offset), 'the I/O worker wrote pages for the checkpoint');
my $want_ck = $node->safe_psql('postgres',
	"SELECT count(*) || ':' || md5(string_agg(r::text, ',' ORDER BY id))
	 FROM (SELECT id, a, b + 1 AS b FROM r_heap) r");
$node->stop('immediate');
$node->start;
is($node->safe_psql('postgres',
		"SELECT count(*) || ':' || md5(string_agg(r::text, ',' ORDER BY id)) FROM r_ck r"),
	$want_ck, 'a crash after that checkpoint loses nothing');
$node->adjust_conf('postgresql.conf', 'aegis.debug_writeback_delay', '0');

# write-behind: an insert that adds pages has the worker write back the
# pages it left behind (once the table has its compression dictionary), so
# the next checkpoint has only the rest to write; a crash right after the
# insert loses nothing
$node->restart;
sub ckpt_pages { return $node->safe_psql('postgres', 'SELECT checkpoint_pages FROM aegis_wal_stats()'); }
$log_offset = -s $node->logfile;
$node->safe_psql('postgres', q{
	CREATE TABLE wb (LIKE r_heap) USING aegis WITH (compression = 'zstd');
	INSERT INTO wb SELECT * FROM r_heap;
	INSERT INTO wb SELECT id + 200000, a, b FROM r_heap;
	INSERT INTO wb SELECT id + 400000, a, b FROM r_heap;});
ok($node->wait_for_log('aegis io worker wrote [0-9]+ pages of relation [0-9/]+ behind an insert',
		$log_offset), 'the I/O worker wrote pages behind the insert');
# the worker may still be writing behind the insert: wait until it is done
# (the pool's write-backs stop growing)
$node->safe_psql('postgres', q{
	DO $$
	DECLARE w0 bigint; w1 bigint;
	BEGIN
		SELECT writebacks INTO w1 FROM aegis_buffer_stats();
		FOR i IN 1 .. 120 LOOP
			w0 := w1;
			PERFORM pg_sleep(0.5);
			SELECT writebacks INTO w1 FROM aegis_buffer_stats();
			EXIT WHEN w1 = w0;
		END LOOP;
	END $$;});
my $wb_pages = $node->safe_psql('postgres', "SELECT pages FROM aegis_table_stats('wb')");
my $p0 = ckpt_pages();
$node->safe_psql('postgres', "SELECT aegis_checkpoint()");
my $ck = ckpt_pages() - $p0;
cmp_ok($ck, '<', $wb_pages / 2,
	"the checkpoint after it wrote $ck pages, under half of the table's $wb_pages");
my $want_wb = $node->safe_psql('postgres', q{
	SELECT count(*) || ':' || md5(string_agg(r::text, ',' ORDER BY id)) FROM (
		SELECT * FROM r_heap UNION ALL SELECT id + 200000, a, b FROM r_heap
		UNION ALL SELECT id + 400000, a, b FROM r_heap
		UNION ALL SELECT id + 600000, a, b FROM r_heap) r});
$log_offset = -s $node->logfile;
$node->safe_psql('postgres', "INSERT INTO wb SELECT id + 600000, a, b FROM r_heap");
$node->wait_for_log('behind an insert', $log_offset);
$node->stop('immediate');
$node->start;
is($node->safe_psql('postgres',
		"SELECT count(*) || ':' || md5(string_agg(r::text, ',' ORDER BY id)) FROM wb r"),
	$want_wb, 'a crash right after an insert the worker wrote behind loses nothing');

# on a hot standby: before replaying a checkpoint record, the startup
# process makes the pages replayed so far durable (restartpoints wait for
# nobody) while replay waits; the worker writes chunks of them from the
# first frame on, as on a primary.  The standby keeps the primary's rows,
# also across its own crash.
my $ck_rows = "SELECT count(*) || ':' || md5(string_agg(r::text, ',' ORDER BY id)) FROM r_ck r";
$node->append_conf('postgresql.conf', "wal_level = replica\nmax_wal_senders = 4");
$node->restart;
$node->backup('io_backup');
my $standby = PostgreSQL::Test::Cluster->new('io_standby');
$standby->init_from_backup($node, 'io_backup', has_streaming => 1);
$standby->append_conf('postgresql.conf', "aegis.debug_writeback_delay = 2\nlog_min_messages = debug1");
$standby->start;
$node->safe_psql('postgres', "UPDATE r_ck SET b = b + 10");
$log_offset = -s $standby->logfile;
$node->safe_psql('postgres', "CHECKPOINT");
$node->wait_for_catchup($standby, 'replay');
ok($standby->wait_for_log('aegis io worker wrote [0-9]+ pages of frames [0-9]+-[0-9]+ for a checkpoint',
		$log_offset), 'on a standby, the I/O worker wrote replayed pages before a checkpoint record');
my $want_sb = $node->safe_psql('postgres', $ck_rows);
is($standby->safe_psql('postgres', $ck_rows), $want_sb, 'the standby reads the primary\'s rows');
$standby->stop('immediate');
$standby->start;
$node->wait_for_catchup($standby, 'replay');
is($standby->safe_psql('postgres', $ck_rows), $want_sb, 'and after its own crash');
$standby->stop;

# off: the scan reads its pages alone
$node->append_conf('postgresql.conf', "aegis.io_workers = 0");
$node->restart;
$frames = (split /\n/, $node->safe_psql('postgres', q{
	BEGIN;
	DECLARE c CURSOR FOR SELECT * FROM r_lz4;
	FETCH 1 FROM c;
	SELECT pg_sleep(1);
	SELECT frames_used FROM aegis_buffer_stats();
	COMMIT;
}))[-1];
is($frames, '1', 'aegis.io_workers = 0: only the page the scan read');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'aegis io worker'"),
	'0', 'and no worker');
is($node->safe_psql('postgres',
		"SELECT count(*) || ':' || md5(string_agg(r::text, ',' ORDER BY id)) FROM r_lz4 r"),
	$want, 'the scan returns the same rows');

$node->stop;
done_testing();
