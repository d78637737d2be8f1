# Runs inside the image at build time (see images/README.md).
set -eu
lib=/usr/lib/isobox
mkdir -p "$lib"

# Nim: translating the standard library to C and compiling that C takes
# 10-20 s under gVisor. Keep the C and object files of a program that uses
# the common modules; isobox-nim copies them to /tmp/nimcache (mtimes kept,
# so nim sees the objects as up to date) and only what differs is rebuilt.
# Built in /box like the sandbox does, since nimcache file names encode the
# path from the project to the library.
mkdir -p /box
cd /box
cat >main.nim <<'NIM'
import std/[algorithm, math, os, sequtils, sets, strformat, strutils, tables]
var words = commandLineParams()
words.sort()
let counts = words.toCountTable()
var seen = initHashSet[string]()
for w in words: seen.incl(w.toUpperAscii)
let line = stdin.readAll()
echo fmt"{words.len} {counts.len} {seen.len} {sqrt(2.0):.3f} {line.splitLines().mapIt(it.len).sum}"
if words.len > 3: quit(1)
NIM
nim c --hints:off --nimcache:$lib/nimcache -o:/tmp/warm main.nim
test "$(echo x | /tmp/warm a b)" = "2 2 2 1.414 1"
rm -f main.nim /tmp/warm

cat >/usr/local/bin/isobox-nim <<SH
#!/bin/sh
# isobox-nim ENTRY OUT - compile the Nim program ENTRY (modules it imports
# are found next to it) into OUT, starting from the nimcache made at image
# build time; diagnostics go to stderr.
exec 1>&2
cp -Rp $lib/nimcache /tmp/nimcache || exit
exec nim c --hints:off --nimcache:/tmp/nimcache -o:"\$2" "\$1"
SH
chmod 0755 /usr/local/bin/isobox-nim
# GCC's LTO dump tool (32 MB) is for debugging GCC itself.
rm -f /usr/bin/x86_64-linux-gnu-lto-dump-*
rm -rf /root/.cache
