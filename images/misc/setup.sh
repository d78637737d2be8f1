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

# through_fifo PAYLOAD CMD...: run CMD, a warm bootstrap waiting in the
# guest's FIFO, with stdin "in" and PAYLOAD (a printf format) written to the
# FIFO, as the guest hands it a job; prints what CMD printed, then
# "status N" if it failed. The warm checks below compare it with a cold run.
through_fifo() {
	p=$1
	shift
	mkfifo /tmp/.isobox-go
	(echo in | "$@" || echo "status $?") &
	printf "$p" >/tmp/.isobox-go
	wait
}

# Common Lisp, warm: /usr/lib/sbcl/isobox-warm.core is sbcl's own core saved
# again with one init hook (the Lisp below), which a warm sandbox's sbcl
# runs before toplevel-init reads its command line
# (registry/languages.yaml, lisp's "prestart"). The check: a program run
# cold and the same program handed to the warm core through the FIFO print
# the same, heap addresses aside.
t=$(mktemp -d) && cd "$t"
cat >warm.lisp <<'LISP'
;;;; The warm core of lisp (SBCL), saved at image build time by
;;;; images/misc/setup.sh: sbcl's own core plus one init hook.
;;;;
;;;; A warm sandbox starts
;;;;     sbcl --core /usr/bin/../lib/sbcl/isobox-warm.core --script /dev/null
;;;; The runtime maps the core and calls *init-hooks* before toplevel-init
;;;; reads the command line. The hook below touches one byte of every page
;;;; the core holds (the sandbox maps them now, not while the program
;;;; runs), then waits in the guest's FIFO (catalogue "prestartFifo") for
;;;; the run argv from the entry on (FILE ARGS..., each NUL-terminated;
;;;; job.c), and leaves behind what a cold `sbcl --script FILE ARGS' has at
;;;; that point: *posix-argv* ("sbcl" "--script" FILE ARGS...), for
;;;; toplevel-init to process as it would cold; the default core's
;;;; *core-string* and *core-pathname* (so the contrib directory is the
;;;; same); no init hook; and the gensym counter the default core starts
;;;; with. An argument that is not in the locale's encoding (a cold start
;;;; warns and runs with no argv at all) is served by exec'ing a cold sbcl
;;;; with the same arguments, bytes as given.
;;;;
;;;; Every name here lives in a package that is deleted before the core is
;;;; saved, so the saved core has the same symbols as the default one.

(cl:make-package "ISOBOX-WARM" :use '("CL"))
(cl:in-package "ISOBOX-WARM")

(let ((gensyms *gensym-counter*)
      (core-string sb-impl::*core-string*))
  (push
   (lambda ()
     (setf sb-ext:*init-hooks* nil)
     (let ((acc 0))
       (declare (type (unsigned-byte 8) acc))
       (flet ((touch (start end)
                (do ((a start (+ a 4096))) ((>= a end))
                  (setf acc (logxor acc (sb-sys:sap-ref-8 (sb-sys:int-sap a) 0))))))
         (touch sb-vm:read-only-space-start
                (sb-sys:sap-int sb-vm:*read-only-space-free-pointer*))
         (touch sb-vm:fixedobj-space-start
                (sb-sys:sap-int sb-vm:*fixedobj-space-free-pointer*))
         (touch sb-vm:text-space-start
                (sb-sys:sap-int sb-vm:*text-space-free-pointer*))
         (touch sb-vm:dynamic-space-start
                (sb-sys:sap-int (sb-kernel:dynamic-space-free-pointer))))
       (let* ((fifo "/tmp/.isobox-go")
              ;; Each NUL-terminated string of the FIFO, as bytes.
              (parts (with-open-file (s fifo :element-type '(unsigned-byte 8))
                       (loop with part = (make-array 64 :element-type '(unsigned-byte 8)
                                                        :adjustable t :fill-pointer 0)
                             for b = (read-byte s nil)
                             while b
                             if (zerop b)
                               collect (copy-seq part)
                               and do (setf (fill-pointer part) 0)
                             else
                               do (vector-push-extend b part)))))
         (delete-file fifo)
         (let* ((cold nil)
                (args (handler-case
                          (mapcar (lambda (p)
                                    (sb-ext:octets-to-string
                                     p :external-format
                                     (sb-alien::default-c-string-external-format)))
                                  parts)
                        (error () (setf cold t)))))
           (when cold
             ;; argv and its strings in foreign memory, then execvp.
             (let* ((all (list* (map '(vector (unsigned-byte 8)) #'char-code "sbcl")
                                (map '(vector (unsigned-byte 8)) #'char-code "--script")
                                parts))
                    (argv (sb-alien:make-alien sb-alien:unsigned-long (1+ (length all)))))
               (loop for p in all
                     for i from 0
                     do (let ((m (sb-alien:make-alien (sb-alien:unsigned 8) (1+ (length p)))))
                          (dotimes (j (length p))
                            (setf (sb-alien:deref m j) (aref p j)))
                          (setf (sb-alien:deref m (length p)) 0)
                          (setf (sb-alien:deref argv i)
                                (sb-sys:sap-int (sb-alien:alien-sap m)))))
               (setf (sb-alien:deref argv (length all)) 0)
               (sb-alien:alien-funcall
                (sb-alien:extern-alien "execvp"
                                       (function sb-alien:int sb-alien:c-string
                                                 (* sb-alien:unsigned-long)))
                "sbcl" argv)
               (sb-ext:exit :code 127 :abort t)))
           (setf sb-ext:*posix-argv*
                 (list* (car sb-ext:*posix-argv*) "--script" args))))
       (setf sb-impl::*core-string* core-string
             sb-ext:*core-pathname* (merge-pathnames (sb-ext:native-pathname core-string)))
       acc))
   sb-ext:*init-hooks*)
  (setf *package* (find-package "CL-USER"))
  (delete-package "ISOBOX-WARM")
  (setf *gensym-counter* gensyms)
  (sb-ext:save-lisp-and-die (second (member "--out" sb-ext:*posix-argv* :test #'string=))))
LISP
sbcl --noinform --no-sysinit --no-userinit --load warm.lisp --end-toplevel-options \
	--out /usr/lib/sbcl/isobox-warm.core </dev/null
cat >t.lisp <<'LISP'
(print (list sb-ext:*posix-argv* sb-ext:*core-pathname* (sb-int:sbcl-homedir-pathname)
             *gensym-counter* sb-ext:*init-hooks* (find-package "ISOBOX-WARM")
             (let ((n 0)) (do-all-symbols (s) (incf n)) n) (read-line)))
(require :sb-posix)
(sb-ext:exit :code 3)
LISP
cold=$(echo in | sbcl --script t.lisp "a b" ü || echo "status $?")
warm=$(through_fifo 't.lisp\0a b\0\303\274\0' \
	sbcl --core /usr/bin/../lib/sbcl/isobox-warm.core --script /dev/null)
test -n "$cold" && test "$cold" = "$warm" && test ! -e /tmp/.isobox-go
cd / && rm -rf "$t"

# Forth, warm: isobox-warm.fi (beside gforth.fi) is Gforth's own image saved
# again (gforthmi: relocatable) with one more 'cold hook, which a warm
# sandbox's gforth runs before it interprets its command line
# (registry/languages.yaml, forth's "prestart"). The hook is :noname (no
# word is added) and defined by -e (no file joins the included files); it
# waits in the guest's FIFO (catalogue "prestartFifo") for the run argv from
# the entry on (FILE ARGS..., each NUL-terminated; job.c), removes the FIFO,
# makes that argv the image's (argv, argc; argv[0] the engine's), puts back
# the 'cold it replaced, and runs it: the 'cold hooks of Gforth's own
# files (search order, hashes, history, blocks, libcc paths) run at the job,
# then "cold" interprets FILE ARGS as from a cold start. The hook and the
# saved copy of the included-files list take dictionary space, so the image
# is saved with that much more dictionary (-m): a program's "unused" is the
# cold one. The check: the same program cold and through the FIFO prints
# the same (its search order and backtrace addresses differ from one cold
# start to the next, and are not printed).
t=$(mktemp -d) && cd "$t"
g=/usr/lib/x86_64-linux-gnu/gforth/0.7.3
cat >hook.fs <<'FORTH'
lastcfa @ last @
:noname
  s" /tmp/.isobox-go" r/o open-file throw
  65536 dup allocate throw 0 0 0 { fd cap buf len n w }
  begin
    len cap = if buf cap 2* dup to cap resize throw to buf then
    buf len + cap len - fd read-file throw dup to n
  while len n + to len repeat
  fd close-file throw
  s" /tmp/.isobox-go" delete-file throw
  0 len 0 ?do buf i + c@ 0= - loop to n
  n 2 + cells allocate throw to w
  argv @ @ w !
  buf n 0 ?do dup w i 1+ cells + ! cstring>sstring + 1+ loop drop
  0 w n 1+ cells + !
  w argv ! n 1+ argc !
  [ ' 'cold defer@ ] literal dup is 'cold execute ;
is 'cold
last ! lastcfa !
FORTH
# $1 extra gforthmi options
save() {
	GFORTHD="$g/gforth-ditc" gforthmi "$g/isobox-warm.fi" $1 -i "$g/gforth.fi" \
		-e "$(cat hook.fs)" >/dev/null 2>&1
}
save ""
printf 'unused . bye\n' >u.fs
extra=$(($(gforth u.fs) - $(through_fifo 'u.fs\0' gforth -i "$g/isobox-warm.fi")))
save "-m $((8 * 1024 * 1024 + extra))b"
cat >t.fs <<'FORTH'
unused . depth . argc @ . 0 arg type cr
: args argc @ 1 ?do i arg type ." |" loop cr ; args
latest name>string type space get-order . 2drop drop .included cr
next-arg type cr pad 80 stdin read-line throw . dup . pad swap type cr
script? . s" HOME" getenv type cr
3 (bye)
FORTH
cold=$(echo in | gforth t.fs "a b" "$(printf '\303\274')" -e bye || echo "status $?")
w=$(through_fifo 't.fs\0a b\0\303\274\0-e\0bye\0' gforth -i "$g/isobox-warm.fi")
test -n "$cold" && test "$cold" = "$w" && test ! -e /tmp/.isobox-go
cd / && rm -rf "$t"
