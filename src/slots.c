/* slots.c - flock-based concurrency slots; see slots.h. */
#include "slots.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

int slots_init(struct slots *s, const char *run_dir, int n)
{
	char *p;
	int rc;
	int i;

	s->dir = xasprintf("%s/slots", run_dir);
	s->n = n;
	if (mkdir(run_dir, 0755) < 0 && errno != EEXIST) {
		return -errno;
	}
	if (mkdir(s->dir, 0700) < 0 && errno != EEXIST) {
		return -errno;
	}
	p = xasprintf("%s/queue", s->dir);
	rc = mkdir(p, 0700) < 0 && errno != EEXIST ? -errno : 0;
	free(p);
	if (rc < 0) {
		return rc;
	}
	for (i = 0; i < n; i++) {
		int fd;

		p = xasprintf("%s/%d", s->dir, i);
		fd = open(p, O_CREAT | O_RDWR | O_CLOEXEC, 0600);

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

/* The first free slot, or -EBUSY, or another -errno. */
static int try_all(struct slots *s, int start)
{
	int i;

	for (i = 0; i < s->n; i++) {
		int fd = try_one(s, (start + i) % s->n);

		if (fd != -EBUSY) {
			return fd;
		}
	}
	return -EBUSY;
}

/* Waiters queue in arrival order. Each holds an flock on its own file in
 * dir/queue, named by its arrival time (CLOCK_MONOTONIC is one clock for
 * every process), and only the oldest live waiter tries the slots; without
 * that, whichever poller looked first after a release won, and under
 * overload an unlucky request waited out its whole queue timeout while
 * later ones went ahead. A waiter that dies drops its lock, and the next
 * scan removes its file. */
struct waiter {
	char name[64];
	char *path;
	int fd;
};

static int queue_join(struct slots *s, struct waiter *w)
{
	struct timespec ts;
	char *tmp;
	long tid = (long)syscall(SYS_gettid);

	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(w->name, sizeof(w->name), "%020lld-%ld",
		 (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec, tid);
	/* Locked under a name scans skip, then renamed into the queue: a
	 * scan never sees it unlocked. */
	tmp = xasprintf("%s/queue/tmp-%ld", s->dir, tid);
	w->path = xasprintf("%s/queue/%s", s->dir, w->name);
	w->fd = open(tmp, O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0600);
	if (w->fd < 0 || flock(w->fd, LOCK_EX | LOCK_NB) < 0 ||
	    rename(tmp, w->path) < 0) {
		int e = errno;

		if (w->fd >= 0) {
			close(w->fd);
			unlink(tmp);
		}
		free(tmp);
		free(w->path);
		w->path = NULL;
		w->fd = -1;
		return -e;
	}
	free(tmp);
	return 0;
}

static void queue_leave(struct waiter *w)
{
	if (w->path) {
		unlink(w->path);
		free(w->path);
		w->path = NULL;
	}
	if (w->fd >= 0) {
		close(w->fd);
		w->fd = -1;
	}
}

/* 1 when no live waiter queued before `mine` (NULL: before anyone, i.e.
 * the queue is empty). Files of dead waiters are removed on the way. */
static int queue_first(struct slots *s, const char *mine)
{
	char *qdir = xasprintf("%s/queue", s->dir);
	DIR *d = opendir(qdir);
	struct dirent *e;
	int first = 1;

	free(qdir);
	if (d == NULL) {
		return 1; /* no queue: nobody to let go first */
	}
	while (first && (e = readdir(d)) != NULL) {
		int fd;

		if (e->d_name[0] < '0' || e->d_name[0] > '9' ||
		    (mine && strcmp(e->d_name, mine) >= 0)) {
			continue;
		}
		fd = openat(dirfd(d), e->d_name, O_RDWR | O_CLOEXEC);
		if (fd < 0) {
			continue; /* it left meanwhile */
		}
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			unlinkat(dirfd(d), e->d_name, 0); /* its owner died */
		} else {
			first = 0;
		}
		close(fd);
	}
	closedir(d);
	return first;
}

int slots_acquire(struct slots *s, int64_t deadline_ms,
		  int (*cancelled)(void *), void *ctx)
{
	/* Start at a random slot so processes do not all fight over slot 0. */
	int start = (int)((unsigned)getpid() * 2654435761u % (unsigned)s->n);
	struct waiter w = {.fd = -1};
	int fd;

	/* Nobody waiting: take a free slot at once. */
	if (queue_first(s, NULL)) {
		fd = try_all(s, start);
		if (fd != -EBUSY) {
			return fd;
		}
	}
	fd = queue_join(s, &w);
	if (fd < 0) {
		return fd;
	}
	for (;;) {
		int head = queue_first(s, w.name);
		struct timespec ts = {0, (head ? 5 : 20) * 1000 * 1000};

		if (head) {
			fd = try_all(s, start);
			if (fd != -EBUSY) {
				break;
			}
		}
		if (now_ms() >= deadline_ms) {
			fd = -ETIMEDOUT;
			break;
		}
		if (cancelled && cancelled(ctx)) {
			fd = -ECANCELED;
			break;
		}
		nanosleep(&ts, NULL);
	}
	queue_leave(&w);
	return fd;
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
