/* slots.c - flock-based concurrency slots; see slots.h. */
#include "slots.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

int slots_init(struct slots *s, const char *run_dir, int n)
{
	int i;

	s->dir = xasprintf("%s/slots", run_dir);
	s->n = n;
	if (mkdir(run_dir, 0755) < 0 && errno != EEXIST) {
		return -errno;
	}
	if (mkdir(s->dir, 0700) < 0 && errno != EEXIST) {
		return -errno;
	}
	for (i = 0; i < n; i++) {
		char *p = xasprintf("%s/%d", s->dir, i);
		int fd = open(p, O_CREAT | O_RDWR | O_CLOEXEC, 0600);

		free(p);
		if (fd < 0) {
			return -errno;
		}
		close(fd);
	}
	return 0;
}

void slots_free(struct slots *s)
{
	free(s->dir);
	s->dir = NULL;
}

static int try_one(struct slots *s, int i)
{
	char *p = xasprintf("%s/%d", s->dir, i);
	int fd = open(p, O_RDWR | O_CLOEXEC);

	free(p);
	if (fd < 0) {
		return -errno;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
		return fd;
	}
	close(fd);
	return -EBUSY;
}

int slots_acquire(struct slots *s, int64_t deadline_ms,
		  int (*cancelled)(void *), void *ctx)
{
	/* Start at a random slot so processes do not all fight over slot 0. */
	int start = (int)((unsigned)getpid() * 2654435761u % (unsigned)s->n);

	for (;;) {
		int i;
		struct timespec ts = {0, 20 * 1000 * 1000};

		for (i = 0; i < s->n; i++) {
			int fd = try_one(s, (start + i) % s->n);

			if (fd >= 0) {
				return fd;
			}
			if (fd != -EBUSY) {
				return fd;
			}
		}
		if (now_ms() >= deadline_ms) {
			return -ETIMEDOUT;
		}
		if (cancelled && cancelled(ctx)) {
			return -ECANCELED;
		}
		nanosleep(&ts, NULL);
	}
}

void slots_release(int fd)
{
	if (fd >= 0) {
		close(fd);
	}
}

int slots_busy(struct slots *s)
{
	int i;
	int busy = 0;

	for (i = 0; i < s->n; i++) {
		int fd = try_one(s, i);

		if (fd >= 0) {
			close(fd);
		} else if (fd == -EBUSY) {
			busy++;
		}
	}
	return busy;
}
