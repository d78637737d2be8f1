# Runs inside the image at build time (see images/README.md).
set -eu
# Brainfuck: Debian's interpreter (beef) writes raw bytes only to a regular
# file, which it replaces at exit (nothing streams), and re-encodes every cell
# as a character on its stdout. isobox-bf translates the program to Perl
# (perl-base is in every image) and runs it: 8-bit wrapping cells, 30000 to
# start with (the tape grows to the right), a cell at end of input is set
# to 0, output unbuffered. The arguments are ignored.
cat >/usr/local/bin/isobox-bf <<'SH'
#!/usr/bin/perl
# isobox-bf PROGRAM [ARG...] - run a brainfuck program (see above).
use strict;
no warnings;
open(my $fh, "<:raw", $ARGV[0]) or die "isobox-bf: $ARGV[0]: $!\n";
my $src = do { local $/; <$fh> };
my ($code, $depth, $line) = ("", 0, 1);
while ($src =~ /(\++|-+|>+|<+|[.,\[\]\n])/g) {
	my ($s, $n) = ($1, length $1);
	my $c = substr($s, 0, 1);
	if ($c eq "\n") { $line++ }
	elsif ($c eq "+") { $code .= "\$t[\$p] = (\$t[\$p] + $n) & 255;\n" }
	elsif ($c eq "-") { $code .= "\$t[\$p] = (\$t[\$p] - $n) & 255;\n" }
	elsif ($c eq ">") { $code .= "\$p += $n;\n" }
	elsif ($c eq "<") { $code .= "\$p -= $n; die \"isobox-bf: line $line: moved left of the first cell\\n\" if \$p < 0;\n" }
	elsif ($c eq ".") { $code .= "print chr(\$t[\$p]);\n" }
	elsif ($c eq ",") { $code .= "\$t[\$p] = defined(\$_ = getc(STDIN)) ? ord : 0;\n" }
	elsif ($c eq "[") { $depth++; $code .= "while (\$t[\$p]) {\n" }
	elsif (--$depth < 0) { die "isobox-bf: line $line: ] without [\n" }
	else { $code .= "}\n" }
}
die "isobox-bf: [ without ]\n" if $depth;
my @t = (0) x 30000;
my $p = 0;
binmode STDIN;
binmode STDOUT;
$| = 1;
eval "$code; 1" or die $@;
SH
chmod 0755 /usr/local/bin/isobox-bf
t=$(mktemp -d) && cd "$t"
printf '++++++++[>++++++++<-]>+.[-],[.,]' >t.bf
test "$(printf 'x\303\251' | isobox-bf t.bf a b)" = "Ax$(printf '\303\251')"
printf -- '-.' >u.bf
test "$(isobox-bf u.bf | od -An -tu1 | tr -d ' ')" = 255
printf '[' >bad.bf
if isobox-bf bad.bf 2>/dev/null; then exit 1; fi
cd / && rm -rf "$t"
