# A full disk under aegis data (a tablespace on a small filesystem: the
# aegis files of a table live in its tablespace) fails statements, never the server,
# and never wedges it: a write-back that meets ENOSPC fails the statement
# that needed the buffer and loses no committed row; a checkpoint whose
# compaction meets ENOSPC removes its partial copy, warns and completes; a
# generation unlinked while an idle session still has it open gives its
# space back at once.  Needs a small real filesystem: test/run_tests.sh,
# run as root, mounts a tmpfs and names it in AEGIS_TEST_SMALLFS.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use File::Find;
use FindBin;
use lib $FindBin::RealBin;
use AegisCrash;

my $fs = $ENV{AEGIS_TEST_SMALLFS};
plan skip_all => 'needs AEGIS_TEST_SMALLFS (a small writable filesystem; test/run_tests.sh as root mounts one)'
  unless defined $fs && -d $fs && -w $fs;

my $ballast = "$fs/ballast";
my $tsdir = "$fs/ts";	# tablespace "small": the aegis files of the tables below
system("rm -rf '$tsdir' '$ballast'");
mkdir($tsdir) or die "mkdir $tsdir: $!";

# fill the filesystem, then give back $keep bytes
sub fill_disk
{
	my ($keep) = @_;
	open(my $fh, '>>', $ballast) or die "open $ballast: $!";
	binmode $fh;
	my $chunk = "\0" x 65536;
	while (1)
	{
		my $n = syswrite($fh, $chunk);
		last if !defined $n || $n < length($chunk);
	}
	close($fh);
	truncate($ballast, (-s $ballast) - $keep) or die "truncate: $!" if $keep;
	return;
}

sub free_disk { unlink($ballast); return; }

# bytes the filesystem counts as used, and the bytes allocated to the files
# it holds (not their sizes: PostgreSQL's stubs of the tables are sparse)
sub used_bytes
{
	my $out = `df -B1 --output=used '$fs' | tail -1`;
	$out =~ s/\s//g;
	return $out;
}

sub file_bytes
{
	my $sum = 0;
	find(sub { $sum += (lstat($_))[12] * 512 if -f $_ }, $fs);
	return $sum;
}

my $node = PostgreSQL::Test::Cluster->new('full_disk');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'aegis_storage'
aegis.buffer_pool_size = 2MB
aegis.default_compression = 'none'
autovacuum = off
checkpoint_timeout = 1h
});
$node->start;
$node->safe_psql('postgres', qq{
	CREATE EXTENSION aegis_storage;
	CREATE TABLESPACE small LOCATION '$tsdir';
	CREATE TABLE t (id int, pad text) USING aegis TABLESPACE small;
	INSERT INTO t SELECT g, repeat('x', 200) FROM generate_series(1, 2000) g;
	CHECKPOINT;
});
my $dboid = $node->safe_psql('postgres', "SELECT oid FROM pg_database WHERE datname = 'postgres'");

# --- write-back on a full disk: the statement fails, the server stays ---
# Every frame of the pool (2MB: 256 pages) dirty with pages of t first; a
# scan of another aegis table, on another disk, then needs frames, and
# their write-back to the full disk fails the scan (the room aegis reserved
# ahead in t's data file, a sixteenth of it, holds only a few of the pages).
$node->safe_psql('postgres', q{
	CREATE TABLE ha (id int, pad text) USING aegis TABLESPACE pg_default;
	INSERT INTO ha SELECT g, repeat('a', 200) FROM generate_series(1, 20000) g;
});
$node->safe_psql('postgres',
	"INSERT INTO t SELECT g, repeat('x', 200) FROM generate_series(2001, 14000) g");
fill_disk(0);
my ($committed, $failed_err) = (14000, undef);
my ($ret, $out, $err) = $node->psql('postgres', 'SELECT count(*) FROM ha');
isnt($ret, 0, 'a scan that needs the frames of dirty pages on a full disk fails');
like($err, qr/could not write .* aegis data file ".*" of table "public.t" \(aegis relation [0-9\/]+\): No space left on device/,
	'... saying which file of which table could not be written, and why');
# inserts fail too: aegis's write-back or PostgreSQL's extension of the
# table's stub in the same tablespace, whichever comes first
for my $i (1 .. 40)
{
	my $base = 14000 + 2000 * ($i - 1);
	($ret, $out, $err) = $node->psql('postgres',
		"INSERT INTO t SELECT $base + g, repeat('y', 200) FROM generate_series(1, 2000) g");
	if ($ret != 0)
	{
		$failed_err = $err;
		last;
	}
	$committed += 2000;
}
like($failed_err // '', qr/No space left on device/, 'inserts on a full disk end with an error');
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'the server is up');
unlike(slurp_file($node->logfile), qr/PANIC|server process .* was terminated/,
	'no PANIC, no crash restart');

free_disk();
my $to;
($ret, $out, $err) = $node->psql('postgres', 'CHECKPOINT', timeout => 60, timed_out => \$to);
is($ret, 0, 'CHECKPOINT completes once there is room again');
is($node->safe_psql('postgres', 'SELECT count(*) FROM t'), $committed,
	'every committed row is there');
$node->stop('immediate');
$node->start;
is($node->safe_psql('postgres', 'SELECT count(*) FROM t'), $committed,
	'... and after a crash restart');

# --- a compaction that meets ENOSPC: no partial file, the checkpoint ends ---
$node->safe_psql('postgres', q{
	CREATE TABLE c (id int, pad text) USING aegis TABLESPACE small;
	INSERT INTO c SELECT g, repeat('c', 200) FROM generate_series(1, 20000) g;
	CREATE TABLE f (id int, pad text) USING aegis TABLESPACE small;
	INSERT INTO f SELECT g, repeat('f', 200) FROM generate_series(1, 16000) g;
	CREATE INDEX f_id ON f (id);
	SELECT count(*) FROM c;
	SELECT count(*) FROM f;
	CHECKPOINT;
});
my ($cdir, $cname) = aegis_files($node, 'postgres', 'c');	# pg_tblspc/<small>/PG_15_*/<dboid>
sub generations_of_c
{
	opendir(my $dh, $cdir) or die "opendir $cdir: $!";
	my @g = sort { $a <=> $b } map { /^\Q$cname\E\.(\d+)$/ ? $1 : () } readdir($dh);
	closedir($dh);
	return @g;
}
# half the rows get a new version; reading f evicts (writes back) the rest
# of c's dirty pages, so the next checkpoint has nothing to write but a
# compaction of c to do (a bitmap scan: a sequential scan of a table over a
# quarter of the full pool would reuse a small ring of frames)
my $cq = q{SELECT count(*), sum(length(pad)), count(*) FILTER (WHERE pad LIKE 'u%') FROM c};
$node->safe_psql('postgres', q{UPDATE c SET pad = repeat('u', 200) WHERE id % 2 = 0});
my $expect_c = $node->safe_psql('postgres', $cq);
$node->safe_psql('postgres', q{
	SET enable_seqscan = off; SET enable_indexscan = off; SET enable_indexonlyscan = off;
	SELECT count(*) FROM f WHERE id > 0;
	SELECT count(*) FROM f WHERE id > 0;
});
is($node->safe_psql('postgres', 'SELECT frames_dirty FROM aegis_buffer_stats()'), '0',
	'no dirty page left in the pool');
my @before = generations_of_c();
is(scalar(@before), 1, 'c has one data file generation');
is($expect_c, '20000|4000000|10000', 'c has its rows before the disk fills');

fill_disk(1024 * 1024);
my $free_before = `df -B1 --output=avail '$fs' | tail -1` + 0;
($ret, $out, $err) = $node->psql('postgres', 'CHECKPOINT', timeout => 60, timed_out => \$to);
is($ret, 0, 'a CHECKPOINT whose compaction meets a full disk completes');
like(slurp_file($node->logfile), qr/WARNING:  aegis compaction of relation \S+ skipped: could not write .*No space left on device/,
	'... with a WARNING');
is_deeply([ generations_of_c() ], \@before, '... leaving no partial generation behind');
my $free_after = `df -B1 --output=avail '$fs' | tail -1` + 0;
cmp_ok($free_after, '>=', $free_before - 256 * 1024, '... and the free space as it was');
($ret, $out, $err) = $node->psql('postgres', 'CHECKPOINT', timeout => 60, timed_out => \$to);
is($ret, 0, 'the next CHECKPOINT completes too');

# --- room again: compaction runs; an idle session's open file holds no space ---
free_disk();
my $idle = $node->background_psql('postgres');
$idle->query_safe('SELECT count(*) FROM c');	# caches the current generation's file
($ret, $out, $err) = $node->psql('postgres', 'CHECKPOINT', timeout => 60, timed_out => \$to);
is($ret, 0, 'CHECKPOINT with room compacts');
my @after = generations_of_c();
ok(@after == 1 && $after[0] > $before[0], 'c moved to a new generation, the old one is gone');
cmp_ok(used_bytes() - file_bytes(), '<', 2 * 1024 * 1024,
	'the old generation, still open in an idle session, uses no space');
$idle->quit;
is($node->safe_psql('postgres', $cq),
	$expect_c, 'c has every row');
$node->stop('immediate');
$node->start;
is($node->safe_psql('postgres', $cq),
	$expect_c, '... after a crash restart too');

$node->stop;
system("rm -rf '$tsdir' '$ballast'");
done_testing();
