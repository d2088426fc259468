# Aegis tables travel with PostgreSQL's WAL: a standby built with
# pg_basebackup while pgbench writes aegis tables reads exactly the primary's
# rows, keeps up while it streams, survives its own crash mid-replay and a
# restartpoint at the end-of-recovery checkpoint of a crashed primary, has its
# queries cancelled like heap's when VACUUM on the primary removes rows they
# see, and after promotion keeps every row and takes writes.  A cascading
# standby and synchronous_commit = remote_apply work as with heap.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use AegisCrash;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'aegis_storage'
aegis.buffer_pool_size = 4MB
autovacuum = off
});
$primary->start;
$primary->safe_psql('postgres', q{
	CREATE EXTENSION aegis_storage;
	CREATE TABLE acc (id int PRIMARY KEY, bal bigint, note text) USING aegis WITH (compression = 'zstd');
	CREATE TABLE hist (id serial, acc int, delta int) USING aegis;
	CREATE INDEX ON hist (acc);
	CREATE TABLE plain (id int PRIMARY KEY, v text) USING aegis WITH (compression = 'none');
	CREATE TABLE h (id int PRIMARY KEY, bal bigint);
	INSERT INTO acc SELECT g, 0, md5(g::text) FROM generate_series(1, 20000) g;
	INSERT INTO h SELECT g, 0 FROM generate_series(1, 20000) g;
	INSERT INTO plain SELECT g, repeat('p', 100) FROM generate_series(1, 5000) g;});

# the same transfers on aegis and heap, so the sums can be compared too
my $script = $primary->basedir . '/transfer.sql';
PostgreSQL::Test::Utils::append_to_file($script, q{
\set a random(1, 20000)
\set d random(-500, 500)
BEGIN;
UPDATE acc SET bal = bal + :d WHERE id = :a;
UPDATE h SET bal = bal + :d WHERE id = :a;
INSERT INTO hist (acc, delta) VALUES (:a, :d);
END;
});
my $pgbench = IPC::Run::start(
	[ 'pgbench', '-n', '-c', '4', '-T', '12', '-f', $script, '-h', $primary->host,
	  '-p', $primary->port, 'postgres' ],
	'>', \my $pgb_out, '2>', \my $pgb_err);
sleep(2);

# a base backup taken while pgbench writes
$primary->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->append_conf('postgresql.conf', qq{
hot_standby_feedback = off
max_standby_streaming_delay = 1s
});
$standby->start;
ok($standby->log_contains('rebuilding block maps from the data files'),
	'the standby rebuilt its block maps from the copied data files');

# the standby reads while it streams
is($standby->safe_psql('postgres', 'SELECT count(*) FROM plain'), '5000',
	'the standby reads aegis tables while pgbench runs on the primary');
$pgbench->finish;
like($pgb_out, qr/number of failed transactions: 0/, 'pgbench: no failed transactions');

my %check = (
	acc   => 'SELECT count(*), sum(bal), md5(string_agg(id || \':\' || bal, \',\' ORDER BY id)) FROM acc',
	hist  => 'SELECT count(*), sum(delta), sum(acc) FROM hist',
	plain => 'SELECT count(*), md5(string_agg(v, \',\' ORDER BY id)) FROM plain',
	index => 'SET enable_seqscan = off; SET enable_bitmapscan = off;
		SELECT count(*), sum(delta) FROM hist WHERE acc BETWEEN 100 AND 9000',
);
sub compare
{
	my ($node, $what) = @_;
	$primary->wait_for_catchup($node);
	for my $k (sort keys %check)
	{
		is($node->safe_psql('postgres', $check{$k}), $primary->safe_psql('postgres', $check{$k}),
			"$what: $k equals the primary");
	}
}
compare($standby, 'after the base backup and streaming');

# An update that keeps the row on its page logs the new version's data
# only where it differs from the old one's (copy regions for the shared
# prefix and suffix, as heap's update records do): every shape of change
# replays to the same rows, and the WAL shows the saving.
$primary->safe_psql('postgres', q{
	CREATE TABLE ver (id int PRIMARY KEY, a text, n int, b text) USING aegis
		WITH (fillfactor = 30, compression = 'none');
	INSERT INTO ver SELECT g, repeat('a', 40) || g, g, repeat('b', 100) || g
		FROM generate_series(1, 2000) g;});
my $wal0 = $primary->safe_psql('postgres', 'SELECT pg_current_wal_insert_lsn()');
$primary->safe_psql('postgres', 'UPDATE ver SET n = n + 1');
my $per_row = $primary->safe_psql('postgres',
	"SELECT (pg_current_wal_insert_lsn() - '$wal0'::pg_lsn) / 2000");
# with its data (160 bytes) the record takes about 300 bytes, without 160
cmp_ok($per_row, '<', 230, "a same-page update of one column logs $per_row bytes per row");
$primary->safe_psql('postgres', q{
	UPDATE ver SET a = 'x' || a WHERE id % 2 = 0;
	UPDATE ver SET b = b || 'y' WHERE id % 3 = 0;
	UPDATE ver SET a = substr(a, 5), b = substr(b, 3) WHERE id % 5 = 0;
	UPDATE ver SET b = NULL WHERE id % 7 = 0;
	UPDATE ver SET b = repeat('z', 100) WHERE id % 7 = 0;
	UPDATE ver SET n = NULL WHERE id % 11 = 0;
	UPDATE ver SET a = a WHERE id % 13 = 0;
	UPDATE ver SET n = 7, b = 'short' WHERE id % 17 = 0;});
$check{ver} = q{SELECT count(*), md5(string_agg(id || '/' || a || '/' || coalesce(n::text, '-')
	|| '/' || coalesce(b, '-'), ',' ORDER BY id)) FROM ver};
is($primary->safe_psql('postgres', 'SELECT count(*) FROM ver WHERE n IS NULL OR b IS NULL'), '171',
	'the updates ran');
compare($standby, 'after same-page updates of every shape');
is($primary->safe_psql('postgres', 'SELECT sum(bal) FROM acc'),
	$primary->safe_psql('postgres', 'SELECT sum(bal) FROM h'), 'aegis and heap agree on the primary');

# a crash of the standby in the middle of replay
$pgbench = IPC::Run::start(
	[ 'pgbench', '-n', '-c', '4', '-T', '8', '-f', $script, '-h', $primary->host,
	  '-p', $primary->port, 'postgres' ],
	'>', \$pgb_out, '2>', \$pgb_err);
sleep(3);
$standby->kill9;
$primary->safe_psql('postgres', 'CHECKPOINT');
for (1 .. 50)
{
	last if $standby->start(fail_ok => 1);
	$standby->{_pid} = undef;
	sleep(1);
}
$pgbench->finish;
compare($standby, 'after a standby crash mid-replay');

# a cascading standby, and synchronous_commit = remote_apply
$standby->backup('c');
my $cascade = PostgreSQL::Test::Cluster->new('cascade');
$cascade->init_from_backup($standby, 'c', has_streaming => 1);
$cascade->start;
$primary->append_conf('postgresql.conf', "synchronous_standby_names = 'standby'");
$primary->reload;
$primary->safe_psql('postgres', q{
	SET synchronous_commit = remote_apply;
	UPDATE plain SET v = 'remote apply' WHERE id = 7;});
is($standby->safe_psql('postgres', 'SELECT v FROM plain WHERE id = 7'), 'remote apply',
	'remote_apply: the row is on the standby when the commit returns');
$primary->append_conf('postgresql.conf', "synchronous_standby_names = ''");
$primary->reload;
my $want = $primary->safe_psql('postgres', $check{acc});
ok($cascade->poll_query_until('postgres', $check{acc}, $want), 'a cascading standby equals the primary');
$cascade->stop;

# the primary crashes; the standby creates a restartpoint at the primary's
# end-of-recovery checkpoint (no aegis checkpoint record precedes it) and
# then crashes itself: it must not have skipped aegis changes
$primary->safe_psql('postgres', "INSERT INTO plain SELECT g, 'before the primary crash' FROM generate_series(5001, 6000) g");
$primary->wait_for_catchup($standby);
$primary->kill9;
kill9_and_restart($primary) if !$primary->start(fail_ok => 1);
$primary->wait_for_catchup($standby);
$standby->safe_psql('postgres', 'CHECKPOINT');	# a restartpoint
$standby->kill9;
for (1 .. 50)
{
	last if $standby->start(fail_ok => 1);
	$standby->{_pid} = undef;
	sleep(1);
}
compare($standby, 'after a primary crash and a standby restartpoint and crash');
$primary->safe_psql('postgres', "DELETE FROM plain WHERE id > 5000");

# hot standby conflict: VACUUM on the primary removes rows a standby query sees
$primary->safe_psql('postgres', 'DELETE FROM plain WHERE id <= 1000');
$primary->wait_for_catchup($standby);
my $bg = $standby->background_psql('postgres', on_error_stop => 0);
$bg->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
$bg->query_safe('DECLARE c CURSOR FOR SELECT id FROM plain');
$bg->query_safe('FETCH 1 FROM c');
$primary->safe_psql('postgres', 'UPDATE plain SET v = v WHERE id > 4990; VACUUM plain;');
$primary->wait_for_catchup($standby);
# an idle-in-transaction session is terminated, a running query cancelled
eval { $bg->query('FETCH ALL FROM c'); };
ok($standby->log_contains(qr/(terminating connection|canceling statement) due to conflict with recovery/),
	'a standby query that sees removed rows conflicts with recovery, as on heap');
eval { $bg->quit; };
is($standby->safe_psql('postgres', 'SELECT count(*) FROM plain'), '4000', 'the standby then reads the vacuumed table');

# VACUUM FULL and CLUSTER on the primary reach the standby
$primary->safe_psql('postgres', 'VACUUM FULL plain; VACUUM FULL acc; CLUSTER hist USING hist_acc_idx;');
compare($standby, 'after VACUUM FULL and CLUSTER on the primary');

# ALTER TABLE ... SET (compression) moves the table to new storage, on the standby too
$primary->safe_psql('postgres', "ALTER TABLE plain SET (compression = 'zstd', compression_level = 5)");
compare($standby, 'after ALTER TABLE SET (compression) on the primary');
is($standby->safe_psql('postgres', "SELECT compression || '/' || compression_level FROM aegis_table_stats('plain')"),
	'zstd/5', 'the standby reads the table in its new storage');

# promotion keeps every row and takes writes
$primary->safe_psql('postgres', "INSERT INTO plain VALUES (-1, 'last on the primary')");
$primary->wait_for_catchup($standby);
my %before = map { $_ => $primary->safe_psql('postgres', $check{$_}) } keys %check;
$primary->stop('immediate');
$standby->promote;
$standby->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()');
is($standby->safe_psql('postgres', $check{$_}), $before{$_}, "after promotion: $_ equals the old primary")
  for sort keys %check;
$standby->safe_psql('postgres', "INSERT INTO plain VALUES (-2, 'on the promoted standby'); UPDATE acc SET bal = bal + 1 WHERE id = 1;");
$standby->restart;
is($standby->safe_psql('postgres', "SELECT count(*) FROM plain WHERE id < 0"), '2', 'the promoted standby keeps its writes');

$standby->stop;
done_testing();
