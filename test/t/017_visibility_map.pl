# The visibility map of aegis tables across crashes and replicas: VACUUM's
# marks reach a standby (its index-only scans skip the table too), and the
# changes that clear them are replayed whatever state the map page reached
# disk in, so after a crash, on a standby and after a checkpoint in between,
# an index-only scan returns exactly the rows a sequential scan returns.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('vm_primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'aegis_storage'
aegis.buffer_pool_size = 8MB
autovacuum = off
});
$primary->start;
$primary->safe_psql('postgres', q{
	CREATE EXTENSION aegis_storage;
	CREATE TABLE t (id int PRIMARY KEY, k int, pad text) USING aegis;
	INSERT INTO t SELECT g, g % 100, repeat('p', 80) FROM generate_series(1, 60000) g;
	VACUUM t;
});
$primary->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('vm_standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->start;

# what an index-only scan and a sequential scan return, and the fetches
my $ios = 'SET enable_seqscan = off; SET enable_bitmapscan = off;
	SELECT count(id), sum(id) FROM t WHERE id > 0';
my $seq = 'SET enable_indexscan = off; SET enable_indexonlyscan = off; SET enable_bitmapscan = off;
	SELECT count(id), sum(id) FROM t WHERE id > 0';
sub fetches
{
	my ($node) = @_;
	my $plan = $node->safe_psql('postgres', 'SET enable_seqscan = off; SET enable_bitmapscan = off;
		EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT count(id) FROM t WHERE id > 0');
	return $plan =~ /Heap Fetches: (\d+)/ ? $1 : 'no index-only scan';
}
sub agree
{
	my ($node, $what) = @_;
	is($node->safe_psql('postgres', $ios), $node->safe_psql('postgres', $seq),
		"$what: the index-only scan returns what the sequential scan returns");
}

is(fetches($primary), 0, 'after VACUUM the primary fetches nothing');
$primary->wait_for_catchup($standby);
is(fetches($standby), 0, 'the standby replayed the marks: it fetches nothing either');

# the map pages reach disk set, then changes clear them; a crash follows
$primary->safe_psql('postgres', 'CHECKPOINT');
$primary->safe_psql('postgres', q{
	DELETE FROM t WHERE id % 50 = 3;
	UPDATE t SET k = -k WHERE id % 50 = 4;
	BEGIN; INSERT INTO t SELECT g, 0, 'gone' FROM generate_series(70001, 70500) g; ROLLBACK;
});
$primary->wait_for_catchup($standby);
agree($standby, 'standby after changes');
$primary->stop('immediate');
$primary->start;
agree($primary, 'after a crash, with the map flushed set before the changes');
isnt(fetches($primary), 0, 'the changed pages are fetched again');

# marks set and cleared between two checkpoints, then a crash
$primary->safe_psql('postgres', 'VACUUM t');
is(fetches($primary), 0, 'VACUUM marks the pages again');
$primary->safe_psql('postgres', 'DELETE FROM t WHERE id % 50 = 5');
$primary->stop('immediate');
$primary->start;
agree($primary, 'after a crash, with marks set and cleared since the checkpoint');
$primary->wait_for_catchup($standby);
agree($standby, 'standby after the primary crashed');

# the standby itself crashes and replays
$primary->safe_psql('postgres', 'VACUUM t; DELETE FROM t WHERE id % 50 = 6;');
$primary->wait_for_catchup($standby);
$standby->stop('immediate');
$standby->start;
$primary->wait_for_catchup($standby);
agree($standby, 'standby after its own crash');
is($standby->safe_psql('postgres', $seq), $primary->safe_psql('postgres', $seq), 'standby equals primary');

$standby->stop;
$primary->stop;
done_testing();
