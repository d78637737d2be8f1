/* job.c - encoding one job for the guest (wire.h records, with the job's
 * id); see job.h. */
#include "job.h"

#include <string.h>

static const char *entry_name(const struct lang *lang,
			      const struct exec_request *req)
{
	return req->files[0].name ? req->files[0].name : lang->source;
}

/* Append argv to b as a NUL-separated list, expanding {source}/{files}. */
static void add_argv(struct wire_buf *b, char *const *argv,
		     const struct lang *lang, const struct exec_request *req)
{
	size_t i;

	for (; argv && *argv; argv++) {
		if (strcmp(*argv, "{files}") == 0) {
			for (i = 0; i < req->nfiles; i++) {
				wire_str_add(b, req->files[i].name
						    ? req->files[i].name
						    : lang->source);
			}
		} else if (strstr(*argv, "{source}")) {
			struct buf t = {0};
			const char *p = *argv;
			const char *q;

			while ((q = strstr(p, "{source}")) != NULL) {
				buf_add(&t, p, (size_t)(q - p));
				buf_adds(&t, entry_name(lang, req));
				p = q + 8;
			}
			buf_adds(&t, p);
			wire_str_add(b, t.p);
			buf_free(&t);
		} else {
			wire_str_add(b, *argv);
		}
	}
}

int job_handoff_encode(const struct lang *lang, const struct exec_request *req,
		       struct wire_buf *out)
{
	struct wire_buf t = {0};
	size_t skip;
	int rc;

	if (lang->prestart == NULL) {
		return 0;
	}
	if (lang->prestart_compile) {
		/* A compiler server: the compile argv (the request's args
		 * are the program's, not the compiler's). */
		if (lang->compile == NULL) {
			return 0;
		}
		add_argv(&t, lang->compile, lang, req);
	} else {
		char *const *from = lang->run;

		if (lang->compile != NULL) {
			return 0;
		}
		/* An in-process bootstrap stands in for run[0] and the
		 * catalogue's own options before {source}: it is handed the
		 * entry on (its first element is then never one of those
		 * options, which the guest would take for the user's). The
		 * guest's --warm-exec and --warm-main run what they are
		 * handed: all of it. */
		if (!(strcmp(lang->prestart[0], "/.isobox/guest") == 0 &&
		      lang->prestart[1] != NULL &&
		      (strcmp(lang->prestart[1], "--warm-exec") == 0 ||
		       strcmp(lang->prestart[1], "--warm-main") == 0))) {
			while (from[1] != NULL &&
			       strstr(from[1], "{source}") == NULL) {
				from++;
			}
			if (from[1] == NULL) {
				from = lang->run;
			}
		}
		add_argv(&t, from, lang, req);
		add_argv(&t, req->args, lang, req);
	}
	skip = strlen((const char *)t.p) + 1;
	rc = wire_put(out, WIRE_HANDOFF, t.p + skip, t.len - skip);
	wire_buf_free(&t);
	return rc;
}

int job_encode(const struct lang *lang, const struct exec_request *req,
	       const struct limits *lim, uint32_t id, struct wire_buf *out)
{
	struct wire_buf t = {0};
	size_t i;
	size_t off;
	int rc = -1;

	if (wire_put_id(out, WIRE_JOB, id, NULL, 0, NULL, 0) < 0) {
		goto out;
	}
	for (i = 0; i < req->nfiles; i++) {
		const char *name =
		    req->files[i].name ? req->files[i].name : lang->source;

		if (wire_put_file(out, name, req->files[i].data,
				  req->files[i].len) < 0) {
			goto out;
		}
	}
	for (i = 0; lang->env && lang->env[i]; i++) {
		wire_str_add(&t, lang->env[i]);
	}
	if (wire_put(out, WIRE_ENV, t.p, t.len) < 0) {
		goto out;
	}
	if (lang->compile) {
		t.len = 0;
		add_argv(&t, lang->compile, lang, req);
		if (wire_put(out, WIRE_COMPILE, t.p, t.len) < 0) {
			goto out;
		}
	}
	t.len = 0;
	add_argv(&t, lang->run, lang, req);
	add_argv(&t, req->args, lang, req);
	if (wire_put(out, WIRE_RUN, t.p, t.len) < 0) {
		goto out;
	}
	/* In pieces a session guest accepts too. */
	for (off = 0; off < req->stdin_len; off += WIRE_CHUNK_MAX) {
		size_t n = req->stdin_len - off;

		if (n > WIRE_CHUNK_MAX) {
			n = WIRE_CHUNK_MAX;
		}
		if (wire_put(out, WIRE_STDIN, req->stdin_data + off, n) < 0) {
			goto out;
		}
	}
	t.len = 0;
	wire_kv_add(&t, WIRE_LIMIT_COMPILE_WALL_MS, lim->compile_wall_time_ms);
	wire_kv_add(&t, WIRE_LIMIT_RUN_WALL_MS, lim->wall_time_ms);
	wire_kv_add(&t, WIRE_LIMIT_PIDS, lim->pids);
	wire_kv_add(&t, WIRE_LIMIT_OUTPUT, lim->output_bytes);
	wire_kv_add(&t, WIRE_LIMIT_FSIZE, lim->tmpfs_bytes);
	wire_kv_add(&t, WIRE_LIMIT_NOFILE, LIMITS_USER_NOFILE);
	if (wire_put(out, WIRE_LIMITS, t.p, t.len) < 0 ||
	    wire_put(out, WIRE_GO, NULL, 0) < 0) {
		goto out;
	}
	rc = 0;
out:
	wire_buf_free(&t);
	return rc;
}
