# Durability under SIGKILL: three clients run multi-statement transactions
# (INSERT, UPDATE, DELETE) on an aegis table with a primary key and a
# secondary index while the postmaster is killed with SIGKILL at random
# moments.  After each restart every acknowledged commit is there, nothing
# of a transaction that was not acknowledged is (except the one commit in
# flight, which may land either way), and index scans agree with sequential
# scans.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(usleep);
use FindBin;
use lib $FindBin::RealBin;
use AegisCrash;

my $rounds = 20;
my $nclients = 3;

my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'aegis_storage'
aegis.buffer_pool_size = 2MB
aegis.checkpoint_timeout = 30s
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION aegis_storage;
	CREATE TABLE acc (id bigint PRIMARY KEY, val bigint NOT NULL, pad text) USING aegis;
	CREATE INDEX acc_val ON acc (val);
});

# Transaction n of client c: insert row c*10^7+n (val n); negate the val of
# row n-1; on even n delete row n-3.  After K committed transactions the rows
# of client c are exactly those computed by expected($c, $K).
sub client_script
{
	my ($c, $from) = @_;
	my $s = "\\set ON_ERROR_STOP 1\n";
	for my $n ($from .. $from + 20000)
	{
		my $id = $c * 10_000_000 + $n;
		$s .= "BEGIN;\n";
		$s .= "INSERT INTO acc VALUES ($id, $n, repeat('x', 50 + $n % 200));\n";
		$s .= "UPDATE acc SET val = -val WHERE id = " . ($id - 1) . ";\n";
		$s .= "DELETE FROM acc WHERE id = " . ($id - 3) . ";\n" if $n % 2 == 0;
		$s .= "COMMIT;\n\\echo ack $n\n";
	}
	return $s;
}

sub expected_sql
{
	my ($c, $k) = @_;
	my $base = $c * 10_000_000;
	# row i exists unless deleted by an even transaction i+3 <= k;
	# its val is -i if transaction i+1 <= k ran, else i
	return qq{SELECT $base + i, CASE WHEN i < $k THEN -i ELSE i END
		FROM generate_series(1, $k) i
		WHERE NOT (i + 3 <= $k AND (i + 3) % 2 = 0)};
}

my @next = map { 1 } (0 .. $nclients - 1);
my $failures = 0;
for my $round (1 .. $rounds)
{
	my (@h, @out);
	for my $c (0 .. $nclients - 1)
	{
		my $file = "${PostgreSQL::Test::Utils::tmp_check}/client_$c.sql";
		open(my $fh, '>', $file) or die "write $file: $!";
		print $fh client_script($c, $next[$c]);
		close($fh);
		$out[$c] = '';
		push @h, IPC::Run::start(
			[ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-f', $file ],
			'>', \$out[$c], '2>', \my $err);
	}
	usleep(300_000 + int(rand(1_500_000)));
	kill9_and_restart($node);
	eval { $_->finish } for @h;

	my $ok = 1;
	for my $c (0 .. $nclients - 1)
	{
		my @acks = ($out[$c] =~ /^ack (\d+)$/mg);
		my $acked = @acks ? $acks[-1] : $next[$c] - 1;
		my $base = $c * 10_000_000;
		my $k = $node->safe_psql('postgres',
			"SELECT coalesce(max(id) - $base, 0) FROM acc WHERE id > $base AND id < $base + 10000000");
		if ($k != $acked && $k != $acked + 1)
		{
			diag("round $round client $c: acknowledged up to $acked, found $k");
			$ok = 0;
			next;
		}
		my $exp = expected_sql($c, $k);
		my $diff = $node->safe_psql('postgres', qq{
			SELECT count(*) FROM (
				(SELECT id, val FROM acc WHERE id > $base AND id < $base + 10000000 EXCEPT $exp)
				UNION ALL
				($exp EXCEPT SELECT id, val FROM acc WHERE id > $base AND id < $base + 10000000)) d});
		if ($diff != 0)
		{
			diag("round $round client $c: $diff rows differ from the $k committed transactions");
			$ok = 0;
		}
		$next[$c] = $k + 1;
	}
	my $scans = $node->safe_psql('postgres', q{
		SELECT count(*), sum(id), sum(val) FROM acc;
		SET enable_seqscan = off; SET enable_bitmapscan = off;
		SELECT count(*), sum(id), sum(val) FROM acc WHERE id > 0;
		SELECT count(*), sum(id), sum(val) FROM acc WHERE val > -1e18;});
	my @r = split /\n/, $scans;
	if (!($r[0] eq $r[1] && $r[0] eq $r[2]))
	{
		diag("round $round: scans disagree: @r");
		$ok = 0;
	}
	$failures++ unless $ok;
}
is($failures, 0, "$rounds SIGKILL rounds: every acknowledged commit kept, nothing else, indexes agree");

my $rec = $node->safe_psql('postgres', 'SELECT last_recovery_records > 0 FROM aegis_wal_stats()');
is($rec, 't', 'the last restart replayed aegis WAL');

# VACUUM after the crashes: the table stays consistent and inserts may use
# the pages below the insert floor again
$node->safe_psql('postgres', 'VACUUM acc');
$node->safe_psql('postgres',
	"INSERT INTO acc SELECT 900000000 + g, g, 'after' FROM generate_series(1, 2000) g");
my $scans = $node->safe_psql('postgres', q{
	SELECT count(*), sum(id), sum(val) FROM acc;
	SET enable_seqscan = off; SET enable_bitmapscan = off;
	SELECT count(*), sum(id), sum(val) FROM acc WHERE id > 0;});
my @r = split /\n/, $scans;
is($r[0], $r[1], 'after VACUUM and new inserts, index scan equals sequential scan');

# Inserts log only the line pointers and tuples they add
# (AegisWalPageBeginAppend): into pages whose line pointers VACUUM freed
# (reused in the middle of the array) and at their ends, single rows and
# COPY-style batches, all replayed after a crash from the checkpoint before
# them, give back exactly the rows a heap copy taken before the crash has.
$node->safe_psql('postgres', q{
	CREATE TABLE lp (id int, t text) USING aegis WITH (compression = 'lz4');
	INSERT INTO lp SELECT g, repeat('x', g % 50) FROM generate_series(1, 20000) g;
	DELETE FROM lp WHERE id % 3 = 0;
	VACUUM lp;
	CHECKPOINT;
	INSERT INTO lp SELECT g, repeat('y', g % 70) FROM generate_series(20001, 30000) g;
	COPY lp (id) FROM PROGRAM 'seq 30001 30500';
	CREATE TABLE lp_copy AS SELECT * FROM lp;});
my $lp_q = q{SELECT count(*) || ' ' || md5(string_agg(id || ':' || coalesce(t, '-'), ',' ORDER BY id))};
my $reused = $node->safe_psql('postgres',
	"SELECT count(*) FROM lp WHERE id > 20000 AND ctid < (SELECT max(ctid) FROM lp WHERE id <= 20000)");
cmp_ok($reused, '>', 1000, "$reused new rows went into freed line pointers below the old end");
$node->stop('immediate');
$node->start;
is($node->safe_psql('postgres', "$lp_q FROM lp"), $node->safe_psql('postgres', "$lp_q FROM lp_copy"),
	'after a crash, the inserts replayed give exactly the rows they made');

$node->stop;
done_testing();
