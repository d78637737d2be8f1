/* r-handoff.c - the handoff of R's prestart bootstrap (prestart/r.R).
 *
 * registry/languages.yaml, r's "prestart": a warm sandbox starts
 * `Rscript /.isobox/prestart/r.R', which its R shell script turns into
 * `R --no-echo --no-restore --file=/.isobox/prestart/r.R'. R reads its
 * --file line by line as the input of its read-eval-print loop. r.R is one
 * line: it loads this library, calls isobox_r_handoff(), unloads it. This
 * waits in the guest's FIFO for the run argv from the entry on (FILE
 * ARGS..., NUL-terminated each; job.c), reads it to EOF, closes and removes
 * it, and then:
 *
 *  - puts the entry, opened as R opens its --file, on the descriptor R
 *    reads r.R from. r.R has been read whole into the stdio buffer by then
 *    (it is smaller than one buffer) and the buffer is spent, so R's loop
 *    reads its next line from the entry: the program runs at top level as
 *    a cold `Rscript FILE ARGS' runs it (errors, "Execution halted",
 *    quit(), warnings, the parse of each line as it comes);
 *  - sets R's command line arguments (commandArgs()) to the cold ones: its
 *    own, with --file=FILE and, when there are ARGS, --args ARGS (as
 *    Rscript passes them).
 *
 * R read its start-up files before it waited here; a job may have written
 * some of them since (.Rprofile, .Renviron, a user library under ~/R), or
 * have its environment name others. Then, and when the entry is not a
 * regular file it can open, it execs the R binary instead as R's shell
 * script does (that binary, the argv above, the environment R was started
 * with), after removing the session directory this R made: a cold start
 * exactly, the startup files and R's own error message included.
 *
 * At exit a cold R removes its session directory (tempdir()) with
 * system("rm -Rf DIR"): a shell and rm, two execs that cost a sandbox
 * more than the rest of a small program's exit. So once the job is R's
 * (not on the exec path above), this takes that removal over: it clears
 * the pointer libR's R_CleanTempDir() reads, so that R runs no rm, and
 * removes the directory from an atexit handler instead, in exit() right
 * after R_CleanUp() (.Last, exit finalizers, devices) has called
 * R_CleanTempDir(), so the same files go. The pointer is hidden in libR;
 * it is found where R_CleanTempDir()'s code loads it from, and only taken
 * over when it holds R_TempDir's very string (InitTempDir sets both), so
 * on any other libR nothing changes. A tempdir(check = TRUE) that made a
 * new directory sets it again: R then removes that one itself, as cold.
 * This library stays mapped for the handler (RTLD_NODELETE), so the one
 * trace of the bootstrap left in the process is its line in
 * /proc/self/maps.
 *
 * Only libc (and wire.c): the R symbols below are libR's, resolved when R
 * loads this.
 * Built without sanitizers (it runs inside R). Bound read-only at
 * /.isobox/prestart beside the guest. */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wire.h"

/* libR (Rembedded.h): what commandArgs() returns from now on. */
void R_set_command_line_arguments(int argc, char **argv);
/* libR (Rinterface.h): the session directory, tempdir(). */
extern char *R_TempDir;
void R_CleanTempDir(void);
void isobox_r_handoff(void);

#define R_FIFO "/tmp/.isobox-go"
#define R_BOOT "/.isobox/prestart/r.R"

struct r_list {
	char *buf;
	size_t len;
	char **v; /* its strings (wire_list_split), NULL-terminated */
	size_t n;
};

static void r_die(const char *what)
{
	dprintf(2, "isobox r prestart: %s: %s\n", what, strerror(errno));
	_exit(127);
}

/* The whole of path (NUL-terminated strings) into l. */
static int r_read_list(const char *path, int remove, struct r_list *l)
{
	struct wire_buf b = {0};
	char chunk[4096];
	int fd;

	memset(l, 0, sizeof(*l));
	/* (The FIFO's open waits for the guest: a signal may cut it short.) */
	while ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 && errno == EINTR) {
	}
	if (fd < 0) {
		return -1;
	}
	if (remove) {
		unlink(path);
	}
	for (;;) {
		ssize_t r = read(fd, chunk, sizeof(chunk));

		if (r < 0 && errno == EINTR) {
			continue;
		}
		if (r == 0) {
			break;
		}
		if (r < 0 || wire_raw_add(&b, chunk, (size_t)r) < 0) {
			close(fd);
			wire_buf_free(&b);
			return -1;
		}
	}
	close(fd);
	l->buf = (char *)b.p;
	l->len = b.len;
	l->v = wire_list_split(b.p, b.len, &l->n);
	return l->v != NULL ? 0 : -1;
}

/* The descriptor R reads r.R from, read to its end; or -1. */
static int r_boot_fd(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int found = -1;

	if (d == NULL) {
		return -1;
	}
	while (found < 0 && (e = readdir(d)) != NULL) {
		char link[sizeof(R_BOOT) + 1];
		struct stat st;
		ssize_t n;
		int fd = atoi(e->d_name);

		if (fd <= 2 || fd == dirfd(d)) {
			continue;
		}
		n = readlinkat(dirfd(d), e->d_name, link, sizeof(link));
		if (n == (ssize_t)sizeof(R_BOOT) - 1 &&
		    memcmp(link, R_BOOT, (size_t)n) == 0 &&
		    fstat(fd, &st) == 0 &&
		    lseek(fd, 0, SEEK_CUR) == st.st_size) {
			found = fd;
		}
	}
	closedir(d);
	return found;
}

/* 1 when a cold start would have read a file, or been told of one, that
 * this R did not read: R's user start-up files in the working directory
 * and HOME, its user library, or their names in the environment. */
static int r_start_differs(const struct r_list *env)
{
	static const char *const vars[] = {
	    "R_PROFILE_USER=", "R_ENVIRON_USER=", "R_PROFILE=",	 "R_ENVIRON=",
	    "R_LIBS=",	       "R_LIBS_USER=",	  "R_LIBS_SITE="};
	static const char *const files[] = {".Rprofile", ".Renviron", "R"};
	const char *home = getenv("HOME");
	struct stat st;
	size_t i;
	size_t k;

	for (k = 0; k < env->n; k++) {
		for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
			if (strncmp(env->v[k], vars[i], strlen(vars[i])) == 0) {
				return 1;
			}
		}
	}
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char path[4096];

		if (i < 2 && lstat(files[i], &st) == 0) {
			return 1;
		}
		if (home != NULL && home[0] != '\0' &&
		    snprintf(path, sizeof(path), "%s/%s", home, files[i]) <
			(int)sizeof(path) &&
		    lstat(path, &st) == 0) {
			return 1;
		}
	}
	return 0;
}

/* A cold start instead: the R binary with argv and the environment this R
 * was started with, nothing of this one left (its session directory, still
 * empty, and its descriptors). */
static void r_exec_cold(char **argv, char **envp)
{
	const char *tmp = getenv("R_SESSION_TMPDIR");
	int fd;

	if (tmp != NULL) {
		rmdir(tmp);
	}
	for (fd = 3; fd < 1024; fd++) {
		fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
	execve(argv[0], argv, envp);
	r_die(argv[0]);
}

/* R_CleanTempDir()'s copy of the session directory's name, once taken
 * over (r_tempdir_take); NULL otherwise. */
static char **r_sys_tempdir;

static int r_remove_one(const char *path, const struct stat *st, int flag,
			struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0; /* on, as rm -Rf goes on */
}

/* At exit: what R_CleanTempDir() would have done, in-process. Its pointer
 * set again (a new directory) means R removed that one itself. */
static void r_tempdir_remove(void)
{
	if (*r_sys_tempdir == NULL && R_TempDir != NULL) {
		nftw(R_TempDir, r_remove_one, 16, FTW_DEPTH | FTW_PHYS);
	}
}

/* The address R_CleanTempDir() reads the directory's name from: its first
 * RIP-relative `lea' into %rax (libR 4.2's: the pointer is a hidden
 * global); or NULL. */
static char **r_clean_pointer(void)
{
#if defined(__x86_64__)
	const uint8_t *f = (const uint8_t *)(uintptr_t)R_CleanTempDir;
	int i;

	for (i = 0; i < 48; i++) {
		if (f[i] == 0x48 && f[i + 1] == 0x8d && f[i + 2] == 0x05) {
			int32_t disp;

			memcpy(&disp, f + i + 3, sizeof(disp));
			return (char **)(uintptr_t)(f + i + 7 + disp);
		}
	}
#endif
	return NULL;
}

/* Takes the session directory's removal over from R_CleanTempDir(), when
 * its pointer is found and this library can stay for the handler. */
static void r_tempdir_take(void)
{
	char **sys = r_clean_pointer();
	Dl_info self;

	if (sys == NULL || R_TempDir == NULL || *sys != R_TempDir ||
	    dladdr((void *)(uintptr_t)r_tempdir_remove, &self) == 0 ||
	    dlopen(self.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE) ==
		NULL) {
		return;
	}
	r_sys_tempdir = sys;
	if (atexit(r_tempdir_remove) == 0) {
		*sys = NULL;
	}
}

void isobox_r_handoff(void)
{
	struct r_list job;
	struct r_list cmd;
	struct r_list env;
	struct stat st;
	char **argv;
	int file = -1;
	int n = 0;
	size_t i;
	int boot;
	int fd;

	if (r_read_list(R_FIFO, 1, &job) < 0 ||
	    r_read_list("/proc/self/cmdline", 0, &cmd) < 0 ||
	    r_read_list("/proc/self/environ", 0, &env) < 0) {
		r_die("cannot read the handoff");
	}
	if (job.n < 1 || cmd.n < 1) {
		errno = EINVAL;
		r_die("no entry");
	}
	argv = calloc(cmd.n + job.n + 2, sizeof(*argv));
	if (argv == NULL) {
		r_die("cannot allocate");
	}
	/* R's own options up to --file=r.R, which becomes --file=FILE; the
	 * catalogue's prestart has nothing after it. */
	for (i = 0; i < cmd.n && file < 0; i++) {
		argv[n] = cmd.v[i];
		if (strcmp(cmd.v[i], "--file=" R_BOOT) == 0) {
			file = n;
		}
		n++;
	}
	if (file < 0) {
		errno = EINVAL;
		r_die("R was not started with --file=" R_BOOT);
	}
	if (asprintf(&argv[file], "--file=%s", job.v[0]) < 0) {
		r_die("cannot allocate");
	}
	if (job.n > 1) {
		argv[n++] = "--args";
		for (i = 1; i < job.n; i++) {
			argv[n++] = job.v[i];
		}
	}
	boot = r_boot_fd();
	if (boot < 0 || r_start_differs(&env)) {
		r_exec_cold(argv, env.v);
	}
	fd = open(job.v[0], O_RDONLY);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    dup2(fd, boot) < 0) {
		r_exec_cold(argv, env.v);
	}
	close(fd);
	R_set_command_line_arguments(n, argv); /* (it copies them) */
	r_tempdir_take();
	free(argv[file]);
	free(argv);
	free(job.buf);
	free(job.v);
	free(cmd.buf);
	free(cmd.v);
	free(env.buf);
	free(env.v);
}
