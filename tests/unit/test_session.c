/* test_session.c - the pure parts of sessions: ids and tokens (format,
 * 256 random bits, only the hash kept, any other token refused), TTL
 * clamping, the row format (round trip of every field, another version and
 * a cut row refused), the state machine, and the access rule on a real
 * store (another tenant's session is 404 whatever the token; the owner
 * with a wrong token is 401). */
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

#include "session.h"
#include "store.h"
#include "util.h"

static void test_ids(void **state)
{
	char a[SESSION_ID_SIZE];
	char b[SESSION_ID_SIZE];

	(void)state;
	session_id_new(a);
	session_id_new(b);
	assert_int_equal(strlen(a), 37);
	assert_true(session_id_ok(a));
	assert_true(strcmp(a, b) != 0);
	assert_false(session_id_ok("sess_"));
	assert_false(session_id_ok("sess_0123456789abcdef0123456789ABCDEF"));
	assert_false(session_id_ok("sess_0123456789abcdef0123456789abcde"));
	assert_false(session_id_ok("sess_0123456789abcdef0123456789abcdef0"));
	assert_false(session_id_ok("vol_0123456789abcdef0123456789abcdef"));
	assert_false(session_id_ok("sess_../../../../etc/passwd/xxxxxxxx"));
	assert_false(session_id_ok(NULL));
}

static void test_tokens(void **state)
{
	struct session s;
	char tok[SESSION_TOKEN_SIZE];
	char other[SESSION_TOKEN_SIZE];
	uint8_t h[32];
	size_t i;

	(void)state;
	memset(&s, 0, sizeof(s));
	session_token_new(tok, s.token_hash);
	assert_int_equal(strlen(tok), 68);
	assert_memory_equal(tok, "tok_", 4);
	for (i = 4; i < 68; i++) {
		assert_true(strchr("0123456789abcdef", tok[i]) != NULL);
	}
	/* Only the hash is kept: it is sha256 of the token. */
	session_token_hash(tok, h);
	assert_memory_equal(h, s.token_hash, 32);
	assert_true(session_token_match(&s, tok));
	/* Any other token is refused: one character off, cut, longer,
	 * empty, missing, another fresh one. */
	memcpy(other, tok, sizeof(other));
	other[40] = other[40] == 'a' ? 'b' : 'a';
	assert_false(session_token_match(&s, other));
	other[40] = tok[40];
	other[67] = '\0';
	assert_false(session_token_match(&s, other));
	assert_false(session_token_match(&s, ""));
	assert_false(session_token_match(&s, NULL));
	{
		char longer[SESSION_TOKEN_SIZE + 1];

		snprintf(longer, sizeof(longer), "%sx", tok);
		assert_false(session_token_match(&s, longer));
	}
	session_token_new(other, h);
	assert_false(session_token_match(&s, other));
	assert_true(memcmp(h, s.token_hash, 32) != 0);
}

static void test_ttl_clamp(void **state)
{
	(void)state;
	assert_int_equal(session_ttl_clamp(0, 86400, 604800), 86400);
	assert_int_equal(session_ttl_clamp(-5, 86400, 604800), 86400);
	assert_int_equal(session_ttl_clamp(60, 86400, 604800), 60);
	assert_int_equal(session_ttl_clamp(604800, 86400, 604800), 604800);
	assert_int_equal(session_ttl_clamp(604801, 86400, 604800), 604800);
	assert_int_equal(session_ttl_clamp(INT64_MAX, 86400, 604800), 604800);
	/* A default above the maximum is clamped too. */
	assert_int_equal(session_ttl_clamp(0, 900000, 604800), 604800);
}

static void fill(struct session *s)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->id, sizeof(s->id), "sess_%032d", 7);
	s->tenant_kind = TENANT_KEY;
	snprintf(s->tenant, sizeof(s->tenant), "alice");
	memset(s->token_hash, 0xab, 32);
	snprintf(s->runtime, sizeof(s->runtime), "python");
	snprintf(s->version, sizeof(s->version), "3.11.2");
	s->type = SESSION_FILESYSTEM;
	s->lim.memory_bytes = 256 << 20;
	s->lim.cpus = 1.5;
	s->lim.pids = 64;
	s->lim.output_bytes = 65536;
	s->lim.wall_time_ms = 5000;
	s->lim.compile_wall_time_ms = 15000;
	s->lim.compile_memory_bytes = 512 << 20;
	s->lim.tmpfs_bytes = 64 << 20;
	snprintf(s->container, sizeof(s->container), "%064d", 1);
	snprintf(s->engine, sizeof(s->engine), "unix:///var/run/docker.sock");
	snprintf(s->subvol, sizeof(s->subvol), "%s", s->id);
	s->disk_quota = 512 << 20;
	s->created_ms = 1000;
	s->last_ms = 2000;
	s->expires_ms = 3000;
	s->ttl_sec = 1;
	s->steps = 42;
	snprintf(s->busy_owner, sizeof(s->busy_owner), "host:1:2");
	s->busy_job = 0xdeadbeef;
	s->busy_since = 1500;
	s->dirty = 1;
	s->flags = SESSION_F_STARTED;
	s->nvolumes = 1;
	snprintf(s->volumes[0].id, sizeof(s->volumes[0].id), "vol_1");
	snprintf(s->volumes[0].target, sizeof(s->volumes[0].target), "/memory");
	s->volumes[0].read_only = 1;
}

static void test_row_round_trip(void **state)
{
	struct session a;
	struct session b;
	struct store_rec r;
	struct store_val v;

	(void)state;
	fill(&a);
	session_rec_encode(&a, &r);
	assert_false(r.bad);
	v.p = r.b;
	v.n = r.n;
	memset(&b, 0x5a, sizeof(b));
	memcpy(b.id, a.id, sizeof(b.id));
	assert_int_equal(session_rec_decode(&v, &b), 0);
	assert_memory_equal(&a, &b, sizeof(a));

	/* Another version is refused, a cut row too, and one of another
	 * table. */
	r.b[1] = SESSION_REC_VERSION + 1;
	assert_int_equal(session_rec_decode(&v, &b), -EPROTONOSUPPORT);
	r.b[1] = SESSION_REC_VERSION;
	v.n = r.n - 1;
	assert_int_equal(session_rec_decode(&v, &b), -EPROTO);
	v.n = r.n;
	r.b[0] = 7; /* the kv table's tag */
	assert_int_equal(session_rec_decode(&v, &b), -EPROTO);
}

static void test_row_fits_at_the_limits(void **state)
{
	struct session a;
	struct store_rec r;
	int i;

	(void)state;
	fill(&a);
	/* Every string field at its longest and every volume slot used:
	 * the row still fits a record. */
	memset(a.tenant, 't', sizeof(a.tenant) - 1);
	memset(a.runtime, 'r', sizeof(a.runtime) - 1);
	memset(a.version, 'v', sizeof(a.version) - 1);
	memset(a.container, 'c', sizeof(a.container) - 1);
	memset(a.engine, 'e', sizeof(a.engine) - 1);
	memset(a.busy_owner, 'o', 200);
	a.nvolumes = SESSION_VOLUMES_MAX;
	for (i = 0; i < SESSION_VOLUMES_MAX; i++) {
		memset(a.volumes[i].id, 'i', 40);
		memset(a.volumes[i].target, 'g', 40);
	}
	session_rec_encode(&a, &r);
	assert_false(r.bad);
}

static void test_states(void **state)
{
	struct session s;

	(void)state;
	memset(&s, 0, sizeof(s));
	assert_int_equal(session_state_of(&s), SESSION_STOPPED);
	snprintf(s.container, sizeof(s.container), "abc");
	assert_int_equal(session_state_of(&s), SESSION_RUNNING);
	snprintf(s.busy_owner, sizeof(s.busy_owner), "h:1:2");
	assert_int_equal(session_state_of(&s), SESSION_BUSY);
	s.container[0] = '\0';
	assert_int_equal(session_state_of(&s), SESSION_BUSY);
	assert_string_equal(session_state_name(SESSION_STOPPED), "stopped");
	assert_string_equal(session_state_name(SESSION_RUNNING), "running");
	assert_string_equal(session_state_name(SESSION_BUSY), "busy");
	assert_int_equal(session_type_parse(NULL), SESSION_FILESYSTEM);
	assert_int_equal(session_type_parse("filesystem"), SESSION_FILESYSTEM);
	assert_int_equal(session_type_parse("kernel"), SESSION_KERNEL);
	assert_int_equal(session_type_parse("Kernel"), -1);
	assert_string_equal(session_type_name(SESSION_KERNEL), "kernel");
}

/* The access rule on a real store. */
static void test_access_rule(void **state)
{
	char root[] = "/tmp/isobox-test-session-XXXXXX";
	struct service svc;
	struct isobox_err err;
	struct store_txn t;
	struct store_rec r;
	struct session a;
	struct session got;
	struct tenant alice;
	struct tenant bob;
	char tok[SESSION_TOKEN_SIZE];
	char *dir;

	(void)state;
	assert_non_null(mkdtemp(root));
	dir = xasprintf("%s/db", root);
	memset(&svc, 0, sizeof(svc));
	store_init(&svc.store);
	assert_int_equal(
	    store_env_open(&svc.store, STORE_STATE, dir, 16 << 20, &err), 0);
	fill(&a);
	session_id_new(a.id);
	session_token_new(tok, a.token_hash);
	session_rec_encode(&a, &r);
	assert_int_equal(store_txn_begin(&svc.store, STORE_STATE, 1, &t), 0);
	assert_int_equal(store_put(&t, STORE_SESSIONS, a.id, &r), 0);
	assert_int_equal(store_txn_commit(&t), 0);

	memset(&alice, 0, sizeof(alice));
	alice.kind = TENANT_KEY;
	snprintf(alice.name, sizeof(alice.name), "alice");
	bob = alice;
	snprintf(bob.name, sizeof(bob.name), "bob");

	assert_int_equal(session_get(&svc, &alice, a.id, tok, &got, &err), 0);
	assert_int_equal(got.steps, 42);
	assert_int_equal(session_get(&svc, &alice, a.id, "tok_x", &got, &err),
			 -1);
	assert_int_equal(err.status, 401);
	assert_string_equal(err.code, "invalid_session_token");
	/* Another tenant: not found, even with the right token. */
	assert_int_equal(session_get(&svc, &bob, a.id, tok, &got, &err), -1);
	assert_int_equal(err.status, 404);
	assert_string_equal(err.code, "session_not_found");
	/* The same name under another kind is another tenant. */
	bob = alice;
	bob.kind = TENANT_OPEN;
	assert_int_equal(session_get(&svc, &bob, a.id, tok, &got, &err), -1);
	assert_int_equal(err.status, 404);
	/* A malformed id never reaches the store. */
	assert_int_equal(
	    session_get(&svc, &alice, "sess_../../x", tok, &got, &err), -1);
	assert_int_equal(err.status, 404);
	store_close(&svc.store);
	{
		char *cmd = xasprintf("rm -rf '%s'", root);

		assert_int_equal(system(cmd), 0);
		free(cmd);
	}
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ids),
	    cmocka_unit_test(test_tokens),
	    cmocka_unit_test(test_ttl_clamp),
	    cmocka_unit_test(test_row_round_trip),
	    cmocka_unit_test(test_row_fits_at_the_limits),
	    cmocka_unit_test(test_states),
	    cmocka_unit_test(test_access_rule),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
