# Helpers shared by the crash and corruption tests (test/t/*.pl).
package AegisCrash;
use strict;
use warnings;
use Exporter 'import';
our @EXPORT = qw(kill9_and_restart flip_byte aegis_db_dir aegis_files
  aegis_physical_offset aegis_read_logical aegis_write_logical
  flip_logical_byte aegis_map_entry);

# Aegis files of a local-backend table live in the PostgreSQL database
# directory of its tablespace (base/<dboid>, or
# pg_tblspc/<spcoid>/PG_15_<catversion>/<dboid>): generation G of its data
# is aegis_<dboid>_<spc>_<relfilenode>.G, its block map
# aegis_<dboid>_<spc>_<relfilenode>_map (spc 0: the database's default
# tablespace).  Both are sequences of 8192-byte chunks, each 16 zero bytes
# and then 8176 bytes of payload; the logical bytes (map header and
# entries, blocks; the offsets a map holds) are the payloads in a row.
use constant AEGIS_CHUNK => 8192;
use constant AEGIS_CHUNK_HEAD => 16;
use constant AEGIS_CHUNK_PAYLOAD => 8176;

# SIGKILL the postmaster of $node and start it again once the old server's
# children have noticed and exited (until then a start fails: their shared
# memory is still attached).  Dies if the server does not come back.
sub kill9_and_restart
{
	my ($node) = @_;
	$node->kill9;
	for (1 .. 50)
	{
		return 1 if $node->start(fail_ok => 1);
		$node->{_pid} = undef;	# a failed start may have read the old pid file
		sleep(1);
	}
	die "could not restart node " . $node->name;
}

# Invert every bit of the byte at offset $pos of $file (the server stopped).
sub flip_byte
{
	my ($file, $pos) = @_;
	my $byte;

	open(my $fh, '+<', $file) or die "open $file: $!";
	binmode $fh;
	seek($fh, $pos, 0);
	read($fh, $byte, 1);
	seek($fh, $pos, 0);
	print $fh chr(ord($byte) ^ 0xff);
	close($fh);
	return;
}

# Directory of database $dboid in tablespace $spcoid (an OID; 0, undef or
# 1663 = pg_default) of $node: base/<dboid> or
# pg_tblspc/<spcoid>/PG_15_*/<dboid> (whether it exists or not).
sub aegis_db_dir
{
	my ($node, $dboid, $spcoid) = @_;
	my $datadir = $node->data_dir;

	return "$datadir/base/$dboid" if !$spcoid || $spcoid == 1663;
	my @v = glob("$datadir/pg_tblspc/$spcoid/PG_15_*");
	die "no version directory in tablespace $spcoid" unless @v == 1;
	return "$v[0]/$dboid";
}

# ($dir, $name) of the aegis files of table $table (any name ::regclass
# takes) of database $dbname: data generation G is "$dir/$name.G", the
# block map "$dir/${name}_map".  In scalar context "$dir/$name".
sub aegis_files
{
	my ($node, $dbname, $table) = @_;
	my $row = $node->safe_psql($dbname, qq{
		SELECT d.oid, d.dattablespace, c.reltablespace, c.relfilenode
		FROM pg_class c, pg_database d
		WHERE c.oid = '$table'::regclass AND d.datname = current_database()});
	my ($dboid, $dattbs, $reltbs, $rfn) = split /\|/, $row;
	die "no table $table in $dbname" unless defined $rfn;
	my $dir = aegis_db_dir($node, $dboid, $reltbs ? $reltbs : $dattbs);
	my $name = "aegis_${dboid}_${reltbs}_${rfn}";
	return wantarray ? ($dir, $name) : "$dir/$name";
}

# Physical offset of logical offset $pos of an aegis file.
sub aegis_physical_offset
{
	my ($pos) = @_;
	return int($pos / AEGIS_CHUNK_PAYLOAD) * AEGIS_CHUNK + AEGIS_CHUNK_HEAD
	  + $pos % AEGIS_CHUNK_PAYLOAD;
}

# The logical bytes of the aegis file $path: the payload of every chunk
# (the padding of the last chunk included).
sub aegis_read_logical
{
	my ($path) = @_;
	open(my $fh, '<', $path) or die "open $path: $!";
	binmode $fh;
	my $raw = do { local $/; <$fh> } // '';
	close($fh);
	my $out = '';
	for (my $off = 0; $off + AEGIS_CHUNK_HEAD < length($raw); $off += AEGIS_CHUNK)
	{
		$out .= substr($raw, $off + AEGIS_CHUNK_HEAD, AEGIS_CHUNK_PAYLOAD);
	}
	return $out;
}

# Write $bytes to $path as an aegis file: chunks of 16 zero bytes and 8176
# bytes of payload, the last one padded with zeros to 8192 bytes.
sub aegis_write_logical
{
	my ($path, $bytes) = @_;
	my $raw = '';
	for (my $off = 0; $off < length($bytes); $off += AEGIS_CHUNK_PAYLOAD)
	{
		my $chunk = ("\0" x AEGIS_CHUNK_HEAD) . substr($bytes, $off, AEGIS_CHUNK_PAYLOAD);
		$raw .= $chunk . ("\0" x (AEGIS_CHUNK - length($chunk)));
	}
	open(my $fh, '>', $path) or die "open $path: $!";
	binmode $fh;
	print $fh $raw or die "write $path: $!";
	close($fh) or die "close $path: $!";
	return;
}

# flip_byte at logical offset $pos of the aegis file $file.
sub flip_logical_byte
{
	my ($file, $pos) = @_;
	flip_byte($file, aegis_physical_offset($pos));
	return;
}

# (logical offset, length, generation) of the block of page $page in the
# block map $mapfile (an 88-byte header, then one 16-byte entry per page:
# offset u64, length u32, generation u32, little-endian).
sub aegis_map_entry
{
	my ($mapfile, $page) = @_;
	my $map = aegis_read_logical($mapfile);
	my ($off_lo, $off_hi, $len, $gen) = unpack('x' . (88 + 16 * $page) . ' V V V V', $map);
	return ($off_lo + $off_hi * 4294967296, $len, $gen);
}

1;
