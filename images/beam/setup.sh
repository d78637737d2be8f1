# Runs inside the image at build time (see images/README.md).
set -eu
cat >/usr/local/bin/isobox-erl-run <<'SH'
#!/bin/sh
# isobox-erl-run ENTRY [ARG...] - call main/1 of the module compiled from
# ENTRY (in /tmp/ebin) with the arguments as a list of strings, like escript:
# standard_io in UTF-8; status 0 when main returns (or what halt/1 says);
# an uncaught exception is printed on stderr with its stack, status 1.
m=${1##*/}
m=${m%.erl}
shift
exec erl -noshell -pa /tmp/ebin -eval "
io:setopts([{encoding, unicode}]),
try '$m':main(init:get_plain_arguments()) of
    _ -> halt(0)
catch
    C:R:S ->
        io:put_chars(standard_error, erl_error:format_exception(C, R, S)),
        io:nl(standard_error),
        halt(1)
end." -extra "$@"
SH
chmod 0755 /usr/local/bin/isobox-erl-run
cat >/usr/local/bin/isobox-erlc <<'SH'
#!/bin/sh
# isobox-erlc ENTRY [FILE...] - compile the .erl files into /tmp/ebin; their
# diagnostics go to stderr. An entry without a -module attribute is an
# escript (main/1, maybe a "#!" line and a "%%!" line of emulator flags):
# it is compiled from a copy in /tmp/escript as the module named after the
# file, with main/1 exported, line numbers kept (the "#!" and "%%!" lines
# are blanked, the attributes go on line 1).
exec 1>&2
mkdir -p /tmp/ebin
e=$1
src=$e
if ! grep -q '^[[:space:]]*-[[:space:]]*module[[:space:]]*(' "$e"; then
	m=${e##*/}
	m=${m%.erl}
	mkdir -p /tmp/escript
	src=/tmp/escript/$m.erl
	sed -e '1s/^#!.*//' -e '1,3s/^%%!.*//' "$e" |
		sed -e "1s/^/-module('$m'). -export([main\/1]). /" >"$src" || exit
fi
for f; do
	case $f in
	"$e") set -- "$@" "$src" ;;
	*.erl) set -- "$@" "$f" ;;
	esac
	shift
done
exec erlc -o /tmp/ebin "$@"
SH
chmod 0755 /usr/local/bin/isobox-erlc
t=$(mktemp -d) && cd "$t"
printf -- '-module(m).\n-export([main/1]).\nmain([A]) -> io:format("~%sts~%sn", [A]), error(boom).\n' '' '' >m.erl
erlc -o /tmp/ebin m.erl 2>/dev/null || { mkdir -p /tmp/ebin && erlc -o /tmp/ebin m.erl; }
out=$(isobox-erl-run m.erl x 2>err) && exit 1
test "$out" = x
grep -q 'exception error: boom' err
rm -rf /tmp/ebin
# An escript-style entry (no -module) compiles and runs as the module of its name.
printf '#!/usr/bin/env escript\n%%%%! -smp disable\nmain(Args) -> io:format("~p~n", [Args]), halt(4).\n' >hello.erl
isobox-erlc hello.erl
out=$(isobox-erl-run hello.erl a) && exit 1
test "$out" = '["a"]'
cd / && rm -rf "$t" /tmp/ebin /tmp/escript
