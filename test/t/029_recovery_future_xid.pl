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

# Run $sql (it makes new storage for table $table and fills it) in a
# transaction that is open when the server is killed, its xid on a
# commit-log page begun after the last checkpoint; then start again.
sub crash_with_open_creator
{
	my ($name, $table, $sql) = @_;

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

	# SIGKILL to the postmaster and its children at once, as an OOM killer or
	# a power cut stops them: none of them writes anything more
	my $pm = $node->{_pid};
	my @children = grep { /^\d+$/ } split /\s+/, `pgrep -P $pm`;
	kill 'KILL', $pm, @children;
	eval { $open->quit };
	$node->{_pid} = undef;
	my $started = 0;
	for (1 .. 30)
	{
		$started = $node->start(fail_ok => 1);
		last if $started;
		$node->{_pid} = undef;
		sleep(1);
	}
	ok($started, "$name: the server starts after the crash");
	unlike(slurp_file($node->logfile), qr/could not access status of transaction/,
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
