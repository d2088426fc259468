# A streaming standby replays PostgreSQL's WAL, including aegis's xid
# reservations (custom resource manager), but has no aegis WAL: reading an
# aegis table there fails with a clear feature-not-supported error, and heap
# tables replicate as usual.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'aegis_storage'
aegis.buffer_pool_size = 4MB
});
$primary->start;
$primary->safe_psql('postgres', q{
	CREATE EXTENSION aegis_storage;
	CREATE TABLE a (id int) USING aegis;
	CREATE TABLE h (id int);
	INSERT INTO a SELECT generate_series(1, 100);});
$primary->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->start;

# xid reservations are written while the standby streams
$primary->safe_psql('postgres', 'INSERT INTO a SELECT generate_series(101, 200); INSERT INTO h VALUES (1);');
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', 'SELECT count(*) FROM h'), '1',
	'the standby replayed past the xid reservations; heap rows replicate');

my ($ret, $out, $err) = $standby->psql('postgres', 'SELECT count(*) FROM a');
isnt($ret, 0, 'reading an aegis table on a standby fails');
like($err, qr/aegis tables cannot be accessed while the server is in recovery/, '... with a clear error');
is($standby->safe_psql('postgres', 'SELECT 1'), '1', '... and the standby keeps running');
is($primary->safe_psql('postgres', 'SELECT count(*) FROM a'), '200', 'the primary is unaffected');

$standby->stop;
$primary->stop;
done_testing();
