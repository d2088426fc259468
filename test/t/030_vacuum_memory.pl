# VACUUM's memory for dead row TIDs is bounded as heap's is: by
# maintenance_work_mem, and in autovacuum workers by autovacuum_work_mem
# when that is set.  When the TIDs fill it, the indexes are vacuumed and
# the scan goes on: the log says how many passes over the indexes it took
# ("index scans: N", heap's wording, which log analyzers parse).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('vacmem');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'aegis_storage'
autovacuum = off
autovacuum_naptime = 1
autovacuum_work_mem = '1MB'
maintenance_work_mem = '64MB'
log_autovacuum_min_duration = 0
});
$node->start;

# 400,000 dead rows: 3.2 MB of dead TIDs at 8 bytes each
$node->safe_psql('postgres', q{
	CREATE EXTENSION aegis_storage;
	CREATE TABLE vm (id int PRIMARY KEY, v int) USING aegis;
	INSERT INTO vm SELECT g, g FROM generate_series(1, 500000) g;
	DELETE FROM vm WHERE id % 5 <> 0;
});
my $expect = $node->safe_psql('postgres', 'SELECT count(*), sum(v) FROM vm');
is($expect, '100000|25000250000', 'the rows left before VACUUM');

# a manual VACUUM uses maintenance_work_mem (64 MB): one pass
my ($rc, $out, $err) = $node->psql('postgres', 'VACUUM (VERBOSE) vm');
like($err, qr/finished vacuuming "postgres\.public\.vm": index scans: 1\n/,
	'VACUUM with maintenance_work_mem = 64MB vacuums the indexes once');

# again, with maintenance_work_mem at 1 MB: several passes
$node->safe_psql('postgres', q{
	INSERT INTO vm SELECT g, g FROM generate_series(500001, 1000000) g;
	DELETE FROM vm WHERE id > 500000 AND id % 5 <> 0;
});
($rc, $out, $err) = $node->psql('postgres',
	"SET maintenance_work_mem = '1MB'; VACUUM (VERBOSE) vm");
like($err, qr/finished vacuuming "postgres\.public\.vm": index scans: [2-9]\n/,
	'VACUUM with maintenance_work_mem = 1MB vacuums the indexes in several passes');

# autovacuum: autovacuum_work_mem (1 MB) bounds it, not maintenance_work_mem
$node->safe_psql('postgres', q{
	INSERT INTO vm SELECT g, g FROM generate_series(1000001, 1500000) g;
	DELETE FROM vm WHERE id > 1000000 AND id % 5 <> 0;
});
$node->append_conf('postgresql.conf', 'autovacuum = on');
$node->reload;
my $found = 0;
for (1 .. 1200)
{
	if ($node->log_contains(qr/automatic vacuum of table "postgres\.public\.vm": index scans: \d+/))
	{
		$found = 1;
		last;
	}
	usleep(100_000);
}
ok($found, 'autovacuum vacuumed the table');
ok($node->log_contains(qr/automatic vacuum of table "postgres\.public\.vm": index scans: [2-9]\n/),
	'autovacuum_work_mem = 1MB bounds an autovacuum worker: several passes');

# every row left is found by the index and by a scan
is($node->safe_psql('postgres', 'SELECT count(*), sum(v) FROM vm'),
	'300000|' . (25000250000 + 75000250000 + 125000250000), 'the rows left, by a scan');
is($node->safe_psql('postgres',
	'SET enable_seqscan = off; SET enable_bitmapscan = off; SELECT count(*), sum(v) FROM vm WHERE id > 0'),
	'300000|' . (25000250000 + 75000250000 + 125000250000), 'the rows left, by the index');

# VACUUM (INDEX_CLEANUP OFF) leaves index entries and the line pointers
# they name (LP_DEAD) for a later VACUUM, as heap's does: no index scan now,
# one in the next VACUUM; the rows stay right throughout
$node->safe_psql('postgres', q{
	CREATE TABLE vc (id int PRIMARY KEY, v int) USING aegis WITH (autovacuum_enabled = off);
	INSERT INTO vc SELECT g, g FROM generate_series(1, 20000) g;
	DELETE FROM vc WHERE id % 2 = 0;
});
($rc, $out, $err) = $node->psql('postgres', 'VACUUM (INDEX_CLEANUP OFF, VERBOSE) vc');
like($err, qr/finished vacuuming "postgres\.public\.vc": index scans: 0\n/,
	'INDEX_CLEANUP OFF: the indexes are not vacuumed');
my $vc = 'SELECT count(*), sum(v) FROM vc';
my $vc_ix = "SET enable_seqscan = off; SET enable_bitmapscan = off; $vc WHERE id > 0";
is($node->safe_psql('postgres', $vc), '10000|100000000', 'INDEX_CLEANUP OFF: rows by a scan');
is($node->safe_psql('postgres', $vc_ix), '10000|100000000', 'INDEX_CLEANUP OFF: rows by the index');
($rc, $out, $err) = $node->psql('postgres', 'VACUUM (VERBOSE) vc');
like($err, qr/finished vacuuming "postgres\.public\.vc": index scans: 1\n/,
	'the next VACUUM removes the index entries it left');
$node->safe_psql('postgres', 'INSERT INTO vc SELECT g, g FROM generate_series(20001, 30000) g');
is($node->safe_psql('postgres', $vc_ix), '20000|350005000',
	'rows by the index after the freed line pointers are used again');

$node->stop;
done_testing();
