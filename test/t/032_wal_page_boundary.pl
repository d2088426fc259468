# A block map that names a drop mark is written only after the WAL up to
# the insert position is flushed (src/backend/backend_dir.c, sync_relation).
# Right after pg_switch_wal() - and the WAL switch every pg_basebackup makes
# - the insert position lies past the next page's header, where nothing has
# been written: flushing to it failed ("xlog flush request ... is not
# satisfied"), so while a prepared transaction held a TRUNCATE or DROP of
# an aegis table, every CHECKPOINT waited until some other WAL came (15 s,
# the bgwriter's snapshot) and a clean shutdown ended in a PANIC and crash
# recovery.  Now the flush goes to the end of the WAL inserted.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('main');
$node->init(allows_streaming => 1);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'aegis_storage'
aegis.buffer_pool_size = 4MB
max_prepared_transactions = 5
autovacuum = off
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION aegis_storage;
	CREATE TABLE t (id int) USING aegis;
	CREATE TABLE d (id int) USING aegis;
	INSERT INTO t SELECT generate_series(1, 100);
	INSERT INTO d SELECT generate_series(1, 50);
	BEGIN; TRUNCATE t; PREPARE TRANSACTION 'trunc';});

my $log_at = -s $node->logfile;
$node->safe_psql('postgres', 'SELECT pg_switch_wal()');
$node->safe_psql('postgres', 'CHECKPOINT');
my $log = slurp_file($node->logfile, $log_at);
unlike($log, qr/is not satisfied|request to flush past end/,
	'a checkpoint right after a WAL switch flushes only WAL that exists');

# a clean shutdown in the same state (a drop mark not yet in a durable map),
# and the transactions ended after it
$node->safe_psql('postgres', q{BEGIN; DROP TABLE d; PREPARE TRANSACTION 'drop';});
$node->safe_psql('postgres', 'SELECT pg_switch_wal()');
$log_at = -s $node->logfile;
$node->stop('fast');
$node->start;
$log = slurp_file($node->logfile, $log_at);
unlike($log, qr/PANIC|not properly shut down|automatic recovery/,
	'the shutdown right after a WAL switch was clean');
$node->safe_psql('postgres', q{COMMIT PREPARED 'trunc'; ROLLBACK PREPARED 'drop'});
is($node->safe_psql('postgres', 'SELECT (SELECT count(*) FROM t), (SELECT count(*) FROM d)'),
	'0|50', 'the prepared TRUNCATE committed and the prepared DROP rolled back');
$node->restart;
is($node->safe_psql('postgres', 'SELECT (SELECT count(*) FROM t), (SELECT sum(id) FROM d)'),
	'0|1275', 'and so they stay after a restart');
$node->stop;
done_testing();
