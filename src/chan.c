/* chan.c - driving a running session-mode guest over an attach stream:
 * synchronising, one job, file put/get/list/delete; see chan.h. */
#include "chan.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* How long an interrupted job may take to report after the interrupt. */
#define CHAN_INTR_GRACE_MS 5000

static void random_fill(void *p, size_t n)
{
	uint8_t *b = p;

	while (n > 0) {
		ssize_t r = getrandom(b, n, 0);

		if (r < 0 && errno == EINTR) {
			continue;
		}
		if (r <= 0) {
			abort(); /* no entropy: nothing sane to do */
		}
		b += r;
		n -= (size_t)r;
	}
}

/* The guest's stdout bytes once in step: records to the receiver. */
static void feed_records(struct chan *c, const uint8_t *p, size_t n)
{
	while (n > 0 && !c->broken) {
		struct wire_rec rec;
		size_t used = 0;
		int rc = wire_dec_feed(&c->dec, p, n, &used, &rec);

		if (rc < 0) {
			c->broken = 1;
			return;
		}
		p += used;
		n -= used;
		if (rc == 1 && c->on_rec) {
			c->on_rec(c->rec_ctx, &rec);
		}
	}
}

/* Raw output while synchronising: slide a window over it until it holds
 * the exact SYNCED record; what follows is in step. */
static void feed_sync(struct chan *c, const uint8_t *p, size_t n)
{
	size_t w = sizeof(c->want);

	while (n > 0 && c->syncing) {
		if (c->win_len == w) {
			memmove(c->win, c->win + 1, w - 1);
			c->win_len--;
		}
		c->win[c->win_len++] = *p++;
		n--;
		if (c->win_len == w && memcmp(c->win, c->want, w) == 0) {
			c->syncing = 0;
		}
	}
	if (!c->syncing) {
		feed_records(c, p, n);
	}
}

static int on_mux(void *ctx, int stream, const uint8_t *p, size_t n)
{
	struct chan *c = ctx;

	if (stream == 2) {
		size_t room = GUEST_LOG_MAX - c->guest_log.len;

		buf_add(&c->guest_log, p, n < room ? n : room);
		return 0;
	}
	if (c->syncing) {
		feed_sync(c, p, n);
	} else {
		feed_records(c, p, n);
	}
	return 0;
}

/* Read what arrives within timeout_ms and hand it on. Returns 0 (data or
 * a quiet timeout) or -1 when the channel broke. */
static int pump(struct chan *c, int timeout_ms)
{
	uint8_t b[65536];
	long n;

	if (c->broken) {
		return -1;
	}
	n = docker_stream_recv(&c->ds, b, sizeof(b), timeout_ms);
	if (n == -ETIMEDOUT) {
		return 0;
	}
	if (n <= 0 || mux_feed(&c->mux, b, (size_t)n, on_mux, c) < 0) {
		c->broken = 1;
		return -1;
	}
	return c->broken ? -1 : 0;
}

/* Wait until *flag is set, the channel breaks or the deadline passes.
 * 0, or -1 with err. */
static int wait_for(struct chan *c, const int *flag, int64_t deadline,
		    struct isobox_err *err)
{
	while (!*flag) {
		int64_t left = deadline - now_ms();

		if (left <= 0) {
			return err_set(err, 504, "timeout",
				       "the sandbox did not answer in time");
		}
		if (pump(c, (int)(left < 250 ? left : 250)) < 0) {
			return err_set(err, 503, "sandbox_failed",
				       "the sandbox's guest went away or broke "
				       "the protocol: %.200s",
				       c->guest_log.p ? c->guest_log.p : "");
		}
	}
	return 0;
}

static int send_bytes(struct chan *c, const void *p, size_t n, int64_t deadline,
		      struct isobox_err *err)
{
	if (c->broken || docker_stream_send(&c->ds, p, n, deadline) < 0) {
		c->broken = 1;
		return err_set(err, 503, "sandbox_failed",
			       "writing to the sandbox failed");
	}
	return 0;
}

/* Send one record id | head | data. */
static int send_rec(struct chan *c, uint8_t type, uint32_t id, const void *head,
		    size_t hn, const void *data, size_t dn, int64_t deadline,
		    struct isobox_err *err)
{
	c->out.len = 0;
	if (wire_put_id(&c->out, type, id, head, hn, data, dn) < 0) {
		return err_set(err, 400, "invalid_path",
			       "the request does not fit one record");
	}
	return send_bytes(c, c->out.p, c->out.len, deadline, err);
}

int chan_open(struct chan *c, struct docker *d, const char *id, int flags,
	      int timeout_ms, struct isobox_err *err)
{
	int64_t deadline = now_ms() + timeout_ms;
	uint8_t nonce[WIRE_NONCE_LEN];

	memset(c, 0, sizeof(*c));
	c->ds.fd = -1;
	mux_init(&c->mux);
	random_fill(&c->next_id, sizeof(c->next_id));
	if (docker_attach(d, id, &c->ds, err) < 0) {
		return -1;
	}
	if (flags & CHAN_OPEN_PAD) {
		uint8_t *zero = xcalloc(1, WIRE_PAD_LEN);

		if (send_bytes(c, zero, WIRE_PAD_LEN, deadline, err) < 0) {
			free(zero);
			goto fail;
		}
		free(zero);
	}
	random_fill(nonce, sizeof(nonce));
	memcpy(c->want, WIRE_SYNC_HDR, WIRE_HDR_LEN);
	c->want[0] = WIRE_SYNCED;
	memcpy(c->want + WIRE_HDR_LEN, nonce, sizeof(nonce));
	c->syncing = 1;
	if (wire_put(&c->out, WIRE_SYNC, nonce, sizeof(nonce)) < 0 ||
	    send_bytes(c, c->out.p, c->out.len, deadline, err) < 0) {
		goto fail;
	}
	while (c->syncing) {
		int64_t left = deadline - now_ms();

		if (left <= 0) {
			err_set(err, 504, "timeout",
				"the sandbox's guest did not answer SYNC");
			goto fail;
		}
		if (pump(c, (int)(left < 250 ? left : 250)) < 0) {
			err_set(err, 503, "sandbox_failed",
				"the sandbox's guest went away before it "
				"answered SYNC: %.200s",
				c->guest_log.p ? c->guest_log.p : "");
			goto fail;
		}
	}
	return 0;
fail:
	chan_close(c);
	return -1;
}

void chan_close(struct chan *c)
{
	docker_stream_close(&c->ds);
	wire_dec_free(&c->dec);
	wire_buf_free(&c->out);
	buf_free(&c->guest_log);
	c->broken = 1;
}

int chan_broken(const struct chan *c)
{
	return c->broken;
}

uint32_t chan_next_id(struct chan *c)
{
	if (++c->next_id == 0) {
		c->next_id = 1;
	}
	return c->next_id;
}

int chan_fail_status(const char *code)
{
	static const struct {
		const char *code;
		int status;
	} map[] = {
	    {WIRE_ERR_NOT_FOUND, 404},	{WIRE_ERR_INVALID_PATH, 400},
	    {WIRE_ERR_SYMLINK, 400},	{WIRE_ERR_NOT_REGULAR, 400},
	    {WIRE_ERR_BAD_RECORD, 400}, {WIRE_ERR_IS_DIR, 409},
	    {WIRE_ERR_NOT_DIR, 409},	{WIRE_ERR_EXISTS, 409},
	    {WIRE_ERR_TOO_LARGE, 413},	{WIRE_ERR_NO_SPACE, 413},
	    {WIRE_ERR_QUOTA, 413},	{WIRE_ERR_TOO_MANY, 413},
	    {WIRE_ERR_DENIED, 403},
	};
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (strcmp(map[i].code, code) == 0) {
			return map[i].status;
		}
	}
	return 500;
}

void chan_stat_decode(const uint8_t *p, struct chan_stat *st)
{
	st->type = p[0];
	st->mode = wire_get32(p + 1);
	st->size = wire_get64(p + 5);
	st->mtime_ms = (int64_t)wire_get64(p + 13);
}

/* ---- one job ---- */

static void on_job_rec(void *ctx, const struct wire_rec *rec)
{
	relay_on_record(ctx, rec);
}

int chan_interrupt(struct chan *c, uint32_t id)
{
	uint8_t p[4];

	wire_be32(p, id);
	c->out.len = 0;
	if (wire_put(&c->out, WIRE_INTR, p, sizeof(p)) < 0 ||
	    send_bytes(c, c->out.p, c->out.len, now_ms() + 5000, NULL) < 0) {
		return -1;
	}
	return 0;
}

int chan_run(struct chan *c, uint32_t id, const struct wire_buf *job,
	     const struct limits *lim, const struct sandbox_hooks *hooks,
	     int64_t deadline_ms, struct sandbox_result *res,
	     struct isobox_err *err)
{
	struct relay r;
	int interrupted = 0;
	int rc = -1;

	memset(res, 0, sizeof(*res));
	memset(&r, 0, sizeof(r));
	r.hooks = hooks;
	r.res = res;
	r.lim = lim;
	r.job_id = id;
	c->on_rec = on_job_rec;
	c->rec_ctx = &r;
	if (send_bytes(c, job->p, job->len, deadline_ms, err) < 0) {
		goto out;
	}
	while (!r.done && !r.protocol) {
		int64_t left = deadline_ms - now_ms();

		if (left <= 0) {
			err_set(err, 504, "timeout",
				"the job did not finish in time");
			goto out;
		}
		if (!interrupted &&
		    (r.gone || (hooks && hooks->cancelled &&
				hooks->cancelled(hooks->ctx)))) {
			/* The step's process goes; the session stays. */
			interrupted = 1;
			if (chan_interrupt(c, id) < 0) {
				break;
			}
			if (deadline_ms - now_ms() > CHAN_INTR_GRACE_MS) {
				deadline_ms = now_ms() + CHAN_INTR_GRACE_MS;
			}
		}
		if (pump(c, (int)(left < 250 ? left : 250)) < 0) {
			break;
		}
	}
	if (r.protocol || (c->broken && !r.done)) {
		c->broken = 1;
		err_set(err, 503, "sandbox_failed",
			"the sandbox's guest went away or broke the protocol: "
			"%.200s",
			c->guest_log.p ? c->guest_log.p : "");
		goto out;
	}
	if (r.failed) {
		err_set(err, 500, "sandbox_failed",
			"the guest refused the job: %s", r.fail);
		goto out;
	}
	if (interrupted && r.gone) {
		err_set(err, 499, "client_gone",
			"the client disconnected; the job was interrupted");
		goto out;
	}
	res->guest_done = 1;
	rc = 0;
out:
	c->on_rec = NULL;
	c->rec_ctx = NULL;
	wire_dec_free(&r.dec);
	buf_free(&r.guest_log);
	return rc;
}

void chan_result_free(struct sandbox_result *res)
{
	buf_free(&res->compile.out);
	buf_free(&res->compile.err);
	buf_free(&res->run.out);
	buf_free(&res->run.err);
	buf_free(&res->display);
	free(res->container_id);
	memset(res, 0, sizeof(*res));
}

/* ---- file operations ---- */

void chan_op_record(struct chan_op *o, const struct wire_rec *rec)
{
	const uint8_t *p;
	size_t n;
	uint32_t id;

	/* An empty record's payload may be NULL: no arithmetic before. */
	if (wire_rec_id(rec, &id) < 0 || id != o->id || o->done) {
		return; /* READY, SYNCED, a stale job or operation */
	}
	p = rec->payload + 4;
	n = rec->len - 4;
	switch (rec->type) {
	case WIRE_FAIL: {
		const uint8_t *nul = memchr(p, '\0', n);
		size_t cl = nul ? (size_t)(nul - p) : 0;
		const uint8_t *m = nul ? nul + 1 : p;

		snprintf(o->code, sizeof(o->code), "%.*s", (int)cl,
			 (const char *)p);
		snprintf(o->msg, sizeof(o->msg), "%.*s",
			 (int)(n - (size_t)(m - p)), (const char *)m);
		o->failed = 1;
		o->done = 1;
		break;
	}
	case WIRE_DONE:
		o->flags = n > 0 ? p[0] : 0;
		o->done = 1;
		break;
	case WIRE_FSTAT:
		if (n != WIRE_STAT_LEN || o->got_stat) {
			o->bad = 1;
			break;
		}
		o->got_stat = 1;
		if (o->st) {
			chan_stat_decode(p, o->st);
		}
		break;
	case WIRE_FDATA:
		if (o->write == NULL || !o->got_stat) {
			o->bad = 1;
		} else if (!o->stopped && o->write(o->ctx, p, n) != 0) {
			o->stopped = 1;
		}
		break;
	case WIRE_FENTRY: {
		struct chan_stat st;
		char name[256];

		if (o->on_entry == NULL || n <= WIRE_STAT_LEN ||
		    n - WIRE_STAT_LEN >= sizeof(name) ||
		    memchr(p + WIRE_STAT_LEN, '\0', n - WIRE_STAT_LEN)) {
			o->bad = 1;
			break;
		}
		chan_stat_decode(p, &st);
		memcpy(name, p + WIRE_STAT_LEN, n - WIRE_STAT_LEN);
		name[n - WIRE_STAT_LEN] = '\0';
		if (!o->stopped && o->on_entry(o->ctx, &st, name) != 0) {
			o->stopped = 1;
		}
		break;
	}
	default:
		o->bad = 1;
	}
}

static void on_op_rec(void *ctx, const struct wire_rec *rec)
{
	chan_op_record(ctx, rec);
}

/* Wait for the end of operation o; 0 or -1 with err (its FAIL, or the
 * channel's). */
static int op_wait(struct chan *c, struct chan_op *o, int64_t deadline,
		   struct isobox_err *err)
{
	int rc;

	c->on_rec = on_op_rec;
	c->rec_ctx = o;
	rc = wait_for(c, &o->done, deadline, err);
	c->on_rec = NULL;
	c->rec_ctx = NULL;
	if (rc < 0) {
		return -1;
	}
	if (o->bad) {
		c->broken = 1;
		return err_set(err, 503, "sandbox_failed",
			       "the guest's answer to a file operation is "
			       "malformed");
	}
	if (o->failed) {
		return err_set(err, chan_fail_status(o->code),
			       o->code[0] ? o->code : "io_error", "%s", o->msg);
	}
	return 0;
}

static int path_check(const char *path, int empty_ok, struct isobox_err *err)
{
	size_t n = strlen(path);

	if ((n == 0 && empty_ok) || wire_path_ok(path, n) == 0) {
		return 0;
	}
	return err_set(err, 400, WIRE_ERR_INVALID_PATH,
		       "the path is not a safe relative path");
}

int chan_put(struct chan *c, const char *path, uint32_t mode, chan_read_fn read,
	     void *ctx, int64_t deadline_ms, struct isobox_err *err)
{
	struct chan_op o;
	uint8_t m[4];
	uint8_t *piece = NULL;

	memset(&o, 0, sizeof(o));
	o.id = chan_next_id(c);
	wire_be32(m, mode);
	if (path_check(path, 0, err) < 0 ||
	    send_rec(c, WIRE_FPUT, o.id, m, 4, path, strlen(path), deadline_ms,
		     err) < 0) {
		return -1;
	}
	piece = xmalloc(WIRE_CHUNK_MAX);
	c->on_rec = on_op_rec;
	c->rec_ctx = &o;
	for (;;) {
		long n = read(ctx, piece, WIRE_CHUNK_MAX);

		if (n < 0) {
			/* Without FEND the upload never lands; the guest
			 * drops it at the next FPUT, SYNC or exit. */
			free(piece);
			c->on_rec = NULL;
			return err_set(err, 500, WIRE_ERR_IO,
				       "reading the upload failed");
		}
		if (n == 0) {
			break;
		}
		if (send_rec(c, WIRE_FDATA, o.id, piece, (size_t)n, NULL, 0,
			     deadline_ms, err) < 0) {
			free(piece);
			c->on_rec = NULL;
			return -1;
		}
		/* A quota or space error ends the upload early. */
		if (pump(c, 0) < 0 || o.done) {
			break;
		}
	}
	free(piece);
	if (!o.done && !c->broken &&
	    send_rec(c, WIRE_FEND, o.id, NULL, 0, NULL, 0, deadline_ms, err) <
		0) {
		c->on_rec = NULL;
		return -1;
	}
	return op_wait(c, &o, deadline_ms, err);
}

int chan_get(struct chan *c, const char *path, uint64_t offset, uint64_t length,
	     struct chan_stat *st, chan_write_fn write, void *ctx,
	     int64_t deadline_ms, struct isobox_err *err)
{
	struct chan_op o;
	uint8_t h[16];

	memset(&o, 0, sizeof(o));
	o.id = chan_next_id(c);
	o.st = st;
	o.write = write;
	o.ctx = ctx;
	wire_be64(h, offset);
	wire_be64(h + 8, length);
	if (path_check(path, 0, err) < 0 ||
	    send_rec(c, WIRE_FGET, o.id, h, sizeof(h), path, strlen(path),
		     deadline_ms, err) < 0) {
		return -1;
	}
	if (op_wait(c, &o, deadline_ms, err) < 0) {
		return -1;
	}
	if (!o.got_stat) {
		c->broken = 1;
		return err_set(err, 503, "sandbox_failed",
			       "the guest sent no FSTAT for a download");
	}
	return 0;
}

int chan_list(struct chan *c, const char *path,
	      int (*on_entry)(void *ctx, const struct chan_stat *st,
			      const char *name),
	      void *ctx, int *truncated, int64_t deadline_ms,
	      struct isobox_err *err)
{
	struct chan_op o;

	memset(&o, 0, sizeof(o));
	o.id = chan_next_id(c);
	o.on_entry = on_entry;
	o.ctx = ctx;
	if (path_check(path, 1, err) < 0 ||
	    send_rec(c, WIRE_FLIST, o.id, NULL, 0, path, strlen(path),
		     deadline_ms, err) < 0 ||
	    op_wait(c, &o, deadline_ms, err) < 0) {
		return -1;
	}
	if (truncated) {
		*truncated = (o.flags & WIRE_DONE_TRUNCATED) != 0;
	}
	return 0;
}

int chan_delete(struct chan *c, const char *path, int64_t deadline_ms,
		struct isobox_err *err)
{
	struct chan_op o;

	memset(&o, 0, sizeof(o));
	o.id = chan_next_id(c);
	if (path_check(path, 0, err) < 0 ||
	    send_rec(c, WIRE_FDEL, o.id, NULL, 0, path, strlen(path),
		     deadline_ms, err) < 0) {
		return -1;
	}
	return op_wait(c, &o, deadline_ms, err);
}
