# The grouping after a checkpoint leaves for the next one the all-visible
# pages that changed since the previous grouping pass (src/backend/
# backend_dir.c, "Group blocks"): a busy table's pages, which autovacuum
# keeps making all-visible, are not compressed again at the cold level
# after every checkpoint.  A page that stays as it was is grouped by the
# next pass; aegis_checkpoint() groups every page at once; the first pass
# over a table after a start takes every page (a bulk load and its VACUUM
# are grouped after the first checkpoint).  Rows read back the same
# throughout.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('regroup_defer');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'aegis_storage'
aegis.buffer_pool_size = 64MB
aegis.compression_dictionaries = off
autovacuum = off
log_min_messages = debug1
});
$node->start;
$node->safe_psql('postgres', "CREATE EXTENSION aegis_storage");

# rows that repeat across pages, not within one (as in 028): grouped pages
# take far fewer bytes than pages compressed alone
$node->safe_psql('postgres', q{
	CREATE TABLE src (id int PRIMARY KEY, n int, words text);
	INSERT INTO src
	SELECT g, 0,
		(SELECT string_agg(md5(((g * 7919) % 100)::text || 'w' || k), ' ')
		 FROM generate_series(1, 9) k)
	FROM generate_series(1, 20000) g;
	CREATE TABLE t (LIKE src) USING aegis WITH (compression = 'zstd', fillfactor = 50);
	INSERT INTO t SELECT * FROM src;
});
my $rows = q{SELECT count(*), sum(n), md5(string_agg(words, ',' ORDER BY id)) FROM };
my $expect = $node->safe_psql('postgres', $rows . 'src');
sub bytes { return $node->safe_psql('postgres', "SELECT stored_bytes FROM aegis_table_stats('t')"); }
my $alone = bytes();

# waits for the grouping pass after the last checkpoint (DEBUG1 line)
sub checkpoint_and_pass
{
	my $offset = -s $node->logfile;
	$node->safe_psql('postgres', 'CHECKPOINT');
	for (1 .. 600)
	{
		return 1 if $node->log_contains(qr/aegis grouping after the checkpoint at \S+ is done/, $offset);
		usleep(100_000);
	}
	return 0;
}

# 1. a fresh table's first pass takes every page
$node->safe_psql('postgres', 'VACUUM t');
ok(checkpoint_and_pass(), 'grouping pass after the first checkpoint');
my $grouped = bytes();
cmp_ok($grouped, '<', $alone * 0.8, "the first pass grouped the vacuumed table ($alone -> $grouped bytes)");
is($node->safe_psql('postgres', $rows . 't'), $expect, 'rows read back after the grouping');

# 2. every page changed and made all-visible again: the next pass leaves them
$node->safe_psql('postgres', 'UPDATE t SET n = n + 1; UPDATE src SET n = n + 1; VACUUM t');
$expect = $node->safe_psql('postgres', $rows . 'src');
ok(checkpoint_and_pass(), 'grouping pass after the checkpoint that wrote the changed pages');
my $left = bytes();
cmp_ok($left, '>', $grouped * 1.3,
	"pages changed since the last pass are left as they were written ($left bytes)");
is($node->safe_psql('postgres', $rows . 't'), $expect, 'rows read back');

# 3. unchanged through another checkpoint: the pass after it groups them
ok(checkpoint_and_pass(), 'grouping pass after a checkpoint with no change');
my $later = bytes();
cmp_ok($later, '<', $left * 0.7, "then the pages that did not change again are grouped ($later bytes)");
is($node->safe_psql('postgres', $rows . 't'), $expect, 'rows read back after the later grouping');

# 4. aegis_checkpoint() groups changed pages at once
$node->safe_psql('postgres', 'UPDATE t SET n = n + 1; UPDATE src SET n = n + 1; VACUUM t');
$expect = $node->safe_psql('postgres', $rows . 'src');
$node->safe_psql('postgres', 'SELECT aegis_checkpoint()');
my $now = bytes();
cmp_ok($now, '<', $left * 0.7, "aegis_checkpoint() groups pages changed since the last pass ($now bytes)");
is($node->safe_psql('postgres', $rows . 't'), $expect, 'rows read back');

# 5. after a restart the first pass takes every page again
$node->safe_psql('postgres', 'UPDATE t SET n = n + 1; UPDATE src SET n = n + 1; VACUUM t');
$expect = $node->safe_psql('postgres', $rows . 'src');
$node->restart;
# (a pass before anything loaded the block maps has nothing to group)
is($node->safe_psql('postgres', $rows . 't'), $expect, 'rows read back after the restart');
ok(checkpoint_and_pass(), 'grouping pass after a restart');
cmp_ok(bytes(), '<', $left * 0.7, 'the first pass after a restart groups changed pages');

$node->stop;
done_testing();
