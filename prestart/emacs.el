;;; emacs.el --- the prestart bootstrap of emacs -*- lexical-binding: t -*-
;;
;; registry/languages.yaml, emacs's "prestart": a warm sandbox starts
;; `emacs -Q --batch -l THIS'; emacs loads this file while it processes its
;; command line, and this waits for the run argv from the entry on (FILE
;; ARGS..., NUL-terminated each; job.c) in the FIFO the guest made. It then leaves on the command
;; line what a cold `emacs -Q --script FILE ARGS' has there at that point:
;; "-scriptload FILE ARGS" still to be processed, so startup.el loads the
;; script exactly as it would cold (the same `load', the same error handling
;; and exit). They go into the very conses of `command-line-args' that
;; command-line-1 was called with ("-l THIS"), so that list, and that
;; frame's argument in a backtrace, read as a cold start's. What loading
;; this file left behind goes too: its `load-history' entry (by a closure
;; run once after this load ends), the match data and
;; `last-coding-system-used'. Every symbol read here exists in a cold emacs
;; already (the obarray has as many symbols; tests/e2e/test_warm_parity.py).
;; Bound read-only at /.isobox/prestart beside the guest.

(let ((md (match-data))
      (coding last-coding-system-used))
  (with-temp-buffer
    (set-buffer-multibyte nil)
    ;; The guest's FIFO (catalogue "prestartFifo"), not fd 3, which emacs
    ;; could not close: opening it blocks until the guest opens it to
    ;; write; it is read to EOF, closed, and removed.
    (insert-file-contents-literally "/tmp/.isobox-go")
    (delete-file "/tmp/.isobox-go")
    ;; Decoded as startup.el decodes a start's arguments.
    (let ((args (mapcar (lambda (a) (decode-coding-string a locale-coding-system t))
                        (butlast (split-string (buffer-string) "\0"))))
          (rest (cdr command-line-args)))
      (setcar rest "-scriptload")
      (setcdr rest args)
      (setq command-line-args-left rest)))
  (set-match-data md)
  (setq last-coding-system-used coding))

(letrec ((drop (lambda (file)
                 (ignore file)
                 (remove-hook 'after-load-functions drop)
                 (setq load-history (cdr load-history)))))
  (add-hook 'after-load-functions drop))
