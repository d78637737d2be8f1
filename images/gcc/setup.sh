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
# Crystal: the compiler keeps the object files of every module it built
# in its cache (CRYSTAL_CACHE_DIR, one directory per entry path) and rebuilds
# only what changed. The cache of a program using the common parts of the
# standard library is made here for /box/main.cr; isobox-crystal copies it
# to /tmp/crystal under the name of the actual entry. One codegen thread
# (no fork per module) and gold.
cat >/box/main.cr <<'CR'
args = ARGV.map(&.upcase).sort
counts = Hash(String, Int32).new(0)
args.each { |a| counts[a] += 1 }
input = STDIN.gets_to_end
printf("%d %s %.3f %d\n", args.size, counts.to_a.sort.to_s, Math.sqrt(2.0), input.lines.size)
exit 1 if args.size > 3
CR
CRYSTAL_CACHE_DIR=$lib/crystal-cache crystal build --no-color --threads 1 \
	--link-flags -fuse-ld=gold -o /tmp/warm /box/main.cr
test "$(echo x | /tmp/warm b a)" = '2 [{"A", 1}, {"B", 1}] 1.414 1'
rm -f /box/main.cr /tmp/warm
test -d $lib/crystal-cache/box-main.cr
cat >/usr/local/bin/isobox-crystal <<SH
#!/bin/sh
# isobox-crystal ENTRY OUT - build the Crystal program ENTRY (require "./x"
# finds x.cr next to it) into OUT, starting from the cache made at image
# build time; diagnostics go to stderr.
exec 1>&2
d=\$(printf %s "\$PWD/\$1" | sed -e 's|^/||' -e 's|/|-|g')
mkdir -p /tmp/crystal && cp -Rp $lib/crystal-cache/box-main.cr "/tmp/crystal/\$d" || exit
CRYSTAL_CACHE_DIR=/tmp/crystal exec crystal build --no-color --threads 1 \\
	--link-flags -fuse-ld=gold -o "\$2" "\$1"
SH

# NASM: every .asm/.nasm/.s file is assembled (x86-64 ELF; files only
# %include'd should be named .inc); the objects are linked with ld, or with
# gcc (and so the C library) when one of them defines main.
cat >/usr/local/bin/isobox-nasm <<'SH'
#!/bin/sh
# isobox-nasm OUT FILE... - assemble and link; diagnostics go to stderr.
exec 1>&2
out=$1
shift
mkdir -p /tmp/nasm
i=0
for f; do
	case $f in
	*.asm|*.nasm|*.s|*.S)
		i=$((i + 1))
		nasm -f elf64 -g -o "/tmp/nasm/$i.o" "$f" || exit
		set -- "$@" "/tmp/nasm/$i.o" ;;
	esac
	shift
done
[ $# -gt 0 ] || { echo "isobox-nasm: no .asm file" >&2; exit 1; }
if nm -g --defined-only "$@" | grep -q ' T main$'; then
	exec gcc -no-pie -o "$out" "$@" -lm
fi
exec ld -o "$out" "$@"
SH

# LLVM IR: every .ll (or .bc) file through llc-14 to an object, linked by
# gcc with the C library and libm.
cat >/usr/local/bin/isobox-llc <<'SH'
#!/bin/sh
# isobox-llc OUT FILE... - compile LLVM IR and link; diagnostics to stderr.
exec 1>&2
out=$1
shift
mkdir -p /tmp/llvm
i=0
for f; do
	case $f in
	*.ll|*.bc)
		i=$((i + 1))
		llc-14 -O2 -filetype=obj -relocation-model=pic -o "/tmp/llvm/$i.o" "$f" || exit
		set -- "$@" "/tmp/llvm/$i.o" ;;
	esac
	shift
done
[ $# -gt 0 ] || { echo "isobox-llc: no .ll file" >&2; exit 1; }
exec gcc -o "$out" "$@" -lm
SH
chmod 0755 /usr/local/bin/isobox-crystal /usr/local/bin/isobox-nasm /usr/local/bin/isobox-llc
t=$(mktemp -d) && cd "$t"
printf 'global _start\nsection .text\n_start: mov rax, 60\nmov rdi, 7\nsyscall\n' >a.asm
isobox-nasm ./a.out a.asm notes.txt
s=0 && ./a.out || s=$?
test $s = 7
printf 'define i32 @main() {\n  ret i32 5\n}\n' >m.ll
isobox-llc ./b.out m.ll
s=0 && ./b.out || s=$?
test $s = 5
cd / && rm -rf "$t" /tmp/nasm /tmp/llvm

# GCC's LTO dump tool (32 MB) is for debugging GCC itself.
rm -f /usr/bin/x86_64-linux-gnu-lto-dump-*
rm -rf /root/.cache
