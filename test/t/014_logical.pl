# Logical decoding and logical replication of aegis tables.
#
# 1. test_decoding: the same statements on an aegis table and on a heap
#    table decode to the same changes (inserts, multi-inserts, updates with
#    and without a key change, deletes, TOAST values, ON CONFLICT, rolled
#    back subtransactions, REPLICA IDENTITY FULL, TRUNCATE).
# 2. A publication and a subscription: a subscriber (aegis tables too)
#    ends with exactly the publisher's rows after the initial copy and
#    concurrent DML, also after the publisher restarts.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $pub = PostgreSQL::Test::Cluster->new('logical_pub');
$pub->init(allows_streaming => 'logical');
$pub->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'aegis_storage'
aegis.buffer_pool_size = 8MB
autovacuum = off
});
$pub->start;
$pub->safe_psql('postgres', 'CREATE EXTENSION aegis_storage');

# --- 1. the same changes decoded from an aegis and a heap table ---------
for my $am ('aegis', 'heap')
{
	$pub->safe_psql('postgres', qq{
		CREATE TABLE d_$am (id int PRIMARY KEY, k int UNIQUE, v text, big text) USING $am;
		CREATE TABLE f_$am (a int, b text) USING $am;
		ALTER TABLE f_$am REPLICA IDENTITY FULL;
		CREATE TABLE n_$am (a int, b text) USING $am;
		ALTER TABLE n_$am REPLICA IDENTITY NOTHING;});
}
$pub->safe_psql('postgres',
	"SELECT pg_create_logical_replication_slot('dec', 'test_decoding')");

my $script = q{
	INSERT INTO d_AM VALUES (1, 10, 'one', NULL);
	INSERT INTO d_AM SELECT g, g * 10, 'many ' || g, NULL FROM generate_series(2, 50) g;
	COPY d_AM FROM STDIN;
51	510	copied	\N
52	520	copied	\N
\.
	INSERT INTO d_AM VALUES (60, 600, 'toasted', (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 400) g));
	UPDATE d_AM SET v = 'non-key update' WHERE id BETWEEN 1 AND 3;
	UPDATE d_AM SET id = id + 1000 WHERE id = 4;
	UPDATE d_AM SET v = 'toast kept' WHERE id = 60;
	UPDATE d_AM SET big = big || 'x' WHERE id = 60;
	DELETE FROM d_AM WHERE id BETWEEN 5 AND 7;
	INSERT INTO d_AM VALUES (8, 80, 'upsert', NULL) ON CONFLICT (id) DO UPDATE SET v = excluded.v;
	INSERT INTO d_AM VALUES (9000, 90, 'conflict on k', NULL) ON CONFLICT DO NOTHING;
	INSERT INTO d_AM VALUES (9001, 9001, 'upsert new', NULL) ON CONFLICT (id) DO UPDATE SET v = 'never';
	BEGIN;
	INSERT INTO d_AM VALUES (70, 700, 'kept', NULL);
	SAVEPOINT s;
	INSERT INTO d_AM VALUES (71, 710, 'rolled back', NULL);
	UPDATE d_AM SET v = 'rolled back' WHERE id = 1;
	ROLLBACK TO s;
	UPDATE d_AM SET v = 'after savepoint' WHERE id = 2;
	COMMIT;
	BEGIN;
	INSERT INTO d_AM VALUES (72, 720, 'aborted', NULL);
	ROLLBACK;
	INSERT INTO f_AM VALUES (1, 'a'), (2, 'b');
	UPDATE f_AM SET b = 'bb' WHERE a = 2;
	DELETE FROM f_AM WHERE a = 1;
	INSERT INTO n_AM VALUES (1, 'x');
	UPDATE n_AM SET b = 'y';
	DELETE FROM n_AM;
	TRUNCATE f_AM;
};

my %decoded;
for my $am ('aegis', 'heap')
{
	(my $sql = $script) =~ s/_AM/_$am/g;
	$pub->safe_psql('postgres', $sql);
	my $out = $pub->safe_psql('postgres', q{
		SELECT data FROM pg_logical_slot_get_changes('dec', NULL, NULL,
			'include-xids', '0', 'skip-empty-xacts', '1')});
	$out =~ s/_$am\b/_AM/g;
	$decoded{$am} = $out;
}
my $changes = () = $decoded{aegis} =~ /^table /mg;
cmp_ok($changes, '>=', 70, "aegis changes are decoded ($changes changes)");
is($decoded{aegis}, $decoded{heap},
	'test_decoding gives the same changes for an aegis table as for a heap table');
like($decoded{aegis}, qr/table public\.d_AM: UPDATE: old-key: id\[integer\]:4 new-tuple: id\[integer\]:1004 k\[integer\]:40/,
	'an update of the key logs the old key');
like($decoded{aegis}, qr/table public\.d_AM: UPDATE: id\[integer\]:60 k\[integer\]:600 v\[text\]:'toast kept' big\[text\]:unchanged-toast-datum/,
	'an unchanged TOAST value is reported unchanged');
like($decoded{aegis}, qr/table public\.d_AM: UPDATE: id\[integer\]:60 .* big\[text\]:'[0-9a-f]{100,}x'/,
	'a changed TOAST value is reassembled');
like($decoded{aegis}, qr/table public\.f_AM: DELETE: a\[integer\]:1 b\[text\]:'a'/,
	'REPLICA IDENTITY FULL logs the whole old row');
unlike($decoded{aegis}, qr/rolled back|aborted/, 'rolled back changes are not decoded');
$pub->safe_psql('postgres', "SELECT pg_drop_replication_slot('dec')");

# --- 2. a subscription -------------------------------------------------------
my $sub = PostgreSQL::Test::Cluster->new('logical_sub');
$sub->init;
$sub->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'aegis_storage'
aegis.buffer_pool_size = 8MB
autovacuum = off
});
$sub->start;

my $ddl = q{
	CREATE TABLE r (id int PRIMARY KEY, grp int, v text, big text) USING aegis WITH (compression = 'zstd');
	CREATE TABLE rf (a int, b text) USING aegis;
	ALTER TABLE rf REPLICA IDENTITY FULL;};
$pub->safe_psql('postgres', $ddl . q{
	INSERT INTO r SELECT g, g % 10, md5(g::text), NULL FROM generate_series(1, 20000) g;
	INSERT INTO rf SELECT g, md5(g::text) FROM generate_series(1, 2000) g;
	CREATE PUBLICATION p FOR TABLE r, rf;});
# a memory-backend table writes no WAL: refused, as heap refuses unlogged tables
$pub->safe_psql('postgres', "CREATE TABLE mem (a int) USING aegis WITH (storage_backend = 'memory')");
for my $cmd ('CREATE PUBLICATION pm FOR TABLE mem', 'ALTER PUBLICATION p ADD TABLE r2, mem')
{
	$pub->safe_psql('postgres', 'CREATE TABLE IF NOT EXISTS r2 (a int) USING aegis');
	my ($ret, $out, $err) = $pub->psql('postgres', $cmd);
	like($err, qr/cannot add aegis table "mem" to publication/, "refused: $cmd");
}
is($pub->safe_psql('postgres', "SELECT count(*) FROM pg_publication_tables WHERE pubname IN ('p', 'pm')"),
	'2', 'the refused commands changed no publication');
# publications that take tables without naming them (PostgreSQL counts a
# memory table as permanent): its changes are refused instead of lost
$pub->safe_psql('postgres', q{
	CREATE SCHEMA ms;
	CREATE TABLE ms.m2 (a int) USING aegis WITH (storage_backend = 'memory');
	CREATE TABLE pm_parent (a int) PARTITION BY RANGE (a);
	CREATE TABLE pm_part PARTITION OF pm_parent FOR VALUES FROM (0) TO (100)
		USING aegis WITH (storage_backend = 'memory');
	ALTER TABLE mem REPLICA IDENTITY FULL; ALTER TABLE ms.m2 REPLICA IDENTITY FULL;
	ALTER TABLE pm_part REPLICA IDENTITY FULL;
	INSERT INTO mem VALUES (1); INSERT INTO ms.m2 VALUES (1); INSERT INTO pm_parent VALUES (1);
	CREATE PUBLICATION pall FOR ALL TABLES;
	CREATE PUBLICATION pschema FOR TABLES IN SCHEMA ms WITH (publish = 'delete');
	CREATE PUBLICATION pparent FOR TABLE pm_parent WITH (publish = 'update');});
for my $cmd ('INSERT INTO mem VALUES (2)', 'UPDATE mem SET a = 3', 'DELETE FROM mem',
	'COPY mem FROM PROGRAM \'echo 4\'', 'DELETE FROM ms.m2')
{
	my ($ret, $out, $err) = $pub->psql('postgres', $cmd);
	like($err, qr/cannot change aegis table "(mem|m2)": a publication includes it, but its storage backend is memory/,
		"refused while published: $cmd");
}
$pub->safe_psql('postgres', 'DROP PUBLICATION pall');
is($pub->safe_psql('postgres', 'INSERT INTO mem VALUES (5); INSERT INTO ms.m2 VALUES (5); UPDATE ms.m2 SET a = 6;
	SELECT count(*) FROM ms.m2 WHERE a = 6'),
	'2', 'changes not published are allowed (pschema publishes only DELETE)');
my ($ret_p, $out_p, $err_p) = $pub->psql('postgres', 'UPDATE pm_parent SET a = 7');
like($err_p, qr/cannot change aegis table "pm_part"/, 'a memory partition of a published parent is refused');
$pub->safe_psql('postgres', 'DROP PUBLICATION pschema; DROP PUBLICATION pparent; DROP TABLE pm_parent');

$sub->safe_psql('postgres', 'CREATE EXTENSION aegis_storage;' . $ddl);
my $connstr = $pub->connstr . ' dbname=postgres';
$sub->safe_psql('postgres', "CREATE SUBSCRIPTION s CONNECTION '$connstr' PUBLICATION p");
$sub->wait_for_subscription_sync($pub, 's');

my $q = q{SELECT (SELECT count(*) || ':' || md5(string_agg(id || ',' || grp || ',' || v || ',' || coalesce(md5(big), '-'), ';' ORDER BY id)) FROM r)
	|| ' ' || (SELECT count(*) || ':' || md5(string_agg(a || ',' || b, ';' ORDER BY a, b)) FROM rf)};
is($sub->safe_psql('postgres', $q), $pub->safe_psql('postgres', $q),
	'the initial copy has the publisher rows');

# DML from two sessions while the subscription applies
my $bg = $pub->background_psql('postgres');
$bg->query_safe(q{
	BEGIN;
	UPDATE r SET v = 'bg ' || id WHERE id > 15000 AND id % 5 = 0;
	INSERT INTO r SELECT g, 99, 'bg insert', NULL FROM generate_series(20001, 25000) g;});
$pub->safe_psql('postgres', q{
	UPDATE r SET grp = grp + 100 WHERE id <= 15000 AND id % 7 = 0;
	UPDATE r SET id = id + 100000 WHERE id <= 15000 AND id % 1000 = 1;
	DELETE FROM r WHERE id <= 15000 AND id % 11 = 0;
	UPDATE r SET big = repeat(md5(id::text), 200) WHERE id <= 15000 AND id % 500 = 0;
	INSERT INTO r VALUES (3, 0, 'upserted', NULL) ON CONFLICT (id) DO UPDATE SET v = excluded.v;
	UPDATE rf SET b = 'changed' WHERE a % 3 = 0;
	DELETE FROM rf WHERE a % 4 = 0;});
$bg->query_safe('COMMIT');
$bg->quit;
$pub->wait_for_catchup('s');
is($sub->safe_psql('postgres', $q), $pub->safe_psql('postgres', $q),
	'the subscriber has the publisher rows after concurrent DML');

# a crash of the publisher: replication goes on from the slot
$pub->stop('immediate');
$pub->start;
$pub->safe_psql('postgres', q{
	INSERT INTO r SELECT g, 7, 'after crash', NULL FROM generate_series(30001, 31000) g;
	DELETE FROM r WHERE grp = 99 AND id % 2 = 0;
	TRUNCATE rf;
	INSERT INTO rf VALUES (1, 'after truncate');});
$pub->wait_for_catchup('s');
is($sub->safe_psql('postgres', $q), $pub->safe_psql('postgres', $q),
	'the subscriber has the publisher rows after a publisher crash');
my $n = $sub->safe_psql('postgres', "SELECT count(*) FROM r WHERE v = 'after crash'");
is($n, '1000', 'rows written after the crash arrived');

$sub->stop;
$pub->stop;
done_testing();
