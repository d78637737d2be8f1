/* test_job.c - job_encode and job_handoff_encode: the records a guest gets
 * for one job, in order, with the job's id first, {source}/{files}
 * expanded, args appended, stdin in pieces a session guest accepts, and
 * the limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "job.h"

#define MAXREC 64

struct recs {
	uint8_t type[MAXREC];
	const uint8_t *p[MAXREC];
	size_t len[MAXREC];
	size_t n;
};

/* Split an encoded buffer into records (no copies: points into b). */
static void split(const struct wire_buf *b, struct recs *r)
{
	size_t off = 0;

	memset(r, 0, sizeof(*r));
	while (off < b->len) {
		uint32_t n;

		assert_true(b->len - off >= WIRE_HDR_LEN);
		n = wire_get32(b->p + off + 1);
		assert_true(b->len - off - WIRE_HDR_LEN >= n);
		assert_true(r->n < MAXREC);
		r->type[r->n] = b->p[off];
		r->p[r->n] = b->p + off + WIRE_HDR_LEN;
		r->len[r->n] = n;
		r->n++;
		off += WIRE_HDR_LEN + n;
	}
}

static char *compile_argv[] = {"gcc", "-o", "prog", "{files}", NULL};
static char *run_argv[] = {"./prog", "--in={source}", NULL};
static char *env[] = {"PATH=/usr/bin", "LANG=C.UTF-8", NULL};
static char *args[] = {"a b", "", NULL};

static void setup(struct lang *l, struct exec_request *q, struct limits *lim,
		  struct exec_file *f)
{
	memset(l, 0, sizeof(*l));
	memset(q, 0, sizeof(*q));
	memset(lim, 0, sizeof(*lim));
	l->source = "main.c";
	l->compile = compile_argv;
	l->run = run_argv;
	l->env = env;
	f[0].name = NULL; /* "code": the language's source name */
	f[0].data = (uint8_t *)"int main(){}";
	f[0].len = 12;
	f[1].name = "lib/x.h";
	f[1].data = (uint8_t *)"";
	f[1].len = 0;
	q->files = f;
	q->nfiles = 2;
	q->args = args;
	q->nargs = 2;
	lim->wall_time_ms = 5000;
	lim->compile_wall_time_ms = 10000;
	lim->pids = 64;
	lim->output_bytes = 1000;
	lim->tmpfs_bytes = 1 << 20;
}

static void test_records_in_order(void **state)
{
	struct lang l;
	struct exec_request q;
	struct limits lim;
	struct exec_file f[2];
	struct wire_buf b = {0};
	struct recs r;
	long long v;

	(void)state;
	setup(&l, &q, &lim, f);
	q.stdin_data = (uint8_t *)"hello";
	q.stdin_len = 5;
	assert_int_equal(job_encode(&l, &q, &lim, 0xdeadbeef, &b), 0);
	split(&b, &r);
	assert_int_equal(r.n, 9);
	/* JOB with the id, big endian, first. */
	assert_int_equal(r.type[0], WIRE_JOB);
	assert_int_equal(r.len[0], 4);
	assert_memory_equal(r.p[0], "\xde\xad\xbe\xef", 4);
	/* The files: "code" under the language's source name. */
	assert_int_equal(r.type[1], WIRE_FILE);
	assert_int_equal(r.len[1], 2 + 6 + 12);
	assert_memory_equal(r.p[1], "\0\006main.cint main(){}", 20);
	assert_int_equal(r.type[2], WIRE_FILE);
	assert_int_equal(r.len[2], 2 + 7);
	assert_memory_equal(r.p[2], "\0\007lib/x.h", 9);
	assert_int_equal(r.type[3], WIRE_ENV);
	assert_int_equal(r.len[3], 27);
	assert_memory_equal(r.p[3], "PATH=/usr/bin\0LANG=C.UTF-8\0", 27);
	/* {files} expands to every file; {source} inside an argument. */
	assert_int_equal(r.type[4], WIRE_COMPILE);
	assert_int_equal(r.len[4], 27);
	assert_memory_equal(r.p[4], "gcc\0-o\0prog\0main.c\0lib/x.h\0", 27);
	/* args are appended to the run argv, empty ones kept. */
	assert_int_equal(r.type[5], WIRE_RUN);
	assert_int_equal(r.len[5], 24);
	assert_memory_equal(r.p[5], "./prog\0--in=main.c\0a b\0\0", 24);
	assert_int_equal(r.type[6], WIRE_STDIN);
	assert_int_equal(r.len[6], 5);
	assert_int_equal(r.type[7], WIRE_LIMITS);
	assert_int_equal(
	    wire_kv_get(r.p[7], r.len[7], WIRE_LIMIT_RUN_WALL_MS, &v), 1);
	assert_int_equal(v, 5000);
	assert_int_equal(
	    wire_kv_get(r.p[7], r.len[7], WIRE_LIMIT_COMPILE_WALL_MS, &v), 1);
	assert_int_equal(v, 10000);
	assert_int_equal(wire_kv_get(r.p[7], r.len[7], WIRE_LIMIT_PIDS, &v), 1);
	assert_int_equal(v, 64);
	assert_int_equal(wire_kv_get(r.p[7], r.len[7], WIRE_LIMIT_OUTPUT, &v),
			 1);
	assert_int_equal(v, 1000);
	assert_int_equal(wire_kv_get(r.p[7], r.len[7], WIRE_LIMIT_FSIZE, &v),
			 1);
	assert_int_equal(v, 1 << 20);
	assert_int_equal(wire_kv_get(r.p[7], r.len[7], WIRE_LIMIT_NOFILE, &v),
			 1);
	assert_int_equal(v, LIMITS_USER_NOFILE);
	assert_int_equal(r.type[8], WIRE_GO);
	assert_int_equal(r.len[8], 0);
	wire_buf_free(&b);
}

static void test_interpreted_no_stdin_and_id_zero(void **state)
{
	struct lang l;
	struct exec_request q;
	struct limits lim;
	struct exec_file f[2];
	struct wire_buf b = {0};
	struct recs r;
	size_t i;

	(void)state;
	setup(&l, &q, &lim, f);
	l.compile = NULL;
	q.nfiles = 1;
	assert_int_equal(job_encode(&l, &q, &lim, 0, &b), 0);
	split(&b, &r);
	assert_int_equal(r.type[0], WIRE_JOB);
	assert_memory_equal(r.p[0], "\0\0\0\0", 4);
	for (i = 0; i < r.n; i++) {
		assert_int_not_equal(r.type[i], WIRE_COMPILE);
		assert_int_not_equal(r.type[i], WIRE_STDIN);
	}
	assert_int_equal(r.type[r.n - 1], WIRE_GO);
	assert_int_equal(r.len[r.n - 1], 0);
	wire_buf_free(&b);
}

static void test_stdin_in_pieces(void **state)
{
	struct lang l;
	struct exec_request q;
	struct limits lim;
	struct exec_file f[2];
	struct wire_buf b = {0};
	struct recs r;
	size_t n = 2 * WIRE_CHUNK_MAX + 17;
	uint8_t *in = malloc(n);
	size_t i;
	size_t got = 0;
	size_t pieces = 0;

	(void)state;
	for (i = 0; i < n; i++) {
		in[i] = (uint8_t)(i * 7);
	}
	setup(&l, &q, &lim, f);
	q.stdin_data = in;
	q.stdin_len = n;
	assert_int_equal(job_encode(&l, &q, &lim, 5, &b), 0);
	split(&b, &r);
	for (i = 0; i < r.n; i++) {
		if (r.type[i] != WIRE_STDIN) {
			continue;
		}
		/* Each piece fits what a session guest accepts. */
		assert_true(r.len[i] <= WIRE_CHUNK_MAX);
		assert_memory_equal(r.p[i], in + got, r.len[i]);
		got += r.len[i];
		pieces++;
	}
	assert_int_equal(got, n);
	assert_int_equal(pieces, 3);
	free(in);
	wire_buf_free(&b);
}

static void test_too_large_refused(void **state)
{
	struct lang l;
	struct exec_request q;
	struct limits lim;
	struct exec_file f[2];
	struct wire_buf b = {0};

	(void)state;
	setup(&l, &q, &lim, f);
	f[1].len = WIRE_MAX_PAYLOAD; /* name + length no longer fit */
	f[1].data = calloc(1, WIRE_MAX_PAYLOAD);
	assert_int_equal(job_encode(&l, &q, &lim, 1, &b), -1);
	free(f[1].data);
	wire_buf_free(&b);
}

static char *prestart[] = {"python3", "-c", "boot", NULL};
static char *py_run[] = {"python3", "{source}", NULL};
static char *em_run[] = {"emacs", "-Q", "--script", "{source}", NULL};
static char *no_source[] = {"tool", "-x", NULL};
static char *warm_exec[] = {"/.isobox/guest", "--warm-exec", "emacs", NULL};
static char *warm_main[] = {"/.isobox/guest", "--warm-main", "emacs", NULL};

/* job_handoff_encode(l, q) appends one HANDOFF record holding the len
 * bytes want, or nothing when want is NULL. */
static void expect_handoff(const struct lang *l, const struct exec_request *q,
			   const char *want, size_t len)
{
	struct wire_buf b = {0};
	struct recs r;

	assert_int_equal(job_handoff_encode(l, q, &b), 0);
	if (want == NULL) {
		assert_int_equal(b.len, 0);
		return;
	}
	split(&b, &r);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.type[0], WIRE_HANDOFF);
	assert_int_equal(r.len[0], len);
	assert_memory_equal(r.p[0], want, len);
	wire_buf_free(&b);
}

static void test_handoff(void **state)
{
	struct lang l;
	struct exec_request q;
	struct limits lim;
	struct exec_file f[2];

	(void)state;
	setup(&l, &q, &lim, f);
	/* A compiled language never gets one. */
	l.prestart = prestart;
	expect_handoff(&l, &q, NULL, 0);
	l.compile = NULL;
	l.run = py_run;
	l.source = "main.py";
	/* The run argv after its first element, args appended. */
	expect_handoff(&l, &q, "main.py\0a b\0\0", 13);
	/* From the entry on: the catalogue's options before {source} are
	 * the bootstrap's own; --warm-exec and --warm-main get them all. */
	l.run = em_run;
	expect_handoff(&l, &q, "main.py\0a b\0\0", 13);
	l.prestart = warm_exec;
	expect_handoff(&l, &q, "-Q\0--script\0main.py\0a b\0\0", 25);
	l.prestart = warm_main;
	expect_handoff(&l, &q, "-Q\0--script\0main.py\0a b\0\0", 25);
	l.prestart = prestart;
	l.run = no_source;
	expect_handoff(&l, &q, "-x\0a b\0\0", 8);
	l.prestart = NULL;
	expect_handoff(&l, &q, NULL, 0);
}

/* "prestartStage: compile": the compiler server gets compile[1..] with
 * {files} expanded and no args (those are the program's); an interpreted
 * language with a compile-stage prestart gets nothing. */
static void test_handoff_compile(void **state)
{
	struct lang l;
	struct exec_request q;
	struct limits lim;
	struct exec_file f[2];

	(void)state;
	setup(&l, &q, &lim, f);
	l.prestart = prestart;
	l.prestart_compile = 1;
	expect_handoff(&l, &q, "-o\0prog\0main.c\0lib/x.h\0", 23);
	l.compile = NULL;
	expect_handoff(&l, &q, NULL, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_records_in_order),
	    cmocka_unit_test(test_interpreted_no_stdin_and_id_zero),
	    cmocka_unit_test(test_stdin_in_pieces),
	    cmocka_unit_test(test_too_large_refused),
	    cmocka_unit_test(test_handoff),
	    cmocka_unit_test(test_handoff_compile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
