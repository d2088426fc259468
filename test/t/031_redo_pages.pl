# Redo rebuilds aegis pages exactly.  Page records are byte deltas, typed
# where they describe tuple headers and new line pointers
# (src/wal/wal_decode.c): a new tuple's header and an updated, deleted or
# locked version's are logged as the fields that changed, with the
# record's xid and page left out, and a tuple added at the top of the free
# space as its length, from which redo derives its line pointer, pd_lower
# and pd_upper.  A later delta writes bytes at offsets the primary's page
# had, so a header rebuilt one byte off on a standby or after a crash
# would go unnoticed by row counts until it broke a later change.  Here a
# workload of every kind of change - inserts and COPY (many new tuples per
# page), HOT and cross-page updates, deletes, row locks of one and of
# several transactions (a MultiXact in xmax), subtransactions committed and
# rolled back, VACUUM's pruning and freezing, line pointers reused - runs
# on a primary; then every line pointer and tuple header of every page
# must be the same on a streaming standby and, after a crash, on the
# primary itself as it was before the crash (hint bits aside: they are set
# without WAL on either side).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'aegis_storage'
aegis.buffer_pool_size = 8MB
autovacuum = off
});
$primary->start;
$primary->safe_psql('postgres', q{
	CREATE EXTENSION aegis_storage;
	CREATE TABLE t (id int PRIMARY KEY, v int, pad text) USING aegis;
	CREATE TABLE u (id int, v int) USING aegis WITH (compression = 'none');
	CREATE INDEX ON u (id);});
$primary->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->start;

# every kind of page change, each statement its own transaction unless said
$primary->safe_psql('postgres', q{
	INSERT INTO t SELECT g, g, repeat('x', g % 50) FROM generate_series(1, 3000) g;
	COPY u FROM PROGRAM 'seq 1 4000 | sed "s/.*/&\t&/"';
	UPDATE t SET v = v + 1 WHERE id % 7 = 0;
	UPDATE t SET id = id + 100000 WHERE id % 11 = 0;
	UPDATE u SET v = -v WHERE id % 5 = 0;
	DELETE FROM t WHERE id % 13 = 0;
	DELETE FROM u WHERE id % 9 = 0;
	SELECT count(*) FROM (SELECT id FROM t WHERE id % 17 = 0 FOR UPDATE) s;
	BEGIN;
	SELECT count(*) FROM (SELECT id FROM t WHERE id % 19 = 0 FOR KEY SHARE) s;
	SAVEPOINT a;
	UPDATE t SET v = v * 2 WHERE id % 19 = 0;
	RELEASE a;
	SAVEPOINT b;
	UPDATE t SET pad = 'rolled back' WHERE id % 23 = 0;
	INSERT INTO u SELECT g, g FROM generate_series(5001, 5100) g;
	ROLLBACK TO b;
	UPDATE u SET v = v + 7 WHERE id % 29 = 0;
	COMMIT;
	VACUUM t;
	VACUUM u;
	UPDATE t SET v = v + 3 WHERE id % 3 = 0;
	INSERT INTO u SELECT g, g FROM generate_series(6001, 6500) g;
	VACUUM (FREEZE) u;
	UPDATE u SET v = 0 WHERE id % 31 = 0;});

# several lockers of one row: a MultiXact in its header
my $s1 = $primary->background_psql('postgres');
$s1->query_safe('BEGIN');
$s1->query_safe('SELECT * FROM t WHERE id BETWEEN 1 AND 40 FOR SHARE');
$primary->safe_psql('postgres',
	q{SELECT count(*) FROM (SELECT id FROM t WHERE id BETWEEN 1 AND 40 FOR SHARE) s});
$s1->query_safe('COMMIT');
$s1->quit;
$primary->safe_psql('postgres', q{UPDATE t SET v = v + 1000 WHERE id BETWEEN 20 AND 25});

# every line pointer and tuple header of every page (hint bits masked out;
# HEAP_XMIN_FROZEN, which is both xmin hint bits, is logged and kept)
my $items = q{
	SELECT string_agg(format('%s/%s:%s,%s,%s,%s,%s,%s,%s,%s', r, p, i.lp, i.lp_flags, i.lp_len,
							 i.xmin, i.xmax, i.infomask & ~3840,
							 (i.infomask & 768) = 768, i.infomask2) || ',' || coalesce(i.ctid::text, ''),
					  E'\n' ORDER BY r, p, i.lp)
	FROM (VALUES ('t'::regclass), ('u'::regclass)) AS rels(r),
		 LATERAL generate_series(0, (SELECT pages - 1 FROM aegis_table_stats(r))) AS p,
		 LATERAL aegis_page_items(r, p) AS i};
my $want = $primary->safe_psql('postgres', $items);
my $nitems = () = $want =~ /\n/g;
cmp_ok($nitems, '>', 8000, "the workload left $nitems line pointers");
like($want, qr/,t,\d+,\(/, 'some versions are frozen');
cmp_ok($primary->safe_psql('postgres',
	q{SELECT count(*) FROM aegis_page_items('t', 0) WHERE (infomask & 4096) <> 0}),
	'>', 0, 'some versions have a MultiXact in xmax');

$primary->wait_for_catchup($standby);
my $got = $standby->safe_psql('postgres', $items);
is($got, $want, 'a streaming standby has every line pointer and tuple header of the primary');

# crash recovery: redo from the last checkpoint before the workload
$primary->stop('immediate');
$primary->start;
is($primary->safe_psql('postgres', $items), $want,
	'after a crash, redo rebuilt every line pointer and tuple header');
is($primary->safe_psql('postgres', q{SELECT count(*), sum(v) FROM t}),
	$standby->safe_psql('postgres', q{SELECT count(*), sum(v) FROM t}),
	'rows agree');

$standby->stop;
$primary->stop;
done_testing();
