# The background grouping of all-visible pages (src/backend/backend_dir.c,
# AegisStorageRegroup) works from a copy of a relation's block map; a
# relation dropped, rewritten or truncated meanwhile may have lost the data
# file that copy names.  A probe saw the checkpointer then log "WARNING:
# aegis could not group the all-visible pages of relation ...: could not
# open aegis data file" a second after ALTER TABLE ... TYPE and after DROP
# DATABASE, for tables that were simply gone.  With the grouping held
# after its copy (aegis.debug_regroup_delay), each of those changes runs;
# the grouping must then pass over the relation without a WARNING, and
# the tables that remain keep their rows.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('regroup_drop');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'aegis_storage'
aegis.buffer_pool_size = 64MB
aegis.compression_dictionaries = off
autovacuum = off
});
$node->start;
$node->safe_psql('postgres', "CREATE EXTENSION aegis_storage");
$node->safe_psql('postgres', "CREATE DATABASE other");
$node->safe_psql('other', "CREATE EXTENSION aegis_storage");

# a table whose pages VACUUM makes all-visible: the grouping after the next
# checkpoint has them to do
sub make_table
{
	my ($db, $t) = @_;
	$node->safe_psql($db, qq{
		DROP TABLE IF EXISTS $t;
		CREATE TABLE $t (id int, v text) USING aegis WITH (compression = 'lz4');
		INSERT INTO $t SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, 40000) g;
		VACUUM $t;
	});
}

# Hold the grouping for 'ms' after its map copy; CHECKPOINT starts it (in
# the aegis checkpointer, after the run), 'change' runs while it waits.
sub race
{
	my ($name, $db, $change, $ms) = @_;
	my $offset = -s $node->logfile;
	$node->append_conf('postgresql.conf', "aegis.debug_regroup_delay = $ms");
	$node->reload;
	$node->safe_psql('postgres', 'CHECKPOINT');
	usleep(300_000);    # the grouping has copied the first relation's map
	$node->safe_psql($db, $change);
	# the grouping goes on after the delay; wait for it to be done
	usleep(($ms + 1500) * 1000);
	$node->append_conf('postgresql.conf', "aegis.debug_regroup_delay = 0");
	$node->reload;
	$node->safe_psql('postgres', 'SELECT aegis_checkpoint()');
	my $log = slurp_file($node->logfile, $offset);
	unlike($log, qr/could not group the all-visible pages/,
		"$name: the grouping passes over the relation without a WARNING");
	unlike($log, qr/PANIC|TRAP|terminated by signal/, "$name: no crash");
}

# DROP TABLE: the only relation due
make_table('postgres', 'd1');
race('DROP TABLE', 'postgres', 'DROP TABLE d1', 2000);

# ALTER TABLE ... TYPE rewrites the table into new storage and drops the old
make_table('postgres', 'r1');
race('ALTER TABLE ... TYPE', 'postgres', 'ALTER TABLE r1 ALTER COLUMN id TYPE bigint', 2000);
is($node->safe_psql('postgres', 'SELECT count(*), sum(id) FROM r1'), '40000|800020000',
	'the rewritten table keeps its rows');

# TRUNCATE (not created in this transaction: new storage, the old dropped)
make_table('postgres', 't1');
race('TRUNCATE', 'postgres', 'TRUNCATE t1', 2000);
is($node->safe_psql('postgres', 'SELECT count(*) FROM t1'), '0', 'the truncated table is empty');

# DROP DATABASE: its relations' storage goes with it
make_table('other', 'o1');
race('DROP DATABASE', 'postgres', 'DROP DATABASE other', 2000);

# a table nobody touched is still grouped and readable after a restart
make_table('postgres', 'k1');
$node->safe_psql('postgres', 'SELECT aegis_checkpoint()');
$node->restart;
is($node->safe_psql('postgres', 'SELECT count(*), sum(id) FROM k1'), '40000|800020000',
	'an untouched table reads back after the grouping and a restart');

$node->stop;
done_testing();
