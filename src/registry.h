/* registry.h - the language catalogue: the *.yaml files of registry/, read with
 * libyaml.
 *
 * A catalogue file holds a list of languages:
 *
 *   languages:
 *     - name: python                # lower-case [a-z0-9+_-]
 *       version: "3.11.2"
 *       aliases: [py, py3, python3]
 *       image: isobox/python        # a local image built from images/python,
 *                                   # pinned by the images lock file, or
 *                                   # REPO@sha256:DIGEST, pinned by digest
 *       source: main.py             # file name used for "code"
 *       compile: [gcc, -O2, -o, /box/a.out, "{source}"]   # optional
 *       run: [python3, "{source}"]  # {source}: the entry file name,
 *                                   # {files}: every file name (expands in
 * place) env: {PYTHONDONTWRITEBYTECODE: "1"} tmpfs_exec: false           # /box
 * may hold executables (compilers) limits: {memoryBytes: ..., wallTimeMs: ...}
 * # defaults (partial)
 *
 * Optional for an interpreted language, "prestart" is the argv of a small
 * bootstrap that stands in for run[0] in a warm (pooled) sandbox: the guest
 * starts it before any job arrives, as the user (uid 65534) with the pool
 * shape's rlimits, in /box, with exactly "env", its stdin/stdout/stderr
 * already the run stage's pipes, and fd 3 the read end of a pipe. When the
 * job comes the guest writes its files, then writes to fd 3 the rest of the
 * run argv (run[1..] expanded, then the request's args; each NUL-terminated)
 * and closes it: the bootstrap must then behave exactly as
 * "run[0] run[1..] args" would (exec run[0] itself whenever it cannot).
 * A job whose env or rlimits differ from the prestarted ones, or whose
 * entry is empty or option-like (starts with '-' or '+'), is run the
 * ordinary way (the waiting bootstrap is killed first). Bootstraps that must be
 * files are installed next to the guest (pkglibexecdir/prestart, Makefile.am)
 * and bound read-only at /.isobox/prestart into every sandbox that prestarts.
 *
 * With "prestartStage: compile" (default "run"), a compiled language's
 * "prestart" stands in for compile[0] instead: a compiler server, started
 * with the compile stage's stdio (stdin /dev/null) and handed on fd 3 the
 * rest of the compile argv (compile[1..] expanded). It must then compile
 * exactly as "compile[0] compile[1..]" would and exit with its status; the
 * run stage runs the ordinary way after it. Only warm (pooled) sandboxes
 * prestart a compiler (spec.c): a session runs many compiles.
 *
 * "prestartFifo: /PATH" hands a run-stage bootstrap its argv through a
 * FIFO the guest makes there (owned by the user) instead of fd 3: for a
 * runtime that cannot close a descriptor it did not open. The bootstrap
 * opens it by name, reads it to EOF, closes and removes it.
 *
 * Beside a compiler server, "runPrestart" is the argv of a run-stage
 * bootstrap as "prestart" is for an interpreted language: started with the
 * compiler server, with the run stage's stdio, and handed on fd 3 the rest
 * of the run argv (run[1..] expanded, then the request's args) once the
 * compile stage has ended well. It is the one process the end of the
 * compile stage does not kill; it must then behave exactly as "run[0]
 * run[1..] args" would.
 *
 * Optional, "kernel" is the argv of the language's kernel runner (kernel
 * sessions, issue 15): e.g. [python3, /.isobox/kernel/python.py]. The
 * runners are installed next to the guest (pkglibexecdir/kernel) and bound
 * read-only at /.isobox/kernel into a kernel session's sandbox, so no image
 * carries them. Languages without it offer no kernel sessions.
 * Optional "pool: {max: N, idle_ms: M}" bounds the warm pool for the
 * language (pool.h): at most N warm sandboxes however high its demand, and
 * none once it has had no request for M ms (defaults: the config's
 * pool_max and pool_idle_ms).
 *
 * The images lock file (written by scripts/build-images) maps local image
 * names to image IDs, one per line: "isobox/python sha256:<64 hex>".
 *
 * Loading is all-or-nothing: any error rejects the whole catalogue, and the
 * caller keeps the previous one. Catalogues are reference counted so a
 * reload never frees one that a request is still using.
 */
#ifndef ISOBOX_REGISTRY_H
#define ISOBOX_REGISTRY_H

#include <stddef.h>

#include "limits.h"
#include "util.h"

struct lang {
	char *name;
	char *version;
	char **aliases;	 /* NULL-terminated */
	char *image;	 /* as written in the catalogue */
	char *image_ref; /* what to create containers from: "sha256:<id>" for a
			  * locked local image, or REPO@sha256:DIGEST */
	int image_local; /* 1 for a local image name, pinned through the
			  * lock file (image_ref NULL when the lock has no
			  * entry for it); 0 for REPO@sha256:DIGEST */
	char *source;
	char **compile;	      /* NULL-terminated, or NULL when interpreted */
	char **run;	      /* NULL-terminated */
	char **prestart;      /* NULL-terminated, or NULL: see below */
	int prestart_compile; /* "prestartStage: compile": prestart stands
			       * in for compile[0], not run[0] */
	char **run_prestart;  /* "runPrestart": NULL-terminated, or NULL */
	char *prestart_fifo;  /* "prestartFifo": a path, or NULL */
	char **kernel;	      /* the kernel runner's argv (NULL-terminated), or
			       * NULL: no kernel sessions; see below */
	char **env;	      /* NULL-terminated "KEY=VALUE" */
	int tmpfs_exec;
	struct limits_partial limits;
	int pool_max;	      /* "pool: {max}": most warm sandboxes, -1 unset */
	int64_t pool_idle_ms; /* "pool: {idle_ms}": unused this long, none
			       * are kept warm; -1 unset */
};

struct registry {
	int refs; /* managed by registry_get/registry_put */
	struct lang *langs;
	size_t n;
	char *origin; /* path it was loaded from */
};

/* Load every *.yaml in dir (sorted by name), or one file when path is a
 * regular file, resolving local images through lock_path (which may be
 * missing: local images then stay unresolved and image_ref is NULL).
 * Returns a registry with refs == 1, or NULL with err filled (the message
 * names the file, the line and the key). */
struct registry *registry_load(const char *path, const char *lock_path,
			       struct isobox_err *err);
void registry_free(struct registry *r);

/* Find by name or alias, optionally with a version. spec may be
 * "name@version"; version (may be NULL or "") then must match too. Returns a
 * borrowed pointer (valid while the registry is held), or NULL with err
 * filled: 400 unknown_language, or 400 unknown_version listing the versions
 * that exist (or 400 language_required for an empty spec, 400 invalid_field
 * when spec's "@version" and version disagree). Names and aliases match
 * case-insensitively. A version matches exactly, or else as a leading run
 * of dot-separated components ("3.11" finds "3.11.2"). When version is
 * empty, or several versions match the prefix, the first listed wins. */
const struct lang *registry_find(const struct registry *r, const char *spec,
				 const char *version, struct isobox_err *err);
/* 1 when l (of r) is the version of its language that a request naming no
 * version gets: the first listed. The warm pools keep only that one. */
int registry_is_default(const struct registry *r, const struct lang *l);

/* The process-wide current catalogue, swapped atomically by reloads.
 * registry_current_set takes ownership of r (refs 1) and drops the old one.
 * registry_get returns the current catalogue with a reference taken (or
 * NULL if none); registry_put drops it. Thread-safe. */
void registry_current_set(struct registry *r);
struct registry *registry_get(void);
void registry_put(struct registry *r);

/* Reload from path/lock if either file (or any *.yaml in the directory)
 * changed since the last load, or unconditionally when force is set. On
 * error logs the reason and keeps the previous catalogue. Returns 1 when a
 * new catalogue was installed, 0 when nothing changed, -1 on error. The
 * file state is remembered per process from the last reload (a catalogue
 * installed with registry_current_set alone is reloaded once by the first
 * registry_reload); a failed load is remembered too, so an unchanged broken
 * file is reported once. */
int registry_reload(const char *path, const char *lock_path, int force);
/* Drop the current catalogue and forget the reload state (shutdown, tests). */
void registry_reset(void);

#endif
