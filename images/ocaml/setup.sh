# Runs inside the image at build time (see images/README.md).
set -eu
# Only the native-code tools run here (ocamlopt -> ocamlopt.opt): drop the
# bytecode twins of the .opt programs, the debugger and dumper, and
# compiler-libs (the compiler as a library, for ppx and editor tooling):
# about 290 MB of the image.
for f in /usr/bin/*.byte; do
	[ -e "${f%.byte}.opt" ] && rm -f "$f"
done
rm -f /usr/bin/ocamldebug /usr/bin/ocamldumpobj /usr/bin/x86_64-linux-gnu-lto-dump-*
rm -rf /usr/lib/ocaml/compiler-libs
find /usr/lib/ocaml -name '*.cmt' -o -name '*.cmti' | xargs rm -f
# The compiler still works.
cd /tmp && printf 'let () = print_string (Str.global_replace (Str.regexp "o") "0" "ok")\n' >t.ml
ocamlopt -o t str.cmxa t.ml && test "$(./t)" = "0k"
rm -f t t.*
