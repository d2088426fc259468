# Pages stored in their rows or columns form (src/block/block_pax.c) read
# back exactly: every type shape (fixed widths 1 to 64 bytes, short and long
# varlenas, TOAST pointers, inline-compressed values, nulls, arrays),
# columns added and dropped, HOT chains, pruned and vacuumed pages, a table
# wider than a layout holds; after restarts, so every page comes back from
# its block.  A table of sequential keys and timestamps compresses to what
# only the columns form reaches (plain pages: zstd 0.29, lz4 0.53 of the
# raw bytes on this data; rows form 0.21 / 0.37), on the primary, on a hot
# standby (whose sessions used the table or not) and after crash recovery.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('column_form');
$node->init(allows_streaming => 1);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'aegis_storage'
aegis.buffer_pool_size = 8MB
});
$node->start;

my @codecs = qw(lz4 zstd);
my $shape = q{(id int, flag bool, small int2, big int8, f float8, d timestamp,
	u uuid, nm name, short_t text, long_t text, arr int[], num numeric, ch "char")};

$node->safe_psql('postgres', "CREATE EXTENSION aegis_storage");
$node->safe_psql('postgres', "CREATE TABLE cf_heap $shape");
$node->safe_psql('postgres', "CREATE TABLE cf_$_ $shape USING aegis WITH (compression = '$_')")
  for @codecs;
# long_t: some inline-compressible (2 kB of repeats), some toasted (random
# 5 kB, stored external), some short; nulls in several columns
my $fill = q{
	SELECT g, g % 3 = 0, (g % 30000)::int2, g::int8 * 1000003, g / 7.0::float8,
		timestamp '2020-01-01' + g * interval '1 second',
		md5(g::text)::uuid, 'n' || (g % 50),
		CASE WHEN g % 11 = 0 THEN NULL ELSE 'v' || g END,
		CASE WHEN g % 500 = 0 THEN repeat('xyz', 700)
			 WHEN g % 777 = 0 THEN (SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 160))
			 WHEN g % 5 = 0 THEN NULL ELSE repeat('a', g % 40) END,
		CASE WHEN g % 7 = 0 THEN NULL ELSE ARRAY[g, g + 1] END,
		g * 1.5, chr(65 + g % 26)::"char"
	FROM generate_series(1, 30000) g};
$node->safe_psql('postgres', "INSERT INTO cf_heap $fill");
$node->safe_psql('postgres', "INSERT INTO cf_$_ SELECT * FROM cf_heap") for @codecs;

# count and digest of a table's rows, in key order
my $digest = sub {
	my ($t) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) || ':' || md5(string_agg(x::text, ',' ORDER BY id)) FROM $t x");
};

sub compare_all
{
	my ($what) = @_;
	my $want = $digest->('cf_heap');
	is($digest->("cf_$_"), $want, "$what: cf_$_ equals heap") for @codecs;
}

$node->safe_psql('postgres', "SELECT aegis_checkpoint()");
$node->restart;
compare_all('after a restart');

# changes: HOT updates, non-HOT updates, deletes, pruning and VACUUM
for my $t ('cf_heap', map { "cf_$_" } @codecs)
{
	$node->safe_psql('postgres', qq{
		UPDATE $t SET f = f + 1 WHERE id % 4 = 0;
		UPDATE $t SET short_t = 'changed ' || id, arr = NULL WHERE id % 9 = 0;
		DELETE FROM $t WHERE id % 17 = 0;
		VACUUM $t;
		UPDATE $t SET num = -num WHERE id % 6 = 0;
	});
}
$node->safe_psql('postgres', "SELECT aegis_checkpoint()");
$node->restart;
compare_all('after updates, deletes and VACUUM');

# a column added (old tuples have fewer attributes), one dropped
for my $t ('cf_heap', map { "cf_$_" } @codecs)
{
	$node->safe_psql('postgres', qq{
		ALTER TABLE $t ADD COLUMN extra int8;
		ALTER TABLE $t DROP COLUMN nm;
		INSERT INTO $t (id, flag, small, big, f, d, extra)
			SELECT g, true, 1, g, g, timestamp '2021-01-01' + g * interval '1 minute', g * 3
			FROM generate_series(30001, 40000) g;
		UPDATE $t SET extra = 42 WHERE id % 10 = 1 AND id <= 30000;
	});
}
$node->safe_psql('postgres', "SELECT aegis_checkpoint()");
$node->restart;
compare_all('after ADD COLUMN and DROP COLUMN');

# wider than a layout (64 columns): rows form or plain pages
my $cols = join(', ', map { "c$_ int" } 1 .. 70);
my $vals = join(', ', map { "g + $_" } 1 .. 70);
$node->safe_psql('postgres', qq{
	CREATE TABLE wide_heap ($cols);
	CREATE TABLE wide_zstd ($cols) USING aegis WITH (compression = 'zstd');
	INSERT INTO wide_heap SELECT $vals FROM generate_series(1, 5000) g;
	INSERT INTO wide_zstd SELECT * FROM wide_heap;
	SELECT aegis_checkpoint();
});
$node->restart;
is( $node->safe_psql('postgres',
		"SELECT md5(string_agg(w::text, ',' ORDER BY c1)) FROM wide_zstd w"),
	$node->safe_psql('postgres',
		"SELECT md5(string_agg(w::text, ',' ORDER BY c1)) FROM wide_heap w"),
	'a table of 70 columns reads back');

# sequential keys and timestamps: only the columns form gets this small
for my $c (@codecs)
{
	$node->safe_psql('postgres', qq{
		CREATE TABLE seq_$c (d timestamp, delay int, dist int, o text, dst text)
			USING aegis WITH (compression = '$c');
		INSERT INTO seq_$c SELECT timestamp '2001-01-01' + g * interval '1 minute',
			(g * 7) % 120 - 20, 100 + (g * 13) % 2000,
			chr(65 + g % 26) || chr(65 + (g / 26) % 26) || 'X', chr(65 + (g / 7) % 26) || 'YZ'
		FROM generate_series(1, 200000) g;
		SELECT aegis_checkpoint();
	});
}
my %limit = (zstd => 0.15, lz4 => 0.25);
for my $c (@codecs)
{
	my $ratio = $node->safe_psql('postgres',
		"SELECT round(stored_bytes::numeric / raw_bytes, 3) FROM aegis_table_stats('seq_$c')");
	cmp_ok($ratio, '<', $limit{$c}, "seq_$c: stored / raw = $ratio, below $limit{$c}");
}
$node->restart;
is($node->safe_psql('postgres',
		"SELECT count(*), sum(delay), sum(dist), count(DISTINCT o) FROM seq_zstd"),
	$node->safe_psql('postgres',
		"SELECT count(*), sum(delay), sum(dist), count(DISTINCT o) FROM seq_lz4"),
	'both codecs read back the same rows');

# a hot standby stores the columns form too, once a session there has used
# the table (sessions publish the layout; redo alone does not know it)
$node->backup('cf_backup');
my $standby = PostgreSQL::Test::Cluster->new('column_form_standby');
$standby->init_from_backup($node, 'cf_backup', has_streaming => 1);
$standby->start;
$node->safe_psql('postgres', qq{
	CREATE TABLE seq_sb (d timestamp, delay int, dist int, o text, dst text)
		USING aegis WITH (compression = 'zstd');
	INSERT INTO seq_sb SELECT * FROM seq_zstd;
});
$node->wait_for_catchup($standby);
is($standby->safe_psql('postgres', "SELECT count(*) FROM seq_sb"), '200000',
	'the standby reads the new table');
# the aegis checkpoint record's redo writes the standby's pages
$node->safe_psql('postgres', "CHECKPOINT");
$node->wait_for_catchup($standby);
my $sb_ratio = $standby->safe_psql('postgres',
	"SELECT round(stored_bytes::numeric / raw_bytes, 3) FROM aegis_table_stats('seq_sb')");
cmp_ok($sb_ratio, '<', $limit{zstd}, "standby: seq_sb stored / raw = $sb_ratio, below $limit{zstd}");
$standby->restart;
is($standby->safe_psql('postgres', "SELECT count(*), sum(delay), sum(dist) FROM seq_sb"),
	$node->safe_psql('postgres', "SELECT count(*), sum(delay), sum(dist) FROM seq_sb"),
	'the standby reads back what it stored');

# a table no standby session has used: the standby learns the layout from
# the WAL (XLOG_AEGIS_REL_INFO before the first change after a redo pointer)
$node->safe_psql('postgres', qq{
	CREATE TABLE seq_sb2 (d timestamp, delay int, dist int, o text, dst text)
		USING aegis WITH (compression = 'zstd');
	INSERT INTO seq_sb2 SELECT * FROM seq_zstd;
	CHECKPOINT;
});
$node->wait_for_catchup($standby);
my $sb2_ratio = $standby->safe_psql('postgres',
	"SELECT round(stored_bytes::numeric / raw_bytes, 3) FROM aegis_table_stats('seq_sb2')");
cmp_ok($sb2_ratio, '<', $limit{zstd},
	"standby, table never read there: seq_sb2 stored / raw = $sb2_ratio, below $limit{zstd}");

# a column added: the new layout goes into the WAL at the next change, not
# at the next checkpoint cycle (else the standby stores the new rows, which
# have more attributes than the old layout, outside the columns form)
$node->safe_psql('postgres', qq{
	CREATE TABLE seq_sb3 (d timestamp, delay int, dist int, o text, dst text)
		USING aegis WITH (compression = 'zstd');
	INSERT INTO seq_sb3 SELECT * FROM seq_zstd LIMIT 1000;
	ALTER TABLE seq_sb3 ADD COLUMN extra int8;
	INSERT INTO seq_sb3 SELECT *, 7 FROM seq_zstd;
	CHECKPOINT;
});
$node->wait_for_catchup($standby);
my $sql3 = "SELECT round(stored_bytes::numeric / raw_bytes, 3) FROM aegis_table_stats('seq_sb3')";
my ($p3, $s3) = ($node->safe_psql('postgres', $sql3), $standby->safe_psql('postgres', $sql3));
cmp_ok(abs($s3 - $p3), '<', 0.005,
	"after ADD COLUMN: stored / raw on the standby $s3, on the primary $p3");
$standby->stop;

# after a crash the startup process writes the pages its redo changed, in
# the columns form too: a table filled after the last checkpoint takes the
# room of one a checkpoint wrote (both under 2 MB: no dictionary, no
# write-behind)
$node->safe_psql('postgres', qq{
	CREATE TABLE seq_ck (d timestamp, delay int, dist int, o text, dst text)
		USING aegis WITH (compression = 'zstd');
	INSERT INTO seq_ck SELECT * FROM seq_zstd WHERE dist < 600;
	CREATE TABLE seq_cr (LIKE seq_ck) USING aegis WITH (compression = 'zstd');
	SELECT aegis_checkpoint();
	INSERT INTO seq_cr SELECT * FROM seq_ck;
});
$node->stop('immediate');
$node->start;
my %crash_ratio = map {
	$_ => $node->safe_psql('postgres',
		"SELECT round(stored_bytes::numeric / raw_bytes, 3) FROM aegis_table_stats('$_')")
} qw(seq_ck seq_cr);
cmp_ok(abs($crash_ratio{seq_cr} - $crash_ratio{seq_ck}), '<', 0.01,
	"stored / raw after crash recovery $crash_ratio{seq_cr}, written by a checkpoint $crash_ratio{seq_ck}");
is($node->safe_psql('postgres', "SELECT count(*), sum(delay) FROM seq_cr"),
	$node->safe_psql('postgres', "SELECT count(*), sum(delay) FROM seq_ck"),
	'and the same rows');

$node->stop;
done_testing();
