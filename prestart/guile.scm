;;; guile.scm --- the prestart bootstrap of scheme (Guile)
;;
;; registry/languages.yaml, scheme's "prestart": a warm sandbox starts
;; `guile --no-auto-compile -l THIS main.scm'. Guile's command line makes
;; three actions of that (ice-9 command-line): load this file, load
;; main.scm with the very load a cold `guile --no-auto-compile main.scm'
;; uses, and quit. This file waits in the guest's FIFO for the run argv
;; from the entry on (ENTRY ARGS..., NUL-terminated each; job.c), reads it
;; to EOF, closes and removes it. When the entry is the script guile was
;; started with (the catalogue's, main.scm: the program arguments so far)
;; it sets the program arguments a cold start has, (main.scm ARGS...), and
;; returns: the second action loads the program. Any other entry gets a fresh guile
;; (exec) with the catalogue's argv and no descriptor of this one. The
;; FIFO, unlike an inherited fd 3, leaves the descriptors as a cold start
;; has them (guile's own pipe at 3 and 4). Nothing is defined here: the
;; module (guile-user) stays empty, and no module is loaded that a cold
;; start would not load. Bound read-only at /.isobox/prestart.

((lambda ()
   ;; Internal definitions, not named lets or do loops: Guile's expander
   ;; takes a gensym for each of those, and the program's (gensym) would
   ;; show the counter moved on.
   (define port (open-file "/tmp/.isobox-go" "r"))
   (define (read-args args cur)
     (let ((c (read-char port)))
       (cond
        ((eof-object? c) (reverse args))
        ((char=? c #\nul) (read-args (cons (list->string (reverse cur)) args) '()))
        (else (read-args args (cons c cur))))))
   (define (cloexec dir)
     (let ((e (readdir dir)))
       (unless (eof-object? e)
         (let ((fd (string->number e)))
           (when (and fd (> fd 2))
             (false-if-exception (fcntl fd F_SETFD FD_CLOEXEC))))
         (cloexec dir))))
   (set-port-encoding! port "UTF-8")
   (let ((argv (read-args '() '())))
     (close-port port)
     (delete-file "/tmp/.isobox-go")
     (cond
      ((null? argv)
       (primitive-_exit 127))
      ((string=? (car argv) (car (program-arguments)))
       (set-program-arguments argv))
      (else
       (cloexec (opendir "/proc/self/fd"))
       (apply execlp "guile" "guile" "--no-auto-compile" argv)
       (primitive-_exit 127))))))
