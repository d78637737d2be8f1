/* test_mux.c - the Docker multiplexed-stream decoder, fed in every split. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mux.h"
#include "util.h"

struct got {
	struct buf out;
	struct buf err;
	int calls;
	int stop_after;
};

static int collect(void *ctx, int stream, const uint8_t *p, size_t n)
{
	struct got *g = ctx;

	buf_add(stream == 2 ? &g->err : &g->out, p, n);
	g->calls++;
	return g->stop_after && g->calls >= g->stop_after ? 7 : 0;
}

static size_t frame(uint8_t *dst, int stream, const char *s)
{
	size_t n = strlen(s);

	dst[0] = (uint8_t)stream;
	dst[1] = dst[2] = dst[3] = 0;
	dst[4] = (uint8_t)(n >> 24);
	dst[5] = (uint8_t)(n >> 16);
	dst[6] = (uint8_t)(n >> 8);
	dst[7] = (uint8_t)n;
	memcpy(dst + 8, s, n);
	return n + 8;
}

static size_t sample(uint8_t *b)
{
	size_t n = 0;

	n += frame(b + n, 1, "hello ");
	n += frame(b + n, 2, "oops\n");
	n += frame(b + n, 1, "");
	n += frame(b + n, 1, "world\n");
	return n;
}

static void test_whole(void **state)
{
	uint8_t b[256];
	size_t n = sample(b);
	struct mux_dec d;
	struct got g = {0};

	(void)state;
	mux_init(&d);
	assert_int_equal(mux_feed(&d, b, n, collect, &g), 0);
	assert_string_equal(g.out.p, "hello world\n");
	assert_string_equal(g.err.p, "oops\n");
	buf_free(&g.out);
	buf_free(&g.err);
}

static void test_every_split(void **state)
{
	uint8_t b[256];
	size_t n = sample(b);
	size_t cut;

	(void)state;
	for (cut = 0; cut <= n; cut++) {
		struct mux_dec d;
		struct got g = {0};

		mux_init(&d);
		assert_int_equal(mux_feed(&d, b, cut, collect, &g), 0);
		assert_int_equal(mux_feed(&d, b + cut, n - cut, collect, &g),
				 0);
		assert_string_equal(g.out.p, "hello world\n");
		assert_string_equal(g.err.p, "oops\n");
		buf_free(&g.out);
		buf_free(&g.err);
	}
}

static void test_byte_at_a_time(void **state)
{
	uint8_t b[256];
	size_t n = sample(b);
	size_t i;
	struct mux_dec d;
	struct got g = {0};

	(void)state;
	mux_init(&d);
	for (i = 0; i < n; i++) {
		assert_int_equal(mux_feed(&d, b + i, 1, collect, &g), 0);
	}
	assert_string_equal(g.out.p, "hello world\n");
	assert_string_equal(g.err.p, "oops\n");
	buf_free(&g.out);
	buf_free(&g.err);
}

static void test_bad_header(void **state)
{
	uint8_t b[16] = {5, 0, 0, 0, 0, 0, 0, 1, 'x'};
	uint8_t c[16] = {1, 0, 9, 0, 0, 0, 0, 1, 'x'};
	struct mux_dec d;
	struct got g = {0};

	(void)state;
	mux_init(&d);
	assert_int_equal(mux_feed(&d, b, 9, collect, &g), -1);
	mux_init(&d);
	assert_int_equal(mux_feed(&d, c, 9, collect, &g), -1);
	assert_int_equal(g.calls, 0);
}

static void test_callback_stops(void **state)
{
	uint8_t b[256];
	size_t n = sample(b);
	struct mux_dec d;
	struct got g = {0};

	(void)state;
	g.stop_after = 1;
	mux_init(&d);
	assert_int_equal(mux_feed(&d, b, n, collect, &g), 7);
	assert_int_equal(g.calls, 1);
	buf_free(&g.out);
	buf_free(&g.err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_whole),
	    cmocka_unit_test(test_every_split),
	    cmocka_unit_test(test_byte_at_a_time),
	    cmocka_unit_test(test_bad_header),
	    cmocka_unit_test(test_callback_stops),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
