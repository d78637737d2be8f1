/* test_admit.c - memory admission: runs are admitted while they fit the
 * budget, one larger than the whole budget is refused at once (E2BIG), a
 * waiter is admitted when another run releases, memory held for warm
 * sandboxes counts until dropped (unless the reclaimer gives it up for a
 * run that needs it), and the row of a process that was killed stops
 * counting (a crash never leaks admitted memory). */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "admit.h"
#include "service.h"
#include "store.h"
#include "util.h"

#define MIB (1024LL * 1024)

static char root[] = "/tmp/isobox-test-admit-XXXXXX";
static int n_env;

/* A service with just what admission uses: identity, both stores, a
 * budget of budget bytes. */
static void svc_open(struct service *svc, const char *dir, int64_t budget)
{
	struct isobox_err err;

	memset(svc, 0, sizeof(*svc));
	config_defaults(&svc->cfg);
	free(svc->cfg.run_dir);
	free(svc->cfg.state_dir);
	svc->cfg.run_dir = xasprintf("%s/run", dir);
	svc->cfg.state_dir = xasprintf("%s/state", dir);
	svc->admit_budget_bytes = budget;
	service_identity(svc);
	store_init(&svc->store);
	memset(&err, 0, sizeof(err));
	assert_int_equal(service_open_store(svc, &err), 0);
}

static void svc_close(struct service *svc)
{
	store_close(&svc->store);
	config_free(&svc->cfg);
}

static char *fresh_dir(void)
{
	char *dir = xasprintf("%s/s%d", root, n_env++);

	assert_int_equal(mkdir(dir, 0700), 0);
	return dir;
}

static void test_budget_and_e2big(void **state)
{
	struct service svc;
	char *dir = fresh_dir();

	(void)state;
	svc_open(&svc, dir, 1000 * MIB);
	assert_int_equal(
	    admit_acquire(&svc, "a", 2000 * MIB, now_ms() + 5000, NULL, NULL),
	    -E2BIG);
	assert_int_equal(
	    admit_acquire(&svc, "a", 600 * MIB, now_ms() + 100, NULL, NULL), 0);
	assert_int_equal(admit_in_use(&svc), 600 * MIB);
	assert_int_equal(
	    admit_acquire(&svc, "b", 400 * MIB, now_ms() + 100, NULL, NULL), 0);
	assert_int_equal(admit_in_use(&svc), 1000 * MIB);
	/* Full: even one byte more waits out its deadline. */
	assert_int_equal(
	    admit_acquire(&svc, "c", 1, now_ms() + 100, NULL, NULL),
	    -ETIMEDOUT);
	assert_int_equal(admit_try(&svc, "c", 1), 0);
	admit_release(&svc, "a");
	assert_int_equal(admit_in_use(&svc), 400 * MIB);
	assert_int_equal(admit_try(&svc, "c", 600 * MIB), 1);
	admit_release(&svc, "b");
	admit_release(&svc, "c");
	admit_release(&svc, "never-admitted");
	assert_int_equal(admit_in_use(&svc), 0);
	svc_close(&svc);
	free(dir);
}

struct later {
	struct service *svc;
	const char *id;
	int ms;
};

static void *release_later(void *arg)
{
	struct later *l = arg;
	struct timespec ts = {l->ms / 1000, (long)(l->ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
	admit_release(l->svc, l->id);
	return NULL;
}

static int cancel_now(void *ctx)
{
	(void)ctx;
	return 1;
}

static void test_waiter_admitted_after_release(void **state)
{
	struct service svc;
	struct later l;
	pthread_t tid;
	int64_t t0;
	char *dir = fresh_dir();

	(void)state;
	svc_open(&svc, dir, 1000 * MIB);
	assert_int_equal(
	    admit_acquire(&svc, "a", 800 * MIB, now_ms() + 100, NULL, NULL), 0);
	assert_int_equal(admit_acquire(&svc, "b", 800 * MIB, now_ms() + 5000,
				       cancel_now, NULL),
			 -ECANCELED);
	l.svc = &svc;
	l.id = "a";
	l.ms = 200;
	t0 = now_ms();
	assert_int_equal(pthread_create(&tid, NULL, release_later, &l), 0);
	assert_int_equal(
	    admit_acquire(&svc, "b", 800 * MIB, now_ms() + 5000, NULL, NULL),
	    0);
	/* Admitted only once "a" went, and soon after. */
	assert_true(now_ms() - t0 >= 150);
	assert_true(now_ms() - t0 < 2000);
	pthread_join(tid, NULL);
	assert_int_equal(admit_in_use(&svc), 800 * MIB);
	svc_close(&svc);
	free(dir);
}

static int hold(struct store_txn *t, void *ctx)
{
	(void)ctx;
	return admit_hold_txn(t, "pool:warm", 300 * MIB);
}

static int unhold(struct store_txn *t, void *ctx)
{
	(void)ctx;
	return admit_drop_txn(t, "pool:warm");
}

static void test_held_rows(void **state)
{
	struct service svc;
	char *dir = fresh_dir();

	(void)state;
	svc_open(&svc, dir, 1000 * MIB);
	assert_int_equal(store_update(&svc.store, STORE_RUN, hold, NULL), 0);
	assert_int_equal(admit_in_use(&svc), 300 * MIB);
	assert_int_equal(
	    admit_acquire(&svc, "a", 800 * MIB, now_ms() + 100, NULL, NULL),
	    -ETIMEDOUT);
	/* A held row has no owner to die: a recount keeps it. */
	assert_int_equal(admit_recount(&svc), 0);
	assert_int_equal(admit_in_use(&svc), 300 * MIB);
	assert_int_equal(store_update(&svc.store, STORE_RUN, unhold, NULL), 0);
	assert_int_equal(admit_in_use(&svc), 0);
	assert_int_equal(
	    admit_acquire(&svc, "a", 800 * MIB, now_ms() + 100, NULL, NULL), 0);
	svc_close(&svc);
	free(dir);
}

/* The reclaimer the pool registers: gives the held row up (pool_shed
 * removes a warm sandbox and its hold). */
static struct service *reclaim_svc;
static int reclaim_calls;

static int64_t reclaim_warm(struct service *svc, int64_t bytes)
{
	(void)bytes;
	reclaim_calls++;
	assert_ptr_equal(svc, reclaim_svc);
	if (store_update(&svc->store, STORE_RUN, unhold, NULL) < 0) {
		return 0;
	}
	return 300 * MIB;
}

/* Memory held without an owner does not keep a run waiting when a
 * reclaimer can give it up: the run is admitted at once, and the
 * reclaimer is not asked while the run fits. */
static void test_reclaim_for_a_run(void **state)
{
	struct service svc;
	char *dir = fresh_dir();
	int64_t t0;

	(void)state;
	svc_open(&svc, dir, 1000 * MIB);
	reclaim_svc = &svc;
	reclaim_calls = 0;
	admit_set_reclaim(reclaim_warm);
	assert_int_equal(
	    admit_acquire(&svc, "small", 100 * MIB, now_ms() + 100, NULL, NULL),
	    0);
	assert_int_equal(reclaim_calls, 0);
	admit_release(&svc, "small");
	assert_int_equal(store_update(&svc.store, STORE_RUN, hold, NULL), 0);
	t0 = now_ms();
	assert_int_equal(
	    admit_acquire(&svc, "a", 800 * MIB, now_ms() + 5000, NULL, NULL),
	    0);
	assert_true(now_ms() - t0 < 1000);
	assert_int_equal(reclaim_calls, 1);
	assert_int_equal(admit_in_use(&svc), 800 * MIB);
	admit_set_reclaim(NULL);
	svc_close(&svc);
	free(dir);
}

/* A child process acquires most of the budget and is killed without
 * releasing. Its row counts while it lives and stops counting once it is
 * dead: a waiter gets the memory without anyone releasing it. */
static void test_dead_owner_ignored(void **state)
{
	struct service svc;
	int p[2];
	pid_t pid;
	char c = 0;
	int status;
	char *dir = fresh_dir();

	(void)state;
	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct service child;

		/* The child opens its own environment (never one from
		 * before fork). */
		close(p[0]);
		svc_open(&child, dir, 1000 * MIB);
		if (admit_acquire(&child, "child", 900 * MIB, now_ms() + 1000,
				  NULL, NULL) == 0) {
			c = 1;
		}
		if (write(p[1], &c, 1) != 1) {
			_exit(1);
		}
		pause();
		_exit(0);
	}
	close(p[1]);
	assert_int_equal(read(p[0], &c, 1), 1);
	close(p[0]);
	assert_int_equal(c, 1);
	svc_open(&svc, dir, 1000 * MIB);
	assert_int_equal(admit_in_use(&svc), 900 * MIB);
	assert_int_equal(
	    admit_acquire(&svc, "me", 200 * MIB, now_ms() + 300, NULL, NULL),
	    -ETIMEDOUT);
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(
	    admit_acquire(&svc, "me", 200 * MIB, now_ms() + 3000, NULL, NULL),
	    0);
	assert_int_equal(admit_in_use(&svc), 200 * MIB);
	svc_close(&svc);
	free(dir);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state)
{
	char *cmd = xasprintf("rm -rf '%s'", root);
	int rc;

	(void)state;
	rc = system(cmd);
	free(cmd);
	return rc == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_budget_and_e2big),
	    cmocka_unit_test(test_waiter_admitted_after_release),
	    cmocka_unit_test(test_held_rows),
	    cmocka_unit_test(test_reclaim_for_a_run),
	    cmocka_unit_test(test_dead_owner_ignored),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
