/* guest.c - isobox-guest, PID 1 of every sandbox container.
 *
 * The host starts each gVisor container with this static binary as its
 * command and speaks the framing of wire.h with it over stdin/stdout. The
 * guest announces itself with READY, reads one job up to GO (files,
 * environment, argv, stdin, limits), writes the files under /box, then runs
 * the optional compile stage and the run stage as uid 65534 with rlimits.
 * Output goes back as OUT records and each stage ends with a RESULT; DONE
 * closes the job. The wall time and the output cap are enforced by killing
 * every other process in the sandbox, and as PID 1 the guest reaps every
 * zombie. With --loop it serves jobs until stdin ends (files in /box stay).
 *
 * With --session the guest serves a sequence of jobs and file operations
 * (wire.h, protocol 2) for as long as its stdin stays open, in the work
 * directory given by --workdir (default /box): it keeps reading its input
 * while a stage runs (INTERRUPT, SYNC), answers file operations between
 * jobs as uid 65534 without following any symlink, survives framing errors
 * by scanning for a SYNC header, and exits on BYE or EOF. Every stage ends,
 * in every mode, with SIGKILL to every process of the sandbox but the
 * guest (kill(-1)) until none is left, so nothing a job started can write
 * into a later job's answer. The one exception is kernel mode (--kernel,
 * "Kernel mode" below), whose interpreter outlives a step: there a step
 * ends with SIGKILL to every process but the guest and the interpreter.
 *
 * A warm (pooled) sandbox, or a session's, may be started with --prestart
 * (a session's gets a fresh one after every job): the guest then
 * starts the catalogue's bootstrap for the language at once, as the user
 * with the given env and rlimits and the run stage's pipes, and when a job
 * that matches arrives (a HANDOFF record, the same env and rlimits) writes
 * the job's files and hands the waiting interpreter its argv on fd 3, so
 * the run does not pay the interpreter's start. Any other job kills the
 * bootstrap first and runs the ordinary way. With --prestart-stage compile
 * the bootstrap is a compiler server instead: it is handed the compile
 * argv and is the compile stage; the run stage then runs the ordinary way.
 *
 * The guest runs as uid 0 holding only CAP_SETUID, CAP_SETGID and CAP_KILL.
 * Without CAP_CHOWN it cannot give files away, so it creates them with its
 * effective ids switched to 65534 instead; that also means it walks /box
 * with no more rights than the user code that may have shaped it.
 */
#include "wire.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/openat2.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define GUEST_VERSION	     "isobox-guest 2"
#define GUEST_UID	     65534
#define GUEST_GID	     65534
#define GUEST_BOX	     "/box"
#define GUEST_CHUNK	     65536 /* largest OUT payload and read size */
#define GUEST_DRAIN_MS	     20	   /* output grace after the main child exits */
#define GUEST_FINAL_MS	     2000  /* give up on stragglers after SIGKILL */
#define GUEST_TICK_MS	     50	   /* re-check interval while killing */
#define GUEST_PATH_MAX	     4096  /* <limits.h> is shadowed by src/limits.h */
#define GUEST_DEFAULT_PATH   "/usr/local/bin:/usr/bin:/bin"
#define GUEST_EXIT_FAIL	     2
#define GUEST_EXIT_HOST_GONE 3
#define GUEST_EXIT_TERM	     143

enum {
	GUEST_LIM_COMPILE_WALL,
	GUEST_LIM_RUN_WALL,
	GUEST_LIM_PIDS,
	GUEST_LIM_OUTPUT,
	GUEST_LIM_FSIZE,
	GUEST_LIM_NOFILE,
	GUEST_LIM_KERNEL_RESTART,
	GUEST_LIM_COUNT
};

/* WIRE_LIMITS keys with their default and accepted range. */
static const struct {
	const char *key;
	long long def;
	long long min;
	long long max;
} guest_limits[GUEST_LIM_COUNT] = {
    {WIRE_LIMIT_COMPILE_WALL_MS, 10000, 1, 86400000},
    {WIRE_LIMIT_RUN_WALL_MS, 5000, 1, 86400000},
    {WIRE_LIMIT_PIDS, 64, 1, 1 << 22},
    {WIRE_LIMIT_OUTPUT, 65536, 0, INT64_MAX},
    {WIRE_LIMIT_FSIZE, 64LL << 20, 0, INT64_MAX},
    {WIRE_LIMIT_NOFILE, 256, 3, 1 << 20},
    {WIRE_LIMIT_KERNEL_RESTART, 0, 0, 1},
};

/* One job as read up to GO. */
struct job {
	uint32_t id; /* its JOB record's, or 0 */
	int has_id;
	int seen;		 /* a record of it arrived */
	int failed;		 /* refused: skip its records up to GO */
	struct wire_buf env;	 /* "KEY=VALUE\0"... */
	struct wire_buf compile; /* argv, NUL-terminated strings */
	struct wire_buf run;
	struct wire_buf stdin_bytes;
	struct wire_buf handoff; /* argv for a prestarted interpreter */
	struct wire_buf code;	 /* a kernel step's code (CODE records) */
	int has_code;
	int has_compile;
	int has_run;
	int has_handoff;
	long long lim[GUEST_LIM_COUNT];
};

/* The upload of a session's FPUT..FEND. */
struct upload {
	int active;
	uint32_t id;
	int dfd; /* the target's directory */
	int fd;	 /* the temporary file */
	mode_t mode;
	char tmp[64];	   /* its name in dfd */
	char name[256];	   /* the target's last component */
	long long written; /* bytes so far */
};

/* An interpreter started ahead of the job, waiting on fd 3 for its argv. */
struct prestart {
	char **argv;   /* NULL when none was asked for */
	uint8_t stage; /* the stage it stands in for: WIRE_STAGE_RUN, or
			* WIRE_STAGE_COMPILE (--prestart-stage) */
	pid_t pid;     /* 0 when none is waiting */
	int fds[3];    /* our ends of its stdin, stdout and stderr */
	int go;	       /* our end of its fd 3 */
};

/* The guest's own state: the wire streams and /box. One per process. */
struct guest {
	int loop;	       /* --loop: serve jobs until stdin ends */
	int session;	       /* --session: jobs and file operations */
	const char *workdir;   /* --workdir, default GUEST_BOX */
	int bye;	       /* BYE or EOF: exit after the running job */
	struct wire_sess sess; /* a session's records from fd 0 */
	int has_pend;	       /* a record read during a stage, not yet used */
	uint8_t pend_type;
	struct wire_buf pend;
	uint32_t run_id; /* the job whose stage runs, when stage_pid */
	pid_t stage_pid; /* its main child, or 0 */
	struct upload up;
	int openat2_ok;	     /* -1 untried, 0 missing (ENOSYS), 1 works */
	uint32_t job_id;     /* the job being read or run */
	struct job sj;	     /* the job a session is reading */
	int boxfd;	     /* O_DIRECTORY fd of /box, or -1 */
	int box_errno;	     /* why boxfd is -1 */
	int sig_r;	     /* SIGCHLD self-pipe, read end */
	struct wire_dec dec; /* records from fd 0 */
	uint8_t in[GUEST_CHUNK];
	size_t in_pos;
	size_t in_len;
	int in_eof;
	struct wire_buf out; /* the record being written to fd 1 */
	uint8_t chunk[GUEST_CHUNK];
	char err[512];
	/* --prestart: the interpreter started ahead of the job; with
	 * --prestart-run beside a compiler server, rpre waits for the run. */
	struct prestart pre;
	struct prestart rpre;
	struct wire_buf rpre_list; /* --prestart-run's argv, NUL-separated */
	const char *pre_fifo;	 /* --prestart-fifo: hand pre its argv there */
	struct wire_buf pre_env; /* "KEY=VALUE\0"... both were started with */
	long long pre_lim[GUEST_LIM_COUNT];
	long long intr_ms; /* when an INTERRUPT reached the running stage */
	/* --kernel: the live interpreter of a kernel session (see the
	 * "Kernel mode" section). */
	char **k_argv;	       /* the runner's argv, NULL outside kernel mode */
	struct wire_buf k_env; /* "KEY=VALUE\0"... it runs with */
	long long k_lim[GUEST_LIM_COUNT];
	pid_t k_pid;	   /* 0 when none runs */
	int k_started;	   /* one was started before: a new one is a restart */
	long long k_count; /* steps run by this interpreter */
	int k_ctl;	   /* our end of its control pipe (its fd 3) */
	int k_res;	   /* our end of its result pipe (its fd 4) */
	int k_out;	   /* our ends of its stdout and stderr */
	int k_err;
	struct wire_buf k_scan; /* result bytes not yet framed */
};

/* One stage being run, and its outcome. */
struct stage {
	uint8_t id; /* WIRE_STAGE_COMPILE or WIRE_STAGE_RUN */
	char **argv;
	char **envp;
	const uint8_t *in; /* stdin bytes, or NULL for /dev/null */
	size_t in_len;
	long long wall_ms;
	const long long *lim;
	long long out_total; /* output bytes forwarded */
	int status;	     /* waitpid status of the main child */
	int reaped;
	int timed_out;
	int truncated;
	int prestarted; /* run by the prestarted interpreter */
	long long dur_ms;
};

static int guest_sig_w = -1;		      /* SIGCHLD self-pipe, write end */
static const char *guest_workdir = GUEST_BOX; /* --workdir */

/* Print a diagnostic line on the guest's own stderr (unbuffered). */
__attribute__((format(printf, 1, 2))) static void guest_log(const char *fmt,
							    ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("isobox-guest: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* Milliseconds on the monotonic clock. */
static long long guest_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Close *fd if open and mark it closed. */
static void guest_close(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

/* The host is gone (fd 1 broke): kill all user code and exit. */
__attribute__((noreturn)) static void guest_host_gone(void)
{
	kill(-1, SIGKILL);
	_exit(GUEST_EXIT_HOST_GONE);
}

/* Write all n bytes to fd 1, waiting out EINTR/EAGAIN; exits if it broke. */
static void guest_write_all(const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(1, p, n);

		if (w < 0) {
			struct pollfd pfd = {.fd = 1, .events = POLLOUT};

			if (errno == EINTR) {
				continue;
			}
			if (errno == EAGAIN && poll(&pfd, 1, -1) >= 0) {
				continue;
			}
			guest_host_gone();
		}
		p += w;
		n -= (size_t)w;
	}
}

/* Send one record to the host. */
static void guest_send(struct guest *g, uint8_t type, const void *p, size_t n)
{
	g->out.len = 0;
	if (wire_put(&g->out, type, p, n) < 0) {
		guest_log("out of memory building a record");
		guest_host_gone();
	}
	guest_write_all(g->out.p, g->out.len);
}

/* Send one record of id: id | head | data. */
static void guest_send_id(struct guest *g, uint8_t type, uint32_t id,
			  const void *head, size_t hn, const void *data,
			  size_t dn)
{
	g->out.len = 0;
	if (wire_put_id(&g->out, type, id, head, hn, data, dn) < 0) {
		guest_log("out of memory building a record");
		guest_host_gone();
	}
	guest_write_all(g->out.p, g->out.len);
}

/* Send FAIL(id, code, sentence). */
__attribute__((format(printf, 4, 5))) static void
guest_send_fail(struct guest *g, uint32_t id, const char *code, const char *fmt,
		...)
{
	char msg[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	g->out.len = 0;
	if (wire_put_fail(&g->out, id, code, msg) < 0) {
		guest_log("out of memory building a record");
		guest_host_gone();
	}
	guest_write_all(g->out.p, g->out.len);
}

/* Refuse the current job (FAIL, DONE) with every user process killed. */
static void guest_refuse(struct guest *g, const char *msg)
{
	guest_log("job %u failed: %s", (unsigned)g->job_id, msg);
	kill(-1, SIGKILL);
	guest_send_fail(g, g->job_id, WIRE_ERR_BAD_JOB, "%s", msg);
	guest_send_id(g, WIRE_DONE, g->job_id, NULL, 0, NULL, 0);
}

/* Report a job that could not be set up (FAIL, DONE) and exit 2. */
__attribute__((noreturn, format(printf, 2, 3))) static void
guest_fail(struct guest *g, const char *fmt, ...)
{
	char msg[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	guest_refuse(g, msg);
	exit(GUEST_EXIT_FAIL);
}

/* Append n raw bytes to b. Returns 0, or -1 when out of memory. */
static int guest_buf_add(struct wire_buf *b, const void *p, size_t n)
{
	if (n == 0) {
		return 0;
	}
	if (n > b->cap - b->len) {
		size_t ncap = b->cap ? b->cap : 256;
		uint8_t *np;

		while (ncap - b->len < n) {
			ncap *= 2;
		}
		np = realloc(b->p, ncap);
		if (np == NULL) {
			return -1;
		}
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

/* SIGCHLD: wake the poll loop through the self-pipe. */
static void guest_on_sigchld(int sig)
{
	int saved = errno;
	ssize_t r = write(guest_sig_w, "c", 1);

	(void)sig;
	(void)r;
	errno = saved;
}

/* SIGTERM/SIGINT: take every user process down with the guest. */
static void guest_on_term(int sig)
{
	(void)sig;
	kill(-1, SIGKILL);
	_exit(GUEST_EXIT_TERM);
}

/* Mark every inherited fd above 2 close-on-exec. */
static void guest_cloexec_all(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;

	if (d == NULL) {
		return;
	}
	while ((e = readdir(d)) != NULL) {
		char *end;
		long fd = strtol(e->d_name, &end, 10);

		if (end != e->d_name && *end == '\0' && fd > 2 &&
		    fd != dirfd(d)) {
			fcntl((int)fd, F_SETFD, FD_CLOEXEC);
		}
	}
	closedir(d);
}

/* Wipe the guest's own environment strings: this gVisor lets other uids read
 * /proc/1/environ despite PR_SET_DUMPABLE 0, and the guest needs none of it
 * (user code gets exactly the job's ENV). */
static void guest_scrub_environ(void)
{
	char **e;

	for (e = environ; e != NULL && *e != NULL; e++) {
		memset(*e, 0, strlen(*e));
	}
	clearenv();
}

/* Signals and the self-pipe; exits when they cannot be set up. */
static void guest_signals(struct guest *g)
{
	struct sigaction sa;
	int sp[2];

	if (pipe2(sp, O_CLOEXEC | O_NONBLOCK) < 0) {
		guest_log("cannot create the signal pipe: %s", strerror(errno));
		exit(GUEST_EXIT_FAIL);
	}
	g->sig_r = sp[0];
	guest_sig_w = sp[1];
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = guest_on_sigchld;
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	sigaction(SIGCHLD, &sa, NULL);
	sa.sa_handler = guest_on_term;
	sa.sa_flags = 0;
	sigaddset(&sa.sa_mask, SIGTERM);
	sigaddset(&sa.sa_mask, SIGINT);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
}

/* Open /box and make sure uid 65534 may write to it; failures are kept in
 * g->box_errno and reported when a job needs /box. */
static void guest_box_open(struct guest *g)
{
	struct stat st;

	g->boxfd = open(guest_workdir,
			O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (g->boxfd < 0 || fstat(g->boxfd, &st) < 0) {
		g->box_errno = errno;
		guest_log("cannot open %s: %s", guest_workdir, strerror(errno));
		guest_close(&g->boxfd);
		return;
	}
	if (st.st_uid == GUEST_UID ||
	    fchown(g->boxfd, GUEST_UID, GUEST_GID) == 0) {
		return;
	}
	/* No CAP_CHOWN: the owner may still open it up to everyone. */
	if (fchmod(g->boxfd, 0777) == 0) {
		guest_log(
		    "%s is owned by uid %u and cannot be chowned; made it "
		    "mode 0777 (mount it with uid=%d,gid=%d instead)",
		    guest_workdir, (unsigned)st.st_uid, GUEST_UID, GUEST_GID);
		return;
	}
	guest_log("%s is not writable by uid %d: %s", guest_workdir, GUEST_UID,
		  strerror(errno));
}

/* Switch the effective ids to 65534 (user=1) or back to 0 (user=0).
 * Returns 0 or -1 with errno set. */
static int guest_set_euid(int user)
{
	if (user) {
		if (setresgid(-1, GUEST_GID, -1) < 0 ||
		    setresuid(-1, GUEST_UID, -1) < 0) {
			return -1;
		}
		return 0;
	}
	if (setresuid(-1, 0, -1) < 0 || setresgid(-1, 0, -1) < 0) {
		return -1;
	}
	/* A credential change may reset it; keep /proc/1 closed. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	return 0;
}

/* Copy a name for a message, replacing control bytes with '?'. */
static void guest_printable(char *dst, size_t cap, const uint8_t *p, size_t n)
{
	size_t i;

	if (n > cap - 1) {
		n = cap - 1;
	}
	for (i = 0; i < n; i++) {
		dst[i] = (p[i] < 0x20 || p[i] == 0x7f) ? '?' : (char)p[i];
	}
	dst[n] = '\0';
}

/* Open directory comp under dfd without following a symlink, creating it
 * first when create is set. This gVisor follows one for
 * O_DIRECTORY|O_NOFOLLOW, so the opened inode is checked against an lstat.
 * Returns an fd or -1 (errno: ELOOP for a symlink, ENOTDIR for another
 * non-directory). */
static int guest_dir_at(int dfd, const char *comp, int create)
{
	struct stat lst;
	struct stat fst;
	int fd;

	if (create && mkdirat(dfd, comp, 0755) < 0 && errno != EEXIST) {
		return -1;
	}
	if (fstatat(dfd, comp, &lst, AT_SYMLINK_NOFOLLOW) < 0) {
		return -1;
	}
	if (!S_ISDIR(lst.st_mode)) {
		errno = S_ISLNK(lst.st_mode) ? ELOOP : ENOTDIR;
		return -1;
	}
	fd = openat(dfd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		return -1;
	}
	if (fstat(fd, &fst) < 0 || fst.st_dev != lst.st_dev ||
	    fst.st_ino != lst.st_ino) {
		close(fd);
		errno = ENOTDIR;
		return -1;
	}
	return fd;
}

static int guest_open_dir(int dfd, const char *comp)
{
	return guest_dir_at(dfd, comp, 1);
}

/* Write one FILE record under /box with effective ids 65534, never following
 * a symlink. Returns 0, or -1 with g->err set. */
static int guest_put_file(struct guest *g, const struct wire_rec *rec)
{
	char name[WIRE_MAX_NAME + 1];
	char walk[WIRE_MAX_NAME + 1];
	const uint8_t *data;
	size_t nl;
	size_t n;
	mode_t mode;
	char *comp;
	char *slash;
	int dfd = g->boxfd;
	int fd = -1;
	int as_user = 0;
	int e = 0;

	nl =
	    rec->len < 2 ? 0 : ((size_t)rec->payload[0] << 8) | rec->payload[1];
	if (rec->len < 2 || nl > rec->len - 2) {
		snprintf(g->err, sizeof(g->err), "a FILE record is malformed");
		return -1;
	}
	guest_printable(name, sizeof(name), rec->payload + 2, nl);
	if (wire_name_ok((const char *)rec->payload + 2, nl) < 0) {
		snprintf(g->err, sizeof(g->err),
			 "file name \"%s\" is not a safe relative path", name);
		return -1;
	}
	if (g->boxfd < 0) {
		snprintf(g->err, sizeof(g->err), "%s is unusable: %s",
			 guest_workdir, strerror(g->box_errno));
		return -1;
	}
	memcpy(walk, name, nl + 1);
	data = rec->payload + 2 + nl;
	n = rec->len - 2 - nl;
	mode = (n >= 2 && data[0] == '#' && data[1] == '!') ? 0755 : 0644;
	if (guest_set_euid(1) < 0) {
		goto fail;
	}
	as_user = 1;
	for (comp = walk; (slash = strchr(comp, '/')) != NULL;
	     comp = slash + 1) {
		int nfd;

		*slash = '\0';
		nfd = guest_open_dir(dfd, comp);
		if (nfd < 0) {
			goto fail;
		}
		if (dfd != g->boxfd) {
			close(dfd);
		}
		dfd = nfd;
	}
	if (unlinkat(dfd, comp, 0) < 0 && errno != ENOENT) {
		goto fail;
	}
	fd = openat(dfd, comp,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0) {
		goto fail;
	}
	while (n > 0) {
		ssize_t w = write(fd, data, n);

		if (w < 0 && errno == EINTR) {
			continue;
		}
		if (w <= 0) {
			errno = w < 0 ? errno : EIO;
			goto fail;
		}
		data += w;
		n -= (size_t)w;
	}
	if (fchmod(fd, mode) < 0) {
		goto fail;
	}
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	goto done;
fail:
	e = errno ? errno : EIO;
	snprintf(g->err, sizeof(g->err), "cannot write file \"%s\": %s", name,
		 strerror(e));
done:
	guest_close(&fd);
	if (dfd != g->boxfd) {
		close(dfd);
	}
	if (as_user && guest_set_euid(0) < 0) {
		guest_log("cannot return to uid 0: %s", strerror(errno));
		guest_host_gone();
	}
	return e ? -1 : 0;
}

/* ---- session file operations (wire.h: FPUT..FDEL) ---- */

/* The FAIL code of a file operation's errno. */
static const char *guest_errcode(int e)
{
	switch (e) {
	case ENOENT:
		return WIRE_ERR_NOT_FOUND;
	case EISDIR:
		return WIRE_ERR_IS_DIR;
	case ENOTDIR:
		return WIRE_ERR_NOT_DIR;
	case ELOOP:
	case EXDEV:
		return WIRE_ERR_SYMLINK;
	case ENOSPC:
		return WIRE_ERR_NO_SPACE;
	case EDQUOT:
		return WIRE_ERR_QUOTA;
	case EFBIG:
		return WIRE_ERR_TOO_LARGE;
	case EEXIST:
	case ENOTEMPTY:
		return WIRE_ERR_EXISTS;
	case EACCES:
	case EPERM:
	case EROFS:
		return WIRE_ERR_DENIED;
	case ENAMETOOLONG:
	case EINVAL:
		return WIRE_ERR_INVALID_PATH;
	case E2BIG:
		return WIRE_ERR_TOO_MANY;
	case ENODEV:
		return WIRE_ERR_NOT_REGULAR;
	default:
		return WIRE_ERR_IO;
	}
}

/* The sentence of an errno, with our own for the ones we give meaning. */
static const char *guest_errtext(int e)
{
	switch (e) {
	case ELOOP:
	case EXDEV:
		return "a component is a symbolic link (never followed)";
	case ENODEV:
		return "not a regular file";
	case E2BIG:
		return "too many entries or levels";
	default:
		return strerror(e);
	}
}

/* FAIL(id) for errno e about path. */
static void guest_op_fail(struct guest *g, uint32_t id, const char *what,
			  const char *path, int e)
{
	guest_send_fail(g, id, guest_errcode(e), "cannot %s \"%s\": %s", what,
			path, guest_errtext(e));
}

/* Copy the path of a file operation (p, n) into out, NUL-terminated.
 * Returns 0, or -1 when it is not a safe relative path (an empty one is
 * allowed when empty_ok: the work directory). */
static int guest_op_path(const uint8_t *p, size_t n, char *out, int empty_ok)
{
	if (n == 0 && empty_ok) {
		out[0] = '\0';
		return 0;
	}
	if (wire_path_ok((const char *)p, n) < 0) {
		return -1;
	}
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

/* Open the directory that holds path's last component, beneath the work
 * directory and without following a symlink anywhere; create missing
 * directories when create is set. *last points at the last component
 * inside path (left whole). Returns an fd (caller closes) or -1. */
static int guest_resolve(struct guest *g, char *path, int create, char **last)
{
	char *slash = strrchr(path, '/');
	char *comp;
	int dfd;

	if (g->boxfd < 0) {
		errno = g->box_errno ? g->box_errno : EIO;
		return -1;
	}
	if (slash == NULL) {
		*last = path;
		return fcntl(g->boxfd, F_DUPFD_CLOEXEC, 0);
	}
	*slash = '\0';
	*last = slash + 1;
	if (!create && g->openat2_ok != 0) {
		struct open_how how;
		long fd;

		memset(&how, 0, sizeof(how));
		how.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
		how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
			      RESOLVE_NO_MAGICLINKS;
		fd = syscall(SYS_openat2, g->boxfd, path, &how, sizeof(how));
		if (fd >= 0 || (errno != ENOSYS && errno != EPERM)) {
			int e = errno;

			g->openat2_ok = 1;
			*slash = '/';
			errno = e;
			return (int)fd;
		}
		g->openat2_ok = 0;
	}
	dfd = fcntl(g->boxfd, F_DUPFD_CLOEXEC, 0);
	for (comp = path; dfd >= 0 && comp != NULL;) {
		char *next = strchr(comp, '/');
		int nfd;

		if (next != NULL) {
			*next++ = '\0';
		}
		nfd = guest_dir_at(dfd, comp, create);
		close(dfd);
		dfd = nfd;
		if (next != NULL) {
			next[-1] = '/';
		}
		comp = next;
	}
	{
		int e = errno;

		*slash = '/';
		errno = e;
	}
	return dfd;
}

/* stat as FSTAT/FENTRY carry it (WIRE_STAT_LEN bytes). */
static void guest_stat_bytes(uint8_t *o, const struct stat *st)
{
	uint8_t t = S_ISREG(st->st_mode)   ? WIRE_FT_FILE
		    : S_ISDIR(st->st_mode) ? WIRE_FT_DIR
		    : S_ISLNK(st->st_mode) ? WIRE_FT_SYMLINK
					   : WIRE_FT_OTHER;
	int64_t ms =
	    (int64_t)st->st_mtim.tv_sec * 1000 + st->st_mtim.tv_nsec / 1000000;

	o[0] = t;
	wire_be32(o + 1, (uint32_t)(st->st_mode & 07777));
	wire_be64(o + 5, (uint64_t)st->st_size);
	wire_be64(o + 13, (uint64_t)ms);
}

/* Close and unlink the upload's temporary file. */
static void guest_upload_abandon(struct guest *g)
{
	struct upload *u = &g->up;

	int as_user;

	if (!u->active) {
		return;
	}
	/* The directory is the user's: unlink as the user (SYNC and EOF
	 * come here as uid 0, file operations as 65534). */
	as_user = geteuid() == 0 && guest_set_euid(1) == 0;
	guest_close(&u->fd);
	if (unlinkat(u->dfd, u->tmp, 0) < 0 && errno != ENOENT) {
		guest_log("cannot remove %s: %s", u->tmp, strerror(errno));
	}
	if (as_user && guest_set_euid(0) < 0) {
		guest_log("cannot return to uid 0: %s", strerror(errno));
		guest_host_gone();
	}
	guest_close(&u->dfd);
	u->active = 0;
}

/* FPUT: id | u32 mode | path. */
static void guest_op_put(struct guest *g, uint32_t id, const uint8_t *p,
			 size_t n, char *path)
{
	static unsigned seq;
	struct upload *u = &g->up;
	struct stat st;
	char *last;
	int dfd;

	guest_upload_abandon(g);
	if (guest_op_path(p + 4, n - 4, path, 0) < 0) {
		guest_send_fail(g, id, WIRE_ERR_INVALID_PATH,
				"the path is not a safe relative path");
		return;
	}
	dfd = guest_resolve(g, path, 1, &last);
	if (dfd < 0) {
		guest_op_fail(g, id, "create", path, errno);
		return;
	}
	if (fstatat(dfd, last, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISDIR(st.st_mode)) {
		close(dfd);
		guest_op_fail(g, id, "write", path, EISDIR);
		return;
	}
	memset(u, 0, sizeof(*u));
	u->mode = (mode_t)(wire_get32(p) & 0777);
	if (u->mode == 0) {
		u->mode = 0644;
	}
	snprintf(u->tmp, sizeof(u->tmp), ".isobox-up.%u.%u", (unsigned)id,
		 seq++);
	snprintf(u->name, sizeof(u->name), "%s", last);
	u->fd =
	    openat(dfd, u->tmp,
		   O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (u->fd < 0) {
		int e = errno;

		close(dfd);
		guest_op_fail(g, id, "create", path, e);
		return;
	}
	u->dfd = dfd;
	u->id = id;
	u->active = 1;
}

/* FDATA: id | bytes, for the open upload (anything else is ignored: the
 * rest of an upload that already failed). */
static void guest_op_data(struct guest *g, uint32_t id, const uint8_t *p,
			  size_t n)
{
	struct upload *u = &g->up;

	if (!u->active || u->id != id) {
		return;
	}
	while (n > 0) {
		ssize_t w = write(u->fd, p, n);

		if (w < 0 && errno == EINTR) {
			continue;
		}
		if (w <= 0) {
			int e = w < 0 ? errno : EIO;

			guest_upload_abandon(g);
			guest_op_fail(g, id, "write", u->name, e);
			return;
		}
		p += w;
		n -= (size_t)w;
		u->written += w;
	}
}

/* FEND: id. The upload takes the target's place (never half a file). */
static void guest_op_end(struct guest *g, uint32_t id)
{
	struct upload *u = &g->up;
	int e = 0;

	if (!u->active || u->id != id) {
		guest_send_fail(g, id, WIRE_ERR_NOT_FOUND,
				"no upload with this id is open");
		return;
	}
	if (fchmod(u->fd, u->mode) < 0 || close(u->fd) < 0) {
		e = errno;
	}
	u->fd = -1;
	if (e == 0 && renameat(u->dfd, u->tmp, u->dfd, u->name) < 0) {
		e = errno;
	}
	if (e != 0) {
		guest_upload_abandon(g);
		guest_op_fail(g, id, "write", u->name, e);
		return;
	}
	guest_close(&u->dfd);
	u->active = 0;
	guest_send_id(g, WIRE_DONE, id, NULL, 0, NULL, 0);
}

/* FGET: id | u64 offset | u64 length | path. FSTAT, FDATA..., DONE. */
static void guest_op_get(struct guest *g, uint32_t id, const uint8_t *p,
			 size_t n, char *path)
{
	uint64_t off = wire_get64(p);
	uint64_t left = wire_get64(p + 8);
	struct stat lst;
	struct stat st;
	uint8_t sb[WIRE_STAT_LEN];
	char *last;
	int dfd;
	int fd = -1;

	if (left == 0) {
		left = UINT64_MAX;
	}
	if (guest_op_path(p + 16, n - 16, path, 0) < 0) {
		guest_send_fail(g, id, WIRE_ERR_INVALID_PATH,
				"the path is not a safe relative path");
		return;
	}
	dfd = guest_resolve(g, path, 0, &last);
	if (dfd < 0 || fstatat(dfd, last, &lst, AT_SYMLINK_NOFOLLOW) < 0) {
		goto fail;
	}
	if (S_ISLNK(lst.st_mode) || S_ISDIR(lst.st_mode) ||
	    !S_ISREG(lst.st_mode)) {
		errno = S_ISLNK(lst.st_mode)   ? ELOOP
			: S_ISDIR(lst.st_mode) ? EISDIR
					       : ENODEV;
		goto fail;
	}
	/* O_NONBLOCK: a FIFO swapped in cannot block the open. */
	fd = openat(dfd, last,
		    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		goto fail;
	}
	if (!S_ISREG(st.st_mode) || st.st_ino != lst.st_ino ||
	    st.st_dev != lst.st_dev) {
		errno = ENODEV;
		goto fail;
	}
	close(dfd);
	dfd = -1;
	guest_stat_bytes(sb, &st);
	guest_send_id(g, WIRE_FSTAT, id, sb, sizeof(sb), NULL, 0);
	while (left > 0 && off < (uint64_t)INT64_MAX) {
		size_t want =
		    left < sizeof(g->chunk) ? (size_t)left : sizeof(g->chunk);
		ssize_t r = pread(fd, g->chunk, want, (off_t)off);

		if (r < 0 && errno == EINTR) {
			continue;
		}
		if (r < 0) {
			guest_op_fail(g, id, "read", path, errno);
			close(fd);
			return;
		}
		if (r == 0) {
			break;
		}
		guest_send_id(g, WIRE_FDATA, id, g->chunk, (size_t)r, NULL, 0);
		off += (uint64_t)r;
		left -= (uint64_t)r;
	}
	close(fd);
	guest_send_id(g, WIRE_DONE, id, NULL, 0, NULL, 0);
	return;
fail:
	guest_op_fail(g, id, "read", path, errno);
	if (fd >= 0) {
		close(fd);
	}
	if (dfd >= 0) {
		close(dfd);
	}
}

/* FLIST: id | path. FENTRY per entry (bounded), DONE(id | flags). */
static void guest_op_list(struct guest *g, uint32_t id, const uint8_t *p,
			  size_t n, char *path)
{
	struct dirent *de;
	uint8_t flags = 0;
	unsigned count = 0;
	char *last;
	DIR *d;
	int dfd;
	int fd;

	if (guest_op_path(p, n, path, 1) < 0) {
		guest_send_fail(g, id, WIRE_ERR_INVALID_PATH,
				"the path is not a safe relative path");
		return;
	}
	if (path[0] == '\0') {
		fd = g->boxfd < 0 ? -1 : fcntl(g->boxfd, F_DUPFD_CLOEXEC, 0);
	} else {
		dfd = guest_resolve(g, path, 0, &last);
		fd = dfd < 0 ? -1 : guest_dir_at(dfd, last, 0);
		if (dfd >= 0) {
			int e = errno;

			close(dfd);
			errno = e;
		}
	}
	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		int e = errno;

		if (fd >= 0) {
			close(fd);
		}
		guest_op_fail(g, id, "list", path, e);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		uint8_t sb[WIRE_STAT_LEN];
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) <
			0) {
			continue;
		}
		if (count == WIRE_LIST_MAX) {
			flags |= WIRE_DONE_TRUNCATED;
			break;
		}
		guest_stat_bytes(sb, &st);
		guest_send_id(g, WIRE_FENTRY, id, sb, sizeof(sb), de->d_name,
			      strlen(de->d_name));
		count++;
	}
	closedir(d);
	guest_send_id(g, WIRE_DONE, id, &flags, 1, NULL, 0);
}

/* Delete directory name under dfd and everything in it, never following a
 * symlink (a link is removed, not its target). *budget counts entries;
 * E2BIG when it runs out or the tree is deeper than WIRE_PATH_DEPTH * 2. */
static int guest_del_tree(int dfd, const char *name, int depth,
			  unsigned *budget)
{
	struct dirent *e;
	DIR *d;
	int fd;
	int rc = 0;

	if (depth > WIRE_PATH_DEPTH * 2) {
		errno = E2BIG;
		return -1;
	}
	fd = guest_dir_at(dfd, name, 0);
	if (fd < 0) {
		return -1;
	}
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return -1;
	}
	while (rc == 0 && (e = readdir(d)) != NULL) {
		struct stat st;

		if (strcmp(e->d_name, ".") == 0 ||
		    strcmp(e->d_name, "..") == 0) {
			continue;
		}
		if (*budget == 0) {
			errno = E2BIG;
			rc = -1;
			break;
		}
		(*budget)--;
		if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = errno == ENOENT ? 0 : -1;
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			rc = guest_del_tree(fd, e->d_name, depth + 1, budget);
		} else if (unlinkat(fd, e->d_name, 0) < 0 && errno != ENOENT) {
			rc = -1;
		}
	}
	closedir(d);
	if (rc == 0 && unlinkat(dfd, name, AT_REMOVEDIR) < 0) {
		rc = -1;
	}
	return rc;
}

/* FDEL: id | path. */
static void guest_op_del(struct guest *g, uint32_t id, const uint8_t *p,
			 size_t n, char *path)
{
	unsigned budget = WIRE_DEL_MAX;
	struct stat st;
	char *last;
	int dfd;
	int rc = -1;

	if (guest_op_path(p, n, path, 0) < 0) {
		guest_send_fail(g, id, WIRE_ERR_INVALID_PATH,
				"the path is not a safe relative path");
		return;
	}
	dfd = guest_resolve(g, path, 0, &last);
	if (dfd >= 0 && fstatat(dfd, last, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		rc = S_ISDIR(st.st_mode) ? guest_del_tree(dfd, last, 0, &budget)
					 : unlinkat(dfd, last, 0);
	}
	if (rc < 0) {
		int e = errno;

		if (dfd >= 0) {
			close(dfd);
		}
		guest_op_fail(g, id, "delete", path, e);
		return;
	}
	close(dfd);
	guest_send_id(g, WIRE_DONE, id, NULL, 0, NULL, 0);
}

/* One file operation record of a session, done as uid 65534. */
static void guest_file_op(struct guest *g, const struct wire_rec *rec)
{
	static char path[WIRE_PATH_MAX + 1];
	static const size_t need[] = {
	    ['P'] = 8, ['p'] = 4, ['e'] = 4, ['g'] = 20, ['l'] = 4, ['X'] = 4};
	const uint8_t *p;
	size_t n;
	uint32_t id;

	if (rec->len < need[rec->type] || wire_rec_id(rec, &id) < 0) {
		guest_send_fail(g, 0, WIRE_ERR_BAD_RECORD,
				"a file operation record (0x%02x) is too short",
				rec->type);
		return;
	}
	p = rec->payload + 4;
	n = rec->len - 4;
	if (guest_set_euid(1) < 0) {
		guest_send_fail(g, id, WIRE_ERR_DENIED,
				"cannot switch to uid %d: %s", GUEST_UID,
				strerror(errno));
		return;
	}
	switch (rec->type) {
	case WIRE_FPUT:
		guest_op_put(g, id, p, n, path);
		break;
	case WIRE_FDATA:
		guest_op_data(g, id, p, n);
		break;
	case WIRE_FEND:
		guest_op_end(g, id);
		break;
	case WIRE_FGET:
		guest_op_get(g, id, p, n, path);
		break;
	case WIRE_FLIST:
		guest_op_list(g, id, p, n, path);
		break;
	default:
		guest_op_del(g, id, p, n, path);
	}
	if (guest_set_euid(0) < 0) {
		guest_log("cannot return to uid 0: %s", strerror(errno));
		guest_host_gone();
	}
}

/* Apply a LIMITS record to j; unknown keys are ignored. Returns 0, or -1
 * with g->err set. */
static int guest_parse_limits(struct guest *g, struct job *j, const uint8_t *p,
			      size_t n)
{
	size_t i;
	size_t el;

	if (n > 0 && p[n - 1] != '\0') {
		snprintf(g->err, sizeof(g->err), "LIMITS is not terminated");
		return -1;
	}
	for (i = 0; i < n; i += el + 1) {
		const char *kv = (const char *)p + i;
		int k;

		el = strlen(kv);
		for (k = 0; k < GUEST_LIM_COUNT; k++) {
			const char *key = guest_limits[k].key;
			size_t kl = strlen(key);
			long long v;

			if (el <= kl || kv[kl] != '=' ||
			    memcmp(kv, key, kl) != 0) {
				continue;
			}
			if (!wire_kv_get(p + i, el + 1, key, &v) ||
			    v < guest_limits[k].min ||
			    v > guest_limits[k].max) {
				snprintf(g->err, sizeof(g->err),
					 "limit %s has a bad value", key);
				return -1;
			}
			j->lim[k] = v;
		}
	}
	return 0;
}

/* Store an argv record (COMPILE or RUN). Returns 0 or -1 with g->err set. */
static int guest_take_argv(struct guest *g, struct wire_buf *dst, int *has,
			   const struct wire_rec *rec, const char *what)
{
	if (*has) {
		snprintf(g->err, sizeof(g->err), "%s was sent twice", what);
		return -1;
	}
	if (rec->len < 2 || rec->payload[0] == '\0' ||
	    rec->payload[rec->len - 1] != '\0') {
		snprintf(g->err, sizeof(g->err), "%s argv is malformed", what);
		return -1;
	}
	if (guest_buf_add(dst, rec->payload, rec->len) < 0) {
		snprintf(g->err, sizeof(g->err), "out of memory");
		return -1;
	}
	*has = 1;
	return 0;
}

/* Store an ENV record: each entry must be KEY=VALUE with a non-empty key.
 * Returns 0 or -1 with g->err set. */
static int guest_take_env(struct guest *g, struct job *j,
			  const struct wire_rec *rec)
{
	size_t i;

	if (rec->len > 0 && rec->payload[rec->len - 1] != '\0') {
		snprintf(g->err, sizeof(g->err), "ENV is not terminated");
		return -1;
	}
	for (i = 0; i < rec->len;
	     i += strlen((const char *)rec->payload + i) + 1) {
		const char *kv = (const char *)rec->payload + i;
		const char *eq = strchr(kv, '=');

		if (eq == NULL || eq == kv) {
			snprintf(g->err, sizeof(g->err),
				 "an ENV entry is not KEY=VALUE");
			return -1;
		}
	}
	if (guest_buf_add(&j->env, rec->payload, rec->len) < 0) {
		snprintf(g->err, sizeof(g->err), "out of memory");
		return -1;
	}
	return 0;
}

/* The one-shot decoder's header check: type 0 only as an empty no-op. */
static int guest_check_oneshot(uint8_t type, uint32_t len)
{
	return type == WIRE_NOOP && len != 0;
}

static void guest_upload_abandon(struct guest *g);
static void guest_job_free(struct job *j);

/* Forget the half-read job and upload (SYNC, framing error). */
static void guest_drop(struct guest *g)
{
	guest_job_free(&g->sj);
	guest_upload_abandon(g);
}

/* Decode what is buffered of fd 0: 1 with *rec, 0 when more input is
 * needed, -1 on a framing error outside a session (g->err set). A session
 * resynchronises instead (wire_sess_feed) and drops what it half-read. */
static int guest_parse(struct guest *g, struct wire_rec *rec)
{
	size_t used = 0;
	int desync = 0;
	int r;

	if (g->in_pos == g->in_len) {
		return 0;
	}
	if (g->session) {
		r = wire_sess_feed(&g->sess, g->in + g->in_pos,
				   g->in_len - g->in_pos, &used, rec, &desync);
		g->in_pos += used;
		if (desync) {
			guest_log("framing error: dropped the half-read job "
				  "and upload, waiting for SYNC");
			guest_drop(g);
		}
		return r;
	}
	r = wire_dec_feed(&g->dec, g->in + g->in_pos, g->in_len - g->in_pos,
			  &used, rec);
	g->in_pos += used;
	if (r < 0) {
		snprintf(g->err, sizeof(g->err),
			 "a record header is malformed or too large");
	}
	return r;
}

/* One read of fd 0 into the empty input buffer; EOF or an error sets
 * in_eof. Returns 0, 1 when nothing could be read yet (EAGAIN, EINTR), or
 * -1 with g->err set on an error. */
static int guest_read_some(struct guest *g)
{
	ssize_t n = read(0, g->in, sizeof(g->in));

	if (n < 0) {
		if (errno == EINTR || errno == EAGAIN) {
			return 1;
		}
		snprintf(g->err, sizeof(g->err), "cannot read stdin: %s",
			 strerror(errno));
		g->in_eof = 1;
		return -1;
	}
	g->in_pos = 0;
	g->in_len = (size_t)n;
	g->in_eof = n == 0;
	return 0;
}

/* Next record from fd 0: 1 with *rec, 0 on EOF at a record boundary (in a
 * session: at any point), -1 on a protocol error or EOF inside a record
 * (g->err set). */
static int guest_read_rec(struct guest *g, struct wire_rec *rec)
{
	for (;;) {
		int r = guest_parse(g, rec);

		if (r != 0) {
			return r;
		}
		if (g->in_eof) {
			if (!g->session &&
			    (g->dec.hdr_have > 0 || g->dec.in_payload)) {
				snprintf(g->err, sizeof(g->err),
					 "stdin ended inside a record");
				return -1;
			}
			return 0;
		}
		r = guest_read_some(g);
		if (r < 0) {
			return g->session ? 0 : -1;
		}
		if (r > 0) {
			struct pollfd pfd = {.fd = 0, .events = POLLIN};

			poll(&pfd, 1, -1);
		}
	}
}

/* Apply one record of a job to j: 0, 1 on GO (j is complete), or -1 with
 * g->err set. The first record of a job resets its limits and id. */
static int guest_job_record(struct guest *g, struct job *j,
			    const struct wire_rec *rec)
{
	int k;
	int r = 0;

	if (!j->seen) {
		for (k = 0; k < GUEST_LIM_COUNT; k++) {
			j->lim[k] = guest_limits[k].def;
		}
		j->seen = 1;
		g->job_id = 0;
	}
	switch (rec->type) {
	case WIRE_JOB:
		if (j->has_id || rec->len != 4) {
			snprintf(g->err, sizeof(g->err),
				 "JOB is malformed or repeated");
			return -1;
		}
		j->id = wire_get32(rec->payload);
		j->has_id = 1;
		g->job_id = j->id;
		return 0;
	case WIRE_FILE:
		return guest_put_file(g, rec);
	case WIRE_ENV:
		return guest_take_env(g, j, rec);
	case WIRE_COMPILE:
		return guest_take_argv(g, &j->compile, &j->has_compile, rec,
				       "COMPILE");
	case WIRE_RUN:
		return guest_take_argv(g, &j->run, &j->has_run, rec, "RUN");
	case WIRE_STDIN:
		if (rec->len > WIRE_MAX_PAYLOAD - j->stdin_bytes.len ||
		    guest_buf_add(&j->stdin_bytes, rec->payload, rec->len) <
			0) {
			snprintf(g->err, sizeof(g->err),
				 "STDIN is larger than %u bytes",
				 WIRE_MAX_PAYLOAD);
			return -1;
		}
		return 0;
	case WIRE_LIMITS:
		return guest_parse_limits(g, j, rec->payload, rec->len);
	case WIRE_HANDOFF:
		if (j->has_handoff ||
		    (rec->len > 0 && rec->payload[rec->len - 1] != '\0')) {
			snprintf(g->err, sizeof(g->err),
				 "HANDOFF is malformed");
			r = -1;
		} else if (guest_buf_add(&j->handoff, rec->payload, rec->len) <
			   0) {
			snprintf(g->err, sizeof(g->err), "out of memory");
			r = -1;
		}
		j->has_handoff = 1;
		return r;
	case WIRE_CODE:
		if (rec->len > WIRE_MAX_PAYLOAD - j->code.len ||
		    guest_buf_add(&j->code, rec->payload, rec->len) < 0) {
			snprintf(g->err, sizeof(g->err),
				 "CODE is larger than %u bytes",
				 WIRE_MAX_PAYLOAD);
			return -1;
		}
		j->has_code = 1;
		return 0;
	case WIRE_GO:
		if (g->k_argv != NULL && j->has_code && !j->has_run &&
		    !j->has_compile) {
			return 1;
		}
		if (!j->has_run) {
			snprintf(g->err, sizeof(g->err),
				 "the job has no RUN record");
			return -1;
		}
		return 1;
	default:
		snprintf(g->err, sizeof(g->err),
			 "unexpected record type 0x%02x", rec->type);
		return -1;
	}
}

/* Read one job up to GO into j (zeroed by the caller). Returns 1 with a
 * job, or 0 on EOF before its first record in --loop mode; sends FAIL and
 * exits on anything else. */
static int guest_read_job(struct guest *g, struct job *j)
{
	struct wire_rec rec;
	int r;

	while ((r = guest_read_rec(g, &rec)) > 0) {
		if (rec.type == WIRE_NOOP) {
			continue;
		}
		r = guest_job_record(g, j, &rec);
		if (r == 1) {
			return 1;
		}
		if (r < 0) {
			guest_fail(g, "%s", g->err);
		}
	}
	if (r == 0 && !j->seen && g->loop) {
		return 0;
	}
	if (r == 0) {
		snprintf(g->err, sizeof(g->err), "stdin ended before GO");
	}
	guest_fail(g, "%s", g->err);
}

/* Exec argv with exactly envp, searching the PATH of envp (not the guest's)
 * when argv[0] has no slash. Returns the errno of the failure. */
static int guest_exec(char **argv, char **envp)
{
	const char *path = GUEST_DEFAULT_PATH;
	char full[GUEST_PATH_MAX];
	size_t al = strlen(argv[0]);
	int saved = ENOENT;
	char **e;

	if (strchr(argv[0], '/') != NULL) {
		execve(argv[0], argv, envp);
		return errno;
	}
	for (e = envp; *e != NULL; e++) {
		if (strncmp(*e, "PATH=", 5) == 0) {
			path = *e + 5;
		}
	}
	for (;;) {
		const char *end = strchrnul(path, ':');
		size_t dl = (size_t)(end - path);

		if (dl == 0) {
			full[0] = '.';
			dl = 1;
		} else if (dl < sizeof(full)) {
			memcpy(full, path, dl);
		}
		if (dl + 1 + al < sizeof(full)) {
			full[dl] = '/';
			memcpy(full + dl + 1, argv[0], al + 1);
			execve(full, argv, envp);
			if (errno == EACCES) {
				saved = EACCES;
			} else if (errno != ENOENT && errno != ENOTDIR &&
				   errno != ELOOP && errno != ENAMETOOLONG) {
				return errno;
			}
		}
		if (*end == '\0') {
			return saved;
		}
		path = end + 1;
	}
}

/* In the child: report a failed set-up step on stderr and exit 126. */
__attribute__((noreturn)) static void guest_child_abort(const char *what)
{
	dprintf(2, "isobox-guest: %s: %s\n", what, strerror(errno));
	_exit(126);
}

/* Set one rlimit (soft = hard) in the child or abort. Without
 * CAP_SYS_RESOURCE a hard limit cannot rise, so v is clamped to it. */
static void guest_child_rlimit(int res, long long v, const char *what)
{
	struct rlimit rl;

	if (getrlimit(res, &rl) < 0) {
		guest_child_abort(what);
	}
	if (rl.rlim_max == RLIM_INFINITY || (rlim_t)v < rl.rlim_max) {
		rl.rlim_max = (rlim_t)v;
	}
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(res, &rl) < 0) {
		guest_child_abort(what);
	}
}

/* In the forked child: wire fds 0/1/2 (and go_fd as 3 unless it is -1),
 * drop to 65534, apply the limits and exec the stage's argv. Never
 * returns. */
__attribute__((noreturn)) static void
guest_child(const struct stage *s, int in_fd, int out_fd, int err_fd, int go_fd)
{
	struct sigaction sa;
	sigset_t none;
	gid_t gid = GUEST_GID;
	int sig;
	int e;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (sig = 1; sig < NSIG; sig++) {
		sigaction(sig, &sa, NULL);
	}
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (dup2(err_fd, 2) < 0 || dup2(out_fd, 1) < 0 || dup2(in_fd, 0) < 0) {
		guest_child_abort("dup2");
	}
	if (go_fd == 3 ? fcntl(3, F_SETFD, 0) < 0
		       : go_fd >= 0 && dup2(go_fd, 3) < 0) {
		guest_child_abort("dup2");
	}
	if (setsid() < 0) {
		guest_child_abort("setsid");
	}
	if (setgroups(1, &gid) < 0) {
		guest_child_abort("setgroups");
	}
	if (setresgid(GUEST_GID, GUEST_GID, GUEST_GID) < 0) {
		guest_child_abort("setresgid");
	}
	if (setresuid(GUEST_UID, GUEST_UID, GUEST_UID) < 0) {
		guest_child_abort("setresuid");
	}
	/* gVisor (runsc 20221219) lets a uid hold RLIMIT_NPROC + 1 tasks
	 * where Linux allows RLIMIT_NPROC (THREAT_MODEL.md 8.5): one less
	 * makes "pids: N" mean N tasks, the program included. */
	guest_child_rlimit(
	    RLIMIT_NPROC,
	    s->lim[GUEST_LIM_PIDS] > 1 ? s->lim[GUEST_LIM_PIDS] - 1 : 1,
	    "RLIMIT_NPROC");
	guest_child_rlimit(RLIMIT_FSIZE, s->lim[GUEST_LIM_FSIZE],
			   "RLIMIT_FSIZE");
	guest_child_rlimit(RLIMIT_NOFILE, s->lim[GUEST_LIM_NOFILE],
			   "RLIMIT_NOFILE");
	guest_child_rlimit(RLIMIT_CORE, 0, "RLIMIT_CORE");
	if (chdir(guest_workdir) < 0) {
		guest_child_abort("chdir");
	}
	e = guest_exec(s->argv, s->envp);
	dprintf(2, "isobox-guest: cannot run %s: %s\n", s->argv[0],
		strerror(e));
	_exit(127);
}

/* --warm-exec RUN0 [WARM ARGV...]: the prestart bootstrap (registry.h) of
 * a runtime that cannot wait for its program itself. It runs WARM ARGV
 * once (stdio on /dev/null, at most GUEST_WARM_MS) so the runtime's files
 * are in the sandbox's caches, then reads the run argv from fd 3 and execs
 * RUN0 with it and the environment, rlimits, fds 0-2 and cwd it was given:
 * the program starts exactly as on the cold path, only sooner.
 *
 * The warm-up runs in a grandchild that a throwaway child leaves to PID 1
 * (the guest reaps it), so its CPU time is not among the program's
 * children's. It is a process group of its own, and a job that comes
 * before it ends does not wait for it (that time would count against the
 * job's wall limit): the group is killed. Its cwd, HOME and TMPDIR are a
 * private directory under /tmp, removed once the group is gone, so that a
 * warm-up cut short leaves nothing the program could see. Runs as the
 * user, not as PID 1. */
#define GUEST_WARM_MS	   10000
#define GUEST_WARM_GONE_MS 2000

/* From /proc/PID/stat: the state letter, process group and session of
 * pid (each pointer may be NULL). Returns 0, or -1 when it is gone. */
static int guest_proc_stat(long pid, char *state, int *pgrp, int *sid)
{
	char path[64];
	char buf[512];
	char *q;
	char st;
	int pg;
	int se;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		return -1;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0) {
		return -1;
	}
	buf[n] = '\0';
	/* The command name may hold anything, ')' too: fields follow the
	 * last ')'. After the state: the parent, the group, the session. */
	q = strrchr(buf, ')');
	if (q == NULL || sscanf(q + 1, " %c %*d %d %d", &st, &pg, &se) != 3) {
		return -1;
	}
	if (state != NULL) {
		*state = st;
	}
	if (pgrp != NULL) {
		*pgrp = pg;
	}
	if (sid != NULL) {
		*sid = se;
	}
	return 0;
}

/* 1 while a process of group pg lives (a zombie writes nothing more). */
static int guest_group_alive(pid_t pg)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int alive = 0;

	if (d == NULL) {
		return 0;
	}
	while (!alive && (e = readdir(d)) != NULL) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		char st;
		int pgrp;

		if (end != e->d_name && *end == '\0' && pid > 0 &&
		    guest_proc_stat(pid, &st, &pgrp, NULL) == 0 &&
		    pgrp == (int)pg && st != 'Z' && st != 'X') {
			alive = 1;
		}
	}
	closedir(d);
	return alive;
}

/* The pid of a child that exits at once: the namespace's next pid (the
 * kernel hands them out in order). -1 when fork fails. Its CPU time, a
 * fork's and an exit's, is among the program's children's, as the
 * throwaway child's of guest_warm_run is. */
static pid_t guest_pid_probe(void)
{
	pid_t p = fork();

	if (p == 0) {
		_exit(0);
	}
	if (p > 0) {
		while (waitpid(p, NULL, 0) < 0 && errno == EINTR) {
		}
	}
	return p;
}

/* SIGKILL process group pg until none of it lives. A group kill can miss
 * a child that a fork was making as it came (gVisor signals the group's
 * processes as listed when the kill starts; stop 32's CI saw a warm-up
 * Rscript outlive one, stop 33's a warm-up's sleep), and a look through
 * /proc can miss it too: /proc is listed first and each entry read after,
 * so a child made after the listing by a parent that is dead by the time
 * its entry is read is in neither. So a look counts only when no process
 * was made while it ran: a probe child before and after it, whose pids
 * are consecutive when none was. At most GUEST_WARM_GONE_MS. */
static void guest_warm_kill(pid_t pg)
{
	long long end = guest_now_ms() + GUEST_WARM_GONE_MS;

	for (;;) {
		struct timespec ts = {0, 2 * 1000 * 1000};
		pid_t before;
		int alive;

		kill(-pg, SIGKILL);
		before = guest_pid_probe();
		alive = guest_group_alive(pg);
		if ((!alive && before > 0 && guest_pid_probe() == before + 1) ||
		    guest_now_ms() >= end) {
			break;
		}
		if (alive) {
			nanosleep(&ts, NULL);
		}
	}
}

static int guest_rm_one(const char *path, const struct stat *sb, int flag,
			struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if (flag == FTW_DP) {
		rmdir(path);
	} else {
		unlink(path);
	}
	return 0;
}

static void guest_warm_run(char **warm)
{
	char dir[] = "/tmp/.isobox-warm-XXXXXX";
	int done[2];
	pid_t a;
	pid_t m = 0;

	if (mkdtemp(dir) == NULL) {
		return; /* no warm-up: the job only starts a little later */
	}
	if (pipe(done) < 0) {
		rmdir(dir);
		return;
	}
	a = fork();
	if (a == 0) {
		pid_t b;

		close(done[0]);
		if (fork() != 0) {
			_exit(0); /* b, the warm-up's parent, is PID 1's now */
		}
		m = getpid();
		if (setpgid(0, 0) < 0 ||
		    write(done[1], &m, sizeof(m)) != (ssize_t)sizeof(m)) {
			_exit(0);
		}
		fcntl(done[1], F_SETFD, FD_CLOEXEC);
		b = fork();
		if (b == 0) {
			int nul = open("/dev/null", O_RDWR);

			if (nul < 0 || dup2(nul, 0) < 0 || dup2(nul, 1) < 0 ||
			    dup2(nul, 2) < 0 || chdir(dir) < 0 ||
			    setenv("HOME", dir, 1) < 0 ||
			    setenv("TMPDIR", dir, 1) < 0) {
				_exit(127);
			}
			close(3);
			guest_exec(warm, environ);
			_exit(127);
		}
		if (b > 0) {
			long long end = guest_now_ms() + GUEST_WARM_MS;

			while (waitpid(b, NULL, WNOHANG) == 0) {
				struct timespec ts = {0, 5 * 1000 * 1000};

				if (guest_now_ms() >= end) {
					kill(b, SIGKILL);
				}
				nanosleep(&ts, NULL);
			}
		}
		_exit(0); /* closes done[1]: the warm-up is over */
	}
	close(done[1]);
	if (a > 0) {
		struct pollfd pf[2] = {{done[0], POLLIN, 0}, {3, POLLIN, 0}};

		while (waitpid(a, NULL, 0) < 0 && errno == EINTR) {
		}
		while (read(done[0], &m, sizeof(m)) < 0 && errno == EINTR) {
		}
		/* Until the warm-up ends (done's writer gone) or the job's
		 * argv arrives on fd 3. */
		while (m > 0) {
			int r = poll(pf, 2, -1);

			if (r < 0 && errno == EINTR) {
				continue;
			}
			if (r < 0 || pf[0].revents || pf[1].revents) {
				break;
			}
		}
	}
	close(done[0]);
	if (m > 0) {
		/* Whatever of it is left (all of it, when the job came
		 * first; else what it left running), and then its files. */
		guest_warm_kill(m);
	}
	nftw(dir, guest_rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

static int guest_warm_exec(int argc, char **argv)
{
	struct wire_buf in = {0};
	char **av;
	char **rest;
	size_t n = 0;
	size_t i;
	char buf[4096];
	int e;

	if (argc < 1) {
		guest_log(
		    "usage: isobox-guest --warm-exec RUN0 [WARM ARGV...]");
		return GUEST_EXIT_FAIL;
	}
	if (argc > 1) {
		guest_warm_run(argv + 1);
	}
	for (;;) {
		ssize_t r = read(3, buf, sizeof(buf));

		if (r < 0 && errno == EINTR) {
			continue;
		}
		if (r <= 0) {
			break;
		}
		if (guest_buf_add(&in, buf, (size_t)r) < 0) {
			return GUEST_EXIT_FAIL;
		}
	}
	close(3);
	rest = wire_list_split(in.p, in.len, &n);
	if (rest == NULL && in.len > 0) {
		return GUEST_EXIT_FAIL;
	}
	av = calloc(n + 2, sizeof(*av));
	if (av == NULL) {
		return GUEST_EXIT_FAIL;
	}
	av[0] = argv[0];
	for (i = 0; i < n; i++) {
		av[i + 1] = rest[i];
	}
	e = guest_exec(av, environ);
	dprintf(2, "isobox-guest: cannot run %s: %s\n", argv[0], strerror(e));
	return 127;
}

/* --warm-main RUN0: the prestart bootstrap of a C program that cannot wait
 * for its program itself but that libc starts (prestart/main-wait.c). It
 * execs RUN0 at once, argv RUN0 alone, with the environment, rlimits, fds
 * 0-3 and cwd it was given and LD_PRELOAD naming main-wait.so, whose
 * __libc_start_main waits on fd 3 for the run argv (as --warm-exec reads
 * it), takes LD_PRELOAD out of the environment and lets libc start the
 * program with the cold argv: a job's start does not pay the exec and the
 * dynamic loader. Runs as the user, not as PID 1. */
#define GUEST_MAIN_WAIT "/.isobox/prestart/main-wait.so"
static int guest_warm_main(int argc, char **argv)
{
	char *av[2];
	int e;

	if (argc != 1) {
		guest_log("usage: isobox-guest --warm-main RUN0");
		return GUEST_EXIT_FAIL;
	}
	/* The run's own LD_PRELOAD is not one to take away: wait here. */
	if (getenv("LD_PRELOAD") != NULL) {
		return guest_warm_exec(argc, argv);
	}
	if (setenv("LD_PRELOAD", GUEST_MAIN_WAIT, 1) < 0) {
		return GUEST_EXIT_FAIL;
	}
	av[0] = argv[0];
	av[1] = NULL;
	e = guest_exec(av, environ);
	dprintf(2, "isobox-guest: cannot run %s: %s\n", argv[0], strerror(e));
	return 127;
}

/* One look of guest_kill_others. */
static int guest_kill_others_once(pid_t spare, int spare_session)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int left = 0;

	if (d == NULL) {
		return 0;
	}
	while ((e = readdir(d)) != NULL) {
		char path[64];
		char st[512];
		char *end;
		char *t;
		long pid = strtol(e->d_name, &end, 10);
		ssize_t n;
		int sid;
		int fd;

		if (end == e->d_name || *end != '\0' || pid <= 1 ||
		    pid == spare) {
			continue;
		}
		snprintf(path, sizeof(path), "/proc/%ld/status", pid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			continue;
		}
		n = read(fd, st, sizeof(st) - 1);
		close(fd);
		if (n <= 0) {
			continue;
		}
		st[n] = '\0';
		/* A thread (listed by some kernels) is not a process to kill:
		 * kill() of its id would take its whole process. A zombie is
		 * dead already. */
		t = strstr(st, "\nTgid:");
		if (t != NULL && strtol(t + 6, NULL, 10) != pid) {
			continue;
		}
		if (spare_session && spare > 0 &&
		    guest_proc_stat(pid, NULL, NULL, &sid) == 0 &&
		    sid == spare) {
			continue;
		}
		t = strstr(st, "\nState:");
		if (t != NULL && strchr(t + 7, 'Z') != NULL &&
		    strchr(t + 7, 'Z') < strchr(t + 7, '\n')) {
			left += spare_session;
			continue;
		}
		kill((pid_t)pid, SIGKILL);
		left++;
	}
	closedir(d);
	return left;
}

/* SIGKILL every process but the guest and spare (0 for none), and with
 * spare_session every process of the session spare leads (its children:
 * a stage's process leads its own session, so no other stage's process
 * can join it). Returns how many were still alive, and with spare_session
 * counts the zombies left to reap too (a zombie's /proc entry is still
 * there for the next stage to see). "None" takes two looks in a row: a
 * look lists /proc first and reads each entry after, so a child that a
 * parent made after the listing and died (of an earlier kill) before its
 * entry was read is only in the next look's listing (the warm-up's kill
 * in guest_warm_kill is the case that was seen). */
static int guest_kill_others(pid_t spare, int spare_session)
{
	int left = guest_kill_others_once(spare, spare_session);

	return left > 0 ? left : guest_kill_others_once(spare, spare_session);
}

static void guest_prestart_gone(struct prestart *pre);

/* Reap every exited child without blocking, noting the main child's status
 * (pid's); a --prestart-run interpreter that died while it waited is
 * forgotten. Returns 1 when no child is left at all. */
static int guest_reap(struct guest *g, struct stage *s, pid_t pid)
{
	for (;;) {
		int st;
		pid_t p = waitpid(-1, &st, WNOHANG | __WALL);

		if (p > 0) {
			if (p == pid) {
				s->status = st;
				s->reaped = 1;
			} else if (p == g->rpre.pid) {
				guest_prestart_gone(&g->rpre);
			}
			continue;
		}
		if (p < 0 && errno == EINTR) {
			continue;
		}
		return p < 0 && errno == ECHILD;
	}
}

/* SIGKILL every process of the stage: all but the guest, and but a
 * --prestart-run interpreter (and what it started) that waits for the run
 * stage while a compile stage ends. Returns 1 when those were the only
 * processes left. */
static int guest_kill_stage(struct guest *g)
{
	if (g->rpre.pid > 0) {
		return guest_kill_others(g->rpre.pid, 1) == 0;
	}
	kill(-1, SIGKILL);
	return 0;
}

/* Feed the child's stdin pipe what it takes without blocking; closes *fd
 * when everything is written or the reader is gone. */
static void guest_pump_in(struct stage *s, int *fd, size_t *off)
{
	size_t left = s->in_len - *off;
	ssize_t w;

	w = write(*fd, s->in + *off, left < GUEST_CHUNK ? left : GUEST_CHUNK);
	if (w < 0) {
		if (errno != EAGAIN && errno != EINTR) {
			guest_close(fd); /* EPIPE: the reader left */
		}
		return;
	}
	*off += (size_t)w;
	if (*off == s->in_len) {
		guest_close(fd);
	}
}

/* Read one chunk of stream 1|2 from *fd and forward what fits under the
 * output cap; past the cap, set truncated and kill all user code. Closes
 * *fd at EOF. */
static void guest_pump_out(struct guest *g, struct stage *s, int *fd,
			   uint8_t stream)
{
	long long cap = s->lim[GUEST_LIM_OUTPUT];
	ssize_t n = read(*fd, g->chunk, sizeof(g->chunk));
	size_t keep;

	if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
		return;
	}
	if (n <= 0) {
		guest_close(fd);
		return;
	}
	if (s->truncated) {
		return;
	}
	keep = (size_t)n;
	if ((long long)keep > cap - s->out_total) {
		keep = (size_t)(cap - s->out_total);
		s->truncated = 1;
	}
	if (keep > 0) {
		g->out.len = 0;
		if (wire_put_out(&g->out, g->job_id, s->id, stream, g->chunk,
				 keep) < 0) {
			guest_log("out of memory building a record");
			guest_host_gone();
		}
		guest_write_all(g->out.p, g->out.len);
		s->out_total += (long long)keep;
	}
	/* A kernel step is interrupted instead (its interpreter lives on):
	 * guest_kernel_step sees truncated. */
	if (s->truncated && g->k_argv == NULL) {
		guest_kill_stage(g);
	}
}

/* SYNC: drop the half-read job and upload, answer SYNCED. */
static void guest_sync(struct guest *g, const struct wire_rec *rec)
{
	if (rec->len != WIRE_NONCE_LEN) {
		guest_log("a SYNC record of %zu bytes ignored", rec->len);
		return;
	}
	guest_drop(g);
	guest_send(g, WIRE_SYNCED, rec->payload, rec->len);
}

/* INTERRUPT: SIGINT to the process group of the job's running stage. */
static void guest_interrupt(struct guest *g, const struct wire_rec *rec)
{
	uint32_t id;

	if (rec->len != 4 || wire_rec_id(rec, &id) < 0) {
		return;
	}
	if (g->stage_pid > 0 && id == g->run_id) {
		guest_log("job %u: interrupted", (unsigned)id);
		kill(-g->stage_pid, SIGINT);
		if (g->intr_ms == 0) {
			g->intr_ms = guest_now_ms();
		}
	}
}

/* While a stage of a session runs: act on what is buffered of fd 0. An
 * INTERRUPT, a SYNC and no-ops are handled at once; the first other record
 * is kept for after the job and input stops being read until then. */
static void guest_stage_input(struct guest *g)
{
	struct wire_rec rec;

	while (g->session && !g->has_pend) {
		if (guest_parse(g, &rec) <= 0) {
			return;
		}
		switch (rec.type) {
		case WIRE_NOOP:
			break;
		case WIRE_INTR:
			guest_interrupt(g, &rec);
			break;
		case WIRE_SYNC:
			guest_sync(g, &rec);
			break;
		default:
			g->pend.len = 0;
			if (guest_buf_add(&g->pend, rec.payload, rec.len) < 0) {
				guest_log("out of memory keeping a record");
				guest_host_gone();
			}
			g->pend_type = rec.type;
			g->has_pend = 1;
		}
	}
}

/* Run the poll loop of a started stage until its main child has exited, its
 * pipes are drained and every other process is killed and reaped. fds are
 * the parent's ends of stdin (or -1), stdout and stderr; they are closed. */
static void guest_stage_loop(struct guest *g, struct stage *s, pid_t pid,
			     long long t0, int fds[3])
{
	enum { RUNNING, DRAIN, FINAL } phase = RUNNING;
	long long deadline = t0 + s->wall_ms;
	long long until = 0;
	long long last_kill = 0;
	size_t in_off = 0;
	int i;

	if (s->in_len == 0) {
		guest_close(&fds[0]);
	}
	g->stage_pid = pid;
	g->run_id = g->job_id;
	for (;;) {
		struct pollfd pfd[5];
		int nochild = guest_reap(g, s, pid);
		long long now = guest_now_ms();
		long long tmo;
		int np = 0;
		int host_in;

		guest_stage_input(g);
		host_in = g->session && !g->has_pend && !g->in_eof;

		if (phase == RUNNING && s->reaped) {
			phase = DRAIN;
			until = now + GUEST_DRAIN_MS;
			guest_close(&fds[0]);
		} else if (phase == RUNNING && !s->timed_out &&
			   now >= deadline) {
			s->timed_out = 1;
			guest_kill_stage(g);
			last_kill = now;
		}
		if (phase == DRAIN &&
		    ((fds[1] < 0 && fds[2] < 0) || now >= until)) {
			phase = FINAL;
			until = now + GUEST_FINAL_MS;
			guest_kill_stage(g);
			last_kill = now;
		}
		/* Beside a waiting --prestart-run interpreter there is always
		 * a child: done when it is the only process left. */
		if (phase == FINAL && !nochild && g->rpre.pid > 0) {
			nochild = guest_kill_stage(g);
			last_kill = now; /* that was this tick's kill */
		}
		if (phase == FINAL && nochild && fds[1] < 0 && fds[2] < 0) {
			break;
		}
		if (phase == FINAL && now >= until) {
			guest_log("stage %c: processes outlived SIGKILL",
				  s->id);
			break;
		}
		/* Once killing, keep at it: forks may race the first kill. */
		if ((phase == FINAL || s->timed_out || s->truncated) &&
		    now - last_kill >= GUEST_TICK_MS) {
			guest_kill_stage(g);
			last_kill = now;
		}
		if (phase == RUNNING) {
			tmo = s->timed_out ? GUEST_TICK_MS : deadline - now;
		} else {
			tmo = until - now;
		}
		if ((phase == FINAL || s->timed_out || s->truncated) &&
		    tmo > GUEST_TICK_MS) {
			tmo = GUEST_TICK_MS;
		}
		pfd[np++] = (struct pollfd){.fd = g->sig_r, .events = POLLIN};
		for (i = 0; i < 3; i++) {
			pfd[np++] = (struct pollfd){
			    .fd = fds[i], .events = i ? POLLIN : POLLOUT};
		}
		pfd[np++] =
		    (struct pollfd){.fd = host_in ? 0 : -1, .events = POLLIN};
		if (poll(pfd, (nfds_t)np, tmo > 0 ? (int)tmo : 0) < 0) {
			continue; /* EINTR */
		}
		if (host_in && pfd[4].revents) {
			guest_read_some(g);
		}
		if (pfd[0].revents) {
			char drain[64];

			while (read(g->sig_r, drain, sizeof(drain)) > 0) {
			}
		}
		if (fds[0] >= 0 && pfd[1].revents) {
			guest_pump_in(s, &fds[0], &in_off);
		}
		if (fds[1] >= 0 && pfd[2].revents) {
			guest_pump_out(g, s, &fds[1], 1);
		}
		if (fds[2] >= 0 && pfd[3].revents) {
			guest_pump_out(g, s, &fds[2], 2);
		}
	}
	for (i = 0; i < 3; i++) {
		guest_close(&fds[i]);
	}
	g->stage_pid = 0;
	s->dur_ms = guest_now_ms() - t0;
}

/* Fork the child of stage s with its pipes (go_fd becomes its fd 3 unless
 * it is -1). Returns its pid with our ends of its stdin (or -1), stdout
 * and stderr in fds, or -1 with errno set. */
static pid_t guest_spawn(struct stage *s, int go_fd, int fds[3])
{
	int p[6] = {-1, -1, -1, -1, -1, -1}; /* stdin, stdout, stderr pipes */
	int *inp = p;
	int *outp = p + 2;
	int *errp = p + 4;
	sigset_t all;
	sigset_t old;
	pid_t pid;
	int e;
	int i;

	if (s->in == NULL) {
		inp[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
	if ((inp[0] < 0 && pipe2(inp, O_CLOEXEC) < 0) ||
	    pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
		goto fail;
	}
	if ((inp[1] >= 0 && fcntl(inp[1], F_SETFL, O_NONBLOCK) < 0) ||
	    fcntl(outp[0], F_SETFL, O_NONBLOCK) < 0 ||
	    fcntl(errp[0], F_SETFL, O_NONBLOCK) < 0) {
		goto fail;
	}
	/* The child must not run the guest's handlers before it resets them. */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	pid = fork();
	if (pid == 0) {
		guest_child(s, inp[0], outp[1], errp[1], go_fd);
	}
	e = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid < 0) {
		errno = e;
		goto fail;
	}
	close(inp[0]);
	close(outp[1]);
	close(errp[1]);
	fds[0] = inp[1];
	fds[1] = outp[0];
	fds[2] = errp[0];
	return pid;
fail:
	e = errno;
	for (i = 0; i < 6; i++) {
		guest_close(&p[i]);
	}
	errno = e;
	return -1;
}

/* Run one stage to its end. Returns 0, or -1 with g->err set when it could
 * not be started. */
static int guest_stage(struct guest *g, struct stage *s)
{
	long long t0 = guest_now_ms();
	int fds[3];
	pid_t pid = guest_spawn(s, -1, fds);

	if (pid < 0) {
		snprintf(g->err, sizeof(g->err),
			 "cannot start the %s stage: %s",
			 s->id == WIRE_STAGE_COMPILE ? "compile" : "run",
			 strerror(errno));
		return -1;
	}
	guest_stage_loop(g, s, pid, t0, fds);
	return 0;
}

/* Start one prestart interpreter: the child of the stage it stands in for,
 * waiting on fd 3 for its argv. On failure there is simply none (jobs run
 * the ordinary way). */
static void guest_prestart_one(struct guest *g, struct prestart *pre)
{
	/* The user's FIFO instead of fd 3, for a runtime that cannot close a
	 * descriptor it did not open (it opens the FIFO by name, reads it to
	 * EOF, closes and removes it). Then no pipe is made here either: a
	 * pipe takes the next pipe inode number, which the stage's own pipes
	 * (its stdio, /proc/self/fd) would show one higher than a cold
	 * stage's. */
	int fifo = pre == &g->pre && g->pre_fifo != NULL;
	int go[2] = {-1, -1};
	struct stage s;
	char **envp;

	pre->pid = 0;
	envp = wire_list_split(g->pre_env.p, g->pre_env.len, NULL);
	if (envp == NULL && g->pre_env.len == 0) {
		envp = calloc(1, sizeof(*envp));
	}
	if (envp == NULL || (!fifo && pipe2(go, O_CLOEXEC) < 0)) {
		guest_log("cannot prestart: %s", strerror(errno));
		free(envp);
		return;
	}
	memset(&s, 0, sizeof(s));
	s.id = pre->stage;
	s.argv = pre->argv;
	s.envp = envp;
	/* A compile stage's stdin is /dev/null, a run stage's a pipe. */
	s.in = pre->stage == WIRE_STAGE_RUN ? (const uint8_t *)"" : NULL;
	s.lim = g->pre_lim;
	if (fifo) {
		int made = -1;

		if (guest_set_euid(1) == 0) {
			made = mkfifo(g->pre_fifo, 0600);
			if (guest_set_euid(0) < 0) {
				guest_fail(g, "cannot switch back to root");
			}
		}
		if (made < 0) {
			guest_log("cannot prestart: mkfifo %s: %s", g->pre_fifo,
				  strerror(errno));
			free(envp);
			return;
		}
	}
	pre->pid = guest_spawn(&s, go[0], pre->fds);
	guest_close(&go[0]);
	free(envp);
	if (pre->pid < 0) {
		guest_log("cannot prestart: %s", strerror(errno));
		pre->pid = 0;
		guest_close(&go[1]);
		return;
	}
	pre->go = go[1];
}

/* Start the --prestart interpreter (the run stage's, or with
 * --prestart-stage compile a compiler server) and the --prestart-run one
 * beside a compiler server. */
static void guest_prestart(struct guest *g)
{
	guest_prestart_one(g, &g->pre);
	if (g->rpre.argv != NULL) {
		guest_prestart_one(g, &g->rpre);
	}
}

/* Remove the --prestart-fifo the bootstrap did not take (as the user: in
 * the sticky /tmp only the owner may). */
static void guest_fifo_remove(struct guest *g)
{
	struct stat st;

	if (g->pre_fifo == NULL || lstat(g->pre_fifo, &st) < 0 ||
	    !S_ISFIFO(st.st_mode) || guest_set_euid(1) < 0) {
		return;
	}
	unlink(g->pre_fifo);
	if (guest_set_euid(0) < 0) {
		guest_fail(g, "cannot switch back to root");
	}
}

/* Forget a prestart interpreter that is gone (reaped). */
static void guest_prestart_gone(struct prestart *pre)
{
	int i;

	pre->pid = 0;
	guest_close(&pre->go);
	for (i = 0; i < 3; i++) {
		guest_close(&pre->fds[i]);
	}
}

/* Take the waiting interpreters down (a job they cannot serve, or the
 * job's end). */
static void guest_prestart_kill(struct guest *g)
{
	struct prestart *all[2] = {&g->pre, &g->rpre};
	int i;

	for (i = 0; i < 2; i++) {
		if (all[i]->pid <= 0) {
			continue;
		}
		kill(all[i]->pid, SIGKILL);
		while (waitpid(all[i]->pid, NULL, __WALL) < 0 &&
		       errno == EINTR) {
		}
		guest_prestart_gone(all[i]);
	}
	guest_fifo_remove(g);
}

/* 1 when the prestart is the guest's --warm-exec or --warm-main: it runs
 * the run argv as given, so every argv is the cold path's exactly. */
static int guest_prestart_execs(const struct guest *g)
{
	return g->pre.argv != NULL && g->pre.argv[0] != NULL &&
	       g->pre.argv[1] != NULL &&
	       (strcmp(g->pre.argv[1], "--warm-exec") == 0 ||
		strcmp(g->pre.argv[1], "--warm-main") == 0) &&
	       strcmp(g->pre.argv[0], "/.isobox/guest") == 0;
}

/* Open --prestart-fifo for writing into pre->go once the bootstrap has it
 * open for reading (it may still be starting: at most GUEST_FIFO_MS).
 * Returns 0, or -1. */
#define GUEST_FIFO_MS 10000
static int guest_fifo_open(struct guest *g, struct prestart *pre)
{
	long long until = guest_now_ms() + GUEST_FIFO_MS;
	int fd;

	guest_close(&pre->go);
	for (;;) {
		siginfo_t si;
		int e;

		/* The user's FIFO (0600): opened as the user. */
		if (guest_set_euid(1) < 0) {
			return -1;
		}
		fd = open(g->pre_fifo,
			  O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
		e = errno;
		if (guest_set_euid(0) < 0) {
			guest_fail(g, "cannot switch back to root");
		}
		errno = e;
		if (fd >= 0 || errno != ENXIO || guest_now_ms() >= until) {
			break;
		}
		/* Not while it is gone (left to be reaped). */
		memset(&si, 0, sizeof(si));
		if (waitid(P_PID, (id_t)pre->pid, &si,
			   WEXITED | WNOHANG | WNOWAIT) < 0 ||
		    si.si_pid != 0) {
			break;
		}
		usleep(2000);
	}
	if (fd < 0 || fcntl(fd, F_SETFL, 0) < 0) {
		guest_close(&fd);
		return -1;
	}
	pre->go = fd;
	return 0;
}

/* Run stage s of j by the prestarted interpreter if it stands in for that
 * stage and can serve j. Returns 1 when it did, 0 when s must be run the
 * ordinary way (the interpreters are then gone). The run of a compiled job
 * goes to the --prestart-run interpreter, if one waits: it is handed the
 * run argv after its first element (HANDOFF is the compile argv's). */
static int guest_stage_handoff(struct guest *g, const struct job *j,
			       struct stage *s)
{
	static const int keys[] = {GUEST_LIM_PIDS, GUEST_LIM_FSIZE,
				   GUEST_LIM_NOFILE};
	struct prestart *pre = &g->pre;
	const uint8_t *p = j->handoff.p;
	size_t n = j->handoff.len;
	long long t0;
	pid_t pid;
	size_t i;

	if (s->id == WIRE_STAGE_RUN && j->has_compile && g->rpre.pid > 0) {
		const uint8_t *z = memchr(j->run.p, '\0', j->run.len);

		pre = &g->rpre;
		p = z != NULL ? z + 1 : NULL;
		n = z != NULL ? j->run.len - (size_t)(p - j->run.p) : 0;
	}
	if (pre->pid <= 0) {
		return 0;
	}
	/* An option-like or missing entry file is the interpreter's own
	 * business (its usage error, or reading the program from stdin):
	 * only the ordinary way gets that exactly right. '+' too: the elixir
	 * script takes "+iex" and "+elixirc" for modes. Not for --warm-exec,
	 * which execs the run argv itself (the catalogue's options first:
	 * gawk -f, sbcl --script). */
	if (!j->has_handoff || s->id != pre->stage ||
	    (s->id == WIRE_STAGE_RUN && j->has_compile && pre != &g->rpre) ||
	    n == 0 ||
	    (!(pre == &g->pre && guest_prestart_execs(g)) &&
	     (p[0] == '-' || p[0] == '+' || p[0] == '\0')) ||
	    j->env.len != g->pre_env.len ||
	    (j->env.len && memcmp(j->env.p, g->pre_env.p, j->env.len) != 0)) {
		guest_prestart_kill(g);
		return 0;
	}
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (j->lim[keys[i]] != g->pre_lim[keys[i]]) {
			guest_prestart_kill(g);
			return 0;
		}
	}
	t0 = guest_now_ms();
	if (pre == &g->pre && g->pre_fifo != NULL &&
	    guest_fifo_open(g, pre) < 0) {
		guest_log("the prestarted interpreter does not read %s",
			  g->pre_fifo);
		guest_prestart_kill(g);
		return 0;
	}
	while (n > 0) {
		ssize_t w = write(pre->go, p, n);

		if (w < 0 && errno == EINTR) {
			continue;
		}
		if (w <= 0) {
			/* It died while waiting: run the ordinary way. */
			guest_log("the prestarted interpreter is gone: %s",
				  strerror(errno));
			guest_prestart_kill(g);
			return 0;
		}
		p += w;
		n -= (size_t)w;
	}
	guest_close(&pre->go);
	s->prestarted = 1;
	/* From here it is the stage's process, no longer one to spare. */
	pid = pre->pid;
	pre->pid = 0;
	guest_stage_loop(g, s, pid, t0, pre->fds);
	return 1;
}

/* Send the RESULT record of a finished stage. */
static void guest_send_result(struct guest *g, const struct stage *s)
{
	struct wire_buf b = {0};
	long long code = -1;
	long long sig = 0;

	if (s->reaped && WIFEXITED(s->status)) {
		code = WEXITSTATUS(s->status);
	} else if (s->reaped && WIFSIGNALED(s->status)) {
		sig = WTERMSIG(s->status);
		code = 128 + sig;
	}
	if (guest_buf_add(&b, &s->id, 1) < 0 ||
	    wire_kv_add(&b, WIRE_RES_EXIT, code) < 0 ||
	    wire_kv_add(&b, WIRE_RES_SIGNAL, sig) < 0 ||
	    wire_kv_add(&b, WIRE_RES_TIMED_OUT, s->timed_out) < 0 ||
	    wire_kv_add(&b, WIRE_RES_TRUNCATED, s->truncated) < 0 ||
	    wire_kv_add(&b, WIRE_RES_DURATION, s->dur_ms) < 0 ||
	    (s->prestarted && wire_kv_add(&b, WIRE_RES_PRESTARTED, 1) < 0)) {
		guest_log("out of memory building a record");
		guest_host_gone();
	}
	guest_send_id(g, WIRE_RESULT, g->job_id, b.p, b.len, NULL, 0);
	wire_buf_free(&b);
}

/* A job could not be run: exit as before outside a session; a session
 * reports it (FAIL, DONE) and serves the next record. */
static void guest_job_error(struct guest *g, const char *msg)
{
	if (!g->session) {
		guest_fail(g, "%s", msg);
	}
	guest_refuse(g, msg);
}

static void guest_kernel_step(struct guest *g, struct job *j);
static void guest_kernel_start(struct guest *g);

/* Run the stages of a job that was read completely, then send DONE. */
static void guest_run_job(struct guest *g, struct job *j)
{
	char **envp = wire_list_split(j->env.p, j->env.len, NULL);
	char **cargv = NULL;
	char **rargv = wire_list_split(j->run.p, j->run.len, NULL);
	struct stage s;
	int go_on = 1;

	g->job_id = j->id;
	if (g->k_argv != NULL && j->has_code) {
		guest_kernel_step(g, j);
		goto out;
	}
	if (j->has_compile) {
		cargv = wire_list_split(j->compile.p, j->compile.len, NULL);
	}
	if (envp == NULL || rargv == NULL || (j->has_compile && !cargv)) {
		guest_job_error(g, "out of memory");
		goto out;
	}
	if (j->has_compile) {
		memset(&s, 0, sizeof(s));
		s.id = WIRE_STAGE_COMPILE;
		s.argv = cargv;
		s.envp = envp;
		s.wall_ms = j->lim[GUEST_LIM_COMPILE_WALL];
		s.lim = j->lim;
		/* A compiler server (--prestart-stage compile) compiles;
		 * the run stage after it is always the ordinary one. */
		if (!guest_stage_handoff(g, j, &s) && guest_stage(g, &s) < 0) {
			guest_job_error(g, g->err);
			goto out;
		}
		guest_send_result(g, &s);
		go_on = s.reaped && WIFEXITED(s.status) &&
			WEXITSTATUS(s.status) == 0 && !s.timed_out;
	}
	if (go_on) {
		memset(&s, 0, sizeof(s));
		s.id = WIRE_STAGE_RUN;
		s.argv = rargv;
		s.envp = envp;
		s.in =
		    j->stdin_bytes.p ? j->stdin_bytes.p : (const uint8_t *)"";
		s.in_len = j->stdin_bytes.len;
		s.wall_ms = j->lim[GUEST_LIM_RUN_WALL];
		s.lim = j->lim;
		if (!guest_stage_handoff(g, j, &s) && guest_stage(g, &s) < 0) {
			guest_job_error(g, g->err);
			goto out;
		}
		guest_send_result(g, &s);
	}
	guest_prestart_kill(g);
	guest_send_id(g, WIRE_DONE, g->job_id, NULL, 0, NULL, 0);
out:
	free(envp);
	free(cargv);
	free(rargv);
}

static void guest_job_free(struct job *j)
{
	wire_buf_free(&j->env);
	wire_buf_free(&j->compile);
	wire_buf_free(&j->run);
	wire_buf_free(&j->stdin_bytes);
	wire_buf_free(&j->handoff);
	wire_buf_free(&j->code);
	memset(j, 0, sizeof(*j));
}

/* ------------------------------------------------------------------ */
/* Kernel mode (--kernel ARGV, with --session).
 *
 * The guest keeps one interpreter (the runner: kernel/python.py or
 * kernel/node.js, bound read-only next to the guest) alive across steps as uid
 * 65534, in its own session and process group, with the rlimits and env given
 * by --kernel-limit/--kernel-env. Its fd 0 is /dev/null, fds 1 and 2 are pipes
 * to the guest, fd 3 is the control pipe (guest -> runner) and fd 4 the result
 * pipe (runner -> guest); the runner moves 3 and 4 out of the way,
 * close-on-exec.
 *
 * A step (a job of CODE records) is one control frame:
 *     u32 length (BE) | nonce (16) | u32 code length | code | stdin
 * with a fresh random nonce, and comes back as result frames:
 *     nonce (16) | u8 kind | u32 length (BE) | payload
 * kinds 'd' display data, 'm' the main result, 'e' the error (JSON MIME
 * bundles, passed on as DISPLAY records) and 'D' done (payload "0" or "1":
 * the cell raised). The guest looks for the nonce in the byte stream and
 * drops everything else: user code in the interpreter can write anything
 * to any fd, but without the nonce nothing it writes is a frame, and a
 * malformed frame only makes the guest look for the next nonce. The
 * verdict (timed out, truncated, crashed, restarted) is the guest's: a
 * timeout, an INTERRUPT or the output cap send SIGINT to the runner's
 * group, and when no done frame follows within GUEST_KERNEL_GRACE_MS the
 * runner is killed and started again (kernel_restarted). At the end of a
 * step every process but the guest and the runner is killed, so what the
 * step forked cannot write into a later step; output the runner's pipes
 * still hold when the next step starts is dropped. */

#define GUEST_KERNEL_GRACE_MS  2000
#define GUEST_KERNEL_FRAME_MAX (WIRE_MAX_PAYLOAD - 16)
#define GUEST_KERNEL_HDR       (WIRE_NONCE_LEN + 5)

/* In the forked child: fds 3 and 4 become the control and result pipes,
 * then the ordinary child set-up (guest_child) with /dev/null as stdin. */
__attribute__((noreturn)) static void guest_kernel_child(const struct stage *s,
							 int ctl, int res,
							 int nul, int out,
							 int err)
{
	int fds[5] = {ctl, res, nul, out, err};
	int i;

	/* Out of the way of 0..4 first (dup2 below must not clobber). */
	for (i = 0; i < 5; i++) {
		fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 10);
		if (fds[i] < 0) {
			guest_child_abort("F_DUPFD");
		}
	}
	if (dup2(fds[0], 3) < 0 || dup2(fds[1], 4) < 0) {
		guest_child_abort("dup2");
	}
	guest_child(s, fds[2], fds[3], fds[4], -1);
}

/* Stop the runner (SIGKILL to its group) and close our ends. */
static void guest_kernel_stop(struct guest *g)
{
	if (g->k_pid > 0) {
		kill(-g->k_pid, SIGKILL);
		kill(g->k_pid, SIGKILL);
		while (waitpid(g->k_pid, NULL, __WALL) < 0 && errno == EINTR) {
		}
		g->k_pid = 0;
	}
	guest_close(&g->k_ctl);
	guest_close(&g->k_res);
	guest_close(&g->k_out);
	guest_close(&g->k_err);
	g->k_scan.len = 0;
}

/* Start the runner. On failure there is none (the next step says so). */
static void guest_kernel_start(struct guest *g)
{
	int p[8] = {-1, -1, -1, -1, -1, -1, -1, -1}; /* ctl res out err */
	struct stage s;
	char **envp;
	sigset_t all;
	sigset_t old;
	pid_t pid;
	int nul;
	int i;

	guest_kernel_stop(g);
	envp = wire_list_split(g->k_env.p, g->k_env.len, NULL);
	if (envp == NULL && g->k_env.len == 0) {
		envp = calloc(1, sizeof(*envp));
	}
	nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
	for (i = 0; i < 8; i += 2) {
		if (envp == NULL || nul < 0 || pipe2(p + i, O_CLOEXEC) < 0) {
			guest_log("cannot start the kernel: %s",
				  strerror(errno));
			goto out;
		}
	}
	memset(&s, 0, sizeof(s));
	s.id = WIRE_STAGE_RUN;
	s.argv = g->k_argv;
	s.envp = envp;
	s.lim = g->k_lim;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	pid = fork();
	if (pid == 0) {
		guest_kernel_child(&s, p[0], p[3], nul, p[5], p[7]);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid < 0) {
		guest_log("cannot start the kernel: %s", strerror(errno));
		goto out;
	}
	g->k_pid = pid;
	g->k_count = 0;
	g->k_started = 1;
	g->k_ctl = p[1];
	g->k_res = p[2];
	g->k_out = p[4];
	g->k_err = p[6];
	p[1] = p[2] = p[4] = p[6] = -1;
	fcntl(g->k_ctl, F_SETFL, O_NONBLOCK);
	fcntl(g->k_res, F_SETFL, O_NONBLOCK);
	fcntl(g->k_out, F_SETFL, O_NONBLOCK);
	fcntl(g->k_err, F_SETFL, O_NONBLOCK);
out:
	for (i = 0; i < 8; i++) {
		guest_close(&p[i]);
	}
	guest_close(&nul);
	free(envp);
}

/* Drop what the runner's pipes hold from before this step. */
static void guest_kernel_discard(struct guest *g)
{
	int *fds[3] = {&g->k_out, &g->k_err, &g->k_res};
	int i;

	for (i = 0; i < 3; i++) {
		while (*fds[i] >= 0) {
			ssize_t n = read(*fds[i], g->chunk, sizeof(g->chunk));

			if (n > 0) {
				continue;
			}
			if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
				guest_close(fds[i]);
			}
			if (n < 0 && errno == EINTR) {
				continue;
			}
			break;
		}
	}
	g->k_scan.len = 0;
}

/* SIGKILL every process but the guest and the runner (a step's forked
 * children, whatever they became). Returns how many were still alive. */
static int guest_kernel_kill_others(struct guest *g)
{
	return guest_kill_others(g->k_pid, 0);
}

/* One step's state while it runs. */
struct kstep {
	uint8_t nonce[WIRE_NONCE_LEN];
	struct wire_buf ctl; /* the control frame */
	size_t ctl_off;
	int done;	 /* the done frame arrived */
	int raised;	 /* it said the cell raised */
	int crashed;	 /* the runner exited */
	int killed;	 /* we killed it after the grace */
	int interrupted; /* SIGINT was sent */
	int status;	 /* waitpid status when crashed */
	long long grace; /* kill at, once interrupted */
};

/* Take the complete frames of the step out of g->k_scan. */
static void guest_kernel_frames(struct guest *g, struct stage *s,
				struct kstep *k)
{
	struct wire_buf *b = &g->k_scan;

	while (!k->done && b->len > 0) {
		uint8_t *hit = memmem(b->p, b->len, k->nonce, WIRE_NONCE_LEN);
		size_t at;
		uint32_t len;
		uint8_t kind;

		if (hit == NULL) {
			/* Keep a tail that may begin the nonce. */
			size_t keep = b->len < WIRE_NONCE_LEN - 1
					  ? b->len
					  : WIRE_NONCE_LEN - 1;

			memmove(b->p, b->p + b->len - keep, keep);
			b->len = keep;
			return;
		}
		at = (size_t)(hit - b->p);
		memmove(b->p, hit, b->len - at);
		b->len -= at;
		if (b->len < GUEST_KERNEL_HDR) {
			return;
		}
		kind = b->p[WIRE_NONCE_LEN];
		len = wire_get32(b->p + WIRE_NONCE_LEN + 1);
		if ((kind != 'd' && kind != 'm' && kind != 'e' &&
		     kind != 'D') ||
		    len > GUEST_KERNEL_FRAME_MAX) {
			/* Not a frame after all: look past this nonce. */
			memmove(b->p, b->p + 1, b->len - 1);
			b->len--;
			continue;
		}
		if (b->len < GUEST_KERNEL_HDR + (size_t)len) {
			return;
		}
		if (kind == 'D') {
			k->done = 1;
			k->raised = len >= 1 && b->p[GUEST_KERNEL_HDR] == '1';
		} else if (s->truncated || s->out_total + (long long)len + 1 >
					       s->lim[GUEST_LIM_OUTPUT]) {
			s->truncated = 1;
		} else {
			uint8_t kd = kind == 'd'   ? WIRE_DISPLAY_DATA
				     : kind == 'm' ? WIRE_DISPLAY_RESULT
						   : WIRE_DISPLAY_ERROR;

			guest_send_id(g, WIRE_DISPLAY, g->job_id, &kd, 1,
				      b->p + GUEST_KERNEL_HDR, len);
			s->out_total += (long long)len + 1;
		}
		memmove(b->p, b->p + GUEST_KERNEL_HDR + len,
			b->len - GUEST_KERNEL_HDR - len);
		b->len -= GUEST_KERNEL_HDR + len;
	}
}

/* Read what the result pipe holds. */
static void guest_kernel_read_res(struct guest *g, struct stage *s,
				  struct kstep *k)
{
	for (;;) {
		ssize_t n = read(g->k_res, g->chunk, sizeof(g->chunk));

		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			if (n == 0 || errno != EAGAIN) {
				/* Every write end is closed: no done frame
				 * can come; the step ends by its deadline. */
				guest_close(&g->k_res);
			}
			return;
		}
		if (guest_buf_add(&g->k_scan, g->chunk, (size_t)n) < 0) {
			guest_log("out of memory reading the kernel");
			guest_host_gone();
		}
		guest_kernel_frames(g, s, k);
		if (g->k_scan.len > GUEST_KERNEL_FRAME_MAX + GUEST_KERNEL_HDR) {
			g->k_scan.len = 0;
		}
	}
}

/* Build the control frame of step j into k. 0, or -1 (out of memory). */
static int guest_kernel_frame(struct kstep *k, const struct job *j)
{
	uint8_t h[4];
	size_t total = WIRE_NONCE_LEN + 4 + j->code.len + j->stdin_bytes.len;

	if (total > UINT32_MAX) {
		return -1;
	}
	wire_be32(h, (uint32_t)total);
	if (guest_buf_add(&k->ctl, h, 4) < 0 ||
	    guest_buf_add(&k->ctl, k->nonce, WIRE_NONCE_LEN) < 0) {
		return -1;
	}
	wire_be32(h, (uint32_t)j->code.len);
	if (guest_buf_add(&k->ctl, h, 4) < 0 ||
	    guest_buf_add(&k->ctl, j->code.p, j->code.len) < 0 ||
	    guest_buf_add(&k->ctl, j->stdin_bytes.p, j->stdin_bytes.len) < 0) {
		return -1;
	}
	return 0;
}

/* Send the RESULT of a kernel step. */
static void guest_kernel_result(struct guest *g, const struct stage *s,
				const struct kstep *k, int restarted)
{
	struct wire_buf b = {0};
	long long code = k->raised ? 1 : 0;
	long long sig = 0;

	if (k->killed) {
		code = 128 + SIGKILL;
		sig = SIGKILL;
	} else if (k->crashed && WIFSIGNALED(k->status)) {
		sig = WTERMSIG(k->status);
		code = 128 + sig;
	} else if (k->crashed && WIFEXITED(k->status)) {
		code = WEXITSTATUS(k->status) ? WEXITSTATUS(k->status) : 1;
	} else if (!k->done) {
		code = -1;
	}
	if (guest_buf_add(&b, &s->id, 1) < 0 ||
	    wire_kv_add(&b, WIRE_RES_EXIT, code) < 0 ||
	    wire_kv_add(&b, WIRE_RES_SIGNAL, sig) < 0 ||
	    wire_kv_add(&b, WIRE_RES_TIMED_OUT, s->timed_out) < 0 ||
	    wire_kv_add(&b, WIRE_RES_TRUNCATED, s->truncated) < 0 ||
	    wire_kv_add(&b, WIRE_RES_DURATION, s->dur_ms) < 0 ||
	    wire_kv_add(&b, WIRE_RES_KERNEL_COUNT, g->k_count) < 0 ||
	    wire_kv_add(&b, WIRE_RES_KERNEL_INTERRUPTED, k->interrupted) < 0 ||
	    wire_kv_add(&b, WIRE_RES_KERNEL_RESTARTED, restarted) < 0) {
		guest_log("out of memory building a record");
		guest_host_gone();
	}
	guest_send_id(g, WIRE_RESULT, g->job_id, b.p, b.len, NULL, 0);
	wire_buf_free(&b);
}

/* SIGINT to the runner's group (once), with the grace to answer. */
static void guest_kernel_interrupt(struct guest *g, struct kstep *k,
				   long long now)
{
	if (k->interrupted || g->k_pid <= 0) {
		return;
	}
	k->interrupted = 1;
	k->grace = now + GUEST_KERNEL_GRACE_MS;
	kill(-g->k_pid, SIGINT);
}

/* Run one step of the live interpreter, then send RESULT and DONE. */
static void guest_kernel_step(struct guest *g, struct job *j)
{
	enum { RUNNING, DRAIN, FINAL } phase = RUNNING;
	struct stage s;
	struct kstep k;
	long long t0 = guest_now_ms();
	long long deadline;
	long long until = 0;
	int restarted = 0;
	int st;

	memset(&s, 0, sizeof(s));
	memset(&k, 0, sizeof(k));
	s.id = WIRE_STAGE_RUN;
	s.lim = j->lim;
	deadline = t0 + j->lim[GUEST_LIM_RUN_WALL];
	/* It may have died between steps (OOM, a signal from user code). */
	if (g->k_pid > 0 &&
	    waitpid(g->k_pid, &st, WNOHANG | __WALL) == g->k_pid) {
		g->k_pid = 0;
	}
	/* POST .../restart: a new interpreter, nothing run in it. Its
	 * threads die with it, its children by kill_others below. */
	if (j->lim[GUEST_LIM_KERNEL_RESTART] && g->k_pid > 0) {
		guest_kernel_stop(g);
	}
	if (g->k_pid <= 0) {
		restarted = g->k_started;
		guest_kernel_start(g);
	}
	if (g->k_pid <= 0) {
		guest_refuse(g, "the kernel's interpreter cannot be started");
		return;
	}
	guest_kernel_discard(g);
	guest_kernel_kill_others(g);
	if (j->lim[GUEST_LIM_KERNEL_RESTART]) {
		k.done = 1;
		s.dur_ms = guest_now_ms() - t0;
		guest_kernel_result(g, &s, &k, 1);
		guest_send_id(g, WIRE_DONE, g->job_id, NULL, 0, NULL, 0);
		return;
	}
	if (getrandom(k.nonce, sizeof(k.nonce), 0) != sizeof(k.nonce) ||
	    guest_kernel_frame(&k, j) < 0) {
		wire_buf_free(&k.ctl);
		guest_refuse(g, "cannot build the kernel's step");
		return;
	}
	g->k_count++;
	g->stage_pid = g->k_pid;
	g->run_id = g->job_id;
	g->intr_ms = 0;
	for (;;) {
		struct pollfd pfd[6];
		long long now;
		long long tmo;
		int host_in;

		for (;;) {
			pid_t p = waitpid(-1, &st, WNOHANG | __WALL);

			if (p > 0 && p == g->k_pid) {
				k.crashed = !k.killed;
				k.status = st;
				g->k_pid = 0;
			} else if (p <= 0 && !(p < 0 && errno == EINTR)) {
				break;
			}
		}
		guest_stage_input(g);
		host_in = !g->has_pend && !g->in_eof;
		now = guest_now_ms();
		if (phase == RUNNING) {
			if (g->intr_ms != 0 || s.truncated) {
				guest_kernel_interrupt(g, &k, now);
			}
			if (!s.timed_out && now >= deadline) {
				s.timed_out = 1;
				guest_kernel_interrupt(g, &k, now);
			}
			if (k.interrupted && !k.done && g->k_pid > 0 &&
			    now >= k.grace) {
				guest_log("job %u: the kernel ignored SIGINT; "
					  "restarting it",
					  (unsigned)g->job_id);
				k.killed = 1;
				guest_kernel_stop(g);
			}
			if (k.done || g->k_pid <= 0) {
				phase = DRAIN;
				until = now + GUEST_DRAIN_MS;
			}
		}
		if (phase == DRAIN) {
			/* Everything written before done is in the pipes:
			 * read until they are empty (or the drain time is
			 * up when the runner died with writers left). */
			struct pollfd dp[2] = {
			    {.fd = g->k_out, .events = POLLIN},
			    {.fd = g->k_err, .events = POLLIN}};

			while (poll(dp, 2, 0) > 0 &&
			       (dp[0].revents || dp[1].revents)) {
				if (dp[0].revents) {
					guest_pump_out(g, &s, &g->k_out, 1);
				}
				if (dp[1].revents) {
					guest_pump_out(g, &s, &g->k_err, 2);
				}
				dp[0].fd = g->k_out;
				dp[1].fd = g->k_err;
				if (guest_now_ms() >= until + GUEST_DRAIN_MS) {
					break;
				}
			}
			phase = FINAL;
			until = now + GUEST_FINAL_MS;
		}
		if (phase == FINAL) {
			int left = g->k_pid > 0 ? guest_kernel_kill_others(g)
						: (kill(-1, SIGKILL), 0);

			if (left == 0 &&
			    (g->k_pid > 0 || guest_reap(g, &s, 0))) {
				break;
			}
			if (now >= until) {
				guest_log("kernel step: processes outlived "
					  "SIGKILL");
				break;
			}
		}
		tmo = phase == FINAL ? GUEST_TICK_MS : deadline - now;
		if (k.interrupted && k.grace - now < tmo) {
			tmo = k.grace - now;
		}
		if (tmo > 1000) {
			tmo = 1000;
		}
		pfd[0] = (struct pollfd){.fd = g->sig_r, .events = POLLIN};
		pfd[1] =
		    (struct pollfd){.fd = k.ctl_off < k.ctl.len ? g->k_ctl : -1,
				    .events = POLLOUT};
		pfd[2] = (struct pollfd){.fd = g->k_res, .events = POLLIN};
		pfd[3] = (struct pollfd){.fd = g->k_out, .events = POLLIN};
		pfd[4] = (struct pollfd){.fd = g->k_err, .events = POLLIN};
		pfd[5] =
		    (struct pollfd){.fd = host_in ? 0 : -1, .events = POLLIN};
		if (phase == FINAL) {
			pfd[1].fd = pfd[2].fd = pfd[3].fd = pfd[4].fd = -1;
		}
		if (poll(pfd, 6, tmo > 0 ? (int)tmo : 0) < 0) {
			continue; /* EINTR */
		}
		if (pfd[5].revents) {
			guest_read_some(g);
		}
		if (pfd[0].revents) {
			char drain[64];

			while (read(g->sig_r, drain, sizeof(drain)) > 0) {
			}
		}
		if (pfd[1].revents && g->k_ctl >= 0) {
			ssize_t w = write(g->k_ctl, k.ctl.p + k.ctl_off,
					  k.ctl.len - k.ctl_off);

			if (w > 0) {
				k.ctl_off += (size_t)w;
			} else if (w < 0 && errno != EAGAIN && errno != EINTR) {
				guest_close(&g->k_ctl);
			}
		}
		if (pfd[2].revents && g->k_res >= 0) {
			guest_kernel_read_res(g, &s, &k);
		}
		if (pfd[3].revents && g->k_out >= 0) {
			guest_pump_out(g, &s, &g->k_out, 1);
		}
		if (pfd[4].revents && g->k_err >= 0) {
			guest_pump_out(g, &s, &g->k_err, 2);
		}
	}
	g->stage_pid = 0;
	g->intr_ms = 0;
	s.dur_ms = guest_now_ms() - t0;
	if (k.killed || k.crashed) {
		/* Its state is gone: the next step gets a new one. */
		guest_kernel_stop(g);
		restarted = 1;
	}
	wire_buf_free(&k.ctl);
	guest_kernel_result(g, &s, &k, restarted);
	guest_send_id(g, WIRE_DONE, g->job_id, NULL, 0, NULL, 0);
}

/* A record of a session between jobs. */
static void guest_session_record(struct guest *g, const struct wire_rec *rec)
{
	struct job *j = &g->sj;
	int r;

	switch (rec->type) {
	case WIRE_NOOP:
	case WIRE_INTR: /* no job runs */
		return;
	case WIRE_SYNC:
		guest_sync(g, rec);
		return;
	case WIRE_BYE:
		g->bye = 1;
		return;
	case WIRE_FPUT:
	case WIRE_FDATA:
	case WIRE_FEND:
	case WIRE_FGET:
	case WIRE_FLIST:
	case WIRE_FDEL:
		guest_file_op(g, rec);
		return;
	default:
		break;
	}
	if (j->failed) {
		/* Refused already: its records up to GO are dropped. */
		if (rec->type == WIRE_GO) {
			guest_job_free(j);
		}
		return;
	}
	r = guest_job_record(g, j, rec);
	if (r < 0) {
		guest_refuse(g, g->err);
		if (rec->type == WIRE_GO) {
			guest_job_free(j);
		} else {
			j->failed = 1;
		}
	} else if (r == 1) {
		struct job run = *j;

		memset(j, 0, sizeof(*j));
		guest_run_job(g, &run);
		guest_job_free(&run);
	}
}

/* --session: serve jobs and file operations until BYE or EOF. */
static void guest_session(struct guest *g)
{
	struct wire_rec rec;

	wire_sess_init(&g->sess);
	while (!g->bye) {
		/* With --prestart, an interpreter waits for the next job
		 * between steps too (every job ends by killing it or
		 * handing it the run): a step does not pay its start. */
		if (g->pre.argv != NULL && g->pre.pid <= 0 && !g->has_pend) {
			guest_prestart(g);
		}
		/* A kernel whose interpreter was restarted gets the new one
		 * between steps. */
		if (g->k_argv != NULL && g->k_pid <= 0 && !g->has_pend) {
			guest_kernel_start(g);
		}
		if (g->has_pend) {
			/* Read while a job ran; g->pend stays untouched
			 * until the next stage. */
			rec.type = g->pend_type;
			rec.payload = g->pend.p;
			rec.len = g->pend.len;
			g->has_pend = 0;
		} else if (guest_read_rec(g, &rec) <= 0) {
			break;
		}
		guest_session_record(g, &rec);
	}
	guest_drop(g);
	wire_buf_free(&g->pend);
	wire_sess_free(&g->sess);
}

/* Options of the --prestart and --kernel interpreters: "NAME K=V" adds to
 * env, "NAME key=value" sets lim[key]. Each returns 0 when argv[i] is not
 * NAME with a valid value after it, 1 when it took argv[i + 1], -1 on
 * failure (logged). */
static int guest_opt_env(int argc, char **argv, int i, const char *name,
			 struct wire_buf *env)
{
	const char *v = i + 1 < argc ? argv[i + 1] : NULL;

	if (strcmp(argv[i], name) != 0 || v == NULL || strchr(v, '=') == NULL ||
	    v[0] == '=') {
		return 0;
	}
	if (guest_buf_add(env, v, strlen(v) + 1) < 0) {
		guest_log("out of memory");
		return -1;
	}
	return 1;
}

static int guest_opt_limit(struct guest *g, int argc, char **argv, int i,
			   const char *name, long long *lim)
{
	struct job lj;

	if (strcmp(argv[i], name) != 0 || i + 1 >= argc) {
		return 0;
	}
	memcpy(lj.lim, lim, sizeof(lj.lim));
	if (guest_parse_limits(g, &lj, (uint8_t *)argv[i + 1],
			       strlen(argv[i + 1]) + 1) < 0) {
		guest_log("%s", g->err);
		return -1;
	}
	memcpy(lim, lj.lim, sizeof(lj.lim));
	return 1;
}

int main(int argc, char **argv)
{
	static struct guest g;
	int i;
	int r;

	if (argc >= 2 && strcmp(argv[1], "--warm-exec") == 0) {
		return guest_warm_exec(argc - 2, argv + 2);
	}
	if (argc >= 2 && strcmp(argv[1], "--warm-main") == 0) {
		return guest_warm_main(argc - 2, argv + 2);
	}
	for (i = 0; i < GUEST_LIM_COUNT; i++) {
		g.pre_lim[i] = guest_limits[i].def;
		g.k_lim[i] = guest_limits[i].def;
	}
	g.pre.go = -1;
	g.pre.stage = WIRE_STAGE_RUN;
	g.rpre.go = -1;
	g.rpre.stage = WIRE_STAGE_RUN;
	g.k_ctl = g.k_res = g.k_out = g.k_err = -1;
	g.up.fd = -1;
	g.up.dfd = -1;
	g.openat2_ok = -1;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--loop") == 0) {
			g.loop = 1;
		} else if (strcmp(argv[i], "--session") == 0) {
			g.session = 1;
		} else if (strcmp(argv[i], "--workdir") == 0 && i + 1 < argc &&
			   argv[i + 1][0] == '/') {
			guest_workdir = argv[++i];
		} else if ((r = guest_opt_env(argc, argv, i, "--prestart-env",
					      &g.pre_env)) != 0 ||
			   (r = guest_opt_env(argc, argv, i, "--kernel-env",
					      &g.k_env)) != 0 ||
			   (r = guest_opt_limit(&g, argc, argv, i,
						"--prestart-limit",
						g.pre_lim)) != 0 ||
			   (r = guest_opt_limit(&g, argc, argv, i,
						"--kernel-limit", g.k_lim)) !=
			       0) {
			if (r < 0) {
				return GUEST_EXIT_FAIL;
			}
			i++;
		} else if (strcmp(argv[i], "--kernel") == 0 && i + 1 < argc &&
			   g.session) {
			g.k_argv = argv + i + 1;
			break;
		} else if (strcmp(argv[i], "--prestart-fifo") == 0 &&
			   i + 1 < argc && argv[i + 1][0] == '/') {
			g.pre_fifo = argv[++i];
		} else if (strcmp(argv[i], "--prestart-run") == 0 &&
			   i + 1 < argc) {
			if (guest_buf_add(&g.rpre_list, argv[i + 1],
					  strlen(argv[i + 1]) + 1) < 0) {
				guest_log("out of memory");
				return GUEST_EXIT_FAIL;
			}
			i++;
		} else if (strcmp(argv[i], "--prestart-stage") == 0 &&
			   i + 1 < argc &&
			   (strcmp(argv[i + 1], "compile") == 0 ||
			    strcmp(argv[i + 1], "run") == 0)) {
			g.pre.stage = argv[++i][0] == 'c' ? WIRE_STAGE_COMPILE
							  : WIRE_STAGE_RUN;
		} else if (strcmp(argv[i], "--prestart") == 0 && i + 1 < argc) {
			g.pre.argv = argv + i + 1;
			break;
		} else {
			guest_log("usage: isobox-guest [--loop | --session] "
				  "[--workdir /DIR] "
				  "[--prestart-env K=V]... "
				  "[--prestart-limit key=value]... "
				  "[--prestart-stage compile|run] "
				  "[--prestart-run ARG]... "
				  "[--prestart-fifo /PATH] "
				  "[--prestart ARGV... | "
				  "--kernel-env K=V... --kernel-limit "
				  "key=value... --kernel ARGV...]");
			return GUEST_EXIT_FAIL;
		}
	}
	/* --prestart-run waits beside a compiler server, for the run. */
	if (g.rpre_list.len > 0) {
		if (g.pre.argv == NULL || g.pre.stage != WIRE_STAGE_COMPILE ||
		    g.session ||
		    (g.rpre.argv = wire_list_split(
			 g.rpre_list.p, g.rpre_list.len, NULL)) == NULL) {
			guest_log(
			    "--prestart-run needs --prestart-stage compile "
			    "and --prestart, outside --session");
			return GUEST_EXIT_FAIL;
		}
	}
	/* kill(-1, SIGKILL) outside a sandbox would take down the host. */
	if (getpid() != 1) {
		guest_log("refusing to run: not PID 1 of a sandbox");
		return GUEST_EXIT_FAIL;
	}
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	umask(022);
	guest_scrub_environ();
	guest_cloexec_all();
	guest_signals(&g);
	guest_box_open(&g);
	if (g.pre.argv != NULL) {
		guest_prestart(&g);
	}
	if (g.k_argv != NULL) {
		guest_kernel_start(&g);
	}
	guest_send(&g, WIRE_READY, GUEST_VERSION, strlen(GUEST_VERSION));
	if (g.session) {
		guest_session(&g);
	} else {
		g.dec.check = guest_check_oneshot;
		do {
			struct job j;

			memset(&j, 0, sizeof(j));
			if (guest_read_job(&g, &j) == 0) {
				break;
			}
			guest_run_job(&g, &j);
			guest_job_free(&j);
		} while (g.loop);
	}
	wire_dec_free(&g.dec);
	wire_buf_free(&g.out);
	return 0;
}
