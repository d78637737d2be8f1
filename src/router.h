/* router.h - method + path -> handler. Paths are exact, or a prefix when
 * the table entry ends in '*'. A path that matches with another method is
 * 405 with an Allow header; no match is 404. */
#ifndef ISOBOX_ROUTER_H
#define ISOBOX_ROUTER_H

#include "api.h"

struct route {
	const char *method;
	const char *path;
	api_handler fn;
	const char *name; /* for logs and metrics */
};

/* Dispatch one request (answers it, including 404/405). */
void router_dispatch(struct service *svc, struct http_req *req);

#endif
