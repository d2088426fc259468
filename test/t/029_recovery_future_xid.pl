# Crash recovery must not ask the commit log about transactions redo has
# not reached.  The startup process loads every aegis table's storage from
# disk before redo, and settles it at each aegis checkpoint record it
# replays.  Storage made after that record by a transaction still open at
# the crash names an xid beyond the replayed position, possibly on a
# commit-log page whose creation (a ZEROPAGE record) comes later in the
# WAL: asking the commit log about it failed ("could not access status of
# transaction"), and the server failed to start at every attempt.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('future_xid');
$node->init(allows_streaming => 1);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'aegis_storage'
autovacuum = off
aegis.buffer_pool_size = '16MB'
});
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION aegis_storage;
CREATE TABLE t (id int, pad text) USING aegis;
INSERT INTO t SELECT g, 'x' FROM generate_series(1, 1000) g;
CREATE UNLOGGED TABLE burn (a int);
CREATE PROCEDURE burn_xids(n int) LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1 .. n LOOP
		BEGIN
			INSERT INTO burn VALUES (i);	-- a subtransaction with its own xid
		EXCEPTION WHEN OTHERS THEN
			RAISE;
		END;
	END LOOP;
END $$;
});
my $expect = $node->safe_psql('postgres', 'SELECT count(*), sum(hashtext(t::text)) FROM t');

# SIGKILL to the postmaster and its children at once, as an OOM killer or a
# power cut stops them: none of them writes anything more.  Then start again
# (once the old processes are gone); returns whether it started.
sub kill_and_start
{
	my ($open) = @_;
	my $pm = $node->{_pid};
	my @children = grep { /^\d+$/ } split /\s+/, `pgrep -P $pm`;
	kill 'KILL', $pm, @children;
	eval { $open->quit };
	$node->{_pid} = undef;
	for (1 .. 30)
	{
		return 1 if $node->start(fail_ok => 1);
		$node->{_pid} = undef;
		sleep(1);
	}
	return 0;
}

# Run $sql (it makes new storage for table $table and fills it) in a
# transaction that is open when the server is killed, its xid on a
# commit-log page begun after the last checkpoint; then start again.
sub crash_with_open_creator
{
	my ($name, $table, $sql) = @_;
	my $log_offset = -s $node->logfile;

	# a commit-log page covers 32768 xids: go to just below a page
	# boundary, checkpoint there, then cross into the next page
	my $next = $node->safe_psql('postgres', 'SELECT txid_current() % 32768');
	my $burn = (32768 - 60 - $next) % 32768;
	$burn += 32768 if $burn <= 0;
	$node->safe_psql('postgres', "CALL burn_xids($burn)");
	$node->safe_psql('postgres', 'CHECKPOINT');
	$node->safe_psql('postgres', 'CALL burn_xids(100)');

	my $open = $node->background_psql('postgres');
	my $xid = $open->query_safe("BEGIN; $sql; SELECT txid_current();");
	chomp $xid;
	cmp_ok($xid % 32768, '<', 1000,
		"$name: the open transaction's xid ($xid) is on a commit-log page begun after the checkpoint");

	# its new storage's block map reaches the disk in the background (pages
	# written back); the startup process loads it from there
	my ($dboid, $rfn) = split /\|/, $open->query_safe(
		"SELECT d.oid, pg_relation_filenode('$table') FROM pg_database d WHERE datname = current_database()");
	chomp $rfn;
	my $map = $node->data_dir . "/base/$dboid/aegis_${dboid}_0_${rfn}_map";
	for (1 .. 600)
	{
		last if -e $map;
		usleep(100_000);
	}
	ok(-e $map, "$name: the open transaction's new storage is on disk");

	my $started = kill_and_start($open);
	ok($started, "$name: the server starts after the crash");
	unlike(slurp_file($node->logfile, $log_offset), qr/could not access status of transaction/,
		"$name: recovery did not ask the commit log about the open transaction");
	return $started ? $map : undef;
}

# the storage of a transaction that did not commit goes (the startup
# process drops it, or the first settle after it when prepared transactions
# may exist): poll for its block map file to disappear
sub storage_gone
{
	my ($map) = @_;
	for (1 .. 300)
	{
		return 1 if !-e $map;
		usleep(100_000);
	}
	return 0;
}

my $map = crash_with_open_creator('CREATE TABLE', 'newt', q{
	CREATE TABLE newt (id int, pad text) USING aegis;
	INSERT INTO newt SELECT g, repeat('y', 200) FROM generate_series(1, 200000) g})
  or BAIL_OUT('the server does not start');
ok(storage_gone($map), 'CREATE TABLE: its storage is removed');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_class WHERE relname = 'newt'"),
	'0', 'CREATE TABLE: the table is gone');
is($node->safe_psql('postgres', 'SELECT count(*), sum(hashtext(t::text)) FROM t'),
	$expect, 'CREATE TABLE: the other table keeps its rows');

$map = crash_with_open_creator('TRUNCATE', 't', q{
	TRUNCATE t;
	INSERT INTO t SELECT g, repeat('y', 200) FROM generate_series(1, 200000) g})
  or BAIL_OUT('the server does not start');
ok(storage_gone($map), 'TRUNCATE: the new storage is removed');
is($node->safe_psql('postgres', 'SELECT count(*), sum(hashtext(t::text)) FROM t'),
	$expect, 'TRUNCATE: the table has its rows from before the TRUNCATE');
$node->safe_psql('postgres', "INSERT INTO t VALUES (0, 'after')");
is($node->safe_psql('postgres', 'SELECT count(*) FROM t'), '1001', 'TRUNCATE: and takes new ones');

# A crash right after CREATE TABLE that follows a clean shutdown, before
# anything else of the transaction reaches the WAL on disk.  The new storage's
# block map, durable at once, names the creator's xid; if its CREATE record
# were not durable before it, no redo would run at the start, the xid would
# lie beyond the commit log, and every use of aegis tables failed ("could not
# access status of transaction") until the xid was handed out again.
# (WAL written but not flushed survives a SIGKILL in the OS cache, as it
# would not a power cut: WAL buffers the CREATE's records fit in, shared
# buffers that need no eviction, which flushes WAL, and a sleepy WAL writer
# keep them unwritten)
$node->append_conf('postgresql.conf',
	"wal_writer_delay = '10s'\nwal_buffers = '4MB'\nshared_buffers = '64MB'");
$node->restart;
my $cur = $node->safe_psql('postgres', 'SELECT txid_current() % 32768');
my $burn = (32746 - $cur) % 32768;	# CALL uses $burn + 1 xids
$burn += 32768 if $burn < 0;
$node->safe_psql('postgres', "CALL burn_xids($burn)") if $burn > 0;
for (1 .. 100)
{
	last if $node->safe_psql('postgres', 'SELECT txid_current() % 32768') == 32767;
}
$node->restart;			# a shutdown checkpoint with the next xid on a new page
my $log_offset = -s $node->logfile;
my $open = $node->background_psql('postgres');
my $xid = $open->query_safe(
	'BEGIN; CREATE TABLE nored (id int) USING aegis; SELECT txid_current();');
chomp $xid;
is($xid % 32768, 0, "no redo: the creator's xid ($xid) begins a commit-log page");
my ($dboid, $rfn) = split /\|/, $open->query_safe(
	"SELECT d.oid, pg_relation_filenode('nored') FROM pg_database d WHERE datname = current_database()");
chomp $rfn;
$map = $node->data_dir . "/base/$dboid/aegis_${dboid}_0_${rfn}_map";
ok(-e $map, 'no redo: the new storage is on disk at once');

kill_and_start($open) or BAIL_OUT('the server does not start');
my ($rc, $out, $err) = $node->psql('postgres',
	'SELECT count(*), sum(hashtext(t::text)) FROM t WHERE id > 0');
is($out, $expect, 'no redo: aegis tables are readable after the start');
is($err, '', 'no redo: without an error');
unlike(slurp_file($node->logfile, $log_offset), qr/could not access status of transaction/,
	'no redo: nobody asked the commit log about the creator');
ok(storage_gone($map), 'no redo: the storage of the creator that did not commit is removed');
$node->append_conf('postgresql.conf',
	"wal_writer_delay = '200ms'\nwal_buffers = -1\nshared_buffers = '1MB'");

# with prepared transactions possible, recovery cannot take an open
# creator for aborted: the running server settles it after the start
$node->append_conf('postgresql.conf', 'max_prepared_transactions = 5');
$node->restart;
$map = crash_with_open_creator('CREATE TABLE, prepared transactions on', 'newp', q{
	CREATE TABLE newp (id int, pad text) USING aegis;
	INSERT INTO newp SELECT g, repeat('y', 200) FROM generate_series(1, 200000) g})
  or BAIL_OUT('the server does not start');
$node->safe_psql('postgres', 'CHECKPOINT');
ok(storage_gone($map), 'CREATE TABLE, prepared transactions on: its storage is removed');

# restarted cleanly, the abandoned storage stays gone and the rows stay
$node->restart;
is($node->safe_psql('postgres', 'SELECT count(*), sum(hashtext(t::text)) FROM t WHERE id > 0'),
	$expect, 'after a clean restart too');

$node->stop;
done_testing();
