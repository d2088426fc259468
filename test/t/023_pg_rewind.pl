# pg_rewind brings back a diverged old primary with its aegis tables, as
# with heap: the aegis files are not relation files to pg_rewind, so it
# copies them whole from the source; the rewound server starts from a
# backup label, rebuilds its block maps from the data files and replays
# the source's WAL.  Afterwards it has the source's rows in aegis and heap
# tables alike, as a standby and after its promotion.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $a = PostgreSQL::Test::Cluster->new('rw_a');
$a->init(allows_streaming => 1);
$a->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'aegis_storage'
aegis.buffer_pool_size = 8MB
wal_log_hints = on
autovacuum = off
wal_keep_size = 256MB
});
$a->start;
$a->safe_psql('postgres', q{
	CREATE EXTENSION aegis_storage;
	CREATE TABLE ta (id int PRIMARY KEY, v text) USING aegis;
	CREATE TABLE th (id int PRIMARY KEY, v text) USING heap;
	INSERT INTO ta SELECT g, md5(g::text) FROM generate_series(1, 20000) g;
	INSERT INTO th SELECT g, md5(g::text) FROM generate_series(1, 20000) g;
});
$a->backup('b');
my $b = PostgreSQL::Test::Cluster->new('rw_b');
$b->init_from_backup($a, 'b', has_streaming => 1);
$b->start;
$a->safe_psql('postgres', 'INSERT INTO ta VALUES (0, $$shared$$); INSERT INTO th VALUES (0, $$shared$$)');
$a->wait_for_catchup($b);

# both sides change the same tables differently after the promotion
$b->promote;
$b->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()');
my $change = q{
	INSERT INTO %s SELECT g, '%s ' || g FROM generate_series(%d, %d) g;
	UPDATE %s SET v = '%s' || id WHERE id %% 7 = 0;
	DELETE FROM %s WHERE id %% 11 = 0;
};
for my $t ('ta', 'th')
{
	$a->safe_psql('postgres', sprintf($change, $t, 'a', 20001, 24000, $t, 'a', $t));
	$b->safe_psql('postgres', sprintf($change, $t, 'b', 30001, 33000, $t, 'b', $t));
}
$a->safe_psql('postgres', q{
	CREATE TABLE only_a (x int) USING aegis;
	INSERT INTO only_a SELECT generate_series(1, 1000);
	CHECKPOINT;
});
$b->safe_psql('postgres', q{
	VACUUM FULL ta;
	CREATE TABLE only_b (x int) USING aegis;
	INSERT INTO only_b SELECT generate_series(1, 500);
	CHECKPOINT;
});

my $q = q{SELECT count(*), sum(id), md5(string_agg(id || ':' || v, ',' ORDER BY id)) FROM %s};
my $want_a = $b->safe_psql('postgres', sprintf($q, 'ta'));
my $want_h = $b->safe_psql('postgres', sprintf($q, 'th'));
isnt($a->safe_psql('postgres', sprintf($q, 'ta')), $want_a, 'the old primary has diverged');

$a->stop;
command_ok(
	[
		'pg_rewind', '--target-pgdata', $a->data_dir,
		'--source-server', $b->connstr('postgres')
	],
	'pg_rewind of the old primary from the promoted standby');

# pg_rewind copied the source's configuration: this server's port again,
# and it follows the new primary
$a->append_conf('postgresql.conf', 'port = ' . $a->port);
$a->enable_streaming($b);
$a->start;
$b->safe_psql('postgres', 'INSERT INTO ta VALUES (-1, $$after$$); INSERT INTO th VALUES (-1, $$after$$)');
$want_a = $b->safe_psql('postgres', sprintf($q, 'ta'));
$want_h = $b->safe_psql('postgres', sprintf($q, 'th'));
$b->wait_for_catchup($a);
ok($a->log_contains(qr/rebuilding block maps from the data files/),
	'the rewound server rebuilt its block maps');
is($a->safe_psql('postgres', sprintf($q, 'ta')), $want_a, 'the aegis table has the source\'s rows');
is($a->safe_psql('postgres', sprintf($q, 'th')), $want_h, '... as the heap table has');
is($a->safe_psql('postgres', 'SET enable_seqscan = off; ' . sprintf($q, 'ta')), $want_a,
	'... also through its index');
is($a->safe_psql('postgres', 'SELECT count(*) FROM only_b'), '500', "the source's new table is there");
is($a->safe_psql('postgres', "SELECT count(*) FROM pg_class WHERE relname = 'only_a'"), '0',
	"the old primary's own table is gone");
my $dboid = $a->safe_psql('postgres', "SELECT oid FROM pg_database WHERE datname = 'postgres'");
sub maps
{
	my ($node) = @_;
	return join(' ', sort map { s{.*/}{}r } glob($node->data_dir . "/base/$dboid/aegis_*_map"));
}
is(maps($a), maps($b), "the same aegis storage as the source's, none of its own left");

# promoted again, it keeps them and takes writes
$b->stop;
$a->promote;
$a->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()');
$a->safe_psql('postgres', 'UPDATE ta SET v = $$promoted$$ WHERE id = 1');
$a->restart;
is($a->safe_psql('postgres', "SELECT v FROM ta WHERE id = 1"), 'promoted',
	'promoted and restarted, the rewound server keeps its aegis rows and writes');
is($a->safe_psql('postgres', sprintf($q, 'th')), $want_h, '... and its heap rows');

$a->stop;
done_testing();
