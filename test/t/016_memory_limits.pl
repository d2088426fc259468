# A full memory backend fails only the statements that need more of it:
# dirty memory-backend pages never pin the shared buffer pool (each holds a
# reservation that its write-back uses up), so every other session keeps
# working on local tables and can still read, delete from, vacuum and
# truncate memory tables.  Creating memory-backend tables needs superuser or
# membership in aegis.memory_backend_role.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('memory_limits');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'aegis_storage'
aegis.buffer_pool_size = 4MB
aegis.memory_backend_size = 8MB
autovacuum = off
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION aegis_storage;
	CREATE TABLE mem (id int, p text) USING aegis
		WITH (storage_backend = 'memory', compression = 'lz4');
	CREATE TABLE loc (id int, p text) USING aegis;
});

# fill the memory backend from one session until it says it is full
my $full_re = qr/aegis memory storage is full/;
my ($committed, $err_full) = (0, undef);
for my $i (0 .. 40)
{
	my ($ret, $out, $err) = $node->psql('postgres',
		"INSERT INTO mem SELECT $i * 20000 + g, md5(g::text) || md5((g + $i)::text) FROM generate_series(1, 20000) g");
	if ($ret != 0) { $err_full = $err; last; }
	$committed += 20000;
}
like($err_full // '', $full_re, 'inserting into a memory table ends with "memory storage is full"');
like($err_full // '', qr/HINT:  Delete from, truncate or drop memory-backend tables/, '... with a hint');

# every other session keeps working: local tables need the pool's frames,
# which the memory table's dirty pages must not hold hostage
my ($ret, $out, $err) = $node->psql('postgres', q{
	INSERT INTO loc SELECT g, md5(g::text) FROM generate_series(1, 200000) g;
	SELECT count(*) FROM loc;
	UPDATE loc SET p = 'u' WHERE id % 10 = 0;
	SELECT count(*) FROM loc WHERE p = 'u';});
is($ret, 0, 'a local table larger than the pool is written and read meanwhile');
is($out, "200000\n20000", '... with every row') or diag($err);
is($node->safe_psql('postgres', 'SELECT count(*) FROM mem'), $committed,
	'the memory table reads back every committed row');
($ret, $out, $err) = $node->psql('postgres', 'INSERT INTO mem VALUES (-1, \'x\')');
like($err, $full_re, 'a further insert into the memory table still fails');

# a full memory backend can still be emptied: DELETE and VACUUM free room
($ret, $out, $err) = $node->psql('postgres', 'DELETE FROM mem WHERE id % 2 = 0; VACUUM mem');
is($ret, 0, 'DELETE and VACUUM work on a full memory backend') or diag($err);
($ret, $out, $err) = $node->psql('postgres',
	"INSERT INTO mem SELECT -g, 'after delete' FROM generate_series(1, 5000) g");
is($ret, 0, '... and make room for new rows') or diag($err);
$node->safe_psql('postgres', 'TRUNCATE mem');
is($node->safe_psql('postgres',
	"INSERT INTO mem SELECT g, md5(g::text) FROM generate_series(1, 30000) g; SELECT count(*) FROM mem"),
	'30000', 'after TRUNCATE the whole budget is free again');

# who may create memory-backend tables
$node->safe_psql('postgres', q{
	CREATE ROLE regress_plain LOGIN;
	CREATE ROLE regress_memusers;
	GRANT CREATE ON SCHEMA public TO regress_plain;});
my $denied = qr/permission denied to create a memory-backend aegis table/;
for my $sql (
	"CREATE TABLE m1 (a int) USING aegis WITH (storage_backend = 'memory')",
	"CREATE TEMP TABLE m2 (a int) USING aegis WITH (storage_backend = 'memory')",
	"SET aegis.default_backend = 'memory'; CREATE TABLE m3 USING aegis AS SELECT 1 AS a")
{
	($ret, $out, $err) = $node->psql('postgres', $sql, extra_params => [ '-U', 'regress_plain' ]);
	like($err, $denied, "refused to a plain role: $sql");
}
is($node->safe_psql('postgres', 'CREATE TABLE m4 (a int) USING aegis', extra_params => [ '-U', 'regress_plain' ]),
	'', 'a plain role still creates local aegis tables');
$node->safe_psql('postgres', q{
	ALTER SYSTEM SET aegis.memory_backend_role = 'regress_memusers';
	SELECT pg_reload_conf();
	GRANT regress_memusers TO regress_plain;});
$node->poll_query_until('postgres', "SELECT current_setting('aegis.memory_backend_role') = 'regress_memusers'");
($ret, $out, $err) = $node->psql('postgres',
	"CREATE TABLE m5 (a int) USING aegis WITH (storage_backend = 'memory'); INSERT INTO m5 VALUES (1); SELECT * FROM m5",
	extra_params => [ '-U', 'regress_plain' ]);
is($out, '1', 'a member of aegis.memory_backend_role may') or diag($err);

$node->stop;
done_testing();
