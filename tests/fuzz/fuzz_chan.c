/* fuzz_chan.c - libFuzzer harness for the host's reading of a guest's
 * answers to file operations (src/chan.c: chan_op_record,
 * chan_stat_decode, chan_fail_status): the records a session's sandbox
 * sends back for a PUT, GET, list or DELETE of /workspace.
 *
 * Input: bytes 0-3 the operation's id, byte 4: bit 0 a write callback
 * (GET), bit 1 an entry callback (list), bit 2 a stat buffer, bits 3-7
 * after how many callbacks one asks to stop (0: never); then guest records
 * (type | u32 len | payload; a length past the end takes the rest).
 * Invariants, against a reference written from chan.h and wire.h: records
 * of other ids (or shorter than an id) and everything after DONE or FAIL
 * change nothing; FAIL gives its code (up to the NUL, cut to fit) and
 * sentence, terminated; DONE its flags; FSTAT once, WIRE_STAT_LEN bytes,
 * decoded field by field; FDATA only after FSTAT and only to a write
 * callback, byte for byte, and nothing after a callback asked to stop;
 * FENTRY only to an entry callback, with a stat and a name of 1-255 bytes
 * without NUL; anything else marks the operation bad. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chan.h"
#define FUZZ_WRAP_LOG
#include "fuzz_common.h"
#include "wire.h"

struct seen {
	unsigned stop_after; /* 0: never */
	unsigned calls;
	const uint8_t *want; /* the payload the current callback must get */
	size_t want_len;
	int expect_call;
	int called;
};

static int on_write(void *ctx, const uint8_t *p, size_t n)
{
	struct seen *s = ctx;

	FUZZ_CHECK(s->expect_call && !s->called);
	FUZZ_CHECK(n == s->want_len && memcmp(p, s->want, n) == 0);
	s->called = 1;
	return s->stop_after && ++s->calls >= s->stop_after;
}

static int on_entry(void *ctx, const struct chan_stat *st, const char *name)
{
	struct seen *s = ctx;
	size_t nl = strlen(name);

	FUZZ_CHECK(s->expect_call && !s->called);
	FUZZ_CHECK(nl >= 1 && nl <= 255);
	FUZZ_CHECK(s->want_len == WIRE_STAT_LEN + nl &&
		   memcmp(name, s->want + WIRE_STAT_LEN, nl) == 0);
	FUZZ_CHECK(st->type == s->want[0] &&
		   st->mode == wire_get32(s->want + 1) &&
		   st->size == wire_get64(s->want + 5) &&
		   st->mtime_ms == (int64_t)wire_get64(s->want + 13));
	s->called = 1;
	return s->stop_after && ++s->calls >= s->stop_after;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct chan_op o;
	struct chan_stat st;
	struct seen s;
	size_t off = 5;

	if (size < 5) {
		return 0;
	}
	memset(&o, 0, sizeof(o));
	memset(&s, 0, sizeof(s));
	memset(&st, 0, sizeof(st));
	o.id = wire_get32(data);
	o.write = data[4] & 1 ? on_write : NULL;
	o.on_entry = data[4] & 2 ? on_entry : NULL;
	o.st = data[4] & 4 ? &st : NULL;
	o.ctx = &s;
	s.stop_after = data[4] >> 3;

	while (size - off >= WIRE_HDR_LEN) {
		struct wire_rec rec;
		struct chan_op before = o;
		uint32_t len = wire_get32(data + off + 1);
		const uint8_t *p;
		size_t n;
		int mine;

		if (size - off - WIRE_HDR_LEN < len) {
			/* The rest: so a mutation can grow the last record. */
			len = (uint32_t)(size - off - WIRE_HDR_LEN);
		}
		rec.type = data[off];
		rec.len = len;
		rec.payload = len ? (uint8_t *)data + off + WIRE_HDR_LEN : NULL;
		off += WIRE_HDR_LEN + len;
		mine = len >= 4 && wire_get32(rec.payload) == o.id && !o.done;
		p = rec.payload ? rec.payload + 4 : NULL;
		n = len >= 4 ? len - 4 : 0;
		s.want = p;
		s.want_len = n;
		s.called = 0;
		s.expect_call =
		    mine && !o.stopped &&
		    ((rec.type == WIRE_FDATA && o.write && o.got_stat) ||
		     (rec.type == WIRE_FENTRY && o.on_entry &&
		      n > WIRE_STAT_LEN && n - WIRE_STAT_LEN < 256 &&
		      !memchr(p + WIRE_STAT_LEN, '\0', n - WIRE_STAT_LEN)));
		chan_op_record(&o, &rec);
		FUZZ_CHECK(s.called == s.expect_call);
		FUZZ_CHECK(fuzz_terminated(o.code, sizeof(o.code)) &&
			   fuzz_terminated(o.msg, sizeof(o.msg)));
		if (!mine) {
			FUZZ_CHECK(memcmp(&before, &o, sizeof(o)) == 0);
			continue;
		}
		FUZZ_CHECK(o.id == before.id && o.write == before.write &&
			   o.on_entry == before.on_entry && o.st == before.st);
		switch (rec.type) {
		case WIRE_FAIL: {
			const uint8_t *nul = memchr(p, '\0', n);
			size_t cl = nul ? (size_t)(nul - p) : 0;
			const uint8_t *m = nul ? nul + 1 : p;
			size_t ml = n - (size_t)(m - p);
			size_t want_cl =
			    cl < sizeof(o.code) - 1 ? cl : sizeof(o.code) - 1;
			size_t want_ml;

			FUZZ_CHECK(o.done && o.failed && !before.failed);
			/* %.*s stops at a NUL too */
			want_ml = strnlen((const char *)m, ml);
			if (want_ml > sizeof(o.msg) - 1) {
				want_ml = sizeof(o.msg) - 1;
			}
			FUZZ_CHECK(strlen(o.code) == want_cl &&
				   memcmp(o.code, p, want_cl) == 0);
			FUZZ_CHECK(strlen(o.msg) == want_ml &&
				   memcmp(o.msg, m, want_ml) == 0);
			{
				int st_ = chan_fail_status(o.code);

				FUZZ_CHECK(st_ >= 400 && st_ <= 599);
			}
			break;
		}
		case WIRE_DONE:
			FUZZ_CHECK(o.done && !o.failed);
			FUZZ_CHECK(o.flags == (n > 0 ? p[0] : 0));
			break;
		case WIRE_FSTAT:
			if (n != WIRE_STAT_LEN || before.got_stat) {
				FUZZ_CHECK(o.bad);
				FUZZ_CHECK(o.got_stat == before.got_stat);
			} else {
				FUZZ_CHECK(o.got_stat && !o.done);
				if (o.st) {
					FUZZ_CHECK(
					    st.type == p[0] &&
					    st.mode == wire_get32(p + 1) &&
					    st.size == wire_get64(p + 5));
				}
			}
			break;
		case WIRE_FDATA:
			FUZZ_CHECK(o.bad == (before.bad || !o.write ||
					     !before.got_stat));
			break;
		case WIRE_FENTRY:
			if (!s.expect_call && !before.stopped) {
				FUZZ_CHECK(o.bad);
			}
			break;
		default:
			FUZZ_CHECK(o.bad);
		}
		if (before.stopped) {
			FUZZ_CHECK(o.stopped);
		}
		FUZZ_CHECK(!before.bad || o.bad);
	}
	if (fuzz_verbose) {
		fprintf(stderr,
			"done %d failed %d bad %d stopped %d code '%s'\n",
			o.done, o.failed, o.bad, o.stopped, o.code);
	}
	return 0;
}

FUZZ_VERBOSE_INITIALIZE
