# A base backup copies aegis files while they change.  The worst case: a
# checkpoint during the copy compacts a table (its live blocks move into a
# new data file generation and the old one is unlinked), and the copier
# sees neither generation.  The backup (low-level API, copy by hand in that
# order) must still restore every row: compaction logs each block it moves
# (XLOG_AEGIS_IMAGE), and a restored backup replays them until consistent.
use strict;
use warnings;
use File::Copy qw(copy);
use File::Path qw(make_path);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use AegisCrash;

my $node = PostgreSQL::Test::Cluster->new('bc_primary');
$node->init(has_archiving => 1, allows_streaming => 1);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'aegis_storage'
aegis.buffer_pool_size = 8MB
autovacuum = off
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION aegis_storage;
	CREATE TABLE bc (id int PRIMARY KEY, v text) USING aegis WITH (compression = 'none');
	INSERT INTO bc SELECT g, repeat('v', 200) FROM generate_series(1, 20000) g;
	CHECKPOINT;});
my $datadir = $node->data_dir;
my $dboid = $node->safe_psql('postgres', "SELECT oid FROM pg_database WHERE datname = 'postgres'");
my ($dbdir, $name) = aegis_files($node, 'postgres', 'bc');	# base/<dboid>, aegis_<dboid>_0_<relfilenode>
my $reldir = "base/$dboid";
my @gen_before = glob("$dbdir/$name.[0-9]*");
is(scalar(@gen_before), 1, 'one data file generation before the backup');

# start the backup; copy everything but aegis files (aegis_* in the
# database directories)
my $bsession = $node->background_psql('postgres');
$bsession->query_safe("SELECT pg_backup_start('compaction', true)");
my $backup = $node->backup_dir . '/manual';
make_path($node->backup_dir);
PostgreSQL::Test::RecursiveCopy::copypath($datadir, $backup,
	filterfn => sub {
		my $src = shift;
		return $src !~ m{^(?:base|pg_tblspc)/(?:.+/)?aegis_[^/]*$}
		  && $src !~ m{^(postmaster\.pid|pg_wal/.+)$};
	});

# a table made during the backup: the copier will see its data file, not its
# map (written after it read the directory, say); restoring rebuilds the map
# and says so in a LOG message, not a WARNING: that is the normal case
$node->safe_psql('postgres', q{
	CREATE TABLE during (id int, v text) USING aegis;
	INSERT INTO during SELECT g, 'd' || g FROM generate_series(1, 3000) g;
	CHECKPOINT;});
my (undef, $during) = aegis_files($node, 'postgres', 'during');
ok(-f "$dbdir/${during}_map", 'the new table has a map');

# more than a quarter of the table superseded, then a checkpoint: compaction
$node->safe_psql('postgres', q{
	UPDATE bc SET v = repeat('u', 200) WHERE id % 2 = 0;
	VACUUM bc;
	CHECKPOINT;});
my @gen_after = glob("$dbdir/$name.[0-9]*");
is(scalar(@gen_after), 1, 'one generation after the checkpoint');
isnt($gen_after[0], $gen_before[0], '... a new one: the table was compacted');

# the copier reaches the aegis files now and misses the new generation
# (created after it read the directory), and the old one is gone
make_path("$backup/$reldir");
for my $f (glob("$dbdir/aegis_*"))
{
	next if $f eq $gen_after[0] || $f eq "$dbdir/${during}_map";
	copy($f, "$backup/$reldir/") or die "copy $f: $!";
}
is(scalar(glob("$backup/$reldir/$name.[0-9]*")), undef, 'the copy holds no data file of the table');
$node->safe_psql('postgres', "UPDATE bc SET v = 'after copy' WHERE id <= 10");
my $expect = $node->safe_psql('postgres', q{SELECT count(*), md5(string_agg(id || v, ',' ORDER BY id)) FROM bc});
my $label = $bsession->query_safe("SELECT labelfile FROM pg_backup_stop(false)");
$bsession->quit;
PostgreSQL::Test::Utils::append_to_file("$backup/backup_label", $label);
$node->safe_psql('postgres', 'SELECT pg_switch_wal()');
$node->poll_query_until('postgres',
	q{SELECT last_archived_wal >= pg_walfile_name(pg_current_wal_lsn() - 1) FROM pg_stat_archiver})
  or die 'WAL was not archived';

my $restored = PostgreSQL::Test::Cluster->new('bc_restored');
$restored->init_from_backup($node, 'manual', has_restoring => 1, standby => 0);
$restored->append_conf('postgresql.conf', "archive_mode = off");
$restored->start;
$restored->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()') or die 'no promotion';
is($restored->safe_psql('postgres', q{SELECT count(*), md5(string_agg(id || v, ',' ORDER BY id)) FROM bc}),
	$expect, 'the restored backup has every row');
is($restored->safe_psql('postgres', q{SET enable_seqscan = off; SELECT count(*) FROM bc WHERE id > 15000}),
	'5000', 'and its index agrees');
is($restored->safe_psql('postgres', q{SELECT count(*), sum(id), count(DISTINCT v) FROM during}),
	$node->safe_psql('postgres', q{SELECT count(*), sum(id), count(DISTINCT v) FROM during}),
	'the table made during the backup has its rows');
ok($restored->log_contains(qr/LOG:  aegis block map ".*${during}_map" was missing; rebuilt it/),
	'its missing map was rebuilt, in a LOG message');
ok(!$restored->log_contains(qr/WARNING:  aegis block map/), 'no WARNING about block maps in a restored backup');

$restored->stop;
$node->stop;
done_testing();
