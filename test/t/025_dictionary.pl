# Compression dictionaries (src/block/block_dict.c, src/wal/wal_dict.c): a
# zstd or lz4 table trains one when it reaches 2 MB and its later blocks
# use it.
# Rows of words from one vocabulary compress much better with it (the
# vocabulary is in the dictionary, not repeated on every page).  The table
# reads back after a restart and after a crash; a streaming standby gets the
# dictionary from the WAL (its base backup predates the table) and stores
# its own blocks with it; a base backup restored from the archive reads it;
# a base backup copied without a dictionary made while it ran restores;
# VACUUM gives one to a table that grew without; DROP TABLE removes it; a
# damaged dictionary is a clear error on read, and writes go on without it.
# With a buffer pool of 64 MB or more a background worker trains it while
# the load goes on; a session that holds the table exclusively trains it
# itself, and its DROP leaves no file behind.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use PostgreSQL::Test::RecursiveCopy;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('dict_primary');
$node->init(allows_streaming => 1, has_archiving => 1);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'aegis_storage'
aegis.buffer_pool_size = 4MB
autovacuum = off
});
$node->start;
$node->safe_psql('postgres', "CREATE EXTENSION aegis_storage");

# a standby whose base backup has no aegis table yet
$node->backup('before');
my $standby = PostgreSQL::Test::Cluster->new('dict_standby');
$standby->init_from_backup($node, 'before', has_streaming => 1);
$standby->start;

# ten words per row from a vocabulary of 1500
my $rows = q{
	SELECT g AS id, g % 100 AS grp,
		(SELECT string_agg(substr(md5('w' || ((g * 7919 + k * 104729 + (g * k) % 997) % 1500)),
							1, 5 + k % 4), ' ')
		 FROM generate_series(1, 10) k) AS words
	FROM generate_series(%d, %d) g};
my $shape = '(id int, grp int, words text)';
$node->safe_psql('postgres', qq{
	CREATE TABLE d_heap $shape;
	INSERT INTO d_heap } . sprintf($rows, 1, 120000) . qq{;
	CREATE TABLE d_on $shape USING aegis WITH (compression = 'zstd');
	INSERT INTO d_on SELECT * FROM d_heap;
	CREATE TABLE d_lz4 $shape USING aegis WITH (compression = 'lz4');
	INSERT INTO d_lz4 SELECT * FROM d_heap;
	CREATE TABLE d_none $shape USING aegis WITH (compression = 'none');
	INSERT INTO d_none SELECT * FROM d_heap;
	SET aegis.compression_dictionaries = off;
	CREATE TABLE d_off $shape USING aegis WITH (compression = 'zstd');
	INSERT INTO d_off SELECT * FROM d_heap;
	CREATE TABLE d_lz4_off $shape USING aegis WITH (compression = 'lz4');
	INSERT INTO d_lz4_off SELECT * FROM d_heap;
	RESET aegis.compression_dictionaries;
	SELECT aegis_checkpoint();
});

# dictionary files of a table, in a server's data directory
sub dicts
{
	my ($n, $t) = @_;
	return $n->safe_psql('postgres', qq{
		SELECT count(*) FROM pg_ls_dir('base/' || (SELECT oid FROM pg_database
			WHERE datname = current_database())) f
		WHERE f ~ ('^aegis_[0-9]+_0_' || pg_relation_filenode('$t') || '_dict[0-9]+\$')});
}
sub ratio
{
	my ($n, $t) = @_;
	return $n->safe_psql('postgres',
		"SELECT round(stored_bytes::numeric / raw_bytes, 3) FROM aegis_table_stats('$t')");
}
# archive the WAL up to now
sub archive_all
{
	$node->safe_psql('postgres', 'SELECT pg_switch_wal()');
	$node->poll_query_until('postgres',
		q{SELECT last_archived_wal IS NOT NULL AND last_archived_wal >= pg_walfile_name(pg_current_wal_lsn() - 1) FROM pg_stat_archiver})
	  or die 'WAL was not archived';
}
# a server restored from backup $backup and the archive, promoted at its end
sub restore
{
	my ($name, $backup) = @_;
	my $n = PostgreSQL::Test::Cluster->new($name);
	$n->init_from_backup($node, $backup, has_restoring => 1, standby => 0);
	$n->append_conf('postgresql.conf',
		"recovery_target_action = 'promote'\narchive_mode = off\nrecovery_target_timeline = 'current'");
	$n->start;
	$n->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()')
	  or die "restore of $backup did not finish";
	return $n;
}
sub digest
{
	my ($n, $t) = @_;
	return $n->safe_psql('postgres',
		"SELECT count(*) || ':' || md5(string_agg(x::text, ',' ORDER BY id)) FROM $t x");
}

is(dicts($node, 'd_on'), '1', 'the zstd table has a dictionary');
is(dicts($node, 'd_lz4'), '1', 'the lz4 table has one');
is(dicts($node, 'd_off'), '0', 'none with aegis.compression_dictionaries off');
is(dicts($node, 'd_none'), '0', 'none for an uncompressed table');
my ($on, $off) = (ratio($node, 'd_on'), ratio($node, 'd_off'));
cmp_ok($on, '<', 0.85 * $off, "zstd: stored / raw with a dictionary $on, without $off");
my ($lz4_on, $lz4_off) = (ratio($node, 'd_lz4'), ratio($node, 'd_lz4_off'));
cmp_ok($lz4_on, '<', 0.85 * $lz4_off, "lz4: stored / raw with a dictionary $lz4_on, without $lz4_off");
cmp_ok($node->safe_psql('postgres',
		"SELECT file_bytes > (SELECT file_bytes FROM aegis_table_stats('d_off')) * 0.85 * $on / $off
		 FROM aegis_table_stats('d_on')"), 'eq', 't',
	'file bytes count the dictionary');

my $want = digest($node, 'd_heap');
$node->restart;
is(digest($node, 'd_on'), $want, 'the table reads back after a restart');
is(digest($node, 'd_lz4'), $want, 'the lz4 table too');

# more rows, then a crash before any checkpoint
$node->safe_psql('postgres', "INSERT INTO d_heap " . sprintf($rows, 120001, 130000));
$node->safe_psql('postgres', "INSERT INTO d_on SELECT * FROM d_heap WHERE id > 120000");
$node->stop('immediate');
$node->start;
$want = digest($node, 'd_heap');
is(digest($node, 'd_on'), $want, 'the table reads back after a crash');

# the standby: the dictionary came with the WAL; its own blocks use it
$node->wait_for_catchup($standby);
is(dicts($standby, 'd_on'), '1', 'the standby replayed the dictionary');
is(digest($standby, 'd_on'), $want, 'the standby reads the table');
$node->safe_psql('postgres', "CHECKPOINT");
$node->wait_for_catchup($standby);
my $sb = ratio($standby, 'd_on');
cmp_ok($sb, '<', 0.85 * $off, "standby: stored / raw $sb");
$standby->restart;
is(digest($standby, 'd_on'), $want, 'the standby reads back what it stored');

# a base backup restored from the archive, with writes after it
$node->backup('after');
$node->safe_psql('postgres', "UPDATE d_on SET grp = -grp WHERE id % 3 = 0");
my $primary = digest($node, 'd_on');
archive_all();
my $restored = restore('dict_restored', 'after');
is(digest($restored, 'd_on'), $primary, 'a restored base backup reads the table');
$restored->stop;

# A base backup during which a table gets its dictionary, copied before
# the dictionary's file was made (as pg_basebackup may, reading a directory
# while files appear): its pages changed after the dictionary name it, and
# the earlier records of those pages must not need it (they are skipped on
# the block's LSN until the dictionary's record is replayed).
my $bk = $node->background_psql('postgres');
$bk->query_safe("SET client_min_messages = warning");
$bk->query_safe("SELECT pg_backup_start('dict', true)");
$node->safe_psql('postgres', qq{
	CREATE TABLE d_new $shape USING aegis WITH (compression = 'zstd');
	INSERT INTO d_new SELECT * FROM d_heap WHERE id <= 60000;
	UPDATE d_new SET grp = grp + 1 WHERE id % 50 = 0;
	-- pages VACUUM cuts (XLOG_AEGIS_EMPTY) that grow again past 2 MB, so
	-- their new blocks name the dictionary made after the cut's record
	CREATE TABLE d_cut $shape USING aegis WITH (compression = 'zstd');
	INSERT INTO d_cut SELECT * FROM d_heap WHERE id <= 12000;
	DELETE FROM d_cut WHERE id > 6000;
	VACUUM d_cut;
	INSERT INTO d_cut SELECT * FROM d_heap WHERE id > 6000 AND id <= 30000;
	SELECT aegis_checkpoint();
});
my $dboid = $node->safe_psql('postgres', "SELECT oid FROM pg_database WHERE datname = 'postgres'");
my $new_stem = "aegis_${dboid}_0_" . $node->safe_psql('postgres', "SELECT pg_relation_filenode('d_new')");
my $cut_stem = "aegis_${dboid}_0_" . $node->safe_psql('postgres', "SELECT pg_relation_filenode('d_cut')");
is(dicts($node, 'd_new'), '1', 'the table got its dictionary during the backup');
is(dicts($node, 'd_cut'), '1', 'so did the table cut by VACUUM');
my $copy = $node->backup_dir . '/torn';
PostgreSQL::Test::RecursiveCopy::copypath($node->data_dir, $copy,
	filterfn => sub {
		my $src = shift;
		return $src ne 'postmaster.pid' && $src !~ /^pg_wal\/./
		  && $src !~ /(${new_stem}|${cut_stem})_dict/;
	});
my $label = $bk->query_safe("SELECT labelfile FROM pg_backup_stop(true)");
$bk->quit;
$label =~ s/\n$//;
open(my $lf, '>', "$copy/backup_label") or die "backup_label: $!";
print $lf "$label\n";
close $lf;
ok(!-e "$copy/base/$dboid/${new_stem}_dict1", 'the copy lacks the dictionary file');
my $torn_digest = digest($node, 'd_new');
my $cut_digest = digest($node, 'd_cut');
archive_all();
my $torn = restore('dict_torn', 'torn');
is(digest($torn, 'd_new'), $torn_digest, 'the restored copy reads the table');
is(digest($torn, 'd_cut'), $cut_digest, '... and the table cut and grown again');
is(dicts($torn, 'd_new'), '1', 'redo wrote the dictionary file');
$torn->stop;

# VACUUM gives a dictionary to a table that grew without one; the pages
# VACUUM (FREEZE) then rewrites (every one: its tuples are frozen) use it
$node->safe_psql('postgres', "VACUUM (FREEZE) d_off; SELECT aegis_checkpoint()");
is(dicts($node, 'd_off'), '1', 'VACUUM trained a dictionary');
my $rewritten = ratio($node, 'd_off');
cmp_ok($rewritten, '<', 0.85 * $off, "the pages it rewrote use it: stored / raw $rewritten");
is(digest($node, 'd_off'), digest($node, '(SELECT * FROM d_heap WHERE id <= 120000)'), 'and read back');

# DROP TABLE removes the dictionary
my $dbdir = $node->data_dir . '/base/' .
  $node->safe_psql('postgres', "SELECT oid FROM pg_database WHERE datname = 'postgres'");
my $stem = 'aegis_' . $node->safe_psql('postgres', "SELECT oid FROM pg_database WHERE datname = 'postgres'")
  . '_0_' . $node->safe_psql('postgres', "SELECT pg_relation_filenode('d_off')");
ok(-e "$dbdir/${stem}_dict1", 'the dictionary file is there');
$node->safe_psql('postgres', "DROP TABLE d_off");
ok(!-e "$dbdir/${stem}_dict1", 'DROP TABLE removed it');

# a damaged dictionary: pages written meanwhile go without it (a WARNING),
# reading blocks compressed with it is a clear error, nothing crashes
$stem = 'aegis_' . $node->safe_psql('postgres', "SELECT oid FROM pg_database WHERE datname = 'postgres'")
  . '_0_' . $node->safe_psql('postgres', "SELECT pg_relation_filenode('d_on')");
# (RETURNING: a scan of the table would evict the new pages from the pool)
my $tids = $node->safe_psql('postgres',
	"WITH ins AS (INSERT INTO d_on " . sprintf($rows, 130001, 130300)
	  . " RETURNING ctid) SELECT array_agg(ctid)::text FROM ins");
{
	my $path = "$dbdir/${stem}_dict1";
	open(my $fh, '+<', $path) or die "open $path: $!";
	binmode $fh;
	seek($fh, 16 + 200, 0);
	my $b;
	read($fh, $b, 1);
	seek($fh, 16 + 200, 0);
	print $fh chr(ord($b) ^ 0xff);
	close $fh;
}
# an unlinked file makes every process drop its dictionaries
$node->safe_psql('postgres', "CREATE TABLE scratch (a int) USING aegis; DROP TABLE scratch");
my $log_offset = -s $node->logfile;
my ($ret, $stdout, $stderr) = $node->psql('postgres', "SELECT aegis_checkpoint()");
is($ret, 0, 'the checkpoint writes the new pages');
ok($node->log_contains('WARNING:  aegis compression dictionary 1 of .* is not usable', $log_offset),
	'with a WARNING that the dictionary is not usable');
$node->restart;
is($node->safe_psql('postgres', "SELECT count(*) FROM d_on WHERE ctid = ANY ('$tids'::tid[])"),
	'300', 'the pages written without it read back');
($ret, $stdout, $stderr) = $node->psql('postgres', "SELECT count(*) FROM d_on");
isnt($ret, 0, 'reading the blocks compressed with it fails');
like($stderr, qr/compression dictionary 1 of .* is not usable: its header or checksum is wrong/,
	'the error names the dictionary and what is wrong');
is($node->safe_psql('postgres', "SELECT count(*) FROM d_lz4"), '120000',
	'other tables read on');

$standby->stop;
$node->stop;

# With a buffer pool of 64 MB or more, a background worker trains the
# dictionary of a growing table while the load goes on, holding the table
# with AccessShareLock; pages written before it is done keep none.
my $big = PostgreSQL::Test::Cluster->new('dict_worker');
$big->init;
$big->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'aegis_storage'
aegis.buffer_pool_size = 128MB
autovacuum = off
log_min_messages = debug1
log_line_prefix = '%m [%p] %b: '
});
$big->start;
$big->safe_psql('postgres', qq{
	CREATE EXTENSION aegis_storage;
	CREATE TABLE w_heap $shape;
	INSERT INTO w_heap } . sprintf($rows, 1, 60000) . qq{;
	CREATE TABLE w_on $shape USING aegis WITH (compression = 'zstd');
	SET aegis.compression_dictionaries = off;
	CREATE TABLE w_off $shape USING aegis WITH (compression = 'zstd');
	INSERT INTO w_off SELECT * FROM w_heap;
});
$log_offset = -s $big->logfile;
$big->safe_psql('postgres', "INSERT INTO w_on SELECT * FROM w_heap");
$big->poll_query_until('postgres', qq{
		SELECT count(*) = 1 FROM pg_ls_dir('base/' || (SELECT oid FROM pg_database
			WHERE datname = current_database())) f
		WHERE f ~ ('^aegis_[0-9]+_0_' || pg_relation_filenode('w_on') || '_dict[0-9]+\$')})
  or die 'no dictionary for w_on';
ok($big->log_contains('aegis dictionary trainer: DEBUG:  aegis relation [0-9/]+: compression dictionary 1 of', $log_offset),
	'a background worker trained the growing table\'s dictionary');
$big->safe_psql('postgres', "SELECT aegis_checkpoint()");
($on, $off) = (ratio($big, 'w_on'), ratio($big, 'w_off'));
cmp_ok($on, '<', 0.85 * $off, "its blocks use it: stored / raw $on, without $off");
is(digest($big, 'w_on'), digest($big, 'w_heap'), 'and read back');

# a transaction that holds the table exclusively trains its dictionary
# itself (a worker would wait for its lock), and its DROP removes the file
$big->safe_psql('postgres', "CREATE TABLE w_drop $shape USING aegis WITH (compression = 'lz4')");
my $drop_stem = $big->safe_psql('postgres', "SELECT pg_relation_filenode('w_drop')");
$log_offset = -s $big->logfile;
my $during = $big->safe_psql('postgres', qq{
	BEGIN;
	LOCK TABLE w_drop IN ACCESS EXCLUSIVE MODE;
	INSERT INTO w_drop SELECT * FROM w_heap;
	SELECT (SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
			WHERE a.backend_type = 'aegis dictionary trainer'
			  AND l.relation = 'w_drop'::regclass AND NOT l.granted) || ':' ||
		   (SELECT count(*) FROM pg_ls_dir('base/' || (SELECT oid FROM pg_database
			WHERE datname = current_database())) f WHERE f ~ '_${drop_stem}_dict');
	DROP TABLE w_drop;
	COMMIT;
});
like($during, qr/^0:1$/m, 'a session holding the table exclusively trains it itself');
$big->poll_query_until('postgres',
	"SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'aegis dictionary trainer'")
  or die 'the dictionary worker did not end';
ok(!$big->log_contains('starting background worker process "aegis dictionary trainer', $log_offset),
	'with no worker');
is($big->safe_psql('postgres', qq{
	SELECT count(*) FROM pg_ls_dir('base/' || (SELECT oid FROM pg_database
		WHERE datname = current_database())) f WHERE f ~ '_${drop_stem}_'}),
	'0', 'and left no file of the dropped table');
$big->stop;
done_testing();
