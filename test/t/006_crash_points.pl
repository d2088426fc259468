# Crashes at chosen points: a transaction open at the crash, crashes during
# CREATE TABLE and TRUNCATE (with a checkpoint inside the transaction), after
# the commit of DROP TABLE and DROP DATABASE (aegis.debug_crash_point),
# two-phase commit across a crash, unlogged and memory tables, and index
# entries of rows lost in a crash.  After each crash: exact rows, no xid
# handed out again, no orphaned files.  (Crashes inside an aegis checkpoint:
# 012_checkpoint_guard.pl.)
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
my $dbdir = "$datadir/base/$dboid";	# where the aegis files of database postgres are

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

# Aegis files of the database directory that belong to no aegis table.
sub orphans
{
	my $live = $node->safe_psql('postgres', q{
		SELECT string_agg(c.relfilenode::text, ',') FROM pg_class c JOIN pg_am a ON a.oid = c.relam
		WHERE a.amname = 'aegis'});
	my %live = map { $_ => 1 } split /,/, ($live // '');
	my @bad;
	for my $f (glob("$dbdir/aegis_*"))
	{
		my ($rfn) = ($f =~ m{/aegis_${dboid}_\d+_(\d+)[._][^/]+$});
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

# --- a transaction open at the crash -------------------------------------
$node->safe_psql('postgres', "INSERT INTO t SELECT g, 'base' FROM generate_series(1, 100) g");
my $bg = $node->background_psql('postgres');
my $out = $bg->query_safe("BEGIN; INSERT INTO t VALUES (1002, 'never committed'); SELECT txid_current();");
my ($xid) = ($out =~ /^(\d+)$/m);
ok(defined $xid, "the open transaction has xid $xid");
# its aegis records reach durable WAL with another transaction's commit
$node->safe_psql('postgres', "INSERT INTO h VALUES (0)");
crash_restart();
eval { $bg->quit };
# PostgreSQL's redo advances nextXid past the xid of every record it
# replays, aegis records included (invariant 5)
my $next = $node->safe_psql('postgres', 'INSERT INTO h VALUES (1) RETURNING txid_current()');
cmp_ok($next, '>', $xid, 'the next transaction gets a newer xid than the crashed one');
$node->safe_psql('postgres', 'INSERT INTO h VALUES (2)') for 1 .. 3;
is(count_t('id = 1002'), 0, 'the row of the transaction open at the crash is not there');
is(count_t('id <= 100'), 100, '... and committed rows are');

# --- storage lifecycle --------------------------------------------------
# crash while a transaction that created a table (and a checkpoint made its
# storage durable) is open
$bg = $node->background_psql('postgres');
$out = $bg->query_safe(q{
	BEGIN;
	CREATE TABLE c1 (a int) USING aegis;
	INSERT INTO c1 SELECT generate_series(1, 1000);
	SELECT 'rfn=' || pg_relation_filenode('c1');
	CHECKPOINT;});
my ($c1) = ($out =~ /rfn=(\d+)/);
ok(defined $c1, 'CREATE TABLE was running');
ok(scalar(glob("$dbdir/aegis_${dboid}_*_$c1\[._]*")), '... and its storage is on disk');
crash_restart();
eval { $bg->quit };
is(scalar(glob("$dbdir/aegis_${dboid}_*_$c1\[._]*")), undef, 'crash during CREATE TABLE: its files are removed');

$node->safe_psql('postgres', q{
	CREATE TABLE t2 (a int) USING aegis;
	INSERT INTO t2 SELECT generate_series(1, 500);});
$bg = $node->background_psql('postgres');
$out = $bg->query_safe(q{
	BEGIN;
	TRUNCATE t2;
	INSERT INTO t2 VALUES (-1);
	SELECT 'rfn=' || pg_relation_filenode('t2');
	CHECKPOINT;});
my ($t2new) = ($out =~ /rfn=(\d+)/);
crash_restart();
eval { $bg->quit };
is($node->safe_psql('postgres', 'SELECT count(*), sum(a) FROM t2'), '500|125250',
	'crash during TRUNCATE: the old rows are there');
is(scalar(glob("$dbdir/aegis_${dboid}_*_$t2new\[._]*")), undef, '... and the new storage is removed');

my $t2 = $node->safe_psql('postgres', "SELECT pg_relation_filenode('t2')");
crash_at('commit_after_drop_logged', 'DROP TABLE t2;');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_class WHERE relname = 't2'"), 0,
	'DROP TABLE committed before the crash');
is(scalar(glob("$dbdir/aegis_${dboid}_*_$t2\[._]*")), undef, '... and recovery removed its files');

$node->safe_psql('postgres', 'CREATE DATABASE d2');
$node->safe_psql('d2', q{
	CREATE EXTENSION aegis_storage;
	CREATE TABLE x (a int) USING aegis;
	INSERT INTO x SELECT generate_series(1, 100);});
my $d2 = $node->safe_psql('postgres', "SELECT oid FROM pg_database WHERE datname = 'd2'");
ok(scalar(glob("$datadir/base/$d2/aegis_${d2}_*")), 'database d2 has aegis storage');
crash_at('commit_after_drop_logged', 'DROP DATABASE d2;');
ok(!-e "$datadir/base/$d2", 'DROP DATABASE: its directory, aegis files included, is removed');
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

# --- two-phase commit of DDL ----------------------------------------------
# storage a prepared transaction created, truncated or dropped survives a
# crash, checkpoints and a clean restart untouched (the transaction is
# neither committed nor aborted), and COMMIT / ROLLBACK PREPARED settles it
$node->safe_psql('postgres', q{
	CREATE TABLE pd (a int) USING aegis; INSERT INTO pd SELECT generate_series(1, 50);
	CREATE TABLE pk (a int) USING aegis; INSERT INTO pk VALUES (1);
	CREATE TABLE pt (a int) USING aegis; INSERT INTO pt VALUES (1);});
$node->safe_psql('postgres', q{BEGIN; CREATE TABLE pc (a int) USING aegis;
	INSERT INTO pc SELECT generate_series(1, 70); SAVEPOINT s;
	CREATE TABLE ps (a int) USING aegis; INSERT INTO ps VALUES (5); RELEASE s;
	PREPARE TRANSACTION 'ddl1';});
$node->safe_psql('postgres', q{BEGIN; CREATE TABLE pr (a int) USING aegis; INSERT INTO pr VALUES (1); PREPARE TRANSACTION 'ddl2';});
$node->safe_psql('postgres', q{BEGIN; DROP TABLE pd; PREPARE TRANSACTION 'ddl3';});
$node->safe_psql('postgres', q{BEGIN; DROP TABLE pk; PREPARE TRANSACTION 'ddl4';});
$node->safe_psql('postgres', q{BEGIN; TRUNCATE pt; INSERT INTO pt VALUES (2); PREPARE TRANSACTION 'ddl5';});
# (not crash_restart: aegis_tables would wait for the prepared transactions' locks)
kill9_and_restart($node);
$node->safe_psql('postgres', 'CHECKPOINT');
$node->restart;
$node->safe_psql('postgres', 'CHECKPOINT');
is($node->safe_psql('postgres', 'SELECT count(*) FROM pg_prepared_xacts'), '5',
	'prepared DDL transactions survive a crash and a restart');
$node->safe_psql('postgres', "COMMIT PREPARED 'ddl1'");
$node->safe_psql('postgres', "ROLLBACK PREPARED 'ddl2'");
$node->safe_psql('postgres', "COMMIT PREPARED 'ddl3'");
$node->safe_psql('postgres', "ROLLBACK PREPARED 'ddl4'");
$node->safe_psql('postgres', "COMMIT PREPARED 'ddl5'");
is($node->safe_psql('postgres', q{SELECT (SELECT count(*) FROM pc), (SELECT sum(a) FROM ps),
		(SELECT sum(a) FROM pk), (SELECT string_agg(a::text, ',') FROM pt),
		(SELECT count(*) FROM pg_class WHERE relname IN ('pr', 'pd'))}),
	'70|5|1|2|0', 'COMMIT / ROLLBACK PREPARED of CREATE, DROP and TRUNCATE after the crash');
$node->safe_psql('postgres', 'CHECKPOINT');
is(orphans(), '', 'no orphaned files once the prepared DDL is settled');
$node->safe_psql('postgres', 'DROP TABLE pc, ps, pk, pt');

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
$bg = $node->background_psql('postgres');
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

$node->safe_psql('postgres', 'CHECKPOINT');
is(orphans(), '', 'no orphaned files at the end');

$node->stop;
done_testing();
