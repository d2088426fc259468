# pg_dump and pg_restore keep aegis tables whole: rows, indexes, and the
# storage_backend, compression and compression_level their CREATE or ALTER
# TABLE named (recorded in pg_class.reloptions), whatever the restoring
# session's aegis.* defaults are; an option never named follows the
# restoring session's default, as heap's options do.  Custom format through
# pg_restore, and plain SQL through psql.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('dump');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'aegis_storage'
aegis.buffer_pool_size = 16MB
aegis.memory_backend_size = 64MB
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION aegis_storage;
	CREATE TABLE z7 (id int PRIMARY KEY, v text) USING aegis
		WITH (compression = 'zstd', compression_level = 7, fillfactor = 80);
	INSERT INTO z7 SELECT g, md5(g::text) FROM generate_series(1, 20000) g;
	CREATE INDEX z7_v ON z7 (v);
	CREATE TABLE mem (id int, v text) USING aegis WITH (storage_backend = 'memory', compression = 'none');
	INSERT INTO mem SELECT g, 'm' || g FROM generate_series(1, 3000) g;
	CREATE TABLE lz (id int, v text) USING aegis;
	INSERT INTO lz SELECT g, repeat('x', g % 50) FROM generate_series(1, 5000) g;
	ALTER TABLE lz SET (compression = 'lz4', compression_level = 9);
	CREATE TABLE parted (a int, b text) PARTITION BY RANGE (a);
	CREATE TABLE parted_1 PARTITION OF parted FOR VALUES FROM (0) TO (1000)
		USING aegis WITH (compression = 'zstd', compression_level = 1);
	INSERT INTO parted SELECT g, 'p' || g FROM generate_series(0, 999) g;
	CREATE MATERIALIZED VIEW mv USING aegis WITH (compression = 'none')
		AS SELECT id, v FROM z7 WHERE id % 10 = 0;
	SET aegis.default_compression = 'zstd';
	CREATE TABLE dflt (id int) USING aegis;
	RESET aegis.default_compression;
	INSERT INTO dflt SELECT generate_series(1, 100);
	CREATE TABLE h (id int, v text);
	INSERT INTO h SELECT g, 'h' || g FROM generate_series(1, 1000) g;
});

my @tables = qw(z7 mem lz parted_1 mv);
my $state = q{
	SELECT string_agg(format('%s %s/%s/%s %s', t, s.storage_backend, s.compression,
		s.compression_level, c.reloptions), E'\n' ORDER BY t)
	FROM unnest(ARRAY['z7', 'mem', 'lz', 'parted_1', 'mv']) t
	JOIN pg_class c ON c.relname = t, aegis_table_stats(c.oid) s};
my $rows = q{
	SELECT (SELECT md5(string_agg(id || v, ',' ORDER BY id)) FROM z7),
		(SELECT md5(string_agg(id || v, ',' ORDER BY id)) FROM mem),
		(SELECT md5(string_agg(id || v, ',' ORDER BY id)) FROM lz),
		(SELECT md5(string_agg(a || b, ',' ORDER BY a)) FROM parted),
		(SELECT md5(string_agg(id || v, ',' ORDER BY id)) FROM mv),
		(SELECT count(*) FROM h)};
my $by_index = q{SET enable_seqscan = off; SET enable_bitmapscan = off;
	SELECT id FROM z7 WHERE v = md5('4321')};
my $state0 = $node->safe_psql('postgres', $state);
my $rows0 = $node->safe_psql('postgres', $rows);
like($state0, qr/^z7 local\/zstd\/7 \{fillfactor=80,compression=zstd,compression_level=7\}$/m,
	'the options named are in pg_class.reloptions before the dump');
my $dflt = q{SELECT s.compression || ' ' || coalesce(c.reloptions::text, '-') FROM pg_class c, aegis_table_stats(c.oid) s WHERE c.relname = 'dflt'};
is($node->safe_psql('postgres', $dflt), 'zstd -', 'a table made under another default records no option');

my $tmp = PostgreSQL::Test::Utils::tempdir;
my $connstr = $node->connstr('postgres');

# custom format, restored by pg_restore with other defaults in the session
$node->command_ok([ 'pg_dump', '-Fc', '-f', "$tmp/db.dump", '-d', $connstr ], 'pg_dump -Fc');
$node->safe_psql('postgres', 'CREATE DATABASE r1');
{
	local $ENV{PGOPTIONS} = '-c aegis.default_compression=none -c aegis.compression_level=1';
	$node->command_ok([ 'pg_restore', '-d', $node->connstr('r1'), "$tmp/db.dump" ], 'pg_restore');
}
is($node->safe_psql('r1', $state), $state0, 'pg_restore: every table has its backend, codec and level');
is($node->safe_psql('r1', $rows), $rows0, 'pg_restore: every row');
is($node->safe_psql('r1', $by_index), '4321', 'pg_restore: indexes find the rows');
is($node->safe_psql('r1', $dflt), 'none -', 'pg_restore: options never named follow the restoring session\'s defaults');

# plain SQL through psql
$node->command_ok([ 'pg_dump', '-f', "$tmp/db.sql", '-d', $connstr ], 'pg_dump plain');
my $sql = slurp_file("$tmp/db.sql");
like($sql, qr/CREATE TABLE public\.z7 .*WITH \(fillfactor='80', compression=zstd, compression_level='7'\)/s,
	'the plain dump names the options');
$node->safe_psql('postgres', 'CREATE DATABASE r2');
$node->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', "$tmp/db.sql", '-d', $node->connstr('r2') ],
	'the plain dump restores through psql');
is($node->safe_psql('r2', $state), $state0, 'plain restore: every table has its backend, codec and level');
is($node->safe_psql('r2', $rows), $rows0, 'plain restore: every row');

# the restored tables are ordinary aegis tables: their options still change
$node->safe_psql('r2', q{ALTER TABLE z7 SET (compression = 'lz4')});
is($node->safe_psql('r2', q{SELECT compression FROM aegis_table_stats('z7')}), 'lz4', 'ALTER TABLE SET after restore');
is($node->safe_psql('r2', $rows), $rows0, 'rows unchanged by it');

$node->stop;
done_testing();
