# PostgreSQL's checkpoints wait for aegis: the XLOG_AEGIS_CHECKPOINT record
# that says every aegis change before the redo pointer is durable comes
# before PostgreSQL's checkpoint record, for CHECKPOINT and for checkpoints
# that max_wal_size requests, also when the aegis checkpoint is slow.  A
# checkpointer that stalls for a moment after choosing its redo pointer (the
# trap of ../shared/notes/checkpoint-wait.md) does not hang, under pgbench.
# A checkpoint waits for a page write-back in progress.  Crashes inside an
# aegis checkpoint lose no committed row.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use FindBin;
use lib $FindBin::RealBin;
use AegisCrash;

my $node = PostgreSQL::Test::Cluster->new('guard');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'aegis_storage'
aegis.buffer_pool_size = 8MB
wal_level = replica
max_wal_senders = 0
autovacuum = off
log_checkpoints = on
restart_after_crash = on
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION aegis_storage;
	CREATE EXTENSION pg_walinspect;
	CREATE TABLE g (id int PRIMARY KEY, v text) USING aegis;
	INSERT INTO g SELECT i, md5(i::text) FROM generate_series(1, 10000) i;});

# Did an aegis checkpoint record for the last checkpoint's redo pointer come
# between that redo pointer and PostgreSQL's checkpoint record?
sub aegis_record_before_checkpoint
{
	# a newer checkpoint completing meanwhile may remove the WAL of the one
	# read from pg_control: then read again (that one's WAL is kept)
	for (1 .. 10)
	{
		my ($ret, $out, $err) = $node->psql('postgres', q{
			SELECT count(*) FROM pg_control_checkpoint() c,
				pg_get_wal_records_info(c.redo_lsn, c.checkpoint_lsn) w
			WHERE w.resource_manager = 'aegis_storage' AND w.record_type = 'CHECKPOINT'
			  AND w.description = 'redo ' || c.redo_lsn::text});
		return $out if $ret == 0;
		die "reading the checkpoint's WAL failed: $err" unless $err =~ /has already been removed/;
	}
	die "the checkpoint's WAL kept being removed";
}

$node->safe_psql('postgres', "UPDATE g SET v = 'a' WHERE id % 3 = 0; CHECKPOINT;");
is(aegis_record_before_checkpoint(), '1', 'CHECKPOINT: the aegis checkpoint record precedes it');

# a slow aegis checkpoint holds PostgreSQL's checkpoint back
$node->safe_psql('postgres', "ALTER SYSTEM SET aegis.debug_checkpoint_delay = '2s'; SELECT pg_reload_conf();");
sleep(1);
$node->safe_psql('postgres', "UPDATE g SET v = 'b' WHERE id % 5 = 0; CHECKPOINT;");
is(aegis_record_before_checkpoint(), '1', 'a slow aegis checkpoint still precedes the checkpoint record');
# the wait is timed from the guard's request; the run (and its 2 s pause)
# may have started a moment before, when the other guard asked first
cmp_ok($node->safe_psql('postgres', 'SELECT last_checkpoint_wait_ms FROM aegis_wal_stats()'), '>=', 1500,
	'... which waited for it');
$node->safe_psql('postgres', "ALTER SYSTEM RESET aegis.debug_checkpoint_delay; SELECT pg_reload_conf();");

# a checkpoint requested by max_wal_size
$node->safe_psql('postgres', "ALTER SYSTEM SET max_wal_size = '32MB'; SELECT pg_reload_conf();");
my $redo = $node->safe_psql('postgres', 'SELECT redo_lsn FROM pg_control_checkpoint()');
$node->safe_psql('postgres', "INSERT INTO g SELECT i, repeat('w', 300) FROM generate_series(10001, 150000) i");
ok($node->poll_query_until('postgres', "SELECT redo_lsn > '$redo' FROM pg_control_checkpoint()"),
	'writing more than max_wal_size starts a checkpoint');
ok($node->log_contains('checkpoint starting: wal'), '... requested by WAL volume');
is(aegis_record_before_checkpoint(), '1', '... and the aegis checkpoint record precedes it');

# the checkpointer stalls right after publishing its redo pointer, under load
my $script = $node->basedir . '/upd.sql';
PostgreSQL::Test::Utils::append_to_file($script,
	"\\set a random(1, 10000)\nUPDATE g SET v = v || 'x' WHERE id = :a;\n");
my $pgbench = IPC::Run::start(
	[ 'pgbench', '-n', '-c', '4', '-T', '25', '-f', $script, '-h', $node->host,
	  '-p', $node->port, 'postgres' ],
	'>', \my $pgb_out, '2>', \my $pgb_err);
my $ckpt_pid = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'");
for my $pause_ms (0, 20, 100, 400)
{
	my $cp = $node->background_psql('postgres');
	my $before = $node->safe_psql('postgres', 'SELECT redo_lsn FROM pg_control_checkpoint()');
	$cp->query_until(qr/started/, "\\echo started\nCHECKPOINT;\n");
	usleep($pause_ms * 1000);
	kill 'STOP', $ckpt_pid;
	sleep(1);
	kill 'CONT', $ckpt_pid;
	ok($node->poll_query_until('postgres', "SELECT redo_lsn > '$before' FROM pg_control_checkpoint()"),
		"a checkpointer stalled for 1 s ${pause_ms} ms into CHECKPOINT completes");
	$cp->quit;
	is(aegis_record_before_checkpoint(), '1', '... after the aegis checkpoint record');
}
$pgbench->finish;
like($pgb_out, qr/number of failed transactions: 0/, 'pgbench ran on without failures');
cmp_ok($node->safe_psql('postgres', 'SELECT guard_cycles FROM aegis_wal_stats()'), '>', 0,
	'the guards handed over');

# cancelling the guards does nothing: they ignore it, and stay
my $guards = $node->safe_psql('postgres',
	q{SELECT string_agg(pid::text, ',' ORDER BY pid) FROM pg_stat_activity WHERE backend_type LIKE 'aegis checkpoint guard%'});
$node->safe_psql('postgres',
	q{SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE backend_type LIKE 'aegis checkpoint guard%'});
sleep(1);
is($node->safe_psql('postgres',
	q{SELECT string_agg(pid::text, ',' ORDER BY pid) FROM pg_stat_activity WHERE backend_type LIKE 'aegis checkpoint guard%'}),
	$guards, 'pg_cancel_backend does not end the guards');
$node->safe_psql('postgres', "UPDATE g SET v = 'c' WHERE id % 11 = 0; CHECKPOINT;");
is(aegis_record_before_checkpoint(), '1', '... and checkpoints still wait for aegis');

# a page write-back in progress (an eviction that cleared the page's dirty
# flag and has not updated the block map yet) when a checkpoint runs: the
# checkpoint waits for it, so a crash right after loses nothing.  Only the
# CHECKPOINTs below may run meanwhile: with the 32MB max_wal_size set above,
# a checkpoint requested by WAL volume once wrote the updated page before
# the count of dirty pages was taken
$node->safe_psql('postgres', "ALTER SYSTEM RESET max_wal_size; SELECT pg_reload_conf();");
$node->safe_psql('postgres', q{
	CREATE TABLE wb (id int, v text) USING aegis;
	INSERT INTO wb VALUES (1, 'old');
	VACUUM g;
	CHECKPOINT;
	SELECT count(*) FROM g;
	CHECKPOINT;
	UPDATE wb SET v = 'new';});
is($node->safe_psql('postgres', 'SELECT frames_dirty FROM aegis_buffer_stats()'), '1',
	'one dirty page: the updated one');
my $evictor = $node->background_psql('postgres');
$evictor->query_until(qr/scanning/, q{
	SET aegis.debug_writeback_delay = '6s';
	-- read all of g's pages by a bitmap scan: a sequential scan of a table
	-- over a quarter of a full pool reuses a small ring of frames
	SET enable_indexonlyscan = off;
	SET enable_indexscan = off;
	SET enable_seqscan = off;
	\echo scanning
	SELECT count(*) FROM g WHERE id > 0; SELECT count(*) FROM g WHERE id > 0;
});
ok($node->poll_query_until('postgres', 'SELECT frames_dirty = 0 FROM aegis_buffer_stats()'),
	'the page is being written back (no dirty page left)');
$node->safe_psql('postgres', 'CHECKPOINT');
$node->kill9;
eval { $evictor->quit };
kill9_and_restart($node) if !$node->start(fail_ok => 1);
is($node->safe_psql('postgres', 'SELECT v FROM wb'), 'new',
	'a checkpoint taken during that write-back, then a crash: the update is there');

# crashes inside an aegis checkpoint (in the aegis checkpointer)
my $q = q{SELECT count(*), md5(string_agg(id || v, ',' ORDER BY id)) FROM g};
for my $point (qw(checkpoint_after_flush checkpoint_after_maps))
{
	$node->safe_psql('postgres', "UPDATE g SET v = '$point' WHERE id % 7 = 1");
	my $before = $node->safe_psql('postgres', $q);
	$node->safe_psql('postgres', "ALTER SYSTEM SET aegis.debug_crash_point = '$point'; SELECT pg_reload_conf();");
	sleep(1);
	$node->psql('postgres', 'CHECKPOINT');	# the aegis checkpointer kills itself
	$node->poll_query_until('postgres', 'SELECT true') or die 'server did not come back';
	$node->safe_psql('postgres', "ALTER SYSTEM RESET aegis.debug_crash_point; SELECT pg_reload_conf();");
	ok($node->log_contains("debug_crash_point reached at AEGIS_CRASH_" . uc($point)),
		"the aegis checkpointer crashed at $point");
	is($node->safe_psql('postgres', $q), $before, "crash at $point: every committed row is there");
}

$node->stop;

# too few worker slots for the aegis workers: checkpoints do not hang, and
# changes to aegis tables are refused rather than left uncovered
$node->append_conf('postgresql.conf', "max_worker_processes = 3");
$node->start;
is($node->safe_psql('postgres',
	q{SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'aegis checkpoint guard%'}), '1',
	'only one guard could start');
my $ck = $node->background_psql('postgres');
$ck->query_safe('CHECKPOINT');
ok(1, 'CHECKPOINT completes with a single guard');
$ck->quit;
my ($ret, $out, $err) = $node->psql('postgres',
	"SET statement_timeout = '3s'; INSERT INTO g VALUES (-1, 'no guards')");
isnt($ret, 0, 'a change to an aegis table waits for both guards and does not go through');
is($node->safe_psql('postgres', 'SELECT count(*) FROM g WHERE id = -1'), '0', '... the row is not there');
$node->stop;
done_testing();
