# Aegis recovery cannot be skipped.  Redo runs in PostgreSQL's startup
# process: a damaged block that redo must read keeps the server from
# starting, with an error naming the block, until it is repaired; then every
# committed row is there.  When the server starts without recovery, the
# relation directory is loaded at first use: if that fails (a damaged map
# whose data file cannot be read), every statement on aegis tables, in
# every session, fails with the same error and writes nothing, until the
# cause is repaired and the next statement loads it.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use AegisCrash;

my $node = PostgreSQL::Test::Cluster->new('recovery_retry');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'aegis_storage'
aegis.buffer_pool_size = 8MB
autovacuum = off
restart_after_crash = off
});
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION aegis_storage;
	CREATE TABLE rr (id int PRIMARY KEY, v text) USING aegis;
	INSERT INTO rr SELECT g, 'old' FROM generate_series(1, 1000) g;
	CHECKPOINT;
	UPDATE rr SET v = 'new';
});
my $expect = '1000|1000';
my $q = q{SELECT count(*), count(*) FILTER (WHERE v = 'new') FROM rr};
is($node->safe_psql('postgres', $q), $expect, 'rows before the crash');

my $datadir = $node->data_dir;
my $dboid = $node->safe_psql('postgres', "SELECT oid FROM pg_database WHERE datname = 'postgres'");
my $fn = $node->safe_psql('postgres', "SELECT relfilenode FROM pg_class WHERE relname = 'rr'");
my $base = aegis_files($node, 'postgres', 'rr');	# "$base.<gen>", "${base}_map"

# Where page 0's block lives (map: 88-byte header, then 16 bytes per page),
# as a logical offset (flip_logical_byte).
sub page0_block
{
	my ($off, $len, $gen) = aegis_map_entry("${base}_map", 0);
	return ("$base.$gen", $off + 60);
}

# 1. A damaged block that redo has to read: the server does not start.
my ($file, $pos) = page0_block();
$node->kill9;
flip_logical_byte($file, $pos);
my $log_offset = -s $node->logfile;
my $started;
for (1 .. 50)
{
	# until the killed server's processes are gone, a start fails for that
	$started = $node->start(fail_ok => 1);
	$node->{_pid} = undef unless $started;
	last if $started || $node->log_contains('invalid aegis block', $log_offset);
	sleep(1);
}
ok(!$started, 'with a damaged block that redo needs, the server does not start');
ok($node->log_contains(qr/invalid aegis block for aegis relation 0\/$dboid\/$fn, page 0/, $log_offset),
	'... and says which block');
flip_logical_byte($file, $pos);
$node->start;
is($node->safe_psql('postgres', $q), $expect, 'after repair: every committed row');
$node->safe_psql('postgres', "INSERT INTO rr VALUES (1001, 'new')");
$expect = '1001|1001';
is($node->safe_psql('postgres', $q), $expect, 'and the table takes writes');

# 2. Loading fails at first use after a clean start: a damaged map, and a
# data file that cannot be read to rebuild it.
$node->stop;
my @data = glob("$base.[0-9]*");
is(scalar(@data), 1, 'one data file');
flip_logical_byte("${base}_map", 100);
my $damaged_map = slurp_file("${base}_map");
chmod(0, $data[0]) or die "chmod: $!";
$node->start;

my $pattern = qr/could not open aegis data file ".*": Permission denied/;
my $s1 = $node->background_psql('postgres', on_error_stop => 0);
for my $sql ($q, $q, "INSERT INTO rr VALUES (5000, 'x')", 'CHECKPOINT', $q)
{
	$s1->query($sql);
	if ($sql eq 'CHECKPOINT')
	{
		is($s1->{stderr}, '', 'CHECKPOINT completes meanwhile (aegis has nothing to make durable)');
	}
	else
	{
		like($s1->{stderr}, $pattern, "'$sql' fails in the same session");
		like($s1->{stderr}, qr/while loading aegis storage/, '... saying loading failed');
	}
	$s1->{stderr} = '';
}
$s1->quit;
my ($ret, $stdout, $stderr) = $node->psql('postgres', $q);
isnt($ret, 0, 'another session fails too');
like($stderr, $pattern, '... with the same error');
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'the server is up');
is(slurp_file("${base}_map"), $damaged_map, 'the damaged map was not replaced meanwhile');

chmod(0600, $data[0]) or die "chmod: $!";
is($node->safe_psql('postgres', $q), $expect, 'after repair: the next statement loads, every committed row is there');
$node->safe_psql('postgres', "INSERT INTO rr VALUES (1002, 'new')");
$node->restart;
is($node->safe_psql('postgres', $q), '1002|1002', 'and the rebuilt table survives a restart');

$node->stop;
done_testing();
