/* api_meta.c - /metrics (Prometheus text), /openapi.yaml and /llms.txt
 * (served from the installed data directory, so they ship with the
 * code that they describe). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admit.h"
#include "api.h"
#include "cgroup.h"
#include "metrics.h"
#include "pool.h"

#ifndef ISOBOX_PKGDATADIR
#define ISOBOX_PKGDATADIR "/usr/local/share/isobox"
#endif

static void gauge(struct buf *b, const char *name, const char *help,
		  long long v)
{
	buf_addf(b, "# HELP %s %s\n# TYPE %s gauge\n%s %lld\n", name, help,
		 name, name, v);
}

void api_metrics(struct service *svc, struct http_req *req)
{
	struct buf b = {0};
	struct pool_stats ps;
	struct slice_state st;

	http_drain_body(req);
	metrics_render(&b);
	pool_stats(svc, &ps);
	cgroup_slice_read("/sys/fs/cgroup", svc->cfg.cgroup_parent, &st);
	gauge(&b, "isobox_sandboxes_active",
	      "Sandboxes running jobs right now (slots held).",
	      slots_busy(&svc->slots));
	gauge(&b, "isobox_pool_size",
	      "Warm sandboxes kept ready at least per pool_languages entry "
	      "(pool_size).",
	      svc->cfg.pool_languages && *svc->cfg.pool_languages
		  ? svc->cfg.pool_size
		  : 0);
	gauge(&b, "isobox_pool_ready", "Warm sandboxes waiting.", ps.ready);
	gauge(&b, "isobox_pool_claimed", "Warm sandboxes handed to requests.",
	      ps.claimed);
	gauge(&b, "isobox_slice_memory_bytes",
	      "Memory in use by the isobox slice cgroup.",
	      (long long)st.memory_usage);
	gauge(&b, "isobox_slice_memory_limit_bytes",
	      "Memory cap of the isobox slice cgroup (-1: none).",
	      (long long)st.memory_limit);
	gauge(&b, "isobox_admitted_memory_bytes",
	      "Sum of the memory caps of admitted and warm sandboxes.",
	      (long long)admit_in_use(svc));
	pool_metrics(svc, &b);
	http_send_text(req, 200, "text/plain; version=0.0.4; charset=utf-8",
		       b.p ? b.p : "", b.len, "Cache-Control: no-store\r\n");
	buf_free(&b);
}

static void send_file(struct http_req *req, const char *name, const char *ctype)
{
	char *path = xasprintf("%s/%s", ISOBOX_PKGDATADIR, name);
	FILE *f = fopen(path, "re");
	struct buf b = {0};
	char tmp[8192];
	size_t n;

	http_drain_body(req);
	if (f == NULL) {
		http_send_err(req, 404, "not_found", "%s is not installed",
			      name);
		free(path);
		return;
	}
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0) {
		buf_add(&b, tmp, n);
	}
	fclose(f);
	free(path);
	http_send_text(req, 200, ctype, b.p ? b.p : "", b.len,
		       "Cache-Control: max-age=60\r\n");
	buf_free(&b);
}

void api_openapi(struct service *svc, struct http_req *req)
{
	(void)svc;
	send_file(req, "openapi.yaml", "application/yaml; charset=utf-8");
}

void api_llms(struct service *svc, struct http_req *req)
{
	(void)svc;
	send_file(req, "llms.txt", "text/plain; charset=utf-8");
}
