/* router.c - the route table; see router.h. */
#include "router.h"

#include <stdio.h>
#include <string.h>

#include "metrics.h"
#include "ratelimit.h"

static const struct route routes[] = {
    {"POST", "/execute", api_execute, "execute"},
    {"GET", "/runtimes", api_runtimes, "runtimes"},
    {"GET", "/healthz", api_healthz, "healthz"},
    {"GET", "/readyz", api_readyz, "readyz"},
    {"GET", "/api/v2/runtimes", api_piston_runtimes, "piston_runtimes"},
    {"POST", "/api/v2/execute", api_piston_execute, "piston_execute"},
    {"POST", "/mcp", api_mcp, "mcp"},
    {"GET", "/metrics", api_metrics, "metrics"},
    {"GET", "/openapi.yaml", api_openapi, "openapi"},
    {"GET", "/llms.txt", api_llms, "llms"},
    {"GET", "/v1/memory*", api_memory, "memory_read"},
    {"PUT", "/v1/memory*", api_memory, "memory_write"},
    {"DELETE", "/v1/memory*", api_memory, "memory_delete"},
    {"OPTIONS", "/v1/memory*", api_memory_options, "memory_preflight"},
    {"GET", "/v1/sessions*", api_session_get, "session_read"},
    {"POST", "/v1/sessions*", api_session_post, "session_post"},
    {"PUT", "/v1/sessions*", api_session_put, "session_file_write"},
    {"PATCH", "/v1/sessions*", api_session_patch, "session_update"},
    {"DELETE", "/v1/sessions*", api_session_delete, "session_delete"},
    {"GET", "/v1/volumes*", api_volume_get, "volume_read"},
    {"POST", "/v1/volumes*", api_volume_post, "volume_create"},
    {"PUT", "/v1/volumes*", api_volume_put, "volume_file_write"},
    {"DELETE", "/v1/volumes*", api_volume_delete, "volume_delete"},
};

/* Routes anyone may call: probes, descriptions and the catalogue. Every
 * other route needs a key once keys are configured. */
int router_route_public(const char *name)
{
	static const char *const open[] = {
	    "healthz", "readyz",   "metrics",	      "openapi",
	    "llms",    "runtimes", "piston_runtimes", "memory_preflight",
	    NULL,
	};
	size_t i;

	for (i = 0; open[i]; i++) {
		if (strcmp(open[i], name) == 0) {
			return 1;
		}
	}
	return 0;
}

/* Routes that start sandboxes. */
static int route_runs_code(const struct route *r)
{
	return strcmp(r->method, "POST") == 0;
}

static int route_is_memory(const struct route *r)
{
	return r->fn == api_memory;
}

int router_route_limited(const struct route *r)
{
	return route_runs_code(r) || route_is_memory(r);
}

/* Take a token for req from the address's bucket, then the key tenant's.
 * Code runs and memory calls have separate buckets (prefix "" and "mem:")
 * and rates: a burst of KV traffic must not use up a client's executions,
 * nor the other way round. Returns the seconds to wait, 0 when allowed. */
static int rate_take(struct service *svc, struct http_req *req, int memory)
{
	const struct config *c = &svc->cfg;
	const char *pfx = memory ? "mem:" : "";
	int per_min = memory ? c->memory_rate_per_min : c->rate_per_min;
	int burst = memory ? c->memory_rate_burst : c->rate_burst;
	char key[112];
	int wait;

	snprintf(key, sizeof(key), "%sip:%s", pfx, req->client_ip);
	wait = ratelimit_take(&svc->store, key, per_min, burst);
	if (wait == 0 && req->tenant.kind == TENANT_KEY) {
		const struct tenant *t = &req->tenant;

		/* A keys-file rate is the tenant's rate for code runs; its
		 * memory calls share the configured memory rate. */
		if (!memory) {
			burst = t->rate_burst > 0     ? t->rate_burst
				: t->rate_per_min > 0 ? t->rate_per_min
						      : burst;
			per_min =
			    t->rate_per_min > 0 ? t->rate_per_min : per_min;
		}
		snprintf(key, sizeof(key), "%skey:%s", pfx, t->name);
		wait = ratelimit_take(&svc->store, key, per_min, burst);
	}
	return wait;
}

/* Authenticate and rate-limit req for route r. Returns 0 to go on, or -1
 * after answering (401 or 429). */
static int admit_request(struct service *svc, struct http_req *req,
			 const struct route *r)
{
	struct isobox_err e;
	struct keyring *k;
	int wait;
	int rc;

	ratelimit_client_ip(
	    req->remote_addr,
	    FCGX_GetParam("HTTP_X_FORWARDED_FOR", req->fr->envp),
	    svc->cfg.trusted_proxies, req->client_ip, sizeof(req->client_ip));
	k = auth_get();
	rc = auth_check(
	    k,
	    auth_presented(FCGX_GetParam("HTTP_X_API_KEY", req->fr->envp),
			   FCGX_GetParam("HTTP_AUTHORIZATION", req->fr->envp)),
	    &req->tenant, &e);
	auth_put(k);
	if (rc < 0 && !router_route_public(r->name)) {
		http_drain_body(req);
		metrics_add(1, "isobox_rejections_total{reason=\"%s\"}",
			    "unauthorized");
		http_send_error(req, &e);
		return -1;
	}
	if (rc < 0) {
		snprintf(req->tenant.name, sizeof(req->tenant.name), "-");
	}
	if (!router_route_limited(r)) {
		return 0;
	}
	wait = rate_take(svc, req, route_is_memory(r));
	if (wait > 0) {
		http_drain_body(req);
		req->retry_after = wait;
		metrics_add(1, "isobox_rejections_total{reason=\"%s\"}",
			    "rate_limited");
		http_send_err(req, 429, "rate_limited",
			      "too many requests; retry in %d s", wait);
		return -1;
	}
	return 0;
}

static int path_match(const char *pattern, const char *path)
{
	size_t n = strlen(pattern);

	if (n > 0 && pattern[n - 1] == '*') {
		return strncmp(pattern, path, n - 1) == 0;
	}
	return strcmp(pattern, path) == 0;
}

const struct route *router_routes(size_t *n)
{
	*n = sizeof(routes) / sizeof(routes[0]);
	return routes;
}

int router_match(const char *method, const char *path, const struct route **out,
		 char *allow, size_t allow_len)
{
	size_t i;

	*out = NULL;
	if (allow_len > 0) {
		allow[0] = '\0';
	}
	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (!path_match(routes[i].path, path)) {
			continue;
		}
		if (strcmp(routes[i].method, method) == 0 ||
		    (strcmp(method, "HEAD") == 0 &&
		     strcmp(routes[i].method, "GET") == 0)) {
			*out = &routes[i];
			return 200;
		}
		if (allow_len > 0) {
			if (allow[0]) {
				strncat(allow, ", ",
					allow_len - strlen(allow) - 1);
			}
			strncat(allow, routes[i].method,
				allow_len - strlen(allow) - 1);
		}
	}
	return allow_len > 0 && allow[0] ? 405 : 404;
}

void router_dispatch(struct service *svc, struct http_req *req)
{
	const struct route *r;
	char allow[128];
	const char *method = req->method;
	int st = router_match(method, req->path, &r, allow, sizeof(allow));

	if (st == 200) {
		req->route = r->name;
		if (admit_request(svc, req, r) == 0) {
			r->fn(svc, req);
		}
		return;
	}
	http_drain_body(req);
	if (st == 405) {
		struct isobox_err e;
		char hdr[160];
		json_object *o = json_object_new_object();

		req->route = "method_not_allowed";
		err_set(&e, 405, "method_not_allowed",
			"%s is not allowed on %s (use %s)", method, req->path,
			allow);
		json_object_object_add(o, "error",
				       json_object_new_string(e.code));
		json_object_object_add(o, "message",
				       json_object_new_string(e.msg));
		json_object_object_add(o, "requestId",
				       json_object_new_string(req->id));
		snprintf(hdr, sizeof(hdr), "Allow: %s\r\n", allow);
		snprintf(req->outcome, sizeof(req->outcome), "%s", e.code);
		http_send_json(req, 405, o, hdr);
		json_object_put(o);
		return;
	}
	req->route = "not_found";
	http_send_err(req, 404, "not_found", "no route for %s %s", method,
		      req->path);
}
