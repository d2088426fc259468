# Committed rows of local-backend aegis tables survive a clean restart (with
# and without a checkpoint in between); memory-backend tables come back
# empty; a corrupted block gives a clear error, not a crash or wrong rows.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use AegisCrash;

my $node = PostgreSQL::Test::Cluster->new('restart');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'aegis_storage'
aegis.buffer_pool_size = 8MB
});
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION aegis_storage;
	CREATE TABLE r_heap (id int PRIMARY KEY, v text, n numeric);
	CREATE TABLE r_lz4 (id int PRIMARY KEY, v text, n numeric) USING aegis WITH (compression = 'lz4');
	CREATE TABLE r_zstd (id int PRIMARY KEY, v text, n numeric) USING aegis WITH (compression = 'zstd');
	CREATE TABLE r_mem (id int) USING aegis WITH (storage_backend = 'memory');
	INSERT INTO r_mem SELECT generate_series(1, 1000);
});
for my $t (qw(r_heap r_lz4 r_zstd))
{
	$node->safe_psql('postgres', qq{
		INSERT INTO $t SELECT g, md5(g::text), g / 7.0 FROM generate_series(1, 60000) g;
		UPDATE $t SET v = 'updated' WHERE id % 10 = 0;
		DELETE FROM $t WHERE id % 13 = 0;
	});
}
# uncommitted and rolled-back work must not come back
$node->safe_psql('postgres', q{
	BEGIN; INSERT INTO r_lz4 VALUES (-1, 'rolled back', 0); ROLLBACK;
});

my $q = q{SELECT count(*), sum(id), count(*) FILTER (WHERE v = 'updated'), sum(n) FROM };
my $expect = $node->safe_psql('postgres', $q . 'r_heap');

$node->restart;
is($node->safe_psql('postgres', $q . 'r_lz4'), $expect, 'lz4 table after clean restart');
is($node->safe_psql('postgres', $q . 'r_zstd'), $expect, 'zstd table after clean restart');
is($node->safe_psql('postgres', 'SELECT count(*) FROM r_lz4 WHERE id = -1'), '0', 'rolled-back row absent');
is($node->safe_psql('postgres', 'SET enable_seqscan = off; SELECT v FROM r_lz4 WHERE id = 20'),
	'updated', 'index scan after restart');
is($node->safe_psql('postgres', 'SELECT count(*) FROM r_mem'), '0', 'memory table comes back empty');
$node->safe_psql('postgres', 'INSERT INTO r_mem VALUES (1)');
is($node->safe_psql('postgres', 'SELECT count(*) FROM r_mem'), '1', 'memory table usable after restart');

# more changes, an explicit checkpoint, more changes, restart
$node->safe_psql('postgres', q{
	UPDATE r_lz4 SET n = n + 1 WHERE id < 1000;
	SELECT aegis_checkpoint();
	DELETE FROM r_lz4 WHERE id BETWEEN 5000 AND 6000;
	UPDATE r_heap SET n = n + 1 WHERE id < 1000;
	DELETE FROM r_heap WHERE id BETWEEN 5000 AND 6000;
});
$expect = $node->safe_psql('postgres', $q . 'r_heap');
$node->restart;
is($node->safe_psql('postgres', $q . 'r_lz4'), $expect, 'changes after a checkpoint survive restart');

# DROP removes the files; TRUNCATE leaves one empty relation
my $datadir = $node->data_dir;
my $dboid = $node->safe_psql('postgres', "SELECT oid FROM pg_database WHERE datname = 'postgres'");
my ($zdir, $zname) = aegis_files($node, 'postgres', 'r_zstd');
ok(-f "$zdir/${zname}_map", 'block map of r_zstd exists');
$node->safe_psql('postgres', 'DROP TABLE r_zstd');
ok(!-e "$zdir/${zname}_map", 'block map removed by DROP TABLE');
my @left = (glob("$zdir/$zname.*"), glob("$zdir/${zname}_*"));
is(scalar(@left), 0, 'no file of the dropped table is left');

# a flipped byte in a block: clear error naming the block, no crash
$node->safe_psql('postgres', 'SELECT aegis_checkpoint()');
my $node_lz4 = $node->safe_psql('postgres', "SELECT relfilenode FROM pg_class WHERE relname = 'r_lz4'");
my $lz4_base = aegis_files($node, 'postgres', 'r_lz4');
$node->stop;
# the block map says where page 0 lives: header (88 bytes), then one
# (offset u64, length u32, generation u32) entry per page; offsets are
# logical (the chunk headers of the file not counted)
my ($off, $len, $gen) = aegis_map_entry("${lz4_base}_map", 0);
my $datafile = "$lz4_base.$gen";
ok(-f $datafile, 'data file of page 0 exists');
flip_logical_byte($datafile, $off + 100);	# inside the payload
$node->start;
my ($ret, $stdout, $stderr) = $node->psql('postgres', 'SELECT count(*) FROM r_lz4');
isnt($ret, 0, 'reading a corrupted block fails');
like($stderr, qr/invalid aegis block for table "public.r_lz4" \(aegis relation 0\/$dboid\/$node_lz4\), page 0, in ".*\/aegis_${dboid}_0_$node_lz4\.\d+"/,
	'error names the table, its relation key, the page and the file');
like($stderr, qr/checksum mismatch/, 'error says why');
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'server still up after corruption error');

# a truncated data file: clear error, no crash
$node->stop;
truncate($datafile, 0) or die "truncate: $!";
$node->start;
($ret, $stdout, $stderr) = $node->psql('postgres', 'SELECT count(*) FROM r_lz4');
isnt($ret, 0, 'reading a truncated data file fails');
like($stderr, qr/aegis data file ".*" of table "public.r_lz4" \(aegis relation [0-9\/]+\) is truncated/,
	'error says which file of which table is truncated');
is($node->safe_psql('postgres', 'SELECT count(*) FROM r_heap') > 0 ? 'up' : 'down', 'up',
	'server still up after truncation error');
$node->safe_psql('postgres', 'DROP TABLE r_lz4');

# ALTER TABLE ... SET TABLESPACE copies the pages; they survive a restart
my $tsdir = PostgreSQL::Test::Utils::tempdir_short();
$node->safe_psql('postgres', qq{
	CREATE TABLESPACE aegis_ts LOCATION '$tsdir';
	CREATE TABLE r_ts (id int, v text) USING aegis WITH (compression = 'zstd');
	INSERT INTO r_ts SELECT g, md5(g::text) FROM generate_series(1, 30000) g;
	ALTER TABLE r_ts SET TABLESPACE aegis_ts;
});
my $ts_expect = '30000|450015000';
is($node->safe_psql('postgres', 'SELECT count(*), sum(id) FROM r_ts'), $ts_expect, 'rows after SET TABLESPACE');
$node->restart;
is($node->safe_psql('postgres', 'SELECT count(*), sum(id) FROM r_ts'), $ts_expect, 'rows after SET TABLESPACE and restart');
my ($tsfdir, $tsname) = aegis_files($node, 'postgres', 'r_ts');
ok($tsfdir =~ m{/pg_tblspc/\d+/PG_15_\d+/$dboid$} && -f "$tsfdir/${tsname}_map" && scalar(glob("$tsfdir/$tsname.[0-9]*")),
	'its aegis files are in the database directory of the tablespace');
is($node->safe_psql('postgres', "SELECT compression FROM aegis_table_stats('r_ts')"), 'zstd', 'codec kept');

# pg_dump / pg_restore round trip of aegis tables (rows, indexes, constraints)
$node->safe_psql('postgres', q{
	CREATE TABLE r_dump (id int PRIMARY KEY, v text) USING aegis;
	INSERT INTO r_dump SELECT g, md5(g::text) FROM generate_series(1, 5000) g;
	CREATE DATABASE restored;
});
my $dumpfile = $node->basedir . '/aegis.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dumpfile, '-d', $node->connstr('postgres') ], 'pg_dump');
$node->command_ok([ 'pg_restore', '-d', $node->connstr('restored'), $dumpfile ], 'pg_restore');
is($node->safe_psql('restored', 'SELECT count(*), sum(id), max(v) FROM r_dump'),
	$node->safe_psql('postgres', 'SELECT count(*), sum(id), max(v) FROM r_dump'), 'restored rows equal');
is($node->safe_psql('restored', "SELECT amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE relname = 'r_dump'"),
	'aegis', 'restored table is an aegis table');
$node->safe_psql('postgres', 'DROP DATABASE restored');

# DROP DATABASE removes the database's aegis files (with its directory)
$node->safe_psql('postgres', 'CREATE DATABASE dropme');
$node->safe_psql('dropme', q{
	CREATE EXTENSION aegis_storage;
	CREATE TABLE x (a int) USING aegis;
	INSERT INTO x SELECT generate_series(1, 1000);
	SELECT aegis_checkpoint();
});
my $dropoid = $node->safe_psql('postgres', "SELECT oid FROM pg_database WHERE datname = 'dropme'");
ok(scalar(glob("$datadir/base/$dropoid/aegis_${dropoid}_*")), 'database has aegis files in its directory');
$node->safe_psql('postgres', 'DROP DATABASE dropme');
ok(!-e "$datadir/base/$dropoid", 'DROP DATABASE removed the directory');

# VACUUM FULL and CLUSTER: the rewritten table survives a crash right after
# them, and the old storage is gone
$node->safe_psql('postgres', q{
	CREATE TABLE r_rw (id int PRIMARY KEY, k int, v text) USING aegis WITH (compression = 'zstd');
	CREATE INDEX r_rw_k ON r_rw (k);
	INSERT INTO r_rw SELECT g, g % 97, md5(g::text) FROM generate_series(1, 30000) g;
	DELETE FROM r_rw WHERE id % 4 = 0;
	UPDATE r_rw SET v = v || 'u' WHERE id % 7 = 0;
});
my $rw_q = 'SELECT count(*), sum(k), md5(string_agg(v, \',\' ORDER BY id)) FROM r_rw';
my $rw_expect = $node->safe_psql('postgres', $rw_q);
my $rw_dboid = $node->safe_psql('postgres', "SELECT oid FROM pg_database WHERE datname = 'postgres'");
my $rw_old = $node->safe_psql('postgres', "SELECT relfilenode FROM pg_class WHERE relname = 'r_rw'");
$node->safe_psql('postgres', 'VACUUM FULL r_rw');
my $rw_mid = $node->safe_psql('postgres', "SELECT relfilenode FROM pg_class WHERE relname = 'r_rw'");
$node->safe_psql('postgres', 'CLUSTER r_rw USING r_rw_k');
$node->stop('immediate');
$node->start;
is($node->safe_psql('postgres', $rw_q), $rw_expect, 'rows after VACUUM FULL, CLUSTER and a crash');
is($node->safe_psql('postgres', 'SET enable_seqscan = off; SET enable_bitmapscan = off; SELECT count(*) FROM r_rw WHERE k = 5'),
	$node->safe_psql('postgres', 'SELECT count(*) FROM r_rw WHERE k = 5'), 'rebuilt index after the crash');
is($node->safe_psql('postgres', "SELECT compression FROM aegis_table_stats('r_rw')"), 'zstd', 'codec kept by the rewrites');
$node->safe_psql('postgres', 'CHECKPOINT');
my @rw_left = grep { m{/aegis_${rw_dboid}_0_($rw_old|$rw_mid)[._]} } glob("$datadir/base/$rw_dboid/aegis_*");
is(scalar(@rw_left), 0, 'the storage the rewrites replaced is removed');

# ALTER TABLE ... SET (compression, storage_backend): the table moved to new
# storage survives a crash right after, with its new codec
$node->safe_psql('postgres', q{ALTER TABLE r_rw SET (compression = 'none')});
my $opt_mid = $node->safe_psql('postgres', "SELECT relfilenode FROM pg_class WHERE relname = 'r_rw'");
$node->safe_psql('postgres', q{ALTER TABLE r_rw SET (compression = 'lz4', compression_level = 9)});
$node->stop('immediate');
$node->start;
is($node->safe_psql('postgres', $rw_q), $rw_expect, 'rows after ALTER TABLE SET (compression) and a crash');
is($node->safe_psql('postgres', "SELECT compression || '/' || compression_level FROM aegis_table_stats('r_rw')"),
	'lz4/9', 'new codec and level after the crash');
is($node->safe_psql('postgres', "SELECT reloptions FROM pg_class WHERE relname = 'r_rw'"),
	'{compression=lz4,compression_level=9}', 'pg_class.reloptions records what was set');
is($node->safe_psql('postgres', 'SET enable_seqscan = off; SET enable_bitmapscan = off; SELECT count(*) FROM r_rw WHERE k = 5'),
	$node->safe_psql('postgres', 'SELECT count(*) FROM r_rw WHERE k = 5'), 'indexes still find the rows');
$node->safe_psql('postgres', 'CHECKPOINT');
@rw_left = grep { m{/aegis_${rw_dboid}_0_$opt_mid[._]} } glob("$datadir/base/$rw_dboid/aegis_*");
is(scalar(@rw_left), 0, 'the storage ALTER TABLE SET replaced is removed');

# VACUUM VERBOSE reports on aegis tables as on heap, and autovacuum logs
# its runs past log_autovacuum_min_duration
my ($vret, $vout, $verr) = $node->psql('postgres', 'VACUUM (VERBOSE) r_rw');
like($verr, qr/INFO:  vacuuming "postgres\.public\.r_rw".*INFO:  finished vacuuming "postgres\.public\.r_rw".*tuples: \d+ removed, \d+ remain/s,
	'VACUUM VERBOSE reports the aegis table');
$node->append_conf('postgresql.conf', "log_autovacuum_min_duration = 0\nautovacuum_naptime = 1");
$node->reload;
$node->safe_psql('postgres', q{
	ALTER TABLE r_rw SET (autovacuum_vacuum_threshold = 0, autovacuum_vacuum_scale_factor = 0);
	DELETE FROM r_rw WHERE id % 5 = 0;
});
ok($node->poll_query_until('postgres',
		"SELECT autovacuum_count > 0 FROM pg_stat_user_tables WHERE relname = 'r_rw'"),
	'autovacuum processes the aegis table');
ok($node->log_contains(qr/automatic vacuum of table "postgres\.public\.r_rw"/),
	'autovacuum logs its run');

$node->stop;
done_testing();
