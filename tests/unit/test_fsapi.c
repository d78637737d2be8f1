/* test_fsapi.c - file access beneath a root, attacked the way a sandbox
 * would: symlinks (absolute, relative, to /proc/self/root, in the middle
 * of a path, swapped in between check and use by a racing thread), FIFOs,
 * sockets and devices, a 1 TiB sparse file, 10,000 entries, a deep tree,
 * names that are not UTF-8, bad paths; plus round trips, Range reads,
 * atomic writes and the quota. Canary files outside the root must come out
 * of every attack unread, unwritten and undeleted. Runs on a btrfs loop
 * image of its own (btrfs_fixture.h; needs root). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "bstore.h"
#include "btrfs_fixture.h"
#include "fsapi.h"
#include "util.h"

#define MIB    (1024 * 1024LL)
#define SECRET "SECRET-outside-the-root"

static struct btrfs_fixture fx;
static struct bstore bs;
static int root = -1;	/* the subvolume "t" */
static char *root_path; /* its host path */
static char *outside;	/* fx.mnt/outside: canaries, not beneath root */
static char *canary;	/* outside/canary, content SECRET */

/* ---------------------------------------------------------------- helpers */

#define P(s) (s), strlen(s)

struct mem_src {
	const char *p;
	size_t n;
	size_t off;
	size_t chunk;	/* at most this much per call */
	int fail_after; /* calls before an error (-1: never) */
	int calls;
};

static ssize_t mem_read(void *ctx, char *buf, size_t cap)
{
	struct mem_src *m = ctx;
	size_t k = m->n - m->off;

	if (m->fail_after >= 0 && m->calls >= m->fail_after) {
		return -EPIPE;
	}
	m->calls++;
	if (k > cap) {
		k = cap;
	}
	if (m->chunk > 0 && k > m->chunk) {
		k = m->chunk;
	}
	memcpy(buf, m->p + m->off, k);
	m->off += k;
	return (ssize_t)k;
}

static int put(const char *path, const char *data, size_t n,
	       struct isobox_err *err)
{
	struct mem_src m = {data, n, 0, 0, -1, 0};
	struct fsapi_written w;

	return fsapi_write(root, path, strlen(path), 0644, 0, mem_read, &m, &w,
			   err);
}

static int buf_sink(void *ctx, const char *p, size_t n)
{
	buf_add(ctx, p, n);
	return 0;
}

/* Read path entirely into b (reset first). Returns fsapi_read's value. */
static int64_t get(const char *path, struct buf *b, struct isobox_err *err)
{
	int64_t rc;

	buf_reset(b);
	rc = fsapi_read(root, path, strlen(path), 0, -1, buf_sink, b, err);
	if (rc < 0 && getenv("TEST_VERBOSE") != NULL) {
		fprintf(stderr, "get %s: %d %s %s\n", path, err->status,
			err->code, err->msg);
	}
	return rc;
}

static char *slurp_host(const char *path)
{
	FILE *f = fopen(path, "re");
	struct buf b = {0};
	char tmp[4096];
	size_t n;

	if (f == NULL) {
		return NULL;
	}
	buf_adds(&b, "");
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0) {
		buf_add(&b, tmp, n);
	}
	fclose(f);
	return buf_steal(&b, NULL);
}

static void write_host(const char *path, const char *s)
{
	FILE *f = fopen(path, "we");

	assert_non_null(f);
	fputs(s, f);
	assert_int_equal(fclose(f), 0);
}

static void assert_canaries(void)
{
	char *s = slurp_host(canary);
	char *p;
	struct stat st;

	assert_non_null(s);
	assert_string_equal(s, SECRET);
	free(s);
	p = xasprintf("%s/victim/keep", outside);
	assert_int_equal(stat(p, &st), 0);
	free(p);
	/* Nothing was written into the outside directory. */
	p = xasprintf("%s/w.txt", outside);
	assert_int_equal(stat(p, &st), -1);
	free(p);
	p = xasprintf("%s/victim/w.txt", outside);
	assert_int_equal(stat(p, &st), -1);
	free(p);
}

static void expect(int rc, const struct isobox_err *err, int status,
		   const char *code)
{
	assert_int_equal(rc, -1);
	if (strcmp(err->code, code) != 0 || err->status != status) {
		fprintf(stderr, "expected %d %s, got %d %s (%s)\n", status,
			code, err->status, err->code, err->msg);
	}
	assert_string_equal(err->code, code);
	assert_int_equal(err->status, status);
}

/* Names in a directory of the host (for "no temp file left"). */
static int count_host(const char *dir)
{
	char *cmd = xasprintf("ls -A '%s' | wc -l", dir);
	FILE *f = popen(cmd, "r");
	int n = -1;

	free(cmd);
	assert_non_null(f);
	assert_int_equal(fscanf(f, "%d", &n), 1);
	pclose(f);
	return n;
}

static char *at_root(const char *rel)
{
	return xasprintf("%s/%s", root_path, rel);
}

/* ------------------------------------------------------------- the tests */

static void test_paths_rejected(void **state)
{
	static const char *const bad[] = {
	    "..",   "../x", "a/../b", "a/..", "/etc/passwd", "/",
	    "a//b", "a/",   ".",      "./a",  "a/./b",
	};
	struct isobox_err err = {0};
	struct fsapi_stat st;
	struct buf b = {0};
	char big[FSAPI_PATH_MAX + 2];
	char comp[FSAPI_NAME_MAX + 2];
	size_t i;
	int trunc;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		expect(fsapi_stat(root, P(bad[i]), &st, &err), &err, 400,
		       "invalid_path");
		expect(put(bad[i], "x", 1, &err), &err, 400, "invalid_path");
		expect(fsapi_delete(root, P(bad[i]), &err), &err, 400,
		       "invalid_path");
		expect((int)get(bad[i], &b, &err), &err, 400, "invalid_path");
		expect(fsapi_list(root, P(bad[i]), 0, NULL, NULL, &trunc, &err),
		       &err, 400, "invalid_path");
	}
	/* An embedded NUL: "a\0b" is three bytes, not "a". */
	expect(fsapi_path_check("a\0b", 3, 0, &err), &err, 400, "invalid_path");
	expect(fsapi_stat(root, "a\0b", 3, &st, &err), &err, 400,
	       "invalid_path");
	/* Over-long component, path, depth. */
	memset(comp, 'c', sizeof(comp));
	assert_int_equal(fsapi_path_check(comp, FSAPI_NAME_MAX, 0, &err), 0);
	expect(fsapi_path_check(comp, FSAPI_NAME_MAX + 1, 0, &err), &err, 400,
	       "invalid_path");
	for (i = 0; i < sizeof(big); i++) {
		big[i] = i % 2 ? '/' : 'd';
	}
	expect(fsapi_path_check(big, FSAPI_PATH_MAX + 1, 0, &err), &err, 400,
	       "invalid_path");
	/* 129 components of one letter: 257 bytes, too deep. */
	expect(fsapi_path_check(big, 2 * (FSAPI_DEPTH_MAX + 1) - 1, 0, &err),
	       &err, 400, "invalid_path");
	assert_int_equal(
	    fsapi_path_check(big, 2 * FSAPI_DEPTH_MAX - 1, 0, &err), 0);
	/* The root: fine for stat and list, never a file nor deletable. */
	assert_int_equal(fsapi_stat(root, "", 0, &st, &err), 0);
	assert_int_equal(st.type, FSAPI_DIR);
	expect(fsapi_delete(root, "", 0, &err), &err, 400, "invalid_path");
	expect(put("", "x", 1, &err), &err, 400, "invalid_path");
	buf_free(&b);
	assert_canaries();
}

static void test_round_trip_and_ranges(void **state)
{
	struct isobox_err err = {0};
	struct fsapi_written w;
	struct fsapi_stat st;
	struct buf b = {0};
	size_t n = 3 * FSAPI_BUF + 123;
	char *data = xmalloc(n);
	char want[65];
	struct mem_src m;
	struct stat hs;
	char *p;
	size_t i;
	int fd;

	(void)state;
	for (i = 0; i < n; i++) {
		data[i] = (char)(i * 31 + (i >> 9));
	}
	m = (struct mem_src){data, n, 0, 1000, -1, 0};
	assert_int_equal(fsapi_write(root, P("rt/a/b/c.bin"), 0600, 0, mem_read,
				     &m, &w, &err),
			 0);
	/* The helper itself, on the FIPS 180-2 vector. */
	sha256_hex("abc", 3, want);
	assert_string_equal(want, "ba7816bf8f01cfea414140de5dae2223"
				  "b00361a396177a9cb410ff61f20015ad");
	sha256_hex(data, n, want);
	assert_int_equal(w.bytes, (int64_t)n);
	assert_string_equal(w.sha256, want);
	/* Owned by the sandbox's user, parents too. */
	p = at_root("rt/a/b/c.bin");
	assert_int_equal(stat(p, &hs), 0);
	assert_int_equal(hs.st_uid, FSAPI_UID);
	assert_int_equal(hs.st_gid, FSAPI_GID);
	assert_int_equal(hs.st_mode & 07777, 0600);
	free(p);
	p = at_root("rt/a");
	assert_int_equal(stat(p, &hs), 0);
	assert_int_equal(hs.st_uid, FSAPI_UID);
	assert_int_equal(hs.st_mode & 07777, 0755);
	free(p);

	assert_int_equal(get("rt/a/b/c.bin", &b, &err), (int64_t)n);
	assert_memory_equal(b.p, data, n);
	assert_int_equal(fsapi_stat(root, P("rt/a/b/c.bin"), &st, &err), 0);
	assert_int_equal(st.type, FSAPI_FILE);
	assert_int_equal(st.size, (int64_t)n);
	assert_int_equal(st.mode, 0600);

	/* Ranges: middle, across the buffer, past the end, at the end. */
	fd = fsapi_open_read(root, P("rt/a/b/c.bin"), &st, &err);
	assert_true(fd >= 0);
	buf_reset(&b);
	assert_int_equal(fsapi_stream(fd, 10, 20, buf_sink, &b, &err), 20);
	assert_memory_equal(b.p, data + 10, 20);
	buf_reset(&b);
	assert_int_equal(
	    fsapi_stream(fd, FSAPI_BUF - 5, FSAPI_BUF + 10, buf_sink, &b, &err),
	    FSAPI_BUF + 10);
	assert_memory_equal(b.p, data + FSAPI_BUF - 5, FSAPI_BUF + 10);
	buf_reset(&b);
	assert_int_equal(
	    fsapi_stream(fd, (int64_t)n - 3, 100, buf_sink, &b, &err), 3);
	assert_int_equal(
	    fsapi_stream(fd, (int64_t)n + 5, 10, buf_sink, &b, &err), 0);
	close(fd);

	/* Replacing a file: the new content, whole. */
	assert_int_equal(put("rt/a/b/c.bin", "short", 5, &err), 0);
	assert_int_equal(get("rt/a/b/c.bin", &b, &err), 5);
	assert_memory_equal(b.p, "short", 5);
	/* Errors on the way. */
	expect((int)get("rt/a", &b, &err), &err, 400, "is_a_directory");
	expect((int)get("rt/missing", &b, &err), &err, 404, "not_found");
	expect((int)get("rt/a/b/c.bin/x", &b, &err), &err, 400,
	       "not_a_directory");
	expect(put("rt/a/b/c.bin/x", "x", 1, &err), &err, 400,
	       "not_a_directory");
	/* A directory is not replaced, and its body is not even read. */
	m = (struct mem_src){data, n, 0, 0, -1, 0};
	expect(fsapi_write(root, P("rt/a/b"), 0644, 0, mem_read, &m, &w, &err),
	       &err, 400, "is_a_directory");
	assert_int_equal(m.calls, 0);
	/* mkdir: new and existing. */
	assert_int_equal(fsapi_mkdir(root, P("rt/m/n"), &err), 0);
	assert_int_equal(fsapi_mkdir(root, P("rt/m/n"), &err), 0);
	assert_int_equal(fsapi_stat(root, P("rt/m/n"), &st, &err), 0);
	assert_int_equal(st.type, FSAPI_DIR);
	assert_int_equal(fsapi_delete(root, P("rt"), &err), 0);
	expect(fsapi_stat(root, P("rt"), &st, &err), &err, 404, "not_found");
	expect(fsapi_delete(root, P("rt"), &err), &err, 404, "not_found");
	free(data);
	buf_free(&b);
}

/* Large bodies are hashed on a second thread (fsapi.c "hasher"): the
 * digest and the file must be those of the body whatever the pieces the
 * source gives (full buffers, odd sizes) and whether the thread runs (the
 * slots cycle many times) or not (a body shorter than one slot). */
static void test_write_hash_threaded(void **state)
{
	static const size_t chunks[] = {0, 1000, FSAPI_BUF - 1};
	static const size_t sizes[] = {41 * FSAPI_BUF + 7, FSAPI_BUF + 3};
	struct isobox_err err = {0};
	struct fsapi_written w;
	struct buf b = {0};
	size_t n = sizes[0];
	char *data = xmalloc(n);
	char want[65];
	struct mem_src m;
	size_t i;

	(void)state;
	for (i = 0; i < n; i++) {
		data[i] = (char)(i * 7 + (i >> 13));
	}
	for (i = 0; i < 6; i++) {
		n = sizes[i / 3];
		sha256_hex(data, n, want);
		m = (struct mem_src){data, n, 0, chunks[i % 3], -1, 0};
		assert_int_equal(fsapi_write(root, P("ht/big.bin"), 0644, 0,
					     mem_read, &m, &w, &err),
				 0);
		assert_int_equal(w.bytes, (int64_t)n);
		assert_string_equal(w.sha256, want);
		assert_int_equal(get("ht/big.bin", &b, &err), (int64_t)n);
		assert_memory_equal(b.p, data, n);
	}
	assert_int_equal(fsapi_delete(root, P("ht"), &err), 0);
	free(b.p);
	free(data);
}

static void test_atomic_write(void **state)
{
	struct isobox_err err = {0};
	struct fsapi_written w;
	struct buf b = {0};
	size_t n = 4 * FSAPI_BUF;
	char *data = xcalloc(1, n);
	struct mem_src m;
	char *dir;

	(void)state;
	assert_int_equal(put("at/old.txt", "old", 3, &err), 0);
	dir = at_root("at");
	assert_int_equal(count_host(dir), 1);
	/* A body cut after two chunks: no new file, no temp name, and the
	 * old file is untouched. */
	m = (struct mem_src){data, n, 0, 0, 2, 0};
	expect(
	    fsapi_write(root, P("at/new.txt"), 0644, 0, mem_read, &m, &w, &err),
	    &err, 499, "aborted");
	m = (struct mem_src){data, n, 0, 0, 2, 0};
	expect(
	    fsapi_write(root, P("at/old.txt"), 0644, 0, mem_read, &m, &w, &err),
	    &err, 499, "aborted");
	assert_int_equal(count_host(dir), 1);
	assert_int_equal(get("at/old.txt", &b, &err), 3);
	assert_memory_equal(b.p, "old", 3);
	/* Too large: the same. */
	m = (struct mem_src){data, n, 0, 0, -1, 0};
	expect(fsapi_write(root, P("at/old.txt"), 0644, FSAPI_BUF + 1, mem_read,
			   &m, &w, &err),
	       &err, 413, "too_large");
	assert_int_equal(count_host(dir), 1);
	assert_int_equal(get("at/old.txt", &b, &err), 3);
	/* Exactly max_bytes is fine; an empty file too. */
	m = (struct mem_src){data, n, 0, 0, -1, 0};
	assert_int_equal(fsapi_write(root, P("at/old.txt"), 0644, (int64_t)n,
				     mem_read, &m, &w, &err),
			 0);
	assert_int_equal(w.bytes, (int64_t)n);
	assert_int_equal(put("at/empty", "", 0, &err), 0);
	assert_int_equal(get("at/empty", &b, &err), 0);
	assert_int_equal(count_host(dir), 2);
	assert_int_equal(fsapi_delete(root, P("at"), &err), 0);
	free(dir);
	free(data);
	buf_free(&b);
}

/* Replacing an existing file: readers that hold the old one keep its
 * bytes, the old file is unlinked (not left under a hidden name: the
 * replace swaps names, then unlinks), a hard link to it is untouched (its
 * name is replaced, the file is never written through). */
static void test_replace_existing(void **state)
{
	struct isobox_err err = {0};
	struct buf b = {0};
	struct stat st;
	char *dir;
	char *f;
	char *h;
	char got[8] = {0};
	int fd;

	(void)state;
	assert_int_equal(put("rp/f", "old", 3, &err), 0);
	dir = at_root("rp");
	f = at_root("rp/f");
	h = at_root("rp/h");
	fd = open(f, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(link(f, h), 0);
	assert_int_equal(put("rp/f", "new bytes", 9, &err), 0);
	assert_int_equal(get("rp/f", &b, &err), 9);
	assert_memory_equal(b.p, "new bytes", 9);
	assert_int_equal(count_host(dir), 2); /* f and h, nothing hidden */
	assert_int_equal(get("rp/h", &b, &err), 3);
	assert_memory_equal(b.p, "old", 3);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_nlink, 1); /* only h: f's old name is gone */
	assert_int_equal(pread(fd, got, sizeof(got), 0), 3);
	assert_memory_equal(got, "old", 3);
	close(fd);
	/* Without the hard link the old file goes entirely. */
	fd = open(f, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(put("rp/f", "third", 5, &err), 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_nlink, 0);
	assert_int_equal(count_host(dir), 2);
	close(fd);
	assert_int_equal(fsapi_delete(root, P("rp"), &err), 0);
	free(dir);
	free(f);
	free(h);
	buf_free(&b);
}

static void test_quota(void **state)
{
	struct isobox_err err = {0};
	struct fsapi_written w;
	struct fsapi_stat st;
	size_t n = 20 * MIB;
	char *data = xmalloc(n);
	struct mem_src m;
	char *p;
	int qroot;
	size_t i;

	(void)state;
	for (i = 0; i < n; i++) {
		data[i] = (char)(i * 131 + (i >> 12));
	}
	assert_int_equal(
	    bstore_create(&bs, BSTORE_SESSIONS, "quota", 0755, 10 * MIB), 0);
	qroot = bstore_open_root(&bs, BSTORE_SESSIONS, "quota");
	assert_true(qroot >= 0);
	m = (struct mem_src){data, n, 0, 0, -1, 0};
	expect(
	    fsapi_write(qroot, P("big.bin"), 0644, 0, mem_read, &m, &w, &err),
	    &err, 413, "quota_exceeded");
	expect(fsapi_stat(qroot, P("big.bin"), &st, &err), &err, 404,
	       "not_found");
	p = bstore_path(&bs, BSTORE_SESSIONS, "quota");
	assert_int_equal(count_host(p), 0);
	/* The space of the cut file came back: 5 MiB fits. */
	m = (struct mem_src){data, 5 * MIB, 0, 0, -1, 0};
	assert_int_equal(
	    fsapi_write(qroot, P("ok.bin"), 0644, 0, mem_read, &m, &w, &err),
	    0);
	close(qroot);
	free(p);
	assert_int_equal(bstore_delete(&bs, BSTORE_SESSIONS, "quota"), 0);
	free(data);
}

static void test_symlinks(void **state)
{
	struct isobox_err err = {0};
	struct fsapi_stat st;
	struct buf b = {0};
	char *rel_to_outside;
	char *p;
	int trunc;
	char *link_target;

	(void)state;
	assert_int_equal(symlinkat("/etc/passwd", root, "abs"), 0);
	assert_int_equal(symlinkat(canary, root, "abs_canary"), 0);
	assert_int_equal(symlinkat("../../", root, "rel"), 0);
	assert_int_equal(symlinkat("/proc/self/root", root, "proc"), 0);
	assert_int_equal(symlinkat(outside, root, "mid"), 0);
	/* root is fx.mnt/sessions/t: ../../outside/canary is the canary. */
	assert_int_equal(symlinkat("../../outside/canary", root, "relcanary"),
			 0);
	rel_to_outside = xasprintf("proc%s", canary); /* proc/tmp/.../canary */

	expect((int)get("abs", &b, &err), &err, 400, "symlink");
	expect((int)get("abs_canary", &b, &err), &err, 400, "symlink");
	expect((int)get("relcanary", &b, &err), &err, 400, "symlink");
	expect((int)get("rel/outside/canary", &b, &err), &err, 400, "symlink");
	expect((int)get(rel_to_outside, &b, &err), &err, 400, "symlink");
	expect((int)get("proc/etc/passwd", &b, &err), &err, 400, "symlink");
	expect((int)get("mid/canary", &b, &err), &err, 400, "symlink");
	expect(fsapi_list(root, P("mid"), 0, NULL, NULL, &trunc, &err), &err,
	       400, "symlink");
	expect(fsapi_list(root, P("rel"), 0, NULL, NULL, &trunc, &err), &err,
	       400, "symlink");
	expect(fsapi_stat(root, P("mid/canary"), &st, &err), &err, 400,
	       "symlink");
	expect(put("mid/w.txt", "x", 1, &err), &err, 400, "symlink");
	expect(put("mid/victim/w.txt", "x", 1, &err), &err, 400, "symlink");
	expect(put("rel/outside/w.txt", "x", 1, &err), &err, 400, "symlink");
	expect(fsapi_delete(root, P("mid/canary"), &err), &err, 400, "symlink");
	expect(fsapi_delete(root, P("mid/victim"), &err), &err, 400, "symlink");
	expect(fsapi_mkdir(root, P("mid/newdir"), &err), &err, 400, "symlink");
	assert_canaries();

	/* stat of a link reports the link. */
	assert_int_equal(fsapi_stat(root, P("abs"), &st, &err), 0);
	assert_int_equal(st.type, FSAPI_SYMLINK);
	/* A write to a link's name replaces the link, never its target. */
	assert_int_equal(put("abs_canary", "mine", 4, &err), 0);
	assert_int_equal(fsapi_stat(root, P("abs_canary"), &st, &err), 0);
	assert_int_equal(st.type, FSAPI_FILE);
	assert_canaries();
	/* Deleting a link removes the link: the target stays. */
	assert_int_equal(fsapi_delete(root, P("mid"), &err), 0);
	assert_int_equal(fsapi_delete(root, P("relcanary"), &err), 0);
	assert_int_equal(fsapi_delete(root, P("rel"), &err), 0);
	assert_int_equal(fsapi_delete(root, P("proc"), &err), 0);
	assert_int_equal(fsapi_delete(root, P("abs"), &err), 0);
	assert_int_equal(fsapi_delete(root, P("abs_canary"), &err), 0);
	assert_canaries();
	p = slurp_host("/etc/passwd");
	assert_non_null(p);
	free(p);
	/* A directory holding links to the outside, deleted whole. */
	assert_int_equal(fsapi_mkdir(root, P("links/sub"), &err), 0);
	p = at_root("links/sub/out");
	assert_int_equal(symlink(outside, p), 0);
	free(p);
	p = at_root("links/victim");
	link_target = xasprintf("%s/victim", outside);
	assert_int_equal(symlink(link_target, p), 0);
	free(link_target);
	free(p);
	assert_int_equal(fsapi_delete(root, P("links"), &err), 0);
	assert_canaries();
	free(rel_to_outside);
	buf_free(&b);
}

static void on_alarm(int sig)
{
	(void)sig;
	/* A hang on a FIFO would end here: the test fails loudly. */
	if (write(2, "test_fsapi: hung on a special file\n", 35) < 0) {
		_exit(4);
	}
	_exit(3);
}

static void test_special_files(void **state)
{
	struct isobox_err err = {0};
	struct fsapi_stat st;
	struct buf b = {0};
	struct sockaddr_un sa;
	char *p;
	int s;

	(void)state;
	assert_int_equal(mkfifoat(root, "fifo", 0666), 0);
	assert_int_equal(mknodat(root, "null", S_IFCHR | 0666, makedev(1, 3)),
			 0);
	assert_int_equal(mknodat(root, "zero", S_IFCHR | 0666, makedev(1, 5)),
			 0);
	assert_int_equal(mknodat(root, "blk", S_IFBLK | 0600, makedev(7, 0)),
			 0);
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(s >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	p = at_root("sock");
	assert_true(strlen(p) < sizeof(sa.sun_path));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", p);
	free(p);
	assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(s, 1), 0);

	signal(SIGALRM, on_alarm);
	alarm(10);
	expect((int)get("fifo", &b, &err), &err, 400, "not_regular");
	expect((int)get("null", &b, &err), &err, 400, "not_regular");
	expect((int)get("zero", &b, &err), &err, 400, "not_regular");
	expect((int)get("blk", &b, &err), &err, 400, "not_regular");
	expect((int)get("sock", &b, &err), &err, 400, "not_regular");
	alarm(0);
	assert_int_equal(fsapi_stat(root, P("fifo"), &st, &err), 0);
	assert_int_equal(st.type, FSAPI_OTHER);
	/* A write replaces the name; the FIFO is never opened. */
	alarm(10);
	assert_int_equal(put("fifo", "x", 1, &err), 0);
	alarm(0);
	assert_int_equal(fsapi_stat(root, P("fifo"), &st, &err), 0);
	assert_int_equal(st.type, FSAPI_FILE);
	assert_int_equal(fsapi_delete(root, P("fifo"), &err), 0);
	assert_int_equal(fsapi_delete(root, P("null"), &err), 0);
	assert_int_equal(fsapi_delete(root, P("zero"), &err), 0);
	assert_int_equal(fsapi_delete(root, P("blk"), &err), 0);
	assert_int_equal(fsapi_delete(root, P("sock"), &err), 0);
	close(s);
	buf_free(&b);
}

static void test_sparse_1tib(void **state)
{
	struct isobox_err err = {0};
	struct fsapi_stat st;
	struct buf b = {0};
	const int64_t tib = 1024LL * 1024 * 1024 * 1024;
	int fd;

	(void)state;
	fd = openat(root, "sparse", O_WRONLY | O_CREAT | O_EXCL, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, tib), 0);
	assert_int_equal(pwrite(fd, "hello", 5, tib / 2), 5);
	close(fd);
	fd = fsapi_open_read(root, P("sparse"), &st, &err);
	assert_true(fd >= 0);
	assert_int_equal(st.size, tib);
	assert_int_equal(fsapi_stream(fd, tib / 2 - 2, 9, buf_sink, &b, &err),
			 9);
	assert_memory_equal(b.p, "\0\0hello\0\0", 9);
	buf_reset(&b);
	assert_int_equal(fsapi_stream(fd, tib - 4, 100, buf_sink, &b, &err), 4);
	assert_memory_equal(b.p, "\0\0\0\0", 4);
	close(fd);
	assert_int_equal(fsapi_delete(root, P("sparse"), &err), 0);
	buf_free(&b);
}

struct listing {
	int n;
	int sorted;
	char last[FSAPI_NAME_MAX + 1];
	size_t last_len;
	int non_utf8;
	int utf8;
};

static int on_entry(const struct fsapi_entry *e, void *ctx)
{
	struct listing *l = ctx;
	size_t m = e->name_len < l->last_len ? e->name_len : l->last_len;
	int c = memcmp(l->last, e->name, m);

	if (l->n > 0 && (c > 0 || (c == 0 && l->last_len >= e->name_len))) {
		l->sorted = 0;
	}
	memcpy(l->last, e->name, e->name_len);
	l->last_len = e->name_len;
	l->n++;
	if (e->name_len == 4 && memcmp(e->name, "caf\xe9", 4) == 0) {
		l->non_utf8 += !e->utf8;
	}
	if (strcmp(e->name, "caf\xc3\xa9") == 0) {
		l->utf8 += e->utf8;
	}
	return 0;
}

static void test_list_bounded_sorted(void **state)
{
	struct isobox_err err = {0};
	struct listing l;
	int trunc = 0;
	int fd;
	int i;

	(void)state;
	assert_int_equal(fsapi_mkdir(root, P("many"), &err), 0);
	fd = openat(root, "many", O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	for (i = 0; i < 10001; i++) {
		char name[32];
		int f;

		snprintf(name, sizeof(name), "e%05d", (i * 7919) % 10001);
		f = openat(fd, name, O_WRONLY | O_CREAT, 0644);
		assert_true(f >= 0);
		close(f);
	}
	close(fd);
	l = (struct listing){.sorted = 1};
	assert_int_equal(
	    fsapi_list(root, P("many"), 10000, on_entry, &l, &trunc, &err),
	    10000);
	assert_int_equal(l.n, 10000);
	assert_true(l.sorted);
	assert_int_equal(trunc, 1);
	l = (struct listing){.sorted = 1};
	assert_int_equal(
	    fsapi_list(root, P("many"), 20000, on_entry, &l, &trunc, &err),
	    10001);
	assert_int_equal(trunc, 0);
	assert_true(l.sorted);
	assert_int_equal(fsapi_delete(root, P("many"), &err), 0);

	/* Names that are not UTF-8 are given raw, flagged. */
	fd = openat(root, "caf\xe9", O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	close(fd);
	fd = openat(root, "caf\xc3\xa9", O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(mkdirat(root, "nu", 0755), 0);
	l = (struct listing){.sorted = 1};
	assert_true(fsapi_list(root, "", 0, 0, on_entry, &l, &trunc, &err) >=
		    3);
	assert_true(l.sorted);
	assert_int_equal(l.non_utf8, 1);
	assert_int_equal(l.utf8, 1);
	assert_int_equal(fsapi_delete(root, P("caf\xe9"), &err), 0);
	assert_int_equal(fsapi_delete(root, P("caf\xc3\xa9"), &err), 0);
	assert_int_equal(fsapi_delete(root, P("nu"), &err), 0);
	expect(fsapi_list(root, P("nope"), 0, on_entry, &l, &trunc, &err), &err,
	       404, "not_found");
	assert_int_equal(put("file", "x", 1, &err), 0);
	expect(fsapi_list(root, P("file"), 0, on_entry, &l, &trunc, &err), &err,
	       400, "not_a_directory");
	assert_int_equal(fsapi_delete(root, P("file"), &err), 0);
}

static void test_deep_tree(void **state)
{
	struct isobox_err err = {0};
	struct fsapi_stat st;
	int fd;
	int i;

	(void)state;
	/* 200 levels, each with a file: deleted whole. */
	assert_int_equal(mkdirat(root, "deep", 0755), 0);
	fd = openat(root, "deep", O_RDONLY | O_DIRECTORY);
	for (i = 0; i < 200; i++) {
		int f = openat(fd, "file", O_WRONLY | O_CREAT, 0644);
		int next;

		assert_true(f >= 0);
		close(f);
		assert_int_equal(mkdirat(fd, "d", 0755), 0);
		next = openat(fd, "d", O_RDONLY | O_DIRECTORY);
		assert_true(next >= 0);
		close(fd);
		fd = next;
	}
	close(fd);
	assert_int_equal(fsapi_delete(root, P("deep"), &err), 0);
	expect(fsapi_stat(root, P("deep"), &st, &err), &err, 404, "not_found");

	/* Deeper than FSAPI_DELETE_DEPTH: refused with too_many_entries. */
	assert_int_equal(mkdirat(root, "deeper", 0755), 0);
	fd = openat(root, "deeper", O_RDONLY | O_DIRECTORY);
	for (i = 0; i < FSAPI_DELETE_DEPTH + 10; i++) {
		int next;

		assert_int_equal(mkdirat(fd, "d", 0755), 0);
		next = openat(fd, "d", O_RDONLY | O_DIRECTORY);
		close(fd);
		fd = next;
	}
	close(fd);
	expect(fsapi_delete(root, P("deeper"), &err), &err, 409,
	       "too_many_entries");
	{
		char *cmd = xasprintf("rm -rf '%s/deeper'", root_path);

		assert_int_equal(system(cmd), 0);
		free(cmd);
	}
}

/* ------------------------------------------------------- the race attack */

static atomic_int racing;
/* Set when the workers got nothing through in the first seconds (a slow
 * or serialising host: valgrind runs one thread at a time): the flipper
 * then pauses a little after each flip so they get a turn. */
static atomic_int flip_gently;
static int64_t gentle_after; /* set before the flipper starts */
static atomic_long flips;
static atomic_long leaks;
static atomic_long reads_ok;
static atomic_long writes_ok;
static atomic_long deletes_ok;
static char *rel_canary;     /* d/<canary path without its leading '/'> */
static char *rel_canary_dir; /* d/<outside without its leading '/'> */

/* Flip "d" between a real directory and a symlink to "/", and "e/s"
 * between a directory and a symlink to the outside directory, with
 * RENAME_EXCHANGE: at every instant one of the two is in place. */
static void *flipper(void *arg)
{
	(void)arg;
	while (atomic_load(&racing)) {
		if (renameat2(root, "d", root, "d_alt", RENAME_EXCHANGE) == 0) {
			atomic_fetch_add(&flips, 1);
		}
		/* Gentle on its own once the first 2.5 s are over: the thread
		 * that would set flip_gently may itself be starved. */
		if (atomic_load(&flip_gently) || now_ms() >= gentle_after) {
			usleep(1000);
		}
		if (renameat2(root, "e/s", root, "e/s_alt", RENAME_EXCHANGE) !=
		    0) {
			/* The worker deleted e: put it back. */
			mkdirat(root, "e", 0755);
			mkdirat(root, "e/s", 0755);
			symlinkat(outside, root, "e/s_alt");
			close(openat(root, "e/s/file",
				     O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
		}
	}
	return NULL;
}

static int leak_sink(void *ctx, const char *p, size_t n)
{
	(void)ctx;
	if (memmem(p, n, "SECRET", 6) != NULL) {
		atomic_fetch_add(&leaks, 1);
	}
	return 0;
}

static int list_sink(const struct fsapi_entry *e, void *ctx)
{
	(void)ctx;
	if (strcmp(e->name, "canary") == 0 &&
	    e->st.size == (int64_t)strlen(SECRET)) {
		/* The outside canary has a size of its own; the inside
		 * one is "inside" (6 bytes). */
		atomic_fetch_add(&leaks, 1);
	}
	return 0;
}

static void *worker(void *arg)
{
	struct isobox_err err;
	char *w_path = xasprintf("%s/w.txt", rel_canary_dir);
	int trunc;

	(void)arg;
	while (atomic_load(&racing)) {
		struct mem_src m = {"inside", 6, 0, 0, -1, 0};
		struct fsapi_written w;
		struct fsapi_stat st;

		if (fsapi_read(root, P(rel_canary), 0, -1, leak_sink, NULL,
			       &err) >= 0) {
			atomic_fetch_add(&reads_ok, 1);
		}
		if (fsapi_list(root, P(rel_canary_dir), 0, list_sink, NULL,
			       &trunc, &err) >= 0 &&
		    fsapi_stat(root, P(rel_canary), &st, &err) == 0 &&
		    st.size == (int64_t)strlen(SECRET)) {
			atomic_fetch_add(&leaks, 1);
		}
		if (fsapi_write(root, P(w_path), 0644, 0, mem_read, &m, &w,
				&err) == 0) {
			atomic_fetch_add(&writes_ok, 1);
		}
		if (fsapi_delete(root, P(rel_canary), &err) == 0) {
			atomic_fetch_add(&deletes_ok, 1);
		}
		m = (struct mem_src){"inside", 6, 0, 0, -1, 0};
		fsapi_write(root, P(rel_canary), 0644, 0, mem_read, &m, &w,
			    &err);
		fsapi_delete(root, P("e/s"), &err);
		if (fsapi_delete(root, P("e"), &err) == 0) {
			atomic_fetch_add(&deletes_ok, 1);
		}
	}
	free(w_path);
	return NULL;
}

static void test_race_swapped_symlinks(void **state)
{
	struct isobox_err err = {0};
	pthread_t f;
	pthread_t w[2];
	char *inside_canary;
	int64_t end;
	int i;

	(void)state;
	/* d: a real directory holding the same path the symlink would
	 * reach outside, with harmless content. */
	rel_canary = xasprintf("d%s", canary);
	rel_canary_dir = xasprintf("d%s", outside);
	inside_canary = xasprintf("%s", rel_canary);
	assert_int_equal(put(inside_canary, "inside", 6, &err), 0);
	assert_int_equal(symlinkat("/", root, "d_alt"), 0);
	assert_int_equal(fsapi_mkdir(root, P("e/s"), &err), 0);
	assert_int_equal(put("e/s/file", "x", 1, &err), 0);
	assert_int_equal(symlinkat(outside, root, "e/s_alt"), 0);

	atomic_store(&racing, 1);
	gentle_after = now_ms() + 2500;
	assert_int_equal(pthread_create(&f, NULL, flipper, NULL), 0);
	for (i = 0; i < 2; i++) {
		assert_int_equal(pthread_create(&w[i], NULL, worker, NULL), 0);
	}
	/* At least 2.5 s of racing, and on until every kind of operation has
	 * got through at least once (a slow host, valgrind), 60 s at most. */
	end = now_ms() + 2500;
	atomic_store(&flip_gently, 0);
	while (now_ms() < end ||
	       ((atomic_load(&reads_ok) == 0 || atomic_load(&writes_ok) == 0 ||
		 atomic_load(&deletes_ok) == 0) &&
		now_ms() < end + 57500)) {
		usleep(50 * 1000);
		if (now_ms() >= end) {
			atomic_store(&flip_gently, 1);
		}
	}
	atomic_store(&racing, 0);
	pthread_join(f, NULL);
	for (i = 0; i < 2; i++) {
		pthread_join(w[i], NULL);
	}
	print_message("race: %ld flips, %ld reads, %ld writes, %ld deletes "
		      "succeeded inside; %ld leaks\n",
		      atomic_load(&flips), atomic_load(&reads_ok),
		      atomic_load(&writes_ok), atomic_load(&deletes_ok),
		      atomic_load(&leaks));
	assert_int_equal(atomic_load(&leaks), 0);
	assert_canaries();
	/* The attack really ran: flips happened and work got through. */
	assert_true(atomic_load(&flips) > 100);
	assert_true(atomic_load(&reads_ok) > 0);
	assert_true(atomic_load(&writes_ok) > 0);
	assert_true(atomic_load(&deletes_ok) > 0);
	free(inside_canary);
	free(rel_canary);
	free(rel_canary_dir);
}

/* --------------------------------------------------------------- fixture */

static int setup(void **state)
{
	struct isobox_err err = {0};
	char *p;

	(void)state;
	if (btrfs_fixture_up(&fx, "fsapi", "1G") < 0) {
		return -1;
	}
	if (bstore_open(&bs, fx.mnt, 0, &err) < 0 ||
	    bstore_create(&bs, BSTORE_SESSIONS, "t", 0755, 0) < 0) {
		fprintf(stderr, "bstore: %s\n", err.msg);
		return -1;
	}
	root = bstore_open_root(&bs, BSTORE_SESSIONS, "t");
	root_path = bstore_path(&bs, BSTORE_SESSIONS, "t");
	outside = xasprintf("%s/outside", fx.mnt);
	canary = xasprintf("%s/canary", outside);
	if (root < 0 || mkdir(outside, 0755) < 0) {
		return -1;
	}
	write_host(canary, SECRET);
	p = xasprintf("%s/victim", outside);
	mkdir(p, 0755);
	free(p);
	p = xasprintf("%s/victim/keep", outside);
	write_host(p, SECRET);
	free(p);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (root >= 0) {
		close(root);
	}
	bstore_close(&bs);
	free(root_path);
	free(outside);
	free(canary);
	return btrfs_fixture_down(&fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_paths_rejected),
	    cmocka_unit_test(test_round_trip_and_ranges),
	    cmocka_unit_test(test_write_hash_threaded),
	    cmocka_unit_test(test_atomic_write),
	    cmocka_unit_test(test_replace_existing),
	    cmocka_unit_test(test_quota),
	    cmocka_unit_test(test_symlinks),
	    cmocka_unit_test(test_special_files),
	    cmocka_unit_test(test_sparse_1tib),
	    cmocka_unit_test(test_list_bounded_sorted),
	    cmocka_unit_test(test_deep_tree),
	    cmocka_unit_test(test_race_swapped_symlinks),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
