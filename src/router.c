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
    {"GET", "/v1/memory*", api_memory, "memory"},
    {"PUT", "/v1/memory*", api_memory, "memory"},
    {"DELETE", "/v1/memory*", api_memory, "memory"},
    {"OPTIONS", "/v1/memory*", api_memory_options, "memory_preflight"},
};

/* Routes anyone may call: probes, descriptions and the catalogue. Every
 * other route needs a key once keys are configured. */
static int route_public(const char *name)
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

/* Routes that start sandboxes: these are rate limited. */
static int route_runs_code(const struct route *r)
{
	return strcmp(r->method, "POST") == 0;
}

/* Authenticate and rate-limit req for route r. Returns 0 to go on, or -1
 * after answering (401 or 429). */
static int admit_request(struct service *svc, struct http_req *req,
			 const struct route *r)
{
	struct isobox_err e;
	struct keyring *k;
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
	if (rc < 0 && !route_public(r->name)) {
		http_drain_body(req);
		metrics_add(1, "isobox_rejections_total{reason=\"%s\"}",
			    "unauthorized");
		http_send_error(req, &e);
		return -1;
	}
	if (rc < 0) {
		snprintf(req->tenant.name, sizeof(req->tenant.name), "-");
	}
	if (!route_runs_code(r)) {
		return 0;
	}
	{
		char key[96];
		int wait;

		snprintf(key, sizeof(key), "ip:%s", req->client_ip);
		wait = ratelimit_take(&svc->store, key, svc->cfg.rate_per_min,
				      svc->cfg.rate_burst);
		if (wait == 0 && strcmp(req->tenant.name, "public") != 0 &&
		    strcmp(req->tenant.name, "-") != 0) {
			const struct tenant *t = &req->tenant;
			int per_min = t->rate_per_min > 0
					  ? t->rate_per_min
					  : svc->cfg.rate_per_min;
			int burst = t->rate_burst > 0	  ? t->rate_burst
				    : t->rate_per_min > 0 ? t->rate_per_min
							  : svc->cfg.rate_burst;

			snprintf(key, sizeof(key), "key:%s", t->name);
			wait = ratelimit_take(&svc->store, key, per_min, burst);
		}
		if (wait > 0) {
			http_drain_body(req);
			req->retry_after = wait;
			metrics_add(1, "isobox_rejections_total{reason=\"%s\"}",
				    "rate_limited");
			http_send_err(req, 429, "rate_limited",
				      "too many requests; retry in %d s", wait);
			return -1;
		}
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

void router_dispatch(struct service *svc, struct http_req *req)
{
	size_t i;
	char allow[128] = "";
	const char *method = req->method;

	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (!path_match(routes[i].path, req->path)) {
			continue;
		}
		if (strcmp(routes[i].method, method) == 0 ||
		    (strcmp(method, "HEAD") == 0 &&
		     strcmp(routes[i].method, "GET") == 0)) {
			req->route = routes[i].name;
			if (admit_request(svc, req, &routes[i]) == 0) {
				routes[i].fn(svc, req);
			}
			return;
		}
		if (allow[0]) {
			strncat(allow, ", ", sizeof(allow) - strlen(allow) - 1);
		}
		strncat(allow, routes[i].method,
			sizeof(allow) - strlen(allow) - 1);
	}
	http_drain_body(req);
	if (allow[0]) {
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
