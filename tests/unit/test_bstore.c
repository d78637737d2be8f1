/* test_bstore.c - the btrfs store on a real btrfs (a loop image of its
 * own, btrfs_fixture.h; needs root): subvolumes are created owned by the
 * sandbox's user, listed, deleted with their qgroup, snapshotted cheaply,
 * and a limit stops writes with EDQUOT at the cap. Prints the measured
 * times of create, snapshot (100 MiB) and delete. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "bstore.h"
#include "btrfs_fixture.h"
#include "util.h"

#define MIB (1024 * 1024LL)

static struct btrfs_fixture fx;
static struct bstore bs;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Write bytes of pseudo-random data to dir/name; 0 or -errno (EDQUOT at
 * the cap). */
static int fill(const char *dir, const char *name, long long bytes)
{
	char *p = xasprintf("%s/%s", dir, name);
	char buf[65536];
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	long long done = 0;
	int rc = 0;
	size_t i;

	free(p);
	if (fd < 0) {
		return -errno;
	}
	for (i = 0; i < sizeof(buf); i++) {
		buf[i] = (char)(i * 7 + 3);
	}
	while (done < bytes) {
		size_t n = sizeof(buf);
		ssize_t w;

		if ((long long)n > bytes - done) {
			n = (size_t)(bytes - done);
		}
		buf[0] = (char)done; /* no two blocks alike */
		w = write(fd, buf, n);
		if (w < 0) {
			rc = -errno;
			break;
		}
		done += w;
	}
	if (close(fd) < 0 && rc == 0) {
		rc = -errno;
	}
	return rc;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a;
	double y = *(const double *)b;

	return (x > y) - (x < y);
}

struct seen {
	int n;
	int has_a;
	int has_b;
};

static int on_id(const char *id, void *ctx)
{
	struct seen *s = ctx;

	s->n++;
	s->has_a |= strcmp(id, "a") == 0;
	s->has_b |= strcmp(id, "b-1") == 0;
	return 0;
}

/* 1 when `btrfs qgroup show` lists 0/id. */
static int qgroup_listed(uint64_t id)
{
	char *cmd = xasprintf("btrfs qgroup show --raw '%s' | "
			      "grep -q '^0/%llu '",
			      fx.mnt, (unsigned long long)id);
	int rc = system(cmd);

	free(cmd);
	return rc == 0;
}

static void test_ids(void **state)
{
	static const char *const bad[] = {
	    "",	       ".",  "..", "../x", "a/b", "/a",
	    ".hidden", "-a", "_a", "a b",  "a\n", "é",
	};
	char longid[BSTORE_ID_MAX + 2];
	size_t i;

	(void)state;
	assert_true(bstore_id_ok("sess_0123abcd"));
	assert_true(bstore_id_ok("A-b_9"));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_false(bstore_id_ok(bad[i]));
		assert_int_equal(
		    bstore_create(&bs, BSTORE_SESSIONS, bad[i], 0755, 0),
		    -EINVAL);
		assert_int_equal(bstore_delete(&bs, BSTORE_SESSIONS, bad[i]),
				 -EINVAL);
		assert_null(bstore_path(&bs, BSTORE_SESSIONS, bad[i]));
	}
	memset(longid, 'a', sizeof(longid));
	longid[BSTORE_ID_MAX] = '\0';
	assert_true(bstore_id_ok(longid));
	longid[BSTORE_ID_MAX] = 'a';
	longid[BSTORE_ID_MAX + 1] = '\0';
	assert_false(bstore_id_ok(longid));
	assert_int_equal(bstore_create(&bs, BSTORE_NKINDS, "a", 0755, 0),
			 -EINVAL);
}

static void test_create_list_delete(void **state)
{
	struct stat st;
	struct seen s = {0};
	struct bstore_usage u;
	char *p;
	double t0;
	double t1;
	int fd;
	int i;

	(void)state;
	t0 = now_s();
	assert_int_equal(bstore_create(&bs, BSTORE_SESSIONS, "a", 0700, 0), 0);
	t1 = now_s();
	print_message("bstore: subvolume create + chown + limit: %.2f ms\n",
		      (t1 - t0) * 1e3);
	t0 = now_s();
	for (i = 0; i < 20; i++) {
		char id[16];

		snprintf(id, sizeof(id), "c%d", i);
		assert_int_equal(
		    bstore_create(&bs, BSTORE_SESSIONS, id, 0755, 64 * MIB), 0);
	}
	t1 = now_s();
	for (i = 0; i < 20; i++) {
		char id[16];

		snprintf(id, sizeof(id), "c%d", i);
		assert_int_equal(bstore_delete(&bs, BSTORE_SESSIONS, id), 0);
	}
	print_message("bstore: 20 creates with a limit: %.2f ms each; 20 "
		      "deletes: %.2f ms each\n",
		      (t1 - t0) * 1e3 / 20, (now_s() - t1) * 1e3 / 20);
	assert_int_equal(bstore_create(&bs, BSTORE_SESSIONS, "a", 0700, 0),
			 -EEXIST);
	assert_int_equal(bstore_create(&bs, BSTORE_SESSIONS, "b-1", 0755, 0),
			 0);
	p = bstore_path(&bs, BSTORE_SESSIONS, "a");
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_ino, 256); /* a subvolume's root */
	assert_int_equal(st.st_uid, BSTORE_UID);
	assert_int_equal(st.st_gid, BSTORE_GID);
	assert_int_equal(st.st_mode & 07777, 0700);
	free(p);
	/* A plain directory of a valid name is not a subvolume. */
	p = xasprintf("%s/sessions/plain", fx.mnt);
	assert_int_equal(mkdir(p, 0755), 0);
	assert_int_equal(bstore_delete(&bs, BSTORE_SESSIONS, "plain"), -ENOENT);
	assert_int_equal(bstore_open_root(&bs, BSTORE_SESSIONS, "plain"),
			 -ENOENT);
	rmdir(p);
	free(p);

	assert_int_equal(bstore_list(&bs, BSTORE_SESSIONS, on_id, &s), 2);
	assert_int_equal(s.n, 2);
	assert_true(s.has_a && s.has_b);
	s = (struct seen){0};
	assert_int_equal(bstore_list(&bs, BSTORE_VOLUMES, on_id, &s), 0);

	fd = bstore_open_root(&bs, BSTORE_SESSIONS, "a");
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(bstore_usage(&bs, BSTORE_SESSIONS, "a", &u), 0);
	assert_true(u.subvolid >= 256);
	assert_int_equal(u.limit, 0);

	t0 = now_s();
	assert_int_equal(bstore_delete(&bs, BSTORE_SESSIONS, "a"), 0);
	t1 = now_s();
	print_message("bstore: subvolume delete (empty): %.2f ms\n",
		      (t1 - t0) * 1e3);
	assert_int_equal(bstore_delete(&bs, BSTORE_SESSIONS, "a"), -ENOENT);
	assert_int_equal(bstore_usage(&bs, BSTORE_SESSIONS, "a", &u), -ENOENT);
	s = (struct seen){0};
	assert_int_equal(bstore_list(&bs, BSTORE_SESSIONS, on_id, &s), 1);
	assert_false(s.has_a);
	assert_true(s.has_b);
	assert_int_equal(bstore_delete(&bs, BSTORE_SESSIONS, "b-1"), 0);
}

static void test_limit_usage_edquot(void **state)
{
	struct bstore_usage u;
	char *p;
	int rc;

	(void)state;
	assert_int_equal(
	    bstore_create(&bs, BSTORE_VOLUMES, "q", 0755, 10 * MIB), 0);
	p = bstore_path(&bs, BSTORE_VOLUMES, "q");
	assert_int_equal(fill(p, "five", 5 * MIB), 0);
	assert_int_equal(bstore_sync(&bs), 0);
	assert_int_equal(bstore_usage(&bs, BSTORE_VOLUMES, "q", &u), 0);
	print_message("bstore: after 5 MiB: referenced %lld, exclusive %lld, "
		      "limit %lld\n",
		      (long long)u.referenced, (long long)u.exclusive,
		      (long long)u.limit);
	assert_int_equal(u.limit, 10 * MIB);
	assert_true(u.exclusive >= 5 * MIB && u.exclusive < 6 * MIB);
	assert_true(u.referenced >= 5 * MIB && u.referenced < 6 * MIB);
	/* Past the cap: EDQUOT, exactly around 10 MiB. */
	rc = fill(p, "more", 20 * MIB);
	assert_int_equal(rc, -EDQUOT);
	assert_int_equal(bstore_sync(&bs), 0);
	assert_int_equal(bstore_usage(&bs, BSTORE_VOLUMES, "q", &u), 0);
	print_message("bstore: after the cap: exclusive %lld of %lld\n",
		      (long long)u.exclusive, (long long)u.limit);
	assert_true(u.exclusive <= 10 * MIB);
	assert_true(u.exclusive >= 9 * MIB);
	/* Raising the limit lets writes through again; removing it too. */
	assert_int_equal(bstore_limit_set(&bs, BSTORE_VOLUMES, "q", 20 * MIB),
			 0);
	assert_int_equal(fill(p, "more", 8 * MIB), 0);
	assert_int_equal(bstore_limit_set(&bs, BSTORE_VOLUMES, "q", 0), 0);
	assert_int_equal(bstore_usage(&bs, BSTORE_VOLUMES, "q", &u), 0);
	assert_int_equal(u.limit, 0);
	assert_int_equal(fill(p, "big", 30 * MIB), 0);
	free(p);
	assert_int_equal(bstore_delete(&bs, BSTORE_VOLUMES, "q"), 0);
}

static void test_qgroup_removed(void **state)
{
	struct bstore_usage u;
	char *p;
	int64_t end;
	int swept = 0;

	(void)state;
	assert_int_equal(bstore_create(&bs, BSTORE_SESSIONS, "gone", 0755, MIB),
			 0);
	p = bstore_path(&bs, BSTORE_SESSIONS, "gone");
	assert_int_equal(fill(p, "x", MIB / 2), 0);
	free(p);
	assert_int_equal(bstore_usage(&bs, BSTORE_SESSIONS, "gone", &u), 0);
	assert_true(qgroup_listed(u.subvolid));
	assert_int_equal(bstore_delete(&bs, BSTORE_SESSIONS, "gone"), 0);
	/* The kernel frees the tree in the background; then the qgroup goes
	 * (by itself on recent kernels, else by the sweep). */
	end = now_ms() + 20000;
	while (qgroup_listed(u.subvolid) && now_ms() < end) {
		int n;

		assert_int_equal(bstore_sync(&bs), 0);
		n = bstore_qgroup_sweep(&bs);
		assert_true(n >= 0);
		swept += n;
		usleep(100 * 1000);
	}
	assert_false(qgroup_listed(u.subvolid));
	/* ... and every number stayed trustworthy. */
	assert_int_equal(bstore_quota_check(&bs), 0);
	print_message("bstore: qgroup 0/%llu gone (%d removed by the sweep)\n",
		      (unsigned long long)u.subvolid, swept);
	/* A new subvolume never inherits a stale limit. */
	assert_int_equal(bstore_create(&bs, BSTORE_SESSIONS, "gone", 0755, 0),
			 0);
	assert_int_equal(bstore_usage(&bs, BSTORE_SESSIONS, "gone", &u), 0);
	assert_int_equal(u.limit, 0);
	assert_int_equal(bstore_delete(&bs, BSTORE_SESSIONS, "gone"), 0);
}

static void test_snapshot(void **state)
{
	struct bstore_usage u;
	struct stat st;
	char *src;
	char *dst;
	char *f;
	double t0;
	double ms;
	double ms10[10];
	int i;

	(void)state;
	assert_int_equal(bstore_create(&bs, BSTORE_SESSIONS, "src", 0755, 0),
			 0);
	src = bstore_path(&bs, BSTORE_SESSIONS, "src");
	for (i = 0; i < 100; i++) {
		char name[32];

		snprintf(name, sizeof(name), "f%03d", i);
		assert_int_equal(fill(src, name, MIB), 0);
	}
	assert_int_equal(bstore_sync(&bs), 0);

	/* Ten snapshots for the spread (each one commits a transaction, so
	 * the host disk's flush latency is in the number), then the fork the
	 * rest of the test uses. */
	for (i = 0; i < 10; i++) {
		char id[16];

		snprintf(id, sizeof(id), "t%d", i);
		t0 = now_s();
		assert_int_equal(bstore_snapshot(&bs, BSTORE_SESSIONS, "src",
						 BSTORE_SESSIONS, id, 0),
				 0);
		ms10[i] = (now_s() - t0) * 1e3;
	}
	for (i = 0; i < 10; i++) {
		char id[16];

		snprintf(id, sizeof(id), "t%d", i);
		assert_int_equal(bstore_delete(&bs, BSTORE_SESSIONS, id), 0);
	}
	qsort(ms10, 10, sizeof(ms10[0]), cmp_double);
	t0 = now_s();
	assert_int_equal(bstore_snapshot(&bs, BSTORE_SESSIONS, "src",
					 BSTORE_SESSIONS, "fork", 10 * MIB),
			 0);
	ms = (now_s() - t0) * 1e3;
	print_message("bstore: snapshot of a 100 MiB tree (100 files), "
		      "10 runs: min %.2f, median %.2f, max %.2f ms; with a "
		      "limit: %.2f ms\n",
		      ms10[0], (ms10[4] + ms10[5]) / 2, ms10[9], ms);
	assert_int_equal(bstore_snapshot(&bs, BSTORE_SESSIONS, "src",
					 BSTORE_SESSIONS, "fork", 0),
			 -EEXIST);
	assert_int_equal(bstore_snapshot(&bs, BSTORE_SESSIONS, "nope",
					 BSTORE_VOLUMES, "x", 0),
			 -ENOENT);
	dst = bstore_path(&bs, BSTORE_SESSIONS, "fork");
	f = xasprintf("%s/f050", dst);
	assert_int_equal(stat(f, &st), 0);
	assert_int_equal(st.st_size, MIB);
	free(f);
	assert_int_equal(stat(dst, &st), 0);
	assert_int_equal(st.st_uid, BSTORE_UID);

	/* The fork shares the 100 MiB: referenced ~100 MiB, exclusive ~0,
	 * and its 10 MiB exclusive limit is what it may write anew. */
	assert_int_equal(bstore_sync(&bs), 0);
	assert_int_equal(bstore_usage(&bs, BSTORE_SESSIONS, "fork", &u), 0);
	print_message("bstore: fork: referenced %lld, exclusive %lld\n",
		      (long long)u.referenced, (long long)u.exclusive);
	assert_false(u.inconsistent);
	assert_true(u.referenced >= 100 * MIB);
	assert_true(u.exclusive < MIB);
	assert_int_equal(u.limit, 10 * MIB);
	assert_int_equal(fill(dst, "new", 8 * MIB), 0);
	assert_int_equal(fill(dst, "over", 8 * MIB), -EDQUOT);
	/* Writes to the fork do not show in the source. */
	f = xasprintf("%s/new", src);
	assert_int_equal(stat(f, &st), -1);
	free(f);
	/* A volume copy of the source, across kinds. */
	assert_int_equal(bstore_snapshot(&bs, BSTORE_SESSIONS, "src",
					 BSTORE_VOLUMES, "copy", 0),
			 0);

	t0 = now_s();
	assert_int_equal(bstore_delete(&bs, BSTORE_SESSIONS, "src"), 0);
	print_message("bstore: delete of the 100 MiB source: %.2f ms\n",
		      (now_s() - t0) * 1e3);
	assert_int_equal(bstore_delete(&bs, BSTORE_SESSIONS, "fork"), 0);
	assert_int_equal(bstore_delete(&bs, BSTORE_VOLUMES, "copy"), 0);
	free(src);
	free(dst);
}

/* Numbers the kernel flags inconsistent (here: a qgroup relation added
 * without a rescan over shared data) are seen, and a rescan makes them
 * right again. */
static void test_quota_rescan(void **state)
{
	struct bstore_usage u;
	char *cmd;
	char *p;
	int64_t end;
	int rc;

	(void)state;
	assert_int_equal(bstore_create(&bs, BSTORE_VOLUMES, "r", 0755, 0), 0);
	p = bstore_path(&bs, BSTORE_VOLUMES, "r");
	assert_int_equal(fill(p, "x", 3 * MIB), 0);
	free(p);
	assert_int_equal(bstore_sync(&bs), 0);
	assert_int_equal(
	    bstore_snapshot(&bs, BSTORE_VOLUMES, "r", BSTORE_VOLUMES, "r2", 0),
	    0);
	assert_int_equal(bstore_sync(&bs), 0);
	assert_int_equal(bstore_quota_check(&bs), 0);
	assert_int_equal(bstore_usage(&bs, BSTORE_VOLUMES, "r", &u), 0);
	assert_false(u.inconsistent);
	cmd = xasprintf("btrfs qgroup create 1/100 '%s' && btrfs qgroup "
			"assign --no-rescan 0/%llu 1/100 '%s' >/dev/null "
			"2>&1; btrfs filesystem sync '%s'",
			fx.mnt, (unsigned long long)u.subvolid, fx.mnt, fx.mnt);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	assert_int_equal(bstore_usage(&bs, BSTORE_VOLUMES, "r", &u), 0);
	assert_true(u.inconsistent);
	assert_int_equal(bstore_quota_check(&bs), 1); /* rescan started */
	end = now_ms() + 20000;
	while ((rc = bstore_quota_check(&bs)) == 1 && now_ms() < end) {
		usleep(50 * 1000);
	}
	assert_int_equal(rc, 0);
	assert_int_equal(bstore_sync(&bs), 0);
	assert_int_equal(bstore_usage(&bs, BSTORE_VOLUMES, "r", &u), 0);
	assert_false(u.inconsistent);
	assert_true(u.referenced >= 3 * MIB && u.referenced < 4 * MIB);
	cmd = xasprintf("btrfs qgroup remove 0/%llu 1/100 '%s' >/dev/null "
			"2>&1; btrfs qgroup destroy 1/100 '%s'",
			(unsigned long long)u.subvolid, fx.mnt, fx.mnt);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	assert_int_equal(bstore_delete(&bs, BSTORE_VOLUMES, "r"), 0);
	assert_int_equal(bstore_delete(&bs, BSTORE_VOLUMES, "r2"), 0);
	/* Removing the relation may flag the numbers again: leave them
	 * consistent for the next test. */
	end = now_ms() + 20000;
	while (bstore_quota_check(&bs) == 1 && now_ms() < end) {
		usleep(50 * 1000);
	}
}

static void test_space(void **state)
{
	struct bstore_space s;
	struct isobox_err err = {0};
	int64_t keep = bs.reserve_bytes;

	(void)state;
	assert_int_equal(bstore_space(&bs, &s), 0);
	assert_true(s.total > 512 * MIB && s.total <= 1024 * MIB);
	assert_true(s.avail > 0 && s.avail <= s.total);
	bs.reserve_bytes = 0;
	assert_int_equal(bstore_space_check(&bs, MIB, &err), 0);
	bs.reserve_bytes = s.total;
	assert_int_equal(bstore_space_check(&bs, 0, &err), -1);
	assert_int_equal(err.status, 507);
	assert_string_equal(err.code, "storage_full");
	bs.reserve_bytes = keep;
}

static void test_open_refuses(void **state)
{
	struct bstore b2;
	struct isobox_err err = {0};
	char *p = xasprintf("%s/plain-dir", fx.dir);
	char *cmd;

	(void)state;
	/* Not btrfs (the temp dir lives on the host's filesystem). */
	assert_int_equal(mkdir(p, 0700), 0);
	assert_int_equal(bstore_open(&b2, p, 0, &err), -1);
	assert_int_equal(err.status, 503);
	assert_string_equal(err.code, "storage_unavailable");
	assert_int_equal(b2.root_fd, -1);
	/* btrfs without quotas. */
	cmd = xasprintf("btrfs quota disable '%s'", fx.mnt);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	assert_int_equal(bstore_open(&b2, fx.mnt, 0, &err), -1);
	assert_int_equal(err.status, 503);
	assert_non_null(strstr(err.msg, "quota"));
	cmd = xasprintf("btrfs quota enable '%s'", fx.mnt);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	assert_int_equal(bstore_open(&b2, fx.mnt, 0, &err), 0);
	bstore_close(&b2);
	rmdir(p);
	free(p);
}

static int setup(void **state)
{
	struct isobox_err err = {0};

	(void)state;
	if (btrfs_fixture_up(&fx, "bstore", "1G") < 0) {
		return -1;
	}
	if (bstore_open(&bs, fx.mnt, 64 * MIB, &err) < 0) {
		fprintf(stderr, "bstore_open: %s\n", err.msg);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	bstore_close(&bs);
	return btrfs_fixture_down(&fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ids),
	    cmocka_unit_test(test_create_list_delete),
	    cmocka_unit_test(test_limit_usage_edquot),
	    cmocka_unit_test(test_qgroup_removed),
	    cmocka_unit_test(test_snapshot),
	    cmocka_unit_test(test_quota_rescan),
	    cmocka_unit_test(test_space),
	    cmocka_unit_test(test_open_refuses),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
