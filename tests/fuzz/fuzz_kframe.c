/* fuzz_kframe.c - libFuzzer harness for the guest's parser of a kernel
 * runner's result frames (guest/guest.c: guest_kernel_read_res and
 * guest_kernel_frames), what user code in a kernel session can write to fd 4.
 *
 * The guest has no library: this file includes guest/guest.c (its main
 * renamed) so the real static functions run. The frames come through a
 * non-blocking pipe as the result pipe, in random pieces; the records the
 * guest sends the host (fd 1) go to a memfd and are read back.
 *
 * Input: bytes 0-3 seed the split, byte 4 the output cap (byte * 16 + 1
 * bytes), the rest is the result pipe's stream; the step's nonce is NONCE.
 * Invariants, against a one-shot reference written from the format in
 * guest.c ("Kernel mode"): the guest sends exactly the DISPLAY records of
 * the reference's frames before the done frame, in order, with the job's
 * id, the right kind and the frame's bytes, while they fit the output cap
 * (then the step is truncated and nothing more is sent); the done flag and
 * "raised" equal the reference's; the output count never passes the cap;
 * the guest never sends anything else. */
#define main isobox_guest_main
#include "../../guest/guest.c"
#undef main

#include "fuzz_common.h"

static const uint8_t NONCE[WIRE_NONCE_LEN] = "kernel-nonce-001";
#define JOB_ID 0x1234abcdu

static int out_memfd = -1;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* fd 1 becomes a memfd: guest_write_all writes the host's records there. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_verbose_init();
	out_memfd = memfd_create("kframe-out", MFD_CLOEXEC);
	if (out_memfd < 0 || dup2(out_memfd, 1) < 0) {
		perror("memfd/dup2");
		abort();
	}
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

struct frame {
	uint8_t kind;
	size_t off; /* of the payload in the stream */
	uint32_t len;
};

/* The frames of stream p (n bytes) up to and including a done frame. */
static size_t reference(const uint8_t *p, size_t n, struct frame *f, size_t cap,
			int *done, int *raised)
{
	size_t pos = 0;
	size_t k = 0;

	*done = 0;
	*raised = 0;
	while (pos < n) {
		const uint8_t *hit =
		    memmem(p + pos, n - pos, NONCE, WIRE_NONCE_LEN);
		size_t at;
		uint8_t kind;
		uint32_t len;

		if (hit == NULL) {
			break;
		}
		at = (size_t)(hit - p);
		if (n - at < WIRE_NONCE_LEN + 5) {
			break;
		}
		kind = p[at + WIRE_NONCE_LEN];
		len = wire_get32(p + at + WIRE_NONCE_LEN + 1);
		if ((kind != 'd' && kind != 'm' && kind != 'e' &&
		     kind != 'D') ||
		    len > WIRE_MAX_PAYLOAD - 16) {
			pos = at + 1;
			continue;
		}
		if (n - at - WIRE_NONCE_LEN - 5 < len) {
			break;
		}
		if (kind == 'D') {
			*done = 1;
			*raised = len >= 1 && p[at + WIRE_NONCE_LEN + 5] == '1';
			break;
		}
		FUZZ_CHECK(k < cap);
		f[k].kind = kind;
		f[k].off = at + WIRE_NONCE_LEN + 5;
		f[k].len = len;
		k++;
		pos = at + WIRE_NONCE_LEN + 5 + len;
	}
	return k;
}

static uint8_t *read_out(size_t *n)
{
	off_t end = lseek(1, 0, SEEK_CUR);
	uint8_t *b;

	FUZZ_CHECK(end >= 0);
	b = malloc((size_t)end + 1);
	FUZZ_CHECK(pread(out_memfd, b, (size_t)end, 0) == end);
	*n = (size_t)end;
	return b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct guest g;
	struct stage s;
	struct kstep k;
	long long lim[GUEST_LIM_COUNT];
	const uint8_t *stream;
	struct frame *ref;
	size_t n;
	size_t nref;
	size_t off = 0;
	size_t i;
	size_t pos = 0;
	uint8_t *out;
	size_t out_len;
	uint32_t seed;
	int rdone;
	int rraised;
	int pfd[2];
	long long total = 0;
	int truncated = 0;

	if (size < 5) {
		return 0;
	}
	seed = wire_get32(data);
	memset(lim, 0, sizeof(lim));
	lim[GUEST_LIM_OUTPUT] = (long long)data[4] * 16 + 1;
	stream = data + 5;
	n = size - 5;
	ref = calloc(n / (WIRE_NONCE_LEN + 5) + 1, sizeof(*ref));
	nref = reference(stream, n, ref, n / (WIRE_NONCE_LEN + 5) + 1, &rdone,
			 &rraised);

	FUZZ_CHECK(pipe2(pfd, O_CLOEXEC) == 0);
	FUZZ_CHECK(fcntl(pfd[0], F_SETFL, O_NONBLOCK) == 0);
	FUZZ_CHECK(ftruncate(1, 0) == 0 && lseek(1, 0, SEEK_SET) == 0);
	memset(&g, 0, sizeof(g));
	g.job_id = JOB_ID;
	g.k_res = pfd[0];
	memset(&s, 0, sizeof(s));
	s.id = WIRE_STAGE_RUN;
	s.lim = lim;
	memset(&k, 0, sizeof(k));
	memcpy(k.nonce, NONCE, sizeof(k.nonce));

	while (off < n) {
		size_t piece = fuzz_piece(&seed, n - off);

		if (piece > 32768) {
			piece = 32768;
		}
		FUZZ_CHECK(write(pfd[1], stream + off, piece) ==
			   (ssize_t)piece);
		off += piece;
		guest_kernel_read_res(&g, &s, &k);
		FUZZ_CHECK(g.k_res == pfd[0]);
	}
	close(pfd[1]);
	guest_kernel_read_res(&g, &s, &k); /* end of file: closes k_res */
	FUZZ_CHECK(g.k_res == -1);

	/* What the host got: one DISPLAY per frame that fit. */
	out = read_out(&out_len);
	for (i = 0; i < nref; i++) {
		if (truncated ||
		    total + ref[i].len + 1 > lim[GUEST_LIM_OUTPUT]) {
			truncated = 1;
			continue;
		}
		total += ref[i].len + 1;
		FUZZ_CHECK(out_len - pos >= WIRE_HDR_LEN + 5);
		FUZZ_CHECK(out[pos] == WIRE_DISPLAY);
		FUZZ_CHECK(wire_get32(out + pos + 1) == 5 + ref[i].len);
		FUZZ_CHECK(wire_get32(out + pos + WIRE_HDR_LEN) == JOB_ID);
		FUZZ_CHECK(out[pos + WIRE_HDR_LEN + 4] ==
			   (ref[i].kind == 'd'	 ? WIRE_DISPLAY_DATA
			    : ref[i].kind == 'm' ? WIRE_DISPLAY_RESULT
						 : WIRE_DISPLAY_ERROR));
		FUZZ_CHECK(out_len - pos - WIRE_HDR_LEN - 5 >= ref[i].len);
		FUZZ_CHECK(memcmp(out + pos + WIRE_HDR_LEN + 5,
				  stream + ref[i].off, ref[i].len) == 0);
		pos += WIRE_HDR_LEN + 5 + ref[i].len;
	}
	FUZZ_CHECK(pos == out_len);
	FUZZ_CHECK(k.done == rdone);
	FUZZ_CHECK(k.raised == rraised);
	FUZZ_CHECK(s.truncated == truncated);
	FUZZ_CHECK(s.out_total == total);
	FUZZ_CHECK(s.out_total <= lim[GUEST_LIM_OUTPUT]);
	if (fuzz_verbose) {
		fprintf(stderr, "frames %zu done %d raised %d truncated %d\n",
			nref, rdone, rraised, truncated);
	}
	free(out);
	free(ref);
	wire_buf_free(&g.k_scan);
	wire_buf_free(&g.out);
	return 0;
}
