/* fuzz_relay.c - libFuzzer harness for reading a guest's answer (protocol
 * 2, src/relay.c: relay_on_mux, relay_on_record, relay_display_next; and
 * src/chan.c: chan_op_record, the answers of file operations).
 *
 * Input: bytes 0-3 seed the split of the stream, bytes 4-7 the job's id,
 * byte 8 the output cap (x 4 bytes), the rest is the guest's stdout.
 * Invariants, against a reference written from wire.h: the protocol
 * verdict (a malformed record of any id, a host's or unknown type, a
 * FSTAT/FENTRY/FDATA with the job's id, an oversize header) and the point
 * it stops at; DONE and FAIL only from the job's id; the stdout, stderr and
 * display bytes equal to what the job's records carried, cut at the cap;
 * the display walk gives exactly ndisplay entries in order. The same
 * records read as the answer of a file operation with that id: done,
 * failed, bad, the stat and the bytes and entries taken equal what a
 * reference reading of wire.h gives. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "chan.h"
#include "relay.h"

struct op_expect {
	int done;
	int failed;
	int bad;
	int got_stat;
	size_t bytes;
	size_t entries;
};

/* What chan_op_record must conclude for operation id. */
static void op_reference(const uint8_t *p, size_t n, uint32_t id,
			 struct op_expect *e)
{
	size_t off = 0;

	memset(e, 0, sizeof(*e));
	while (n - off >= WIRE_HDR_LEN) {
		uint8_t t = p[off];
		uint32_t len = wire_get32(p + off + 1);
		const uint8_t *pl = p + off + WIRE_HDR_LEN;

		if (len > WIRE_MAX_PAYLOAD || n - off - WIRE_HDR_LEN < len) {
			break;
		}
		off += WIRE_HDR_LEN + len;
		if (len < 4 || wire_get32(pl) != id || e->done) {
			continue;
		}
		len -= 4;
		pl += 4;
		switch (t) {
		case WIRE_FAIL:
			e->failed = 1;
			e->done = 1;
			break;
		case WIRE_DONE:
			e->done = 1;
			break;
		case WIRE_FSTAT:
			if (len != WIRE_STAT_LEN || e->got_stat) {
				e->bad = 1;
			} else {
				e->got_stat = 1;
			}
			break;
		case WIRE_FDATA:
			if (!e->got_stat) {
				e->bad = 1;
			} else {
				e->bytes += len;
			}
			break;
		case WIRE_FENTRY:
			if (len <= WIRE_STAT_LEN ||
			    len - WIRE_STAT_LEN >= 256 ||
			    memchr(pl + WIRE_STAT_LEN, '\0',
				   len - WIRE_STAT_LEN)) {
				e->bad = 1;
			} else {
				e->entries++;
			}
			break;
		default:
			e->bad = 1;
		}
	}
}

static int count_bytes(void *ctx, const uint8_t *p, size_t n)
{
	size_t *c = ctx;

	(void)p;
	*c += n;
	return 0;
}

static size_t op_entries;

static int count_entry(void *ctx, const struct chan_stat *st, const char *name)
{
	(void)ctx;
	FUZZ_CHECK(strlen(name) > 0 && strlen(name) < 256);
	FUZZ_CHECK(st->type >= 0 && st->type <= 255);
	op_entries++;
	return 0;
}

/* Read the stream as the answer of file operation id. */
static void check_op(const uint8_t *p, size_t n, uint32_t id)
{
	struct op_expect e;
	struct chan_op o;
	struct chan_stat st;
	struct wire_dec d;
	size_t bytes = 0;
	size_t off = 0;

	op_reference(p, n, id, &e);
	memset(&o, 0, sizeof(o));
	memset(&d, 0, sizeof(d));
	o.id = id;
	o.st = &st;
	o.write = count_bytes;
	o.on_entry = count_entry;
	o.ctx = &bytes;
	op_entries = 0;
	while (off < n) {
		struct wire_rec rec;
		size_t used = 0;
		int rc = wire_dec_feed(&d, p + off, n - off, &used, &rec);

		if (rc < 0) {
			break;
		}
		off += used;
		if (rc == 0) {
			break;
		}
		chan_op_record(&o, &rec);
	}
	wire_dec_free(&d);
	FUZZ_CHECK(o.done == e.done);
	FUZZ_CHECK(o.failed == e.failed);
	FUZZ_CHECK(o.bad == e.bad);
	FUZZ_CHECK(o.got_stat == e.got_stat);
	FUZZ_CHECK(bytes == e.bytes);
	FUZZ_CHECK(op_entries == e.entries);
	FUZZ_CHECK(memchr(o.code, '\0', sizeof(o.code)) != NULL);
	FUZZ_CHECK(memchr(o.msg, '\0', sizeof(o.msg)) != NULL);
}

struct expect {
	int protocol;
	int done;
	int failed;
	size_t out[2][2]; /* [stage c=0 r=1][stream-1] bytes offered */
	size_t display;	  /* DISPLAY records of the job */
};

/* What relay.c must conclude from stream p, by the rules of wire.h. */
static void reference(const uint8_t *p, size_t n, uint32_t job,
		      struct expect *e)
{
	size_t off = 0;

	memset(e, 0, sizeof(*e));
	while (n - off >= WIRE_HDR_LEN && !e->protocol) {
		uint8_t t = p[off];
		uint32_t len = wire_get32(p + off + 1);
		const uint8_t *pl = p + off + WIRE_HDR_LEN;
		uint32_t id;

		if (len > WIRE_MAX_PAYLOAD) {
			e->protocol = 1;
			break;
		}
		if (n - off - WIRE_HDR_LEN < len) {
			break;
		}
		off += WIRE_HDR_LEN + len;
		if (t == WIRE_READY || t == WIRE_SYNCED) {
			continue;
		}
		if (len < 4 ||
		    !(t == WIRE_OUT || t == WIRE_RESULT || t == WIRE_DISPLAY ||
		      t == WIRE_FAIL || t == WIRE_DONE || t == WIRE_FSTAT ||
		      t == WIRE_FENTRY || t == WIRE_FDATA)) {
			e->protocol = 1;
			break;
		}
		id = wire_get32(pl);
		if (id != job) {
			continue;
		}
		pl += 4;
		len -= 4;
		switch (t) {
		case WIRE_OUT:
			if (len < 2 || (pl[1] != 1 && pl[1] != 2) ||
			    (pl[0] != 'c' && pl[0] != 'r')) {
				e->protocol = 1;
				break;
			}
			e->out[pl[0] == 'r'][pl[1] - 1] += len - 2;
			break;
		case WIRE_RESULT:
			if (len < 1 || (pl[0] != 'c' && pl[0] != 'r')) {
				e->protocol = 1;
			}
			break;
		case WIRE_DISPLAY:
			if (len < 1 ||
			    (pl[0] != 'd' && pl[0] != 'm' && pl[0] != 'e')) {
				e->protocol = 1;
			} else {
				e->display++;
			}
			break;
		case WIRE_FAIL:
			e->failed = 1;
			break;
		case WIRE_DONE:
			e->done = 1;
			break;
		default:
			e->protocol = 1;
		}
	}
}

static int no_output(void *ctx, int stage, int stream, const uint8_t *p,
		     size_t n)
{
	size_t *seen = ctx;

	(void)stage;
	(void)stream;
	(void)p;
	*seen += n;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct relay r;
	struct sandbox_result res;
	struct limits lim;
	struct sandbox_hooks hooks;
	struct expect e;
	size_t seen = 0;
	uint32_t seed;
	const uint8_t *in;
	size_t n;
	size_t off = 0;
	size_t walk = 0;
	size_t count = 0;
	size_t bytes = 0;
	const uint8_t *p;
	size_t pn;
	int kind;
	int rc = 0;
	int s;

	if (size < 9) {
		return 0;
	}
	seed = wire_get32(data);
	memset(&r, 0, sizeof(r));
	memset(&res, 0, sizeof(res));
	memset(&lim, 0, sizeof(lim));
	memset(&hooks, 0, sizeof(hooks));
	hooks.ctx = &seen;
	hooks.on_output = no_output;
	lim.output_bytes = (int64_t)data[8] * 4;
	r.hooks = &hooks;
	r.res = &res;
	r.lim = &lim;
	r.job_id = wire_get32(data + 4);
	in = data + 9;
	n = size - 9;
	reference(in, n, r.job_id, &e);
	while (off < n && rc == 0) {
		size_t piece = fuzz_piece(&seed, n - off);

		rc = relay_on_mux(&r, 1, in + off, piece);
		FUZZ_CHECK(rc == 0 || rc == 1);
		off += piece;
	}
	FUZZ_CHECK(r.protocol == e.protocol);
	FUZZ_CHECK(rc == r.protocol);
	FUZZ_CHECK(r.done == e.done);
	FUZZ_CHECK(r.failed == e.failed);
	for (s = 0; s < 2; s++) {
		struct stage_result *st = s ? &res.run : &res.compile;
		size_t offered = e.out[s][0] + e.out[s][1];
		size_t kept = st->out.len + st->err.len;
		size_t cap = (size_t)lim.output_bytes;

		/* The cap holds; below it nothing is lost. */
		FUZZ_CHECK(kept + (s ? res.display.len : 0) <= cap);
		FUZZ_CHECK(st->out.len <= e.out[s][0]);
		FUZZ_CHECK(st->err.len <= e.out[s][1]);
		if (offered + (s ? res.display.len : 0) <= cap && !s) {
			FUZZ_CHECK(kept == offered);
		}
		if (kept < offered) {
			FUZZ_CHECK(st->truncated);
		}
	}
	FUZZ_CHECK(seen == res.compile.out.len + res.compile.err.len +
			       res.run.out.len + res.run.err.len);
	FUZZ_CHECK(res.ndisplay <= e.display);
	if (res.ndisplay < e.display) {
		FUZZ_CHECK(res.run.truncated);
	}
	while (relay_display_next(&res, &walk, &kind, &p, &pn)) {
		FUZZ_CHECK(kind == 'd' || kind == 'm' || kind == 'e');
		FUZZ_CHECK(p + pn <=
			   (const uint8_t *)res.display.p + res.display.len);
		count++;
		bytes += 5 + pn;
	}
	FUZZ_CHECK(count == res.ndisplay);
	FUZZ_CHECK(bytes == res.display.len);
	check_op(in, n, r.job_id);
	wire_dec_free(&r.dec);
	buf_free(&r.guest_log);
	buf_free(&res.compile.out);
	buf_free(&res.compile.err);
	buf_free(&res.run.out);
	buf_free(&res.run.err);
	buf_free(&res.display);
	return 0;
}
