# Point-in-time recovery of aegis tables from a WAL archive: a base backup
# taken while aegis tables are written, then two batches of writes; a
# restore with recovery_target_time between the batches has exactly the
# first batch, and a restore to the end of the archive has both.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('pitr_primary');
$node->init(has_archiving => 1, allows_streaming => 1);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'aegis_storage'
aegis.buffer_pool_size = 4MB
autovacuum = off
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION aegis_storage;
	CREATE TABLE p (id int PRIMARY KEY, batch int, v text) USING aegis WITH (compression = 'zstd');
	INSERT INTO p SELECT g, 0, md5(g::text) FROM generate_series(1, 20000) g;});

# writes continue while the base backup copies the files
my $writer = $node->background_psql('postgres');
$writer->query_safe("INSERT INTO p SELECT g, 0, 'during backup' FROM generate_series(20001, 30000) g");
$node->backup('pitr');
$writer->query_safe("UPDATE p SET v = 'updated during backup' WHERE id % 7 = 0");
$writer->quit;

# batch 1, a recorded time, batch 2
$node->safe_psql('postgres', q{
	INSERT INTO p SELECT g, 1, 'batch 1' FROM generate_series(30001, 35000) g;
	UPDATE p SET batch = 1 WHERE id % 10 = 0;
	DELETE FROM p WHERE id % 13 = 0;});
my $q = q{SELECT count(*), sum(batch), md5(string_agg(id || v, ',' ORDER BY id)) FROM p};
my $after_batch1 = $node->safe_psql('postgres', $q);
usleep(100_000);
my $target = $node->safe_psql('postgres', 'SELECT now()');
usleep(100_000);
$node->safe_psql('postgres', q{
	INSERT INTO p SELECT g, 2, 'batch 2' FROM generate_series(35001, 40000) g;
	UPDATE p SET batch = 2 WHERE id % 3 = 0;
	DELETE FROM p WHERE id % 11 = 0;
	CHECKPOINT;
	UPDATE p SET v = 'after checkpoint' WHERE id % 17 = 0;});
my $after_batch2 = $node->safe_psql('postgres', $q);
isnt($after_batch1, $after_batch2, 'the two batches differ');
$node->safe_psql('postgres', 'SELECT pg_switch_wal()');
$node->poll_query_until('postgres',
	q{SELECT last_archived_wal IS NOT NULL AND last_archived_wal >= pg_walfile_name(pg_current_wal_lsn() - 1) FROM pg_stat_archiver})
  or die 'WAL was not archived';

# restore to the time between the batches
my $pitr = PostgreSQL::Test::Cluster->new('pitr_restored');
$pitr->init_from_backup($node, 'pitr', has_restoring => 1, standby => 0);
$pitr->append_conf('postgresql.conf', qq{
recovery_target_time = '$target'
recovery_target_action = 'promote'
archive_mode = off
});
$pitr->start;
$pitr->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()') or die 'no promotion';
is($pitr->safe_psql('postgres', $q), $after_batch1, 'restored to the target time: exactly the first batch');
is($pitr->safe_psql('postgres', 'SET enable_seqscan = off; SELECT count(*) FROM p WHERE id > 30000'),
	$pitr->safe_psql('postgres', 'SELECT count(*) FROM p WHERE id > 30000'), 'its index agrees');
$pitr->safe_psql('postgres', "INSERT INTO p VALUES (-1, 9, 'written after the restore')");
$pitr->restart;
is($pitr->safe_psql('postgres', 'SELECT v FROM p WHERE id = -1'), 'written after the restore',
	'the restored server takes writes and keeps them');
$pitr->stop;

# restore to the end of the archive
my $full = PostgreSQL::Test::Cluster->new('pitr_full');
$full->init_from_backup($node, 'pitr', has_restoring => 1, standby => 0);
$full->append_conf('postgresql.conf', "archive_mode = off");
$full->start;
$full->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()') or die 'no promotion';
is($full->safe_psql('postgres', $q), $after_batch2, 'restored to the end of the archive: both batches');
$full->stop;
$node->stop;
done_testing();
