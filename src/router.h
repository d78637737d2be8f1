/* router.h - method + path -> handler. Paths are exact, or a prefix when
 * the table entry ends in '*'. A path that matches with another method is
 * 405 with an Allow header; no match is 404. */
#ifndef ISOBOX_ROUTER_H
#define ISOBOX_ROUTER_H

#include <stddef.h>

#include "api.h"

struct route {
	const char *method;
	const char *path;
	api_handler fn;
	const char *name; /* for logs and metrics */
};

/* Dispatch one request (answers it, including 404/405). */
void router_dispatch(struct service *svc, struct http_req *req);

/* Find the route for method and path; HEAD is served wherever GET is.
 * Returns 200 with *out set; 405 when the path exists with other methods
 * (allow then lists them, "POST" or "GET, POST", cut to allow_len); 404
 * when nothing matches. Pure. */
int router_match(const char *method, const char *path, const struct route **out,
		 char *allow, size_t allow_len);
/* The route table (n rows, static). The OpenAPI check lists it through
 * `isoboxctl routes`. */
const struct route *router_routes(size_t *n);
/* 1 when the route named name may be called without a key. */
int router_route_public(const char *name);
/* 1 when calls of route r take a token from the per-address and per-tenant
 * buckets (a 429 when empty): routes that run code (rate_per_min) and the
 * /v1/memory routes (their own memory_rate_per_min buckets). */
int router_route_limited(const struct route *r);

#endif
