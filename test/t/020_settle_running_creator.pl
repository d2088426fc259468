# An aegis checkpoint settles the storage of finished transactions (drops
# what an aborted creator left).  It must never take a creator that is still
# running for aborted: the aegis checkpointer is a background worker outside
# PostgreSQL's proc array, and TransactionIdIsInProgress, asked from there,
# skipped the backend in the array's first slot, so a CREATE TABLE running
# in that backend across a CHECKPOINT lost its storage at commit ("aegis
# storage of table ... does not exist").  PostgreSQL hands out free PGPROCs
# last in, first out: the session that connects last holds the first slot.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('settle');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'aegis_storage'
autovacuum = off
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION aegis_storage');

for my $round (1 .. 3)
{
	my $other = $node->background_psql('postgres');
	my $creator = $node->background_psql('postgres');
	$creator->query_safe(
		"BEGIN; CREATE TABLE settle_$round (a int) USING aegis; SELECT txid_current();");
	# a later transaction finishes, then aegis checkpoints settle
	$other->query_safe('SELECT txid_current()');
	$other->query_safe('CHECKPOINT');
	$other->query_safe('CHECKPOINT');
	$creator->query_safe('COMMIT');
	$creator->quit;
	$other->quit;
	my ($rc, $out, $err) = $node->psql('postgres',
		"INSERT INTO settle_$round SELECT generate_series(1, 10); SELECT count(*) FROM settle_$round");
	is($out, '10', "round $round: the table created across a CHECKPOINT keeps its storage");
	is($err, '', "round $round: no error");
}

$node->stop;
done_testing();
