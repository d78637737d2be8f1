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
t=$(mktemp -d) && cd "$t"
printf -- '-module(m).\n-export([main/1]).\nmain([A]) -> io:format("~%sts~%sn", [A]), error(boom).\n' '' '' >m.erl
erlc -o /tmp/ebin m.erl 2>/dev/null || { mkdir -p /tmp/ebin && erlc -o /tmp/ebin m.erl; }
out=$(isobox-erl-run m.erl x 2>err) && exit 1
test "$out" = x
grep -q 'exception error: boom' err
cd / && rm -rf "$t" /tmp/ebin
