# An aegis table's PostgreSQL storage stub is as long as the table's pages
# but sparse: its pages are never written (src/page/page_space.c).  Copies
# wrote every zero of it - pg_basebackup's (a standby took 349 MB of stubs
# for 2.5 MB on its primary) and CREATE DATABASE's, both strategies - so a
# standby or a new database needed a heap table's disk space on top of the
# compressed data.  Now a restored backup's first start and CREATE DATABASE
# punch those zeros out again.  Checked by the bytes the stub file takes
# on disk (st_blocks), not its length, which stays.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'aegis_storage'
aegis.buffer_pool_size = 16MB
autovacuum = off
});
$primary->start;
$primary->safe_psql('postgres', q{
	CREATE DATABASE src;});
$primary->safe_psql('src', q{
	CREATE EXTENSION aegis_storage;
	CREATE TABLE t (id int, v text) USING aegis;
	INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, 300000) g;
	CHECKPOINT;});

# bytes on disk and length of a relation's stub (segment 0)
sub stub
{
	my ($node, $db, $table) = @_;
	my $path = $node->data_dir . '/'
	  . $node->safe_psql($db, "SELECT pg_relation_filepath('$table')");
	my @st = stat($path) or die "stat $path: $!";
	return ($st[12] * 512, $st[7]);
}

my ($p_disk, $p_len) = stub($primary, 'src', 't');
cmp_ok($p_len, '>=', 8 * 1024 * 1024, "the stub is $p_len bytes long");
cmp_ok($p_disk, '<', $p_len / 4, "and takes $p_disk bytes on the primary");

$primary->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);
my ($s_disk, $s_len) = stub($standby, 'src', 't');
is($s_len, $p_len, 'the standby\'s stub has the same length');
cmp_ok($s_disk, '<', $p_len / 4, "and takes $s_disk bytes on the standby");
is($standby->safe_psql('src', 'SELECT count(*), sum(id) FROM t'),
	$primary->safe_psql('src', 'SELECT count(*), sum(id) FROM t'), 'same rows');
like(slurp_file($standby->logfile), qr/gave back \d+ MB of zeros/, 'the start says what it gave back');

foreach my $strategy ('wal_log', 'file_copy')
{
	$primary->safe_psql('postgres', "CREATE DATABASE d_$strategy TEMPLATE src STRATEGY $strategy");
	# WAL_LOG copies through shared buffers: none may write zeros later
	$primary->safe_psql('postgres', 'CHECKPOINT');
	my ($d_disk, $d_len) = stub($primary, "d_$strategy", 't');
	is($d_len, $p_len, "CREATE DATABASE ($strategy): the copy's stub has the same length");
	cmp_ok($d_disk, '<', $p_len / 4, "and takes $d_disk bytes");
	is($primary->safe_psql("d_$strategy", 'SELECT count(*), sum(id) FROM t'),
		$primary->safe_psql('src', 'SELECT count(*), sum(id) FROM t'), 'with the same rows');
}

$standby->stop;
$primary->stop;
done_testing();
