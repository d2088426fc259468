# Row locks under contention: 16 pgbench clients on 3 parent rows mix
# non-key updates (logged in a side table in the same transaction), child
# inserts whose foreign-key checks take FOR KEY SHARE on the parent, FOR NO
# KEY UPDATE followed by an update, and updates that roll back.  Updates of
# the parent keep moving its rows to new pages, where the old version is
# briefly held by a lock-only MultiXact.  Afterwards no update was lost and
# no row version duplicated: each parent id has one row, whose counter
# equals its committed increments, and index and sequential scans agree.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $node = PostgreSQL::Test::Cluster->new('row_lock_stress');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'aegis_storage'
max_connections = 40
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION aegis_storage;
	CREATE TABLE parent (id int PRIMARY KEY, n bigint NOT NULL) USING aegis;
	INSERT INTO parent SELECT g, 0 FROM generate_series(1, 3) g;
	CREATE TABLE child (id bigserial PRIMARY KEY, pid int NOT NULL REFERENCES parent) USING aegis;
	CREATE TABLE incr (pid int NOT NULL) USING aegis;
});

my $script = PostgreSQL::Test::Utils::tempdir() . '/locks.sql';
PostgreSQL::Test::Utils::append_to_file($script, q{
\set p random(1, 3)
\set r random(1, 4)
\if :r = 1
BEGIN;
UPDATE parent SET n = n + 1 WHERE id = :p;
INSERT INTO incr VALUES (:p);
COMMIT;
\elif :r = 2
INSERT INTO child (pid) VALUES (:p);
\elif :r = 3
BEGIN;
SELECT n FROM parent WHERE id = :p FOR NO KEY UPDATE;
UPDATE parent SET n = n + 1 WHERE id = :p;
INSERT INTO incr VALUES (:p);
COMMIT;
\else
BEGIN;
UPDATE parent SET n = n + 1 WHERE id = :p;
ROLLBACK;
\endif
});

my ($out, $err);
my $ok = IPC::Run::run(
	[ 'pgbench', '-n', '-c', '16', '-j', '2', '-T', '10', '-f', $script,
	  $node->connstr('postgres') ],
	'>', \$out, '2>', \$err);
ok($ok, 'pgbench ran without a client error') or diag($err);
like($out, qr/number of failed transactions: 0 /, 'no failed transactions');
my ($tx) = $out =~ /number of transactions actually processed: (\d+)/;
cmp_ok($tx, '>', 1000, "enough transactions ($tx)");

is($node->safe_psql('postgres', 'SELECT count(*), count(DISTINCT id) FROM parent'),
	'3|3', 'one row per parent id: no version left live twice');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM parent p
	WHERE p.n <> (SELECT count(*) FROM incr i WHERE i.pid = p.id)}),
	'0', 'every parent counter equals its committed increments');
cmp_ok($node->safe_psql('postgres', 'SELECT sum(n) FROM parent'), '>', 0, 'increments committed');
is($node->safe_psql('postgres',
	'SELECT count(*) FROM child c WHERE NOT EXISTS (SELECT FROM parent p WHERE p.id = c.pid)'),
	'0', 'every child has its parent');
my $idx = 'SET enable_seqscan = off; SET enable_bitmapscan = off; SELECT id, n FROM parent WHERE id > 0 ORDER BY id';
my $seq = 'SET enable_indexscan = off; SET enable_bitmapscan = off; SELECT id, n FROM parent WHERE id > 0 ORDER BY id';
is($node->safe_psql('postgres', $idx), $node->safe_psql('postgres', $seq),
	'index scan agrees with sequential scan');

$node->stop;
done_testing();
