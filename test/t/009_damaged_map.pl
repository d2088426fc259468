# A damaged or missing block map never costs a table its rows: at start-up
# the map is rebuilt from the relation's data files (the newest valid block
# of each page), with a WARNING naming the map and the relation key, and no
# data file is removed before the new map is durable.  The relation keeps
# its codec, level and persistence (recorded in every block header).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use AegisCrash;

my $node = PostgreSQL::Test::Cluster->new('damaged_map');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'aegis_storage'
aegis.buffer_pool_size = 8MB
autovacuum = off
});
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION aegis_storage;
	CREATE TABLE m_heap (id int PRIMARY KEY, v text);
	CREATE TABLE m_lz4 (id int PRIMARY KEY, v text) USING aegis WITH (compression = 'lz4');
	CREATE TABLE m_zstd (id int PRIMARY KEY, v text) USING aegis
		WITH (compression = 'zstd', compression_level = 5);
});

# Several versions of some pages in the data files: the rebuild must take
# the newest one of each.  (Changes to all pages make the checkpoint compact
# the file; changes to a few leave the older blocks in place.)
for my $t (qw(m_heap m_lz4 m_zstd))
{
	$node->safe_psql('postgres', qq{
		INSERT INTO $t SELECT g, md5(g::text) FROM generate_series(1, 30000) g;
		SELECT aegis_checkpoint();
		UPDATE $t SET v = 'first' WHERE id % 7 = 0;
		DELETE FROM $t WHERE id % 11 = 0;
		SELECT aegis_checkpoint();
		UPDATE $t SET v = 'second' WHERE id % 14 = 0 AND id < 3000;
		SELECT aegis_checkpoint();
		DELETE FROM $t WHERE id % 3 = 0 AND id < 2000;
	});
}

my $q = q{SELECT count(*), sum(id), count(*) FILTER (WHERE v = 'first'),
	count(*) FILTER (WHERE v = 'second'), md5(string_agg(v, ',' ORDER BY id)) FROM };
my $qi = q{SET enable_seqscan = off; SET enable_bitmapscan = off;
	SELECT count(v), sum(id) FROM %s WHERE id BETWEEN 100 AND 20000};
my $expect = $node->safe_psql('postgres', $q . 'm_heap');
my $expect_idx = $node->safe_psql('postgres', sprintf($qi, 'm_heap'));

my $datadir = $node->data_dir;
my $dboid = $node->safe_psql('postgres', "SELECT oid FROM pg_database WHERE datname = 'postgres'");
sub files_of
{
	my ($table) = @_;
	my $fn = $node->safe_psql('postgres', "SELECT relfilenode FROM pg_class WHERE relname = '$table'");
	# data generation G: "$base.G", block map: "${base}_map"
	my $base = aegis_files($node, 'postgres', $table);
	return ($base, $fn);
}
my ($lz4, $lz4_fn) = files_of('m_lz4');
my ($zstd, $zstd_fn) = files_of('m_zstd');

# 1. A flipped byte in a map (a block map entry), after a clean shutdown.
$node->stop;
my @data_before = glob("$lz4.[0-9]*");
ok(@data_before > 0, 'm_lz4 has data files');
flip_logical_byte("${lz4}_map", 88 + 16 * 3 + 1);
my $log_offset = -s $node->logfile;
$node->start;
is($node->safe_psql('postgres', $q . 'm_lz4'), $expect, 'rows of a table whose map was damaged');
is($node->safe_psql('postgres', sprintf($qi, 'm_lz4')), $expect_idx, 'index scan agrees after the rebuild');
ok($node->log_contains(
		qr/WARNING:  aegis block map ".*\/aegis_${dboid}_0_${lz4_fn}_map" was invalid; rebuilt it from the data files of relation 0\/$dboid\/$lz4_fn/,
		$log_offset), 'WARNING names the map and the relation');
my ($pages, $blocks) = slurp_file($node->logfile, $log_offset)
	=~ /DETAIL:  (\d+) pages, \d+ of them with a block, from (\d+) valid blocks/;
cmp_ok($blocks, '>', $pages, 'the data file held older versions of some pages');
ok(-f "${lz4}_map_damaged", 'the damaged map is kept for inspection');
ok(-f "${lz4}_map", 'a new map was written');
is($node->safe_psql('postgres', "SELECT compression || ' ' || compression_level FROM aegis_table_stats('m_lz4')"),
	'lz4 0', 'codec kept');

# the rebuilt table takes changes and survives a clean restart without a warning
$node->safe_psql('postgres', q{
	UPDATE m_heap SET v = 'third' WHERE id % 13 = 0;
	UPDATE m_lz4 SET v = 'third' WHERE id % 13 = 0;
	UPDATE m_zstd SET v = 'third' WHERE id % 13 = 0;
});
$expect = $node->safe_psql('postgres', $q . 'm_heap');
$log_offset = -s $node->logfile;
$node->restart;
is($node->safe_psql('postgres', $q . 'm_lz4'), $expect, 'rebuilt table after changes and a restart');
ok(!$node->log_contains(qr/aegis block map .* was invalid/, $log_offset), 'no rebuild the second time');

# 2. A map lost after a crash: rebuild, then redo of the WAL since the
# last checkpoint on top of it.
$node->safe_psql('postgres', q{
	SELECT aegis_checkpoint();
	UPDATE m_heap SET v = 'after checkpoint' WHERE id % 5 = 0;
	UPDATE m_zstd SET v = 'after checkpoint' WHERE id % 5 = 0;
	INSERT INTO m_heap SELECT g, 'late' FROM generate_series(30001, 31000) g;
	INSERT INTO m_zstd SELECT g, 'late' FROM generate_series(30001, 31000) g;
});
$expect = $node->safe_psql('postgres', $q . 'm_heap');
$expect_idx = $node->safe_psql('postgres', sprintf($qi, 'm_heap'));
$node->kill9;
unlink("${zstd}_map") or die "unlink: $!";
$log_offset = -s $node->logfile;
kill9_and_restart($node) if !$node->start(fail_ok => 1);
is($node->safe_psql('postgres', $q . 'm_zstd'), $expect, 'rows of a table whose map was lost in a crash');
is($node->safe_psql('postgres', sprintf($qi, 'm_zstd')), $expect_idx, 'index scan agrees');
ok($node->log_contains(qr/aegis block map ".*\/aegis_${dboid}_0_${zstd_fn}_map" was missing; rebuilt it/, $log_offset),
	'WARNING for the missing map');
is($node->safe_psql('postgres', "SELECT compression || ' ' || compression_level FROM aegis_table_stats('m_zstd')"),
	'zstd 5', 'codec and level kept');

# 3. An unlogged table keeps its persistence: after a crash it is empty, as
# PostgreSQL empties unlogged tables (its index too), whatever its map says.
$node->safe_psql('postgres', q{
	CREATE UNLOGGED TABLE m_unlogged (id int PRIMARY KEY, v text) USING aegis;
	INSERT INTO m_unlogged SELECT g, md5(g::text) FROM generate_series(1, 5000) g;
	SELECT aegis_checkpoint();
});
my ($unl) = files_of('m_unlogged');
$node->kill9;
flip_logical_byte("${unl}_map", 0);
kill9_and_restart($node) if !$node->start(fail_ok => 1);
is($node->safe_psql('postgres', 'SELECT count(*) FROM m_unlogged'), '0',
	'unlogged table with a rebuilt map is empty after a crash');
$node->safe_psql('postgres', "INSERT INTO m_unlogged VALUES (1, 'x')");
is($node->safe_psql('postgres', 'SET enable_seqscan = off; SELECT v FROM m_unlogged WHERE id = 1'),
	'x', 'and usable through its index');

# 4. A damaged map header after a clean shutdown of a table with data files
# of two generations (a TRUNCATE in the creating transaction starts a new
# one): the truncated rows stay gone.
$node->safe_psql('postgres', q{
	BEGIN;
	CREATE TABLE m_trunc (id int, v text) USING aegis;
	INSERT INTO m_trunc SELECT g, 'before' FROM generate_series(1, 3000) g;
	SELECT aegis_checkpoint();
	TRUNCATE m_trunc;
	INSERT INTO m_trunc SELECT g, 'after' FROM generate_series(1, 100) g;
	COMMIT;
});
my ($tr) = files_of('m_trunc');
$node->kill9;
flip_logical_byte("${tr}_map", 20);
kill9_and_restart($node) if !$node->start(fail_ok => 1);
is($node->safe_psql('postgres', "SELECT count(*), count(*) FILTER (WHERE v = 'before') FROM m_trunc"),
	'100|0', 'rows truncated before the crash stay gone');

# 5. A block map that cannot be read (its permissions): every statement
# on an aegis table fails with the load error, DROP TABLE too, at once (it
# used to retry the failed load in every abort, for ever, filling the log),
# and the server goes on; once the map can be read, the next statement
# loads the directory and the DROP works.
$node->safe_psql('postgres', q{
	CREATE TABLE m_drop (id int, v text) USING aegis;
	INSERT INTO m_drop SELECT g, 'd' FROM generate_series(1, 1000) g;
});
my $lz4_rows = $node->safe_psql('postgres', $q . 'm_lz4');
$node->stop;
chmod(0000, "${lz4}_map") or die "chmod: $!";
$node->start;
my $timed_out = 0;
my ($ret, $out, $err) = $node->psql('postgres', 'DROP TABLE m_drop',
	timeout => $PostgreSQL::Test::Utils::timeout_default, timed_out => \$timed_out);
ok(!$timed_out && $ret != 0, 'DROP TABLE fails at once while a block map cannot be read');
like($err, qr/could not open aegis block map ".*_${lz4_fn}_map": Permission denied/,
	'with the load error');
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'the server goes on');
ok(!$node->log_contains(qr/AbortTransaction while in ABORT state/), 'no error in the abort');
chmod(0600, "${lz4}_map") or die "chmod: $!";
$node->safe_psql('postgres', 'DROP TABLE m_drop');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_class WHERE relname = 'm_drop'"), '0',
	'DROP TABLE works once the map can be read');
is($node->safe_psql('postgres', $q . 'm_lz4'), $lz4_rows, 'and the other tables keep their rows');

$node->stop;
done_testing();
