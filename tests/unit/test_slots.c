/* test_slots.c - the concurrency slots: a slot is held until released, a
 * waiter gives up at its deadline or when cancelled, waiters in different
 * processes are served in the order they started waiting, and a waiter that
 * was killed does not hold up the ones behind it. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "slots.h"
#include "util.h"

static char root[] = "/tmp/isobox-test-slots-XXXXXX";

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static int queue_entries(struct slots *s)
{
	char *q = xasprintf("%s/queue", s->dir);
	DIR *d = opendir(q);
	struct dirent *e;
	int n = 0;

	free(q);
	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		n += e->d_name[0] != '.';
	}
	closedir(d);
	return n;
}

/* Wait (at most 10 s, for slow hosts and valgrind) until n waiters queue. */
static void await_queue(struct slots *s, int n)
{
	int64_t end = now_ms() + 10000;

	while (queue_entries(s) != n && now_ms() < end) {
		sleep_ms(5);
	}
	assert_int_equal(queue_entries(s), n);
}

static void test_capacity_and_deadline(void **state)
{
	struct slots s;
	int a;
	int b;
	int c;

	(void)state;
	assert_int_equal(slots_init(&s, root, 2), 0);
	a = slots_acquire(&s, now_ms() + 1000, NULL, NULL);
	b = slots_acquire(&s, now_ms() + 1000, NULL, NULL);
	assert_true(a >= 0 && b >= 0);
	assert_int_equal(slots_busy(&s), 2);
	c = slots_acquire(&s, now_ms() + 100, NULL, NULL);
	assert_int_equal(c, -ETIMEDOUT);
	assert_int_equal(queue_entries(&s), 0); /* the waiter left */
	slots_release(a);
	c = slots_acquire(&s, now_ms() + 100, NULL, NULL);
	assert_true(c >= 0);
	slots_release(b);
	slots_release(c);
	assert_int_equal(slots_busy(&s), 0);
	slots_free(&s);
}

static int cancel_now(void *ctx)
{
	return ++*(int *)ctx >= 3;
}

static void test_cancelled(void **state)
{
	struct slots s;
	int calls = 0;
	int a;

	(void)state;
	assert_int_equal(slots_init(&s, root, 1), 0);
	a = slots_acquire(&s, now_ms() + 1000, NULL, NULL);
	assert_true(a >= 0);
	assert_int_equal(
	    slots_acquire(&s, now_ms() + 10000, cancel_now, &calls),
	    -ECANCELED);
	assert_int_equal(queue_entries(&s), 0);
	slots_release(a);
	slots_free(&s);
}

/* Child k: wait for the one slot, report k on the pipe, hold it briefly.
 * held is the parent's slot: an flock belongs to the open file, which the
 * child shares until it closes its copy. */
static pid_t waiter(struct slots *s, int k, int wfd, int held)
{
	pid_t pid = fork();

	if (pid == 0) {
		int fd;
		char c = (char)('0' + k);

		close(held);
		fd = slots_acquire(s, now_ms() + 20000, NULL, NULL);

		if (fd < 0 || write(wfd, &c, 1) != 1) {
			_exit(1);
		}
		sleep_ms(30);
		slots_release(fd);
		_exit(0);
	}
	return pid;
}

static void test_fifo_across_processes(void **state)
{
	struct slots s;
	int p[2];
	pid_t kids[6];
	char order[8] = {0};
	int held;
	int k;

	(void)state;
	assert_int_equal(slots_init(&s, root, 1), 0);
	assert_int_equal(pipe(p), 0);
	held = slots_acquire(&s, now_ms() + 1000, NULL, NULL);
	assert_true(held >= 0);
	/* Six processes start waiting, in a known order, while it is held. */
	for (k = 0; k < 6; k++) {
		kids[k] = waiter(&s, k, p[1], held);
		assert_true(kids[k] > 0);
		await_queue(&s, k + 1);
	}
	close(p[1]);
	slots_release(held);
	for (k = 0; k < 6;) {
		ssize_t r = read(p[0], order + k, (size_t)(6 - k));

		assert_true(r > 0);
		k += (int)r;
	}
	for (k = 0; k < 6; k++) {
		int st;

		assert_int_equal(waitpid(kids[k], &st, 0), kids[k]);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	/* Served in arrival order, not in whatever order they polled. */
	assert_string_equal(order, "012345");
	assert_int_equal(queue_entries(&s), 0);
	close(p[0]);
	slots_free(&s);
}

static void test_dead_waiter_is_skipped(void **state)
{
	struct slots s;
	int p[2];
	pid_t dead;
	pid_t next;
	char c = 0;
	int held;
	int st;

	(void)state;
	assert_int_equal(slots_init(&s, root, 1), 0);
	assert_int_equal(pipe(p), 0);
	held = slots_acquire(&s, now_ms() + 1000, NULL, NULL);
	assert_true(held >= 0);
	dead = waiter(&s, 0, p[1], held);
	await_queue(&s, 1);
	next = waiter(&s, 1, p[1], held);
	await_queue(&s, 2);
	close(p[1]);
	/* The first in the queue dies while waiting (SIGKILL: no clean-up). */
	kill(dead, SIGKILL);
	assert_int_equal(waitpid(dead, &st, 0), dead);
	slots_release(held);
	assert_int_equal(read(p[0], &c, 1), 1);
	assert_int_equal(c, '1');
	assert_int_equal(waitpid(next, &st, 0), next);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* Its queue file was removed by the waiter that went past it. */
	assert_int_equal(queue_entries(&s), 0);
	close(p[0]);
	slots_free(&s);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state)
{
	char *cmd = xasprintf("rm -rf '%s'", root);
	int rc = system(cmd);

	(void)state;
	free(cmd);
	return rc == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_capacity_and_deadline),
	    cmocka_unit_test(test_cancelled),
	    cmocka_unit_test(test_fifo_across_processes),
	    cmocka_unit_test(test_dead_waiter_is_skipped),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
