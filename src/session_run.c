/* session_run.c - what runs in a session: steps (a job for the session's
 * guest over chan.h) and file operations.
 *
 * File operations go beneath the subvolume on the host with fsapi.h
 * (openat2, no symlink followed, streaming). That is coherent with the
 * sandbox because (1) a file call holds the session, so no step runs, (2)
 * every job ends with SIGKILL of every process but the guest, so no
 * program holds a file open between steps, and (3) runsc's gofer mounts
 * of binds are shared (revalidating): what a job wrote is on the host
 * when its answer is out, and a host change (new, renamed, grown or
 * deleted file) is seen by the next step (both checked end to end by
 * tests/e2e/test_sessions.py). For a runtime whose bind mounts cache,
 * session_files_via_guest sends the calls of a running sandbox through
 * its guest instead (chan.h file records, done as uid 65534 inside the
 * sandbox); the attach stream carries about 20 MiB/s there, against
 * several hundred on the host. Deletes of a running sandbox always go
 * through the guest (see session_fs_delete). Both paths give the same
 * answers and error codes. See session.h. */
#include "session.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admit.h"
#include "chan.h"
#include "fsapi.h"
#include "job.h"
#include "slots.h"

/* Time for the channel and the guest's bookkeeping around a job. */
#define STEP_GRACE_MS 5000
#define CHAN_OPEN_MS  15000
#define CHAN_TRY_MS   3000 /* the recorded sandbox, before asking the engine */
#define FS_OP_MS      600000 /* a file transfer's own deadline */

static uint32_t job_id_new(void)
{
	uint32_t id = 0;

	while (id == 0) {
		char hex[9];

		random_hex(hex, 4);
		id = (uint32_t)strtoul(hex, NULL, 16);
	}
	return id;
}

/* The guest's FAIL codes as fsapi.h's, so both paths answer alike. */
static void remap_err(struct isobox_err *err)
{
	static const struct {
		const char *from;
		int status;
		const char *to;
	} map[] = {
	    {WIRE_ERR_QUOTA, 413, "quota_exceeded"},
	    {WIRE_ERR_NO_SPACE, 507, "storage_full"},
	    {WIRE_ERR_IS_DIR, 400, "is_a_directory"},
	    {WIRE_ERR_NOT_DIR, 400, "not_a_directory"},
	    {WIRE_ERR_TOO_MANY, 409, "too_many_entries"},
	    {WIRE_ERR_TOO_LARGE, 413, "too_large"},
	    {WIRE_ERR_SYMLINK, 400, "symlink"},
	    {WIRE_ERR_NOT_REGULAR, 400, "not_regular"},
	    {WIRE_ERR_INVALID_PATH, 400, "invalid_path"},
	    {WIRE_ERR_BAD_RECORD, 400, "invalid_path"},
	    {WIRE_ERR_IO, 500, "fs_failed"},
	};
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (strcmp(err->code, map[i].from) == 0) {
			err->status = map[i].status;
			snprintf(err->code, sizeof(err->code), "%s", map[i].to);
			return;
		}
	}
}

/* ------------------------------------------------------------------ */
/* Steps */

/* A kernel step's job: JOB, LIMITS, the cell's code and stdin in pieces
 * (a session guest takes records of at most WIRE_SESSION_MAX), GO. */
static int kernel_job_encode(const struct exec_request *er,
			     const struct limits *lim, int restart, uint32_t id,
			     struct wire_buf *out)
{
	struct wire_buf t = {0};
	const uint8_t *code = er && er->nfiles ? er->files[0].data : NULL;
	size_t clen = er && er->nfiles ? er->files[0].len : 0;
	size_t off;
	int rc = -1;

	if (wire_put_id(out, WIRE_JOB, id, NULL, 0, NULL, 0) < 0) {
		goto out;
	}
	wire_kv_add(&t, WIRE_LIMIT_RUN_WALL_MS, lim->wall_time_ms);
	wire_kv_add(&t, WIRE_LIMIT_OUTPUT, lim->output_bytes);
	if (restart) {
		wire_kv_add(&t, WIRE_LIMIT_KERNEL_RESTART, 1);
	}
	if (wire_put(out, WIRE_LIMITS, t.p, t.len) < 0) {
		goto out;
	}
	off = 0;
	do {
		size_t n =
		    clen - off > WIRE_CHUNK_MAX ? WIRE_CHUNK_MAX : clen - off;

		if (wire_put(out, WIRE_CODE, code ? code + off : NULL, n) < 0) {
			goto out;
		}
		off += n;
	} while (off < clen);
	for (off = 0; er && off < er->stdin_len; off += WIRE_CHUNK_MAX) {
		size_t n = er->stdin_len - off > WIRE_CHUNK_MAX
			       ? WIRE_CHUNK_MAX
			       : er->stdin_len - off;

		if (wire_put(out, WIRE_STDIN, er->stdin_data + off, n) < 0) {
			goto out;
		}
	}
	rc = wire_put(out, WIRE_GO, NULL, 0);
out:
	wire_buf_free(&t);
	return rc;
}

/* A step's limits: the sandbox's shape is the session's; the request may
 * change what is per job (wall time, output) within the same clamps. */
static void step_limits(struct service *svc, const struct exec_ctx *x,
			const struct session *s, const struct exec_request *er,
			struct limits *out)
{
	struct limits_partial p = er->limits;
	struct limits ceil = svc->cfg.ceilings;

	p.set &= LIM_WALL | LIM_OUTPUT | LIM_COMPILE_WALL;
	*out = s->lim;
	limits_overlay(out, &p);
	if (x->tenant->ceilings.set) {
		exec_tenant_ceilings(x->tenant, &ceil);
	}
	limits_clamp(out, &svc->cfg.floors, &ceil);
	/* The sandbox was made with these: a step cannot change them. */
	out->memory_bytes = s->lim.memory_bytes;
	out->cpus = s->lim.cpus;
	out->pids = s->lim.pids;
	out->tmpfs_bytes = s->lim.tmpfs_bytes;
	out->compile_memory_bytes = s->lim.compile_memory_bytes;
}

/* The host's part of a kernel step's verdict. A sandbox that died in the
 * step (gVisor's OOM may take the whole sandbox: it is the cgroup) is an
 * answer, not an error: oomKilled when the engine or the cgroup says so,
 * and the kernel restarted (the next step starts a new sandbox). A SIGKILL
 * of the interpreter the guest did not send (no interrupt) is checked the
 * same way. */
static void kernel_verdict(struct service *svc, const struct session *s,
			   struct sandbox_result *res, int *rc, int broken,
			   const struct isobox_err *err)
{
	struct stage_result *st = &res->run;

	if (*rc < 0 && broken && err->status == 503 && s->container[0]) {
		st->ran = 1;
		st->oom_killed = relay_oom_killed(svc, s->container);
		st->exit_code = 128 + 9;
		st->signal = 9;
		st->kernel_restarted = 1;
		*rc = 0;
		return;
	}
	if (*rc == 0 && st->signal == 9 && !st->kernel_interrupted &&
	    relay_oom_killed(svc, s->container)) {
		st->oom_killed = 1;
	}
}

int session_exec(struct service *svc, const struct exec_ctx *x,
		 const struct registry *reg, const char *id, const char *tok,
		 const struct exec_request *er, const struct lang **lang_out,
		 struct exec_run **out, int *restarted, struct isobox_err *err)
{
	struct sandbox_hooks hooks;
	struct wire_buf job = {0};
	struct exec_run *run = NULL;
	const struct lang *lang;
	struct session s;
	struct limits lim;
	struct limits jlim;
	struct chan c;
	struct isobox_err e;
	uint32_t jid = job_id_new();
	int chan_ok = 0;
	int broken = 0;
	int slot = -1;
	int rc = -1;

	*out = NULL;
	*restarted = 0;
	if (er->network) {
		return err_set(err, 403, "network_unavailable",
			       "session steps run without network access; "
			       "send \"network\": false");
	}
	if (session_hold(svc, x->tenant, id, tok, jid, &s, err) < 0) {
		return -1;
	}
	lang = session_lang(reg, &s, err);
	*lang_out = lang;
	if (lang == NULL) {
		goto out;
	}
	step_limits(svc, x, &s, er, &lim);
	slot = slots_acquire(&svc->slots, now_ms() + svc->cfg.queue_timeout_ms,
			     x->cancelled, x->ctx);
	if (slot < 0) {
		if (slot == -ECANCELED) {
			err_set(err, 499, "client_gone",
				"the client went away while waiting");
		} else {
			err_set(err, 429, "capacity",
				"all %d sandboxes are busy; retry shortly",
				svc->cfg.concurrency);
		}
		goto out;
	}
	/* The recorded sandbox is tried first (no engine round trip to ask
	 * whether it runs); when it does not answer, ensure finds out why
	 * and starts a new one if it is gone. */
	if (s.container[0] &&
	    chan_open(&c, &svc->docker, s.container,
		      s.dirty ? CHAN_OPEN_PAD : 0, CHAN_TRY_MS, &e) == 0) {
		chan_ok = 1;
	} else if (session_sandbox_ensure(svc, &s, lang, restarted, err) < 0) {
		goto out;
	}
	/* RLIMIT_FSIZE is the tmpfs size for one-shot runs; here the
	 * workspace's qgroup caps real bytes and the tmpfs mounts their own
	 * size, so a file (a sparse one too) may be as large as they allow. */
	jlim = lim;
	jlim.tmpfs_bytes = SESSION_JOB_FSIZE;
	/* HANDOFF first: the interpreter the guest prestarted takes the run
	 * (the guest ignores it when none waits or the job does not fit). */
	if (s.type == SESSION_KERNEL
		? kernel_job_encode(er, &jlim, 0, jid, &job) < 0
		: (job_handoff_encode(lang, er, &job) < 0 ||
		   job_encode(lang, er, &jlim, jid, &job) < 0)) {
		err_set(err, 413, "body_too_large",
			"the program and its input do not fit in one job");
		goto out;
	}
	if (!chan_ok &&
	    chan_open(&c, &svc->docker, s.container,
		      s.dirty ? CHAN_OPEN_PAD : 0, CHAN_OPEN_MS, err) < 0) {
		broken = 1;
		goto out;
	}
	chan_ok = 1;
	if (x->on_admitted) {
		x->on_admitted(x->ctx);
	}
	run = xcalloc(1, sizeof(*run));
	run->svc = svc;
	run->lim = lim;
	hooks.ctx = x->ctx;
	hooks.on_output = x->on_output;
	hooks.cancelled = x->cancelled;
	rc = chan_run(&c, jid, &job, &lim, &hooks,
		      now_ms() + lim.wall_time_ms +
			  (lang->compile ? lim.compile_wall_time_ms : 0) +
			  STEP_GRACE_MS,
		      &run->res, err);
	run->res.has_compile = lang->compile != NULL;
	broken = chan_broken(&c) || (rc < 0 && err->status != 499);
	if (s.type == SESSION_KERNEL) {
		run->res.has_compile = 0;
		run->res.kernel = 1;
		kernel_verdict(svc, &s, &run->res, &rc, broken, err);
	}
out:
	if (chan_ok) {
		chan_close(&c);
	}
	if (slot >= 0) {
		slots_release(slot);
	}
	wire_buf_free(&job);
	if (broken && s.container[0]) {
		/* A sandbox that broke the channel is not trusted with the
		 * next step: the next one starts afresh (and says so). */
		session_sandbox_forget(svc, s.id, s.container);
		session_unhold(svc, &s, rc == 0, 0, "");
	} else {
		session_unhold(svc, &s, rc == 0, 0, NULL);
	}
	*out = run;
	return rc < 0 ? -1 : 0;
}

/* ------------------------------------------------------------------ */
/* File operations */

struct fs_op {
	struct service *svc;
	struct session s;
	int guest; /* through the guest (c open), else beneath root */
	struct chan c;
	int root;
	int cleared; /* the recorded sandbox was gone: forget it */
	int broken;
};

static int fs_begin(const struct session_fs *f, struct fs_op *op, int guest,
		    struct isobox_err *err)
{
	struct service *svc = f->svc;

	memset(op, 0, sizeof(*op));
	op->svc = svc;
	op->root = -1;
	if (fsapi_path_check(f->path, f->path_len, 1, err) < 0) {
		return -1;
	}
	if (!bstore_ready(&svc->bstore)) {
		return err_set(err, 503, "storage_unavailable",
			       "the workspace store is not set up");
	}
	if (session_hold(svc, f->tenant, f->id, f->tok, job_id_new(), &op->s,
			 err) < 0) {
		return -1;
	}
	if (op->s.container[0] && (guest || svc->cfg.session_files_via_guest)) {
		struct isobox_err e;

		if (chan_open(&op->c, &svc->docker, op->s.container,
			      op->s.dirty ? CHAN_OPEN_PAD : 0, 5000, &e) == 0) {
			op->guest = 1;
			return 0;
		}
		/* The recorded sandbox does not answer: gone after an
		 * engine restart, or broken. Either way it is not used
		 * again, and the workspace is reached from the host. */
		log_warn("session %s: sandbox %.12s does not answer (%s); "
			 "file access from the host",
			 op->s.id, op->s.container, e.msg);
		session_sandbox_forget(svc, op->s.id, op->s.container);
		op->s.container[0] = '\0';
		op->cleared = 1;
	}
	op->root =
	    bstore_open_root(&svc->bstore, BSTORE_SESSIONS, op->s.subvol);
	if (op->root < 0) {
		session_unhold(svc, &op->s, 0, op->s.dirty,
			       op->cleared ? "" : NULL);
		return err_set(err, 500, "internal",
			       "cannot open the workspace: %s",
			       strerror(-op->root));
	}
	return 0;
}

static void fs_end(struct fs_op *op)
{
	const char *container = op->cleared ? "" : NULL;

	if (op->guest) {
		op->broken |= chan_broken(&op->c);
		chan_close(&op->c);
		if (op->broken) {
			session_sandbox_forget(op->svc, op->s.id,
					       op->s.container);
			container = "";
		}
	}
	if (op->root >= 0) {
		close(op->root);
	}
	session_unhold(op->svc, &op->s, 0, op->broken ? 0 : op->s.dirty,
		       container);
}

static int type_of_wire(int t)
{
	switch (t) {
	case WIRE_FT_FILE:
		return FSAPI_FILE;
	case WIRE_FT_DIR:
		return FSAPI_DIR;
	case WIRE_FT_SYMLINK:
		return FSAPI_SYMLINK;
	default:
		return FSAPI_OTHER;
	}
}

/* A listing through the guest, sorted here (the guest's order is the
 * directory's). */
struct gl_ent {
	char *name;
	struct chan_stat st;
};
struct gl {
	struct gl_ent *e;
	size_t n;
	size_t cap;
};

static int gl_add(void *ctx, const struct chan_stat *st, const char *name)
{
	struct gl *g = ctx;

	if (g->n == g->cap) {
		g->cap = g->cap ? 2 * g->cap : 64;
		g->e = xrealloc(g->e, g->cap * sizeof(*g->e));
	}
	g->e[g->n].name = xstrdup(name);
	g->e[g->n].st = *st;
	g->n++;
	return 0;
}

static int gl_cmp(const void *a, const void *b)
{
	return strcmp(((const struct gl_ent *)a)->name,
		      ((const struct gl_ent *)b)->name);
}

static int list_guest(struct fs_op *op, const struct session_fs *f,
		      struct session_get_cb *cb, struct isobox_err *err)
{
	struct gl g = {0};
	char *path = xstrndup(f->path, f->path_len);
	int trunc = 0;
	size_t i;
	int rc;

	rc = chan_list(&op->c, path, gl_add, &g, &trunc, now_ms() + FS_OP_MS,
		       err);
	free(path);
	if (rc == 0) {
		cb->is_dir = 1;
		cb->truncated = trunc;
		qsort(g.e, g.n, sizeof(*g.e), gl_cmp);
		for (i = 0; i < g.n; i++) {
			struct session_fent e;

			e.name = g.e[i].name;
			e.name_len = strlen(g.e[i].name);
			e.type = type_of_wire(g.e[i].st.type);
			e.mode = g.e[i].st.mode & 07777;
			e.size = (int64_t)g.e[i].st.size;
			e.mtime_ms = g.e[i].st.mtime_ms;
			if (cb->on_entry(cb->ctx, &e) != 0) {
				break;
			}
		}
	} else {
		remap_err(err);
	}
	for (i = 0; i < g.n; i++) {
		free(g.e[i].name);
	}
	free(g.e);
	return rc;
}

/* A download through the guest: the stat arrives first (FSTAT), then the
 * bytes; the head goes out with the first bytes, or after an empty body. */
struct gget {
	struct session_get_cb *cb;
	struct chan_stat st;
	const char *name;
	int started;
	int refused;
	int stopped; /* the client went away */
};

static int gget_start(struct gget *g)
{
	struct session_get_cb *cb = g->cb;
	struct session_fent e;
	int64_t size = (int64_t)g->st.size;
	int64_t off = cb->offset;
	int64_t len;

	g->started = 1;
	e.name = g->name;
	e.name_len = strlen(g->name);
	e.type = type_of_wire(g->st.type);
	e.mode = g->st.mode & 07777;
	e.size = size;
	e.mtime_ms = g->st.mtime_ms;
	len =
	    cb->length < 0 || off + cb->length > size ? size - off : cb->length;
	if (len < 0) {
		len = 0;
	}
	if (cb->on_file(cb->ctx, &e, off, len) != 0) {
		g->refused = 1;
		return 1;
	}
	return 0;
}

static int gget_write(void *ctx, const uint8_t *p, size_t n)
{
	struct gget *g = ctx;

	if (!g->started && gget_start(g) != 0) {
		return 1;
	}
	if (g->stopped) {
		return 1;
	}
	/* Never more than the head announced (a piece may overlap a file
	 * that grew meanwhile). */
	g->cb->sent += (int64_t)n;
	if (g->cb->on_data(g->cb->ctx, (const char *)p, n) != 0) {
		g->stopped = 1;
		return 1;
	}
	return 0;
}

static int discard(void *ctx, const uint8_t *p, size_t n)
{
	(void)ctx;
	(void)p;
	(void)n;
	return 0;
}

/* Downloads through the guest go in pieces: a client that leaves stops
 * the transfer within one piece (the guest sends a piece whole). */
#define GET_PIECE (8 * 1024 * 1024)

static int get_guest(struct fs_op *op, const struct session_fs *f,
		     struct session_get_cb *cb, struct isobox_err *err)
{
	char *path = xstrndup(f->path, f->path_len);
	int64_t deadline = now_ms() + FS_OP_MS;
	struct gget g;
	int64_t total;
	int64_t want;
	int rc = 0;

	memset(&g, 0, sizeof(g));
	g.cb = cb;
	g.name = path;
	if (cb->suffix) {
		/* bytes=-N: the size first (one byte read and dropped). */
		struct chan_stat st;

		rc = chan_get(&op->c, path, 0, 1, &st, discard, NULL, deadline,
			      err);
		if (rc == 0) {
			int64_t size = (int64_t)st.size;

			cb->offset = cb->length >= size ? 0 : size - cb->length;
			cb->length = size - cb->offset;
		}
	}
	if (rc == 0) {
		want = cb->length < 0 || cb->length > GET_PIECE ? GET_PIECE
								: cb->length;
		rc = chan_get(&op->c, path, (uint64_t)cb->offset,
			      (uint64_t)(want > 0 ? want : 1), &g.st,
			      gget_write, &g, deadline, err);
	}
	if (rc == 0 && !g.started) {
		gget_start(&g);
	}
	total = (int64_t)g.st.size - cb->offset;
	if (cb->length >= 0 && cb->length < total) {
		total = cb->length;
	}
	while (rc == 0 && g.started && !g.refused && !g.stopped &&
	       cb->sent < total) {
		int64_t before = cb->sent;
		struct chan_stat st;

		want =
		    total - cb->sent > GET_PIECE ? GET_PIECE : total - cb->sent;
		rc = chan_get(&op->c, path, (uint64_t)(cb->offset + cb->sent),
			      (uint64_t)want, &st, gget_write, &g, deadline,
			      err);
		if (rc == 0 && cb->sent == before) {
			break; /* shortened meanwhile: the client sees a cut */
		}
	}
	if (rc < 0 && g.refused) {
		rc = 0; /* the handler answered (416) */
	} else if (rc < 0 && strcmp(err->code, WIRE_ERR_IS_DIR) == 0) {
		rc = list_guest(op, f, cb, err);
	} else if (rc < 0) {
		remap_err(err);
	}
	free(path);
	return rc;
}

/* Beneath the subvolume. */
struct hl {
	struct session_get_cb *cb;
};

static int hl_entry(const struct fsapi_entry *fe, void *ctx)
{
	struct session_get_cb *cb = ctx;
	struct session_fent e;

	e.name = fe->name;
	e.name_len = fe->name_len;
	e.type = fe->st.type;
	e.mode = fe->st.mode;
	e.size = fe->st.size;
	e.mtime_ms = (int64_t)fe->st.mtime.tv_sec * 1000 +
		     fe->st.mtime.tv_nsec / 1000000;
	return cb->on_entry(cb->ctx, &e) != 0 ? -1 : 0;
}

static int hsink(void *ctx, const char *p, size_t n)
{
	struct session_get_cb *cb = ctx;

	cb->sent += (int64_t)n;
	return cb->on_data(cb->ctx, p, n) != 0 ? -1 : 0;
}

static int get_host(struct fs_op *op, const struct session_fs *f,
		    struct session_get_cb *cb, struct isobox_err *err)
{
	return session_fs_get_beneath(op->root, f->path, f->path_len, cb, err);
}

int session_fs_get_beneath(int root, const char *path, size_t path_len,
			   struct session_get_cb *cb, struct isobox_err *err)
{
	struct fsapi_stat st;
	struct session_fent e;
	int64_t off;
	int64_t len;
	int fd;
	int rc;

	if (fsapi_stat(root, path, path_len, &st, err) < 0) {
		return -1;
	}
	if (st.type == FSAPI_DIR) {
		int trunc = 0;

		cb->is_dir = 1;
		rc = fsapi_list(root, path, path_len, 0, hl_entry, cb, &trunc,
				err);
		cb->truncated = trunc;
		return rc < 0 ? -1 : 0;
	}
	fd = fsapi_open_read(root, path, path_len, &st, err);
	if (fd < 0) {
		return -1;
	}
	off = cb->offset;
	if (cb->suffix) {
		off = cb->length >= st.size ? 0 : st.size - cb->length;
		len = st.size - off;
	} else {
		len = cb->length < 0 || off + cb->length > st.size
			  ? st.size - off
			  : cb->length;
	}
	if (len < 0) {
		len = 0;
	}
	e.name = path;
	e.name_len = path_len;
	e.type = st.type;
	e.mode = st.mode;
	e.size = st.size;
	e.mtime_ms =
	    (int64_t)st.mtime.tv_sec * 1000 + st.mtime.tv_nsec / 1000000;
	if (cb->on_file(cb->ctx, &e, off, len) != 0) {
		close(fd);
		return 0;
	}
	rc = len > 0 ? (int)(fsapi_stream(fd, off, len, hsink, cb, err) < 0 ? -1
									    : 0)
		     : 0;
	close(fd);
	return rc;
}

int session_fs_get(const struct session_fs *f, struct session_get_cb *cb,
		   struct isobox_err *err)
{
	struct fs_op op;
	int rc;

	if (fs_begin(f, &op, 0, err) < 0) {
		return -1;
	}
	if (op.guest) {
		rc = f->path_len == 0 ? list_guest(&op, f, cb, err)
				      : get_guest(&op, f, cb, err);
	} else {
		rc = get_host(&op, f, cb, err);
	}
	fs_end(&op);
	return rc;
}

/* An upload through the guest: sha256 and the size cap on the way. */
struct gput {
	ssize_t (*src)(void *ctx, char *buf, size_t cap);
	void *ctx;
	struct sha256 h;
	int64_t bytes;
	int64_t max;
	int too_large;
	int cut;
};

static long gput_read(void *ctx, uint8_t *p, size_t cap)
{
	struct gput *g = ctx;
	ssize_t n = g->src(g->ctx, (char *)p, cap);

	if (n < 0) {
		g->cut = 1;
		return -1;
	}
	if (g->max > 0 && g->bytes + n > g->max) {
		g->too_large = 1;
		return -1;
	}
	sha256_update(&g->h, p, (size_t)n);
	g->bytes += n;
	return (long)n;
}

int session_fs_put(const struct session_fs *f, int64_t max_bytes,
		   ssize_t (*src)(void *ctx, char *buf, size_t cap), void *ctx,
		   int64_t *bytes, char sha256[65], struct isobox_err *err)
{
	struct fs_op op;
	int rc;

	if (f->path_len == 0) {
		return err_set(err, 400, "invalid_path",
			       "a file path is needed");
	}
	if (fs_begin(f, &op, 0, err) < 0) {
		return -1;
	}
	if (op.guest) {
		struct gput g;
		char *path = xstrndup(f->path, f->path_len);
		uint8_t d[32];

		memset(&g, 0, sizeof(g));
		g.src = src;
		g.ctx = ctx;
		g.max = max_bytes;
		sha256_init(&g.h);
		rc = chan_put(&op.c, path, 0644, gput_read, &g,
			      now_ms() + FS_OP_MS, err);
		free(path);
		sha256_final(&g.h, d);
		if (rc == 0) {
			*bytes = g.bytes;
			sha256_tohex(d, sha256);
		} else if (g.too_large) {
			err_set(err, 413, "too_large",
				"the file is larger than %lld bytes",
				(long long)max_bytes);
		} else if (g.cut) {
			err_set(err, 499, "aborted",
				"the upload was cut short; nothing was "
				"written");
		} else {
			remap_err(err);
		}
	} else {
		struct fsapi_written w;

		rc = fsapi_write(op.root, f->path, f->path_len, 0644, max_bytes,
				 src, ctx, &w, err);
		if (rc == 0) {
			*bytes = w.bytes;
			memcpy(sha256, w.sha256, 65);
		}
	}
	fs_end(&op);
	return rc < 0 ? -1 : 0;
}

int session_fs_delete(const struct session_fs *f, struct isobox_err *err)
{
	struct fs_op op;
	int rc;

	if (f->path_len == 0) {
		return err_set(err, 400, "invalid_path",
			       "the workspace itself cannot be deleted");
	}
	/* Deletes of a running sandbox go through its guest: a file the
	 * sandbox's gofer still holds open would keep its space charged to
	 * the workspace's quota after a host-side unlink, until the sandbox
	 * stops. Deletes move no data, so the stream's speed does not
	 * matter. */
	if (fs_begin(f, &op, 1, err) < 0) {
		return -1;
	}
	if (op.guest) {
		char *path = xstrndup(f->path, f->path_len);

		rc = chan_delete(&op.c, path, now_ms() + FS_OP_MS, err);
		free(path);
		if (rc < 0) {
			remap_err(err);
		}
	} else {
		rc = fsapi_delete(op.root, f->path, f->path_len, err);
	}
	if (rc < 0 && strcmp(err->code, "not_found") == 0) {
		rc = 0; /* the seed: a missing path is deleted */
	}
	fs_end(&op);
	return rc < 0 ? -1 : 0;
}

/* ------------------------------------------------------------------ */
/* Kernel restart */

/* Restart the interpreter inside the running sandbox: a kernel job with
 * WIRE_LIMIT_KERNEL_RESTART, which the guest answers after killing the
 * runner (its group, then every other process of the sandbox) and starting
 * a new one. 0 when the guest says it restarted; -1 otherwise (no sandbox,
 * a channel error, an older guest that ignored the flag): the caller then
 * replaces the sandbox. *broken: the channel broke (do not reuse it). */
static int kernel_restart_in_place(struct service *svc, struct session *s,
				   int *broken)
{
	struct sandbox_result res;
	struct wire_buf job = {0};
	struct isobox_err e = {0};
	struct limits lim = s->lim;
	uint32_t jid = (uint32_t)s->busy_job;
	struct chan c;
	int rc = -1;

	*broken = 0;
	memset(&res, 0, sizeof(res));
	if (!s->container[0]) {
		return -1;
	}
	lim.wall_time_ms = 1000;
	if (kernel_job_encode(NULL, &lim, 1, jid, &job) < 0) {
		goto out;
	}
	if (chan_open(&c, &svc->docker, s->container,
		      s->dirty ? CHAN_OPEN_PAD : 0, 5000, &e) < 0) {
		*broken = 1;
		goto out;
	}
	rc = chan_run(&c, jid, &job, &lim, NULL, now_ms() + STEP_GRACE_MS, &res,
		      &e);
	*broken = chan_broken(&c) || rc < 0;
	chan_close(&c);
	if (rc == 0 && !res.run.kernel_restarted) {
		rc = -1; /* a guest that does not know the flag */
	}
	chan_result_free(&res);
out:
	wire_buf_free(&job);
	if (rc < 0) {
		log_info("session %s: interpreter restart in place failed "
			 "(%s); replacing the sandbox",
			 s->id, *broken ? e.msg : "not supported");
	}
	return rc;
}

int session_kernel_restart(struct service *svc, const struct tenant *t,
			   const struct registry *reg, const char *id,
			   const char *tok, struct isobox_err *err)
{
	const struct lang *lang;
	struct session s;
	int restarted = 0;
	int broken = 0;
	int rc = -1;

	if (session_hold(svc, t, id, tok, job_id_new(), &s, err) < 0) {
		return -1;
	}
	if (s.type != SESSION_KERNEL) {
		err_set(err, 400, "not_a_kernel",
			"only a kernel session can be restarted");
		session_unhold(svc, &s, 0, s.dirty, NULL);
		return -1;
	}
	lang = session_lang(reg, &s, err);
	if (lang == NULL) {
		session_unhold(svc, &s, 0, s.dirty, NULL);
		return -1;
	}
	/* A new interpreter in the same sandbox: the guest kills the old
	 * one's process group and then every process but itself, so none
	 * of its threads, children or memory survive (the sandbox's /tmp
	 * does, as the workspace does). */
	if (kernel_restart_in_place(svc, &s, &broken) == 0) {
		session_unhold(svc, &s, 0, 0, NULL);
		return 0;
	}
	/* Else a new sandbox. */
	if (s.container[0]) {
		session_sandbox_forget(svc, s.id, s.container);
		s.container[0] = '\0';
	}
	rc = session_sandbox_ensure(svc, &s, lang, &restarted, err);
	session_unhold(svc, &s, 0, 0, rc == 0 ? NULL : "");
	return rc < 0 ? -1 : 0;
}
