# Aegis recovery cannot be skipped: while it fails (here: a damaged block
# that redo must read, or a damaged control file), every statement that
# touches aegis storage, in every session, fails with the same error, and
# aegis_checkpoint() too; nothing is written.  Once the damage is repaired,
# the next statement recovers and every committed row is there.
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
});
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION aegis_storage;
	CREATE TABLE rr (id int PRIMARY KEY, v text) USING aegis;
	INSERT INTO rr SELECT g, 'old' FROM generate_series(1, 1000) g;
	SELECT aegis_checkpoint();
	UPDATE rr SET v = 'new';
});
my $expect = '1000|1000';
my $q = q{SELECT count(*), count(*) FILTER (WHERE v = 'new') FROM rr};
is($node->safe_psql('postgres', $q), $expect, 'rows before the crash');

my $datadir = $node->data_dir;
my $dboid = $node->safe_psql('postgres', "SELECT oid FROM pg_database WHERE datname = 'postgres'");
my $fn = $node->safe_psql('postgres', "SELECT relfilenode FROM pg_class WHERE relname = 'rr'");
my $base = "$datadir/pg_aegis/$dboid/0_$fn";

# Where page 0's block lives (map: 80-byte header, then 16 bytes per page).
sub page0_block
{
	open(my $fh, '<', "$base.map") or die "open map: $!";
	binmode $fh;
	my $map;
	read($fh, $map, 96);
	close($fh);
	my ($off_lo, $off_hi, $len, $gen) = unpack('x80 V V V V', $map);
	return ("$base.$gen", $off_lo + $off_hi * 4294967296 + 60);
}

# Every way in fails the same way, in two sessions, and writes nothing.
sub recovery_refused
{
	my ($what, $pattern) = @_;
	my $s1 = $node->background_psql('postgres', on_error_stop => 0);
	for my $sql ($q, $q, "INSERT INTO rr VALUES (5000, 'x')", 'SELECT aegis_checkpoint()', $q)
	{
		my $out = $s1->query($sql);
		like($s1->{stderr}, $pattern, "$what: '$sql' fails in the same session");
		$s1->{stderr} = '';
	}
	$s1->quit;
	my ($ret, $stdout, $stderr) = $node->psql('postgres', $q);
	isnt($ret, 0, "$what: another session fails too");
	like($stderr, $pattern, "$what: with the same error");
	like($stderr, qr/while recovering aegis storage/, "$what: the error says recovery failed");
	is($node->safe_psql('postgres', 'SELECT 1'), '1', "$what: the server is up");
}

# 1. A damaged block that redo has to read.
my ($file, $pos) = page0_block();
$node->kill9;
flip_byte($file, $pos);
kill9_and_restart($node) if !$node->start(fail_ok => 1);
recovery_refused('damaged block', qr/invalid aegis block for relation 0\/$dboid\/$fn page 0/);
flip_byte($file, $pos);
is($node->safe_psql('postgres', $q), $expect, 'after repair: every committed row');
$node->safe_psql('postgres', "INSERT INTO rr VALUES (1001, 'new')");
$expect = '1001|1001';
is($node->safe_psql('postgres', $q), $expect, 'and the table takes writes');

# 2. A damaged control file.
$node->safe_psql('postgres', q{SELECT aegis_checkpoint(); UPDATE rr SET v = 'new' WHERE id < 100});
$node->kill9;
my $control = "$datadir/pg_aegis/aegis_control";
my $control_before = slurp_file($control);
flip_byte($control, 8);
kill9_and_restart($node) if !$node->start(fail_ok => 1);
recovery_refused('damaged control file', qr/aegis control file ".*" is invalid/);
is(slurp_file($control), do { my $c = $control_before; substr($c, 8, 1) ^= chr(0xff); $c },
	'the damaged control file was not rewritten');
flip_byte($control, 8);
is($node->safe_psql('postgres', $q), $expect, 'after repair: every committed row');

$node->stop;
done_testing();
