# CREATE DATABASE ... TEMPLATE copies the template's aegis tables, with both
# strategies (WAL_LOG, FILE_COPY): the copy has the same rows, indexes and
# options, its own storage (changes on either side stay there), survives a
# crash right after CREATE DATABASE, and reaches a standby.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('cdb_primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'aegis_storage'
aegis.buffer_pool_size = 8MB
aegis.memory_backend_size = 32MB
max_prepared_transactions = 5
autovacuum = off
});
$primary->start;
$primary->safe_psql('postgres', 'CREATE DATABASE tmpl');
$primary->safe_psql('tmpl', q{
	CREATE EXTENSION aegis_storage;
	CREATE TABLE z (id int PRIMARY KEY, k int, v text) USING aegis
		WITH (compression = 'zstd', compression_level = 5);
	CREATE INDEX z_k ON z (k);
	INSERT INTO z SELECT g, g % 100, md5(g::text) FROM generate_series(1, 40000) g;
	DELETE FROM z WHERE id % 9 = 0;
	CREATE TABLE m (id int, v text) USING aegis WITH (storage_backend = 'memory');
	INSERT INTO m SELECT g, 'm' || g FROM generate_series(1, 2000) g;
	CREATE UNLOGGED TABLE u (id int) USING aegis;
	INSERT INTO u SELECT generate_series(1, 500);
	CREATE TABLE h (id int, v text);
	INSERT INTO h SELECT g, 'h' || g FROM generate_series(1, 1000) g;
});
$primary->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('cdb_standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->start;

my $z_q = q{SELECT count(*), sum(k), md5(string_agg(v, ',' ORDER BY id)) FROM z};
my $by_index = q{SET enable_seqscan = off; SET enable_bitmapscan = off;
	SELECT count(*), sum(id) FROM z WHERE k = 42};
my $opts = q{SELECT string_agg(format('%s %s/%s/%s', t, s.storage_backend, s.compression, s.compression_level), ', ' ORDER BY t)
	FROM unnest(ARRAY['z', 'm', 'u']) t, aegis_table_stats(t::regclass) s};
my $z0 = $primary->safe_psql('tmpl', $z_q);
my $idx0 = $primary->safe_psql('tmpl', $by_index);
my $opts0 = $primary->safe_psql('tmpl', $opts);
my $rest_q = q{SELECT (SELECT count(*) FROM m), (SELECT count(*) FROM u), (SELECT count(*) FROM h)};

for my $strategy (qw(wal_log file_copy))
{
	my $db = "c_$strategy";
	$primary->safe_psql('postgres', "CREATE DATABASE $db TEMPLATE tmpl STRATEGY $strategy");
	is($primary->safe_psql($db, $z_q), $z0, "$strategy: the copy has the template's rows");
	is($primary->safe_psql($db, $by_index), $idx0, "$strategy: its indexes find them");
	is($primary->safe_psql($db, $opts), $opts0, "$strategy: backend, codec and level copied");
	is($primary->safe_psql($db, $rest_q), '2000|500|1000', "$strategy: memory, unlogged and heap tables copied");
	# the copy is its own storage
	$primary->safe_psql($db, 'UPDATE z SET v = v || \'x\' WHERE id < 100; DELETE FROM m; INSERT INTO u VALUES (0)');
	is($primary->safe_psql('tmpl', $z_q), $z0, "$strategy: changes to the copy leave the template alone");
	is($primary->safe_psql('tmpl', $rest_q), '2000|500|1000', "$strategy: template's other tables unchanged");
}
my $zw = $primary->safe_psql('c_wal_log', $z_q);

# the standby replays the copies
$primary->wait_for_catchup($standby);
is($standby->safe_psql('c_wal_log', $z_q), $zw, 'standby: WAL_LOG copy');
is($standby->safe_psql('c_file_copy', $z_q), $zw, 'standby: FILE_COPY copy');
is($standby->safe_psql('c_file_copy', $by_index), $idx0, 'standby: index of the FILE_COPY copy');

# a crash right after CREATE DATABASE
$primary->safe_psql('postgres', 'CREATE DATABASE c_crash TEMPLATE tmpl');
$primary->stop('immediate');
$primary->start;
is($primary->safe_psql('c_crash', $z_q), $z0, 'after a crash: the copy keeps its rows');
is($primary->safe_psql('c_crash', $by_index), $idx0, 'after a crash: and its indexes');
is($primary->safe_psql('c_crash', $opts), $opts0, 'after a crash: and its options');
# memory tables are volatile and unlogged tables reset, as after any crash
is($primary->safe_psql('c_crash', $rest_q), '0|0|1000', 'after a crash: memory and unlogged tables empty, heap kept');
is($primary->safe_psql('c_wal_log', $z_q), $zw, 'after a crash: the earlier copy too');

# a table of the template whose DROP failed to PREPARE (the drop was marked,
# then the transaction aborted) is copied like any other
$primary->safe_psql('postgres', "CREATE DATABASE tmpl2");
$primary->safe_psql('tmpl2', q{
	CREATE EXTENSION aegis_storage;
	CREATE TABLE kept (id int) USING aegis;
	INSERT INTO kept SELECT generate_series(1, 300);
	CREATE TABLE other (id int) USING aegis;});
# (the transaction holding the GID is in another database: one prepared in
# the template would stop CREATE DATABASE)
$primary->safe_psql('postgres', q{BEGIN; CREATE TABLE gidholder (a int); PREPARE TRANSACTION 'gid_taken';});
my ($ret, $out, $err) = $primary->psql('tmpl2', q{BEGIN; DROP TABLE kept; PREPARE TRANSACTION 'gid_taken';});
like($err, qr/transaction identifier "gid_taken" is already in use/, 'the PREPARE of the DROP fails');
$primary->safe_psql('postgres', 'CREATE DATABASE c_kept TEMPLATE tmpl2 STRATEGY wal_log');
is($primary->safe_psql('c_kept', 'SELECT count(*) FROM kept'), '300',
	'the copy has the table whose DROP failed to PREPARE');
$primary->safe_psql('postgres', q{ROLLBACK PREPARED 'gid_taken'});

# a copy that fails (the memory backend is full) leaves no database files
$primary->safe_psql('postgres', "CREATE DATABASE tmpl3");
$primary->safe_psql('tmpl3', q{
	CREATE EXTENSION aegis_storage;
	CREATE TABLE big_mem (id int, pad text) USING aegis
		WITH (storage_backend = 'memory', compression = 'none');
	INSERT INTO big_mem SELECT g, repeat('m', 500) FROM generate_series(1, 40000) g;});
my @dirs_before = sort(glob($primary->data_dir . '/base/*'));
($ret, $out, $err) = $primary->psql('postgres', 'CREATE DATABASE c_full TEMPLATE tmpl3');
like($err, qr/memory/, 'CREATE DATABASE fails when the copy does not fit the memory backend');
$primary->safe_psql('postgres', 'CHECKPOINT');
my @dirs_after = sort(glob($primary->data_dir . '/base/*'));
is(join(',', @dirs_after), join(',', @dirs_before), 'and leaves no database directory (aegis files included) behind in base/');
is($primary->safe_psql('postgres', "SELECT count(*) FROM pg_database WHERE datname = 'c_full'"), '0',
	'nor a database');
is($primary->safe_psql('tmpl3', 'SELECT count(*) FROM big_mem'), '40000', 'the template keeps its rows');

# a copy can be dropped, and its storage goes with it
my $oid = $primary->safe_psql('postgres', "SELECT oid FROM pg_database WHERE datname = 'c_crash'");
my $dir = $primary->data_dir . "/base/$oid";
ok(scalar(glob("$dir/aegis_${oid}_*")), 'the copy has its own aegis files, in its database directory');
$primary->safe_psql('postgres', 'DROP DATABASE c_crash');
$primary->safe_psql('postgres', 'CHECKPOINT');
ok(!-e $dir, 'DROP DATABASE removes it');

$standby->stop;
$primary->stop;
done_testing();
