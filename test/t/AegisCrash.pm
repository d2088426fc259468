# Helpers shared by the crash and corruption tests (test/t/*.pl).
package AegisCrash;
use strict;
use warnings;
use Exporter 'import';
our @EXPORT = qw(kill9_and_restart flip_byte);

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

1;
