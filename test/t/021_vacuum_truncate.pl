# VACUUM cuts empty trailing pages (lazy_truncate_heap's rule), and the cut
# never comes undone: not on a streaming standby, not in a base backup taken
# before or after it, not after a crash between its WAL record and the cut,
# not after a crash with rows written since, and not when a block map is
# rebuilt from the data files (which still hold older blocks of the cut
# pages: VACUUM writes the emptied pages back before it cuts them, so the
# rows deleted from them never come back).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use AegisCrash;

my $primary = PostgreSQL::Test::Cluster->new('vt_primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'aegis_storage'
aegis.buffer_pool_size = 8MB
autovacuum = off
restart_after_crash = on
});
$primary->start;
$primary->safe_psql('postgres', q{
	CREATE EXTENSION aegis_storage;
	CREATE TABLE vt (id int PRIMARY KEY, v text) USING aegis WITH (compression = 'lz4');
	CREATE TABLE vt_heap (id int PRIMARY KEY, v text);
	INSERT INTO vt SELECT g, md5(g::text) FROM generate_series(1, 30000) g;
	INSERT INTO vt_heap SELECT g, md5(g::text) FROM generate_series(1, 30000) g;
	CHECKPOINT;
});

# a standby from a backup taken before the cut: it replays the cut
$primary->backup('before_cut');
my $standby = PostgreSQL::Test::Cluster->new('vt_standby');
$standby->init_from_backup($primary, 'before_cut', has_streaming => 1);
$standby->start;

my $q = q{SELECT count(*), sum(id), md5(string_agg(v, ',' ORDER BY id)) FROM };
my $qi = q{SET enable_seqscan = off; SET enable_bitmapscan = off;
	SELECT count(*), sum(id) FROM %s WHERE id > 0};
my $pages = q{SELECT pages FROM aegis_table_stats('vt')};

sub same_rows
{
	my ($node, $what) = @_;
	my $expect = $primary->safe_psql('postgres', $q . 'vt_heap');
	is($node->safe_psql('postgres', $q . 'vt'), $expect, "$what: rows");
	is($node->safe_psql('postgres', sprintf($qi, 'vt')),
		$primary->safe_psql('postgres', sprintf($qi, 'vt_heap')), "$what: index scan");
}

# The stored blocks of the tail hold its rows (checkpoint above); the
# DELETE and VACUUM change the pages in the buffer pool only.
my $full = $primary->safe_psql('postgres', $pages);
$primary->safe_psql('postgres', q{
	DELETE FROM vt WHERE id > 8000;
	DELETE FROM vt_heap WHERE id > 8000;
	VACUUM vt;
	VACUUM vt_heap;});
my $cut = $primary->safe_psql('postgres', $pages);
cmp_ok($cut, '<', $full / 2, "VACUUM cut the empty tail ($full -> $cut pages)");
is($primary->safe_psql('postgres', "SELECT relpages FROM pg_class WHERE relname = 'vt'"),
	$cut, 'relpages says so');
cmp_ok($primary->safe_psql('postgres', "SELECT pg_relation_size('vt')"), '<', $full * 8192,
	'the stub was cut too');
same_rows($primary, 'after the cut');

$primary->wait_for_catchup($standby);
same_rows($standby, 'standby after replaying the cut');
is($standby->safe_psql('postgres', $pages), $cut, 'standby has the same pages');
is($standby->safe_psql('postgres', "SELECT pg_relation_size('vt')"),
	$cut * 8192, 'and a stub of exactly those pages (pg_relation_size)');

# A base backup after the cut rebuilds every block map from the data files,
# which still hold blocks of the cut pages.
$primary->safe_psql('postgres', 'CHECKPOINT');
$primary->backup('after_cut');
my $restored = PostgreSQL::Test::Cluster->new('vt_restored');
$restored->init_from_backup($primary, 'after_cut');
$restored->start;
same_rows($restored, 'restored backup taken after the cut');
$restored->stop;

# A crash right after the cut's record is flushed, before anything is cut:
# redo cuts.
$primary->safe_psql('postgres', q{
	DELETE FROM vt WHERE id > 4000;
	DELETE FROM vt_heap WHERE id > 4000;
	VACUUM vt_heap;});
my $before = $primary->safe_psql('postgres', $pages);
my ($ret, $out, $err) = $primary->psql('postgres',
	"SET aegis.debug_crash_point = 'vacuum_cut_logged'; VACUUM vt;");
isnt($ret, 0, 'the backend crashed at the fault point');
$primary->poll_query_until('postgres', 'SELECT count(*) >= 0 FROM aegis_tables')
	or die 'the primary did not come back';
ok($primary->log_contains(qr/aegis.debug_crash_point reached at AEGIS_CRASH_VACUUM_CUT_LOGGED/),
	'the fault point was reached');
cmp_ok($primary->safe_psql('postgres', $pages), '<', $before, 'redo made the cut');
same_rows($primary, 'after a crash between the record and the cut');

# Rows written after a cut survive a crash.
$primary->safe_psql('postgres', q{
	INSERT INTO vt SELECT g, 'after ' || g FROM generate_series(40001, 45000) g;
	INSERT INTO vt_heap SELECT g, 'after ' || g FROM generate_series(40001, 45000) g;});
kill9_and_restart($primary);
same_rows($primary, 'rows written after the cut, after a crash');
$primary->wait_for_catchup($standby);
same_rows($standby, 'standby after all of it');

# A block map lost after a cut is rebuilt from the data files: the cut
# pages' newest blocks are empty pages, so no deleted row comes back.
$primary->safe_psql('postgres', q{
	DELETE FROM vt WHERE id > 2000;
	DELETE FROM vt_heap WHERE id > 2000;
	VACUUM vt;
	VACUUM vt_heap;
	CHECKPOINT;});
my $datadir = $primary->data_dir;
my $dboid = $primary->safe_psql('postgres', "SELECT oid FROM pg_database WHERE datname = 'postgres'");
my $fn = $primary->safe_psql('postgres', "SELECT relfilenode FROM pg_class WHERE relname = 'vt'");
$primary->stop;
unlink("$datadir/pg_aegis/$dboid/0_$fn.map") or die "unlink: $!";
$primary->start;
same_rows($primary, 'map rebuilt after cuts');
ok($primary->log_contains(qr/aegis block map ".*0_$fn\.map" was missing; rebuilt it/),
	'the map was rebuilt');

# the rebuilt table can be cut again, and emptied to 0 bytes
$primary->safe_psql('postgres', q{
	DELETE FROM vt; DELETE FROM vt_heap;
	VACUUM vt; VACUUM vt_heap;});
is($primary->safe_psql('postgres', "SELECT pages, pg_relation_size('vt') FROM aegis_table_stats('vt')"),
	'0|0', 'emptied table: no page, 0 bytes');
$primary->safe_psql('postgres', q{
	INSERT INTO vt SELECT g, md5(g::text) FROM generate_series(1, 3000) g;
	INSERT INTO vt_heap SELECT g, md5(g::text) FROM generate_series(1, 3000) g;});
same_rows($primary, 'refilled');
$primary->wait_for_catchup($standby);
same_rows($standby, 'standby, refilled');

$standby->stop;
$primary->stop;
done_testing();
