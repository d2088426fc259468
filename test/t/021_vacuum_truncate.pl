# VACUUM cuts empty trailing pages (lazy_truncate_heap's rule), and the cut
# never comes undone: not on a streaming standby, not in a base backup taken
# before or after it, not after a crash between its WAL record and the cut,
# not after a crash with rows written since, and not when a block map is
# rebuilt from the data files (which still hold older blocks of the cut
# pages: VACUUM writes the emptied pages back before it cuts them, so the
# rows deleted from them never come back).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use FindBin;
use lib $FindBin::RealBin;
use AegisCrash;

my $primary = PostgreSQL::Test::Cluster->new('vt_primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'aegis_storage'
aegis.buffer_pool_size = 8MB
autovacuum = off
restart_after_crash = on
wal_keep_size = 512MB
# the tables below are sized so checkpoints compact them (data files above
# 1 MB); a compression dictionary or group blocks would make them smaller
# than that
aegis.compression_dictionaries = off
aegis.cold_group_pages = 1
});
$primary->start;
$primary->safe_psql('postgres', q{
	CREATE EXTENSION aegis_storage;
	CREATE TABLE vt (id int PRIMARY KEY, v text) USING aegis WITH (compression = 'lz4');
	CREATE TABLE vt_heap (id int PRIMARY KEY, v text);
	INSERT INTO vt SELECT g, md5(g::text) FROM generate_series(1, 30000) g;
	INSERT INTO vt_heap SELECT g, md5(g::text) FROM generate_series(1, 30000) g;
	CHECKPOINT;
});

# a standby from a backup taken before the cut: it replays the cut
$primary->backup('before_cut');
my $standby = PostgreSQL::Test::Cluster->new('vt_standby');
$standby->init_from_backup($primary, 'before_cut', has_streaming => 1);
$standby->start;

my $q = q{SELECT count(*), sum(id), md5(string_agg(v, ',' ORDER BY id)) FROM };
my $qi = q{SET enable_seqscan = off; SET enable_bitmapscan = off;
	SELECT count(*), sum(id) FROM %s WHERE id > 0};
my $pages = q{SELECT pages FROM aegis_table_stats('vt')};

sub same_rows
{
	my ($node, $what) = @_;
	my $expect = $primary->safe_psql('postgres', $q . 'vt_heap');
	is($node->safe_psql('postgres', $q . 'vt'), $expect, "$what: rows");
	is($node->safe_psql('postgres', sprintf($qi, 'vt')),
		$primary->safe_psql('postgres', sprintf($qi, 'vt_heap')), "$what: index scan");
}

# The stored blocks of the tail hold its rows (checkpoint above); the
# DELETE and VACUUM change the pages in the buffer pool only.
my $full = $primary->safe_psql('postgres', $pages);
$primary->safe_psql('postgres', q{
	DELETE FROM vt WHERE id > 8000;
	DELETE FROM vt_heap WHERE id > 8000;
	VACUUM vt;
	VACUUM vt_heap;});
my $cut = $primary->safe_psql('postgres', $pages);
cmp_ok($cut, '<', $full / 2, "VACUUM cut the empty tail ($full -> $cut pages)");
is($primary->safe_psql('postgres', "SELECT relpages FROM pg_class WHERE relname = 'vt'"),
	$cut, 'relpages says so');
cmp_ok($primary->safe_psql('postgres', "SELECT pg_relation_size('vt')"), '<', $full * 8192,
	'the stub was cut too');
same_rows($primary, 'after the cut');

$primary->wait_for_catchup($standby);
same_rows($standby, 'standby after replaying the cut');
is($standby->safe_psql('postgres', $pages), $cut, 'standby has the same pages');
is($standby->safe_psql('postgres', "SELECT pg_relation_size('vt')"),
	$cut * 8192, 'and a stub of exactly those pages (pg_relation_size)');

# A base backup after the cut rebuilds every block map from the data files,
# which still hold blocks of the cut pages.
$primary->safe_psql('postgres', 'CHECKPOINT');
$primary->backup('after_cut');
my $restored = PostgreSQL::Test::Cluster->new('vt_restored');
$restored->init_from_backup($primary, 'after_cut');
$restored->start;
same_rows($restored, 'restored backup taken after the cut');
is($restored->safe_psql('postgres', $pages), $primary->safe_psql('postgres', $pages),
	'... with the pages the map has (the cut pages\' blocks in the data files are left out)');
$restored->stop;

# A crash right after the cut's record is flushed, before anything is cut:
# redo cuts.
$primary->safe_psql('postgres', q{
	DELETE FROM vt WHERE id > 4000;
	DELETE FROM vt_heap WHERE id > 4000;
	VACUUM vt_heap;});
my $before = $primary->safe_psql('postgres', $pages);
my ($ret, $out, $err) = $primary->psql('postgres',
	"SET aegis.debug_crash_point = 'vacuum_cut_logged'; VACUUM vt;");
isnt($ret, 0, 'the backend crashed at the fault point');
$primary->poll_query_until('postgres', 'SELECT count(*) >= 0 FROM aegis_tables')
	or die 'the primary did not come back';
ok($primary->log_contains(qr/aegis.debug_crash_point reached at AEGIS_CRASH_VACUUM_CUT_LOGGED/),
	'the fault point was reached');
cmp_ok($primary->safe_psql('postgres', $pages), '<', $before, 'redo made the cut');
same_rows($primary, 'after a crash between the record and the cut');

# Rows written after a cut survive a crash.
$primary->safe_psql('postgres', q{
	INSERT INTO vt SELECT g, 'after ' || g FROM generate_series(40001, 45000) g;
	INSERT INTO vt_heap SELECT g, 'after ' || g FROM generate_series(40001, 45000) g;});
kill9_and_restart($primary);
same_rows($primary, 'rows written after the cut, after a crash');
$primary->wait_for_catchup($standby);
same_rows($standby, 'standby after all of it');

# A checkpoint that starts before a cut and syncs the cut block map: if the
# server crashes before PostgreSQL's checkpoint record, or a standby
# restarts from that checkpoint's restartpoint, recovery starts before the
# cut and meets the cut pages' older records.  They describe content the
# pages lost and must be skipped (the map keeps the cut's LSN), not replayed
# onto new zero pages, where a compaction fails (PANIC at every start: the
# second attempt's bug, reproduced by this churn).  'during' runs while the
# aegis checkpoint for the new redo pointer waits before it syncs the maps
# (aegis.debug_checkpoint_delay); returns the WAL position when it began.
sub during_checkpoint
{
	my ($node, $crash, $during, $before_start) = @_;
	my $log_offset = -s $node->logfile;
	my @settings = ('aegis.debug_checkpoint_delay');
	$node->safe_psql('postgres', "ALTER SYSTEM SET aegis.debug_checkpoint_delay = '6s'");
	if ($crash)
	{
		# no automatic restart: it would run with the fault point still set
		$node->safe_psql('postgres', "ALTER SYSTEM SET aegis.debug_crash_point = 'checkpoint_after_maps'");
		$node->safe_psql('postgres', 'ALTER SYSTEM SET restart_after_crash = off');
		push @settings, 'aegis.debug_crash_point', 'restart_after_crash';
	}
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
	sleep(1);	# the aegis checkpointer reads them
	my $cp = $node->background_psql('postgres', on_error_stop => 0);
	$cp->query_until(qr/started/, "\\echo started\nCHECKPOINT;\n");
	$node->poll_query_until('postgres', q{SELECT count(*) > 0 FROM pg_stat_activity
		WHERE query LIKE 'CHECKPOINT%' AND wait_event = 'CheckpointDone'})
	  or die 'the checkpoint did not start';
	usleep(300_000);	# its redo pointer is chosen
	my $lsn0 = $node->safe_psql('postgres', 'SELECT pg_current_wal_insert_lsn()');
	$during->();
	if ($crash)
	{
		my $crashed = qr/debug_crash_point reached at AEGIS_CRASH_CHECKPOINT_AFTER_MAPS/;
		ok(!$node->log_contains($crashed, $log_offset), 'the change came before the maps were synced');
		for (1 .. 600)
		{
			last if $node->log_contains($crashed, $log_offset);
			usleep(100_000);
		}
		ok($node->log_contains($crashed, $log_offset),
			'the aegis checkpointer crashed after syncing the maps');
		eval { $cp->quit };
		$node->stop('immediate', fail_ok => 1);	# the postmaster is gone or going
		$node->adjust_conf('postgresql.auto.conf', $_, undef) for @settings;
		$before_start->() if $before_start;
		$node->start;
		my ($redo) = (slurp_file($node->logfile, $log_offset) =~ /redo starts at (\S+)/);
		is($node->safe_psql('postgres', "SELECT '$redo'::pg_lsn < '$lsn0'::pg_lsn"), 't',
			"recovery started before the change ($redo < $lsn0)");
		return $lsn0;
	}
	$node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM pg_stat_activity
		WHERE query LIKE 'CHECKPOINT%' AND state = 'active'}) or die 'the checkpoint did not end';
	eval { $cp->quit };
	$node->safe_psql('postgres', "ALTER SYSTEM RESET $_") for @settings;
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
	return $lsn0;
}

# the churn that PANICked: rows of the tail change in place (free room on
# their pages), and VACUUM compacts those pages, before the tail is emptied
my $y_setup = q{
	DROP TABLE IF EXISTS y, y_heap;
	CREATE TABLE y (id int PRIMARY KEY, n int, v text) USING aegis WITH (compression = 'lz4', fillfactor = 70);
	CREATE TABLE y_heap (id int PRIMARY KEY, n int, v text) WITH (fillfactor = 70);
	INSERT INTO y SELECT g, 0, md5(g::text) FROM generate_series(1, 20000) g;
	INSERT INTO y_heap SELECT g, 0, md5(g::text) FROM generate_series(1, 20000) g;
	VACUUM y; VACUUM y_heap;
	CHECKPOINT;};
my $y_churn = '';
for my $t ('y', 'y_heap')
{
	$y_churn .= qq{
	UPDATE $t SET n = n + 1, v = repeat('a', id % 50) WHERE id > 2000 AND id % 3 = 0;
	DELETE FROM $t WHERE id > 2000 AND id % 5 = 0;
	VACUUM $t;
	UPDATE $t SET n = n + 1, v = repeat('b', id % 70) WHERE id > 2000 AND id % 2 = 0;
	INSERT INTO $t SELECT g, 0, repeat('c', g % 40) FROM generate_series(20001, 21000) g;
	VACUUM $t;
	UPDATE $t SET n = n + 1, v = repeat('d', id % 30) WHERE id > 2000 AND id % 7 < 3;
	DELETE FROM $t WHERE id > 2000 AND id % 11 = 0;
	VACUUM $t;
	UPDATE $t SET n = n + 1 WHERE id > 2000;
	VACUUM $t;
	DELETE FROM $t WHERE id > 2000;};
}
$y_churn .= "\n\tVACUUM y_heap;";
my $yq = q{SELECT count(*), sum(n), md5(string_agg(id || v, ',' ORDER BY id)) FROM };
my $cut_y = sub {
	my ($ret, $out, $err) = $primary->psql('postgres', 'VACUUM (VERBOSE) y');
	like($err, qr/truncated \d+ to \d+ pages/, 'VACUUM cut the tail during the checkpoint');
};

# primary: the churn after the last completed checkpoint, the cut while the
# next one runs, then rows that add every cut page number again (the new
# pages still have no block when the maps are synced), and the checkpoint
# crashes after syncing the maps.  Redo must skip the old pages' records
# for the new pages (they were added after the cut); the end of recovery
# says how many it skipped.
$primary->safe_psql('postgres', $y_setup);
$primary->safe_psql('postgres', $y_churn);
my $cut_from = $primary->safe_psql('postgres', "SELECT pages FROM aegis_table_stats('y')");
my $refilled;
my $log_offset = -s $primary->logfile;
during_checkpoint($primary, 1, sub {
	$cut_y->();
	$primary->safe_psql('postgres', q{
		INSERT INTO y SELECT g, 0, md5(g::text) FROM generate_series(30001, 55000) g;
		INSERT INTO y_heap SELECT g, 0, md5(g::text) FROM generate_series(30001, 55000) g;});
	$refilled = $primary->safe_psql('postgres', "SELECT pages FROM aegis_table_stats('y')");
});
cmp_ok($refilled, '>=', $cut_from, "the new rows took every cut page number again ($refilled >= $cut_from)");
is($primary->safe_psql('postgres', $yq . 'y'), $primary->safe_psql('postgres', $yq . 'y_heap'),
	'crash of a checkpoint that synced a cut made after its redo pointer: rows');
is($primary->safe_psql('postgres', "SELECT pages FROM aegis_table_stats('y')"), $refilled,
	'... and pages');
my ($skipped) = (slurp_file($primary->logfile, $log_offset) =~ /(\d+) page records were skipped/);
cmp_ok($skipped // 0, '>', 0, 'redo skipped the cut pages\' records');

# the same, with the block map of y lost before the restart, after the
# checkpoint compacted y (its new generation has no blocks of the cut
# pages): the map rebuilt from the data files takes the cut's LSN from the
# generation's header, and redo skips the old records as above
$primary->safe_psql('postgres', $y_setup);
$primary->safe_psql('postgres', $y_churn);
my ($ydir, $yname) = aegis_files($primary, 'postgres', 'y');
my @ygen_before = map { /\.(\d+)$/ ? $1 : () } glob("$ydir/$yname.*");
$log_offset = -s $primary->logfile;
during_checkpoint($primary, 1, sub {
	$cut_y->();
	$primary->safe_psql('postgres', q{
		INSERT INTO y SELECT g, 0, md5(g::text) FROM generate_series(30001, 55000) g;
		INSERT INTO y_heap SELECT g, 0, md5(g::text) FROM generate_series(30001, 55000) g;});
}, sub {
	my @gens = map { /\.(\d+)$/ ? $1 : () } glob("$ydir/$yname.*");
	my ($newest) = sort { $b <=> $a } @gens;
	cmp_ok($newest, '>', (sort { $b <=> $a } @ygen_before)[0],
		'the crashed checkpoint compacted y into a new generation');
	unlink("$ydir/${yname}_map") or die "unlink map: $!";
});
like(slurp_file($primary->logfile, $log_offset), qr/aegis block map ".*${yname}_map" was missing; rebuilt it/,
	'lost map after the compaction of a cut table: rebuilt from the data files');
is($primary->safe_psql('postgres', $yq . 'y'), $primary->safe_psql('postgres', $yq . 'y_heap'),
	'... and the rows are right');
($skipped) = (slurp_file($primary->logfile, $log_offset) =~ /(\d+) page records were skipped/);
cmp_ok($skipped // 0, '>', 0, '... redo skipped the cut pages\' records (the generation header kept the cut)');

# the same for TRUNCATE of a table created in the transaction
my $tt = $primary->background_psql('postgres');
$tt->query_safe(q{
	BEGIN;
	CREATE TABLE tt (id int, v text) USING aegis;
	INSERT INTO tt SELECT g, md5(g::text) FROM generate_series(1, 20000) g;});
$primary->safe_psql('postgres', 'CHECKPOINT');
$tt->query_safe(q{UPDATE tt SET v = v || 'u'});
during_checkpoint($primary, 1, sub {
	$tt->query_safe(q{
		TRUNCATE tt;
		INSERT INTO tt SELECT g, 'after' FROM generate_series(1, 10) g;
		COMMIT;});
});
eval { $tt->quit };
is($primary->safe_psql('postgres', 'SELECT count(*), sum(id) FROM tt'), '10|55',
	'crash of a checkpoint that synced a TRUNCATE made after its redo pointer');

# standby: it replays the churn and the cut, then the aegis checkpoint
# record (its redo syncs the standby's cut map) and the checkpoint record
# whose redo precedes them; a restartpoint there, a restart, and replay
# starts before the cut
$primary->safe_psql('postgres', 'CREATE EXTENSION IF NOT EXISTS pg_walinspect');
$primary->safe_psql('postgres', $y_setup);
$primary->wait_for_catchup($standby);
my $lsn0 = during_checkpoint($primary, 0, sub {
	$primary->safe_psql('postgres', $y_churn);
	$cut_y->();
});
is($primary->safe_psql('postgres', qq{
	SELECT max(start_lsn) FILTER (WHERE record_type = 'SHRINK')
		< min(start_lsn) FILTER (WHERE record_type = 'CHECKPOINT')
	FROM pg_get_wal_records_info('$lsn0', pg_current_wal_lsn())
	WHERE resource_manager = 'aegis_storage'}), 't',
	'the cut came before the aegis checkpoint record');
$primary->wait_for_catchup($standby);
$standby->safe_psql('postgres', 'CHECKPOINT');
my $sredo = $standby->safe_psql('postgres', 'SELECT redo_lsn FROM pg_control_checkpoint()');
is($standby->safe_psql('postgres', "SELECT '$sredo'::pg_lsn <= '$lsn0'::pg_lsn"), 't',
	"the standby's restartpoint precedes the churn and the cut ($sredo <= $lsn0)");
$standby->restart;
is($standby->safe_psql('postgres', $yq . 'y'), $primary->safe_psql('postgres', $yq . 'y_heap'),
	'standby restarted from a restartpoint before the cut: rows');
is($standby->safe_psql('postgres', "SELECT pages FROM aegis_table_stats('y')"),
	$primary->safe_psql('postgres', "SELECT pages FROM aegis_table_stats('y')"),
	'... and pages');

# A block map lost after a cut is rebuilt from the data files: the cut
# pages' newest blocks are empty pages, so no deleted row comes back.
$primary->safe_psql('postgres', q{
	DELETE FROM vt WHERE id > 2000;
	DELETE FROM vt_heap WHERE id > 2000;
	VACUUM vt;
	VACUUM vt_heap;
	CHECKPOINT;});
my $datadir = $primary->data_dir;
my $dboid = $primary->safe_psql('postgres', "SELECT oid FROM pg_database WHERE datname = 'postgres'");
my $fn = $primary->safe_psql('postgres', "SELECT relfilenode FROM pg_class WHERE relname = 'vt'");
my $vt_base = aegis_files($primary, 'postgres', 'vt');
$primary->stop;
unlink("${vt_base}_map") or die "unlink: $!";
$primary->start;
same_rows($primary, 'map rebuilt after cuts');
ok($primary->log_contains(qr/aegis block map ".*\/aegis_${dboid}_0_${fn}_map" was missing; rebuilt it/),
	'the map was rebuilt');

# the rebuilt table can be cut again, and emptied to 0 bytes
$primary->safe_psql('postgres', q{
	DELETE FROM vt; DELETE FROM vt_heap;
	VACUUM vt; VACUUM vt_heap;});
is($primary->safe_psql('postgres', "SELECT pages, pg_relation_size('vt') FROM aegis_table_stats('vt')"),
	'0|0', 'emptied table: no page, 0 bytes');
$primary->safe_psql('postgres', q{
	INSERT INTO vt SELECT g, md5(g::text) FROM generate_series(1, 3000) g;
	INSERT INTO vt_heap SELECT g, md5(g::text) FROM generate_series(1, 3000) g;});
same_rows($primary, 'refilled');
$primary->wait_for_catchup($standby);
same_rows($standby, 'standby, refilled');

$standby->stop;
$primary->stop;

# A map written by a checkpoint names the LSN each page without a block was
# added at; WAL up to it must be durable first.  Otherwise a crash ends the
# WAL before it, rows written after the restart get older LSNs than that,
# and a second crash's redo skipped them as records of a cut page.
my $node = PostgreSQL::Test::Cluster->new('vt_added');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'aegis_storage'
aegis.buffer_pool_size = 8MB
autovacuum = off
wal_writer_delay = 10s
wal_buffers = 16MB
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION aegis_storage;
	CREATE TABLE a (id int, v text) USING aegis;
	INSERT INTO a SELECT g, md5(g::text) FROM generate_series(1, 1000) g;
	CHECKPOINT;});
during_checkpoint($node, 1, sub {
	# a page added with unflushed WAL before it, in a transaction that stays open
	my $bg = $node->background_psql('postgres');
	$bg->query_safe(q{
		SET synchronous_commit = off;
		BEGIN;
		SELECT pg_logical_emit_message(false, 'x', repeat('x', 400000));
		INSERT INTO a SELECT g, md5(g::text) FROM generate_series(1001, 1200) g;});
	$node->{aegis_bg} = $bg;
});
eval { $node->{aegis_bg}->quit };
is($node->safe_psql('postgres', 'SELECT count(*) FROM a'), '1000', 'the open transaction is gone');
$node->safe_psql('postgres', q{INSERT INTO a SELECT g, 'new' FROM generate_series(5001, 5050) g});
$node->stop('immediate');
$node->start;
is($node->safe_psql('postgres', "SELECT count(*), count(*) FILTER (WHERE v = 'new') FROM a"), '1050|50',
	'rows written after a crash on a page the synced map names survive a second crash');
$node->stop;
done_testing();
