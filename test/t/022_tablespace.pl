# Aegis data of a table lives in the database directory of its tablespace,
# in files PostgreSQL's own tools accept: a tablespace on another disk holds
# its tables' aegis bytes, pg_tablespace_size and pg_database_size count
# them, ALTER TABLE ... SET TABLESPACE moves them, DROP TABLESPACE and DROP
# DATABASE find nothing left, base backups (data checksums on, verified by
# the server) and pg_checksums accept the files, a standby built from such a
# backup and a crash keep every row, CREATE DATABASE ... STRATEGY FILE_COPY
# leaves no copy of the template's files, ALTER DATABASE ... SET TABLESPACE
# is refused while aegis tables would have to move with it, and a table of
# the previous builds' layout (under aegis.data_directory) keeps working.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use File::Copy;
use File::Path qw(make_path);

my $primary = PostgreSQL::Test::Cluster->new('ts_primary');
$primary->init(allows_streaming => 1, extra => ['--data-checksums']);
$primary->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'aegis_storage'
aegis.buffer_pool_size = 4MB
autovacuum = off
wal_keep_size = 256MB
allow_in_place_tablespaces = on
});
$primary->start;
my $datadir = $primary->data_dir;
my $tsdir = PostgreSQL::Test::Utils::tempdir_short();
my $ts2dir = PostgreSQL::Test::Utils::tempdir_short();

$primary->safe_psql('postgres', qq{
	CREATE EXTENSION aegis_storage;
	CREATE TABLESPACE ts LOCATION '$tsdir';
	CREATE TABLESPACE ts2 LOCATION '$ts2dir';
	CREATE TABLE t_ts (a int PRIMARY KEY, b text) USING aegis
		WITH (compression = 'zstd') TABLESPACE ts;
	INSERT INTO t_ts SELECT g, md5(g::text) FROM generate_series(1, 60000) g;
	-- moved into the previous builds' layout below, which has no
	-- compression dictionaries: t_def gets none either
	SET aegis.compression_dictionaries = off;
	CREATE TABLE t_def (a int, b text) USING aegis;
	INSERT INTO t_def SELECT g, repeat(md5(g::text), 3) FROM generate_series(1, 30000) g;
	RESET aegis.compression_dictionaries;
	CHECKPOINT;
});
my $dboid = $primary->safe_psql('postgres', "SELECT oid FROM pg_database WHERE datname = 'postgres'");
my $spcoid = $primary->safe_psql('postgres', "SELECT oid FROM pg_tablespace WHERE spcname = 'ts'");
my $fn = $primary->safe_psql('postgres', "SELECT relfilenode FROM pg_class WHERE relname = 't_ts'");
my $deffn = $primary->safe_psql('postgres', "SELECT relfilenode FROM pg_class WHERE relname = 't_def'");
my ($tsdbdir) = glob("$tsdir/PG_15_*/$dboid");

# aegis files under a directory: name => bytes
sub aegis_files
{
	my ($dir) = @_;
	my %f;
	for my $p (glob("$dir/aegis_*"))
	{
		(my $n = $p) =~ s{.*/}{};
		$f{$n} = -s $p;
	}
	return \%f;
}

my $ts_files = aegis_files($tsdbdir);
ok(exists $ts_files->{"aegis_${dboid}_${spcoid}_${fn}_map"}
	  && scalar(grep { /^aegis_${dboid}_${spcoid}_${fn}\.\d+$/ } keys %$ts_files) == 1,
	"t_ts: its block map and data file are in the tablespace's database directory")
  or diag(join(' ', sort keys %$ts_files));
is(scalar(grep { /_${fn}[._]/ } keys %{ aegis_files("$datadir/base/$dboid") }), 0,
	'... and none of its aegis files is under base/');
ok(exists aegis_files("$datadir/base/$dboid")->{"aegis_${dboid}_0_${deffn}_map"},
	't_def (default tablespace): its files are in base/<db>');
ok(!-e "$datadir/pg_aegis/$dboid", 'nothing under the old aegis.data_directory');

# every file is whole 8 kB chunks that read as new pages (pd_upper = 0)
my $bad = '';
for my $dir ($tsdbdir, "$datadir/base/$dboid")
{
	for my $p (glob("$dir/aegis_*"))
	{
		my $size = -s $p;
		$bad .= "$p: $size bytes; " if $size % 8192;
		open(my $fh, '<', $p) or die "open $p: $!";
		binmode $fh;
		for (my $off = 0; $off < $size; $off += 8192)
		{
			my $hdr;
			seek($fh, $off, 0);
			read($fh, $hdr, 16);
			if ($hdr ne "\0" x 16) { $bad .= "$p: chunk at $off; "; last; }
		}
		close($fh);
	}
}
is($bad, '', 'aegis files are whole 8 kB chunks, each opening with 16 zero bytes');

my $aegis_bytes = 0;
$aegis_bytes += $_ for values %$ts_files;
ok($aegis_bytes > 1_000_000, "the table's aegis data is in the tablespace ($aegis_bytes bytes)");
# pg_tablespace_size and pg_database_size stat the files of the database
# directories (and, for a tablespace, the directories themselves): the
# aegis files are among them now
sub dir_bytes
{
	my ($with_dir, @dirs) = @_;
	my $sum = 0;
	for my $d (@dirs)
	{
		$sum += -s $d if $with_dir;
		$sum += -s $_ for grep { -f $_ } glob("$d/*");
	}
	return $sum;
}
my ($got, $want);
for (1 .. 3)	# a connection may write its relcache init file meanwhile
{
	$got = $primary->safe_psql('postgres',
		"SELECT pg_tablespace_size('ts') || ' ' || pg_database_size('postgres')");
	$want = dir_bytes(1, glob("$tsdir/PG_15_*/*")) . ' '
	  . dir_bytes(0, "$datadir/base/$dboid", glob("$tsdir/PG_15_*/$dboid"));
	last if $got eq $want;
}
is($got, $want, 'pg_tablespace_size and pg_database_size are the bytes of the directories');
cmp_ok($primary->safe_psql('postgres', "SELECT pg_tablespace_size('ts') - pg_table_size('t_ts')"),
	'>=', $aegis_bytes, "... which hold the aegis files ($aegis_bytes bytes in the tablespace)");

my $sum_q = "SELECT count(*), sum(a), md5(string_agg(b, ',' ORDER BY a)) FROM t_ts";
my $def_q = "SELECT count(*), sum(length(b)) FROM t_def";

# a base backup verifies the checksums of every file of the database
# directories (data checksums are on): the aegis files must pass
my $tsbackup = PostgreSQL::Test::Utils::tempdir_short();
my $ts2backup = PostgreSQL::Test::Utils::tempdir_short();
$primary->backup('b1', backup_options =>
	  [ "--tablespace-mapping=$tsdir=$tsbackup", "--tablespace-mapping=$ts2dir=$ts2backup" ]);
ok(1, 'pg_basebackup with data checksums accepts the aegis files');
ok(scalar(glob("$tsbackup/PG_15_*/$dboid/aegis_${dboid}_${spcoid}_${fn}_map")),
	"the backup's tablespace holds the table's aegis files");

# init_from_backup of a streaming standby, but keeping the backup's
# tablespace links (its copy refuses symbolic links); started
sub standby_from_backup
{
	my ($name, $backup) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	my $data = $node->data_dir;

	rmdir($data);
	PostgreSQL::Test::Utils::system_or_bail('cp', '-a', $primary->backup_dir . "/$backup", $data);
	chmod(0700, $data);
	$node->append_conf('postgresql.conf',
		"port = " . $node->port . "\nunix_socket_directories = '" . $node->host . "'\n");
	$node->enable_streaming($primary);
	$node->start;
	return $node;
}
my $standby = standby_from_backup('ts_standby', 'b1');
my $sdata = $standby->data_dir;
$primary->safe_psql('postgres', q{
	INSERT INTO t_ts SELECT g, 'after backup ' || g FROM generate_series(60001, 70000) g;
	UPDATE t_ts SET b = 'u' || a WHERE a % 10 = 0;
	DELETE FROM t_ts WHERE a % 13 = 0;
});
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', $sum_q), $primary->safe_psql('postgres', $sum_q),
	'the standby from the backup has the same rows as the primary');
is($standby->safe_psql('postgres', $def_q), $primary->safe_psql('postgres', $def_q),
	'... also of the table in the default tablespace');
ok(scalar(glob("$tsbackup/PG_15_*/$dboid/aegis_${dboid}_${spcoid}_${fn}.*")),
	"... whose aegis data is in its own tablespace directory");

# a crash keeps every row of a table in a tablespace
my $before = $primary->safe_psql('postgres', $sum_q);
$primary->safe_psql('postgres', "INSERT INTO t_ts SELECT g, 'x' FROM generate_series(70001, 71000) g");
$before = $primary->safe_psql('postgres', $sum_q);
$primary->stop('immediate');
$primary->start;
is($primary->safe_psql('postgres', $sum_q), $before, 'kill -9: every row of the table in the tablespace');

# pg_checksums reads every file of every database directory as 8 kB pages
$primary->stop;
my $rc = system_log('pg_checksums', '--check', '-D', $datadir);
is($rc, 0, 'pg_checksums --check accepts the aegis files');
$primary->start;

# the previous builds' layout keeps working: move t_def's files there
# (plain bytes: the chunks' payloads) and back in through a restart
$primary->stop;
{
	my $src = "$datadir/base/$dboid";
	my $dst = "$datadir/pg_aegis/$dboid";
	make_path($dst);
	for my $p (glob("$src/aegis_${dboid}_0_${deffn}*"))
	{
		(my $n = $p) =~ s{.*/}{};
		my $raw = slurp_file($p);
		my $plain = '';
		for (my $off = 0; $off < length($raw); $off += 8192)
		{
			$plain .= substr($raw, $off + 16, 8176);
		}
		$n =~ s/^aegis_${dboid}_0_${deffn}_map$/0_${deffn}.map/;
		$n =~ s/^aegis_${dboid}_0_${deffn}\.(\d+)$/0_${deffn}.$1/;
		open(my $fh, '>', "$dst/$n") or die "open $dst/$n: $!";
		binmode $fh;
		print $fh $plain;
		close($fh);
		unlink($p) or die "unlink $p: $!";
	}
}
$primary->start;
my $def_before = $primary->safe_psql('postgres', $def_q);
like($def_before, qr/^30000\|/, 'a table of the previous layout is read');
$primary->safe_psql('postgres', q{
	INSERT INTO t_def SELECT g, 'new' FROM generate_series(30001, 31000) g;
	CHECKPOINT;
});
is(scalar(grep { /_${deffn}[._]/ } keys %{ aegis_files("$datadir/base/$dboid") }), 0,
	'... and written in place: its files stay in the old directory');
ok(-f "$datadir/pg_aegis/$dboid/0_${deffn}.map", '... with its map');
$primary->restart;
is($primary->safe_psql('postgres', $def_q), '31000|2883000', '... and after a restart it has every row');
$primary->safe_psql('postgres', 'VACUUM FULL t_def');
my $newdeffn = $primary->safe_psql('postgres', "SELECT relfilenode FROM pg_class WHERE relname = 't_def'");
ok(-f "$datadir/base/$dboid/aegis_${dboid}_0_${newdeffn}_map" && !-e "$datadir/pg_aegis/$dboid/0_${deffn}.map",
	'VACUUM FULL moves it to the new layout');
is($primary->safe_psql('postgres', $def_q), '31000|2883000', '... with every row');

# ALTER TABLE ... SET TABLESPACE moves the aegis data; DROP TABLESPACE works
$before = $primary->safe_psql('postgres', $sum_q);
$primary->safe_psql('postgres', 'ALTER TABLE t_ts SET TABLESPACE pg_default');
is($primary->safe_psql('postgres', $sum_q), $before, 'SET TABLESPACE pg_default keeps the rows');
is(scalar(keys %{ aegis_files($tsdbdir) }), 0, '... and leaves no aegis file in the old tablespace');
$primary->safe_psql('postgres', 'ALTER TABLE t_ts SET TABLESPACE ts2');
my $ts2oid = $primary->safe_psql('postgres', "SELECT oid FROM pg_tablespace WHERE spcname = 'ts2'");
my $fn2 = $primary->safe_psql('postgres', "SELECT relfilenode FROM pg_class WHERE relname = 't_ts'");
ok(scalar(glob("$ts2dir/PG_15_*/$dboid/aegis_${dboid}_${ts2oid}_${fn2}_map")),
	'SET TABLESPACE ts2 puts its files in ts2');
is($primary->safe_psql('postgres', $sum_q), $before, '... with every row');
$primary->safe_psql('postgres', 'DROP TABLESPACE ts');
ok(1, 'DROP TABLESPACE of the emptied tablespace');
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', $sum_q), $before, 'the standby follows the moves');
ok(!-e "$tsbackup/PG_15_202209061/$dboid" || !scalar(glob("$tsbackup/PG_15_*/$dboid/aegis_*")),
	"... and its copy of the dropped tablespace holds no aegis file");

# CREATE DATABASE ... STRATEGY FILE_COPY copies a template's files as they
# are: the copy's aegis storage is its own, the template's files are gone
$primary->safe_psql('postgres', 'CREATE DATABASE tmpl');
$primary->safe_psql('tmpl', q{
	CREATE EXTENSION aegis_storage;
	CREATE TABLE a (x int) USING aegis;
	INSERT INTO a SELECT generate_series(1, 5000);
	CREATE TABLE b (x int) USING aegis TABLESPACE ts2;
	INSERT INTO b SELECT generate_series(1, 7000);
	CHECKPOINT;
});
my $tmploid = $primary->safe_psql('postgres', "SELECT oid FROM pg_database WHERE datname = 'tmpl'");
$primary->safe_psql('postgres', 'CREATE DATABASE copy1 TEMPLATE tmpl STRATEGY FILE_COPY');
my $copyoid = $primary->safe_psql('postgres', "SELECT oid FROM pg_database WHERE datname = 'copy1'");
is($primary->safe_psql('copy1', 'SELECT (SELECT sum(x) FROM a), (SELECT sum(x) FROM b)'),
	'12502500|24503500', 'FILE_COPY: the copy has the rows');
my @foreign = grep { !m{/aegis_${copyoid}_} }
  (glob("$datadir/base/$copyoid/aegis_*"), glob("$ts2dir/PG_15_*/$copyoid/aegis_*"));
is(join(' ', @foreign), '', "... and no copy of the template's aegis files");
ok(scalar(glob("$ts2dir/PG_15_*/$copyoid/aegis_${copyoid}_*")), '... its own files are in ts2');
$primary->wait_for_catchup($standby);
is($standby->safe_psql('copy1', 'SELECT (SELECT sum(x) FROM a), (SELECT sum(x) FROM b)'),
	'12502500|24503500', '... also on the standby');
$primary->restart;
is($primary->safe_psql('copy1', 'SELECT (SELECT sum(x) FROM a), (SELECT sum(x) FROM b)'),
	'12502500|24503500', '... and after a restart');
# the standby's last restartpoint is older than the copy: a crash makes it
# replay the copy again, whose redo empties the new database's directories
# (the aegis storage it loaded at start is dropped first and made again by
# the records that follow)
$primary->safe_psql('copy1', 'INSERT INTO a SELECT generate_series(1, 100)');
$primary->wait_for_catchup($standby);
my $copy_q = 'SELECT (SELECT sum(x) FROM a), (SELECT sum(x) FROM b)';
$standby->stop('immediate');
$standby->start;
ok($standby->log_contains(qr/redo starts at/), 'the standby crashed and replays');
# (it may accept connections before it replays the database's creation)
ok($standby->poll_query_until('copy1', "SELECT ROW(12507550::bigint, 24503500::bigint) = ($copy_q)"),
	'... the FILE_COPY again, and then its aegis tables: every row');

# ALTER DATABASE ... SET TABLESPACE would move aegis files under every
# process's feet: refused while the database has aegis storage in its
# default tablespace, before PostgreSQL does anything
my ($ret, $out, $err) = $primary->psql('postgres', 'ALTER DATABASE copy1 SET TABLESPACE ts2');
like($err, qr/cannot move database "copy1" to another tablespace: it has aegis storage in its default tablespace/,
	'ALTER DATABASE ... SET TABLESPACE is refused with aegis tables in the default tablespace');
is($primary->safe_psql('postgres', "SELECT dattablespace FROM pg_database WHERE datname = 'copy1'"),
	$primary->safe_psql('postgres', "SELECT oid FROM pg_tablespace WHERE spcname = 'pg_default'"),
	'... and the database stays where it was');
$primary->safe_psql('postgres', 'CREATE DATABASE plain');
$primary->safe_psql('postgres', 'ALTER DATABASE plain SET TABLESPACE ts2');
ok(1, '... a database without aegis storage still moves');

# a temporary aegis table in a tablespace, alive during a base backup: the
# backup copies its files (PostgreSQL leaves out only its own temporary
# files); the standby made from it removes them at start, so it can replay
# DROP TABLESPACE once the table is gone
# (in place: the running standby, on this machine, has its own copy)
$primary->safe_psql('postgres', "CREATE TABLESPACE ts3 LOCATION ''");
my $ts3oid = $primary->safe_psql('postgres', "SELECT oid FROM pg_tablespace WHERE spcname = 'ts3'");
my $ts3dir = "$datadir/pg_tblspc/$ts3oid";
my $bg = $primary->background_psql('postgres');
$bg->query_safe(q{
	SET temp_tablespaces = ts3;
	CREATE TEMP TABLE tmp_t (x int) USING aegis;
	INSERT INTO tmp_t SELECT generate_series(1, 20000);
	CHECKPOINT;
});
ok(scalar(glob("$ts3dir/PG_15_*/$dboid/aegis_${dboid}_${ts3oid}_*")),
	"a temporary aegis table's files are in its temporary tablespace");
my $ts2b2 = PostgreSQL::Test::Utils::tempdir_short();
$primary->backup('b2', backup_options => [ "--tablespace-mapping=$ts2dir=$ts2b2" ]);
my $ts3b2 = $primary->backup_dir . "/b2/pg_tblspc/$ts3oid";
ok(scalar(glob("$ts3b2/PG_15_*/$dboid/aegis_*")), "the base backup copied them");
$bg->quit;
my $standby2 = standby_from_backup('ts_standby2', 'b2');
my $s2data = $standby2->data_dir;
is($standby2->safe_psql('postgres', 'SELECT count(*) FROM t_ts'), $primary->safe_psql('postgres', 'SELECT count(*) FROM t_ts'),
	'the second standby is up');
is(join(' ', glob("$s2data/pg_tblspc/$ts3oid/PG_15_*/$dboid/aegis_*")), '',
	'... and removed the temporary table\'s aegis files');
$primary->poll_query_until('postgres',
	"SELECT count(*) = 0 FROM pg_class WHERE relname = 'tmp_t'");
$primary->safe_psql('postgres', 'DROP TABLESPACE ts3');
$primary->wait_for_catchup($standby2);
ok(!-e "$s2data/pg_tblspc/$ts3oid", '... and replayed DROP TABLESPACE: its directory is gone');
ok(!$standby2->log_contains(qr/could not be removed|Directory not empty/), '... without complaint');
$standby2->stop;

# ALTER DATABASE ... SET TABLESPACE of a database whose aegis tables are
# all in other tablespaces: PostgreSQL logs a copy of the database onto
# itself and a drop of its old directory; neither may touch those tables,
# on the primary (also when a crash replays the drop), or on a standby
$primary->safe_psql('postgres', "CREATE TABLESPACE ts4 LOCATION ''");
$primary->safe_psql('postgres', 'CREATE DATABASE mv');
$primary->safe_psql('mv', q{
	CREATE EXTENSION aegis_storage;
	CREATE TABLE x (v int) USING aegis TABLESPACE ts2;
	INSERT INTO x SELECT generate_series(1, 3000);
});
$primary->safe_psql('postgres', 'ALTER DATABASE mv SET TABLESPACE ts4');
is($primary->safe_psql('mv', 'SELECT sum(v) FROM x'), '4501500',
	'moving a database whose aegis tables are elsewhere keeps them');
# (replaying the move ends sessions of the database: poll)
ok($standby->poll_query_until('mv', "SELECT sum(v) = 4501500 FROM x"), '... on the standby too');
$primary->stop('immediate');
$primary->start;
is($primary->safe_psql('mv', 'SELECT sum(v) FROM x'), '4501500', '... and after a crash replays the move');
$standby->stop('immediate');
$standby->start;
ok($standby->poll_query_until('mv', "SELECT sum(v) = 4501500 FROM x"), '... also on a standby that crashed');
# a move PostgreSQL could not finish leaves the old directory with its
# PG_VERSION behind ("some useless files may be left behind"): processes
# not connected to the database (the checkpointer) must still find the
# aegis files of its default tablespace where the backends put them
my $mvoid = $primary->safe_psql('postgres', "SELECT oid FROM pg_database WHERE datname = 'mv'");
my $ts4oid = $primary->safe_psql('postgres', "SELECT oid FROM pg_tablespace WHERE spcname = 'ts4'");
mkdir("$datadir/base/$mvoid");
PostgreSQL::Test::Utils::append_to_file("$datadir/base/$mvoid/PG_VERSION", "15\n");
$primary->safe_psql('mv', q{
	CREATE TABLE y (v int) USING aegis;
	INSERT INTO y SELECT generate_series(1, 2000);
});
$primary->safe_psql('postgres', 'CHECKPOINT');
$primary->restart;
is($primary->safe_psql('mv', 'SELECT sum(v) FROM y'), '2001000',
	'a leftover PG_VERSION of a moved database: aegis files stay in its tablespace');
is(join(' ', glob("$datadir/base/$mvoid/aegis_*")), '', '... none in the leftover directory');
ok(scalar(glob("$datadir/pg_tblspc/$ts4oid/PG_15_*/$mvoid/aegis_${mvoid}_0_*_map")),
	'... all in the database\'s tablespace');
# (the standby may have the leftover too: a crash can lose the primary's
# unflushed record of the old directory's removal)
ok($standby->poll_query_until('mv', "SELECT sum(v) = 2001000 FROM y"), '... and the standby has the rows');
is(join(' ', glob("$sdata/base/$mvoid/aegis_*")), '', '... not in a leftover directory there either');
unlink("$datadir/base/$mvoid/PG_VERSION");
rmdir("$datadir/base/$mvoid");
$primary->safe_psql('postgres', 'DROP DATABASE mv');

# DROP DATABASE leaves no aegis file in any tablespace
$primary->safe_psql('postgres', 'DROP DATABASE copy1');
$primary->safe_psql('postgres', 'DROP DATABASE tmpl');
is(join(' ', glob("$datadir/base/$copyoid/aegis_*"), glob("$ts2dir/PG_15_*/$copyoid/*"),
		glob("$datadir/base/$tmploid/*"), glob("$ts2dir/PG_15_*/$tmploid/*")),
	'', 'DROP DATABASE removes the aegis files in every tablespace');

# the first use after a clean start loads every database directory: an
# entry of base/ that is no database directory does not stop it
$primary->stop;
open(my $stray, '>', "$datadir/base/424242") or die "open: $!";
print $stray "not a database\n";
close($stray);
mkdir("$datadir/base/0424242") or die "mkdir: $!";
$primary->start;
is($primary->safe_psql('postgres', 'SELECT count(*) FROM t_def'), '31000',
	'a file and a non-canonical directory name under base/ do not stop the load');
unlink("$datadir/base/424242");
rmdir("$datadir/base/0424242");

$standby->stop;
$primary->stop;
done_testing();
