/* fuzz_common.h - helpers shared by the libFuzzer harnesses: a tiny
 * deterministic PRNG to choose how a stream is split, a memfd that stands in
 * for a file on disk, and a quiet log_msg (linked with -Wl,--wrap=log_msg)
 * that still formats its arguments so a bad format argument is caught. */
#ifndef ISOBOX_FUZZ_COMMON_H
#define ISOBOX_FUZZ_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Abort with a message: libFuzzer then saves the input as a crash. */
#define FUZZ_CHECK(cond)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: invariant failed: %s\n",       \
				__FILE__, __LINE__, #cond);                    \
			abort();                                               \
		}                                                              \
	} while (0)

/* xorshift32; a zero seed is replaced so the sequence never sticks. */
static inline uint32_t fuzz_rand(uint32_t *s)
{
	uint32_t x = *s ? *s : 0x9e3779b9u;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*s = x;
	return x;
}

/* The size of the next piece of a stream of `left` bytes: mostly small
 * (1..16 bytes, to split headers), sometimes anything up to the rest. */
static inline size_t fuzz_piece(uint32_t *s, size_t left)
{
	uint32_t r = fuzz_rand(s);
	size_t n;

	if (left == 0) {
		return 0;
	}
	if ((r & 3) == 0) {
		n = 1 + (size_t)(r >> 8) % left;
	} else {
		n = 1 + (size_t)(r >> 8) % 16;
	}
	return n < left ? n : left;
}

/* A memory-backed file reachable by path as /proc/self/fd/N. */
struct fuzz_file {
	int fd;
	char path[64];
};

static inline void fuzz_file_open(struct fuzz_file *f, const char *name)
{
	f->fd = memfd_create(name, MFD_CLOEXEC);
	if (f->fd < 0) {
		perror("memfd_create");
		abort();
	}
	snprintf(f->path, sizeof(f->path), "/proc/self/fd/%d", f->fd);
}

/* Replace the contents with n bytes of p. */
static inline void fuzz_file_set(struct fuzz_file *f, const void *p, size_t n)
{
	const char *c = p;
	size_t off = 0;

	if (ftruncate(f->fd, 0) < 0) {
		perror("ftruncate");
		abort();
	}
	while (off < n) {
		ssize_t w = pwrite(f->fd, c + off, n - off, (off_t)off);

		if (w <= 0) {
			perror("pwrite");
			abort();
		}
		off += (size_t)w;
	}
}

/* Unset every variable that config_load and friends read, so a run does not
 * depend on the shell it was started from. */
static inline void fuzz_clean_env(void)
{
	static const char *const vars[] = {
	    "ISOBOX_CONFIG",
	    "ISOBOX_REGISTRY",
	    "ISOBOX_IMAGES_LOCK",
	    "ISOBOX_GUEST",
	    "ISOBOX_STATE_DIR",
	    "ISOBOX_RUN_DIR",
	    "ISOBOX_THREADS",
	    "ISOBOX_CONCURRENCY",
	    "ISOBOX_QUEUE_TIMEOUT_MS",
	    "ISOBOX_API_KEY",
	    "ISOBOX_RATE_PER_MIN",
	    "ISOBOX_RATE_BURST",
	    "ISOBOX_ALLOW_NETWORK",
	    "ISOBOX_EGRESS_NETWORK",
	    "ISOBOX_CGROUP_PARENT",
	    "ISOBOX_RUNTIME",
	    "DOCKER_HOST",
	    "DOCKER_TLS_VERIFY",
	    "DOCKER_CERT_PATH",
	    "DOCKER_API_VERSION",
	};
	size_t i;

	for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		unsetenv(vars[i]);
	}
	setenv("HOME", "/nonexistent-fuzz-home", 1);
}

/* FUZZ_VERBOSE=1 in the environment: harnesses say what each input gave
 * (accepted, or the error message), to check seeds and reproducers. */
static int fuzz_verbose;

static inline void fuzz_verbose_init(void)
{
	const char *v = getenv("FUZZ_VERBOSE");

	fuzz_verbose = v != NULL && v[0] != '\0' && v[0] != '0';
}

/* The libFuzzer start-up hook of a harness that needs nothing but
 * FUZZ_VERBOSE read: FUZZ_VERBOSE_INITIALIZE at file scope. */
#define FUZZ_VERBOSE_INITIALIZE                                                \
	int LLVMFuzzerInitialize(int *argc, char ***argv);                     \
	int LLVMFuzzerInitialize(int *argc, char ***argv)                      \
	{                                                                      \
		(void)argc;                                                    \
		(void)argv;                                                    \
		fuzz_verbose_init();                                           \
		return 0;                                                      \
	}

/* NUL-terminated within cap bytes. */
static inline int fuzz_terminated(const char *s, size_t cap)
{
	return memchr(s, '\0', cap) != NULL;
}

#ifdef FUZZ_WRAP_LOG
/* Replaces util.c's log_msg (see build.sh): keep the fuzzer's output
 * readable, but format the message so ASan checks every argument. */
void __wrap_log_msg(const char *level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void __wrap_log_msg(const char *level, const char *fmt, ...)
{
	char line[4096];
	va_list ap;

	(void)level;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
}
#endif

#endif
