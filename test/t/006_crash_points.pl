# Crashes at chosen points: each window of the commit protocol and of a
# checkpoint (aegis.debug_crash_point), crashes during CREATE TABLE,
# TRUNCATE, DROP TABLE and DROP DATABASE, two-phase commit across a crash,
# unlogged and memory tables, an xid handed out again after a crash, and a
# damaged WAL segment.  After each crash: exact rows, no orphaned files.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use AegisCrash;

my $node = PostgreSQL::Test::Cluster->new('points');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'aegis_storage'
aegis.buffer_pool_size = 4MB
aegis.checkpoint_timeout = 1h
max_prepared_transactions = 5
restart_after_crash = on
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION aegis_storage;
	CREATE TABLE t (id int PRIMARY KEY, v text) USING aegis;
	CREATE TABLE h (x int);
});
my $datadir = $node->data_dir;
my $dboid = $node->safe_psql('postgres', "SELECT oid FROM pg_database WHERE datname = 'postgres'");

# Run $sql in a session with the fault point armed; the session's process
# kills itself there and the postmaster restarts the server.
sub crash_at
{
	my ($point, $sql) = @_;
	my ($ret, $out, $err) = $node->psql('postgres',
		"SET aegis.debug_crash_point = '$point';\n$sql");
	# aegis_tables waits until aegis recovery has finished (and, unlike a
	# scan, sets no hint bits on the rows of crashed transactions)
	$node->poll_query_until('postgres', 'SELECT count(*) >= 0 FROM aegis_tables')
	  or die "server did not come back";
	return $out;
}

# Files of the aegis data directory that belong to no aegis table.
sub orphans
{
	my $live = $node->safe_psql('postgres', q{
		SELECT string_agg(c.relfilenode::text, ',') FROM pg_class c JOIN pg_am a ON a.oid = c.relam
		WHERE a.amname = 'aegis'});
	my %live = map { $_ => 1 } split /,/, ($live // '');
	my @bad;
	for my $f (glob("$datadir/pg_aegis/$dboid/*"))
	{
		my ($rfn) = ($f =~ m{/\d+_(\d+)\.[^/]+$});
		push @bad, $f unless defined $rfn && $live{$rfn};
	}
	return join(' ', @bad);
}

# SIGKILL the postmaster, start again, wait for aegis recovery.
sub crash_restart
{
	kill9_and_restart($node);
	$node->safe_psql('postgres', 'SELECT count(*) FROM aegis_tables');
}

# rows of t, read by a sequential scan (an index could miss a lost row)
sub count_t
{
	return $node->safe_psql('postgres',
		"SET enable_indexscan = off; SET enable_bitmapscan = off; SELECT count(*) FROM t WHERE $_[0]");
}

# --- the commit protocol ------------------------------------------------
$node->safe_psql('postgres', "INSERT INTO t SELECT g, 'base' FROM generate_series(1, 100) g");

crash_at('commit_before_wal_flush', "INSERT INTO t VALUES (1001, 'lost');");
is(count_t('id = 1001'), 0, 'crash before the WAL flush: the row is not there');
is(count_t('id <= 100'), 100, '... and committed rows are');

my $out = crash_at('commit_after_wal_flush',
	"BEGIN; SELECT txid_current(); INSERT INTO t VALUES (1002, 'no commit record'); COMMIT;");
my ($xid) = ($out =~ /^(\d+)$/m);
ok(defined $xid, "the crashed transaction had xid $xid");
# invariant 5: the xid is not handed out again.  Nothing reads the crashed
# row before these commits, so no hint bit can hide a reused xid.
my $next = $node->safe_psql('postgres', 'INSERT INTO h VALUES (1) RETURNING txid_current()');
cmp_ok($next, '>', $xid, 'the next transaction gets a newer xid than the crashed one');
$node->safe_psql('postgres', 'INSERT INTO h VALUES (2)') for 1 .. 3;
is(count_t('id = 1002'), 0, 'crash after the WAL flush, before the commit record: not visible, also after newer xids commit');

# --- checkpoints --------------------------------------------------------
my $n = 2000;
for my $point (qw(checkpoint_after_flush checkpoint_after_maps checkpoint_after_control))
{
	$node->safe_psql('postgres',
		"INSERT INTO t SELECT g, '$point' FROM generate_series($n, $n + 499) g;
		 UPDATE t SET v = v || '+' WHERE id % 10 = 0;");
	my $before = $node->safe_psql('postgres', 'SELECT count(*), sum(id), string_agg(v, \',\' ORDER BY id) FROM t');
	crash_at($point, 'SELECT aegis_checkpoint();');
	is($node->safe_psql('postgres', 'SELECT count(*), sum(id), string_agg(v, \',\' ORDER BY id) FROM t'),
		$before, "crash at $point: every committed row is there");
	$n += 1000;
}
$node->safe_psql('postgres', 'SELECT aegis_checkpoint()');
is(orphans(), '', 'no orphaned files after the checkpoint crashes');

# --- storage lifecycle --------------------------------------------------
$out = crash_at('checkpoint_after_maps', q{
	BEGIN;
	CREATE TABLE c1 (a int) USING aegis;
	INSERT INTO c1 SELECT generate_series(1, 1000);
	SELECT 'rfn=' || pg_relation_filenode('c1');
	SELECT aegis_checkpoint();});
my ($c1) = ($out =~ /rfn=(\d+)/);
ok(defined $c1, 'CREATE TABLE was running');
is(scalar(glob("$datadir/pg_aegis/$dboid/*_$c1.*")), undef, 'crash during CREATE TABLE: its files are removed');

$node->safe_psql('postgres', q{
	CREATE TABLE t2 (a int) USING aegis;
	INSERT INTO t2 SELECT generate_series(1, 500);});
$out = crash_at('checkpoint_after_flush', q{
	BEGIN;
	TRUNCATE t2;
	INSERT INTO t2 VALUES (-1);
	SELECT 'rfn=' || pg_relation_filenode('t2');
	SELECT aegis_checkpoint();});
my ($t2new) = ($out =~ /rfn=(\d+)/);
is($node->safe_psql('postgres', 'SELECT count(*), sum(a) FROM t2'), '500|125250',
	'crash during TRUNCATE: the old rows are there');
is(scalar(glob("$datadir/pg_aegis/$dboid/*_$t2new.*")), undef, '... and the new storage is removed');

my $t2 = $node->safe_psql('postgres', "SELECT pg_relation_filenode('t2')");
crash_at('commit_after_drop_logged', 'DROP TABLE t2;');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_class WHERE relname = 't2'"), 0,
	'DROP TABLE committed before the crash');
is(scalar(glob("$datadir/pg_aegis/$dboid/*_$t2.*")), undef, '... and recovery removed its files');

$node->safe_psql('postgres', 'CREATE DATABASE d2');
$node->safe_psql('d2', q{
	CREATE EXTENSION aegis_storage;
	CREATE TABLE x (a int) USING aegis;
	INSERT INTO x SELECT generate_series(1, 100);});
my $d2 = $node->safe_psql('postgres', "SELECT oid FROM pg_database WHERE datname = 'd2'");
ok(-d "$datadir/pg_aegis/$d2", 'database d2 has aegis storage');
crash_at('commit_after_drop_logged', 'DROP DATABASE d2;');
ok(!-e "$datadir/pg_aegis/$d2", 'DROP DATABASE: recovery removed its aegis directory');
is(orphans(), '', 'no orphaned files after the DDL crashes');

# --- two-phase commit ---------------------------------------------------
$node->safe_psql('postgres', q{
	BEGIN; INSERT INTO t VALUES (-10, 'p1'); UPDATE t SET v = 'p1' WHERE id = 1; PREPARE TRANSACTION 'p1';
	BEGIN; INSERT INTO t VALUES (-20, 'p2'); DELETE FROM t WHERE id = 2; PREPARE TRANSACTION 'p2';});
crash_restart();
is(count_t("id IN (-10, -20) OR v IN ('p1', 'p2')"), 0, 'prepared transactions are invisible after a crash');
$node->safe_psql('postgres', "COMMIT PREPARED 'p1'; ROLLBACK PREPARED 'p2';");
is($node->safe_psql('postgres', "SELECT string_agg(id || ':' || v, ',' ORDER BY id) FROM t WHERE id IN (-20, -10, 1, 2)"),
	'-10:p1,1:p1,2:base', 'COMMIT PREPARED and ROLLBACK PREPARED after the crash');

# --- unlogged and memory tables -----------------------------------------
$node->safe_psql('postgres', q{
	CREATE UNLOGGED TABLE u (a int) USING aegis;
	CREATE TABLE m (a int) USING aegis WITH (storage_backend = 'memory');
	INSERT INTO u SELECT generate_series(1, 100);
	INSERT INTO m SELECT generate_series(1, 100);});
$node->restart;
is($node->safe_psql('postgres', 'SELECT (SELECT count(*) FROM u), (SELECT count(*) FROM m)'), '100|0',
	'clean restart: unlogged rows kept, memory rows gone');
crash_restart();
is($node->safe_psql('postgres', 'SELECT (SELECT count(*) FROM u), (SELECT count(*) FROM m)'), '0|0',
	'crash: unlogged and memory tables come back empty');
$node->safe_psql('postgres', 'INSERT INTO u VALUES (1); INSERT INTO m VALUES (1);');
is($node->safe_psql('postgres', 'SELECT (SELECT count(*) FROM u), (SELECT count(*) FROM m)'), '1|1',
	'... and take rows again');

# --- index entries of tuples lost in a crash ------------------------------
# PostgreSQL's WAL (index inserts) may be durable while the aegis WAL of the
# same uncommitted transaction is not: after the crash those index entries
# point to TIDs that no tuple has.  New tuples must not take those TIDs
# before VACUUM has removed the entries.
$node->safe_psql('postgres', q{
	CREATE TABLE ph (k int PRIMARY KEY, v text) USING aegis;
	INSERT INTO ph VALUES (1, 'first');});
my $bg = $node->background_psql('postgres');
$bg->query_until(qr/inserted/,
	"BEGIN; INSERT INTO ph SELECT g, 'lost' FROM generate_series(100, 149) g; SELECT 'inserted';\n");
# another transaction's commit makes PostgreSQL's WAL (the index entries) durable
$node->safe_psql('postgres', 'INSERT INTO h VALUES (3)');
crash_restart();
eval { $bg->quit };
my $lookup = q{SET enable_seqscan = off; SET enable_bitmapscan = off;
	SELECT count(*) FROM ph WHERE k BETWEEN 100 AND 149;};
is($node->safe_psql('postgres', $lookup), 0, 'tuples of the crashed transaction are gone');
$node->safe_psql('postgres', "UPDATE ph SET v = 'updated' WHERE k = 1") for 1 .. 5;
$node->safe_psql('postgres', "INSERT INTO ph SELECT g, 'new' FROM generate_series(1000, 1199) g");
is($node->safe_psql('postgres', $lookup), 0,
	'new rows do not take the TIDs that index entries of lost tuples point to');
$node->safe_psql('postgres', 'VACUUM ph');
$node->safe_psql('postgres', "INSERT INTO ph SELECT g, 'after vacuum' FROM generate_series(2000, 2199) g");
is($node->safe_psql('postgres', $lookup), 0, '... nor after VACUUM removed those entries');
is($node->safe_psql('postgres', q{SET enable_seqscan = off; SET enable_bitmapscan = off;
	SELECT count(*), sum(k) FROM ph WHERE k > 0}),
	$node->safe_psql('postgres', 'SELECT count(*), sum(k) FROM ph'), 'index scan equals sequential scan');

# --- aegis.max_wal_size starts a checkpoint -------------------------------
$node->append_conf('postgresql.conf', 'aegis.max_wal_size = 32MB');
$node->reload;
my $ck = $node->safe_psql('postgres', 'SELECT checkpoints FROM aegis_wal_stats()');
$node->safe_psql('postgres', q{
	CREATE TABLE big (a int, b text) USING aegis;
	INSERT INTO big SELECT g, repeat('x', 200) FROM generate_series(1, 150000) g;});
ok($node->poll_query_until('postgres', "SELECT checkpoints > $ck FROM aegis_wal_stats()"),
	'writing more than aegis.max_wal_size of WAL starts a checkpoint');

# --- a full disk while writing WAL ---------------------------------------
my ($ret, $stdout, $stderr) = $node->psql('postgres',
	"SET aegis.debug_fail_wal_write = on; INSERT INTO t VALUES (5000, 'disk full');");
isnt($ret, 0, 'a commit whose WAL cannot be written fails');
like($stderr, qr/could not write aegis WAL segment .*No space left on device/, '... saying why');
is(count_t('id = 5000'), 0, '... and its row is not there');
$node->safe_psql('postgres', "INSERT INTO t VALUES (5001, 'space again')");
crash_restart();
is(count_t('id IN (5000, 5001)'), 1, 'work resumes once writes succeed, and survives a crash');

# --- a damaged WAL segment ----------------------------------------------
$node->safe_psql('postgres', 'CREATE TABLE w (a int) USING aegis; SELECT aegis_checkpoint();');
$node->safe_psql('postgres', "INSERT INTO w VALUES ($_)") for 1 .. 200;
my $mid = $node->safe_psql('postgres', 'SELECT flush_lsn - \'0/0\'::pg_lsn FROM aegis_wal_stats()');
$node->safe_psql('postgres', "INSERT INTO w VALUES ($_)") for 201 .. 400;
$node->stop('immediate');	# no shutdown checkpoint: a crash for aegis
my $seg = 16 * 1024 * 1024;
my $segfile = sprintf('%s/pg_aegis/wal/%016X', $datadir, int($mid / $seg));
flip_byte($segfile, ($mid % $seg) + 40);	# inside the next record
$node->start;
is($node->safe_psql('postgres', 'SELECT count(*), max(a) FROM w'), '200|200',
	'damaged WAL: recovery stops at the last valid record');
ok($node->log_contains('aegis redo stopped at damaged WAL record'), '... and says where');
$node->safe_psql('postgres', 'INSERT INTO w VALUES (1000)');
crash_restart();
is($node->safe_psql('postgres', 'SELECT count(*), max(a) FROM w'), '201|1000',
	'new WAL written after the damage replays after another crash');

# --- a truncated WAL segment: recovery keeps what is before the cut -------
$node->safe_psql('postgres', 'SELECT aegis_checkpoint()');
$node->safe_psql('postgres', "INSERT INTO w VALUES ($_)") for 2001 .. 2100;
$mid = $node->safe_psql('postgres', 'SELECT flush_lsn - \'0/0\'::pg_lsn FROM aegis_wal_stats()');
$node->safe_psql('postgres', "INSERT INTO w VALUES ($_)") for 2101 .. 2200;
$node->stop('immediate');
$segfile = sprintf('%s/pg_aegis/wal/%016X', $datadir, int($mid / $seg));
truncate($segfile, ($mid % $seg) + 30) or die "truncate $segfile: $!";
$node->start;
is($node->safe_psql('postgres', 'SELECT count(*), max(a) FROM w WHERE a > 2000'), '100|2100',
	'truncated WAL segment: recovery stops at the cut');
is(orphans(), '', 'no orphaned files at the end');

$node->stop;
done_testing();
