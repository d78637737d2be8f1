/* test_volume.c - the pure parts of volumes: ids, the seed's name rule,
 * the mount path allowlist, the name index key (case-folded, per tenant),
 * the row format (round trip with every holder slot at its longest, a bad
 * holder count refused), and the holds on a real store: one read-write
 * holder (a second is 409 volume_locked), read-only ones up to the bound,
 * another tenant's volume 404, release, and a holder whose session row is
 * gone dropped by the next attach. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "store.h"
#include "util.h"
#include "volume.h"

static void test_ids_and_names(void **state)
{
	(void)state;
	assert_true(volume_id_ok("vol_0123456789abcdef0123456789abcdef"));
	assert_false(volume_id_ok("vol_0123456789abcdef0123456789ABCDEF"));
	assert_false(volume_id_ok("vol_0123456789abcdef0123456789abcde"));
	assert_false(volume_id_ok("sess_0123456789abcdef0123456789abcdef"));
	assert_false(volume_id_ok("vol_../../../../etc/passwd/xxxxxxxxx"));
	assert_false(volume_id_ok(NULL));
	assert_true(volume_name_ok("memory"));
	assert_true(volume_name_ok("My Data_1.2-x"));
	assert_true(volume_name_ok("0"));
	assert_false(volume_name_ok(""));
	assert_false(volume_name_ok(" a"));
	assert_false(volume_name_ok(".a"));
	assert_false(volume_name_ok("-a"));
	assert_false(volume_name_ok("a/b"));
	assert_false(volume_name_ok("a\nb"));
	assert_false(volume_name_ok("caf\xc3\xa9"));
	assert_true(volume_name_ok(
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaa"));
	assert_false(
	    volume_name_ok("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
			   "aaaaaaaaaaaaaa"));
	assert_false(volume_name_ok(NULL));
}

static void test_mount_paths(void **state)
{
	static const char *const ok[] = {
	    "/memory", "/data", "/data/x", "/mnt/ref", "/volumes/a.b-c_d", NULL,
	};
	static const char *const bad[] = {
	    "/",	   "",		 "memory",
	    "/memory/",	   "/workspace", "/workspace/x",
	    "/tmp",	   "/box",	 "/etc",
	    "/proc",	   "/sys",	 "/dev",
	    "/usr",	   "/.isobox",	 "/data/..",
	    "/data/.",	   "/data/.x",	 "/mnt",
	    "/mnt/",	   "/mnt/a/b",	 "/mnt//a",
	    "/mnt/../etc", "/data/a b",	 "/volumes/x\xff",
	    "/MEMORY",	   "//memory",	 "/memory/../etc",
	    NULL,
	};
	struct isobox_err err;
	int i;

	(void)state;
	for (i = 0; ok[i]; i++) {
		assert_int_equal(volume_mount_path_check(ok[i], &err), 0);
	}
	for (i = 0; bad[i]; i++) {
		memset(&err, 0, sizeof(err));
		assert_int_equal(volume_mount_path_check(bad[i], &err), -1);
		assert_int_equal(err.status, 400);
		assert_string_equal(err.code, "invalid_mount_path");
	}
	assert_int_equal(volume_mount_path_check(NULL, &err), -1);
	/* the leaf is at most 48 bytes */
	assert_int_equal(
	    volume_mount_path_check(
		"/mnt/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", &err),
	    0);
	assert_int_equal(
	    volume_mount_path_check(
		"/mnt/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", &err),
	    -1);
}

static void test_name_key(void **state)
{
	char a[STORE_KEY_MAX + 1];
	char b[STORE_KEY_MAX + 1];
	char p[STORE_KEY_MAX + 1];
	int n;

	(void)state;
	assert_true(volume_name_key(a, 1, "alice", "My Data") > 0);
	assert_true(volume_name_key(b, 1, "alice", "my dATA") > 0);
	assert_string_equal(a, b);
	assert_true(volume_name_key(b, 1, "bob", "My Data") > 0);
	assert_string_not_equal(a, b);
	assert_true(volume_name_key(b, 0, "alice", "My Data") > 0);
	assert_string_not_equal(a, b);
	n = volume_name_key(p, 1, "alice", NULL);
	assert_true(n > 0);
	assert_memory_equal(a, p, (size_t)n);
	/* "alice" is not a prefix of "alice2"'s keys */
	assert_true(volume_name_key(b, 1, "alice2", "x") > 0);
	assert_true(strncmp(b, p, (size_t)n) != 0);
}

static void fill(struct volume *v, int nro)
{
	int i;

	memset(v, 0, sizeof(*v));
	snprintf(v->id, sizeof(v->id), "vol_%032x", 7);
	v->tenant_kind = 1;
	memset(v->tenant, 't', sizeof(v->tenant) - 1);
	memset(v->name, 'n', VOLUME_NAME_MAX);
	v->size_bytes = INT64_C(512) << 20;
	v->created_ms = INT64_C(1700000000000);
	snprintf(v->subvol, sizeof(v->subvol), "%s", v->id);
	snprintf(v->rw_holder, sizeof(v->rw_holder), "sess_%032x", 1);
	v->nro = nro;
	for (i = 0; i < nro; i++) {
		snprintf(v->ro_holders[i], sizeof(v->ro_holders[i]),
			 "sess_%032x", 100 + i);
	}
}

static void test_row_round_trip(void **state)
{
	struct store_rec r;
	struct store_val val;
	struct volume v;
	struct volume got;

	(void)state;
	fill(&v, VOLUME_RO_MAX);
	volume_rec_encode(&v, &r);
	assert_false(r.bad);
	val.p = r.b;
	val.n = r.n;
	memset(&got, 0, sizeof(got));
	memcpy(got.id, v.id, sizeof(v.id));
	assert_int_equal(volume_rec_decode(&val, &got), 0);
	assert_memory_equal(&got, &v, sizeof(v));
	/* cut short */
	val.n = r.n - 1;
	assert_int_not_equal(volume_rec_decode(&val, &got), 0);
	/* another version */
	val.n = r.n;
	r.b[1] = VOLUME_REC_VERSION + 1;
	assert_int_equal(volume_rec_decode(&val, &got), -EPROTONOSUPPORT);
	/* a holder count beyond the bound */
	fill(&v, 0);
	v.nro = 0;
	volume_rec_encode(&v, &r);
	r.b[r.n - 8] = VOLUME_RO_MAX + 1;
	val.p = r.b;
	val.n = r.n;
	assert_int_equal(volume_rec_decode(&val, &got), -EPROTO);
}

/* ---- holds on a real store -------------------------------------------- */

struct fx {
	char root[64];
	struct store st;
};

static void put_volume(struct store *st, const char *id, const char *tenant)
{
	struct store_txn t;
	struct store_rec r;
	struct volume v;

	memset(&v, 0, sizeof(v));
	snprintf(v.id, sizeof(v.id), "%s", id);
	v.tenant_kind = 1;
	snprintf(v.tenant, sizeof(v.tenant), "%s", tenant);
	snprintf(v.name, sizeof(v.name), "v");
	snprintf(v.subvol, sizeof(v.subvol), "%s", id);
	v.size_bytes = 1 << 20;
	volume_rec_encode(&v, &r);
	assert_int_equal(store_txn_begin(st, STORE_STATE, 1, &t), 0);
	assert_int_equal(store_put(&t, STORE_VOLUMES, id, &r), 0);
	assert_int_equal(store_txn_commit(&t), 0);
}

static void put_session(struct store *st, const char *sid)
{
	struct store_txn t;
	struct store_rec r;

	store_rec_init(&r, STORE_SESSIONS, 1);
	assert_int_equal(store_txn_begin(st, STORE_STATE, 1, &t), 0);
	assert_int_equal(store_put(&t, STORE_SESSIONS, sid, &r), 0);
	assert_int_equal(store_txn_commit(&t), 0);
}

static void del_session(struct store *st, const char *sid)
{
	struct store_txn t;

	assert_int_equal(store_txn_begin(st, STORE_STATE, 1, &t), 0);
	assert_int_equal(store_del(&t, STORE_SESSIONS, sid), 0);
	assert_int_equal(store_txn_commit(&t), 0);
}

/* Attach m as session sid of tenant "alice" (registering its row first,
 * as session.c does in the same transaction). Returns the HTTP status. */
static int attach(struct store *st, const char *sid, const char *vid, int ro)
{
	struct volume_mount m;
	struct isobox_err err;
	struct store_txn t;
	int rc;

	memset(&m, 0, sizeof(m));
	memset(&err, 0, sizeof(err));
	snprintf(m.id, sizeof(m.id), "%s", vid);
	snprintf(m.target, sizeof(m.target), "/data");
	m.read_only = ro;
	assert_int_equal(store_txn_begin(st, STORE_STATE, 1, &t), 0);
	rc = volume_attach_txn(&t, 1, "alice", sid, &m, 1, &err);
	if (rc < 0) {
		store_txn_abort(&t);
		return err.status;
	}
	assert_int_equal(store_txn_commit(&t), 0);
	put_session(st, sid);
	return 200;
}

static void release(struct store *st, const char *sid, const char *vid)
{
	struct volume_mount m;
	struct store_txn t;

	memset(&m, 0, sizeof(m));
	snprintf(m.id, sizeof(m.id), "%s", vid);
	assert_int_equal(store_txn_begin(st, STORE_STATE, 1, &t), 0);
	volume_release_txn(&t, sid, &m, 1);
	assert_int_equal(store_txn_commit(&t), 0);
	del_session(st, sid);
}

static void load(struct store *st, const char *vid, struct volume *v)
{
	struct store_txn t;
	struct store_val val;

	assert_int_equal(store_txn_begin(st, STORE_STATE, 0, &t), 0);
	assert_int_equal(store_get(&t, STORE_VOLUMES, vid, &val), 0);
	assert_int_equal(volume_rec_decode(&val, v), 0);
	store_txn_abort(&t);
}

static void test_holds(void **state)
{
	const char *vid = "vol_00000000000000000000000000000001";
	const char *bobs = "vol_00000000000000000000000000000002";
	struct isobox_err err;
	struct volume v;
	struct fx f;
	char *dir;
	char sid[64];
	int i;

	(void)state;
	snprintf(f.root, sizeof(f.root), "/tmp/isobox-test-volume-XXXXXX");
	assert_non_null(mkdtemp(f.root));
	dir = xasprintf("%s/state", f.root);
	store_init(&f.st);
	assert_int_equal(
	    store_env_open(&f.st, STORE_STATE, dir, 16 << 20, &err), 0);
	put_volume(&f.st, vid, "alice");
	put_volume(&f.st, bobs, "bob");

	/* one read-write holder */
	assert_int_equal(attach(&f.st, "sess_a", vid, 0), 200);
	assert_int_equal(attach(&f.st, "sess_b", vid, 0), 409);
	/* another tenant's volume does not exist; a missing one neither */
	assert_int_equal(attach(&f.st, "sess_c", bobs, 1), 404);
	assert_int_equal(
	    attach(&f.st, "sess_c", "vol_00000000000000000000000000000009", 1),
	    404);
	/* read-only holders up to the bound, next to the writer */
	for (i = 0; i < VOLUME_RO_MAX; i++) {
		snprintf(sid, sizeof(sid), "sess_r%d", i);
		assert_int_equal(attach(&f.st, sid, vid, 1), 200);
	}
	assert_int_equal(attach(&f.st, "sess_r_more", vid, 1), 409);
	load(&f.st, vid, &v);
	assert_string_equal(v.rw_holder, "sess_a");
	assert_int_equal(v.nro, VOLUME_RO_MAX);
	/* release: the writer and one reader */
	release(&f.st, "sess_a", vid);
	release(&f.st, "sess_r3", vid);
	load(&f.st, vid, &v);
	assert_string_equal(v.rw_holder, "");
	assert_int_equal(v.nro, VOLUME_RO_MAX - 1);
	for (i = 0; i < v.nro; i++) {
		assert_string_not_equal(v.ro_holders[i], "sess_r3");
	}
	assert_int_equal(attach(&f.st, "sess_b", vid, 0), 200);
	/* a holder whose session row vanished is dropped by the next attach */
	del_session(&f.st, "sess_b");
	assert_int_equal(attach(&f.st, "sess_d", vid, 0), 200);
	load(&f.st, vid, &v);
	assert_string_equal(v.rw_holder, "sess_d");

	store_close(&f.st);
	{
		char *cmd = xasprintf("rm -rf '%s'", f.root);

		assert_int_equal(system(cmd), 0);
		free(cmd);
	}
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ids_and_names),
	    cmocka_unit_test(test_mount_paths),
	    cmocka_unit_test(test_name_key),
	    cmocka_unit_test(test_row_round_trip),
	    cmocka_unit_test(test_holds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
