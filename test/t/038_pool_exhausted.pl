# A buffer pool whose every frame is pinned fails only the statement that
# needs one more, with "no unpinned aegis buffer is available" and its hint,
# as PostgreSQL's "no unpinned buffers available": the session holding the
# pins goes on, the failed statement runs once they are let go, and the I/O
# worker, whose read-ahead for that scan cannot get a frame either, drops
# its requests quietly instead of logging the error once per request.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $node = PostgreSQL::Test::Cluster->new('pool_exhausted');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'aegis_storage'
aegis.buffer_pool_size = 16
aegis.io_workers = 1
autovacuum = off
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION aegis_storage;
	CREATE TABLE a (id int PRIMARY KEY, v text) USING aegis WITH (compression = 'none');
	INSERT INTO a SELECT g, repeat(md5(g::text), 30) FROM generate_series(1, 2000) g;
	CREATE TABLE d (id int, v text) USING aegis WITH (compression = 'none');
	INSERT INTO d SELECT g, repeat(md5(g::text), 25) FROM generate_series(1, 8000) g;
	VACUUM ANALYZE a;
	VACUUM ANALYZE d;
});

# one session keeps 15 of the 16 frames pinned: index-scan cursors on
# 15 different pages of a, three rows fetched from each (an index fetch
# keeps its page pinned from the second row it reads there, as heap's
# keeps xs_cbuf), each cursor starting at the first row of its page
my @first = split /\n/, $node->safe_psql('postgres',
	q{SELECT min(id) FROM a GROUP BY (ctid::text::point)[0] ORDER BY 1 OFFSET 10 LIMIT 15});
is(scalar(@first), 15, '15 pages of a to pin');
my ($in, $out, $err) = ('', '', '');
my $h = IPC::Run::start(
	[ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres'), '-f', '-' ],
	'<', \$in, '>', \$out, '2>', \$err, IPC::Run::timeout(180));
$in .= "SET enable_seqscan = off; SET enable_bitmapscan = off; BEGIN;\n";
for my $i (0 .. 14)
{
	$in .= "DECLARE c$i CURSOR FOR SELECT id, length(v) FROM a WHERE id >= $first[$i] ORDER BY id;\n"
	  . "FETCH 3 FROM c$i;\n";
}
$in .= "SELECT 'pins held';\n";
$h->pump until $out =~ /pins held/ || $err ne '';
is($err, '', 'the cursors fetched without an error');

my $log_start = -s $node->logfile;
for my $try (1 .. 2)
{
	# an UPDATE whose new versions do not fit on their full pages keeps the
	# old version's page pinned while it needs a frame for the new one's
	my ($ret, $stdout, $stderr) = $node->psql('postgres',
		q{UPDATE d SET v = v || repeat('y', 400) WHERE id % 20 = 0});
	isnt($ret, 0, "a statement that needs one more frame fails (try $try)");
	like($stderr, qr/no unpinned aegis buffer is available/, '... saying why');
	like($stderr, qr/HINT:  Raise aegis\.buffer_pool_size\./, '... and what to do');
}
# let the worker finish what the scans queued
$node->safe_psql('postgres', 'SELECT pg_sleep(1)');
my $log = slurp_file($node->logfile, $log_start);
my $n = () = $log =~ /no unpinned aegis buffer is available/g;
is($n, 2, 'the log has the two failed statements\' errors only, none per dropped read-ahead');
unlike($log, qr/aegis io worker.*terminated|server process .* was terminated/,
	'no process died');

# the pinning session is unharmed and sees its rows; once it lets go of
# its pins the scan runs
$in .= "FETCH 2 FROM c14; COMMIT; SELECT 'done';\n";
$h->pump until $out =~ /done/;
my ($next1, $next2) = ($first[14] + 3, $first[14] + 4);
like($out, qr/\n$next1\|960\n$next2\|960\n/, 'the cursors go on where they were');
$in .= "\\q\n";
$h->finish;
is($node->safe_psql('postgres', q{
		UPDATE d SET v = v || repeat('y', 400) WHERE id % 20 = 0;
		SELECT count(*), sum(id), count(*) FILTER (WHERE length(v) = 1200) FROM d}),
	'8000|32004000|400', 'the statement runs once the pins are let go');

$node->stop;
done_testing();
