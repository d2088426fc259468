# aegis.cold_compression_level: a page VACUUM found all-visible is
# compressed at that level when it is written back, if it is higher than
# the table's (src/backend/backend_dir.c, AegisCodecColdLevel).  Two copies
# of the same zstd table (and of an lz4 one), loaded and checkpointed alike,
# are vacuumed and checkpointed once with the setting at 0 (the table's own
# level) and once at 9: the second copy is stored in fewer bytes.  Every
# copy reads back the rows it was given after a restart, after a crash
# before the checkpoint that would have written the cold pages, and after
# changes to cold pages (written back at the table's level again).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('cold_level');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'aegis_storage'
aegis.buffer_pool_size = 64MB
aegis.cold_compression_level = 0
autovacuum = off
});
$node->start;
$node->safe_psql('postgres', "CREATE EXTENSION aegis_storage");

# ten words per row from a vocabulary of 1500, and two numbers
$node->safe_psql('postgres', q{
	CREATE TABLE src (id int, grp int, words text);
	INSERT INTO src
	SELECT g, g % 100,
		(SELECT string_agg(substr(md5('w' || ((g * 7919 + k * 104729 + (g * k) % 997) % 1500)),
							1, 5 + k % 4), ' ')
		 FROM generate_series(1, 10) k)
	FROM generate_series(1, 120000) g;
});
for my $t ('z_off', 'z_on')
{
	$node->safe_psql('postgres',
		"CREATE TABLE $t (LIKE src) USING aegis WITH (compression = 'zstd'); INSERT INTO $t SELECT * FROM src");
}
for my $t ('l_off', 'l_on')
{
	$node->safe_psql('postgres',
		"CREATE TABLE $t (LIKE src) USING aegis WITH (compression = 'lz4'); INSERT INTO $t SELECT * FROM src");
}
$node->safe_psql('postgres', 'CHECKPOINT');

sub stored
{
	my ($t) = @_;
	return $node->safe_psql('postgres', "SELECT stored_bytes FROM aegis_table_stats('$t')");
}

sub same_rows
{
	my ($t) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT (SELECT count(*) FROM (SELECT * FROM src EXCEPT ALL SELECT * FROM $t) a) +
			   (SELECT count(*) FROM (SELECT * FROM $t EXCEPT ALL SELECT * FROM src) b)});
}

my %loaded = map { $_ => stored($_) } qw(z_off z_on l_off l_on);
cmp_ok(abs($loaded{z_on} - $loaded{z_off}), '<', $loaded{z_off} / 50,
	'the two zstd copies take the same room after the load');

# at the table's own level
$node->safe_psql('postgres', 'VACUUM z_off; VACUUM l_off; SELECT aegis_checkpoint()');
# at level 9
$node->append_conf('postgresql.conf', 'aegis.cold_compression_level = 9');
$node->restart;
$node->safe_psql('postgres', 'VACUUM z_on; VACUUM l_on; SELECT aegis_checkpoint()');
my %vacuumed = map { $_ => stored($_) } qw(z_off z_on l_off l_on);
note(join(', ', map { "$_: $loaded{$_} -> $vacuumed{$_}" } sort keys %loaded));
cmp_ok($vacuumed{z_on}, '<', $vacuumed{z_off} * 0.97,
	'zstd: all-visible pages written at level 9 take at least 3% less room than at the table level');
cmp_ok($vacuumed{l_on}, '<', $vacuumed{l_off} * 0.95,
	'lz4: all-visible pages written with HC at level 9 take at least 5% less room');
is($node->safe_psql('postgres', "SELECT compression_level FROM aegis_table_stats('z_on')"),
	'0', 'the table keeps its own level');

$node->restart;
is(same_rows($_), '0', "$_ reads back its rows after a restart") for qw(z_off z_on l_off l_on);

# a crash after VACUUM, before a checkpoint writes the all-visible pages:
# recovery replays the visibility records and writes the pages itself
$node->safe_psql('postgres', q{
	CREATE TABLE z_crash (LIKE src) USING aegis WITH (compression = 'zstd');
	INSERT INTO z_crash SELECT * FROM src;
	CHECKPOINT;
	VACUUM z_crash;
});
$node->stop('immediate');
$node->start;
is(same_rows('z_crash'), '0', 'a table vacuumed just before a crash reads back its rows');
$node->restart;
is(same_rows('z_crash'), '0', 'and again after a restart');

# a change takes a page out of the cold level (written at the table's
# again): blocks of both levels in one table
$node->safe_psql('postgres', q{
	UPDATE z_on SET grp = grp + 1000 WHERE id % 10 = 0;
	UPDATE src SET grp = grp + 1000 WHERE id % 10 = 0;
	CHECKPOINT;
});
$node->restart;
is(same_rows('z_on'), '0', 'pages changed after VACUUM read back their rows');

$node->stop;
done_testing();
