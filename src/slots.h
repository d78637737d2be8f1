/* slots.h - the global cap on concurrent sandboxes, shared by every FastCGI
 * process on the host. Slot i is an flock(2) on run_dir/slots/i: the kernel
 * frees it when its holder exits, however it dies, so a crashed process
 * never leaks capacity. */
#ifndef ISOBOX_SLOTS_H
#define ISOBOX_SLOTS_H

#include <stdint.h>

struct slots {
	char *dir;
	int n;
};

/* Create dir (mode 0700) and the n slot files. 0 or -errno. */
int slots_init(struct slots *s, const char *run_dir, int n);
void slots_free(struct slots *s);
/* Take a free slot, waiting until deadline_ms (now_ms() clock) or until
 * cancelled(ctx) says so. Waiters, in any process, get slots in the order
 * they started waiting. Returns an fd that holds the slot (close it with
 * slots_release), -ETIMEDOUT when none freed in time, -ECANCELED, or
 * another -errno. */
int slots_acquire(struct slots *s, int64_t deadline_ms,
		  int (*cancelled)(void *), void *ctx);
void slots_release(int fd);
/* How many slots are held right now (by anyone). */
int slots_busy(struct slots *s);

#endif
