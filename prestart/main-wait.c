/* main-wait.c - the warm start of a C program that cannot wait for its
 * program itself (registry/languages.yaml: "prestart: [/.isobox/guest,
 * --warm-main, RUN0]"; the guest's --warm-main).
 *
 * The guest's --warm-main execs RUN0 (argv: RUN0 alone) with this library
 * in LD_PRELOAD and the run's environment, rlimits, fds 0-2 and cwd, plus
 * fd 3, the read end of a pipe. The program's _start calls
 * __libc_start_main, which this library defines: it waits on fd 3 for the
 * run argv after its first element (NUL-terminated strings, as
 * --warm-exec reads it), closes fd 3, takes LD_PRELOAD out of the
 * environment, and calls libc's own __libc_start_main with argv = RUN0 and
 * those strings. libc then starts the program as it starts it cold (its
 * own initialisation, the program's constructors, main with the cold
 * argc and argv); only the exec, with the dynamic loader's mapping of
 * every library, was done ahead of the job.
 *
 * What a program can still tell: /proc/self/cmdline (RUN0 alone), the
 * environment block the process was started with (/proc/self/environ:
 * LD_PRELOAD too), this library in /proc/self/maps, and its start time.
 * The libraries' constructors ran before the job's files were written
 * (as they run before main in any start).
 *
 * libc only; built without sanitizers (it runs inside the program). Bound
 * read-only at /.isobox/prestart beside the guest. */
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wire.h"

typedef int (*mw_main)(int, char **, char **);
typedef int (*mw_start)(mw_main, int, char **, void (*)(void), void (*)(void),
			void (*)(void), void *);

int __libc_start_main(mw_main main, int argc, char **argv, void (*init)(void),
		      void (*fini)(void), void (*rtld_fini)(void),
		      void *stack_end);

extern char **environ;

/* LD_PRELOAD out of environ, in place as libc's unsetenv does it (not
 * unsetenv itself: a program may define its own, bash does, and its
 * symbol would be the one called). */
static void mw_unset_preload(void)
{
	char **r;
	char **w;

	if (environ == NULL) {
		return;
	}
	for (r = w = environ; *r != NULL; r++) {
		if (strncmp(*r, "LD_PRELOAD=", 11) != 0) {
			*w++ = *r;
		}
	}
	*w = NULL;
}

static void mw_die(const char *what)
{
	static const char pre[] = "isobox warm start: ";

	if (write(2, pre, sizeof(pre) - 1) < 0 ||
	    write(2, what, strlen(what)) < 0 || write(2, "\n", 1) < 0) {
		/* nothing more to say */
	}
	_exit(127);
}

/* fd 3 to its end, into b (NUL-terminated strings). */
static void mw_read_all(struct wire_buf *b)
{
	char chunk[4096];

	for (;;) {
		ssize_t r = read(3, chunk, sizeof(chunk));

		if (r < 0 && errno == EINTR) {
			continue;
		}
		if (r == 0) {
			break;
		}
		if (r < 0) {
			mw_die("cannot read the run argv");
		}
		if (wire_raw_add(b, chunk, (size_t)r) < 0) {
			mw_die("out of memory");
		}
	}
	close(3);
}

int __libc_start_main(mw_main main, int argc, char **argv, void (*init)(void),
		      void (*fini)(void), void (*rtld_fini)(void),
		      void *stack_end)
{
	mw_start real = (mw_start)(uintptr_t)dlvsym(
	    RTLD_NEXT, "__libc_start_main", "GLIBC_2.34");
	struct wire_buf in = {0};
	struct stat st;
	char **rest;
	char **av;
	size_t n = 0;
	size_t i;

	if (real == NULL) {
		mw_die("no __libc_start_main in libc");
	}
	mw_unset_preload();
	/* Only the guest's --warm-main start waits: it is the one given a
	 * pipe as fd 3 and no argument. */
	if (argc != 1 || fstat(3, &st) < 0 || !S_ISFIFO(st.st_mode)) {
		return real(main, argc, argv, init, fini, rtld_fini, stack_end);
	}
	mw_read_all(&in);
	rest = wire_list_split(in.p, in.len, &n);
	if (rest == NULL && in.len > 0) {
		mw_die("the run argv is malformed");
	}
	av = calloc(n + 2, sizeof(*av));
	if (av == NULL) {
		mw_die("out of memory");
	}
	av[0] = argv[0];
	for (i = 0; i < n; i++) {
		av[i + 1] = rest[i];
	}
	/* (in, rest and av stay: they are the program's argv now.) */
	return real(main, (int)n + 1, av, init, fini, rtld_fini, stack_end);
}
