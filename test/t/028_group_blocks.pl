# Group blocks (src/block/block_group.c, src/backend/README): after each
# checkpoint the aegis checkpointer compresses runs of up to
# aegis.cold_group_pages consecutive all-visible pages as one block at the
# cold level, in the background; aegis_checkpoint() waits for that and
# checkpoints again (the group blocks durable, the replaced blocks
# compacted away), and the test uses it where plain CHECKPOINT did the
# grouping before.  Two copies of the same
# zstd table (and of an lz4 one) are vacuumed and checkpointed once with
# the setting at 1 (each page alone) and once at 16: on rows that repeat
# across pages, not within one, the grouped copy takes at least 30% fewer
# bytes.  Every grouped table reads back its rows (by sequential and index
# scans) after a restart, after changes to one page in 20 (then
# compressed alone) and to all of them (then grouped again, at the bytes
# per page of the first time), after a crash, after a crash between the
# background grouping and the checkpoint that would have made it durable,
# with its block map lost (rebuilt from the data files), and from a base
# backup whose copy of the data files predates the grouping.
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

my $node = PostgreSQL::Test::Cluster->new('group_blocks');
$node->init(has_archiving => 1, allows_streaming => 1);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'aegis_storage'
aegis.buffer_pool_size = 64MB
aegis.cold_group_pages = 1
aegis.compression_dictionaries = off
autovacuum = off
});
$node->start;
$node->safe_psql('postgres', "CREATE EXTENSION aegis_storage");

# rows of 300 bytes, each one of 100 texts: a page of 25 rows holds few
# repeats, 16 pages many (no dictionary, which would hold them too)
$node->safe_psql('postgres', q{
	CREATE TABLE src (id int PRIMARY KEY, grp int, words text);
	INSERT INTO src
	SELECT g, g % 100,
		(SELECT string_agg(md5(((g * 7919) % 100)::text || 'w' || k), ' ')
		 FROM generate_series(1, 9) k)
	FROM generate_series(1, 60000) g;
});
for my $t (qw(z_one z_grp))
{
	$node->safe_psql('postgres',
		"CREATE TABLE $t (LIKE src INCLUDING INDEXES) USING aegis WITH (compression = 'zstd'); INSERT INTO $t SELECT * FROM src");
}
for my $t (qw(l_one l_grp))
{
	$node->safe_psql('postgres',
		"CREATE TABLE $t (LIKE src INCLUDING INDEXES) USING aegis WITH (compression = 'lz4'); INSERT INTO $t SELECT * FROM src");
}
$node->safe_psql('postgres', 'CHECKPOINT');

sub stored
{
	my ($t) = @_;
	return $node->safe_psql('postgres', "SELECT file_bytes FROM aegis_table_stats('$t')");
}

# bytes per page
sub per_page
{
	my ($t) = @_;
	return $node->safe_psql('postgres', "SELECT file_bytes / pages FROM aegis_table_stats('$t')");
}

# rows that differ between src and $t, by a sequential scan and by the index
sub diff_rows
{
	my ($t, $n) = @_;
	$n //= $node;
	return $n->safe_psql('postgres', qq{
		SET enable_indexscan = off; SET enable_bitmapscan = off;
		SELECT (SELECT count(*) FROM (SELECT * FROM src EXCEPT ALL SELECT * FROM $t) a) +
			   (SELECT count(*) FROM (SELECT * FROM $t EXCEPT ALL SELECT * FROM src) b);
		SET enable_seqscan = off; SET enable_indexscan = on;
		SELECT count(*) FROM (SELECT s.id FROM src s JOIN $t t ON t.id = s.id
			WHERE s.id % 97 = 0 AND t.words IS DISTINCT FROM s.words) c;});
}

# each page alone, at the cold level
$node->safe_psql('postgres', 'VACUUM z_one; VACUUM l_one; SELECT aegis_checkpoint()');
# in groups of 16
$node->append_conf('postgresql.conf', 'aegis.cold_group_pages = 16');
$node->reload;
$node->safe_psql('postgres', 'VACUUM z_grp; VACUUM l_grp; SELECT aegis_checkpoint()');
my %size = map { $_ => stored($_) } qw(z_one z_grp l_one l_grp);
my %grp_page = map { $_ => per_page($_) } qw(z_grp l_grp);
note(join(', ', map { "$_: $size{$_}" } sort keys %size));
cmp_ok($size{z_grp}, '<', $size{z_one} * 0.7, 'zstd: grouped pages take at least 30% less room');
cmp_ok($size{l_grp}, '<', $size{l_one} * 0.7, 'lz4: grouped pages take at least 30% less room');
is(diff_rows($_), "0\n0", "$_ reads back its rows") for qw(z_grp l_grp);

$node->restart;
is(diff_rows($_), "0\n0", "$_ reads back its rows after a restart") for qw(z_grp l_grp);

# changes to one page in 20 take them out of their groups; after VACUUM
# the checkpoint compresses them alone at the cold level (less than a
# quarter of each group changed), the groups keep their other members
$node->safe_psql('postgres', q{
	UPDATE src SET grp = grp + 1000 WHERE id % 500 = 0;
	UPDATE z_grp SET grp = grp + 1000 WHERE id % 500 = 0;
	UPDATE l_grp SET grp = grp + 1000 WHERE id % 500 = 0;
	CHECKPOINT;});
is(diff_rows($_), "0\n0", "$_ after changes to grouped pages") for qw(z_grp l_grp);
$node->safe_psql('postgres', 'VACUUM src; VACUUM z_grp; VACUUM l_grp; SELECT aegis_checkpoint()');
my %partly = map { $_ => stored($_) } qw(z_grp l_grp);
note(join(', ', map { "$_: $partly{$_}" } sort keys %partly));
cmp_ok($partly{z_grp}, '<', $size{z_one} * 0.7, 'zstd: the pages changed alone, the rest still grouped');
cmp_ok($partly{l_grp}, '<', $size{l_one} * 0.7, 'lz4: the pages changed alone, the rest still grouped');
is(diff_rows($_), "0\n0", "$_ after the pages changed were compressed alone") for qw(z_grp l_grp);

# changes to every page (the new versions fill new pages): VACUUM and the
# checkpoint group them all again, at what a page took at first
$node->safe_psql('postgres', q{
	UPDATE src SET grp = grp + 1000 WHERE id % 3 = 0;
	UPDATE z_grp SET grp = grp + 1000 WHERE id % 3 = 0;
	UPDATE l_grp SET grp = grp + 1000 WHERE id % 3 = 0;
	CHECKPOINT;
	VACUUM src; VACUUM z_grp; VACUUM l_grp; SELECT aegis_checkpoint()});
cmp_ok(per_page('z_grp'), '<', $grp_page{z_grp} * 1.1, 'zstd: grouped again after VACUUM, bytes per page as at first');
cmp_ok(per_page('l_grp'), '<', $grp_page{l_grp} * 1.1, 'lz4: grouped again after VACUUM, bytes per page as at first');
$node->restart;
is(diff_rows($_), "0\n0", "$_ after regrouping and a restart") for qw(z_grp l_grp);

# a crash after a checkpoint grouped a table: redo on top of group blocks
$node->safe_psql('postgres', q{
	CREATE TABLE z_crash (LIKE src INCLUDING INDEXES) USING aegis WITH (compression = 'zstd');
	INSERT INTO z_crash SELECT * FROM src;
	VACUUM z_crash;
	SELECT aegis_checkpoint();
	UPDATE src SET words = 'after the checkpoint' WHERE id % 500 = 0;
	UPDATE z_crash SET words = 'after the checkpoint' WHERE id % 500 = 0;
	DELETE FROM src WHERE id % 777 = 0;
	DELETE FROM z_crash WHERE id % 777 = 0;});
$node->stop('immediate');
$node->start;
is(diff_rows('z_crash'), "0\n0", 'a grouped table changed before a crash');

# a lost block map: rebuilt from the data files, group blocks included
$node->safe_psql('postgres', 'VACUUM z_crash; SELECT aegis_checkpoint()');
my $base = aegis_files($node, 'postgres', 'z_crash');
$node->stop;
unlink("${base}_map") or die "unlink: $!";
$node->start;
is(diff_rows('z_crash'), "0\n0", 'a grouped table whose map was rebuilt');
ok($node->log_contains(qr/aegis block map ".*" was missing; rebuilt it/), 'the map was rebuilt');
$node->restart;
is(diff_rows('z_crash'), "0\n0", 'and after a restart');

# a crash after the background grouping, before the checkpoint that would
# have made it durable: recovery starts from the map of the checkpoint
# before, whose blocks are all still in the data file
$node->safe_psql('postgres', q{
	CREATE TABLE z_mid (LIKE src INCLUDING INDEXES) USING aegis WITH (compression = 'zstd');
	INSERT INTO z_mid SELECT * FROM src;
	CHECKPOINT;});
my $ungrouped = $node->safe_psql('postgres', "SELECT stored_bytes FROM aegis_table_stats('z_mid')");
$node->safe_psql('postgres', 'VACUUM z_mid; CHECKPOINT');
$node->poll_query_until('postgres',
	"SELECT stored_bytes < $ungrouped * 0.7 FROM aegis_table_stats('z_mid')")
  or die 'the checkpointer did not group the table after the checkpoint';
$node->stop('immediate');
$node->start;
is(diff_rows('z_mid'), "0\n0", 'a crash between the grouping and the next checkpoint loses no row');
$node->safe_psql('postgres', 'SELECT aegis_checkpoint()');
cmp_ok($node->safe_psql('postgres', "SELECT stored_bytes FROM aegis_table_stats('z_mid')"),
	'<', $ungrouped * 0.7, 'and the table is grouped again after it');
is(diff_rows('z_mid'), "0\n0", 'and reads back its rows');

# a base backup that copied the data files before a checkpoint grouped the
# table (and compacted it), and its map after: the group blocks reach the
# restored copy through the WAL (XLOG_AEGIS_IMAGE)
$node->safe_psql('postgres', q{
	CREATE TABLE z_bk (LIKE src INCLUDING INDEXES) USING aegis WITH (compression = 'zstd');
	INSERT INTO z_bk SELECT * FROM src;
	CHECKPOINT;});
my $datadir = $node->data_dir;
my ($dbdir, $name) = aegis_files($node, 'postgres', 'z_bk');
my $bsession = $node->background_psql('postgres');
$bsession->query_safe("SELECT pg_backup_start('groups', true)");
my $backup = $node->backup_dir . '/manual';
make_path($node->backup_dir);
PostgreSQL::Test::RecursiveCopy::copypath($datadir, $backup,
	filterfn => sub {
		my $src = shift;
		return $src !~ m{^(postmaster\.pid|pg_wal/.+)$}
		  && $src !~ m{/aegis_[^/]*_map$};
	});
my @gen_before = glob("$dbdir/$name.[0-9]*");
$node->safe_psql('postgres', 'VACUUM z_bk; SELECT aegis_checkpoint()');
my @gen_after = glob("$dbdir/$name.[0-9]*");
isnt("@gen_after", "@gen_before", 'the grouping checkpoint compacted the table');
my $dboid = $node->safe_psql('postgres', "SELECT oid FROM pg_database WHERE datname = 'postgres'");
my $reldir = "base/$dboid";
for my $f (glob("$dbdir/aegis_*_map"))
{
	copy($f, "$backup/$reldir/") or die "copy $f: $!";
}
my $label = $bsession->query_safe("SELECT labelfile FROM pg_backup_stop(false)");
$bsession->quit;
PostgreSQL::Test::Utils::append_to_file("$backup/backup_label", $label);
$node->safe_psql('postgres', 'SELECT pg_switch_wal()');
$node->poll_query_until('postgres',
	q{SELECT last_archived_wal >= pg_walfile_name(pg_current_wal_lsn() - 1) FROM pg_stat_archiver})
  or die 'WAL was not archived';
my $restored = PostgreSQL::Test::Cluster->new('group_restored');
$restored->init_from_backup($node, 'manual', has_restoring => 1, standby => 0);
$restored->append_conf('postgresql.conf', "archive_mode = off");
$restored->start;
$restored->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()') or die 'no promotion';
is(diff_rows('z_bk', $restored), "0\n0", 'a base backup copied before the grouping restores every row');
$restored->stop;

$node->stop;
done_testing();
