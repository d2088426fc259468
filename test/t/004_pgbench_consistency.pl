# pgbench TPC-B on aegis tables with concurrent VACUUM, autovacuum and
# checkpoints through a small buffer pool: afterwards TPC-B's invariants
# hold (every balance sum equals the history's sum, no account row lost or
# duplicated) and index scans agree with sequential scans; the same after a
# SIGKILL of the postmaster in the middle of a pgbench run.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use FindBin;
use lib $FindBin::RealBin;
use AegisCrash;

my $node = PostgreSQL::Test::Cluster->new('pgbench');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'aegis_storage'
aegis.buffer_pool_size = 4MB
autovacuum_naptime = 1s
autovacuum_vacuum_threshold = 50
autovacuum_vacuum_scale_factor = 0.01
autovacuum_vacuum_insert_threshold = 1000
autovacuum_analyze_threshold = 50
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION aegis_storage');
$ENV{PGOPTIONS} = '-c default_table_access_method=aegis';
# (pgbench takes the database as its last argument; its -d means debug)
$node->command_ok([ 'pgbench', '-i', '-q', '-s', '2', $node->connstr('postgres') ], 'pgbench -i on aegis');
delete $ENV{PGOPTIONS};
is($node->safe_psql('postgres',
	"SELECT count(*) FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE a.amname = 'aegis' AND c.relname LIKE 'pgbench_%'"),
	'4', 'the four pgbench tables are aegis tables');

my $bench = IPC::Run::start(
	[ 'pgbench', '-n', '-c', '4', '-j', '2', '-T', '12', $node->connstr('postgres') ],
	'>', \my $out, '2>', \my $err);
for my $i (1 .. 6)
{
	sleep 1;
	$node->safe_psql('postgres', 'VACUUM pgbench_accounts');
	$node->safe_psql('postgres', 'VACUUM pgbench_branches');
	$node->safe_psql('postgres', 'SELECT aegis_checkpoint()');
}
ok($bench->finish, 'pgbench ran') or diag($err);
like($out, qr/number of failed transactions: 0/, 'no failed transactions');
my ($tx) = $out =~ /number of transactions actually processed: (\d+)/;
cmp_ok($tx, '>', 1000, "enough transactions ($tx)");

my $sums_sql = q{
	SELECT (SELECT sum(abalance) FROM pgbench_accounts) = (SELECT sum(delta) FROM pgbench_history),
	       (SELECT sum(bbalance) FROM pgbench_branches) = (SELECT sum(delta) FROM pgbench_history),
	       (SELECT sum(tbalance) FROM pgbench_tellers) = (SELECT sum(delta) FROM pgbench_history)};
my $sums = $node->safe_psql('postgres', $sums_sql);
is($sums, 't|t|t', 'account, branch and teller balances equal the history');
is($node->safe_psql('postgres', 'SELECT count(*), count(DISTINCT aid), min(aid), max(aid) FROM pgbench_accounts'),
	'200000|200000|1|200000', 'no account row lost or duplicated');
my $idx = 'SET enable_seqscan = off; SET enable_bitmapscan = off; SELECT count(*), sum(abalance) FROM pgbench_accounts WHERE aid > 0';
my $seq = 'SET enable_indexscan = off; SET enable_bitmapscan = off; SELECT count(*), sum(abalance) FROM pgbench_accounts WHERE aid > 0';
is($node->safe_psql('postgres', $idx), $node->safe_psql('postgres', $seq), 'index scan agrees with sequential scan');
$node->restart;
is($node->safe_psql('postgres', q{SELECT (SELECT sum(abalance) FROM pgbench_accounts) = (SELECT sum(delta) FROM pgbench_history)}),
	't', 'invariant holds after restart');

# SIGKILL of the postmaster while pgbench runs: every transaction is all or
# nothing after recovery, so the invariants hold again
my $before = $node->safe_psql('postgres', 'SELECT count(*) FROM pgbench_history');
$bench = IPC::Run::start(
	[ 'pgbench', '-n', '-c', '4', '-j', '2', '-T', '30', $node->connstr('postgres') ],
	'>', \$out, '2>', \$err);
sleep 4;
ok(kill9_and_restart($node), 'restarted after SIGKILL under pgbench');
eval { $bench->finish };
cmp_ok($node->safe_psql('postgres', 'SELECT count(*) FROM pgbench_history'), '>', $before,
	'transactions committed before the crash are there');
is($node->safe_psql('postgres', $sums_sql), 't|t|t', 'after the crash, balances equal the history');
is($node->safe_psql('postgres', 'SELECT count(*), count(DISTINCT aid), min(aid), max(aid) FROM pgbench_accounts'),
	'200000|200000|1|200000', '... and no account row is lost or duplicated');
is($node->safe_psql('postgres', $idx), $node->safe_psql('postgres', $seq), '... and index scan agrees with sequential scan');
$node->stop;
done_testing();
