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
mkfifo /tmp/.isobox-go
warm=$( (echo in | sbcl --core /usr/bin/../lib/sbcl/isobox-warm.core --script /dev/null ||
	echo "status $?") &
	printf 't.lisp\0a b\0\303\274\0' >/tmp/.isobox-go
	wait)
test -n "$cold" && test "$cold" = "$warm" && test ! -e /tmp/.isobox-go
cd / && rm -rf "$t"
